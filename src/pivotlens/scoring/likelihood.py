"""P(continuation | prompt) = exp(−mean token NLL of the continuation).

A *request* is one item under one shot draw: K prompts that differ only in the source word (the
real one and its distractors) followed by the same continuation. The paper runs one full forward
per prompt (``pivotlens.reference.naive_probabilities``); ``cached_probabilities`` encodes the token prefix the K
prompts share once, repeats its KV cache K times, runs only the K short suffixes, and unembeds only
the positions that predict continuation tokens; it batches many requests per forward.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pivotlens.batching import right_pad
from pivotlens.errors import ModelError
from pivotlens.models.loading import LoadedModel


@dataclass(frozen=True)
class TokenizedRequest:
    sequences: tuple[tuple[int, ...], ...]  # prompt + continuation, tokenised jointly
    continuation_starts: tuple[int, ...]  # index of each sequence's first continuation token

    def continuation_lengths(self) -> tuple[int, ...]:
        """Tokens scored per sequence: the denominator of the mean token NLL."""
        return tuple(len(sequence) - start for sequence, start in zip(self.sequences, self.continuation_starts))

    def shared_prefix_length(self) -> int:
        """Tokens all sequences share, stopping before the first position that predicts a
        continuation token (those positions must be in the suffix pass)."""
        limit = min(self.continuation_starts) - 1
        length = 0
        first = self.sequences[0]
        while length < limit and all(seq[length] == first[length] for seq in self.sequences[1:]):
            length += 1
        return length


def tokenize_request(tokenizer, prompts: Sequence[str], continuation: str) -> TokenizedRequest:
    """Tokenise each prompt+continuation jointly; continuation tokens are those that end past the
    prompt's last character (a token straddling the boundary counts as continuation)."""
    if not tokenizer.is_fast:
        raise ModelError("scoring needs a fast (Rust) tokenizer for character offsets")
    sequences, starts = [], []
    encoded = tokenizer([prompt + continuation for prompt in prompts], return_offsets_mapping=True)  # one batch call
    for prompt, ids, offsets in zip(prompts, encoded["input_ids"], encoded["offset_mapping"]):
        boundary = len(prompt)
        start = next((i for i, (_, end) in enumerate(offsets) if end > boundary), None)
        if start is None or start == 0:
            raise ModelError(f"could not locate continuation {continuation!r} in the tokenised prompt")
        sequences.append(tuple(ids))
        starts.append(start)
    return TokenizedRequest(tuple(sequences), tuple(starts))


def _accepts_position_ids(body: torch.nn.Module) -> bool:
    return "position_ids" in inspect.signature(body.forward).parameters


@torch.inference_mode()
def cached_probabilities(loaded: LoadedModel, requests: Sequence[TokenizedRequest]) -> list[np.ndarray]:
    """Score a batch of requests with one prefix pass and one suffix pass.

    Prefixes and suffixes are right-padded, so no query row is ever fully masked; the suffix's
    position ids continue each row's own prefix length, and the attention mask hides the padding
    columns of the prefix cache. BLOOM takes no position ids: its ALiBi positions come from the
    mask's cumulative sum, which gives the same numbers.
    """
    k = len(requests[0].sequences)
    if any(len(request.sequences) != k for request in requests):
        raise ValueError("all requests in a batch must have the same number of prompts")
    body, device = loaded.adapter.body, loaded.device
    pad_id = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0
    prefix_lengths = [request.shared_prefix_length() for request in requests]
    if min(prefix_lengths) < 1:
        raise ValueError("prompts of a request share no prefix token")
    with_positions = _accepts_position_ids(body)

    prefix_ids, prefix_mask = right_pad(
        [request.sequences[0][:length] for request, length in zip(requests, prefix_lengths)], pad_id, device
    )
    prefix_kwargs = {"position_ids": torch.arange(prefix_ids.shape[1], device=device).expand_as(prefix_ids)}
    cache = body(
        input_ids=prefix_ids, attention_mask=prefix_mask, use_cache=True,
        **(prefix_kwargs if with_positions else {}),
    ).past_key_values
    cache.batch_repeat_interleave(k)

    suffixes = [seq[length:] for request, length in zip(requests, prefix_lengths) for seq in request.sequences]
    suffix_ids, suffix_mask = right_pad(suffixes, pad_id, device)
    row_prefix = torch.tensor([length for length in prefix_lengths for _ in range(k)], device=device)
    suffix_kwargs = {"position_ids": row_prefix[:, None] + torch.arange(suffix_ids.shape[1], device=device)}
    with warnings.catch_warnings():
        # transformers 5.23–5.39 deprecates past_key_values for `cache=`, which it silently ignores
        # (scores change); pyproject pins transformers < 5.40, so the warning is noise to users.
        warnings.filterwarnings("ignore", message="`past_key_values` is deprecated", category=FutureWarning)
        hidden = body(
            input_ids=suffix_ids,
            attention_mask=torch.cat([prefix_mask.repeat_interleave(k, dim=0), suffix_mask], dim=1),
            past_key_values=cache, use_cache=True,
            **(suffix_kwargs if with_positions else {}),
        ).last_hidden_state

    # Gather only the positions that predict continuation tokens, then unembed those.
    rows, columns, targets = [], [], []
    row = 0
    for request, length in zip(requests, prefix_lengths):
        for sequence, start, n in zip(request.sequences, request.continuation_starts, request.continuation_lengths()):
            rows += [row] * n
            columns += range(start - 1 - length, len(sequence) - 1 - length)
            targets += sequence[start:]
            row += 1
    logits = loaded.adapter.logits(hidden[torch.tensor(rows, device=device), torch.tensor(columns, device=device)])
    token_logprobs = torch.log_softmax(logits.float(), dim=-1).gather(
        -1, torch.tensor(targets, device=device)[:, None]
    )[:, 0]
    owners = torch.tensor(rows, device=device)
    sums = torch.zeros(row, device=device).index_add_(0, owners, token_logprobs)
    counts = torch.bincount(owners, minlength=row)
    probabilities = torch.exp(sums / counts).cpu().numpy()
    return [probabilities[i * k : (i + 1) * k] for i in range(len(requests))]
