"""Token co-occurrence adjacency matrix over a multilingual document subset (paper §5.1).

Definitions (tokens of the model tokenizer, special tokens excluded):

* ``documents`` D — the documents of the subset;
* ``doc_freq[x]`` — the number of those documents in which token x occurs;
* ``C[a, b]`` (a ≠ b) — the number of documents in which both a and b occur: a document adds 1 to
  every pair of its distinct tokens, however often they repeat. C is symmetric; the strict upper
  triangle (a < b) is what is stored.

The subset is every document whose dominant language (from ``select langid``) is one of
``languages`` (default fr, zh, ja: the candidate languages), or about ``docs_per_language`` of
each: a document is kept when ``blake2b(id, key=seed) / 2**128 < docs_per_language / n_language``,
a decision made per document, so it is the same on every engine, batch size and shard layout.

Counting is a map/reduce. Map: a group of documents with at most ``max_pairs`` token pairs in
all (this bounds the memory of a partial matrix) gives its strict upper triangle as one sparse
product (see :func:`pair_counts`); partial CSR matrices are summed like a binary counter (merge two
while the older is less than twice the newer), so the total work is O(n log n) in the entries.
Reduce: the same sums across shards. With ``vocab_cap`` a first pass
counts document frequencies and only the ``vocab_cap`` tokens of highest document frequency (ties:
lower token id) are kept as rows and columns.

Output directory: ``adjacency.npz`` (scipy CSR, int32, strict upper triangle, indices into the
vocabulary), ``vocabulary.parquet`` (per index: token_id, token (decoded), doc_freq),
``tokenizer.json``, ``manifest.json`` (documents, subset, settings).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import reduce
from pathlib import Path

import numpy as np
from scipy import sparse

from pivotlens.artifacts import StageDirectory
from pivotlens.batching import batched
from pivotlens.corpus.counting import sample_priority
from pivotlens.corpus.readers import RecordFields, Shard, read_shard
from pivotlens.engine import Progress, map_shards
from pivotlens.errors import SelectionError
from pivotlens.languages import parse_languages
from pivotlens.selection.files import read_manifest
from pivotlens.selection.langid import LanguageIndex, aligned
from pivotlens.selection.tokens import DocumentTokenizer

STAGE = "select-adjacency"
COUNT_DTYPE = np.int32  # document counts; a subset is far below 2**31 documents
HASH_SPACE = float(2**128)


@dataclass(frozen=True)
class AdjacencyConfig:
    languages: tuple[str, ...] = ("fr", "zh", "ja")
    docs_per_language: int | None = None  # None: every document of these languages
    vocab_cap: int | None = None  # None: every token that occurs
    seed: int = 0
    max_pairs: int = 20_000_000  # bounds a partial matrix's memory; does not change results
    batch_size: int = 256  # documents tokenised together; does not change results

    def __post_init__(self) -> None:
        if not self.languages:
            raise SelectionError("give at least one language for the adjacency subset")
        parse_languages(self.languages)  # registered codes, or an error listing them
        for name in ("docs_per_language", "vocab_cap"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise SelectionError(f"--{name.replace('_', '-')} must be ≥ 1")
        if self.max_pairs < 1 or self.batch_size < 1:
            raise SelectionError("--max-pairs and --batch-size must be ≥ 1")


class SparseSum:
    """Sum of sparse matrices with bounded work: pending parts merge like a binary counter."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._stack: list[sparse.csr_matrix] = []

    def add(self, matrix: sparse.csr_matrix) -> None:
        self._stack.append(matrix)
        while len(self._stack) > 1 and self._stack[-2].nnz < 2 * self._stack[-1].nnz:
            newer = self._stack.pop()
            self._stack[-1] = self._stack[-1] + newer

    def total(self) -> sparse.csr_matrix:
        if not self._stack:
            return sparse.csr_matrix((self.size, self.size), dtype=COUNT_DTYPE)
        return reduce(operator.add, reversed(self._stack))


@dataclass
class CooccurrenceCounts:
    """Counts over the subset documents among ``documents_read`` documents of the corpus."""

    documents: int  # D: subset documents counted
    doc_freq: np.ndarray  # int64 per index
    upper: sparse.csr_matrix  # strict upper triangle of C
    documents_read: int = 0


def pair_counts(token_sets: Sequence[np.ndarray], size: int) -> sparse.csr_matrix:
    """Strict upper triangle of C for documents given as sorted distinct token indices.

    With the (document, token) incidences listed document by document: Y has one row per incidence
    (d, b) holding the tokens of d before b, and P[b, r] = 1 when incidence r is of token b; then
    (P Y)[b, a] = the documents where a and b (a < b) both occur, the lower triangle. Unlike Xᵀ X
    (X = document × token) the product computes each pair once, and no diagonal. Its CSC form
    (a linear counting sort) is the upper triangle in canonical CSR, which later sums need to be
    fast. The product runs over the tokens present, renumbered 0…L−1, so its accumulators are small.
    """
    tokens = np.concatenate(token_sets)
    present, local = np.unique(tokens, return_inverse=True)
    local = local.astype(np.int32)
    lengths = np.array([len(s) for s in token_sets])
    position = np.arange(len(tokens))
    document_start = np.repeat(np.cumsum(lengths) - lengths, lengths)
    earlier = position - document_start  # tokens before each incidence in its document
    y_indptr = np.concatenate([[0], np.cumsum(earlier)])
    index_dtype = np.int32 if y_indptr[-1] < 2**31 else np.int64  # halves the largest temporaries
    gather = np.arange(y_indptr[-1], dtype=index_dtype)
    gather += np.repeat((document_start - y_indptr[:-1]).astype(index_dtype), earlier)
    y = sparse.csr_matrix((np.ones(len(gather), COUNT_DTYPE), local[gather], y_indptr),
                          shape=(len(tokens), len(present)))
    del gather
    p_indptr = np.concatenate([[0], np.cumsum(np.bincount(local, minlength=len(present)))])
    p = sparse.csr_matrix((np.ones(len(tokens), COUNT_DTYPE), np.argsort(local, kind="stable"), p_indptr),
                          shape=(len(present), len(tokens)))
    lower = (p @ y).tocsc()  # CSC of the lower triangle = canonical CSR arrays of the upper one
    rows = np.zeros(size, np.int64)  # back to global indices: rows of absent tokens are empty
    rows[present] = np.diff(lower.indptr)
    upper = sparse.csr_matrix((lower.data, present[lower.indices], np.concatenate([[0], np.cumsum(rows)])),
                              shape=(size, size))
    upper.has_canonical_format = True  # sorted, no duplicates: the fast path of sparse sums
    return upper


def count_cooccurrence(token_sets: Iterable[np.ndarray], size: int, max_pairs: int = 20_000_000,
                       count_pairs: bool = True) -> CooccurrenceCounts:
    """Map: document frequency and pair co-occurrence of documents given as sorted distinct indices.

    Documents are taken in groups of at most ``max_pairs`` token pairs (a larger document alone),
    which bounds the memory of one partial matrix."""
    doc_freq = np.zeros(size, np.int64)
    pairs = SparseSum(size)
    documents = 0
    group: list[np.ndarray] = []
    group_pairs = 0

    def flush() -> None:
        doc_freq[:] += np.bincount(np.concatenate(group), minlength=size)
        if count_pairs:
            pairs.add(pair_counts(group, size))

    for tokens in token_sets:
        documents += 1
        cost = len(tokens) * (len(tokens) - 1) // 2
        if group and group_pairs + cost > max_pairs:
            flush()
            group, group_pairs = [], 0
        group.append(tokens)
        group_pairs += cost
    if group:
        flush()
    return CooccurrenceCounts(documents, doc_freq, pairs.total(), documents)


def sample_rates(index: LanguageIndex, config: AdjacencyConfig) -> dict[str, float]:
    """Keep-probability per subset language: 1, or docs_per_language / documents of the language."""
    present = {lang: int(np.count_nonzero(index.languages == lang)) for lang in config.languages}
    if not any(present.values()):
        raise SelectionError(f"no document of {', '.join(config.languages)} in {index.directory} "
                             f"(dominant languages there: {', '.join(sorted(set(index.languages.tolist())))})")
    if config.docs_per_language is None:
        return {lang: 1.0 for lang in present}
    return {lang: min(1.0, config.docs_per_language / n) if n else 0.0 for lang, n in present.items()}


def in_subset(document_id: str, language: str, rates: dict[str, float], seed: int) -> bool:
    rate = rates.get(language, 0.0)
    return rate >= 1.0 or (rate > 0.0 and sample_priority(document_id, seed) / HASH_SPACE < rate)


@dataclass(frozen=True)
class AdjacencyWork:
    tokenizer: DocumentTokenizer
    fields: RecordFields
    config: AdjacencyConfig
    rates: dict[str, float]
    index_of: np.ndarray  # token id → row/column index, −1 for a token left out
    count_pairs: bool  # False: the first, document-frequency-only pass of a capped vocabulary

    @property
    def size(self) -> int:
        return int(self.index_of.max()) + 1


@dataclass(frozen=True)
class AdjacencyJob:
    shard: Shard
    languages: np.ndarray  # dominant language of each document of the shard


def count_shard(work: AdjacencyWork, job: AdjacencyJob, progress: Progress | None = None) -> CooccurrenceCounts:
    """Map one input file: the counts of its subset documents."""
    read = 0

    def subset_token_sets() -> Iterator[np.ndarray]:
        nonlocal read
        documents = aligned(read_shard(job.shard, work.fields), job.languages, job.shard)
        for batch in batched(documents, work.config.batch_size):
            chosen = [d for d, lang in batch if in_subset(d.id, lang, work.rates, work.config.seed)]
            for encoding in work.tokenizer.encode([d.text for d in chosen]):
                indices = work.index_of[np.unique(np.asarray(encoding.ids, np.int64))]
                yield indices[indices >= 0]
            read += len(batch)
            if progress:
                progress(len(batch))

    counts = count_cooccurrence(subset_token_sets(), work.size, work.config.max_pairs, work.count_pairs)
    counts.documents_read = read
    return counts


@dataclass
class AdjacencyMatrix:
    """C over a vocabulary of token ids (ascending), with document frequencies and D."""

    upper: sparse.csr_matrix
    token_ids: np.ndarray
    doc_freq: np.ndarray
    documents: int

    def symmetric(self) -> sparse.csr_matrix:
        return (self.upper + self.upper.T).tocsr()

    def save(self, out: Path, tokenizer: DocumentTokenizer) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        sparse.save_npz(out / "adjacency.npz", self.upper)
        pq.write_table(pa.table({"token_id": self.token_ids, "token": tokenizer.token_strings(self.token_ids),
                                 "doc_freq": self.doc_freq}), out / "vocabulary.parquet")
        tokenizer.save(out)

    @classmethod
    def load(cls, directory: str | Path) -> AdjacencyMatrix:
        import pyarrow.parquet as pq

        directory = Path(directory)
        manifest = read_manifest(directory, STAGE, "adjacency")
        vocabulary = pq.read_table(directory / "vocabulary.parquet", columns=["token_id", "doc_freq"])
        return cls(sparse.load_npz(directory / "adjacency.npz").tocsr(),
                   vocabulary["token_id"].to_numpy(), vocabulary["doc_freq"].to_numpy(), manifest["documents"])


def _run_pass(index: LanguageIndex, work: AdjacencyWork, engine: str, ray_address: str | None,
              progress: Progress | None) -> CooccurrenceCounts:
    """Reduce: sums over the shards, in whatever order they finish."""
    jobs = [AdjacencyJob(shard, index.shard_languages(i)) for i, shard in enumerate(index.shards)]
    doc_freq = np.zeros(work.size, np.int64)
    pairs = SparseSum(work.size)
    documents = 0

    def add_part(_: int, part: CooccurrenceCounts) -> None:
        nonlocal documents
        documents += part.documents
        doc_freq[:] += part.doc_freq
        pairs.add(part.upper)

    map_shards(count_shard, work, jobs, add_part, stage="selection", engine=engine, ray_address=ray_address, progress=progress)
    return CooccurrenceCounts(documents, doc_freq, pairs.total(), sum(index.documents_per_shard))


def top_by_doc_freq(doc_freq: np.ndarray, cap: int) -> np.ndarray:
    """Token ids (ascending) of the ``cap`` highest document frequencies > 0; ties go to the lower id."""
    present = np.flatnonzero(doc_freq)
    order = np.lexsort((present, -doc_freq[present]))
    return np.sort(present[order[:cap]])


def build_adjacency(index: LanguageIndex, tokenizer: DocumentTokenizer, config: AdjacencyConfig = AdjacencyConfig(),
                    *, engine: str = "local", ray_address: str | None = None,
                    progress: Progress | None = None) -> AdjacencyMatrix:
    index.check_unchanged()
    rates = sample_rates(index, config)
    index_of = np.arange(tokenizer.vocab_size, dtype=np.int64)
    if config.vocab_cap is not None:
        first = AdjacencyWork(tokenizer, index.fields, config, rates, index_of, count_pairs=False)
        kept = top_by_doc_freq(_run_pass(index, first, engine, ray_address, progress).doc_freq, config.vocab_cap)
        index_of = np.full(tokenizer.vocab_size, -1, np.int64)
        index_of[kept] = np.arange(len(kept))
    else:
        kept = index_of
    counts = _run_pass(index, AdjacencyWork(tokenizer, index.fields, config, rates, index_of, True),
                       engine, ray_address, progress)
    if counts.documents == 0:
        raise SelectionError("the adjacency subset is empty: raise --docs-per-language or check --languages")
    present = np.flatnonzero(counts.doc_freq)  # rows/columns of tokens that occur
    upper = counts.upper[present][:, present].tocsr()
    upper.sort_indices()
    return AdjacencyMatrix(upper, kept[present], counts.doc_freq[present], counts.documents)


def run_adjacency(langid_dir: str | Path, out_dir: str | Path, config: AdjacencyConfig = AdjacencyConfig(), *,
                  engine: str = "local", ray_address: str | None = None,
                  progress: Progress | None = None) -> AdjacencyMatrix | None:
    """Build and save the adjacency matrix of a language-identified corpus; None when already done."""
    index = LanguageIndex.load(langid_dir)
    tokenizer = index.tokenizer()
    out = Path(out_dir)
    settings = {k: v for k, v in asdict(config).items() if k not in ("max_pairs", "batch_size")}
    identity = {"langid": index.digest, "tokenizer": tokenizer.sha256, **settings}
    directory = StageDirectory(out, STAGE).claim(identity)
    if directory.is_complete():
        return None
    matrix = build_adjacency(index, tokenizer, config, engine=engine, ray_address=ray_address, progress=progress)
    matrix.save(out, tokenizer)
    directory.complete(details={
        "langid_dir": str(Path(langid_dir).resolve()), "engine": engine, "config": asdict(config),
        "documents": matrix.documents, "vocabulary": len(matrix.token_ids), "nonzero_pairs": int(matrix.upper.nnz),
        "subset_rates": sample_rates(index, config),
    })
    return matrix
