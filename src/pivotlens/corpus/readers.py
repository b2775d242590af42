"""Streaming corpus readers: one record = one document with an ``id`` and a ``text``.

Accepted inputs (dolma / datatrove convention), given as globs, paths or directories:

* JSONL: ``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst`` (also ``.json.gz`` / ``.json.zst``), one JSON
  object per line;
* Parquet: ``.parquet`` with a ``text`` column (and usually ``id``);
* a Hugging Face ``datasets`` directory written by ``save_to_disk`` (every split, in name order);
* a plain directory: every file above under it, recursively;
* ``bundled``: the small en/fr/zh/ja corpus shipped in the package (``data/SOURCES.md``);
* ``hf:NAME[:CONFIG[:SPLIT]]``: a Hugging Face dataset (hub or local) streamed with ``datasets``
  (:mod:`pivotlens.corpus.streaming`), one shard per shard of the stream.

Each input file (or datasets directory) is a **shard**: the unit of work of the Ray engine.
A record without an id gets ``"{shard}:{line or row}"``, stable across engines.

Bad records (undecodable bytes, invalid JSON, a missing or non-string ``text``) stop the run with a
:class:`CorpusError` naming the file and line, unless ``skip_bad_records`` is set: then they are
counted per reason and reported, never silently dropped. A corpus with no document is an error.
"""

from __future__ import annotations

import glob
import gzip
import io
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path
from typing import BinaryIO

import orjson
import zstandard

from pivotlens.artifacts import file_sha256, iter_jsonl, tree_sha256
from pivotlens.corpus import streaming
from pivotlens.errors import CorpusError

BUNDLED = "bundled"
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz", ".json.zst")
PARQUET_SUFFIXES = (".parquet",)
HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
ROWS_PER_BATCH = 1024  # Parquet / Arrow rows decoded at a time


@dataclass(frozen=True)
class Document:
    id: str
    text: str


@dataclass(frozen=True)
class Shard:
    path: str
    kind: str  # "jsonl" | "parquet" | "hf" | "stream"


@dataclass(frozen=True)
class RecordFields:
    """Which fields hold the text and the id, and what to do with a record that has no usable text."""

    text: str = "text"
    id: str = "id"
    skip_bad_records: bool = False


def bundled_corpus_path() -> Path:
    with as_file(files("pivotlens.corpus").joinpath("data/bundled.jsonl.zst")) as path:
        return Path(path)


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if path.is_dir():
        return "hf" if any((path / marker).is_file() for marker in HF_MARKERS) else None
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def _shards_under(directory: Path) -> list[Shard]:
    found = []
    for path in sorted(directory.rglob("*")):
        kind = _kind(path) if path.is_file() else None
        if kind:
            found.append(Shard(str(path), kind))
    return found


def resolve_corpus(spec: str | Path | Sequence[str | Path]) -> list[Shard]:
    """Expand globs / paths / directories / ``bundled`` into an ordered, de-duplicated shard list."""
    specs = [spec] if isinstance(spec, (str, Path)) else list(spec)
    if not specs:
        raise CorpusError("no corpus given: pass file paths, globs, a directory or 'bundled'")
    shards: list[Shard] = []
    for item in map(str, specs):
        if item == BUNDLED:
            shards.append(Shard(str(bundled_corpus_path()), "jsonl"))
            continue
        if streaming.is_stream(item):
            shards += [Shard(name, streaming.KIND) for name in streaming.stream_shard_names(item)]
            continue
        matches = sorted(glob.glob(item, recursive=True)) if glob.has_magic(item) else [item]
        if not matches or not Path(matches[0]).exists():
            raise CorpusError(f"corpus input {item!r}: no such file, or no file matches the glob")
        for match in map(Path, matches):
            kind = _kind(match)
            if kind:
                shards.append(Shard(str(match), kind))
            elif match.is_dir():
                under = _shards_under(match)
                if not under:
                    raise CorpusError(f"{match}: a directory with no {', '.join(JSONL_SUFFIXES + PARQUET_SUFFIXES)} "
                                      "file and not a Hugging Face datasets directory")
                shards += under
            elif not glob.has_magic(item):
                raise CorpusError(f"{match}: unsupported corpus file; use one of "
                                  f"{', '.join(JSONL_SUFFIXES + PARQUET_SUFFIXES)} or a datasets directory")
    unique = list(dict.fromkeys(shards))
    if not unique:
        raise CorpusError(f"no corpus file among {', '.join(map(str, specs))}")
    return unique


ZSTD_MAGIC = 0xFD2FB528
ZSTD_SKIPPABLE = range(0x184D2A50, 0x184D2A60)


def check_zstd_complete(path: str | Path) -> None:
    """Walk the frames and block headers of a .zst file (reading only the headers) and raise
    CorpusError when it ends inside a frame: zstandard's stream_reader reads a cut file as a shorter,
    complete one."""
    size = Path(path).stat().st_size
    with open(path, "rb") as handle:
        offset = 0
        while offset < size:
            handle.seek(offset)
            head = handle.read(18)  # the largest frame header
            magic = int.from_bytes(head[:4], "little") if len(head) >= 4 else None
            if magic in ZSTD_SKIPPABLE and len(head) >= 8:
                offset += 8 + int.from_bytes(head[4:8], "little")
                continue
            if magic != ZSTD_MAGIC:
                raise CorpusError(f"{path}: not a zstd file or damaged at byte {offset}; recompress or re-download it")
            try:
                offset += zstandard.frame_header_size(head)
                has_checksum = zstandard.get_frame_parameters(head).has_checksum
            except zstandard.ZstdError:
                raise CorpusError(f"{path}: damaged zstd frame header at byte {offset}") from None
            last = False
            while not last:
                handle.seek(offset)
                block = handle.read(3)
                if len(block) < 3:
                    break
                header = int.from_bytes(block, "little")
                last, kind, length = bool(header & 1), (header >> 1) & 3, header >> 3
                offset += 3 + (1 if kind == 1 else length)  # an RLE block stores one byte
            offset += 4 if has_checksum else 0
            if not last or offset > size:
                raise CorpusError(f"{path}: truncated (the file ends inside a zstd frame, {size} bytes); "
                                  "the copy is incomplete: copy or download it again")


def _open_jsonl(path: str) -> BinaryIO:
    if path.endswith(".zst"):
        check_zstd_complete(path)
    raw = open(path, "rb")  # noqa: SIM115 - closed by the wrapper
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)
    if path.endswith(".zst"):
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True,
                                                                            closefd=True))
    return raw


class _RecordChecker:
    """Turns raw records into documents; a bad one raises or is counted in ``skipped``."""

    def __init__(self, shard: Shard, fields: RecordFields, skipped: Counter) -> None:
        self.shard, self.fields, self.skipped = shard, fields, skipped

    def bad(self, where: int | str, reason: str, detail: str) -> None:
        if not self.fields.skip_bad_records:
            raise CorpusError(f"{self.shard.path}:{where}: {detail} "
                              "(pass --skip-bad-records to count and skip such records)")
        self.skipped[reason] += 1

    def document(self, record: object, where: str) -> Document | None:
        if not isinstance(record, dict):
            self.bad(where, "not an object", "a record must be a JSON object")
            return None
        text = record.get(self.fields.text)
        if text is None:
            self.bad(where, f"no '{self.fields.text}'", f"record has no '{self.fields.text}' (missing or null; "
                     f"fields: {', '.join(sorted(record)) or 'none'}; choose another with --text-field)")
            return None
        if not isinstance(text, str):
            self.bad(where, f"'{self.fields.text}' not a string", f"'{self.fields.text}' is a {type(text).__name__}, "
                     "not a string")
            return None
        doc_id = record.get(self.fields.id)
        return Document(str(doc_id) if doc_id is not None else f"{self.shard.path}:{where}", text)


def _read_jsonl(shard: Shard, checker: _RecordChecker) -> Iterator[Document]:
    for block in jsonl_blocks(shard):
        yield from _block_documents(block, checker)


@dataclass(frozen=True)
class LineBlock:
    """Consecutive raw lines of a JSONL shard, the first being line ``first_line``: what a reading
    process hands to a worker process, which decodes the JSON itself."""

    shard: Shard
    first_line: int
    lines: bytes  # complete lines (the last one's newline may be missing at the end of the file)


LINE_BLOCK_BYTES = 1 << 22  # decompressed bytes read at a time


def jsonl_blocks(shard: Shard, size: int | None = None) -> Iterator[LineBlock]:
    """The shard's lines (decompressed) in blocks of about ``size`` bytes (default
    :data:`LINE_BLOCK_BYTES`), cut after a newline; a longer line makes a block of its own, so
    memory follows the largest line."""
    number, pieces = 1, []
    try:
        with _open_jsonl(shard.path) as stream:
            while chunk := stream.read(size or LINE_BLOCK_BYTES):
                cut = chunk.rfind(b"\n") + 1
                if not cut:
                    pieces.append(chunk)
                    continue
                lines = b"".join([*pieces, chunk[:cut]])
                yield LineBlock(shard, number, lines)
                number += lines.count(b"\n")
                pieces = [chunk[cut:]]
    except (OSError, EOFError, zstandard.ZstdError) as error:  # gzip.BadGzipFile is an OSError
        raise CorpusError(f"{shard.path}: cannot read it ({error}); is the file complete and really "
                          f"{Path(shard.path).suffix}?") from error
    if any(pieces):
        yield LineBlock(shard, number, b"".join(pieces))


def read_block(block: LineBlock, fields: RecordFields = RecordFields(), skipped: Counter | None = None) -> Iterator[Document]:
    """The documents of a block of lines; bad records raise, or are counted in ``skipped``."""
    return _block_documents(block, _RecordChecker(block.shard, fields, skipped if skipped is not None else Counter()))


_PLAIN_IDS = (str, int, type(None))  # ids that orjson reads as json does (it reads integers past 64 bits as floats)


def _block_documents(block: LineBlock, checker: _RecordChecker) -> Iterator[Document]:
    text_field, id_field, path = checker.fields.text, checker.fields.id, block.shard.path
    # as the file is read: lines end at \n only (\r is JSON whitespace)
    for number, line in enumerate(block.lines.split(b"\n"), start=block.first_line):
        try:  # orjson reads a line several times faster; any other line gets json's verdict below
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = None
        if type(record) is dict and type(record.get(text_field)) is str and type(doc_id := record.get(id_field)) in _PLAIN_IDS:
            yield Document(path + f":{number}" if doc_id is None else str(doc_id), record[text_field])
            continue
        for where, value in iter_jsonl([line], on_invalid=checker.bad, first_line=number):
            document = checker.document(value, str(where))
            if document is not None:
                yield document


def _read_arrow_batches(shard: Shard, batches: Iterator, columns: list[str], checker: _RecordChecker,
                        row_prefix: str = "row ") -> Iterator[Document]:
    fields = checker.fields
    if fields.text not in columns:
        raise CorpusError(f"{shard.path}: no '{fields.text}' column (columns: {', '.join(columns)}); "
                          "choose another with --text-field")
    row = 0
    for batch in batches:
        texts = batch.column(fields.text).to_pylist()
        ids = batch.column(fields.id).to_pylist() if fields.id in columns else [None] * len(texts)
        for doc_id, text in zip(ids, texts):
            row += 1
            document = checker.document({fields.text: text, fields.id: doc_id}, f"{row_prefix}{row}")
            if document is not None:
                yield document


def _read_parquet(shard: Shard, checker: _RecordChecker) -> Iterator[Document]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(shard.path)
        columns = parquet.schema_arrow.names
        wanted = [c for c in (checker.fields.id, checker.fields.text) if c in columns]
        yield from _read_arrow_batches(shard, parquet.iter_batches(ROWS_PER_BATCH, columns=wanted), columns, checker)
    except (pa.ArrowException, OSError) as error:
        raise CorpusError(f"{shard.path}: not a readable Parquet file ({error})") from error


def _read_hf(shard: Shard, checker: _RecordChecker) -> Iterator[Document]:
    import datasets

    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_from_disk(shard.path)
    except (FileNotFoundError, ValueError) as error:
        raise CorpusError(f"{shard.path}: not a datasets directory saved with save_to_disk ({error})") from error
    splits = sorted(loaded.items()) if isinstance(loaded, datasets.DatasetDict) else [("", loaded)]
    for split, dataset in splits:
        columns = list(dataset.column_names)
        wanted = [c for c in (checker.fields.id, checker.fields.text) if c in columns]
        batches = dataset.with_format("arrow").select_columns(wanted).iter(batch_size=ROWS_PER_BATCH)
        yield from _read_arrow_batches(shard, batches, columns, checker, row_prefix=f"{split}:row " if split else "row ")


def _read_stream(shard: Shard, checker: _RecordChecker) -> Iterator[Document]:
    for where, record in streaming.stream_records(shard.path):
        document = checker.document(record, where)
        if document is not None:
            yield document


READERS = {"jsonl": _read_jsonl, "parquet": _read_parquet, "hf": _read_hf, streaming.KIND: _read_stream}


def read_shard(shard: Shard, fields: RecordFields = RecordFields(), skipped: Counter | None = None) -> Iterator[Document]:
    """Stream the documents of one shard; bad records raise, or are counted in ``skipped``."""
    return READERS[shard.kind](shard, _RecordChecker(shard, fields, skipped if skipped is not None else Counter()))


def read_corpus(spec: str | Path | Sequence[str | Path], fields: RecordFields = RecordFields(),
                skipped: Counter | None = None) -> Iterator[Document]:
    """Stream every document of a corpus, shard after shard."""
    for shard in resolve_corpus(spec):
        yield from read_shard(shard, fields, skipped)


def fingerprint(shard: Shard) -> dict:
    """sha256 and size in bytes of a shard (for a datasets directory: over its files, by name; for a
    stream: its name and source, :func:`pivotlens.corpus.streaming.stream_fingerprint`)."""
    if shard.kind == streaming.KIND:
        return streaming.stream_fingerprint(shard.path)
    root = Path(shard.path)
    if not root.is_dir():
        return {"path": shard.path, "kind": shard.kind, "sha256": file_sha256(root), "bytes": root.stat().st_size}
    paths = [p for p in root.rglob("*") if p.is_file()]
    return {"path": shard.path, "kind": shard.kind, "sha256": tree_sha256(paths, root),
            "bytes": sum(p.stat().st_size for p in paths)}
