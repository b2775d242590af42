"""Before/after comparison of cross-lingual ability (the paper's Table 3) with paired bootstrap CIs.

Every model is scored with :func:`pivotlens.scoring.score_dataset` under the same seed, so item i
of pair p sees the same shots for every model; the per-item scores are therefore paired, and a
model's gain over the baseline is estimated on the per-item differences:

* delta(model, pair) = mean over items of (score_model − score_baseline);
* delta(model, avg) = mean over pairs of delta(model, pair) (the paper's "avg" column);
* 95% CI: percentile bootstrap over **entries** — each replicate resamples the entry ids with
  replacement and reuses that one resample for every pair, so the avg column's CI keeps the
  correlation between pairs that share an entry.

:func:`compare_item_scores` is pure (dicts in, a :class:`Comparison` out); :func:`compare_score_dirs`
reads ``items/{pair}.jsonl`` files written by ``pivotlens score``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pivotlens.errors import PivotlensError
from pivotlens.options import option
from pivotlens.records import ITEM_SCORES_DIR, read_item_scores
from pivotlens.scoring.options import ScoreOptions
from pivotlens.tables import escape_markdown

AVG = "avg"
BOOTSTRAP_CHUNK = 500  # replicates drawn at a time (bounds memory: chunk × items counts)

ItemScores = Mapping[str, Mapping[str, float]]  # pair → item id → score


@dataclass(frozen=True)
class CompareOptions(ScoreOptions):
    """The `compare` section of a study and the flags of `pivotlens compare`: every model is scored
    with these score options on the same draws."""

    pairs: str | None = option(None, "pairs to compare, e.g. en-zh,zh-en (default: the study's pairs; all "
                                     "on the command line)")
    bootstrap: int = option(10_000, "bootstrap replicates for the 95% CIs")


@dataclass(frozen=True)
class Cell:
    model: str
    pair: str  # "en-fr" … or "avg"
    n_items: int
    mean: float
    delta: float | None  # None for the baseline row
    ci_low: float | None
    ci_high: float | None

    @property
    def significant(self) -> bool:
        """The CI excludes zero."""
        return self.ci_low is not None and (self.ci_low > 0 or self.ci_high < 0)


@dataclass(frozen=True)
class Comparison:
    baseline: str
    models: list[str]  # table rows, baseline first
    pairs: list[str]  # table columns, "avg" last
    cells: list[Cell]
    n_bootstrap: int
    confidence: float
    seed: int

    def cell(self, model: str, pair: str) -> Cell:
        return next(c for c in self.cells if c.model == model and c.pair == pair)

    def to_json(self) -> dict:
        return {**asdict(self), "cells": [{**asdict(c), "significant": c.significant} for c in self.cells]}


def _paired_arrays(scores: Mapping[str, ItemScores], baseline: str,
                   pairs: Sequence[str]) -> tuple[list[str], dict[str, np.ndarray]]:
    """The shared entry ids, and per model a (pairs × items) score array in that id order."""
    ids = sorted(scores[baseline].get(pairs[0], {}))
    for model, by_pair in scores.items():
        for pair in pairs:
            found = sorted(by_pair.get(pair, {}))
            if found != ids:
                raise PivotlensError(
                    f"{model} has {len(found)} scored items for {pair}, the baseline {baseline} has {len(ids)} for "
                    f"{pairs[0]}: paired deltas need the same items everywhere (finish the scoring, same --limit)"
                )
    if not ids:
        raise PivotlensError("no scored items to compare")
    return ids, {model: np.array([[by_pair[pair][i] for i in ids] for pair in pairs]) for model, by_pair in scores.items()}


def bootstrap_means(differences: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Replicate means (n_bootstrap × pairs) of a (pairs × items) array, resampling items jointly."""
    n_items = differences.shape[1]
    replicates = []
    for start in range(0, n_bootstrap, BOOTSTRAP_CHUNK):
        counts = rng.multinomial(n_items, np.full(n_items, 1 / n_items), size=min(BOOTSTRAP_CHUNK, n_bootstrap - start))
        replicates.append(counts @ differences.T / n_items)
    return np.concatenate(replicates)


def compare_item_scores(
    scores: Mapping[str, ItemScores],
    baseline: str,
    pairs: Sequence[str],
    n_bootstrap: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Table-3 cells (mean, paired delta vs ``baseline``, bootstrap CI) for every model and pair."""
    if baseline not in scores:
        raise PivotlensError(f"baseline {baseline!r} is not among the scored models ({', '.join(scores)})")
    if n_bootstrap < 1 or not 0 < confidence < 1:
        raise PivotlensError("--bootstrap must be ≥ 1 and the confidence in (0, 1)")
    pairs = list(pairs)
    ids, arrays = _paired_arrays(scores, baseline, pairs)
    tail = (1 - confidence) / 2
    models = [baseline, *[m for m in scores if m != baseline]]
    columns = [*pairs, AVG]
    cells = []
    for model in models:
        pair_means = arrays[model].mean(axis=1)
        means = [*pair_means, pair_means.mean()]
        deltas = low = high = [None] * len(columns)
        if model != baseline:
            differences = arrays[model] - arrays[baseline]
            # The same seed for every row: all models are judged on the same resamples.
            replicates = bootstrap_means(differences, n_bootstrap, np.random.default_rng(seed))
            replicates = np.column_stack([replicates, replicates.mean(axis=1)])
            low, high = (list(map(float, q)) for q in np.quantile(replicates, [tail, 1 - tail], axis=0))
            deltas = [*map(float, differences.mean(axis=1)), float(differences.mean())]
        for j, pair in enumerate(columns):
            cells.append(Cell(model, pair, len(ids), float(means[j]), deltas[j], low[j], high[j]))
    return Comparison(baseline, models, columns, cells, n_bootstrap, confidence, seed)


def scores_by_pair(score_dir: Path, pairs: Sequence[str]) -> dict[str, dict[str, float]]:
    """pair → item id → score from a ``pivotlens score`` output directory."""
    found = {}
    for pair in pairs:
        path = score_dir / ITEM_SCORES_DIR / f"{pair}.jsonl"
        if not path.is_file():
            raise PivotlensError(f"{path} is missing: score that pair first (pivotlens score … --pairs {pair})")
        found[pair] = {record.item.id: float(record.score) for record in read_item_scores(path)}
    return found


def compare_score_dirs(score_dirs: Mapping[str, Path], baseline: str, pairs: Sequence[str], **options) -> Comparison:
    return compare_item_scores({name: scores_by_pair(Path(d), pairs) for name, d in score_dirs.items()},
                               baseline, pairs, **options)


def _column(pair: str) -> str:
    return pair if pair == AVG else pair.replace("-", "→")


def comparison_markdown(comparison: Comparison) -> str:
    """Two tables: the scores (like the paper's Table 3), then the deltas with their CIs
    (bold where the CI excludes zero)."""
    header = "| model | " + " | ".join(map(_column, comparison.pairs)) + " |"
    rule = "|---|" + "---:|" * len(comparison.pairs)
    scores = [header, rule]
    deltas = [header, rule]
    for model in comparison.models:
        row = [comparison.cell(model, pair) for pair in comparison.pairs]
        label = escape_markdown(model)
        scores.append(f"| {label} | " + " | ".join(f"{c.mean:.4f}" for c in row) + " |")
        if model == comparison.baseline:
            continue

        def text(c: Cell) -> str:
            value = f"{c.delta:+.4f} [{c.ci_low:+.4f}, {c.ci_high:+.4f}]"
            return f"**{value}**" if c.significant else value

        deltas.append(f"| {label} | " + " | ".join(text(c) for c in row) + " |")
    n = comparison.cells[0].n_items
    return (
        f"## Cross-lingual ability ({n} items per pair)\n\n" + "\n".join(scores) + "\n\n"
        f"## Change vs {escape_markdown(comparison.baseline)} (paired, {comparison.confidence:.0%} bootstrap CI over items, "
        f"{comparison.n_bootstrap} replicates; bold: CI excludes 0)\n\n" + "\n".join(deltas) + "\n"
    )


def write_comparison(comparison: Comparison, out_dir: Path) -> list[Path]:
    """comparison.md, comparison.csv (one row per cell) and comparison.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "comparison.md", out_dir / "comparison.csv", out_dir / "comparison.json"]
    written[0].write_text(comparison_markdown(comparison), encoding="utf-8")
    with written[1].open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "pair", "n_items", "mean", "delta", "ci_low", "ci_high", "significant"])
        for c in comparison.cells:
            optional = ["" if v is None else f"{v:.6f}" for v in (c.delta, c.ci_low, c.ci_high)]
            writer.writerow([c.model, c.pair, c.n_items, f"{c.mean:.6f}", *optional, int(c.significant)])
    written[2].write_text(json.dumps(comparison.to_json(), indent=1))
    return written
