"""The pivot-mining stage over a corpus: pick the items, sample their documents, rank, filter.

Inputs: a lens output directory (``behaviours/*.jsonl``), a counting output directory
(``terms.parquet``: each word's seeded bottom-k document sample, drawn without replacement), and
the corpus itself (for the texts). Output directory::

    manifest.json      config, versions, input hashes
    pivots.jsonl       per item: words, sample sizes, top candidates with f_s/f_t/f_bg/F, kept
                       pivots, dropped candidates with the reason
    token_sets.jsonl   the kept pivot sets in the format of `pivotlens lens curve`
    token_frequencies.npy  the background sample's frequency of every vocabulary token (the
                       curve's frequency-matched control)
    complete.json      the completion marker, written after both files
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pivotlens.artifacts import StageDirectory, iter_jsonl, open_atomic, write_atomic
from pivotlens.corpus.counting import sample_priority
from pivotlens.corpus.readers import RecordFields, fingerprint, read_corpus, resolve_corpus
from pivotlens.errors import PivotlensError
from pivotlens.languages import ENGLISH, LANGUAGES, pair_key
from pivotlens.llm import redact_url
from pivotlens.pivots.filters import FilteredCandidates, ItemWordForms, apply_rule_filter, llm_filter
from pivotlens.pivots.mining import FREQUENCY_MODES, TOKEN_FREQUENCIES, rank_candidates, sample_frequencies
from pivotlens.pivots.options import MineOptions
from pivotlens.records import SEMANTIC_PIVOT, BehaviourRecord, TranslationItem, behaviour_files, read_lens_behaviours
from pivotlens.text import normalize
from pivotlens.words import word_token_ids


@dataclass(frozen=True)
class MineConfig:
    model: str
    documents_per_word: int = 2000  # N for D_s and D_t
    background_documents: int = 2000
    top: int = 50
    frequency: str = "document"
    seed: int = 0  # background sample
    llm_url: str | None = None
    llm_model: str = "gpt-4o-mini"

    def __post_init__(self) -> None:
        if self.frequency not in FREQUENCY_MODES:
            raise PivotlensError(f"--frequency must be one of {', '.join(FREQUENCY_MODES)}")
        if min(self.documents_per_word, self.background_documents, self.top) < 1:
            raise PivotlensError("document counts and --top must be ≥ 1")


def mine_config(options: MineOptions, *, model: str, seed: int) -> MineConfig:
    return MineConfig(model=model, documents_per_word=options.documents, background_documents=options.background,
                      top=options.top, frequency=options.frequency, seed=seed, llm_url=options.llm_url,
                      llm_model=options.llm_model)


def select_items(behaviour_records: Sequence[BehaviourRecord], tokenizer) -> list[TranslationItem]:
    """Semantic-pivot items whose source and target words share no token."""
    return [r.item for r in behaviour_records if r.behaviour == SEMANTIC_PIVOT
            and not word_token_ids(tokenizer, r.item.source) & word_token_ids(tokenizer, r.item.target)]


def read_word_samples(counts_dir: Path, case_sensitive: bool = False) -> dict[str, list[str]]:
    """Normalised word → its document-id sample (bottom-k order) from ``terms.parquet``."""
    import pyarrow.parquet as pq

    path = counts_dir / "terms.parquet"
    if not path.is_file():
        raise PivotlensError(f"{path} is missing: run `pivotlens corpus count` first")
    samples: dict[str, list[str]] = {}
    for row in pq.read_table(path, columns=["words", "sample_ids"]).to_pylist():
        for word in row["words"]:
            samples[normalize(word, case_sensitive)] = list(row["sample_ids"])
    return samples


def check_counted_corpus(counts_dir: Path, corpus, fields: RecordFields, documents_per_word: int) -> None:
    """The documents mined must be the ones counted: same files (by content) and same record fields,
    else the counted document ids point nowhere; and the count must have kept as many documents per
    word as are mined, else fewer are mined than asked, silently."""
    identity = StageDirectory(counts_dir, "corpus-count").manifest().get("identity") or {}
    reservoir = (identity.get("config") or {}).get("reservoir")
    if reservoir is not None and documents_per_word > reservoir:
        raise PivotlensError(f"--documents {documents_per_word} asks for more documents per word than {counts_dir} "
                             f"sampled (`corpus count --reservoir {reservoir}`): count again with --reservoir "
                             f"{documents_per_word} or more, or mine with --documents {reservoir} or fewer")
    counted = sorted(entry["sha256"] for entry in identity.get("inputs", []) if "sha256" in entry)
    if counted and counted != sorted(fingerprint(shard)["sha256"] for shard in resolve_corpus(corpus)):
        raise PivotlensError(f"the corpus {corpus} is not the one counted in {counts_dir} (its files differ by "
                             f"content); pass the --corpus that `pivotlens corpus count` read")
    counted_fields = (identity.get("config") or {}).get("fields")
    if counted_fields and {k: counted_fields.get(k) for k in ("text", "id")} != {"text": fields.text, "id": fields.id}:
        raise PivotlensError(f"{counts_dir} was counted with --text-field {counted_fields.get('text')} --id-field "
                             f"{counted_fields.get('id')}: pass the same to `pivots mine`")


def collect_documents(corpus, wanted_ids: set[str], n_background: int, seed: int,
                      fields: RecordFields = RecordFields()) -> tuple[dict[str, str], list[str]]:
    """One pass over the corpus: the texts of ``wanted_ids`` and a seeded bottom-k background sample."""
    texts: dict[str, str] = {}
    background: list[tuple[int, str, str]] = []  # max-heap of (−priority, id, text)
    for document in read_corpus(corpus, fields):
        if document.id in wanted_ids:
            texts[document.id] = document.text
        entry = (-sample_priority(document.id, seed), document.id, document.text)
        if len(background) < n_background:
            heapq.heappush(background, entry)
        elif entry > background[0]:
            heapq.heapreplace(background, entry)
    ordered = sorted(background, reverse=True)
    texts.update({doc_id: text for _, doc_id, text in ordered})
    return texts, [doc_id for _, doc_id, _ in ordered]


def item_word_forms(tokenizer, item: TranslationItem, english: str | None = None) -> ItemWordForms:
    """The tokens and forms an item's pivots may not be (``english``: the entry's English word)."""
    ids = word_token_ids(tokenizer, item.source) | word_token_ids(tokenizer, item.target)
    forms = [(item.source, item.src), (item.target, item.tgt)]
    if english is not None and ENGLISH not in (item.src, item.tgt):
        forms.append((english, ENGLISH))
    return ItemWordForms(frozenset(ids), (item.source, item.target, *(tokenizer.decode([i]) for i in sorted(ids))),
                         tuple(forms))


def mine_pivots(
    tokenizer, items: Sequence[TranslationItem], word_samples: dict[str, list[str]], corpus, config: MineConfig,
    out_dir: str | Path, progress: Callable[[int], None] | None = None, fields: RecordFields = RecordFields(),
    documents: tuple[dict[str, str], list[str]] | None = None, english_words: dict[str, str] | None = None,
) -> list[dict]:
    """Rank and filter pivot candidates of every item; writes pivots.jsonl and token_sets.jsonl. The
    texts come from a pass over ``corpus``, or from ``documents`` (texts by id, background ids).
    ``english_words``: entry id → its English word, whose other forms are dropped as variants."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = config.documents_per_word
    samples = {(item.id, item.src, item.tgt): (word_samples.get(normalize(item.source), [])[:n],
                                               word_samples.get(normalize(item.target), [])[:n]) for item in items}
    wanted = {doc_id for source_ids, target_ids in samples.values() for doc_id in (*source_ids, *target_ids)}
    if documents is None:
        texts, background_ids = collect_documents(corpus, wanted, config.background_documents, config.seed, fields)
    else:
        texts, background_ids = documents
    vocab_size = len(tokenizer)
    token_cache: dict[str, list[int]] = {}

    def tokens(doc_id: str) -> list[int]:
        if doc_id not in token_cache:
            token_cache[doc_id] = tokenizer(texts[doc_id], add_special_tokens=False)["input_ids"]
        return token_cache[doc_id]

    f_background = sample_frequencies([tokens(d) for d in background_ids], vocab_size, config.frequency)
    with open_atomic(out / TOKEN_FREQUENCIES) as handle:  # the curve's frequency-matched control
        np.save(handle, f_background)
    decode = lambda token_id: tokenizer.decode([token_id])  # noqa: E731
    records, token_sets = [], []
    for item in items:
        source_ids, target_ids = samples[(item.id, item.src, item.tgt)]
        record = {**item.to_dict(), "n_source_documents": len(source_ids), "n_target_documents": len(target_ids),
                  "candidates": [], "kept": [], "dropped": []}
        if source_ids and target_ids:
            f_source = sample_frequencies([tokens(d) for d in source_ids], vocab_size, config.frequency)
            f_target = sample_frequencies([tokens(d) for d in target_ids], vocab_size, config.frequency)
            candidates = rank_candidates(f_source, f_target, f_background, decode, config.top)
            words = item_word_forms(tokenizer, item, (english_words or {}).get(item.id))
            filtered: FilteredCandidates = apply_rule_filter(candidates, words=words)
            if config.llm_url:
                filtered = llm_filter(filtered, config.llm_url, config.llm_model, LANGUAGES[item.src].name,
                                      LANGUAGES[item.tgt].name, item.source, item.target)
            record.update(candidates=[c.__dict__ for c in candidates], **filtered.to_json())
            if filtered.kept:
                token_sets.append({"id": item.id, "pair": pair_key(item.src, item.tgt),
                                   "token_ids": [c.token_id for c in filtered.kept]})
        records.append(record)
        if progress:
            progress(1)
    _write_jsonl(out / "pivots.jsonl", records)
    _write_jsonl(out / "token_sets.jsonl", token_sets)
    return records


def run_mining(
    tokenizer, lens_dir: str | Path, counts_dir: str | Path, corpus, config: MineConfig, out_dir: str | Path,
    progress: Callable[[int], None] | None = None, fields: RecordFields = RecordFields(),
    english_words: dict[str, str] | None = None,
) -> list[dict]:
    """Select the items from a lens run, read the word samples of a counting run, and mine; a rerun
    with the same config and inputs returns the finished result."""
    lens_dir, counts_dir, out = Path(lens_dir), Path(counts_dir), Path(out_dir)
    check_counted_corpus(counts_dir, corpus, fields, config.documents_per_word)
    digest = hashlib.sha256(str(corpus).encode())
    for path in [*behaviour_files(lens_dir), counts_dir / "terms.parquet"]:
        if path.is_file():
            digest.update(path.read_bytes())
    digest.update(json.dumps(sorted((english_words or {}).items())).encode())
    directory = StageDirectory(out, "pivots-mine").claim(
        {**asdict(config), "llm_url": config.llm_url and redact_url(config.llm_url), "inputs_sha256": digest.hexdigest()},
        {"lens_dir": str(lens_dir), "counts_dir": str(counts_dir), "corpus": str(corpus)})
    if directory.is_complete():
        return [record for _, record in iter_jsonl(out / "pivots.jsonl")]
    items = select_items(read_lens_behaviours(lens_dir), tokenizer)
    records = mine_pivots(tokenizer, items, read_word_samples(counts_dir), corpus, config, out, progress, fields,
                          english_words=english_words)
    directory.complete({"items": len(records), "items_with_pivots": sum(bool(r["kept"]) for r in records)})
    return records


def run_mining_api(
    tokenizer, lens_dir: str | Path, api, config: MineConfig, out_dir: str | Path, max_disp_len: int = 1000,
    progress: Callable[[int], None] | None = None, sampling_progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """:func:`run_mining` with the documents sampled through the infini-gram API (``api``: an
    :class:`pivotlens.corpus.infinigram_api.InfiniGramApi`): N per word of the selected items, drawn
    without replacement over the word's occurrences, and a background over all tokens."""
    from pivotlens.corpus.infinigram_api import sample_through_api

    lens_dir, out = Path(lens_dir), Path(out_dir)
    digest = hashlib.sha256()
    for path in behaviour_files(lens_dir):
        digest.update(path.read_bytes())
    directory = StageDirectory(out, "pivots-mine").claim(
        {**asdict(config), "llm_url": config.llm_url and redact_url(config.llm_url), "inputs_sha256": digest.hexdigest(),
         "engine": "infinigram-api", "index": api.index, "max_disp_len": max_disp_len},
        {"lens_dir": str(lens_dir), "api_url": api.url})
    if directory.is_complete():
        return [record for _, record in iter_jsonl(out / "pivots.jsonl")]
    items = select_items(read_lens_behaviours(lens_dir), tokenizer)
    words = mining_words(items)
    sampled = sample_through_api(api, words, config.documents_per_word, config.seed, max_disp_len, sampling_progress)
    background = sample_through_api(api, [None], config.background_documents, config.seed, max_disp_len)
    word_samples = {word: sampled.samples[word] for word in words}
    records = mine_pivots(tokenizer, items, word_samples, None, config, out, progress,
                          documents=({**background.texts, **sampled.texts}, background.samples[None]))
    directory.complete({"items": len(records), "items_with_pivots": sum(bool(r["kept"]) for r in records)})
    return records


def mining_words(items: Sequence[TranslationItem]) -> list[str]:
    """The normalised words whose documents mining samples."""
    return sorted({normalize(word) for item in items for word in (item.source, item.target)})


def _write_jsonl(path: Path, records: Sequence[dict]) -> None:
    write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
