"""Run a per-shard map task in-process or on Ray; the caller reduces the results.

Every corpus-scale step of the selection (language ID, adjacency, document scoring) is a pure
function ``task(shared, job, progress) -> result`` over one input shard, with a reduction that
does not depend on the order results arrive in. ``local`` runs the jobs one after the other (the
task reports documents as it goes); ``ray`` runs one Ray task per job
(:func:`pivotlens.corpus.engine.map_on_ray`). Both give the same output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pivotlens.corpus.engine import Job, Progress, Result, Shared, map_on_ray
from pivotlens.errors import SelectionError

ENGINES = ("local", "ray")


def map_shards(task: Callable[[Shared, Job, Progress | None], Result], shared: Shared, jobs: Sequence[Job],
               on_result: Callable[[int, Result], None], *, engine: str = "local",
               ray_address: str | None = None, progress: Progress | None = None) -> None:
    """Call ``on_result(job index, task(shared, job))`` for every job, on the chosen engine."""
    if engine == "local":
        for index, job in enumerate(jobs):
            on_result(index, task(shared, job, progress))
    elif engine == "ray":
        map_on_ray(task, shared, jobs, on_result, address=ray_address, progress=progress, unreachable=SelectionError)
    else:
        raise SelectionError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
