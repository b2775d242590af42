"""Streamed corpora: a Hugging Face dataset read with ``datasets`` streaming, never downloaded whole.

``--corpus hf:NAME[:CONFIG[:SPLIT]]`` names a hub dataset (``hf:allenai/c4:en:train``) or a local
dataset directory or data file (``hf:/data/my-corpus``: Parquet / JSON Lines / CSV / text files,
read by ``datasets``' packaged builders); the split defaults to ``train``. ``--max-documents N``
keeps the stream's first N documents and reads them as one shard (a cap on the whole stream cannot
be split across shards without knowing their sizes); it is written into the input's name,
``hf:NAME:CONFIG:SPLIT|first=N``, so a later stage that reads the same input reads the same
documents. Uncapped, the stream is cut into its own shards (``IterableDataset.num_shards``: its
data files), ``hf:…|shard=k/n``: the units the Ray engine runs as tasks, read one after another by
the local engine. Records are dicts; ``--text-field`` / ``--id-field`` pick the fields, and a record
without an id gets ``"{shard}:row {r}"``. Loading scripts (``*.py``) are not supported: ``datasets``
≥ 4 no longer runs them; convert such data to Parquet or JSON Lines.

A stream's fingerprint (for the run identity that lets a rerun resume and lets ``pivots mine``
check that it reads what was counted) is its name plus, for a local input, the sha256 of its files,
and for a hub dataset the commit its files were resolved at when it is known.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pivotlens.artifacts import tree_sha256
from pivotlens.errors import CorpusError

PREFIX = "hf:"
KIND = "stream"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    config: str | None = None
    split: str = "train"
    first: int | None = None  # only the stream's first documents
    shard: tuple[int, int] | None = None  # (k, n): the k-th of the stream's n shards

    @classmethod
    def parse(cls, text: str) -> StreamSpec:
        if not text.startswith(PREFIX):
            raise CorpusError(f"{text!r} is not a stream input (hf:NAME[:CONFIG[:SPLIT]])")
        base, *options = text[len(PREFIX):].split("|")
        parts = base.split(":")
        if not parts[0] or len(parts) > 3 or any(not part for part in parts[1:]):
            raise CorpusError(f"{text!r}: write a stream as hf:NAME[:CONFIG[:SPLIT]] (e.g. hf:allenai/c4:en:train)")
        spec = cls(parts[0], parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else "train")
        for option in options:
            key, _, value = option.partition("=")
            try:
                if key == "first" and int(value) >= 1:
                    spec = replace(spec, first=int(value))
                    continue
                if key == "shard":
                    k, n = map(int, value.split("/"))
                    if 0 <= k < n:
                        spec = replace(spec, shard=(k, n))
                        continue
            except ValueError:
                pass
            raise CorpusError(f"{text!r}: unknown stream option {option!r} (first=N, shard=k/n)")
        return spec

    def __str__(self) -> str:
        parts = [self.name] + ([self.config, self.split] if self.config else [])
        text = PREFIX + ":".join(parts)
        if self.first is not None:
            text += f"|first={self.first}"
        if self.shard is not None:
            text += f"|shard={self.shard[0]}/{self.shard[1]}"
        return text

    @property
    def local_path(self) -> Path | None:
        path = Path(self.name).expanduser()
        return path if path.exists() else None


def is_stream(text: str) -> bool:
    return str(text).startswith(PREFIX)


def with_max_documents(text: str, max_documents: int | None) -> str:
    """The input ``text`` capped at its first ``max_documents`` documents (streams only)."""
    if max_documents is None:
        return text
    if max_documents < 1:
        raise CorpusError(f"--max-documents must be ≥ 1, not {max_documents}")
    return str(replace(StreamSpec.parse(text), first=max_documents))


def open_stream(spec: StreamSpec):
    """The ``datasets.IterableDataset`` of a spec (sharding and cap applied)."""
    import datasets

    if spec.name.endswith(".py"):
        raise CorpusError(f"{spec}: datasets {datasets.__version__} no longer runs loading scripts (removed in "
                          "datasets 4); convert the data to Parquet or JSON Lines and pass its directory")
    datasets.disable_progress_bars()
    local = spec.local_path
    try:
        if local is not None and local.is_file():
            builder = "parquet" if local.suffix == ".parquet" else "csv" if local.suffix == ".csv" else "json"
            stream = datasets.load_dataset(builder, data_files=str(local), split=spec.split, streaming=True)
        else:
            stream = datasets.load_dataset(str(local or spec.name), spec.config, split=spec.split, streaming=True)
    except (OSError, ValueError, RuntimeError, ImportError) as error:  # offline, unknown name, no such split
        raise CorpusError(f"cannot open the stream {spec}: {error}") from None
    if spec.shard is not None:
        stream = stream.shard(num_shards=spec.shard[1], index=spec.shard[0])
    if spec.first is not None:
        stream = stream.take(spec.first)
    return stream


def stream_shard_names(text: str) -> list[str]:
    """The shards of a stream input: itself when capped, else one per shard of the stream."""
    spec = StreamSpec.parse(text)
    if spec.first is not None or spec.shard is not None:
        return [str(spec)]
    shards = max(1, open_stream(spec).num_shards)
    return [str(replace(spec, shard=(k, shards))) for k in range(shards)]


def stream_records(shard_name: str) -> Iterator[tuple[str, object]]:
    """(where, record) of every record of a stream shard, in stream order."""
    for row, record in enumerate(open_stream(StreamSpec.parse(shard_name)), start=1):
        yield f"row {row}", record


def stream_fingerprint(shard_name: str) -> dict:
    spec = StreamSpec.parse(shard_name)
    local = spec.local_path
    if local is not None:
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        source = {"files_sha256": tree_sha256(files, local if local.is_dir() else local.parent)}
    else:
        source = {"revision": _hub_revision(spec.name)}
    identity = {"stream": str(spec), **source}
    return {"path": shard_name, "kind": KIND, "sha256": hashlib.sha256(json.dumps(identity, sort_keys=True).encode()
                                                                        ).hexdigest(), **source}


def _hub_revision(name: str) -> str | None:
    """The commit of a hub dataset now, or None when the hub cannot be asked."""
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(name, timeout=10).sha
    except Exception:  # noqa: BLE001 - offline or no such dataset: the name alone identifies it
        return None
