import csv
import json
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from pivotlens.cli import main
from pivotlens.errors import PivotlensError
from pivotlens.models import load_model
from pivotlens.plots.training import draw_comparison_figures
from pivotlens.records import ItemScore, TranslationItem, write_item_scores
from pivotlens.training.compare import compare_item_scores, compare_score_dirs, comparison_markdown, write_comparison
from pivotlens.training.evaluation import default_name, expand_checkpoints, parse_named_models
from pivotlens.training.packing import PackedBlocks, read_token_stats, write_token_file
from pivotlens.training.trainer import TrainConfig, train
from pivotlens.training.translation import (
    ChrfConfig,
    ParallelPair,
    corpus_chrf,
    evaluate_chrf,
    read_parallel,
    translate,
    translation_prompt,
)
from pivotlens.training.udhr import aligned_paragraphs

TEXTS = [
    "The cat sits on the mat. Le chat est sur le tapis. 猫はマットの上にいる。",
    "A dog runs in the park. Un chien court dans le parc. 狗在公园里跑。",
    "Water is blue and the sky is blue. L'eau est bleue et le ciel est bleu.",
] * 8


def write_mix(path: Path, texts=TEXTS) -> Path:
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)))
    return path


def small_config(model_dir, mix, steps=4, **overrides) -> TrainConfig:
    settings = {"model": str(model_dir), "data": str(mix), "steps": steps, "seq_len": 32, "batch_size": 2, "lr": 3e-3,
                "warmup_steps": 1, "save_every": 2, "probe_blocks": 2, "device": "cpu"}
    return TrainConfig(**{**settings, **overrides})


# --- packing ---------------------------------------------------------------------------------

class LetterTokenizer:
    """a=1 … z=26, EOS=0; optionally appends EOS itself, like some tokenizers do."""

    eos_token_id = 0

    def __init__(self, appends_eos: bool = False):
        self.appends_eos = appends_eos

    def __call__(self, texts, verbose=True):
        return {"input_ids": [[ord(c) - 96 for c in t] + ([0] if self.appends_eos else []) for t in texts]}


@pytest.mark.parametrize("appends_eos", [False, True])
def test_packing_cuts_the_eos_separated_stream_into_blocks(tmp_path, appends_eos):
    token_file = tmp_path / "tokens.u32"
    stats = write_token_file(LetterTokenizer(appends_eos), ["abc", "de", "fghij"], token_file)
    assert (stats.documents, stats.tokens, stats.eos_id) == (3, 13, 0)
    assert read_token_stats(token_file) == stats
    blocks = PackedBlocks(token_file, block_size=4)
    # stream: a b c EOS d e EOS f g h i j EOS → 3 blocks of 4, the last token (EOS) dropped
    assert len(blocks) == 3
    assert [blocks[i]["input_ids"].tolist() for i in range(3)] == [[1, 2, 3, 0], [4, 5, 0, 6], [7, 8, 9, 10]]
    assert torch.equal(blocks[1]["labels"], blocks[1]["input_ids"])
    assert len(PackedBlocks(token_file, block_size=4, limit=2)) == 2
    with pytest.raises(PivotlensError, match="fewer than one block"):
        PackedBlocks(token_file, block_size=20)


def test_interrupted_token_file_is_not_taken_for_complete(tmp_path):
    token_file = tmp_path / "tokens.u32"
    (tmp_path / "tokens.u32.tmp").write_bytes(b"\0" * 8)  # a kill during tokenisation
    assert read_token_stats(token_file) is None


# --- training --------------------------------------------------------------------------------

def test_training_lowers_the_loss_and_writes_a_loadable_model(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("llama")
    config = small_config(model_dir, write_mix(tmp_path / "mix.jsonl"), steps=6, save_every=3)
    result = train(config, tmp_path / "run")
    assert result.global_step == 6 and result.resumed_from_step is None
    assert [step for step, _ in result.probe_loss] == [0, 3, 6]
    assert result.probe_loss[-1][1] < result.probe_loss[0][1] - 0.5
    before, after = load_file(model_dir / "model.safetensors"), load_file(result.final_dir / "model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    trained = load_model(str(result.final_dir), device="cpu")  # model + tokenizer, as the scorer loads them
    assert trained.tokenizer.eos_token_id == result.tokens.eos_id
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stage"] == "train" and len(manifest["identity"]["data_sha256"]) == 64
    assert manifest["data"][0]["sha256"] and manifest["identity"]["seed"] == 0
    assert train(config, tmp_path / "run").already_done  # a finished run is a no-op
    with pytest.raises(PivotlensError, match="differs in: lr"):
        train(small_config(model_dir, tmp_path / "mix.jsonl", steps=6, lr=1e-4), tmp_path / "run")


class Killed(Exception):
    pass


class KillAfterSave(TrainerCallback):
    """Stands in for a kill right after checkpoint ``step`` was written."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Killed


class FirstStepSpy(TrainerCallback):
    def __init__(self):
        self.first = None

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        if self.first is None:
            self.first = (state.global_step, len(optimizer.state))


def test_a_killed_run_resumes_from_its_last_checkpoint(tiny_model_dir, tmp_path):
    config = small_config(tiny_model_dir("llama"), write_mix(tmp_path / "mix.jsonl"), steps=4)
    out = tmp_path / "run"
    with pytest.raises(Killed):
        train(config, out, callbacks=[KillAfterSave(2)])
    (out / "checkpoints" / "checkpoint-3").mkdir()  # a checkpoint cut short by the kill
    spy = FirstStepSpy()
    result = train(config, out, callbacks=[spy])
    assert result.resumed_from_step == 2 and result.global_step == 4
    assert spy.first[0] == 2 and spy.first[1] > 0  # continued at step 2 with AdamW's moments loaded
    assert not (out / "checkpoints" / "checkpoint-3").exists()
    assert [step for step, _ in result.probe_loss] == [0, 2, 4]  # step 0 logged by the first run
    extended = train(small_config(tiny_model_dir("llama"), tmp_path / "mix.jsonl", steps=6), out)
    assert extended.resumed_from_step == 4 and extended.global_step == 6


@pytest.mark.parametrize("damage", ["model.safetensors", "optimizer.pt", "trainer_state.json"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(tiny_model_dir, tmp_path, damage):
    config = small_config(tiny_model_dir("llama"), write_mix(tmp_path / "mix.jsonl"), steps=4)
    out = tmp_path / "run"
    with pytest.raises(Killed):
        train(config, out, callbacks=[KillAfterSave(4)])
    damaged = out / "checkpoints" / "checkpoint-4" / damage
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    with pytest.warns(UserWarning, match=f"checkpoint-4: damaged {damage}"):
        result = train(config, out)
    assert result.resumed_from_step == 2 and result.global_step == 4


@pytest.mark.slow
def test_kill_and_resume_gives_the_same_weights_as_one_run(tiny_model_dir, tmp_path):
    config = small_config(tiny_model_dir("llama"), write_mix(tmp_path / "mix.jsonl"), steps=6)
    straight = train(config, tmp_path / "straight")
    with pytest.raises(Killed):
        train(config, tmp_path / "killed", callbacks=[KillAfterSave(4)])
    resumed = train(config, tmp_path / "killed")
    a, b = load_file(straight.final_dir / "model.safetensors"), load_file(resumed.final_dir / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


# --- comparison --------------------------------------------------------------------------------

BASE = {"en-fr": {"a": 0.10, "b": 0.50, "c": -0.20, "d": 0.90}, "zh-ja": {"a": 0.0, "b": 0.30, "c": 0.60, "d": -0.10}}


def shifted(by: dict[str, float]) -> dict[str, dict[str, float]]:
    return {pair: {i: s + by[pair] for i, s in items.items()} for pair, items in BASE.items()}


def test_paired_deltas_of_a_constant_shift_have_zero_width_cis():
    comparison = compare_item_scores({"start": BASE, "ours": shifted({"en-fr": 0.05, "zh-ja": 0.01})}, "start",
                                     ["en-fr", "zh-ja"], n_bootstrap=500)
    assert comparison.models == ["start", "ours"] and comparison.pairs == ["en-fr", "zh-ja", "avg"]
    base = comparison.cell("start", "en-fr")
    assert base.mean == pytest.approx(0.325) and base.delta is None and not base.significant
    assert comparison.cell("start", "avg").mean == pytest.approx((0.325 + 0.2) / 2)
    cell = comparison.cell("ours", "en-fr")
    assert cell.mean == pytest.approx(0.375) and cell.delta == pytest.approx(0.05)
    # Unpaired, the items' spread (sd ≈ 0.47) would give a CI ±0.4 wide; paired it is exact.
    assert (cell.ci_low, cell.ci_high) == pytest.approx((0.05, 0.05)) and cell.significant
    avg = comparison.cell("ours", "avg")
    assert avg.delta == pytest.approx(0.03) and (avg.ci_low, avg.ci_high) == pytest.approx((0.03, 0.03))
    assert avg.n_items == 4


def test_bootstrap_ci_of_two_items_spans_the_resample_means():
    base = {"en-zh": {"x": 0.2, "y": 0.2}}
    model = {"en-zh": {"x": 0.2, "y": 1.2}}  # differences 0 and 1
    cell = compare_item_scores({"b": base, "m": model}, "b", ["en-zh"], n_bootstrap=4000, seed=3).cell("m", "en-zh")
    # resample means are 0, ½, 1 with probabilities ¼, ½, ¼: the 2.5% and 97.5% quantiles are 0 and 1
    assert cell.delta == pytest.approx(0.5) and (cell.ci_low, cell.ci_high) == (0.0, 1.0) and not cell.significant
    again = compare_item_scores({"b": base, "m": model}, "b", ["en-zh"], n_bootstrap=4000, seed=3).cell("m", "en-zh")
    assert again == cell  # deterministic under the seed


def test_comparison_refuses_unpaired_items_and_unknown_baseline():
    partial = {"en-fr": dict(list(BASE["en-fr"].items())[:3]), "zh-ja": BASE["zh-ja"]}
    with pytest.raises(PivotlensError, match="paired deltas need the same items"):
        compare_item_scores({"start": BASE, "ours": partial}, "start", ["en-fr", "zh-ja"])
    with pytest.raises(PivotlensError, match="baseline 'nope'"):
        compare_item_scores({"start": BASE}, "nope", ["en-fr"])


def test_comparison_from_score_files_writes_table_csv_json_and_heatmaps(tmp_path):
    dirs = {}
    for name, scores in (("start", BASE), ("multilingual", shifted({"en-fr": 0.0, "zh-ja": 0.02})),
                         ("ours", shifted({"en-fr": 0.05, "zh-ja": 0.01}))):
        (tmp_path / name / "items").mkdir(parents=True)
        for pair, items in scores.items():
            write_item_scores(tmp_path / name / "items" / f"{pair}.jsonl",
                              [ItemScore(TranslationItem(i, pair[:2], pair[3:], "word", "mot"), ("a",), s, ())
                               for i, s in items.items()])
        dirs[name] = tmp_path / name
    comparison = compare_score_dirs(dirs, "start", ["en-fr", "zh-ja"], n_bootstrap=200)
    written = write_comparison(comparison, tmp_path / "out") + draw_comparison_figures(comparison, tmp_path / "out")
    assert {p.name for p in written} == {"comparison.md", "comparison.csv", "comparison.json", "deltas.png",
                                         "delta_matrices.png"}
    markdown = comparison_markdown(comparison)
    assert "| ours | 0.3750 | 0.2100 | 0.2925 |" in markdown
    assert "**+0.0500 [+0.0500, +0.0500]**" in markdown and "| multilingual | +0.0000 [+0.0000, +0.0000]" in markdown
    rows = list(csv.DictReader((tmp_path / "out" / "comparison.csv").open()))
    ours_avg = next(r for r in rows if r["model"] == "ours" and r["pair"] == "avg")
    assert float(ours_avg["delta"]) == pytest.approx(0.03) and ours_avg["significant"] == "1"
    assert json.loads((tmp_path / "out" / "comparison.json").read_text())["baseline"] == "start"
    with pytest.raises(PivotlensError, match="zh-en.jsonl is missing"):
        compare_score_dirs(dirs, "start", ["zh-en"])


def test_model_names_for_tables_and_directories(tmp_path):
    assert default_name("runs/multilingual/final") == "multilingual"
    assert default_name("allenai/OLMo-1B-hf") == "OLMo-1B-hf"
    assert [m.name for m in parse_named_models(["start=gemma-3-270m", "runs/ours/final"])] == ["start", "ours"]
    with pytest.raises(PivotlensError, match="used twice"):
        parse_named_models(["a/final", "b/a"])
    run = tmp_path / "mix"
    for step in (10, 20):
        (run / "checkpoints" / f"checkpoint-{step}").mkdir(parents=True)
        (run / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (run / "checkpoints" / "checkpoint-30").mkdir()  # incomplete: skipped
    assert [(m.name, m.step) for m in expand_checkpoints([str(run)])] == [("mix-step10", 10), ("mix-step20", 20)]


# --- chrF++ and parallel files ------------------------------------------------------------------

def test_chrf_plus_plus_is_sacrebleus():
    hypotheses = ["The cat sat on the mat.", "猫がマットの上に座った。", "人人生而自由。", ""]
    references = ["The cat is sitting on the mat.", "猫はマットの上に座っていた。",
                  "人人生而自由,在尊严和权利上一律平等。", "Bonjour."]
    score, signature = corpus_chrf(hypotheses, references)
    assert score == pytest.approx(sacrebleu.corpus_chrf(hypotheses, [references], word_order=2).score)
    assert "nw:2" in signature and "nc:6" in signature
    assert corpus_chrf(["人人生而自由。"], ["人人生而自由。"])[0] == pytest.approx(100.0)


def test_parallel_readers(tmp_path):
    tsv = tmp_path / "en-zh.tsv"
    tsv.write_text("en\tzh\nHello.\t你好。\n\nThank you.\t谢谢。\n")
    assert read_parallel(tsv, "en", "zh") == [ParallelPair("2", "Hello.", "你好。"), ParallelPair("4", "Thank you.", "谢谢。")]
    pairs_file = tmp_path / "pairs.jsonl"
    pairs_file.write_text('{"id": "s1", "src": "Bonjour\\nà tous", "tgt": "こんにちは"}\n')
    assert read_parallel(pairs_file, "fr", "ja") == [ParallelPair("s1", "Bonjour à tous", "こんにちは")]
    udhr = read_parallel("udhr", "fr", "ja")
    assert len(udhr) == 50 and udhr[0].id == "udhr-01-1" and udhr[0].source.startswith("Tous les êtres humains")
    assert udhr[0].target.startswith("すべての人間は")
    bad = tmp_path / "bad.tsv"
    bad.write_text("one\ttwo\nonly one column\n")
    with pytest.raises(PivotlensError, match=r"bad.tsv:2: expected 2 tab-separated columns"):
        read_parallel(bad, "en", "fr")
    pairs_file.write_text('{"en": "x", "fr": "y"}\n')
    with pytest.raises(PivotlensError, match="needs string fields 'src' and 'tgt', or 'en' and 'zh'"):
        read_parallel(pairs_file, "en", "zh")


def test_udhr_alignment_keeps_only_articles_with_matching_paragraph_counts(tmp_path):
    def page(articles):
        body = "".join(f'<article data-number="{n}"><h2>{n}</h2>' + "".join(f"<p>{p}</p>" for p in ps) + "</article>"
                       for n, ps in articles.items())
        return f"<html><body><header><p>preamble</p></header>{body}</body></html>"

    for name, tag in (("eng", "en"), ("fra", "fr"), ("cmn_hans", "zh"), ("jpn", "ja")):
        extra = ["second"] if tag == "ja" else []
        (tmp_path / f"{name}.html").write_text(page({"1": [f"{tag} one"], "2": [f"{tag} a", *extra]}), encoding="utf-8")
    assert aligned_paragraphs(tmp_path) == [{"id": "udhr-01-1", "en": "en one", "fr": "fr one", "zh": "zh one", "ja": "ja one"}]


def test_translation_prompt_and_greedy_decoding_stop_at_newline(tiny_llama):
    shots = [ParallelPair("1", "Hello.", "Bonjour.")]
    prompt = translation_prompt("en", "fr", shots, "Thank you.")
    assert prompt == ("Please translate sentences from English to French.\n\n"
                      "English: Hello.\nFrench: Bonjour.\n\nEnglish: Thank you.\nFrench:")
    prompts = [prompt, translation_prompt("en", "fr", shots, "The cat is on the mat, and the dog is in the park.")]
    batched = translate(tiny_llama, prompts, max_new_tokens=12, batch_size=2)
    assert batched == translate(tiny_llama, prompts, max_new_tokens=12, batch_size=1)
    assert all("\n" not in text and text == text.strip() for text in batched)


def test_chrf_evaluation_resumes_from_its_translations(tiny_llama, tmp_path):
    pairs = [ParallelPair(str(i), f"Sentence {i}.", f"Phrase {i}.") for i in range(4)]
    config = ChrfConfig(model="tiny", parallel_sha256="x", src="en", tgt="fr", shots=1, max_new_tokens=6)
    first = evaluate_chrf(tiny_llama, pairs, config, tmp_path)
    assert first.n_items == 3 and [r["id"] for r in first.records] == ["1", "2", "3"]
    lines = (tmp_path / "translations.jsonl").read_text().splitlines()
    (tmp_path / "translations.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:5])  # torn by a kill
    again = evaluate_chrf(tiny_llama, pairs, config, tmp_path)
    assert again.score == pytest.approx(first.score) and again.records == first.records
    assert json.loads((tmp_path / "chrf.json").read_text())["n_items"] == 3


# --- CLI -------------------------------------------------------------------------------------------

def test_cli_train_then_checkpoints_then_compare(tiny_model_dir, tmp_path, capsys):
    model = str(tiny_model_dir("llama"))
    mix = write_mix(tmp_path / "mix.jsonl")
    run = tmp_path / "run"
    train_argv = ["train", "--model", model, "--data", str(mix), "--steps", "2", "--out", str(run), "--seq-len", "32",
                  "--batch-size", "2", "--lr", "3e-3", "--warmup-steps", "1", "--save-every", "2", "--probe-blocks", "1",
                  "--device", "cpu"]
    assert main(train_argv) == 0
    assert "probe loss (first 1 blocks)" in capsys.readouterr().out
    assert main(train_argv) == 0 and "nothing to do" in capsys.readouterr().out

    parallel = tmp_path / "en-fr.tsv"
    parallel.write_text("Hello.\tBonjour.\nThank you.\tMerci.\nGood night.\tBonne nuit.\n")
    out = tmp_path / "curves"
    assert main(["checkpoints", "--models", str(run), "--baseline-model", f"start={model}", "--out", str(out),
                 "--pairs", "en-fr", "--draws", "1", "--limit", "2", "--parallel", str(parallel), "--src", "en",
                 "--tgt", "fr", "--chrf-shots", "1", "--max-new-tokens", "4", "--device", "cpu"]) == 0
    rows = list(csv.DictReader((out / "checkpoints.csv").open()))
    assert [(r["name"], r["step"]) for r in rows] == [("start", "0"), ("run-step2", "2")]
    assert (out / "checkpoints.png").is_file() and (out / "chrf" / "run-step2" / "translations.jsonl").is_file()

    # compare reuses the word-level scores just written (same dataset, seed, draws): nothing is rescored
    assert main(["compare", "--models", f"run-step2={run}/checkpoints/checkpoint-2", "--baseline-model",
                 f"start={model}", "--out", str(out), "--pairs", "en-fr", "--draws", "1", "--limit", "2",
                 "--bootstrap", "100", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "| start |" in printed and "| run-step2 |" in printed
    assert np.isfinite(json.loads((out / "comparison.json").read_text())["cells"][-1]["delta"])

    assert main(["chrf", "--model", model, "--parallel", str(parallel), "--src", "en", "--tgt", "fr", "--shots", "1",
                 "--max-new-tokens", "4", "--device", "cpu"]) == 0
    assert "chrF++ en→fr" in capsys.readouterr().out
    assert main(["chrf", "--model", model, "--parallel", str(tmp_path / "none.tsv")]) == 2
    assert "no such file" in capsys.readouterr().err
