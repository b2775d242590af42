"""The end-to-end study over one run directory (top floor; see docs/design.md)."""

from pivotlens.pipeline.runner import (
    RunOutcome,
    StageFailed,
    default_config,
    load_config,
    run_pipeline,
    selected_stages,
    stage_summaries,
    stages,
)
from pivotlens.pipeline.stage import Stage, StageContext

__all__ = [
    "RunOutcome", "Stage", "StageContext", "StageFailed", "default_config", "load_config", "run_pipeline",
    "selected_stages", "stage_summaries", "stages",
]
