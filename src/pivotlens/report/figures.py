"""Figures drawn with matplotlib (headless Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pivotlens.languages import LANGUAGES  # noqa: E402


def plot_ability_heatmap(summary: dict, path: Path, title: str | None = None) -> Path:
    """Source languages as rows, targets as columns, each cell annotated; like the paper's Fig. 1."""
    codes = summary["languages"]
    values = np.array([[np.nan if summary["matrix"][s][t] is None else summary["matrix"][s][t] for t in codes] for s in codes])
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    finite = values[np.isfinite(values)]
    bound = max(float(np.abs(finite).max()) if finite.size else 1.0, 1e-6)
    image = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu_r", vmin=-bound, vmax=bound)
    names = [LANGUAGES[c].name for c in codes]
    ax.set_xticks(range(len(codes)), names)
    ax.set_yticks(range(len(codes)), names)
    ax.set_xlabel("target language")
    ax.set_ylabel("source language")
    for i in range(len(codes)):
        for j in range(len(codes)):
            text = "—" if not np.isfinite(values[i, j]) else f"{values[i, j]:.3f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=9,
                    color="white" if np.isfinite(values[i, j]) and abs(values[i, j]) > 0.6 * bound else "black")
    fig.colorbar(image, ax=ax, label="calibrated score")
    ax.set_title(title or f"Cross-lingual ability (mean {summary['mean']:.4f})")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
