"""`pivotlens <command>`: a thin layer over the library. User errors print one line, exit 2."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from pivotlens.errors import PivotlensError

DEMO_MODEL = "gemma-3-270m"
STAGE_CLIS: tuple[str, ...] = ("pivotlens.lens.cli",)


def add_model_options(parser: argparse.ArgumentParser, default_model: str | None = None) -> None:
    parser.add_argument("--model", required=default_model is None, default=default_model,
                        help="packaged short name (gemma-3-270m), local model directory, or hub id")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                        help="auto = bfloat16 on GPU, float32 on CPU")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def _add_score_options(parser: argparse.ArgumentParser, *, demo: bool) -> None:
    parser.add_argument("--dataset", default="sample", help="CLWTD JSONL path or bundled name (sample)")
    parser.add_argument("--pairs", default="all", help="e.g. en-fr,zh-ja (default: all 12)")
    parser.add_argument("--draws", type=int, default=5, help="independent shot draws per item")
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=8 if demo else None, help="score only the first N items")
    parser.add_argument("--batch-size", type=int, default=8, help="(item, draw) requests per forward pass")
    parser.add_argument("--out", type=Path, required=not demo, default=Path("pivotlens-demo") if demo else None)


def load_model_from_args(args: argparse.Namespace):
    from transformers.utils import logging as hf_logging

    from pivotlens.models import load_model

    hf_logging.disable_progress_bar()
    return load_model(args.model, dtype=args.dtype, device=args.device)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pivotlens", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    score = commands.add_parser("score", help="cross-lingual ability score of a model over a CLWTD dataset")
    add_model_options(score)
    _add_score_options(score, demo=False)

    demo = commands.add_parser("demo", help=f"score the bundled sample with the packaged {DEMO_MODEL}")
    add_model_options(demo, default_model=DEMO_MODEL)
    _add_score_options(demo, demo=True)

    validate = commands.add_parser("validate", help="check a CLWTD JSONL file; line-numbered errors")
    validate.add_argument("dataset")

    tiny = commands.add_parser("tiny", help="build a tiny random model + local tokenizer (for trials)")
    tiny.add_argument("--arch", default="llama")
    tiny.add_argument("--out", type=Path, required=True)
    tiny.add_argument("--seed", type=int, default=0)

    # Stage command groups (`pivotlens lens …`) live beside their stage: each module's
    # register(commands) adds a sub-parser whose commands set `handler`.
    for module_name in STAGE_CLIS:
        importlib.import_module(module_name).register(commands)
    return parser


def run_score(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from pivotlens.clwtd import load_dataset
    from pivotlens.languages import parse_pairs
    from pivotlens.scoring import ScoreConfig, score_dataset

    dataset = load_dataset(args.dataset)
    pairs = tuple(parse_pairs(args.pairs))
    config = ScoreConfig(model=args.model, dataset_sha256=dataset.sha256, pairs=pairs, draws=args.draws,
                         shots=args.shots, seed=args.seed, limit=args.limit, dtype=args.dtype,
                         batch_size=args.batch_size)
    loaded = load_model_from_args(args)
    n_items = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    with tqdm(total=n_items * len(pairs), unit="item", desc="scoring") as bar:
        summary = score_dataset(loaded, dataset, config, args.out, progress=bar.update)
    print(f"mean cross-lingual ability over {len(pairs)} pair(s): {summary['mean']:.4f}")
    for row in summary["pairs"]:
        print(f"  {row['pair']}: {row['mean_score']:+.4f}  (n={row['n_items']})")
    print(f"wrote {args.out}/matrix.json, matrix.csv, pairs.csv, heatmap.png, items/")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if hasattr(args, "handler"):
            args.handler(args)
        elif args.command in ("score", "demo"):
            run_score(args)
        elif args.command == "validate":
            from pivotlens.clwtd import load_dataset

            dataset = load_dataset(args.dataset)
            print(f"{dataset.source}: {len(dataset)} valid entries")
        elif args.command == "tiny":
            from pivotlens.models.tiny import build_tiny_model

            print(build_tiny_model(args.arch, args.out, seed=args.seed))
    except PivotlensError as error:
        print(f"pivotlens: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pivotlens: interrupted; finished items are saved, rerun the same command to resume",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
