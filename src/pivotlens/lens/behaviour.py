"""Label a translation as co-occurrence, semantic-pivot or variant behaviour (docs/design.md §1.3).

t* is the token of highest probability over the layers searched at the first target-predicting
position. It is co-occurrence when t* is a token of the input word or of the output word — same
id, or the same decoded string once leading-space markers (▁, Ġ, spaces) are stripped, NFKC
applied and case folded. What the output word is, is the **output rule**:

- ``model`` (default; the authors' scripts, ``logit/logit_lens.py``): the model's own answer, its
  final-layer top-1 token (``answer``: the top non-whitespace token when the top-1 is a bare
  space). When that is the gold target's first token the model is writing the target, so every
  token of the target counts; a confidently wrong answer is the output word, not a "pivot".
- ``gold``: the dataset's target word, every tokenisation and piece of it.
- ``either``: both.

A t* that is not co-occurrence but another form of the source, the target or the entry's English
word (" Cats" for cat; ``words.is_variant``) is ``variant``; the rest is semantic pivot, t* the pivot.
Ties go to the earliest layer, then the lowest token id.

Documented departures, as options: ``first_layer`` limits the search to layers ≥ it (the paper,
on OLMo-7B, searches all layers; on small tied-embedding models the lowest layers put probability
≈ 1 on the input token or on junk), and ``ineligible`` masks tokens that may not be t* (by default
whitespace-only and special tokens: Qwen2.5-Coder's middle layers put p ≈ 0.9 on
``<|fim_middle|>`` for some words).

Everything a label needs is kept per item in a ``LensReadout`` (per layer the most probable
eligible token and its relation to the item's words, and the model's answer), so an item is
relabelled under another rule or first layer without the model (``label``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from pivotlens.languages import ENGLISH
from pivotlens.records import CO_OCCURRENCE, SEMANTIC_PIVOT, SOURCE, TARGET, VARIANT, LensReadout
from pivotlens.text import normalize_token_text
from pivotlens.words import first_token_ids, is_variant, word_token_ids


@dataclass(frozen=True)
class Behaviour:
    kind: str  # CO_OCCURRENCE, SEMANTIC_PIVOT or VARIANT
    token_id: int  # t*
    token: str  # t* decoded
    peak_layer: int  # 1-based: layer ℓ is the residual stream after decoder layer ℓ
    peak_probability: float


def meaningless_tokens(tokenizer) -> torch.Tensor:
    """Boolean mask over the vocabulary: tokens whose text is only spaces/markers (or empty), and
    special tokens (BOS/EOS/PAD and added control tokens such as ``<|fim_middle|>``)."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    mask = torch.tensor([not normalize_token_text(tokenizer.convert_tokens_to_string([t])) for t in tokens])
    special = set(tokenizer.all_special_ids)
    special |= {i for i, added in tokenizer.added_tokens_decoder.items() if added.special}
    mask[[i for i in special if 0 <= i < len(mask)]] = True
    return mask


@dataclass(frozen=True)
class TokenSet:
    """Token ids and their normalised decoded strings: a token matches by id or by string."""

    ids: frozenset[int]
    strings: frozenset[str]

    @classmethod
    def of(cls, ids, decode: Callable[[int], str]) -> TokenSet:
        return cls(frozenset(ids), frozenset(normalize_token_text(decode(i)) for i in ids) - {""})

    def matches(self, token_id: int, text: str) -> bool:
        return token_id in self.ids or normalize_token_text(text) in self.strings


@dataclass(frozen=True)
class ItemWords:
    """The words an item's lens tokens are compared with: the source and the target (every
    tokenisation's tokens), the words whose other forms are variants (source, target, English),
    each other study language's word for the entry, and the gold target's first token(s)."""

    source: TokenSet
    target: TokenSet
    target_first_ids: frozenset[int]
    forms: tuple[tuple[str, str], ...]  # (word, language)
    others: tuple[tuple[str, TokenSet], ...]  # (language, tokens of the entry's word in it)

    @classmethod
    def of(cls, tokenizer, words: Mapping[str, str], src: str, tgt: str, prompt_source_ids: Sequence[int] = (),
           prompt_target_ids: Sequence[int] = ()) -> ItemWords:
        """``words``: the entry's word per study language (at least ``src`` and ``tgt``); the prompt
        ids: the words' tokens as they appear in a prompt, the target's from its first visible token."""
        decode = _decode(tokenizer)
        source = TokenSet.of(word_token_ids(tokenizer, words[src]) | set(prompt_source_ids), decode)
        target = TokenSet.of(word_token_ids(tokenizer, words[tgt]) | set(prompt_target_ids), decode)
        forms = tuple((words[code], code) for code in dict.fromkeys((src, tgt, ENGLISH)) if code in words)
        others = tuple((code, TokenSet.of(word_token_ids(tokenizer, word), decode))
                       for code, word in words.items() if code not in (src, tgt))
        return cls(source, target, frozenset(first_token_ids(tokenizer, words[tgt]) | set(prompt_target_ids[:1])),
                   forms, others)

    def relation(self, token_id: int, text: str) -> str | None:
        if self.source.matches(token_id, text):
            return SOURCE
        if self.target.matches(token_id, text):
            return TARGET
        if any(is_variant(text, word, language) for word, language in self.forms):
            return VARIANT
        return next((code for code, tokens in self.others if tokens.matches(token_id, text)), None)


def _decode(tokenizer) -> Callable[[int], str]:
    return lambda token_id: tokenizer.decode([token_id])


def read_lens(
    layer_probabilities: torch.Tensor, words: ItemWords, decode: Callable[[int], str],
    ineligible: torch.Tensor | None = None, language_first_ids: Mapping[str, Sequence[int]] | None = None,
    draw: int = 0,
) -> LensReadout:
    """The readout of ``layer_probabilities`` ([layers, vocab], one position): per layer the most
    probable eligible token (``ineligible``: [vocab] mask) and its relation, the model's answer,
    P(``language_first_ids[code]``) per layer, the entropy per layer."""
    probabilities = layer_probabilities.float()
    searched = probabilities
    if ineligible is not None:
        searched = probabilities.masked_fill(ineligible[: probabilities.shape[-1]].to(probabilities.device), -1.0)
    top = searched.max(dim=-1)  # first maximum: the lowest id
    top_ids = [int(i) for i in top.indices]
    top_tokens = [decode(i) for i in top_ids]
    output_p, output_id = (float(v) for v in probabilities[-1].max(dim=-1))
    output_id = int(output_id)
    logs = torch.log2(probabilities.clamp_min(torch.finfo(torch.float32).tiny))
    entropy = -(probabilities * logs).sum(dim=-1)
    languages = {code: tuple(float(p) for p in probabilities[:, sorted(set(ids))].sum(dim=-1))
                 for code, ids in (language_first_ids or {}).items()}
    return LensReadout(
        draw=draw, layer_top_ids=tuple(top_ids), layer_top_tokens=tuple(top_tokens),
        layer_top_probabilities=tuple(float(p) for p in top.values),
        layer_top_relations=tuple(words.relation(i, t) for i, t in zip(top_ids, top_tokens)),
        output_token_id=output_id, output_token=decode(output_id), output_probability=output_p,
        output_is_target=output_id in words.target_first_ids,
        language_probability_by_layer=languages, entropy_by_layer=tuple(float(h) for h in entropy),
    )


def peak(readout: LensReadout, first_layer: int) -> int:
    """0-based layer of t*: the highest per-layer top probability from ``first_layer`` (1-based) up,
    the earliest on ties."""
    if not 1 <= first_layer <= readout.n_layers:
        raise ValueError(f"first_layer must be in 1..{readout.n_layers}, got {first_layer}")
    searched = readout.layer_top_probabilities[first_layer - 1 :]
    return first_layer - 1 + max(range(len(searched)), key=lambda i: (searched[i], -i))


def answer(readout: LensReadout) -> tuple[int, str, bool]:
    """The model's answer (id, text, whether it is the target's first token): its final-layer top-1;
    when that is only whitespace (Gemma often writes a bare space before a CJK word), the final
    layer's most probable token that may be t*, which is the target's when it is a target token."""
    if normalize_token_text(readout.output_token):
        return readout.output_token_id, readout.output_token, readout.output_is_target
    return readout.layer_top_ids[-1], readout.layer_top_tokens[-1], readout.layer_top_relations[-1] == TARGET


def is_output(readout: LensReadout, layer: int, rule: str) -> bool:
    """Whether the top token of ``layer`` (0-based) is the input or the output word under ``rule``."""
    relation = readout.layer_top_relations[layer]
    if relation == SOURCE:
        return True
    token_id, text = readout.layer_top_ids[layer], readout.layer_top_tokens[layer]
    answer_id, answer_text, answer_is_target = answer(readout)
    is_answer = token_id == answer_id or normalize_token_text(text) == normalize_token_text(answer_text) != ""
    if rule == "gold":
        return relation == TARGET
    if rule == "model":
        return is_answer or (answer_is_target and relation == TARGET)
    if rule == "either":
        return is_answer or relation == TARGET
    raise ValueError(f"output rule must be model, gold or either, got {rule!r}")


def label(readout: LensReadout, rule: str = "model", first_layer: int = 1) -> Behaviour:
    """The behaviour of an item from its readout, under an output rule and a lowest searched layer."""
    layer = peak(readout, first_layer)
    if is_output(readout, layer, rule):
        kind = CO_OCCURRENCE
    else:
        kind = VARIANT if readout.layer_top_relations[layer] == VARIANT else SEMANTIC_PIVOT
    return Behaviour(kind, readout.layer_top_ids[layer], readout.layer_top_tokens[layer], layer + 1,
                     readout.layer_top_probabilities[layer])
