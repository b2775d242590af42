"""A word's tokens and its other forms, one rule for the lens labels and the pivot filters.

``word_token_ids``: every token of every tokenisation of a word (with and without the leading
space), so the sub-word pieces of a multi-token word count as the word's tokens. ``is_variant``:
a token that spells an inflection or another form of the word without being one of its tokens
(" Cats" for cat, "disorder" for disorderly, 猫の for 猫): case is already folded by
``normalize_token_text``; Latin-script words compare by Snowball stem (the stemmer named after the
language, when Snowball has one) or by a short suffix; words of other scripts by containment.
"""

from __future__ import annotations

from functools import cache

from pivotlens.languages import LANGUAGES
from pivotlens.text import normalize_token_text

MAX_SUFFIX = 3  # cat → cats, catch → catches, walk → walked: longer endings make other words
MIN_STEM = 3  # shorter words share prefixes with too many others


def word_token_ids(tokenizer, word: str) -> set[int]:
    """Every token id of ``word`` and of `` word`` (pieces included)."""
    return {i for text in (word, " " + word) for i in tokenizer(text, add_special_tokens=False)["input_ids"]}


def first_token_ids(tokenizer, word: str) -> set[int]:
    """The first visible token of each tokenisation of ``word`` (with and without the leading space):
    what a model must put probability on to start writing the word."""
    found = set()
    for text in (word, " " + word):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        visible = [i for i in ids if normalize_token_text(tokenizer.decode([i]))]
        if visible or ids:
            found.add((visible or ids)[0])
    return found


@cache
def _stemmer(language: str):
    import snowballstemmer

    name = LANGUAGES[language].name.lower()
    return snowballstemmer.stemmer(name) if name in snowballstemmer.algorithms() else None


def is_variant(token_text: str, word: str, language: str) -> bool:
    """Whether a decoded token is another form of ``word`` (a word of ``language``) than the word
    itself: its inflection, a longer or shorter spelling of it."""
    token, base = normalize_token_text(token_text), normalize_token_text(word)
    if not token or not base or token == base:
        return False
    if LANGUAGES[language].script != "latin":
        return base in token or token in base
    stemmer = _stemmer(language)
    if stemmer is not None and len(base) >= MIN_STEM and stemmer.stemWord(token) == stemmer.stemWord(base):
        return True
    longer, shorter = (token, base) if len(token) > len(base) else (base, token)
    return len(shorter) >= MIN_STEM and longer.startswith(shorter) and len(longer) - len(shorter) <= MAX_SUFFIX
