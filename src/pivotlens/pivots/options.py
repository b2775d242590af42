"""The user-facing mining options: the `pivots` section of a study and the flags of
`pivotlens pivots mine` (free of torch so that the CLI parser can read them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pivotlens.engine import MiningEngine
from pivotlens.options import option


@dataclass(frozen=True)
class MineOptions:
    engine: MiningEngine = option("local", "local: texts from --corpus (the counted one); infinigram-api: documents "
                                           "sampled through the hosted API (--index NAME)")
    documents: int = option(2000, "N documents per word (D_s, D_t)")
    background: int = option(2000, "random background documents")
    top: int = option(50, "candidates kept per item before filtering")
    frequency: Literal["document", "occurrence"] = option("document", "count a token once per document or per occurrence")
    llm_url: str | None = option(None, "OpenAI-compatible endpoint for the optional LLM filter (key from $OPENAI_API_KEY)")
    llm_model: str = option("gpt-4o-mini", "model of the LLM filter")
