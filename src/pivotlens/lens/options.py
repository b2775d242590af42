"""The user-facing options of the logit-lens classification and of token-set curves: config
sections of a study and flags of `pivotlens lens …` / `pivotlens pivots curve` (free of torch so
that the CLI parser can read them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pivotlens.options import option


@dataclass(frozen=True)
class ClassifyOptions:
    limit: int | None = option(None, "classify only the first N items per pair (default: all)")
    batch_size: int = option(8, "prompts per forward pass; does not change results")
    first_layer: int | None = option(None, "lowest layer searched for t* (default: the middle layer; 1 = the paper's rule)")
    allow_any_token: bool = option(False, "let whitespace-only and special tokens be t*")
    output_rule: Literal["model", "gold", "either"] = option(
        "model", "the output word: the model's final-layer top-1 (the authors' scripts), the dataset's target, or either")


@dataclass(frozen=True)
class CurveOptions:
    random_sets: int = option(20, "random token sets of the same sizes, the curve's baseline")
    batch_size: int = option(8, "prompts per forward pass; does not change results")


@dataclass(frozen=True)
class RobustnessOptions:
    draws: int = option(5, "shot draws whose labels are compared (draw 0 is the lens run's; the rest are classified)")
    limit: int | None = option(None, "items per pair of the extra draws (default: the lens run's limit)")
    floor: float = option(0.05, "probability floor: an item whose t* is below it counts as no pivot")
    batch_size: int = option(8, "prompts per forward pass; does not change results")


@dataclass(frozen=True)
class LanguagesOptions:
    """The latent-language curves read the lens run's records: nothing to choose."""
