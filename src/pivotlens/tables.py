"""Markdown tables for reports, stage summaries and the terminal: one formatter for every table."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

# Characters that would start markup (emphasis, code, links, HTML, entities) or end a table cell.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*\[\]<>|&])")


def escape_markdown(text: Any) -> str:
    """Plain text as Markdown that shows exactly that text on one line: specials backslash-escaped,
    line breaks (any Unicode one) as spaces. Words, model paths and token strings go through here."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(str(text).splitlines()))


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
    """A GitHub Markdown table of ``rows`` (dicts) over ``columns`` (default: the first row's keys).
    Every header and cell is escaped text, so no value can add markup or break the table."""
    if not rows:
        return empty
    columns = list(columns or rows[0])
    rule = "|" + "".join("---:|" if column in right_aligned else "---|" for column in columns)
    lines = ["| " + " | ".join(map(escape_markdown, columns)) + " |", rule]
    lines += ["| " + " | ".join(escape_markdown(format_cell(row.get(c), digits)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"
