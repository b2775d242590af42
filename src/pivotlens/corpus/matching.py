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

Matching runs in compiled code, with no Python step per occurrence (docs/corpus.md, "Matching"):

* a whole-word term made only of word characters is found exactly where it is a maximal run of
  word characters, so the document's runs (one regular-expression ``findall``) are intersected
  with those terms as a set — a hash join, as a database would split and join;
* substring terms are found by a Rust Aho–Corasick automaton (``ahocorasick_rs``) reporting every
  overlapping occurrence in one call; the distinct term indices are kept;
* the rare whole-word terms that hold other characters too (``main-d'œuvre``, ``ice cream``) have
  their own automaton, and their boundaries are checked at each of their occurrences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter

import ahocorasick_rs

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
_WORD_RUN = re.compile(f"{WORD_CHAR_CLASS}+")
_PATTERN_INDEX = itemgetter(0)  # of ahocorasick_rs's (pattern index, start, end)


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
    """Finds in a normalised text the indices of the terms it contains (the rules above)."""

    def __init__(self, terms: tuple[Term, ...]) -> None:
        if any(not term.text for term in terms):
            raise PivotlensError("cannot count an empty word")
        self.terms = terms
        self._single_words = {t.text: i for i, t in enumerate(terms) if t.rule == WORD and _WORD_RUN.fullmatch(t.text)}
        self._single_word_texts = frozenset(self._single_words)
        self._substrings = _Automaton([i for i, t in enumerate(terms) if t.rule == SUBSTRING], terms)
        self._bounded_words = _Automaton([i for i, t in enumerate(terms)
                                          if t.rule == WORD and t.text not in self._single_words], terms)

    def __reduce__(self):
        # Rebuilt from the terms where it is unpickled (a worker): the automata are derived state.
        return (TermMatcher, (self.terms,))

    def find(self, text: str) -> set[int]:
        """Indices of the terms present in ``text`` (already normalised with :func:`pivotlens.text.normalize`)."""
        single_words = self._single_words  # set.intersection walks the document's runs, in C
        found = {single_words[run] for run in self._single_word_texts.intersection(_WORD_RUN.findall(text))}
        found.update(self._substrings.terms_in(text))
        for term, start, end in self._bounded_words.occurrences(text):
            if term not in found and (start == 0 or not is_word_char(text[start - 1])) and \
                    (end == len(text) or not is_word_char(text[end])):
                found.add(term)
        return found


class _Automaton:
    """A Rust Aho–Corasick automaton over some of the terms, reporting term indices."""

    def __init__(self, indices: list[int], terms: tuple[Term, ...]) -> None:
        self._indices = indices
        self._automaton = ahocorasick_rs.AhoCorasick([terms[i].text for i in indices]) if indices else None

    def terms_in(self, text: str) -> set[int]:
        if self._automaton is None:
            return set()
        indices = self._indices
        return {indices[i] for i in set(map(_PATTERN_INDEX, self._automaton.find_matches_as_indexes(text, overlapping=True)))}

    def occurrences(self, text: str) -> list[tuple[int, int, int]]:
        """(term index, start, end) of every occurrence, overlapping ones included."""
        if self._automaton is None:
            return []
        indices = self._indices
        return [(indices[i], start, end) for i, start, end in self._automaton.find_matches_as_indexes(text, overlapping=True)]
