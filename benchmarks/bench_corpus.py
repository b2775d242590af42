"""One-pass document counting (Aho–Corasick, pivotlens.corpus) vs one regular expression per word.

    python benchmarks/bench_corpus.py [--words 1000] [--ratio-docs 3000] [--scales 1,4]

1. Ratio: document frequencies of N words (the CLWTD sample's words, topped up with the corpus's
   most frequent words and CJK bigrams) on --ratio-docs documents spread over the
   bundled corpus, by the one-pass counter and by a per-word regex scan; asserts identical counts.
2. Scaling: the local engine end to end (read .jsonl.zst, normalise, count 12 pairs × sample words)
   on the bundled corpus repeated ×1 and ×4 (new ids), in MB of UTF-8 text per second.
Times are CPU seconds of this process (one core), so other load on the machine does not skew them.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

import zstandard

from pivotlens.clwtd import load_dataset
from pivotlens.corpus import CountConfig, count_batch, make_plan, plan_counts, read_corpus, resolve_corpus, run_local
from pivotlens.corpus.matching import rule_for, word_pattern
from pivotlens.languages import ALL_PAIRS
from pivotlens.text import normalize


def benchmark_words(documents, n_words: int) -> list[tuple[str, str]]:
    """n_words distinct (lang, word): the sample's words, then the corpus's most frequent words and CJK bigrams."""
    chosen: dict[tuple[str, str], tuple[str, str]] = {}  # (rule, normalised) → (lang, word)

    def add(lang: str, word: str) -> None:
        if len(chosen) < n_words:
            chosen.setdefault((rule_for(lang), normalize(word)), (lang, word))

    for entry in load_dataset("sample").entries:
        for lang, word in entry.word.items():
            add(lang, word)
    latin, cjk = Counter(), Counter()
    for document in documents:
        text = normalize(document.text)
        latin.update(w for w in re.findall(r"[^\W\d_]{3,}", text) if w.isascii())
        cjk.update(a + b for a, b in zip(text, text[1:]) if "\u4e00" <= a <= "\u9fff" and "\u4e00" <= b <= "\u9fff")
    for _, lang, word in sorted([(-n, "en", w) for w, n in latin.items()] + [(-n, "zh", w) for w, n in cjk.items()]):
        add(lang, word)
    return list(chosen.values())


def ratio(documents, words) -> None:
    plan = make_plan([], CountConfig(reservoir=0), extra_words=words)
    size_mb = sum(len(d.text.encode()) for d in documents) / 1e6

    start = time.process_time()
    one_pass = count_batch(plan, documents).doc_freq.tolist()
    fast = time.process_time() - start

    start = time.process_time()
    patterns = [word_pattern(term.text, term.rule) for term in plan.terms]
    per_word = [0] * len(patterns)
    for document in documents:
        text = normalize(document.text)
        for i, pattern in enumerate(patterns):
            if pattern.search(text):
                per_word[i] += 1
    slow = time.process_time() - start

    assert one_pass == per_word, "one-pass and per-word counts differ"
    print(f"ratio: {len(plan.terms)} words, {len(documents)} documents ({size_mb:.1f} MB); identical counts "
          f"(sum of document frequencies {sum(one_pass):,})")
    print(f"  one pass {fast:.2f} s ({size_mb / fast:.1f} MB/s) | per-word regex {slow:.1f} s "
          f"({size_mb / slow:.2f} MB/s) | speed-up ×{slow / fast:.0f}")


def scaling(documents, scales: list[int]) -> None:
    plan = plan_counts(load_dataset("sample"), ALL_PAIRS, CountConfig(reservoir=100))
    with tempfile.TemporaryDirectory() as folder:
        for scale in scales:
            path = Path(folder) / f"x{scale}.jsonl.zst"
            lines = "".join(json.dumps({"id": f"{copy}/{d.id}", "text": d.text}, ensure_ascii=False) + "\n"
                            for copy in range(scale) for d in documents)
            path.write_bytes(zstandard.ZstdCompressor(level=3).compress(lines.encode()))
            size_mb = sum(len(d.text.encode()) for d in documents) * scale / 1e6
            start, start_cpu = time.perf_counter(), time.process_time()
            counts = run_local(plan, resolve_corpus(str(path)))
            wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            print(f"scaling ×{scale}: {counts.documents:,} documents, {size_mb:.1f} MB of text, {len(plan.terms)} words / "
                  f"{len(plan.term_pairs)} pairs: {cpu:.2f} s CPU = {size_mb / cpu:.1f} MB/s ({size_mb / wall:.1f} MB/s wall)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=1000)
    parser.add_argument("--ratio-docs", type=int, default=3000)
    parser.add_argument("--scales", default="1,4")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    documents = list(read_corpus("bundled"))
    spread = documents[:: max(1, len(documents) // args.ratio_docs)][: args.ratio_docs]  # every language
    ratio(spread, benchmark_words(documents, args.words))
    scaling(documents, [int(s) for s in args.scales.split(",")])


if __name__ == "__main__":
    main()
