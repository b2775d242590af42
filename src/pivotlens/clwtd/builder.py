"""Build CLWTD from a `Lexicon`, deterministically (builder v2; the rules and why: docs/clwtd.md).

1. Headwords: English words by frequency, each mapped to its dominant WordNet synset (the first
   sense of its most sense-tagged part of speech) when that sense is the word's ordinary use: no
   abbreviation, name, minor first sense or part of speech the dictionaries do not give it;
   parts of speech fill the paper's quotas.
2. Words: per language, a lemma of the synset that two independent sources give for the
   headword's sense, one of them human-made, and whose own dictionary glosses lead back to the
   headword (or another lemma of the synset); the best round trip first, a native word before a
   loanword that is not more frequent, then the best attested, then the most frequent. A word
   serves one entry; a concept with no qualifying word in some language is dropped.
3. Distractors for (src, tgt): source-language lemmas of related synsets, best attested and
   nearest relation first, then frequency, that cannot be read as the answer word[tgt] (see
   `ClwtdBuilder.distractor_problem`). A concept missing 9 for any pair, or rejected by the
   optional LLM check, is dropped and the next headword is tried."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from pivotlens.clwtd.lexicon import (
    AUTOMATIC_SOURCES,
    CROSS_POS_RELATIONS,
    DERIVED_SOURCES,
    REGISTER_TAG,
    ROUND_TRIP_NONE,
    ROUND_TRIP_PRIMARY,
    ROUND_TRIP_SECONDARY,
    Lexicon,
    Synset,
    normalise_gloss,
)
from pivotlens.clwtd.schema import N_DISTRACTORS, Entry, entries_jsonl
from pivotlens.errors import PivotlensError
from pivotlens.languages import LANGUAGES, PAPER_LANGUAGES, WORD, all_pairs, pair_key

PAPER_POS_MIX = {"n": 1423, "v": 173, "adj": 404}  # of 2000 entries
POS_PREFERENCE = ("n", "v", "adj", "adv")  # breaks ties between equally tagged parts of speech
# Scripts of letters, where spelling variants are one edit apart and derivations share a stem.
ALPHABETIC_SCRIPTS = ("latin", "cyrillic")
# Senses marked with these WordNet usage domains make neither concepts nor distractors; the
# mark belongs to the sense, so the same string stays usable in its other senses (rouge is the Red
# River too, nuit the goddess Nox). Register variants (colloquialism, euphemism, formality …) are
# other ways to say a neighbouring concept, so as distractors they may translate to the answer:
# "passing" (euphemism) for death, "peeper" for eye, "epistle" for letter.
EXCLUDED_USAGES = frozenset(
    f"usage:{domain}" for domain in (
        "acronym", "abbreviation", "archaism", "colloquialism", "combining form", "dialect", "disparagement",
        "ethnic slur", "euphemism", "formality", "idiom", "intensifier", "irony", "obscenity", "plural",
        "regionalism", "slang", "street name", "trade name", "trademark", "trope", "vulgarism", "wit",
    )
) | {REGISTER_TAG}
# A distractor starting with the same letters as the source word is a derivational relative more
# often than not, and may translate to the answer (skilled for skilful).
SHARED_STEM = 5
GENUS_MODIFIERS = 2  # words before the genus of a definition: "a small young dog"
# Words that end a definition's genus: "a young dog that …", "a friendly understanding between …".
GENUS_FOLLOWERS = ("who", "that", "which", "whose", "of", "for", "in", "with", "from", "by", "to", "as", "on", "at",
                   "between", "among", "about", "against", "under", "over")
SPELLING_VARIANT_LENGTH = 6  # shorter words one edit apart are mostly different words (cat/cut)
# Usages that make the English string itself unfit for a prompt, whatever sense it is read in.
OFFENSIVE_USAGES = frozenset(f"usage:{domain}" for domain in ("disparagement", "ethnic slur", "obscenity", "vulgarism"))
# Relations by closeness: direct links, then siblings through a shared parent (a kind of a kind is
# a kind), then the rest of the 2-step neighbourhood, nephews, cousins, then links through a word
# of another part of speech. The first relation a word is reached by is the one recorded.
DIRECT_RELATIONS = ("antonym", "similar", "hyponym", "meronym", "hypernym", "holonym",
                    "also", "verb_group", "entailment", "cause")
TWO_STEP_RELATIONS = {("hypernym", "hyponym"): "co-hyponym", ("holonym", "meronym"): "co-meronym",
                      ("similar", "similar"): "co-similar", ("hyponym", "hyponym"): "hyponym"}
SECOND_ORDER = "second-order"
NEPHEW = "nephew"  # a kind of a sibling: hand → extremity → foot → clubfoot
COUSIN = "cousin"  # a child of a sibling of a parent: cat → feline → carnivore → canine → dog
CROSS_POS = "cross-pos"
CROSS_POS_FOR = ("adj", "v")  # nouns have neighbours enough, and their cross-pos ones are loose
RELATION_ORDER = (*DIRECT_RELATIONS, *TWO_STEP_RELATIONS.values(), SECOND_ORDER, NEPHEW, COUSIN, CROSS_POS)
DISTANT_RELATIONS = (COUSIN, CROSS_POS)  # an untrusted word reached this far is mostly noise
# Relations whose words may be said with the answer itself, so they give no distractors: a kind of
# the concept (a rash of robberies is une série, a settlement un accord, 私卖 is still vendre: a
# language without a word of its own for the species says the genus) and an adjective's or verb's
# near-synonyms (cutthroat for merciless, improper for inappropriate). Every uniqueness violation
# of the v2 spot check (docs/clwtd.md) came through one of them.
SYNONYMOUS_RELATIONS = frozenset({"hyponym", "similar", "co-similar", "also", "verb_group"})
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


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words and generic verbs of the other languages: what a model produces after almost any
# prompt (了, 是, する, rien), so they are neither answers nor distractors.
CLOSED_CLASS = {
    "en": FUNCTION_WORDS | {"get", "go", "make", "take", "thing", "way"},
    "fr": _words("""
        le la les un une des de du au aux et ou mais donc or ni car que qui quoi dont où ce cet cette ces
        mon ton son ma ta sa mes tes ses notre votre leur nos vos leurs je tu il elle on nous vous ils elles
        me te se lui eux moi toi soi y en ne pas plus rien aucun aucune tout tous toute toutes être avoir
        faire aller falloir très bien peu trop si aussi comme dans sur sous avec sans pour par chez entre
        vers avant après depuis pendant quelque chaque même autre tel telle ici là alors encore déjà
        jamais toujours non oui
    """),
    "zh": _words("""
        的 地 得 了 是 在 有 和 与 或 不 没 没有 也 都 就 还 又 很 太 最 这 那 哪 我 你 他 她 它 们 我们 你们
        他们 吗 呢 吧 啊 着 过 把 被 给 让 对 从 向 到 为 以 之 而 所 其 此 该 个 些 每 各 某 做 搞 弄 要
        会 能 可以 东西 事 事情
    """),
    "ja": _words("""
        する 為る ある 有る 在る いる 居る なる 成る こと 事 もの 物 ところ 所 よう これ それ あれ この その
        あの ここ そこ あそこ 私 僕 俺 彼 彼女 です だ など 等 および また そして しかし 行う できる 出来る
        られる れる やる みる おく しまう くる いく
    """),
    "de": _words("""
        der die das den dem des ein eine einen einem einer eines und oder aber denn sondern dass ob wenn weil
        als wie ich du er sie es wir ihr mich dich sich uns euch mir dir ihm ihnen mein dein sein unser euer
        dieser diese dieses jener man nicht kein keine nichts alles alle auch noch schon nur sehr so hier da
        dort in an auf aus bei mit nach von vor zu zum zur über unter für gegen ohne um durch sein haben
        werden machen tun gehen geben kommen lassen können müssen sollen wollen ja nein Ding Sache
    """),
    "es": _words("""
        el la los las un una unos unas de del al y o pero ni que quien qué cual como cuando donde este esta
        esto ese esa eso aquel yo tú él ella nosotros vosotros ellos ellas me te se nos os le les lo mi tu su
        nuestro no sí más muy ya también todo toda todos nada algo en con sin por para sobre entre hacia
        desde hasta ser estar haber tener hacer ir dar poder cosa
    """),
    "it": _words("""
        il lo la i gli le un uno una di del della dei delle a al alla da dal in nel nella con su per tra fra
        e o ma né che chi cui come quando dove questo questa quello quella io tu lui lei noi voi loro mi ti si
        ci vi ne mio tuo suo nostro non sì più molto già anche tutto tutti niente qualcosa essere avere fare
        andare dare stare potere cosa
    """),
    "pt": _words("""
        o a os as um uma uns umas de do da dos das em no na nos nas ao à por pelo pela com sem para sobre entre
        e ou mas nem que quem qual como quando onde este esta isto esse essa isso aquele eu tu ele ela nós vós
        eles elas me te se nos lhe lhes meu teu seu nosso não sim mais muito já também tudo todos nada algo
        ser estar haver ter fazer ir dar poder coisa
    """),
    "ru": _words("""
        и а но или да нет не ни что кто как где когда это этот эта эти тот та те я ты он она оно мы вы они
        меня тебя его её ее нас вас их мой твой свой наш ваш в во на с со к ко по о об от из у за для без до
        под над при через про уже ещё еще очень так тоже также весь всё все ничего быть есть иметь делать
        сделать идти мочь вещь дело
    """),
    "ko": _words("""
        그 이 저 그것 이것 저것 나 너 우리 그들 그녀 저희 것 수 등 및 또 또는 그리고 그러나 하지만 있다 없다 하다 되다
        이다 아니다 않다 같다 보다 주다 오다 가다
    """),
}
# Headword checks (`headword_problem`).
MIN_HEADWORD_LENGTH = 3  # s, mm, km, tv: abbreviations or symbols far more often than words
ABBREVIATION_MAX_LENGTH = 4  # km ← kilometre, sec ← second, lab ← laboratory
NAME_MIN_TAGS = 5  # a word that is also a name needs this many tagged common uses (john, harry)
MIN_SENSE_SHARE = 0.15  # of the word's tagged uses in its part of speech
COMPETING_SENSE_SHARE = 0.5  # of the dominant sense's tagged uses: a sense a reader may mean instead
FEW_SENSES = 3  # dictionary senses a common word has without losing its main one
VOWELS = frozenset("aeiouyàâäéèêëîïôöùûüÿœæ")
_KATAKANA = re.compile("[\u30a1-\u30fa\u30fc]+")


@dataclass(frozen=True)
class BuildConfig:
    n_entries: int = 2000
    # Minimum Zipf frequency (wordfreq) of an entry's words: 1.7 ≈ once per 20 million words. The
    # third round of rules, which takes no hyponym or near-synonym as a distractor, yields 2,000
    # complete concepts with these two floors, 1,888 with v2's 2.0 and 1.5.
    min_word_zipf: float = 1.7
    # Minimum Zipf frequency of a distractor: 1.2 ≈ once per 60 million words.
    min_distractor_zipf: float = 1.2
    # Independent sources (`Lexicon.evidence`) an entry word needs, one of them human-made; a
    # distractor with fewer ranks after the rest.
    min_sources: int = 2
    # How well a word's glosses must lead back to the concept (`Lexicon.round_trip`): secondary =
    # the headword among its glosses, or another lemma of the synset in its first sense.
    min_round_trip: int = ROUND_TRIP_SECONDARY


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


NO_LIST, MACHINE_LIST, HUMAN_LIST = range(3)


@dataclass(frozen=True)
class WordChoice:
    """Why a lemma is, or is not, the word of a concept in a language."""

    lemma: str
    sources: frozenset[str]
    round_trip: int
    frequency: float
    senses: int  # in the word's dictionary
    # Which lemma lists hold the word for the synset: HUMAN_LIST (Wiktionary's), MACHINE_LIST (a
    # machine-built wordnet only) or NO_LIST (the dictionaries alone propose it: see `qualifies`).
    listing: int = NO_LIST
    # Known to translate the headword in this sense: a lemma list gives it for the synset, or the
    # dictionaries say which of the headword's senses it translates (`Lexicon.confirms_sense`), and
    # no list holds it more firmly for another sense (`listed_for_another_sense`).
    sense_confirmed: bool = True

    @property
    def frequency_per_sense(self) -> float:
        """Zipf frequency discounted for a highly polysemous word, as if its uses were shared evenly
        beyond the first few senses: 面 (10 senses) and ガン (cancer, goose, gun …) are frequent,
        but rarely as "face" and "gun"; 脸 and 銃 mean just that."""
        return self.frequency - math.log10(max(1.0, self.senses / FEW_SENSES))

    def qualifies(self, config: BuildConfig) -> bool:
        """Two sources, one human-made, a round trip, and, for a word no lemma list gives for the
        synset, the dictionaries' word on which sense it translates: a list is made per sense, a
        dictionary gloss is not."""
        return (len(self.sources) >= config.min_sources and bool(self.sources - AUTOMATIC_SOURCES)
                and self.round_trip >= config.min_round_trip and self.sense_confirmed)


def pos_quotas(n_entries: int) -> dict[str, int]:
    """The paper's part-of-speech mix scaled to ``n_entries`` (adjectives take the rounding)."""
    total = sum(PAPER_POS_MIX.values())
    nouns = round(n_entries * PAPER_POS_MIX["n"] / total)
    verbs = round(n_entries * PAPER_POS_MIX["v"] / total)
    return {"n": nouns, "v": verbs, "adj": n_entries - nouns - verbs}


@cache
def _letters(letters: str) -> re.Pattern[str]:
    return re.compile(f"[{letters}]+")


def is_single_word(word: str, lang: str) -> bool:
    """One word in the language's script: its registry letters only (Chinese lemmas are simplified
    when the lexicon loads)."""
    return _letters(LANGUAGES[lang].letters).fullmatch(word) is not None


def is_alphabetic(lang: str) -> bool:
    return LANGUAGES[lang].script in ALPHABETIC_SCRIPTS


def is_loanword_spelling(word: str, lang: str) -> bool:
    """Japanese written in katakana alone: a transliteration (テン, ガン) unless nothing else is used."""
    return lang == "ja" and _KATAKANA.fullmatch(word) is not None


def is_excluded(synset: Synset) -> bool:
    return bool(synset.tags & ({"instance", "offensive"} | EXCLUDED_USAGES))


def inflection_readings(lexicon: Lexicon, word: str) -> list[tuple[str, str]]:
    """(base, pos) the word may be an inflection of: years → (year, n), using → (use, v),
    larger → (large, adj)."""
    candidates = list(lexicon.irregular_inflections.get(word, ()))
    for suffix, stems in (("ies", (word[:-3] + "y",)), ("es", (word[:-2],)), ("s", (word[:-1],))):
        if word.endswith(suffix):
            candidates += [(stem, pos) for stem in stems for pos in ("n", "v")]
    if word.endswith("ed"):
        candidates += [(stem, "v") for stem in (word[:-2], word[:-1], word[:-3], word[:-3] + "y")]
    if word.endswith("ing"):
        candidates += [(stem, "v") for stem in (word[:-3], word[:-3] + "e", word[:-4])]
    for suffix in ("er", "est"):
        if word.endswith(suffix):
            stem = word[:-len(suffix)]
            candidates += [(base, "adj") for base in (stem, stem + "e", stem[:-1], stem[:-1] + "y")]
    return [(base, pos) for base, pos in dict.fromkeys(candidates) if base != word and (base, pos) in lexicon.english_senses]


def base_forms(lexicon: Lexicon, word: str, lang: str) -> frozenset[str]:
    """Forms that identify a word up to inflection, spelling and script: two words sharing one are
    variants of each other (year/years, vitesse/vitesses, 看/看看, 結束/结束, 手のひら/掌)."""
    forms = {word}
    if lang == "en":
        forms.update(base for base, _ in inflection_readings(lexicon, word))
    elif lang in INFLECTION_SUFFIXES:
        forms.update(word[:-len(suffix)] for suffix in INFLECTION_SUFFIXES[lang] if word.endswith(suffix))
        if lang == "fr" and word.endswith("aux"):
            forms.add(word[:-3] + "al")
    else:
        forms.add(lexicon.simplified(word))
        half = len(word) // 2
        if len(word) % 2 == 0 and word[:half] == word[half:]:
            forms.add(word[:half])
        forms.update(f"entry:{entry}" for entry in lexicon.spelling_entries.get((lang, word), ()))
    return frozenset(form for form in forms if form)


# Endings that inflect a word of these languages (plural, gender, case), so that two words left
# equal without them are variants of each other (vitesse/vitesses, Hund/Hunde, casa/case).
INFLECTION_SUFFIXES = {
    "fr": ("s", "x", "e", "es", "aux"),
    "de": ("e", "en", "n", "er", "es", "s"),
    "es": ("s", "es", "a", "o", "as", "os"),
    "it": ("a", "e", "i", "o"),
    "pt": ("s", "es", "a", "o", "as", "os"),
    "nl": ("en", "s", "e"),
    "ru": ("а", "я", "ы", "и", "у", "ю", "е", "о", "ь", "ой", "ей", "ов", "ий", "ый", "ая", "ое"),
}


def _one_edit_apart(first: str, second: str) -> bool:
    """One letter replaced, added or dropped: marvelous/marvellous, ambience/ambiance, colour/color."""
    if abs(len(first) - len(second)) > 1 or first == second:
        return False
    short, long = sorted((first, second), key=len)
    if len(short) == len(long):
        return sum(a != b for a, b in zip(short, long)) == 1
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def are_variants(lexicon: Lexicon, first: str, second: str, lang: str) -> bool:
    """Whether two words share a base form, or (Latin script, 6 letters or more) are one edit apart,
    as spelling variants are."""
    if is_alphabetic(lang) and min(len(first), len(second)) >= SPELLING_VARIANT_LENGTH and _one_edit_apart(first, second):
        return True
    return not base_forms(lexicon, first, lang).isdisjoint(base_forms(lexicon, second, lang))


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


def _is_abbreviation_of(short: str, long: str) -> bool:
    """km of kilometre, sec of second: the same first letter, the short form's letters in order."""
    if len(short) > ABBREVIATION_MAX_LENGTH or len(long) < len(short) + 3 or short[0] != long[0]:
        return False
    letters = iter(long)
    return all(letter in letters for letter in short)


def headword_problem(lexicon: Lexicon, word: str, synset: Synset) -> str | None:
    """Why the word, read as ``synset`` (its dominant sense), makes no headword; None if it does."""
    if word in CLOSED_CLASS["en"]:
        return "a function word or generic verb"
    if len(word) < MIN_HEADWORD_LENGTH or not VOWELS.intersection(word):
        return "too short or without a vowel: an abbreviation or symbol"
    longer = [lemma for lemma in synset.lemmas_in("en") if lemma != word and _is_abbreviation_of(word, lemma.lower())]
    if longer:
        return f"an abbreviation of {longer[0]!r}"
    if word in OFFENSIVE_ENGLISH:
        return "offensive"
    senses = lexicon.english_senses.get((word, synset.pos), ())
    total = sum(sense.tag_count for sense in senses)
    if word in lexicon.proper_names and total < NAME_MIN_TAGS:
        return f"mostly a name ({total} tagged common uses)"
    if len(senses) > 1 and total and senses[0].tag_count < max(1.0, MIN_SENSE_SHARE * total):
        return f"its first sense has {senses[0].tag_count} of {total} tagged uses: not its ordinary sense"
    dictionary_pos = {pos for lang in lexicon.forward_source for sense in lexicon.forward_dictionary.get((lang, word), ())
                      for pos in sense.pos}
    if dictionary_pos and synset.pos not in dictionary_pos:
        return f"the dictionaries give it as {'/'.join(sorted(dictionary_pos))}, not {synset.pos}"
    return None


def listing(synset: Synset, lemma: str, lang: str) -> int:
    """Which lemma lists hold the word for the synset: `HUMAN_LIST`, `MACHINE_LIST` or `NO_LIST`."""
    listed = synset.sources(lemma, lang) - DERIVED_SOURCES
    return HUMAN_LIST if listed - AUTOMATIC_SOURCES else MACHINE_LIST if listed else NO_LIST


def listed_for_another_sense(lexicon: Lexicon, synset: Synset, lemma: str, lang: str, headword: str) -> bool:
    """Whether a list holds the word more firmly for a competing sense of the headword, one with at
    least `COMPETING_SENSE_SHARE` of this sense's tagged uses: WOLF alone puts *banque* at the
    river bank (25 tagged uses), Wiktionary's list at the financial bank (20). A rare other sense
    proves nothing (Wiktionary lists *année* for the school year, WOLF for the year of 365 days)."""
    senses = lexicon.english_senses.get((headword, synset.pos), ())
    tags = {sense.synset_id: sense.tag_count for sense in senses}
    floor = COMPETING_SENSE_SHARE * tags.get(synset.id, 0)
    here = listing(synset, lemma, lang)
    return any(listing(lexicon.synsets[other], lemma, lang) > here
               for other, count in tags.items() if other != synset.id and count >= floor and other in lexicon.synsets)


def word_choice(lexicon: Lexicon, synset: Synset, lemma: str, lang: str, headword: str) -> WordChoice:
    listed = listing(synset, lemma, lang)
    return WordChoice(lemma, lexicon.evidence(lemma, lang, synset, headword), lexicon.round_trip(lemma, lang, synset, headword),
                      lexicon.frequency(lemma, lang), len(lexicon.dictionary.get((lang, lemma), ())), listed,
                      (listed > NO_LIST or lexicon.confirms_sense(lemma, lang, synset, headword))
                      and not listed_for_another_sense(lexicon, synset, lemma, lang, headword))


def choose_word(lexicon: Lexicon, synset: Synset, lang: str, headword: str, config: BuildConfig,
                taken: Collection[str] = (), excluded: Collection[str] = ()) -> str | None:
    """The best qualifying single word for the synset in ``lang``, or None when there is none or
    another entry has ``taken`` it (its runner-up would be a worse translation), among its lemmas
    and the English→X dictionary's translations of the headword: a native word before a loanword
    whose frequency per sense does not exceed the native word's whole frequency (a loanword's
    stray senses must not carry it), then a word a lemma list gives for this very sense before one
    the dictionaries alone propose (量 "amount; quantity" leads with the headword, but 金額 is
    listed for a sum of money), then the best round trip, then the most independent sources, then
    the most frequent per dictionary sense (a word that means little else is the safer translation)."""
    proposed = dict.fromkeys([*synset.lemmas_in(lang), *lexicon.forward_translations(headword, lang, synset.pos)])
    choices = [
        word_choice(lexicon, synset, lemma, lang, headword) for lemma in proposed
        if lemma not in CLOSED_CLASS.get(lang, ()) and lemma not in excluded
        and is_single_word(lemma, lang) and lexicon.is_known(lemma, lang)
        and (lang, lemma) not in lexicon.nonstandard and lexicon.frequency(lemma, lang) >= config.min_word_zipf
    ]
    qualifying = [choice for choice in choices if choice.qualifies(config)]
    native = max((choice.frequency for choice in qualifying if not is_loanword_spelling(choice.lemma, lang)), default=None)

    def rank(choice: WordChoice) -> tuple:
        transliterated = is_loanword_spelling(choice.lemma, lang) and native is not None and choice.frequency_per_sense <= native
        return (transliterated, choice.listing == NO_LIST, -choice.round_trip, -len(choice.sources),
                -choice.frequency_per_sense, choice.lemma)

    best = min(qualifying, key=rank, default=None)
    return None if best is None or best.lemma in taken else best.lemma


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
                found.setdefault(target, TWO_STEP_RELATIONS.get((relation, second_relation), SECOND_ORDER))
    return found


def _linked(lexicon: Lexicon, synset: Synset, relation: str) -> list[Synset]:
    return [lexicon.synsets[target] for kind, target in synset.relations if kind == relation and target in lexicon.synsets]


def related_synsets(lexicon: Lexicon, synset: Synset) -> list[tuple[str, Synset]]:
    """The synset's same-POS neighbourhood, each neighbour once, nearest relation first: two
    semantic steps, then nephews (children of siblings), cousins (children of the parents'
    siblings), then, for adjectives and
    verbs, which have few semantic links of their own,
    "cross-pos" neighbours reached through a word of another part of speech (social → society →
    economy → economic)."""
    found = _semantic_neighbours(lexicon, synset)
    for parent in _linked(lexicon, synset, "hypernym"):
        for sibling in _linked(lexicon, parent, "hyponym"):
            for nephew in _linked(lexicon, sibling, "hyponym"):
                found.setdefault(nephew.id, NEPHEW)
    for parent in _linked(lexicon, synset, "hypernym"):
        for grandparent in _linked(lexicon, parent, "hypernym"):
            for uncle in _linked(lexicon, grandparent, "hyponym"):
                for cousin in _linked(lexicon, uncle, "hyponym"):
                    found.setdefault(cousin.id, COUSIN)
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


def distractor_sources(lexicon: Lexicon, synset: Synset, lemma: str, lang: str) -> frozenset[str]:
    """The independent sources for a lemma of a (neighbour) synset: those listing it, plus the
    dictionary when it translates the lemma by one of the synset's English lemmas."""
    sources = set(synset.sources(lemma, lang))
    if lang in lexicon.dictionary_source and lexicon.confirms(lemma, lang, synset):
        sources.add(lexicon.dictionary_source[lang])
    return frozenset(sources - DERIVED_SOURCES)


def _starts_with_word(text: str, prefix: str, lang: str) -> bool:
    """Whether ``text`` begins with ``prefix`` as a whole word (languages matched by whole words) or
    as characters (those whose words attach to others: Chinese, Japanese, Korean 손목 "wrist")."""
    if not text.startswith(prefix) or text == prefix:
        return False
    return LANGUAGES[lang].matching != WORD or not text[len(prefix)].isalpha()


def excluded_words(lexicon: Lexicon, lang: str) -> frozenset[str]:
    """Strings never used, in entries or as distractors, whatever sense they are read in: words a
    dictionary marks offensive and, for English, `OFFENSIVE_ENGLISH` and the words whose every
    WordNet sense is obscene, vulgar or a slur. Other excluded senses (names, abbreviations, slang,
    an offensive sense of a common word such as queen) exclude the sense, not the string."""
    excluded = {word for word_lang, word in lexicon.offensive if word_lang == lang}
    if lang == "en":
        offensive = {synset.id for synset in lexicon.synsets.values() if synset.tags & (OFFENSIVE_USAGES | {"offensive"})}
        candidates = {lemma for synset_id in offensive for lemma in lexicon.synsets[synset_id].lemmas_in("en")}
        excluded |= OFFENSIVE_ENGLISH | {lemma for lemma in candidates
                                         if set(lexicon.synsets_containing(lemma, "en")) <= offensive}
    return frozenset(excluded)


def language_config(config: BuildConfig, lexicon: Lexicon, lang: str) -> BuildConfig:
    """The rules as they apply to a language's words and distractors: where no X→English
    dictionary exists (Russian, Korean), no round trip can be checked and Wiktionary's list may be
    the one source; an English→X dictionary (FreeDict eng-rus, 1.7k headwords) then only ranks a
    word it lists first (docs/clwtd.md, "Any language set")."""
    if lang == "en" or lang in lexicon.dictionary_source:
        return config
    return replace(config, min_round_trip=ROUND_TRIP_NONE, min_sources=1)


class ClwtdBuilder:
    def __init__(self, lexicon: Lexicon, config: BuildConfig = BuildConfig(),
                 languages: Sequence[str] = PAPER_LANGUAGES) -> None:
        if not languages or languages[0] != "en" or len(languages) < 2:
            raise PivotlensError("CLWTD's languages start with en (its headwords are English) and have one more, "
                                 f"e.g. en,fr,zh,ja; got {','.join(languages)}")
        self.lexicon = lexicon
        self.config = config
        self.languages = tuple(languages)
        self.pairs = all_pairs(self.languages)
        self._configs = {lang: language_config(config, lexicon, lang) for lang in self.languages}
        self._excluded = {lang: excluded_words(lexicon, lang) for lang in self.languages}
        self._genus_patterns: dict[str, re.Pattern[str]] = {}
        self._neighbourhoods: dict[str, tuple[list[tuple[str, Synset]], frozenset[str]]] = {}

    def candidate(self, headword: str, taken: Mapping[str, Collection[str]]) -> Candidate | None:
        """The headword's dominant concept with a qualifying word in every language, none of them
        ``taken`` (by language) by another entry, or None."""
        if (headword in taken["en"] or headword in self._excluded["en"] or not is_single_word(headword, "en")
                or self.lexicon.frequency(headword, "en") < self.config.min_word_zipf):
            return None
        synset = dominant_synset(self.lexicon, headword)
        if synset is None or headword_problem(self.lexicon, headword, synset) is not None:
            return None
        # Nothing shows that an untagged polysemous word's first sense is its ordinary one, unless
        # every dictionary gives the words chosen for it in their primary sense.
        senses = self.lexicon.english_senses.get((headword, synset.pos), ())
        unverified = len(senses) > 1 and not any(sense.tag_count for sense in senses)
        words = {"en": headword}
        for lang in self.languages[1:]:
            chosen = choose_word(self.lexicon, synset, lang, headword, self._configs[lang], taken[lang], self._excluded[lang])
            if chosen is None or (unverified and lang in self.lexicon.dictionary_source
                                  and self.lexicon.dictionary_round_trip(chosen, lang, synset, headword) < ROUND_TRIP_PRIMARY):
                return None
            words[lang] = chosen
        return Candidate(synset, words)

    def distractor_problem(self, word: str, src: str, tgt: str, candidate: Candidate,
                           chosen: Collection[str] = ()) -> str | None:
        """Why ``word`` cannot be a distractor of the candidate for (src, tgt) beside the ``chosen``
        ones; None if it can. The answer word[tgt] must stay the one right reply: a distractor
        that may translate to it, or whose translation starts with it, would score as right."""
        lexicon = self.lexicon
        source, answer = candidate.word[src], candidate.word[tgt]
        if not (is_single_word(word, src) and lexicon.is_known(word, src)):
            return f"not a single known {src} word"
        if word in self._excluded[src]:
            return "offensive"
        if word in CLOSED_CLASS.get(src, ()):
            return "a function word or generic verb"
        if (src, word) in lexicon.nonstandard or (src == "zh" and lexicon.simplified(word) != word):
            return "not the standard modern spelling"
        if src != "en" and LANGUAGES[src].script == "latin" and lexicon.frequency(word, "en") > lexicon.frequency(word, src) + 1:
            return "an English word"
        if lexicon.frequency(word, src) < self.config.min_distractor_zipf:
            return "too rare"
        if are_variants(lexicon, word, source, src):
            return f"a variant of the source word {source!r}"
        if is_alphabetic(src) and min(len(word), len(source)) >= SHARED_STEM and word[:SHARED_STEM] == source[:SHARED_STEM]:
            return f"shares its stem with the source word {source!r}"
        variant_of = next((other for other in chosen if are_variants(lexicon, word, other, src)), None)
        if variant_of is not None:
            return f"a variant of the distractor {variant_of!r}"
        if src == "en" and word in lexicon.proper_names and sum(
                _tag_count(lexicon, word, pos) for pos in POS_PREFERENCE) < NAME_MIN_TAGS:
            return "mostly a name"  # twain: Mark Twain, and otherwise the archaic "two"
        own_synsets = set(lexicon.synsets_containing(word, src))
        if own_synsets & {candidate.synset.id, *lexicon.synsets_containing(source, src)}:
            return "a synonym of the source word"
        if own_synsets & self._neighbourhood(candidate.synset)[1]:
            return "a kind of the concept or a near-synonym (one of its senses)"
        genus = self._genus_pattern(candidate.synset)
        if any(genus.match(lexicon.synsets[synset_id].definition) and not lexicon.synsets[synset_id].lemmas_in(tgt)
               for synset_id in own_synsets):
            return f"a kind of the concept with no {tgt} word of its own"  # proprietress: "a woman proprietor"
        if set(lexicon.synsets_containing(answer, tgt)) & own_synsets:
            return "shares a synset with the answer"
        # A third language's word of the concept listed for one of the distractor's senses: the
        # lexicons hold them equivalent somewhere, so it may translate to the answer (rascal and 坏人).
        for lang, other in candidate.word.items():
            if lang not in (src, tgt) and set(lexicon.synsets_containing(other, lang)) & own_synsets - {candidate.synset.id}:
                return f"shares a synset with the {lang} word {other!r}"
        answer_meanings = lexicon.english_equivalents(answer, tgt) | {normalise_gloss(lemma)
                                                                      for lemma in candidate.synset.lemmas_in("en")}
        equivalents = lexicon.english_equivalents(word, src)
        if equivalents & answer_meanings:
            return "a dictionary translates it as the answer"
        if src == "en":
            # An English word, like the others, may mean what its synsets' lemmas mean: bonny is
            # "fair", a lemma of beautiful's synset.
            synonyms = {normalise_gloss(lemma) for synset_id in own_synsets
                        for lemma in lexicon.synsets[synset_id].lemmas_in("en")}
            if synonyms & answer_meanings:
                return f"a synonym of {sorted(synonyms & answer_meanings)[0]!r}, which the answer means"
            equivalents |= synonyms
        if any(" " in gloss and gloss.rsplit(" ", 1)[1] in answer_meanings for gloss in equivalents):
            return "a kind of the answer (the head of one of its glosses)"
        for translation in lexicon.translations(word, src, tgt):
            if translation == answer or _starts_with_word(translation, answer, tgt):
                return f"translates to {translation!r}, which starts with the answer"
        return None

    def _neighbourhood(self, synset: Synset) -> tuple[list[tuple[str, Synset]], frozenset[str]]:
        """`related_synsets` split once per concept: the neighbours distractors come from, and the
        ids of those through `SYNONYMOUS_RELATIONS`, whose words are no distractors."""
        if synset.id not in self._neighbourhoods:
            related = related_synsets(self.lexicon, synset)
            self._neighbourhoods[synset.id] = (
                [(relation, neighbour) for relation, neighbour in related
                 if relation not in SYNONYMOUS_RELATIONS and not is_excluded(neighbour)],
                frozenset(neighbour.id for relation, neighbour in related if relation in SYNONYMOUS_RELATIONS))
        return self._neighbourhoods[synset.id]

    def _genus_pattern(self, synset: Synset) -> re.Pattern[str]:
        """A definition whose genus is one of the concept's English lemmas: "a woman proprietor", "a
        young dog that …" (not "a father or mother"). A language without a word of its own for the
        species says the genus, the answer, so such a word may translate to it."""
        if synset.id not in self._genus_patterns:
            lemmas = sorted({normalise_gloss(lemma) for lemma in synset.lemmas_in("en")}, key=len, reverse=True)
            self._genus_patterns[synset.id] = re.compile(
                rf"(?:(?:a|an|the|any|one) )?(?:(?!(?:or|and|of) )[\w'-]+ ){{0,{GENUS_MODIFIERS}}}"
                rf"(?:{'|'.join(map(re.escape, lemmas))})"
                rf"(?:$|[;,(]| (?:{'|'.join(GENUS_FOLLOWERS)})\b)")
        return self._genus_patterns[synset.id]

    def distractors(self, candidate: Candidate, src: str, tgt: str,
                    neighbours: list[tuple[str, Synset]]) -> list[Distractor]:
        """Up to 9 source-language distractors for (src, tgt) from the concept's neighbours: the
        best ranked first, each checked against the ones already chosen."""
        source, answer = candidate.word[src], candidate.word[tgt]
        found: dict[str, Distractor] = {}
        for relation, neighbour in neighbours:
            for lemma in neighbour.lemmas_in(src):
                if lemma in found or lemma in (source, answer):
                    continue
                # Princeton WordNet's English lemmas are hand-made: trusted without a second source.
                trusted = src == "en" or (len(distractor_sources(self.lexicon, neighbour, lemma, src))
                                          >= self._configs[src].min_sources)
                if trusted or relation not in DISTANT_RELATIONS:
                    found[lemma] = Distractor(lemma, relation, trusted, self._evokes(lemma, src, neighbour))
        ranked = sorted(found.values(), key=lambda d: (not d.trusted, RELATION_ORDER.index(d.relation), not d.evokes,
                                                       -self.lexicon.frequency(d.word, src), d.word))
        chosen: list[Distractor] = []
        for distractor in ranked:
            if len(chosen) == N_DISTRACTORS:
                break
            if self.distractor_problem(distractor.word, src, tgt, candidate, [d.word for d in chosen]) is None:
                chosen.append(distractor)
        return chosen

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

    def entry(self, candidate: Candidate) -> Entry | None:
        """The candidate as a CLWTD entry, or None when some pair lacks 9 distractors."""
        neighbours, _ = self._neighbourhood(candidate.synset)
        per_pair: dict[str, list[Distractor]] = {}
        for src, tgt in self.pairs:
            found = self.distractors(candidate, src, tgt, neighbours)
            if len(found) < N_DISTRACTORS:
                return None
            per_pair[pair_key(src, tgt)] = found
        relations: dict[str, dict[str, str]] = {lang: {} for lang in self.languages}
        for (src, _), found in zip(self.pairs, per_pair.values()):
            relations[src].update({d.word: d.relation for d in found})
        return Entry(
            id=candidate.word["en"],
            pos=candidate.synset.pos,
            word=dict(candidate.word),
            distractors={key: tuple(d.word for d in found) for key, found in per_pair.items()},
            meta={"synset": candidate.synset.id,
                  "distractor_relations": {lang: dict(sorted(words.items())) for lang, words in relations.items()}},
        )

    def entry_problems(self, entry: Entry) -> list[str]:
        """What the v2 rules find wrong with an entry built by any means (a hand edit, v1): its
        headword, each word without the support a translation needs (a qualifying word the rules
        merely rank lower is no problem), each distractor that breaks answer uniqueness. The
        rules, not a judgement: a flagged field deserves a look."""
        lexicon = self.lexicon
        headword = entry.word["en"]
        synset = lexicon.synsets.get((entry.meta or {}).get("synset", "")) or dominant_synset(lexicon, headword)
        if synset is None:
            return [f"en {headword!r}: no WordNet sense to read it in"]
        problems = []
        if (problem := headword_problem(lexicon, headword, synset)) is not None:
            problems.append(f"en {headword!r}: {problem}")
        for lang in self.languages[1:]:
            word = entry.word[lang]
            choice = word_choice(lexicon, synset, word, lang, headword)
            if not choice.qualifies(self._configs[lang]) or word in self._excluded[lang]:
                best = choose_word(lexicon, synset, lang, headword, self._configs[lang], excluded=self._excluded[lang])
                problems.append(f"{lang} {word!r}: not supported in the headword's sense (sources "
                                f"{', '.join(sorted(choice.sources)) or 'none'}; round trip {choice.round_trip}; "
                                f"the rules choose {best!r})")
        candidate = Candidate(synset, dict(entry.word))
        for src, tgt in self.pairs:
            chosen: list[str] = []
            for word in entry.distractors_for(src, tgt):
                if (problem := self.distractor_problem(word, src, tgt, candidate, chosen)) is not None:
                    problems.append(f"{pair_key(src, tgt)} distractor {word!r}: {problem}")
                chosen.append(word)
        return problems

    def build(self, accept: Callable[[Entry], bool] | None = None,
              progress: Callable[[Entry], None] = lambda entry: None, allow_fewer: bool = False) -> list[Entry]:
        """Entries in headword-frequency order up to the configured size, in the paper's POS mix;
        if verbs or adjectives run out of complete concepts, a second pass fills their share with
        the next nouns, the largest class. A synset, and a word in any language, is used once.
        ``accept`` is an extra check (e.g. the LLM validation); a rejected concept is skipped like
        an incomplete one. ``allow_fewer``: the size is a ceiling, not a demand."""
        quotas = pos_quotas(self.config.n_entries)
        entries: list[Entry] = []
        used_synsets: set[str] = set()
        used_words: dict[str, set[str]] = {lang: set() for lang in self.languages}
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
        if len(entries) == self.config.n_entries or allow_fewer:
            return entries
        raise PivotlensError(
            f"the lexicon yields only {len(entries)} complete concepts of the {self.config.n_entries} "
            "asked for: ask for fewer with --n"
        )


def write_dataset(entries: list[Entry], path: Path) -> None:
    """The canonical JSONL (``entries_jsonl``), so rebuilds are byte-identical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(entries_jsonl(entries).encode("utf-8"))
