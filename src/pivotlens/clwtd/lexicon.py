"""The lexicon the CLWTD builder works from: synsets with a part of speech, per-language lemmas and
typed relations, English sense ranks, word frequencies and bilingual-dictionary glosses.

`Lexicon` is plain in-memory data plus three look-up functions, so tests build one by hand and
`pivotlens.clwtd.resources.load_open_lexicon` fills it from Princeton WordNet 3.0, the Open
Multilingual Wordnet tab files, wordfreq, JMdict and CC-CEDICT. Synset ids follow OMW:
``"05564590-n"`` (offset, then n / v / a / r; satellite adjectives use ``a``)."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

# Builder part of speech ← WordNet synset type (satellites are adjectives).
POS_OF_SYNSET_TYPE = {"n": "n", "v": "v", "a": "adj", "s": "adj", "r": "adv"}
ID_LETTER_OF_POS = {"n": "n", "v": "v", "adj": "a", "adv": "r"}

# Relations kept from WordNet's pointer symbols. The last three link across parts of speech
# (an adjective to its noun: high → height, social → society); the builder uses them as bridges.
RELATION_OF_POINTER = {
    "!": "antonym",
    "&": "similar",
    "@": "hypernym",
    "@i": "hypernym",
    "~": "hyponym",
    "#m": "holonym",
    "#s": "holonym",
    "#p": "holonym",
    "%m": "meronym",
    "%s": "meronym",
    "%p": "meronym",
    "^": "also",
    "$": "verb_group",
    "*": "entailment",
    ">": "cause",
    "+": "derivation",
    "=": "attribute",
    "\\": "pertainym",
}
CROSS_POS_RELATIONS = ("derivation", "attribute", "pertainym")
USAGE_DOMAIN_POINTER = ";u"
# WordNet marks few offensive senses with a usage domain; their glosses say so more often.
OFFENSIVE_GLOSS_MARKERS = ("obscene", "vulgar", "offensive term", "offensive name", "offensive word", "derogatory",
                           "disparaging", "ethnic slur")
# WordNet says a sense's register in its gloss more often than with a usage domain: "an archaic term
# for a boundary" (bourn), "informal terms for a friend". Such a sense is tagged as if it had one.
REGISTER_GLOSS = re.compile(r"\b(?:archaic|obsolete|old-fashioned|informal|literary|slang|colloquial) (?:term|name|word)s?\b"
                            r"|\((?:archaic|obsolete|informal|literary|slang)\)")
REGISTER_TAG = "usage:register"
INSTANCE_POINTER = "@i"
_ADJECTIVE_MARKER = re.compile(r"\((a|p|ip)\)$")


# Sources that only propose candidate lemmas: they derive from a dictionary that is checked on its
# own, so they are never counted as evidence (a spelling shared by Chinese and Japanese is no
# second opinion on its meaning).
DERIVED_SOURCES = frozenset({"monosemous-gloss", "cognate"})
# Machine-built wordnets: evidence, but not human-made.
AUTOMATIC_SOURCES = frozenset({"wolf", "cow"})


@dataclass(frozen=True)
class Synset:
    id: str
    pos: str  # n / v / adj / adv
    # language code → {lemma: the names of the sources listing it}, best-supported first
    lemmas: Mapping[str, Mapping[str, frozenset[str]]]
    relations: tuple[tuple[str, str], ...] = ()  # (relation, synset id)
    tags: frozenset[str] = frozenset()  # "instance", "usage:<domain>" (e.g. usage:slang)
    definition: str = ""  # WordNet's gloss, lower case

    def lemmas_in(self, lang: str) -> tuple[str, ...]:
        return tuple(self.lemmas.get(lang, ()))

    def sources(self, lemma: str, lang: str) -> frozenset[str]:
        """The sources (wordnets, Wiktionary, derived lists) that list the lemma for this synset."""
        return self.lemmas.get(lang, {}).get(lemma, frozenset())


@dataclass(frozen=True)
class Sense:
    """One sense of an English word: its synset and how often it was sense-tagged (SemCor)."""

    synset_id: str
    tag_count: int


@dataclass(frozen=True)
class DictionarySense:
    """One sense of a bilingual-dictionary entry: the word it belongs to, its translations
    (normalised English glosses for X→English, words for English→X) and the parts of speech it
    can have (empty: not given)."""

    word: str
    glosses: frozenset[str]
    pos: frozenset[str]
    # The first sense of one of the word's entries (readings, parts of speech); when no sense of a
    # word is marked, its first sense is its primary one.
    primary: bool = False
    # The sense's first gloss, the translation the dictionary puts first (JMdict's 缶 is "can; tin").
    lead: str = ""
    # gloss → content words of the parenthesis that restricted it ("plane (for working with wood)").
    qualifiers: tuple[tuple[str, frozenset[str]], ...] = ()

    def fits(self, pos: str) -> bool:
        return not self.pos or pos in self.pos

    def qualifier(self, gloss: str) -> frozenset[str]:
        return next((words for qualified, words in self.qualifiers if qualified == gloss), frozenset())


# Words of a gloss's parenthesis that say nothing of its sense.
QUALIFIER_STOPWORDS = frozenset({
    "a", "an", "and", "as", "at", "by", "e.g", "eg", "esp", "etc", "for", "from", "i.e", "ie", "in", "into",
    "is", "it", "its", "of", "on", "one", "one's", "or", "oneself", "sb", "sth", "someone", "something",
    "somebody", "the", "to", "usu", "used", "with",
})
# A parenthesis opening with these gives examples or usage, not the sense: "cold (e.g. weather)".
EXAMPLE_MARKERS = frozenset({"e.g", "eg", "esp", "usu", "i.e", "ie", "in", "incl", "including", "also", "often"})
_QUALIFIER = re.compile(r"\(([^)]*)\)")
_GLOSS_SEPARATOR = re.compile(r"[,;] (?![^(]*\))")  # a comma or semicolon outside parentheses


def split_glosses(text: str) -> list[str]:
    """The glosses of a definition line, keeping each one's parenthesis with it."""
    return [part.strip() for part in _GLOSS_SEPARATOR.split(text) if part.strip()]


def dictionary_sense(word: str, glosses: Iterable[str], pos: frozenset[str], primary: bool = False) -> DictionarySense:
    """A sense from raw English glosses: normalised, its lead kept, each parenthesis recorded."""
    normalised: list[str] = []
    qualifiers: dict[str, frozenset[str]] = {}
    for gloss in glosses:
        key = normalise_gloss(gloss)
        if not key or key in normalised:
            continue
        normalised.append(key)
        words = frozenset(word for text in _QUALIFIER.findall(gloss.lower())
                          for found in [[word.rstrip(".") for word in re.findall(r"[a-z][a-z.']*", text)]]
                          if found and found[0] not in EXAMPLE_MARKERS
                          for word in found if word not in QUALIFIER_STOPWORDS)
        if words:
            qualifiers[key] = words
    return DictionarySense(word, frozenset(normalised), pos, primary, normalised[0] if normalised else "",
                           tuple(sorted(qualifiers.items())))


# How well a word's own dictionary glosses lead back to a concept (`Lexicon.round_trip`).
ROUND_TRIP_NONE, ROUND_TRIP_OTHER_LEMMA, ROUND_TRIP_SECONDARY, ROUND_TRIP_PRIMARY, ROUND_TRIP_LEAD = range(5)


@dataclass
class Lexicon:
    synsets: Mapping[str, Synset]
    # (English word, pos) → its senses in WordNet's order (most frequent first).
    english_senses: Mapping[tuple[str, str], tuple[Sense, ...]]
    # English words to try as headwords, most frequent first.
    headword_candidates: tuple[str, ...]
    # Zipf frequency of a word in a language (0 when unknown).
    frequency: Callable[[str, str], float]
    # (language, word) → its senses in a human-made X→English dictionary, primary sense first.
    dictionary: Mapping[tuple[str, str], tuple[DictionarySense, ...]] = field(default_factory=dict)
    # (language, English word) → its senses in a human-made English→X dictionary.
    forward_dictionary: Mapping[tuple[str, str], tuple[DictionarySense, ...]] = field(default_factory=dict)
    # Per language, the evidence names of those two dictionaries (the same name when one project
    # made both, so they count as one source).
    dictionary_source: Mapping[str, str] = field(default_factory=lambda: {"fr": "dictionary", "zh": "dictionary",
                                                                          "ja": "dictionary"})
    forward_source: Mapping[str, str] = field(default_factory=lambda: {"fr": "dictionary", "ja": "forward"})
    # (language, word) pairs a dictionary marks vulgar, derogatory or sensitive in some sense.
    offensive: frozenset[tuple[str, str]] = frozenset()
    # (language, word) → ids of the dictionary entries it is a written form of (kanji/kana spellings
    # of one JMdict entry are variants of each other).
    spelling_entries: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    # (language, word) spellings a dictionary marks out-dated or irregular (結束 written with old kanji).
    nonstandard: frozenset[tuple[str, str]] = frozenset()
    # English words that are also the name of a person or place (a capitalised WordNet instance).
    proper_names: frozenset[str] = frozenset()
    # Languages whose dictionary is complete enough that a word missing from it is no word (None:
    # every language with a dictionary).
    vocabulary_languages: frozenset[str] | None = None
    # Chinese text in simplified characters (identity when no converter is given).
    simplified: Callable[[str], str] = str
    # Irregular English inflections (said → say v, men → man n, better → good adj), from
    # WordNet's exception lists.
    irregular_inflections: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    _containing: dict[tuple[str, str], tuple[str, ...]] = field(init=False, repr=False)
    _dictionary_languages: frozenset[str] = field(init=False, repr=False)
    _forward_inverse: dict[tuple[str, str], frozenset[str]] = field(init=False, repr=False)
    _equivalents: dict[tuple[str, str], frozenset[str]] = field(init=False, repr=False, default_factory=dict)
    _context: dict[str, frozenset[str]] = field(init=False, repr=False, default_factory=dict)
    _round_trips: dict[tuple[str, str, str, str], int] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        containing: dict[tuple[str, str], list[str]] = defaultdict(list)
        for synset in self.synsets.values():
            for lang, lemmas in synset.lemmas.items():
                for lemma in lemmas:
                    containing[(lang, lemma)].append(synset.id)
        self._containing = {key: tuple(ids) for key, ids in containing.items()}
        self._dictionary_languages = (frozenset(lang for lang, _ in self.dictionary) if self.vocabulary_languages is None
                                      else self.vocabulary_languages)
        inverse: dict[tuple[str, str], set[str]] = defaultdict(set)
        for (lang, english), senses in self.forward_dictionary.items():
            for sense in senses:
                for word in sense.glosses:
                    inverse[(lang, word)].add(normalise_gloss(english))
        self._forward_inverse = {key: frozenset(words) for key, words in inverse.items()}

    def synsets_containing(self, word: str, lang: str) -> tuple[str, ...]:
        """Ids of every synset that lists ``word`` among its lemmas in ``lang``."""
        return self._containing.get((lang, word), ())

    def glosses(self, word: str, lang: str) -> frozenset[str]:
        """The word's English glosses over all its dictionary senses, both directions."""
        own = (gloss for sense in self.dictionary.get((lang, word), ()) for gloss in sense.glosses)
        return frozenset(own) | self._forward_inverse.get((lang, word), frozenset())

    def is_known(self, word: str, lang: str) -> bool:
        """False only for a word missing from its language's dictionary where that dictionary is
        complete (OMW lists some phrases and misspellings that no dictionary has)."""
        return (lang not in self._dictionary_languages or (lang, word) in self.dictionary
                or (lang, word) in self._forward_inverse)

    def round_trip(self, word: str, lang: str, synset: Synset, headword: str) -> int:
        """How the word's own dictionary senses lead back to the concept: ROUND_TRIP_LEAD when the
        headword is the first gloss of a primary sense; ROUND_TRIP_PRIMARY when a primary sense is
        glossed by the headword elsewhere; ROUND_TRIP_SECONDARY when a later sense of the
        concept's part of speech is, or a primary sense by another lemma of the synset;
        ROUND_TRIP_OTHER_LEMMA when only a later sense is glossed by another lemma; else
        ROUND_TRIP_NONE. Only the X→English direction counts: an English→X entry listing the word
        would lead back to the headword by construction.

        Where the dictionary is incomplete (not in ``vocabulary_languages``: FreeDict's French) and
        lacks the word altogether, the wordnets stand in for it: two independent ones holding the
        word in the synset lead back to it at ROUND_TRIP_SECONDARY."""
        found = self.dictionary_round_trip(word, lang, synset, headword)
        if (found == ROUND_TRIP_NONE and lang not in self._dictionary_languages and (lang, word) not in self.dictionary
                and len(synset.sources(word, lang) - DERIVED_SOURCES) >= 2):
            return ROUND_TRIP_SECONDARY
        return found

    def dictionary_round_trip(self, word: str, lang: str, synset: Synset, headword: str) -> int:
        """`round_trip` by the dictionaries alone; ROUND_TRIP_LEAD when the headword is the first
        gloss of a primary sense. A gloss restricted by a parenthesis counts as primary only when
        the parenthesis fits the synset (`sense_context`), else as a secondary sense: "plane (for
        working with wood)" is no airplane, "tin (Sn)" is the metal. Memoised: the evidence and the
        ranking of a word both ask."""
        key = (word, lang, synset.id, headword)
        if key not in self._round_trips:
            self._round_trips[key] = self._dictionary_round_trip(word, lang, synset, normalise_gloss(headword))
        return self._round_trips[key]

    def first_sense_lemmas(self, synset: Synset) -> frozenset[str]:
        """The synset's English lemmas (normalised) read in it first: those whose first WordNet
        sense in its part of speech it is, or that WordNet gives no senses. A gloss by another of
        them leads back to the concept; a gloss by one read otherwise first does not: *loup* is
        glossed "wolf", a lemma of the cruel person brute's synset, but a wolf is first the animal,
        as a column (colonne) is first a line of things and a congress (congrès) an assembly."""
        unknown = (Sense(synset.id, 0),)
        return frozenset(normalise_gloss(lemma) for lemma in synset.lemmas_in("en")
                         if self.english_senses.get((lemma.lower(), synset.pos), unknown)[0].synset_id == synset.id)

    def _dictionary_round_trip(self, word: str, lang: str, synset: Synset, headword: str) -> int:
        lemmas = self.first_sense_lemmas(synset) | {headword}
        senses = self.dictionary.get((lang, word), ())
        if not senses:
            return ROUND_TRIP_NONE
        context = self.sense_context(synset)
        primary = [sense for sense in senses if sense.primary] or senses[:1]
        primary = [sense for sense in primary if sense.fits(synset.pos)]
        fitting = [sense for sense in senses if sense.fits(synset.pos)]

        def glossed(sense: DictionarySense, english: Collection[str]) -> bool:
            return _glossed_by(sense, english, context)

        if any(sense.lead == headword and glossed(sense, {headword}) for sense in primary):
            return ROUND_TRIP_LEAD
        if any(glossed(sense, {headword}) for sense in primary):
            return ROUND_TRIP_PRIMARY
        if any(_glossed_by(sense, {headword}) for sense in fitting) or any(glossed(sense, lemmas) for sense in primary):
            return ROUND_TRIP_SECONDARY
        if any(_glossed_by(sense, lemmas) for sense in fitting):
            return ROUND_TRIP_OTHER_LEMMA
        return ROUND_TRIP_NONE

    def sense_context(self, synset: Synset) -> frozenset[str]:
        """Word stems that describe the synset: its definition, its English lemmas, its hypernyms'
        lemmas and definitions (a parenthesis in a gloss must share one to fit it)."""
        if synset.id not in self._context:
            parents = [self.synsets[target] for relation, target in synset.relations
                       if relation == "hypernym" and target in self.synsets]
            text = " ".join([synset.definition, *synset.lemmas_in("en"),
                             *(part for parent in parents for part in (parent.definition, *parent.lemmas_in("en")))])
            self._context[synset.id] = frozenset(_stem(word) for word in re.findall(r"[a-z][a-z']*", text.lower()))
        return self._context[synset.id]

    def sense_fit(self, sense: DictionarySense, synset: Synset, headword: str) -> int:
        """How many of a dictionary sense's glosses, other than the headword, share a content word's
        stem with the synset's description (`sense_context`): a simplified Lesk overlap, telling
        which of the headword's senses a dictionary sense glossed by it means. 量 "amount; quantity;
        volume" is the measure (quantity is its lemma), not a sum of money."""
        context = self.sense_context(synset) - {_stem(word) for word in headword.split()}
        return sum(any(_stem(word) in context for word in _content_words(gloss))
                   for gloss in sense.glosses if gloss != headword)

    def best_other_fit(self, sense: DictionarySense, synset: Synset, headword: str) -> int:
        """The best `sense_fit` of the dictionary sense to another WordNet sense of the headword of
        the synset's part of speech (0 when it has none)."""
        others = [meaning.synset_id for meaning in self.english_senses.get((headword, synset.pos), ())
                  if meaning.synset_id != synset.id and meaning.synset_id in self.synsets]
        return max((self.sense_fit(sense, self.synsets[other], headword) for other in others), default=0)

    def confirms_sense(self, word: str, lang: str, synset: Synset, headword: str) -> bool:
        """Whether the dictionary says in which sense the word translates the headword, as a word no
        lemma list gives for the synset must show: the headword has one sense of this part of
        speech, or a sense of the word glossed by it (or by another lemma read first in the synset)
        says nothing else — 年 "year" alone is the headword's dominant sense, which the synset is —
        or its other glosses fit this sense better than any other sense of the headword: 硬い "hard;
        solid; tough" says solid, not difficult; 裏返す "turn over; turn inside out" fits the
        change of direction no better than the turning over of a page."""
        headword = normalise_gloss(headword)
        if len(self.english_senses.get((headword, synset.pos), ())) <= 1:
            return True
        english = self.first_sense_lemmas(synset) | {headword}
        return any(_glossed_by(sense, english) and (sense.glosses <= english or self.sense_fit(sense, synset, headword)
                                                    > self.best_other_fit(sense, synset, headword))
                   for sense in self.dictionary.get((lang, word), ()))

    def forward_translations(self, headword: str, lang: str, pos: str) -> tuple[str, ...]:
        """What the English→X dictionary gives for the headword in senses of part of speech ``pos``."""
        senses = self.forward_dictionary.get((lang, normalise_gloss(headword)), ())
        return tuple(dict.fromkeys(word for sense in senses if sense.fits(pos) for word in sorted(sense.glosses)))

    def forward_lists(self, word: str, lang: str, synset: Synset, headword: str) -> bool:
        """Whether the English→X dictionary translates the headword (or, failing an entry for it,
        another lemma of the synset) by the word, in a sense of the synset's part of speech."""
        for english in (headword, *synset.lemmas_in("en")):
            senses = self.forward_dictionary.get((lang, normalise_gloss(english)))
            if senses:
                return any(sense.fits(synset.pos) and word in sense.glosses for sense in senses)
        return False

    def evidence(self, word: str, lang: str, synset: Synset, headword: str) -> frozenset[str]:
        """The independent sources that give the word as the translation of the headword's sense:
        the wordnets and Wiktionary lists that hold it in the synset, the X→English dictionary when
        the word's glosses lead back to the concept, the English→X dictionary when it lists the word
        for the headword. Derived candidate lists count for nothing."""
        found = set(synset.sources(word, lang) - DERIVED_SOURCES)
        if lang in self.dictionary_source and self.dictionary_round_trip(word, lang, synset, headword) > ROUND_TRIP_NONE:
            found.add(self.dictionary_source[lang])
        if lang in self.forward_source and self.forward_lists(word, lang, synset, headword):
            found.add(self.forward_source[lang])
        return frozenset(found)

    def confirms(self, word: str, lang: str, synset: Synset) -> bool:
        """Whether the dictionary translates the word by one of the synset's English lemmas in a
        sense of the synset's part of speech."""
        return translates(self.dictionary.get((lang, word), ()), synset)

    def english_equivalents(self, word: str, lang: str) -> frozenset[str]:
        """English words a word can translate to: itself for English; otherwise the English
        lemmas of every synset holding it, plus its dictionary glosses in both directions."""
        if lang == "en":
            return frozenset({normalise_gloss(word)})
        if (lang, word) not in self._equivalents:  # asked for again and again while building
            equivalents = set(self.glosses(word, lang))
            for synset_id in self.synsets_containing(word, lang):
                equivalents.update(normalise_gloss(lemma) for lemma in self.synsets[synset_id].lemmas_in("en"))
            self._equivalents[(lang, word)] = frozenset(equivalents)
        return self._equivalents[(lang, word)]

    def translations(self, word: str, src: str, tgt: str) -> frozenset[str]:
        """Words of ``tgt`` the word may translate to: the ``tgt`` lemmas of every synset holding
        it, plus, from English, what the English→X dictionary gives."""
        found = {lemma for synset_id in self.synsets_containing(word, src)
                 for lemma in self.synsets[synset_id].lemmas_in(tgt)}
        if src == "en":
            found.update(gloss for sense in self.forward_dictionary.get((tgt, normalise_gloss(word)), ())
                         for gloss in sense.glosses)
        if tgt == "en":
            found.update(self.english_equivalents(word, src))
        return frozenset(found)


_PARENTHESISED = re.compile(r"\([^)]*\)")


# A verb gloss "look at", "take care of": its verb stands for it when matching a headword.
PHRASAL_PARTICLES = frozenset({"about", "after", "at", "away", "down", "for", "in", "into", "of", "off", "on",
                               "out", "over", "to", "up", "with"})


def _stem(word: str) -> str:
    """Five letters stand for a word when comparing a parenthesis with a definition (theatre and
    theatrical, wood and wooden)."""
    return word[:5]


def _content_words(text: str) -> list[str]:
    return [word for word in re.findall(r"[a-z][a-z']+", text.lower()) if word not in QUALIFIER_STOPWORDS and len(word) > 2]


def _glossed_by(sense: DictionarySense, english: Collection[str], context: frozenset[str] | None = None) -> bool:
    """Whether one of the sense's glosses is one of the ``english`` words, a phrasal gloss by its
    verb; with a synset's ``context``, a gloss whose parenthesis shares no stem with it does not count."""
    for gloss in sense.glosses:
        words = gloss.split(" ")
        if gloss in english or (len(words) == 2 and words[1] in PHRASAL_PARTICLES and words[0] in english):
            qualifier = sense.qualifier(gloss)
            if context is None or not qualifier or any(_stem(word) in context for word in qualifier):
                return True
    return False


_LEADING_PARTICLE = re.compile(r"^(?:to|a|an|the) ")


def normalise_gloss(text: str) -> str:
    """Comparable form of an English word or gloss: lower case, no parentheses, no leading
    infinitive 'to' or article."""
    text = _PARENTHESISED.sub(" ", text.replace("_", " ")).lower()
    return _LEADING_PARTICLE.sub("", " ".join(text.split()))


@dataclass(frozen=True)
class WordNetData:
    """What the builder needs from Princeton WordNet: synsets (English lemmas) and sense ranks."""

    synsets: dict[str, Synset]
    english_senses: dict[tuple[str, str], tuple[Sense, ...]]
    irregular_inflections: dict[str, tuple[tuple[str, str], ...]]


def _parse_data_line(line: str, usage_domains: dict[str, str]) -> Synset:
    fields = line.split(" ")
    offset, synset_type = fields[0], fields[2]
    id_letter = "a" if synset_type == "s" else synset_type
    n_words = int(fields[3], 16)
    words = [_ADJECTIVE_MARKER.sub("", fields[4 + 2 * i]).replace("_", " ") for i in range(n_words)]
    cursor = 4 + 2 * n_words
    n_pointers = int(fields[cursor])
    relations: list[tuple[str, str]] = []
    tags: set[str] = set()
    gloss = line.partition(" | ")[2].lower()
    if any(marker in gloss for marker in OFFENSIVE_GLOSS_MARKERS):
        tags.add("offensive")
    if REGISTER_GLOSS.search(gloss):
        tags.add(REGISTER_TAG)
    for i in range(n_pointers):
        symbol, target, target_type = fields[cursor + 1 + 4 * i: cursor + 4 + 4 * i]
        target_id = f"{target}-{'a' if target_type == 's' else target_type}"
        if symbol == INSTANCE_POINTER:
            tags.add("instance")
        if symbol == USAGE_DOMAIN_POINTER:
            usage_domains[f"{offset}-{id_letter}"] = target_id
        relation = RELATION_OF_POINTER.get(symbol)
        if relation is not None and (relation, target_id) not in relations:
            relations.append((relation, target_id))
    return Synset(
        id=f"{offset}-{id_letter}",
        pos=POS_OF_SYNSET_TYPE[synset_type],
        lemmas={"en": dict.fromkeys(words, frozenset({"princeton"}))},
        relations=tuple(relations),
        tags=frozenset(tags),
        definition=gloss.strip(),
    )


REALIGN_WINDOW = 40  # synsets looked ahead to confirm an offset shift
REALIGN_MAX_SHIFT = 3000  # bytes
REALIGN_MIN_SUPPORT = 10  # of the window's synsets must be reference ids under a new shift


def realign_ids(file_ids: list[str], reference_ids: Collection[str]) -> dict[str, str]:
    """Map the ids of one ``data.*`` file (in file order) to the reference release's ids.

    Synset ids are byte offsets, so a distribution that edited a line (Debian's wordnet-base did,
    in data.verb and data.adj) shifts every later id. The shift is found as the constant that
    makes most of the next synsets' ids reference ids; synsets between the last one confirmed
    under the old shift and the first under the new one cannot be placed and keep their id with
    an "-unaligned" suffix (they have no reference lemmas anyway)."""
    letter = file_ids[0].split("-")[1] if file_ids else ""
    reference = sorted(int(i.split("-")[0]) for i in reference_ids if i.endswith(f"-{letter}"))
    known = set(reference)
    offsets = [int(i.split("-")[0]) for i in file_ids]

    def matches(shift: int, start: int) -> int:
        return sum(offset - shift in known for offset in offsets[start:start + REALIGN_WINDOW])

    mapping: dict[str, str] = {}
    shift, pending, switched = 0, [], False  # switched: the shift changed since the last confirmed id

    def place(indices: list[int]) -> None:
        for i in indices:
            mapping[file_ids[i]] = f"{file_ids[i]}-unaligned" if switched else f"{offsets[i] - shift:08d}-{letter}"

    for index, offset in enumerate(offsets):
        if offset - shift not in known and matches(shift, index) < REALIGN_MIN_SUPPORT:
            window = slice(bisect_left(reference, offset - REALIGN_MAX_SHIFT), bisect_left(reference, offset + REALIGN_MAX_SHIFT))
            nearby = reference[window]
            best = max((offset - candidate for candidate in nearby), key=lambda s: matches(s, index), default=shift)
            support = matches(best, index)
            if support >= REALIGN_MIN_SUPPORT and support > 2 * matches(shift, index):
                shift, switched = best, True
        if offset - shift in known:
            place(pending)
            pending, switched = [], False
            place([index])
        else:
            pending.append(index)
    place(pending)
    return mapping


def read_wordnet(wordnet_dir: Path, reference_ids: Collection[str] = ()) -> WordNetData:
    """Parse WordNet 3.0's database files (``data.*``, ``index.*``, ``cntlist.rev``, ``*.exc``),
    with ids realigned to ``reference_ids`` (e.g. the OMW files' synset ids) when given.

    Read directly rather than through nltk: Debian's ``wordnet-base`` lacks the ``lexnames`` file
    nltk's reader requires, and the format is simple and fixed."""
    synsets: dict[str, Synset] = {}
    usage_domains: dict[str, str] = {}  # synset id → its usage-domain synset id
    rename: dict[str, str] = {}
    for file_pos in ("noun", "verb", "adj", "adv"):
        with open(wordnet_dir / f"data.{file_pos}", encoding="utf-8") as lines:
            # two leading spaces mark the licence header
            parsed = [_parse_data_line(line.rstrip("\n"), usage_domains) for line in lines if not line.startswith("  ")]
        synsets.update((synset.id, synset) for synset in parsed)
        if reference_ids:
            rename.update(realign_ids([synset.id for synset in parsed], reference_ids))
    # Pertainym pointers run one way only (social → society); record the way back too.
    pertained: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for synset in synsets.values():
        for relation, target in synset.relations:
            if relation == "pertainym" and ("pertainym", synset.id) not in synsets[target].relations:
                pertained[target].append(("pertainym", synset.id))
    for target, inverse in pertained.items():
        synset = synsets[target]
        synsets[target] = replace(synset, relations=synset.relations + tuple(dict.fromkeys(inverse)))
    for synset_id, domain_id in usage_domains.items():
        domain_name = synsets[domain_id].lemmas_in("en")[0].lower()
        synset = synsets[synset_id]
        synsets[synset_id] = replace(synset, tags=synset.tags | {f"usage:{domain_name}"})
    if rename:
        synsets = {
            rename[synset.id]: replace(synset, id=rename[synset.id],
                                       relations=tuple((relation, rename[target]) for relation, target in synset.relations))
            for synset in synsets.values()
        }

    # cntlist.rev: "lemma%type:…  sense_number  tag_count", sense numbers index the index.* lists.
    tag_counts: dict[tuple[str, str, int], int] = {}
    with open(wordnet_dir / "cntlist.rev", encoding="utf-8") as lines:
        for line in lines:
            sense_key, sense_number, count = line.split()
            lemma, lex_sense = sense_key.split("%", 1)
            pos = POS_OF_SYNSET_TYPE["nvasr"[int(lex_sense[0]) - 1]]
            tag_counts[(lemma, pos, int(sense_number))] = int(count)

    english_senses: dict[tuple[str, str], tuple[Sense, ...]] = {}
    for file_pos, pos in (("noun", "n"), ("verb", "v"), ("adj", "adj"), ("adv", "adv")):
        with open(wordnet_dir / f"index.{file_pos}", encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("  "):
                    continue
                fields = line.split()
                lemma, n_senses, n_pointer_types = fields[0], int(fields[2]), int(fields[3])
                offsets = fields[4 + n_pointer_types + 2:][:n_senses]
                english_senses[(lemma.replace("_", " "), pos)] = tuple(
                    Sense(rename.get(synset_id, synset_id), tag_counts.get((lemma, pos, rank), 0))
                    for rank, synset_id in enumerate((f"{offset}-{ID_LETTER_OF_POS[pos]}" for offset in offsets), start=1)
                )
    irregular: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for file_pos, pos in (("noun", "n"), ("verb", "v"), ("adj", "adj")):
        with open(wordnet_dir / f"{file_pos}.exc", encoding="utf-8") as lines:
            for form, *bases in (line.split() for line in lines if line.strip()):
                irregular[form.replace("_", " ")].extend((base.replace("_", " "), pos) for base in bases)
    return WordNetData(synsets, english_senses, {form: tuple(bases) for form, bases in irregular.items()})


def read_omw_tab(path: Path, normalise: Callable[[str], str] = str) -> dict[str, list[str]]:
    """Lemmas of one OMW tab file: synset id → lemmas in file order (``normalise`` applied, e.g. a
    traditional→simplified converter, duplicates after normalising dropped)."""
    lemmas: dict[str, list[str]] = defaultdict(list)
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 3 or not (fields[1] == "lemma" or fields[1].endswith(":lemma")):  # OpenWN-PT: "lemma"
                continue
            lemma = normalise(fields[2].strip().replace("_", " "))
            if lemma and lemma not in lemmas[fields[0]]:
                lemmas[fields[0]].append(lemma)
    return dict(lemmas)


def merge_lemmas(sources: Mapping[str, Mapping[str, Iterable[str]]]) -> dict[str, dict[str, frozenset[str]]]:
    """Combine named sources' lemmas per synset, recording which sources list each lemma;
    lemmas listed by more sources first, ties in source order."""
    listed_by: dict[str, dict[str, set[str]]] = defaultdict(dict)
    for name, source in sources.items():
        for synset_id, lemmas in source.items():
            for lemma in lemmas:
                listed_by[synset_id].setdefault(lemma, set()).add(name)
    return {
        synset_id: {lemma: frozenset(names[lemma]) for lemma in sorted(names, key=lambda lemma: -len(names[lemma]))}
        for synset_id, names in listed_by.items()
    }


def translates(senses: Iterable[DictionarySense], synset: Synset) -> bool:
    """Whether some dictionary sense, of the synset's part of speech, has one of its English lemmas
    as a gloss."""
    english = {normalise_gloss(lemma) for lemma in synset.lemmas_in("en")}
    return any(sense.fits(synset.pos) and not sense.glosses.isdisjoint(english) for sense in senses)


def monosemous_translations(synsets: Mapping[str, Synset], english_senses: Mapping[tuple[str, str], tuple[Sense, ...]],
                            dictionary: Mapping[str, tuple[DictionarySense, ...]]) -> dict[str, list[str]]:
    """Synset id → dictionary words glossed by one of the synset's English lemmas where that gloss
    is a single word with a single WordNet sense over all the parts of speech the dictionary sense
    may have, so the sense is not in doubt (a CC-CEDICT gloss "camp" may be a noun or an
    adjective; multi-word lemmas such as "fresh fish" = a new soldier are often idioms)."""
    found: dict[str, list[str]] = defaultdict(list)
    for word, senses in dictionary.items():
        for sense in senses:
            for gloss in sorted(gloss for gloss in sense.glosses if " " not in gloss):
                meanings = {meaning.synset_id for pos in sense.pos for meaning in english_senses.get((gloss, pos), ())}
                if len(meanings) == 1 and (synset_id := meanings.pop()) in synsets and word not in found[synset_id]:
                    found[synset_id].append(word)
    return {synset_id: words for synset_id, words in found.items() if words}


def cognate_translations(synsets: Mapping[str, Synset], cognate_lang: str, spell: Callable[[str], str],
                         dictionary: Mapping[str, tuple[DictionarySense, ...]]) -> dict[str, list[str]]:
    """Synset id → words spelled like one of the synset's ``cognate_lang`` lemmas (after ``spell``,
    e.g. simplified Chinese → Japanese kanji) that the dictionary also translates by one of its
    English lemmas: candidates only, since the dictionary is the one judge of their meaning."""
    found: dict[str, list[str]] = {}
    for synset_id, synset in synsets.items():
        words = list(dict.fromkeys(spell(cognate) for cognate in synset.lemmas_in(cognate_lang)))
        words = [word for word in words if translates(dictionary.get(word, ()), synset)]
        if words:
            found[synset_id] = words
    return found


def with_lemmas(synsets: Mapping[str, Synset], lang: str,
                lemmas: Mapping[str, Mapping[str, frozenset[str]]]) -> dict[str, Synset]:
    """A copy of ``synsets`` with ``lang`` lemmas added (ids absent from ``synsets`` are ignored)."""
    updated = dict(synsets)
    for synset_id, words in lemmas.items():
        synset = updated.get(synset_id)
        if synset is not None and words:
            updated[synset_id] = replace(synset, lemmas={**synset.lemmas, lang: words})
    return updated
