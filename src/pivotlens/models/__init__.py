"""Causal LMs: loading, per-architecture parts, packaged real models and tiny test models.

Names are imported lazily so that what needs only the registry (model identities) loads no torch.
"""

from importlib import import_module

_EXPORTS = {
    "ARCHITECTURES": "adapters", "ModelAdapter": "adapters",
    "LoadedModel": "loading", "load_model": "loading", "load_tokenizer": "loading",
    "PACKAGED_MODELS": "registry", "model_sha256": "registry", "packaged_model_dir": "registry",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pivotlens.models' has no attribute {name!r}")
    return getattr(import_module(f"pivotlens.models.{_EXPORTS[name]}"), name)
