import json

import numpy as np
import pytest
import torch

from pivotlens.cli import main
from pivotlens.languages import PAPER_LANGUAGES
from pivotlens.lens import (
    CO_OCCURRENCE,
    SEMANTIC_PIVOT,
    VARIANT,
    ClassifierSettings,
    ClassifyConfig,
    ItemWords,
    classify_dataset,
    dataset_prompt,
    label,
    lens_probabilities,
    read_lens,
    token_set_curve,
    trace_translation,
)
from pivotlens.lens.behaviour import meaningless_tokens
from pivotlens.lens.core import lens_probabilities_all_positions
from pivotlens.lens.curves import frequency_bins, matched_random_sets
from pivotlens.lens.languages import language_curves, mean_ci
from pivotlens.lens.robustness import first_layer_choices, fleiss_kappa
from pivotlens.models import load_model
from pivotlens.models.tiny import TINY_ARCHITECTURES, train_tokenizer
from pivotlens.plots.figures import lens_trace_figure
from pivotlens.records import SOURCE, TARGET, BehaviourRecord, TranslationItem


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


@pytest.fixture(scope="module")
def paper_tokenizer():
    """The tiny tokenizer trained on the paper's four languages only, where the hand-built
    distributions' words (" liberté", " freedoms") are single tokens; trained on every registered
    language, the 2,000-token vocabulary splits them."""
    return train_tokenizer(languages=PAPER_LANGUAGES)


def _lens(tokenizer, peaks: dict[tuple[int, str], float], layers: int = 3) -> torch.Tensor:
    """Hand-built lens distributions over the tiny vocabulary: ``peaks`` (layer, token text) → p,
    the rest of each layer spread evenly."""
    probabilities = torch.zeros(layers, len(tokenizer))
    for (layer, text), value in peaks.items():
        (token_id,) = tokenizer(text, add_special_tokens=False)["input_ids"]
        probabilities[layer, token_id] = value
    rest = 1 - probabilities.sum(-1, keepdim=True)
    return probabilities + (probabilities == 0) * rest / (probabilities == 0).sum(-1, keepdim=True)


def _readout(tokenizer, peaks, words, src, tgt, **kwargs):
    ineligible = meaningless_tokens(tokenizer)
    decode = lambda i: tokenizer.decode([i])  # noqa: E731
    return read_lens(_lens(tokenizer, peaks), ItemWords.of(tokenizer, words, src, tgt), decode, ineligible, **kwargs)


def test_a_confidently_wrong_answer_is_co_occurrence_under_the_model_rule_and_a_pivot_under_gold(paper_tokenizer):
    tokenizer = paper_tokenizer
    # freedom → liberté, but the model answers " droit" (right): t* = " droit" at layer 2, its final top-1 too.
    readout = _readout(tokenizer, {(1, " droit"): 0.6, (2, " droit"): 0.5}, {"en": "freedom", "fr": "liberté"},
                       "en", "fr")
    assert (readout.output_token, readout.output_is_target) == (" droit", False)
    assert readout.output_probability == pytest.approx(0.5)
    assert readout.layer_top_tokens[1] == " droit" and readout.layer_top_relations[1] is None
    model, gold, either = (label(readout, rule, first_layer=1) for rule in ("model", "gold", "either"))
    assert (model.kind, model.token, model.peak_layer) == (CO_OCCURRENCE, " droit", 2)
    assert gold.kind == SEMANTIC_PIVOT and either.kind == CO_OCCURRENCE
    # A right answer: the same middle-layer " droit" is a pivot under every rule.
    right = _readout(tokenizer, {(1, " droit"): 0.6, (2, " liberté"): 0.5}, {"en": "freedom", "fr": "liberté"},
                     "en", "fr")
    assert right.output_is_target and right.layer_top_relations[2] == TARGET
    assert {label(right, rule, 1).kind for rule in ("model", "gold", "either")} == {SEMANTIC_PIVOT}
    assert label(right, "model", first_layer=3).kind == CO_OCCURRENCE  # from layer 3 up, t* is the answer


def test_a_sub_word_piece_of_the_target_is_not_a_pivot(paper_tokenizer):
    tokenizer = paper_tokenizer
    # montagne = " m" + "ont" + "ag" + "ne": "ag" is only a piece, never the word's first token.
    words = {"en": "mountain", "fr": "montagne"}
    readout = _readout(tokenizer, {(1, "ag"): 0.7, (2, " m"): 0.6}, words, "en", "fr")
    assert readout.layer_top_relations[1] == TARGET and readout.output_is_target
    assert {label(readout, rule, 1).kind for rule in ("model", "gold", "either")} == {CO_OCCURRENCE}
    source_piece = _readout(tokenizer, {(1, "ount"): 0.7, (2, " m"): 0.6}, words, "en", "fr")
    assert source_piece.layer_top_relations[1] == SOURCE and label(source_piece, "gold", 1).kind == CO_OCCURRENCE


def test_inflections_of_the_words_and_of_the_english_word_are_variants(paper_tokenizer):
    tokenizer = paper_tokenizer
    en_fr = _readout(tokenizer, {(1, " freedoms"): 0.7, (2, " libre"): 0.6}, {"en": "freedom", "fr": "liberté"},
                     "en", "fr")
    assert label(en_fr, "gold", 1).kind == VARIANT and label(en_fr, "model", 1).token == " freedoms"
    target_plural = _readout(tokenizer, {(1, " libertés"): 0.7, (2, " libre"): 0.6},
                             {"en": "freedom", "fr": "liberté"}, "en", "fr")
    assert label(target_plural, "gold", 1).kind == VARIANT
    # fr → zh: the English word's plural is a variant; the English word itself is a pivot through English.
    words = {"en": "right", "fr": "droit", "zh": "权"}
    plural = _readout(tokenizer, {(1, " rights"): 0.7, (2, " droit"): 0.6}, words, "fr", "zh")
    english = _readout(tokenizer, {(1, " right"): 0.7, (2, " droit"): 0.6}, words, "fr", "zh")
    assert label(plural, "gold", 1).kind == VARIANT
    assert label(english, "gold", 1).kind == SEMANTIC_PIVOT and english.layer_top_relations[1] == "en"


def test_readout_language_curves_and_entropy_are_sums_over_first_tokens(tiny_llama):
    tokenizer = tiny_llama.tokenizer
    words = {"en": "right", "fr": "droit"}
    probabilities = _lens(tokenizer, {(1, " droit"): 0.6, (2, " right"): 0.5})
    first = {code: {tokenizer(t, add_special_tokens=False)["input_ids"][0] for t in (w, " " + w)}
             for code, w in words.items()}
    readout = read_lens(probabilities, ItemWords.of(tokenizer, words, "en", "fr"), lambda i: tokenizer.decode([i]),
                        language_first_ids=first, draw=3)
    for code, ids in first.items():
        np.testing.assert_allclose(readout.language_probability_by_layer[code],
                                   probabilities[:, sorted(ids)].sum(-1).numpy(), rtol=1e-6)
    assert readout.language_probability_by_layer["fr"][1] >= 0.6 and readout.draw == 3
    uniform = np.log2(len(tokenizer))
    assert readout.entropy_by_layer[0] == pytest.approx(uniform, rel=1e-5) and readout.entropy_by_layer[1] < uniform


def test_latent_language_curve_means_and_t_intervals(tiny_llama):
    tokenizer = tiny_llama.tokenizer
    words = {"en": "right", "fr": "droit"}
    records = []
    for i, peak in enumerate([0.2, 0.4, 0.9]):
        readout = _readout(tokenizer, {(1, " droit"): peak, (2, " right"): 0.5}, words, "en", "fr",
                           language_first_ids={"en": tokenizer(" right", add_special_tokens=False)["input_ids"],
                                               "fr": tokenizer(" droit", add_special_tokens=False)["input_ids"]})
        records.append(BehaviourRecord(TranslationItem(f"i{i}", "en", "fr", "right", "droit"), CO_OCCURRENCE, 1, "x", 1,
                                       0.5, None, None, (0.1, 0.1, 0.1), "model", 1, readout))
    curves = language_curves(records)["en-fr"]
    assert curves["n_items"] == 3
    fr = curves["curves"]["fr"]
    assert fr["mean"][1] == pytest.approx(0.5)
    half = 4.302652729911275 * np.std([0.2, 0.4, 0.9], ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert (fr["ci_low"][1], fr["ci_high"][1]) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))
    assert curves["curves"]["en"]["ci_low"][2] == pytest.approx(0.5) == curves["curves"]["en"]["ci_high"][2]
    assert set(curves["curves"]) == {"en", "fr", "entropy"}
    single = mean_ci(np.array([[0.3, 0.7]]))
    assert [list(v) for v in single] == [[0.3, 0.7]] * 3


def test_fleiss_kappa_of_the_textbook_example_and_edge_cases():
    # Fleiss (1971) as tabulated on Wikipedia: 10 subjects, 14 raters, 5 categories: kappa 0.210.
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
              [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(np.array(counts)) == pytest.approx(0.2099, abs=1e-4)
    assert fleiss_kappa(np.array([[3, 0], [0, 3]])) == pytest.approx(1.0)
    assert np.isnan(fleiss_kappa(np.array([[3, 0], [3, 0]])))  # one category only: chance agreement is 1
    with pytest.raises(ValueError):
        fleiss_kappa(np.array([[3, 0], [1, 1]]))
    assert first_layer_choices(18) == {"1": 1, "L/4": 5, "L/2": 9, "3L/4": 14}


def test_matched_random_sets_reproduce_the_frequency_histogram():
    rng = np.random.default_rng(0)
    frequencies = np.concatenate([np.zeros(300), rng.lognormal(-6, 2, 700)])
    bins = frequency_bins(frequencies, n_bins=8)
    assert bins[:300].max() == 0 and bins[300:].min() >= 1 and bins.max() == 8
    pivots = [int(i) for i in rng.choice(np.flatnonzero(bins > 0), 12, replace=False)] + [3, 17]  # two unseen tokens
    sets = matched_random_sets(pivots, bins, 25, np.random.default_rng(1), exclude=[5])
    wanted = np.bincount(bins[pivots], minlength=9)
    assert sets.shape == (25, 14)
    for drawn in sets:
        np.testing.assert_array_equal(np.bincount(bins[drawn], minlength=9), wanted)
        assert len(set(drawn)) == 14 and not set(drawn) & {*pivots, 5}
    assert len({tuple(sorted(s)) for s in sets}) > 20  # random, not one fixed set


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
    assert set(prompt.token_ids[prompt.target_start:]) <= prompt.item_words(tokenizer).target.ids
    assert dict(prompt.entry_words)["fr"] == sample.entries[0].word["fr"]
    other_draw = dataset_prompt(tiny_llama.tokenizer, sample, 0, "en", "ja", seed=0, draw=1)
    assert other_draw.draw == 1 and other_draw.text != prompt.text and other_draw.text.endswith("English: hand\nJapanese: 手")


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
        assert record["behaviour"] in (CO_OCCURRENCE, SEMANTIC_PIVOT, VARIANT)
        assert len(record["target_probability_by_layer"]) == 3 and 1 <= record["peak_layer"] <= 3
        assert (record["pivot_token_id"] is None) == (record["behaviour"] != SEMANTIC_PIVOT)
        assert record["output_rule"] == "model" and record["draw"] == 0 and len(record["layer_top_ids"]) == 3
        assert set(record["language_probability_by_layer"]) == {"en", "fr", "zh", "ja"}
    pivots = sum(r["behaviour"] == SEMANTIC_PIVOT for r in records)
    row = summary["pairs"][0]
    assert (row["pair"], row["n_items"], row["n_semantic_pivot"], row["share_semantic_pivot"]) == ("en-zh", 5, pivots,
                                                                                                    pivots / 5)
    assert row["pivot_share_model_rule"] == pivots / 5
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
    assert main(["lens", "robustness", "--model", model, "--behaviours", str(tmp_path / "cls"), "--draws", "2",
                 "--out", str(tmp_path / "robust"), "--device", "cpu"]) == 0
    assert "label agreement over 2 draws: Fleiss' kappa" in capsys.readouterr().out
    robustness = json.loads((tmp_path / "robust" / "robustness.json").read_text())
    assert robustness["draw_agreement"][-1]["items"] == 3 and len(robustness["pivot_shares"]) == 15
    assert main(["lens", "languages", "--behaviours", str(tmp_path / "cls"), "--out", str(tmp_path / "lang")]) == 0
    languages = json.loads((tmp_path / "lang" / "languages.json").read_text())
    assert languages["en-fr"]["n_items"] == 3 and (tmp_path / "lang" / "languages.png").stat().st_size > 5000
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


def test_a_bare_space_answer_falls_back_to_the_final_layers_top_word(paper_tokenizer):
    tokenizer = paper_tokenizer
    # The model's final top-1 is a bare space (Gemma before a CJK word); its top word there is " droit".
    readout = _readout(tokenizer, {(1, " droit"): 0.6, (2, " "): 0.5, (2, " liberté"): 0.3},
                       {"en": "freedom", "fr": "liberté"}, "en", "fr")
    assert readout.output_token == " " and not readout.output_is_target
    assert readout.layer_top_tokens[2] == " liberté"  # the space is not eligible
    assert label(readout, "model", 1).kind == SEMANTIC_PIVOT  # the answer is the target: " droit" is a pivot
    assert label(readout, "model", 3).kind == CO_OCCURRENCE
