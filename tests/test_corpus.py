import gzip
import hashlib
import json
import math
from collections import Counter

import numpy as np
import pytest
import zstandard

from pivotlens.cli import main
from pivotlens.clwtd import load_dataset
from pivotlens.corpus import (
    CountConfig,
    Document,
    RecordFields,
    auc_table,
    count_batch,
    counting,
    make_plan,
    plan_counts,
    read_corpus,
    readers,
    resolve_corpus,
    run_local,
    run_ray,
    sample_priority,
)
from pivotlens.corpus.folding import fold_batch, text_of
from pivotlens.corpus.matching import word_pattern
from pivotlens.corpus.results import CountResult
from pivotlens.errors import CorpusError, RecordError
from pivotlens.languages import ALL_PAIRS
from pivotlens.records import BehaviourRecord, LensReadout, TranslationItem, read_lens_behaviours
from pivotlens.text import normalize

# A hand-checked corpus: which document contains which word is written next to it.
DOCS = [
    Document("d1", "The hand and the HANDLE. Hand!"),  # hand (once: document level)
    Document("d2", "Il a la main sur la poignée ; l'eau coule."),  # main, eau
    Document("d3", "Le domaine maintenant, sans main-d'œuvre."),  # main (via main-d'œuvre), not in domaine
    Document("d4", "手指和水。用hand做"),  # 手 (substring), 水, hand (next to CJK)
    Document("d5", "Ｈａｎｄ in full width; water and eau"),  # hand (NFKC), water, eau
    Document("d6", "犬が走る。手順を読む。"),  # 犬, 手 (in 手順)
]
REQUESTS = [
    TranslationItem("hand", "en", "fr", "hand", "main"),
    TranslationItem("hand", "en", "zh", "hand", "手"),
    TranslationItem("hand", "zh", "ja", "手", "手"),
    TranslationItem("water", "en", "fr", "water", "eau"),
    TranslationItem("water", "fr", "zh", "eau", "水"),
    TranslationItem("dog", "en", "ja", "dog", "犬"),
]
EXPECTED_DOC_FREQ = {"hand": 3, "main": 2, "手": 2, "water": 1, "eau": 2, "水": 1, "dog": 0, "犬": 1}
EXPECTED_COOCCURRENCE = [0, 1, 2, 1, 0, 0]  # per request; 手/手 is one word: its document frequency


def _doc_freq(result_plan, counts) -> dict[str, int]:
    return {term.text: int(n) for term, n in zip(result_plan.terms, counts.doc_freq)}


def _pair_counts(plan, counts) -> list[int]:
    return [row["cooccurrence"] for row in CountResult(plan, counts, "local").pair_rows()]


def _write_jsonl(path, documents, opener=open):
    with opener(path, "wt", encoding="utf-8") as handle:
        for document in documents:
            handle.write(json.dumps({"id": document.id, "text": document.text}, ensure_ascii=False) + "\n")
    return path


def _write_zst(path, documents):
    lines = "".join(json.dumps({"id": d.id, "text": d.text}, ensure_ascii=False) + "\n" for d in documents)
    path.write_bytes(zstandard.ZstdCompressor().compress(lines.encode("utf-8")))
    return path


@pytest.fixture
def plan():
    return make_plan(REQUESTS, CountConfig(reservoir=2, seed=7))


@pytest.fixture
def shards(tmp_path):
    """The hand-checked corpus split over three files of three formats."""
    return [_write_jsonl(tmp_path / "a.jsonl", DOCS[:2]), _write_jsonl(tmp_path / "b.jsonl.gz", DOCS[2:4], gzip.open),
            _write_zst(tmp_path / "c.jsonl.zst", DOCS[4:])]


# --- matching rules -------------------------------------------------------------------------------

def test_hand_counted_document_frequencies_and_pairs(plan):
    counts = count_batch(plan, DOCS)
    assert _doc_freq(plan, counts) == EXPECTED_DOC_FREQ
    assert _pair_counts(plan, counts) == EXPECTED_COOCCURRENCE
    assert counts.documents == len(DOCS)


@pytest.mark.parametrize("text, word, lang, found", [
    ("the handle", "hand", "en", False),
    ("le domaine", "main", "fr", False),
    ("l'eau", "eau", "fr", True),
    ("main-d'œuvre", "main", "fr", True),
    ("hand_tool", "hand", "en", False),
    ("用hand做", "hand", "en", True),
    ("手指", "手", "zh", True),
    ("ＨＡＮＤ", "hand", "en", True),
    ("ﬁsh", "fish", "en", True),  # NFKC folds the ligature
    ("STRASSE", "straße", "en", True),  # casefold: ß → ss on both sides
    ("l'eau's", "eau", "fr", True),  # apostrophes are not word characters
    ("x2 water", "x2", "en", True),  # digits are word characters
    ("ax2", "x2", "en", False),
    ("ice cream cone", "ice cream", "en", True),  # a term holding a space: its own boundary check
    ("nice cream", "ice cream", "en", False),
    ("ice creamy, then ice cream", "ice cream", "en", True),  # a later occurrence counts
    ("la main-d'œuvre", "main-d'œuvre", "fr", True),
    ("😀main-d'œuvre", "main-d'œuvre", "fr", True),  # an astral non-word character before it
    ("𠀀main-d'œuvre", "main-d'œuvre", "fr", False),  # CJK extension B is outside the CJK ranges: a letter
    ("手順", "手", "ja", True),
    ("手", "手指", "zh", False),
    ("人々が", "人々", "ja", True),
    ("okay", "ok", "ja", True),  # substring rule for Japanese whatever the script
    ("okay", "ok", "en", False),
])
def test_matching_rules(text, word, lang, found):
    plan = make_plan([], extra_words=[(lang, word)])
    assert plan.matcher.find(normalize(text)) == ({0} if found else set())
    # the per-word regular expression of the benchmark agrees
    term = plan.terms[0]
    assert (word_pattern(term.text, term.rule).search(normalize(text)) is not None) == found


def test_every_rule_at_once_agrees_with_one_regex_per_word():
    """Terms of every kind in one matcher (overlapping occurrences, one text under two rules) find
    exactly what one regular expression per term finds."""
    words = [("en", "ok"), ("ja", "ok"), ("en", "ice cream"), ("en", "cream"), ("fr", "main-d'œuvre"),
             ("fr", "main"), ("zh", "手"), ("zh", "手指"), ("ja", "指"), ("en", "hand"), ("fr", "l'"), ("en", "-ish")]
    texts = ["okay ok", "ice cream手指", "main-d'œuvre, l'eau", "handok", "boy-ish hand", "xl' y", "指"]
    plan = make_plan([], extra_words=words)
    patterns = [word_pattern(term.text, term.rule) for term in plan.terms]
    for text in map(normalize, texts):
        assert plan.matcher.find(text) == {i for i, pattern in enumerate(patterns) if pattern.search(text)}, text
    by_text = {(plan.terms[i].text, plan.terms[i].rule) for i in plan.matcher.find(normalize("okay ok hand ice cream"))}
    assert by_text == {("ok", "word"), ("ok", "substring"), ("hand", "word"), ("ice cream", "word"), ("cream", "word")}


def test_documents_of_a_batch_do_not_run_into_each_other():
    """A word, a substring or a bounded term cut by a document boundary is in neither document;
    each document reports its terms once, whatever else shares the batch."""
    words = [("en", "hand"), ("zh", "手指"), ("zh", "手"), ("en", "ice cream"), ("ja", "指")]
    plan = make_plan([], extra_words=words)
    texts = ["ha", "nd", "ice", " cream", "hand hand", "手", "指", "", "handle", "手指手指", "ice cream"]
    documents, terms = plan.matcher.find_codes(*fold_batch(texts))
    found = [set() for _ in texts]
    for document, term in zip(documents.tolist(), terms.tolist()):
        assert term not in found[document]  # once per document
        found[document].add(plan.terms[term].text)
    assert found == [set(), set(), set(), set(), {"hand"}, {"手"}, {"指"}, set(), set(), {"手指", "手", "指"},
                     {"ice cream"}]
    assert documents.tolist() == sorted(documents.tolist())


def test_terms_sharing_prefixes_and_texts_across_rules():
    """Probing by prefixes finds every term of a chain (手, 手指, 手指甲) and the term of one kind
    whose text is another kind's prefix; a text that is a whole word and a substring term is both."""
    words = [("zh", "手"), ("zh", "手指甲"), ("zh", "手指"), ("ja", "hand"), ("en", "hand"), ("en", "han"),
             ("fr", "main-d'œuvre"), ("fr", "main-d'")]
    plan = make_plan([], extra_words=words)
    patterns = [word_pattern(term.text, term.rule) for term in plan.terms]
    for text in ["手指甲", "手指", "手", "指甲", "handy", "hand", "han", "main-d'œuvre", "main-d'", "main-d'x"]:
        expected = {i for i, pattern in enumerate(patterns) if pattern.search(text)}
        assert plan.matcher.find(text) == expected, text


@pytest.mark.parametrize("text", [
    "Hand STRASSE ß ﬁsh", "Ｈａｎｄ，水。", "l'œuvre … ½ ㎏", "e\u0301 Cafe\u0301", "ｶﾞ ｶﾞｷ", "\u1100\u1161\u11a8 한글",
    "İstanbul ΣΑΣ ς", "x\ud800y", "", "A\u0301\u0323b", "\uff21\u0301", "ǅ ǈ ﬀ", "𝐇𝐚𝐧𝐝 ①", "Å Å Ω Ω",
])
@pytest.mark.parametrize("case_sensitive", [False, True])
def test_batch_normalisation_is_normalize(text, case_sensitive):
    """Stable characters, expanding ones (full-width, ligatures, ½), and documents Python must
    normalise (combining marks, half-width dakuten, Hangul jamo, Σ), alone and in one batch."""
    texts = [text, "plain text", text + " Ｘ" + text]
    codes, starts = fold_batch(texts, case_sensitive)
    assert [text_of(codes[starts[i]:starts[i + 1]]) for i in range(len(texts))] == \
        [normalize(t, case_sensitive) for t in texts]


def test_batch_normalisation_of_every_character_in_context():
    """Every code point of the Basic Multilingual Plane, in runs of neighbours and after a letter
    it may combine with, folds exactly as normalize() folds it."""
    everything = text_of(np.arange(0x10000, dtype=np.uint32))
    texts = [everything[i:i + 61] for i in range(0, len(everything), 61)]
    texts += ["a" + c + "\u0301" for c in everything[::7]] + ["\u1100" + c for c in everything[0x1100:0x1200]]
    for case_sensitive in (False, True):
        codes, starts = fold_batch(texts, case_sensitive)
        for i, text in enumerate(texts):
            assert text_of(codes[starts[i]:starts[i + 1]]) == normalize(text, case_sensitive), ascii(text)


def test_case_sensitive_option():
    requests = [TranslationItem("x", "en", "fr", "Paris", "paris")]
    documents = [Document("1", "Paris"), Document("2", "paris"), Document("3", "PARIS")]
    insensitive = make_plan(requests)
    assert len(insensitive.terms) == 1 and count_batch(insensitive, documents).doc_freq.tolist() == [3]
    sensitive = make_plan(requests, CountConfig(case_sensitive=True))
    assert [t.text for t in sensitive.terms] == ["Paris", "paris"]
    assert count_batch(sensitive, documents).doc_freq.tolist() == [1, 1]


# --- map/reduce, reservoir, engines --------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2, 4])  # 2 workers read 3 files themselves; 4 get batches read here
def test_results_do_not_depend_on_batches_shards_or_workers(plan, shards, workers):
    whole = count_batch(plan, DOCS)
    assert _doc_freq(plan, whole) == EXPECTED_DOC_FREQ
    for batch_size in (1, 2, 1000):
        split = make_plan(REQUESTS, CountConfig(reservoir=2, seed=7, batch_size=batch_size))
        progress = []
        local = run_local(split, resolve_corpus([str(p) for p in shards]), progress.append, workers=workers)
        assert local.doc_freq.tolist() == whole.doc_freq.tolist()
        assert local.cooccurrence.tolist() == whole.cooccurrence.tolist()
        assert local.samples == whole.samples
        assert (local.documents, local.characters, sum(progress)) == (len(DOCS), whole.characters, len(DOCS))
    assert [f["path"] for f in local.inputs] == sorted(map(str, shards))
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in local.inputs)


def test_workers_count_skipped_records_and_raise_reader_errors(tmp_path, monkeypatch):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "hand"}\nnot json\n{"id": "b", "text": "main"}\n')
    for block_bytes in (4, 1 << 22):  # lines handed to the workers one by one, or all at once
        monkeypatch.setattr(readers, "LINE_BLOCK_BYTES", block_bytes)
        skip = make_plan(REQUESTS, CountConfig(fields=RecordFields(skip_bad_records=True)))
        strict = make_plan(REQUESTS)
        for files in ([bad], [bad, _write_jsonl(tmp_path / "good.jsonl", DOCS[:1])]):  # batches, then whole files
            counts = run_local(skip, resolve_corpus([str(f) for f in files]), workers=2)
            assert (counts.documents, dict(counts.skipped)) == (len(files) + 1, {"invalid JSON": 1})
            assert [f["path"] for f in counts.inputs] == sorted(map(str, files))
            with pytest.raises(CorpusError, match="bad.jsonl:2"):
                run_local(strict, resolve_corpus([str(f) for f in files]), workers=2)


def test_workers_get_lines_or_documents_by_format(tmp_path, plan):
    """With fewer files than workers, JSONL goes out as raw lines (ids from their line numbers,
    a bare \\r inside a record being JSON whitespace) and Parquet as documents: the same counts
    and samples as one worker."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"id": d.id, "text": d.text} for d in DOCS[:3]]), tmp_path / "a.parquet")
    lines = tmp_path / "b.jsonl"
    lines.write_bytes(b"".join(json.dumps({"text": d.text}, ensure_ascii=False).encode() + b"\n\n" for d in DOCS[3:])
                      + b'{"text":\r"hand"}\n')
    corpus = resolve_corpus([str(tmp_path / "a.parquet"), str(lines)])
    small = make_plan(REQUESTS, CountConfig(reservoir=10, seed=7, batch_size=2))
    alone, spread = run_local(small, corpus, workers=1), run_local(small, corpus, workers=3)
    assert spread.doc_freq.tolist() == alone.doc_freq.tolist() and spread.documents == len(DOCS) + 1
    assert spread.cooccurrence.tolist() == alone.cooccurrence.tolist() and spread.samples == alone.samples
    assert f"{lines}:7" in {d for sample in spread.samples.values() for _, d in sample}  # the \\r record's id


def test_batches_end_at_a_size_or_an_amount_of_text(monkeypatch):
    monkeypatch.setattr(counting, "BATCH_CHARACTERS", 10)
    documents = [Document(str(i), "x" * n) for i, n in enumerate([4, 4, 4, 30, 1, 1, 1])]
    sizes = [[len(d.text) for d in batch] for batch in counting.document_batches(documents, 2)]
    assert sizes == [[4, 4], [4, 30], [1, 1], [1]]


@pytest.mark.slow
def test_full_clwtd_on_the_bundled_corpus_counts_as_the_previous_engine():
    """The whole of `clwtd-v1` (7,364 words, 10,269 word pairs; a bundled dataset that no longer
    changes) over the bundled corpus gives, with one worker and with two, the document
    frequencies, pair counts and samples of the engine that came before the compiled one
    (re.findall and Aho–Corasick per document: digests of its output at commit b6c021c)."""
    dataset = load_dataset("clwtd-v1")
    plan = plan_counts(dataset, ALL_PAIRS, CountConfig(reservoir=100))
    for workers in (1, 2):
        counts = run_local(plan, resolve_corpus("bundled"), workers=workers)
        assert (len(plan.terms), len(plan.term_pairs), counts.documents) == (7364, 10269, 14749)
        assert (int(counts.doc_freq.sum()), int(counts.cooccurrence.sum())) == (188434, 3626)
        assert ((counts.doc_freq > 0).sum(), (counts.cooccurrence > 0).sum()) == (4754, 442)
        both = counts.doc_freq.astype("<i8").tobytes() + counts.cooccurrence.astype("<i8").tobytes()
        assert hashlib.sha256(both).hexdigest() == "e47f078dc9d9057e22896d811bcc171c1ccffd2262f3bc9ae7d1964861094d96"
        samples = sorted((plan.terms[t].text, plan.terms[t].rule, [d for _, d in s]) for t, s in counts.samples.items())
        digest = hashlib.sha256(json.dumps(samples, ensure_ascii=False).encode()).hexdigest()
        assert digest.startswith("797383b6d5b7fbdc")


@pytest.mark.slow
def test_batch_normalisation_of_every_code_point():
    everything = text_of(np.arange(0x110000, dtype=np.uint32))
    texts = [everything[i:i + 97] for i in range(0, len(everything), 97)]
    codes, starts = fold_batch(texts)
    assert [i for i, t in enumerate(texts) if text_of(codes[starts[i]:starts[i + 1]]) != normalize(t)] == []


def test_reservoir_is_the_seeded_bottom_k(plan):
    counts = count_batch(plan, DOCS)
    hand = next(i for i, t in enumerate(plan.terms) if t.text == "hand")
    containing = ["d1", "d4", "d5"]
    expected = sorted((sample_priority(d, 7), d) for d in containing)[:2]
    assert counts.samples[hand] == expected
    again = count_batch(plan, list(reversed(DOCS)))
    assert again.samples == counts.samples
    other_seed = count_batch(make_plan(REQUESTS, CountConfig(reservoir=3, seed=8)), DOCS)
    assert sorted(d for _, d in other_seed.samples[hand]) == containing  # k ≥ n: every document


def test_samples_stay_exact_when_thinned_often(monkeypatch):
    """Thinning after every few offers (ceilings, duplicates, many batches) keeps exactly the
    seeded bottom-k of each word."""
    monkeypatch.setattr(counting.BottomK, "THIN_AT", 3)
    words = ["dog", "cat", "eau"]
    documents = [Document(f"d{i % 37}", " ".join(w for j, w in enumerate(words) if i % (j + 2) == 0) or "none")
                 for i in range(120)]  # ids repeat: d0 … d36, each a duplicated document
    plan = make_plan([], CountConfig(reservoir=4, seed=3, batch_size=7), extra_words=[("en", w) for w in words])
    counter = counting.DocumentCounter(plan)
    for batch in counting.document_batches(documents, 7):
        counter.add(batch)
    samples = counter.partial().samples
    for index, term in enumerate(plan.terms):
        holders = {d.id for d in documents if term.text in d.text.split()}
        assert samples[index] == sorted((sample_priority(i, 3), i) for i in holders)[:4], term.text


def test_duplicate_document_ids_are_sampled_once():
    plan = make_plan([], CountConfig(reservoir=3), extra_words=[("en", "dog")])
    counts = count_batch(plan, [Document("a", "dog"), Document("a", "dog"), Document("b", "dog")])
    assert sorted(d for _, d in counts.samples[0]) == ["a", "b"]


def test_ray_engine_equals_local_and_expected(plan, shards, ray_session):
    corpus = resolve_corpus([str(p) for p in shards])
    local = run_local(plan, corpus)
    on_ray = run_ray(plan, corpus)
    assert _doc_freq(plan, on_ray) == EXPECTED_DOC_FREQ
    assert _pair_counts(plan, on_ray) == EXPECTED_COOCCURRENCE
    assert on_ray.samples == local.samples and on_ray.inputs == local.inputs


def test_ray_engine_reports_user_errors(plan, tmp_path, ray_session):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "body": "hand"}\n')
    with pytest.raises(CorpusError, match="bad.jsonl:1: record has no 'text'"):
        run_ray(plan, resolve_corpus(str(bad)))


# --- readers and bad input ------------------------------------------------------------------------

def test_readers_agree_on_every_format(tmp_path, shards):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    expected = [(d.id, d.text) for d in DOCS]
    pq.write_table(pa.Table.from_pylist([{"id": d.id, "text": d.text} for d in DOCS]), tmp_path / "all.parquet")
    datasets.Dataset.from_list([{"id": d.id, "text": d.text} for d in DOCS]).save_to_disk(str(tmp_path / "hf"))
    for spec in ([str(p) for p in shards], str(tmp_path / "*.json*"), str(tmp_path / "all.parquet"),
                 str(tmp_path / "hf")):
        assert [(d.id, d.text) for d in read_corpus(spec)] == expected, spec


def test_records_without_id_get_a_stable_one(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"}\n')
    assert [d.id for d in read_corpus(str(path))] == [f"{path}:1", f"{path}:3"]


@pytest.mark.parametrize("content, message", [
    (b'{"id": 1, "body": "x"}\n', r"x.jsonl:1: record has no 'text' \(missing or null; fields: body, id"),
    (b'{"id": 1, "text": "\xff\xfe"}\n', "x.jsonl:1: not UTF-8"),
    (b'{"id": 1, "text": 5}\n', "x.jsonl:1: 'text' is a int"),
    (b'{"id": 1, "text": "ok"}\n{oops\n', "x.jsonl:2: not valid JSON"),
])
def test_bad_records_stop_with_file_and_line(tmp_path, content, message):
    path = tmp_path / "x.jsonl"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        list(read_corpus(str(path)))


def test_bad_records_can_be_counted_and_skipped(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"id": 1, "text": "hand"}\n{"id": 2}\n\xff\n[1]\n')
    skipped = Counter()
    documents = list(read_corpus(str(path), RecordFields(skip_bad_records=True), skipped))
    assert [d.text for d in documents] == ["hand"]
    assert skipped == {"no 'text'": 1, "undecodable bytes": 1, "not an object": 1}


def test_unreadable_or_empty_corpora_are_errors(tmp_path, plan):
    with pytest.raises(CorpusError, match="no such file, or no file matches"):
        resolve_corpus(str(tmp_path / "*.jsonl"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(CorpusError, match="unsupported corpus file"):
        resolve_corpus(str(tmp_path / "notes.txt"))
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(CorpusError, match="broken.jsonl.gz: cannot read it"):
        list(read_corpus(str(broken)))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"id": "1", "body": "x"}]), tmp_path / "p.parquet")
    with pytest.raises(CorpusError, match="no 'text' column"):
        list(read_corpus(str(tmp_path / "p.parquet")))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert main(["corpus", "count", "--corpus", str(empty), "--out", str(tmp_path / "o")]) == 2


# --- infini-gram ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def byte_index(tmp_path_factory):
    from pivotlens.corpus.infinigram import InfiniGramIndex, build_index

    folder = tmp_path_factory.mktemp("ig")
    corpus = _write_jsonl(folder / "corpus.jsonl", DOCS)
    build_index(resolve_corpus(str(corpus)), folder / "index", mem_gib=1)
    return InfiniGramIndex(folder / "index")


def test_infinigram_counts_equal_direct_counts(byte_index, plan):
    from pivotlens.corpus.infinigram import count_index

    counts, window = count_index(plan, byte_index, max_diff_tokens=100)
    assert _doc_freq(plan, counts) == EXPECTED_DOC_FREQ
    assert _pair_counts(plan, counts) == EXPECTED_COOCCURRENCE
    assert counts.samples == count_batch(plan, DOCS).samples
    for term in plan.terms:  # occurrences, not documents: the raw substring count
        assert byte_index.count(term) == sum(normalize(d.text).count(term.text) for d in DOCS)
    assert byte_index.document(3) == Document("d4", normalize(DOCS[3].text))
    assert window.counts.dtype == np.int64 and not window.approx.any()


def test_infinigram_and_counts_within_a_window_not_documents(tmp_path):
    from pivotlens.corpus.infinigram import InfiniGramIndex, build_index
    from pivotlens.corpus.matching import Term

    text = "dog " + "x " * 100 + "cat dog"  # one document, two dogs: one near the cat, one 200 bytes away
    build_index(resolve_corpus(str(_write_jsonl(tmp_path / "c.jsonl", [Document("1", text)]))), tmp_path / "i",
                mem_gib=1)
    index = InfiniGramIndex(tmp_path / "i")
    dog, cat = Term("dog", "word"), Term("cat", "word")
    assert index.count_within(dog, cat, max_diff_tokens=10) == (1, False)
    assert index.count_within(dog, cat, max_diff_tokens=500) == (1, False)  # the rarer word's occurrences
    assert index.count_within(dog, Term("x", "word"), max_diff_tokens=500)[0] == 2
    assert len(index.documents_with(dog) & index.documents_with(cat)) == 1


def test_infinigram_and_misses_pairs_next_to_a_document_boundary(tmp_path):
    # Verified in infini-gram 2.6: count_cnf widens a match to the nearest other-word occurrences on
    # both sides, then drops it if that span crosses a document boundary — so "water and hand" is
    # lost when the previous document has "hand" within the window.
    from pivotlens.corpus.infinigram import InfiniGramIndex, build_index
    from pivotlens.corpus.matching import Term

    documents = [Document("1", "hand is at the start"), Document("2", "water and hand")]
    build_index(resolve_corpus(str(_write_jsonl(tmp_path / "c.jsonl", documents))), tmp_path / "i", mem_gib=1)
    index = InfiniGramIndex(tmp_path / "i")
    water, hand = Term("water", "word"), Term("hand", "word")
    assert index.count_within(water, hand, max_diff_tokens=100) == (0, False)
    assert index.count_within(water, hand, max_diff_tokens=12) == (1, False)
    assert index.documents_with(water) & index.documents_with(hand) == {1}


# --- AUC ------------------------------------------------------------------------------------------

def _behaviour(item, behaviour, target_probability):
    readout = LensReadout(0, (1, 1), ("x", "x"), (0.3, 0.1), (None, None), 1, "x", 0.1, False, {}, (1.0, 1.0))
    return BehaviourRecord(item, behaviour, 1, "x", 1, 0.3, None, None, (0.1, target_probability), "gold", 1, readout)


def _item(index, behaviour, source="a", target="b", pair=("en", "fr")):
    return _behaviour(TranslationItem(str(index), *pair, f"{source}{index}", f"{target}{index}"), behaviour, 0.5)


def test_auc_is_mann_whitney_with_ties():
    # positives' counts 5, 3, 3; negatives' 3, 1: pairs (p > n) = 2 + 1.5 + 1.5 → U = 5 of 6
    labels = ["co-occurrence"] * 3 + ["semantic-pivot"] * 2
    scores = [5, 3, 3, 3, 1]
    items = [_item(i, label) for i, label in enumerate(labels)]
    counts = {("en", "fr", it.item.source, it.item.target): s for it, s in zip(items, scores)}
    rows, points = auc_table(items, counts, bootstrap=200, seed=1)
    row = rows[0]
    assert (row.pair, row.n, row.n_positive) == ("en-fr", 5, 3)
    assert row.auc == pytest.approx(5 / 6)
    assert row.ci_low <= row.auc <= row.ci_high <= 1
    assert auc_table(items, counts, bootstrap=200, seed=1)[0][0] == row  # seeded
    assert len(points) == 5


def test_same_word_items_are_left_out_and_single_class_is_nan():
    items = [_item(0, "co-occurrence"), _item(1, "semantic-pivot"),
             _behaviour(TranslationItem("2", "zh", "ja", "手", "手"), "co-occurrence", 0.9),
             _behaviour(TranslationItem("3", "zh", "ja", "水", "水"), "semantic-pivot", 0.1),
             _behaviour(TranslationItem("4", "zh", "ja", "狗", "犬"), "semantic-pivot", 0.1)]
    counts = {(i.item.src, i.item.tgt, i.item.source, i.item.target): 1 for i in items}
    rows = {row.pair: row for row in auc_table(items, counts, bootstrap=10)[0]}
    assert rows["zh-ja"].n == 1 and rows["zh-ja"].excluded_same_word == 2 and math.isnan(rows["zh-ja"].auc)
    assert rows["en-fr"].auc == 0.5
    with pytest.raises(CorpusError, match="have no co-occurrence count"):
        auc_table(items, {}, bootstrap=10)


def test_behaviour_files_are_validated(tmp_path):
    folder = tmp_path / "behaviours"
    folder.mkdir()
    (folder / "en-fr.jsonl").write_text('{"id": "x", "behaviour": "other", "output_token_id": 1}\n')
    with pytest.raises(RecordError, match="en-fr.jsonl:1: missing src"):
        read_lens_behaviours(tmp_path)


# --- CLI, output directory, bundled corpus --------------------------------------------------------

def _behaviour_line(item, behaviour):
    return json.dumps(_behaviour(item, behaviour, 0.3).to_dict(), ensure_ascii=False)


def test_cli_count_then_auc(tmp_path, capsys):
    import pyarrow.parquet as pq

    from pivotlens.clwtd import load_dataset

    corpus = _write_jsonl(tmp_path / "c.jsonl", DOCS)
    out = tmp_path / "counts"
    argv = ["corpus", "count", "--corpus", str(corpus), "--dataset", "sample", "--pairs", "en-fr,zh-ja",
            "--out", str(out), "--reservoir", "2"]
    assert main(argv) == 0
    pairs = pq.read_table(out / "pairs.parquet").to_pylist()
    hand = {(r["src"], r["tgt"]): r for r in pairs if r["id"] == "hand"}
    assert (hand["en", "fr"]["cooccurrence"], hand["zh", "ja"]["same_term"]) == (0, True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["documents"] == 6 and manifest["inputs"][0]["sha256"]
    assert main(argv) == 0 and "nothing to do" in capsys.readouterr().out  # finished: a no-op
    assert main([*argv[:-2], "--reservoir", "3"]) == 2
    assert "different run (differs in: config)" in capsys.readouterr().err

    dataset = load_dataset("sample")
    lens = tmp_path / "lens" / "behaviours"
    lens.mkdir(parents=True)
    lines = [_behaviour_line(TranslationItem(e.id, "en", "fr", e.word["en"], e.word["fr"]),
                             "co-occurrence" if i % 3 == 0 else "semantic-pivot")
             for i, e in enumerate(dataset.entries)]
    (lens / "en-fr.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = tmp_path / "auc"
    assert main(["corpus", "auc", "--counts", str(out), "--behaviours", str(tmp_path / "lens"), "--out", str(report),
                 "--bootstrap", "50"]) == 0
    assert "| en-fr | 35 |" in capsys.readouterr().out  # 36 entries less "long", the same word in en and fr
    for name in ("auc.csv", "auc.md", "items.csv", "scatter.png", "manifest.json"):
        assert (report / name).is_file()


def test_cli_user_errors_are_one_line(tmp_path, capsys):
    assert main(["corpus", "count", "--corpus", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pivotlens: error:") and "no such file" in err and "Traceback" not in err
    assert main(["corpus", "count", "--engine", "infinigram", "--out", str(tmp_path / "o")]) == 2
    assert "--index" in capsys.readouterr().err


def test_bundled_corpus_has_the_sample_words(sample):
    from pivotlens.corpus import plan_counts

    documents = list(read_corpus("bundled"))
    assert len(documents) > 10_000 and len({d.id for d in documents}) == len(documents)
    plan = plan_counts(sample, [("en", "fr"), ("zh", "ja")], CountConfig(reservoir=0))
    counts = count_batch(plan, documents)
    frequency = _doc_freq(plan, counts)
    for word in ("hand", "water", "dog", "main", "eau", "chien", "手", "水", "山", "花"):
        assert frequency[word] > 0, word
    assert sum(_pair_counts(plan, counts)) > 0
