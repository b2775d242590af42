"""The CLWTD builder on a tiny hand-made lexicon: every expectation below is worked out by hand."""

import json
import subprocess
import sys
from importlib.resources import files

import numpy as np
import pytest

from pivotlens.cli import main
from pivotlens.clwtd import load_dataset
from pivotlens.clwtd.builder import (
    BuildConfig,
    ClwtdBuilder,
    choose_word,
    dominant_synset,
    pos_quotas,
    related_synsets,
)
from pivotlens.clwtd.lexicon import (
    DictionarySense,
    Lexicon,
    Sense,
    Synset,
    cognate_translations,
    merge_lemmas,
    monosemous_translations,
    read_omw_tab,
    realign_ids,
)
from pivotlens.clwtd.llm_check import LlmValidator
from pivotlens.clwtd.resources import resolve_resource_paths
from pivotlens.errors import LexicalResourceError
from pivotlens.languages import ALL_PAIRS

SOURCES = ("omw", "wiktionary", "wolf")


def synset(synset_id, pos, lemmas, relations=(), tags=()):
    """A synset from {lang: word | [words] | {word: n | {source names}}}: a plain word is listed by
    two human-made sources, ``n`` stands for the first n of SOURCES."""
    def sourced(words):
        if not isinstance(words, dict):
            words = dict.fromkeys([words] if isinstance(words, str) else words, 2)
        return {word: frozenset(SOURCES[:given] if isinstance(given, int) else given) for word, given in words.items()}
    return Synset(synset_id, pos, {lang: sourced(words) for lang, words in lemmas.items()},
                  tuple(relations), frozenset(tags))


# The hand's neighbourhood: 5 meronyms, a hyponym, a hypernym, a holonym, and 2 co-hyponyms
# (through the hypernym "extremity"), and two more, "paw" and "hoof". Japanese 手首 (wrist) starts with the answer 手, so "wrist"
# is no en→ja distractor.
BODY = [
    synset("hand.n", "n", {"en": "hand", "fr": "main", "zh": "手", "ja": "手"},
           [("meronym", "finger.n"), ("meronym", "palm.n"), ("meronym", "thumb.n"), ("meronym", "wrist.n"),
            ("meronym", "knuckle.n"), ("meronym", "nail.n"), ("hyponym", "fist.n"), ("hypernym", "extremity.n"),
            ("holonym", "arm.n")]),
    synset("finger.n", "n", {"en": "finger", "fr": "doigt", "zh": "指头", "ja": "指"}),
    synset("palm.n", "n", {"en": "palm", "fr": "paume", "zh": "掌", "ja": "掌"}),
    synset("thumb.n", "n", {"en": "thumb", "fr": "pouce", "zh": "拇指", "ja": "親指"}),
    synset("wrist.n", "n", {"en": "wrist", "fr": "poignet", "zh": "腕", "ja": "手首"}),
    synset("knuckle.n", "n", {"en": ["knuckle", "Knuckle bone"], "fr": {"jointure": 1}, "zh": "指节", "ja": ["関節", "knuckle"]}),
    synset("nail.n", "n", {"en": "fingernail", "fr": "ongle", "zh": "指甲", "ja": "爪"}),
    synset("fist.n", "n", {"en": "fist", "fr": "poing", "zh": "拳头", "ja": "拳"}),
    # WOLF-style noise: "main" listed for the hypernym too.
    synset("extremity.n", "n", {"en": "extremity", "fr": ["extrémité", "main"], "zh": "肢体", "ja": "肢"},
           [("hyponym", "hand.n"), ("hyponym", "foot.n"), ("hyponym", "leg.n"), ("hyponym", "paw.n"),
            ("hyponym", "hoof.n")]),
    synset("arm.n", "n", {"en": "arm", "fr": "bras", "zh": "胳膊", "ja": "腕"}),
    synset("foot.n", "n", {"en": "foot", "fr": "pied", "zh": "脚", "ja": "足"}),
    synset("leg.n", "n", {"en": "leg", "fr": "jambe", "zh": "腿", "ja": "すね"}),
    synset("paw.n", "n", {"en": "paw", "fr": "patte", "zh": "爪子", "ja": "前足"}),
    synset("hoof.n", "n", {"en": "hoof", "fr": "sabot", "zh": "蹄", "ja": "ひづめ"}),
    # Unrelated to the hand, but French "bras" and Chinese "手" share it: "bras" might translate 手.
    synset("labour.n", "n", {"en": "labour", "fr": "bras", "zh": "手"}),
]
FREQUENCY = {("en", "finger"): 4.5, ("en", "palm"): 4.0, ("en", "thumb"): 3.9, ("en", "wrist"): 3.5,
             ("en", "knuckle"): 3.0, ("en", "foot"): 4.8, ("en", "leg"): 4.6}


def make_lexicon(synsets=BODY, headwords=("the", "hand"), english_senses=None, dictionary=None, frequency=None,
                 **fields):
    table = {**FREQUENCY, **(frequency or {})}
    senses = english_senses or {("hand", "n"): (Sense("hand.n", 10),), ("the", "n"): ()}
    return Lexicon(
        synsets={s.id: s for s in synsets},
        english_senses=senses,
        headword_candidates=tuple(headwords),
        frequency=lambda word, lang: table.get((lang, word), 3.0),
        dictionary=dictionary or {},
        irregular_inflections={"said": (("say", "v"),)},
        **fields,
    )


def hand_entry(lexicon=None):
    builder = ClwtdBuilder(lexicon or make_lexicon(), BuildConfig(n_entries=1))
    candidate = builder.candidate("hand", {lang: set() for lang in ("en", "fr", "zh", "ja")})
    return builder, candidate


def test_pos_quotas_follow_the_paper_mix():
    assert pos_quotas(2000) == {"n": 1423, "v": 173, "adj": 404}
    assert pos_quotas(100) == {"n": 71, "v": 9, "adj": 20}


def test_dominant_synset_uses_tag_counts_and_skips_function_words_inflections_and_adverbs():
    synsets = [synset("light.n", "n", {"en": "light"}), synset("light.a", "adj", {"en": "light"}),
               synset("hands.n", "n", {"en": "hand"}), synset("well.r", "adv", {"en": "well"}),
               synset("well.n", "n", {"en": "well"}), synset("said.a", "adj", {"en": "said"}),
               synset("say.v", "v", {"en": "say"}), synset("in.a", "adj", {"en": "in"}),
               synset("old-age.n", "n", {"en": ["years", "old age"]}), synset("year.n", "n", {"en": "year"}),
               synset("evening.n", "n", {"en": "evening"}), synset("even.v", "v", {"en": "even"})]
    senses = {("light", "n"): (Sense("light.n", 3),), ("light", "adj"): (Sense("light.a", 9),),
              ("hands", "n"): (Sense("hands.n", 5),), ("well", "adv"): (Sense("well.r", 50),),
              ("well", "n"): (Sense("well.n", 2),), ("said", "adj"): (Sense("said.a", 4),),
              ("say", "v"): (Sense("say.v", 900),), ("in", "adj"): (Sense("in.a", 1),),
              ("years", "n"): (Sense("old-age.n", 2),), ("year", "n"): (Sense("year.n", 200),),
              ("evening", "n"): (Sense("evening.n", 60),), ("even", "v"): (Sense("even.v", 3),)}
    lexicon = make_lexicon(synsets, english_senses=senses)
    assert dominant_synset(lexicon, "light").id == "light.a"  # 9 adjective tags beat 3 noun tags
    assert dominant_synset(lexicon, "hands") is None  # "hands" is not a lemma of the sense
    assert dominant_synset(lexicon, "well") is None  # mostly an adverb
    assert dominant_synset(lexicon, "said") is None  # mostly the past of "say" (an irregular form)
    assert dominant_synset(lexicon, "years") is None  # mostly the plural of "year", not "old age"
    assert dominant_synset(lexicon, "evening").id == "evening.n"  # "even" + -ing is rarer than "evening"
    assert dominant_synset(lexicon, "in") is None  # a function word


def test_lemma_choice_needs_two_sources_and_rejects_phrases_wrong_scripts_and_rare_words():
    thin = synset("thin.a", "adj", {"en": "thin", "fr": {"léger": 1, "mince": 2, "pas épais": 2},
                                    "zh": {"薄": 2, "細い": 2, "Bo": 2}, "ja": {"薄い": 2, "細い": 2}})
    lexicon = make_lexicon([thin], frequency={("fr", "léger"): 5.0, ("fr", "mince"): 4.2, ("zh", "細い"): 6.0,
                                              ("ja", "薄い"): 4.0, ("ja", "細い"): 4.5},
                           dictionary={("ja", "薄い"): (DictionarySense("薄い", frozenset({"thin"}), frozenset({"adj"})),),
                                       ("ja", "細い"): (DictionarySense("細い", frozenset({"slender"}), frozenset({"adj"})),)})
    config = BuildConfig()
    assert choose_word(lexicon, thin, "fr", "thin", config) == "mince"  # one source is no evidence, however frequent
    assert choose_word(lexicon, thin, "fr", "thin", config, taken={"mince"}) is None  # the runner-up is not used
    assert choose_word(lexicon, thin, "zh", "thin", config) == "薄"  # 細い has kana, Bo is Latin
    assert choose_word(lexicon, thin, "ja", "thin", config) == "薄い"  # 細い's glosses do not lead back to "thin"
    rare = make_lexicon([thin], frequency={("fr", "mince"): 1.0, ("fr", "léger"): 1.0})
    assert choose_word(rare, thin, "fr", "thin", config) is None  # below min_word_zipf


def test_omw_reader_normalises_and_skips_headers_and_other_fields(tmp_path):
    tab = tmp_path / "wn-data-cmn.tab"
    tab.write_text("# Chinese Open Wordnet\tcmn\turl\tlicence\n"
                   "05564590-n\tcmn:lemma\t手\n05564590-n\tcmn:def\t人体上肢\n"
                   "02440244-n\tcmn:lemma\t電腦\n02440244-n\tcmn:lemma\t电脑\n", encoding="utf-8")
    simplify = {"電腦": "电脑"}.get
    lemmas = read_omw_tab(tab, lambda word: simplify(word) or word)
    assert lemmas == {"05564590-n": ["手"], "02440244-n": ["电脑"]}  # converted, then deduplicated
    assert merge_lemmas({"cow": lemmas, "wiktionary": {"02440244-n": ["计算机", "电脑"]}}) == {
        "05564590-n": {"手": frozenset({"cow"})},
        "02440244-n": {"电脑": frozenset({"cow", "wiktionary"}), "计算机": frozenset({"wiktionary"})}}


def test_dictionary_lemmas_need_a_monosemous_gloss_or_a_cognate():
    synsets = {s.id: s for s in [synset("kitchen.n", "n", {"en": "kitchen", "zh": "厨房"}),
                                 synset("bank.n", "n", {"en": "bank"}), synset("bank2.n", "n", {"en": "bank"})]}
    senses = {("kitchen", "n"): (Sense("kitchen.n", 3),), ("bank", "n"): (Sense("bank.n", 5), Sense("bank2.n", 4))}
    dictionary = {"台所": (DictionarySense("台所", frozenset({"kitchen"}), frozenset({"n"})),),
                  "厨房": (DictionarySense("厨房", frozenset({"kitchen", "galley"}), frozenset({"n"})),),
                  "銀行": (DictionarySense("銀行", frozenset({"bank"}), frozenset({"n"})),),
                  "台所仕事": (DictionarySense("台所仕事", frozenset({"kitchen work"}), frozenset({"n"})),)}
    assert monosemous_translations(synsets, senses, dictionary) == {"kitchen.n": ["台所", "厨房"]}  # bank: 2 senses
    assert cognate_translations(synsets, "zh", lambda word: word, dictionary) == {"kitchen.n": ["厨房"]}


def test_realign_ids_follows_an_offset_shift_and_leaves_the_gap_unplaced():
    # Ids are byte offsets: 60 lines of uneven length in the reference release. The local copy
    # made line 20 seven bytes longer, so ids 21… are 7 higher. The reference set lacks lines 20
    # and 21 (like synsets OMW has no lemma for), so they cannot be placed.
    offsets = [1000]
    for line in range(59):
        offsets.append(offsets[-1] + 100 + (line * 37) % 53)
    reference = {f"{offset:08d}-n" for line, offset in enumerate(offsets) if line not in (20, 21)}
    local = [f"{offset + (7 if line > 20 else 0):08d}-n" for line, offset in enumerate(offsets)]
    mapping = realign_ids(local, reference)
    assert [mapping[local[line]] for line in (19, 22, 59)] == [f"{offsets[line]:08d}-n" for line in (19, 22, 59)]
    assert mapping[local[20]] == f"{local[20]}-unaligned" and mapping[local[21]] == f"{local[21]}-unaligned"


def test_distractors_rank_trusted_then_by_relation_then_frequency():
    builder, candidate = hand_entry()
    entry = builder.entry(candidate)
    # English: meronyms by frequency (fingernail and knuckle tie at 3.0: alphabetical), hypernym,
    # holonym, co-hyponyms by frequency; the hyponym "fist" is no distractor (a kind of hand may be
    # said with the answer), "Knuckle bone" is not one lowercase word, and the 10th, "leg", is cut.
    # "extremity" shares extremity.n with French "main" (WOLF noise), so it may translate to 手 too.
    assert entry.distractors_for("en", "zh") == ("finger", "palm", "thumb", "wrist", "fingernail", "knuckle",
                                                 "arm", "foot", "leg")
    # French: the same relation order (ties in frequency alphabetically), but "jointure", with one
    # source, comes after every word with two and is cut; extremity.n lists the source word "main"
    # (WOLF noise), so "extrémité" counts as its synonym.
    assert entry.distractors_for("fr", "en") == ("doigt", "ongle", "paume", "poignet", "pouce", "jambe",
                                                 "patte", "pied", "sabot")
    assert entry.meta["synset"] == "hand.n"
    assert entry.meta["distractor_relations"]["en"]["foot"] == "co-hyponym"
    assert entry.meta["distractor_relations"]["fr"]["doigt"] == "meronym"


def test_answer_uniqueness_excludes_even_close_words():
    builder, candidate = hand_entry()
    entry = builder.entry(candidate)
    # "bras" (the holonym: arm) shares the synset labour.n with Chinese 手, the answer of fr→zh:
    # it might translate 手; and for fr→en, 手 is the concept's Chinese word, so "bras" may mean
    # "hands" there too: it is no distractor in any French pair.
    assert builder.distractor_problem("bras", "fr", "zh", candidate) == "shares a synset with the answer"
    assert builder.distractor_problem("bras", "fr", "en", candidate) == "shares a synset with the zh word '手'"
    assert all("bras" not in entry.distractors_for("fr", tgt) for tgt in ("en", "zh", "ja"))
    assert entry.distractors_for("fr", "zh")[-1] == "sabot"  # the next candidate moves up
    # extremity.n lists French "main", the answer of en→fr: "extremity" might translate it.
    assert "extremity" not in entry.distractors_for("en", "fr") and entry.distractors_for("en", "fr")[-1] == "leg"


def test_wrong_script_and_source_word_are_never_distractors():
    builder, candidate = hand_entry()
    entry = builder.entry(candidate)
    assert "knuckle" not in entry.distractors_for("ja", "en")  # Latin letters in Japanese
    assert "関節" in entry.distractors_for("ja", "en")
    for src, tgt in ALL_PAIRS:
        assert entry.word[src] not in entry.distractors_for(src, tgt)
        assert entry.word[tgt] not in entry.distractors_for(src, tgt)


def test_offensive_words_are_never_distractors():
    lexicon = make_lexicon()
    lexicon.offensive = frozenset({("ja", "すね")})  # as if JMdict marked it vulgar
    builder, candidate = hand_entry(lexicon)
    neighbours = related_synsets(lexicon, candidate.synset)
    words = [d.word for d in builder.distractors(candidate, "ja", "en", neighbours)]
    assert "すね" not in words and len(words) == 9  # the 10 candidates less すね


def test_a_concept_short_of_nine_distractors_is_dropped():
    fewer = [s for s in BODY if s.id not in ("foot.n", "leg.n")]  # 8 neighbours left
    builder, candidate = hand_entry(make_lexicon(fewer))
    assert builder.entry(candidate) is None
    with pytest.raises(Exception, match="yields only 0 complete concepts"):
        ClwtdBuilder(make_lexicon(fewer), BuildConfig(n_entries=1)).build()


def test_build_fills_the_quota_in_headword_order():
    entries = ClwtdBuilder(make_lexicon(), BuildConfig(n_entries=1)).build()
    assert [entry.id for entry in entries] == ["hand"]  # "the" is a function word
    assert entries[0].word == {"en": "hand", "fr": "main", "zh": "手", "ja": "手"}


def test_a_part_of_speech_short_of_concepts_leaves_its_share_to_the_others():
    # Two entries: the paper's mix asks for 1 noun and 1 adjective; there is no adjective, so the
    # second noun, skipped in the first pass, fills the adjective's place.
    hand = BODY[0]
    foot = synset("foot.n", "n", {"en": "foot", "fr": "pied", "zh": "脚", "ja": "足"},
                  [*hand.relations[:-1], ("hyponym", "leg.n"), ("holonym", "hand.n")])
    lexicon = make_lexicon([foot if s.id == "foot.n" else s for s in BODY], headwords=("hand", "foot"),
                           english_senses={("hand", "n"): (Sense("hand.n", 10),), ("foot", "n"): (Sense("foot.n", 8),)})
    assert pos_quotas(2) == {"n": 1, "v": 0, "adj": 1}
    assert [entry.id for entry in ClwtdBuilder(lexicon, BuildConfig(n_entries=2)).build()] == ["hand", "foot"]


def answer_with(right_words: set[str]):
    """A stub model that answers with the letter of the option among ``right_words``, else "A"."""

    def reply(request: dict) -> str:
        letter = "A"
        for line in request["messages"][0]["content"].splitlines():
            if line[1:3] == ". " and line[3:] in right_words:
                letter = line[0]
        return letter

    return reply


def test_llm_validation_keeps_and_drops(openai_stub):
    builder, candidate = hand_entry()
    entry = builder.entry(candidate)
    knowing = openai_stub(answer_with(set(entry.word.values())))  # the model knows every source word
    validator = LlmValidator(knowing.url, "stub", seed=0)
    assert validator.accepts(entry)
    assert len(knowing.prompts) == 12
    assert knowing.prompts[0].startswith('Which of these English words translates to the French word "main"?')
    guessing = openai_stub(answer_with(set()))  # always "A": almost surely not the source word in some pair
    assert not LlmValidator(guessing.url, "stub", seed=0).accepts(entry)
    # the option order is seeded by (seed, entry id): the same question twice is the same
    assert validator.question(entry, "en", "fr", np.random.default_rng(1)) == \
        validator.question(entry, "en", "fr", np.random.default_rng(1))


def test_llm_validation_inside_the_build(openai_stub):
    guessing = openai_stub(answer_with(set()))
    builder = ClwtdBuilder(make_lexicon(), BuildConfig(n_entries=1))
    with pytest.raises(Exception, match="yields only 0 complete concepts"):
        builder.build(accept=LlmValidator(guessing.url, "stub").accepts)


def test_missing_resources_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("PIVOTLENS_OMW_DIR", raising=False)
    with pytest.raises(LexicalResourceError, match="wn-data-fra.tab"):
        resolve_resource_paths(tmp_path)
    omw = tmp_path / "omw"
    omw.mkdir()
    for name in ("wn-data-fra.tab", "wn-data-cmn.tab", "wn-wikt-eng.tab", "wn-wikt-fra.tab", "wn-wikt-cmn.tab",
                 "wn-wikt-jpn.tab"):
        (omw / name).write_text("")
    with pytest.raises(LexicalResourceError, match="apt-get install wordnet-base"):
        resolve_resource_paths(omw, tmp_path / "no-wordnet")


def test_cli_validate_stats_and_sample_on_the_shipped_dataset(capsys):
    assert main(["clwtd", "validate", "clwtd"]) == 0
    assert "bundled:clwtd: 2000 valid entries" in capsys.readouterr().out
    assert main(["clwtd", "stats"]) == 0
    stats = json.loads(capsys.readouterr().out)
    # the paper's mix as far as the lexicons allow: verbs and adjectives ran short, nouns took
    # their places
    assert stats["pos"]["v"] <= 173 and stats["pos"]["adj"] <= 404 and sum(stats["pos"].values()) == 2000
    assert abs(sum(stats["relations"].values()) - 1) < 1e-3 and "unrecorded" not in stats["relations"]
    assert main(["clwtd", "sample", "--n", "3", "--seed", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 * 5 and lines[1].startswith("    en-fr: ")


def test_cli_user_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    record = load_dataset("sample").entries[0].to_json()
    record["word"]["ja"] = "te"
    bad.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    assert main(["clwtd", "validate", str(bad)]) == 2
    assert "word[ja] 'te' is not a single ja word" in capsys.readouterr().err
    assert main(["clwtd", "build", "--out", str(tmp_path / "x.jsonl"), "--omw-dir", str(tmp_path)]) == 2
    assert "pivotlens: error:" in capsys.readouterr().err


def test_meta_is_optional_and_checked():
    record = load_dataset("sample").entries[0].to_json()
    record["meta"] = {"synset": 5}
    from pivotlens.clwtd import parse_entries
    from pivotlens.errors import DatasetError
    with pytest.raises(DatasetError, match="meta.synset must be a string"):
        parse_entries([json.dumps(record)], "d.jsonl")
    record["meta"] = {"synset": "05564590-n", "distractor_relations": {"en": {"finger": "meronym"}}}
    assert parse_entries([json.dumps(record)], "d.jsonl")[0].meta["synset"] == "05564590-n"
    record["extra"] = 1
    with pytest.raises(DatasetError, match="unknown key 'extra'"):
        parse_entries([json.dumps(record)], "d.jsonl")


@pytest.mark.slow
def test_shipped_dataset_is_rebuilt_byte_for_byte(tmp_path):
    """Needs the real resources (wordnet-base, the OMW files, the clwtd-build extra); ≈6 minutes."""
    out = tmp_path / "clwtd.jsonl"
    # A fresh process, so the build cannot lean on this one's hash seed or caches.
    subprocess.run([sys.executable, "-m", "pivotlens.cli", "clwtd", "build", "--out", str(out)], check=True)
    shipped = files("pivotlens.clwtd").joinpath("data/clwtd.jsonl").read_bytes()
    assert out.read_bytes() == shipped
    assert len(load_dataset(out)) == 2000


@pytest.mark.slow
@pytest.mark.xfail(reason="clwtd-multi (83b3822f) was built at tag issue-17-clwtd-multi-build, before issue 16's "
                          "third-round rules: rebuild it with docs/clwtd.md's command, then drop this mark", strict=False)
def test_shipped_multilingual_dataset_is_rebuilt_byte_for_byte(tmp_path):
    """clwtd-multi from its documented command (docs/clwtd.md); needs the Debian FreeDict
    dictionaries of de, es, it, pt, ru too; ≈30 minutes on 2 cores."""
    out = tmp_path / "clwtd-multi.jsonl"
    subprocess.run([sys.executable, "-m", "pivotlens.cli", "clwtd", "build", "--languages", "en,fr,zh,ja,de,es,ru,ko,it,pt",
                    "--up-to", "--out", str(out)], check=True)
    assert out.read_bytes() == files("pivotlens.clwtd").joinpath("data/clwtd-multi.jsonl").read_bytes()
