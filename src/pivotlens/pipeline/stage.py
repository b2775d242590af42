"""What a stage is: a name, the stages whose results it reads, its options dataclass (the config
section of the same name), and a function of a StageContext and those options that writes into its
stage directory and returns a summary for the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pivotlens.options import parse_options


@dataclass
class StageContext:
    """What a stage function sees: its options, the shared ones, and where to read and write."""

    name: str
    run_dir: Path
    config: dict
    models: dict = field(default_factory=dict)  # model spec → LoadedModel, shared by stages

    @property
    def options(self) -> dict:
        return self.config.get(self.name) or {}

    @property
    def stage_dir(self) -> Path:
        return self.run_dir / self.name

    def dir_of(self, stage: str) -> Path:
        return self.run_dir / stage

    def fresh_model(self, spec: str):
        """Load a model without keeping it (the caller frees it)."""
        from transformers.utils import logging as hf_logging

        from pivotlens.models import load_model

        hf_logging.disable_progress_bar()
        return load_model(spec, dtype=self.config.get("dtype", "auto"), device=self.config.get("device", "auto"))

    def model(self):
        """The study's model, loaded once and shared by the stages of this run."""
        spec = self.config["model"]
        if spec not in self.models:
            self.models[spec] = self.fresh_model(spec)
        return self.models[spec]

    def dataset(self):
        from pivotlens.clwtd import load_dataset

        return load_dataset(self.config["dataset"])

    def pairs(self) -> tuple[tuple[str, str], ...]:
        from pivotlens.languages import parse_pairs

        return tuple(parse_pairs(self.options.get("pairs") or self.config.get("pairs", "all"), self.dataset().languages))

    def relative(self, path: Path) -> str:
        return path.relative_to(self.run_dir).as_posix()


StageFunction = Callable[[StageContext, Any], dict]


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    reads: tuple[str, ...]
    function: StageFunction
    options: type  # a dataclass of pivotlens.options fields

    def run(self, context: StageContext) -> dict:
        return self.function(context, parse_options(self.options, context.options, self.name))
