import json

import pytest

from pivotlens.clwtd import N_DISTRACTORS, load_dataset, parse_entries
from pivotlens.errors import DatasetError
from pivotlens.languages import ALL_PAIRS, PAPER_LANGUAGES


def test_bundled_sample_is_complete(sample):
    assert len(sample) >= 30
    for entry in sample.entries:
        assert all(entry.word[lang] for lang in PAPER_LANGUAGES)
        for src, tgt in ALL_PAIRS:
            distractors = entry.distractors_for(src, tgt)
            assert len(distractors) == N_DISTRACTORS == len(set(distractors))
            assert entry.word[src] not in distractors and entry.word[tgt] not in distractors
    assert {e.pos for e in sample.entries} == {"n", "v", "adj"}


def _line(sample, **changes) -> str:
    record = sample.entries[0].to_json()
    record.update(changes)
    return json.dumps(record, ensure_ascii=False)


def _errors(lines: list[str]) -> str:
    with pytest.raises(DatasetError) as caught:
        parse_entries(lines, "d.jsonl")
    return str(caught.value)


def test_entry_round_trips(sample):
    assert parse_entries([_line(sample)], "d.jsonl")[0] == sample.entries[0]


def test_bad_json_is_reported_with_its_line(sample):
    message = _errors([_line(sample), '{"id": "x", '])
    assert "d.jsonl:2: not valid JSON" in message


def test_missing_language_and_empty_word(sample):
    entry = sample.entries[0].to_json()
    del entry["word"]["ja"]
    entry["word"]["fr"] = "  "
    message = _errors([json.dumps(entry)])
    assert "d.jsonl:1: word[ja] is missing" in message
    assert "d.jsonl:1: word[fr] must be a non-empty string" in message


def test_distractor_count_source_answer_and_empty(sample):
    entry = sample.entries[0].to_json()
    entry["distractors"]["en-fr"] = entry["distractors"]["en-fr"][:8]
    entry["distractors"]["en-zh"][0] = entry["word"]["en"]
    entry["distractors"]["zh-ja"][0] = entry["word"]["ja"]  # 手 is both the zh source and ja answer
    entry["distractors"]["fr-en"][1] = ""
    message = _errors([_line(sample, id="other"), json.dumps(entry)])
    assert "d.jsonl:2: distractors[en-fr] has 8 words, expected 9" in message
    assert "d.jsonl:2: distractors[en-zh] contains the source word 'hand'" in message
    assert "d.jsonl:2: distractors[zh-ja] contains the answer word '手'" in message
    assert "d.jsonl:2: distractors[fr-en] contains an empty string" in message


def test_duplicate_ids_name_the_first_line(sample):
    message = _errors([_line(sample), "", _line(sample)])
    assert "d.jsonl:3: duplicate id 'hand' (first on line 1)" in message


def test_missing_file_and_bundled_names(tmp_path):
    with pytest.raises(DatasetError, match="neither a file nor a bundled dataset"):
        load_dataset(tmp_path / "absent.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DatasetError, match="no entries"):
        load_dataset(empty)


def test_count_of_items_under_a_limit(sample):
    assert (sample.count(None), sample.count(5), sample.count(10_000)) == (len(sample), 5, len(sample))


def test_audit_flags_abbreviations_and_suspiciously_short_words(sample, capsys):
    from dataclasses import replace

    from pivotlens.cli import main
    from pivotlens.clwtd.schema import Dataset
    from pivotlens.clwtd.stats import suspicious_entries

    first, second, *rest = sample.entries
    edited = (replace(first, word={**first.word, "en": "km", "fr": "kilomètre"}),
              replace(second, word={**second.word, "en": "silver", "fr": "ag"}), *rest)
    flagged = suspicious_entries(Dataset(edited, "edited", "-"))
    assert flagged == [(first.id, "word[en] 'km' has no vowel (an abbreviation?)"),
                       (second.id, "word[fr] 'ag' is short for 'silver' (an abbreviation or rare sense?)")]
    assert suspicious_entries(sample) == []  # the hand-written sample has none
    assert main(["clwtd", "audit", "sample"]) == 0
    assert capsys.readouterr().out == "0 of 36 entries flagged for review\n"


def test_bundled_multilingual_dataset_has_ten_languages_and_passes_the_dataset_checks():
    from pivotlens.clwtd.stats import dataset_problems

    multi = load_dataset("clwtd-multi")
    assert multi.languages == ("en", "fr", "zh", "ja", "de", "es", "ru", "ko", "it", "pt")
    assert len(multi.pairs) == 90 and len(multi) == 289
    assert dataset_problems(multi) == []
    assert multi.entries[0].word["de"] == "neu" and multi.entries[0].word["ko"] == "새"
