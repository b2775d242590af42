import dataclasses
import json

import pytest

from pivotlens.artifacts import append_jsonl, iter_jsonl
from pivotlens.errors import PivotlensError, RecordError
from pivotlens.languages import LANGUAGES
from pivotlens.records import (
    SEMANTIC_PIVOT,
    BehaviourRecord,
    DrawScore,
    ItemScore,
    LensReadout,
    TranslationItem,
    behaviour_files,
    read_behaviours,
    read_item_scores,
    read_lens_behaviours,
    write_behaviours,
    write_item_scores,
)

FLOWER = TranslationItem("flower", "en", "zh", "flower", "花")
READOUT = LensReadout(2, (17, 2734, 151), (" the", " garden", "花"), (0.05, 0.4123, 0.3), (None, None, "target"),
                      151, "花", 0.3, True, {"en": (0.01, 0.02, 0.0), "zh": (0.0, 0.01, 0.3)}, (9.5, 4.2, 3.1))
PIVOT = BehaviourRecord(FLOWER, SEMANTIC_PIVOT, 2734, " garden", 2, 0.4123, 2734, " garden", (0.001, 0.02, 0.31),
                        "model", 2, READOUT)
# A line as `pivotlens lens classify` writes it: the key order of the file format.
PIVOT_LINE = ('{"id": "flower", "src": "en", "tgt": "zh", "source": "flower", "target": "花", "draw": 2, '
              '"behaviour": "semantic-pivot", "output_rule": "model", "first_layer": 2, "top_token_id": 2734, '
              '"top_token": " garden", "peak_layer": 2, "peak_probability": 0.4123, "pivot_token_id": 2734, '
              '"pivot_token": " garden", "output_token_id": 151, "output_token": "花", "output_probability": 0.3, '
              '"output_is_target": true, "layer_top_ids": [17, 2734, 151], "layer_top_tokens": [" the", " garden", "花"], '
              '"layer_top_probabilities": [0.05, 0.4123, 0.3], "layer_top_relations": [null, null, "target"], '
              '"target_probability_by_layer": [0.001, 0.02, 0.31], '
              '"language_probability_by_layer": {"en": [0.01, 0.02, 0.0], "zh": [0.0, 0.01, 0.3]}, '
              '"entropy_by_layer": [9.5, 4.2, 3.1]}\n')
SCORE = ItemScore(FLOWER, ("tree", "leaf"), 0.25,
                  (DrawScore(17, ("water", "dog"), 0.5, (0.2, 0.3), 0.25), DrawScore(18, ("hand", "dog"), 0.4, (0.1, 0.2), 0.25)))


def test_behaviour_record_round_trip_keeps_the_file_format(tmp_path):
    path = tmp_path / "behaviours" / "en-zh.jsonl"
    path.parent.mkdir()
    write_behaviours(path, [PIVOT])
    assert path.read_text(encoding="utf-8") == PIVOT_LINE
    assert read_behaviours(path) == [PIVOT]
    assert read_lens_behaviours(tmp_path) == [PIVOT] and behaviour_files(tmp_path) == [path]


def test_item_score_round_trip(tmp_path):
    path = tmp_path / "en-zh.jsonl"
    other = dataclasses.replace(SCORE, item=dataclasses.replace(SCORE.item, id="tree"))
    write_item_scores(path, [SCORE, other])
    first = json.loads(path.read_text().splitlines()[0])
    assert list(first) == ["id", "src", "tgt", "source", "target", "distractors", "score", "draws"]
    assert list(first["draws"][0]) == ["seed", "shots", "p_source", "p_distractors", "score"]
    assert read_item_scores(path) == [SCORE, other]


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("peak_layer"), r"en-zh.jsonl:2: missing peak_layer$"),
    (lambda d: d.update(behaviour="other"), "en-zh.jsonl:2: behaviour must be one of co-occurrence, semantic-pivot, "
                                            "variant, found 'other'"),
    (lambda d: d.update(output_rule="final"), "output_rule must be one of model, gold, either"),
    (lambda d: d.update(layer_top_relations=[None, "elsewhere", None]), "layer_top_relations must be a non-empty list"),
    (lambda d: d.update(language_probability_by_layer={"xx": [0.1]}), "language_probability_by_layer must be an object"),
    (lambda d: d.update(output_is_target=1), "output_is_target must be true or false"),
    (lambda d: d.update(src="xx"), f"en-zh.jsonl:2: src must be one of {', '.join(LANGUAGES)}, found 'xx'"),
    (lambda d: d.update(target_probability_by_layer=[]), "target_probability_by_layer must be a non-empty list"),
])
def test_a_bad_behaviour_line_names_file_line_and_key(tmp_path, change, message):
    bad = json.loads(PIVOT_LINE)
    change(bad)
    path = tmp_path / "en-zh.jsonl"
    path.write_text(PIVOT_LINE + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match=message):
        read_behaviours(path)


def test_a_behaviour_file_of_the_old_format_says_to_reclassify(tmp_path):
    old = {key: value for key, value in json.loads(PIVOT_LINE).items()
           if key in ("id", "src", "tgt", "source", "target", "behaviour", "top_token_id", "top_token", "peak_layer",
                      "peak_probability", "pivot_token_id", "pivot_token", "target_probability_by_layer")}
    path = tmp_path / "en-zh.jsonl"
    path.write_text(json.dumps(old) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"en-zh.jsonl:1: a behaviour record in the old format .* rerun `pivotlens lens "
                                          r"classify`"):
        read_behaviours(path)


def test_a_bad_draw_names_the_draw(tmp_path):
    record = SCORE.to_dict()
    del record["draws"][1]["seed"]
    path = tmp_path / "en-zh.jsonl"
    append_jsonl(path, [record])
    with pytest.raises(RecordError, match=r"en-zh.jsonl:1: draws\[1\]: missing seed"):
        read_item_scores(path)


def test_a_lens_directory_without_behaviour_files_says_what_to_run(tmp_path):
    with pytest.raises(PivotlensError, match="run `pivotlens lens classify` first"):
        read_lens_behaviours(tmp_path)


def test_iter_jsonl_numbers_lines_skips_blank_ones_and_reports_bad_ones(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n\n[2]\n{oops\n\xff\n')
    seen = []
    found = list(iter_jsonl(path, on_invalid=lambda number, reason, detail: seen.append((number, reason))))
    assert found == [(1, {"a": 1}), (3, [2])]
    assert seen == [(4, "invalid JSON"), (5, "undecodable bytes")]
    with pytest.raises(RecordError, match=r"x.jsonl:4: not valid JSON \(Expecting property name"):
        list(iter_jsonl(path))


def test_resumable_reading_cuts_a_torn_last_line(tmp_path):
    path = tmp_path / "en-zh.jsonl"
    write_item_scores(path, [SCORE])
    whole = path.read_bytes()
    with path.open("ab") as handle:
        handle.write(b'{"id": "torn-by-a-ki')  # a write cut off by a kill
    assert [number for number, _ in iter_jsonl(path, on_invalid="truncate")] == [1]
    assert path.read_bytes() == whole  # appending continues on a clean line
    other = dataclasses.replace(SCORE, item=dataclasses.replace(SCORE.item, id="tree"))
    write_item_scores(path, [other])
    assert read_item_scores(path) == [SCORE, other]
    assert list(iter_jsonl(tmp_path / "none.jsonl", on_invalid="truncate")) == []
