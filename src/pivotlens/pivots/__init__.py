"""Semantic-pivot mining by relative co-occurrence, filters, and validation curves.

Names are imported lazily so that building the CLI parser does not load torch.
"""

from importlib import import_module

_EXPORTS = {
    "FilteredCandidates": "filters", "apply_rule_filter": "filters", "llm_filter": "filters", "rule_reason": "filters",
    "Candidate": "mining", "rank_candidates": "mining", "sample_frequencies": "mining",
    "MineOptions": "options",
    "MineConfig": "run", "mine_config": "run", "mine_pivots": "run", "run_mining": "run",
    "select_items": "run", "item_word_forms": "run", "ItemWordForms": "filters",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pivotlens.pivots' has no attribute {name!r}")
    return getattr(import_module(f"pivotlens.pivots.{_EXPORTS[name]}"), name)
