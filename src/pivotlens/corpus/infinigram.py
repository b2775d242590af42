"""infini-gram suffix-array indices of a corpus (PyPI ``infini-gram``), and counts answered from them.

Building (:func:`build_index`): pivotlens streams the corpus through its own readers, normalises
each document exactly as the counter does (NFKC, case-folded unless case-sensitive) and writes
infini-gram's v4 shard files itself (``tokenized.0`` = one ``0xff…`` separator + tokens per
document, ``offset.0``, ``metadata.0``/``metaoff.0`` holding the document id); then
``python -m infini_gram.indexing`` finds them, skips its own tokenising step (whose named
tokenisers would download from the hub) and builds the suffix array ``table.0`` with its
``rust_indexing`` binary. Tokens are UTF-8 **bytes** (``u8``) by default, or the ids of a local
Hugging Face tokenizer (``u16``/``u32``).

Querying (:class:`InfiniGramIndex`, through ``InfiniGramEngine``):

* ``count`` — occurrences of a word (not documents);
* ``count_within`` — infini-gram's AND (``count_cnf``): occurrences of the rarer word that have an
  occurrence of the other **within ``max_diff_tokens`` tokens** (bytes, for a byte index) in the same
  document. Two words far apart in one document are not counted; one document can count many
  times. It is *not* document co-occurrence, and it is approximate (``approx``) when a word occurs
  more than ``max_clause_freq`` times (the engine then subsamples). It also misses a pair whose
  window reaches an occurrence of the other word in a neighbouring document (the engine widens the
  match to both neighbours, then drops spans that cross a document boundary): a lower bound;
* ``documents_with`` — the set of documents containing a word: every occurrence is located in its
  document, and for a byte index the whole-word rule of :mod:`pivotlens.corpus.matching` is
  checked on the bytes around it, so document counts from a byte index equal the local engine's;
* ``document`` — retrieval of a document (its normalised text and id) by index.

With a tokenizer index a word is looked up as its token sequence, with and without a leading
space; there is no extra whole-word check (the tokenizer's segmentation decides), and a word
whose characters merge with neighbours into other tokens is not found — counts can be lower than
the byte-level ones.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

from pivotlens.corpus.counting import CountPlan, PartialCounts, sample_priority
from pivotlens.corpus.matching import PREFIX, WORD, Term, is_word_char
from pivotlens.corpus.readers import Document, RecordFields, Shard, fingerprint, read_shard
from pivotlens.errors import CorpusError
from pivotlens.text import normalize

INDEX_MANIFEST = "pivotlens-index.json"
SMALL_INDEX_BYTES = 16 << 20
CONTEXT_BYTES = 4  # one UTF-8 character on each side of an occurrence, for the whole-word check


@dataclass(frozen=True)
class IndexInfo:
    token_dtype: str  # "u8" (bytes) | "u16" | "u32"
    tokenizer: str | None
    vocab_size: int
    case_sensitive: bool
    documents: int
    inputs: list[dict]
    skipped: dict[str, int]

    @property
    def separator_id(self) -> int:
        return {"u8": 0xFF, "u16": 0xFFFF, "u32": 0xFFFFFFFF}[self.token_dtype]


def _load_tokenizer(path: str):
    from pivotlens.models.loading import load_tokenizer

    if not Path(path).is_dir():
        raise CorpusError(f"--tokenizer {path!r}: give a local Hugging Face tokenizer directory "
                          "(hub names are not fetched here), or leave it out for a byte-level index")
    return load_tokenizer(path)


def _default_mem_gib() -> int:
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return max(1, min(16, int(total / 2)))


def _indexing_cpus(tokenized: Path) -> int:
    # rust_indexing splits the data into one part per CPU, each overlapping the next by 100 kB; its
    # concat step fails when the parts are that small, so small indices are built by one process.
    return 1 if tokenized.stat().st_size < SMALL_INDEX_BYTES else (os.cpu_count() or 1)


def build_index(corpus_shards: Sequence[Shard], out_dir: str | Path, *, tokenizer: str | None = None,
                case_sensitive: bool = False, fields: RecordFields = RecordFields(), mem_gib: int | None = None,
                progress: Callable[[int], None] | None = None) -> IndexInfo:
    """Index a corpus into ``out_dir`` (must not hold an index already)."""
    out = Path(out_dir).resolve()
    if (out / "table.0").exists() or (out / "tokenized.0").exists():
        raise CorpusError(f"{out} already holds an index; use another --out or delete it")
    out.mkdir(parents=True, exist_ok=True)
    encoder = _load_tokenizer(tokenizer) if tokenizer else None
    vocab_size = len(encoder) if encoder is not None else 256
    token_dtype = "u8" if encoder is None else ("u16" if vocab_size < 0xFFFF else "u32")
    numpy_dtype = {"u8": np.uint8, "u16": np.uint16, "u32": np.uint32}[token_dtype]
    separator = b"\xff" * np.dtype(numpy_dtype).itemsize
    skipped: Counter = Counter()
    documents = 0
    with (open(out / "tokenized.0", "wb") as tokens, open(out / "offset.0", "wb") as offsets,
          open(out / "metadata.0", "wb") as metadata, open(out / "metaoff.0", "wb") as metadata_offsets):
        for shard in corpus_shards:
            for number, document in enumerate(read_shard(shard, fields, skipped)):
                text = normalize(document.text, case_sensitive)
                if encoder is None:
                    body = text.encode("utf-8")  # UTF-8 never contains 0xff, the separator
                else:
                    body = np.asarray(encoder.encode(text, add_special_tokens=False), numpy_dtype).tobytes()
                offsets.write(np.uint64(tokens.tell()).tobytes())
                tokens.write(separator + body)
                record = {"path": shard.path, "linenum": number, "metadata": {"id": document.id}}
                metadata_offsets.write(np.uint64(metadata.tell()).tobytes())
                metadata.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
                documents += 1
                if progress:
                    progress(1)
    if documents == 0:
        raise CorpusError("the corpus has no document to index")
    with tempfile.TemporaryDirectory() as no_raw_data:  # step 1 is skipped: our shard files exist
        command = [sys.executable, "-m", "infini_gram.indexing", "--data_dir", no_raw_data, "--save_dir", str(out),
                   "--token_dtype", token_dtype, "--cpus", str(_indexing_cpus(out / "tokenized.0")),
                   "--mem", str(mem_gib or _default_mem_gib()),
                   "--ulimit", str(resource.getrlimit(resource.RLIMIT_NOFILE)[1])]
        run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0 or not (out / "table.0").exists():
        raise CorpusError(f"infini-gram indexing failed (exit {run.returncode}):\n{(run.stdout + run.stderr)[-2000:]}")
    info = IndexInfo(token_dtype, tokenizer and str(Path(tokenizer).resolve()), vocab_size, case_sensitive, documents,
                     [fingerprint(shard) for shard in corpus_shards], dict(skipped))
    manifest = {"stage": "corpus-index", **info.__dict__,
                "versions": {"infini-gram": version("infini-gram")}}
    (out / INDEX_MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return info


class InfiniGramIndex:
    """Counts, AND-within-window counts and documents of an index built by :func:`build_index`."""

    def __init__(self, index_dir: str | Path, *, max_clause_freq: int = 50_000) -> None:
        from infini_gram.engine import InfiniGramEngine

        self.path = Path(index_dir)
        manifest = self.path / INDEX_MANIFEST
        if not manifest.is_file():
            raise CorpusError(f"{self.path} is not a pivotlens infini-gram index (no {INDEX_MANIFEST}); "
                              "build one with `pivotlens corpus index`")
        fields = json.loads(manifest.read_text())
        self.info = IndexInfo(**{key: fields[key] for key in IndexInfo.__dataclass_fields__})
        self.max_clause_freq = max_clause_freq
        self._tokenizer = _load_tokenizer(self.info.tokenizer) if self.info.tokenizer else None
        # The engine wants an end-of-document id below vocab_size; it plays no part in these queries.
        vocab = min(self.info.vocab_size, self.info.separator_id)
        # Our own shard files, read directly to place occurrences in documents and check their edges.
        self._offsets = np.fromfile(self.path / "offset.0", dtype=np.uint64).astype(np.int64)
        self._tokens = np.memmap(self.path / "tokenized.0", dtype=np.uint8, mode="r")
        self.engine = InfiniGramEngine(index_dir=str(self.path), eos_token_id=vocab - 1, vocab_size=vocab, version=4,
                                       token_dtype=self.info.token_dtype)

    def _encode(self, text: str) -> list[int]:
        if self._tokenizer is None:
            return list(text.encode("utf-8"))
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def variants(self, term: Term) -> list[list[int]]:
        """Token sequences that spell the term in the index (one for a byte index)."""
        if self._tokenizer is None:
            return [self._encode(term.text)]
        return [list(v) for v in dict.fromkeys(tuple(self._encode(t)) for t in (term.text, " " + term.text))]

    def _check_case(self, case_sensitive: bool) -> None:
        if case_sensitive != self.info.case_sensitive:
            raise CorpusError(f"{self.path} was built {'with' if self.info.case_sensitive else 'without'} "
                              "--case-sensitive; count with the same setting or rebuild the index")

    def count(self, term: Term) -> int:
        """Occurrences (not documents) of the term's token sequence(s)."""
        return sum(self.engine.count(ids)["count"] for ids in self.variants(term))

    def count_within(self, a: Term, b: Term, max_diff_tokens: int = 100) -> tuple[int, bool]:
        """infini-gram's AND: (count, approx) of occurrences of a and b at most max_diff_tokens apart."""
        result = self.engine.count_cnf([self.variants(a), self.variants(b)], max_clause_freq=self.max_clause_freq,
                                       max_diff_tokens=max_diff_tokens)
        return int(result["count"]), bool(result["approx"])

    def _pointers(self, ids: list[int]) -> np.ndarray:
        """Byte offsets in tokenized.0 of every occurrence of a token sequence (the engine's search)."""
        found = self.engine.find_cnf([[ids]], max_clause_freq=2**62, max_diff_tokens=1)
        return np.array(found["ptrs_by_shard"][0] if found["cnt"] else [], np.int64)

    def documents_with(self, term: Term) -> set[int]:
        """Indices of the documents that contain the term (whole-word and prefix rules checked on byte
        indices)."""
        bounded = term.rule in (WORD, PREFIX) and self._tokenizer is None
        found: set[int] = set()
        for ids in self.variants(term):
            pointers = self._pointers(ids)
            documents = np.searchsorted(self._offsets, pointers, side="right") - 1
            if not bounded:
                found.update(documents.tolist())
                continue
            starts = self._offsets[documents] + 1  # after the 0xff separator
            ends = np.append(self._offsets[1:], len(self._tokens))[documents]
            for pointer, start, end, document in zip(pointers.tolist(), starts.tolist(), ends.tolist(),
                                                     documents.tolist()):
                before = bytes(self._tokens[max(start, pointer - CONTEXT_BYTES):pointer])
                after = bytes(self._tokens[pointer + len(ids):min(end, pointer + len(ids) + CONTEXT_BYTES)])
                if _bounded(before, after, term.rule):
                    found.add(document)
        return found

    def document_ids(self, indices: Sequence[int]) -> dict[int, str]:
        hits = self.engine.get_docs_by_ixs_2([(ix, 0) for ix in indices])
        return {hit["doc_ix"]: json.loads(hit["metadata"])["metadata"]["id"] for hit in hits}

    def document(self, index: int) -> Document:
        """A document by index: its id and its text as indexed (normalised)."""
        hit = self.engine.get_docs_by_ixs_2([(index, 2**62)])[0]
        tokens = hit["token_ids"]
        text = bytes(tokens).decode("utf-8") if self._tokenizer is None else self._tokenizer.decode(tokens)
        return Document(json.loads(hit["metadata"])["metadata"]["id"], text)


def _bounded(before_bytes: bytes, after_bytes: bytes, rule: str) -> bool:
    """WORD: no word character touches the occurrence; PREFIX: no word character of any script
    precedes it (UTF-8 context, cut mid-character at its far ends)."""
    before = before_bytes.decode("utf-8", "ignore")
    if rule == PREFIX:
        return not (before and (before[-1].isalnum() or before[-1] == "_"))
    after = after_bytes.decode("utf-8", "ignore")
    return not (before and is_word_char(before[-1])) and not (after and is_word_char(after[0]))


@dataclass
class WindowCounts:
    """infini-gram's AND-within-window count per term pair of a plan."""

    max_diff_tokens: int
    counts: np.ndarray  # int64 per term pair
    approx: np.ndarray  # bool per term pair


def count_index(plan: CountPlan, index: InfiniGramIndex, max_diff_tokens: int = 100,
                progress: Callable[[int], None] | None = None) -> tuple[PartialCounts, WindowCounts]:
    """The plan's document counts and samples from an index, plus infini-gram's window counts."""
    index._check_case(plan.config.case_sensitive)
    documents = []
    for term in plan.terms:
        documents.append(index.documents_with(term))
        if progress:
            progress(1)
    counts = PartialCounts.empty(plan)
    counts.documents = index.info.documents
    counts.doc_freq = np.array([len(found) for found in documents], np.int64)
    counts.cooccurrence = np.array([len(documents[a] & documents[b]) for a, b in plan.term_pairs], np.int64)
    counts.inputs = index.info.inputs
    counts.skipped = Counter(index.info.skipped)
    k, seed = plan.config.reservoir, plan.config.seed
    if k:
        ids = index.document_ids(sorted(set().union(*documents)))
        priority = {ix: (sample_priority(doc_id, seed), doc_id) for ix, doc_id in ids.items()}
        counts.samples = {term: sorted(set(priority[ix] for ix in found))[:k]
                          for term, found in enumerate(documents) if found}
    window = [index.count_within(plan.terms[a], plan.terms[b], max_diff_tokens) for a, b in plan.term_pairs]
    return counts, WindowCounts(max_diff_tokens, np.array([w[0] for w in window], np.int64),
                                np.array([w[1] for w in window], bool))
