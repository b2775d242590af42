"""Normalising a batch of documents in compiled code: exactly :func:`pivotlens.text.normalize`
(NFKC, then ``str.casefold`` unless case-sensitive), as code points ready for the matcher.

NFKC is not a per-character mapping in general (combining marks compose and reorder), but it is one
on text made only of characters of two classes (UAX #15, quick check and "stable code points"):

* *stable*: NFKC leaves the character as it is, its combining class is 0 and it never combines
  with the character before it (it is not the second character of any canonical composition) —
  almost all text: ASCII, precomposed Latin letters (``é``), CJK, kana, Hangul syllables;
* *expanding*: NFKC replaces the character by its compatibility decomposition, and that
  decomposition consists of stable characters only (full-width ``Ｈ``, ``，``, ``ﬁ``, ``…``).

A segment of such text begins at every stable character, so nothing composes or reorders across
characters, and NFKC is the concatenation of each character's own NFKC; ``str.casefold`` is per
character anyway. Each code point's image is taken from Python's own ``unicodedata`` and
``str.casefold`` (so the same Unicode version) the first time it occurs; a document with any other
character (a combining mark, a Hangul jamo, half-width ﾞ …) is normalised by
:func:`pivotlens.text.normalize` itself.
"""

from __future__ import annotations

import unicodedata
from functools import cache

import numpy as np
from numba import njit

from pivotlens.text import normalize

CODE_POINTS = 0x110000
# Entries of a mapping table: ≥ 0 the single code point a character becomes; ≤ _MULTIPLE, the
# sequence number _MULTIPLE - entry of the images of several code points; or one of these.
_UNKNOWN, _PENDING, _OTHER, _MULTIPLE = -1, -2, -3, -4


def code_points(text: str) -> np.ndarray:
    """The text as uint32 code points (lone surrogates, which JSON can carry, kept as they are)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


def text_of(codes: np.ndarray) -> str:
    return codes.astype(np.uint32).tobytes().decode("utf-32-le", "surrogatepass")


@cache
def _second_of_composition() -> frozenset[int]:
    """Code points that canonical composition joins to the character before them (NFKC's
    "maybe" characters)."""
    everything = text_of(np.arange(CODE_POINTS, dtype=np.uint32))
    seconds = set()
    for block in range(0, CODE_POINTS, 512):
        if unicodedata.is_normalized("NFD", everything[block:block + 512]):
            continue  # no character of the block decomposes
        for char in everything[block:block + 512]:
            parts = unicodedata.decomposition(char).split()
            if len(parts) == 2 and not parts[0].startswith("<"):
                first, second = (chr(int(part, 16)) for part in parts)
                if unicodedata.normalize("NFC", first + second) == char:
                    seconds.add(ord(second))
    # Hangul syllables compose algorithmically (no decomposition data): medial vowels and final consonants
    return frozenset(seconds | set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3)))


def _stable(char: str) -> bool:
    return (unicodedata.combining(char) == 0 and ord(char) not in _second_of_composition()
            and unicodedata.is_normalized("NFKC", char))


def image(char: str, case_sensitive: bool) -> str | None:
    """What ``normalize`` makes of the character within text of stable and expanding characters,
    or None for any other character."""
    if _stable(char):
        nfkc = char
    else:
        nfkc = unicodedata.normalize("NFKD", char)
        if unicodedata.combining(char) or not all(map(_stable, nfkc)) or unicodedata.normalize("NFKC", char) != nfkc:
            return None
    return nfkc if case_sensitive else nfkc.casefold()


class _Table:
    """The images of the code points met so far, for one case mode."""

    def __init__(self, case_sensitive: bool) -> None:
        self.case_sensitive = case_sensitive
        self.entries = np.full(CODE_POINTS, _UNKNOWN, np.int32)
        self.sequences: list[np.ndarray] = []
        self.offsets = np.zeros(1, np.int64)
        self.codes = np.zeros(0, np.uint32)

    def learn(self, code_points_met: np.ndarray) -> None:
        added = []
        for code in code_points_met.tolist():
            folded = image(chr(code), self.case_sensitive)
            if folded is None:
                self.entries[code] = _OTHER
            elif len(folded) == 1:
                self.entries[code] = ord(folded)
            else:
                self.entries[code] = _MULTIPLE - len(self.sequences) - len(added)
                added.append(code_points(folded))
        if added:
            self.sequences += added
            self.offsets = np.concatenate([[0], np.cumsum([len(s) for s in self.sequences])]).astype(np.int64)
            self.codes = np.concatenate(self.sequences)


@cache
def _table(case_sensitive: bool) -> _Table:
    return _Table(case_sensitive)


def fold_batch(texts: list[str], case_sensitive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, starts)``: the normalised texts as one array of code points, text i being
    ``codes[starts[i]:starts[i + 1]]``; equal to ``normalize(text, case_sensitive)`` for each."""
    table = _table(case_sensitive)
    codes = code_points("".join(texts))
    starts = np.zeros(len(texts) + 1, np.int64)
    np.cumsum([len(text) for text in texts], out=starts[1:])
    lengths, other, new = _image_lengths(codes, starts, table.entries, table.offsets)
    if new:  # characters not met before: learn them, then measure again
        table.learn(np.flatnonzero(table.entries == _PENDING))
        lengths, other, _ = _image_lengths(codes, starts, table.entries, table.offsets)
    image_starts = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(lengths, out=image_starts[1:])
    folded = _images(codes, starts, table.entries, table.offsets, table.codes, image_starts)
    if not other.any():
        return folded, image_starts
    pieces, last = [], 0  # the documents with other characters, normalised by Python
    for index in np.flatnonzero(other).tolist():
        pieces += [folded[image_starts[last]:image_starts[index]], code_points(normalize(texts[index], case_sensitive))]
        last = index + 1
    pieces.append(folded[image_starts[last]:])
    lengths[other] = [len(pieces[2 * i + 1]) for i in range(int(other.sum()))]
    np.cumsum(lengths, out=image_starts[1:])
    return np.concatenate(pieces), image_starts


@njit(cache=True)
def _image_lengths(codes, starts, entries, offsets):
    """Per document, the length of its image (0 where it holds another character) and whether it
    does; and whether some character was never met (marked _PENDING in ``entries``)."""
    lengths = np.zeros(len(starts) - 1, np.int64)
    other = np.zeros(len(starts) - 1, np.bool_)
    new = False
    for document in range(len(starts) - 1):
        length = 0
        for position in range(starts[document], starts[document + 1]):
            entry = entries[codes[position]]
            if entry >= 0:
                length += 1
            elif entry <= _MULTIPLE:
                length += offsets[_MULTIPLE - entry + 1] - offsets[_MULTIPLE - entry]
            elif entry == _OTHER:
                other[document] = True
            else:
                entries[codes[position]] = _PENDING
                new = True
        lengths[document] = 0 if other[document] else length
    return lengths, other, new


@njit(cache=True)
def _images(codes, starts, entries, offsets, sequences, image_starts):
    folded = np.empty(image_starts[-1], np.uint32)
    for document in range(len(starts) - 1):
        if image_starts[document + 1] == image_starts[document]:
            continue  # empty, or normalised by Python
        out = image_starts[document]
        for position in range(starts[document], starts[document + 1]):
            entry = entries[codes[position]]
            if entry >= 0:
                folded[out] = entry
                out += 1
            else:
                for inside in range(offsets[_MULTIPLE - entry], offsets[_MULTIPLE - entry + 1]):
                    folded[out] = sequences[inside]
                    out += 1
    return folded
