"""Exact document counts in one pass: per-word document frequency, per-pair co-occurrence, samples.

The work is a map/reduce over document batches, so the *same* functions run in-process or on Ray:

* map — :func:`count_batch`: a batch of documents → :class:`PartialCounts` (document frequency of
  every term, co-occurrence count of every requested term pair, bottom-k document samples);
* reduce — :meth:`PartialCounts.merge`: sums and bottom-k merges, commutative and associative, so
  the result does not depend on batch size, shard order or engine.

:class:`DocumentCounter` is the map's state: it folds batch after batch into running counts and
samples, so a shard (Ray) or a worker process (local) merges nothing until it is done. The ``ray``
engine runs :func:`count_shard` as one task per shard; the ``local`` engine (:func:`run_local`)
counts in this process with one worker, else spreads files, blocks of lines or batches over
``workers`` processes (:func:`pivotlens.engine.fold_in_processes`). Per batch the work is compiled
or vectorised: normalising (:mod:`pivotlens.corpus.folding`) and matching
(:mod:`pivotlens.corpus.matching`) in numba over the batch's code points, pair counts in numba,
document frequencies and the filtering of sample candidates (:class:`BottomK`) in numpy; Python
code runs per batch, per input line and per document holding a word (its sampling priority),
never per position or occurrence.

Reservoir samples are **bottom-k by a keyed hash**: every document gets the priority
``blake2b(id, key=seed)`` and each word keeps the k documents of lowest priority. That is a uniform
random sample of the documents containing the word, fixed by the seed, and — unlike sequential
reservoir sampling — identical however the corpus is split or scheduled.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numba import njit

from pivotlens.clwtd import Dataset
from pivotlens.corpus.folding import fold_batch
from pivotlens.corpus.matching import Term, TermMatcher, rule_for
from pivotlens.corpus.readers import (
    Document,
    LineBlock,
    RecordFields,
    Shard,
    fingerprint,
    jsonl_blocks,
    read_block,
    read_shard,
)
from pivotlens.engine import CountEngine, Progress, available_cores, fold_in_processes, map_shards
from pivotlens.errors import CorpusError, PivotlensError
from pivotlens.options import option
from pivotlens.records import TranslationItem
from pivotlens.text import normalize


@dataclass(frozen=True)
class CountOptions:
    """The user-facing counting options: the `counts` section of a study and flags of `corpus count`."""

    engine: CountEngine = option("local", "local: in this process; ray: one task per file; "
                                                           "infinigram: query an index (--index DIR); "
                                          "infinigram-api: query the hosted infini-gram API (--index NAME)")
    ray_address: str | None = option(None, "'auto', 'ray://host:10001'; default: start a local Ray")
    index: str | None = option(None, "infini-gram index: a directory (engine infinigram) or an API index name "
                                     "(engine infinigram-api, e.g. v4_dolma-v1_7_llama)")
    api_url: str | None = option(None, "infini-gram API endpoint (engine infinigram-api; default https://api.infini-gram.io/)")
    reservoir: int = option(2000, "documents sampled per word (bottom-k): as many as `pivots mine --documents` "
                                  "takes (the paper's 2,000)")
    case_sensitive: bool = option(False, "match words case-sensitively (default: casefold)")
    batch_size: int = option(1000, "documents per map call; does not change results")
    workers: int = option(0, "processes of the local engine (0: one per core); does not change results")


@dataclass(frozen=True)
class CountConfig:
    case_sensitive: bool = False
    reservoir: int = 2000  # documents sampled per word: pivots mine's default --documents (the paper's N)
    seed: int = 0
    batch_size: int = 1000  # documents per map call; does not change results
    fields: RecordFields = RecordFields()

    def __post_init__(self) -> None:
        if self.reservoir < 0 or self.batch_size < 1:
            raise PivotlensError("--reservoir must be ≥ 0 and the batch size ≥ 1")


BATCH_CHARACTERS = 4_000_000  # a batch also ends at this much text: memory follows the largest document


def local_workers(workers: int) -> int:
    """The local engine's process count: ``workers``, or one per available core for 0."""
    if workers < 0:
        raise PivotlensError(f"--workers must be ≥ 0 (0: one per core), not {workers}")
    return workers or available_cores()


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
    def partner_ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """``(first, second)``: the counted pairs (a, b), a < b, of term a are the indices
        ``first[a]:first[a + 1]`` of ``term_pairs`` (sorted), and ``second`` holds their b."""
        firsts = np.array([a for a, _ in self.term_pairs], np.int64)
        second = np.array([b for _, b in self.term_pairs], np.int64)
        return np.searchsorted(firsts, np.arange(len(self.terms) + 1)), second

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
    dataset.require_pairs(pairs)
    requests = [TranslationItem(entry.id, src, tgt, entry.word[src], entry.word[tgt])
                for src, tgt in pairs for entry in dataset.entries]
    return make_plan(requests, config)


def sample_priority(document_id: str, seed: int) -> int:
    """The document's rank key in every bottom-k sample: a 128-bit hash keyed by the seed."""
    return sample_priorities([document_id], seed)[0]


def sample_priorities(document_ids: Iterable[str], seed: int) -> list[int]:
    """:func:`sample_priority` of many documents (the keyed hash state is made once)."""
    keyed = hashlib.blake2b(digest_size=16, key=seed.to_bytes(8, "little", signed=True))
    priorities = []
    for document_id in document_ids:
        digest = keyed.copy()
        digest.update(document_id.encode("utf-8"))
        priorities.append(int.from_bytes(digest.digest(), "big"))
    return priorities


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
            samples[term] = sample if mine is None else _bottom(mine, sample, self.reservoir)
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


def _bottom(first: Sample, second: Sample, k: int) -> Sample:
    """The k lowest distinct entries of two ascending samples."""
    merged = sorted(first + second)  # two ascending runs: one linear merge
    if len(set(merged)) < len(merged):  # a document in both (an id repeated across shards)
        merged = sorted(set(merged))
    return merged[:k]


class BottomK:
    """Per term, the k documents of lowest ``(priority, id)`` among those offered, duplicates once.

    Offers are filtered and kept as numpy arrays: a term's *ceiling* is the top 64 bits of its
    k-th lowest distinct priority so far, and an offer above it can never enter (k distinct
    documents are below it). The offers kept are thinned to their ceilings when they outgrow
    those already thinned, so memory stays near k per term. :meth:`samples` orders the survivors
    by those 64 bits, and by the full 128-bit priority and id only for a term where two of them
    tie (in practice, the same document id offered twice).
    """

    THIN_AT = 1 << 16  # offers pending before the first thinning

    def __init__(self, n_terms: int, k: int) -> None:
        self.k = k
        self.ceiling = np.full(n_terms, np.iinfo(np.uint64).max, np.uint64)
        self._terms, self._bits, self._documents = [np.zeros(0, np.int64)], [np.zeros(0, np.uint64)], [np.zeros(0, np.int64)]
        self._pending = self._thinned = 0
        self._entries: dict[int, tuple[int, str]] = {}  # document number → (priority, id), for those kept

    def offer(self, terms: np.ndarray, bits: np.ndarray, documents: np.ndarray, entry: Callable[[int], tuple[int, str]]) -> None:
        """Offer document ``documents[i]`` (a number, ascending; ``bits[i]``, the top 64 bits of
        its priority) for term ``terms[i]``; ``entry(d)`` is the ``(priority, id)`` of document d,
        asked only for those kept."""
        below = bits <= self.ceiling[terms]
        self._terms.append(terms[below])
        self._bits.append(bits[below])
        self._documents.append(documents[below])
        self._entries.update((d, entry(d)) for d in _ascending_unique(documents[below]).tolist())
        self._pending += int(below.sum())
        if self._pending > max(self.THIN_AT, 2 * self._thinned):  # thinning costs about what it keeps
            self._thin()

    def _thin(self) -> None:
        """Keep the offers at or below their term's ceiling, sorted by (term, bits)."""
        terms, bits, documents = (np.concatenate(parts) for parts in (self._terms, self._bits, self._documents))
        order = np.lexsort((bits, terms))
        terms, bits, documents = terms[order], bits[order], documents[order]
        distinct = np.ones(len(terms), bool)
        distinct[1:] = (terms[1:] != terms[:-1]) | (bits[1:] != bits[:-1])  # duplicate documents count once
        distinct_terms, distinct_bits = terms[distinct], bits[distinct]
        rank = np.arange(len(distinct_terms)) - np.searchsorted(distinct_terms, distinct_terms)
        kth = rank == self.k - 1
        self.ceiling[distinct_terms[kth]] = np.minimum(self.ceiling[distinct_terms[kth]], distinct_bits[kth])
        keep = bits <= self.ceiling[terms]
        self._terms, self._bits, self._documents = [terms[keep]], [bits[keep]], [documents[keep]]
        self._pending = self._thinned = int(keep.sum())
        self._entries = {d: self._entries[d] for d in np.unique(documents[keep]).tolist()}

    def samples(self) -> dict[int, Sample]:
        """Per term offered at least once, its sample in ascending (priority, id) order."""
        self._thin()
        terms, bits, documents = self._terms[0], self._bits[0], self._documents[0]
        tied = np.zeros(len(terms), bool)
        tied[1:] = (terms[1:] == terms[:-1]) & (bits[1:] == bits[:-1])
        exact = np.isin(terms, terms[tied])  # terms whose order needs the full priority and the id
        rank = np.arange(len(terms)) - np.searchsorted(terms, terms)
        taken = exact | (rank < self.k)
        terms, documents = terms[taken], documents[taken]
        if not len(terms):
            return {}
        entries = list(map(self._entries.__getitem__, documents.tolist()))
        bounds = np.flatnonzero(np.diff(terms)) + 1  # where the next term's entries begin
        firsts, lasts = np.concatenate(([0], bounds)).tolist(), np.concatenate((bounds, [len(terms)])).tolist()
        samples = {term: entries[first:last] for term, first, last in zip(terms[firsts].tolist(), firsts, lasts)}
        for term in np.unique(terms[tied]).tolist():
            samples[term] = sorted(set(samples[term]))[:self.k]
        return samples


def _ascending_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values of an ascending array."""
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


class DocumentCounter:
    """Map state: counts, per term, the documents holding it and, per term pair, holding both;
    keeps the bottom-k samples across batches."""

    def __init__(self, plan: CountPlan) -> None:
        self.plan = plan
        self.documents = self.characters = 0
        self.doc_freq = np.zeros(len(plan.terms), np.int64)
        self.cooccurrence = np.zeros(len(plan.term_pairs), np.int64)
        self._samples = BottomK(len(plan.terms), plan.config.reservoir)

    def add(self, documents: Sequence[Document]) -> None:
        """Count a batch of documents."""
        case_sensitive = self.plan.config.case_sensitive
        holders, terms = self.plan.matcher.find_codes(*fold_batch([document.text for document in documents], case_sensitive))
        self.documents += len(documents)
        self.characters += sum(len(document.text) for document in documents)
        self.doc_freq += np.bincount(terms, minlength=len(self.doc_freq))
        self._count_pairs(holders, terms)
        if self.plan.config.reservoir and len(terms):
            self._sample(documents, holders, terms)

    def _count_pairs(self, holders: np.ndarray, terms: np.ndarray) -> None:
        """For every incidence (d, a) and counted pair (a, b): +1 for the pair when d also holds b."""
        first, second = self.plan.partner_ranges
        _add_pair_counts(holders, terms, first, second, self.cooccurrence, np.full(len(self.doc_freq), -1, np.int64))

    def _sample(self, documents: Sequence[Document], holders: np.ndarray, terms: np.ndarray) -> None:
        first = self.documents - len(documents)  # documents are numbered in order
        holding = _ascending_unique(holders)  # the kernel reports incidences in document order
        priorities = dict(zip(holding.tolist(), sample_priorities((documents[d].id for d in holding.tolist()),
                                                                  self.plan.config.seed)))
        top_bits = np.zeros(len(documents), np.uint64)
        top_bits[holding] = [priority >> 64 for priority in priorities.values()]
        self._samples.offer(terms, top_bits[holders], holders + first,
                            lambda d: (priorities[d - first], documents[d - first].id))

    def partial(self) -> PartialCounts:
        samples = self._samples.samples() if self.plan.config.reservoir else {}
        return PartialCounts(self.documents, self.characters, self.doc_freq.copy(), self.cooccurrence.copy(), samples,
                             reservoir=self.plan.config.reservoir)


@njit(cache=True)
def _add_pair_counts(holders, terms, first, second, cooccurrence, holder_of):
    """Count the pairs (a, b) of ``first``/``second`` whose two terms a document holds; the
    incidences ``(holders[i], terms[i])`` come in document order."""
    start = 0
    while start < len(terms):
        stop = start
        while stop < len(terms) and holders[stop] == holders[start]:
            holder_of[terms[stop]] = holders[start]
            stop += 1
        for a in terms[start:stop]:
            for pair in range(first[a], first[a + 1]):
                if holder_of[second[pair]] == holders[start]:
                    cooccurrence[pair] += 1
        start = stop


def count_batch(plan: CountPlan, documents: Sequence[Document]) -> PartialCounts:
    """Map: the counts of one batch of documents."""
    counter = DocumentCounter(plan)
    counter.add(documents)
    return counter.partial()


def count_batches(plan: CountPlan, batches: Iterable[Sequence[Document] | LineBlock],
                  progress: Progress | None = None) -> PartialCounts:
    """Map a stream of batches into one result (a local worker's share of what another process
    reads): lists of documents, or blocks of JSONL lines decoded here (bad records counted here)."""
    counter = DocumentCounter(plan)
    skipped: Counter = Counter()
    for item in batches:
        for batch in ([item] if not isinstance(item, LineBlock) else
                      document_batches(read_block(item, plan.config.fields, skipped), plan.config.batch_size)):
            counter.add(batch)
            if progress:
                progress(len(batch))
    total = counter.partial()
    total.skipped = skipped
    return total


def document_batches(documents: Iterable[Document], size: int) -> Iterator[list[Document]]:
    """Lists of at most ``size`` documents, ended early at :data:`BATCH_CHARACTERS` of text."""
    batch: list[Document] = []
    characters = 0
    for document in documents:
        batch.append(document)
        characters += len(document.text)
        if len(batch) >= size or characters >= BATCH_CHARACTERS:
            yield batch
            batch, characters = [], 0
    if batch:
        yield batch


def count_shards(plan: CountPlan, shards: Iterable[Shard], progress: Progress | None = None) -> PartialCounts:
    """Map input files, read here batch by batch, into one result; records their fingerprints and
    skipped records."""
    skipped: Counter = Counter()
    read: list[Shard] = []

    def batches() -> Iterator[list[Document]]:
        for shard in shards:
            yield from document_batches(read_shard(shard, plan.config.fields, skipped), plan.config.batch_size)
            read.append(shard)

    total = count_batches(plan, batches(), progress)
    total.skipped, total.inputs = skipped, sorted(map(fingerprint, read), key=lambda f: f["path"])
    return total


def count_shard(plan: CountPlan, shard: Shard, progress: Progress | None = None) -> PartialCounts:
    """Map one input file (a Ray task)."""
    return count_shards(plan, [shard], progress)


def run_local(plan: CountPlan, shards: Sequence[Shard], progress: Progress | None = None,
              workers: int = 1) -> PartialCounts:
    """Count in this process (``workers`` 1) or in ``workers`` processes (0: one per core): each
    worker reads whole input files while there are as many files as workers, else this process
    reads them and hands out blocks of raw lines (JSONL, decoded by the workers) or document
    batches (other formats). The same counts and samples either way."""
    workers = local_workers(workers)
    if workers == 1:
        return _map_and_merge(plan, shards, "local", None, progress)
    count_batch(plan, [])  # the matcher and numba's compiled code, loaded once here for every forked worker
    if len(shards) >= workers:
        return _merged(fold_in_processes(count_shards, plan, shards, workers, progress), plan)
    skipped: Counter = Counter()

    def batches() -> Iterator[list[Document] | LineBlock]:
        for shard in shards:  # JSONL as raw lines (the workers decode them), other formats as documents
            if shard.kind == "jsonl":
                yield from jsonl_blocks(shard)
            else:
                yield from document_batches(read_shard(shard, plan.config.fields, skipped), plan.config.batch_size)

    total = _merged(fold_in_processes(count_batches, plan, batches(), workers, progress), plan)
    total.skipped += skipped
    total.inputs = sorted(map(fingerprint, shards), key=lambda f: f["path"])
    return total


def _merged(parts: Iterable[PartialCounts], plan: CountPlan) -> PartialCounts:
    total = PartialCounts.empty(plan)
    for part in parts:
        total = total.merge(part)
    return total


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
