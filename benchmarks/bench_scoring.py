"""Prefix-cached batched scorer vs the paper's one-forward-per-prompt method, same process, same items.

    python benchmarks/bench_scoring.py gemma-3-270m [--items 3] [--pairs en-zh,fr-ja] [--draws 2]

Asserts the two agree to 1e-4 on every probability and prints the speed ratio.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from transformers.utils import logging as hf_logging

from pivotlens.clwtd import load_dataset
from pivotlens.languages import parse_pairs
from pivotlens.models import load_model
from pivotlens.reference import naive_probabilities
from pivotlens.scoring import ScoreConfig
from pivotlens.scoring.ability import plan_item, score_items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--dataset", default="sample")
    parser.add_argument("--items", type=int, default=3)
    parser.add_argument("--pairs", default="en-zh,fr-ja")
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    hf_logging.disable_progress_bar()

    loaded = load_model(args.model, device=args.device)
    dataset = load_dataset(args.dataset)
    config = ScoreConfig(model=args.model, dataset_sha256=dataset.sha256, pairs=tuple(parse_pairs(args.pairs)),
                         draws=args.draws, batch_size=args.batch_size)
    items = [plan_item(loaded.tokenizer, dataset, i, s, t, config)
             for s, t in config.pairs for i in range(args.items)]
    requests = [r for item in items for r in item.requests]
    n_params = sum(p.numel() for p in loaded.model.parameters())
    print(f"model {args.model}: {type(loaded.model).__name__}, {n_params / 1e6:.0f}M parameters, "
          f"{loaded.device}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print(f"{len(requests)} requests × {len(requests[0].sequences)} prompts "
          f"(mean {np.mean([len(r.sequences[0]) for r in requests]):.0f} tokens)")

    score_items(loaded, items[:1], args.batch_size)  # warm-up, not timed
    for item in items:
        item.probabilities.clear()

    start = time.perf_counter()
    naive = [naive_probabilities(loaded, request) for request in requests]
    naive_seconds = time.perf_counter() - start

    start = time.perf_counter()
    score_items(loaded, items, args.batch_size)
    cached_seconds = time.perf_counter() - start
    cached = [p for item in items for p in item.probabilities]

    difference = max(float(np.abs(a - b).max()) for a, b in zip(naive, cached))
    assert difference < 1e-4, f"scorers disagree by {difference}"
    print(f"paper's method (full forward per prompt): {naive_seconds:8.2f} s")
    print(f"prefix-cached batched scorer:             {cached_seconds:8.2f} s")
    print(f"max |ΔP| = {difference:.2e}; speed-up ×{naive_seconds / cached_seconds:.1f}")


if __name__ == "__main__":
    main()
