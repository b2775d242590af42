"""Per-architecture access to a causal LM's decoder body, layers, final norm and unembedding.

The logit lens and the prefix-cached scorer need the pieces a ``*ForCausalLM`` hides: the decoder
body (embeddings + layers + final norm, returns hidden states and the KV cache), the list of decoder
layers, the final norm, and the unembedding. Where they live differs by architecture, so the table
below names them explicitly, keyed by model class.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pivotlens.errors import UnsupportedArchitectureError


@dataclass(frozen=True)
class ArchitecturePaths:
    body: str
    layers: str
    final_norm: str
    unembedding: str


_LLAMA_LIKE = ArchitecturePaths("model", "model.layers", "model.norm", "lm_head")
_GPT2_LIKE = ArchitecturePaths("transformer", "transformer.h", "transformer.ln_f", "lm_head")

ARCHITECTURES: dict[str, ArchitecturePaths] = {
    "LlamaForCausalLM": _LLAMA_LIKE,
    "Qwen2ForCausalLM": _LLAMA_LIKE,
    "Qwen3ForCausalLM": _LLAMA_LIKE,
    "OlmoForCausalLM": _LLAMA_LIKE,
    "Olmo2ForCausalLM": _LLAMA_LIKE,
    "GemmaForCausalLM": _LLAMA_LIKE,
    "Gemma2ForCausalLM": _LLAMA_LIKE,
    "Gemma3ForCausalLM": _LLAMA_LIKE,
    "GPT2LMHeadModel": _GPT2_LIKE,
    "BloomForCausalLM": _GPT2_LIKE,
    "GPTNeoXForCausalLM": ArchitecturePaths(
        "gpt_neox", "gpt_neox.layers", "gpt_neox.final_layer_norm", "lm_head"
    ),
}


def _resolve(model: nn.Module, path: str, role: str) -> nn.Module:
    obj: object = model
    for attribute in path.split("."):
        if not hasattr(obj, attribute):
            raise UnsupportedArchitectureError(
                f"{type(model).__name__}: the {role} is expected at '{path}' but '{attribute}' "
                "is missing; the architecture table in pivotlens/models/adapters.py does not "
                "match this model"
            )
        obj = getattr(obj, attribute)
    assert isinstance(obj, nn.Module)
    return obj


@dataclass(frozen=True)
class ModelAdapter:
    """The named parts of one loaded model, and the unembedding as the model applies it."""

    model: nn.Module
    body: nn.Module
    layers: nn.ModuleList
    final_norm: nn.Module
    unembedding: nn.Module
    logit_softcap: float | None

    @classmethod
    def for_model(cls, model: nn.Module) -> ModelAdapter:
        name = type(model).__name__
        paths = ARCHITECTURES.get(name)
        if paths is None:
            raise UnsupportedArchitectureError(
                f"unsupported model class {name}: pivotlens needs to know where its decoder body, "
                "decoder layers, final norm and unembedding live, and has no entry for it. "
                f"Supported: {', '.join(sorted(ARCHITECTURES))}. Add an entry to ARCHITECTURES "
                "in pivotlens/models/adapters.py."
            )
        layers = _resolve(model, paths.layers, "decoder layer list")
        if not isinstance(layers, nn.ModuleList):
            raise UnsupportedArchitectureError(f"{name}: '{paths.layers}' is not a ModuleList")
        config = getattr(model, "config", None)
        return cls(
            model=model,
            body=_resolve(model, paths.body, "decoder body"),
            layers=layers,
            final_norm=_resolve(model, paths.final_norm, "final norm"),
            unembedding=_resolve(model, paths.unembedding, "unembedding"),
            logit_softcap=getattr(config, "final_logit_softcapping", None),
        )

    def logits(self, normed_hidden: torch.Tensor) -> torch.Tensor:
        """Apply the unembedding (and Gemma-2-style soft-capping) to final-normed hidden states."""
        logits = self.unembedding(normed_hidden)
        if self.logit_softcap:
            logits = torch.tanh(logits / self.logit_softcap) * self.logit_softcap
        return logits
