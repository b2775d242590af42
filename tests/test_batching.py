import torch

from pivotlens.batching import batched, right_pad, run_by_length


def test_batches_run_longest_first_and_outputs_come_back_in_order():
    words = ["a", "ccc", "bb", "dddd", "ee", "f"]
    seen = []
    outputs = run_by_length(words, len, 2, lambda batch: seen.append(batch) or [w.upper() for w in batch])
    assert outputs == [w.upper() for w in words]
    assert seen == [["dddd", "ccc"], ["bb", "ee"], ["a", "f"]]  # equal lengths keep their order
    assert list(batched(range(5), 2)) == [[0, 1], [2, 3], [4]]


def test_right_pad_masks_the_padding():
    ids, mask = right_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids.dtype == mask.dtype == torch.long
