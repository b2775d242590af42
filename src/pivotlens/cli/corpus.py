"""`pivotlens corpus count|index|auc`: thin commands over pivotlens.corpus."""

from __future__ import annotations

import argparse
from pathlib import Path

from pivotlens.cli.common import DATASET_HELP, PAIRS_HELP, seed
from pivotlens.corpus.auc import AucOptions
from pivotlens.corpus.counting import CountOptions
from pivotlens.corpus.infinigram_api import ApiOptions
from pivotlens.corpus.readers import RecordFields
from pivotlens.options import add_option_flags, options_from_args


def add_corpus_options(parser: argparse.ArgumentParser, required: bool = True, case_option: bool = True) -> None:
    """The corpus-reader options (read back by :func:`record_fields`); ``select langid`` has no use for
    ``--case-sensitive`` and ``corpus count`` has it from CountOptions, so they pass ``case_option=False``."""
    parser.add_argument("--corpus", nargs="+", required=required, metavar="GLOB",
                        help="JSONL(.gz/.zst) / Parquet files, globs, directories, datasets dirs, 'bundled', or a "
                             "streamed Hugging Face dataset hf:NAME[:CONFIG[:SPLIT]] (hub id or local directory)")
    parser.add_argument("--max-documents", type=int, default=None,
                        help="read only the first N documents of each hf: stream (as one shard)")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--id-field", default="id")
    parser.add_argument("--skip-bad-records", action="store_true",
                        help="count and skip undecodable / malformed / text-less records instead of stopping")
    if case_option:
        parser.add_argument("--case-sensitive", action="store_true", help="default: case-insensitive (casefold)")


def corpus_inputs(args: argparse.Namespace) -> list[str]:
    """``--corpus`` with ``--max-documents`` written into its hf: streams (``hf:…|first=N``)."""
    from pivotlens.corpus.streaming import is_stream, with_max_documents
    from pivotlens.errors import CorpusError

    inputs = list(args.corpus or [])
    if args.max_documents is not None and not any(map(is_stream, inputs)):
        raise CorpusError("--max-documents caps hf: streams; the --corpus given has none")
    return [with_max_documents(item, args.max_documents) if is_stream(item) else item for item in inputs]


def record_fields(args: argparse.Namespace) -> RecordFields:
    return RecordFields(args.text_field, args.id_field, args.skip_bad_records)


def run_count(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from pivotlens.clwtd import load_dataset
    from pivotlens.corpus.counting import count_config, plan_counts
    from pivotlens.corpus.readers import resolve_corpus
    from pivotlens.corpus.results import count
    from pivotlens.errors import CorpusError
    from pivotlens.languages import parse_pairs

    dataset = load_dataset(args.dataset)
    config = count_config(options_from_args(CountOptions, args), args.seed, record_fields(args))
    plan = plan_counts(dataset, parse_pairs(args.pairs, dataset.languages), config)
    if args.engine == "infinigram-api":
        run_count_api(args, plan, dataset)
        return
    if args.dry_run:
        raise CorpusError("--dry-run counts API queries: it goes with --engine infinigram-api")
    if args.engine == "infinigram":
        shards, unit = [], "word"
    else:
        if not args.corpus:
            raise CorpusError(f"--corpus is required with --engine {args.engine}")
        shards, unit = resolve_corpus(corpus_inputs(args)), "doc"
    total = len(plan.terms) if args.engine == "infinigram" else None
    with tqdm(total=total, unit=unit, desc=f"counting ({args.engine})", unit_scale=True) as bar:
        result = count(plan, args.out, engine=args.engine, shards=shards, dataset=dataset.identity(),
                       ray_address=args.ray_address, index_dir=args.index, max_diff_tokens=args.max_diff_tokens,
                       progress=bar.update, workers=args.workers)
    if result is None:
        print(f"{args.out} already holds these counts; nothing to do")
        return
    skipped = sum(result.counts.skipped.values())
    print(f"{result.counts.documents:,} documents, {len(plan.terms):,} words, {len(plan.term_pairs):,} word pairs"
          + (f", {skipped:,} bad records skipped ({dict(result.counts.skipped)})" if skipped else ""))
    print(f"wrote {args.out}/terms.parquet, pairs.parquet, manifest.json")


def api_client(args: argparse.Namespace):
    """The infini-gram API client of ``--index NAME`` and the --api-* flags."""
    from pivotlens.corpus.infinigram_api import api_client as client

    return client(args.index, options_from_args(ApiOptions, args))


def run_count_api(args: argparse.Namespace, plan, dataset) -> None:
    from tqdm import tqdm

    from pivotlens.corpus.infinigram_api import count_queries, count_with_api

    api = api_client(args)
    queries = count_queries(plan, args.max_diff_tokens, args.max_clause_freq)
    cached = sum(map(api.is_cached, queries))
    print(f"{len(queries):,} queries to {api.url} (index {api.index}): 1 index check, {len(plan.terms):,} word counts, "
          f"{len(plan.term_pairs):,} pair (AND) counts; {cached:,} cached, {len(queries) - cached:,} to send")
    if args.dry_run:
        return
    with tqdm(total=len(queries) - 1, unit="query", desc="counting (infinigram-api)") as bar:
        counts = count_with_api(plan, args.out, api, dataset=dataset.identity(), max_diff_tokens=args.max_diff_tokens,
                                max_clause_freq=args.max_clause_freq, progress=bar.update)
    if counts is None:
        print(f"{args.out} already holds these counts; nothing to do")
        return
    print(f"{api.sent:,} requests sent; {counts.total_tokens:,} tokens in {api.index}; {len(plan.terms):,} words "
          f"(occurrences), {len(plan.term_pairs):,} word pairs (co-occurrences within {args.max_diff_tokens} tokens)")
    print(f"wrote {args.out}/terms.parquet, pairs.parquet, manifest.json")


def run_index(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from pivotlens.corpus.infinigram import build_index
    from pivotlens.corpus.readers import resolve_corpus

    shards = resolve_corpus(corpus_inputs(args))
    with tqdm(unit="doc", desc="writing token shards", unit_scale=True) as bar:
        info = build_index(shards, args.out, tokenizer=args.tokenizer, case_sensitive=args.case_sensitive,
                           fields=record_fields(args), mem_gib=args.mem, progress=bar.update)
    print(f"indexed {info.documents:,} documents ({info.token_dtype} tokens) into {args.out}")


def run_auc(args: argparse.Namespace) -> None:
    from pivotlens.corpus.auc import auc_markdown, write_auc_report
    from pivotlens.plots.figures import plot_auc_scatter

    rows, points = write_auc_report(args.counts, args.behaviours, args.out, bootstrap=args.bootstrap, seed=args.seed)
    plot_auc_scatter(points, rows, Path(args.out) / "scatter.png")
    print(auc_markdown(rows), end="")
    print(f"wrote {args.out}/auc.csv, auc.md, items.csv, scatter.png")


def register(commands: argparse._SubParsersAction) -> None:
    corpus = commands.add_parser("corpus", help="corpus statistics: co-occurrence counts, infini-gram index, AUC")
    sub = corpus.add_subparsers(dest="corpus_command", required=True)

    count = sub.add_parser("count", help="documents containing each word and each (src, tgt) word pair")
    add_corpus_options(count, required=False, case_option=False)  # --case-sensitive is one of CountOptions
    count.add_argument("--dataset", default="sample", help=f"{DATASET_HELP} (default sample)")
    count.add_argument("--pairs", default="all", help=PAIRS_HELP)
    count.add_argument("--out", type=Path, required=True)
    add_option_flags(count, CountOptions)
    count.add_argument("--max-diff-tokens", type=int, default=100,
                       help="infini-gram AND window in tokens (infinigram engines)")
    add_option_flags(count, ApiOptions, only=tuple(f for f in ApiOptions.__dataclass_fields__
                                                    if f not in ("max_disp_len", "api_url")))  # api_url: CountOptions
    count.add_argument("--seed", type=seed, default=0)
    count.set_defaults(handler=run_count)

    index = sub.add_parser("index", help="build an infini-gram suffix-array index of a corpus")
    add_corpus_options(index)
    index.add_argument("--out", type=Path, required=True)
    index.add_argument("--tokenizer", default=None, help="local Hugging Face tokenizer directory (default: UTF-8 bytes)")
    index.add_argument("--mem", type=int, default=None, help="GiB for suffix-array building (default: half of RAM, ≤ 16)")
    index.set_defaults(handler=run_index)

    auc = sub.add_parser("auc", help="AUC of co-occurrence counts vs the lens behaviours (paper's Table 1)")
    auc.add_argument("--counts", type=Path, required=True, help="output directory of `pivotlens corpus count`")
    auc.add_argument("--behaviours", type=Path, required=True, help="lens output directory (with behaviours/)")
    auc.add_argument("--out", type=Path, required=True)
    add_option_flags(auc, AucOptions)
    auc.add_argument("--seed", type=seed, default=0)
    auc.set_defaults(handler=run_auc)
