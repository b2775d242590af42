"""Continued pre-training on a data mix, and the evaluation of what it changed (docs/design.md §1.7):
the Table-3 comparison with paired bootstrap CIs, sentence-level chrF++, and both metrics across
checkpoints. See docs/training.md.

Names are imported lazily so that `pivotlens --help` (which imports pivotlens.training.cli) does
not load torch.
"""

from importlib import import_module

_EXPORTS = {
    "Cell": "compare", "Comparison": "compare", "compare_item_scores": "compare", "compare_score_dirs": "compare",
    "write_comparison": "compare",
    "NamedModel": "evaluation", "compare_models": "evaluation", "evaluate_checkpoints": "evaluation",
    "expand_checkpoints": "evaluation", "score_models": "evaluation",
    "PackedBlocks": "packing", "write_token_file": "packing",
    "TrainConfig": "trainer", "TrainResult": "trainer", "train": "trainer",
    "ChrfConfig": "translation", "ParallelPair": "translation", "corpus_chrf": "translation",
    "evaluate_chrf": "translation", "read_parallel": "translation",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
