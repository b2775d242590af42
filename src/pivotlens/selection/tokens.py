"""The model tokenizer as the selection stages use it.

A stage needs only encode (ids + character offsets) and decode, so the tokenizer is kept as its
``tokenizers`` JSON: it pickles as one string to Ray workers (which then need no transformers),
and it is saved beside the artifacts whose token ids it defines, so later stages cannot pick a
different one by mistake.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from tokenizers import Encoding, Tokenizer

from pivotlens.errors import SelectionError
from pivotlens.text import PIECE_CHARS, text_pieces

TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class DocumentTokenizer:
    json: str
    name: str

    @classmethod
    def from_pretrained(cls, tokenizer, name: str) -> DocumentTokenizer:
        """From a transformers tokenizer; it must be a fast one (offsets come from ``tokenizers``)."""
        if not getattr(tokenizer, "is_fast", False):
            raise SelectionError(f"the tokenizer of {name!r} is not a fast (Rust) tokenizer; "
                                 "selection needs character offsets: use a model with a tokenizer.json")
        return cls(tokenizer.backend_tokenizer.to_str(), name)

    @classmethod
    def from_model(cls, spec: str) -> DocumentTokenizer:
        """The tokenizer of a packaged short name, local model directory or hub id (weights not loaded)."""
        from pivotlens.models.loading import load_tokenizer

        return cls.from_pretrained(load_tokenizer(spec), spec)

    @classmethod
    def load(cls, directory: Path, name: str) -> DocumentTokenizer:
        path = Path(directory) / TOKENIZER_FILE
        if not path.is_file():
            raise SelectionError(f"{directory} has no {TOKENIZER_FILE}; rerun the stage that wrote it")
        return cls(path.read_text(encoding="utf-8"), name)

    def save(self, directory: Path) -> None:
        (Path(directory) / TOKENIZER_FILE).write_text(self.json, encoding="utf-8")

    def __reduce__(self):  # pickle the JSON only, never the parsed tokenizer cached below
        return DocumentTokenizer, (self.json, self.name)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.json.encode("utf-8")).hexdigest()

    @cached_property
    def backend(self) -> Tokenizer:
        tokenizer = Tokenizer.from_str(self.json)
        tokenizer.no_truncation()  # whole documents, whatever the model's context length
        tokenizer.no_padding()
        return tokenizer

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def encode(self, texts: Sequence[str]) -> list[Encoding]:
        """Token ids and character offsets of each text, without special tokens (BOS …)."""
        return self.backend.encode_batch(list(texts), add_special_tokens=False)

    def ids_and_offsets(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per text, its token ids and (n, 2) character offsets as arrays. Texts beyond PIECE_CHARS are
        encoded piece by piece (see text.text_pieces), so memory stays bounded by the piece size."""
        def arrays(encoding: Encoding, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
            offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2) + shift
            return np.asarray(encoding.ids, dtype=np.int64), offsets

        short = [i for i, text in enumerate(texts) if len(text) <= PIECE_CHARS]
        result: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(texts)
        for i, encoding in zip(short, self.encode([texts[i] for i in short])):
            result[i] = arrays(encoding)
        for i, text in enumerate(texts):
            if result[i] is None:  # one piece's encoding at a time
                parts = [arrays(self.encode([piece])[0], start) for start, piece in text_pieces(text)]
                result[i] = (np.concatenate([ids for ids, _ in parts]), np.concatenate([off for _, off in parts]))
        return result

    def decode_batch(self, sequences: Sequence[Sequence[int]]) -> list[str]:
        return self.backend.decode_batch([list(ids) for ids in sequences], skip_special_tokens=False)

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        """Each token decoded alone: readable text for byte-level pieces (``" fleur"``, ``"花"``)."""
        return [self.backend.decode([int(i)], skip_special_tokens=False) for i in ids]
