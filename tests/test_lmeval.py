"""The lm-evaluation-harness tasks `clwtd_{src}_{tgt}` and `clwtd` give `pivotlens score`'s numbers."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from pivotlens.cli import main
from pivotlens.errors import PivotlensError
from pivotlens.languages import ALL_PAIRS, pair_key
from pivotlens.lmeval import GROUP, task_name, tasks_dir
from pivotlens.records import ITEM_SCORES_DIR, read_item_scores
from pivotlens.scoring import ScoreConfig, score_dataset
from pivotlens.scoring.likelihood import TokenizedRequest, tokenize_request

PAIRS = (("en", "fr"), ("zh", "ja"))
ITEMS = 2


def _yaml(path: Path) -> dict:
    # the task files tag their class with !function, which only lm-eval's loader resolves
    loader = type("Loader", (yaml.SafeLoader,), {})
    loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
    return yaml.load(path.read_text(), Loader=loader)  # noqa: S506 — a SafeLoader subclass


def test_one_task_per_pair_and_a_group_of_all():
    configs = {path.stem: _yaml(path) for path in tasks_dir().glob("*.yaml")}
    assert configs.pop(GROUP)["task"] == [task_name(src, tgt) for src, tgt in ALL_PAIRS]
    assert configs == {task_name(src, tgt): {"task": task_name(src, tgt), "class": "pivotlens.lmeval.task.ClwtdTask",
                                            "pair": pair_key(src, tgt)} for src, tgt in ALL_PAIRS}


def test_lm_eval_tasks_prints_the_include_path(capsys):
    assert main(["lm-eval-tasks"]) == 0
    assert Path(capsys.readouterr().out.strip()) == tasks_dir()


@pytest.fixture(scope="module")
def pivotlens_scores(tiny_llama, sample, tmp_path_factory):
    config = ScoreConfig(model=tiny_llama.name, dataset_sha256=sample.sha256, pairs=PAIRS, limit=ITEMS)
    out = tmp_path_factory.mktemp("score")
    summary = score_dataset(tiny_llama, sample, config, out)
    items = {(r.item.src, r.item.tgt, r.item.id): r for src, tgt in PAIRS
             for r in read_item_scores(out / ITEM_SCORES_DIR / f"{pair_key(src, tgt)}.jsonl")}
    return summary, items


def test_the_task_reproduces_pivotlens_score(tiny_llama, pivotlens_scores):
    pytest.importorskip("lm_eval")
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    summary, items = pivotlens_scores
    manager = TaskManager(include_path=str(tasks_dir()), include_defaults=False,
                          metadata={"pretrained": tiny_llama.name, "dataset": "sample"})
    results = simple_evaluate(model="hf", model_args={"pretrained": tiny_llama.name, "dtype": "float32", "device": "cpu"},
                              tasks=[task_name(src, tgt) for src, tgt in PAIRS], limit=ITEMS, task_manager=manager,
                              log_samples=True)
    for src, tgt in PAIRS:
        samples = results["samples"][task_name(src, tgt)]
        assert [sample["doc"]["index"] for sample in samples] == list(range(ITEMS))
        for sample in samples:
            record = items[(src, tgt, sample["doc"]["id"])]
            # the random tiny model puts P near 1/vocabulary: compare relatively as well as to 1e-5
            assert sample["score"] == pytest.approx(record.score, rel=1e-4, abs=1e-9)
            assert abs(sample["score"] - record.score) < 1e-5
            assert sample["p_source"] == pytest.approx(np.mean([d.p_source for d in record.draws]), rel=1e-5)
            assert sample["p_distractors"] == pytest.approx(np.mean([d.p_distractors for d in record.draws]), rel=1e-5)
            # 5 draws × (the source word + 9 distractors), each with the same continuation
            assert len(sample["arguments"]) == 50
        pair = next(row for row in summary["pairs"] if row["pair"] == pair_key(src, tgt))
        assert results["results"][task_name(src, tgt)]["score,none"] == pytest.approx(pair["mean_score"], rel=1e-4)


@pytest.mark.slow
def test_the_lm_eval_command_line(tiny_model_dir, tmp_path):
    """The command of the README, with lm-eval's built-in tasks indexed too (slow: thousands of YAMLs)."""
    pytest.importorskip("lm_eval")
    model = tiny_model_dir("llama")
    command = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={model},dtype=float32",
               "--device", "cpu", "--tasks", "clwtd_en_fr", "--include_path", str(tasks_dir()), "--limit", "1",
               "--metadata", '{"dataset": "sample"}']
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")})
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "clwtd_en_fr" in finished.stdout and "score" in finished.stdout


def test_an_item_whose_tokens_lm_eval_would_split_differently_is_refused(tiny_llama):
    pytest.importorskip("lm_eval")
    from pivotlens.lmeval.task import ClwtdTask

    task = ClwtdTask({"task": task_name("en", "fr"), "pair": "en-fr",
                      "metadata": {"pretrained": tiny_llama.name, "dataset": "sample"}})
    doc = task.test_docs()[0]
    draw = task.item_draws(doc)[0]
    request = tokenize_request(task.tokenizer(), draw.prompts, draw.continuation)
    task.check_same_tokens(doc, draw, request)  # the real boundary passes
    # as if the tokenizer had merged the prompt's last token into the continuation
    merged = TokenizedRequest(request.sequences, tuple(start - 1 for start in request.continuation_starts))
    with pytest.raises(PivotlensError, match="merges the prompt's end"):
        task.check_same_tokens(doc, draw, merged)
