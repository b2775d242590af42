"""Which documents contain a word: the matching rules, shared by every counting engine.

Rules (docs/design.md §1.4; the same for the local, Ray and infini-gram engines):

* **Normalisation.** Text and words are both NFKC-normalised (full-width ``Ｈａｎｄ`` → ``Hand``,
  ligatures and compatibility forms folded) and, unless matching is case-sensitive, case-folded
  with ``str.casefold`` (``Hand`` → ``hand``, ``ß`` → ``ss``).
* **Latin-script words** (``LANGUAGES[code].script == "latin"``: en, fr) match as whole words:
  the characters just before and after the match must not be word characters. A word character
  is what Python's ``\\w`` matches (letters, digits, ``_``) **except** CJK ideographs, kana and
  Hangul, so ``hand`` is not found in ``handle`` nor ``main`` in ``domaine``, but ``eau`` is found
  in ``l'eau`` and ``main-d'œuvre`` contains ``main``, and ``hand`` is found in ``用hand做``
  (no spaces in Chinese/Japanese running text).
* **Chinese and Japanese words** (script ``"cjk"``) match as substrings: ``手`` is found in ``手指``.
  The script has no word separators, so this is the usual document-level convention; it counts
  compounds (``手`` in ``手順``) too.
* **Document level.** A document either contains a word or not; repetitions count once.

All words are found in one pass with an Aho–Corasick automaton (``pyahocorasick``) that reports
every (overlapping) occurrence; whole-word conditions are checked only at those occurrences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick

from pivotlens.errors import PivotlensError
from pivotlens.languages import LANGUAGES

WORD = "word"  # whole-word match (Latin script)
SUBSTRING = "substring"  # substring match (Chinese, Japanese)

# CJK ideographs (with extensions and compatibility forms), kana, Hangul: letters that sit next to
# a Latin word without a space and do not make it part of a longer word.
CJK_RANGES = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f"
# A character that extends a Latin word: \w minus CJK. Used by the one-pass matcher and by the
# per-word regular expressions of the benchmark and tests, so both agree by construction.
WORD_CHAR_CLASS = rf"[^\W{CJK_RANGES}]"
_WORD_CHAR = re.compile(WORD_CHAR_CLASS)


def rule_for(lang: str) -> str:
    """The matching rule for words of a language: whole word for Latin script, else substring."""
    if lang not in LANGUAGES:
        raise PivotlensError(f"unknown language {lang!r}; known: {', '.join(LANGUAGES)}")
    return WORD if LANGUAGES[lang].script == "latin" else SUBSTRING


@lru_cache(maxsize=65536)
def is_word_char(char: str) -> bool:
    return _WORD_CHAR.match(char) is not None


def word_pattern(term: str, rule: str) -> re.Pattern[str]:
    """A regular expression equivalent to the matcher for one normalised term (a slow reference)."""
    escaped = re.escape(term)
    if rule == WORD:
        return re.compile(rf"(?<!{WORD_CHAR_CLASS}){escaped}(?!{WORD_CHAR_CLASS})")
    return re.compile(escaped)


@dataclass(frozen=True, order=True)
class Term:
    """A normalised word and its rule; words of different languages with the same form share one."""

    text: str
    rule: str


class TermMatcher:
    """Finds, in one pass over a normalised text, the indices of the terms it contains."""

    def __init__(self, terms: tuple[Term, ...]) -> None:
        self.terms = terms
        by_text: dict[str, tuple[list[int], list[int]]] = {}
        for index, term in enumerate(terms):
            if not term.text:
                raise PivotlensError("cannot count an empty word")
            whole_word, substring = by_text.setdefault(term.text, ([], []))
            (whole_word if term.rule == WORD else substring).append(index)
        self._automaton = ahocorasick.Automaton()
        for text, (whole_word, substring) in by_text.items():
            self._automaton.add_word(text, (len(text), tuple(whole_word), tuple(substring)))
        self._automaton.make_automaton()

    def __reduce__(self):
        # Rebuilt from the terms where it is unpickled (a Ray worker): the automaton is derived state.
        return (TermMatcher, (self.terms,))

    def find(self, text: str) -> set[int]:
        """Indices of the terms present in ``text`` (already normalised with :func:`pivotlens.text.normalize`)."""
        found: set[int] = set()
        last = len(text) - 1
        for end, (length, whole_word, substring) in self._automaton.iter(text):
            if substring:
                found.update(substring)
            if whole_word and not found.issuperset(whole_word):
                start = end - length + 1
                if (start == 0 or not is_word_char(text[start - 1])) and (end == last or not is_word_char(text[end + 1])):
                    found.update(whole_word)
        return found
