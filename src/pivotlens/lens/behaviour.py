"""Classify a translation as co-occurrence or semantic-pivot behaviour (docs/design.md §1.3).

t* is the token of highest probability over all layers at the first target-predicting position.
If t* is one of the input word's or the output word's tokens — same id, or the same decoded string
once leading-space markers (▁, Ġ, spaces) are stripped, NFKC applied and case folded — the
behaviour is co-occurrence; otherwise it is semantic pivot, and t* is the pivot. Ties go to the
earliest layer, then the lowest token id.

Two documented departures are options: ``first_layer`` limits the search to layers ≥ it (the paper,
on OLMo-7B, searches all layers; on small tied-embedding models the lowest layers put probability
≈ 1 on the input token or on junk, see README), and ``eligible`` masks tokens that may not be t*
(by default whitespace-only tokens and the tokenizer's special tokens, which carry no meaning:
Qwen2.5-Coder's middle layers put p ≈ 0.9 on ``<|fim_middle|>`` for some words).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from pivotlens.records import CO_OCCURRENCE, SEMANTIC_PIVOT
from pivotlens.text import normalize_token_text


@dataclass(frozen=True)
class Behaviour:
    kind: str  # CO_OCCURRENCE or SEMANTIC_PIVOT
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


def classify(
    layer_probabilities: torch.Tensor,
    word_token_ids: Iterable[int],
    decode: Callable[[int], str],
    first_layer: int = 1,
    ineligible: torch.Tensor | None = None,
) -> Behaviour:
    """``layer_probabilities``: [layers, vocab] at the first target-predicting position;
    ``word_token_ids``: tokens of the input and the output word; ``first_layer`` (1-based): the
    lowest layer searched for t*; ``ineligible``: [vocab] mask of tokens that cannot be t*."""
    n_layers, n_vocab = layer_probabilities.shape[-2], layer_probabilities.shape[-1]
    if not 1 <= first_layer <= n_layers:
        raise ValueError(f"first_layer must be in 1..{n_layers}, got {first_layer}")
    searched = layer_probabilities[first_layer - 1 :]
    if ineligible is not None:
        searched = searched.masked_fill(ineligible[: searched.shape[-1]].to(searched.device), -1.0)
    flat = int(torch.argmax(searched.reshape(-1)))  # first maximum: earliest layer, lowest id
    layer, token_id = divmod(flat, n_vocab)
    layer += first_layer - 1
    word_ids = set(word_token_ids)
    word_strings = {normalize_token_text(decode(i)) for i in word_ids} - {""}
    token = decode(token_id)
    same = token_id in word_ids or normalize_token_text(token) in word_strings
    return Behaviour(
        kind=CO_OCCURRENCE if same else SEMANTIC_PIVOT,
        token_id=token_id,
        token=token,
        peak_layer=layer + 1,
        peak_probability=float(layer_probabilities[layer, token_id]),
    )
