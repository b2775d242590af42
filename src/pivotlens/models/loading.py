"""Load a causal LM and its tokenizer from a packaged short name, a local directory or a hub id."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from pivotlens.errors import ModelError
from pivotlens.models.adapters import ModelAdapter
from pivotlens.models.registry import PACKAGED_MODELS, gguf_model_dir, packaged_model_dir

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class LoadedModel:
    name: str
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    adapter: ModelAdapter

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def context_length(self) -> int | None:
        """Positions the model was trained for (None when its config does not say)."""
        config = self.model.config.get_text_config()
        for key in ("max_position_embeddings", "n_positions"):
            if isinstance(value := getattr(config, key, None), int):
                return value
        return None

    def check_fits(self, sequences: Sequence[Sequence[int]], what: str) -> None:
        """A clear error instead of an IndexError (learned positions) or silent garbage (rotary ones
        past their range) when an input is longer than the model's context."""
        longest = max(map(len, sequences), default=0)
        if self.context_length is not None and longest > self.context_length:
            raise ModelError(f"{what} is {longest} tokens, beyond the {self.context_length}-token context of "
                             f"{self.name}: shorten it (fewer shots, shorter words or documents)")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for but no CUDA GPU is visible; use cpu or auto")
    if device not in ("cpu", "cuda"):
        raise ModelError(f"unknown device {device!r}: use auto, cpu or cuda")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        # fp32 on CPU: bf16 matmuls are slow there and lose precision the score tests rely on.
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}: use auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


def resolve_model_source(spec: str) -> Path | str:
    """A packaged short name or a .gguf file → its converted cache directory; an existing directory →
    itself; else a hub id."""
    if spec in PACKAGED_MODELS:
        return packaged_model_dir(spec)
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        return gguf_model_dir(path)
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path} exists but holds no config.json: not a Hugging Face model dir")
        return path
    if spec.count("/") == 1 and not spec.startswith((".", "/")):
        return spec
    raise ModelError(
        f"model {spec!r} is neither a packaged model ({', '.join(PACKAGED_MODELS)}), a .gguf file, "
        "an existing directory, nor a hub id of the form owner/name"
    )


def _first_line(error: Exception) -> str:
    """An exception as one line for the user (transformers' messages run to paragraphs)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:300] if lines else 'no details'}"


def load_tokenizer(spec: str) -> PreTrainedTokenizerBase:
    """The tokenizer of a model (packaged name, .gguf file, local directory or hub id), without its
    weights; the one tokenizer loader. A local directory may hold a tokenizer alone (no config.json)."""
    path = Path(spec).expanduser()
    source = path if spec not in PACKAGED_MODELS and path.is_dir() else resolve_model_source(spec)
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, KeyError) as error:
        raise ModelError(f"could not load the tokenizer of {spec!r}: {_first_line(error)}") from None


def load_model(spec: str, dtype: str = "auto", device: str = "auto") -> LoadedModel:
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    source = resolve_model_source(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as error:
        # hub unreachable, missing or damaged files, an unknown model type, a model that needs its
        # own code (never run: no trust_remote_code), a checkpoint of other shapes …
        raise ModelError(f"could not load model {spec!r}: {_first_line(error)}") from None
    model.to(torch_device).eval()
    return LoadedModel(name=spec, model=model, tokenizer=tokenizer, adapter=ModelAdapter.for_model(model))
