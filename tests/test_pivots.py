import json

import numpy as np
import pytest

from pivotlens.artifacts import StageDirectory
from pivotlens.cli import main
from pivotlens.corpus.counting import CountConfig, CountOptions
from pivotlens.corpus.readers import RecordFields
from pivotlens.errors import PivotlensError
from pivotlens.languages import PAPER_LANGUAGES
from pivotlens.lens.behaviour import CO_OCCURRENCE, SEMANTIC_PIVOT
from pivotlens.models.tiny import train_tokenizer
from pivotlens.pivots import (
    Candidate,
    MineConfig,
    apply_rule_filter,
    item_word_forms,
    llm_filter,
    mine_pivots,
    rank_candidates,
    rule_reason,
    sample_frequencies,
    select_items,
)
from pivotlens.pivots.options import MineOptions
from pivotlens.pivots.run import check_counted_corpus
from pivotlens.records import BehaviourRecord, LensReadout, TranslationItem, write_behaviours


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(languages=PAPER_LANGUAGES)  # the hand-made candidates' words are single tokens there


def test_sample_frequencies_by_document_and_by_occurrence():
    documents = [[1, 1, 2], [2, 3], [4]]
    np.testing.assert_allclose(sample_frequencies(documents, 5, "document"), [0, 1 / 3, 2 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(sample_frequencies(documents, 5, "occurrence"), [0, 2 / 6, 2 / 6, 1 / 6, 1 / 6])
    with pytest.raises(ValueError):
        sample_frequencies(documents, 5, "bytes")


def test_rank_by_relative_co_occurrence():
    f_source = np.array([0.9, 0.5, 0.6, 0.0, 0.4])
    f_target = np.array([0.9, 0.7, 0.5, 0.8, 0.4])
    f_background = np.array([0.9, 0.1, 0.1, 0.0, 0.0])
    ranked = rank_candidates(f_source, f_target, f_background, lambda i: f"t{i}", top=3)
    # F = min(fs − fbg, ft − fbg): t0 0.0, t1 0.4, t2 0.4, t4 0.4; t3 never occurs with the source
    assert [(c.token_id, round(c.score, 6)) for c in ranked] == [(1, 0.4), (2, 0.4), (4, 0.4)]
    assert ranked[0] == Candidate(1, "t1", pytest.approx(0.4), 0.5, 0.7, 0.1)


def test_rule_filter_reasons():
    assert rule_reason("▁") == "whitespace"
    assert rule_reason("，") == "punctuation" and rule_reason("»") == "punctuation"
    assert rule_reason("2019") == "digits"
    assert rule_reason("▁q") == "latin-fragment"
    assert rule_reason("▁The") == "stopword" and rule_reason("的") == "stopword" and rule_reason("▁dans") == "stopword"
    assert rule_reason("▁Flower", ["flower", "花"]) == "word-token"
    assert rule_reason("▁petals") is None and rule_reason("花瓣") is None and rule_reason("手") is None
    kept = apply_rule_filter([Candidate(7, "▁petals", 0.5, 0.6, 0.6, 0.1), Candidate(8, "▁the", 0.4, 1, 1, 0.6)], [])
    assert [c.token_id for c in kept.kept] == [7] and [(c.token_id, r) for c, r in kept.dropped] == [(8, "stopword")]


def test_rule_filter_drops_every_piece_of_the_words_by_id_and_their_variants(tokenizer):
    # mountain = " m" + "ount" + "ain", montagne = " m" + "ont" + "ag" + "ne": every piece is the words'.
    item = TranslationItem("mountain", "ja", "fr", "山", "montagne")
    words = item_word_forms(tokenizer, item, english="freedom")
    pieces = {tokenizer.decode([i]): i for i in tokenizer("mountain montagne", add_special_tokens=False)["input_ids"]}
    assert pieces["ag"] in words.token_ids and pieces["ount"] not in words.token_ids
    words = item_word_forms(tokenizer, TranslationItem("mountain", "en", "fr", "mountain", "montagne"), "mountain")
    candidates = [Candidate(pieces["ount"], "ount", 0.6, 0.7, 0.7, 0.1),  # a piece of the source word
                  Candidate(pieces["ag"], "ag", 0.5, 0.6, 0.6, 0.1),  # a piece of the target word
                  Candidate(900, "▁montagnes", 0.4, 0.5, 0.5, 0.1),  # the target's plural
                  Candidate(901, "▁freedoms", 0.3, 0.4, 0.4, 0.1),  # the entry's English word, inflected
                  Candidate(902, "▁freedom", 0.3, 0.4, 0.4, 0.1),  # the English word itself: a pivot
                  Candidate(903, "▁sommet", 0.2, 0.3, 0.3, 0.1)]
    filtered = apply_rule_filter(candidates, words=words)
    assert [(c.token_id, reason) for c, reason in filtered.dropped] == [
        (pieces["ount"], "word-token"), (pieces["ag"], "word-token"), (900, "variant")]
    assert [c.token for c in filtered.kept] == ["▁freedoms", "▁freedom", "▁sommet"]  # English is the source here
    ja_fr = apply_rule_filter(candidates, words=item_word_forms(tokenizer, item, english="freedom"))
    assert [(c.token_id, reason) for c, reason in ja_fr.dropped] == [(pieces["ag"], "word-token"), (900, "variant"),
                                                                    (901, "variant")]
    assert [c.token for c in ja_fr.kept] == ["ount", "▁freedom", "▁sommet"]
    assert rule_reason("ount") is None  # without the item's words the piece would be kept


def test_llm_filter_against_a_local_endpoint(openai_stub):
    stub = openai_stub(lambda request: 'Sure: {"keep": [1]}')
    url, seen = stub.url, stub.requests
    candidates = apply_rule_filter([Candidate(1, "▁garden", 0.3, 0.4, 0.4, 0.1), Candidate(2, "▁petals", 0.2, 0.3, 0.3, 0.1)], [])
    result = llm_filter(candidates, url, "stub", "English", "Chinese", "flower", "花")
    assert [c.token_id for c in result.kept] == [2]
    assert [(c.token_id, reason) for c, reason in result.dropped] == [(1, "llm")]
    path, body = seen[0]
    assert path == "/v1/chat/completions" and "flower" in body["messages"][0]["content"]
    assert "0\tgarden" in body["messages"][0]["content"]
    with pytest.raises(PivotlensError, match="LLM filter"):
        llm_filter(candidates, "http://127.0.0.1:9/v1", "stub", "English", "Chinese", "flower", "花", timeout=2)


def _behaviour(item, behaviour):
    pivot = (1, "x") if behaviour == SEMANTIC_PIVOT else (None, None)
    readout = LensReadout(0, (1, 1, 1), ("x",) * 3, (0.1, 0.4, 0.2), (None,) * 3, 2, "y", 0.2, False, {}, (1.0,) * 3)
    return BehaviourRecord(item, behaviour, 1, "x", 2, 0.4, *pivot, (0.1, 0.2, 0.3), "gold", 1, readout)


def test_select_items_needs_pivot_behaviour_and_no_shared_token(tokenizer):
    records = [
        _behaviour(TranslationItem("a", "en", "zh", "freedom", "自由"), SEMANTIC_PIVOT),
        _behaviour(TranslationItem("b", "en", "fr", "human", "humain"), SEMANTIC_PIVOT),
        _behaviour(TranslationItem("c", "en", "zh", "dignity", "尊严"), CO_OCCURRENCE),
    ]
    assert [item.id for item in select_items(records, tokenizer)] == ["a"]  # "human"/"humain" share Ġhum…


def _corpus(tmp_path):
    """Source docs hold 'dignity' and the planted ' freedom'; target docs hold 尊严 and ' freedom';
    every document holds ' the', so it is frequent everywhere and explains nothing."""
    documents = []
    for i in range(10):
        documents.append({"id": f"s{i}", "text": f"the dignity of the person and freedom number {i}"})
        documents.append({"id": f"t{i}", "text": "the 尊严 freedom 人"})
        documents.append({"id": f"b{i}", "text": f"the weather is nice, the right {i}"})
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in documents))
    samples = {"dignity": [f"s{i}" for i in range(10)], "尊严": [f"t{i}" for i in range(10)]}
    return path, samples


def test_planted_pivot_ranks_first(tokenizer, tmp_path):
    corpus, samples = _corpus(tmp_path)
    item = TranslationItem("dignity", "en", "zh", "dignity", "尊严")
    config = MineConfig(model="tiny", documents_per_word=8, background_documents=10, top=10, seed=1)
    records = mine_pivots(tokenizer, [item], samples, corpus, config, tmp_path / "out")
    record = records[0]
    assert (record["n_source_documents"], record["n_target_documents"]) == (8, 8)
    freedom = tokenizer.convert_tokens_to_ids("Ġfreedom")
    the = tokenizer.convert_tokens_to_ids("Ġthe")
    first = record["candidates"][0]
    assert first["token_id"] == freedom and first["f_source"] == 1.0 and first["f_target"] == 1.0
    ranked = [c["token_id"] for c in record["candidates"]]
    assert the not in ranked[:3]
    assert record["kept"][0]["token_id"] == freedom
    token_sets = [json.loads(line) for line in (tmp_path / "out" / "token_sets.jsonl").open()]
    assert token_sets[0]["pair"] == "en-zh" and token_sets[0]["token_ids"][0] == freedom
    again = mine_pivots(tokenizer, [item], samples, corpus, config, tmp_path / "again")
    assert again == records  # deterministic under the seed


def test_pivots_commands(tiny_model_dir, tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    corpus, samples = _corpus(tmp_path)
    counts = tmp_path / "counts"
    counts.mkdir()
    pq.write_table(pa.Table.from_pylist([{"words": [word], "sample_ids": ids} for word, ids in samples.items()]),
                   counts / "terms.parquet")
    lens = tmp_path / "lens" / "behaviours"
    lens.mkdir(parents=True)
    write_behaviours(lens / "en-zh.jsonl", [_behaviour(TranslationItem("dog", "en", "zh", "dignity", "尊严"),
                                                       SEMANTIC_PIVOT)])
    model = str(tiny_model_dir("llama"))
    argv = ["pivots", "mine", "--model", model, "--behaviours", str(tmp_path / "lens"), "--counts", str(counts),
            "--corpus", str(corpus), "--documents", "5", "--background", "10", "--out", str(tmp_path / "mined")]
    assert main(argv) == 0
    assert "dignity → 尊严: freedom" in capsys.readouterr().out
    assert main(argv) == 0  # finished: nothing recomputed
    assert main(["pivots", "curve", "--model", model, "--pivots", str(tmp_path / "mined"), "--random-sets", "3",
                 "--out", str(tmp_path / "curve"), "--device", "cpu"]) == 0
    curve = json.loads((tmp_path / "curve" / "curve.json").read_text())
    assert curve["n_items"] == 1 and len(curve["layers"]) == 3
    assert main(["pivots", "curve", "--model", model, "--pivots", str(tmp_path / "nothing"), "--out", str(tmp_path / "c")]) == 2


def test_mining_more_documents_than_the_count_sampled_is_an_error(tmp_path):
    corpus, _ = _corpus(tmp_path)
    StageDirectory(tmp_path / "counts", "corpus-count").claim({"config": {"reservoir": 3}})
    with pytest.raises(PivotlensError, match=r"--documents 8 asks for more .*`corpus count --reservoir 3`"):
        check_counted_corpus(tmp_path / "counts", corpus, RecordFields(), 8)
    check_counted_corpus(tmp_path / "counts", corpus, RecordFields(), 3)
    # the defaults agree: a default count keeps what a default mining run takes
    assert CountOptions().reservoir == CountConfig().reservoir == MineOptions().documents == 2000
