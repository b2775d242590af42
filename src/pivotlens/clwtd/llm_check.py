"""The paper's multiple-choice check, against an OpenAI-compatible chat endpoint (optional).

For each ordered pair (src, tgt) the model sees the target word y = word[tgt] and ten source-
language options, the source word and its 9 distractors in a seeded random order, and must name
the one that translates y. An entry is kept only when the model picks the source word for every
pair: a distractor it prefers may be a valid translation the lexicons missed."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

from pivotlens.clwtd.schema import Entry
from pivotlens.languages import LANGUAGES, all_pairs
from pivotlens.llm import ChatClient

OPTION_LETTERS = "ABCDEFGHIJ"
# An answer is a letter alone ("C", "(C)."), a letter named ("option C", "The answer is: C") or one
# that opens a sentence ("C. chat"); a capital I or A in running text is no choice.
_CHOICE_PATTERNS = (
    re.compile(r"^\W*([A-J])\W*$", re.IGNORECASE),
    re.compile(r"\b(?:option|answer|choice|letter)\s*(?:is\s*)?[:\-]?\s*\(?([A-J])\b", re.IGNORECASE),
    re.compile(r"^\s*\(?([A-J])[.):]"),
)


def parse_choice(answer: str) -> str | None:
    """The option letter an answer picks, or None when it names none unambiguously."""
    for pattern in _CHOICE_PATTERNS:
        if found := pattern.search(answer.strip()):
            return found.group(1).upper()
    return None


@dataclass(frozen=True)
class LlmValidator:
    url: str  # base URL: requests go to {url}/chat/completions
    model: str
    seed: int = 0
    timeout_s: float = 60.0

    def question(self, entry: Entry, src: str, tgt: str, rng: np.random.Generator) -> tuple[str, list[str]]:
        """The prompt for one pair and its options, in the order shown."""
        options = [entry.word[src], *entry.distractors_for(src, tgt)]
        options = [options[i] for i in rng.permutation(len(options))]
        listed = "\n".join(f"{letter}. {word}" for letter, word in zip(OPTION_LETTERS, options))
        prompt = (
            f"Which of these {LANGUAGES[src].name} words translates to the {LANGUAGES[tgt].name} word "
            f"\"{entry.word[tgt]}\"?\n\n{listed}\n\nAnswer with the letter only."
        )
        return prompt, options

    def ask(self, prompt: str) -> str:
        return ChatClient(self.url, self.model, self.timeout_s).complete(prompt, temperature=0, max_tokens=5)

    def accepts(self, entry: Entry) -> bool:
        """Whether the model picks the source word for every pair of the entry's languages (stops at
        the first miss).
        The option order depends only on the seed and the entry, not on the entries before it."""
        rng = np.random.default_rng([self.seed, zlib.crc32(entry.id.encode("utf-8"))])
        for src, tgt in all_pairs(tuple(entry.word)):
            prompt, options = self.question(entry, src, tgt, rng)
            picked = parse_choice(self.ask(prompt))
            if picked is None or options[OPTION_LETTERS.index(picked)] != entry.word[src]:
                return False
        return True
