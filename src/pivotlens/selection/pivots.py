"""The semantic-pivot set from the adjacency matrix (paper §5.1), with exact definitions.

The paper sets the threshold "as [a fraction] of the average probability of token occurrence
within a single document", counts each token's high co-occurrence partners, drops tokens with none
and the top [X] by that count. The fraction and X are not given; here:

* occurrence probability of token x: ``p(x) = doc_freq[x] / D`` (the chance that a document of the
  subset contains x);
* average per-document token-occurrence probability: ``p̄ = mean over the V vocabulary tokens of
  p(x) = Σ doc_freq / (D · V)`` — the vocabulary being the tokens that occur in the subset (or the
  capped vocabulary);
* threshold ``τ = α · p̄`` (``alpha``, default 1.0);
* co-occurrence is normalised the same way, as a probability: a and b co-occur *highly* when
  ``C[a, b] / D > τ`` (strictly), i.e. when ``C[a, b] > α · mean doc_freq`` in counts — the rule does
  not depend on the subset size;
* ``degree[x]`` = the number of tokens y ≠ x that co-occur highly with x (an integer count; a
  fraction of V would rank identically);
* pivot set = tokens with degree > 0, minus the top ``drop_top_percent`` % of them by degree
  (default 5 %). The cut never splits a tie: with n tokens of degree > 0 and k = ⌊n · X / 100⌋,
  the tokens whose degree is strictly greater than the (k+1)-th highest degree are dropped — at
  most k tokens, exactly k when the k-th and (k+1)-th degrees differ, none when all are equal.

Output directory: ``pivot_set.parquet`` (token_id, token, degree, doc_freq, by degree then id),
``manifest.json`` (α, X, p̄, τ, the counts of each step, the adjacency it came from).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pivotlens.artifacts import StageDirectory
from pivotlens.errors import SelectionError
from pivotlens.selection.adjacency import AdjacencyMatrix
from pivotlens.selection.files import read_manifest
from pivotlens.selection.tokens import DocumentTokenizer

STAGE = "select-pivotset"
SENSITIVITY_ALPHAS = (0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class PivotConfig:
    alpha: float = 1.0
    drop_top_percent: float = 5.0

    def __post_init__(self) -> None:
        if not self.alpha > 0:
            raise SelectionError("--alpha must be > 0")
        if not 0 <= self.drop_top_percent <= 100:
            raise SelectionError("--drop-top-percent must be a percentage in [0, 100]")


def mean_occurrence_probability(matrix: AdjacencyMatrix) -> float:
    """p̄ = Σ doc_freq / (D · V)."""
    if matrix.documents == 0 or len(matrix.token_ids) == 0:
        return 0.0
    return float(matrix.doc_freq.sum()) / (matrix.documents * len(matrix.token_ids))


def degrees(matrix: AdjacencyMatrix, tau: float) -> np.ndarray:
    """Per vocabulary index: the number of partners b with C[a, b] / D > τ."""
    upper = matrix.upper.tocoo()
    strong = upper.data > tau * matrix.documents  # C / D > τ, without dividing
    size = len(matrix.token_ids)
    return (np.bincount(upper.row[strong], minlength=size) + np.bincount(upper.col[strong], minlength=size)).astype(np.int64)


def ubiquitous_mask(degree: np.ndarray, drop_top_percent: float) -> np.ndarray:
    """Tokens of degree > 0 in the top ``drop_top_percent`` % by degree, never splitting a tie."""
    positive = np.sort(degree[degree > 0])[::-1]
    k = math.floor(len(positive) * drop_top_percent / 100)
    if k == 0:
        return np.zeros(len(degree), bool)
    if k >= len(positive):
        return degree > 0
    return degree > positive[k]  # positive[k] is the (k+1)-th highest degree


@dataclass
class PivotSet:
    config: PivotConfig
    mean_probability: float  # p̄
    tau: float  # α · p̄
    degree: np.ndarray  # per vocabulary index
    token_ids: np.ndarray  # per vocabulary index
    doc_freq: np.ndarray
    pivot: np.ndarray  # bool per vocabulary index

    @property
    def pivot_token_ids(self) -> np.ndarray:
        return np.sort(self.token_ids[self.pivot])

    def summary(self) -> dict:
        zero = int(np.count_nonzero(self.degree == 0))
        return {"alpha": self.config.alpha, "drop_top_percent": self.config.drop_top_percent,
                "mean_occurrence_probability": self.mean_probability, "tau": self.tau,
                "vocabulary": len(self.degree), "degree_zero": zero,
                "ubiquitous": len(self.degree) - zero - int(self.pivot.sum()), "pivots": int(self.pivot.sum())}

    def mask(self, vocab_size: int) -> np.ndarray:
        """Boolean over the tokenizer's ids: True for a pivot-set token."""
        mask = np.zeros(vocab_size, bool)
        mask[self.token_ids[self.pivot]] = True
        return mask


def build_pivot_set(matrix: AdjacencyMatrix, config: PivotConfig = PivotConfig()) -> PivotSet:
    mean_probability = mean_occurrence_probability(matrix)
    tau = config.alpha * mean_probability
    degree = degrees(matrix, tau)
    pivot = (degree > 0) & ~ubiquitous_mask(degree, config.drop_top_percent)
    return PivotSet(config, mean_probability, tau, degree, matrix.token_ids, matrix.doc_freq, pivot)


def run_pivot_set(adjacency_dir: str | Path, out_dir: str | Path, config: PivotConfig = PivotConfig()) -> PivotSet:
    """Build the pivot set of an adjacency directory and save it (recomputing is quick)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    adjacency_dir = Path(adjacency_dir).resolve()
    adjacency_manifest = read_manifest(adjacency_dir, "select-adjacency", "adjacency")
    matrix = AdjacencyMatrix.load(adjacency_dir)
    pivots = build_pivot_set(matrix, config)
    out = Path(out_dir)
    identity = {"adjacency": str(adjacency_dir), "adjacency_identity": adjacency_manifest["identity"], **asdict(config)}
    directory = StageDirectory(out, STAGE).claim(identity)
    directory.reopen()  # rebuilt every time: it takes less than reading it back
    chosen = np.flatnonzero(pivots.pivot)
    chosen = chosen[np.lexsort((pivots.token_ids[chosen], -pivots.degree[chosen]))]
    tokenizer = DocumentTokenizer.load(adjacency_dir, name=f"tokenizer of {adjacency_dir}")
    pq.write_table(pa.table({"token_id": pivots.token_ids[chosen],
                             "token": tokenizer.token_strings(pivots.token_ids[chosen]),
                             "degree": pivots.degree[chosen], "doc_freq": pivots.doc_freq[chosen]}),
                   out / "pivot_set.parquet")
    directory.complete(details={"adjacency_dir": str(adjacency_dir), **pivots.summary(),
                                "tau_documents": pivots.tau * matrix.documents, "documents": matrix.documents})
    return pivots


@dataclass(frozen=True)
class PivotSetFile:
    """A saved pivot set and where it came from."""

    token_ids: np.ndarray
    config: PivotConfig
    adjacency_dir: Path
    manifest: dict

    @classmethod
    def load(cls, directory: str | Path) -> PivotSetFile:
        import pyarrow.parquet as pq

        manifest = read_manifest(Path(directory), STAGE, "pivotset")
        token_ids = np.sort(pq.read_table(Path(directory) / "pivot_set.parquet", columns=["token_id"])["token_id"]
                            .to_numpy())
        return cls(token_ids, PivotConfig(manifest["alpha"], manifest["drop_top_percent"]),
                   Path(manifest["adjacency_dir"]), manifest)
