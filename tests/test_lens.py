import json

import numpy as np
import pytest
import torch

from pivotlens.cli import main
from pivotlens.lens import (
    CO_OCCURRENCE,
    SEMANTIC_PIVOT,
    ClassifierSettings,
    ClassifyConfig,
    classify,
    classify_dataset,
    dataset_prompt,
    lens_probabilities,
    token_set_curve,
    trace_translation,
)
from pivotlens.lens.behaviour import meaningless_tokens
from pivotlens.lens.core import lens_probabilities_all_positions
from pivotlens.models import load_model
from pivotlens.models.tiny import TINY_ARCHITECTURES
from pivotlens.plots.figures import lens_trace_figure


@pytest.mark.parametrize("architecture", sorted(TINY_ARCHITECTURES))
def test_last_layer_lens_is_the_models_own_distribution(tiny_model_dir, architecture):
    # Covers RMSNorm and LayerNorm models (gpt2, gpt_neox, bloom), tied (gpt2, gemma3, bloom) and untied heads.
    loaded = load_model(str(tiny_model_dir(architecture)), device="cpu")
    sequences = [loaded.tokenizer("English: hand\nJapanese: 手")["input_ids"], loaded.tokenizer("chien")["input_ids"]]
    positions = [[len(sequences[0]) - 1, 1], [2]]
    lens = lens_probabilities(loaded, sequences, positions)
    assert lens.shape == (3, 3, loaded.model.config.vocab_size) and lens.dtype == torch.float32
    with torch.inference_mode():
        own = [torch.softmax(loaded.model(input_ids=torch.tensor([s])).logits[0].float(), -1) for s in sequences]
    expected = torch.stack([own[0][positions[0][0]], own[0][1], own[1][2]])
    torch.testing.assert_close(lens[-1], expected, atol=1e-4, rtol=0)
    unsliced = lens_probabilities_all_positions(loaded, sequences)
    torch.testing.assert_close(lens[:, 2], unsliced[:, 1, 2], atol=1e-6, rtol=0)


DECODED = {0: "▁", 1: "▁ha", 2: "nd", 3: "ｈａｎｄ", 4: "▁pivot", 5: "hand", 6: " "}


def _decode(token_id: int) -> str:
    return DECODED[token_id]


def _distributions(peaks: dict[tuple[int, int], float], layers: int = 3, vocab: int = 7) -> torch.Tensor:
    probabilities = torch.full((layers, vocab), 0.01)
    for (layer, token), value in peaks.items():
        probabilities[layer, token] = value
    return probabilities


def test_classifier_pivot_and_co_occurrence_by_id():
    word_ids = {1, 2}  # a two-token word: "▁ha" + "nd"
    pivot = classify(_distributions({(1, 4): 0.7, (2, 2): 0.6}), word_ids, _decode)
    assert (pivot.kind, pivot.token_id, pivot.token, pivot.peak_layer) == (SEMANTIC_PIVOT, 4, "▁pivot", 2)
    assert pivot.peak_probability == pytest.approx(0.7)
    second_token = classify(_distributions({(2, 2): 0.8, (1, 4): 0.7}), word_ids, _decode)
    assert (second_token.kind, second_token.token_id, second_token.peak_layer) == (CO_OCCURRENCE, 2, 3)


def test_classifier_matches_decoded_strings_after_markers_and_nfkc():
    word_ids = {5}  # "hand" with another id than the full-width "ｈａｎｄ"
    behaviour = classify(_distributions({(0, 3): 0.9}), word_ids, _decode)
    assert behaviour.kind == CO_OCCURRENCE and behaviour.token_id == 3


def test_classifier_ties_first_layer_and_ineligible_tokens():
    tie_layers = classify(_distributions({(0, 4): 0.5, (2, 5): 0.5}), {5}, _decode)
    assert (tie_layers.token_id, tie_layers.peak_layer, tie_layers.kind) == (4, 1, SEMANTIC_PIVOT)
    tie_tokens = classify(_distributions({(1, 5): 0.5, (1, 4): 0.5}), {5}, _decode)
    assert (tie_tokens.token_id, tie_tokens.kind) == (4, SEMANTIC_PIVOT)
    from_layer_two = classify(_distributions({(0, 4): 0.9, (2, 5): 0.5}), {5}, _decode, first_layer=2)
    assert (from_layer_two.token_id, from_layer_two.peak_layer, from_layer_two.kind) == (5, 3, CO_OCCURRENCE)
    ineligible = torch.tensor([False, False, False, False, False, False, True])
    no_space = classify(_distributions({(2, 6): 0.9, (1, 4): 0.4}), {5}, _decode, ineligible=ineligible)
    assert no_space.token_id == 4
    with pytest.raises(ValueError):
        classify(_distributions({}), {5}, _decode, first_layer=4)


def test_meaningless_token_mask_of_the_tiny_tokenizer(tiny_llama):
    tokenizer = tiny_llama.tokenizer
    mask = meaningless_tokens(tokenizer)
    space = tokenizer.convert_tokens_to_ids("Ġ")
    hand = tokenizer("手", add_special_tokens=False)["input_ids"][0]
    assert mask[space] and not mask[hand]
    assert mask[tokenizer.bos_token_id] and mask[tokenizer.eos_token_id]
    masked = set(tokenizer.convert_ids_to_tokens(mask.nonzero().flatten().tolist()))
    assert masked == {"<s>", "</s>", "<pad>", "ĉ", "Ċ", "Ġ"}  # tab, newline, space and the specials


def test_translation_prompt_locates_words(tiny_llama, sample):
    prompt = dataset_prompt(tiny_llama.tokenizer, sample, 0, "en", "ja", seed=0)
    tokenizer = tiny_llama.tokenizer
    assert prompt.text.endswith("English: hand\nJapanese: 手")
    assert tokenizer.decode(prompt.token_ids[slice(*prompt.source_span)]).strip() == "hand"
    assert tokenizer.decode(prompt.token_ids[prompt.target_start:]).strip() == "手"  # CJK decodes intact
    assert prompt.first_predicting_position == prompt.target_start - 1
    assert set(prompt.token_ids[prompt.target_start:]) <= prompt.word_token_ids(tokenizer)


def test_trace_and_its_figure(tiny_model_dir, sample):
    loaded = load_model(str(tiny_model_dir("gpt2")), device="cpu")
    prompt = dataset_prompt(loaded.tokenizer, sample, 13, "fr", "zh", seed=0)  # fleur → 花
    trace = trace_translation(loaded, prompt, top_k=4, settings=ClassifierSettings(first_layer=1))
    n_positions = len(prompt.token_ids) - 1 - prompt.source_span[0]
    assert trace.top_ids.shape == (3, n_positions, 4) and trace.target_probability_by_layer.shape == (3,)
    assert np.all(np.diff(trace.top_probabilities, axis=-1) <= 0)
    top_tokens = [[loaded.tokenizer.decode([int(t[0])]) for t in layer] for layer in trace.top_ids]
    figure = lens_trace_figure(trace.input_tokens, top_tokens, trace.top_probabilities[:, :, 0], "t")
    annotations = [text.get_text() for text in figure.axes[0].texts]
    assert len(annotations) == 3 * n_positions
    expected_top_row = top_tokens[-1][0].replace("\n", "\\n")
    shown = expected_top_row if expected_top_row.strip() else "␣" * len(expected_top_row)
    assert annotations[0] == shown[:8] or annotations[0].endswith("…")


def test_classify_dataset_is_resumable_and_summarised(tiny_llama, sample, tmp_path):
    config = ClassifyConfig(model="tiny", dataset_sha256=sample.sha256, pairs=(("en", "zh"), ("ja", "fr")),
                            limit=5, batch_size=2, classifier=ClassifierSettings(first_layer=1))
    summary = classify_dataset(tiny_llama, sample, config, tmp_path)
    records = [json.loads(line) for line in (tmp_path / "behaviours" / "en-zh.jsonl").open()]
    assert [r["id"] for r in records] == [e.id for e in sample.entries[:5]]
    for record in records:
        assert record["behaviour"] in (CO_OCCURRENCE, SEMANTIC_PIVOT)
        assert len(record["target_probability_by_layer"]) == 3 and 1 <= record["peak_layer"] <= 3
        assert (record["pivot_token_id"] is None) == (record["behaviour"] == CO_OCCURRENCE)
    pivots = sum(r["behaviour"] == SEMANTIC_PIVOT for r in records)
    assert summary["pairs"][0] == {"pair": "en-zh", "n_items": 5, "n_semantic_pivot": pivots,
                                   "share_semantic_pivot": pivots / 5}
    before = (tmp_path / "behaviours" / "en-zh.jsonl").read_text()
    classify_dataset(tiny_llama, sample, config, tmp_path)
    assert (tmp_path / "behaviours" / "en-zh.jsonl").read_text() == before


def test_token_set_curve_values(tiny_llama, sample):
    prompts = [dataset_prompt(tiny_llama.tokenizer, sample, i, "en", "fr", seed=0) for i in range(3)]
    vocab = len(tiny_llama.tokenizer)
    single = [prompts[0].token_ids[prompts[0].target_start]]
    result = token_set_curve(tiny_llama, prompts, [single, list(range(vocab)), [5, 6]], n_random_sets=4, seed=3)
    assert result.set_probability.shape == (3, 3) == result.random_probability.shape
    lens = lens_probabilities(tiny_llama, [prompts[0].token_ids], [[prompts[0].first_predicting_position]])
    np.testing.assert_allclose(result.set_probability[0], lens[:, 0, single[0]].numpy(), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(result.set_probability[1], 1.0, rtol=1e-5)  # the whole vocabulary
    np.testing.assert_allclose(result.random_probability[1], 1.0, rtol=1e-5)
    again = token_set_curve(tiny_llama, prompts, [single, list(range(vocab)), [5, 6]], n_random_sets=4, seed=3)
    np.testing.assert_array_equal(again.random_probability, result.random_probability)
    assert 1 <= result.peak_layer <= 3 and [row["layer"] for row in result.rows()] == [1, 2, 3]


def test_lens_commands(tiny_model_dir, tmp_path, capsys):
    model = str(tiny_model_dir("llama"))
    assert main(["lens", "trace", "--model", model, "--word", "fleur", "--pair", "fr-ja",
                 "--out", str(tmp_path / "trace"), "--device", "cpu"]) == 0
    trace = json.loads((tmp_path / "trace" / "trace.json").read_text())
    assert trace["target"] == "花" and len(trace["top_tokens"]) == 3
    assert (tmp_path / "trace" / "trace.png").stat().st_size > 5000
    assert main(["lens", "trace", "--model", model, "--word", "bronchitis", "--pair", "en-zh", "--out",
                 str(tmp_path / "t2")]) == 2
    assert "give its translation with --target" in capsys.readouterr().err
    assert main(["lens", "trace", "--model", model, "--word", "bronchitis", "--target", "支气管炎",
                 "--pair", "en-zh", "--out", str(tmp_path / "t2"), "--device", "cpu"]) == 0
    assert main(["lens", "classify", "--model", model, "--pairs", "en-fr", "--limit", "3",
                 "--out", str(tmp_path / "cls"), "--device", "cpu"]) == 0
    assert "semantic pivot (n=3)" in capsys.readouterr().out
    sets = tmp_path / "sets.jsonl"
    tokenizer = load_model(model, device="cpu").tokenizer
    vocabulary_form = tokenizer.convert_ids_to_tokens(tokenizer(" hand 手", add_special_tokens=False)["input_ids"])
    sets.write_text(json.dumps({"id": "hand", "pair": "en-zh", "tokens": vocabulary_form}) + "\n")
    assert main(["lens", "curve", "--model", model, "--token-sets", str(sets), "--out", str(tmp_path / "curve"),
                 "--random-sets", "3", "--device", "cpu"]) == 0
    curve = json.loads((tmp_path / "curve" / "curve.json").read_text())
    assert len(curve["layers"]) == 3 and 1 <= curve["peak_layer"] <= 3
    sets.write_text(json.dumps({"id": "hand", "pair": "en-zh", "tokens": ["no-such-token-xyz"]}) + "\n")
    assert main(["lens", "curve", "--model", model, "--token-sets", str(sets), "--out", str(tmp_path / "c2")]) == 2
    assert "sets.jsonl:1: bad token-set line" in capsys.readouterr().err
