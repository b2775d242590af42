"""The cross-lingual ability score: prompts, seeded shot draws, batched likelihoods, the 4×4 matrix."""

from pivotlens.scoring.ability import ScoreConfig, score_dataset, summarize
from pivotlens.scoring.likelihood import (
    TokenizedRequest,
    cached_probabilities,
    naive_probabilities,
    tokenize_request,
)
from pivotlens.scoring.prompts import build_prompt, continuation

__all__ = [
    "ScoreConfig", "TokenizedRequest", "build_prompt", "cached_probabilities", "continuation",
    "naive_probabilities", "score_dataset", "summarize", "tokenize_request",
]
