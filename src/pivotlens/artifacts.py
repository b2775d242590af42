"""On-disk artifacts shared by every stage: append-only JSONL item files that survive a kill, and a
manifest that pins what a run directory was computed from."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pivotlens
from pivotlens.errors import RunDirectoryError

MANIFEST = "manifest.json"


def read_jsonl_resumable(path: Path) -> list[dict]:
    """Complete records of an append-only JSONL file; a torn last line (a kill mid-write) is cut off
    the file so that appending can continue cleanly."""
    if not path.exists():
        return []
    records, good_bytes = [], 0
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
            good_bytes += len(line)
    if good_bytes != path.stat().st_size:
        with path.open("r+b") as handle:
            handle.truncate(good_bytes)
    return records


def append_jsonl(path: Path, records: Iterable[dict]) -> None:
    """Append records and fsync, so finished work is on disk before more is started."""
    with path.open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def library_versions() -> dict[str, str]:
    """Installed versions, read from package metadata (importing torch just for this costs seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"pivotlens": pivotlens.__version__}
    for name in ("torch", "transformers", "tokenizers", "numpy", "scipy", "ray"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def claim_run_directory(out_dir: Path, stage: str, identity: dict[str, Any], details: dict[str, Any]) -> None:
    """Write the stage manifest, refusing a directory that holds results of a different run."""
    path = out_dir / MANIFEST
    if path.exists():
        previous = json.loads(path.read_text())
        if previous.get("stage") != stage or previous.get("identity") != identity:
            old = previous.get("identity") or {}
            changed = sorted(key for key in identity if old.get(key) != identity[key]) or ["stage"]
            raise RunDirectoryError(
                f"{out_dir} holds results from a different run (differs in: {', '.join(changed)}); "
                "use another --out or delete it"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"stage": stage, "identity": identity, **details, "versions": library_versions()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    tmp.replace(path)


def fill_pair_files(
    directory: Path,
    pairs: Sequence[tuple[str, str]],
    item_ids: Sequence[str],
    chunk_size: int,
    records_for: Callable[[str, str, list[int]], list[dict]],
    progress: Callable[[int], None] | None = None,
) -> None:
    """For each pair, append to ``directory/{src}-{tgt}.jsonl`` the records of the items (indices
    into ``item_ids``) not yet in it, ``chunk_size`` items at a time: the resumable loop of the
    per-item stages. Items already on disk are reported to ``progress`` at once."""
    directory.mkdir(parents=True, exist_ok=True)
    for src, tgt in pairs:
        path = directory / f"{src}-{tgt}.jsonl"
        done = {record["id"] for record in read_jsonl_resumable(path)}
        todo = [i for i, item_id in enumerate(item_ids) if item_id not in done]
        if progress:
            progress(len(item_ids) - len(todo))
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start : start + chunk_size]
            append_jsonl(path, records_for(src, tgt, chunk))
            if progress:
                progress(len(chunk))
