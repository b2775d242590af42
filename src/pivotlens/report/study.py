"""Numbers that compare finished study runs against the paper's qualitative claims.

    python -m pivotlens.report.study RUN_DIR [RUN_DIR …] [--common-items N] [--draws K] [--pairs P]
    python -m pivotlens.report.study BASELINE_RUN OTHER_RUN --scores-only
    python -m pivotlens.report.study RUN_DIR … --scores-only --draws 1 --pairs en-zh,zh-en

reads the `score`, `lens`, `robustness`, `languages`, `auc` and `pivot_curve` results of `pivotlens
run` directories (whichever each holds) and prints markdown: (1) how symmetric each score matrix
is, with bootstrap CIs, (2) a paired comparison of the first two runs on the items, pairs and
shot draws they share, the lens behaviours under each output rule and the robustness tables,
(3) the pivot-set curve against its controls, (4) the AUC table in brief.
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
from pivotlens.languages import LANGUAGE_CODES, all_pairs, pair_key, parse_pairs
from pivotlens.records import (
    BEHAVIOURS,
    ITEM_SCORES_DIR,
    OUTPUT_RULES,
    SEMANTIC_PIVOT,
    read_item_scores,
    read_lens_behaviours,
)
from pivotlens.tables import markdown_table
from pivotlens.training.compare import (
    AVG,
    ItemScores,
    bootstrap_means,
    compare_item_scores,
    comparison_markdown,
    scores_by_pair,
)


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


def scored_pairs(run: Path) -> list[str]:
    """The pairs a run's score stage wrote, among every pair of registered languages, in registry order."""
    return [pair_key(s, t) for s, t in all_pairs(LANGUAGE_CODES)
            if (run / "score" / ITEM_SCORES_DIR / f"{pair_key(s, t)}.jsonl").is_file()]


def common_pairs(run_dirs: list[Path]) -> list[str]:
    """The pairs every run scored, in the first run's order."""
    first, *others = (scored_pairs(run) for run in run_dirs)
    return [pair for pair in first if all(pair in pairs for pairs in others)]


def draw_scores_by_pair(score_dir: Path, pairs: list[str], draws: int) -> dict[str, dict[str, float]]:
    """pair → item id → the mean score over the item's first ``draws`` shot draws (draw d has the same
    shots in every run with the same seed), so runs scored with different draw counts pair up."""
    found = {}
    for pair in pairs:
        records = read_item_scores(score_dir / ITEM_SCORES_DIR / f"{pair}.jsonl")
        short = [r.item.id for r in records if len(r.draws) < draws]
        if short:
            raise PivotlensError(f"{score_dir}: {len(short)} items of {pair} have fewer than {draws} draws (e.g. "
                                 f"{short[0]!r}): compare on --draws {min(len(r.draws) for r in records)}")
        found[pair] = {r.item.id: float(np.mean([d.score for d in r.draws[:draws]])) for r in records}
    return found


def common_item_scores(run_dirs: list[Path], limit: int | None, draws: int | None = None,
                       pairs: list[str] | None = None) -> dict[str, ItemScores]:
    """run name → pair → item id → score, over the first ``limit`` items of each pair (all when None),
    the first ``draws`` shot draws (all when None) and ``pairs`` (default: those every run scored)."""
    pairs = pairs or common_pairs(run_dirs)
    if not pairs:
        raise PivotlensError(f"no pair scored by every run: score items are missing in {', '.join(map(str, run_dirs))}")
    found = {}
    for run in run_dirs:
        by_pair = (scores_by_pair(run / "score", pairs) if draws is None
                   else draw_scores_by_pair(run / "score", pairs, draws))
        found[run.name] = {pair: dict(list(scores.items())[:limit]) for pair, scores in by_pair.items()}
    return found


def shared_item_scores(run_dirs: list[Path]) -> dict[str, ItemScores]:
    """run name → pair → item id → score, over the item ids every run scored for that pair: two
    dataset versions compared on the headwords they share."""
    pairs = common_pairs(run_dirs)
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


def symmetry_with_ci(scores: ItemScores, n_bootstrap: int = 10_000, seed: int = 0) -> list[dict]:
    """Per language pair scored in both directions: M[s][t] − M[t][s] over the items both directions
    share, with a 95 % bootstrap CI (items resampled jointly across pairs); then the mean absolute
    difference and its share of the mean score, with CIs from the same resamples."""
    pairs = [(s, t) for i, s in enumerate(LANGUAGE_CODES) for t in LANGUAGE_CODES[i + 1:]
             if pair_key(s, t) in scores and pair_key(t, s) in scores]
    if not pairs:
        return []
    ids = sorted(set.intersection(*(set(scores[pair_key(a, b)]) for s, t in pairs for a, b in ((s, t), (t, s)))))
    forward = np.array([[scores[pair_key(s, t)][i] for i in ids] for s, t in pairs])
    backward = np.array([[scores[pair_key(t, s)][i] for i in ids] for s, t in pairs])
    rng = np.random.default_rng(seed)
    difference = bootstrap_means(forward - backward, n_bootstrap, rng)  # [replicates, pairs]
    both = bootstrap_means(np.vstack([forward, backward]), n_bootstrap, np.random.default_rng(seed))
    absolute = np.abs(difference).mean(axis=1)
    relative = absolute / both.mean(axis=1)

    def ci(values: np.ndarray) -> str:
        low, high = np.quantile(values, [0.025, 0.975])
        return f"{low:+.4f} … {high:+.4f}"

    rows = [{"pair": f"{s}→{t} − {t}→{s}", "items": len(ids), "difference": float((forward - backward)[k].mean()),
             "95% CI": ci(difference[:, k])} for k, (s, t) in enumerate(pairs)]
    mean_abs = float(np.abs((forward - backward).mean(axis=1)).mean())
    rows.append({"pair": "mean |difference|", "items": len(ids), "difference": mean_abs, "95% CI": ci(absolute)})
    rows.append({"pair": "mean |difference| / mean score", "items": len(ids),
                 "difference": mean_abs / float(np.vstack([forward, backward]).mean()), "95% CI": ci(relative)})
    return rows


def paired_section(title: str, scores: dict[str, ItemScores], baseline: str, other: str,
                   pairs: list[str] | None = None) -> list[str]:
    pairs = pairs or list(next(iter(scores.values())))
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
    """Semantic-pivot items over all pairs (labelled from the readouts under each record's rule and
    first layer), and the most frequent pivot tokens with their peak layers."""
    from pivotlens.lens.behaviour import label

    records = read_lens_behaviours(run_dir / "lens")
    tokens, layers = Counter(), defaultdict(Counter)
    for record in records:
        behaviour = label(record.readout, record.output_rule, record.first_layer)
        if behaviour.kind == SEMANTIC_PIVOT:
            tokens[behaviour.token] += 1
            layers[behaviour.token][behaviour.peak_layer] += 1
    pivots = sum(tokens.values())
    return {"items": len(records), "semantic_pivot": pivots, "share": pivots / len(records),
            "top_pivots": [(token, count, sorted(layers[token])) for token, count in tokens.most_common(top)]}


def rule_shares(run_dir: Path) -> list[dict]:
    """Per output rule (relabelled from the readouts, at the run's first layer): the share of each
    behaviour over all the run's items; and how often the model's own answer is the target."""
    from pivotlens.lens.behaviour import label

    records = read_lens_behaviours(run_dir / "lens")
    rows = []
    for rule in OUTPUT_RULES:
        kinds = Counter(label(r.readout, rule, r.first_layer).kind for r in records)
        rows.append({"run": run_dir.name, "rule": rule + (" (run's)" if rule == records[0].output_rule else ""),
                     "items": len(records), **{kind: kinds[kind] / len(records) for kind in BEHAVIOURS},
                     "answer = target": sum(r.readout.output_is_target for r in records) / len(records)})
    return rows


CURVE_CONTROLS = ("matched", "random", "shuffled", "source", "target")


def curve_shape(curve: dict) -> dict:
    """Peak layer, how far the mean rises to it and falls after it, its ratio to random sets, and
    (for curves with controls) its ratio to each control at the peak and the layers above the
    frequency-matched control."""
    means = np.array([layer["mean"] for layer in curve["layers"]])
    randoms = np.array([layer["random_mean"] for layer in curve["layers"]])
    peak = int(means.argmax())
    shape = {"layers": len(means), "peak_layer": peak + 1, "peak": float(means[peak]),
             "first_layer_mean": float(means[0]), "last_layer_mean": float(means[-1]),
             "rises_then_falls": bool(0 < peak < len(means) - 1),
             "ratio_to_random_at_peak": float(means[peak] / randoms[peak]),
             "layers_above_random": int((means > randoms).sum())}
    for control in CURVE_CONTROLS:
        if f"{control}_mean" in curve["layers"][0]:
            values = np.array([layer[f"{control}_mean"] for layer in curve["layers"]])
            shape[f"ratio_to_{control}_at_peak"] = float(means[peak] / values[peak]) if values[peak] > 0 else float("inf")
            shape[f"layers_above_{control}"] = int((means > values).sum())
    return shape


def auc_brief(auc_dir: Path) -> dict:
    """Pairs with an AUC, how many exceed 0.5 (and with the CI), and how many items never co-occur."""
    rows = list(csv.DictReader((auc_dir / "auc.csv").open(encoding="utf-8")))
    rows = [r for r in rows if r["auc"] not in ("", "nan")]
    items = list(csv.DictReader((auc_dir / "items.csv").open(encoding="utf-8")))
    return {"pairs": len(rows), "above_half": sum(float(r["auc"]) > 0.5 for r in rows),
            "ci_above_half": sum(float(r["ci_low"]) > 0.5 for r in rows),
            "mean_auc": float(np.mean([float(r["auc"]) for r in rows])) if rows else float("nan"),
            "items": len(items), "never_cooccur": sum(float(r["cooccurrence"]) == 0 for r in items)}


def study_markdown(run_dirs: list[Path], common_items: int | None, draws: int | None = None,
                   pairs: list[str] | None = None, n_bootstrap: int = 10_000) -> str:
    pairs = pairs or common_pairs(run_dirs)
    scores = common_item_scores(run_dirs, common_items, draws, pairs)
    out = ["### (1) Symmetry of the score matrix", ""]
    if all((run / "score" / "matrix.json").is_file() for run in run_dirs):
        out += [*symmetry_table(run_dirs), ""]
    for run in run_dirs:
        out += [f"{run.name}: direction differences on the compared items "
                f"({draws or 'all'} draws; 95% bootstrap CI, items resampled jointly):", "",
                markdown_table(symmetry_with_ci(scores[run.name], n_bootstrap), digits=4), ""]
    if len(run_dirs) >= 2:
        baseline, other = (run.name for run in run_dirs[:2])
        out += paired_section(f"(2) {_model(run_dirs[1])} − {_model(run_dirs[0])} on the same items and shot draws",
                              scores, baseline, other, pairs)
    lens_runs = [run for run in run_dirs if (run / "lens").is_dir()]
    if lens_runs:
        out += ["", "### Lens behaviours", "", "| run | items | semantic-pivot | share | most frequent pivots "
                "(count; peak layers) |", "|---|---|---|---|---|"]
        for run in lens_runs:
            brief = lens_brief(run)
            common = "; ".join(f"{token!r} {count} (L{','.join(map(str, layers))})"
                               for token, count, layers in brief["top_pivots"]).replace("|", "\\|")
            out.append(f"| {run.name} | {brief['items']} | {brief['semantic_pivot']} | {brief['share']:.4f} | {common} |")
        out += ["", "Behaviour shares under each output rule:", "",
                markdown_table([row for run in lens_runs for row in rule_shares(run)], digits=4)]
    for run in run_dirs:
        for stage, name in (("robustness", "robustness.md"),):
            if (run / stage / name).is_file():
                out += ["", f"### Robustness of the lens labels: {run.name}", "",
                        (run / stage / name).read_text(encoding="utf-8").replace("### ", "#### ")]
    curve_runs = [run for run in run_dirs if (run / "pivot_curve" / "curve.json").is_file()]
    if curve_runs:
        out += ["", "### (3) Pivot-set curve", "", "| run | layers | peak layer | peak mean P | last layer | "
                "rises then falls | ×random at peak | layers above random |", "|---|---|---|---|---|---|---|---|"]
        shapes = {run.name: curve_shape(json.loads((run / "pivot_curve" / "curve.json").read_text())) for run in curve_runs}
        for name, shape in shapes.items():
            out.append(f"| {name} | {shape['layers']} | {shape['peak_layer']} | {shape['peak']:.4f} | "
                       f"{shape['last_layer_mean']:.4f} | {'yes' if shape['rises_then_falls'] else 'no'} | "
                       f"{shape['ratio_to_random_at_peak']:.1f} | {shape['layers_above_random']} |")
        controlled = [{"run": name, **{f"× {c} at peak": shape[f"ratio_to_{c}_at_peak"] for c in CURVE_CONTROLS
                                       if f"ratio_to_{c}_at_peak" in shape},
                       "layers above matched": shape.get("layers_above_matched")}
                      for name, shape in shapes.items() if "ratio_to_matched_at_peak" in shape]
        if controlled:
            out += ["", "Against each control (matched: random sets with the pivot sets' corpus-frequency profile; "
                    "shuffled: another item's pivots; source/target: the words' first tokens):", "",
                    markdown_table(controlled, digits=2)]
    auc_runs = [run for run in run_dirs if (run / "auc" / "auc.csv").is_file()]
    if auc_runs:
        out += ["", "### (4) AUC of co-occurrence count vs co-occurrence behaviour", "",
                "| run | pairs with both classes | AUC > 0.5 | CI above 0.5 | mean AUC | items that never co-occur |",
                "|---|---|---|---|---|---|"]
        for run in auc_runs:
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
    parser.add_argument("--draws", type=int, default=None,
                        help="compare on each item's first K shot draws (runs scored with different draw counts)")
    parser.add_argument("--pairs", default=None, help="e.g. en-zh,zh-en (default: the pairs every run scored)")
    parser.add_argument("--scores-only", action="store_true",
                        help="two runs: their score matrices and paired difference on the item ids both scored")
    args = parser.parse_args(argv)
    pairs = [pair_key(s, t) for s, t in parse_pairs(args.pairs)] if args.pairs else None
    if args.scores_only:
        if len(args.runs) != 2:
            parser.error("--scores-only compares exactly two runs")
        print(scores_markdown(*args.runs), end="")
        return
    print(study_markdown(args.runs, args.common_items, args.draws, pairs), end="")


if __name__ == "__main__":
    main()
