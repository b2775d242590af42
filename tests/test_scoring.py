import json
import math

import numpy as np
import pytest
import torch

from pivotlens.clwtd import Dataset
from pivotlens.errors import DatasetError, RunDirectoryError
from pivotlens.models import load_model
from pivotlens.models.tiny import TINY_ARCHITECTURES
from pivotlens.plots.figures import draw_ability_heatmap
from pivotlens.records import DrawScore, ItemScore, TranslationItem, write_item_scores
from pivotlens.reference import naive_probabilities
from pivotlens.scoring import (
    ScoreConfig,
    build_prompt,
    cached_probabilities,
    continuation,
    score_dataset,
    summarize,
    tokenize_request,
)
from pivotlens.scoring.draws import draw_seed, draw_shots


def test_prompt_is_byte_for_byte_the_papers():
    prompt = build_prompt("en", "zh", [("dog", "狗"), ("cat", "猫")], "hand")
    assert prompt == (
        "Please translate words from English to Chinese.\n\n"
        "English: dog\nChinese: 狗\n\n"
        "English: cat\nChinese: 猫\n\n"
        "English: hand\nChinese:"
    )
    assert continuation("手") == " 手"


def test_shots_are_five_distinct_others_and_seeded():
    for item in range(36):
        for draw in range(5):
            seed = draw_seed(0, "en-fr", f"id{item}", draw)
            shots = draw_shots(36, item, 5, seed)
            assert len(shots) == 5 == len(set(shots)) and item not in shots
            assert shots == draw_shots(36, item, 5, seed)
    seeds = {draw_seed(0, "en-fr", "hand", draw) for draw in range(5)}
    assert len(seeds) == 5 and draw_seed(1, "en-fr", "hand", 0) != draw_seed(0, "en-fr", "hand", 0)
    with pytest.raises(DatasetError, match="at least 6 dataset entries"):
        draw_shots(5, 0, 5, 1)


def _config(model: str, dataset: Dataset, **changes) -> ScoreConfig:
    settings = dict(model=model, dataset_sha256=dataset.sha256, pairs=(("en", "zh"), ("fr", "ja")),
                    draws=2, shots=5, seed=7, limit=3, batch_size=4)
    settings.update(changes)
    return ScoreConfig(**settings)


def _reference_probability(loaded, prompt: str, target: str) -> float:
    """Plain forward over prompt+continuation; continuation tokens are those after the prompt's."""
    tokenizer = loaded.tokenizer
    full = tokenizer(prompt + " " + target)["input_ids"]
    n_prompt = len(tokenizer(prompt)["input_ids"])
    assert full[:n_prompt] == tokenizer(prompt)["input_ids"]
    with torch.inference_mode():
        logits = loaded.model(input_ids=torch.tensor([full])).logits[0]
    logprobs = torch.log_softmax(logits.double(), dim=-1)
    token_logprobs = [float(logprobs[i - 1, full[i]]) for i in range(n_prompt, len(full))]
    return math.exp(sum(token_logprobs) / len(token_logprobs))


def test_scores_match_a_hand_computation(tiny_llama, sample, tmp_path):
    config = _config("tiny", sample, limit=2)
    score_dataset(tiny_llama, sample, config, tmp_path)
    by_id = {entry.id: entry for entry in sample.entries}
    for src, tgt in config.pairs:
        records = [json.loads(line) for line in (tmp_path / "items" / f"{src}-{tgt}.jsonl").open()]
        assert [r["id"] for r in records] == [e.id for e in sample.entries[:2]]
        for record in records:
            entry = by_id[record["id"]]
            draw_scores = []
            for draw in record["draws"]:
                shots = [(by_id[i].word[src], by_id[i].word[tgt]) for i in draw["shots"]]
                words = [entry.word[src], *entry.distractors_for(src, tgt)]
                expected = [_reference_probability(tiny_llama, build_prompt(src, tgt, shots, w), entry.word[tgt])
                            for w in words]
                assert draw["p_source"] == pytest.approx(expected[0], abs=1e-5, rel=1e-5)
                assert draw["p_distractors"] == pytest.approx(expected[1:], abs=1e-5, rel=1e-5)
                draw_scores.append(expected[0] - np.mean(expected[1:]))
                assert draw["score"] == pytest.approx(draw_scores[-1], abs=1e-5)
            assert record["score"] == pytest.approx(np.mean(draw_scores), abs=1e-5)


@pytest.mark.parametrize("architecture", sorted(TINY_ARCHITECTURES))
def test_prefix_cache_agrees_with_full_forwards(tiny_model_dir, sample, architecture):
    loaded = load_model(str(tiny_model_dir(architecture)), device="cpu")
    requests = []
    for entry, shots in ((sample.entries[0], sample.entries[1:6]), (sample.entries[30], sample.entries[2:4])):
        prompts = [build_prompt("ja", "fr", [(s.word["ja"], s.word["fr"]) for s in shots], word)
                   for word in (entry.word["ja"], *entry.distractors_for("ja", "fr"))]
        requests.append(tokenize_request(loaded.tokenizer, prompts, continuation(entry.word["fr"])))
    cached = cached_probabilities(loaded, requests)  # two prefixes of different lengths in one batch
    for request, probabilities in zip(requests, cached):
        np.testing.assert_allclose(probabilities, naive_probabilities(loaded, request), rtol=1e-5, atol=1e-7)


def _item_files(out) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted((out / "items").iterdir())}


def test_same_results_across_batch_sizes_and_reruns(tiny_llama, sample, tmp_path):
    first = score_dataset(tiny_llama, sample, _config("tiny", sample, batch_size=1), tmp_path / "a")
    second = score_dataset(tiny_llama, sample, _config("tiny", sample, batch_size=7), tmp_path / "b")
    a, b = _item_files(tmp_path / "a"), _item_files(tmp_path / "b")
    assert a.keys() == b.keys()
    for name in a:
        for line_a, line_b in zip(a[name].splitlines(), b[name].splitlines(), strict=True):
            ra, rb = json.loads(line_a), json.loads(line_b)
            assert ra["id"] == rb["id"] and ra["draws"][0]["shots"] == rb["draws"][0]["shots"]
            assert ra["score"] == pytest.approx(rb["score"], abs=1e-6)
    assert first["mean"] == pytest.approx(second["mean"], abs=1e-6)
    score_dataset(tiny_llama, sample, _config("tiny", sample, batch_size=1), tmp_path / "a")
    assert _item_files(tmp_path / "a") == a  # a rerun of a finished run scores nothing again


def test_interrupted_run_resumes_to_the_same_files(tiny_llama, sample, tmp_path):
    config = _config("tiny", sample, limit=4, batch_size=2)
    score_dataset(tiny_llama, sample, config, tmp_path / "whole")

    seen = []

    def kill_after_three(n):
        seen.append(n)
        if sum(seen) >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_dataset(tiny_llama, sample, config, tmp_path / "killed", progress=kill_after_three)
    partial = tmp_path / "killed" / "items" / "en-zh.jsonl"
    assert len(partial.read_text().splitlines()) == 3
    with partial.open("a") as handle:
        handle.write('{"id": "torn-by-a-ki')  # a write cut off by the kill
    score_dataset(tiny_llama, sample, config, tmp_path / "killed")
    assert _item_files(tmp_path / "killed") == _item_files(tmp_path / "whole")


def test_a_different_run_is_refused_in_the_same_directory(tiny_llama, sample, tmp_path):
    score_dataset(tiny_llama, sample, _config("tiny", sample, limit=1, draws=1), tmp_path)
    with pytest.raises(RunDirectoryError, match="differs in: seed"):
        score_dataset(tiny_llama, sample, _config("tiny", sample, limit=1, draws=1, seed=8), tmp_path)


def test_summary_matrix_from_hand_made_scores(tmp_path):
    items = tmp_path / "items"
    items.mkdir()

    def record(item_id, src, tgt, score):
        draw = DrawScore(3, ("w",), 0.5, (0.1, 0.3), 0.3)
        return ItemScore(TranslationItem(item_id, src, tgt, "word", "mot"), ("x", "y"), score, (draw,))

    write_item_scores(items / "en-fr.jsonl", [record(i, "en", "fr", s) for i, s in (("a", 0.2), ("b", 0.4), ("c", 9.0))])
    write_item_scores(items / "zh-ja.jsonl", [record(i, "zh", "ja", s) for i, s in (("a", -0.1), ("b", 0.1))])
    summary = summarize(tmp_path, [("en", "fr"), ("zh", "ja")], ["a", "b"])
    draw_ability_heatmap(tmp_path)
    assert summary["matrix"]["en"]["fr"] == pytest.approx(0.3)
    assert summary["matrix"]["zh"]["ja"] == pytest.approx(0.0)
    assert summary["matrix"]["fr"]["en"] is None and summary["matrix"]["en"]["en"] is None
    assert summary["mean"] == pytest.approx(0.15)
    assert summary["pairs"][0]["mean_p_distractors"] == pytest.approx(0.2)
    csv = (tmp_path / "matrix.csv").read_text().splitlines()
    assert csv[0] == "src,en,fr,zh,ja" and csv[1] == "en,,0.300000,,"
    assert (tmp_path / "heatmap.png").stat().st_size > 10_000
