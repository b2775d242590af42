from typing import get_args, get_type_hints

import pytest

from pivotlens.corpus.counting import CountOptions
from pivotlens.engine import ENGINES, CountEngine, SelectionEngine, check_engine, engines_for, map_shards
from pivotlens.errors import EngineError, PivotlensError
from pivotlens.selection.mixes import SelectionOptions


def test_the_options_offer_the_engines_of_the_table():
    assert get_args(CountEngine) == engines_for("counts") == ("local", "ray", "infinigram")
    assert get_args(SelectionEngine) == engines_for("selection") == ("local", "ray")
    assert get_type_hints(CountOptions)["engine"] == CountEngine
    assert get_type_hints(SelectionOptions)["engine"] == SelectionEngine
    assert set(ENGINES) == set(get_args(CountEngine)) | set(get_args(SelectionEngine))


def test_check_engine_names_the_engine_and_the_allowed_ones():
    check_engine("infinigram", "counts")
    with pytest.raises(EngineError, match=r"^selection: unknown engine 'infinigram'; choose one of local, ray$"):
        check_engine("infinigram", "selection")
    assert issubclass(EngineError, PivotlensError)


def test_local_map_hands_every_result_back_with_its_index():
    seen = {}
    map_shards(lambda shared, job, progress: shared * job, 10, [1, 2, 3], seen.__setitem__, stage="selection")
    assert seen == {0: 10, 1: 20, 2: 30}
    with pytest.raises(EngineError, match="choose one of local, ray"):
        map_shards(lambda *_: None, None, [1], seen.__setitem__, stage="selection", engine="spark")
