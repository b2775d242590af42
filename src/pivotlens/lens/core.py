"""The logit lens: the residual stream after each decoder layer → the model's own final norm → its
unembedding → softmax in fp32, computed only at the positions asked for.

Layer outputs are captured with forward hooks that keep just the requested positions, so nothing of
size layers × batch × sequence × vocab is ever built; the decoder body runs without the LM head.
For the last layer this reproduces the model's own logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pivotlens.models.loading import LoadedModel


def _right_pad(sequences: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(sequence) for sequence in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, : len(sequence)] = 1
    return ids.to(device), mask.to(device)


def _pad_id(loaded: LoadedModel) -> int:
    return loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0


@torch.inference_mode()
def layer_hidden_states(
    loaded: LoadedModel, sequences: Sequence[Sequence[int]], positions: Sequence[Sequence[int]]
) -> torch.Tensor:
    """Residual stream after every decoder layer at the selected positions: [layers, n_selected, hidden],
    rows ordered by sequence, then by the order of its positions."""
    device = loaded.device
    ids, mask = _right_pad(sequences, _pad_id(loaded), device)
    rows = torch.tensor([r for r, chosen in enumerate(positions) for _ in chosen], device=device)
    columns = torch.tensor([p for chosen in positions for p in chosen], device=device)
    captured: list[torch.Tensor] = []

    def keep_selected(_module, _inputs, output):
        hidden = output[0] if isinstance(output, tuple) else output
        captured.append(hidden[rows, columns])

    handles = [layer.register_forward_hook(keep_selected) for layer in loaded.adapter.layers]
    try:
        loaded.adapter.body(input_ids=ids, attention_mask=mask)
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack(captured)


@torch.inference_mode()
def lens_probabilities(
    loaded: LoadedModel, sequences: Sequence[Sequence[int]], positions: Sequence[Sequence[int]]
) -> torch.Tensor:
    """Per-layer next-token distributions at the selected positions: [layers, n_selected, vocab], fp32."""
    hidden = layer_hidden_states(loaded, sequences, positions)
    logits = loaded.adapter.logits(loaded.adapter.final_norm(hidden))
    return torch.softmax(logits.float(), dim=-1)


@torch.inference_mode()
def lens_probabilities_all_positions(loaded: LoadedModel, sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """The unsliced lens, [layers, batch, sequence, vocab]: what the sliced one avoids (benchmark only)."""
    ids, mask = _right_pad(sequences, _pad_id(loaded), loaded.device)
    captured: list[torch.Tensor] = []

    def keep_all(_module, _inputs, output):
        captured.append(output[0] if isinstance(output, tuple) else output)

    handles = [layer.register_forward_hook(keep_all) for layer in loaded.adapter.layers]
    try:
        loaded.adapter.body(input_ids=ids, attention_mask=mask)
    finally:
        for handle in handles:
            handle.remove()
    logits = loaded.adapter.logits(loaded.adapter.final_norm(torch.stack(captured)))
    return torch.softmax(logits.float(), dim=-1)
