"""Seeded shot draws. Each (seed, pair, item, draw) has its own seed, so an item's shots do not
depend on which other items are scored, on the batch size, or on where a resumed run restarted."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from pivotlens.clwtd import Dataset, Entry
from pivotlens.errors import DatasetError, PivotlensError
from pivotlens.languages import pair_key
from pivotlens.scoring.prompts import build_prompt, continuation


def draw_seed(seed: int, pair: str, item_id: str, draw: int) -> int:
    if seed < 0:
        raise PivotlensError(f"seed {seed} is negative; give a seed ≥ 0")
    sequence = np.random.SeedSequence(
        entropy=seed, spawn_key=(zlib.crc32(pair.encode()), zlib.crc32(item_id.encode()), draw)
    )
    return int(sequence.generate_state(1, np.uint32)[0])


def draw_shots(n_entries: int, item_index: int | None, n_shots: int, seed: int) -> list[int]:
    """Indices of ``n_shots`` distinct entries other than ``item_index`` (None: a word from outside
    the dataset, nothing to exclude), in prompt order."""
    pool = np.arange(n_entries) if item_index is None else np.delete(np.arange(n_entries), item_index)
    if len(pool) < n_shots:
        raise DatasetError(
            f"{n_shots} shots need at least {n_shots + 1} dataset entries; the dataset has {n_entries}"
        )
    return [int(i) for i in np.random.default_rng(seed).choice(pool, size=n_shots, replace=False)]


def draw_shot_entries(
    dataset: Dataset, item_index: int | None, item_id: str, src: str, tgt: str, seed: int, draw: int, n_shots: int
) -> tuple[int, list[Entry]]:
    """The seed of one draw and the shot entries it picks for an item and pair."""
    item_seed = draw_seed(seed, pair_key(src, tgt), item_id, draw)
    return item_seed, [dataset.entries[i] for i in draw_shots(len(dataset), item_index, n_shots, item_seed)]


@dataclass(frozen=True)
class DrawPrompts:
    """One shot draw of an item: its seed, its shots, and the texts the score compares."""

    seed: int
    shot_ids: tuple[str, ...]
    prompts: tuple[str, ...]  # the source word's prompt first, then one per distractor, same shots
    continuation: str  # " {target word}", scored after every prompt


def item_draws(dataset: Dataset, index: int, src: str, tgt: str, draws: int, shots: int, seed: int) -> list[DrawPrompts]:
    """Every draw of item ``index`` for a pair: what `pivotlens score` and the lm-eval task both score."""
    entry = dataset.entries[index]
    candidates = (entry.word[src], *entry.distractors_for(src, tgt))
    planned = []
    for draw in range(draws):
        seed_of_draw, shot_entries = draw_shot_entries(dataset, index, entry.id, src, tgt, seed, draw, shots)
        pairs = [(shot.word[src], shot.word[tgt]) for shot in shot_entries]
        planned.append(DrawPrompts(seed_of_draw, tuple(shot.id for shot in shot_entries),
                                   tuple(build_prompt(src, tgt, pairs, word) for word in candidates),
                                   continuation(entry.word[tgt])))
    return planned
