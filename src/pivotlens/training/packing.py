"""Sequence packing: a corpus becomes one EOS-separated token stream cut into equal blocks.

The stream is tokenised once into a flat ``uint32`` file (written beside the run, renamed into
place when complete, so a kill never leaves a half file that looks finished). Training reads
blocks from it through a memory map: block ``i`` is ``tokens[i*L:(i+1)*L]``; the tail shorter than
one block is dropped. Documents are not aligned to blocks and attention crosses the EOS separators,
as in OLMo's own pre-training.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from pivotlens.artifacts import open_atomic, write_json_atomic
from pivotlens.errors import ModelError, PivotlensError
from pivotlens.text import PIECE_CHARS, text_pieces

TOKEN_DTYPE = np.uint32  # Gemma's vocabulary (262k) does not fit in uint16
TOKENIZE_BATCH = 256  # documents per tokenizer call


@dataclass(frozen=True)
class TokenStats:
    documents: int
    tokens: int
    eos_id: int


def leading_special_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The special tokens the tokenizer puts before a text (BOS for Llama/Gemma, none for GPT-2/Qwen)."""
    ids = tokenizer("a", verbose=False)["input_ids"]
    plain = tokenizer("a", add_special_tokens=False, verbose=False)["input_ids"]
    return ids[: ids.index(plain[0])] if plain and plain[0] in ids else []


def document_token_ids(tokenizer: PreTrainedTokenizerBase, texts: Iterable[str]) -> Iterator[list[int]]:
    """Each document's ids as the model's tokenizer makes them (BOS where the model expects one),
    ending with EOS — the separator between packed documents."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ModelError("the tokenizer has no EOS token, which packing needs to separate documents")
    batch: list[str] = []

    def flush() -> Iterator[list[int]]:
        if not batch:
            return
        for ids in tokenizer(batch, verbose=False)["input_ids"]:  # verbose=False: no too-long warnings
            yield ids if ids and ids[-1] == eos else [*ids, eos]
        batch.clear()

    for text in texts:
        if len(text) > PIECE_CHARS:  # bounded memory: piece by piece, with the whole text's BOS
            yield from flush()
            ids = list(leading_special_ids(tokenizer))
            for _, piece in text_pieces(text):
                ids += tokenizer(piece, add_special_tokens=False, verbose=False)["input_ids"]
            yield [*ids, eos]
            continue
        batch.append(text)
        if len(batch) == TOKENIZE_BATCH:
            yield from flush()
    yield from flush()


def write_token_file(tokenizer: PreTrainedTokenizerBase, texts: Iterable[str], path: Path) -> TokenStats:
    """Tokenise ``texts`` into the flat token file ``path`` (+ ``path.json`` with its counts)."""
    documents = tokens = 0
    with open_atomic(path) as handle:
        for ids in document_token_ids(tokenizer, texts):
            handle.write(np.asarray(ids, dtype=TOKEN_DTYPE).tobytes())
            documents += 1
            tokens += len(ids)
        stats = TokenStats(documents, tokens, tokenizer.eos_token_id)
        write_json_atomic(stats_path(path), asdict(stats), indent=None)  # before the token file lands
    return stats


def stats_path(token_file: Path) -> Path:
    return token_file.with_name(token_file.name + ".json")


def read_token_stats(token_file: Path) -> TokenStats | None:
    """Counts of a complete token file, or None when it is absent (or was cut short by a kill)."""
    if not (token_file.is_file() and stats_path(token_file).is_file()):
        return None
    return TokenStats(**json.loads(stats_path(token_file).read_text()))


class PackedBlocks(torch.utils.data.Dataset):
    """Fixed-length causal-LM examples over a token file; ``labels`` are the inputs (the model shifts)."""

    def __init__(self, token_file: Path, block_size: int, limit: int | None = None) -> None:
        if block_size < 2:
            raise PivotlensError("--seq-len must be at least 2 tokens")
        if token_file.stat().st_size == 0:  # np.memmap cannot map an empty file
            raise PivotlensError("the training data has no document with text: check --data")
        self.tokens = np.memmap(token_file, dtype=TOKEN_DTYPE, mode="r")
        self.block_size = block_size
        available = len(self.tokens) // block_size
        self.n_blocks = available if limit is None else min(limit, available)
        if self.n_blocks == 0:
            raise PivotlensError(
                f"the training data has {len(self.tokens)} tokens, fewer than one block of --seq-len {block_size}"
            )

    def __len__(self) -> int:
        return self.n_blocks

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.n_blocks:
            raise IndexError(index)
        start = index * self.block_size
        ids = torch.from_numpy(self.tokens[start : start + self.block_size].astype(np.int64))
        return {"input_ids": ids, "labels": ids.clone()}
