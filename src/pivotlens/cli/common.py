"""Options and helpers shared by several commands."""

from __future__ import annotations

import argparse

DATASET_HELP = ("CLWTD JSONL file, bundled name (clwtd, clwtd-multi, clwtd-v1, sample), `clwtd export --format hf` "
                "directory or its hub id")
PAIRS_HELP = ("e.g. en-fr,zh-ja; en-* = every pair out of English, *-en into it (default all: every ordered "
              "pair of the dataset's languages)")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="packaged short name (gemma-3-270m), local model directory, or hub id")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                        help="auto = bfloat16 on GPU, float32 on CPU")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])



def load_model_from_args(args: argparse.Namespace):
    from transformers.utils import logging as hf_logging

    from pivotlens.models import load_model

    hf_logging.disable_progress_bar()
    return load_model(args.model, dtype=args.dtype, device=args.device)


def seed(text: str) -> int:
    """``--seed``: numpy's seed sequences and the Trainer take only non-negative integers."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give a seed ≥ 0")
    return value
