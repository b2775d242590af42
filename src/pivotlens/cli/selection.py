"""`pivotlens select langid|adjacency|pivotset|mix`: thin commands over pivotlens.selection."""

from __future__ import annotations

import argparse
from pathlib import Path

from pivotlens.cli.common import seed
from pivotlens.cli.corpus import add_corpus_options, corpus_inputs, record_fields
from pivotlens.options import add_option_flags
from pivotlens.selection.mixes import SelectionOptions
from pivotlens.selection.pivots import SENSITIVITY_ALPHAS


def _codes(spec: str) -> tuple[str, ...]:
    return tuple(code.strip() for code in spec.split(",") if code.strip())


def _alphas(spec: str) -> tuple[float, ...]:
    try:
        return tuple(float(a) for a in spec.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sensitivity takes comma-separated numbers, not {spec!r}") from None


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    add_option_flags(parser, SelectionOptions, only=("engine", "ray_address"))
    parser.add_argument("--batch-size", type=int, default=256, help="documents tokenised together")


def _progress_bar(description: str, total: int | None = None):
    from tqdm import tqdm

    return tqdm(total=total, unit="doc", desc=description, unit_scale=True)


def run_langid_command(args: argparse.Namespace) -> None:
    from pivotlens.corpus.readers import resolve_corpus
    from pivotlens.selection.langid import LangIdConfig, run_langid
    from pivotlens.selection.tokens import DocumentTokenizer

    shards = resolve_corpus(corpus_inputs(args))
    config = LangIdConfig(args.chunk_tokens, args.chunk_step, args.batch_size, record_fields(args))
    tokenizer = DocumentTokenizer.from_model(args.model)
    with _progress_bar(f"language ID ({args.engine})") as bar:
        ran = run_langid(shards, tokenizer, args.out, config, engine=args.engine, ray_address=args.ray_address,
                         progress=bar.update)
    if not ran:
        print(f"{args.out} already holds this language ID; nothing to do")
        return
    import json

    manifest = json.loads((args.out / "manifest.json").read_text())
    counts = ", ".join(f"{lang} {n:,}" for lang, n in list(manifest["dominant_languages"].items())[:8])
    print(f"{manifest['documents']:,} documents; dominant languages: {counts}")
    print(f"wrote {args.out}/attributes/pivotlens_langid/, documents.parquet, tokenizer.json, manifest.json")


def run_adjacency_command(args: argparse.Namespace) -> None:
    from pivotlens.selection.adjacency import AdjacencyConfig, run_adjacency
    from pivotlens.selection.langid import LanguageIndex

    config = AdjacencyConfig(_codes(args.languages), args.docs_per_language, args.vocab_cap, args.seed,
                             args.max_pairs, args.batch_size)
    passes = 2 if args.vocab_cap else 1
    total = len(LanguageIndex.load(args.langid).languages) * passes
    with _progress_bar(f"adjacency ({args.engine}, {passes} pass{'es' if passes > 1 else ''})", total) as bar:
        matrix = run_adjacency(args.langid, args.out, config, engine=args.engine, ray_address=args.ray_address,
                               progress=bar.update)
    if matrix is None:
        print(f"{args.out} already holds this adjacency matrix; nothing to do")
        return
    print(f"{matrix.documents:,} documents, {len(matrix.token_ids):,} tokens, "
          f"{matrix.upper.nnz:,} co-occurring pairs")
    print(f"wrote {args.out}/adjacency.npz, vocabulary.parquet, tokenizer.json, manifest.json")


def run_pivotset_command(args: argparse.Namespace) -> None:
    from pivotlens.selection.pivots import PivotConfig, run_pivot_set

    summary = run_pivot_set(args.adjacency, args.out, PivotConfig(args.alpha, args.drop_top_percent)).summary()
    print(f"τ = {summary['alpha']} × p̄ ({summary['mean_occurrence_probability']:.6g}) = {summary['tau']:.6g}; "
          f"{summary['vocabulary']:,} tokens: {summary['degree_zero']:,} of degree 0 dropped, "
          f"{summary['ubiquitous']:,} ubiquitous dropped, {summary['pivots']:,} pivots")
    if summary["pivots"] == 0:
        print("warning: the pivot set is empty; try a lower --alpha or a smaller --drop-top-percent")
    print(f"wrote {args.out}/pivot_set.parquet, manifest.json")


def run_mix_command(args: argparse.Namespace) -> None:
    from pivotlens.selection.langid import LanguageIndex
    from pivotlens.selection.mixes import MixConfig, run_mixes, shares_table
    from pivotlens.tables import markdown_table

    config = MixConfig(args.size, args.multilingual_window, args.candidate_window, args.pivot_size, args.min_tokens,
                       _codes(args.languages), args.docs_per_file, args.batch_size)
    total = len(LanguageIndex.load(args.langid).languages)
    with _progress_bar(f"scoring candidates ({args.engine})", total) as bar:
        result = run_mixes(args.langid, args.pivots, args.out, config, sensitivity=args.sensitivity or (),
                           engine=args.engine, ray_address=args.ray_address, progress=bar.update)
    if result is None:
        print(f"{args.out} already holds these mixes; nothing to do")
        return
    print(markdown_table(shares_table(result.shares), digits=None), end="")
    if result.sensitivity:
        print(markdown_table(result.sensitivity, digits=None), end="")
    print(f"wrote {args.out}/mixes/, language_shares.md/.csv, scores.parquet"
          + (", sensitivity.md/.csv" if result.sensitivity else "") + ", manifest.json")


def register(commands: argparse._SubParsersAction) -> None:
    select = commands.add_parser("select", help="pivot-aware pre-training data: language ID, adjacency, pivots, mixes")
    sub = select.add_subparsers(dest="select_command", required=True)

    langid = sub.add_parser("langid", help="fastText language ID of 256-token chunks → dolma attribute files")
    add_corpus_options(langid, case_option=False)
    langid.add_argument("--model", required=True, help="model whose tokenizer cuts the chunks (and defines tokens "
                        "for the later stages): packaged short name, local directory or hub id")
    langid.add_argument("--chunk-tokens", type=int, default=256)
    langid.add_argument("--chunk-step", type=int, default=128)
    langid.add_argument("--out", type=Path, required=True)
    _add_engine_options(langid)
    langid.set_defaults(handler=run_langid_command)

    adjacency = sub.add_parser("adjacency", help="document-level token co-occurrence matrix of a multilingual subset")
    adjacency.add_argument("--langid", type=Path, required=True, help="output directory of `select langid`")
    adjacency.add_argument("--languages", default="fr,zh,ja", help="dominant languages of the subset")
    add_option_flags(adjacency, SelectionOptions, only=("docs_per_language", "vocab_cap"))
    adjacency.add_argument("--seed", type=seed, default=0)
    adjacency.add_argument("--max-pairs", type=int, default=20_000_000,
                           help="bound on the entries of one partial matrix (memory); does not change results")
    adjacency.add_argument("--out", type=Path, required=True)
    _add_engine_options(adjacency)
    adjacency.set_defaults(handler=run_adjacency_command)

    pivotset = sub.add_parser("pivotset", help="tokens with high co-occurrence partners, minus the ubiquitous ones")
    pivotset.add_argument("--adjacency", type=Path, required=True, help="output directory of `select adjacency`")
    add_option_flags(pivotset, SelectionOptions, only=("alpha", "drop_top_percent"))
    pivotset.add_argument("--out", type=Path, required=True)
    pivotset.set_defaults(handler=run_pivotset_command)

    mix = sub.add_parser("mix", help="Original, Multilingual and pivot-aware mixes with their language shares")
    mix.add_argument("--langid", type=Path, required=True, help="output directory of `select langid`")
    mix.add_argument("--pivots", type=Path, required=True, help="output directory of `select pivotset`")
    mix.add_argument("--size", type=int, required=True, help="N: documents of the Original and Multilingual mixes")
    add_option_flags(mix, SelectionOptions, only=("multilingual_window", "candidate_window"))
    mix.add_argument("--pivot-size", type=int, default=None, help="documents of the pivot-aware mix (default N)")
    mix.add_argument("--min-tokens", type=int, default=0,
                     help="rank only candidates with at least this many tokens (default 0: all, as in the paper)")
    mix.add_argument("--languages", default="fr,zh,ja", help="the non-English languages of the mixes")
    mix.add_argument("--sensitivity", nargs="?", type=_alphas, const=SENSITIVITY_ALPHAS, default=None,
                     metavar="ALPHAS", help="also report pivot-set size and selection for these α "
                     f"(default {','.join(map(str, SENSITIVITY_ALPHAS))})")
    mix.add_argument("--docs-per-file", type=int, default=10_000)
    mix.add_argument("--out", type=Path, required=True)
    _add_engine_options(mix)
    mix.set_defaults(handler=run_mix_command)
