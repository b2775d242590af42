"""The counting stage: pick an engine, count, and write the output directory.

Output directory::

    manifest.json    config, engine, dataset, input files (sha256, bytes), documents, skipped
                     records, library versions
    complete.json    the completion marker, written last; a rerun with the same settings and inputs
                     is then a no-op
    terms.parquet    one row per distinct normalised word: term, rule, languages, words, doc_freq,
                     sample_ids (the bottom-k document sample, in priority order)
    pairs.parquet    one row per (dataset entry, language pair): id, src, tgt, source, target,
                     same_term, source_doc_freq, target_doc_freq, cooccurrence
                     (+ window_cooccurrence, window_approx with the infinigram engine)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pivotlens.artifacts import StageDirectory
from pivotlens.corpus.counting import CountPlan, PartialCounts, check_not_empty, run_local, run_ray
from pivotlens.corpus.infinigram import WindowCounts
from pivotlens.corpus.readers import Shard, fingerprint
from pivotlens.engine import check_engine
from pivotlens.errors import CorpusError

STAGE = "corpus-count"


@dataclass
class CountResult:
    plan: CountPlan
    counts: PartialCounts
    engine: str
    window: WindowCounts | None = None

    def term_rows(self) -> list[dict]:
        return [{
            "term": term.text, "rule": term.rule,
            "languages": sorted({lang for lang, _ in words}), "words": sorted({word for _, word in words}),
            "doc_freq": int(self.counts.doc_freq[i]),
            "sample_ids": [doc_id for _, doc_id in self.counts.samples.get(i, [])],
        } for i, (term, words) in enumerate(zip(self.plan.terms, self.plan.term_words))]

    def pair_rows(self) -> list[dict]:
        rows = []
        for request, (a, b) in zip(self.plan.requests, self.plan.request_terms):
            pair = self.plan.pair_index(a, b)
            row = {
                "id": request.id, "src": request.src, "tgt": request.tgt,
                "source": request.source, "target": request.target, "same_term": a == b,
                "source_doc_freq": int(self.counts.doc_freq[a]), "target_doc_freq": int(self.counts.doc_freq[b]),
                # same normalised word: every document containing it "contains both"
                "cooccurrence": int(self.counts.doc_freq[a] if pair is None else self.counts.cooccurrence[pair]),
            }
            if self.window is not None:
                row["window_cooccurrence"] = None if pair is None else int(self.window.counts[pair])
                row["window_approx"] = None if pair is None else bool(self.window.approx[pair])
            rows.append(row)
        return rows


def _identity(plan: CountPlan, engine: str, inputs: list[dict], dataset: Mapping[str, Any], extra: dict) -> dict:
    """What must match for an existing output directory to count as this run, already done."""
    config = asdict(plan.config)
    config.pop("batch_size")  # does not change results
    return {"engine_family": "index" if engine == "infinigram" else "scan", "config": config,
            "dataset": dataset or {}, "pairs": sorted({(r.src, r.tgt) for r in plan.requests}),
            "inputs": inputs, **extra}


def count(plan: CountPlan, out_dir: str | Path, *, engine: str = "local", shards: Sequence[Shard] = (),
          dataset: Mapping[str, Any] | None = None, ray_address: str | None = None, index_dir: str | Path | None = None,
          max_diff_tokens: int = 100, progress: Callable[[int], None] | None = None,
          workers: int = 1) -> CountResult | None:
    """Count with an engine and write ``out_dir``; None when it already holds this run. ``workers``:
    processes of the local engine (0: one per core)."""
    out = Path(out_dir)
    check_engine(engine, "counts")
    if engine == "infinigram-api":
        raise CorpusError("the infinigram-api engine needs an index name and API settings: use "
                          "`pivotlens corpus count --engine infinigram-api --index NAME` "
                          "(pivotlens.corpus.infinigram_api.count_with_api)")
    if engine == "infinigram":
        from pivotlens.corpus.infinigram import InfiniGramIndex, count_index

        if index_dir is None:
            raise CorpusError("the infinigram engine counts from an index: pass --index DIR "
                              "(build it with `pivotlens corpus index`)")
        index = InfiniGramIndex(index_dir)
        identity = _identity(plan, engine, index.info.inputs, dataset,
                             {"index": str(Path(index_dir).resolve()), "max_diff_tokens": max_diff_tokens})
    else:
        identity = _identity(plan, engine, [fingerprint(shard) for shard in shards], dataset, {})
    directory = StageDirectory(out, STAGE).claim(identity, {"engine": engine, "dataset": dataset or {},
                                                            "config": asdict(plan.config)})
    if directory.is_complete():
        return None
    if engine == "infinigram":
        counts, window = count_index(plan, index, max_diff_tokens, progress)
    else:
        counts = (run_ray(plan, shards, ray_address, progress) if engine == "ray"
                  else run_local(plan, shards, progress, workers))
        window = None
    check_not_empty(counts)
    result = CountResult(plan, counts, engine, window)
    write_counts(result, directory)
    return result


def write_counts(result: CountResult, directory: StageDirectory) -> None:
    """The two tables, then the facts of the count into the manifest and the completion marker."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(result.term_rows()), directory.path / "terms.parquet")
    pq.write_table(pa.Table.from_pylist(result.pair_rows()), directory.path / "pairs.parquet")
    counts = result.counts
    facts = {
        "cooccurrence_unit": "document",
        "window": None if result.window is None else {
            "unit": "occurrences within max_diff_tokens (infini-gram count_cnf)",
            "max_diff_tokens": result.window.max_diff_tokens},
        "documents": counts.documents, "characters": counts.characters, "skipped_records": dict(counts.skipped),
        "terms": len(result.plan.terms), "term_pairs": len(result.plan.term_pairs),
        "inputs": counts.inputs,
    }
    directory.complete({"documents": counts.documents}, details=facts)


def read_pair_counts(counts_dir: str | Path) -> dict[tuple[str, str, str, str], int]:
    """(src, tgt, source word, target word) → co-occurrence count, from a count output: documents holding
    both words, or (``--engine infinigram-api``) the API's window co-occurrences."""
    import pyarrow.parquet as pq

    path = Path(counts_dir) / "pairs.parquet"
    if not path.is_file() or not StageDirectory(counts_dir, STAGE).is_complete():
        raise CorpusError(f"{counts_dir} holds no finished counts (pairs.parquet + completion marker complete.json); "
                          "run `pivotlens corpus count` first")
    # document counts; from the infini-gram API, whose AND counts token windows, the window counts
    column = "cooccurrence" if "cooccurrence" in pq.read_schema(path).names else "window_cooccurrence"
    table = pq.read_table(path, columns=["src", "tgt", "source", "target", column]).to_pydict()
    keys = zip(table["src"], table["tgt"], table["source"], table["target"])
    return {key: int(n) for key, n in zip(keys, table[column])}

