"""Run-directory bookkeeping and file formats shared by the selection stages.

Each stage directory follows ``artifacts.StageDirectory``: a ``manifest.json`` whose ``identity``
pins what the stage was computed from, and the completion marker written last, so a rerun of a
finished stage is a no-op and a rerun of an interrupted one resumes (or recomputes) instead of
mixing runs.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import zstandard

from pivotlens.artifacts import StageDirectory, iter_jsonl, open_atomic
from pivotlens.corpus.readers import check_zstd_complete
from pivotlens.errors import SelectionError
from pivotlens.tables import markdown_table


def read_manifest(stage_dir: Path, stage: str, command: str) -> dict:
    """The manifest of a finished stage, or an error that says which command makes it."""
    directory = StageDirectory(stage_dir, stage)
    if not directory.is_complete():
        raise SelectionError(f"{stage_dir} holds no finished {stage} output; run `pivotlens select {command}` first")
    return directory.manifest()


def write_jsonl_zst(path: Path, records: Iterable[dict]) -> None:
    """Write a complete .jsonl.zst file atomically (temporary name, then rename)."""
    with open_atomic(path) as raw, zstandard.ZstdCompressor(level=6).stream_writer(raw, closefd=False) as stream:
        for record in records:
            stream.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))


def read_jsonl_zst(path: Path) -> Iterator[dict]:
    check_zstd_complete(path)
    with path.open("rb") as raw, io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(raw),
                                                 encoding="utf-8") as lines:
        for _, record in iter_jsonl(lines, name=str(path)):
            yield record


class ShardedJsonlWriter:
    """Writes records to ``part-00000.jsonl.zst``, ``part-00001…`` with at most ``per_file`` records each."""

    def __init__(self, directory: Path, per_file: int) -> None:
        if per_file < 1:
            raise SelectionError("documents per output file must be ≥ 1")
        self.directory, self.per_file = directory, per_file
        self.files: list[str] = []
        self._pending: list[dict] = []
        directory.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict) -> None:
        self._pending.append(record)
        if len(self._pending) == self.per_file:
            self._flush()

    def close(self) -> list[str]:
        if self._pending or not self.files:
            self._flush()
        return self.files

    def _flush(self) -> None:
        name = f"part-{len(self.files):05d}.jsonl.zst"
        write_jsonl_zst(self.directory / name, self._pending)
        self.files.append(name)
        self._pending = []


def write_table(rows: Sequence[dict], path_stem: Path) -> None:
    """The same rows as ``{stem}.csv`` and a Markdown table ``{stem}.md``."""
    columns = list(rows[0]) if rows else []
    with path_stem.with_suffix(".csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    path_stem.with_suffix(".md").write_text(markdown_table(rows, digits=None, empty=""), encoding="utf-8")
