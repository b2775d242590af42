"""`pivotlens score` vs the lm-evaluation-harness task `clwtd_{src}_{tgt}`, same process, same items.

    python benchmarks/bench_lm_eval.py gemma-3-270m [--dataset clwtd] [--pairs en-fr,zh-ja] [--items 4]

Needs the `lm-eval` extra. Both load the model first (not timed); each then scores the first
--items items of every pair with 5 draws of 5 shots (10 prompts per draw). Prints both times and the
largest per-item difference of the score and of P(source), and asserts they agree to 1e-5.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from lm_eval import simple_evaluate
from lm_eval.models.huggingface import HFLM
from lm_eval.tasks import TaskManager
from transformers.utils import logging as hf_logging

from pivotlens.clwtd import load_dataset
from pivotlens.languages import pair_key, parse_pairs
from pivotlens.lmeval import task_name, tasks_dir
from pivotlens.models import load_model
from pivotlens.models.loading import resolve_model_source
from pivotlens.records import ITEM_SCORES_DIR, read_item_scores
from pivotlens.scoring import ScoreConfig, score_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="packaged name or local model directory")
    parser.add_argument("--dataset", default="clwtd")
    parser.add_argument("--pairs", default="en-fr,zh-ja")
    parser.add_argument("--items", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8, help="pivotlens: (item, draw) requests per forward")
    parser.add_argument("--lm-eval-batch-size", type=int, default=16, help="lm-eval: prompts per forward")
    args = parser.parse_args()
    hf_logging.disable_progress_bar()

    model_dir = str(resolve_model_source(args.model))
    dataset = load_dataset(args.dataset)
    pairs = tuple(parse_pairs(args.pairs))
    config = ScoreConfig(model=model_dir, dataset_sha256=dataset.sha256, pairs=pairs, limit=args.items,
                         batch_size=args.batch_size)
    n_prompts = len(pairs) * args.items * config.draws * 10
    print(f"model {args.model}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}; "
          f"{len(pairs)} pair(s) × {args.items} items × {config.draws} draws × 10 prompts = {n_prompts} prompts")

    loaded = load_model(model_dir, dtype="float32", device="cpu")
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        score_dataset(loaded, dataset, config, out)
        pivotlens_seconds = time.perf_counter() - start
        ours = {(r.item.src, r.item.tgt, r.item.id): r for src, tgt in pairs
                for r in read_item_scores(Path(out) / ITEM_SCORES_DIR / f"{pair_key(src, tgt)}.jsonl")}
    del loaded

    lm = HFLM(pretrained=model_dir, dtype="float32", device="cpu", batch_size=args.lm_eval_batch_size)
    manager = TaskManager(include_path=str(tasks_dir()), include_defaults=False,
                          metadata={"tokenizer": model_dir, "dataset": args.dataset})
    start = time.perf_counter()
    results = simple_evaluate(model=lm, tasks=[task_name(s, t) for s, t in pairs], limit=args.items,
                              task_manager=manager, log_samples=True)
    lm_eval_seconds = time.perf_counter() - start

    score_gap, p_gap = [], []
    for src, tgt in pairs:
        for sample in results["samples"][task_name(src, tgt)]:
            record = ours[(src, tgt, sample["doc"]["id"])]
            score_gap.append(abs(sample["score"] - record.score))
            p_gap.append(abs(sample["p_source"] - np.mean([draw.p_source for draw in record.draws])))
    print(f"pivotlens score: {pivotlens_seconds:.1f} s; lm-eval task: {lm_eval_seconds:.1f} s "
          f"(×{lm_eval_seconds / pivotlens_seconds:.1f}); {len(score_gap)} items")
    print(f"largest difference per item: score {max(score_gap):.2e}, P(source) {max(p_gap):.2e}")
    assert max(score_gap) < 1e-5, "the lm-eval task and pivotlens score disagree"


if __name__ == "__main__":
    main()
