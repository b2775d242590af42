"""The paper's 5-shot word-translation prompt (docs/design.md §1.2), byte for byte."""

from __future__ import annotations

from collections.abc import Sequence

from pivotlens.languages import LANGUAGES


def build_prompt(src: str, tgt: str, shots: Sequence[tuple[str, str]], source_word: str) -> str:
    """``"Please translate words from {SRC} to {TGT}.\\n\\n" + shots + "{SRC}: {x}\\n{TGT}:"``."""
    src_name, tgt_name = LANGUAGES[src].name, LANGUAGES[tgt].name
    shot_text = "".join(f"{src_name}: {a}\n{tgt_name}: {b}\n\n" for a, b in shots)
    return f"Please translate words from {src_name} to {tgt_name}.\n\n{shot_text}{src_name}: {source_word}\n{tgt_name}:"


def continuation(target_word: str) -> str:
    """The scored continuation: the target word after one space."""
    return f" {target_word}"
