"""hf: corpora streamed with `datasets`, on local dataset directories (no hub here)."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from pivotlens.cli import main
from pivotlens.corpus.counting import CountConfig, PartialCounts, count_shard, make_plan, run_local, run_ray
from pivotlens.corpus.readers import RecordFields, fingerprint, read_corpus, resolve_corpus
from pivotlens.corpus.streaming import StreamSpec, with_max_documents
from pivotlens.errors import CorpusError
from pivotlens.pivots.run import collect_documents
from pivotlens.records import TranslationItem

TEXTS = ["the hand and the water", "la main et l'eau", "手和水", "水の手", "hand alone", "eau seule", "nothing here"]


@pytest.fixture()
def stream_dir(tmp_path):
    """Three JSON Lines files with other field names than text / id: a stream of three shards."""
    directory = tmp_path / "dataset"
    directory.mkdir()
    for part in range(3):
        rows = [{"uid": f"d{i}", "content": TEXTS[i]} for i in range(part, len(TEXTS), 3)]
        (directory / f"part-{part}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return directory


FIELDS = RecordFields(text="content", id="uid")


def test_a_stream_is_sharded_by_its_files_and_capped_as_one_shard(stream_dir):
    shards = resolve_corpus([f"hf:{stream_dir}"])
    assert [s.path for s in shards] == [f"hf:{stream_dir}|shard={k}/3" for k in range(3)]
    assert {s.kind for s in shards} == {"stream"}
    documents = list(read_corpus([f"hf:{stream_dir}"], FIELDS))
    assert sorted((d.id, d.text) for d in documents) == sorted((f"d{i}", t) for i, t in enumerate(TEXTS))
    capped = with_max_documents(f"hf:{stream_dir}", 4)
    assert capped == f"hf:{stream_dir}|first=4" and len(resolve_corpus([capped])) == 1
    first = [d.id for d in read_corpus([capped], FIELDS)]
    assert first == [d.id for d in documents][:4]  # the stream's first four, in stream order
    assert StreamSpec.parse("hf:allenai/c4:en:validation") == StreamSpec("allenai/c4", "en", "validation")
    assert str(StreamSpec.parse("hf:allenai/c4:en:validation|first=7")) == "hf:allenai/c4:en:validation|first=7"
    no_ids = list(read_corpus([capped], RecordFields(text="content", id="nope")))
    assert no_ids[0].id == f"{capped}:row 1"
    # the fingerprint follows the files' content
    before = fingerprint(shards[0])["sha256"]
    (stream_dir / "part-0.jsonl").write_text(json.dumps({"uid": "x", "content": "changed"}) + "\n")
    assert fingerprint(shards[0])["sha256"] != before


def _plan():
    return make_plan([TranslationItem("1", "en", "fr", "hand", "main"), TranslationItem("2", "zh", "ja", "水", "手"),
                      TranslationItem("3", "en", "fr", "water", "eau")], CountConfig(reservoir=3, fields=FIELDS))


def test_stream_counts_equal_the_files_counts_per_shard_as_ray_maps_them(stream_dir, tmp_path):
    plan = _plan()
    total = PartialCounts.empty(plan)
    for shard in resolve_corpus([f"hf:{stream_dir}"]):  # the map the ray engine runs, one task per stream shard
        total = total.merge(count_shard(plan, shard))
    files = run_local(plan, resolve_corpus([str(stream_dir)]))
    assert total.documents == files.documents == len(TEXTS)
    assert np.array_equal(total.doc_freq, files.doc_freq) and np.array_equal(total.cooccurrence, files.cooccurrence)
    assert total.samples == files.samples
    assert dict(zip([t.text for t in plan.terms], total.doc_freq.tolist())) == {
        "eau": 2, "hand": 2, "main": 1, "water": 1, "手": 2, "水": 2}


def test_ray_runs_one_task_per_stream_shard(stream_dir, ray_session):
    plan = _plan()
    on_ray = run_ray(plan, resolve_corpus([f"hf:{stream_dir}"]))
    files = run_local(plan, resolve_corpus([str(stream_dir)]))
    assert on_ray.documents == len(TEXTS) and len(on_ray.inputs) == 3
    assert np.array_equal(on_ray.cooccurrence, files.cooccurrence) and on_ray.samples == files.samples


def test_cli_counts_and_mines_a_capped_stream(stream_dir, tmp_path, capsys):
    args = ["corpus", "count", "--corpus", f"hf:{stream_dir}", "--max-documents", "5", "--text-field", "content",
            "--id-field", "uid", "--dataset", "sample", "--pairs", "en-fr", "--workers", "1", "--out", str(tmp_path / "c")]
    assert main(args) == 0
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["documents"] == 5 and manifest["identity"]["inputs"][0]["path"] == f"hf:{stream_dir}|first=5"
    assert main(args) == 0 and "nothing to do" in capsys.readouterr().out
    texts, background = collect_documents([f"hf:{stream_dir}|first=5"], {"d1"}, 2, 0, FIELDS)
    assert texts["d1"] == TEXTS[1] and len(background) == 2
    assert main([*args[:-1], str(tmp_path / "d"), "--corpus", "bundled"]) == 2  # --max-documents without a stream
    assert pq.read_table(tmp_path / "c" / "pairs.parquet").num_rows > 0


def test_stream_errors_are_clear(tmp_path):
    script = tmp_path / "loader.py"
    script.write_text("import datasets\n")
    with pytest.raises(CorpusError, match="no longer runs loading scripts"):
        resolve_corpus([f"hf:{script}"])
    with pytest.raises(CorpusError, match="cannot open the stream"):
        resolve_corpus([f"hf:{tmp_path / 'empty'}"])
    for bad in ("hf:", "hf:a:b:c:d", "hf:name|first=0", "hf:name|shard=3/3", "hf:name|colour=red"):
        with pytest.raises(CorpusError):
            StreamSpec.parse(bad)


def test_language_id_and_selection_read_a_stream_like_its_files(tmp_path, tiny_model_dir):
    from pivotlens.selection import DocumentTokenizer
    from pivotlens.selection.files import read_jsonl_zst
    from test_selection import _outputs, _run_all, _write_corpus

    tiny_tokenizer = DocumentTokenizer.from_model(str(tiny_model_dir("llama")))
    files = _write_corpus(tmp_path / "files")
    plain = tmp_path / "plain"
    plain.mkdir()
    for shard in files:  # the same documents as uncompressed JSON Lines, for datasets' json builder
        name = shard.path.split("/")[-1].removesuffix(".zst")
        (plain / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in read_jsonl_zst(Path(shard.path))))
    stream = resolve_corpus([f"hf:{plain}"])
    assert len(stream) == len(files) == 3
    _run_all(files, tiny_tokenizer, tmp_path / "from-files", "local")
    _run_all(stream, tiny_tokenizer, tmp_path / "from-stream", "local")
    for stage in ("adjacency", "pivots", "mix"):
        assert _outputs(tmp_path / "from-stream" / stage) == _outputs(tmp_path / "from-files" / stage)
