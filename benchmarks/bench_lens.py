"""Position-sliced logit lens vs projecting every position, same prompts, same process.

    python benchmarks/bench_lens.py gemma-3-270m [--items 8] [--pair en-zh]

Both read the per-layer distributions at each prompt's first target-predicting position; the
unsliced lens unembeds every layer × position first (what a naive implementation does, e.g. with
output_hidden_states) and selects afterwards. Asserts identical results and prints the ratio.
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers.utils import logging as hf_logging

from pivotlens.clwtd import load_dataset
from pivotlens.languages import parse_pairs
from pivotlens.lens import dataset_prompt, lens_probabilities
from pivotlens.lens.core import lens_probabilities_all_positions
from pivotlens.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--dataset", default="sample")
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--pair", default="en-zh")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    hf_logging.disable_progress_bar()
    loaded = load_model(args.model, device=args.device)
    dataset = load_dataset(args.dataset)
    (src, tgt), = parse_pairs(args.pair)
    prompts = [dataset_prompt(loaded.tokenizer, dataset, i, src, tgt, seed=0) for i in range(args.items)]
    lens_probabilities(loaded, [prompts[0].token_ids], [[prompts[0].first_predicting_position]])  # warm-up

    start = time.perf_counter()
    unsliced = [lens_probabilities_all_positions(loaded, [p.token_ids])[:, 0, p.first_predicting_position] for p in prompts]
    unsliced_seconds = time.perf_counter() - start

    start = time.perf_counter()
    sliced = [lens_probabilities(loaded, [p.token_ids], [[p.first_predicting_position]])[:, 0] for p in prompts]
    sliced_seconds = time.perf_counter() - start

    difference = max(float((a - b).abs().max()) for a, b in zip(sliced, unsliced))
    assert difference < 1e-5, f"lens variants disagree by {difference}"
    n_layers, n_vocab = sliced[0].shape
    tokens = sum(len(p.token_ids) for p in prompts)
    print(f"model {args.model}: {n_layers} layers, vocab {n_vocab}, {len(prompts)} prompts, {tokens} tokens, "
          f"{loaded.device}, {torch.get_num_threads()} threads")
    print(f"every position projected, then selected: {unsliced_seconds:7.2f} s")
    print(f"only the requested positions projected:  {sliced_seconds:7.2f} s")
    print(f"max |Δp| = {difference:.1e}; speed-up ×{unsliced_seconds / sliced_seconds:.1f}")


if __name__ == "__main__":
    main()
