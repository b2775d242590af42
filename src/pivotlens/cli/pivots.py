"""`pivotlens pivots mine|curve`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pivotlens.cli.common import seed
from pivotlens.cli.corpus import add_corpus_options, api_client, corpus_inputs, record_fields
from pivotlens.corpus.infinigram_api import ApiOptions
from pivotlens.errors import PivotlensError
from pivotlens.lens.options import CurveOptions
from pivotlens.options import add_option_flags, options_from_args
from pivotlens.pivots.options import MineOptions


def register(commands) -> None:
    pivots = commands.add_parser("pivots", help="semantic-pivot mining from the corpus, and its validation curve")
    sub = pivots.add_subparsers(dest="pivots_command", required=True)

    mine = sub.add_parser("mine", help="rank pivot candidates by relative co-occurrence, then filter")
    mine.add_argument("--model", required=True, help="model whose tokenizer defines the tokens")
    mine.add_argument("--behaviours", type=Path, required=True, help="output dir of `pivotlens lens classify`")
    mine.add_argument("--counts", type=Path, help="output dir of `pivotlens corpus count` (engine local)")
    add_corpus_options(mine, required=False, case_option=False)  # the corpus that was counted, read the same way
    add_option_flags(mine, MineOptions)
    mine.add_argument("--index", help="infini-gram API index name (--engine infinigram-api), e.g. v4_dolma-v1_7_llama")
    add_option_flags(mine, ApiOptions, only=tuple(f for f in ApiOptions.__dataclass_fields__ if f != "max_clause_freq"))
    mine.add_argument("--seed", type=seed, default=0)
    mine.add_argument("--out", type=Path, required=True)
    mine.set_defaults(handler=run_mine)

    curve = sub.add_parser("curve", help="lens probability of each item's kept pivots per layer vs random sets")
    from pivotlens.cli.common import add_model_options

    add_model_options(curve)
    curve.add_argument("--pivots", type=Path, required=True, help="output dir of `pivotlens pivots mine`")
    curve.add_argument("--dataset", default="sample")
    curve.add_argument("--seed", type=seed, default=0, help="shot draw and random-set seed")
    add_option_flags(curve, CurveOptions)
    curve.add_argument("--out", type=Path, required=True)
    curve.set_defaults(handler=run_pivot_curve)


def run_mine(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from pivotlens.models import load_tokenizer
    from pivotlens.pivots.run import mine_config, run_mining

    options = options_from_args(MineOptions, args)
    config = mine_config(options, model=args.model, seed=args.seed)
    if options.engine == "infinigram-api":
        records = _mine_through_api(args, config)
        if records is None:
            return
    else:
        if args.counts is None or not args.corpus:
            raise PivotlensError("--engine local mines the counted corpus: pass --counts and --corpus")
        if args.dry_run:
            raise PivotlensError("--dry-run counts API queries: it goes with --engine infinigram-api")
        with tqdm(unit="item", desc="mining") as bar:
            records = run_mining(load_tokenizer(args.model), args.behaviours, args.counts, corpus_inputs(args), config,
                                 args.out, progress=bar.update, fields=record_fields(args))
    with_pivots = sum(bool(r["kept"]) for r in records)
    print(f"{len(records)} semantic-pivot items without shared tokens; {with_pivots} with kept pivots")
    for record in records[:5]:
        print(f"  {record['source']} → {record['target']}: {', '.join(c['token'].strip() for c in record['kept'][:8])}")
    print(f"wrote {args.out}/pivots.jsonl, token_sets.jsonl")


def _mine_through_api(args: argparse.Namespace, config) -> list[dict] | None:
    """pivots mine --engine infinigram-api; None after a dry run."""
    from tqdm import tqdm

    from pivotlens.corpus.infinigram_api import find_query
    from pivotlens.models import load_tokenizer
    from pivotlens.pivots.run import mining_words, run_mining_api, select_items
    from pivotlens.records import read_lens_behaviours

    api = api_client(args)
    tokenizer = load_tokenizer(args.model)
    words = mining_words(select_items(read_lens_behaviours(args.behaviours), tokenizer))
    most = len(words) * (1 + 2 * config.documents_per_word) + 1 + 2 * config.background_documents
    cached = sum(api.is_cached(find_query(word)) for word in [*words, None])
    print(f"{len(words):,} words to sample through {api.url} (index {api.index}): at most {most:,} queries (a find "
          f"and up to {2 * config.documents_per_word:,} document fetches per word, a find and up to "
          f"{2 * config.background_documents:,} for the background; about half when occurrences fall in distinct "
          f"documents); {cached:,} of the {len(words) + 1:,} finds cached")
    if args.dry_run:
        return None
    with tqdm(total=len(words), unit="word", desc="sampling (infinigram-api)") as sampling, \
            tqdm(unit="item", desc="mining") as bar:
        records = run_mining_api(tokenizer, args.behaviours, api, config, args.out, args.max_disp_len,
                                 progress=bar.update, sampling_progress=sampling.update)
    print(f"{api.sent:,} requests sent")
    return records


def run_pivot_curve(args: argparse.Namespace) -> None:
    from pivotlens.cli.common import load_model_from_args
    from pivotlens.clwtd import load_dataset
    from pivotlens.lens.curves import curve_for_token_sets, read_token_sets, write_curve
    from pivotlens.lens.decoders import decoder_identity, load_decoder
    from pivotlens.pivots.mining import read_token_frequencies
    from pivotlens.plots.figures import plot_token_set_curve

    sets = args.pivots / "token_sets.jsonl"
    if not sets.is_file():
        raise PivotlensError(f"{sets} is missing: run `pivotlens pivots mine` first")
    dataset = load_dataset(args.dataset)
    loaded = load_model_from_args(args)
    items = read_token_sets(sets, loaded.tokenizer, dataset)
    result = curve_for_token_sets(loaded, dataset, items, args.seed, args.random_sets, args.batch_size,
                                  read_token_frequencies(args.pivots), load_decoder(args.decoder, loaded))
    summary = write_curve(result, args.out, {"model": args.model, "seed": args.seed, "pivots": str(args.pivots),
                                             **decoder_identity(args.decoder)})
    plot_token_set_curve(summary["layers"], args.out / "curve.png", f"{args.model}: mined pivot sets, {len(items)} items")
    print(f"pivot sets peak at layer {result.peak_layer}: ×{result.ratio_at_peak():.1f} the {result.reference} control")
    print(f"wrote {args.out}/curve.csv, curve.json, curve.png")
