"""Counts and document samples through the hosted infini-gram API (``https://api.infini-gram.io/``).

The paper's corpus numbers come from this API on Dolma (``v4_dolma-v1_7_llama``): the authors'
``count/word_count.py`` sends ``count`` queries for ``w1``, ``w2`` and ``"w1 AND w2"``, and
``count/word_doc_set.py`` samples documents containing a word. Request and reply shapes follow the
API documentation (one JSON POST per query; ``index``, ``query_type``, ``query`` or ``query_ids``):

* ``count`` of a string — its **occurrences** as a token n-gram (not documents); of ``""`` — the
  index's total tokens (used once per run to check that the index exists);
* ``count`` of ``"a AND b"`` — infini-gram's CNF count: occurrences of the rarer clause that have an
  occurrence of the other **within ``max_diff_tokens`` tokens** in the same document; approximate
  (``approx``) when a clause has more than ``max_clause_freq`` matches. It is **not** a document
  count (the same quirks as :mod:`pivotlens.corpus.infinigram`'s window counts);
* ``find`` — ``cnt`` occurrences and, per suffix-array shard, the rank range ``segment_by_shard``;
* ``get_doc_by_rank`` (``s``, ``rank``, ``max_disp_len``) — the document holding that occurrence:
  ``doc_ix``, ``doc_len``, ``disp_len``, ``token_ids`` and the decoded ``spans``.

A reply with an ``error`` field is an error. ``[Flask] Invalid index`` (HTTP 400) names an unknown
index; other 4xx replies and ``error`` fields in a 200 reply are the query's fault and are not
retried; connection failures, time-outs, HTTP 5xx and 429 are retried with exponential backoff (a
429's ``Retry-After`` pauses every worker thread). At most ``concurrency`` requests are in flight.

**Tokenisation.** The public indices are tokenised with the Llama-2 tokenizer, and the API
tokenises a query string on the server (dropping the lone ``▁`` a leading-space-free word gets). So
a Latin word matches as the token sequence of ``" word"``: after a space or at a document start,
and not where the tokenizer merges it with neighbours (``l'eau`` holds ``eau`` as a word-internal
piece, so ``eau`` is not found there; ``hands`` is one token, so ``hand`` is not found in it). Chinese
and Japanese characters are mostly single tokens (or byte tokens) in Llama-2, so CJK words match
almost as substrings. Counts are case-sensitive (pivotlens sends the normalised, case-folded word,
as the authors sent the dataset's lower-case words).

**Cache.** Every reply is appended (and fsynced) to ``{cache}/{index}.jsonl`` under the sha256 of
``(index, query)`` as it arrives, so a rerun sends no query twice and a kill loses at most the
requests in flight; a line torn by a kill is cut off on the next start.

**Document samples** (``pivots mine``): a word's ``find`` gives its ``cnt`` occurrences; occurrence
ranks are drawn **without replacement** in a seeded order and each is resolved to its document,
until N distinct documents (``doc_ix``) are found or 2N ranks (or all of them) are drawn. So the
sample is of *occurrences*: a document with many occurrences is proportionally more likely, and a
word with fewer than N documents, or whose occurrences crowd into few documents, yields fewer.
The background sample draws from ``find`` with an empty query (every token position): documents
with probability proportional to their length. Texts are the decoded ``spans`` (at most
``max_disp_len`` tokens of each document), with the spaces the server's per-span decoding drops
put back where they can be told (:func:`document_text`). The server overwrites a document reply's
``token_ids`` with the query's, so the spans are the only text.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pivotlens.artifacts import StageDirectory, append_jsonl, cache_root, iter_jsonl
from pivotlens.corpus.counting import CountPlan
from pivotlens.corpus.matching import is_word_char
from pivotlens.corpus.results import STAGE, _identity
from pivotlens.engine import check_engine
from pivotlens.errors import CorpusError
from pivotlens.options import option

API_URL = "https://api.infini-gram.io/"
# The indices the API documents (name: documents, tokens, corpus); all use the Llama-2 tokenizer.
PUBLIC_INDICES = {
    "v4_olmo-2-0325-32b-instruct_llama": (3_163_901_920, 4_610_629_088_477, "OLMo-2-0325-32B-Instruct mix"),
    "v4_olmo-2-1124-13b-instruct_llama": (3_163_974_994, 4_610_749_614_285, "OLMo-2-1124-13B-Instruct mix"),
    "v4_olmoe-0125-1b-7b-instruct_llama": (3_163_953_717, 4_610_737_979_121, "OLMoE-0125-1B-7B-Instruct mix"),
    "v4_dolma-v1_7_llama": (3_403_336_408, 2_604_642_372_173, "Dolma v1.7"),
    "v4_rpj_llama_s4": (931_361_530, 1_385_942_948_192, "RedPajama"),
    "v4_piletrain_llama": (210_607_728, 383_299_322_520, "Pile-train"),
    "v4_c4train_llama": (364_868_892, 198_079_554_945, "C4-train"),
    "v4_dolma-v1_6-sample_llama": (13_095_416, 9_178_218_956, "Dolma v1.6 sample"),
    "v4_pileval_llama": (214_670, 393_769_120, "Pile-val"),
}
MAX_QUERY_CHARS = 1000  # the API's limit on a query string


@dataclass(frozen=True)
class ApiOptions:
    """Flags of `corpus count` and `pivots mine` for ``--engine infinigram-api``."""

    api_url: str | None = option(API_URL, "infini-gram API endpoint (--engine infinigram-api)")
    api_concurrency: int = option(8, "API requests in flight at once")
    api_retries: int = option(6, "retries per API request (exponential backoff from 1 s, at most 60 s)")
    api_timeout: float = option(60.0, "seconds to wait for one API reply")
    api_cache: str | None = option(None, "API reply cache directory (default $PIVOTLENS_CACHE/infinigram-api)")
    max_clause_freq: int = option(50_000, "infini-gram AND: clause matches before it subsamples (API range 1-500,000)")
    max_disp_len: int = option(1000, "tokens of each sampled document the API returns (1-10,000)")
    dry_run: bool = option(False, "print how many API queries the run needs, and how many are cached, then stop")


def api_cache_dir(options: ApiOptions) -> Path:
    return Path(options.api_cache) if options.api_cache else cache_root() / "infinigram-api"


def api_client(index: str | None, options: ApiOptions = ApiOptions()) -> InfiniGramApi:
    """The client of an index with the flags' settings."""
    if index is None:
        raise CorpusError("the infinigram-api engine needs an index name (--index NAME, e.g. v4_dolma-v1_7_llama)")
    return InfiniGramApi(str(index), options.api_url, api_cache_dir(options), concurrency=options.api_concurrency,
                         retries=options.api_retries, timeout=options.api_timeout)


class _Retry(Exception):
    """A failure worth another try; ``wait`` is the server's Retry-After, if it sent one."""

    def __init__(self, reason: str, wait: float | None = None, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.wait, self.unreachable = wait, unreachable


class InfiniGramApi:
    """A client for one index: cached, concurrent, retried queries."""

    def __init__(self, index: str, url: str | None = API_URL, cache_dir: str | Path | None = None, *, concurrency: int = 8,
                 retries: int = 6, timeout: float = 60.0, backoff: float = 1.0, max_backoff: float = 60.0) -> None:
        if not index or "/" in index:
            raise CorpusError(f"--index {index!r}: give an infini-gram index name such as v4_dolma-v1_7_llama "
                              f"(known: {', '.join(PUBLIC_INDICES)})")
        if concurrency < 1 or retries < 0 or timeout <= 0:
            raise CorpusError("--api-concurrency must be ≥ 1, --api-retries ≥ 0 and --api-timeout > 0")
        self.index, self.url = index, url or API_URL
        self.concurrency, self.retries, self.timeout = concurrency, retries, timeout
        self.backoff, self.max_backoff = backoff, max_backoff
        self.cache_path = Path(cache_dir or cache_root() / "infinigram-api") / f"{index}.jsonl"
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        self._replies = {record["key"]: record["reply"] for _, record in iter_jsonl(self.cache_path, on_invalid="truncate")}
        self._lock = threading.Lock()
        self._pause_until = 0.0  # after a 429, no thread sends before this time
        self.sent = 0  # HTTP requests sent by this client (retries included)
        self._local = threading.local()

    def key(self, query: dict) -> str:
        return hashlib.sha256(json.dumps({"index": self.index, **query}, sort_keys=True,
                                         ensure_ascii=False).encode()).hexdigest()

    def is_cached(self, query: dict) -> bool:
        return self.key(query) in self._replies

    def query(self, query: dict) -> dict:
        return self.query_many([query])[0]

    def query_many(self, queries: Sequence[dict], progress: Callable[[int], None] | None = None) -> list[dict]:
        """The replies to ``queries`` in order: cached ones from disk, the others sent concurrently and
        appended to the cache as each arrives."""
        keys = [self.key(q) for q in queries]
        todo = {key: query for key, query in zip(keys, queries) if key not in self._replies}
        if progress:
            progress(len(queries) - len(todo))
        if todo:
            pool = ThreadPoolExecutor(self.concurrency)
            finished = False
            try:
                futures = {pool.submit(self._send, query): key for key, query in todo.items()}
                for future in as_completed(futures):
                    key = futures[future]
                    reply = future.result()
                    append_jsonl(self.cache_path, [{"key": key, "query": todo[key], "reply": reply}])
                    self._replies[key] = reply
                    if progress:
                        progress(1)
                finished = True
            finally:  # on a failure, queued requests are dropped and running ones not waited for
                pool.shutdown(wait=finished, cancel_futures=True)
        return [self._replies[key] for key in keys]

    def _session(self):
        import requests

        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def _send(self, query: dict) -> dict:
        last: _Retry | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                wait = last.wait if last.wait is not None else min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                if last.wait is not None:
                    with self._lock:
                        self._pause_until = max(self._pause_until, time.monotonic() + wait)
                time.sleep(wait * (1 if last.wait is not None else random.uniform(0.5, 1.0)))
            while (pause := self._pause_until - time.monotonic()) > 0:
                time.sleep(pause)
            try:
                return self._post(query)
            except _Retry as retry:
                last = retry
        where = "cannot reach the infini-gram API at" if last.unreachable else "the infini-gram API kept failing at"
        raise CorpusError(f"{where} {self.url} ({last}; {self.retries + 1} tries); check --api-url and the "
                          "network, then rerun: finished queries are cached")

    def _post(self, query: dict) -> dict:
        import requests

        with self._lock:
            self.sent += 1
        try:
            response = self._session().post(self.url, json={"index": self.index, **query}, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise _Retry(f"{type(error).__name__}: {error}", unreachable=True) from None
        try:
            reply = response.json()
        except ValueError:
            reply = {"error": f"not JSON: {response.text[:200]!r}"}
        message = reply.get("error") if isinstance(reply, dict) else "the reply is not a JSON object"
        if response.status_code == 429:
            raise _Retry(f"HTTP 429 rate limited: {message}", wait=_retry_after(response.headers.get("Retry-After")))
        if response.status_code >= 500:
            raise _Retry(f"HTTP {response.status_code}: {message}")
        if message and "invalid index" in str(message).lower():
            raise CorpusError(f"the infini-gram API at {self.url} has no index {self.index!r} ({message}); "
                              f"public indices: {', '.join(PUBLIC_INDICES)}")
        if response.status_code >= 400 or message:
            raise CorpusError(f"the infini-gram API refused {json.dumps(query, ensure_ascii=False)[:300]}: "
                              f"HTTP {response.status_code}: {message}")
        return reply


def _retry_after(header: str | None) -> float | None:
    try:
        return max(0.0, float(header)) if header is not None else None
    except ValueError:
        return None


# ---- queries ----------------------------------------------------------------------------------

def _query_text(text: str) -> str:
    if not text.strip() or " AND " in f" {text} " or " OR " in f" {text} " or len(text) > MAX_QUERY_CHARS:
        raise CorpusError(f"cannot send {text!r} to the infini-gram API: empty, too long, or holding the "
                          "operator words AND / OR")
    return text


def probe_query() -> dict:
    """``count`` of the empty string: the index's total tokens (and a check that it exists)."""
    return {"query_type": "count", "query": ""}


def term_query(text: str) -> dict:
    return {"query_type": "count", "query": _query_text(text)}


def pair_query(a: str, b: str, max_diff_tokens: int, max_clause_freq: int) -> dict:
    return {"query_type": "count", "query": f"{_query_text(a)} AND {_query_text(b)}",
            "max_diff_tokens": max_diff_tokens, "max_clause_freq": max_clause_freq}


def count_queries(plan: CountPlan, max_diff_tokens: int, max_clause_freq: int) -> list[dict]:
    """Every query a count sends: the probe, one per term, one per term pair."""
    if not 1 <= max_diff_tokens <= 1000 or not 1 <= max_clause_freq <= 500_000:
        raise CorpusError("the API takes --max-diff-tokens in 1-1000 and --max-clause-freq in 1-500,000")
    return ([probe_query()] + [term_query(term.text) for term in plan.terms]
            + [pair_query(plan.terms[a].text, plan.terms[b].text, max_diff_tokens, max_clause_freq)
               for a, b in plan.term_pairs])


@dataclass
class ApiCounts:
    """Occurrence counts of the terms and window co-occurrence counts of the term pairs."""

    total_tokens: int
    occurrences: np.ndarray  # int64 per term
    tokens: list[list[str]]  # per term: the Llama-2 tokens the API matched
    window: np.ndarray  # int64 per term pair
    approx: np.ndarray  # bool per term pair


def count_through_api(plan: CountPlan, api: InfiniGramApi, max_diff_tokens: int = 100, max_clause_freq: int = 50_000,
                      progress: Callable[[int], None] | None = None) -> ApiCounts:
    queries = count_queries(plan, max_diff_tokens, max_clause_freq)
    probe = api.query(queries[0])  # fails fast on an unknown index or an unreachable endpoint
    replies = api.query_many(queries[1:], progress)
    terms, pairs = replies[:len(plan.terms)], replies[len(plan.terms):]
    return ApiCounts(int(probe["count"]), np.array([int(r["count"]) for r in terms], np.int64),
                     [list(r.get("tokens") or []) for r in terms], np.array([int(r["count"]) for r in pairs], np.int64),
                     np.array([bool(r.get("approx", False)) for r in pairs], bool))


def api_count_rows(plan: CountPlan, counts: ApiCounts) -> tuple[list[dict], list[dict]]:
    """terms.parquet and pairs.parquet rows; the columns say what was counted (occurrences, windows)."""
    terms = [{"term": term.text, "rule": term.rule, "languages": sorted({lang for lang, _ in words}),
              "words": sorted({word for _, word in words}), "occurrences": int(counts.occurrences[i]),
              "api_tokens": counts.tokens[i], "sample_ids": []}
             for i, (term, words) in enumerate(zip(plan.terms, plan.term_words))]
    pairs = []
    for request, (a, b) in zip(plan.requests, plan.request_terms):
        pair = plan.pair_index(a, b)
        pairs.append({
            "id": request.id, "src": request.src, "tgt": request.tgt, "source": request.source,
            "target": request.target, "same_term": a == b,
            "source_occurrences": int(counts.occurrences[a]), "target_occurrences": int(counts.occurrences[b]),
            # same normalised word: its occurrences, as the local engines give its document frequency
            "window_cooccurrence": int(counts.occurrences[a] if pair is None else counts.window[pair]),
            "window_approx": False if pair is None else bool(counts.approx[pair]),
        })
    return terms, pairs


def count_with_api(plan: CountPlan, out_dir: str | Path, api: InfiniGramApi, *, dataset: dict | None = None,
                   max_diff_tokens: int = 100, max_clause_freq: int = 50_000,
                   progress: Callable[[int], None] | None = None) -> ApiCounts | None:
    """The counting stage through the API: count and write ``out_dir`` (None: it already holds this run)."""
    check_engine("infinigram-api", "counts")
    identity = _identity(plan, "infinigram-api", [], dataset or {},
                         {"engine_family": "infinigram-api", "index": api.index, "max_diff_tokens": max_diff_tokens,
                          "max_clause_freq": max_clause_freq})
    directory = StageDirectory(out_dir, STAGE).claim(identity, {"engine": "infinigram-api", "dataset": dataset or {},
                                                                "config": asdict(plan.config)})
    if directory.is_complete():
        return None
    counts = count_through_api(plan, api, max_diff_tokens, max_clause_freq, progress)
    write_api_counts(plan, counts, directory, api.index, api.url, max_diff_tokens, max_clause_freq)
    return counts


def write_api_counts(plan: CountPlan, counts: ApiCounts, directory: StageDirectory, index: str, url: str,
                     max_diff_tokens: int, max_clause_freq: int) -> None:
    """terms.parquet, pairs.parquet, then the manifest's facts and the completion marker."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    terms, pairs = api_count_rows(plan, counts)
    pq.write_table(pa.Table.from_pylist(terms), directory.path / "terms.parquet")
    pq.write_table(pa.Table.from_pylist(pairs), directory.path / "pairs.parquet")
    known = PUBLIC_INDICES.get(index)
    facts = {
        "cooccurrence_unit": "window",
        "window": {"unit": "occurrences of the rarer word with the other within max_diff_tokens Llama-2 tokens "
                           "(infini-gram API count of 'a AND b'); not documents",
                   "max_diff_tokens": max_diff_tokens, "max_clause_freq": max_clause_freq},
        "term_unit": "occurrences of the word's Llama-2 token sequence (API count); not documents",
        "index": index, "api_url": url, "total_tokens": counts.total_tokens,
        "documents": known[0] if known else None, "terms": len(plan.terms), "term_pairs": len(plan.term_pairs),
        "queries": 1 + len(plan.terms) + len(plan.term_pairs),
    }
    directory.complete({"total_tokens": counts.total_tokens}, details=facts)


# ---- document samples -------------------------------------------------------------------------

def find_query(text: str | None) -> dict:
    """``find`` of a word, or of the empty token list (every position: the background)."""
    return {"query_type": "find", "query": _query_text(text)} if text is not None else {"query_type": "find",
                                                                                         "query_ids": []}


def document_query(text: str | None, shard: int, rank: int, max_disp_len: int) -> dict:
    query = {"query": text} if text is not None else {"query_ids": []}
    return {"query_type": "get_doc_by_rank", **query, "s": shard, "rank": rank, "max_disp_len": max_disp_len}


def _draw_order(found: dict, seed: int, key: str, limit: int) -> list[tuple[int, int]]:
    """(shard, rank) of up to ``limit`` occurrences, drawn without replacement in a seeded order."""
    segments = [(shard, int(lo), int(hi)) for shard, (lo, hi) in enumerate(found.get("segment_by_shard") or [])]
    sizes = np.array([hi - lo for _, lo, hi in segments], np.int64)
    total = int(sizes.sum())
    if total == 0:
        return []
    starts = np.cumsum(sizes) - sizes
    picks = random.Random(f"{seed}|{key}").sample(range(total), min(total, limit))
    shards = np.searchsorted(starts, picks, side="right") - 1
    return [(segments[s][0], segments[s][1] + pick - int(starts[s])) for s, pick in zip(shards.tolist(), picks)]


def document_text(reply: dict) -> str:
    """The decoded spans of a document reply. The server decodes each span alone, and SentencePiece
    drops the space of a span's first token (``▁word``): it is put back before a span that starts
    with a Latin word character, and between a Latin word and CJK text (a query's Latin word only
    matches after a space, and CJK text after a Latin word is spelled with one far more often than
    not)."""
    text = ""
    for span in reply.get("spans") or []:
        piece = span[0] if isinstance(span, (list, tuple)) else str(span)
        if text and piece and not text[-1].isspace() and not piece[0].isspace() and (
                is_word_char(piece[0]) or (is_word_char(text[-1]) and piece[0].isalpha())):
            text += " "
        text += piece
    return text


@dataclass
class SampledDocuments:
    """Per sampled word, its document ids (``"{doc_ix}"``) in draw order; the texts; the background ids."""

    samples: dict[str | None, list[str]]
    texts: dict[str, str]


def sample_through_api(api: InfiniGramApi, words: Iterable[str | None], n: int, seed: int, max_disp_len: int = 1000,
                       progress: Callable[[int], None] | None = None) -> SampledDocuments:
    """Up to ``n`` distinct documents per word (None: the background), drawn as described above."""
    words = list(dict.fromkeys(words))
    finds = api.query_many([find_query(word) for word in words])
    samples: dict[str | None, list[str]] = {}
    texts: dict[str, str] = {}
    for word, found in zip(words, finds):
        order = _draw_order(found, seed, "" if word is None else word, 2 * n)
        chosen: list[str] = []
        position = 0
        while len(chosen) < n and position < len(order):
            batch = order[position:position + (n - len(chosen))]
            position += len(batch)
            for reply in api.query_many([document_query(word, s, rank, max_disp_len) for s, rank in batch]):
                doc_id = str(reply["doc_ix"])
                if doc_id not in texts:
                    texts[doc_id] = document_text(reply)
                if doc_id not in chosen and len(chosen) < n:
                    chosen.append(doc_id)
        samples[word] = chosen
        if progress:
            progress(1)
    return SampledDocuments(samples, texts)


def sample_query_budget(api: InfiniGramApi, words: Iterable[str | None], n: int) -> tuple[int, int]:
    """(at most, already cached) queries of :func:`sample_through_api`: one ``find`` and up to 2n
    document fetches per word (n when its occurrences fall in distinct documents)."""
    words = list(dict.fromkeys(words))
    cached = sum(api.is_cached(find_query(word)) for word in words)
    return len(words) * (1 + 2 * n), cached


def options_identity(options: ApiOptions) -> dict:
    """The API settings that change results (not the transport's)."""
    return {k: v for k, v in asdict(options).items() if k in ("max_clause_freq", "max_disp_len")}
