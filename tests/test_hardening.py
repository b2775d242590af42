"""The attacks of the hardening review, each asserting the safe outcome."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from pivotlens.artifacts import lock_directory, unlock_directory
from pivotlens.cli import main
from pivotlens.errors import RunDirectoryError

HOLD_LOCK = ("import sys, time; from pathlib import Path; from pivotlens.artifacts import lock_directory; "
             "lock_directory(Path(sys.argv[1])); print('locked', flush=True); time.sleep(600)")


def _score_argv(model_dir, out):
    return ["score", "--model", str(model_dir), "--dataset", "sample", "--pairs", "en-fr", "--limit", "2",
            "--draws", "1", "--out", str(out), "--device", "cpu"]


def test_a_second_writer_of_an_output_directory_is_refused_and_a_killed_owner_frees_it(
        tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "scores"
    owner = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "locked"
        assert main(_score_argv(tiny_model_dir("llama"), out)) == 2
        err = capsys.readouterr().err
        assert f"pivotlens: error: {out} is being written by another pivotlens process (pid {owner.pid})" in err
        assert not (out / "items").exists()  # nothing appended by the refused writer
    finally:
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
    assert main(_score_argv(tiny_model_dir("llama"), out)) == 0  # the dead owner's lock is not stale
    lines = (out / "items" / "en-fr.jsonl").read_text().splitlines()
    assert len(lines) == 2


def test_the_lock_is_reentrant_in_one_process_and_released(tmp_path):
    lock_directory(tmp_path / "d")
    lock_directory(tmp_path / "d")
    unlock_directory(tmp_path / "d")
    probe = subprocess.run([sys.executable, "-c", HOLD_LOCK.replace("time.sleep(600)", "pass"), str(tmp_path / "d")],
                           capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "locked"


def test_an_output_path_that_is_a_file_is_a_one_line_error(tiny_model_dir, tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert main(_score_argv(tiny_model_dir("llama"), target)) == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    assert target.read_text() == "mine"


def test_a_command_refuses_a_directory_with_foreign_files(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    assert main(_score_argv(tiny_model_dir("llama"), out)) == 2
    assert "holds files pivotlens did not write (thesis.tex)" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [".lock", "thesis.tex"]


@pytest.mark.parametrize("foreign", ["score/analysis.ipynb", "notes.md"])
def test_run_never_deletes_or_overwrites_a_users_files(tmp_path, foreign):
    from pivotlens.pipeline import load_config, run_pipeline

    run_dir = tmp_path / "run"
    (run_dir / foreign).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / foreign).write_text("precious")
    (run_dir / "config.yaml").write_text("my own config")
    with pytest.raises(RunDirectoryError, match="pivotlens did not write"):
        run_pipeline(load_config(None, {"stages": ["score"]}), run_dir, log=lambda _: None)
    assert (run_dir / foreign).read_text() == "precious" and (run_dir / "config.yaml").read_text() == "my own config"


def _sample_copy(path):
    from importlib.resources import files

    from pivotlens.clwtd.schema import BUNDLED_DATASETS

    path.write_bytes(files("pivotlens.clwtd").joinpath(BUNDLED_DATASETS["sample"]).read_bytes())
    return path


def test_a_dataset_edited_in_place_reruns_the_stages_that_read_it(tiny_model_dir, tmp_path):
    from pivotlens.pipeline import load_config, run_pipeline

    dataset = _sample_copy(tmp_path / "words.jsonl")
    config = load_config(None, {"model": str(tiny_model_dir("llama")), "device": "cpu", "dataset": str(dataset),
                                "pairs": "en-fr", "stages": ["score"], "score": {"limit": 2, "draws": 1}})
    assert run_pipeline(config, tmp_path / "run", log=lambda _: None).ran == ["score"]
    assert run_pipeline(config, tmp_path / "run", log=lambda _: None).skipped == ["score"]
    dataset.write_text(dataset.read_text().replace('"chat"', '"matou"', 1))  # same path, new content
    assert run_pipeline(config, tmp_path / "run", log=lambda _: None).ran == ["score"]


def test_scores_of_a_model_changed_at_the_same_path_are_not_mixed(tiny_model_dir, tmp_path, capsys):
    import torch
    from safetensors.torch import load_file, save_file

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir("llama"), model)
    out = tmp_path / "scores"
    assert main(_score_argv(model, out)) == 0
    weights = model / "model.safetensors"
    tensors = load_file(weights)
    name = next(iter(tensors))
    tensors[name] = tensors[name] + torch.ones_like(tensors[name])  # "retrained" in place
    save_file(tensors, weights, metadata={"format": "pt"})
    capsys.readouterr()
    assert main(_score_argv(model, out)) == 2
    assert "holds results from a different run (differs in: model_sha256)" in capsys.readouterr().err


def test_a_word_with_a_unicode_line_separator_stays_one_record(tmp_path):
    from pivotlens.clwtd import load_dataset

    dataset = _sample_copy(tmp_path / "words.jsonl")
    dataset.write_text(dataset.read_text().replace('"fr": "chat"', '"fr": "ch\u2028at"', 1))
    loaded = load_dataset(dataset)
    assert len(loaded.entries) == 36
    assert any(entry.word["fr"] == "ch\u2028at" for entry in loaded.entries)


def test_a_cut_zst_corpus_is_an_error_not_a_shorter_corpus(tmp_path):
    import zstandard

    from pivotlens.corpus.readers import read_corpus
    from pivotlens.errors import CorpusError
    from pivotlens.selection.files import read_jsonl_zst, write_jsonl_zst

    path = tmp_path / "corpus.jsonl.zst"
    write_jsonl_zst(path, ({"id": str(i), "text": f"document {i} " + "mot " * (i % 50)} for i in range(1000)))
    assert sum(1 for _ in read_corpus(str(path))) == 1000 and sum(1 for _ in read_jsonl_zst(path)) == 1000
    blob = path.read_bytes()
    two_frames = tmp_path / "two.jsonl.zst"
    two_frames.write_bytes(blob + zstandard.ZstdCompressor().compress(b'{"id": "x", "text": "more"}\n'))
    assert sum(1 for _ in read_corpus(str(two_frames))) == 1001
    for cut in (int(len(blob) * 0.6), len(blob) - 1):
        path.write_bytes(blob[:cut])
        with pytest.raises(CorpusError, match="truncated"):
            sum(1 for _ in read_corpus(str(path)))
        with pytest.raises(CorpusError, match="truncated"):
            list(read_jsonl_zst(path))


ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))


def test_a_yaml_alias_bomb_and_non_finite_numbers_are_one_line_errors(tmp_path, capsys):
    config = tmp_path / "bomb.yaml"
    config.write_text(ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 700
    assert main(["run", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pivotlens: error: line 2: YAML aliases (*a) are not allowed") and err.count("\n") == 1
    ok = tmp_path / "ok.yaml"
    ok.write_text("training:\n  lr: .nan\n")
    assert main(["run", str(ok), "--run-dir", str(tmp_path / "run")]) == 2
    assert "training.lr: expected a finite number" in capsys.readouterr().err
    assert main(["run", str(ok), "--run-dir", str(tmp_path / "run"), "--set", "score.limit=[1"]) == 2
    assert "--set score.limit=[1: not valid YAML" in capsys.readouterr().err


def test_pivots_mine_refuses_a_corpus_other_than_the_counted_one(tiny_model_dir, tmp_path, capsys):
    counted, other = tmp_path / "counted.jsonl", tmp_path / "other.jsonl"
    counted.write_text("".join(json.dumps({"id": f"d{i}", "text": "the dog and le chien"}) + "\n" for i in range(5)))
    other.write_text("".join(json.dumps({"id": f"x{i}", "text": "a cat"}) + "\n" for i in range(5)))
    assert main(["corpus", "count", "--corpus", str(counted), "--dataset", "sample", "--pairs", "en-fr",
                 "--out", str(tmp_path / "counts")]) == 0
    (tmp_path / "lens").mkdir()
    argv = ["pivots", "mine", "--model", str(tiny_model_dir("llama")), "--behaviours", str(tmp_path / "lens"),
            "--counts", str(tmp_path / "counts"), "--out", str(tmp_path / "mined")]
    capsys.readouterr()
    assert main([*argv, "--corpus", str(other)]) == 2
    assert "is not the one counted in" in capsys.readouterr().err
    assert main([*argv, "--corpus", str(counted), "--text-field", "body"]) == 2
    assert "counted with --text-field text --id-field id" in capsys.readouterr().err


MEMORY_PROBE = """
import resource, sys
from pivotlens.corpus.readers import Document
from pivotlens.selection.langid import identify_documents
from pivotlens.selection.tokens import DocumentTokenizer
tokenizer = DocumentTokenizer.from_model(sys.argv[1])
identify_documents([Document("warm", "Le chat dort.")], tokenizer)  # the language-ID model is loaded
text = ("Le chat dort sur le tapis. The dog runs in the park. 猫がマットの上に座った。\\n" * 80000)[:4_000_000]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
found = identify_documents([Document("big", text)], tokenizer)[0]
print(len(found.chunks), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_language_id_of_a_4_mb_document_stays_within_a_bounded_memory(tiny_model_dir):
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tiny_model_dir("llama"))], capture_output=True,
                           text=True, timeout=300)
    chunks, growth_mib = map(int, probe.stdout.split())
    assert chunks > 20_000
    assert growth_mib < 300  # one tokenizer call on the whole document took ≈ 1.2 GB


def test_long_documents_are_tokenised_in_pieces_to_the_same_ids(tiny_model_dir):
    from pivotlens.models import load_tokenizer
    from pivotlens.selection.tokens import DocumentTokenizer
    from pivotlens.text import PIECE_CHARS
    from pivotlens.training.packing import document_token_ids

    text = "Le chat dort sur le tapis. The dog runs in the park. 猫がマットの上に座った。\n" * 5000
    assert len(text) > 2 * PIECE_CHARS
    tokenizer = load_tokenizer(str(tiny_model_dir("llama")))
    whole = tokenizer(text)["input_ids"]
    short, long_document = document_token_ids(tokenizer, ["a short one", text])
    assert long_document == [*whole, tokenizer.eos_token_id] and short[-1] == tokenizer.eos_token_id
    document_tokenizer = DocumentTokenizer.from_model(str(tiny_model_dir("llama")))
    ids, offsets = document_tokenizer.ids_and_offsets([text])[0]
    encoding = document_tokenizer.encode([text])[0]
    assert ids.tolist() == encoding.ids and [tuple(o) for o in offsets.tolist()] == encoding.offsets


def test_a_megabyte_word_and_a_prompt_beyond_the_context_are_one_line_errors(tiny_model_dir, tmp_path, capsys):
    dataset = _sample_copy(tmp_path / "words.jsonl")
    dataset.write_text(dataset.read_text().replace('"fr": "chat"', '"fr": "' + "chat" * 262_144 + '"', 1))
    assert main(["validate", str(dataset)]) == 2
    assert "word[fr] is not a word (1048576 characters; at most 64" in capsys.readouterr().err


def test_an_input_beyond_the_models_context_is_a_clear_error(tiny_llama):
    from pivotlens.errors import ModelError
    from pivotlens.lens import lens_probabilities

    context = tiny_llama.context_length
    assert context == tiny_llama.model.config.max_position_embeddings
    tiny_llama.check_fits([[1] * context], "fits")
    with pytest.raises(ModelError, match=f"a lens prompt is {context + 1} tokens, beyond the {context}-token context"):
        lens_probabilities(tiny_llama, [[1] * (context + 1)], [[context]])


def test_a_model_label_cannot_leave_the_output_directory():
    from pivotlens.errors import PivotlensError
    from pivotlens.training.evaluation import default_name, parse_named_models

    for raw in ["..=runs/x/final", ".=m", ".hidden=m"]:
        with pytest.raises(PivotlensError, match="not starting with '.'"):
            parse_named_models([raw])
    assert default_name("..") == "model" and default_name("runs/../final") == "model"


@pytest.mark.parametrize("damage", ["config", "weights", "custom code"])
def test_a_broken_or_foreign_model_is_a_one_line_error(tiny_model_dir, tmp_path, capsys, damage):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir("llama"), model)
    if damage == "config":
        (model / "config.json").write_text('{"model_type": "no-such-architecture"}')
    elif damage == "weights":
        weights = model / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        config = json.loads((model / "config.json").read_text())
        config.update(model_type="custom_thing", auto_map={"AutoModelForCausalLM": "modeling_custom.Custom"})
        (model / "config.json").write_text(json.dumps(config))
    assert main(_score_argv(model, tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert "pivotlens: error: could not load" in err and "Traceback" not in err


RAY_CLIENT_PROBE = """
from pivotlens.engine import map_on_ray
from pivotlens.errors import EngineError
try:
    map_on_ray(lambda shared, job, progress: job, None, [1], lambda i, r: None, address="ray://127.0.0.1:1",
               progress=None)
except EngineError as error:
    print(error)
"""


def test_a_ray_client_address_without_the_client_extra_is_a_clear_error():
    # a fresh process: this one may already hold a local Ray instance, which map_on_ray reuses
    probe = subprocess.run([sys.executable, "-c", RAY_CLIENT_PROBE], capture_output=True, text=True, timeout=120)
    assert probe.stdout.startswith("cannot start or reach the Ray cluster at 'ray://127.0.0.1:1'")


def test_a_damaged_middle_line_is_an_error_and_a_torn_last_line_is_resumed(tmp_path):
    from pivotlens.artifacts import iter_jsonl
    from pivotlens.errors import RecordError

    path = tmp_path / "items.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "p"')  # killed mid-write
    assert [record["id"] for _, record in iter_jsonl(path, on_invalid="truncate")] == ["a", "b"]
    assert path.read_text() == '{"id": "a"}\n{"id": "b"}\n'  # the torn line is cut, appending continues
    path.write_text('{"id": "a"}\n{"id": "b", oops}\n{"id": "c"}\n{"id": "d"}\n')
    with pytest.raises(RecordError, match="items.jsonl:2: damaged record before complete ones"):
        list(iter_jsonl(path, on_invalid="truncate"))
    assert path.read_text().count("\n") == 4  # nothing finished was cut away


def test_an_item_twice_in_a_results_file_is_an_error_not_averaged(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "scores"
    assert main(_score_argv(tiny_model_dir("llama"), out)) == 0
    items = out / "items" / "en-fr.jsonl"
    first = items.read_text().splitlines()[0]
    items.write_text(items.read_text() + first + "\n")
    capsys.readouterr()
    assert main(_score_argv(tiny_model_dir("llama"), out)) == 2
    assert "en-fr.jsonl:3: item" in capsys.readouterr().err


def test_a_file_that_is_not_a_gguf_and_deeply_nested_json_are_one_line_errors(tmp_path, capsys):
    from pivotlens.artifacts import iter_jsonl
    from pivotlens.errors import RecordError

    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"not a gguf at all" * 10)
    assert main(["score", "--model", str(fake), "--pairs", "en-fr", "--out", str(tmp_path / "out")]) == 2
    assert "cannot convert" in capsys.readouterr().err
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(RecordError, match="deep.jsonl:1: JSON nested too deeply"):
        list(iter_jsonl(deep))


def test_token_ids_outside_the_vocabulary_name_the_line(tiny_llama, sample, tmp_path):
    from pivotlens.errors import PivotlensError
    from pivotlens.lens.curves import read_token_sets

    sets = tmp_path / "token_sets.jsonl"
    sets.write_text(json.dumps({"id": sample.entries[0].id, "pair": "en-fr", "token_ids": [1, 10**9]}) + "\n")
    with pytest.raises(PivotlensError, match="token_sets.jsonl:1: token ids \\[1000000000\\] are outside the vocabulary"):
        read_token_sets(sets, tiny_llama.tokenizer, sample)


def test_the_sweeps_last_findings_are_one_line_errors(tiny_model_dir, tmp_path, capsys):
    big_int = tmp_path / "bigint.jsonl"
    big_int.write_text('{"schema_version": 1' + "0" * 5000 + "}\n")
    schema_true = _sample_copy(tmp_path / "true.jsonl")
    schema_true.write_text(schema_true.read_text().replace('"schema_version": 1', '"schema_version": true', 1))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    model = str(tiny_model_dir("llama"))
    cases = [
        (["validate", str(big_int)], "not readable JSON"),
        (["validate", str(schema_true)], "schema_version must be 1, found True"),
        (_score_argv(model, tmp_path / "a")[:-4] + ["--pairs", "", "--out", str(tmp_path / "a")], "no language pair"),
        (["select", "langid", "--corpus", str(empty), "--model", model, "--out", str(tmp_path / "l")], "no document"),
        (["train", "--model", model, "--device", "cpu", "--data", str(empty), "--steps", "1", "--seq-len", "8",
          "--out", str(tmp_path / "t")], "no document"),
        (["lens", "trace", "--model", model, "--device", "cpu", "--word", "hand", "--target", "", "--pair", "en-zh",
          "--out", str(tmp_path / "tr")], "--target is empty"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    with pytest.raises(SystemExit) as exit_info:
        main(_score_argv(model, tmp_path / "s") + ["--seed", "-5"])
    assert exit_info.value.code == 2 and "give a seed ≥ 0" in capsys.readouterr().err
