"""Lens decoders: the identity translator is the logit lens; tuned-lens training, saving, reloading,
resuming and refusal for another model (on tiny models)."""

import json
from dataclasses import replace

import pytest
import torch
import yaml
from safetensors.torch import load_file

from pivotlens.cli import main
from pivotlens.errors import ConfigError, ModelError
from pivotlens.lens import lens_probabilities
from pivotlens.lens.decoders import (
    LOGIT_LENS,
    TRANSLATORS_FILE,
    TUNED_CONFIG_FILE,
    Decoder,
    Translators,
    decoder_identity,
    load_decoder,
    save_translators,
)
from pivotlens.lens.options import TunedLensOptions
from pivotlens.lens.tuned import evaluate, plan_data, train_tuned_lens
from pivotlens.models import load_model
from pivotlens.models.tiny import build_tiny_model
from pivotlens.records import CO_OCCURRENCE, SEMANTIC_PIVOT, BehaviourRecord, LensReadout, TranslationItem, write_behaviours
from pivotlens.report.decoders import main as decoders_report

# Small enough for a few seconds on a tiny model; Adam at 1e-2 so that a handful of steps move it.
OPTIONS = TunedLensOptions(sequence_length=32, positions_per_sequence=8, train_positions=256, heldout_positions=64,
                           batch_positions=32, lr=1e-2, checkpoint_every=2, logits_dtype="float32")


@pytest.fixture(scope="module")
def tiny_gemma(tiny_model_dir):
    return load_model(str(tiny_model_dir("gemma3")), device="cpu")


@pytest.fixture(scope="module")
def trained(tiny_gemma, tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned")
    return out, train_tuned_lens(tiny_gemma, "bundled", out, OPTIONS, seed=0)


def _sequences(loaded):
    sequences = [loaded.tokenizer("English: hand\nJapanese: 手")["input_ids"], loaded.tokenizer("chien rouge")["input_ids"]]
    return sequences, [[len(sequences[0]) - 1, 2], [1, 3]]


@pytest.mark.parametrize("architecture", ["llama", "gemma3", "gpt2"])
def test_identity_translators_reproduce_the_logit_lens_exactly(tiny_model_dir, architecture):
    loaded = load_model(str(tiny_model_dir(architecture)), device="cpu")
    sequences, positions = _sequences(loaded)
    layers, hidden = len(loaded.adapter.layers), loaded.model.config.get_text_config().hidden_size
    identity = Decoder("tuned:untrained", Translators(layers, hidden))
    logit = lens_probabilities(loaded, sequences, positions)
    assert torch.equal(lens_probabilities(loaded, sequences, positions, identity), logit)
    assert torch.equal(lens_probabilities(loaded, sequences, positions, LOGIT_LENS), logit)


def test_training_lowers_heldout_kl_at_every_layer(trained):
    out, summary = trained
    rows = summary["heldout"]
    assert len(rows) == 3 and summary["steps"] == 8 and summary["train_positions"] == 256
    for row in rows[:-1]:  # the last layer is the model's output under both decoders: KL 0
        assert row["kl_tuned"] < row["kl_logit"], row
        assert row["kl_logit"] > 0.05
    assert rows[-1]["kl_logit"] == pytest.approx(0, abs=1e-5) and rows[-1]["kl_tuned"] == rows[-1]["kl_logit"]
    assert rows[-1]["top1_logit"] == rows[-1]["top1_tuned"] == 1.0
    written = json.loads((out / "heldout.json").read_text())
    assert written["heldout"] == rows
    assert (out / "heldout.csv").read_text().splitlines()[0] == "layer,kl_logit,kl_tuned,top1_logit,top1_tuned"
    assert len((out / "training_log.jsonl").read_text().splitlines()) == 8
    assert not (out / "checkpoint.pt").exists()


def test_saved_translators_reload_to_identical_outputs(trained, tiny_gemma):
    out, summary = trained
    first, second = load_decoder(f"tuned:{out}", tiny_gemma), load_decoder(f"tuned:{out}", tiny_gemma)
    sequences, positions = _sequences(tiny_gemma)
    tuned = lens_probabilities(tiny_gemma, sequences, positions, first)
    assert torch.equal(tuned, lens_probabilities(tiny_gemma, sequences, positions, second))
    assert not torch.equal(tuned[:-1], lens_probabilities(tiny_gemma, sequences, positions)[:-1])
    # The reloaded decoder measures exactly what training measured with the in-memory translators.
    heldout = plan_data("bundled", tiny_gemma.tokenizer, OPTIONS, 0).heldout
    assert [row["kl"] for row in evaluate(tiny_gemma, first, heldout)] == [row["kl_tuned"] for row in summary["heldout"]]
    # Finished: a rerun returns the summary without training again.
    assert train_tuned_lens(tiny_gemma, "bundled", out, OPTIONS, seed=0) == summary


def test_a_killed_run_resumes_to_the_same_translators(tiny_gemma, trained, tmp_path):
    out, _ = trained
    steps_done = []

    def stop_after_three(n):
        steps_done.append(n)
        if len(steps_done) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_tuned_lens(tiny_gemma, "bundled", tmp_path, OPTIONS, seed=0, progress=stop_after_three)
    assert (tmp_path / "checkpoint.pt").is_file() and not (tmp_path / "translators.safetensors").exists()
    resumed_from = []
    train_tuned_lens(tiny_gemma, "bundled", tmp_path, OPTIONS, seed=0, total=lambda steps, done: resumed_from.append(done))
    assert resumed_from == [2]  # the checkpoint after step 2; step 3 is redone
    assert (tmp_path / "translators.safetensors").read_bytes() == (out / "translators.safetensors").read_bytes()


def test_a_decoder_for_another_model_is_refused(trained, tiny_model_dir, tmp_path):
    out, _ = trained
    other_weights = load_model(str(build_tiny_model("gemma3", tmp_path / "other", seed=1)), device="cpu")
    with pytest.raises(ModelError, match="was trained for .*model_sha256"):
        load_decoder(f"tuned:{out}", other_weights)
    other_architecture = load_model(str(tiny_model_dir("llama")), device="cpu")
    with pytest.raises(ModelError, match="architecture: trained for 'Gemma3ForCausalLM'"):
        load_decoder(f"tuned:{out}", other_architecture)
    with pytest.raises(ConfigError, match="logit' or 'tuned:DIR'"):
        decoder_identity("tuned")
    with pytest.raises(ConfigError, match="is missing"):
        decoder_identity(f"tuned:{tmp_path}")


def test_plan_data_is_seeded_and_keeps_heldout_documents_apart(tiny_gemma):
    options = replace(OPTIONS, train_positions=128)
    first, again = plan_data("bundled", tiny_gemma.tokenizer, options, 0), plan_data("bundled", tiny_gemma.tokenizer,
                                                                                      options, 0)
    assert first == again
    assert first != plan_data("bundled", tiny_gemma.tokenizer, options, 1)
    trained_on = {w.token_ids for batch in first.batches for w in batch}
    assert not trained_on & {w.token_ids for w in first.heldout}
    assert all(0 not in w.positions and max(w.positions) < len(w.token_ids) for w in first.heldout)
    assert sum(len(w.positions) for w in first.heldout) == 64 and first.train_positions == 128


def test_lens_commands_take_and_record_the_decoder(trained, tiny_model_dir, tmp_path, capsys):
    out, _ = trained
    model = str(tiny_model_dir("gemma3"))
    decoder = f"tuned:{out}"
    main(["lens", "classify", "--model", model, "--dataset", "sample", "--pairs", "en-fr", "--limit", "3",
          "--decoder", decoder, "--first-layer", "1", "--out", str(tmp_path / "classify")])
    identity = json.loads((tmp_path / "classify" / "manifest.json").read_text())["identity"]
    assert identity["decoder"] == "tuned" and identity["sha256"] == decoder_identity(decoder)["sha256"]
    main(["lens", "trace", "--model", model, "--dataset", "sample", "--word", "dog", "--pair", "en-fr",
          "--decoder", decoder, "--compare-decoder", "logit", "--out", str(tmp_path / "trace")])
    assert json.loads((tmp_path / "trace" / "trace.json").read_text())["decoder"] == "tuned"
    assert (tmp_path / "trace" / "trace-comparison.png").stat().st_size > 0
    assert main(["lens", "classify", "--model", str(tiny_model_dir("llama")), "--dataset", "sample", "--pairs", "en-fr",
                 "--limit", "1", "--decoder", decoder, "--out", str(tmp_path / "refused")]) != 0
    assert "was trained for" in capsys.readouterr().err and not (tmp_path / "refused").exists()


def test_the_pipeline_takes_the_decoder_and_reruns_the_lens_when_it_is_retrained(trained, tiny_model_dir, tmp_path,
                                                                                 capsys):
    out, _ = trained
    decoder_dir = tmp_path / "decoder"
    decoder_dir.mkdir()
    for name in (TRANSLATORS_FILE, TUNED_CONFIG_FILE):
        (decoder_dir / name).write_bytes((out / name).read_bytes())
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump({"model": str(tiny_model_dir("gemma3")), "device": "cpu", "dataset": "sample",
                                      "pairs": "en-fr", "stages": ["lens"], "lens": {"limit": 2, "first_layer": 1}}))
    run = ["run", str(config), "--run-dir", str(tmp_path / "run"), "--decoder", f"tuned:{decoder_dir}"]
    assert main(run) == 0
    lens = tmp_path / "run" / "lens"
    assert json.loads((lens / "manifest.json").read_text())["identity"]["sha256"] == \
        decoder_identity(f"tuned:{decoder_dir}")["sha256"]
    assert f"decoder: **tuned:{decoder_dir}**" in (tmp_path / "run" / "report.md").read_text()
    assert main(run) == 0 and "unchanged, skipped: lens" in capsys.readouterr().out
    # Retrained in place: other weights at the same path rerun the stage.
    translators = Translators(3, 64)
    translators.load_state_dict(load_file(str(decoder_dir / TRANSLATORS_FILE)))
    with torch.no_grad():
        translators.translators[0].bias.add_(0.5)
    save_translators(translators, decoder_dir, json.loads((decoder_dir / TUNED_CONFIG_FILE).read_text()))
    assert main(run) == 0 and "skipped" not in capsys.readouterr().out
    assert json.loads((lens / "manifest.json").read_text())["identity"]["sha256"] == \
        decoder_identity(f"tuned:{decoder_dir}")["sha256"]


def _records(src: str, tgt: str, tokens: list[str]) -> list[BehaviourRecord]:
    """One record per token: t* = the token, semantic pivot unless the token is the target word."""
    return [BehaviourRecord(TranslationItem(f"w{i}", src, tgt, f"w{i}", "mot"),
                            CO_OCCURRENCE if token == "mot" else SEMANTIC_PIVOT, i, token, 9, 0.5,
                            None if token == "mot" else i, None if token == "mot" else token, (0.1, 0.2), "model", 1,
                            LensReadout(0, (i, i), (token, token), (0.3, 0.5), (None, None), i, token, 0.5, token == "mot",
                                        {}, (1.0, 1.0)))
            for i, token in enumerate(tokens)]


def test_decoder_report_compares_shared_cells_and_counts_junk(tmp_path, capsys):
    logit, tuned = tmp_path / "logit" / "behaviours", tmp_path / "tuned" / "behaviours"
    logit.mkdir(parents=True)
    tuned.mkdir(parents=True)
    write_behaviours(logit / "en-fr.jsonl", _records("en", "fr", ["▁1", "mot", ",", "▁fleur", "▁extra"]))
    write_behaviours(tuned / "en-fr.jsonl", _records("en", "fr", ["▁flower", "mot", "mot", "▁1"]))
    (tmp_path / "tuned-dir").mkdir()
    (tmp_path / "tuned-dir" / "heldout.json").write_text(json.dumps({
        "steps": 2, "train_positions": 32, "train_documents": 8, "heldout_positions": 8, "heldout_documents": 2,
        "training_seconds": 12.0, "heldout": [
            {"layer": 1, "kl_logit": 5.0, "kl_tuned": 1.0, "top1_logit": 0.0, "top1_tuned": 0.5},
            {"layer": 2, "kl_logit": 3.0, "kl_tuned": 2.0, "top1_logit": 0.25, "top1_tuned": 0.5},
            {"layer": 3, "kl_logit": 0.0, "kl_tuned": 0.0, "top1_logit": 1.0, "top1_tuned": 1.0}]}))
    decoders_report(["--tuned", str(tmp_path / "tuned-dir"), "--figure", str(tmp_path / "kl.png"),
                     f"logit={tmp_path / 'logit'}", f"tuned={tmp_path / 'tuned'}"])
    out = capsys.readouterr().out
    assert "| mean of 1–2 | 4.000 | 1.500 | 0.125 | 0.500 |" in out
    # 4 shared items (w4 only in the logit run): logit 3 pivots of 4, two junk (1 and ","); tuned 2 of 4, one `1`.
    assert "| en-fr | 0.750 | 0.500 |" in out and "| all | 0.750 | 0.500 |" in out
    assert "| logit | 4 | 0.250 | 0.500 | 0.000 | 9.000 | '▁1' 1, 'mot' 1, ',' 1 |" in out
    assert "| tuned | 4 | 0.250 | 0.250 | 0.000 | 9.000 | 'mot' 2, '▁flower' 1, '▁1' 1 |" in out
    assert (tmp_path / "kl.png").stat().st_size > 0
