"""The records that cross stages, defined once."""

from __future__ import annotations

CO_OCCURRENCE = "co-occurrence"
SEMANTIC_PIVOT = "semantic-pivot"
BEHAVIOURS = (CO_OCCURRENCE, SEMANTIC_PIVOT)
