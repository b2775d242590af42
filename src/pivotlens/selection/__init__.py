"""Pivot-aware pre-training data (paper §5): language ID, adjacency matrix, pivot set, mixes.

See docs/selection.md for the exact definitions, the command line and the output files.
"""

from pivotlens.errors import SelectionError
from pivotlens.selection.adjacency import (
    AdjacencyConfig,
    AdjacencyMatrix,
    build_adjacency,
    count_cooccurrence,
    run_adjacency,
)
from pivotlens.selection.langid import (
    DocumentLanguages,
    LangIdConfig,
    LanguageIndex,
    chunk_starts,
    identify_documents,
    identify_text,
    run_langid,
)
from pivotlens.selection.mixes import MixConfig, MixResult, build_mixes, plan_mixes, run_mixes, select_top
from pivotlens.selection.pivots import PivotConfig, PivotSet, PivotSetFile, build_pivot_set, run_pivot_set
from pivotlens.selection.tokens import DocumentTokenizer

__all__ = [
    "AdjacencyConfig", "AdjacencyMatrix", "DocumentLanguages", "DocumentTokenizer", "LangIdConfig",
    "LanguageIndex", "MixConfig", "MixResult", "PivotConfig", "PivotSet", "PivotSetFile", "SelectionError",
    "build_adjacency", "build_mixes", "build_pivot_set", "chunk_starts", "count_cooccurrence", "identify_documents",
    "identify_text", "plan_mixes", "run_adjacency", "run_langid", "run_mixes", "run_pivot_set",
    "select_top",
]
