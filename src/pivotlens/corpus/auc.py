"""AUC of co-occurrence counts as a predictor of the co-occurrence behaviour (the paper's Table 1).

Inputs: the lens stage's behaviour records (``behaviours/{src}-{tgt}.jsonl``, read by
``records.read_lens_behaviours``) and a counting output (``pairs.parquet``), joined on
(src, tgt, source word, target word).

Per language pair: positive class = co-occurrence behaviour, score = number of documents that
contain both words; items whose two words are the same after normalisation (e.g. 手 in zh and ja)
are left out, since their "co-occurrence" is just the word's frequency. AUC = scikit-learn
``roc_auc_score`` (the Mann–Whitney U statistic / (n₊·n₋), ties counted ½); 95% CI = percentiles of
a seeded bootstrap over items (resamples with one class only are skipped). Writes ``auc.csv``,
``auc.md``, ``items.csv`` and ``scatter.png`` (log10(count+1) against the last layer's target
probability, coloured by behaviour).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pivotlens.artifacts import StageDirectory, file_sha256
from pivotlens.errors import CorpusError
from pivotlens.languages import pair_key
from pivotlens.options import option
from pivotlens.records import CO_OCCURRENCE, BehaviourRecord, TranslationItem, behaviour_files, read_lens_behaviours
from pivotlens.tables import markdown_table
from pivotlens.text import normalize

POSITIVE = CO_OCCURRENCE
CONFIDENCE = 0.95


@dataclass(frozen=True)
class PairAUC:
    pair: str
    n: int
    n_positive: int
    auc: float  # nan when a class is empty
    ci_low: float
    ci_high: float
    excluded_same_word: int


def auc_with_ci(labels: np.ndarray, scores: np.ndarray, bootstrap: int,
                rng: np.random.Generator) -> tuple[float, float, float]:
    """ROC AUC and its bootstrap percentile interval; nan when either class is absent."""
    from sklearn.metrics import roc_auc_score

    if labels.min(initial=1) == labels.max(initial=0):
        return math.nan, math.nan, math.nan
    auc = float(roc_auc_score(labels, scores))
    resampled = []
    for rows in rng.integers(0, len(labels), size=(bootstrap, len(labels))):
        if labels[rows].min() != labels[rows].max():
            resampled.append(roc_auc_score(labels[rows], scores[rows]))
    if not resampled:
        return auc, math.nan, math.nan
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(resampled, [tail, 100 - tail])
    return auc, float(low), float(high)


def pair_seed(seed: int, pair: str) -> np.random.Generator:
    """A generator per language pair, so a pair's interval does not depend on the other pairs."""
    return np.random.default_rng([seed, *pair.encode("ascii")])


def _count_key(item: TranslationItem) -> tuple[str, str, str, str]:
    return item.src, item.tgt, item.source, item.target


def auc_table(records: Sequence[BehaviourRecord], counts: dict[tuple[str, str, str, str], int], *,
              bootstrap: int = 1000, seed: int = 0, case_sensitive: bool = False) -> tuple[list[PairAUC], list[dict]]:
    """Per-pair AUC rows (in pair order of first appearance) and the per-item points used."""
    missing = [r.item for r in records if _count_key(r.item) not in counts]
    if missing:
        shown = ", ".join(f"{m.src}-{m.tgt} {m.source}/{m.target}" for m in missing[:5])
        raise CorpusError(f"{len(missing)} behaviour item(s) have no co-occurrence count (e.g. {shown}); "
                          "count with the dataset and pairs the lens stage used")
    by_pair: dict[str, list[BehaviourRecord]] = defaultdict(list)
    for record in records:
        by_pair[pair_key(record.item.src, record.item.tgt)].append(record)
    rows, points = [], []
    for pair, pair_records in by_pair.items():
        kept = [r for r in pair_records
                if normalize(r.item.source, case_sensitive) != normalize(r.item.target, case_sensitive)]
        labels = np.array([r.behaviour == POSITIVE for r in kept], dtype=int)
        scores = np.array([counts[_count_key(r.item)] for r in kept], dtype=float)
        auc, low, high = auc_with_ci(labels, scores, bootstrap, pair_seed(seed, pair))
        rows.append(PairAUC(pair, len(kept), int(labels.sum()), auc, low, high, len(pair_records) - len(kept)))
        points += [{"pair": pair, "id": r.item.id, "source": r.item.source, "target": r.item.target,
                    "behaviour": r.behaviour, "cooccurrence": int(score),
                    "target_probability": float(r.target_probability_by_layer[-1])}
                   for r, score in zip(kept, scores)]
    return rows, points


def auc_markdown(rows: Sequence[PairAUC]) -> str:
    table = [{"pair": r.pair, "n": r.n, "n_positive": r.n_positive, "AUC": r.auc, "CI low": r.ci_low,
              "CI high": r.ci_high} for r in rows]
    return markdown_table(table, ["pair", "n", "n_positive", "AUC", "CI low", "CI high"], digits=3,
                          right_aligned=("n", "n_positive", "AUC", "CI low", "CI high"))


@dataclass(frozen=True)
class AucOptions:
    """The `auc` section of a study and the flags of `corpus auc`."""

    bootstrap: int = option(1000, "bootstrap replicates for the AUC's 95% CI")


def write_auc_report(counts_dir: str | Path, lens_dir: str | Path, out_dir: str | Path, *,
                     bootstrap: int = 1000, seed: int = 0) -> list[PairAUC]:
    """Join behaviours with counts, compute the table, write auc.csv/.md and items.csv; returns the table
    rows and the per-item points (for the scatter figure)."""
    from pivotlens.corpus.results import read_pair_counts

    if bootstrap < 1:
        raise CorpusError("--bootstrap must be ≥ 1")
    counts = read_pair_counts(counts_dir)
    counts_manifest = StageDirectory(counts_dir, "corpus-count").manifest()
    case_sensitive = bool(counts_manifest["config"]["case_sensitive"])
    records, files = read_lens_behaviours(lens_dir), behaviour_files(lens_dir)
    identity = {"bootstrap": bootstrap, "seed": seed, "counts_identity": counts_manifest.get("identity"),
                "behaviour_files": {str(f): file_sha256(f) for f in files}}
    directory = StageDirectory(out_dir, "corpus-auc").claim(identity, {"confidence": CONFIDENCE,
                                                                        "counts": str(counts_dir)})
    directory.reopen()  # recomputed every time: seconds, and the caller needs its rows
    rows, points = auc_table(records, counts, bootstrap=bootstrap, seed=seed, case_sensitive=case_sensitive)
    out = directory.path
    with open(out / "auc.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["pair", "n", "n_positive", "auc", "ci_low", "ci_high", "excluded_same_word"])
        writer.writerows([r.pair, r.n, r.n_positive, r.auc, r.ci_low, r.ci_high, r.excluded_same_word] for r in rows)
    with open(out / "items.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(points[0]) if points else ["pair"])
        writer.writeheader()
        writer.writerows(points)
    (out / "auc.md").write_text(auc_markdown(rows), encoding="utf-8")
    directory.complete({"pairs": len(rows)})
    return rows, points
