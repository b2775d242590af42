"""Figures drawn with matplotlib (headless Agg backend)."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from pivotlens.languages import LANGUAGES  # noqa: E402
from pivotlens.records import BEHAVIOURS, CO_OCCURRENCE, SEMANTIC_PIVOT, VARIANT  # noqa: E402
from pivotlens.tables import format_cell  # noqa: E402


def plot_ability_heatmap(summary: dict, path: Path, title: str | None = None) -> Path:
    """Source languages as rows, targets as columns, each cell annotated; like the paper's Fig. 1."""
    codes = summary["languages"]
    values = np.array([[np.nan if summary["matrix"][s][t] is None else summary["matrix"][s][t] for t in codes] for s in codes])
    n = len(codes)  # the figure grows with the languages: N × N cells
    fig, ax = plt.subplots(figsize=(max(5.2, 0.75 * n + 2.2), max(4.4, 0.62 * n + 1.9)))
    finite = values[np.isfinite(values)]
    bound = max(float(np.abs(finite).max()) if finite.size else 1.0, 1e-6)
    image = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu_r", vmin=-bound, vmax=bound)
    names = [LANGUAGES[c].name for c in codes]
    ax.set_xticks(range(len(codes)), names, rotation=0 if n <= 4 else 45, ha="center" if n <= 4 else "right")
    ax.set_yticks(range(len(codes)), names)
    ax.set_xlabel("target language")
    ax.set_ylabel("source language")
    for i in range(len(codes)):
        for j in range(len(codes)):
            value = values[i, j]
            text = "—" if not np.isfinite(value) else f"{value:.3f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"
            ax.text(j, i, text, ha="center", va="center", fontsize=9 if n <= 6 else 7,
                    color="white" if np.isfinite(value) and abs(value) > 0.6 * bound else "black")
    fig.colorbar(image, ax=ax, label="calibrated score")
    ax.set_title(title or f"Cross-lingual ability (mean {summary['mean']:.4f})")
    fig.tight_layout()
    return save_figure(fig, path)


def draw_ability_heatmap(score_dir: Path) -> Path:
    """heatmap.png beside a score directory's matrix.json."""
    summary = json.loads((Path(score_dir) / "matrix.json").read_text())
    return plot_ability_heatmap(summary, Path(score_dir) / "heatmap.png")


def use_script_fonts(languages: Iterable[str] | None = None) -> list[str]:
    """Put the registry's font of each language (default: every registered one) in matplotlib's
    fallback chain, after DejaVu Sans; warn once per missing font. Returns the fonts in use."""
    from matplotlib import font_manager

    wanted = list(dict.fromkeys(LANGUAGES[code].font for code in (languages or LANGUAGES)))
    installed = {font.name for font in font_manager.fontManager.ttflist}
    if not set(wanted) <= installed:
        # matplotlib caches its font list: a font installed after that cache was built is unseen.
        keys = [name.replace(" ", "") for name in wanted if name not in installed]
        for path in font_manager.findSystemFonts():  # NotoSansCJK-Regular.ttc holds Noto Sans CJK JP, SC, KR …
            if any(key.startswith(Path(path).name.split("-")[0]) for key in keys):
                font_manager.fontManager.addfont(path)
        installed = {font.name for font in font_manager.fontManager.ttflist}
    for name in wanted:
        if name not in installed and name not in _WARNED_FONTS:
            _WARNED_FONTS.add(name)
            scripts = ", ".join(sorted({LANGUAGES[code].script for code in LANGUAGES if LANGUAGES[code].font == name}))
            warnings.warn(f"font {name!r} not found: {scripts} text in figures will show as boxes; install it with "
                          "`apt-get install fonts-noto-core fonts-noto-cjk`", stacklevel=2)
    found = [name for name in wanted if name in installed]
    plt.rcParams["font.family"] = list(dict.fromkeys(["DejaVu Sans", *found]))
    return found


_WARNED_FONTS: set[str] = set()


def _short(token: str, width: int = 8) -> str:
    text = token.replace("\n", "\\n").replace("\t", "\\t")
    if not text.strip():
        text = "␣" * len(text) if text else "∅"
    return text if len(text) <= width else text[: width - 1] + "…"


def _draw_trace(ax: plt.Axes, input_tokens: list[str], top_tokens: list[list[str]], top_probabilities: np.ndarray,
                title: str):
    n_layers, n_positions = top_probabilities.shape
    image = ax.imshow(top_probabilities[::-1], cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for row in range(n_layers):
        layer = n_layers - 1 - row
        for column in range(n_positions):
            probability = top_probabilities[layer, column]
            ax.text(column, row, _short(top_tokens[layer][column]), ha="center", va="center", fontsize=8,
                    color="white" if probability > 0.6 else "black")
    ax.set_xticks(range(n_positions), [_short(token, 10) for token in input_tokens])
    ax.set_yticks(range(n_layers), [str(n_layers - row) for row in range(n_layers)])
    ax.set_xlabel("input position (the token at that position)")
    ax.set_ylabel("layer")
    ax.set_title(title)
    return image


def lens_trace_figure(
    input_tokens: list[str], top_tokens: list[list[str]], top_probabilities: np.ndarray, title: str
) -> plt.Figure:
    """Figure-2-style heatmap: layers (rows, top = last) × positions, coloured by the top-1
    probability and annotated with the decoded top-1 token."""
    use_script_fonts()
    n_layers, n_positions = top_probabilities.shape
    fig, ax = plt.subplots(figsize=(1.3 * n_positions + 2.5, 0.38 * n_layers + 1.8))
    fig.colorbar(_draw_trace(ax, input_tokens, top_tokens, top_probabilities, title), ax=ax, label="top-1 probability")
    fig.tight_layout()
    return fig


def lens_trace_comparison_figure(
    input_tokens: list[str], panels: list[tuple[str, list[list[str]], np.ndarray]], title: str
) -> plt.Figure:
    """The same translation through several decoders side by side: one trace heatmap per
    (panel title, top-1 tokens, top-1 probabilities)."""
    use_script_fonts()
    n_layers, n_positions = panels[0][2].shape
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * (1.3 * n_positions + 1.5) + 1.5,
                                                      0.38 * n_layers + 2.2), squeeze=False)
    for ax, (panel_title, top_tokens, top_probabilities) in zip(axes[0], panels):
        image = _draw_trace(ax, input_tokens, top_tokens, top_probabilities, panel_title)
    fig.colorbar(image, ax=axes[0].tolist(), label="top-1 probability")
    fig.suptitle(title)
    return fig


def plot_decoder_agreement(rows: list[dict], path: Path, title: str) -> Path:
    """Held-out KL(final ‖ layer) and top-1 agreement with the final layer, per layer, logit vs
    tuned lens (rows of a tuned-lens directory's heldout.json)."""
    layers = [row["layer"] for row in rows]
    fig, (kl_ax, top_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for decoder, colour in (("logit", "tab:gray"), ("tuned", "tab:blue")):
        kl_ax.plot(layers, [row[f"kl_{decoder}"] for row in rows], marker="o", markersize=3, color=colour,
                   label=f"{decoder} lens")
        top_ax.plot(layers, [row[f"top1_{decoder}"] for row in rows], marker="o", markersize=3, color=colour,
                    label=f"{decoder} lens")
    kl_ax.set_ylabel("KL(final ‖ layer), nats")
    kl_ax.set_yscale("symlog", linthresh=0.1)
    top_ax.set_ylabel("top-1 agreement with the final layer")
    top_ax.set_ylim(0, 1.02)
    for ax in (kl_ax, top_ax):
        ax.set_xlabel("layer")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def save_figure(fig: plt.Figure, path: Path) -> Path:
    with warnings.catch_warnings():  # lens tokens come from any script; a missing glyph is not an error
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


CURVE_STYLES = {  # curve.json row prefix → legend, colour, line style
    "": ("token set", "tab:red", "-"),
    "matched_": ("random sets, same corpus frequencies", "tab:gray", "-"),
    "random_": ("random sets, uniform", "tab:gray", ":"),
    "shuffled_": ("another item's set", "tab:purple", "--"),
    "source_": ("source word's first token", "tab:green", "-."),
    "target_": ("target word's first token", "tab:blue", "-."),
}


def plot_token_set_curve(rows: list[dict], path: Path, title: str, label: str = "token set") -> Path:
    """Figure-3-style curve: P(set) per layer, mean ± sd, against each control present in ``rows``
    (log scale: the controls lie orders of magnitude apart)."""
    layers = np.array([row["layer"] for row in rows])
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    for prefix, (name, colour, style) in CURVE_STYLES.items():
        if f"{prefix}mean" not in rows[0]:
            continue
        mean = np.array([row[f"{prefix}mean"] for row in rows])
        ax.plot(layers, mean, marker="o", markersize=3, color=colour, linestyle=style, label=label if not prefix else name)
        if prefix in ("", "matched_"):
            sd = np.array([row[f"{prefix}sd"] for row in rows])
            ax.fill_between(layers, np.clip(mean - sd, 1e-9, None), mean + sd, color=colour, alpha=0.15)
    peak = layers[int(np.argmax([row["mean"] for row in rows]))]
    ax.axvline(peak, color="tab:red", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer")
    ax.set_ylabel("summed probability (log)")
    ax.set_title(f"{title} (peak: layer {peak})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_auc_scatter(points: list[dict], rows: list, path: Path) -> Path:
    """One panel per pair: log co-occurrence vs last-layer P(target), coloured by behaviour; ``rows``
    are the AUC table rows (``pair``, ``auc``, ``n``)."""
    columns = min(4, len(rows))
    lines = math.ceil(len(rows) / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(3.2 * columns, 2.8 * lines), squeeze=False, sharey=True)
    colours = {CO_OCCURRENCE: "tab:orange", SEMANTIC_PIVOT: "tab:blue", VARIANT: "tab:green"}
    for ax, row in zip(axes.flat, rows):
        for behaviour in BEHAVIOURS:
            chosen = [p for p in points if p["pair"] == row.pair and p["behaviour"] == behaviour]
            ax.scatter([math.log10(p["cooccurrence"] + 1) for p in chosen], [p["target_probability"] for p in chosen],
                       s=12, alpha=0.7, color=colours[behaviour], label=behaviour)
        ax.set_title(f"{row.pair}  AUC {format_cell(row.auc, 3)} (n={row.n})", fontsize=9)
        ax.set_xlabel("log10(co-occurrence docs + 1)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("P(target), last layer", fontsize=8)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


LANGUAGE_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def plot_language_curves(curves: dict[str, dict], path: Path, title: str) -> Path:
    """Latent-language curves: one panel per pair, P(the entry's word in each language) per layer
    with its 95 % CI band, and the entropy (bits, dashed, right axis)."""
    pairs = list(curves)
    columns = min(4, len(pairs))
    lines = math.ceil(len(pairs) / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(3.4 * columns, 2.8 * lines), squeeze=False, sharey=True)
    for ax, pair in zip(axes.flat, pairs):
        entry = curves[pair]
        codes = [name for name in entry["curves"] if name != "entropy"]
        for code, colour in zip(codes, LANGUAGE_COLOURS):
            curve = entry["curves"][code]
            layers = np.arange(1, len(curve["mean"]) + 1)
            ax.plot(layers, curve["mean"], color=colour, label=code, linewidth=1.5)
            ax.fill_between(layers, curve["ci_low"], curve["ci_high"], color=colour, alpha=0.2)
        entropy = ax.twinx()
        entropy.plot(np.arange(1, len(entry["curves"]["entropy"]["mean"]) + 1), entry["curves"]["entropy"]["mean"],
                     color="black", linestyle="--", linewidth=0.8)
        entropy.tick_params(labelsize=6)
        ax.set_title(f"{pair} (n={entry['n_items']})", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(pairs):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, title="P(word in)", title_fontsize=7)
    fig.suptitle(f"{title} (dashed: entropy, bits, right axis)", fontsize=10)
    fig.supxlabel("layer", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
