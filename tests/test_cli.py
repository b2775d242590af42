import json

from pivotlens.cli import main


def test_score_command_writes_every_artifact(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["score", "--model", str(tiny_model_dir("qwen2")), "--dataset", "sample", "--pairs", "en-fr,ja-zh",
            "--limit", "2", "--draws", "2", "--out", str(out), "--device", "cpu"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "mean cross-lingual ability over 2 pair(s)" in printed
    summary = json.loads((out / "matrix.json").read_text())
    assert summary["matrix"]["en"]["fr"] is not None and summary["matrix"]["ja"]["zh"] is not None
    assert summary["pairs"][0]["n_items"] == 2
    for name in ("manifest.json", "matrix.csv", "pairs.csv", "heatmap.png", "items/en-fr.jsonl"):
        assert (out / name).is_file()
    assert main(argv) == 0  # resumable: nothing left to score


def test_user_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert main(["score", "--model", "x", "--pairs", "en-xx", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pivotlens: error: bad language pair 'en-xx'") and "Traceback" not in err
    # German is registered, but the bundled clwtd has no German words.
    assert main(["score", "--model", "x", "--pairs", "en-de", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == "pivotlens: error: bundled:clwtd has no pair en-de: its languages are en, fr, zh, ja\n"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"schema_version": 1}\n{oops\n')
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:1: 'id' must be a non-empty string" in err and "bad.jsonl:2: not valid JSON" in err


def test_validate_bundled_sample(capsys):
    assert main(["validate", "sample"]) == 0
    assert "36 valid entries" in capsys.readouterr().out


def test_python_dash_m_runs_the_cli():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "pivotlens.cli", "validate", "sample"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "36 valid entries" in done.stdout
