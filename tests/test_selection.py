"""Pivot-aware data selection: hand-counted adjacency, threshold/degree rules, chunked language ID,
mix shares, local == Ray, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import sparse
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from pivotlens.cli import main
from pivotlens.corpus.readers import RecordFields, Shard, fingerprint, resolve_corpus
from pivotlens.selection import (
    AdjacencyConfig,
    AdjacencyMatrix,
    DocumentTokenizer,
    LangIdConfig,
    LanguageIndex,
    MixConfig,
    PivotConfig,
    SelectionError,
    build_adjacency,
    build_pivot_set,
    chunk_starts,
    count_cooccurrence,
    identify_documents,
    identify_text,
    plan_mixes,
    run_adjacency,
    run_langid,
    run_mixes,
    run_pivot_set,
    select_top,
)
from pivotlens.selection.files import read_jsonl_zst, write_jsonl_zst
from pivotlens.selection.mixes import score_candidates
from pivotlens.selection.pivots import degrees, mean_occurrence_probability, ubiquitous_mask

# --- a word-level tokenizer: token ids that can be counted by hand --------------------------------

WORDS = ["a", "b", "c", "d", "e"]


@pytest.fixture(scope="module")
def words():
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS + ["[UNK]"])}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.decoder = decoders.WordPiece()
    return DocumentTokenizer(tokenizer.to_str(), "words")


def _index(tmp_path, texts, languages) -> LanguageIndex:
    """A language index over one shard, as `select langid` would leave it (languages given)."""
    path = tmp_path / "docs.jsonl.zst"
    write_jsonl_zst(path, [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)])
    shard = Shard(str(path), "jsonl")
    return LanguageIndex(tmp_path, [shard], RecordFields(), [len(texts)], np.asarray(languages), "test",
                         [fingerprint(shard)])


THREE_DOCS = ["a b c", "b c b", "c d"]
# document frequencies a 1, b 2, c 3, d 1; pairs ab 1, ac 1, bc 2, cd 1
EXPECTED_UPPER = [[0, 1, 1, 0], [0, 0, 2, 0], [0, 0, 0, 1], [0, 0, 0, 0]]


def test_adjacency_of_three_documents_by_hand(tmp_path, words):
    index = _index(tmp_path, THREE_DOCS + ["a e"], ["fr", "zh", "ja", "en"])  # the English one is not in the subset
    matrix = build_adjacency(index, words, AdjacencyConfig(languages=("fr", "zh", "ja")))
    assert matrix.documents == 3
    assert matrix.token_ids.tolist() == [0, 1, 2, 3]  # "e" occurs only outside the subset
    assert matrix.doc_freq.tolist() == [1, 2, 3, 1]
    assert matrix.upper.toarray().tolist() == EXPECTED_UPPER
    assert matrix.symmetric().toarray().tolist() == (np.array(EXPECTED_UPPER) + np.array(EXPECTED_UPPER).T).tolist()


def test_adjacency_batches_and_vocabulary_cap(tmp_path, words):
    sets = [np.array([0, 1, 2]), np.array([1, 2]), np.array([2, 3])]
    for max_pairs in (1, 5, 10**6):  # one document per partial matrix … all in one
        counts = count_cooccurrence(sets, 4, max_pairs=max_pairs)
        assert counts.upper.toarray().tolist() == EXPECTED_UPPER and counts.doc_freq.tolist() == [1, 2, 3, 1]
    index = _index(tmp_path, THREE_DOCS, ["fr", "fr", "fr"])
    capped = build_adjacency(index, words, AdjacencyConfig(languages=("fr",), vocab_cap=2))
    assert capped.token_ids.tolist() == [1, 2]  # c (3 documents) and b (2)
    assert capped.upper.toarray().tolist() == [[0, 2], [0, 0]] and capped.documents == 3


def test_subset_sample_is_seeded_and_per_language(tmp_path, words):
    texts = [f"{'a b' if i % 2 else 'c d'} e" for i in range(200)]
    index = _index(tmp_path, texts, ["fr"] * 100 + ["zh"] * 100)
    one = build_adjacency(index, words, AdjacencyConfig(languages=("fr", "zh"), docs_per_language=30, seed=1))
    again = build_adjacency(index, words, AdjacencyConfig(languages=("fr", "zh"), docs_per_language=30, seed=1))
    other = build_adjacency(index, words, AdjacencyConfig(languages=("fr", "zh"), docs_per_language=30, seed=2))
    assert one.documents == again.documents and one.doc_freq.tolist() == again.doc_freq.tolist()
    assert 40 <= one.documents <= 80  # about 30 of each language
    assert (one.documents, one.doc_freq.tolist()) != (other.documents, other.doc_freq.tolist())


# --- threshold, degree, pivot set -------------------------------------------------------------

def _matrix(upper, doc_freq, documents) -> AdjacencyMatrix:
    return AdjacencyMatrix(sparse.csr_matrix(np.array(upper, np.int32)), np.arange(len(doc_freq)),
                           np.array(doc_freq), documents)


def test_threshold_and_degrees_by_hand():
    matrix = _matrix(EXPECTED_UPPER, [1, 2, 3, 1], 3)
    assert mean_occurrence_probability(matrix) == pytest.approx(7 / 12)  # Σ df / (D · V)
    pivots = build_pivot_set(matrix, PivotConfig(alpha=1.0, drop_top_percent=0))
    # τ · D = 1.75 documents: only b–c (2) exceeds it
    assert pivots.degree.tolist() == [0, 1, 1, 0] and pivots.pivot_token_ids.tolist() == [1, 2]
    # α = 0.5: τ · D = 0.875, every pair exceeds it
    assert degrees(matrix, 0.5 * 7 / 12).tolist() == [2, 2, 3, 1]
    # strictly greater: at τ · D = 2 exactly, b–c (2) no longer counts
    assert degrees(matrix, 2 / 3).tolist() == [0, 0, 0, 0]


def test_all_zero_matrix_gives_an_empty_pivot_set():
    matrix = _matrix(np.zeros((3, 3)), [1, 1, 1], 3)
    pivots = build_pivot_set(matrix, PivotConfig())
    assert pivots.degree.tolist() == [0, 0, 0] and len(pivots.pivot_token_ids) == 0
    assert pivots.summary()["degree_zero"] == 3 and pivots.summary()["ubiquitous"] == 0
    single = count_cooccurrence([np.array([0]), np.array([], np.int64), np.array([2])], 3)  # no pair anywhere
    assert single.upper.nnz == 0 and single.doc_freq.tolist() == [1, 0, 1] and single.documents == 3


@pytest.mark.parametrize("percent, dropped", [
    (0, []),
    (20, []),  # k = 1 but the top two tie at 5: the tie is not split
    (34, [0, 1]),  # k = 2: exactly the two 5s
    (50, [0, 1]),  # k = 3: the 3s tie at the cut, all kept
    (84, [0, 1, 2, 3, 4]),  # k = 5: everything above the last (degree 1)
    (100, [0, 1, 2, 3, 4, 5]),
])
def test_ties_at_the_top_percent_cut(percent, dropped):
    degree = np.array([5, 5, 3, 3, 3, 1, 0])
    assert np.flatnonzero(ubiquitous_mask(degree, percent)).tolist() == dropped
    assert np.flatnonzero(ubiquitous_mask(np.array([4, 4, 4, 0]), percent)).tolist() == ([0, 1, 2] if percent == 100 else [])


# --- language ID by sliding chunks ------------------------------------------------------------

@pytest.mark.parametrize("n, starts", [(0, []), (1, [0]), (256, [0]), (257, [0, 128]), (384, [0, 128]),
                                       (385, [0, 128, 256]), (640, [0, 128, 256, 384])])
def test_chunk_starts_256_128(n, starts):
    assert chunk_starts(n, 256, 128) == starts


FRENCH = "Le chat dort sur le canapé pendant que la pluie tombe doucement sur la ville et les rues. "
CHINESE = "今天天气很好，我们一起去公园散步，然后在湖边喝茶，看着孩子们放风筝。"
JAPANESE = "東京の桜はとても美しいです。私たちは週末に公園で花見をしました。"
ENGLISH = "The committee will meet next week to discuss the new budget for the library and the school. "


def test_identify_text_offline():
    assert identify_text(FRENCH)[0] == "fr" and identify_text(CHINESE)[0] == "zh"
    assert identify_text(JAPANESE)[0] == "ja" and identify_text(ENGLISH + "\n" + ENGLISH)[0] == "en"


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_model_dir):
    return DocumentTokenizer.from_model(str(tiny_model_dir("llama")))


def test_chunks_of_a_mixed_language_document(tiny_tokenizer):
    from pivotlens.corpus.readers import Document

    text = FRENCH * 14 + CHINESE * 14
    encoding = tiny_tokenizer.encode([text])[0]
    n = len(encoding.ids)
    assert n > 600
    [result] = identify_documents([Document("mixed", text)], tiny_tokenizer, LangIdConfig(256, 128))
    starts = chunk_starts(n, 256, 128)
    assert len(result.chunks) == len(starts)
    for chunk, start in zip(result.chunks, starts):
        end = min(start + 256, n)
        assert (chunk.start_char, chunk.end_char) == (encoding.offsets[start][0], encoding.offsets[end - 1][1])
        assert chunk.label == identify_text(tiny_tokenizer.decode_batch([encoding.ids[start:end]])[0])[0]
    assert result.chunks[0].label == "fr" and result.chunks[-1].label == "zh"
    assert sum(result.shares.values()) == pytest.approx(1.0)
    assert set(result.shares) >= {"fr", "zh"} and result.dominant in ("fr", "zh")
    assert result.attributes_record()["attributes"]["pivotlens_lang_dominant"] == result.dominant
    [empty] = identify_documents([Document("empty", "")], tiny_tokenizer)
    assert empty.chunks == () and empty.dominant == "und" and empty.shares == {}


# --- mixes --------------------------------------------------------------------------------------

def test_mix_plan_and_shares_within_one_document():
    #            original (6)              | later: multilingual window (6)      | rest
    languages = np.array(["en", "fr", "en", "en", "zh", "en", "fr", "zh", "en", "ja", "fr", "en",
                          "fr", "fr", "zh", "zh", "ja", "ja", "fr", "en"])
    plan = plan_mixes(languages, MixConfig(size=6, multilingual_window=6, candidate_window=14))
    assert plan.original.tolist() == [0, 1, 2, 3, 4, 5]
    assert plan.multilingual_counts == {"fr": 2, "zh": 1, "ja": 1}
    assert plan.multilingual.tolist() == [0, 2, 6, 7, 9, 10]  # fr/zh/ja of 6..11 + the first two English
    assert plan.candidates.tolist() == [6, 7, 9, 10, 12, 13, 14, 15, 16, 17, 18]
    scores = np.array([0.1, 0.5, 0.2, 0.3, 0.9, 0.3, 0.4, 0.8, 0.7, 0.1, 0.3])  # per candidate above
    chosen = select_top(plan.candidates, languages[plan.candidates], scores, plan.pivot_targets)
    assert chosen.tolist() == [10, 12, 15, 16]  # fr: 0.9, then 0.3 (10 before 13 and 18 on the tie); zh 0.8; ja 0.7
    for size, pivot_size in [(6, 6), (6, 4), (6, 9), (6, 13)]:
        plan = plan_mixes(languages, MixConfig(size=size, multilingual_window=6, candidate_window=14,
                                               pivot_size=pivot_size))
        for lang, m in plan.multilingual_counts.items():
            assert abs(plan.pivot_targets[lang] - m * pivot_size / size) <= 1


def test_mix_errors_say_what_to_change():
    languages = np.array(["en"] * 2 + ["fr"] * 8)
    with pytest.raises(SelectionError, match="use --multilingual-window 2 or less"):
        plan_mixes(languages, MixConfig(size=2))
    with pytest.raises(SelectionError, match="larger than the corpus"):
        plan_mixes(languages, MixConfig(size=11))
    with pytest.raises(SelectionError, match="candidate-window"):
        select_top(np.arange(3), np.array(["fr", "fr", "zh"]), np.zeros(3), {"fr": 1, "zh": 2})


def test_document_score_counts_pivot_token_occurrences(tmp_path, words):
    index = _index(tmp_path, THREE_DOCS + [""], ["fr", "zh", "ja", "fr"])
    mask = np.zeros((1, words.vocab_size), bool)
    mask[0, 1] = True  # pivot set {b}
    scores = score_candidates(index, words, np.array([0, 1, 3]), mask)
    assert scores.positions.tolist() == [0, 1, 3] and scores.ids == ["d0", "d1", "d3"]
    assert scores.tokens.tolist() == [3, 3, 0] and scores.pivot_tokens[0].tolist() == [1, 2, 0]
    assert scores.scores().tolist() == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert scores.select({"fr": 1, "zh": 1}, min_tokens=0).tolist() == [0, 1]
    assert scores.select({"fr": 1}, min_tokens=1).tolist() == [0]  # the empty document is never ranked first
    with pytest.raises(SelectionError, match="candidate-window"):
        scores.select({"zh": 1}, min_tokens=4)  # --min-tokens leaves no zh candidate


# --- the stages end to end: determinism, resumption, local == Ray -------------------------------

SENTENCES = {"en": ENGLISH, "fr": FRENCH, "zh": CHINESE, "ja": JAPANESE}


def _write_corpus(directory, n_docs=48, shards=3):
    rng = np.random.default_rng(3)
    languages = ["en", "fr", "zh", "ja"]
    documents = []
    for i in range(n_docs):
        lang = languages[int(rng.integers(4))]
        text = SENTENCES[lang] * int(rng.integers(1, 5))
        if i % 5 == 0:  # some documents mix in a passage of another language
            text += SENTENCES[languages[(languages.index(lang) + 1) % 4]]
        documents.append({"id": f"doc-{i:03d}", "text": text})
    for s in range(shards):
        write_jsonl_zst(directory / f"part-{s}.jsonl.zst", documents[s::shards])
    return resolve_corpus(str(directory))


def _run_all(shards, tokenizer, out, engine):
    run_langid(shards, tokenizer, out / "langid", LangIdConfig(chunk_tokens=32, chunk_step=16), engine=engine)
    run_adjacency(out / "langid", out / "adjacency", AdjacencyConfig(docs_per_language=8, vocab_cap=300),
                  engine=engine)
    run_pivot_set(out / "adjacency", out / "pivots", PivotConfig(alpha=1.0, drop_top_percent=10))
    run_mixes(out / "langid", out / "pivots", out / "mix",
                     MixConfig(size=10, multilingual_window=6, candidate_window=38, docs_per_file=4),
                     sensitivity=(0.5, 1, 2, 4), engine=engine)


def _outputs(out) -> dict:
    found = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            key = str(path.relative_to(out))
            if path.name.endswith(".jsonl.zst"):
                found[key] = list(read_jsonl_zst(path))
            elif path.suffix == ".npz":
                found[key] = sparse.load_npz(path).toarray().tolist()
            elif path.suffix == ".parquet":
                import pyarrow.parquet as pq

                found[key] = pq.read_table(path).to_pylist()
            else:
                found[key] = path.read_bytes()
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def local_run(corpus, tiny_tokenizer, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    _run_all(corpus, tiny_tokenizer, out, "local")
    return out


def test_stages_end_to_end_are_deterministic_and_resumable(local_run, corpus, tiny_tokenizer, tmp_path):
    out = local_run
    shares = json.loads((out / "mix" / "manifest.json").read_text())["language_shares"]
    assert {mix: entry["documents"] for mix, entry in shares.items()} == {
        "original": 10, "multilingual": 10, "pivot_aware": 10}
    for lang in ("fr", "zh", "ja"):
        assert shares["pivot_aware"]["counts"][lang] == shares["multilingual"]["counts"][lang]
    mixes = _outputs(out / "mix" / "mixes")
    assert [r["id"] for r in mixes["original/part-00000.jsonl.zst"]] == [f"doc-{i:03d}" for i in (0, 3, 6, 9)]
    assert (out / "mix" / "language_shares.md").read_text().startswith("| mix | documents | en % |")
    assert len((out / "mix" / "sensitivity.csv").read_text().splitlines()) == 5
    first_attributes = next(read_jsonl_zst(out / "langid" / "attributes" / "pivotlens_langid" / "00000-part-0.jsonl.zst"))
    assert set(first_attributes["attributes"]) == {"pivotlens_langid", "pivotlens_lang_shares", "pivotlens_lang_dominant"}
    # a rerun is a no-op; a run into a fresh directory gives the same files
    assert run_langid(corpus, tiny_tokenizer, out / "langid", LangIdConfig(chunk_tokens=32, chunk_step=16)) is False
    again = tmp_path / "again"
    _run_all(corpus, tiny_tokenizer, again, "local")
    assert _outputs(again) == _outputs(out)


def test_interrupted_langid_resumes_per_file(corpus, tiny_tokenizer, local_run, tmp_path):
    out = local_run
    partial = tmp_path / "langid"
    config = LangIdConfig(chunk_tokens=32, chunk_step=16)
    run_langid(corpus, tiny_tokenizer, partial, config)
    (partial / "attributes" / "pivotlens_langid" / "00001-part-1.jsonl.zst").unlink()
    (partial / "complete.json").unlink()  # the completion marker: as if killed before it
    assert run_langid(corpus, tiny_tokenizer, partial, config) is True
    assert _outputs(partial) == _outputs(out / "langid")


def test_changed_corpus_is_refused(corpus, tiny_tokenizer, tmp_path):
    run_langid(corpus, tiny_tokenizer, tmp_path / "langid", LangIdConfig(chunk_tokens=32, chunk_step=16))
    write_jsonl_zst(tmp_path / "other.jsonl.zst", [{"id": "x", "text": FRENCH}])
    changed = Shard(str(tmp_path / "other.jsonl.zst"), "jsonl")
    manifest_path = tmp_path / "langid" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["shards"][0].update(path=changed.path)
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(SelectionError, match="changed since language ID"):
        run_adjacency(tmp_path / "langid", tmp_path / "adjacency")


def test_ray_engine_equals_local(local_run, corpus, tiny_tokenizer, tmp_path, ray_session):
    out = local_run
    _run_all(corpus, tiny_tokenizer, tmp_path, "ray")
    assert _outputs(tmp_path) == _outputs(out)


def test_cli_runs_the_four_commands(tiny_model_dir, corpus, tmp_path, capsys):
    model = str(tiny_model_dir("llama"))
    files = [shard.path for shard in corpus]
    assert main(["select", "langid", "--corpus", *files, "--model", model, "--chunk-tokens", "32",
                 "--chunk-step", "16", "--out", str(tmp_path / "l")]) == 0
    assert main(["select", "adjacency", "--langid", str(tmp_path / "l"), "--out", str(tmp_path / "a")]) == 0
    assert main(["select", "pivotset", "--adjacency", str(tmp_path / "a"), "--out", str(tmp_path / "p")]) == 0
    assert main(["select", "mix", "--langid", str(tmp_path / "l"), "--pivots", str(tmp_path / "p"), "--size", "10",
                 "--multilingual-window", "6", "--candidate-window", "38", "--sensitivity",
                 "--out", str(tmp_path / "m")]) == 0
    printed = capsys.readouterr().out
    assert "| pivot_aware | 10 |" in printed and "| 0.5 |" in printed
    assert main(["select", "mix", "--langid", str(tmp_path / "l"), "--pivots", str(tmp_path / "p"), "--size", "10",
                 "--out", str(tmp_path / "m2")]) == 2
    assert "multilingual-window" in capsys.readouterr().err
