"""`pivotlens clwtd export --format hf`: a directory `datasets.load_dataset` reads offline, every field
intact, and that pivotlens reads back as the same dataset (same entries, same sha256)."""

import hashlib
import json

import datasets
import pytest
import yaml

from pivotlens.cli import main
from pivotlens.clwtd import load_dataset
from pivotlens.clwtd.hf import CARD_FILE, SPLIT, data_file, datasheet_section, entry_row, export_hf, row_record
from pivotlens.clwtd.schema import entries_jsonl
from pivotlens.errors import DatasetError, RunDirectoryError
from pivotlens.languages import PAPER_LANGUAGES


@pytest.fixture(scope="module")
def exported(sample, tmp_path_factory):
    return export_hf(sample, "sample", tmp_path_factory.mktemp("export") / "sample")


@pytest.fixture(scope="module")
def with_meta(tmp_path_factory):
    """The first 12 entries of the bundled `clwtd`: words, distractors and the builder's meta."""
    path = tmp_path_factory.mktemp("clwtd") / "clwtd-head.jsonl"
    path.write_text(entries_jsonl(load_dataset("clwtd").entries[:12]), encoding="utf-8")
    return load_dataset(path)


def test_two_exports_to_directories_of_one_name_load_apart(sample, with_meta, tmp_path):
    # datasets caches a directory's rows by its name and the card's file pattern
    first = datasets.load_dataset(str(export_hf(sample, "sample", tmp_path / "a" / "export")), split=SPLIT)
    second = datasets.load_dataset(str(export_hf(with_meta, "clwtd-head", tmp_path / "b" / "export")), split=SPLIT)
    assert [row["id"] for row in first] == [entry.id for entry in sample.entries]
    assert [row["id"] for row in second] == [entry.id for entry in with_meta.entries]


def test_datasets_reads_every_field_of_every_entry(with_meta, tmp_path):
    rows = datasets.load_dataset(str(export_hf(with_meta, "clwtd-head", tmp_path)), split=SPLIT)
    assert rows.num_rows == len(with_meta)
    for row, entry in zip(rows, with_meta.entries):
        assert row == entry_row(entry)  # the typed row, as exported
        # and the CLWTD record, key order included
        assert json.dumps(row_record(row), ensure_ascii=False) == json.dumps(entry.to_json(), ensure_ascii=False)
    first, entry = rows[0], with_meta.entries[0]
    assert first["id"] == entry.id and first["pos"] == entry.pos and first["schema_version"] == 1
    assert first["word"] == entry.word
    assert first["distractors"]["zh-ja"] == list(entry.distractors_for("zh", "ja"))
    assert first["meta"]["synset"] == entry.meta["synset"]
    relations = {group["language"]: group["relations"] for group in first["meta"]["distractor_relations"]}
    assert relations["fr"] == [{"word": word, "relation": relation}
                               for word, relation in entry.meta["distractor_relations"]["fr"].items()]


def test_pivotlens_loads_the_directory_as_the_bundled_dataset(sample, exported):
    loaded = load_dataset(exported)
    assert loaded.entries == sample.entries
    assert loaded.sha256 == sample.sha256  # canonical JSONL: the bundled file's bytes
    assert loaded.source == str(exported)


def test_entries_without_meta_or_relations_round_trip(with_meta, tmp_path):
    records = [entry.to_json() for entry in with_meta.entries[:3]]
    del records[0]["meta"]
    records[1]["meta"] = {"synset": records[1]["meta"]["synset"]}
    records[2]["meta"] = {"distractor_relations": {"fr": {}, **records[2]["meta"]["distractor_relations"]}}
    source = tmp_path / "hand-made.jsonl"
    source.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    original = load_dataset(source)

    loaded = load_dataset(export_hf(original, "hand-made", tmp_path / "out"))
    assert [entry.meta for entry in loaded.entries] == [None, records[1]["meta"], records[2]["meta"]]
    assert entries_jsonl(loaded.entries).encode() == source.read_bytes()
    assert loaded.sha256 == hashlib.sha256(source.read_bytes()).hexdigest() == original.sha256


def test_card_header_and_tables_come_from_the_data_and_the_datasheet(sample, exported):
    card = (exported / CARD_FILE).read_text(encoding="utf-8")
    _, header, body = card.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert meta["language"] == list(PAPER_LANGUAGES)
    assert meta["license"] == "cc-by-sa-4.0"
    path = f"data/test-{sample.sha256[:16]}.parquet"  # named by content, so datasets' cache cannot mix exports
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": SPLIT, "path": path}]}]
    assert [feature["name"] for feature in meta["dataset_info"]["features"]] == [
        "schema_version", "id", "pos", "word", "distractors", "meta"]
    assert f"{len(sample)} entries" in body and sample.sha256 in body
    n_nouns = sum(entry.pos == "n" for entry in sample.entries)
    assert f"{n_nouns} n" in body
    for section in ("Sources and licences", "Known limitations"):
        assert datasheet_section(section) in body
    assert "| en headword |" in body  # the spot-check table
    assert "pivotlens clwtd build --out clwtd.jsonl" in body


def test_a_rerun_is_a_no_op_and_foreign_directories_are_refused(sample, exported, tmp_path):
    data = exported / data_file(sample)
    before = data.stat().st_mtime_ns
    export_hf(sample, "sample", exported)
    assert data.stat().st_mtime_ns == before
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirectoryError, match="did not write"):
        export_hf(sample, "sample", tmp_path)


def test_a_directory_that_is_no_export_is_a_clear_error(tmp_path):
    (tmp_path / "test.csv").write_text("a,b\n1,2\n")  # a test split, but no CLWTD columns
    with pytest.raises(DatasetError, match="not a CLWTD export"):
        load_dataset(tmp_path)


def test_a_hub_id_offline_is_a_clear_error():
    # conftest sets HF_HUB_OFFLINE=1: no network is tried
    with pytest.raises(DatasetError, match="hub dataset 'someone/clwtd'.*needs the internet"):
        load_dataset("someone/clwtd")


def test_export_command(tmp_path, capsys):
    assert main(["clwtd", "export", "sample", "--format", "hf", "--out", str(tmp_path / "hf")]) == 0
    assert "wrote 36 entries" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "hf")]) == 0
