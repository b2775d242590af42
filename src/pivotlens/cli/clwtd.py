"""`pivotlens clwtd build|validate|stats|sample|audit|export`: build CLWTD from open resources, inspect it, and
export it for Hugging Face `datasets`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from pivotlens.cli.common import DATASET_HELP, seed
from pivotlens.errors import DatasetError

DEFAULT_LLM_MODEL = "gpt-4o-mini"
SAMPLE_PAIRS = "en-fr,fr-en,zh-en,ja-en"  # one pair per source language


def register(commands: argparse._SubParsersAction) -> None:
    clwtd = commands.add_parser("clwtd", help="build, check and inspect CLWTD datasets")
    actions = clwtd.add_subparsers(dest="clwtd_command", required=True)

    build = actions.add_parser("build", help="build the dataset from WordNet, OMW, wordfreq, FreeDict, JMdict and CC-CEDICT")
    build.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    build.add_argument("--n", type=int, default=2000, help="entries, in the paper's POS mix (default 2000)")
    build.add_argument("--languages", default="en,fr,zh,ja",
                       help="registered language codes, en first (default en,fr,zh,ja: the bundled clwtd); an entry is "
                            "kept only when every one has a word that passes the rules")
    build.add_argument("--up-to", action="store_true",
                       help="--n is a ceiling: write as many entries as the resources support rather than fail")
    build.add_argument("--headwords", type=int, default=None,
                       help="try only the N most frequent English words as headwords (default 80,000): entries are "
                            "built in frequency order, so this gives the prefix of a longer build")
    build.add_argument("--seed", type=seed, default=0, help="seeds the option order of --validate-with-llm")
    _resource_arguments(build)
    build.add_argument("--validate-with-llm", metavar="URL", default=None,
                       help="OpenAI-compatible base URL: keep only entries the model answers correctly for all "
                            "pairs (API key from $OPENAI_API_KEY)")
    build.add_argument("--llm-model", default=DEFAULT_LLM_MODEL, help=f"model for --validate-with-llm ({DEFAULT_LLM_MODEL})")
    build.set_defaults(handler=run_build)

    validate = actions.add_parser("validate", help="schema and dataset-level checks (scripts, word reuse)")
    validate.add_argument("dataset", help=DATASET_HELP)
    validate.set_defaults(handler=run_validate)

    stats = actions.add_parser("stats", help="POS mix, word lengths, distractor relation mix (JSON)")
    stats.add_argument("dataset", nargs="?", default="clwtd", help=f"{DATASET_HELP} (default clwtd)")
    stats.add_argument("--tokenizer", default=None,
                       help="count tokens with this tokenizer: packaged model name (gemma-3-270m) or local model "
                            "dir (default: count characters)")
    stats.set_defaults(handler=run_stats)

    sample = actions.add_parser("sample", help="print random entries with their distractors, for inspection")
    sample.add_argument("--dataset", default="clwtd", help=f"{DATASET_HELP} (default clwtd)")
    sample.add_argument("--n", type=int, default=50)
    sample.add_argument("--seed", type=seed, default=0)
    sample.add_argument("--pairs", default=SAMPLE_PAIRS, help=f"pairs whose distractors to show ({SAMPLE_PAIRS})")
    sample.set_defaults(handler=run_sample)

    audit = actions.add_parser("audit", help="list entries worth a human look: abbreviation-like words and, with "
                                             "--lexicon, every field the v2 builder rules reject")
    audit.add_argument("dataset", nargs="?", default="clwtd", help=f"{DATASET_HELP} (default clwtd)")
    audit.add_argument("--lexicon", action="store_true",
                       help="also check headwords, words and distractors against the open lexicon (loads the build "
                            "resources, about a minute)")
    _resource_arguments(audit)
    audit.set_defaults(handler=run_audit)

    export = actions.add_parser("export", help="write a dataset as Parquet + a dataset card that "
                                               "datasets.load_dataset(DIR) reads")
    export.add_argument("dataset", nargs="?", default="clwtd", help=f"{DATASET_HELP} (default clwtd)")
    export.add_argument("--format", choices=["hf"], default="hf", help="hf: a Hugging Face datasets directory (the one format)")
    export.add_argument("--out", type=Path, required=True, help="directory to write (new, empty or an earlier export)")
    export.set_defaults(handler=run_export)


def _resource_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--omw-dir", type=Path, default=None,
                        help="folder of the OMW tab files (default: $PIVOTLENS_OMW_DIR, else ../shared/lexicon/omw "
                             "beside the repository)")
    parser.add_argument("--wordnet-dir", type=Path, default=None,
                        help="Princeton WordNet 3.0 dict/ folder (default /usr/share/wordnet, Debian's wordnet-base)")
    parser.add_argument("--freedict-dir", type=Path, default=None,
                        help="folder of the FreeDict eng-fra, fra-eng, eng-jpn, jpn-eng dictd files (default "
                             "/usr/share/dictd, Debian's dict-freedict-*)")


def _open_lexicon(args: argparse.Namespace):
    from pivotlens.clwtd.resources import HEADWORD_POOL, load_open_lexicon, resolve_resource_paths

    languages = _build_languages(args)
    paths = resolve_resource_paths(args.omw_dir, args.wordnet_dir, args.freedict_dir, languages)
    print(f"pivotlens: loading WordNet ({paths.wordnet_dir}), OMW ({paths.omw_dir}), FreeDict ({paths.freedict_dir}), "
          f"wordfreq, JMdict, CC-CEDICT for {','.join(languages)} …")
    return load_open_lexicon(paths, headword_pool=getattr(args, "headwords", None) or HEADWORD_POOL, languages=languages)


def _build_languages(args: argparse.Namespace) -> tuple[str, ...]:
    from pivotlens.languages import parse_languages

    return parse_languages(getattr(args, "languages", "en,fr,zh,ja"))


def run_build(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from pivotlens.clwtd.builder import BuildConfig, ClwtdBuilder, write_dataset
    from pivotlens.clwtd.llm_check import LlmValidator
    from pivotlens.clwtd.schema import entries_jsonl

    if args.n < 1 or (args.headwords is not None and args.headwords < 1):
        raise DatasetError(f"--n and --headwords must be positive, got {args.n} and {args.headwords}")
    lexicon = _open_lexicon(args)
    accept = LlmValidator(args.validate_with_llm, args.llm_model, seed=args.seed).accepts if args.validate_with_llm else None
    # Entries are final once built (later ones cannot change them): each is appended to OUT.partial
    # as it comes, to inspect or score a long build early; OUT itself is written at the end.
    partial = args.out.with_name(args.out.name + ".partial")
    partial.parent.mkdir(parents=True, exist_ok=True)
    with tqdm(total=args.n, unit="entry", desc="building CLWTD") as bar, partial.open("w", encoding="utf-8") as early:
        def built(entry) -> None:
            early.write(entries_jsonl([entry]))
            early.flush()
            bar.update()

        builder = ClwtdBuilder(lexicon, BuildConfig(n_entries=args.n), _build_languages(args))
        entries = builder.build(accept=accept, progress=built, allow_fewer=args.up_to)
    partial.unlink()
    write_dataset(entries, args.out)
    print(f"wrote {len(entries)} entries to {args.out}")


def _load_checked(name_or_path: str):
    from pivotlens.clwtd import load_dataset
    from pivotlens.clwtd.stats import dataset_problems

    dataset = load_dataset(name_or_path)
    problems = dataset_problems(dataset)
    if problems:
        shown = "\n  ".join(problems[:20]) + (f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise DatasetError(f"{dataset.source}: {len(problems)} dataset-level problem(s):\n  {shown}")
    return dataset


def run_validate(args: argparse.Namespace) -> None:
    dataset = _load_checked(args.dataset)
    print(f"{dataset.source}: {len(dataset)} valid entries (sha256 {dataset.sha256[:16]}…)")


def _token_counter(spec: str) -> Callable[[str], int]:
    """Tokens of " word" as the score continuation sees it (leading space, no special tokens)."""
    from pivotlens.models.loading import load_tokenizer

    tokenizer = load_tokenizer(spec)
    return lambda word: len(tokenizer(f" {word}", add_special_tokens=False)["input_ids"])


def run_stats(args: argparse.Namespace) -> None:
    from pivotlens.clwtd import load_dataset
    from pivotlens.clwtd.stats import dataset_stats

    dataset = load_dataset(args.dataset)
    counter = _token_counter(args.tokenizer) if args.tokenizer else None
    report = {"dataset": dataset.source, "tokenizer": args.tokenizer, **dataset_stats(dataset, counter)}
    print(json.dumps(report, ensure_ascii=False, indent=2))


def run_audit(args: argparse.Namespace) -> None:
    from pivotlens.clwtd import load_dataset
    from pivotlens.clwtd.stats import suspicious_entries

    dataset = load_dataset(args.dataset)
    flagged = suspicious_entries(dataset)
    if args.lexicon:
        from pivotlens.clwtd.builder import ClwtdBuilder

        dataset_languages = dataset.languages
        args.languages = ",".join(dataset_languages)
        builder = ClwtdBuilder(_open_lexicon(args), languages=dataset_languages)
        flagged += [(entry.id, problem) for entry in dataset.entries for problem in builder.entry_problems(entry)]
    for entry_id, reason in flagged:
        print(f"{entry_id}: {reason}")
    print(f"{len({entry_id for entry_id, _ in flagged})} of {len(dataset)} entries flagged for review")


def run_sample(args: argparse.Namespace) -> None:
    import numpy as np

    from pivotlens.clwtd import load_dataset
    from pivotlens.languages import pair_key, parse_pairs

    dataset = load_dataset(args.dataset)
    pairs = parse_pairs(args.pairs, dataset.languages)
    if args.n < 1:
        raise DatasetError(f"--n must be positive, got {args.n}")
    rng = np.random.default_rng(args.seed)
    chosen = sorted(rng.choice(len(dataset), size=min(args.n, len(dataset)), replace=False))
    for index in chosen:
        entry = dataset.entries[index]
        print(f"{entry.id} ({entry.pos}): " + "  ".join(f"{lang}={entry.word[lang]}" for lang in dataset.languages))
        for src, tgt in pairs:
            print(f"    {pair_key(src, tgt)}: {', '.join(entry.distractors_for(src, tgt))}")


def run_export(args: argparse.Namespace) -> None:
    from pivotlens.clwtd import load_dataset
    from pivotlens.clwtd.hf import export_hf

    dataset = load_dataset(args.dataset)
    out = export_hf(dataset, Path(str(args.dataset)).stem, args.out)
    print(f"wrote {len(dataset)} entries to {out} (datasets.load_dataset({str(out)!r}) reads it; "
          f"sha256 {dataset.sha256[:16]}…)")
