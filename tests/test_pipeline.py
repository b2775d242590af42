import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from pivotlens.cli import main
from pivotlens.errors import PivotlensError
from pivotlens.pipeline import load_config, run_pipeline, stages


@pytest.fixture(scope="module")
def small_config(tiny_model_dir):
    """The demo config at a reduced size, on a tiny model."""
    return load_config(None, {
        "model": str(tiny_model_dir("llama")), "device": "cpu", "pairs": "en-zh,fr-ja",
        "score": {"limit": 3, "draws": 2}, "lens": {"limit": 6, "first_layer": 1}, "robustness": {"draws": 3, "limit": 2},
        "counts": {"reservoir": 40}, "auc": {"bootstrap": 50},
        "pivots": {"documents": 40, "background": 80}, "pivot_curve": {"random_sets": 3},
        # The bundled corpus is 70% fr/zh/ja: a short multilingual window keeps its fr/zh/ja
        # documents below the mix size, as the selection requires.
        "selection": {"docs_per_language": 150, "mix_size": 60, "multilingual_window": 40,
                      "candidate_window": 3000, "sensitivity": [1, 2]},
        "training": {"steps": 2, "seq_len": 32, "batch_size": 2, "lr": 1e-3},
        "compare": {"pairs": "en-zh", "limit": 2, "draws": 1, "bootstrap": 50},
    })


@pytest.fixture(scope="module")
def finished_run(small_config, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    outcome = run_pipeline(small_config, run_dir, log=lambda _: None)
    from pivotlens.report.run_report import write_report

    write_report(run_dir)
    return run_dir, outcome


def test_every_stage_writes_its_artifacts(finished_run):
    run_dir, outcome = finished_run
    assert outcome.ran == [stage.name for stage in stages()]
    for path in ["score/matrix.json", "score/heatmap.png", "lens/behaviours/en-zh.jsonl", "lens/trace.png",
                 "robustness/robustness.md", "robustness/draw-2/behaviours/en-zh.jsonl", "languages/languages.png",
                 "pivots/token_frequencies.npy", "counts/pairs.parquet", "auc/auc.md", "auc/scatter.png",
                 "pivots/pivots.jsonl", "config.yaml",
                 "selection/mixes/language_shares.md", "training/pivot_aware/final/config.json",
                 "compare/comparison.md", "report.md", "report.html"]:
        assert (run_dir / path).is_file(), path
    for stage in stages():
        state = json.loads((run_dir / stage.name / "stage.json").read_text())
        assert state["status"] == "done" and len(state["fingerprint"]) == 64
    rows = [line.strip("|").split("|") for line in
            (run_dir / "selection" / "mixes" / "language_shares.md").read_text().splitlines()[2:]]
    shares = {row[0].strip(): [float(cell) for cell in row[3:6]] for row in rows}  # fr, zh, ja %
    assert set(shares) == {"original", "multilingual", "pivot_aware"} and sum(shares["multilingual"]) > 0
    assert all(abs(a - b) <= 100 / 60 + 1e-6 for a, b in zip(shares["multilingual"], shares["pivot_aware"]))
    report = (run_dir / "report.md").read_text()
    assert "Cross-lingual ability" in report and "AUC" in report and "Mined semantic pivots" in report
    assert "Fleiss' kappa" in report and "Latent-language curves" in report
    if (run_dir / "pivots" / "token_sets.jsonl").read_text().strip():  # some item kept pivots: a curve
        curve = json.loads((run_dir / "pivot_curve" / "curve.json").read_text())
        assert curve["reference_control"] == "matched" and {"matched_mean", "source_mean", "target_mean",
                                                            "random_mean"} <= set(curve["layers"][0])
    assert report.count("![") == len(re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", report))
    html = (run_dir / "report.html").read_text()
    assert "data:image/png;base64," in html and 'src="score/' not in html  # self-contained


def test_rerun_is_a_no_op_and_an_option_change_reruns_downstream(finished_run, small_config):
    run_dir, _ = finished_run
    before = (run_dir / "score" / "items" / "en-zh.jsonl").stat().st_mtime_ns
    again = run_pipeline(small_config, run_dir, log=lambda _: None)
    assert again.ran == [] and (run_dir / "score" / "items" / "en-zh.jsonl").stat().st_mtime_ns == before
    changed = load_config(None, {**{k: v for k, v in small_config.items() if k != "pivots"},
                                 "pivots": {**small_config["pivots"], "top": 20}})
    outcome = run_pipeline(changed, run_dir, log=lambda _: None)
    assert outcome.ran == ["pivots", "pivot_curve"]
    assert outcome.skipped == ["score", "lens", "robustness", "languages", "counts", "auc", "selection", "training",
                               "compare"]


def test_failure_names_the_stage_and_keeps_earlier_results(small_config, tmp_path):
    run_dir = tmp_path / "run"
    broken = load_config(None, {**small_config, "lens": {**small_config["lens"], "first_layer": 99}})
    with pytest.raises(PivotlensError, match="stage lens failed: --first-layer must be between 1 and 3"):
        run_pipeline(broken, run_dir, log=lambda _: None)
    assert json.loads((run_dir / "score" / "stage.json").read_text())["status"] == "done"
    assert json.loads((run_dir / "lens" / "stage.json").read_text())["status"] == "failed"


def test_only_and_from_and_config_errors(finished_run, small_config, tmp_path):
    run_dir, _ = finished_run
    run_pipeline(small_config, run_dir, log=lambda _: None)  # back to the fixture's options
    assert run_pipeline(small_config, run_dir, only="auc", log=lambda _: None).ran == []
    assert run_pipeline(small_config, run_dir, from_stage="pivot_curve", log=lambda _: None).ran == ["pivot_curve"]
    with pytest.raises(PivotlensError, match="not a stage of this run"):
        run_pipeline(small_config, run_dir, only="nope")
    # A study of the measurement stages only: the selection/training stages are not run or touched.
    subset = {**small_config, "stages": ["counts", "lens", "auc"]}
    assert run_pipeline(subset, run_dir, from_stage="counts", log=lambda _: None).ran == ["counts", "auc"]
    with pytest.raises(PivotlensError, match="not a stage of this run"):
        run_pipeline(subset, run_dir, only="training")
    with pytest.raises(PivotlensError, match="pivots reads the results of counts, lens: add them"):
        run_pipeline({**small_config, "stages": ["pivots"]}, run_dir)
    with pytest.raises(PivotlensError, match="unknown scor"):
        run_pipeline({**small_config, "stages": ["scor"]}, run_dir)
    with pytest.raises(PivotlensError, match="needs the results of counts, lens"):
        run_pipeline(small_config, tmp_path / "fresh", only="auc")
    with pytest.raises(PivotlensError, match="unknown config keys: modle"):
        load_config(None, {"modle": "x"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(PivotlensError, match="not valid YAML"):
        load_config(bad)


def test_run_command_with_a_config_file(finished_run, small_config, tmp_path, capsys):
    run_dir, _ = finished_run
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(small_config))
    assert main(["run", str(config), "--run-dir", str(run_dir)]) == 0
    assert "unchanged, skipped: score, lens" in capsys.readouterr().out
    assert main(["run", str(config), "--run-dir", str(run_dir), "--set", "score.limit"]) == 2


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(finished_run, tmp_path):
    run_dir, _ = finished_run
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000"]
    url = (run_dir / "report.html").resolve().as_uri()
    dom = subprocess.run(["chromium", *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    n_figures = (run_dir / "report.md").read_text().count("![")
    assert f'data-figures="{n_figures}"' in dom and f'data-figures-rendered="{n_figures}"' in dom
    screenshot = tmp_path / "report.png"
    subprocess.run(["chromium", *flags, "--window-size=1200,2400", f"--screenshot={screenshot}", url],
                   capture_output=True, timeout=120)
    assert screenshot.stat().st_size > 50_000


def test_cli_parser_does_not_load_torch():
    code = "import sys, pivotlens.cli; pivotlens.cli.build_parser(); assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


class Killed(BaseException):
    """A kill: nothing in the runner catches it."""


def _kill_before_markers(run_dir, name):
    """What a kill between a stage's outputs and its completion markers leaves: every output, the
    library markers (complete.json) gone, and the runner's state still ``running``."""
    stage_dir = run_dir / name
    for marker in stage_dir.rglob("complete.json"):
        marker.unlink()
    state = json.loads((stage_dir / "stage.json").read_text())
    (stage_dir / "stage.json").write_text(json.dumps({"stage": name, "status": "running",
                                                      "fingerprint": state["fingerprint"]}))
    return state


@pytest.mark.parametrize("name", ["score", "lens", "counts", "auc", "pivots", "pivot_curve", "selection",
                                  "training", "compare"])
def test_a_kill_before_the_marker_leaves_the_stage_unfinished_and_the_rerun_completes_it(
        finished_run, small_config, name):
    run_dir, _ = finished_run
    run_pipeline(small_config, run_dir, log=lambda _: None)  # back to the fixture's options
    before = _kill_before_markers(run_dir, name)
    outcome = run_pipeline(small_config, run_dir, log=lambda _: None)
    assert outcome.ran == [name]  # not trusted as finished; and nothing downstream reruns
    after = json.loads((run_dir / name / "stage.json").read_text())
    assert (after["status"], after["fingerprint"]) == ("done", before["fingerprint"])
    assert after["summary"]["facts"] == before["summary"]["facts"]
    assert run_pipeline(small_config, run_dir, log=lambda _: None).ran == []


def test_the_pivots_hole_is_closed(finished_run, small_config):
    """pivots.jsonl written, token_sets.jsonl not yet: the stage is unfinished, the rerun writes both."""
    run_dir, _ = finished_run
    run_pipeline(small_config, run_dir, log=lambda _: None)
    token_sets = (run_dir / "pivots" / "token_sets.jsonl").read_text()
    _kill_before_markers(run_dir, "pivots")
    (run_dir / "pivots" / "token_sets.jsonl").unlink()
    assert (run_dir / "pivots" / "pivots.jsonl").is_file()
    assert run_pipeline(small_config, run_dir, only="pivots", log=lambda _: None).ran == ["pivots"]
    assert (run_dir / "pivots" / "token_sets.jsonl").read_text() == token_sets
    assert run_pipeline(small_config, run_dir, only="pivot_curve", log=lambda _: None).skipped == ["pivot_curve"]


def test_the_runner_marks_done_only_after_the_stage_function_returned(finished_run, small_config, monkeypatch):
    from dataclasses import replace

    from pivotlens.pipeline import definitions

    run_dir, _ = finished_run
    run_pipeline(small_config, run_dir, log=lambda _: None)
    _kill_before_markers(run_dir, "score")

    def killed_after_the_outputs(stage_function):
        def function(ctx, options):
            stage_function(ctx, options)  # every output written
            raise Killed
        return function

    monkeypatch.setattr(definitions, "STAGES", [replace(s, function=killed_after_the_outputs(s.function))
                                                if s.name == "score" else s for s in definitions.STAGES])
    with pytest.raises(Killed):
        run_pipeline(small_config, run_dir, only="score", log=lambda _: None)
    assert (run_dir / "score" / "complete.json").is_file()  # the library finished, the stage did not
    assert json.loads((run_dir / "score" / "stage.json").read_text())["status"] == "running"
    monkeypatch.undo()
    assert run_pipeline(small_config, run_dir, log=lambda _: None).ran == ["score"]
    assert json.loads((run_dir / "score" / "stage.json").read_text())["status"] == "done"


def test_run_rejects_a_nested_typo_or_wrong_type_naming_the_key(tmp_path, capsys):
    config = tmp_path / "typo.yaml"
    config.write_text("score:\n  drawz: 3\n")
    assert main(["run", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == ("pivotlens: error: score.drawz: unknown option "
                                       "(allowed: batch_size, draws, limit, shots)\n")
    config.write_text("training:\n  steps: many\n")
    assert main(["run", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == "pivotlens: error: training.steps: expected an integer, got 'many'\n"
    assert main(["demo", "--run-dir", str(tmp_path / "run"), "--set", "score.drawz=3"]) == 2
    assert "score.drawz: unknown option" in capsys.readouterr().err
    assert main(["demo", "--run-dir", str(tmp_path / "run"), "--set", "lens.allow_any_token=maybe"]) == 2
    assert capsys.readouterr().err == "pivotlens: error: lens.allow_any_token: expected true or false, got 'maybe'\n"
    assert not (tmp_path / "run").exists()  # rejected before any stage runs


def test_the_effective_config_is_written_in_full(finished_run, small_config):
    run_dir, _ = finished_run
    written = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert written == small_config and written["training"]["grad_accum"] == 1
    assert written["selection"]["sensitivity"] == [1, 2] and written["counts"]["reservoir"] == 40


HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[click](javascript:alert(1))",
           "![x](https://evil.example/x.png)", "a|b", "line\u2028break"]


def test_hostile_words_and_model_path_reach_the_html_report_as_text(finished_run, tmp_path):
    from pivotlens.report.run_report import write_report
    from pivotlens.tables import markdown_table

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run[0], run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["model"] = HOSTILE[1]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    state_path = run_dir / "lens" / "stage.json"
    state = json.loads(state_path.read_text())
    rows = [{"word": word, "token": word, "p": 0.5} for word in HOSTILE]
    state["summary"]["tables"].append({"title": HOSTILE[0], "markdown": markdown_table(rows)})
    state_path.write_text(json.dumps(state))
    _, html_path = write_report(run_dir)
    page = html_path.read_text()
    body = page[page.index("<body>"):page.rindex("<script>")]  # the page's own figure-check script aside
    for fragment in ["<script", "<img src=x", "onerror=alert(1)>", 'href="javascript', "evil.example/x.png\""]:
        assert fragment not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "a|b" in body
    table = body[body.index("<strong>&lt;script&gt;"):]
    first_row = table[table.index("<tbody>"):table.index("</tr>", table.index("<tbody>"))]
    assert first_row.count("<td") == 3  # a "|" in a word does not add a column
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img src="([^"]+)"', body))


def test_a_report_figure_outside_the_run_directory_is_refused(finished_run, tmp_path):
    from pivotlens.report.run_report import write_report

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run[0], run_dir)
    (tmp_path / "secret.png").write_bytes(b"\x89PNG not yours")
    state_path = run_dir / "score" / "stage.json"
    state = json.loads(state_path.read_text())
    state["summary"]["figures"] = [{"title": "x", "path": "../secret.png"}]
    state_path.write_text(json.dumps(state))
    with pytest.raises(PivotlensError, match="not a PNG file inside"):
        write_report(run_dir)
