import argparse
import dataclasses
from dataclasses import dataclass
from importlib.resources import files
from typing import Literal

import pytest
import yaml

from pivotlens.cli import build_parser
from pivotlens.corpus.auc import AucOptions
from pivotlens.corpus.counting import CountOptions
from pivotlens.errors import ConfigError
from pivotlens.lens.options import ClassifyOptions, CurveOptions
from pivotlens.options import add_option_flags, option, options_dict, options_from_args, parse_options
from pivotlens.pipeline import default_config, load_config, stages
from pivotlens.pipeline.definitions import StudyOptions
from pivotlens.pivots.options import MineOptions
from pivotlens.scoring.options import ScoreOptions
from pivotlens.selection.mixes import SelectionOptions
from pivotlens.training.compare import CompareOptions
from pivotlens.training.trainer import TrainOptions


@dataclass(frozen=True)
class Toy:
    batch_size: int = option(8, "items per batch")
    rate: float = option(0.5, "a rate")
    name: str | None = option(None, "an optional name")
    mode: Literal["fast", "slow"] = option("fast", "how to run")
    verbose: bool = option(False, "say more")
    alphas: tuple[float, ...] = option((1.0, 2.0), "alpha values")


def _toy_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_option_flags(parser, Toy)
    return parser


def test_flags_from_a_dataclass_have_names_defaults_help_and_choices():
    parser = _toy_parser()
    actions = {action.dest: action for action in parser._actions if action.dest != "help"}
    assert [a.option_strings[0] for a in actions.values()] == [
        "--batch-size", "--rate", "--name", "--mode", "--verbose", "--alphas"]
    assert actions["batch_size"].help == "items per batch" and actions["batch_size"].default == 8
    assert actions["mode"].choices == ("fast", "slow") and actions["alphas"].nargs == "+"
    assert options_from_args(Toy, parser.parse_args([])) == Toy()
    args = parser.parse_args(["--batch-size", "3", "--mode", "slow", "--verbose", "--alphas", "0.5", "4",
                              "--name", "x"])
    assert options_from_args(Toy, args) == Toy(3, 0.5, "x", "slow", True, (0.5, 4.0))
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "medium"])


def test_parse_options_checks_keys_and_types_at_one_line():
    assert parse_options(Toy, {"batch_size": 2, "rate": 1, "alphas": [1, 2], "name": None}, "toy") == Toy(
        2, 1, None, "fast", False, (1, 2))
    assert parse_options(Toy, {"rate": "1e-3"}, "toy").rate == 0.001  # YAML 1.1 reads 1e-3 as a string
    with pytest.raises(ConfigError, match=r"^toy\.batch: unknown option \(allowed: alphas, batch_size, mode, name, "
                                          r"rate, verbose\)$"):
        parse_options(Toy, {"batch": 2}, "toy")
    for key, value, expected in [("batch_size", "x", "an integer"), ("batch_size", True, "an integer"),
                                 ("verbose", 1, "true or false"), ("mode", "medium", "one of fast, slow"),
                                 ("alphas", [1, "a"], "a list of numbers"), ("name", 3, "a string or null")]:
        with pytest.raises(ConfigError, match=f"^toy.{key}: expected {expected}, got "):
            parse_options(Toy, {key: value}, "toy")
    with pytest.raises(ConfigError, match="^toy: expected a mapping of options, got 3$"):
        parse_options(Toy, 3, "toy")
    assert options_dict(Toy()) == {"batch_size": 8, "rate": 0.5, "name": None, "mode": "fast", "verbose": False,
                                   "alphas": [1.0, 2.0]}


def test_load_config_rejects_nested_typos_and_wrong_types():
    with pytest.raises(ConfigError, match=r"^score\.drawz: unknown option \(allowed: batch_size, draws, limit, shots\)$"):
        load_config(None, {"score": {"drawz": 3}})
    with pytest.raises(ConfigError, match=r"^score\.draws: expected an integer, got 'x'$"):
        load_config(None, {"score": {"draws": "x"}})
    with pytest.raises(ConfigError, match=r"^seed: expected an integer, got 'zero'$"):
        load_config(None, {"seed": "zero"})
    with pytest.raises(ConfigError, match=r"^lens: expected a mapping of options, got 5$"):
        load_config(None, {"lens": 5})


def test_demo_yaml_parses_into_the_dataclasses_and_keeps_only_differences():
    demo = yaml.safe_load(files("pivotlens.data").joinpath("demo.yaml").read_text(encoding="utf-8"))
    sections = {stage.name: stage.options for stage in stages()}
    defaults = {name: options_dict(cls()) for name, cls in sections.items()}
    study_defaults = options_dict(StudyOptions())
    for key, value in demo.items():
        if key in sections:
            assert value and all(defaults[key][k] != v for k, v in value.items()), key
            parse_options(sections[key], value, key)
        else:
            assert study_defaults[key] != value, key
    config = default_config()
    assert config["counts"]["reservoir"] == 500 and config["training"]["steps"] == 3
    assert config["selection"]["mix_size"] == 2000 and config["compare"]["bootstrap"] == 1000
    assert config["score"] == {"draws": 5, "shots": 5, "limit": 8, "batch_size": 8}
    assert load_config(None, config) == config  # the written effective config reads back unchanged


COMMANDS = [
    (["score", "--model", "m", "--out", "o"], ScoreOptions, None),
    (["lens", "classify", "--model", "m", "--out", "o"], ClassifyOptions, None),
    (["lens", "trace", "--model", "m", "--out", "o", "--word", "w", "--pair", "en-fr"], ClassifyOptions,
     ("first_layer", "allow_any_token")),
    (["lens", "curve", "--model", "m", "--out", "o", "--token-sets", "t"], CurveOptions, None),
    (["corpus", "count", "--out", "o"], CountOptions, None),
    (["corpus", "auc", "--counts", "c", "--behaviours", "b", "--out", "o"], AucOptions, None),
    (["pivots", "mine", "--model", "m", "--behaviours", "b", "--counts", "c", "--corpus", "x", "--out", "o"],
     MineOptions, None),
    (["pivots", "curve", "--model", "m", "--pivots", "p", "--out", "o"], CurveOptions, None),
    (["select", "adjacency", "--langid", "l", "--out", "o"], SelectionOptions,
     ("engine", "ray_address", "docs_per_language", "vocab_cap")),
    (["select", "pivotset", "--adjacency", "a", "--out", "o"], SelectionOptions, ("alpha", "drop_top_percent")),
    (["select", "mix", "--langid", "l", "--pivots", "p", "--size", "10", "--out", "o"], SelectionOptions,
     ("engine", "ray_address", "multilingual_window", "candidate_window")),
    (["train", "--model", "m", "--data", "d", "--steps", "3", "--out", "o"], TrainOptions,
     tuple(f.name for f in dataclasses.fields(TrainOptions) if f.name != "steps")),
    (["compare", "--models", "a", "--out", "o"], CompareOptions, None),
]


@pytest.mark.parametrize(("argv", "options", "names"), COMMANDS, ids=[" ".join(c[0][:2]) for c in COMMANDS])
def test_each_command_defaults_to_its_dataclass(argv, options, names):
    args = build_parser().parse_args(argv)
    defaults = options_dict(options())
    names = names or tuple(defaults)
    assert {name: getattr(args, name) for name in names} == {name: defaults[name] for name in names}


def test_cli_flags_configure_the_library_options():
    args = build_parser().parse_args(["compare", "--models", "a", "--out", "o", "--draws", "2", "--bootstrap", "50",
                                      "--pairs", "en-zh"])
    assert options_from_args(CompareOptions, args) == CompareOptions(draws=2, pairs="en-zh", bootstrap=50)
    args = build_parser().parse_args(["corpus", "count", "--out", "o", "--case-sensitive", "--reservoir", "7"])
    assert options_from_args(CountOptions, args) == CountOptions(reservoir=7, case_sensitive=True)
