"""The language registry (issue 17): one entry per language, any subset in every stage."""

import json
import re

import pytest

from pivotlens.clwtd import load_dataset
from pivotlens.clwtd.builder import is_single_word
from pivotlens.corpus.matching import PREFIX, SUBSTRING, WORD, Term, TermMatcher, rule_for, word_pattern
from pivotlens.errors import DatasetError, PivotlensError
from pivotlens.languages import LANGUAGES, PAPER_LANGUAGES, Language, language, pair_languages, parse_languages, parse_pairs
from pivotlens.models.tiny import tokenizer_corpus
from pivotlens.pipeline import load_config, run_pipeline
from pivotlens.selection.mixes import MixConfig
from pivotlens.text import normalize

# Ten concepts in ten languages, written by hand; an entry's distractors in a language are the
# other nine concepts' words in it.
TEN = ("en", "fr", "zh", "ja", "de", "es", "ru", "ko", "it", "pt")
WORDS = {
    "en": "hand water fire dog house book sun tree bird eye",
    "fr": "main eau feu chien maison livre soleil arbre oiseau œil",
    "zh": "手 水 火 狗 房子 书 太阳 树 鸟 眼睛",
    "ja": "手 水 火 犬 家 本 太陽 木 鳥 目",
    "de": "Hand Wasser Feuer Hund Haus Buch Sonne Baum Vogel Auge",
    "es": "mano agua fuego perro casa libro sol árbol pájaro ojo",
    "ru": "рука вода огонь собака дом книга солнце дерево птица глаз",
    "ko": "손 물 불 개 집 책 태양 나무 새 눈",
    "it": "mano acqua fuoco cane casa libro sole albero uccello occhio",
    "pt": "mão água fogo cão casa livro sol árvore pássaro olho",
}


def ten_language_entries() -> list[dict]:
    words = {lang: text.split() for lang, text in WORDS.items()}
    return [{"schema_version": 1, "id": english, "pos": "n", "word": {lang: words[lang][i] for lang in TEN},
             "distractors": {f"{src}-{tgt}": [w for j, w in enumerate(words[src]) if j != i]
                             for src in TEN for tgt in TEN if src != tgt}}
            for i, english in enumerate(words["en"])]


@pytest.fixture(scope="module")
def ten_language_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ten") / "clwtd-ten.jsonl"
    path.write_text("".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in ten_language_entries()),
                    encoding="utf-8")
    return path


def test_registering_a_language_is_one_entry(monkeypatch, ten_language_file):
    # Swahili, registered by one entry, is usable at once: pairs, matching, words, datasets.
    monkeypatch.setitem(LANGUAGES, "sw", Language("sw", "Swahili", "latin", WORD, "a-z", "sw", "swh.html", "DejaVu Sans"))
    assert parse_pairs("en-sw,sw-*", ("en", "fr", "sw")) == [("en", "sw"), ("sw", "en"), ("sw", "fr")]
    assert rule_for("sw") == WORD and is_single_word("maji", "sw") and not is_single_word("maji safi", "sw")
    entry = ten_language_entries()[0]
    record = {**entry, "word": {"en": "hand", "sw": "mkono"},
              "distractors": {"en-sw": entry["distractors"]["en-fr"], "sw-en": list("abcdefghi")}}
    path = ten_language_file.with_name("en-sw.jsonl")
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    dataset = load_dataset(path)
    assert dataset.languages == ("en", "sw") and dataset.pairs == (("en", "sw"), ("sw", "en"))


def test_an_unknown_code_lists_the_known_ones(tmp_path):
    known = ", ".join(LANGUAGES)
    assert "en, fr, zh, ja, de, es, it, pt, ru, ko" in known
    for call in (lambda: language("xx"), lambda: parse_languages("en,xx"), lambda: rule_for("xx")):
        with pytest.raises(PivotlensError, match=f"unknown language 'xx'; known: {known}"):
            call()
    with pytest.raises(PivotlensError, match=f"codes from {known}"):
        parse_pairs("en-xx")
    with pytest.raises(PivotlensError, match="unknown language 'xx'"):
        MixConfig(size=10, languages=("fr", "xx"))
    entry = ten_language_entries()[0]
    entry["word"]["xx"] = "hm"
    (tmp_path / "bad.jsonl").write_text(json.dumps(entry, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=f"unknown language 'xx' \\(registered: {known}\\)"):
        load_dataset(tmp_path / "bad.jsonl")


def test_pairs_accept_any_two_registered_languages_and_wildcards():
    assert parse_pairs(None) == parse_pairs("all") and len(parse_pairs("all")) == 12  # the paper's four
    assert len(parse_pairs("all", TEN)) == 90  # N (N - 1): the cost grows as N²
    into_and_out_of_english = parse_pairs("en-*,*-en", TEN)
    assert len(into_and_out_of_english) == 18 and ("ko", "en") in into_and_out_of_english
    assert parse_pairs("ar-hi") == [("ar", "hi")]  # registered, in no bundled dataset
    assert pair_languages(parse_pairs("*-en", TEN)) == ("fr", "en", "zh", "ja", "de", "es", "ru", "ko", "it", "pt")
    with pytest.raises(PivotlensError, match="must differ"):
        parse_pairs("ko-ko")


# (language, word, documents that contain it, documents that do not): each script's rule.
MATCHING_CASES = [
    ("en", "hand", ["a hand.", "用hand做", "hand-made"], ["handle", "a shorthand"]),
    ("fr", "eau", ["l'eau froide", "EAU"], ["beaucoup", "eaux"]),
    ("de", "Haus", ["das Haus.", "im haus"], ["Hausaufgabe", "Rathaus"]),
    ("ru", "дом", ["мой дом.", "Дом и сад"], ["домашний", "водом"]),
    ("hi", "पानी", ["यह पानी है", "पानी।"], ["पानीपत"]),
    ("zh", "手", ["他的手", "手指"], ["脚"]),
    ("ja", "手", ["手紙を書く"], ["足"]),
    # Korean particles follow the word: 학교 in 학교에서 / 학교는, not inside 대학교 ("university").
    ("ko", "학교", ["학교에서 공부한다", "그 학교는", "(학교)"], ["대학교에 간다", "중학교"]),
    # Arabic clitics attach on both sides: كتاب in والكتاب ("and the book") and كتابه ("his book").
    ("ar", "كتاب", ["قرأت والكتاب", "كتابه جديد"], ["كتب"]),
    ("tr", "ev", ["evde kaldım", "Bu ev büyük", "evler"], ["sevgi", "bir kev"]),
]


@pytest.mark.parametrize("lang, word, present, absent", MATCHING_CASES, ids=[case[0] for case in MATCHING_CASES])
def test_matching_rule_of_each_script_on_hand_made_documents(lang, word, present, absent):
    rule = rule_for(lang)
    assert rule == {"ko": PREFIX, "tr": PREFIX, "ar": SUBSTRING, "zh": SUBSTRING, "ja": SUBSTRING}.get(lang, WORD)
    term = Term(normalize(word, False), rule)
    matcher = TermMatcher((term,))
    for document in present:
        assert matcher.find(normalize(document, False)) == {0}, document
        assert word_pattern(term.text, rule).search(normalize(document, False)), document  # the slow reference agrees
    for document in absent:
        assert matcher.find(normalize(document, False)) == set(), document
        assert not word_pattern(term.text, rule).search(normalize(document, False)), document


def test_every_registered_language_has_udhr_text_for_the_tiny_tokenizer():
    for code, entry in LANGUAGES.items():
        other = "hi" if code != "hi" else "en"
        own = set(tokenizer_corpus([code])) - set(tokenizer_corpus([other]))  # its UDHR lines
        assert sum(len(re.findall(f"[{entry.letters}]", line.lower())) for line in own) > 2000, code
    assert len(tokenizer_corpus(PAPER_LANGUAGES)) < len(tokenizer_corpus())


def test_a_ten_language_study_on_a_tiny_model(tiny_model_dir, ten_language_file, tmp_path):
    """Score, lens and counts over all 90 pairs of ten languages, on a tiny model and a hand-made
    ten-language corpus: N × N matrices, every pair's counts."""
    corpus = tmp_path / "corpus.jsonl"
    documents = [" ".join(WORDS[lang].split()[:5]) + "." for lang in TEN] + ["la main et l'eau", "손에 물을", "рука и вода"]
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": text}, ensure_ascii=False) + "\n"
                              for i, text in enumerate(documents)), encoding="utf-8")
    config = load_config(None, {
        "model": str(tiny_model_dir("llama")), "device": "cpu", "dataset": str(ten_language_file), "pairs": "all",
        "corpus": str(corpus), "stages": ["score", "lens", "counts"],
        "score": {"limit": 2, "draws": 1, "shots": 2}, "lens": {"limit": 2, "first_layer": 1},
        "counts": {"reservoir": 20},
    })
    run_pipeline(config, tmp_path / "run", log=lambda _: None)
    matrix = json.loads((tmp_path / "run" / "score" / "matrix.json").read_text())
    assert matrix["languages"] == list(TEN) and len(matrix["pairs"]) == 90
    assert all((matrix["matrix"][s][t] is None) == (s == t) for s in TEN for t in TEN)
    assert (tmp_path / "run" / "score" / "heatmap.png").is_file()
    behaviours = tmp_path / "run" / "lens" / "behaviours"
    assert len(list(behaviours.glob("*.jsonl"))) == 90
    counts = (tmp_path / "run" / "counts").glob("**/*")
    assert any(path.is_file() for path in counts)


# A hand-made lexicon in English, German (Wiktionary's list and a bilingual dictionary) and Korean
# (Wiktionary's list alone, as here): the hand and fifteen neighbours.
BODY = {"hand": ("Hand", "손"), "finger": ("Finger", "손가락"), "palm": ("Handfläche", "손바닥"),
        "thumb": ("Daumen", "엄지"), "wrist": ("Handgelenk", "손목"), "knuckle": ("Knöchel", "관절"),
        "fist": ("Faust", "주먹"), "arm": ("Arm", "팔"), "foot": ("Fuß", "발"), "leg": ("Bein", "다리"),
        "paw": ("Pfote", "앞발"), "toe": ("Zehe", "발가락"), "nail": ("Nagel", "손톱"), "elbow": ("Ellbogen", "팔꿈치"),
        "shoulder": ("Schulter", "어깨"), "knee": ("Knie", "무릎")}


def body_lexicon(german_dictionary=True):
    from pivotlens.clwtd.lexicon import DictionarySense, Lexicon, Sense, Synset

    wiktionary, princeton = frozenset({"wiktionary"}), frozenset({"princeton"})
    synsets = {f"{english}.n": Synset(f"{english}.n", "n", {"en": {english: princeton}, "de": {german: wiktionary},
                                                            "ko": {korean: wiktionary}},
                                      tuple(("meronym", f"{other}.n") for other in BODY if english == "hand" != other),
                                      frozenset())
               for english, (german, korean) in BODY.items()}
    dictionary = {("de", german): (DictionarySense(german, frozenset({english}), frozenset({"n"}), True, english),)
                  for english, (german, _) in BODY.items() if german_dictionary}
    return Lexicon(synsets=synsets, english_senses={("hand", "n"): (Sense("hand.n", 10),)}, headword_candidates=("hand",),
                   frequency=lambda word, lang: 3.0, dictionary=dictionary, dictionary_source={"de": "freedict"},
                   forward_source={})


def test_clwtd_for_any_language_subset_keeps_the_rules_per_language():
    from pivotlens.clwtd.builder import BuildConfig, ClwtdBuilder, language_config

    config = BuildConfig(n_entries=1)
    lexicon = body_lexicon()
    assert language_config(config, lexicon, "de") == config  # a dictionary: two sources and a round trip
    assert language_config(config, lexicon, "ko").min_sources == 1  # no dictionary: Wiktionary's list alone
    [entry] = ClwtdBuilder(lexicon, config, ("en", "de", "ko")).build()
    assert entry.word == {"en": "hand", "de": "Hand", "ko": "손"}
    assert set(entry.distractors) == {"en-de", "en-ko", "de-en", "de-ko", "ko-en", "ko-de"}
    # Korean compounds start with the answer as characters (손가락 "finger" = hand + stick, 손목,
    # 손톱), German ones as a word only: finger is an en→de distractor, none of them an en→ko one.
    assert {"finger", "nail"} <= set(entry.distractors["en-de"])
    assert not {"finger", "palm", "wrist", "nail"} & set(entry.distractors["en-ko"])
    # Without its dictionary, German has one source and no round trip: no entry.
    assert ClwtdBuilder(body_lexicon(german_dictionary=False), config, ("en", "de", "ko")).build(allow_fewer=True) == []
    with pytest.raises(PivotlensError, match="start with en"):
        ClwtdBuilder(lexicon, config, ("de", "en"))


def test_figures_get_a_font_for_every_script_and_a_missing_one_warns_once(monkeypatch):
    import warnings

    from pivotlens.plots import figures

    found = figures.use_script_fonts()
    if {"Noto Sans CJK JP", "Noto Sans Arabic", "Noto Sans Devanagari"} <= set(found):  # Debian fonts-noto-*
        assert figures.plt.rcParams["font.family"][:2] == ["DejaVu Sans", "Noto Sans CJK SC"]
    monkeypatch.setitem(LANGUAGES, "sw", Language("sw", "Swahili", "latin", WORD, "a-z", "sw", "swh.html", "No Such Sans"))
    monkeypatch.setattr(figures, "_WARNED_FONTS", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figures.use_script_fonts()
        figures.use_script_fonts(["sw", "en"])
    assert [str(w.message) for w in caught] == [
        "font 'No Such Sans' not found: latin text in figures will show as boxes; install it with "
        "`apt-get install fonts-noto-core fonts-noto-cjk`"]
