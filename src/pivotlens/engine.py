"""The engines (docs/design.md §6): which exist, which stage runs on which, and the map loops.

Every corpus-scale step that scans shards (corpus counts; language ID, adjacency and document
scoring of the selection) is a pure function ``task(shared, job, progress) -> result`` over one
input shard, with a reduction that does not depend on the order results arrive in. ``local`` runs
the jobs one after the other (the task reports documents as it goes); ``ray`` runs one Ray task
per job (``shared`` is put in the object store once) and reports each result's ``documents_read``
as it finishes; Ray is imported only then. ``infinigram`` scans nothing: corpus counts query an
index (``corpus/infinigram.py``).

Within one machine, :func:`fold_in_processes` spreads a stream of items (document batches read
by this process) over worker processes that each fold their share into one result: the local
engine's way to use every core even on a single input file.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
from collections.abc import Callable, Iterable, Iterator, Sequence
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
Item = TypeVar("Item")
Folded = TypeVar("Folded")

QUEUED_PER_WORKER = 2  # items waiting per worker: memory is bounded by a few items, not by the input
POLL_SECONDS = 0.5  # how often a blocked hand-over checks that the workers are still alive


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


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def fold_in_processes(fold: Callable[[Shared, Iterable[Item]], Folded], shared: Shared, items: Iterable[Item],
                      workers: int, on_item: Callable[[Item], None] | None = None) -> list[Folded]:
    """``fold(shared, share)`` in ``workers`` processes; every item goes to exactly one of them.

    This process iterates ``items`` (reading input, say) and hands each to the next idle worker
    through a bounded queue, calling ``on_item`` once it is handed over; each worker folds the items
    it gets into one result, and the results come back in no particular order, so ``fold`` must be
    reduced by an order-free merge. Workers are forked where the OS can (they start in
    milliseconds, share ``shared`` as it is, and need no ``if __name__ == "__main__"`` guard in the
    caller's script; they run only ``fold``, never the parent's other threads' code), else spawned
    (then ``fold`` must be importable and ``shared`` picklable). Items are pickled. A worker's
    exception is raised here; a worker that dies is an :class:`EngineError`.
    """
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    tasks = context.Queue(maxsize=QUEUED_PER_WORKER * workers)
    results = context.Queue()
    processes = [context.Process(target=_fold_worker, args=(fold, shared, tasks, results), daemon=True)
                 for _ in range(workers)]
    for process in processes:
        process.start()
    try:
        for item in items:
            _hand_over(tasks, item, results, processes)
            if on_item:
                on_item(item)
        for _ in processes:
            _hand_over(tasks, None, results, processes)  # one end marker per worker
        outcomes = [_next_result(results, processes) for _ in processes]
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
    return outcomes


class _WorkerFailure:
    """A worker's exception, sent back instead of its result."""

    def __init__(self, error: BaseException) -> None:
        try:
            pickle.dumps(error)
            self.error = error
        except Exception:  # an exception that does not pickle still reaches the user, as text
            self.error = EngineError(f"a worker failed: {error!r}")


def _fold_worker(fold: Callable[[Shared, Iterable[Item]], Folded], shared: Shared,
                 tasks: multiprocessing.Queue, results: multiprocessing.Queue) -> None:
    def share() -> Iterator[Item]:
        while (item := tasks.get()) is not None:
            yield item

    try:
        results.put(fold(shared, share()))
    except BaseException as error:  # noqa: BLE001 - every failure must reach the parent
        results.put(_WorkerFailure(error))


def _raise_failure(outcome: object) -> object:
    if isinstance(outcome, _WorkerFailure):
        raise outcome.error
    return outcome


def _check_alive(processes: list) -> None:
    for process in processes:
        if process.exitcode not in (None, 0):
            raise EngineError(f"a worker process died (exit code {process.exitcode}); out of memory?")


def _hand_over(tasks: multiprocessing.Queue, item: object, results: multiprocessing.Queue, processes: list) -> None:
    while True:
        try:
            tasks.put(item, timeout=POLL_SECONDS)
            return
        except queue.Full:
            _check_alive(processes)
            with contextlib.suppress(queue.Empty):  # before the end markers, anything a worker sends is a failure
                _raise_failure(results.get_nowait())


def _next_result(results: multiprocessing.Queue, processes: list) -> object:
    while True:
        try:
            return _raise_failure(results.get(timeout=POLL_SECONDS))
        except queue.Empty:
            _check_alive(processes)
            if all(process.exitcode is not None for process in processes) and results.empty():
                raise EngineError("a worker process ended without sending its result") from None
