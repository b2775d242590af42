"""Markdown tables for reports, stage summaries and the terminal: one formatter for every table."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def format_cell(value: Any, digits: int | None = 4) -> str:
    """Floats to ``digits`` decimals (``None``: as Python prints them), NaN as an em dash, None empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return str(value) if digits is None else f"{value:.{digits}f}"
    return str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, *, digits: int | None = 4,
                   right_aligned: Sequence[str] = (), empty: str = "_(no rows)_\n") -> str:
    """A GitHub Markdown table of ``rows`` (dicts) over ``columns`` (default: the first row's keys)."""
    if not rows:
        return empty
    columns = list(columns or rows[0])
    rule = "|" + "".join("---:|" if column in right_aligned else "---|" for column in columns)
    lines = ["| " + " | ".join(columns) + " |", rule]
    lines += ["| " + " | ".join(format_cell(row.get(c), digits) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"
