"""Latent-language curves (Wendler et al. 2024, *Do Llamas Work in English?*): per layer, at the
first target-predicting position, the lens probability of the entry's word in each study language
(the summed probability of the first token of each of its tokenisations) and the entropy of the
lens distribution, as mean and 95 % t-interval over the items of each pair.

The per-item values are stored by `lens classify` in each record's readout, so this needs no model.
Where two languages spell the word alike (Chinese and Japanese kanji) their curves share tokens.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pivotlens.artifacts import write_atomic
from pivotlens.errors import PivotlensError
from pivotlens.languages import LANGUAGE_CODES, pair_key
from pivotlens.records import BehaviourRecord, read_lens_behaviours

ENTROPY = "entropy"


def mean_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 and its two-sided t-interval (the mean itself with one item)."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    mean = values.mean(axis=0)
    if len(values) < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(axis=0, ddof=1) / np.sqrt(len(values))
    return mean, mean - half, mean + half


def language_curves(records: Sequence[BehaviourRecord]) -> dict[str, dict]:
    """pair → {"n_items", "curves": {language or ENTROPY: {"mean", "ci_low", "ci_high"} per layer}}."""
    grouped: dict[str, list[BehaviourRecord]] = {}
    for record in records:
        grouped.setdefault(pair_key(record.item.src, record.item.tgt), []).append(record)
    result = {}
    for pair, rs in grouped.items():
        codes = [c for c in LANGUAGE_CODES if all(c in r.readout.language_probability_by_layer for r in rs)]
        series = {code: np.array([r.readout.language_probability_by_layer[code] for r in rs]) for code in codes}
        series[ENTROPY] = np.array([r.readout.entropy_by_layer for r in rs])
        curves = {}
        for name, values in series.items():
            mean, low, high = mean_ci(values)
            curves[name] = {"mean": mean.tolist(), "ci_low": low.tolist(), "ci_high": high.tolist()}
        result[pair] = {"n_items": len(rs), "curves": curves}
    return result


def peak_rows(curves: dict[str, dict]) -> list[dict]:
    """Per pair and language: the layer where its mean probability peaks, the peak, the last layer's."""
    rows = []
    for pair, entry in curves.items():
        for code, curve in entry["curves"].items():
            if code == ENTROPY:
                continue
            mean = np.array(curve["mean"])
            peak = int(mean.argmax())
            rows.append({"pair": pair, "language": code, "items": entry["n_items"], "peak layer": peak + 1,
                         "peak mean P": float(mean[peak]), "95% CI at peak": f"{curve['ci_low'][peak]:.4f}–"
                         f"{curve['ci_high'][peak]:.4f}", "last layer mean P": float(mean[-1])})
    return rows


def write_language_curves(lens_dir: str | Path, out_dir: str | Path) -> dict[str, dict]:
    """languages.json (per pair, language and layer: mean and 95 % CI) and languages.csv."""
    records = read_lens_behaviours(lens_dir)
    if not any(r.readout.language_probability_by_layer for r in records):
        raise PivotlensError(f"{lens_dir}: the records hold no per-language probabilities")
    curves = language_curves(records)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "languages.json", json.dumps(curves, indent=1))
    lines = ["pair,series,layer,mean,ci_low,ci_high"]
    for pair, entry in curves.items():
        for name, curve in entry["curves"].items():
            lines += [f"{pair},{name},{layer + 1},{m:.6g},{lo:.6g},{hi:.6g}"
                      for layer, (m, lo, hi) in enumerate(zip(curve["mean"], curve["ci_low"], curve["ci_high"]))]
    write_atomic(out / "languages.csv", "\n".join(lines) + "\n")
    return curves
