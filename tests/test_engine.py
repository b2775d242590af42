import os
from typing import get_args, get_type_hints

import pytest

from pivotlens.corpus.counting import CountOptions
from pivotlens.engine import (
    ENGINES,
    CountEngine,
    MiningEngine,
    SelectionEngine,
    check_engine,
    engines_for,
    fold_in_processes,
    map_shards,
)
from pivotlens.errors import EngineError, PivotlensError
from pivotlens.pivots.options import MineOptions
from pivotlens.selection.mixes import SelectionOptions


def test_the_options_offer_the_engines_of_the_table():
    assert get_args(CountEngine) == engines_for("counts") == ("local", "ray", "infinigram", "infinigram-api")
    assert get_args(SelectionEngine) == engines_for("selection") == ("local", "ray")
    assert get_args(MiningEngine) == engines_for("mining") == ("local", "infinigram-api")
    assert get_type_hints(CountOptions)["engine"] == CountEngine
    assert get_type_hints(SelectionOptions)["engine"] == SelectionEngine
    assert get_type_hints(MineOptions)["engine"] == MiningEngine
    assert set(ENGINES) == set(get_args(CountEngine)) | set(get_args(SelectionEngine)) | set(get_args(MiningEngine))


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


def _sum_share(offset: int, items, progress) -> tuple[int, int]:
    """A fold for the worker tests: (items seen, offset + their sum), reporting each item as
    progress; fails on a negative item."""
    seen = total = 0
    for item in items:
        if item < 0:
            raise PivotlensError(f"negative item {item}")
        seen, total = seen + 1, total + item
        progress(item)
    return seen, offset + total


def _die(_shared, items, _progress) -> None:
    os._exit(3)


def test_worker_processes_fold_every_item_exactly_once():
    reported = []
    parts = fold_in_processes(_sum_share, 1000, range(1, 101), 3, progress=reported.append)
    assert len(parts) == 3 and sorted(reported) == list(range(1, 101))
    assert sum(seen for seen, _ in parts) == 100
    assert sum(total for _, total in parts) == 3 * 1000 + 5050


def test_a_worker_error_is_raised_and_a_dead_worker_reported():
    with pytest.raises(PivotlensError, match="negative item -5"):
        fold_in_processes(_sum_share, 0, [1, 2, -5, 4], 2)
    with pytest.raises(EngineError, match="exit code 3"):
        fold_in_processes(_die, None, range(50), 2)
