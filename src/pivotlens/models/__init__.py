"""Causal LMs: loading, per-architecture parts, packaged real models and tiny test models."""

from pivotlens.models.adapters import ARCHITECTURES, ModelAdapter
from pivotlens.models.loading import LoadedModel, load_model, load_tokenizer
from pivotlens.models.registry import PACKAGED_MODELS, packaged_model_dir

__all__ = [
    "ARCHITECTURES", "PACKAGED_MODELS", "LoadedModel", "ModelAdapter", "load_model", "load_tokenizer", "packaged_model_dir",
]
