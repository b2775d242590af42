"""`pivotlens lens trace|classify|curve|robustness|languages|train-tuned`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pivotlens.cli.common import DATASET_HELP, PAIRS_HELP, seed
from pivotlens.errors import PivotlensError
from pivotlens.lens.options import ClassifyOptions, CurveOptions, RobustnessOptions, TunedLensOptions
from pivotlens.options import add_option_flags, options_from_args


def _common(parser: argparse.ArgumentParser) -> None:
    from pivotlens.cli.common import add_model_options

    add_model_options(parser)
    parser.add_argument("--dataset", default="sample", help=f"{DATASET_HELP}; shots come from it (default sample)")
    parser.add_argument("--seed", type=seed, default=0, help="shot draw seed (draw 0 of `pivotlens score`)")
    parser.add_argument("--out", type=Path, required=True)


def register(commands) -> None:
    from pivotlens.cli.common import add_model_options
    from pivotlens.cli.corpus import add_corpus_options

    lens = commands.add_parser("lens", help="logit or tuned lens: traces, behaviours, token-set curves; tuned-lens training")
    sub = lens.add_subparsers(dest="lens_command", required=True)

    trace = sub.add_parser("trace", help="per-layer top tokens while the model translates one word")
    _common(trace)
    trace.add_argument("--word", required=True, help="source word (or a dataset id)")
    trace.add_argument("--target", help="its translation; default: looked up in --dataset")
    trace.add_argument("--pair", required=True, help="SRC-TGT, e.g. en-zh")
    trace.add_argument("--top-k", type=int, default=5)
    trace.add_argument("--compare-decoder", metavar="DECODER",
                       help="also trace through this decoder and draw both side by side (trace-comparison.png)")
    add_option_flags(trace, ClassifyOptions, only=("decoder", "first_layer", "allow_any_token"))
    trace.set_defaults(handler=run_trace)

    classify = sub.add_parser("classify", help="co-occurrence vs semantic-pivot behaviour for every item")
    _common(classify)
    classify.add_argument("--pairs", default="all", help=PAIRS_HELP)
    add_option_flags(classify, ClassifyOptions)
    classify.set_defaults(handler=run_classify)

    curve = sub.add_parser("curve", help="summed probability of token sets per layer vs random sets")
    _common(curve)
    curve.add_argument("--token-sets", type=Path, required=True,
                       help='JSONL: {"id": ITEM, "pair": "en-zh", "tokens": [...]} or "token_ids": [...]')
    curve.add_argument("--frequencies", type=Path,
                       help="a `pivotlens pivots mine` output dir: its corpus token frequencies give the "
                            "frequency-matched control (default: no matched control)")
    add_option_flags(curve, CurveOptions)
    curve.set_defaults(handler=run_curve)

    tuned = sub.add_parser("train-tuned", help="train a tuned lens (per-layer affine translators) on corpus text")
    add_model_options(tuned)
    add_corpus_options(tuned, case_option=False)
    tuned.add_argument("--seed", type=seed, default=0, help="document order and sampled positions")
    tuned.add_argument("--out", type=Path, required=True, help="the decoder directory (then --decoder tuned:DIR)")
    add_option_flags(tuned, TunedLensOptions)
    tuned.set_defaults(handler=run_train_tuned)

    robustness = sub.add_parser("robustness", help="pivot shares under each first layer, output rule and floor; "
                                                   "boundary share; agreement across shot draws; pivots via a third language")
    _common(robustness)
    robustness.add_argument("--behaviours", type=Path, required=True, help="output dir of `pivotlens lens classify`")
    add_option_flags(robustness, RobustnessOptions)
    robustness.set_defaults(handler=run_robustness)

    languages = sub.add_parser("languages", help="latent-language curves: P(the word in each language) per layer")
    languages.add_argument("--behaviours", type=Path, required=True, help="output dir of `pivotlens lens classify`")
    languages.add_argument("--out", type=Path, required=True)
    languages.set_defaults(handler=run_languages)


def run_trace(args: argparse.Namespace) -> None:
    from pivotlens.cli.common import load_model_from_args
    from pivotlens.clwtd import load_dataset
    from pivotlens.languages import parse_pairs
    from pivotlens.lens.decoders import decoder_identity, load_decoder
    from pivotlens.lens.translation import classifier_settings, trace_translation, translation_prompt
    from pivotlens.plots.figures import lens_trace_comparison_figure, lens_trace_figure, save_figure
    from pivotlens.records import TranslationItem

    dataset = load_dataset(args.dataset)
    (src, tgt), = parse_pairs(args.pair)
    found = [i for i, e in enumerate(dataset.entries) if args.word in (e.word[src], e.id)]
    if args.target is not None and not args.target.strip():
        raise PivotlensError("--target is empty: give the translation of the traced word")
    if args.target is None and not found:
        raise PivotlensError(f"{args.word!r} is not a {src} word of {dataset.source}: give its translation with --target")
    index = found[0] if found and args.target is None else None
    target = dataset.entries[index].word[tgt] if index is not None else args.target
    item_id = dataset.entries[index].id if index is not None else args.word
    loaded = load_model_from_args(args)
    source = args.word if index is None else dataset.entries[index].word[src]
    item = TranslationItem(item_id, src, tgt, source, target)
    prompt = translation_prompt(loaded.tokenizer, dataset, item, index, args.seed)
    settings = classifier_settings(options_from_args(ClassifyOptions, args))
    trace = trace_translation(loaded, prompt, args.top_k, settings, load_decoder(args.decoder, loaded))
    decode = loaded.tokenizer.decode
    top_tokens = [[[decode([int(i)]) for i in position] for position in layer] for layer in trace.top_ids]
    args.out.mkdir(parents=True, exist_ok=True)
    b = trace.behaviour
    (args.out / "trace.json").write_text(json.dumps({
        "model": args.model, **decoder_identity(args.decoder), "pair": f"{src}-{tgt}", "source": item.source,
        "target": target, "prompt": prompt.text,
        "positions": trace.positions, "input_tokens": trace.input_tokens,
        "top_tokens": top_tokens, "top_probabilities": trace.top_probabilities.round(6).tolist(),
        "target_probability_by_layer": trace.target_probability_by_layer.round(6).tolist(),
        "behaviour": {"kind": b.kind, "token_id": b.token_id, "token": b.token, "peak_layer": b.peak_layer,
                      "peak_probability": b.peak_probability},
    }, ensure_ascii=False, indent=1))
    figure = lens_trace_figure(
        trace.input_tokens, [[p[0] for p in layer] for layer in top_tokens], trace.top_probabilities[:, :, 0],
        f"{args.model}, {args.decoder} lens: {item.source} → {target} ({b.kind}, t*={b.token!r} @ layer {b.peak_layer})",
    )
    save_figure(figure, args.out / "trace.png")
    print(f"{item.source} → {target}: {b.kind}; t* = {b.token!r} (p={b.peak_probability:.3f}, layer {b.peak_layer})")
    print(f"wrote {args.out}/trace.json, trace.png")
    if args.compare_decoder:
        panels = []
        for spec, traced in ((args.decoder, trace), (args.compare_decoder, trace_translation(
                loaded, prompt, 1, settings, load_decoder(args.compare_decoder, loaded)))):
            t = traced.behaviour
            panels.append((f"{spec}: {t.kind}, t*={t.token!r} @ layer {t.peak_layer}",
                           [[decode([int(p[0])]) for p in layer] for layer in traced.top_ids],
                           traced.top_probabilities[:, :, 0]))
        save_figure(lens_trace_comparison_figure(trace.input_tokens, panels, f"{args.model}: {item.source} → {target}"),
                    args.out / "trace-comparison.png")
        print(panels[1][0])
        print(f"wrote {args.out}/trace-comparison.png")


def run_classify(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from pivotlens.cli.common import load_model_from_args
    from pivotlens.clwtd import load_dataset
    from pivotlens.languages import parse_pairs
    from pivotlens.lens.translation import classify_config, classify_dataset

    dataset = load_dataset(args.dataset)
    pairs = tuple(parse_pairs(args.pairs, dataset.languages))
    config = classify_config(options_from_args(ClassifyOptions, args), model=args.model, dataset=dataset, pairs=pairs,
                             seed=args.seed, dtype=args.dtype)
    loaded = load_model_from_args(args)
    n_items = dataset.count(args.limit)
    with tqdm(total=n_items * len(pairs), unit="item", desc=f"lens: {len(pairs)} pairs × {n_items} items") as bar:
        summary = classify_dataset(loaded, dataset, config, args.out, progress=bar.update)
    for row in summary["pairs"]:
        print(f"  {row['pair']}: {row['share_semantic_pivot']:.0%} semantic pivot (n={row['n_items']})")
    print(f"wrote {args.out}/behaviours/, summary.csv, summary.json")


def run_curve(args: argparse.Namespace) -> None:
    from pivotlens.cli.common import load_model_from_args
    from pivotlens.clwtd import load_dataset
    from pivotlens.lens.curves import curve_for_token_sets, read_token_sets, write_curve
    from pivotlens.lens.decoders import decoder_identity, load_decoder
    from pivotlens.pivots.mining import read_token_frequencies
    from pivotlens.plots.figures import plot_token_set_curve

    dataset = load_dataset(args.dataset)
    if not args.token_sets.is_file():
        raise PivotlensError(f"--token-sets {args.token_sets}: no such file")
    loaded = load_model_from_args(args)
    items = read_token_sets(args.token_sets, loaded.tokenizer, dataset)
    frequencies = read_token_frequencies(args.frequencies) if args.frequencies else None
    if args.frequencies and frequencies is None:
        raise PivotlensError(f"--frequencies {args.frequencies}: no token_frequencies.npy there")
    result = curve_for_token_sets(loaded, dataset, items, args.seed, args.random_sets, args.batch_size, frequencies,
                                  load_decoder(args.decoder, loaded))
    summary = write_curve(result, args.out, {"model": args.model, "seed": args.seed, **decoder_identity(args.decoder)})
    plot_token_set_curve(summary["layers"], args.out / "curve.png", f"{args.model}: {len(items)} items")
    print(f"peak at layer {result.peak_layer}: {result.mean[result.peak_layer - 1]:.4f} "
          f"(×{result.ratio_at_peak():.1f} the {result.reference} control)")
    print(f"wrote {args.out}/curve.csv, curve.json, curve.png")


def run_train_tuned(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from pivotlens.cli.common import load_model_from_args
    from pivotlens.cli.corpus import corpus_inputs, record_fields
    from pivotlens.lens.tuned import train_tuned_lens

    loaded = load_model_from_args(args)
    with tqdm(unit="step", desc="tuned lens") as bar:
        def total(steps: int, done: int) -> None:
            bar.reset(total=steps)
            bar.update(done)

        summary = train_tuned_lens(loaded, corpus_inputs(args), args.out, options_from_args(TunedLensOptions, args), args.seed,
                                   record_fields(args), progress=bar.update, total=total)
    print(f"{summary['steps']} steps, {summary['train_positions']} positions from {summary['train_documents']} documents, "
          f"{summary['training_seconds']:.0f} s; held-out KL(final ‖ layer), nats, and top-1 agreement:")
    for row in summary["heldout"]:
        print(f"  layer {row['layer']:>2}: logit {row['kl_logit']:.3f} ({row['top1_logit']:.0%})  "
              f"tuned {row['kl_tuned']:.3f} ({row['top1_tuned']:.0%})")
    print(f"wrote {args.out}/translators.safetensors, tuned_lens.json, heldout.csv, heldout.json; "
          f"use it with --decoder tuned:{args.out}")


def run_robustness(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from pivotlens.artifacts import read_state_file
    from pivotlens.cli.common import load_model_from_args
    from pivotlens.clwtd import load_dataset
    from pivotlens.lens.robustness import RobustnessConfig, run_robustness
    from pivotlens.lens.translation import ClassifierSettings, ClassifyConfig

    options = options_from_args(RobustnessOptions, args)
    lens = (read_state_file(args.behaviours / "manifest.json").get("config") or {})
    if options.draws > 1 and not lens:
        raise PivotlensError(f"{args.behaviours}/manifest.json has no lens config: rerun `pivotlens lens classify`")
    dataset = load_dataset(args.dataset)
    classifier = ClassifierSettings(**lens.get("classifier", {}))
    classify = ClassifyConfig(model=args.model, dataset_sha256=dataset.sha256, pairs=(), seed=lens.get("seed", args.seed),
                              limit=options.limit or lens.get("limit"), dtype=lens.get("dtype", args.dtype),
                              batch_size=options.batch_size, classifier=classifier)
    if lens and (lens.get("dataset_sha256"), lens.get("model")) != (dataset.sha256, args.model):
        raise PivotlensError(f"{args.behaviours} was classified with model {lens.get('model')!r} on another dataset or "
                             "model than --model/--dataset: pass the same ones")
    loaded = load_model_from_args(args) if options.draws > 1 else None
    with tqdm(unit="item", desc="robustness draws") as bar:
        result = run_robustness(args.behaviours, args.out, RobustnessConfig(options.draws, options.floor,
                                classifier.output_rule), classify, loaded, dataset, bar.update)
    agreement = next(row for row in result["draw_agreement"] if row["pair"] == "all")
    print(f"label agreement over {options.draws} draws: Fleiss' kappa {agreement['fleiss kappa']:.3f}, "
          f"unanimous {agreement['unanimous']:.0%} of {agreement['items']} items")
    print(f"wrote {args.out}/robustness.json, robustness.md")


def run_languages(args: argparse.Namespace) -> None:
    from pivotlens.lens.languages import write_language_curves
    from pivotlens.plots.figures import plot_language_curves

    curves = write_language_curves(args.behaviours, args.out)
    plot_language_curves(curves, args.out / "languages.png", "latent languages")
    print(f"wrote {args.out}/languages.json, languages.csv, languages.png ({len(curves)} pairs)")
