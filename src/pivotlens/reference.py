"""Slow reference implementations that benchmarks and tests compare the library against; nothing
in the package imports this module (tests/test_layers.py checks)."""

from __future__ import annotations

import numpy as np
import torch

from pivotlens.models.loading import LoadedModel
from pivotlens.scoring.likelihood import TokenizedRequest


@torch.inference_mode()
def naive_probabilities(loaded: LoadedModel, request: TokenizedRequest) -> np.ndarray:
    """The paper's scoring: one full forward per prompt, P = exp(mean log-prob of the continuation
    tokens) read off the model's own logits."""
    probabilities = []
    for sequence, start in zip(request.sequences, request.continuation_starts):
        ids = torch.tensor([sequence], device=loaded.device)
        logits = loaded.model(input_ids=ids).logits[0, start - 1 : -1]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        probabilities.append(np.exp(float(logprobs.gather(-1, ids[0, start:, None]).mean())))
    return np.array(probabilities)
