"""Which documents contain a word: the matching rules, shared by every counting engine.

Rules (docs/design.md §1.4; the same for the local, Ray and infini-gram engines):

* **Normalisation.** Text and words are both NFKC-normalised (full-width ``Ｈａｎｄ`` → ``Hand``,
  ligatures and compatibility forms folded) and, unless matching is case-sensitive, case-folded
  with ``str.casefold`` (``Hand`` → ``hand``, ``ß`` → ``ss``).
Each language's rule is its registry entry's ``matching`` (``pivotlens.languages``; docs/languages.md):

* **Whole words** (``WORD``: Latin, Cyrillic, Devanagari scripts — en, fr, de, es, it, pt, ru, hi …) match as whole words:
  the characters just before and after the match must not be word characters. A word character
  is what Python's ``\\w`` matches (letters, digits, ``_``) **except** CJK ideographs, kana and
  Hangul, so ``hand`` is not found in ``handle`` nor ``main`` in ``domaine``, but ``eau`` is found
  in ``l'eau`` and ``main-d'œuvre`` contains ``main``, and ``hand`` is found in ``用hand做``
  (no spaces in Chinese/Japanese running text).
* **Chinese and Japanese words** (``SUBSTRING``) match as substrings: ``手`` is found in ``手指``.
  The script has no word separators, so this is the usual document-level convention; it counts
  compounds (``手`` in ``手順``) too. **Arabic** words match as substrings as well: proclitics
  (و "and", ب "with", ال "the") and enclitic pronouns (ـه "his") are written onto the word on both
  sides, so كتاب "book" must be found in والكتاب and كتابه.
* **Korean and Turkish words** (``PREFIX``) match at the start of a written word, with any
  continuation: particles and endings follow the word they attach to and never precede it, so
  학교 "school" is found in 학교에서 "at school" and 학교는, but not in 대학교 "university", where
  another syllable comes first. The character before the match must not be a word character in
  any script (Python's ``\\w``, Hangul included).
* **Document level.** A document either contains a word or not; repetitions count once.

Matching runs in one compiled pass (numba) over a whole batch of documents, with no Python step
per document position, occurrence or word run (docs/corpus.md, "Matching"). The batch's normalised
texts are one array of code points with the documents' offsets, and at each position:

* each maximal run of word characters is hashed as it is read and, where it ends, looked up in a
  hash table of the whole-word terms made only of word characters (the tokenise-then-hash-join of
  a database: such a term matches exactly where it is a whole run);
* where a substring term can start, its hash is extended one code point at a time and looked up
  at every term length, stopping as soon as no term has that prefix (a trie by hashes);
* the rare whole-word terms holding other characters too (``main-d'œuvre``, ``ice cream``) are
  probed the same way, and their boundaries checked where they occur; so are the prefix terms,
  whose left boundary alone is checked.

Every hash hit is confirmed by comparing code points, so hash collisions cannot change a count;
each (document, term) is emitted once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
from numba import njit

from pivotlens.corpus.folding import CODE_POINTS, code_points, text_of
from pivotlens.errors import PivotlensError
from pivotlens.languages import PREFIX, SUBSTRING, WORD, language

__all__ = ["PREFIX", "SUBSTRING", "WORD", "Term", "TermMatcher", "rule_for", "word_pattern"]


# CJK ideographs (with extensions and compatibility forms), kana, Hangul: letters that sit next to
# a Latin word without a space and do not make it part of a longer word.
CJK_RANGES = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f"
# A character that extends a Latin word: \w minus CJK. The compiled matcher's character table is
# made from it, and so are the per-word regular expressions of the benchmark and tests.
WORD_CHAR_CLASS = rf"[^\W{CJK_RANGES}]"
_WORD_CHAR = re.compile(WORD_CHAR_CLASS)
_WORD_RUN = re.compile(f"{WORD_CHAR_CLASS}+")

# Per code point flags of the compiled matcher.
_WORD_CHAR_FLAG, _STARTS_SUBSTRING, _STARTS_BOUNDED, _STARTS_LEADING, _ANY_SCRIPT_WORD_FLAG = 1, 2, 4, 8, 16
# Kinds of term, each hashed from its own seed: a text that is a term of two kinds has two keys.
# _LEADING: the PREFIX rule (a word at the start of a written word).
_RUN, _SUBSTRING, _BOUNDED, _LEADING = 0, 1, 2, 3
_KINDS = 4
_SEEDS = np.array([0xCBF29CE484222325, 0x84222325CBF29CE4, 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F], np.uint64)
_FNV_PRIME = np.uint64(0x100000001B3)
_FILTER_LOG2 = 18
_FILTER_BITS = 1 << _FILTER_LOG2  # 32 KiB: stays in the fastest caches
# A hash table slot is (key, what): _EMPTY, _PREFIX (a proper prefix of a probed term), or
# _TERM + the index of the term whose text has this key.
_EMPTY, _PREFIX, _TERM = 0, 1, 2


def rule_for(lang: str) -> str:
    """The matching rule for words of a language (its registry entry's; the rules above)."""
    return language(lang).matching


@lru_cache(maxsize=65536)
def is_word_char(char: str) -> bool:
    return _WORD_CHAR.match(char) is not None


def word_pattern(term: str, rule: str) -> re.Pattern[str]:
    """A regular expression equivalent to the matcher for one normalised term (a slow reference)."""
    escaped = re.escape(term)
    if rule == WORD:
        return re.compile(rf"(?<!{WORD_CHAR_CLASS}){escaped}(?!{WORD_CHAR_CLASS})")
    if rule == PREFIX:
        return re.compile(rf"(?<!\w){escaped}")
    return re.compile(escaped)


@cache
def word_char_table() -> np.ndarray:
    """1 for every code point that is a word character (:data:`WORD_CHAR_CLASS`), else 0."""
    table = np.zeros(CODE_POINTS, np.uint8)
    every_code_point = text_of(np.arange(CODE_POINTS, dtype=np.uint32))
    for run in _WORD_RUN.finditer(every_code_point):
        table[run.start():run.end()] = _WORD_CHAR_FLAG
    for run in re.finditer(r"\w+", every_code_point):  # any script's letters: what may not precede a PREFIX term
        table[run.start():run.end()] |= _ANY_SCRIPT_WORD_FLAG
    return table


@dataclass(frozen=True, order=True)
class Term:
    """A normalised word and its rule; words of different languages with the same form share one."""

    text: str
    rule: str


class TermMatcher:
    """Finds in normalised texts the indices of the terms each contains (the rules above)."""

    def __init__(self, terms: tuple[Term, ...]) -> None:
        if any(not term.text for term in terms):
            raise PivotlensError("cannot count an empty word")
        self.terms = terms
        kinds = np.array([_SUBSTRING if t.rule == SUBSTRING else _LEADING if t.rule == PREFIX
                          else _RUN if _WORD_RUN.fullmatch(t.text) else _BOUNDED for t in terms], np.int64)
        texts = [code_points(t.text) for t in terms]
        lengths = np.array([len(codes) for codes in texts], np.int64)
        self._term_starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self._term_codes = np.concatenate([np.zeros(0, np.uint32), *texts])
        self._flags = word_char_table().copy()
        for flag, kind in ((_STARTS_SUBSTRING, _SUBSTRING), (_STARTS_BOUNDED, _BOUNDED), (_STARTS_LEADING, _LEADING)):
            firsts = self._term_codes[self._term_starts[:-1][kinds == kind]]
            self._flags[firsts] |= flag
        self._max_length = np.zeros(_KINDS, np.int64)
        for kind in range(_KINDS):
            self._max_length[kind] = lengths[kinds == kind].max(initial=0)
        self._has_length = np.zeros((_KINDS, int(self._max_length.max()) + 1), np.bool_)
        self._has_length[kinds, lengths] = True
        entries = len(terms) + int((lengths - 1)[kinds != _RUN].sum())  # terms, prefixes of the probed ones
        slots = 1 << max(4, (2 * entries).bit_length())  # at most half full
        self._table, self._known_keys = _build_table(self._term_codes, self._term_starts, kinds, slots)
        self._single_substrings = np.full(CODE_POINTS, -1, np.int32)  # the substring term of one code point
        one = (kinds == _SUBSTRING) & (lengths == 1)
        self._single_substrings[self._term_codes[self._term_starts[:-1][one]]] = np.flatnonzero(one)
        self.find('')  # compiles (or loads from numba's cache) before any worker is forked

    def __reduce__(self):
        # Rebuilt from the terms where it is unpickled (a worker): the tables are derived state.
        return (TermMatcher, (self.terms,))

    def find_codes(self, codes: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(documents, terms)``: every (document, term) such that document d, the normalised code
        points ``codes[starts[d]:starts[d + 1]]`` (:func:`pivotlens.corpus.folding.fold_batch`),
        contains the term; once each, in document order."""
        return _incidences(codes, starts, self._flags, self._term_codes, self._term_starts, self._table,
                           self._known_keys, self._single_substrings, self._max_length, self._has_length)

    def find(self, text: str) -> set[int]:
        """Indices of the terms present in one text already normalised with :func:`pivotlens.text.normalize`."""
        return set(self.find_codes(code_points(text), np.array([0, len(text)]))[1].tolist())


@njit(cache=True)
def _mix(key, code):
    return (key ^ code) * _FNV_PRIME


@njit(cache=True)
def _slot(key, slots):
    return np.int64((key ^ (key >> np.uint64(29))) & np.uint64(slots - 1))


@njit(cache=True)
def _build_table(term_codes, term_starts, kinds, slots):
    """Open addressing over the keys of every term (its own slot) and of every proper prefix of a
    probed term (one slot per key: probing goes on while it finds one), and a filter of
    ``_FILTER_BITS`` bits, one set per key, that rejects most keys without reading the table."""
    table = np.zeros((slots, 2), np.uint64)  # a slot's key and what is in it, side by side
    known = np.zeros(_FILTER_BITS // 64, np.uint64)
    for term in range(len(kinds)):
        key = _SEEDS[kinds[term]]
        last = term_starts[term + 1] - 1
        for position in range(term_starts[term], last + 1):
            key = _mix(key, term_codes[position])
            whole = position == last
            if not whole and kinds[term] == _RUN:
                continue  # a run is looked up whole, never probed
            bit = _filter_bit(key)
            known[bit >> 6] |= np.uint64(1) << np.uint64(bit & 63)
            slot = _slot(key, slots)
            # a prefix stops at any slot of its key; a term takes a free slot or its key's prefix slot
            while table[slot, 1] != _EMPTY and not (table[slot, 0] == key and (not whole or table[slot, 1] == _PREFIX)):
                slot = (slot + 1) & (slots - 1)
            if whole or table[slot, 1] == _EMPTY:
                table[slot, 0] = key
                table[slot, 1] = _TERM + term if whole else _PREFIX
    return table, known


@njit(cache=True)
def _filter_bit(key):
    return np.int64(key >> np.uint64(64 - _FILTER_LOG2))


@njit(cache=True)
def _lookup(key, codes, start, stop, table, known_keys, term_codes, term_starts):
    """``(term, known)``: the term whose text is ``codes[start:stop]`` (-1 if none; hits are
    compared code point by code point), and whether any term or prefix has this key."""
    bit = _filter_bit(key)
    if not (known_keys[bit >> 6] >> np.uint64(bit & 63)) & np.uint64(1):
        return -1, False
    slots = len(table)
    slot = _slot(key, slots)
    known = False
    while table[slot, 1] != _EMPTY:
        if table[slot, 0] == key:
            known = True
            if table[slot, 1] >= _TERM:
                term = np.int64(table[slot, 1]) - _TERM
                if term_starts[term + 1] - term_starts[term] == stop - start:
                    offset = term_starts[term] - start
                    same = True
                    for position in range(start, stop):
                        if term_codes[position + offset] != codes[position]:
                            same = False
                            break
                    if same:
                        return term, True
        slot = (slot + 1) & (slots - 1)
    return -1, known


@njit(cache=True)
def _emit(terms, count, term, last_document, document):
    """Record ``term`` in ``document`` unless it already is; the new count."""
    if last_document[term] == document:
        return count
    last_document[term] = document
    terms[count] = term
    return count + 1


@njit(cache=True)
def _probe(kind, codes, position, begin, end, flags, term_codes, term_starts, table, known_keys, single_substrings,
           max_length, last_document, document, terms, count):
    """Record the terms of ``kind`` (substring or bounded word) that start at ``position``: extend
    the key one code point at a time while some term of that kind has it as a prefix."""
    key = _mix(_SEEDS[kind], codes[position])
    if kind == _SUBSTRING and single_substrings[codes[position]] >= 0:  # one code point: no hashing
        count = _emit(terms, count, single_substrings[codes[position]], last_document, document)
    for stop in range(position + 2 if kind == _SUBSTRING else position + 1, min(end, position + max_length[kind]) + 1):
        if stop > position + 1:
            key = _mix(key, codes[stop - 1])
        term, known = _lookup(key, codes, position, stop, table, known_keys, term_codes, term_starts)
        if not known:
            break
        if term >= 0 and (kind == _SUBSTRING or (
                kind == _LEADING and (position == begin or not flags[codes[position - 1]] & _ANY_SCRIPT_WORD_FLAG)) or (
                kind == _BOUNDED and (position == begin or not flags[codes[position - 1]] & _WORD_CHAR_FLAG)
                and (stop == end or not flags[codes[stop]] & _WORD_CHAR_FLAG))):
            count = _emit(terms, count, term, last_document, document)
    return count


@njit(cache=True)
def _document_terms(codes, begin, end, flags, term_codes, term_starts, table, known_keys, single_substrings,
                    max_length, has_length, last_document, document, terms, count):
    """Record the terms of document ``codes[begin:end]`` in ``terms`` from ``count`` on; the new count.
    (No array is reassigned here: numba would count references at every position.)"""
    run_start, key = -1, _SEEDS[_RUN]
    for position in range(begin, end + 1):  # one step past the end closes the last run
        flag = flags[codes[position]] if position < end else 0
        if flag & _WORD_CHAR_FLAG:
            if run_start < 0:
                run_start, key = position, _SEEDS[_RUN]
            key = _mix(key, codes[position])
        elif run_start >= 0:  # a maximal run of word characters ends here: look it up whole
            length = position - run_start
            if length <= max_length[_RUN] and has_length[_RUN, length]:
                term, _ = _lookup(key, codes, run_start, position, table, known_keys, term_codes, term_starts)
                if term >= 0:
                    count = _emit(terms, count, term, last_document, document)
            run_start = -1
        if flag & _STARTS_SUBSTRING:
            count = _probe(_SUBSTRING, codes, position, begin, end, flags, term_codes, term_starts, table, known_keys,
                           single_substrings, max_length, last_document, document, terms, count)
        if flag & _STARTS_BOUNDED:
            count = _probe(_BOUNDED, codes, position, begin, end, flags, term_codes, term_starts, table, known_keys,
                           single_substrings, max_length, last_document, document, terms, count)
        if flag & _STARTS_LEADING:
            count = _probe(_LEADING, codes, position, begin, end, flags, term_codes, term_starts, table, known_keys,
                           single_substrings, max_length, last_document, document, terms, count)
    return count


@njit(cache=True)
def _incidences(codes, starts, flags, term_codes, term_starts, table, known_keys, single_substrings, max_length,
                has_length):
    """The (document, term) incidences of a batch: ``codes[starts[d]:starts[d + 1]]`` is document d."""
    n_terms = len(term_starts) - 1
    last_document = np.full(n_terms, -1, np.int64)  # a term is recorded once per document
    counts = np.zeros(len(starts), np.int64)  # incidences before each document
    terms = np.empty(1024, np.int64)
    for document in range(len(starts) - 1):
        if counts[document] + n_terms > len(terms):  # room for every term in this document
            terms = np.concatenate((terms[:counts[document]], np.empty(len(terms) + n_terms, np.int64)))
        counts[document + 1] = _document_terms(codes, starts[document], starts[document + 1], flags, term_codes,
                                               term_starts, table, known_keys, single_substrings, max_length,
                                               has_length, last_document, document, terms, counts[document])
    return np.repeat(np.arange(len(starts) - 1), np.diff(counts)), terms[:counts[-1]].copy()
