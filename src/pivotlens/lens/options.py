"""The user-facing options of the lens classification, of token-set curves and of tuned-lens
training: config sections of a study and flags of `pivotlens lens …` / `pivotlens pivots curve`
(free of torch so that the CLI parser can read them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pivotlens.options import option


@dataclass(frozen=True)
class DecoderOptions:
    decoder: str = option("logit", "how layers are read: logit (the logit lens) or tuned:DIR (translators from "
                                   "`pivotlens lens train-tuned`)")


@dataclass(frozen=True)
class ClassifyOptions(DecoderOptions):
    limit: int | None = option(None, "classify only the first N items per pair (default: all)")
    batch_size: int = option(8, "prompts per forward pass; does not change results")
    first_layer: int | None = option(None, "lowest layer searched for t* (default: the middle layer; 1 = the paper's rule)")
    allow_any_token: bool = option(False, "let whitespace-only and special tokens be t*")
    output_rule: Literal["model", "gold", "either"] = option(
        "model", "the output word: the model's final-layer top-1 (the authors' scripts), the dataset's target, or either")


@dataclass(frozen=True)
class CurveOptions(DecoderOptions):
    random_sets: int = option(20, "random token sets of the same sizes, the curve's baseline")
    batch_size: int = option(8, "prompts per forward pass; does not change results")


@dataclass(frozen=True)
class TunedLensOptions:
    """`pivotlens lens train-tuned`: per-layer affine translators fitted to KL(final ‖ decoded).

    Every lens position costs a full-vocabulary unembedding per layer forward and backward, which is
    what limits training on a CPU; the decoder body is cheap, so each sequence contributes a few
    sampled positions, spread over many documents."""

    sequence_length: int = option(64, "tokens per training window (documents are cut into windows)")
    positions_per_sequence: int = option(16, "lens positions sampled per window (seeded; never the BOS position)")
    train_positions: int = option(8192, "lens positions to train on (one pass)")
    heldout_positions: int = option(512, "held-out lens positions, from documents never trained on")
    batch_positions: int = option(128, "lens positions per optimizer step")
    optimizer: Literal["sgd", "adam"] = option("adam", "adam, or sgd with Nesterov momentum 0.9 (Belrose et al.)")
    lr: float | None = option(None, "learning rate (default: 1e-3 adam, 0.1 sgd as in tuned-lens)")
    weight_decay: float = option(1e-3, "decoupled weight decay towards the identity translator")
    documents: int = option(20000, "documents considered, the first in a seeded order of the corpus")
    checkpoint_every: int = option(5, "optimizer steps between checkpoints (the resume points)")
    logits_dtype: Literal["bfloat16", "float32"] = option(
        "bfloat16", "precision of the training unembedding matmul (held-out numbers are always float32)")


@dataclass(frozen=True)
class RobustnessOptions:
    draws: int = option(5, "shot draws whose labels are compared (draw 0 is the lens run's; the rest are classified)")
    limit: int | None = option(None, "items per pair of the extra draws (default: the lens run's limit)")
    floor: float = option(0.05, "probability floor: an item whose t* is below it counts as no pivot")
    batch_size: int = option(8, "prompts per forward pass; does not change results")


@dataclass(frozen=True)
class LanguagesOptions:
    """The latent-language curves read the lens run's records: nothing to choose."""
