"""The records that cross stages, defined once, each with one writer and one reader (docs/design.md §2):
the translation item, the lens's behaviour record and the scorer's item score (with its draws).

On disk a record is one JSON line of a per-pair file (``{src}-{tgt}.jsonl``); ``to_dict`` gives
its keys in the order the files have always had, ``from_dict`` checks every key and raises a
RecordError naming the file, the line and the key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pivotlens.artifacts import append_jsonl, iter_jsonl
from pivotlens.errors import RecordError
from pivotlens.languages import LANGUAGE_CODES, LANGUAGES

CO_OCCURRENCE = "co-occurrence"
SEMANTIC_PIVOT = "semantic-pivot"
VARIANT = "variant"  # t* is another form of the source, target or English word (" Cats" for cat)
BEHAVIOURS = (CO_OCCURRENCE, SEMANTIC_PIVOT, VARIANT)
# What counts as the output word: the model's own final-layer top-1 (the authors' scripts), the
# dataset's target, or either of them.
OUTPUT_RULES = ("model", "gold", "either")
# How a lens token relates to the item: a token of its source or target word, another form of one
# (or of the entry's English word), or — as a study language's code — a token of the entry's word
# in that third language; None: none of these.
SOURCE, TARGET = "source", "target"
BEHAVIOURS_DIR = "behaviours"  # in a lens output directory
ITEM_SCORES_DIR = "items"  # in a score output directory

R = TypeVar("R")
Check = tuple[Callable[[Any], bool], str]  # test, what the value must be


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _list_of(check: Check) -> Check:
    return (lambda value: isinstance(value, list) and all(check[0](v) for v in value)), f"a list of {check[1]}s"


STRING: Check = (lambda value: isinstance(value, str), "string")
INTEGER: Check = (lambda value: isinstance(value, int) and not isinstance(value, bool), "integer")
NUMBER: Check = (_number, "number")
LANGUAGE: Check = (lambda value: value in LANGUAGES, f"one of {', '.join(LANGUAGES)}")
OBJECT: Check = (lambda value: isinstance(value, dict), "object")


def _checked(data: object, checks: dict[str, Check], where: str) -> dict:
    """``data`` when it is an object with every key of ``checks``, each value passing its check."""
    if not isinstance(data, dict):
        raise RecordError(f"{where}: a record must be a JSON object")
    missing = [key for key in checks if key not in data]
    if missing:
        raise RecordError(f"{where}: missing {', '.join(missing)}")
    for key, (test, wanted) in checks.items():
        if not test(data[key]):
            raise RecordError(f"{where}: {key} must be {wanted}, found {data[key]!r}")
    return data


@dataclass(frozen=True)
class TranslationItem:
    """One word translation of a dataset entry: ``source`` (in ``src``) → ``target`` (in ``tgt``)."""

    id: str
    src: str
    tgt: str
    source: str
    target: str

    CHECKS: ClassVar[dict[str, Check]] = {"id": STRING, "src": LANGUAGE, "tgt": LANGUAGE, "source": STRING, "target": STRING}

    @classmethod
    def of(cls, data: dict) -> TranslationItem:
        """The item of a checked record (its first five keys)."""
        return cls(*(data[key] for key in cls.CHECKS))

    def to_dict(self) -> dict:
        return {"id": self.id, "src": self.src, "tgt": self.tgt, "source": self.source, "target": self.target}


def _tuple_of(check: Check, allow_none: bool = False) -> Check:
    test = (lambda value: value is None or check[0](value)) if allow_none else check[0]
    return (lambda value: isinstance(value, list) and value != [] and all(test(v) for v in value)), \
        f"a non-empty list of {check[1]}s{' or nulls' if allow_none else ''}"


RELATION: Check = (lambda value: value in (SOURCE, TARGET, VARIANT, *LANGUAGE_CODES), "a relation")
BOOLEAN: Check = (lambda value: isinstance(value, bool), "true or false")


@dataclass(frozen=True)
class LensReadout:
    """What the lens saw at an item's first target-predicting position: enough to relabel the item
    under any output rule, first layer or probability floor without the model (docs/design.md §1.3).

    Per layer, the most probable token that may be t* and its relation to the item (SOURCE, TARGET,
    VARIANT, another study language's code, or None); the model's own answer (the final layer's
    top-1 over every token) and whether it is the gold target's first token; per study language,
    P(first token of the entry's word in it) per layer; and the entropy (bits) per layer."""

    draw: int  # the shot draw of the prompt
    layer_top_ids: tuple[int, ...]
    layer_top_tokens: tuple[str, ...]
    layer_top_probabilities: tuple[float, ...]
    layer_top_relations: tuple[str | None, ...]
    output_token_id: int
    output_token: str
    output_probability: float
    output_is_target: bool
    language_probability_by_layer: dict[str, tuple[float, ...]]
    entropy_by_layer: tuple[float, ...]

    CHECKS: ClassVar[dict[str, Check]] = {
        "draw": INTEGER, "output_token_id": INTEGER, "output_token": STRING, "output_probability": NUMBER,
        "output_is_target": BOOLEAN, "layer_top_ids": _tuple_of(INTEGER), "layer_top_tokens": _tuple_of(STRING),
        "layer_top_probabilities": _tuple_of(NUMBER), "layer_top_relations": _tuple_of(RELATION, allow_none=True),
        "language_probability_by_layer": (lambda value: isinstance(value, dict) and all(
            code in LANGUAGE_CODES and _tuple_of(NUMBER)[0](layers) for code, layers in value.items()),
            "an object of study language → non-empty list of numbers"),
        "entropy_by_layer": _tuple_of(NUMBER),
    }

    @classmethod
    def of(cls, data: dict) -> LensReadout:
        return cls(data["draw"], *(tuple(data[key]) for key in ("layer_top_ids", "layer_top_tokens",
                                                                 "layer_top_probabilities", "layer_top_relations")),
                   data["output_token_id"], data["output_token"], data["output_probability"], data["output_is_target"],
                   {code: tuple(layers) for code, layers in data["language_probability_by_layer"].items()},
                   tuple(data["entropy_by_layer"]))

    @property
    def n_layers(self) -> int:
        return len(self.layer_top_ids)


@dataclass(frozen=True)
class BehaviourRecord:
    """The lens's verdict on one item (docs/design.md §1.3): t* = the most probable token at the
    first target-predicting position over the layers searched, its label under ``output_rule``, and
    the readout it was derived from (which relabels it under other rules)."""

    item: TranslationItem
    behaviour: str  # one of BEHAVIOURS
    top_token_id: int  # t*
    top_token: str
    peak_layer: int  # 1-based
    peak_probability: float
    pivot_token_id: int | None  # t* for a semantic pivot, else None
    pivot_token: str | None
    target_probability_by_layer: tuple[float, ...]
    output_rule: str
    first_layer: int  # the lowest layer searched for t*
    readout: LensReadout

    CHECKS: ClassVar[dict[str, Check]] = {
        **TranslationItem.CHECKS,
        "behaviour": (lambda value: value in BEHAVIOURS, f"one of {', '.join(BEHAVIOURS)}"),
        "output_rule": (lambda value: value in OUTPUT_RULES, f"one of {', '.join(OUTPUT_RULES)}"),
        "first_layer": INTEGER,
        "top_token_id": INTEGER, "top_token": STRING, "peak_layer": INTEGER, "peak_probability": NUMBER,
        "pivot_token_id": (lambda value: value is None or INTEGER[0](value), "an integer or null"),
        "pivot_token": (lambda value: value is None or isinstance(value, str), "a string or null"),
        "target_probability_by_layer": (lambda value: isinstance(value, list) and value != [] and all(map(_number, value)),
                                        "a non-empty list of numbers"),
        **LensReadout.CHECKS,
    }

    @classmethod
    def from_dict(cls, data: object, where: str) -> BehaviourRecord:
        if isinstance(data, dict) and "behaviour" in data and "output_token_id" not in data:
            raise RecordError(f"{where}: a behaviour record in the old format (no output_token_id: the "
                              "model's own answer was not stored and the label used the gold target, so it cannot "
                              "be relabelled under the output rules): rerun `pivotlens lens classify` (or the "
                              "study's lens stage) into a new directory")
        data = _checked(data, cls.CHECKS, where)
        return cls(TranslationItem.of(data), data["behaviour"], data["top_token_id"], data["top_token"],
                   data["peak_layer"], data["peak_probability"], data["pivot_token_id"], data["pivot_token"],
                   tuple(data["target_probability_by_layer"]), data["output_rule"], data["first_layer"],
                   LensReadout.of(data))

    def to_dict(self) -> dict:
        r = self.readout
        return {**self.item.to_dict(), "draw": r.draw, "behaviour": self.behaviour, "output_rule": self.output_rule,
                "first_layer": self.first_layer, "top_token_id": self.top_token_id,
                "top_token": self.top_token, "peak_layer": self.peak_layer, "peak_probability": self.peak_probability,
                "pivot_token_id": self.pivot_token_id, "pivot_token": self.pivot_token,
                "output_token_id": r.output_token_id, "output_token": r.output_token,
                "output_probability": r.output_probability, "output_is_target": r.output_is_target,
                "layer_top_ids": list(r.layer_top_ids), "layer_top_tokens": list(r.layer_top_tokens),
                "layer_top_probabilities": list(r.layer_top_probabilities),
                "layer_top_relations": list(r.layer_top_relations),
                "target_probability_by_layer": list(self.target_probability_by_layer),
                "language_probability_by_layer": {code: list(p) for code, p in r.language_probability_by_layer.items()},
                "entropy_by_layer": list(r.entropy_by_layer)}


@dataclass(frozen=True)
class DrawScore:
    """One shot draw of an item: P(source | shots), P(each distractor | same shots), their difference."""

    seed: int
    shots: tuple[str, ...]  # entry ids of the shots
    p_source: float
    p_distractors: tuple[float, ...]
    score: float  # p_source − mean(p_distractors)

    CHECKS: ClassVar[dict[str, Check]] = {"seed": INTEGER, "shots": _list_of(STRING), "p_source": NUMBER,
                                          "p_distractors": _list_of(NUMBER), "score": NUMBER}

    @classmethod
    def from_dict(cls, data: object, where: str) -> DrawScore:
        data = _checked(data, cls.CHECKS, where)
        return cls(data["seed"], tuple(data["shots"]), data["p_source"], tuple(data["p_distractors"]), data["score"])

    def to_dict(self) -> dict:
        return {"seed": self.seed, "shots": list(self.shots), "p_source": self.p_source,
                "p_distractors": list(self.p_distractors), "score": self.score}


@dataclass(frozen=True)
class ItemScore:
    """The cross-lingual ability score of one item (docs/design.md §1.2): the mean over its draws."""

    item: TranslationItem
    distractors: tuple[str, ...]
    score: float
    draws: tuple[DrawScore, ...]

    CHECKS: ClassVar[dict[str, Check]] = {**TranslationItem.CHECKS, "distractors": _list_of(STRING), "score": NUMBER,
              "draws": _list_of(OBJECT)}

    @classmethod
    def from_dict(cls, data: object, where: str) -> ItemScore:
        data = _checked(data, cls.CHECKS, where)
        draws = tuple(DrawScore.from_dict(d, f"{where}: draws[{i}]") for i, d in enumerate(data["draws"]))
        return cls(TranslationItem.of(data), tuple(data["distractors"]), data["score"], draws)

    def to_dict(self) -> dict:
        return {**self.item.to_dict(), "distractors": list(self.distractors), "score": self.score,
                "draws": [draw.to_dict() for draw in self.draws]}


def _write(path: Path, records: Iterable[BehaviourRecord | ItemScore]) -> None:
    append_jsonl(path, (record.to_dict() for record in records))


def _read(path: Path, from_dict: Callable[[object, str], R]) -> list[R]:
    """The records of one results file; an item twice would be averaged in twice, so it is an error."""
    records, first_line = [], {}
    for number, data in iter_jsonl(path):
        record = from_dict(data, f"{path}:{number}")
        key = (record.item.id, record.item.src, record.item.tgt)
        if key in first_line:
            raise RecordError(f"{path}:{number}: item {key[0]!r} ({key[1]}-{key[2]}) again (first on line "
                              f"{first_line[key]}); a results file holds each item once: delete one of them")
        first_line[key] = number
        records.append(record)
    return records


def write_behaviours(path: Path, records: Iterable[BehaviourRecord]) -> None:
    """Append behaviour records to a per-pair file (fsynced: see artifacts.append_jsonl)."""
    _write(path, records)


def read_behaviours(path: Path) -> list[BehaviourRecord]:
    return _read(path, BehaviourRecord.from_dict)


def behaviour_files(lens_dir: str | Path) -> list[Path]:
    """The per-pair behaviour files of a lens output directory (or of its behaviours/ folder)."""
    lens_dir = Path(lens_dir)
    folder = lens_dir / BEHAVIOURS_DIR if (lens_dir / BEHAVIOURS_DIR).is_dir() else lens_dir
    files = sorted(folder.glob("*-*.jsonl"))
    if not files:
        raise RecordError(f"no behaviour files ({{src}}-{{tgt}}.jsonl) in {folder}: run `pivotlens lens classify` first")
    return files


def read_lens_behaviours(lens_dir: str | Path) -> list[BehaviourRecord]:
    """Every behaviour record of a lens output directory, file by file."""
    return [record for path in behaviour_files(lens_dir) for record in read_behaviours(path)]


def write_item_scores(path: Path, scores: Iterable[ItemScore]) -> None:
    """Append item scores to a per-pair file (fsynced: see artifacts.append_jsonl)."""
    _write(path, scores)


def read_item_scores(path: Path) -> list[ItemScore]:
    return _read(path, ItemScore.from_dict)
