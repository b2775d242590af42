"""CLWTD as lm-evaluation-harness tasks: ``clwtd_{src}_{tgt}`` per ordered pair and the group ``clwtd``,
scoring exactly what `pivotlens score` scores (``pivotlens.lmeval.task``, which needs the optional
``lm-eval`` extra). ``tasks_dir()`` is the folder to give ``lm_eval --include_path``; importing this
package loads neither lm-eval nor torch."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

GROUP = "clwtd"


def task_name(src: str, tgt: str) -> str:
    return f"{GROUP}_{src}_{tgt}"


def tasks_dir() -> Path:
    """The folder of the task YAML files (shipped with the package)."""
    return Path(str(files("pivotlens.lmeval").joinpath("tasks")))
