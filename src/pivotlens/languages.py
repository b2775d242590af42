"""Languages of the study: ISO 639-1 codes, the English names used in prompts, and scripts."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

from pivotlens.errors import PivotlensError


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    script: str  # "latin" words match on word boundaries; "cjk" words match as substrings


LANGUAGES: dict[str, Language] = {
    "en": Language("en", "English", "latin"),
    "fr": Language("fr", "French", "latin"),
    "zh": Language("zh", "Chinese", "cjk"),
    "ja": Language("ja", "Japanese", "cjk"),
}
LANGUAGE_CODES: tuple[str, ...] = tuple(LANGUAGES)
ENGLISH = "en"  # the language a model may think in (its word's other forms are not pivots: docs/design.md §1.3)
ALL_PAIRS: tuple[tuple[str, str], ...] = tuple(permutations(LANGUAGE_CODES, 2))


def pair_key(src: str, tgt: str) -> str:
    return f"{src}-{tgt}"


def parse_pairs(spec: str | None) -> list[tuple[str, str]]:
    """Parse ``"en-fr,zh-ja"`` (or ``"all"`` / None for the 12 ordered pairs)."""
    if spec is None or spec.strip() == "all":
        return list(ALL_PAIRS)
    if not spec.strip():
        raise PivotlensError("no language pair given: write SRC-TGT pairs, e.g. en-fr,zh-ja, or 'all'")
    pairs: list[tuple[str, str]] = []
    for raw in spec.split(","):
        parts = raw.strip().split("-")
        if len(parts) != 2 or parts[0] not in LANGUAGES or parts[1] not in LANGUAGES:
            raise PivotlensError(
                f"bad language pair {raw.strip()!r}: write SRC-TGT with codes from "
                f"{', '.join(LANGUAGE_CODES)}, e.g. en-fr,zh-ja (or 'all')"
            )
        if parts[0] == parts[1]:
            raise PivotlensError(f"bad language pair {raw.strip()!r}: source and target must differ")
        if (parts[0], parts[1]) not in pairs:
            pairs.append((parts[0], parts[1]))
    return pairs
