"""The engines (docs/design.md §6): which exist, which stage runs on which, and the map loops.

Every corpus-scale step that scans shards (corpus counts; language ID, adjacency and document
scoring of the selection) is a pure function ``task(shared, job, progress) -> result`` over one
input shard, with a reduction that does not depend on the order results arrive in. ``local`` runs
the jobs one after the other (the task reports documents as it goes); ``ray`` runs one Ray task
per job (``shared`` is put in the object store once) and reports each result's ``documents_read``
as it finishes; Ray is imported only then. ``infinigram`` scans nothing: corpus counts query an
index (``corpus/infinigram.py``). ``infinigram-api`` sends queries to the hosted infini-gram API
(``corpus/infinigram_api.py``): counts, and the document samples of pivot mining (``mining``), whose
``local`` engine reads the corpus in this process.

Within one machine, :func:`fold_in_processes` spreads a stream of items (input files, or blocks of
lines and document batches read by this process when there are fewer files than workers) over worker processes that
each fold their share into one result: the local engine's way to use every core.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from typing import Literal, Protocol, TypeVar

from pivotlens.errors import EngineError, PivotlensError

ENGINES: dict[str, tuple[str, ...]] = {  # engine → the stages it runs
    "local": ("counts", "selection", "mining"),
    "ray": ("counts", "selection"),
    "infinigram": ("counts",),
    "infinigram-api": ("counts", "mining"),
}
# The options' types; tests/test_engine.py checks them against the table.
CountEngine = Literal["local", "ray", "infinigram", "infinigram-api"]
SelectionEngine = Literal["local", "ray"]
MiningEngine = Literal["local", "infinigram-api"]

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


def fold_in_processes(fold: Callable[[Shared, Iterable[Item], Progress], Folded], shared: Shared,
                      items: Iterable[Item], workers: int, progress: Progress | None = None) -> list[Folded]:
    """``fold(shared, share, progress)`` in ``workers`` processes; every item goes to exactly one.

    This process iterates ``items`` (input files, or document batches it reads) and hands each to
    the next idle worker through a bounded queue; each worker folds the items it gets into one
    result, and the results come back in no particular order, so ``fold`` must be reduced by an
    order-free merge. What a worker passes to its ``progress`` reaches ``progress`` here as it goes.
    Workers are forked where the OS can (they start in milliseconds, share ``shared`` as it is, and
    need no ``if __name__ == "__main__"`` guard in the caller's script; they run only ``fold``, never
    the parent's other threads' code), else spawned (then ``fold`` must be importable and ``shared``
    picklable). Items are pickled and never None (the end marker). A worker's exception is raised
    here; a worker that dies is an :class:`EngineError`.
    """
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    tasks = context.Queue(maxsize=QUEUED_PER_WORKER * workers)
    inbox = _Inbox(context.Queue(), progress)
    processes = [context.Process(target=_fold_worker, args=(fold, shared, tasks, inbox.messages), daemon=True)
                 for _ in range(workers)]
    for process in processes:
        process.start()
    try:
        for item in chain(items, [None] * workers):  # then one end marker per worker
            while True:
                try:
                    tasks.put(item, timeout=POLL_SECONDS)
                    break
                except queue.Full:
                    _check_alive(processes)
                finally:
                    inbox.read_waiting()
        while len(inbox.results) < workers:
            if not inbox.read(timeout=POLL_SECONDS):
                _check_alive(processes)
                if all(process.exitcode is not None for process in processes) and inbox.messages.empty():
                    raise EngineError("a worker process ended without sending its result")
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
    return inbox.results


def _picklable(error: BaseException) -> BaseException:
    """The error itself, or one that still reaches the user as text if it does not pickle."""
    try:
        pickle.dumps(error)
        return error
    except Exception:
        return EngineError(f"a worker failed: {error!r}")


def _fold_worker(fold: Callable[[Shared, Iterable[Item], Progress], Folded], shared: Shared,
                 tasks: multiprocessing.Queue, messages: multiprocessing.Queue) -> None:
    def share() -> Iterator[Item]:
        while (item := tasks.get()) is not None:
            yield item

    try:
        messages.put(("result", fold(shared, share(), lambda done: messages.put(("progress", done)))))
    except BaseException as error:  # noqa: BLE001 - every failure must reach the parent
        messages.put(("failure", _picklable(error)))


class _Inbox:
    """The workers' messages: progress (passed on), a failure (raised) or a result (kept)."""

    def __init__(self, messages: multiprocessing.Queue, progress: Progress | None) -> None:
        self.messages, self.progress = messages, progress
        self.results: list = []

    def read(self, timeout: float | None) -> bool:
        """Handle one message, waiting up to ``timeout`` seconds (None: not at all); False if none came."""
        try:
            kind, value = self.messages.get(timeout=timeout) if timeout else self.messages.get_nowait()
        except queue.Empty:
            return False
        if kind == "failure":
            raise value
        if kind == "result":
            self.results.append(value)
        elif self.progress:
            self.progress(value)
        return True

    def read_waiting(self) -> None:
        while self.read(timeout=None):
            pass


def _check_alive(processes: list) -> None:
    for process in processes:
        if process.exitcode not in (None, 0):
            raise EngineError(f"a worker process died (exit code {process.exitcode}); out of memory?")
