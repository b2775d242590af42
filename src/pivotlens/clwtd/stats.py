"""Dataset-level checks and statistics of a CLWTD dataset (beyond the per-line schema)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from statistics import mean
from typing import Any

from pivotlens.clwtd.builder import is_single_word
from pivotlens.clwtd.schema import Dataset
from pivotlens.languages import LANGUAGES, pair_key


def dataset_problems(dataset: Dataset) -> list[str]:
    """What the builder guarantees and a hand-made file may break: each word in the right script
    as one word, each language's words used by one entry, distractors in the source language."""
    problems: list[str] = []
    first_entry_of: dict[tuple[str, str], str] = {}
    for entry in dataset.entries:
        for lang in dataset.languages:
            word = entry.word[lang]
            if not is_single_word(word, lang):
                problems.append(f"{entry.id}: word[{lang}] {word!r} is not a single {lang} word")
            if (lang, word) in first_entry_of:
                problems.append(f"{entry.id}: word[{lang}] {word!r} is also the word of {first_entry_of[(lang, word)]!r}")
            first_entry_of.setdefault((lang, word), entry.id)
        for src, tgt in dataset.pairs:
            wrong = [word for word in entry.distractors_for(src, tgt) if not is_single_word(word, src)]
            if wrong:
                problems.append(f"{entry.id}: distractors[{pair_key(src, tgt)}] not single {src} words: {', '.join(wrong)}")
    return problems


VOWELS = frozenset("aeiouyàâäéèêëîïôöùûüÿœæ")


def suspicious_entries(dataset: Dataset) -> list[tuple[str, str]]:
    """Entries for a person to review, ``(id, reason)``: Latin-script words that look like
    abbreviations (no vowel: km, mg) or that are two letters or fewer where another Latin-script
    language (the first two compare with each other, the rest with the first) needs five or more (s
    for seconde, ag for silver). A lexicon picks such lemmas when its synset lists an abbreviation or
    a rare sense; the rules flag, they do not prove a word wrong."""
    flagged = []
    latin = [lang for lang in dataset.languages if LANGUAGES[lang].script == "latin"]
    if len(latin) < 2:
        return flagged
    for entry in dataset.entries:
        for lang in latin:
            word = entry.word[lang]
            other = entry.word[latin[1] if lang == latin[0] else latin[0]]
            if not VOWELS.intersection(word.lower()):
                flagged.append((entry.id, f"word[{lang}] {word!r} has no vowel (an abbreviation?)"))
            elif len(word) <= 2 and len(other) >= 5:
                flagged.append((entry.id, f"word[{lang}] {word!r} is short for {other!r} (an abbreviation or rare sense?)"))
    return flagged


def dataset_stats(dataset: Dataset, word_length: Callable[[str], int] | None = None) -> dict[str, Any]:
    """POS mix, mean word and distractor length per language (``word_length``, e.g. a token
    count; characters when None) and the mix of distractor relations recorded by the builder."""
    length = word_length or len
    per_language = {}
    for lang in dataset.languages:
        distractors = {word for entry in dataset.entries for src, tgt in dataset.pairs if src == lang
                       for word in entry.distractors_for(src, tgt)}
        per_language[lang] = {
            "mean_word_length": round(mean(length(entry.word[lang]) for entry in dataset.entries), 3),
            "mean_distractor_length": round(mean(length(word) for word in distractors), 3),
            "distinct_distractors": len(distractors),
        }
    relations: Counter[str] = Counter()
    for entry in dataset.entries:
        recorded = (entry.meta or {}).get("distractor_relations", {})
        for src, tgt in dataset.pairs:
            relations.update(recorded.get(src, {}).get(word, "unrecorded") for word in entry.distractors_for(src, tgt))
    total = sum(relations.values())
    return {
        "entries": len(dataset),
        "pos": dict(Counter(entry.pos for entry in dataset.entries).most_common()),
        "length_unit": "tokens" if word_length else "characters",
        "languages": per_language,
        "relations": {relation: round(count / total, 4) for relation, count in relations.most_common()},
    }
