"""CLWTD as a Hugging Face ``datasets`` dataset: the export (Parquet + a dataset card that
``datasets.load_dataset(DIR)`` reads offline) and ``load_dataset``, the one resolver of a dataset
argument: a bundled name, a CLWTD JSONL file, an exported directory or a hub id.

An exported row is an entry's JSON with one change: ``meta.distractor_relations`` ({src: {word:
relation}}, keys that differ per entry) becomes a list of {language, relations: [{word, relation}]},
so every row has the same Arrow type and the file order survives. Reading back re-serialises the
entries canonically (``entries_jsonl``): a bundled dataset exported and loaded again has the sha256
of the bundled file, so its manifests and scores are interchangeable with the bundled name's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import pivotlens
from pivotlens.artifacts import StageDirectory, open_atomic, write_atomic
from pivotlens.clwtd.schema import (
    BUNDLED_DATASETS,
    SCHEMA_VERSION,
    Dataset,
    Entry,
    entries_jsonl,
    load_jsonl_dataset,
    parse_entries,
)
from pivotlens.errors import DatasetError
from pivotlens.languages import LANGUAGES, PAPER_LANGUAGES, all_pairs, pair_key
from pivotlens.tables import markdown_table

SPLIT = "test"  # CLWTD is an evaluation set: one split
CARD_FILE = "README.md"
LICENSE = "cc-by-sa-4.0"  # docs/clwtd.md, "Sources and licences": derived from share-alike sources
DATASHEET = "data/datasheet.md"  # docs/clwtd.md, shipped with the package
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def hf_features(languages: Sequence[str] = PAPER_LANGUAGES):
    """The Arrow types of an exported row of a dataset in ``languages`` (``datasets.Features``)."""
    from datasets import Features, List, Value

    return Features({
        "schema_version": Value("int32"),
        "id": Value("string"),
        "pos": Value("string"),
        "word": {lang: Value("string") for lang in languages},
        "distractors": {pair_key(src, tgt): List(Value("string")) for src, tgt in all_pairs(languages)},
        "meta": {
            "synset": Value("string"),
            "distractor_relations": List({"language": Value("string"),
                                          "relations": List({"word": Value("string"), "relation": Value("string")})}),
        },
    })


def entry_row(entry: Entry) -> dict[str, Any]:
    row = entry.to_json()
    meta = entry.meta
    row["meta"] = None if meta is None else {
        "synset": meta.get("synset"),
        "distractor_relations": None if "distractor_relations" not in meta else [
            {"language": lang, "relations": [{"word": word, "relation": relation} for word, relation in words.items()]}
            for lang, words in meta["distractor_relations"].items()
        ],
    }
    return row


def row_record(row: dict[str, Any]) -> dict[str, Any]:
    """The CLWTD JSON record of an exported row (``entry_row`` backwards); validation is the JSONL
    loader's."""
    record = {key: row[key] for key in ("schema_version", "id", "pos", "word", "distractors")}
    meta = row.get("meta")
    if meta is not None:
        record["meta"] = {}
        if meta["synset"] is not None:
            record["meta"]["synset"] = meta["synset"]
        if meta["distractor_relations"] is not None:
            record["meta"]["distractor_relations"] = {
                group["language"]: {pair["word"]: pair["relation"] for pair in group["relations"]}
                for group in meta["distractor_relations"]
            }
    return record


def data_file(dataset: Dataset) -> str:
    """The export's Parquet file, named by the dataset's content: `datasets` caches a directory's
    rows under its name and the card's file pattern, so two exports to directories of one name (or a
    re-export of another version) must differ in that pattern or the second load returns the first."""
    return f"data/{SPLIT}-{dataset.sha256[:16]}.parquet"


def export_hf(dataset: Dataset, name: str, out_dir: str | Path) -> Path:
    """Write ``dataset`` as ``out_dir/data/test.parquet`` plus the dataset card ``README.md``, under the
    run-directory protocol (manifest first, completion marker last). ``name`` is how the card calls it."""
    import datasets

    out = Path(out_dir)
    directory = StageDirectory(out, "clwtd-export").claim({"dataset": dataset.identity(), "format": "hf"})
    if directory.is_complete():
        return out
    table = datasets.Dataset.from_list([entry_row(entry) for entry in dataset.entries],
                                       features=hf_features(dataset.languages))
    with open_atomic(out / data_file(dataset)) as handle:
        table.to_parquet(handle)
    write_atomic(out / CARD_FILE, dataset_card(dataset, name))
    directory.complete({"entries": len(dataset), "files": [data_file(dataset), CARD_FILE]})
    return out


def load_hf_dataset(spec: str) -> Dataset:
    """An exported directory or a hub id, read with ``datasets.load_dataset`` and validated like a
    JSONL file."""
    import datasets

    try:
        rows = datasets.load_dataset(spec, split=SPLIT)
    except Exception as error:  # datasets raises many kinds: offline, no such dataset, unknown split, bad files …
        where = "directory" if Path(spec).is_dir() else "hub dataset"
        hint = "" if Path(spec).is_dir() else " (a hub id needs the internet; offline, export a directory and give its path)"
        raise DatasetError(f"could not load CLWTD {where} {spec!r}: {type(error).__name__}: "
                           f"{str(error).strip().splitlines()[0] if str(error).strip() else 'no details'}{hint}") from None
    missing = sorted(set(hf_features()) - set(rows.column_names))
    if missing:
        raise DatasetError(f"{spec}: not a CLWTD export (no column {', '.join(missing)}); "
                           f"write one with `pivotlens clwtd export --format hf`")
    lines = [json.dumps(row_record(row), ensure_ascii=False) for row in rows]
    entries = parse_entries(lines, spec)
    return Dataset(entries, spec, hashlib.sha256(entries_jsonl(entries).encode("utf-8")).hexdigest())


def load_dataset(spec: str | Path) -> Dataset:
    """A CLWTD dataset from a bundled name (``clwtd``, ``clwtd-v1``, ``sample``), a JSONL file, a
    directory written by ``pivotlens clwtd export --format hf``, or a hub id of such an export."""
    text = str(spec)
    hub_id = HUB_ID.fullmatch(text) and not text.endswith(".jsonl") and not Path(text).exists()
    if text not in BUNDLED_DATASETS and (Path(text).is_dir() or hub_id):
        return load_hf_dataset(text)
    return load_jsonl_dataset(spec)


def datasheet_section(title: str) -> str:
    """The body of the datasheet section whose heading starts with ``title`` (docs/clwtd.md)."""
    text = files("pivotlens.clwtd").joinpath(DATASHEET).read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}[^\n]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    if match is None:
        raise DatasetError(f"the datasheet ({DATASHEET}) has no section {title!r}")
    return match.group(1).strip()


FIRST_TABLE = re.compile(r"^\|.*?(?=\n\n|\Z)", re.MULTILINE | re.DOTALL)
FIRST_SHELL_BLOCK = re.compile(r"^```bash.*?^```", re.MULTILINE | re.DOTALL)


def _size_category(n: int) -> str:
    bounds = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"))
    return next((label for bound, label in bounds if n < bound), "100K<n<1M")


def card_header(dataset: Dataset, name: str) -> dict[str, Any]:
    """The card's YAML header: what the hub shows and what ``datasets`` reads (configs, features)."""
    return {
        "pretty_name": f"CLWTD ({name})",
        "language": list(dataset.languages),
        "license": LICENSE,
        "multilinguality": "multilingual",
        "size_categories": [_size_category(len(dataset))],
        "task_categories": ["translation"],
        "tags": ["word-translation", "cross-lingual", "pivotlens"],
        "configs": [{"config_name": "default", "data_files": [{"split": SPLIT, "path": data_file(dataset)}]}],
        "dataset_info": {"features": hf_features(dataset.languages)._to_yaml_list()},
    }


def dataset_card(dataset: Dataset, name: str) -> str:
    """README.md of an export: header, fields, sizes from the data, and the datasheet's sources,
    build command, spot-check and limitations."""
    from pivotlens.clwtd.stats import dataset_stats
    from pivotlens.options import dump_yaml

    stats = dataset_stats(dataset)
    languages = [{"language": f"{LANGUAGES[lang].name} ({lang})", "mean word length (characters)": info["mean_word_length"],
                  "distinct distractors": info["distinct_distractors"]} for lang, info in stats["languages"].items()]
    pos = ", ".join(f"{count} {tag}" for tag, count in stats["pos"].items())
    relations = ", ".join(f"{relation} {share:.1%}" for relation, share in stats["relations"].items())
    sources = datasheet_section("Sources and licences")
    build = FIRST_SHELL_BLOCK.search(datasheet_section("Rebuild")).group(0)
    spot_check_table = FIRST_TABLE.search(datasheet_section("Quality spot-check")).group(0)
    return f"""---
{dump_yaml(card_header(dataset, name)).strip()}
---

# CLWTD — Cross-Lingual Word Translation Dataset (`{name}`)

{len(dataset):,} concepts, each with its word in {', '.join(LANGUAGES[lang].name for lang in dataset.languages)} and, for
each of the {len(dataset.pairs)} ordered language pairs, 9 source-language distractors: the word-level benchmark of He et al.
(2025), *Semantic Pivots Enable Cross-Lingual Transfer in Large Language Models* (arXiv 2505.16385), §3.1, rebuilt from
open lexicons by pivotlens {pivotlens.__version__}. Source `{dataset.source}`, sha256
`{dataset.sha256}`, CLWTD schema version {SCHEMA_VERSION}.

## Use

```python
from datasets import load_dataset
clwtd = load_dataset("DIR_OR_HUB_ID", split="{SPLIT}")
```

pivotlens takes the directory or hub id wherever it takes a dataset (`pivotlens score --dataset DIR`) and reads the
same entries and sha256 as the JSONL file it was exported from. The calibrated ability score is
`pivotlens score` or the lm-eval task `clwtd` (`lm_eval … --tasks clwtd --include_path $(pivotlens lm-eval-tasks)`).

## Fields

| field | meaning |
|---|---|
| `schema_version` | CLWTD schema version ({SCHEMA_VERSION}) |
| `id` | the English headword, unique |
| `pos` | part of speech: `n`, `v` or `adj` |
| `word` | the concept's word per language: {', '.join(f'`{lang}`' for lang in dataset.languages)} |
| `distractors` | per ordered pair `src-tgt`: 9 words in the source language that are not translations of `word[tgt]` |
| `meta.synset` | the Princeton WordNet 3.0 synset (`offset-pos`), null when not recorded |
| `meta.distractor_relations` | per source language, each distractor's relation to the concept (co-hyponym, hypernym …) |

## Languages and sizes

{len(dataset):,} entries ({pos}); one split, `{SPLIT}`.

{markdown_table(languages, digits=2)}

Distractor relations: {relations}.

## Sources and licences

{sources}

## Build

The bundled `clwtd` file is rebuilt (same bytes) and exported with:

{build}

```bash
pivotlens clwtd export clwtd.jsonl --format hf --out DIR   # or a bundled name: clwtd, clwtd-v1, sample
```

## Quality spot-check

From the datasheet of the bundled `clwtd` file (pivotlens' docs/clwtd.md, which says how the spot-check was drawn and
judged): 200 entries, one reader's judgement per word, 95 % Wilson intervals.

{spot_check_table}

## Known limitations

Of the bundled `clwtd` file, from its datasheet:

{datasheet_section("Known limitations")}
"""
