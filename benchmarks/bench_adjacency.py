"""Document-level token co-occurrence: the sparse streaming build (pivotlens.selection) vs a dict of dicts.

    python benchmarks/bench_adjacency.py [--model gemma-3-270m] [--docs 0] [--max-pairs 20000000]

Both build C[a, b] (a < b) = documents containing tokens a and b from the same documents of the
bundled corpus, tokenised once beforehand with the model tokenizer (tokenising is not timed). The
sparse build is ``count_cooccurrence``: batches of documents → binary incidence matrix X →
triu(Xᵀ X), partial CSR matrices summed; the baseline adds 1 to ``counts[a][b]`` for every pair of
distinct tokens of every document, in pure Python. The two matrices are asserted equal.

Time is CPU time (``time.process_time``: steadier on a shared machine), from the token sets to the
finished matrix. Peak memory is measured in a separate run of each under ``tracemalloc`` (numpy and
scipy buffers are traced too): the extra memory of the build, the token sets excluded.
"""

from __future__ import annotations

import argparse
import platform
import time
import tracemalloc
from collections.abc import Callable, Sequence

import numpy as np
from scipy import sparse

from pivotlens.corpus import read_corpus
from pivotlens.selection import DocumentTokenizer, count_cooccurrence


def dict_of_dicts(token_sets: Sequence[list[int]], size: int) -> sparse.csr_matrix:
    counts: dict[int, dict[int, int]] = {}
    for tokens in token_sets:
        for i, a in enumerate(tokens):
            row = counts.setdefault(a, {})
            for b in tokens[i + 1:]:
                row[b] = row.get(b, 0) + 1
    rows = [a for a, row in counts.items() for _ in row]
    cols = [b for row in counts.values() for b in row]
    data = [n for row in counts.values() for n in row.values()]
    return sparse.csr_matrix((np.array(data, np.int32), (rows, cols)), shape=(size, size))


def measure(build: Callable[[], sparse.csr_matrix]) -> tuple[sparse.csr_matrix, float, float]:
    """The result, its CPU seconds, and its peak traced memory in MiB. The traced run goes first and
    warms up the allocator for the timed run, the same for both methods."""
    tracemalloc.start()
    result = build()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    del result
    start = time.process_time()
    result = build()
    return result, time.process_time() - start, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma-3-270m", help="whose tokenizer defines the tokens")
    parser.add_argument("--docs", type=int, default=0, help="use a seeded sample of N documents (0: all)")
    parser.add_argument("--max-pairs", type=int, default=20_000_000, help="partial-matrix bound of the sparse build")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")

    documents = list(read_corpus("bundled"))
    if args.docs:
        chosen = np.sort(np.random.default_rng(0).choice(len(documents), args.docs, replace=False))
        documents = [documents[i] for i in chosen]
    tokenizer = DocumentTokenizer.from_model(args.model)
    arrays = [np.unique(np.asarray(e.ids, np.int64)) for e in tokenizer.encode([d.text for d in documents])]
    lists = [a.tolist() for a in arrays]
    size = tokenizer.vocab_size
    pairs = sum(len(a) * (len(a) - 1) // 2 for a in arrays)
    print(f"{len(documents):,} documents of the bundled corpus, {args.model} tokenizer (vocabulary {size:,}): "
          f"{sum(map(len, arrays)):,} (document, token) incidences, {pairs:,} token pairs to count")

    fast, fast_s, fast_mib = measure(lambda: count_cooccurrence(arrays, size, args.max_pairs).upper)
    slow, slow_s, slow_mib = measure(lambda: dict_of_dicts(lists, size))
    assert fast.shape == slow.shape and (fast != slow).nnz == 0, "the two matrices differ"
    print(f"identical matrices: {fast.nnz:,} co-occurring pairs, {int(fast.sum()):,} pair-documents")
    print(f"  sparse streaming  {fast_s:7.2f} s CPU   peak {fast_mib:8.1f} MiB")
    print(f"  dict of dicts     {slow_s:7.2f} s CPU   peak {slow_mib:8.1f} MiB")
    print(f"  speed-up ×{slow_s / fast_s:.1f}, memory ÷{slow_mib / fast_mib:.1f}")


if __name__ == "__main__":
    main()
