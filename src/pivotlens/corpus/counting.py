"""Exact document counts in one pass: per-word document frequency, per-pair co-occurrence, samples.

The work is a map/reduce over document batches, so the *same* functions run in-process or on Ray:

* map — :func:`count_batch`: a batch of documents → :class:`PartialCounts` (document frequency of
  every term, co-occurrence count of every requested term pair, bottom-k document samples);
* reduce — :meth:`PartialCounts.merge`: sums and bottom-k merges, commutative and associative, so
  the result does not depend on batch size, shard order or engine.

:func:`count_shard` maps one input file batch by batch; the ``local`` engine runs it shard after
shard, the ``ray`` engine as one Ray task per shard, reducing results as they arrive.

Reservoir samples are **bottom-k by a keyed hash**: every document gets the priority
``blake2b(id, key=seed)`` and each word keeps the k documents of lowest priority. That is a uniform
random sample of the documents containing the word, fixed by the seed, and — unlike sequential
reservoir sampling — identical however the corpus is split or scheduled.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from pivotlens.batching import batched
from pivotlens.clwtd import Dataset
from pivotlens.corpus.matching import Term, TermMatcher, rule_for
from pivotlens.corpus.readers import Document, RecordFields, Shard, fingerprint, read_shard
from pivotlens.engine import CountEngine, Progress, map_shards
from pivotlens.errors import CorpusError, PivotlensError
from pivotlens.options import option
from pivotlens.records import TranslationItem
from pivotlens.text import normalize


@dataclass(frozen=True)
class CountOptions:
    """The user-facing counting options: the `counts` section of a study and flags of `corpus count`."""

    engine: CountEngine = option("local", "local: in this process; ray: one task per file; "
                                                           "infinigram: query an index (--index)")
    ray_address: str | None = option(None, "'auto', 'ray://host:10001'; default: start a local Ray")
    reservoir: int = option(100, "documents sampled per word (bottom-k; the paper mines pivots from 2,000)")
    case_sensitive: bool = option(False, "match words case-sensitively (default: casefold)")
    batch_size: int = option(1000, "documents per map call; does not change results")


@dataclass(frozen=True)
class CountConfig:
    case_sensitive: bool = False
    reservoir: int = 100  # documents sampled per word (the paper mines pivots from 2,000)
    seed: int = 0
    batch_size: int = 1000  # documents per map call; does not change results
    fields: RecordFields = RecordFields()

    def __post_init__(self) -> None:
        if self.reservoir < 0 or self.batch_size < 1:
            raise PivotlensError("--reservoir must be ≥ 0 and the batch size ≥ 1")


def count_config(options: CountOptions, seed: int, fields: RecordFields = RecordFields()) -> CountConfig:
    return CountConfig(options.case_sensitive, options.reservoir, seed, options.batch_size, fields)


@dataclass(frozen=True)
class CountPlan:
    """Terms to find, term pairs to count, and for each request its two terms."""

    terms: tuple[Term, ...]
    term_words: tuple[tuple[tuple[str, str], ...], ...]  # per term: the (lang, word) spellings mapped to it
    requests: tuple[TranslationItem, ...]  # the items whose co-occurrence is wanted
    request_terms: tuple[tuple[int, int], ...]
    term_pairs: tuple[tuple[int, int], ...]  # distinct unordered pairs (a < b) to count
    config: CountConfig

    @cached_property
    def matcher(self) -> TermMatcher:
        return TermMatcher(self.terms)

    @cached_property
    def partners(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """For each term a, the (b, pair index) of the counted pairs (a, b) with a < b."""
        by_term: list[list[tuple[int, int]]] = [[] for _ in self.terms]
        for index, (a, b) in enumerate(self.term_pairs):
            by_term[a].append((b, index))
        return tuple(tuple(pairs) for pairs in by_term)

    def pair_index(self, a: int, b: int) -> int | None:
        """Index of the term pair {a, b} in ``term_pairs`` (None for a == b)."""
        return None if a == b else self._pair_lookup[(min(a, b), max(a, b))]

    @cached_property
    def _pair_lookup(self) -> dict[tuple[int, int], int]:
        return {pair: index for index, pair in enumerate(self.term_pairs)}


def make_plan(requests: Sequence[TranslationItem], config: CountConfig = CountConfig(),
              extra_words: Iterable[tuple[str, str]] = ()) -> CountPlan:
    """Plan the counts for pair requests (plus single words, as (lang, word), to count alone)."""
    spellings: dict[Term, set[tuple[str, str]]] = {}

    def term_of(lang: str, word: str) -> Term:
        term = Term(normalize(word, config.case_sensitive), rule_for(lang))
        if not term.text.strip():
            raise PivotlensError(f"cannot count the empty word {word!r} ({lang})")
        spellings.setdefault(term, set()).add((lang, word))
        return term

    term_keys = [(term_of(r.src, r.source), term_of(r.tgt, r.target)) for r in requests]
    for lang, word in extra_words:
        term_of(lang, word)
    terms = tuple(sorted(spellings))
    index = {term: i for i, term in enumerate(terms)}
    request_terms = tuple((index[a], index[b]) for a, b in term_keys)
    term_pairs = tuple(sorted({(min(a, b), max(a, b)) for a, b in request_terms if a != b}))
    return CountPlan(terms, tuple(tuple(sorted(spellings[t])) for t in terms), tuple(requests), request_terms,
                     term_pairs, config)


def plan_counts(dataset: Dataset, pairs: Sequence[tuple[str, str]], config: CountConfig = CountConfig()) -> CountPlan:
    """Plan the (word[src], word[tgt]) co-occurrence counts of every entry for the given pairs."""
    requests = [TranslationItem(entry.id, src, tgt, entry.word[src], entry.word[tgt])
                for src, tgt in pairs for entry in dataset.entries]
    return make_plan(requests, config)


def sample_priority(document_id: str, seed: int) -> int:
    """The document's rank key in every bottom-k sample: a 128-bit hash keyed by the seed."""
    digest = hashlib.blake2b(document_id.encode("utf-8"), digest_size=16, key=seed.to_bytes(8, "little", signed=True))
    return int.from_bytes(digest.digest(), "big")


Sample = list[tuple[int, str]]  # (priority, document id), ascending


@dataclass
class PartialCounts:
    """Counts over some documents; merge() combines two disjoint parts of a corpus."""

    documents: int
    characters: int
    doc_freq: np.ndarray  # int64 per term
    cooccurrence: np.ndarray  # int64 per term pair
    samples: dict[int, Sample] = field(default_factory=dict)  # per term with ≥ 1 document
    skipped: Counter = field(default_factory=Counter)  # bad records skipped, per reason
    inputs: list[dict] = field(default_factory=list)  # fingerprints of the shards read
    reservoir: int = 0

    @classmethod
    def empty(cls, plan: CountPlan) -> PartialCounts:
        return cls(0, 0, np.zeros(len(plan.terms), np.int64), np.zeros(len(plan.term_pairs), np.int64),
                   reservoir=plan.config.reservoir)

    def merge(self, other: PartialCounts) -> PartialCounts:
        samples = dict(self.samples)
        for term, sample in other.samples.items():
            mine = samples.get(term)
            samples[term] = sample if mine is None else heapq.nsmallest(self.reservoir, set(mine) | set(sample))
        return PartialCounts(
            self.documents + other.documents, self.characters + other.characters,
            self.doc_freq + other.doc_freq, self.cooccurrence + other.cooccurrence, samples,
            self.skipped + other.skipped, sorted(self.inputs + other.inputs, key=lambda f: f["path"]),
            self.reservoir,
        )

    @property
    def documents_read(self) -> int:
        """The engine's progress unit (:class:`pivotlens.engine.ShardResult`)."""
        return self.documents


def count_batch(plan: CountPlan, documents: Iterable[Document]) -> PartialCounts:
    """Map: the counts of one batch of documents."""
    matcher, partners = plan.matcher, plan.partners
    case_sensitive, k, seed = plan.config.case_sensitive, plan.config.reservoir, plan.config.seed
    doc_freq = [0] * len(plan.terms)
    cooccurrence = [0] * len(plan.term_pairs)
    heaps: dict[int, list[tuple[int, str]]] = {}  # max-heaps of the k lowest (−priority, id)
    documents_seen = characters = 0
    for document in documents:
        documents_seen += 1
        characters += len(document.text)
        found = matcher.find(normalize(document.text, case_sensitive))
        if not found:
            continue
        for term in found:
            doc_freq[term] += 1
            for other, pair in partners[term]:
                if other in found:
                    cooccurrence[pair] += 1
        if k:
            entry = (-sample_priority(document.id, seed), document.id)
            for term in found:
                heap = heaps.setdefault(term, [])
                full = len(heap) >= k
                if full and entry <= heap[0]:
                    continue
                if entry in heap:  # the same id twice (a duplicated document) is sampled once
                    continue
                (heapq.heapreplace if full else heapq.heappush)(heap, entry)
    samples = {term: sorted((-negative, doc_id) for negative, doc_id in heap) for term, heap in heaps.items()}
    return PartialCounts(documents_seen, characters, np.array(doc_freq, np.int64),
                         np.array(cooccurrence, np.int64), samples, reservoir=k)


def count_shard(plan: CountPlan, shard: Shard, progress: Progress | None = None) -> PartialCounts:
    """Map one input file batch by batch and reduce it; records its fingerprint and skipped records."""
    skipped: Counter = Counter()
    total = PartialCounts.empty(plan)
    for batch in batched(read_shard(shard, plan.config.fields, skipped), plan.config.batch_size):
        total = total.merge(count_batch(plan, batch))
        if progress:
            progress(len(batch))
    total.skipped, total.inputs = skipped, [fingerprint(shard)]
    return total


def run_local(plan: CountPlan, shards: Sequence[Shard], progress: Progress | None = None) -> PartialCounts:
    return _map_and_merge(plan, shards, "local", None, progress)


def run_ray(plan: CountPlan, shards: Sequence[Shard], address: str | None = None,
            progress: Progress | None = None) -> PartialCounts:
    """One Ray task per shard (map), merged on the driver as tasks finish (reduce).

    ``address`` as in :func:`pivotlens.engine.map_on_ray`: default, the running Ray session or a
    local instance; ``auto`` or ``ray://host:10001`` for a cluster.
    """
    return _map_and_merge(plan, shards, "ray", address, progress)


def _map_and_merge(plan: CountPlan, shards: Sequence[Shard], engine: str, address: str | None,
                   progress: Progress | None) -> PartialCounts:
    total = PartialCounts.empty(plan)

    def add(_index: int, part: PartialCounts) -> None:
        nonlocal total
        total = total.merge(part)

    map_shards(count_shard, plan, shards, add, stage="counts", engine=engine, ray_address=address, progress=progress)
    return total


def check_not_empty(counts: PartialCounts) -> None:
    if counts.documents == 0:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.skipped.items()))
        raise CorpusError("the corpus has no document" + (f" (skipped bad records: {skipped})" if skipped else ""))
