"""On-disk artifacts shared by every stage: the run-directory protocol (a manifest written first, a
completion marker written last), atomic whole-file writes, and append-only JSONL item files that
survive a kill."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import pivotlens
from pivotlens.errors import RecordError, RunDirectoryError

MANIFEST = "manifest.json"  # written first: what the directory is computed from
COMPLETE = "complete.json"  # written last: the completion marker
LOCK = ".lock"  # flock'ed by the one process writing the directory; holds its pid
RUNNER_MARKER = "stage.json"  # the pipeline runner's marker in its stage directories
HASH_CACHE_ENTRIES = 10_000  # the oldest entries go first
_held_locks: dict[Path, int] = {}  # directory → descriptor of the lock this process holds
_hashed: dict[str, str] = {}  # this process's hashes: the on-disk cache is read once per file


def lock_directory(path: Path) -> None:
    """Make this process the only writer of ``path`` (created if missing), or raise a one-line error
    naming the owner's pid. The lock is an flock on ``path/.lock``: the OS frees it when the owner
    exits, so a lock left by a killed run never blocks the rerun. Reentrant within a process."""
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"{path} is a file, not a directory: give a directory for the outputs")
    key = path.resolve()
    held = _held_locks.get(key)
    lock_file = path / LOCK
    if held is not None:
        if lock_file.exists() and os.fstat(held).st_ino == lock_file.stat().st_ino:
            return
        os.close(_held_locks.pop(key))  # the directory was deleted and made again
    try:
        path.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise RunDirectoryError(f"cannot write to {path}: {error.strerror}") from error
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(descriptor)
        raise RunDirectoryError(f"{path} is being written by another pivotlens process (pid {owner}); "
                                "wait for it to finish or use another output directory") from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    _held_locks[key] = descriptor


def unlock_directory(path: Path) -> None:
    descriptor = _held_locks.pop(path.resolve(), None)
    if descriptor is not None:
        os.close(descriptor)  # closing releases the flock


def check_own_directory(path: Path, own_files: Iterable[str]) -> None:
    """Refuse a directory that holds anything pivotlens did not make: its outputs may be deleted or
    overwritten, and nothing of the user's may be."""
    if not path.is_dir():
        return
    foreign = sorted(entry.name for entry in path.iterdir() if entry.name not in {LOCK, *own_files})
    if foreign:
        shown = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
        raise RunDirectoryError(f"{path} holds files pivotlens did not write ({shown}); "
                                "give an empty or new directory, or one of an earlier pivotlens run")
T = TypeVar("T")
OnInvalid = Callable[[int, str, str], None]  # (line number, reason, detail)


def iter_jsonl(source: Path | Iterable[bytes | str], on_invalid: OnInvalid | str = "raise",
               name: str | None = None, first_line: int = 1) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each non-blank line of a JSONL file or of its lines (numbered from
    ``first_line``: lines cut from the middle of a file keep their numbers). A line that is
    not UTF-8 or not JSON goes to ``on_invalid(number, reason, detail)``; ``"raise"`` raises a
    RecordError naming the file (``name``) and the line. ``"truncate"`` (append-only files of a
    path) reads the complete lines only: the first torn or invalid line (a kill mid-write) and what
    follows are cut off the file, so that appending can continue cleanly."""
    if on_invalid == "truncate":
        yield from _complete_lines(Path(source))
        return
    where = name or str(source)
    with (source.open("rb") if isinstance(source, Path) else nullcontext(source)) as lines:
        for number, line in enumerate(lines, start=first_line):
            if not line.strip():
                continue
            try:
                value = json.loads(line.decode("utf-8") if isinstance(line, bytes) else line)
            except UnicodeDecodeError as error:
                reason, detail = "undecodable bytes", f"not UTF-8 ({error.reason} at byte {error.start})"
            except json.JSONDecodeError as error:
                reason, detail = "invalid JSON", f"not valid JSON ({error.msg} at column {error.colno})"
            except RecursionError:
                reason, detail = "nested too deeply", "JSON nested too deeply to read"
            except ValueError as error:  # e.g. an integer of more digits than Python converts
                reason, detail = "invalid JSON", f"not readable JSON ({str(error)[:80]})"
            else:
                yield number, value
                continue
            if on_invalid == "raise":
                raise RecordError(f"{where}:{number}: {detail}")
            on_invalid(number, reason, detail)


def _complete_lines(path: Path) -> list[tuple[int, Any]]:
    if not path.exists():
        return []
    found, good_bytes, damaged = [], 0, None
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if damaged is not None and line.strip():
                # a kill tears only the last line: a bad line with records after it is damage
                raise RecordError(f"{path}:{damaged}: damaged record before complete ones; fix or delete "
                                  "that line (the records after it are finished work), then rerun")
            if not line.endswith(b"\n"):
                break
            if line.strip():
                try:
                    found.append((number, json.loads(line)))
                except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                    damaged = number
                    continue
            good_bytes += len(line)
    if good_bytes != path.stat().st_size:
        with path.open("r+b") as handle:
            handle.truncate(good_bytes)
    return found


def append_jsonl(path: Path, records: Iterable[dict]) -> None:
    """Append records and fsync, so finished work is on disk before more is started."""
    with path.open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def cache_root() -> Path:
    """Where pivotlens keeps converted models and the content-hash cache."""
    return Path(os.environ.get("PIVOTLENS_CACHE", Path.home() / ".cache" / "pivotlens"))


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes. Cached by (path, size, mtime, inode), so an input of gigabytes
    is read once; any edit in place changes the key and is hashed again."""
    path = Path(path).resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"
    if key in _hashed:
        return _hashed[key]
    cache_path = cache_root() / "sha256-cache.json"
    try:
        cache = json.loads(cache_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}  # missing or damaged: the cache only saves time
    if key not in cache:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        kept = [(k, v) for k, v in cache.items() if not k.startswith(f"{path}|")][-HASH_CACHE_ENTRIES + 1:]
        cache = {**dict(kept), key: digest.hexdigest()}
        with suppress(OSError):  # a read-only home: hash again next time
            write_json_atomic(cache_path, cache, indent=None)
    _hashed[key] = cache[key]
    return cache[key]


def tree_sha256(paths: Iterable[Path], root: Path | None = None) -> str:
    """One sha256 over several files: their names (relative to ``root``) and contents, in name order."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        name = path.relative_to(root).as_posix() if root else path.name
        digest.update(f"{name}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Python and the installed versions, read from package metadata (importing torch just for this
    costs seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"pivotlens": pivotlens.__version__, "python": sys.version.split()[0]}
    for name in ("torch", "transformers", "tokenizers", "numpy", "scipy", "pyarrow", "numba", "ray",
                 "infini-gram"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


@contextmanager
def open_atomic(path: Path) -> Iterator[BinaryIO]:
    """A binary handle on a temporary sibling of ``path`` that replaces ``path`` only when the block
    ends without an error: a reader sees the old file or the complete new one, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    try:
        with temporary.open("wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write a whole file atomically (text as UTF-8)."""
    with open_atomic(path) as handle:
        handle.write(content.encode("utf-8") if isinstance(content, str) else content)


def write_json_atomic(path: Path, value: Any, indent: int | None = 2) -> None:
    write_atomic(path, json.dumps(value, indent=indent, ensure_ascii=False, default=str))


def read_state_file(path: Path) -> dict[str, Any]:
    """A JSON object pivotlens wrote (manifest, marker, state); {} when missing, a one-line error
    naming the file when it is damaged."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise RunDirectoryError(f"{path} is damaged ({type(error).__name__}); delete {path.parent} "
                                "to redo that work") from None
    if not isinstance(value, dict):
        raise RunDirectoryError(f"{path} is damaged (not a JSON object); delete {path.parent} to redo that work")
    return value


def _as_json(value: Any) -> Any:
    """Tuples → lists etc., so a value compares equal to the one read back from JSON."""
    return json.loads(json.dumps(value, default=str))


class StageDirectory:
    """The run-directory protocol of every stage and command that writes an output directory.

    ``manifest.json`` is written when the work starts: the stage, its ``identity`` (what must match
    for a rerun to continue this directory: config, seed, input hashes), details and library
    versions; a directory holding another run or files pivotlens did not write is refused, and one
    process at a time writes it (an flock on ``.lock``). The outputs follow, and the completion
    marker (``complete.json``, ``status: done``) is written last, so a kill at any point before it
    leaves the directory unfinished: the rerun resumes or redoes the work, never trusts a partial
    output. The pipeline runner follows the same protocol with its own marker, ``stage.json``
    (running / failed / done + fingerprint), because its stage directories also hold the library
    outputs of the stage function, each with its own marker.
    """

    def __init__(self, path: str | Path, stage: str, marker: str = COMPLETE) -> None:
        self.path, self.stage, self.marker = Path(path), stage, marker
        self.identity: dict[str, Any] | None = None

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def marker_path(self) -> Path:
        return self.path / self.marker

    def manifest(self) -> dict[str, Any]:
        return read_state_file(self.manifest_path)

    def claim(self, identity: dict[str, Any], details: dict[str, Any] | None = None) -> StageDirectory:
        """Write the manifest, refusing a directory that holds results of a different run; the
        facts of a same-identity manifest (those recorded by ``complete``) are kept."""
        identity = _as_json(identity)
        lock_directory(self.path)
        previous = self.manifest()
        if not previous:
            check_own_directory(self.path, [RUNNER_MARKER])
        if previous and (previous.get("stage") != self.stage or previous.get("identity") != identity):
            old = previous.get("identity") or {}
            changed = sorted(key for key in identity if old.get(key) != identity[key]) or ["stage"]
            raise RunDirectoryError(
                f"{self.path} holds results from a different run (differs in: {', '.join(changed)}); "
                "use another --out or delete it"
            )
        self.identity = identity
        self._write_manifest({**previous, **_as_json(details or {})})
        return self

    def state(self) -> dict[str, Any]:
        """The marker's content: {} before the first marker, else stage, status and the recorded facts."""
        return read_state_file(self.marker_path)

    def is_complete(self, **expected: Any) -> bool:
        """True when the completion marker is there (and records ``expected``, e.g. a fingerprint)."""
        state = self.state()
        return (state.get("stage") == self.stage and state.get("status") == "done"
                and all(state.get(key) == _as_json(value) for key, value in expected.items()))

    def reopen(self) -> None:
        """Remove the completion marker before redoing or extending the work of a complete directory,
        so that a kill during that work leaves it unfinished. A runner's running state stays."""
        if self.is_complete():
            self.marker_path.unlink()

    def mark(self, status: str, **facts: Any) -> None:
        write_json_atomic(self.marker_path, {"stage": self.stage, "status": status, **facts})

    def complete(self, summary: Any = None, *, details: dict[str, Any] | None = None, **facts: Any) -> None:
        """Write the completion marker, after every output. ``details`` known only at the end join
        the manifest first."""
        if details:
            if self.identity is None:
                raise RunDirectoryError(f"{self.path}: claim the directory before completing it")
            self._write_manifest({**self.manifest(), **_as_json(details)})
        self.mark("done", **facts, **({} if summary is None else {"summary": summary}))
        unlock_directory(self.path)

    def _write_manifest(self, details: dict[str, Any]) -> None:
        write_json_atomic(self.manifest_path, {**details, "stage": self.stage, "identity": self.identity,
                                               "versions": library_versions()})


def fill_pair_files(
    directory: Path,
    pairs: Sequence[tuple[str, str]],
    item_ids: Sequence[str],
    chunk_size: int,
    records_for: Callable[[str, str, list[int]], list[T]],
    write: Callable[[Path, list[T]], None],
    progress: Callable[[int], None] | None = None,
) -> None:
    """For each pair, ``write`` (append) to ``directory/{src}-{tgt}.jsonl`` the records of the items
    (indices into ``item_ids``) whose ``id`` is not yet in it, ``chunk_size`` items at a time: the
    resumable loop of the per-item stages. Items already on disk are reported to ``progress`` at once."""
    directory.mkdir(parents=True, exist_ok=True)
    for src, tgt in pairs:
        path = directory / f"{src}-{tgt}.jsonl"
        done: dict[str, int] = {}
        for number, record in iter_jsonl(path, on_invalid="truncate"):
            if record.get("id") in done:
                raise RecordError(f"{path}:{number}: item {record.get('id')!r} again (first on line "
                                  f"{done[record['id']]}); delete one of them, then rerun")
            done[record.get("id")] = number
        todo = [i for i, item_id in enumerate(item_ids) if item_id not in done]
        if progress:
            progress(len(item_ids) - len(todo))
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start : start + chunk_size]
            write(path, records_for(src, tgt, chunk))
            if progress:
                progress(len(chunk))
