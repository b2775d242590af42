"""Filters that drop meaningless pivot candidates, keeping the reason each one was dropped.

The rule filter drops whitespace, punctuation/symbols, digits, one-character Latin fragments,
stopwords of the study languages (``stopwordsiso``), tokens of the item's own source or target word
(by id: every token of every tokenisation, sub-word pieces included; or by decoded string) and
other forms of those words or of the entry's English word (``variant``: " Cats" for cat).
The optional LLM filter asks an OpenAI-compatible chat endpoint which of the remaining candidates
are meaningful words related to the translation (the paper's Appendix C step).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pivotlens.errors import LlmEndpointError
from pivotlens.languages import LANGUAGE_CODES
from pivotlens.llm import ChatClient
from pivotlens.pivots.mining import Candidate
from pivotlens.text import SPACE_MARKERS, normalize_token_text
from pivotlens.words import is_variant


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    import stopwordsiso

    return frozenset(word.casefold() for lang in LANGUAGE_CODES if stopwordsiso.has_lang(lang)
                     for word in stopwordsiso.stopwords(lang))


@dataclass(frozen=True)
class ItemWordForms:
    """What an item's pivot may not be: a token of its source or target word (``token_ids``: every
    tokenisation's tokens; ``strings``: the words and their tokens' decoded texts) or another form
    of one of ``forms`` ((word, language): the source, the target, the entry's English word)."""

    token_ids: frozenset[int] = frozenset()
    strings: tuple[str, ...] = ()
    forms: tuple[tuple[str, str], ...] = ()


def rule_reason(text: str, word_strings: Iterable[str] = (), token_id: int | None = None,
                words: ItemWordForms = ItemWordForms()) -> str | None:
    """Why a candidate's decoded text (and id) is meaningless for an item, or None to keep it."""
    word = normalize_token_text(text)
    if not word:
        return "whitespace"
    # The item's own words first: a piece of them is dropped as such, whatever else it looks like.
    if token_id in words.token_ids or word in {normalize_token_text(w) for w in (*word_strings, *words.strings)}:
        return "word-token"
    if any(is_variant(text, form, language) for form, language in words.forms):
        return "variant"
    if all(unicodedata.category(char)[0] in "PSZC" for char in word):
        return "punctuation"
    if any(char.isdigit() for char in word):
        return "digits"
    if len(word) == 1 and word.isascii() and word.isalpha():
        return "latin-fragment"
    if word in stopwords():
        return "stopword"
    return None


@dataclass(frozen=True)
class FilteredCandidates:
    kept: list[Candidate]
    dropped: list[tuple[Candidate, str]]  # with the reason

    def to_json(self) -> dict:
        return {"kept": [c.__dict__ for c in self.kept],
                "dropped": [{**c.__dict__, "reason": reason} for c, reason in self.dropped]}


def apply_rule_filter(candidates: Sequence[Candidate], word_strings: Iterable[str] = (),
                      words: ItemWordForms = ItemWordForms()) -> FilteredCandidates:
    strings = list(word_strings)
    kept, dropped = [], []
    for candidate in candidates:
        reason = rule_reason(candidate.token, strings, candidate.token_id, words)
        (dropped.append((candidate, reason)) if reason else kept.append(candidate))
    return FilteredCandidates(kept, dropped)


LLM_PROMPT = (
    "A language model translates the {src} word \"{source}\" into the {tgt} word \"{target}\". "
    "Below are tokens that co-occur with both words in its training data. Keep only tokens that are "
    "meaningful words or word pieces related in meaning to this translation (in any language); drop "
    "function words, fragments without meaning, markup and unrelated words.\n"
    "Tokens (one per line, as index<TAB>token):\n{tokens}\n\n"
    "Answer with JSON only: {{\"keep\": [indices of the tokens to keep]}}"
)


def llm_filter(
    filtered: FilteredCandidates, url: str, model: str, src: str, tgt: str, source: str, target: str,
    timeout: float = 60.0,
) -> FilteredCandidates:
    """Ask an OpenAI-compatible endpoint (``{url}/chat/completions``) which kept candidates to keep."""
    if not filtered.kept:
        return filtered
    listing = "\n".join(f"{i}\t{c.token.strip(SPACE_MARKERS)}" for i, c in enumerate(filtered.kept))
    prompt = LLM_PROMPT.format(src=src, tgt=tgt, source=source, target=target, tokens=listing)
    try:
        content = ChatClient(url, model, timeout).complete(prompt, temperature=0)
        start, end = content.index("{"), content.rindex("}") + 1
        keep = {int(i) for i in json.loads(content[start:end])["keep"]}
    except LlmEndpointError as error:
        raise LlmEndpointError(f"LLM filter: {error}") from error
    except (KeyError, ValueError, TypeError) as error:
        raise LlmEndpointError(f"LLM filter at {url}: no {{\"keep\": [indices]}} in the answer ({error!r})") from error
    kept = [c for i, c in enumerate(filtered.kept) if i in keep]
    dropped = filtered.dropped + [(c, "llm") for i, c in enumerate(filtered.kept) if i not in keep]
    return FilteredCandidates(kept, dropped)
