"""Scoring several models the same way: the before/after comparison and the checkpoint curves.

Every model is loaded in turn, scored into its own resumable directory and released, so a rerun
after a kill skips the finished models and items:

    OUT/scores/<name>/   `pivotlens score` output (same seed → same shots for every model)
    OUT/chrf/<name>/     translations.jsonl + chrf.json (checkpoints only)
"""

from __future__ import annotations

import csv
import gc
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from pivotlens.clwtd import Dataset
from pivotlens.errors import PivotlensError
from pivotlens.languages import pair_key
from pivotlens.models.loading import LoadedModel
from pivotlens.scoring import ScoreConfig, score_dataset
from pivotlens.training.compare import Comparison, compare_score_dirs, write_comparison
from pivotlens.training.trainer import CHECKPOINTS, TRAINER_STATE, complete_checkpoints
from pivotlens.training.translation import ChrfConfig, ParallelPair, evaluate_chrf

ModelLoader = Callable[[str], LoadedModel]
Progress = Callable[[str, int], None]  # (model name, items it just finished)


@dataclass(frozen=True)
class NamedModel:
    name: str  # a directory name under OUT/scores, a row of the tables
    spec: str  # what load_model takes
    step: int | None = None  # training step, when known


def default_name(spec: str) -> str:
    """``runs/multilingual/final`` → ``multilingual``; ``allenai/OLMo-1B-hf`` → ``OLMo-1B-hf``."""
    path = Path(spec.rstrip("/"))
    name = path.parent.name if path.name == "final" and path.parent.name else path.name
    return re.sub(r"[^\w.+-]", "_", name).lstrip(".") or "model"  # ".." would be a directory above


def parse_named_models(specs: Sequence[str]) -> list[NamedModel]:
    """``NAME=SPEC`` or ``SPEC`` (named after its directory); names must be unique."""
    models = []
    for raw in specs:
        name, spec = raw.split("=", 1) if "=" in raw else (default_name(raw), raw)
        if not name or not spec or not re.fullmatch(r"[\w+-][\w.+-]*", name):  # names are directory names
            raise PivotlensError(f"--models {raw!r}: write SPEC or NAME=SPEC, NAME of letters, digits, '.', '+', '-', "
                                 "'_', not starting with '.'")
        models.append(NamedModel(name, spec, _checkpoint_step(Path(spec))))
    names = [m.name for m in models]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PivotlensError(f"model name(s) {', '.join(duplicates)} used twice: tell them apart with NAME=SPEC")
    return models


def _checkpoint_step(path: Path) -> int | None:
    state = path / TRAINER_STATE
    return int(json.loads(state.read_text())["global_step"]) if state.is_file() else None


def expand_checkpoints(specs: Sequence[str]) -> list[NamedModel]:
    """Each spec is a model, or a `pivotlens train` run directory standing for all of its complete
    checkpoints (``<run>-step<K>``, in step order)."""
    models = []
    for named in parse_named_models(specs):
        run = Path(named.spec)
        found = complete_checkpoints(run / CHECKPOINTS)
        if found:
            models += [NamedModel(f"{named.name}-step{step}", str(path), step) for step, path in found]
        elif (run / CHECKPOINTS).is_dir():
            raise PivotlensError(f"{run} is a training run without a complete checkpoint yet")
        else:
            models.append(named)
    return models


def release(loaded: LoadedModel) -> None:
    """Free a model before the next is loaded (a 1B model in fp32 holds 5 GB)."""
    on_cuda = loaded.device.type == "cuda"
    del loaded
    gc.collect()
    if on_cuda:
        torch.cuda.empty_cache()


def score_models(
    models: Sequence[NamedModel],
    dataset: Dataset,
    template: ScoreConfig,
    out_dir: Path,
    load: ModelLoader,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Score every model with the template's settings (only ``model`` differs) into OUT/scores/<name>."""
    score_dirs = {}
    for model in models:
        score_dirs[model.name] = out_dir / "scores" / model.name
        loaded = load(model.spec)
        score_dataset(loaded, dataset, replace(template, model=model.spec), score_dirs[model.name],
                      progress=_for_model(progress, model))
        release(loaded)
    return score_dirs


def _for_model(progress: Progress | None, model: NamedModel) -> Callable[[int], None] | None:
    return None if progress is None else lambda n: progress(model.name, n)


def compare_models(
    models: Sequence[NamedModel],
    baseline: str,
    dataset: Dataset,
    template: ScoreConfig,
    out_dir: Path,
    load: ModelLoader,
    n_bootstrap: int = 10_000,
    progress: Progress | None = None,
) -> Comparison:
    """Score the models (baseline included) on the same draws, then the Table-3 comparison files."""
    score_dirs = score_models(models, dataset, template, out_dir, load, progress)
    pairs = [pair_key(src, tgt) for src, tgt in template.pairs]
    comparison = compare_score_dirs(score_dirs, baseline, pairs, n_bootstrap=n_bootstrap, seed=template.seed)
    write_comparison(comparison, out_dir)
    return comparison


def evaluate_checkpoints(
    models: Sequence[NamedModel],
    dataset: Dataset,
    score_template: ScoreConfig,
    parallel: Sequence[ParallelPair],
    chrf_template: ChrfConfig,
    out_dir: Path,
    load: ModelLoader,
    progress: Progress | None = None,
) -> list[dict]:
    """Word-level ability (mean over the pairs) and chrF++ for each checkpoint; writes
    checkpoints.csv / .json (the paper's Figure 6 analogue, drawn by ``plots.training``)."""
    rows = []
    for index, model in enumerate(models):
        loaded = load(model.spec)
        advance = _for_model(progress, model)
        summary = score_dataset(loaded, dataset, replace(score_template, model=model.spec),
                                out_dir / "scores" / model.name, progress=advance)
        chrf = evaluate_chrf(loaded, parallel, replace(chrf_template, model=model.spec), out_dir / "chrf" / model.name,
                             progress=advance)
        release(loaded)
        rows.append({"index": index, "name": model.name, "model": model.spec, "step": model.step,
                     "ability": summary["mean"], "chrf": chrf.score, "n_items": summary["pairs"][0]["n_items"],
                     "n_sentences": chrf.n_items})
    by_step = all(row["step"] is not None for row in rows)
    for row in rows:
        row["x"] = row["step"] if by_step else row["index"]
    with (out_dir / "checkpoints.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    pairs = ",".join(pair_key(s, t) for s, t in score_template.pairs)
    (out_dir / "checkpoints.json").write_text(json.dumps({
        "word_level": {**asdict(score_template), "model": None, "pairs": pairs},
        "chrf": {**asdict(chrf_template), "model": None}, "checkpoints": rows}, indent=1))
    return rows
