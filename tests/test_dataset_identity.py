"""Datasets are identified by content: the bundled v1 file stays loadable, manifests record
source, sha256 and schema version, and the pipeline notices a bundled dataset's content."""

import hashlib
from importlib.resources import files

from pivotlens.clwtd import SCHEMA_VERSION, load_dataset
from pivotlens.clwtd.schema import dataset_sha256
from pivotlens.pipeline.runner import input_contents


def test_both_versions_are_bundled_and_differ():
    v1, v2 = load_dataset("clwtd-v1"), load_dataset("clwtd")
    assert len(v1) == len(v2) == 2000
    assert v1.sha256 != v2.sha256
    raw = files("pivotlens.clwtd").joinpath("data/clwtd-v1.jsonl").read_bytes()
    assert v1.sha256 == hashlib.sha256(raw).hexdigest() == dataset_sha256("clwtd-v1")
    assert v1.identity() == {"source": "bundled:clwtd-v1", "sha256": v1.sha256, "schema_version": SCHEMA_VERSION}


def test_the_runner_fingerprints_a_bundled_dataset_by_content(tmp_path):
    contents = input_contents({"model": str(tmp_path), "dataset": "clwtd", "corpus": "bundled"})
    assert contents["dataset"] == load_dataset("clwtd").sha256
    copy = tmp_path / "clwtd.jsonl"
    copy.write_bytes(files("pivotlens.clwtd").joinpath("data/clwtd.jsonl").read_bytes())
    assert input_contents({"model": str(tmp_path), "dataset": str(copy), "corpus": "bundled"})["dataset"] == contents["dataset"]
