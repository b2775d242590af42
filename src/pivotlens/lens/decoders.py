"""How the lens reads a layer: the decoder that turns a residual stream into a next-token distribution.

* ``logit`` — the logit lens: the model's own final norm and unembedding applied to every layer.
* ``tuned:DIR`` — the tuned lens (Belrose et al., 2023): before the final norm, layer ℓ's residual
  stream h goes through an affine translator h ↦ h + W_ℓ h + b_ℓ trained so that the decoded
  distribution matches the model's final one (``pivotlens lens train-tuned``). W and b start at
  zero, so an untrained translator is the logit lens exactly; the last layer has none (it already
  is the model's output).

A tuned decoder directory holds ``translators.safetensors`` and ``tuned_lens.json`` (the model it
was trained for: sha256, architecture, hidden size, layers; the training settings). Loading it for
another model is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from pivotlens.artifacts import file_sha256, write_json_atomic
from pivotlens.errors import ConfigError, ModelError
from pivotlens.models.loading import LoadedModel
from pivotlens.models.registry import model_sha256

LOGIT = "logit"
TUNED_PREFIX = "tuned:"
TRANSLATORS_FILE = "translators.safetensors"
TUNED_CONFIG_FILE = "tuned_lens.json"


def tuned_directory(spec: str) -> Path | None:
    """The directory of a ``tuned:DIR`` spec, None for ``logit``; anything else is an error."""
    if spec == LOGIT:
        return None
    if spec.startswith(TUNED_PREFIX) and spec[len(TUNED_PREFIX):].strip():
        return Path(spec[len(TUNED_PREFIX):]).expanduser()
    raise ConfigError(f"decoder {spec!r}: give 'logit' or 'tuned:DIR' (a directory from `pivotlens lens train-tuned`)")


def decoder_identity(spec: str) -> dict:
    """What a decoder is, by content, for manifests and stage fingerprints: a retrained tuned lens at
    the same path is a different decoder."""
    directory = tuned_directory(spec)
    if directory is None:
        return {"decoder": LOGIT}
    weights = directory / TRANSLATORS_FILE
    if not weights.is_file():
        raise ConfigError(f"decoder {spec!r}: {weights} is missing; train it with `pivotlens lens train-tuned`")
    return {"decoder": "tuned", "path": str(directory), "sha256": file_sha256(weights)}


def model_description(loaded: LoadedModel) -> dict:
    """What a tuned lens must match: the model by content, its class, hidden size and layer count."""
    config = loaded.model.config.get_text_config()
    return {"model": loaded.name, "model_sha256": model_sha256(loaded.name),
            "architecture": type(loaded.model).__name__, "hidden_size": int(config.hidden_size),
            "layers": len(loaded.adapter.layers)}


class Translators(nn.Module):
    """One affine translator per layer below the last, added residually (h + W h + b, as the
    tuned-lens package does, so that weight decay pulls towards the identity), zero-initialised."""

    def __init__(self, layers: int, hidden_size: int) -> None:
        super().__init__()
        self.translators = nn.ModuleList(nn.Linear(hidden_size, hidden_size) for _ in range(layers - 1))
        for translator in self.translators:
            nn.init.zeros_(translator.weight)
            nn.init.zeros_(translator.bias)

    def translate(self, hidden: torch.Tensor, layer: int) -> torch.Tensor:
        """``hidden``: [..., hidden] of 0-based ``layer``; the last layer passes unchanged."""
        if layer == len(self.translators):
            return hidden
        return hidden + self.translators[layer](hidden)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``hidden``: [layers, ..., hidden], every layer translated."""
        return torch.stack([self.translate(hidden[layer], layer) for layer in range(len(hidden))])


@dataclass(frozen=True)
class Decoder:
    """A lens decoder: ``translators`` None is the logit lens."""

    spec: str = LOGIT
    translators: Translators | None = None

    def decoded_logits(self, loaded: LoadedModel, hidden: torch.Tensor) -> torch.Tensor:
        """Logits of [layers, ..., hidden] residual streams, in the model's dtype."""
        if self.translators is not None:
            hidden = self.translators(hidden)
        return loaded.adapter.logits(loaded.adapter.final_norm(hidden))

    def layer_logits(self, loaded: LoadedModel, hidden: torch.Tensor, layer: int) -> torch.Tensor:
        """Logits of [..., hidden] residual streams of one 0-based layer."""
        if self.translators is not None:
            hidden = self.translators.translate(hidden, layer)
        return loaded.adapter.logits(loaded.adapter.final_norm(hidden))

    def probabilities(self, loaded: LoadedModel, hidden: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.decoded_logits(loaded, hidden).float(), dim=-1)


LOGIT_LENS = Decoder()


def save_translators(translators: Translators, directory: Path, description: dict) -> None:
    """The weights, then the description that says which model they belong to."""
    directory.mkdir(parents=True, exist_ok=True)
    weights = {name: tensor.detach().float().cpu().contiguous() for name, tensor in translators.state_dict().items()}
    save_file(weights, str(directory / f"{TRANSLATORS_FILE}.tmp"))
    (directory / f"{TRANSLATORS_FILE}.tmp").replace(directory / TRANSLATORS_FILE)
    write_json_atomic(directory / TUNED_CONFIG_FILE, description)


def load_decoder(spec: str, loaded: LoadedModel) -> Decoder:
    """The decoder named by ``spec`` for ``loaded``; a tuned lens trained for another model (other
    weights, class, hidden size or depth) is refused."""
    directory = tuned_directory(spec)
    if directory is None:
        return LOGIT_LENS
    decoder_identity(spec)  # the weights are there
    description_path = directory / TUNED_CONFIG_FILE
    try:
        trained_for = json.loads(description_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"decoder {spec!r}: cannot read {description_path} ({error})") from None
    model = model_description(loaded)
    differing = [key for key in ("model_sha256", "architecture", "hidden_size", "layers")
                 if trained_for.get(key) != model[key]]
    if differing:
        details = "; ".join(f"{key}: trained for {trained_for.get(key)!r}, this model has {model[key]!r}"
                            for key in differing)
        raise ModelError(f"decoder {spec!r} was trained for {trained_for.get('model')!r}, not for {loaded.name!r} "
                         f"({details}); train one for this model with `pivotlens lens train-tuned`")
    translators = Translators(model["layers"], model["hidden_size"])
    translators.load_state_dict(load_file(str(directory / TRANSLATORS_FILE)))
    parameter = next(loaded.model.parameters())
    translators.to(device=parameter.device, dtype=parameter.dtype).eval().requires_grad_(False)
    return Decoder(spec, translators)
