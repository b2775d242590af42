"""Continued pre-training of a causal LM on one data mix (docs/design.md §1.7), resumable after a kill.

Layout of a run directory::

    manifest.json              config, data fingerprint (sha256 per shard), versions; a rerun must match
    data/tokens.u32(.json)     the mix tokenised once: an EOS-separated uint32 stream (+ counts)
    checkpoints/checkpoint-K/  every --save-every steps and at the end: model, tokenizer, optimizer,
                               scheduler, RNG states, trainer_state.json (loadable by load_model)
    final/                     the trained model + tokenizer (load_model(path) takes it)
    summary.json               steps, probe losses by step, train losses, wall time, tokens
    complete.json              the completion marker (with the steps reached), written last

Every mix is trained with the same hyper-parameters and seed, so the mixes differ only in data.
The optimizer starts empty (public checkpoints carry no optimizer state), hence the LR warm-up.
A rerun of the same command continues from the last complete checkpoint (optimizer, scheduler,
data order and RNG states included); a rerun with a larger --steps extends a finished run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from pivotlens.artifacts import StageDirectory, write_json_atomic
from pivotlens.errors import PivotlensError
from pivotlens.models.registry import TRAINING_STATE_FILES, model_sha256
from pivotlens.options import option

# torch and transformers load inside train(): the CLI imports this module to build its parser.
if TYPE_CHECKING:
    import torch

    from pivotlens.training.packing import TokenStats

log = logging.getLogger(__name__)

LrScheduler = Literal["constant_with_warmup", "linear", "cosine"]
LR_SCHEDULERS = get_args(LrScheduler)
TRAIN_DTYPES = ("auto", "float32", "bfloat16", "float16")
TOKEN_FILE = "data/tokens.u32"
CHECKPOINTS = "checkpoints"
SUMMARY = "summary.json"
TRAINER_STATE = "trainer_state.json"  # written last into a checkpoint: its presence marks it complete


@dataclass(frozen=True)
class TrainOptions:
    """The user-facing training options: the `training` section of a study and the flags of `pivotlens train`."""

    steps: int = option(1000, "optimizer steps (a larger value extends a finished run)")
    seq_len: int = option(512, "tokens per packed block")
    batch_size: int = option(8, "blocks per device per micro-batch")
    grad_accum: int = option(1, "micro-batches per optimizer step")
    lr: float = option(2e-5, "peak learning rate")
    warmup_steps: int = option(100, "linear LR warm-up (the optimizer starts empty)")
    lr_scheduler: LrScheduler = option("constant_with_warmup", "learning-rate schedule after the warm-up")
    weight_decay: float = option(0.0, "AdamW weight decay")
    save_every: int = option(100, "checkpoint (and probe loss) every K steps")
    keep_checkpoints: int | None = option(None, "keep only the last N checkpoints (default: all)")
    gradient_checkpointing: bool = option(False, "recompute activations: less memory, ~30% slower")
    probe_blocks: int = option(8, "first N blocks whose loss is logged at each save")


@dataclass(frozen=True)
class TrainConfig:
    model: str
    data: str | Sequence[str]
    steps: int
    seq_len: int = 512
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 2e-5
    warmup_steps: int = 100
    lr_scheduler: str = "constant_with_warmup"
    weight_decay: float = 0.0
    save_every: int = 100
    keep_checkpoints: int | None = None  # None: keep all (the checkpoint evaluation needs them)
    seed: int = 0
    dtype: str = "auto"  # auto = bf16 mixed precision on GPU, fp32 on CPU
    device: str = "auto"
    gradient_checkpointing: bool = False
    probe_blocks: int = 8  # the first N blocks of the mix, evaluated before training and at each save

    def __post_init__(self) -> None:
        positive = {"--steps": self.steps, "--seq-len": self.seq_len, "--batch-size": self.batch_size,
                    "--grad-accum": self.grad_accum, "--save-every": self.save_every, "--probe-blocks": self.probe_blocks}
        bad = [name for name, value in positive.items() if value < 1]
        if bad:
            raise PivotlensError(f"{', '.join(bad)} must be ≥ 1")
        if self.lr <= 0 or self.warmup_steps < 0 or self.weight_decay < 0:
            raise PivotlensError("--lr must be > 0, --warmup-steps and --weight-decay ≥ 0")
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise PivotlensError(f"--lr-scheduler {self.lr_scheduler!r}: choose from {', '.join(LR_SCHEDULERS)}")
        if self.dtype not in TRAIN_DTYPES:
            raise PivotlensError(f"--dtype {self.dtype!r}: choose from {', '.join(TRAIN_DTYPES)}")
        if self.keep_checkpoints is not None and self.keep_checkpoints < 1:
            raise PivotlensError("--keep-checkpoints must be ≥ 1")

    def identity(self, data_sha256: str) -> dict:
        """What a rerun must share to continue this run: everything that changes the weights
        except --steps (a larger value extends a finished run)."""
        keys = ("model", "seq_len", "batch_size", "grad_accum", "lr", "warmup_steps", "lr_scheduler",
                "weight_decay", "seed", "dtype")
        return {"data_sha256": data_sha256, "model_sha256": model_sha256(self.model),
                **{key: getattr(self, key) for key in keys}}


def train_config(options: TrainOptions, *, model: str, data: str | Sequence[str], seed: int, dtype: str,
                 device: str) -> TrainConfig:
    """The one place a TrainConfig is assembled from user options."""
    return TrainConfig(model=model, data=data, seed=seed, dtype=dtype, device=device, **asdict(options))


@dataclass(frozen=True)
class TrainResult:
    out_dir: Path
    final_dir: Path
    global_step: int
    resumed_from_step: int | None
    probe_loss: list[tuple[int, float]]  # (step, mean loss over the probe blocks); step 0 = before training
    train_loss: list[tuple[int, float]]
    wall_seconds: float  # of the last invocation only
    tokens: TokenStats
    blocks: int
    passes_over_data: float
    already_done: bool = False

    def summary(self) -> dict:
        record = asdict(self)
        record.update(out_dir=str(self.out_dir), final_dir=str(self.final_dir))
        return record


def data_fingerprint(spec: str | Sequence[str]) -> tuple[str, list[dict]]:
    """sha256 over the shards' own sha256 (in reading order), and the per-shard fingerprints."""
    from pivotlens.corpus.readers import fingerprint, resolve_corpus

    shards = [fingerprint(shard) for shard in resolve_corpus(spec)]
    digest = hashlib.sha256("\n".join(shard["sha256"] for shard in shards).encode()).hexdigest()
    return digest, shards


def checkpoint_problem(path: Path) -> str | None:
    """Why a checkpoint cannot be resumed from or scored (None: it can). Reads the trainer state, the
    safetensors headers (checked against the file sizes) and the CRCs of the torch zip files."""
    import zipfile

    from safetensors import SafetensorError, safe_open

    if _checkpoint_step(path) is None:
        return "no trainer state (interrupted while saving)" if not (path / TRAINER_STATE).is_file() \
            else f"damaged {TRAINER_STATE}"
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        return "no model weights"
    for file in weights:
        try:
            with safe_open(str(file), framework="pt"):
                pass
        except (SafetensorError, OSError, ValueError) as error:
            return f"damaged {file.name} ({error})"
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        file = path / name
        if file.exists():
            try:
                with zipfile.ZipFile(file) as archive:
                    if archive.testzip() is not None:
                        return f"damaged {name} (CRC mismatch)"
            except (zipfile.BadZipFile, OSError) as error:
                return f"damaged {name} ({error})"
    return None


def _checkpoint_step(path: Path) -> int | None:
    """The global step a checkpoint's trainer state records; None when it is missing or damaged."""
    try:
        step = json.loads((path / TRAINER_STATE).read_text(encoding="utf-8"))["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return step if isinstance(step, int) else None


def complete_checkpoints(checkpoint_dir: Path) -> list[tuple[int, Path]]:
    """(global step, path) of the checkpoints whose save finished (their trainer state is written
    last), oldest first; :func:`checkpoint_problem` checks the files too, before a resume."""
    if not checkpoint_dir.is_dir():
        return []
    found = [(step, path) for path in checkpoint_dir.glob("checkpoint-*")
             if path.is_dir() and (step := _checkpoint_step(path)) is not None]
    return sorted(found)


def _remove_unsound_checkpoints(checkpoint_dir: Path) -> None:
    """A kill during a save leaves a checkpoint without its trainer state, and a disk fault or a cut
    copy a damaged file; the Trainer would pick such a checkpoint as the latest and fail, so it goes
    with a warning, and training resumes from the latest sound one."""
    for path in sorted(checkpoint_dir.glob("checkpoint-*")):
        problem = checkpoint_problem(path) if path.is_dir() else None
        if problem:
            message = f"removing checkpoint {path}: {problem}; resuming from the previous sound one"
            log.warning(message)
            warnings.warn(message, stacklevel=2)
            shutil.rmtree(path)


def _precision_flags(config: TrainConfig, device: torch.device) -> dict[str, bool]:
    """Weights and optimizer stay fp32; bf16/fp16 are autocast (mixed precision)."""
    dtype = ("bfloat16" if device.type == "cuda" else "float32") if config.dtype == "auto" else config.dtype
    if dtype == "float16" and device.type != "cuda":
        raise PivotlensError("--dtype float16 needs a CUDA GPU; use float32 or bfloat16 on CPU")
    return {"bf16": dtype == "bfloat16", "fp16": dtype == "float16"}


def _log_pairs(history: list[dict], key: str) -> list[tuple[int, float]]:
    return [(int(entry["step"]), float(entry[key])) for entry in history if key in entry]


def train(config: TrainConfig, out_dir: str | Path, callbacks: Sequence = ()) -> TrainResult:
    """Train ``config.model`` on ``config.data`` for ``config.steps`` optimizer steps into ``out_dir``."""
    from transformers import Trainer, TrainingArguments, default_data_collator
    from transformers.utils import logging as hf_logging

    from pivotlens.corpus.readers import read_corpus
    from pivotlens.models import load_model
    from pivotlens.models.loading import resolve_device
    from pivotlens.training.packing import PackedBlocks, read_token_stats, write_token_file

    out = Path(out_dir)
    data_sha256, shards = data_fingerprint(config.data)
    mix = config.data if isinstance(config.data, str) else list(config.data)
    directory = StageDirectory(out, "train").claim(config.identity(data_sha256),
                                                   {"config": asdict(config), "mix": mix, "data": shards})
    summary_path = out / SUMMARY
    if directory.is_complete() and directory.state()["global_step"] >= config.steps:
        return _result_from_summary(json.loads(summary_path.read_text()), out)
    directory.reopen()  # a larger --steps extends a finished run: unfinished until its marker is rewritten

    hf_logging.disable_progress_bar()
    device = resolve_device(config.device)
    loaded = load_model(config.model, dtype="float32", device="cpu")  # the Trainer moves it to the device
    loaded.check_fits([range(config.seq_len)], "--seq-len")
    token_file = out / TOKEN_FILE
    stats = read_token_stats(token_file)
    if stats is None:
        token_file.parent.mkdir(parents=True, exist_ok=True)
        stats = write_token_file(loaded.tokenizer, (document.text for document in read_corpus(config.data)), token_file)
    blocks = PackedBlocks(token_file, config.seq_len)
    probe = PackedBlocks(token_file, config.seq_len, limit=config.probe_blocks)

    checkpoint_dir = out / CHECKPOINTS
    checkpoint_dir.mkdir(exist_ok=True)
    _remove_unsound_checkpoints(checkpoint_dir)
    checkpoints = complete_checkpoints(checkpoint_dir)
    resume_step, resume_path = checkpoints[-1] if checkpoints else (None, None)

    args = TrainingArguments(
        output_dir=str(checkpoint_dir),
        max_steps=config.steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=device.type == "cpu",
        activation_checkpointing=config.gradient_checkpointing,
        save_strategy="steps",
        save_steps=config.save_every,
        save_total_limit=config.keep_checkpoints,
        eval_strategy="steps",
        eval_steps=config.save_every,
        eval_on_start=resume_path is None,  # the probe loss before any update
        logging_steps=10,
        logging_first_step=True,
        report_to="none",
        dataloader_pin_memory=device.type == "cuda",
        **_precision_flags(config, device),
    )
    final = out / "final"
    staging = out / "final.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    started = time.perf_counter()
    if resume_step is not None and resume_step >= config.steps:
        # Killed after the last save: that checkpoint is the model (the Trainer would step past --steps).
        staging.mkdir()
        for path in resume_path.iterdir():
            if path.is_file() and path.name not in TRAINING_STATE_FILES:
                shutil.copy2(path, staging / path.name)
        state = json.loads((resume_path / TRAINER_STATE).read_text())
        history, global_step = state["log_history"], state["global_step"]
    else:
        trainer = Trainer(model=loaded.model, args=args, train_dataset=blocks, eval_dataset=probe,
                          processing_class=loaded.tokenizer, data_collator=default_data_collator,
                          callbacks=list(callbacks))
        trainer.train(resume_from_checkpoint=str(resume_path) if resume_path else None)
        trainer.save_model(str(staging))
        history, global_step = trainer.state.log_history, trainer.state.global_step
    wall = time.perf_counter() - started
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    blocks_per_step = config.batch_size * config.grad_accum * max(1, args.world_size)
    result = TrainResult(
        out_dir=out, final_dir=final, global_step=global_step, resumed_from_step=resume_step,
        probe_loss=_log_pairs(history, "eval_loss"), train_loss=_log_pairs(history, "loss"), wall_seconds=wall,
        tokens=stats, blocks=len(blocks), passes_over_data=global_step * blocks_per_step / len(blocks),
    )
    write_json_atomic(summary_path, result.summary(), indent=1)
    directory.complete(global_step=result.global_step)
    return result


def _result_from_summary(record: dict, out: Path) -> TrainResult:
    """The result of a finished run, as its summary recorded it (the directory may have moved since)."""
    from pivotlens.training.packing import TokenStats

    return TrainResult(
        out_dir=out, final_dir=out / "final", global_step=record["global_step"],
        resumed_from_step=record["resumed_from_step"], probe_loss=[tuple(p) for p in record["probe_loss"]],
        train_loss=[tuple(p) for p in record["train_loss"]], wall_seconds=record["wall_seconds"],
        tokens=TokenStats(**record["tokens"]), blocks=record["blocks"], passes_over_data=record["passes_over_data"],
        already_done=True,
    )
