"""Document co-occurrence counting of the full CLWTD: pivotlens against DuckDB and Polars, two corpus sizes.

    pip install -e .[bench]
    python benchmarks/bench_corpus.py [--dataset clwtd] [--scales 1,4] [--workers 0] [--repeats 3]

The corpus is the bundled one repeated ×scale (new ids), as .jsonl.zst. Every tool answers the same
question, the document frequency of each of the plan's words and the co-occurrence count of each
word pair, and the counts are asserted identical:

* pivotlens: ``run_local`` end to end (read, NFKC + case-fold, match, count, bottom-100 samples),
  with one worker (the per-core rate) and with ``--workers`` (0: one per core), and with one worker
  and no samples (``--reservoir 0``: only the counts the other tools compute);
* DuckDB: one SQL query that splits each document into word runs (``regexp_extract_all``) and
  substrings of the CJK words' lengths, and equi-joins them with the word table;
* Polars: the same split for words (``str.extract_all``), Aho–Corasick (``str.extract_many``) for
  the CJK words, then joins.

DuckDB and Polars get the text already normalised (they have no NFKC + case-fold) and compute no
samples, so their times leave out work that pivotlens' times include; each uses as many threads as
pivotlens has workers (printed). pivotlens' one-time set-up in a process (building the matcher,
loading numba's compiled code) is timed apart. Each measurement is repeated ``--repeats`` times,
interleaved, and the fastest is kept, because other jobs on a shared machine slow runs at random;
times are wall-clock seconds and CPU seconds of the process and its workers, and the ratios
compare runs of the same round of measurements.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import resource
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import zstandard

from pivotlens.clwtd import load_dataset
from pivotlens.corpus import (
    CountConfig,
    CountPlan,
    bundled_corpus_path,
    count_batch,
    plan_counts,
    read_corpus,
    resolve_corpus,
    run_local,
)
from pivotlens.corpus.counting import local_workers
from pivotlens.corpus.matching import CJK_RANGES, SUBSTRING, WORD
from pivotlens.languages import ALL_PAIRS
from pivotlens.text import normalize

UNSAMPLED = "pivotlens, 1 worker, no samples"  # the question the other tools answer: counts only
Counts = tuple[np.ndarray, np.ndarray]  # document frequency per term, co-occurrence per term pair
WORD_RUN_RE2 = r"[\pL\pN_]+"  # Python's \w as Unicode classes, for RE2 (DuckDB) and Rust regex (Polars)


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its finished child processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(run: Callable[[], Counts]) -> tuple[Counts, float, float]:
    start_wall, start_cpu = time.perf_counter(), cpu_seconds()
    counts = run()
    return counts, time.perf_counter() - start_wall, cpu_seconds() - start_cpu


def write_corpus(documents, scale: int, path: Path, normalised: bool) -> None:
    with open(path, "wb") as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as out:
        for copy in range(scale):
            for document in documents:
                text = normalize(document.text) if normalised else document.text
                out.write((json.dumps({"id": f"{copy}/{document.id}", "text": text}, ensure_ascii=False) + "\n").encode())


def term_table(plan: CountPlan) -> tuple[list[str], list[str], list[int], list[int]]:
    return ([t.text for t in plan.terms], [t.rule for t in plan.terms],
            [a for a, _ in plan.term_pairs], [b for _, b in plan.term_pairs])


def cjk_runs_pattern(plan: CountPlan) -> str:
    """A run of the characters that CJK words are made of: every substring match lies inside one."""
    characters = sorted({c for t in plan.terms if t.rule == SUBSTRING for c in t.text})
    return "[" + "".join(re.escape(c) for c in characters) + "]+"


def gram_lengths(plan: CountPlan) -> list[int]:
    return sorted({len(t.text) for t in plan.terms if t.rule == SUBSTRING})


def pivotlens_counts(plan: CountPlan, path: Path, workers: int) -> Counts:
    counts = run_local(plan, resolve_corpus(str(path)), workers=workers)
    return counts.doc_freq, counts.cooccurrence


def as_arrays(plan: CountPlan, doc_freq: dict[int, int], pairs: dict[int, int]) -> Counts:
    frequencies = np.zeros(len(plan.terms), np.int64)
    cooccurrence = np.zeros(len(plan.term_pairs), np.int64)
    frequencies[list(doc_freq)] = list(doc_freq.values())
    cooccurrence[list(pairs)] = list(pairs.values())
    return frequencies, cooccurrence


def duckdb_counts(plan: CountPlan, path: Path, threads: int) -> Counts:
    import duckdb
    import pyarrow as pa

    texts, rules, firsts, seconds = term_table(plan)
    connection = duckdb.connect(config={"threads": threads})
    connection.register("terms", pa.table({"term_id": range(len(texts)), "term": texts, "rule": rules}))
    connection.register("pairs", pa.table({"pair_id": range(len(firsts)), "a": firsts, "b": seconds}))
    connection.register("lengths", pa.table({"n": gram_lengths(plan)}))
    connection.execute(f"""
        CREATE TEMP TABLE hits AS
        WITH docs AS (
            SELECT row_number() OVER () AS doc, text
            FROM read_json('{path}', format = 'newline_delimited', columns = {{id: 'VARCHAR', text: 'VARCHAR'}})),
        words AS (
            SELECT DISTINCT doc, unnest(regexp_extract_all(regexp_replace(text, '[{CJK_RANGES}]', ' ', 'g'),
                                                           '{WORD_RUN_RE2}')) AS token
            FROM docs),
        runs AS (SELECT doc, unnest(regexp_extract_all(text, '{cjk_runs_pattern(plan).replace("'", "''")}')) AS run FROM docs),
        starts AS (SELECT doc, run, n, unnest(range(1, length(run) - n + 2)) AS i FROM runs, lengths),
        grams AS (SELECT DISTINCT doc, substr(run, i, n) AS gram FROM starts)
        SELECT doc, term_id FROM words JOIN terms ON token = term AND rule = '{WORD}'
        UNION ALL
        SELECT doc, term_id FROM grams JOIN terms ON gram = term AND rule = '{SUBSTRING}'
    """)
    doc_freq = dict(connection.execute("SELECT term_id, count(*) FROM hits GROUP BY term_id").fetchall())
    pairs = dict(connection.execute("""
        SELECT pair_id, count(*) FROM pairs
        JOIN hits AS x ON x.term_id = pairs.a JOIN hits AS y ON y.doc = x.doc AND y.term_id = pairs.b
        GROUP BY pair_id""").fetchall())
    return as_arrays(plan, doc_freq, pairs)


def polars_counts(plan: CountPlan, path: Path) -> Counts:  # threads: POLARS_MAX_THREADS, set in main()
    import polars as pl

    texts, rules, firsts, seconds = term_table(plan)
    terms = pl.DataFrame({"term_id": range(len(texts)), "term": texts, "rule": rules})
    cjk_terms = [t for t, rule in zip(texts, rules) if rule == SUBSTRING]
    with open(path, "rb") as raw:
        docs = pl.read_ndjson(io.BytesIO(zstandard.ZstdDecompressor().stream_reader(raw).read()),
                              schema={"id": pl.String, "text": pl.String}).with_row_index("doc")
    words = (docs.select("doc", pl.col("text").str.replace_all(f"[{CJK_RANGES}]", " ")
                         .str.extract_all(WORD_RUN_RE2).alias("token"))
             .explode("token").unique()
             .join(terms.filter(pl.col("rule") == WORD), left_on="token", right_on="term"))
    grams = (docs.select("doc", pl.col("text").str.extract_many(cjk_terms, overlapping=True).alias("token"))
             .explode("token").unique()
             .join(terms.filter(pl.col("rule") == SUBSTRING), left_on="token", right_on="term"))
    hits = pl.concat([words.select("doc", "term_id"), grams.select("doc", "term_id")])
    doc_freq = hits.group_by("term_id").len()
    pairs = (pl.DataFrame({"pair_id": range(len(firsts)), "a": firsts, "b": seconds})
             .join(hits, left_on="a", right_on="term_id")
             .join(hits, left_on=["doc", "b"], right_on=["doc", "term_id"])
             .group_by("pair_id").len())
    return as_arrays(plan, dict(doc_freq.iter_rows()), dict(pairs.iter_rows()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="clwtd")
    parser.add_argument("--scales", default="1,4")
    parser.add_argument("--workers", type=int, default=0, help="pivotlens processes (0: one per core)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement; the fastest is kept")
    args = parser.parse_args()
    workers = local_workers(args.workers)
    os.environ["POLARS_MAX_THREADS"] = str(workers)  # read when polars is first imported
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    plan = plan_counts(load_dataset(args.dataset), ALL_PAIRS, CountConfig(reservoir=100))
    unsampled = plan_counts(load_dataset(args.dataset), ALL_PAIRS, CountConfig(reservoir=0))
    print(f"{args.dataset}: {len(plan.terms):,} words, {len(plan.term_pairs):,} word pairs, {len(plan.requests):,} requests")
    documents = list(read_corpus("bundled"))
    megabytes = sum(len(d.text.encode()) for d in documents) / 1e6
    _, setup, setup_cpu = timed(lambda: count_batch(plan, []))
    count_batch(unsampled, [])
    pivotlens_counts(plan, bundled_corpus_path(), 1)  # warm-up: the characters' images are learnt once per process
    print(f"pivotlens set-up, once per process (building the matcher, loading numba's cached compiled code): "
          f"{setup:.2f} s wall, {setup_cpu:.2f} s CPU; not in the times below")
    print(f"threads: DuckDB {workers}, Polars {workers}, pivotlens {workers} worker processes")
    pivotlens_all = f"pivotlens, {workers} workers"
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for scale in map(int, args.scales.split(",")):
            raw, normalised = Path(folder) / f"x{scale}.jsonl.zst", Path(folder) / f"x{scale}-normalised.jsonl.zst"
            write_corpus(documents, scale, raw, normalised=False)
            write_corpus(documents, scale, normalised, normalised=True)
            size = megabytes * scale
            runs = {
                "pivotlens, 1 worker": partial(pivotlens_counts, plan, raw, 1),
                pivotlens_all: partial(pivotlens_counts, plan, raw, workers),
                UNSAMPLED: partial(pivotlens_counts, unsampled, raw, 1),
                "DuckDB word-split join": partial(duckdb_counts, plan, normalised, workers),
                "Polars split/extract_many join": partial(polars_counts, plan, normalised),
            }
            loads = []
            results: dict[str, tuple[Counts, float, float]] = {}
            for _ in range(args.repeats):
                for name, run in runs.items():
                    counts, wall, cpu = timed(run)
                    best = results.get(name)
                    results[name] = (counts, min(wall, best[1]) if best else wall, min(cpu, best[2]) if best else cpu)
                    loads.append(os.getloadavg()[0])
            reference = results["pivotlens, 1 worker"][0]
            for name, (counts, wall, cpu) in results.items():
                assert all(np.array_equal(a, b) for a, b in zip(counts, reference)), f"{name}: counts differ"
                rows.append((scale, size, name, wall, cpu))
            print(f"\n×{scale}: {len(documents) * scale:,} documents, {size:.1f} MB of text; identical counts "
                  f"(document frequencies sum {int(reference[0].sum()):,}, co-occurrences {int(reference[1].sum()):,}); "
                  f"best of {args.repeats}; load average {min(loads):.1f}–{max(loads):.1f}")
            for name, (_, wall, cpu) in results.items():
                print(f"  {name:32s} {wall:7.2f} s wall {cpu:7.2f} s CPU  {size / wall:6.1f} MB/s  "
                      f"{size / cpu:6.1f} MB/s per CPU-second")
            print("  time of each other tool / pivotlens' (wall; CPU):")
            for name in (name for name in results if not name.startswith("pivotlens")):
                for mine in dict.fromkeys(("pivotlens, 1 worker", pivotlens_all, UNSAMPLED)):
                    print(f"    {name:32s} ×{results[name][1] / results[mine][1]:5.2f}; "
                          f"×{results[name][2] / results[mine][2]:5.2f} of {mine}")
    print(f"\nscaling: time at ×{rows[-1][0]} / time at ×{rows[0][0]} (linear: ×{rows[-1][0] / rows[0][0]:g})")
    for name in dict.fromkeys(row[2] for row in rows):
        mine = [row for row in rows if row[2] == name]
        print(f"  {name:32s} ×{mine[-1][3] / mine[0][3]:.2f} wall, ×{mine[-1][4] / mine[0][4]:.2f} CPU")


if __name__ == "__main__":
    main()
