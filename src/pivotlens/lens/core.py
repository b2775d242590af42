"""The lens: the residual stream after each decoder layer → the decoder (by default the logit lens:
the model's own final norm → its unembedding; see decoders.py) → softmax in fp32, computed only at
the positions asked for.

Layer outputs are captured with forward hooks that keep just the requested positions, so nothing of
size layers × batch × sequence × vocab is ever built; the decoder body runs without the LM head.
For the last layer this reproduces the model's own logits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from pivotlens.batching import right_pad
from pivotlens.lens.decoders import LOGIT_LENS, Decoder
from pivotlens.models.loading import LoadedModel


def _pad_id(loaded: LoadedModel) -> int:
    return loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0


def _layer_outputs(
    loaded: LoadedModel, sequences: Sequence[Sequence[int]], keep: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Run the decoder body (no LM head) and stack ``keep(output)`` of every decoder layer."""
    loaded.check_fits(sequences, "a lens prompt")
    ids, mask = right_pad(sequences, _pad_id(loaded), loaded.device)
    captured: list[torch.Tensor] = []

    def hook(_module, _inputs, output):
        captured.append(keep(output[0] if isinstance(output, tuple) else output))

    handles = [layer.register_forward_hook(hook) for layer in loaded.adapter.layers]
    try:
        loaded.adapter.body(input_ids=ids, attention_mask=mask)
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack(captured)


@torch.inference_mode()
def layer_hidden_states(
    loaded: LoadedModel, sequences: Sequence[Sequence[int]], positions: Sequence[Sequence[int]]
) -> torch.Tensor:
    """Residual stream after every decoder layer at the selected positions: [layers, n_selected, hidden],
    rows ordered by sequence, then by the order of its positions."""
    device = loaded.device
    rows = torch.tensor([r for r, chosen in enumerate(positions) for _ in chosen], device=device)
    columns = torch.tensor([p for chosen in positions for p in chosen], device=device)
    return _layer_outputs(loaded, sequences, lambda hidden: hidden[rows, columns])


@torch.inference_mode()
def lens_probabilities(
    loaded: LoadedModel, sequences: Sequence[Sequence[int]], positions: Sequence[Sequence[int]],
    decoder: Decoder = LOGIT_LENS,
) -> torch.Tensor:
    """Per-layer next-token distributions at the selected positions: [layers, n_selected, vocab], fp32."""
    return decoder.probabilities(loaded, layer_hidden_states(loaded, sequences, positions))


@torch.inference_mode()
def lens_probabilities_all_positions(loaded: LoadedModel, sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """The unsliced logit lens, [layers, batch, sequence, vocab]: what the sliced one avoids (benchmark only)."""
    return LOGIT_LENS.probabilities(loaded, _layer_outputs(loaded, sequences, lambda hidden: hidden))
