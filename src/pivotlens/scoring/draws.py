"""Seeded shot draws. Each (seed, pair, item, draw) has its own seed, so an item's shots do not
depend on which other items are scored, on the batch size, or on where a resumed run restarted."""

from __future__ import annotations

import zlib

import numpy as np

from pivotlens.errors import DatasetError


def draw_seed(seed: int, pair: str, item_id: str, draw: int) -> int:
    sequence = np.random.SeedSequence(
        entropy=seed, spawn_key=(zlib.crc32(pair.encode()), zlib.crc32(item_id.encode()), draw)
    )
    return int(sequence.generate_state(1, np.uint32)[0])


def draw_shots(n_entries: int, item_index: int, n_shots: int, seed: int) -> list[int]:
    """Indices of ``n_shots`` distinct entries other than ``item_index``, in prompt order."""
    if n_entries - 1 < n_shots:
        raise DatasetError(
            f"{n_shots} shots need at least {n_shots + 1} dataset entries; the dataset has {n_entries}"
        )
    pool = np.delete(np.arange(n_entries), item_index)
    return [int(i) for i in np.random.default_rng(seed).choice(pool, size=n_shots, replace=False)]
