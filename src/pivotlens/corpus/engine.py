"""Run a per-shard map task on Ray; the caller reduces the results.

Every corpus-scale step (corpus counts; language ID, adjacency and document scoring of the
selection) is a pure function ``task(shared, job, progress) -> result`` over one input shard, with
a reduction that does not depend on the order results arrive in. :func:`map_on_ray` runs one Ray
task per job (``shared`` is put in the object store once) and hands each result to ``on_result`` as
it finishes, reporting its ``documents_read``; run in-process, the same task reports documents as
it goes. Ray is imported only here, when a Ray engine runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Protocol, TypeVar

from pivotlens.errors import PivotlensError

Progress = Callable[[int], None]  # called with a number of documents done


class ShardResult(Protocol):
    @property
    def documents_read(self) -> int: ...


Shared = TypeVar("Shared")
Job = TypeVar("Job")
Result = TypeVar("Result", bound=ShardResult)
Item = TypeVar("Item")


def batched(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Lists of ``size`` items (the last may be shorter): how a task maps its shard."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def map_on_ray(task: Callable[[Shared, Job, Progress | None], Result], shared: Shared, jobs: Sequence[Job],
               on_result: Callable[[int, Result], None], *, address: str | None, progress: Progress | None,
               unreachable: type[PivotlensError]) -> None:
    """Call ``on_result(job index, task(shared, job))`` for every job, one Ray task per job.

    Uses the running Ray session if there is one; otherwise connects to ``address`` (``auto``,
    ``ray://head:10001``) or starts a local Ray, and disconnects at the end; a cluster that cannot
    be reached raises ``unreachable``. Workers must be able to import pivotlens and read the
    corpus files.
    """
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except ConnectionError as error:
            raise unreachable(f"cannot reach the Ray cluster at {address!r} ({error})") from error
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
