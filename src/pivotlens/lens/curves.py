"""Figure-3-style curves: the summed lens probability of a token set per layer at each item's first
target-predicting position, mean ± sd over items, against random token sets of the same size."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pivotlens.artifacts import iter_jsonl
from pivotlens.batching import run_by_length
from pivotlens.clwtd import Dataset
from pivotlens.errors import PivotlensError
from pivotlens.languages import parse_pairs
from pivotlens.lens.core import lens_probabilities
from pivotlens.lens.decoders import LOGIT_LENS, Decoder
from pivotlens.lens.translation import TranslationPrompt, dataset_prompt
from pivotlens.models.loading import LoadedModel


@dataclass(frozen=True)
class TokenSetItem:
    """A CLWTD item under one pair, and the token set whose probability is followed."""

    item_id: str
    src: str
    tgt: str
    token_ids: tuple[int, ...]


@dataclass(frozen=True)
class CurveResult:
    set_probability: np.ndarray  # [items, layers]: summed probability of each item's set
    random_probability: np.ndarray  # [items, layers]: mean over the random sets of each item
    n_random_sets: int

    @property
    def mean(self) -> np.ndarray:
        return self.set_probability.mean(axis=0)

    @property
    def random_mean(self) -> np.ndarray:
        return self.random_probability.mean(axis=0)

    @property
    def peak_layer(self) -> int:
        """1-based layer where the mean set probability is highest."""
        return int(np.argmax(self.mean)) + 1

    @property
    def ratio_at_peak(self) -> float:
        peak = self.peak_layer - 1
        return float(self.mean[peak] / self.random_mean[peak]) if self.random_mean[peak] > 0 else float("inf")

    def rows(self) -> list[dict]:
        sd = self.set_probability.std(axis=0, ddof=1) if len(self.set_probability) > 1 else np.zeros_like(self.mean)
        random_sd = (self.random_probability.std(axis=0, ddof=1) if len(self.random_probability) > 1
                     else np.zeros_like(self.random_mean))
        return [{"layer": layer + 1, "mean": float(self.mean[layer]), "sd": float(sd[layer]),
                 "random_mean": float(self.random_mean[layer]), "random_sd": float(random_sd[layer])}
                for layer in range(len(self.mean))]


def read_token_sets(path: Path, tokenizer, dataset: Dataset) -> list[TokenSetItem]:
    """JSONL lines ``{"id": item id, "pair": "en-zh", "tokens": [vocabulary entries, e.g. "▁fleur"]}``
    or with ``"token_ids": [ints]`` instead of ``tokens``."""
    known = {entry.id for entry in dataset.entries}
    items = []
    for number, record in iter_jsonl(path):
        try:
            (src, tgt), = parse_pairs(record["pair"])
            if "token_ids" in record:
                ids = [int(i) for i in record["token_ids"]]
            else:
                ids = tokenizer.convert_tokens_to_ids(record["tokens"])
                unknown = [t for t, i in zip(record["tokens"], ids) if i is None or i == tokenizer.unk_token_id]
                if unknown:
                    raise PivotlensError(f"tokens not in the vocabulary: {unknown}")
        except (KeyError, TypeError, ValueError, PivotlensError) as error:
            raise PivotlensError(f"{path}:{number}: bad token-set line ({error})") from error
        if record["id"] not in known:
            raise PivotlensError(f"{path}:{number}: item {record['id']!r} is not in the dataset {dataset.source}")
        if not ids:
            raise PivotlensError(f"{path}:{number}: empty token set")
        if outside := [i for i in ids if not 0 <= i < len(tokenizer)]:
            raise PivotlensError(f"{path}:{number}: token ids {outside[:5]} are outside the vocabulary "
                                 f"(0…{len(tokenizer) - 1}); were the sets mined with another tokenizer?")
        items.append(TokenSetItem(record["id"], src, tgt, tuple(ids)))
    if not items:
        raise PivotlensError(f"{path}: no token sets")
    return items


def token_set_curve(
    loaded: LoadedModel, prompts: Sequence[TranslationPrompt], token_sets: Sequence[Sequence[int]],
    n_random_sets: int = 20, seed: int = 0, batch_size: int = 8, decoder: Decoder = LOGIT_LENS,
) -> CurveResult:
    """Per item and layer, P(set) at the first target-predicting position under ``decoder``, and the
    mean P of ``n_random_sets`` uniformly drawn token sets of the same size (seeded)."""
    rng = np.random.default_rng(seed)
    n_vocab = loaded.adapter.unembedding.weight.shape[0]
    token_ids = [sorted(set(tokens)) for tokens in token_sets[: len(prompts)]]
    random_sets = [np.stack([rng.choice(n_vocab, size=len(ids), replace=False) for _ in range(n_random_sets)])
                   for ids in token_ids]  # [R, size] per item, drawn in item order

    def run(batch: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        probabilities = lens_probabilities(
            loaded, [prompts[i].token_ids for i in batch], [[prompts[i].first_predicting_position] for i in batch],
            decoder,
        )  # [L, batch, V]
        device = probabilities.device
        return [(probabilities[:, row, torch.tensor(token_ids[i], device=device)].sum(-1).cpu().numpy(),
                 probabilities[:, row, torch.from_numpy(random_sets[i]).to(device)].sum(-1).mean(-1).cpu().numpy())
                for row, i in enumerate(batch)]

    rows = run_by_length(range(len(token_ids)), lambda i: len(prompts[i].token_ids), batch_size, run)
    return CurveResult(np.stack([row[0] for row in rows]), np.stack([row[1] for row in rows]), n_random_sets)


def curve_for_token_sets(
    loaded: LoadedModel, dataset: Dataset, items: Sequence[TokenSetItem], seed: int = 0,
    n_random_sets: int = 20, batch_size: int = 8, decoder: Decoder = LOGIT_LENS,
) -> CurveResult:
    index = {entry.id: i for i, entry in enumerate(dataset.entries)}
    prompts = [dataset_prompt(loaded.tokenizer, dataset, index[item.item_id], item.src, item.tgt, seed) for item in items]
    return token_set_curve(loaded, prompts, [item.token_ids for item in items], n_random_sets, seed, batch_size, decoder)


def write_curve(result: CurveResult, out_dir: Path, details: dict) -> dict:
    """curve.csv and curve.json (peak layer, ratio to random at the peak, the per-layer rows)."""
    rows = result.rows()
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "curve.csv").open("w") as handle:
        handle.write("layer,mean,sd,random_mean,random_sd\n")
        for row in rows:
            handle.write(f"{row['layer']},{row['mean']:.6g},{row['sd']:.6g},{row['random_mean']:.6g},{row['random_sd']:.6g}\n")
    summary = {**details, "n_items": len(result.set_probability), "n_random_sets": result.n_random_sets,
               "peak_layer": result.peak_layer, "ratio_to_random_at_peak": result.ratio_at_peak, "layers": rows}
    (out_dir / "curve.json").write_text(json.dumps(summary, indent=1))
    return summary
