"""`pivotlens train|compare|chrf|checkpoints`: thin commands over pivotlens.training."""

from __future__ import annotations

import argparse
from pathlib import Path

from pivotlens.cli.common import DATASET_HELP, PAIRS_HELP, seed
from pivotlens.errors import PivotlensError
from pivotlens.options import add_option_flags, options_from_args
from pivotlens.scoring.options import ScoreOptions
from pivotlens.training.compare import CompareOptions
from pivotlens.training.trainer import TrainOptions


def _add_word_level_options(parser: argparse.ArgumentParser, options: type[ScoreOptions]) -> None:
    parser.add_argument("--dataset", default="sample", help=f"{DATASET_HELP} (default sample)")
    parser.add_argument("--seed", type=seed, default=0, help="shot draws (the same for every model)")
    add_option_flags(parser, options)
    parser.add_argument("--out", type=Path, required=True)


def _add_chrf_options(parser: argparse.ArgumentParser, prefix: str) -> None:
    """chrF++ options; in `checkpoints` they carry a chrf- prefix beside the word-level ones."""
    parser.add_argument("--parallel", required=True,
                        help="sentence pairs: .tsv (source<TAB>target), .jsonl ({src,tgt} or {en,fr,zh,ja}), 'udhr', "
                             "or 'libreoffice[:SEED]' (built on demand from Debian's libreoffice source package)")
    parser.add_argument("--src", default="en")
    parser.add_argument("--tgt", default="zh")
    parser.add_argument(f"--{prefix}shots", type=int, default=3, help="the first N pairs are the few-shot examples")
    parser.add_argument(f"--{prefix}limit", type=int, default=None, help="translate only the first N pairs after the shots")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument(f"--{prefix}batch-size", type=int, default=8, help="sentences generated together")


def register(commands) -> None:
    from pivotlens.cli.common import add_model_options
    from pivotlens.training.trainer import TRAIN_DTYPES

    train = commands.add_parser("train", help="continued pre-training of a model on one data mix (resumable)")
    train.add_argument("--model", required=True, help="packaged short name, local model directory, or hub id")
    train.add_argument("--data", nargs="+", required=True, metavar="MIX",
                       help="JSONL(.gz/.zst) / Parquet files, globs or directories of documents with a 'text' field")
    train.add_argument("--out", type=Path, required=True)
    add_option_flags(train, TrainOptions, required=("steps",))
    train.add_argument("--seed", type=seed, default=0)
    train.add_argument("--dtype", default="auto", choices=TRAIN_DTYPES,
                       help="auto = bf16 mixed precision on GPU, fp32 on CPU (weights stay fp32)")
    train.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    train.set_defaults(handler=run_train)

    compare = commands.add_parser("compare", help="score models on the same draws; Table-3 deltas with paired CIs")
    compare.add_argument("--models", nargs="+", required=True, metavar="[NAME=]MODEL")
    compare.add_argument("--baseline-model", metavar="[NAME=]MODEL",
                         help="the starting checkpoint; deltas are against it (default: the first --models)")
    compare.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    compare.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    _add_word_level_options(compare, CompareOptions)
    compare.set_defaults(handler=run_compare)

    chrf = commands.add_parser("chrf", help="few-shot greedy translation of sentence pairs, scored with chrF++")
    add_model_options(chrf)
    _add_chrf_options(chrf, prefix="")
    chrf.add_argument("--out", type=Path, help="keep translations.jsonl + chrf.json here (and resume from them)")
    chrf.set_defaults(handler=run_chrf)

    checkpoints = commands.add_parser("checkpoints", help="word-level ability and chrF++ across checkpoints (Figure 6)")
    checkpoints.add_argument("--models", nargs="+", required=True, metavar="[NAME=]MODEL_OR_RUN",
                             help="models, or `pivotlens train` run directories (= all their checkpoints)")
    checkpoints.add_argument("--baseline-model", metavar="[NAME=]MODEL", help="the starting checkpoint, plotted at step 0")
    checkpoints.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    checkpoints.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    checkpoints.add_argument("--pairs", default="all", help=PAIRS_HELP)
    _add_word_level_options(checkpoints, ScoreOptions)
    _add_chrf_options(checkpoints, prefix="chrf-")
    checkpoints.set_defaults(handler=run_checkpoints)

    parallel = commands.add_parser("parallel", help="build parallel sentence sets for chrf / checkpoints")
    sets = parallel.add_subparsers(dest="parallel_command", required=True)
    lo = sets.add_parser("libreoffice", help="en/fr/ja/zh segments aligned through LibreOffice's translation "
                         "catalogues (MPL-2.0), from Debian's libreoffice source package")
    lo.add_argument("--tarball", type=Path, help="a libreoffice_*.orig-translations.tar.xz already downloaded "
                    "(default: fetch it with apt-get source through a private deb-src entry)")
    lo.add_argument("--cache", type=Path, help="where the set is built (default $PIVOTLENS_CACHE/parallel)")
    lo.set_defaults(handler=run_parallel_libreoffice)


def run_parallel_libreoffice(args: argparse.Namespace) -> None:
    import json

    from pivotlens.training.libreoffice import ensure_built

    directory = ensure_built(args.cache, args.tarball)
    manifest = json.loads((directory / "manifest.json").read_text())
    pairs = ", ".join(f"{pair} {n:,}" for pair, n in manifest["translated_entries_per_pair"].items())
    print(f"{manifest['source']} ({manifest['licence']}): translated entries per pair: {pairs}; in all four: "
          f"{manifest['translated_in_all_four']:,}; dropped {manifest['dropped']}; kept {manifest['segments']:,} "
          f"segments ({manifest['sentences']:,} sentences)")
    print(f"wrote {directory}/segments.jsonl, sentences.jsonl, manifest.json")


def run_train(args: argparse.Namespace) -> None:
    from pivotlens.training.trainer import train, train_config

    config = train_config(options_from_args(TrainOptions, args), model=args.model, data=tuple(args.data),
                          seed=args.seed, dtype=args.dtype, device=args.device)
    result = train(config, args.out)
    if result.already_done:
        print(f"{args.out} already holds {result.global_step} steps; nothing to do (a larger --steps extends it)")
    elif result.resumed_from_step is not None:
        print(f"resumed from step {result.resumed_from_step}")
    print(f"{result.tokens.documents:,} documents, {result.tokens.tokens:,} tokens → {result.blocks:,} blocks of "
          f"{config.seq_len}; {result.global_step} steps = {result.passes_over_data:.2f} passes over the mix")
    (_, before), (step, after) = result.probe_loss[0], result.probe_loss[-1]
    print(f"probe loss (first {config.probe_blocks} blocks): {before:.4f} before → {after:.4f} at step {step}")
    print(f"wrote {result.final_dir} (model + tokenizer), {args.out}/checkpoints/, summary.json")


def _loader(args: argparse.Namespace):
    from pivotlens.cli.common import load_model_from_args

    return lambda spec: load_model_from_args(argparse.Namespace(model=spec, dtype=args.dtype, device=args.device))


def _score_template(args: argparse.Namespace, options: ScoreOptions):
    from pivotlens.clwtd import load_dataset
    from pivotlens.languages import parse_pairs
    from pivotlens.scoring import score_config

    dataset = load_dataset(args.dataset)
    template = score_config(options, model="", dataset=dataset, pairs=tuple(parse_pairs(args.pairs or "all", dataset.languages)),
                            seed=args.seed, dtype=args.dtype)
    return dataset, template


def _models_with_baseline(args: argparse.Namespace, models: list, baseline_step: int | None):
    """The --baseline-model first, then the models; returns (models, baseline name)."""
    from dataclasses import replace

    from pivotlens.training.evaluation import parse_named_models

    if args.baseline_model is None:
        return models, models[0].name
    baseline = replace(parse_named_models([args.baseline_model])[0], step=baseline_step)
    if baseline.name in {m.name for m in models}:
        raise PivotlensError(f"the baseline's name {baseline.name!r} is also a --models name: use NAME=MODEL")
    return [baseline, *models], baseline.name


def _progress_bar(total: int, unit: str):
    from tqdm import tqdm

    bar = tqdm(total=total, unit=unit)

    def update(name: str, n: int) -> None:
        bar.set_description(name, refresh=False)
        bar.update(n)

    return bar, update


def run_compare(args: argparse.Namespace) -> None:
    from pivotlens.plots.training import draw_comparison_figures
    from pivotlens.training.compare import comparison_markdown
    from pivotlens.training.evaluation import compare_models, parse_named_models

    options = options_from_args(CompareOptions, args)
    dataset, template = _score_template(args, options)
    models, baseline = _models_with_baseline(args, parse_named_models(args.models), baseline_step=None)
    n_items = dataset.count(args.limit)
    bar, update = _progress_bar(len(models) * n_items * len(template.pairs), "item")
    with bar:
        comparison = compare_models(models, baseline, dataset, template, args.out, _loader(args), options.bootstrap, update)
    draw_comparison_figures(comparison, args.out)
    print(comparison_markdown(comparison))
    print(f"wrote {args.out}/comparison.md, comparison.csv, comparison.json"
          + (", deltas.png, delta_matrices.png" if len(models) > 1 else "") + ", scores/")


def run_chrf(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from pivotlens.artifacts import file_sha256
    from pivotlens.cli.common import load_model_from_args
    from pivotlens.training.translation import ChrfConfig, evaluate_chrf, parallel_path, read_parallel

    pairs = read_parallel(args.parallel, args.src, args.tgt)
    config = ChrfConfig(model=args.model, parallel_sha256=file_sha256(parallel_path(args.parallel)), src=args.src,
                        tgt=args.tgt, shots=args.shots, max_new_tokens=args.max_new_tokens, limit=args.limit,
                        batch_size=args.batch_size)
    loaded = load_model_from_args(args)
    n_items = len(pairs) - args.shots if args.limit is None else min(args.limit, len(pairs) - args.shots)
    with tqdm(total=max(n_items, 0), unit="sentence", desc="translating") as bar:
        result = evaluate_chrf(loaded, pairs, config, args.out, progress=bar.update)
    print(f"chrF++ {args.src}→{args.tgt}: {result.score:.2f} over {result.n_items} sentences ({result.signature})")
    if args.out:
        print(f"wrote {args.out}/translations.jsonl, chrf.json")


def run_checkpoints(args: argparse.Namespace) -> None:
    from pivotlens.artifacts import file_sha256
    from pivotlens.plots.training import draw_checkpoint_figures
    from pivotlens.training.evaluation import evaluate_checkpoints, expand_checkpoints
    from pivotlens.training.translation import ChrfConfig, parallel_path, read_parallel

    dataset, score_template = _score_template(args, options_from_args(ScoreOptions, args))
    parallel = read_parallel(args.parallel, args.src, args.tgt)
    chrf_template = ChrfConfig(model="", parallel_sha256=file_sha256(parallel_path(args.parallel)), src=args.src,
                               tgt=args.tgt, shots=args.chrf_shots, max_new_tokens=args.max_new_tokens,
                               limit=args.chrf_limit, batch_size=args.chrf_batch_size)
    models, _ = _models_with_baseline(args, expand_checkpoints(args.models), baseline_step=0)
    n_items = dataset.count(args.limit)
    n_sentences = max(len(parallel) - args.chrf_shots, 0)
    n_sentences = n_sentences if args.chrf_limit is None else min(args.chrf_limit, n_sentences)
    bar, update = _progress_bar(len(models) * (n_items * len(score_template.pairs) + n_sentences), "item")
    with bar:
        rows = evaluate_checkpoints(models, dataset, score_template, parallel, chrf_template, args.out, _loader(args),
                                    update)
    draw_checkpoint_figures(rows, score_template.pairs, chrf_template, args.out)
    for row in rows:
        step = "" if row["step"] is None else f" (step {row['step']})"
        print(f"  {row['name']}{step}: ability {row['ability']:+.4f}, chrF++ {row['chrf']:.2f}")
    print(f"wrote {args.out}/checkpoints.csv, checkpoints.json, checkpoints.png, scores/, chrf/")
