"""`pivotlens score|run|demo|validate|tiny|lm-eval-tasks`: the top-level commands."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from pivotlens.cli.common import DATASET_HELP, PAIRS_HELP, add_model_options, load_model_from_args, seed
from pivotlens.errors import PivotlensError
from pivotlens.options import add_option_flags, load_yaml, options_from_args
from pivotlens.scoring.options import ScoreOptions


def _add_score_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="clwtd", help=f"{DATASET_HELP} (default clwtd)")
    parser.add_argument("--pairs", default="all", help=PAIRS_HELP)
    parser.add_argument("--seed", type=seed, default=0)
    add_option_flags(parser, ScoreOptions)
    parser.add_argument("--out", type=Path, required=True)


def _add_run_options(parser: argparse.ArgumentParser, default_run_dir: Path | None) -> None:
    parser.add_argument("--run-dir", type=Path, default=default_run_dir,
                        help="where every stage writes (default: run_dir of the config)")
    parser.add_argument("--model", help="override the config's model (short name, directory or hub id)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override an option, e.g. score.limit=20 or corpus=data/*.jsonl.zst (YAML values)")
    parser.add_argument("--from", dest="from_stage", metavar="STAGE",
                        help="rerun this stage and the stages that read its results")
    parser.add_argument("--only", metavar="STAGE", help="run just this stage (its inputs must be done)")
    parser.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"])
    parser.add_argument("--decoder", help="how the lens stages read layers: logit or tuned:DIR (sets the decoder "
                                          "option of every stage that has one)")


def _overrides(args: argparse.Namespace) -> dict:

    overrides: dict = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PivotlensError(f"--set {item!r}: write KEY=VALUE, e.g. score.limit=20")
        *sections, leaf = key.split(".")
        target = overrides
        for section in sections:
            target = target.setdefault(section, {})
        target[leaf] = load_yaml(value, f"--set {item}")
    if args.model:
        overrides["model"] = args.model
    if args.device:
        overrides["device"] = args.device
    if args.decoder:
        from pivotlens.pipeline.definitions import STAGES

        for stage in STAGES:
            if "decoder" in {field.name for field in fields(stage.options)}:
                overrides.setdefault(stage.name, {})["decoder"] = args.decoder
    return overrides


def run_run(args: argparse.Namespace) -> None:
    from pivotlens.pipeline import load_config, run_pipeline
    from pivotlens.report.run_report import write_report

    config = load_config(getattr(args, "config", None), _overrides(args))
    run_dir = args.run_dir or config.get("run_dir")
    if run_dir is None:
        raise PivotlensError("no run directory: give --run-dir or set run_dir in the config")
    outcome = run_pipeline(config, run_dir, from_stage=args.from_stage, only=args.only)
    markdown_path, html_path = write_report(run_dir)
    if outcome.skipped:
        print(f"unchanged, skipped: {', '.join(outcome.skipped)}")
    print(f"report: {html_path} (and {markdown_path.name})")


def register(commands: argparse._SubParsersAction) -> None:
    score = commands.add_parser("score", help="cross-lingual ability score of a model over a CLWTD dataset")
    add_model_options(score)
    _add_score_options(score)
    score.set_defaults(handler=run_score)

    run = commands.add_parser("run", help="the whole study from a YAML config, with a report")
    run.add_argument("config", type=Path)
    _add_run_options(run, None)
    run.set_defaults(handler=run_run)

    demo = commands.add_parser("demo", help="the whole study on the embedded default (bundled data, Gemma-3-270M), with a report")
    _add_run_options(demo, Path("pivotlens-demo"))
    demo.set_defaults(handler=run_run)

    validate = commands.add_parser("validate", help="check a CLWTD JSONL file; line-numbered errors")
    validate.add_argument("dataset")
    validate.set_defaults(handler=run_validate)

    tiny = commands.add_parser("tiny", help="build a tiny random model + local tokenizer (for trials)")
    tiny.add_argument("--arch", default="llama")
    tiny.add_argument("--out", type=Path, required=True)
    tiny.add_argument("--seed", type=seed, default=0)
    tiny.set_defaults(handler=run_tiny)

    tasks = commands.add_parser("lm-eval-tasks", help="print the folder of the CLWTD lm-evaluation-harness tasks, "
                                                      "for lm_eval --include_path")
    tasks.set_defaults(handler=run_lm_eval_tasks)


def run_score(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from pivotlens.clwtd import load_dataset
    from pivotlens.languages import parse_pairs
    from pivotlens.plots.figures import draw_ability_heatmap
    from pivotlens.scoring import score_config, score_dataset

    dataset = load_dataset(args.dataset)
    pairs = tuple(parse_pairs(args.pairs, dataset.languages))
    config = score_config(options_from_args(ScoreOptions, args), model=args.model, dataset=dataset, pairs=pairs,
                          seed=args.seed, dtype=args.dtype)
    loaded = load_model_from_args(args)
    n_items = dataset.count(args.limit)
    # The cost grows as N² with the languages: say how many pairs the run covers.
    with tqdm(total=n_items * len(pairs), unit="item", desc=f"scoring {len(pairs)} pairs × {n_items} items") as bar:
        summary = score_dataset(loaded, dataset, config, args.out, progress=bar.update)
    draw_ability_heatmap(args.out)
    print(f"mean cross-lingual ability over {len(pairs)} pair(s): {summary['mean']:.4f}")
    for row in summary["pairs"]:
        print(f"  {row['pair']}: {row['mean_score']:+.4f}  (n={row['n_items']})")
    print(f"wrote {args.out}/matrix.json, matrix.csv, pairs.csv, heatmap.png, items/")


def run_validate(args: argparse.Namespace) -> None:
    from pivotlens.clwtd import load_dataset

    dataset = load_dataset(args.dataset)
    print(f"{dataset.source}: {len(dataset)} valid entries")


def run_tiny(args: argparse.Namespace) -> None:
    from pivotlens.models.tiny import build_tiny_model

    print(build_tiny_model(args.arch, args.out, seed=args.seed))


def run_lm_eval_tasks(args: argparse.Namespace) -> None:
    from pivotlens.lmeval import tasks_dir

    print(tasks_dir())
