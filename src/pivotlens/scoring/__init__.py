"""The cross-lingual ability score: prompts, seeded shot draws, batched likelihoods, the N×N matrix.

Names are imported lazily so that building the CLI parser (which reads ScoreOptions) does not load
torch.
"""

from importlib import import_module

_EXPORTS = {
    "ScoreConfig": "ability", "score_config": "ability", "score_dataset": "ability", "summarize": "ability",
    "TokenizedRequest": "likelihood", "cached_probabilities": "likelihood", "tokenize_request": "likelihood",
    "DrawPrompts": "draws", "item_draws": "draws",
    "ScoreOptions": "options",
    "build_prompt": "prompts", "continuation": "prompts",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pivotlens.scoring' has no attribute {name!r}")
    return getattr(import_module(f"pivotlens.scoring.{_EXPORTS[name]}"), name)
