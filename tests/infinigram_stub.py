"""A stand-in for the hosted infini-gram API on 127.0.0.1, for tests: the request and reply shapes of
its documentation and server (``count`` of strings and AND/OR CNFs, ``find``, ``get_doc_by_rank``,
``error`` fields, ``[Flask] Invalid index`` with HTTP 400), over a tiny corpus held in memory, with
scripted faults (HTTP 429 with Retry-After, HTTP 500, dropped connections) and added latency.

Tokens imitate Llama-2's SentencePiece: a word after a space (or at a document's start) is one
token ``▁word``; a word inside other characters (``eau`` in ``l'eau``) is a token without ``▁``;
CJK characters and punctuation are single tokens. A query string is tokenised with a leading
space and a lone leading ``▁`` is dropped, as the API does. Each document goes to one of two
shards (even / odd document index), each with a suffix array of its token positions.
"""

from __future__ import annotations

import bisect
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PIECE = re.compile(r"(\s?)([^\W_\u3040-\u30ff\u3400-\u9fff]+|\S)")
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
CONTEXT = 8  # tokens of a suffix compared when sorting (longer than any test query)


def tokenize(text: str) -> list[str]:
    tokens = []
    for space, piece in PIECE.findall(" " + text):
        if space and CJK.match(piece):
            tokens += ["▁", piece]
        else:
            tokens.append(("▁" if space else "") + piece)
    return tokens


def query_tokens(query: str) -> list[str]:
    tokens = tokenize(query)
    return tokens[1:] if tokens[:1] == ["▁"] else tokens


def decode(tokens: list[str]) -> str:
    """SentencePiece-like: ▁ is a space, and the decoded text's leading space is dropped."""
    return "".join(tokens).replace("▁", " ").lstrip(" ")


class StubIndex:
    def __init__(self, documents: list[str]) -> None:
        self.vocab: dict[str, int] = {}
        self.documents = [tokenize(text) for text in documents]
        self.shards = []
        for parity in (0, 1):
            positions = [(d, i) for d in range(parity, len(self.documents), 2) for i in range(len(self.documents[d]))]
            positions.sort(key=lambda p: (self.documents[p[0]][p[1]:p[1] + CONTEXT], p))
            self.shards.append(positions)

    def ids(self, tokens: list[str]) -> list[int]:
        return [self.vocab.setdefault(token, len(self.vocab) + 3) for token in tokens]

    def occurrences(self, needle: list[str]) -> list[tuple[int, int]]:
        n = len(needle)
        return [(d, i) for d, tokens in enumerate(self.documents) for i in range(len(tokens) - n + 1)
                if tokens[i:i + n] == needle]

    def count(self, query: str) -> dict:
        if " AND " not in query and " OR " not in query:
            needle = query_tokens(query)
            count = sum(map(len, self.documents)) if not needle else len(self.occurrences(needle))
            return {"count": count, "approx": False, "token_ids": self.ids(needle), "tokens": needle}
        return self.count_cnf(query, 100, 50_000)

    def count_cnf(self, query: str, max_diff_tokens: int, max_clause_freq: int) -> dict:
        clauses = [[query_tokens(term) for term in clause.split(" OR ")] for clause in query.split(" AND ")]
        hits = [sorted({hit for term in clause for hit in self.occurrences(term)}) for clause in clauses]
        approx = any(len(h) > max_clause_freq for h in hits)
        rarest = min(range(len(hits)), key=lambda c: len(hits[c]))
        count = sum(all(any(d2 == d and abs(i2 - i) <= max_diff_tokens for d2, i2 in hits[c])
                        for c in range(len(hits)) if c != rarest) for d, i in hits[rarest])
        return {"count": count, "approx": approx, "token_ids": [[self.ids(t) for t in c] for c in clauses],
                "tokens": clauses}

    def find(self, needle: list[str]) -> dict:
        segments = []
        for positions in self.shards:
            keys = [self.documents[d][i:i + len(needle)] for d, i in positions]
            segments.append([bisect.bisect_left(keys, needle), bisect.bisect_right(keys, needle)]
                            if needle else [0, len(positions)])
        return {"cnt": sum(hi - lo for lo, hi in segments), "segment_by_shard": segments}

    def get_doc_by_rank(self, needle: list[str], shard: int, rank: int, max_disp_len: int) -> dict:
        d, _ = self.shards[shard][rank]
        tokens = self.documents[d][:max_disp_len]
        spans, start, i = [], 0, 0
        while needle and i <= len(tokens) - len(needle):
            if tokens[i:i + len(needle)] == needle:
                if i > start:
                    spans.append([decode(tokens[start:i]), None])
                spans.append([decode(needle), "0"])
                i = start = i + len(needle)
            else:
                i += 1
        if start < len(tokens):
            spans.append([decode(tokens[start:]), None])
        return {"doc_ix": d, "doc_len": len(self.documents[d]), "disp_len": len(tokens),
                "token_ids": self.ids(tokens), "spans": spans, "metadata": ""}


class StubApi:
    """``with StubApi({"index-name": [texts]}) as api:`` serves at ``api.url``; ``api.faults`` is a list
    of faults for the next requests ("429", "500", "drop"); ``api.latency`` seconds per request;
    ``api.requests`` the payloads received, ``api.max_in_flight`` the most served at once."""

    def __init__(self, indices: dict[str, list[str]], latency: float = 0.0, retry_after: float = 0.05) -> None:
        self.indices = {name: StubIndex(texts) for name, texts in indices.items()}
        self.latency, self.retry_after = latency, retry_after
        self.faults: list[str] = []
        self.requests: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub._lock:
                    stub.requests.append(payload)
                    fault = stub.faults.pop(0) if stub.faults else None
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                # Served = received and not yet answered: a client thread freed by the reply may send
                # its next request before this handler returns, which is no excess concurrency.
                try:
                    time.sleep(stub.latency)
                finally:
                    with stub._lock:
                        stub.in_flight -= 1
                self.handle_payload(payload, fault)

            def handle_payload(self, payload: dict, fault: str | None) -> None:
                if fault == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault == "429":
                    return self.reply(429, {"error": "Too many requests"}, {"Retry-After": str(stub.retry_after)})
                if fault == "500":
                    return self.reply(500, {"error": "[Flask] Internal server error: overloaded"})
                status, reply = stub.answer(payload)
                self.reply(status, reply)

            def reply(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"

    def answer(self, payload: dict) -> tuple[int, dict]:
        index = self.indices.get(payload.get("index"))
        if index is None:
            return 400, {"error": f"[Flask] Invalid index: {payload.get('index')}"}
        kind, query = payload.get("query_type"), payload.get("query")
        needle = query_tokens(query) if query is not None else []
        if kind == "count":
            if " AND " in query or " OR " in query:
                diff, freq = payload.get("max_diff_tokens", 100), payload.get("max_clause_freq", 50_000)
                if not (isinstance(diff, int) and 1 <= diff <= 1000):
                    return 200, {"error": "max_diff_tokens must be an integer in [1, 1000]!"}
                return 200, index.count_cnf(query, diff, freq)
            return 200, index.count(query)
        if kind == "find":
            return 200, index.find(needle)
        if kind == "get_doc_by_rank":
            return 200, index.get_doc_by_rank(needle, payload["s"], payload["rank"], payload.get("max_disp_len", 1000))
        return 400, {"error": f"[Flask] Invalid query_type: {kind}"}

    def __enter__(self) -> StubApi:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
