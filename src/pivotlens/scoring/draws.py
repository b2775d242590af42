"""Seeded shot draws. Each (seed, pair, item, draw) has its own seed, so an item's shots do not
depend on which other items are scored, on the batch size, or on where a resumed run restarted."""

from __future__ import annotations

import zlib

import numpy as np

from pivotlens.clwtd import Dataset, Entry
from pivotlens.errors import DatasetError, PivotlensError
from pivotlens.languages import pair_key


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
