"""Text normalisation, one rule for every stage that compares strings: corpus matching (documents
and words), the lens (decoded tokens against a word's tokens) and the pivot filters."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

# Documents longer than this are tokenised piece by piece: a tokenizer's per-token bookkeeping costs
# hundreds of bytes a token, so one 10 MB document would take gigabytes in one call.
PIECE_CHARS = 100_000

# Leading-space markers of SentencePiece (▁) and byte-level BPE (Ġ) tokens, and plain whitespace.
SPACE_MARKERS = "▁Ġ \t\n"


def normalize(text: str, case_sensitive: bool = False) -> str:
    """NFKC, then case-folding unless ``case_sensitive``; applied to documents and words alike."""
    text = unicodedata.normalize("NFKC", text)
    return text if case_sensitive else text.casefold()


def normalize_token_text(text: str) -> str:
    """A decoded token as a word: normalised, case-folded, without its space markers."""
    return normalize(text).strip(SPACE_MARKERS)


def text_pieces(text: str, max_chars: int = PIECE_CHARS) -> Iterator[tuple[int, str]]:
    """``(start, piece)`` covering ``text`` in order, each at most ``max_chars`` long, cut just before
    a space or line break in the second half of the window (a hard cut only where there is none), so
    that tokens rarely straddle a cut; a text within the limit is one piece."""
    start = 0
    while len(text) - start > max_chars:
        window_end = start + max_chars
        cut = max(text.rfind(" ", start + max_chars // 2, window_end), text.rfind("\n", start + max_chars // 2, window_end))
        end = cut if cut > start else window_end
        yield start, text[start:end]
        start = end
    yield start, text[start:]
