import json

import pytest

from pivotlens.artifacts import StageDirectory, open_atomic, write_atomic, write_json_atomic
from pivotlens.errors import RunDirectoryError


def test_write_atomic_replaces_whole_files(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    write_atomic(path, "première\n")
    assert path.read_text(encoding="utf-8") == "première\n"
    write_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    write_json_atomic(tmp_path / "v.json", {"pairs": ("en", "fr")})
    assert json.loads((tmp_path / "v.json").read_text()) == {"pairs": ["en", "fr"]}


def test_an_exception_mid_write_leaves_the_old_file_and_no_partial_one(tmp_path):
    path = tmp_path / "out.jsonl"
    write_atomic(path, "old\n")
    with pytest.raises(RuntimeError, match="killed"), open_atomic(path) as handle:
        handle.write(b"half a rec")
        raise RuntimeError("killed")
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    with pytest.raises(RuntimeError), open_atomic(tmp_path / "new.bin") as handle:
        raise RuntimeError
    assert not (tmp_path / "new.bin").exists() and not (tmp_path / "new.bin.tmp").exists()


def test_stage_directory_manifest_first_marker_last(tmp_path):
    out = tmp_path / "run"
    directory = StageDirectory(out, "score").claim({"seed": 0, "pairs": [("en", "fr")]}, {"dataset": "sample"})
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "score" and manifest["identity"] == {"seed": 0, "pairs": [["en", "fr"]]}
    assert manifest["dataset"] == "sample" and manifest["versions"]["pivotlens"]
    assert not directory.is_complete() and not (out / "complete.json").exists()
    directory.complete({"mean": 0.5}, details={"documents": 6})
    assert directory.is_complete() and directory.state() == {"stage": "score", "status": "done", "summary": {"mean": 0.5}}
    assert json.loads((out / "manifest.json").read_text())["documents"] == 6
    # a rerun of the same run keeps the facts and the marker; reopen() makes it unfinished again
    again = StageDirectory(out, "score").claim({"seed": 0, "pairs": [("en", "fr")]}, {"dataset": "sample"})
    assert again.is_complete() and again.manifest()["documents"] == 6
    again.reopen()
    assert not again.is_complete() and not (out / "complete.json").exists()


def test_stage_directory_refuses_another_run(tmp_path):
    StageDirectory(tmp_path, "score").claim({"seed": 0, "model": "m"})
    with pytest.raises(RunDirectoryError, match=r"holds results from a different run \(differs in: seed\)"):
        StageDirectory(tmp_path, "score").claim({"seed": 1, "model": "m"})
    with pytest.raises(RunDirectoryError, match=r"differs in: stage"):
        StageDirectory(tmp_path, "lens-classify").claim({"seed": 0, "model": "m"})


def test_marker_facts_and_the_runner_marker(tmp_path):
    runner = StageDirectory(tmp_path, "counts", marker="stage.json")
    runner.mark("running", fingerprint="a")
    assert not runner.is_complete(fingerprint="a")
    library = StageDirectory(tmp_path, "corpus-count").claim({"x": 1})
    library.complete()
    runner.reopen()  # not complete: the runner's running state stays
    assert runner.state()["status"] == "running" and library.is_complete()
    runner.complete({"facts": {}}, fingerprint="a", seconds=1.0)
    assert runner.is_complete(fingerprint="a") and not runner.is_complete(fingerprint="b")
    assert library.is_complete()  # the two markers are separate files


def test_counts_without_their_marker_are_recounted(tmp_path):
    from pivotlens.clwtd import load_dataset
    from pivotlens.corpus import read_pair_counts
    from pivotlens.corpus.counting import CountConfig, plan_counts
    from pivotlens.corpus.readers import Shard
    from pivotlens.corpus.results import count
    from pivotlens.errors import CorpusError

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": text}) + "\n"
                              for i, text in enumerate(["the dog and le chien", "un chat", "a cat"])))
    plan = plan_counts(load_dataset("sample"), [("en", "fr")], CountConfig(reservoir=2))
    out = tmp_path / "counts"
    assert count(plan, out, shards=[Shard(str(corpus), "jsonl")]) is not None
    assert count(plan, out, shards=[Shard(str(corpus), "jsonl")]) is None  # finished: a no-op
    (out / "complete.json").unlink()  # a kill after the tables, before the marker
    with pytest.raises(CorpusError, match="holds no finished counts"):
        read_pair_counts(out)
    assert count(plan, out, shards=[Shard(str(corpus), "jsonl")]) is not None
    assert read_pair_counts(out)
