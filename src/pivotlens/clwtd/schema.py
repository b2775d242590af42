"""The CLWTD JSONL format: one concept per line, its word in each language, and 9 source-language
distractors for every ordered language pair. The loader reports every problem with its line number."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from pivotlens.artifacts import iter_jsonl
from pivotlens.errors import DatasetError
from pivotlens.languages import LANGUAGES, PAPER_LANGUAGES, all_pairs, pair_key

SCHEMA_VERSION = 1
N_DISTRACTORS = 9
# A word or a short phrase: the longest in CLWTD has 22 characters. A megabyte "word" would make
# the scoring batch allocate terabytes.
MAX_WORD_CHARS = 64
PARTS_OF_SPEECH = ("n", "v", "adj")
BUNDLED_DATASETS = {"sample": "data/sample.jsonl", "clwtd": "data/clwtd.jsonl", "clwtd-v1": "data/clwtd-v1.jsonl",
                    "clwtd-multi": "data/clwtd-multi.jsonl"}
MAX_REPORTED_ERRORS = 20
ENTRY_KEYS = ("schema_version", "id", "pos", "word", "distractors", "meta")
META_KEYS = ("synset", "distractor_relations")


@dataclass(frozen=True)
class Entry:
    id: str
    pos: str
    word: dict[str, str]
    distractors: dict[str, tuple[str, ...]]  # keyed "src-tgt", words in the source language
    # Optional provenance from the builder: {"synset": "05564590-n",
    # "distractor_relations": {src: {distractor: relation}}}.
    meta: dict[str, Any] | None = None

    def distractors_for(self, src: str, tgt: str) -> tuple[str, ...]:
        return self.distractors[pair_key(src, tgt)]

    def to_json(self) -> dict[str, Any]:
        record = {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "pos": self.pos,
            "word": dict(self.word),
            "distractors": {key: list(words) for key, words in self.distractors.items()},
        }
        if self.meta is not None:
            record["meta"] = self.meta
        return record


@dataclass(frozen=True)
class Dataset:
    entries: tuple[Entry, ...]
    source: str
    sha256: str

    def __len__(self) -> int:
        return len(self.entries)

    def identity(self) -> dict[str, Any]:
        """What manifests record of the dataset: where it came from, its content and its schema."""
        return {"source": self.source, "sha256": self.sha256, "schema_version": SCHEMA_VERSION}

    @property
    def languages(self) -> tuple[str, ...]:
        """The dataset's languages, in its files' order (every entry has the same)."""
        return tuple(self.entries[0].word)

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Every ordered pair of its languages: the pairs it has distractors for."""
        return all_pairs(self.languages)

    def require_pairs(self, pairs: Iterable[tuple[str, str]]) -> None:
        """An error naming the pairs the dataset has no distractors for, and its languages."""
        missing = [pair_key(src, tgt) for src, tgt in pairs if (src, tgt) not in self.pairs]
        if missing:
            raise DatasetError(f"{self.source} has no pair {', '.join(missing)}: its languages are "
                               f"{', '.join(self.languages)}")

    def count(self, limit: int | None) -> int:
        """How many entries a run with ``--limit`` covers: the first ``limit`` (None: all)."""
        return len(self.entries) if limit is None else min(limit, len(self.entries))


def _meta_problems(meta: Any, languages: tuple[str, ...]) -> list[str]:
    """The optional builder metadata: only known keys, each of the right shape."""
    if not isinstance(meta, dict):
        return ["'meta' must be an object"]
    problems = [f"meta has unknown key {key!r}" for key in meta if key not in META_KEYS]
    if "synset" in meta and not isinstance(meta["synset"], str):
        problems.append("meta.synset must be a string")
    relations = meta.get("distractor_relations", {})
    if not (isinstance(relations, dict) and all(
        lang in languages and isinstance(words, dict)
        and all(isinstance(word, str) and isinstance(relation, str) for word, relation in words.items())
        for lang, words in relations.items()
    )):
        problems.append("meta.distractor_relations must map language codes to {distractor: relation} objects")
    return problems


def record_languages(record: Any) -> tuple[str, ...]:
    """The languages a record gives words or distractors in, in order of appearance (the dataset's
    languages, read off its first entry)."""
    if not isinstance(record, dict):
        return ()
    words, distractors = record.get("word"), record.get("distractors")
    found = list(words) if isinstance(words, dict) else []
    if isinstance(distractors, dict):
        found += [lang for key in distractors if isinstance(key, str) for lang in key.split("-")]
    return tuple(dict.fromkeys(found))


def _entry_problems(record: Any, languages: tuple[str, ...]) -> list[str]:
    """Everything wrong with one parsed line, for a dataset in ``languages`` (empty when the entry
    is valid)."""
    if not isinstance(record, dict):
        return ["an entry must be a JSON object"]
    problems = [f"unknown key {key!r}" for key in record if key not in ENTRY_KEYS]
    if "meta" in record:
        problems += _meta_problems(record["meta"], languages)
    version = record.get("schema_version")
    if isinstance(version, bool) or version != SCHEMA_VERSION:  # true == 1 in Python
        problems.append(f"schema_version must be {SCHEMA_VERSION}, found {record.get('schema_version')!r}")
    if not isinstance(record.get("id"), str) or not record["id"].strip():
        problems.append("'id' must be a non-empty string")
    if record.get("pos") not in PARTS_OF_SPEECH:
        problems.append(f"'pos' must be one of {', '.join(PARTS_OF_SPEECH)}, found {record.get('pos')!r}")
    words = record.get("word")
    if not isinstance(words, dict):
        return problems + ["'word' must be an object mapping language codes to words"]
    for lang in languages:
        if lang not in words:
            problems.append(f"word[{lang}] is missing")
        elif not isinstance(words[lang], str) or not words[lang].strip():
            problems.append(f"word[{lang}] must be a non-empty string")
        elif len(words[lang]) > MAX_WORD_CHARS or "\n" in words[lang]:
            problems.append(f"word[{lang}] is not a word ({len(words[lang])} characters; at most {MAX_WORD_CHARS}, "
                            "on one line)")
    problems += [f"word has unknown language {lang!r} (registered: {', '.join(LANGUAGES)})" if lang not in LANGUAGES
                 else f"word has language {lang!r}, which the dataset's first entry lacks"
                 for lang in words if lang not in languages]
    distractors = record.get("distractors")
    if not isinstance(distractors, dict):
        return problems + ["'distractors' must be an object keyed by pair, e.g. 'en-fr'"]
    expected = {pair_key(src, tgt): (src, tgt) for src, tgt in all_pairs(languages)}
    problems += [f"distractors has unknown pair {key!r}" for key in distractors if key not in expected]
    for key, (src, tgt) in expected.items():
        listed = distractors.get(key)
        if listed is None:
            problems.append(f"distractors[{key}] is missing")
            continue
        if not isinstance(listed, list) or not all(isinstance(word, str) for word in listed):
            problems.append(f"distractors[{key}] must be a list of strings")
            continue
        if len(listed) != N_DISTRACTORS:
            problems.append(f"distractors[{key}] has {len(listed)} words, expected {N_DISTRACTORS}")
        if any(not word.strip() for word in listed):
            problems.append(f"distractors[{key}] contains an empty string")
        if any(len(word) > MAX_WORD_CHARS or "\n" in word for word in listed):
            problems.append(f"distractors[{key}] contains a word longer than {MAX_WORD_CHARS} characters or "
                            "with a line break")
        if len(set(listed)) != len(listed):
            problems.append(f"distractors[{key}] repeats a word")
        for role, lang in (("source", src), ("answer", tgt)):
            if isinstance(words.get(lang), str) and words[lang] in listed:
                problems.append(f"distractors[{key}] contains the {role} word {words[lang]!r}")
    return problems


def parse_entries(lines: list[str], source: str) -> tuple[Entry, ...]:
    entries: list[Entry] = []
    errors: list[str] = []
    first_line_of_id: dict[str, int] = {}
    invalid = lambda number, _, detail: errors.append(f"{source}:{number}: {detail}")  # noqa: E731
    languages: tuple[str, ...] | None = None
    for number, record in iter_jsonl(lines, on_invalid=invalid):
        if languages is None:  # the first entry's languages; a broken one is read as the paper's four
            languages = tuple(lang for lang in record_languages(record) if lang in LANGUAGES)
            languages = languages if len(languages) >= 2 else PAPER_LANGUAGES
        problems = _entry_problems(record, languages)
        if not problems:
            if record["id"] in first_line_of_id:
                problems.append(f"duplicate id {record['id']!r} (first on line {first_line_of_id[record['id']]})")
            else:
                first_line_of_id[record["id"]] = number
        if problems:
            errors += [f"{source}:{number}: {problem}" for problem in problems]
            continue
        entries.append(
            Entry(
                id=record["id"],
                pos=record["pos"],
                word={lang: record["word"][lang] for lang in languages},
                distractors={pair_key(s, t): tuple(record["distractors"][pair_key(s, t)]) for s, t in all_pairs(languages)},
                meta=record.get("meta"),
            )
        )
    if errors:
        shown = errors[:MAX_REPORTED_ERRORS]
        more = len(errors) - len(shown)
        raise DatasetError(
            f"invalid CLWTD dataset ({len(errors)} problem(s)):\n  " + "\n  ".join(shown)
            + (f"\n  … and {more} more" if more else "")
        )
    if not entries:
        raise DatasetError(f"{source}: the dataset has no entries")
    return tuple(entries)


def dataset_bytes(name_or_path: str | Path) -> tuple[bytes, str]:
    """The raw content of a CLWTD file or bundled dataset, and the source name manifests give it."""
    if str(name_or_path) in BUNDLED_DATASETS:
        resource = files("pivotlens.clwtd").joinpath(BUNDLED_DATASETS[str(name_or_path)])
        raw, source = resource.read_bytes(), f"bundled:{name_or_path}"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise DatasetError(
                f"dataset {str(name_or_path)!r} is neither a file nor a bundled dataset "
                f"({', '.join(BUNDLED_DATASETS)})"
            )
        raw, source = path.read_bytes(), str(path)
    return raw, source


def dataset_sha256(name_or_path: str | Path) -> str:
    """The content hash of a dataset file or bundled dataset, without parsing it."""
    return hashlib.sha256(dataset_bytes(name_or_path)[0]).hexdigest()


def entries_jsonl(entries: Iterable[Entry]) -> str:
    """The canonical JSONL of entries: UTF-8 words as they are, a fixed key order, so that rebuilds
    and round trips through other formats give the same bytes (and the same sha256)."""
    return "".join(json.dumps(entry.to_json(), ensure_ascii=False) + "\n" for entry in entries)


def load_jsonl_dataset(name_or_path: str | Path) -> Dataset:
    """Load and validate a CLWTD JSONL file, or a bundled dataset by name (e.g. ``"clwtd"``,
    ``"clwtd-v1"``, ``"sample"``)."""
    raw, source = dataset_bytes(name_or_path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DatasetError(f"{source}: not UTF-8 text ({error})") from error
    # split on "\n" only: str.splitlines() would also cut at U+2028 and other breaks inside a JSON string
    return Dataset(parse_entries(text.split("\n"), source), source, hashlib.sha256(raw).hexdigest())
