"""Build CLWTD from a `Lexicon`, deterministically.

1. Headwords: English words by frequency, each mapped to its dominant WordNet synset (the first
   sense of its most sense-tagged part of speech); parts of speech fill the paper's quotas.
2. Words: per language, the synset's best attested, then most frequent, single-word lemma in the
   right script; every word is used by one entry only.
3. Distractors for (src, tgt): source-language lemmas of related synsets, best attested and
   nearest relation first, then frequency, that cannot translate the answer word[tgt]. A concept
   missing 9 for any pair, or rejected by the optional LLM check, is dropped and the next
   headword is tried."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from pivotlens.clwtd.lexicon import CROSS_POS_RELATIONS, Lexicon, Synset
from pivotlens.clwtd.schema import N_DISTRACTORS, Entry
from pivotlens.errors import PivotlensError
from pivotlens.languages import ALL_PAIRS, LANGUAGE_CODES, pair_key

PAPER_POS_MIX = {"n": 1423, "v": 173, "adj": 404}  # of 2000 entries
POS_PREFERENCE = ("n", "v", "adj", "adv")  # breaks ties between equally tagged parts of speech
# Whole words in each language's script; Chinese lemmas are simplified when the lexicon loads.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff"
WORD_PATTERNS = {
    "en": re.compile(r"[a-z]+"),
    "fr": re.compile(r"[a-zàâæçéèêëîïôœùûüÿ]+"),
    "zh": re.compile(f"[{_HAN}]+"),
    "ja": re.compile(f"[\u3041-\u3096\u30a1-\u30fa\u30fc\u3005{_HAN}]+"),
}
# Senses marked with these WordNet usage domains make neither concepts nor distractors.
EXCLUDED_USAGES = frozenset(
    f"usage:{domain}" for domain in (
        "acronym", "abbreviation", "archaism", "combining form", "disparagement", "ethnic slur",
        "obscenity", "plural", "slang", "trade name", "trademark", "vulgarism",
    )
)
# Relations by closeness: direct links, then siblings through a shared parent, then the rest of
# the 2-step neighbourhood, then links through a word of another part of speech. The first
# relation a word is reached by is the one recorded.
DIRECT_RELATIONS = ("antonym", "similar", "hyponym", "meronym", "hypernym", "holonym",
                    "also", "verb_group", "entailment", "cause")
SIBLING_RELATIONS = {("hypernym", "hyponym"): "co-hyponym", ("holonym", "meronym"): "co-meronym",
                     ("similar", "similar"): "co-similar"}
SECOND_ORDER = "second-order"
CROSS_POS = "cross-pos"
CROSS_POS_FOR = ("adj", "v")  # nouns have neighbours enough, and their cross-pos ones are loose
RELATION_ORDER = (*DIRECT_RELATIONS, *SIBLING_RELATIONS.values(), SECOND_ORDER, CROSS_POS)
# Obscenities and slurs whose WordNet senses carry no usage mark (a stupid despised man = fucker).
OFFENSIVE_ENGLISH = frozenset([
    "arsehole", "asshole", "bastard", "bitch", "bollocks", "cock", "crap", "cunt", "dick", "fag", "faggot",
    "fuck", "fucker", "motherfucker", "nigger", "piss", "prick", "pussy", "retard", "shit", "slut",
    "spastic", "twat", "wanker", "whore"
])
# Closed-class words and auxiliaries: WordNet lists rare noun/adjective senses for many of them
# ("in" = fashionable, "all" = whole), which are not what these words mean in use.
FUNCTION_WORDS = frozenset([
    "a", "about", "above", "across", "after", "against", "all", "along", "also", "although", "among", "an",
    "and", "another", "any", "around", "as", "at", "back", "be", "because", "before", "behind", "below",
    "beneath", "beside", "between", "beyond", "both", "but", "by", "can", "could", "do", "down", "during",
    "each", "either", "else", "enough", "even", "ever", "every", "except", "few", "for", "from", "have",
    "he", "her", "here", "him", "his", "how", "i", "if", "in", "inside", "into", "it", "its", "just",
    "least", "less", "like", "many", "may", "me", "might", "more", "most", "much", "must", "my", "near",
    "neither", "never", "no", "none", "nor", "not", "now", "of", "off", "on", "once", "one", "only", "onto",
    "or", "other", "our", "out", "outside", "over", "own", "past", "anybody", "anyone", "anything",
    "everybody", "everyone", "everything", "nobody", "nothing", "somebody", "someone", "something", "same",
    "several", "shall", "she", "should", "since", "so", "some", "still", "such", "than", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "though", "through", "till", "to",
    "too", "toward", "under", "until", "up", "upon", "us", "very", "via", "was", "we", "well", "were",
    "what", "when", "where", "whether", "which", "while", "who", "whom", "whose", "why", "will", "with",
    "within", "without", "would", "yet", "you"
])


@dataclass(frozen=True)
class BuildConfig:
    n_entries: int = 2000
    # Minimum Zipf frequency (wordfreq) of an entry's words: 2.5 ≈ once per 3 million words.
    min_word_zipf: float = 2.5
    # Minimum Zipf frequency of a distractor: 1.5 ≈ once per 30 million words.
    min_distractor_zipf: float = 1.5
    # Evidence (see `word_evidence`, `distractor_evidence`) a word needs to rank first: the
    # automatically built wordnets are noisy, so a word only one source lists comes after the rest.
    trusted_evidence: int = 2


@dataclass(frozen=True)
class Distractor:
    word: str
    relation: str
    trusted: bool = True  # attested by two sources (always, for English)
    evokes: bool = True  # the relation's sense is among the word's main senses


@dataclass(frozen=True)
class Candidate:
    """A concept with its words, before distractors."""

    synset: Synset
    word: dict[str, str]


def pos_quotas(n_entries: int) -> dict[str, int]:
    """The paper's part-of-speech mix scaled to ``n_entries`` (adjectives take the rounding)."""
    total = sum(PAPER_POS_MIX.values())
    nouns = round(n_entries * PAPER_POS_MIX["n"] / total)
    verbs = round(n_entries * PAPER_POS_MIX["v"] / total)
    return {"n": nouns, "v": verbs, "adj": n_entries - nouns - verbs}


def is_single_word(word: str, lang: str) -> bool:
    return WORD_PATTERNS[lang].fullmatch(word) is not None


def is_excluded(synset: Synset) -> bool:
    return bool(synset.tags & ({"instance", "offensive"} | EXCLUDED_USAGES))


def inflection_readings(lexicon: Lexicon, word: str) -> list[tuple[str, str]]:
    """(base, pos) the word may be an inflection of: years → (year, n), using → (use, v)."""
    candidates = list(lexicon.irregular_inflections.get(word, ()))
    for suffix, stems in (("ies", (word[:-3] + "y",)), ("es", (word[:-2],)), ("s", (word[:-1],))):
        if word.endswith(suffix):
            candidates += [(stem, pos) for stem in stems for pos in ("n", "v")]
    if word.endswith("ed"):
        candidates += [(stem, "v") for stem in (word[:-2], word[:-1], word[:-3], word[:-3] + "y")]
    if word.endswith("ing"):
        candidates += [(stem, "v") for stem in (word[:-3], word[:-3] + "e", word[:-4])]
    return [(base, pos) for base, pos in dict.fromkeys(candidates) if base != word and (base, pos) in lexicon.english_senses]


def _tag_count(lexicon: Lexicon, word: str, pos: str) -> int:
    return sum(sense.tag_count for sense in lexicon.english_senses.get((word, pos), ()))


def dominant_synset(lexicon: Lexicon, word: str) -> Synset | None:
    """The word's first sense in its most sense-tagged part of speech. None for function words,
    adverbs, words WordNet lacks, words more often read as an inflection of another word (years,
    using, said: their own senses, old age, exploitation, aforesaid, are rare) and words that are
    not themselves a lemma of the sense."""
    if word in FUNCTION_WORDS:
        return None
    tagged = {pos: lexicon.english_senses[(word, pos)] for pos in POS_PREFERENCE if (word, pos) in lexicon.english_senses}
    if not tagged:
        return None
    best_pos = max(tagged, key=lambda pos: (_tag_count(lexicon, word, pos), -POS_PREFERENCE.index(pos)))
    as_inflection = max((_tag_count(lexicon, base, pos) for base, pos in inflection_readings(lexicon, word)), default=0)
    if best_pos == "adv" or as_inflection > _tag_count(lexicon, word, best_pos):
        return None
    synset = lexicon.synsets[tagged[best_pos][0].synset_id]
    return synset if word in synset.lemmas_in("en") and not is_excluded(synset) else None


def word_evidence(lexicon: Lexicon, synset: Synset, lemma: str, lang: str, headword: str) -> int:
    """How well attested a lemma is as the translation of the headword's sense: the sources
    listing it for the synset, plus one when the dictionary translates it by the headword itself
    (another English lemma of the synset may name a different sense: skill ≠ accomplishment)."""
    return synset.support(lemma, lang) + lexicon.translates_as(lemma, lang, headword, synset.pos)


def distractor_evidence(lexicon: Lexicon, synset: Synset, lemma: str, lang: str) -> int:
    """How well attested a lemma is for the (neighbour) synset it is drawn from."""
    return synset.support(lemma, lang) + lexicon.confirms(lemma, lang, synset)


def choose_word(lexicon: Lexicon, synset: Synset, lang: str, headword: str, config: BuildConfig,
                taken: Collection[str] = ()) -> str | None:
    """The synset's best single-word lemma in ``lang`` not ``taken`` by another entry: the best
    attested, then the most frequent."""
    evidence = {
        lemma: word_evidence(lexicon, synset, lemma, lang, headword) for lemma in synset.lemmas_in(lang)
        if lemma not in taken and is_single_word(lemma, lang) and lexicon.is_known(lemma, lang)
        and lexicon.frequency(lemma, lang) >= config.min_word_zipf
    }
    if not evidence:
        return None
    return min(evidence, key=lambda lemma: (-evidence[lemma], -lexicon.frequency(lemma, lang), lemma))


def _semantic_neighbours(lexicon: Lexicon, synset: Synset) -> dict[str, str]:
    """Synset id → relation, for synsets within two same-POS semantic steps (first found wins)."""
    found: dict[str, str] = {}
    first_steps = [(relation, target) for relation, target in synset.relations
                   if relation not in CROSS_POS_RELATIONS and target in lexicon.synsets]
    for relation, target in first_steps:
        found.setdefault(target, relation)
    for relation, middle in first_steps:
        for second_relation, target in lexicon.synsets[middle].relations:
            if second_relation not in CROSS_POS_RELATIONS and target in lexicon.synsets:
                found.setdefault(target, SIBLING_RELATIONS.get((relation, second_relation), SECOND_ORDER))
    return found


def related_synsets(lexicon: Lexicon, synset: Synset) -> list[tuple[str, Synset]]:
    """The synset's same-POS neighbourhood, each neighbour once, nearest relation first: two
    semantic steps, then, for adjectives and verbs, which have few semantic links of their own,
    "cross-pos" neighbours reached through a word of another part of speech (social → society →
    economy → economic)."""
    found = _semantic_neighbours(lexicon, synset)
    bridges = [target for relation, target in synset.relations
               if synset.pos in CROSS_POS_FOR and relation in CROSS_POS_RELATIONS and target in lexicon.synsets]
    for bridge in bridges:
        for noun in [bridge, *_semantic_neighbours(lexicon, lexicon.synsets[bridge])]:
            for relation, target in lexicon.synsets[noun].relations:
                if relation in CROSS_POS_RELATIONS and target in lexicon.synsets:
                    found.setdefault(target, CROSS_POS)
    found.pop(synset.id, None)
    ranked = sorted(((target, relation) for target, relation in found.items() if lexicon.synsets[target].pos == synset.pos),
                    key=lambda item: RELATION_ORDER.index(item[1]))
    return [(relation, lexicon.synsets[target]) for target, relation in ranked]


def excluded_words(lexicon: Lexicon, lang: str) -> frozenset[str]:
    """Lemmas of excluded senses (slurs, slang, trademarks …) and words a dictionary (or, for
    English, `OFFENSIVE_ENGLISH`) marks offensive are never used, in entries or as distractors."""
    excluded = {lemma for synset in lexicon.synsets.values() if is_excluded(synset) for lemma in synset.lemmas_in(lang)}
    excluded |= {word for word_lang, word in lexicon.offensive if word_lang == lang}
    return frozenset(excluded | (OFFENSIVE_ENGLISH if lang == "en" else set()))


class ClwtdBuilder:
    def __init__(self, lexicon: Lexicon, config: BuildConfig = BuildConfig()) -> None:
        self.lexicon = lexicon
        self.config = config
        self._excluded = {lang: excluded_words(lexicon, lang) for lang in LANGUAGE_CODES}

    def candidate(self, headword: str, taken: Mapping[str, Collection[str]]) -> Candidate | None:
        """The headword's dominant concept with a word in every language, none of them ``taken``
        (by language) by another entry, or None."""
        if (headword in taken["en"] or headword in self._excluded["en"] or not is_single_word(headword, "en")
                or self.lexicon.frequency(headword, "en") < self.config.min_word_zipf):
            return None
        synset = dominant_synset(self.lexicon, headword)
        if synset is None:
            return None
        words = {"en": headword}
        for lang in LANGUAGE_CODES[1:]:
            chosen = choose_word(self.lexicon, synset, lang, headword, self.config, taken[lang] | self._excluded[lang])
            if chosen is None:
                return None
            words[lang] = chosen
        return Candidate(synset, words)

    def distractors(self, candidate: Candidate, src: str, tgt: str,
                    neighbours: list[tuple[str, Synset]]) -> list[Distractor]:
        """Up to 9 source-language distractors for (src, tgt) from the concept's neighbours."""
        source, answer = candidate.word[src], candidate.word[tgt]
        answer_synsets = set(self.lexicon.synsets_containing(answer, tgt))
        answer_equivalents = self.lexicon.english_equivalents(answer, tgt)
        best: dict[str, Distractor] = {}
        for relation, neighbour in neighbours:
            for lemma in neighbour.lemmas_in(src):
                if lemma in best or lemma in (source, answer) or not self._usable(lemma, src):
                    continue
                # The answer must stay unique: no distractor may be a translation of word[tgt].
                if answer_synsets.intersection(self.lexicon.synsets_containing(lemma, src)):
                    continue
                if self.lexicon.english_equivalents(lemma, src) & answer_equivalents:
                    continue
                # Princeton WordNet's English lemmas are hand-made: trusted without a second source.
                trusted = src == "en" or distractor_evidence(self.lexicon, neighbour, lemma, src) >= self.config.trusted_evidence
                if trusted or relation != CROSS_POS:  # an untrusted word that far off is mostly noise
                    best[lemma] = Distractor(lemma, relation, trusted, self._evokes(lemma, src, neighbour))
        ranked = sorted(best.values(), key=lambda d: (not d.trusted, RELATION_ORDER.index(d.relation), not d.evokes,
                                                      -self.lexicon.frequency(d.word, src), d.word))
        return ranked[:N_DISTRACTORS]

    def _evokes(self, word: str, lang: str, synset: Synset) -> bool:
        """Whether the word, read alone, likely means the synset: one of its two most frequent
        English senses in its most tagged part of speech (known for English only). "house" is a
        region in astrology and "have" a wealthy person, but read alone they are a building and a
        verb, so they are weak distractors for "county" and "someone"."""
        if lang != "en":
            return True
        main_pos = max(POS_PREFERENCE, key=lambda pos: (_tag_count(self.lexicon, word, pos), -POS_PREFERENCE.index(pos)))
        senses = self.lexicon.english_senses.get((word, synset.pos), ())
        return main_pos == synset.pos and any(sense.synset_id == synset.id for sense in senses[:2])

    def _usable(self, word: str, lang: str) -> bool:
        return (is_single_word(word, lang) and word not in self._excluded[lang] and self.lexicon.is_known(word, lang)
                and self.lexicon.frequency(word, lang) >= self.config.min_distractor_zipf)

    def entry(self, candidate: Candidate) -> Entry | None:
        """The candidate as a CLWTD entry, or None when some pair lacks 9 distractors."""
        neighbours = [(relation, synset) for relation, synset in related_synsets(self.lexicon, candidate.synset)
                      if not is_excluded(synset)]
        per_pair: dict[str, list[Distractor]] = {}
        for src, tgt in ALL_PAIRS:
            found = self.distractors(candidate, src, tgt, neighbours)
            if len(found) < N_DISTRACTORS:
                return None
            per_pair[pair_key(src, tgt)] = found
        relations: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGE_CODES}
        for (src, _), found in zip(ALL_PAIRS, per_pair.values()):
            relations[src].update({d.word: d.relation for d in found})
        return Entry(
            id=candidate.word["en"],
            pos=candidate.synset.pos,
            word=dict(candidate.word),
            distractors={key: tuple(d.word for d in found) for key, found in per_pair.items()},
            meta={"synset": candidate.synset.id,
                  "distractor_relations": {lang: dict(sorted(words.items())) for lang, words in relations.items()}},
        )

    def build(self, accept: Callable[[Entry], bool] | None = None,
              progress: Callable[[Entry], None] = lambda entry: None) -> list[Entry]:
        """Entries in headword-frequency order up to the configured size, in the paper's POS mix;
        if verbs or adjectives run out of complete concepts, a second pass fills their share with
        the next nouns, the largest class. A synset, and a word in any language, is used once.
        ``accept`` is an extra check (e.g. the LLM validation); a rejected concept is skipped like
        an incomplete one."""
        quotas = pos_quotas(self.config.n_entries)
        entries: list[Entry] = []
        used_synsets: set[str] = set()
        used_words: dict[str, set[str]] = {lang: set() for lang in LANGUAGE_CODES}
        for fill_with_nouns in (False, True):
            for headword in self.lexicon.headword_candidates:
                if len(entries) == self.config.n_entries:
                    return entries
                candidate = self.candidate(headword, used_words)
                if (candidate is None or candidate.synset.id in used_synsets
                        or not (quotas.get(candidate.synset.pos, 0) > 0 or fill_with_nouns and candidate.synset.pos == "n")):
                    continue
                built = self.entry(candidate)
                if built is None or (accept is not None and not accept(built)):
                    continue
                entries.append(built)
                quotas[built.pos] = quotas.get(built.pos, 0) - 1
                used_synsets.add(candidate.synset.id)
                for lang, word in built.word.items():
                    used_words[lang].add(word)
                progress(built)
        if len(entries) == self.config.n_entries:
            return entries
        raise PivotlensError(
            f"the lexicon yields only {len(entries)} complete concepts of the {self.config.n_entries} "
            "asked for: ask for fewer with --n"
        )


def write_dataset(entries: list[Entry], path: Path) -> None:
    """JSONL with UTF-8 words as they are and a fixed key order, so rebuilds are byte-identical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for entry in entries:
            out.write(json.dumps(entry.to_json(), ensure_ascii=False) + "\n")
