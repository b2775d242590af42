"""Figures of the training stage: ability deltas vs the baseline, and metrics across checkpoints.

A comparison is read through its attributes (``models``, ``baseline``, ``pairs``, ``cell(model, pair)``),
so this floor imports nothing from ``pivotlens.training``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pivotlens.languages import LANGUAGES, pair_key, pair_languages
from pivotlens.plots.figures import draw_ability_heatmap, plt, save_figure  # figures sets the headless Agg backend


def _delta_bound(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return max(float(np.abs(finite).max()) if finite.size else 1.0, 1e-6)


def plot_delta_table(comparison, path: Path) -> Path:
    """Models (rows) × pairs + avg (columns), coloured by the delta vs the baseline; a ✱ marks a
    cell whose CI excludes zero. The graphic twin of the delta table in comparison.md."""
    models = [m for m in comparison.models if m != comparison.baseline]
    columns = comparison.pairs
    cells = [[comparison.cell(m, p) for p in columns] for m in models]
    values = np.array([[c.delta for c in row] for row in cells], dtype=float)
    bound = _delta_bound(values)
    fig, ax = plt.subplots(figsize=(0.95 * len(columns) + 2.6, 0.6 * len(models) + 2.0), layout="constrained")
    image = ax.imshow(values, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
    for i, row in enumerate(cells):
        for j, cell in enumerate(row):
            ax.text(j, i, f"{cell.delta:+.4f}" + ("✱" if cell.significant else ""), ha="center", va="center",
                    fontsize=7, color="white" if abs(cell.delta) > 0.6 * bound else "black")
    ax.set_xticks(range(len(columns)), [c.replace("-", "→") for c in columns], rotation=45, ha="right")
    ax.set_yticks(range(len(models)), models)
    fig.colorbar(image, ax=ax, label=f"Δ score vs {comparison.baseline}")
    ax.set_title(f"Change in cross-lingual ability vs {comparison.baseline}\n"
                 f"(✱: {comparison.confidence:.0%} CI excludes 0)", fontsize=9)
    return save_figure(fig, path)


def plot_delta_matrices(comparison, path: Path) -> Path:
    """One N×N panel per model (sources as rows, targets as columns, like Figure 1) of the delta
    vs the baseline; pairs that were not compared stay blank."""
    models = [m for m in comparison.models if m != comparison.baseline]
    compared = set(comparison.pairs)
    codes = list(pair_languages(tuple(pair.split("-")) for pair in compared if pair.count("-") == 1))
    matrices = [np.array([[comparison.cell(m, pair_key(s, t)).delta if pair_key(s, t) in compared else np.nan
                           for t in codes] for s in codes], dtype=float) for m in models]
    bound = _delta_bound(np.stack(matrices))
    fig, axes = plt.subplots(1, len(models), figsize=(4.3 * len(models) + 1.4, 4.4), squeeze=False, layout="constrained")
    names = [LANGUAGES[c].name for c in codes]
    for ax, model, matrix in zip(axes[0], models, matrices):
        image = ax.imshow(np.ma.masked_invalid(matrix), cmap="RdBu_r", vmin=-bound, vmax=bound)
        for i in range(len(codes)):
            for j in range(len(codes)):
                if np.isfinite(matrix[i, j]):
                    ax.text(j, i, f"{matrix[i, j]:+.4f}", ha="center", va="center", fontsize=8,
                            color="white" if abs(matrix[i, j]) > 0.6 * bound else "black")
        ax.set_xticks(range(len(codes)), names, rotation=30)
        ax.set_yticks(range(len(codes)), names)
        ax.set_xlabel("target language")
        ax.set_title(f"{model} (avg {comparison.cell(model, 'avg').delta:+.4f})", fontsize=10)
    axes[0][0].set_ylabel("source language")
    fig.colorbar(image, ax=axes[0].tolist(), label=f"Δ score vs {comparison.baseline}")
    return save_figure(fig, path)


def plot_checkpoint_curves(rows: list[dict], path: Path, title: str, x_label: str) -> Path:
    """Figure-6 analogue: the word-level ability (left axis) and sentence-level chrF++ (right axis)
    over checkpoints; ``rows`` hold ``x``, ``ability`` and ``chrf``."""
    x = [row["x"] for row in rows]
    fig, left = plt.subplots(figsize=(6.4, 4.0))
    right = left.twinx()
    left.plot(x, [row["ability"] for row in rows], marker="o", color="tab:blue", label="word-level ability (avg)")
    right.plot(x, [row["chrf"] for row in rows], marker="s", color="tab:orange", label="chrF++")
    left.set_xlabel(x_label)
    left.set_ylabel("cross-lingual ability (calibrated score)", color="tab:blue")
    right.set_ylabel("chrF++", color="tab:orange")
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles, [h.get_label() for h in handles], loc="best", fontsize=8)
    left.set_title(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def _score_heatmaps(out_dir: Path) -> list[Path]:
    return [draw_ability_heatmap(d) for d in sorted((out_dir / "scores").glob("*")) if (d / "matrix.json").is_file()]


def draw_comparison_figures(comparison, out_dir: Path) -> list[Path]:
    """deltas.png and delta_matrices.png beside comparison.md (when there is a model to compare), and
    the heatmap of each model's scores under ``out_dir/scores``."""
    written = _score_heatmaps(out_dir)
    if len(comparison.models) < 2:
        return written
    return written + [plot_delta_table(comparison, out_dir / "deltas.png"),
                      plot_delta_matrices(comparison, out_dir / "delta_matrices.png")]


def draw_checkpoint_figures(rows: list[dict], pairs, chrf, out_dir: Path) -> list[Path]:
    """checkpoints.png (word-level ability and chrF++ across checkpoints) and each checkpoint's heatmap."""
    by_step = all(row["step"] is not None for row in rows)
    pair_names = ",".join(pair_key(s, t) for s, t in pairs)
    title = (f"word-level ({pair_names if len(pairs) < 4 else 'avg of the pairs'}) vs "
             f"chrF++ {chrf.src}→{chrf.tgt}")
    return _score_heatmaps(out_dir) + [plot_checkpoint_curves(rows, out_dir / "checkpoints.png", title,
                                              "training step" if by_step else "checkpoint")]
