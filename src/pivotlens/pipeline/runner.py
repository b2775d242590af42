"""The end-to-end study over one run directory: every stage in order, each skipped when its inputs
and options have not changed.

Each stage writes into ``RUN_DIR/<stage>/`` and a ``stage.json`` with its fingerprint (a hash of
its options, the shared options and the fingerprints of the stages it reads), its status and a
summary (tables, figures, facts) that the report is built from. A finished stage whose fingerprint
is unchanged is skipped; a stage whose fingerprint changed is cleared and rerun, and so are the
stages that read it; an interrupted stage with an unchanged fingerprint resumes from its own files.
A failing stage is marked failed and stops the run; the results of earlier stages stay intact.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, fields
from importlib.resources import files
from pathlib import Path

import pivotlens
from pivotlens.artifacts import (
    RUNNER_MARKER,
    StageDirectory,
    check_own_directory,
    file_sha256,
    lock_directory,
    read_state_file,
    tree_sha256,
    unlock_directory,
    write_atomic,
    write_json_atomic,
)
from pivotlens.errors import ConfigError, PivotlensError
from pivotlens.llm import redact_url
from pivotlens.options import dump_yaml, load_yaml, options_dict, parse_options
from pivotlens.pipeline import definitions
from pivotlens.pipeline.stage import Stage, StageContext

SHARED_KEYS = ("model", "dataset", "corpus", "seed", "dtype", "pairs")
RUN_MARKER = "pivotlens-run.json"  # says the directory is a pivotlens run directory
RUN_FILES = (RUN_MARKER, "config.yaml", "report.md", "report.html")


class StageFailed(PivotlensError):
    """A stage raised; earlier stages' results are kept."""


def stages() -> list[Stage]:
    return definitions.STAGES


def default_config() -> dict:
    """The effective demo config: every option's default, updated by the bundled demo.yaml."""
    return load_config(None)


def _demo_layer() -> dict:
    return load_yaml(files("pivotlens.data").joinpath("demo.yaml").read_text(encoding="utf-8"), "demo.yaml")


def load_config(path: str | Path | None, overrides: dict | None = None) -> dict:
    """Every option's default, updated by the bundled demo.yaml, a YAML file, then overrides (sections
    merge key by key); unknown keys at any depth and wrong types raise ConfigError."""
    layers = [_demo_layer()]
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"config file {path}: cannot read it ({error})") from None
        layers.append(load_yaml(text, str(path)) or {})
    layers.append(overrides or {})
    sections = {stage.name: stage.options for stage in stages()}
    known = {field.name for field in fields(definitions.StudyOptions)} | set(sections)
    merged: dict = {}
    for layer in layers:
        if not isinstance(layer, dict):
            raise ConfigError("a config must be a mapping of options")
        unknown = sorted(set(layer) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    shared = parse_options(definitions.StudyOptions, {k: v for k, v in merged.items() if k not in sections})
    config = options_dict(shared)
    for name, options in sections.items():
        config[name] = options_dict(parse_options(options, merged.get(name), name))
    return config


def selected_stages(config: dict) -> list[Stage]:
    """The config's ``stages`` (``all`` or a list of names), checked: each stage's inputs must be in it."""
    all_stages = stages()
    names = [stage.name for stage in all_stages]
    chosen = config.get("stages", "all")
    if chosen == "all":
        return all_stages
    if not isinstance(chosen, list) or not chosen or not all(isinstance(name, str) for name in chosen):
        raise PivotlensError(f"stages: give 'all' or a list of stage names from {', '.join(names)}")
    unknown = [name for name in chosen if name not in names]
    if unknown:
        raise PivotlensError(f"stages: unknown {', '.join(unknown)}; stages are {', '.join(names)}")
    selected = [stage for stage in all_stages if stage.name in chosen]
    for stage in selected:
        missing = [name for name in stage.reads if name not in chosen]
        if missing:
            raise PivotlensError(f"stages: {stage.name} reads the results of {', '.join(missing)}: add them")
    return selected


def input_contents(config: dict) -> dict[str, str]:
    """The study's inputs by content, so that a dataset edited in place, a corpus file replaced or a
    model retrained at the same path reruns the stages that read it (hashes are cached by size and
    mtime: a rerun does not read the inputs again). A bundled dataset counts by content too: a
    rebuilt ``clwtd`` is a different input, and so is a re-exported Hugging Face directory."""
    from pivotlens.clwtd.schema import BUNDLED_DATASETS, dataset_sha256
    from pivotlens.corpus.readers import fingerprint, resolve_corpus
    from pivotlens.models.registry import model_sha256

    dataset = str(config["dataset"])
    return {
        "model": model_sha256(str(config["model"])),
        "dataset": (dataset_sha256(dataset) if dataset in BUNDLED_DATASETS
                    else file_sha256(dataset) if Path(dataset).is_file()
                    else tree_sha256(Path(dataset).glob("data/*"), Path(dataset)) if Path(dataset).is_dir()  # an HF export
                    else ""),
        "corpus": hashlib.sha256("".join(fingerprint(shard)["sha256"] for shard in resolve_corpus(config["corpus"]))
                                 .encode()).hexdigest(),
    }


def _fingerprint(stage: Stage, config: dict, contents: dict[str, str], upstream: dict[str, dict]) -> str:
    """Options, shared options, input contents and, per stage read, its fingerprint and the content
    of what it made (``outputs`` in its summary); for a lens stage, its decoder by content."""
    payload = {
        "stage": stage.name, "options": config.get(stage.name), "shared": {k: config.get(k) for k in SHARED_KEYS},
        "contents": contents, "reads": {name: upstream[name] for name in stage.reads}, "pivotlens": pivotlens.__version__,
    }
    if "decoder" in (config.get(stage.name) or {}):
        from pivotlens.lens.decoders import decoder_identity

        payload["decoder"] = decoder_identity(config[stage.name]["decoder"])
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _stage_directory(run_dir: Path, name: str) -> StageDirectory:
    """The runner's view of a stage directory: its marker is stage.json (the library outputs inside
    carry their own complete.json)."""
    return StageDirectory(run_dir / name, name, marker=RUNNER_MARKER)


def _claim_run_directory(run_dir: Path) -> None:
    """Lock the run directory and make sure it is ours: empty or new, or made by an earlier run; a
    stage directory without the runner's marker is not ours either (it is never deleted)."""
    if run_dir.is_dir() and not (run_dir / RUN_MARKER).is_file():
        check_own_directory(run_dir, [])
    lock_directory(run_dir)
    read_state_file(run_dir / RUN_MARKER)  # a damaged marker is reported, not overwritten
    stage_names = [stage.name for stage in stages()]
    for name in stage_names:
        stage_dir = run_dir / name
        if stage_dir.exists() and not (stage_dir / RUNNER_MARKER).is_file():
            raise PivotlensError(f"{stage_dir} was not made by pivotlens (it has no {RUNNER_MARKER}); move it "
                                 "away or use another --run-dir")
    check_own_directory(run_dir, [*RUN_FILES, *stage_names])
    write_json_atomic(run_dir / RUN_MARKER, {"pivotlens": pivotlens.__version__})


@dataclass
class RunOutcome:
    ran: list[str]
    skipped: list[str]
    run_dir: Path


def run_pipeline(
    config: dict, run_dir: str | Path, *, from_stage: str | None = None, only: str | None = None,
    log: Callable[[str], None] = print,
) -> RunOutcome:
    all_stages = selected_stages(config)
    names = [stage.name for stage in all_stages]
    for option, value in (("--from", from_stage), ("--only", only)):
        if value is not None and value not in names:
            raise PivotlensError(f"{option} {value}: not a stage of this run; its stages are {', '.join(names)}")
    run_dir = Path(run_dir)
    _claim_run_directory(run_dir)
    try:
        return _run_stages(config, run_dir, all_stages, from_stage, only, log)
    finally:
        unlock_directory(run_dir)


def _without_credentials(value):
    """The config as written into the run directory: URLs without user:password@ or query strings."""
    if isinstance(value, dict):
        return {key: _without_credentials(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_credentials(item) for item in value]
    return redact_url(value) if isinstance(value, str) and value.startswith(("http://", "https://")) else value


def _run_stages(config: dict, run_dir: Path, all_stages: list[Stage], from_stage: str | None, only: str | None,
                log: Callable[[str], None]) -> RunOutcome:
    write_atomic(run_dir / "config.yaml", dump_yaml(_without_credentials(config)))
    context_models: dict = {}
    contents = input_contents(config)
    fingerprints: dict[str, str] = {}
    upstream: dict[str, dict] = {}  # stage → its fingerprint and the content of its outputs
    forced_stages: set[str] = set()  # --from STAGE: that stage and every stage that reads it, transitively
    outcome = RunOutcome([], [], run_dir)
    for stage in all_stages:
        fingerprint = _fingerprint(stage, config, contents, upstream)
        fingerprints[stage.name] = fingerprint
        upstream[stage.name] = {"fingerprint": fingerprint,
                                "outputs": _stage_directory(run_dir, stage.name).state().get("outputs")}
        if stage.name == from_stage or forced_stages.intersection(stage.reads):
            forced_stages.add(stage.name)
        forced = stage.name in forced_stages
        directory = _stage_directory(run_dir, stage.name)
        if only is not None and stage.name != only:
            continue
        if directory.is_complete(fingerprint=fingerprint) and not forced:
            outcome.skipped.append(stage.name)
            continue
        missing = [name for name in stage.reads
                   if not _stage_directory(run_dir, name).is_complete(fingerprint=fingerprints[name])]
        if missing:
            raise StageFailed(f"stage {stage.name} needs the results of {', '.join(missing)}: run them first")
        if directory.path.exists() and (directory.state().get("fingerprint") != fingerprint or forced):
            shutil.rmtree(directory.path)  # different inputs or options: old partial results are invalid
        log(f"── {stage.name}: {stage.title}")
        directory.mark("running", fingerprint=fingerprint, started=time.time())
        started = time.perf_counter()
        context = StageContext(stage.name, run_dir, config, context_models)
        try:
            summary = stage.run(context)
        except Exception as error:  # recorded, then re-raised as the user-facing failure
            directory.mark("failed", fingerprint=fingerprint, error=f"{type(error).__name__}: {error}",
                           traceback=traceback.format_exc())
            raise StageFailed(f"stage {stage.name} failed: {error} (earlier stages' results are kept in {run_dir}; "
                              f"fix the cause and rerun to resume)") from error
        seconds = time.perf_counter() - started
        # the completion marker, only once the stage function has returned: a kill before it reruns the stage
        outputs = summary.pop("outputs", None)
        directory.complete(summary, fingerprint=fingerprint, seconds=round(seconds, 2), outputs=outputs)
        upstream[stage.name]["outputs"] = outputs
        log(f"   done in {seconds:.1f} s")
        outcome.ran.append(stage.name)
    return outcome


def stage_summaries(run_dir: Path) -> list[tuple[Stage, dict]]:
    """Stages the runner finished, in pipeline order, with their recorded state."""
    return [(stage, state) for stage in stages()
            if (state := _stage_directory(run_dir, stage.name).state()).get("status") == "done"]
