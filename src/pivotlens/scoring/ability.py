"""The cross-lingual ability score (docs/design.md §1.2) over a CLWTD dataset, resumable on disk.

Layout of an output directory::

    manifest.json          config, versions, dataset hash (a rerun must match it)
    items/{src}-{tgt}.jsonl one line per finished item: P(source), P(each distractor), per draw
    pairs.csv              per-pair mean score, sd, n, mean P(source), mean P(distractor)
    matrix.json/.csv       the N×N matrix of the scored pairs' languages (diagonal empty) and its mean
    heatmap.png            the matrix, like the paper's Figure 1

An item's line is written (and fsynced) once all of its draws are scored, so a kill loses at most
the items in flight; a rerun skips the items already on disk and drops a torn last line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pivotlens.artifacts import StageDirectory, fill_pair_files, write_atomic, write_json_atomic
from pivotlens.batching import run_by_length
from pivotlens.clwtd import Dataset, Entry
from pivotlens.errors import PivotlensError
from pivotlens.languages import pair_key, pair_languages
from pivotlens.models.loading import LoadedModel
from pivotlens.models.registry import model_sha256
from pivotlens.records import ITEM_SCORES_DIR, DrawScore, ItemScore, TranslationItem, read_item_scores, write_item_scores
from pivotlens.scoring.draws import item_draws
from pivotlens.scoring.likelihood import TokenizedRequest, cached_probabilities, tokenize_request
from pivotlens.scoring.options import ScoreOptions


@dataclass(frozen=True)
class ScoreConfig:
    model: str
    dataset_sha256: str
    pairs: tuple[tuple[str, str], ...]
    draws: int = 5
    shots: int = 5
    seed: int = 0
    limit: int | None = None
    dtype: str = "auto"
    batch_size: int = 8  # (item, draw) requests per forward; does not change results

    def identity(self) -> dict:
        """What must match for a rerun to resume into the same directory."""
        return {**{key: getattr(self, key) for key in ("model", "dataset_sha256", "draws", "shots", "seed", "dtype")},
                "model_sha256": model_sha256(self.model)}

    def __post_init__(self) -> None:
        if self.draws < 1 or self.shots < 0 or self.batch_size < 1:
            raise PivotlensError("--draws and --batch-size must be ≥ 1 and --shots ≥ 0")
        if self.limit is not None and self.limit < 1:
            raise PivotlensError("--limit must be ≥ 1")


def score_config(options: ScoreOptions, *, model: str, dataset: Dataset, pairs: tuple[tuple[str, str], ...],
                 seed: int, dtype: str) -> ScoreConfig:
    """The one place a ScoreConfig is assembled from user options (stages and commands alike)."""
    dataset.require_pairs(pairs)
    return ScoreConfig(model=model, dataset_sha256=dataset.sha256, pairs=pairs, draws=options.draws,
                       shots=options.shots, seed=seed, limit=options.limit, dtype=dtype,
                       batch_size=options.batch_size)

@dataclass
class ItemDraws:
    """The prompts of one item under every draw, and (once scored) their probabilities."""

    entry: Entry
    src: str
    tgt: str
    seeds: list[int]
    shot_ids: list[list[str]]
    requests: list[TokenizedRequest]
    probabilities: list[np.ndarray] = field(default_factory=list)

    def record(self) -> ItemScore:
        draws = tuple(
            DrawScore(seed, tuple(shots), float(p[0]), tuple(float(x) for x in p[1:]), float(p[0] - p[1:].mean()))
            for seed, shots, p in zip(self.seeds, self.shot_ids, self.probabilities)
        )
        item = TranslationItem(self.entry.id, self.src, self.tgt, self.entry.word[self.src], self.entry.word[self.tgt])
        return ItemScore(item, tuple(self.entry.distractors_for(self.src, self.tgt)),
                         float(np.mean([d.score for d in draws])), draws)


def plan_item(tokenizer, dataset: Dataset, index: int, src: str, tgt: str, config: ScoreConfig) -> ItemDraws:
    draws = item_draws(dataset, index, src, tgt, config.draws, config.shots, config.seed)
    return ItemDraws(dataset.entries[index], src, tgt, [draw.seed for draw in draws],
                     [list(draw.shot_ids) for draw in draws],
                     [tokenize_request(tokenizer, draw.prompts, draw.continuation) for draw in draws])


def score_items(loaded: LoadedModel, items: list[ItemDraws], batch_size: int) -> None:
    """Fill ``item.probabilities`` for every draw, batching requests of similar length."""
    jobs = [(item, request) for item in items for request in item.requests]
    for item, request in jobs:
        loaded.check_fits(request.sequences, f"the prompt of item {item.entry.id!r} ({item.src}-{item.tgt})")
    results = run_by_length([request for _, request in jobs], lambda request: len(request.sequences[0]), batch_size,
                            lambda batch: cached_probabilities(loaded, batch))
    for (item, _), probabilities in zip(jobs, results):
        item.probabilities.append(probabilities)


def score_dataset(
    loaded: LoadedModel,
    dataset: Dataset,
    config: ScoreConfig,
    out_dir: str | Path,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Score every requested pair into ``out_dir`` (resuming item by item), then write the summaries
    and the completion marker."""
    out = Path(out_dir)
    directory = StageDirectory(out, "score").claim(config.identity(), {"config": asdict(config), "dataset": dataset.identity()})
    directory.reopen()  # the pairs or the limit may differ from the completed run's
    item_ids = [entry.id for entry in dataset.entries[: config.limit]]  # limit None: all

    def records_for(src: str, tgt: str, chunk: list[int]) -> list[ItemScore]:
        items = [plan_item(loaded.tokenizer, dataset, i, src, tgt, config) for i in chunk]
        score_items(loaded, items, config.batch_size)
        return [item.record() for item in items]

    fill_pair_files(out / ITEM_SCORES_DIR, config.pairs, item_ids, max(1, config.batch_size // config.draws),
                    records_for, write_item_scores, progress)
    summary = summarize(out, config.pairs, item_ids)
    directory.complete({"mean": summary["mean"], "items_per_pair": len(item_ids)})
    return summary


def summarize(out_dir: Path, pairs, item_ids: list[str]) -> dict:
    """Per-pair means and the N×N matrix of the pairs' languages over the requested items, as JSON + CSV."""
    wanted = set(item_ids)
    rows = []
    languages = pair_languages(pairs)
    matrix: dict[str, dict[str, float | None]] = {s: {t: None for t in languages} for s in languages}
    for src, tgt in pairs:
        path = out_dir / ITEM_SCORES_DIR / f"{pair_key(src, tgt)}.jsonl"
        records = [r for r in read_item_scores(path) if r.item.id in wanted]
        scores = np.array([r.score for r in records])
        p_source = [d.p_source for r in records for d in r.draws]
        p_distractor = [np.mean(d.p_distractors) for r in records for d in r.draws]
        mean = float(scores.mean())
        matrix[src][tgt] = mean
        rows.append({"pair": pair_key(src, tgt), "n_items": len(records), "mean_score": mean,
                     "sd_score": float(scores.std(ddof=1)) if len(scores) > 1 else 0.0,
                     "mean_p_source": float(np.mean(p_source)), "mean_p_distractors": float(np.mean(p_distractor))})
    cells = [v for row in matrix.values() for v in row.values() if v is not None]
    summary = {"languages": list(languages), "matrix": matrix, "mean": float(np.mean(cells)), "pairs": rows}
    write_json_atomic(out_dir / "matrix.json", summary)
    write_atomic(out_dir / "matrix.csv", "src," + ",".join(languages) + "\n" + "".join(
        src + "," + ",".join("" if matrix[src][t] is None else f"{matrix[src][t]:.6f}" for t in languages) + "\n"
        for src in languages))
    write_atomic(out_dir / "pairs.csv", ",".join(rows[0]) + "\n" + "".join(
        ",".join(f"{v:.6f}" if isinstance(v, float) else str(v) for v in row.values()) + "\n" for row in rows))
    return summary
