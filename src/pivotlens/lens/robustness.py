"""How far the lens labels rest on the choices behind them (docs/design.md §1.3), in one place:

- the semantic-pivot share per pair under each lowest searched layer (1, L/4, L/2, 3L/4) and each
  output rule, and with a probability floor under t* (a t* below it is no confident peak);
- the share of items whose t* sits at the lowest layer searched (a boundary artefact when large);
- the agreement of the labels across shot draws (Fleiss' kappa per pair, and the unanimous share);
- the share of pivot t* that are tokens of the entry's word in another study language (does the
  model pivot through English?), and the most frequent pivots under each first layer.

Everything but the extra shot draws is relabelled from the stored readouts, without the model.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from pivotlens.artifacts import StageDirectory, write_atomic
from pivotlens.clwtd import Dataset
from pivotlens.errors import PivotlensError
from pivotlens.languages import LANGUAGE_CODES, pair_key
from pivotlens.lens.behaviour import label
from pivotlens.lens.translation import ClassifyConfig, classify_dataset
from pivotlens.models.loading import LoadedModel
from pivotlens.records import BEHAVIOURS, OUTPUT_RULES, SEMANTIC_PIVOT, BehaviourRecord, read_lens_behaviours
from pivotlens.tables import markdown_table

ALL = "all"


def first_layer_choices(n_layers: int) -> dict[str, int]:
    """The lowest searched layers compared: 1 (the paper), L/4, L/2 (the default), 3L/4 (rounded up)."""
    return {"1": 1, "L/4": max(1, -(-n_layers // 4)), "L/2": (n_layers + 1) // 2, "3L/4": -(-3 * n_layers // 4)}


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of ``counts`` [items, categories]: how many raters put each item in each
    category, the same number of raters for every item. NaN when chance agreement is 1 (every
    rating in one category) or there are fewer than two raters."""
    counts = np.asarray(counts, dtype=float)
    raters = counts.sum(axis=1)
    if len(counts) == 0 or raters[0] < 2 or not np.all(raters == raters[0]):
        if len(counts) and not np.all(raters == raters[0]):
            raise ValueError("every item needs the same number of ratings")
        return float("nan")
    n = raters[0]
    category_share = counts.sum(axis=0) / counts.sum()
    agreement = ((counts ** 2).sum(axis=1) - n) / (n * (n - 1))
    chance = float((category_share ** 2).sum())
    return float((agreement.mean() - chance) / (1 - chance)) if chance < 1 else float("nan")


def _by_pair(records: Sequence[BehaviourRecord]) -> dict[str, list[BehaviourRecord]]:
    grouped: dict[str, list[BehaviourRecord]] = {}
    for record in records:
        grouped.setdefault(pair_key(record.item.src, record.item.tgt), []).append(record)
    return grouped


def _with_all(grouped: dict[str, list]) -> dict[str, list]:
    return {**grouped, ALL: [r for records in grouped.values() for r in records]}


def pivot_shares(records: Sequence[BehaviourRecord], floor: float) -> list[dict]:
    """One row per (output rule, first layer[, floor]): the semantic-pivot share in each pair and
    over all pairs; the floored rows at the records' own first layer."""
    grouped = _with_all(_by_pair(records))
    n_layers = records[0].readout.n_layers
    own = records[0].first_layer
    rows = []
    for rule in OUTPUT_RULES:
        for name, first in first_layer_choices(n_layers).items():
            rows.append({"rule": rule, "first layer": f"{first} ({name})", "floor": 0.0,
                         **{pair: _share(rs, rule, first, 0.0) for pair, rs in grouped.items()}})
    for rule in OUTPUT_RULES:
        rows.append({"rule": rule, "first layer": f"{own}", "floor": floor,
                     **{pair: _share(rs, rule, own, floor) for pair, rs in grouped.items()}})
    return rows


def _share(records: Sequence[BehaviourRecord], rule: str, first_layer: int, floor: float) -> float:
    behaviours = [label(r.readout, rule, first_layer) for r in records]
    return sum(b.kind == SEMANTIC_PIVOT and b.peak_probability >= floor for b in behaviours) / len(records)


def lowest_layer_shares(records: Sequence[BehaviourRecord]) -> list[dict]:
    """Per first-layer choice: the share of items whose t* is at the lowest layer searched."""
    grouped = _with_all(_by_pair(records))
    rows = []
    for name, first in first_layer_choices(records[0].readout.n_layers).items():
        rows.append({"first layer": f"{first} ({name})", **{
            pair: sum(label(r.readout, "gold", first).peak_layer == first for r in rs) / len(rs)
            for pair, rs in grouped.items()}})
    return rows


def frequent_pivots(records: Sequence[BehaviourRecord], rule: str, top: int = 5) -> list[dict]:
    """Per first-layer choice: the share of items that are pivots, and the most frequent pivot t*."""
    rows = []
    for name, first in first_layer_choices(records[0].readout.n_layers).items():
        behaviours = [label(r.readout, rule, first) for r in records]
        pivots = Counter(b.token for b in behaviours if b.kind == SEMANTIC_PIVOT)
        total = sum(pivots.values())
        rows.append({"first layer": f"{first} ({name})", "pivots": total,
                     "most frequent t* (count)": "; ".join(f"{t!r} {c}" for t, c in pivots.most_common(top))
                     ,
                     "share of the most frequent": (pivots.most_common(1)[0][1] / total) if total else float("nan")})
    return rows


def draw_agreement(draws: Sequence[Sequence[BehaviourRecord]], rule: str) -> list[dict]:
    """Per pair (and all pairs): items labelled in every draw, Fleiss' kappa over the behaviours
    (draws as raters), the share of items with one label in every draw, and the pivot share per draw."""
    keyed = [{(r.item.id, r.item.src, r.item.tgt): r for r in records} for records in draws]
    shared = sorted(set.intersection(*(set(k) for k in keyed)))
    rows = []
    for pair in [*dict.fromkeys(pair_key(s, t) for _, s, t in shared), ALL]:
        keys = [k for k in shared if pair == ALL or pair_key(k[1], k[2]) == pair]
        labels = [[label(d[k].readout, rule, d[k].first_layer).kind for d in keyed] for k in keys]
        counts = np.array([[row.count(kind) for kind in BEHAVIOURS] for row in labels])
        rows.append({"pair": pair, "items": len(keys), "draws": len(draws), "fleiss kappa": fleiss_kappa(counts),
                     "unanimous": float(np.mean([len(set(row)) == 1 for row in labels])),
                     "pivot share per draw": ", ".join(f"{np.mean([row[d] == SEMANTIC_PIVOT for row in labels]):.2f}"
                                                       for d in range(len(draws)))})
    return rows


def pivots_through_languages(records: Sequence[BehaviourRecord], rule: str) -> list[dict]:
    """Per pair: pivot items (at the records' first layer), and the share whose t* is a token of the
    entry's word in another study language, per language."""
    codes = [code for code in LANGUAGE_CODES if any(code in r.readout.language_probability_by_layer for r in records)]
    rows = []
    for pair, rs in _with_all(_by_pair(records)).items():
        pivots = []
        for r in rs:
            b = label(r.readout, rule, r.first_layer)
            if b.kind == SEMANTIC_PIVOT:
                pivots.append(r.readout.layer_top_relations[b.peak_layer - 1])
        n = len(pivots)
        rows.append({"pair": pair, "pivots": n,
                     "word of another study language": sum(p in LANGUAGE_CODES for p in pivots) / n if n else float("nan"),
                     **{code: sum(p == code for p in pivots) / n if n else float("nan") for code in codes}})
    return rows


@dataclass(frozen=True)
class RobustnessConfig:
    draws: int = 5
    floor: float = 0.05
    rule: str = "model"  # the rule of the agreement, the frequent pivots and the language shares

    def __post_init__(self) -> None:
        if self.draws < 1 or not 0 <= self.floor < 1 or self.rule not in OUTPUT_RULES:
            raise PivotlensError("robustness: --draws must be ≥ 1, --floor in [0, 1), the rule one of "
                                 f"{', '.join(OUTPUT_RULES)}")


def draw_directory(out_dir: Path, draw: int) -> Path:
    return out_dir / f"draw-{draw}"


def run_robustness(
    lens_dir: str | Path, out_dir: str | Path, config: RobustnessConfig, classify: ClassifyConfig | None = None,
    loaded: LoadedModel | None = None, dataset: Dataset | None = None, progress: Callable[[int], None] | None = None,
) -> dict:
    """Classify draws 1…draws−1 of the lens run's items (``classify``: the lens run's config; its
    ``limit`` bounds the items of the extra draws), then write robustness.json and robustness.md."""
    out = Path(out_dir)
    records = read_lens_behaviours(lens_dir)
    if not records:
        raise PivotlensError(f"{lens_dir}: no behaviour records")
    directory = StageDirectory(out, "lens-robustness").claim(
        {"config": asdict(config), "classify": classify.identity() if classify else None},
        {"lens_dir": str(lens_dir)})
    directory.reopen()
    draws = [records]
    if config.draws > 1:
        if classify is None or loaded is None or dataset is None:
            raise PivotlensError("robustness over shot draws needs the model, the dataset and the lens run's config")
        pairs = tuple(dict.fromkeys((r.item.src, r.item.tgt) for r in records))
        for draw in range(1, config.draws):
            folder = draw_directory(out, draw)
            classify_dataset(loaded, dataset, replace(classify, draw=draw, pairs=pairs), folder, progress)
            draws.append(read_lens_behaviours(folder))
    result = {
        "config": {"draws": config.draws, "floor": config.floor, "rule": config.rule,
                   "layers": records[0].readout.n_layers, "first_layer": records[0].first_layer},
        "pivot_shares": pivot_shares(records, config.floor),
        "lowest_layer_shares": lowest_layer_shares(records),
        "frequent_pivots": frequent_pivots(records, config.rule),
        "draw_agreement": draw_agreement(draws, config.rule),
        "pivots_through_languages": pivots_through_languages(records, config.rule),
    }
    write_atomic(out / "robustness.json", json.dumps(result, indent=1, ensure_ascii=False))
    write_atomic(out / "robustness.md", robustness_markdown(result))
    directory.complete({"items": len(records)})
    return result


TITLES = {
    "pivot_shares": "Semantic-pivot share by output rule and lowest searched layer (floored rows: t* below the floor "
                    "counts as no pivot)",
    "lowest_layer_shares": "Share of items whose t* sits at the lowest layer searched",
    "frequent_pivots": "Most frequent pivot t* by lowest searched layer",
    "draw_agreement": "Label agreement across shot draws (Fleiss' kappa; draws as raters)",
    "pivots_through_languages": "Share of pivot t* that are a token of the entry's word in another study language",
}


def robustness_markdown(result: dict) -> str:
    return "\n".join(f"### {TITLES[key]}\n\n{markdown_table(result[key], digits=3)}\n" for key in TITLES)
