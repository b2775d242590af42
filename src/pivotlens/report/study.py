"""Numbers that compare finished study runs against the paper's qualitative claims.

    python -m pivotlens.report.study RUN_DIR [RUN_DIR …] [--common-items N]

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

from pivotlens.errors import PivotlensError
from pivotlens.languages import ALL_PAIRS, LANGUAGE_CODES, pair_key


@dataclass(frozen=True)
class Symmetry:
    correlation: float  # Pearson r between M[s][t] and M[t][s] over the 6 unordered pairs
    mean_abs_difference: float
    relative_asymmetry: float  # mean |M[s][t] − M[t][s]| over the mean score


def symmetry(matrix: dict[str, dict[str, float | None]]) -> Symmetry:
    upper = [(s, t) for i, s in enumerate(LANGUAGE_CODES) for t in LANGUAGE_CODES[i + 1 :]]
    forward = np.array([matrix[s][t] for s, t in upper], dtype=float)
    backward = np.array([matrix[t][s] for s, t in upper], dtype=float)
    difference = float(np.abs(forward - backward).mean())
    mean = float(np.concatenate([forward, backward]).mean())
    constant = forward.std() == 0 or backward.std() == 0  # r is undefined
    correlation = float("nan") if constant else float(np.corrcoef(forward, backward)[0, 1])
    return Symmetry(correlation, difference, difference / mean)


def item_scores(run_dir: Path, limit: int | None = None) -> dict[str, dict[str, float]]:
    """pair → item id → calibrated score (the first ``limit`` items of each pair)."""
    scores = {}
    for src, tgt in ALL_PAIRS:
        path = run_dir / "score" / "items" / f"{pair_key(src, tgt)}.jsonl"
        if not path.is_file():
            raise PivotlensError(f"{path}: missing; is {run_dir} a finished `pivotlens run` with the score stage?")
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()][:limit]
        scores[pair_key(src, tgt)] = {row["id"]: row["score"] for row in rows}
    return scores


def paired_difference(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]],
                      n_bootstrap: int = 2000, seed: int = 0) -> dict:
    """Mean of b − a over the (pair, item) cells both hold, with a bootstrap 95% CI over items."""
    differences = np.array([b[pair][item] - a[pair][item] for pair in a if pair in b
                            for item in a[pair] if item in b[pair]])
    if differences.size == 0:
        raise PivotlensError("the runs share no scored (pair, item)")
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, differences.size, (n_bootstrap, differences.size))].mean(axis=1)
    per_pair = {pair: (float(np.mean(list(a[pair].values()))), float(np.mean(list(b[pair].values()))))
                for pair in a if pair in b}
    return {"cells": int(differences.size), "mean_difference": float(differences.mean()),
            "ci": (float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))),
            "pairs_b_higher": sum(mb > ma for ma, mb in per_pair.values()), "per_pair": per_pair}


def lens_brief(run_dir: Path, top: int = 5) -> dict:
    """Semantic-pivot items over all pairs, and the most frequent pivot tokens with their peak layers."""
    paths = sorted((run_dir / "lens" / "behaviours").glob("*.jsonl"))
    if not paths:
        raise PivotlensError(f"{run_dir}/lens/behaviours: missing; is the lens stage done?")
    items, tokens, layers = 0, Counter(), defaultdict(Counter)
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            items += 1
            if record["behaviour"] == "semantic-pivot":
                tokens[record["pivot_token"]] += 1
                layers[record["pivot_token"]][record["peak_layer"]] += 1
    pivots = sum(tokens.values())
    return {"items": items, "semantic_pivot": pivots, "share": pivots / items if items else float("nan"),
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
    lines = ["| run | model | mean score | r(M, Mᵀ) | mean abs(M−Mᵀ) | relative asymmetry |", "|---|---|---|---|---|---|"]
    for run in run_dirs:
        matrix = json.loads((run / "score" / "matrix.json").read_text())
        model = json.loads((run / "score" / "stage.json").read_text()).get("summary", {}).get("facts", {})
        sym = symmetry(matrix["matrix"])
        lines.append(f"| {run.name} | {_model(run)} | {model.get('mean', float('nan')):.4f} | {sym.correlation:.3f} "
                     f"| {sym.mean_abs_difference:.4f} | {sym.relative_asymmetry:.3f} |")
    out = ["### (1) Symmetry of the score matrix", "", *lines, ""]
    if len(run_dirs) >= 2:
        a, b = (item_scores(run, common_items) for run in run_dirs[:2])
        diff = paired_difference(a, b)
        out += [f"### (2) {_model(run_dirs[1])} − {_model(run_dirs[0])} on the same items and shot draws", "",
                f"{diff['cells']} (pair, item) cells; mean difference **{diff['mean_difference']:+.4f}** "
                f"(95% bootstrap CI {diff['ci'][0]:+.4f} … {diff['ci'][1]:+.4f}); "
                f"{diff['pairs_b_higher']} of {len(diff['per_pair'])} pairs higher.", "",
                f"| pair | {_model(run_dirs[0])} | {_model(run_dirs[1])} |", "|---|---|---|"]
        out += [f"| {pair} | {ma:.4f} | {mb:.4f} |" for pair, (ma, mb) in diff["per_pair"].items()]
        out.append("")
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
    args = parser.parse_args(argv)
    print(study_markdown(args.runs, args.common_items), end="")


if __name__ == "__main__":
    main()
