"""The infini-gram API engine against a local stub of the API (tests/infinigram_stub.py)."""

import json
import time

import pyarrow.parquet as pq
import pytest

from infinigram_stub import StubApi
from pivotlens.cli import main
from pivotlens.corpus.counting import CountConfig, make_plan
from pivotlens.corpus.infinigram_api import (
    InfiniGramApi,
    count_queries,
    count_with_api,
    document_text,
    sample_through_api,
)
from pivotlens.corpus.results import read_pair_counts
from pivotlens.errors import CorpusError
from pivotlens.records import TranslationItem

DOCUMENTS = [
    "the hand holds water",  # 0
    "l'eau et la main",  # 1: eau is word-internal to the tokenizer
    "hand and water and hand",  # 2
    "手 和 水",  # 3
    "a main, une main et de l' eau ( water )",  # 4
    "far " + "filler " * 120 + "water then hand",  # 5: hand 121 tokens after the first water... and next to the last
    "水の手",  # 6
]
REQUESTS = [TranslationItem("1", "en", "fr", "hand", "main"), TranslationItem("2", "en", "fr", "water", "eau"),
            TranslationItem("3", "en", "fr", "hand", "water"), TranslationItem("4", "zh", "ja", "水", "手"),
            TranslationItem("5", "zh", "ja", "手", "手")]


def _plan():
    return make_plan(REQUESTS, CountConfig(reservoir=0))


def _client(stub, tmp_path, **kwargs):
    return InfiniGramApi("stub-index", stub.url, tmp_path / "cache", backoff=0.01, **kwargs)


def test_counts_are_token_occurrences_and_window_cooccurrences(tmp_path):
    with StubApi({"stub-index": DOCUMENTS}) as stub:
        api = _client(stub, tmp_path)
        counts = count_with_api(_plan(), tmp_path / "counts", api, max_diff_tokens=100)
    terms = {row["term"]: row for row in pq.read_table(tmp_path / "counts" / "terms.parquet").to_pylist()}
    assert {t: terms[t]["occurrences"] for t in terms} == {"eau": 1, "hand": 4, "main": 3, "water": 4, "手": 2, "水": 2}
    assert terms["hand"]["api_tokens"] == ["▁hand"] and terms["手"]["api_tokens"] == ["手"]
    pairs = {row["id"]: row for row in pq.read_table(tmp_path / "counts" / "pairs.parquet").to_pylist()}
    assert "cooccurrence" not in pairs["1"] and "source_doc_freq" not in pairs["1"]  # no document counts claimed
    # occurrences of hand (4, no rarer than water) with water within 100 tokens: doc 0, both in doc 2, doc 5's last
    assert pairs["3"]["window_cooccurrence"] == 4 and pairs["3"]["window_approx"] is False
    assert pairs["1"]["window_cooccurrence"] == 0  # hand and main never share a document
    assert pairs["2"]["window_cooccurrence"] == 1  # only "l' eau" (doc 4) holds ▁eau; doc 1's l'eau does not
    assert pairs["4"]["window_cooccurrence"] == 2  # docs 3 and 6
    assert pairs["5"]["same_term"] and pairs["5"]["window_cooccurrence"] == 2
    assert counts.total_tokens == sum(len(stub.indices["stub-index"].documents[d]) for d in range(len(DOCUMENTS)))
    assert read_pair_counts(tmp_path / "counts")[("en", "fr", "hand", "water")] == 4
    manifest = json.loads((tmp_path / "counts" / "manifest.json").read_text())
    assert "not documents" in json.dumps(manifest)
    assert api.sent == len(count_queries(_plan(), 100, 50_000)) == 1 + 6 + 4


def test_a_rerun_sends_no_request_and_a_kill_loses_only_what_was_in_flight(tmp_path):
    plan = _plan()
    queries = count_queries(plan, 100, 50_000)
    with StubApi({"stub-index": DOCUMENTS}) as stub:
        seen = []

        def interrupt_after_four(n):
            seen.append(n)
            if sum(seen) >= 4:
                raise KeyboardInterrupt

        api = _client(stub, tmp_path, concurrency=1)
        with pytest.raises(KeyboardInterrupt):
            api.query_many(queries, interrupt_after_four)
        time.sleep(0.3)  # the request in flight at the kill reaches the server
        with open(api.cache_path, "a") as cache:
            cache.write('{"key": "torn by a kill')  # a line cut mid-write
        sent_before = len(stub.requests)
        resumed = _client(stub, tmp_path, concurrency=3)
        assert sum(map(resumed.is_cached, queries)) == 4
        count_with_api(plan, tmp_path / "counts", resumed)
        assert resumed.sent == len(stub.requests) - sent_before == len(queries) - 4
        again = _client(stub, tmp_path)
        count_with_api(plan, tmp_path / "other-out", again)
        assert again.sent == 0 and len(stub.requests) == sent_before + len(queries) - 4
    assert pq.read_table(tmp_path / "other-out" / "pairs.parquet").equals(pq.read_table(tmp_path / "counts" / "pairs.parquet"))
    assert all(line.endswith("}") for line in api.cache_path.read_text().splitlines())  # the torn line was cut


def test_rate_limits_server_errors_and_dropped_connections_are_retried(tmp_path):
    with StubApi({"stub-index": DOCUMENTS}, latency=0.02) as stub:
        stub.faults = ["429", "500", "drop", "429"]
        api = _client(stub, tmp_path, concurrency=4)
        replies = api.query_many([{"query_type": "count", "query": word} for word in ("hand", "water", "main", "手")])
        assert [r["count"] for r in replies] == [4, 4, 3, 2]
        assert api.sent == 8 and stub.max_in_flight <= 4
        stub.faults = ["500"] * 3
        failing = _client(stub, tmp_path, retries=2)
        with pytest.raises(CorpusError, match="kept failing.*HTTP 500.*3 tries"):
            failing.query({"query_type": "count", "query": "eau"})


def test_bounded_concurrency(tmp_path):
    with StubApi({"stub-index": DOCUMENTS}, latency=0.05) as stub:
        api = _client(stub, tmp_path, concurrency=3)
        api.query_many([{"query_type": "count", "query": f"w{i}"} for i in range(12)])
        assert stub.max_in_flight == 3


def test_unknown_index_and_unreachable_endpoint_are_clear_errors(tmp_path):
    with StubApi({"stub-index": DOCUMENTS}) as stub:
        api = InfiniGramApi("v4_nonsense_llama", stub.url, tmp_path / "cache")
        with pytest.raises(CorpusError, match="has no index 'v4_nonsense_llama'.*v4_dolma-v1_7_llama"):
            count_with_api(_plan(), tmp_path / "counts", api)
        assert len(stub.requests) == 1  # the index check failed fast
        port = stub.server.server_port
    closed = InfiniGramApi("stub-index", f"http://127.0.0.1:{port}/", tmp_path / "cache", retries=1, backoff=0.01)
    with pytest.raises(CorpusError, match="cannot reach the infini-gram API.*2 tries"):
        closed.query({"query_type": "count", "query": "hand"})
    with pytest.raises(CorpusError, match="operator words"):
        count_queries(make_plan([TranslationItem("x", "en", "fr", "salt AND pepper", "sel")],
                                CountConfig(case_sensitive=True)), 100, 50_000)


def test_document_samples_are_distinct_documents_drawn_without_replacement(tmp_path):
    with StubApi({"stub-index": DOCUMENTS}) as stub:
        api = _client(stub, tmp_path)
        few = sample_through_api(api, ["hand"], n=2, seed=0)
        everything = sample_through_api(api, ["hand", "水", None], n=10, seed=0)
        sent = api.sent
        again = sample_through_api(_client(stub, tmp_path), ["hand", "水", None], n=10, seed=0)
        other_seed = sample_through_api(api, ["hand"], n=1, seed=1)
    assert len(few.samples["hand"]) == 2 and set(few.samples["hand"]) <= {"0", "2", "5"}
    assert sorted(everything.samples["hand"]) == ["0", "2", "5"]  # every document, each once
    assert sorted(everything.samples["水"]) == ["3", "6"]
    background = everything.samples[None]  # any document, weighted by length: doc 5 is 123 of 160 tokens
    assert "5" in background and len(set(background)) == len(background) <= len(DOCUMENTS)
    assert again.samples == everything.samples and len(stub.requests) >= sent
    assert everything.texts["0"] == "the hand holds water" and everything.texts["3"] == "手 和 水"
    assert other_seed.samples["hand"][0] in {"0", "2", "5"}


def test_span_texts_get_back_the_space_between_latin_words():
    reply = {"spans": [["the", None], ["hand", "0"], ["holds", None], ["手", "1"], ["和", None], ["(", None],
                       ["water", "0"], [", and 尊严", None], ["freedom", None]]}
    assert document_text(reply) == "the hand holds 手和( water, and 尊严 freedom"


def test_cli_dry_run_counts_queries_and_sends_none(tmp_path, capsys):
    with StubApi({"stub-index": DOCUMENTS}) as stub:
        args = ["corpus", "count", "--engine", "infinigram-api", "--index", "stub-index", "--api-url", stub.url,
                "--api-cache", str(tmp_path / "cache"), "--dataset", "sample", "--pairs", "en-fr",
                "--out", str(tmp_path / "counts")]
        assert main([*args, "--dry-run"]) == 0
        assert stub.requests == []
        dry = capsys.readouterr().out
        assert main(args) == 0
        sent = len(stub.requests)
        assert main([*args[:-1], str(tmp_path / "again")]) == 0
        assert len(stub.requests) == sent
        assert main([*args, "--dry-run"]) == 0
    total = int(dry.split()[0].replace(",", ""))
    assert "0 cached" in dry and total == sent
    out = capsys.readouterr().out
    assert f"{total:,} cached, 0 to send" in out and "0 requests sent" in out
    assert main(["corpus", "count", "--engine", "local", "--corpus", "bundled", "--dry-run",
                 "--out", str(tmp_path / "x")]) == 2


def test_pivots_mine_through_the_api(tiny_model_dir, tmp_path, capsys):
    from pivotlens.lens.behaviour import SEMANTIC_PIVOT
    from pivotlens.records import BehaviourRecord, LensReadout, write_behaviours

    documents = [text for i in range(10) for text in (f"the dignity of the person and freedom number {i}",
                                                      "the 尊严 freedom 人", f"the weather is nice, the right {i}")]
    lens = tmp_path / "lens" / "behaviours"
    lens.mkdir(parents=True)
    item = TranslationItem("dog", "en", "zh", "dignity", "尊严")
    readout = LensReadout(0, (1, 1), ("x", "x"), (0.1, 0.4), (None, None), 2, "y", 0.2, False, {}, (1.0, 1.0))
    write_behaviours(lens / "en-zh.jsonl", [BehaviourRecord(item, SEMANTIC_PIVOT, 1, "x", 2, 0.4, 1, "x", (0.1, 0.2),
                                                            "gold", 1, readout)])
    with StubApi({"stub-index": documents}) as stub:
        argv = ["pivots", "mine", "--engine", "infinigram-api", "--index", "stub-index", "--api-url", stub.url,
                "--api-cache", str(tmp_path / "cache"), "--model", str(tiny_model_dir("llama")), "--behaviours",
                str(tmp_path / "lens"), "--documents", "5", "--background", "10", "--out", str(tmp_path / "mined")]
        assert main([*argv, "--dry-run"]) == 0 and stub.requests == []
        assert "2 words to sample" in capsys.readouterr().out
        assert main(argv) == 0
        assert "dignity → 尊严: freedom" in capsys.readouterr().out
        sent = len(stub.requests)
        assert main([*argv[:-1], str(tmp_path / "again")]) == 0
        assert len(stub.requests) == sent  # every reply cached
    record = json.loads((tmp_path / "mined" / "pivots.jsonl").read_text().splitlines()[0])
    assert (record["n_source_documents"], record["n_target_documents"]) == (5, 5)


def test_the_table1_config_counts_through_the_api_in_a_study(tmp_path, monkeypatch, tiny_model_dir):
    from pathlib import Path

    monkeypatch.setenv("PIVOTLENS_CACHE", str(tmp_path / "cache"))
    config = Path(__file__).parents[1] / "configs" / "table1-dolma.yaml"
    with StubApi({"v4_dolma-v1_7_llama": DOCUMENTS}) as stub:
        argv = ["run", str(config), "--run-dir", str(tmp_path / "run"), "--only", "counts", "--model",
                str(tiny_model_dir("llama")), "--set", "dataset=sample", "--set", "pairs=en-fr",
                "--set", f"counts.api_url={stub.url}"]
        assert main(argv) == 0
        sent = len(stub.requests)
        assert sent > 1 and {r["index"] for r in stub.requests} == {"v4_dolma-v1_7_llama"}
    pairs = pq.read_table(tmp_path / "run" / "counts" / "pairs.parquet").to_pylist()
    assert pairs and all("window_cooccurrence" in row for row in pairs)
    assert read_pair_counts(tmp_path / "run" / "counts")
