"""Numbers that compare finished study runs against the paper's qualitative claims.

    python -m pivotlens.report.study RUN_DIR [RUN_DIR …] [--common-items N]
    python -m pivotlens.report.study BASELINE_RUN OTHER_RUN --scores-only


reads the `score`, `auc` and `pivot_curve` results of `pivotlens run` directories and prints
markdown: (1) how symmetric each score matrix is, (2) a paired comparison of the models on the
items and shot draws they share, the lens behaviours in brief (share of semantic-pivot items, most
frequent pivot tokens), (3) the shape of the pivot-set curve, (4) the AUC table in brief.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pivotlens.languages import PAPER_LANGUAGES, all_pairs, pair_key
from pivotlens.records import SEMANTIC_PIVOT, read_lens_behaviours
from pivotlens.training.compare import AVG, ItemScores, compare_item_scores, comparison_markdown, scores_by_pair


@dataclass(frozen=True)
class Symmetry:
    correlation: float  # Pearson r between M[s][t] and M[t][s] over the unordered pairs scored both ways
    mean_abs_difference: float
    relative_asymmetry: float  # mean |M[s][t] − M[t][s]| over the mean score


def symmetry(matrix: dict[str, dict[str, float | None]]) -> Symmetry:
    codes = list(matrix)
    upper = [(s, t) for i, s in enumerate(codes) for t in codes[i + 1:]
             if matrix[s].get(t) is not None and matrix[t].get(s) is not None]
    forward = np.array([matrix[s][t] for s, t in upper], dtype=float)
    backward = np.array([matrix[t][s] for s, t in upper], dtype=float)
    difference = float(np.abs(forward - backward).mean())
    mean = float(np.concatenate([forward, backward]).mean())
    constant = forward.std() == 0 or backward.std() == 0  # r is undefined
    correlation = float("nan") if constant else float(np.corrcoef(forward, backward)[0, 1])
    return Symmetry(correlation, difference, difference / mean)


def _scored_pairs(run_dirs: list[Path]) -> list[str]:
    """The pairs every run scored (the cells of its matrix.json), in the first run's order; the
    paper's twelve when a run has no matrix yet."""
    def pairs_of(run: Path) -> list[str]:
        path = run / "score" / "matrix.json"
        if not path.is_file():
            return [pair_key(src, tgt) for src, tgt in all_pairs(PAPER_LANGUAGES)]
        matrix = json.loads(path.read_text())["matrix"]
        return [pair_key(src, tgt) for src, row in matrix.items() for tgt, value in row.items() if value is not None]
    common = [pairs_of(run) for run in run_dirs]
    return [pair for pair in common[0] if all(pair in others for others in common[1:])]


def common_item_scores(run_dirs: list[Path], limit: int | None) -> dict[str, ItemScores]:
    """run name → pair → item id → score, over the first ``limit`` items of each pair (all when None)."""
    pairs = _scored_pairs(run_dirs)
    found = {}
    for run in run_dirs:
        by_pair = scores_by_pair(run / "score", pairs)
        found[run.name] = {pair: dict(list(scores.items())[:limit]) for pair, scores in by_pair.items()}
    return found


def shared_item_scores(run_dirs: list[Path]) -> dict[str, ItemScores]:
    """run name → pair → item id → score, over the item ids every run scored for that pair: two
    dataset versions compared on the headwords they share."""
    pairs = _scored_pairs(run_dirs)
    by_run = {run.name: scores_by_pair(run / "score", pairs) for run in run_dirs}
    shared = {pair: set.intersection(*(set(scores[pair]) for scores in by_run.values())) for pair in pairs}
    return {name: {pair: {i: s for i, s in scores[pair].items() if i in shared[pair]} for pair in pairs}
            for name, scores in by_run.items()}


def symmetry_table(run_dirs: list[Path]) -> list[str]:
    lines = ["| run | model | mean score | r(M, Mᵀ) | mean abs(M−Mᵀ) | relative asymmetry |", "|---|---|---|---|---|---|"]
    for run in run_dirs:
        matrix = json.loads((run / "score" / "matrix.json").read_text())
        sym = symmetry(matrix["matrix"])
        lines.append(f"| {run.name} | {_model(run)} | {matrix['mean']:.4f} | {sym.correlation:.3f} "
                     f"| {sym.mean_abs_difference:.4f} | {sym.relative_asymmetry:.3f} |")
    return lines


def paired_section(title: str, scores: dict[str, ItemScores], baseline: str, other: str) -> list[str]:
    pairs = list(next(iter(scores.values())))
    comparison = compare_item_scores(scores, baseline, pairs)
    average = comparison.cell(other, AVG)
    higher = sum(comparison.cell(other, pair).delta > 0 for pair in comparison.pairs if pair != AVG)
    return [f"### {title}", "",
            f"{average.n_items * len(pairs)} (pair, item) cells; mean difference **{average.delta:+.4f}** "
            f"(95% bootstrap CI {average.ci_low:+.4f} … {average.ci_high:+.4f}, items resampled jointly "
            f"across pairs); {higher} of {len(pairs)} pairs higher.", "", comparison_markdown(comparison)]


def scores_markdown(baseline: Path, other: Path) -> str:
    """Score matrices of two runs and their paired difference on the items both scored (e.g. the
    same model on two versions of a dataset)."""
    out = ["### Symmetry of the score matrix", "", *symmetry_table([baseline, other]), ""]
    out += paired_section(f"{other.name} − {baseline.name} on the items both scored",
                          shared_item_scores([baseline, other]), baseline.name, other.name)
    return "\n".join(out) + "\n"


def lens_brief(run_dir: Path, top: int = 5) -> dict:
    """Semantic-pivot items over all pairs, and the most frequent pivot tokens with their peak layers."""
    records = read_lens_behaviours(run_dir / "lens")
    tokens, layers = Counter(), defaultdict(Counter)
    for record in records:
        if record.behaviour == SEMANTIC_PIVOT:
            tokens[record.pivot_token] += 1
            layers[record.pivot_token][record.peak_layer] += 1
    pivots = sum(tokens.values())
    return {"items": len(records), "semantic_pivot": pivots, "share": pivots / len(records),
            "top_pivots": [(token, count, sorted(layers[token])) for token, count in tokens.most_common(top)]}


def curve_shape(curve: dict) -> dict:
    """Peak layer, how far the mean rises to it and falls after it, and its ratio to random sets."""
    means = np.array([layer["mean"] for layer in curve["layers"]])
    randoms = np.array([layer["random_mean"] for layer in curve["layers"]])
    peak = int(means.argmax())
    return {"layers": len(means), "peak_layer": peak + 1, "peak": float(means[peak]),
            "first_layer_mean": float(means[0]), "last_layer_mean": float(means[-1]),
            "rises_then_falls": bool(0 < peak < len(means) - 1),
            "ratio_to_random_at_peak": float(means[peak] / randoms[peak]),
            "layers_above_random": int((means > randoms).sum())}


def auc_brief(auc_dir: Path) -> dict:
    """Pairs with an AUC, how many exceed 0.5 (and with the CI), and how many items never co-occur."""
    rows = list(csv.DictReader((auc_dir / "auc.csv").open(encoding="utf-8")))
    rows = [r for r in rows if r["auc"] not in ("", "nan")]
    items = list(csv.DictReader((auc_dir / "items.csv").open(encoding="utf-8")))
    return {"pairs": len(rows), "above_half": sum(float(r["auc"]) > 0.5 for r in rows),
            "ci_above_half": sum(float(r["ci_low"]) > 0.5 for r in rows),
            "mean_auc": float(np.mean([float(r["auc"]) for r in rows])) if rows else float("nan"),
            "items": len(items), "never_cooccur": sum(float(r["cooccurrence"]) == 0 for r in items)}


def study_markdown(run_dirs: list[Path], common_items: int | None) -> str:
    out = ["### (1) Symmetry of the score matrix", "", *symmetry_table(run_dirs), ""]
    if len(run_dirs) >= 2:
        baseline, other = (run.name for run in run_dirs[:2])
        out += paired_section(f"(2) {_model(run_dirs[1])} − {_model(run_dirs[0])} on the same items and shot draws",
                              common_item_scores(run_dirs[:2], common_items), baseline, other)
    out += ["### Lens behaviours", "", "| run | items | semantic-pivot | share | most frequent pivots "
            "(count; peak layers) |", "|---|---|---|---|---|"]
    for run in run_dirs:
        brief = lens_brief(run)
        common = "; ".join(f"{token!r} {count} (L{','.join(map(str, layers))})"
                           for token, count, layers in brief["top_pivots"]).replace("|", "\\|")
        out.append(f"| {run.name} | {brief['items']} | {brief['semantic_pivot']} | {brief['share']:.4f} | {common} |")
    out += ["", "### (3) Pivot-set curve", "", "| run | layers | peak layer | peak mean P | last layer | "
            "rises then falls | ×random at peak | layers above random |", "|---|---|---|---|---|---|---|---|"]
    for run in run_dirs:
        shape = curve_shape(json.loads((run / "pivot_curve" / "curve.json").read_text()))
        out.append(f"| {run.name} | {shape['layers']} | {shape['peak_layer']} | {shape['peak']:.4f} | "
                   f"{shape['last_layer_mean']:.4f} | {'yes' if shape['rises_then_falls'] else 'no'} | "
                   f"{shape['ratio_to_random_at_peak']:.1f} | {shape['layers_above_random']} |")
    out += ["", "### (4) AUC of co-occurrence count vs co-occurrence behaviour", "",
            "| run | pairs with both classes | AUC > 0.5 | CI above 0.5 | mean AUC | items that never co-occur |",
            "|---|---|---|---|---|---|"]
    for run in run_dirs:
        brief = auc_brief(run / "auc")
        out.append(f"| {run.name} | {brief['pairs']} | {brief['above_half']} | {brief['ci_above_half']} | "
                   f"{brief['mean_auc']:.3f} | {brief['never_cooccur']} of {brief['items']} |")
    return "\n".join(out) + "\n"


def _model(run: Path) -> str:
    return json.loads((run / "score" / "manifest.json").read_text()).get("identity", {}).get("model", run.name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pivotlens.report.study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--common-items", type=int, default=None,
                        help="compare the first N items of each pair (the smaller run's size)")
    parser.add_argument("--scores-only", action="store_true",
                        help="two runs: their score matrices and paired difference on the item ids both scored")
    args = parser.parse_args(argv)
    if args.scores_only:
        if len(args.runs) != 2:
            parser.error("--scores-only compares exactly two runs")
        print(scores_markdown(*args.runs), end="")
        return
    print(study_markdown(args.runs, args.common_items), end="")


if __name__ == "__main__":
    main()
