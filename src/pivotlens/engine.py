"""The engines (docs/design.md §6): which exist, which stage runs on which, and the map loops.

Every corpus-scale step that scans shards (corpus counts; language ID, adjacency and document
scoring of the selection) is a pure function ``task(shared, job, progress) -> result`` over one
input shard, with a reduction that does not depend on the order results arrive in. ``local`` runs
the jobs one after the other (the task reports documents as it goes); ``ray`` runs one Ray task
per job (``shared`` is put in the object store once) and reports each result's ``documents_read``
as it finishes; Ray is imported only then. ``infinigram`` scans nothing: corpus counts query an
index (``corpus/infinigram.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol, TypeVar

from pivotlens.errors import EngineError, PivotlensError

ENGINES: dict[str, tuple[str, ...]] = {  # engine → the stages it runs
    "local": ("counts", "selection"),
    "ray": ("counts", "selection"),
    "infinigram": ("counts",),
}
# The options' types; tests/test_engine.py checks them against the table.
CountEngine = Literal["local", "ray", "infinigram"]
SelectionEngine = Literal["local", "ray"]

Progress = Callable[[int], None]  # called with a number of documents done


class ShardResult(Protocol):
    @property
    def documents_read(self) -> int: ...


Shared = TypeVar("Shared")
Job = TypeVar("Job")
Result = TypeVar("Result", bound=ShardResult)


def engines_for(stage: str) -> tuple[str, ...]:
    return tuple(engine for engine, stages in ENGINES.items() if stage in stages)


def check_engine(engine: str, stage: str) -> None:
    if stage not in ENGINES.get(engine, ()):
        raise EngineError(f"{stage}: unknown engine {engine!r}; choose one of {', '.join(engines_for(stage))}")


def map_shards(task: Callable[[Shared, Job, Progress | None], Result], shared: Shared, jobs: Sequence[Job],
               on_result: Callable[[int, Result], None], *, stage: str, engine: str = "local",
               ray_address: str | None = None, progress: Progress | None = None) -> None:
    """Call ``on_result(job index, task(shared, job))`` for every job, on the chosen engine."""
    check_engine(engine, stage)
    if engine == "local":
        for index, job in enumerate(jobs):
            on_result(index, task(shared, job, progress))
    elif engine == "ray":
        map_on_ray(task, shared, jobs, on_result, address=ray_address, progress=progress)
    else:
        raise EngineError(f"{stage}: the {engine} engine does not map shards; use local or ray")


def map_on_ray(task: Callable[[Shared, Job, Progress | None], Result], shared: Shared, jobs: Sequence[Job],
               on_result: Callable[[int, Result], None], *, address: str | None, progress: Progress | None) -> None:
    """:func:`map_shards` on Ray, one task per job.

    Uses the running Ray session if there is one; otherwise connects to ``address`` (``auto``,
    ``ray://head:10001``) or starts a local Ray, and disconnects at the end. Workers must be able
    to import pivotlens and read the corpus files.
    """
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as error:  # ValueError: ray:// without ray[client]
            raise EngineError(f"cannot start or reach the Ray cluster at {address!r}: {error}") from None
    try:
        shared_ref = ray.put(shared)
        remote = ray.remote(num_cpus=1)(task)
        index_of = {remote.remote(shared_ref, job): index for index, job in enumerate(jobs)}
        pending = list(index_of)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                result = ray.get(done[0])
            except ray.exceptions.RayTaskError as error:
                if isinstance(error.cause, PivotlensError):  # the user's error, without Ray's wrapping
                    raise type(error.cause)(str(error.cause)) from None
                raise
            on_result(index_of[done[0]], result)
            if progress:
                progress(result.documents_read)
    finally:
        if started_here:
            ray.shutdown()
