"""The one batching utility: fixed-size batches, batches by length, and right padding.

:func:`run_by_length` is the lm-evaluation-harness ``Collator`` idea: sort the requests by length,
longest first (a batch that does not fit in memory fails at once, and rows of a batch pad little),
cut them into batches, run each, and return the results in the original order. Torch is imported
only by :func:`right_pad`, so the corpus stages can batch without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import torch

Item = TypeVar("Item")
Output = TypeVar("Output")


def batched(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Lists of ``size`` items in order (the last may be shorter)."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def run_by_length(items: Sequence[Item], length: Callable[[Item], int], batch_size: int,
                  run: Callable[[list[Item]], Iterable[Output]]) -> list[Output]:
    """``run`` on batches of items of similar ``length``, longest first; one output per item, in the
    order of ``items``. Items of equal length keep their order."""
    order = sorted(range(len(items)), key=lambda i: length(items[i]), reverse=True)
    outputs: list = [None] * len(items)
    for chunk in batched(order, batch_size):
        results = list(run([items[i] for i in chunk]))
        if len(results) != len(chunk):
            raise ValueError(f"a batch of {len(chunk)} items gave {len(results)} outputs")
        for i, result in zip(chunk, results):
            outputs[i] = result
    return outputs


def right_pad(sequences: Sequence[Sequence[int]], pad_id: int,
              device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Token id rows padded on the right to the longest: ``(ids, attention_mask)``, both [rows, width]."""
    import torch

    width = max(len(sequence) for sequence in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, : len(sequence)] = 1
    return ids.to(device), mask.to(device)
