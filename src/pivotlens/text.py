"""Text normalisation, one rule for every stage that compares strings: corpus matching (documents
and words), the lens (decoded tokens against a word's tokens) and the pivot filters."""

from __future__ import annotations

import unicodedata

# Leading-space markers of SentencePiece (▁) and byte-level BPE (Ġ) tokens, and plain whitespace.
SPACE_MARKERS = "▁Ġ \t\n"


def normalize(text: str, case_sensitive: bool = False) -> str:
    """NFKC, then case-folding unless ``case_sensitive``; applied to documents and words alike."""
    text = unicodedata.normalize("NFKC", text)
    return text if case_sensitive else text.casefold()


def normalize_token_text(text: str) -> str:
    """A decoded token as a word: normalised, case-folded, without its space markers."""
    return normalize(text).strip(SPACE_MARKERS)
