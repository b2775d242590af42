"""Semantic-pivot mining by relative co-occurrence (docs/design.md §1.5).

For a translation x → y that goes through a semantic pivot, tokens that are frequent both in
documents containing x (D_s) and in documents containing y (D_t), but not in random documents
(background), are pivot candidates:

    F(tok) = min(f_s(tok) − f_bg(tok), f_t(tok) − f_bg(tok))

f is, per sample, either the share of documents that contain the token (``"document"``, default:
one long document cannot dominate) or the token's share of all token occurrences
(``"occurrence"``, closer to a plain relative frequency).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FREQUENCY_MODES = ("document", "occurrence")
TOKEN_FREQUENCIES = "token_frequencies.npy"  # in a pivots output directory: f_bg per vocabulary token


def read_token_frequencies(pivots_dir: str | Path) -> np.ndarray | None:
    """The background token frequencies a mining run saved (None for runs that predate them)."""
    path = Path(pivots_dir) / TOKEN_FREQUENCIES
    return np.load(path) if path.is_file() else None


def sample_frequencies(token_ids_per_document: Sequence[Sequence[int]], vocab_size: int, mode: str = "document") -> np.ndarray:
    """f(tok) for every token of the vocabulary, over one sample of tokenised documents."""
    if mode not in FREQUENCY_MODES:
        raise ValueError(f"frequency mode must be one of {FREQUENCY_MODES}, got {mode!r}")
    counts = np.zeros(vocab_size, dtype=np.float64)
    if not token_ids_per_document:
        return counts
    for ids in token_ids_per_document:
        if mode == "document":
            counts[np.unique(np.asarray(ids, dtype=np.int64))] += 1
        else:
            np.add.at(counts, np.asarray(ids, dtype=np.int64), 1)
    total = len(token_ids_per_document) if mode == "document" else max(1, sum(len(ids) for ids in token_ids_per_document))
    return counts / total


@dataclass(frozen=True)
class Candidate:
    token_id: int
    token: str
    score: float  # F
    f_source: float
    f_target: float
    f_background: float


def rank_candidates(
    f_source: np.ndarray, f_target: np.ndarray, f_background: np.ndarray, decode, top: int = 50
) -> list[Candidate]:
    """The ``top`` tokens by F (ties: lower token id first), with their three frequencies."""
    score = np.minimum(f_source - f_background, f_target - f_background)
    present = np.flatnonzero((f_source > 0) & (f_target > 0))
    order = present[np.lexsort((present, -score[present]))][:top]
    return [Candidate(int(t), decode(int(t)), float(score[t]), float(f_source[t]), float(f_target[t]),
                      float(f_background[t])) for t in order]
