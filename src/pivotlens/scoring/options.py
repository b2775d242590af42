"""The user-facing options of the ability score: the `score` section of a study config and the
flags of `pivotlens score` (kept free of torch so that the CLI parser can read them)."""

from __future__ import annotations

from dataclasses import dataclass

from pivotlens.options import option


@dataclass(frozen=True)
class ScoreOptions:
    draws: int = option(5, "independent shot draws per item")
    shots: int = option(5, "few-shot examples per prompt")
    limit: int | None = option(None, "score only the first N items per pair (default: all)")
    batch_size: int = option(8, "(item, draw) requests per forward pass; does not change results")
