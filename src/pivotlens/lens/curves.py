"""Figure-3-style curves: the summed lens probability of a token set per layer at each item's first
target-predicting position, mean ± sd over items, against controls: uniform random token sets of
the same size, random sets matched to the set's corpus-frequency profile (the reference: a pivot
set beats uniform random sets merely by being made of real, frequent words), another item's set,
and the source and target words' first tokens."""

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
from pivotlens.words import first_token_ids


@dataclass(frozen=True)
class TokenSetItem:
    """A CLWTD item under one pair, and the token set whose probability is followed."""

    item_id: str
    src: str
    tgt: str
    token_ids: tuple[int, ...]


CONTROLS = {  # curve.json key → what it follows
    "random": "uniform random token sets, same sizes",
    "matched": "random sets matched to the pivot set's corpus-frequency profile",
    "shuffled": "another item's pivot set (shuffled control)",
    "source": "the source word's first token(s)",
    "target": "the target word's first token(s)",
}


@dataclass(frozen=True)
class CurveResult:
    """Per item and layer: the summed probability of the item's set, and of each control
    (CONTROLS; a control that could not be drawn is absent)."""

    set_probability: np.ndarray  # [items, layers]
    controls: dict[str, np.ndarray]  # control → [items, layers]; random/matched: mean over the sets
    n_random_sets: int

    @property
    def mean(self) -> np.ndarray:
        return self.set_probability.mean(axis=0)

    @property
    def random_probability(self) -> np.ndarray:
        return self.controls["random"]

    def control_mean(self, control: str) -> np.ndarray:
        return self.controls[control].mean(axis=0)

    @property
    def reference(self) -> str:
        """The control the ratio is reported against: the frequency-matched sets when drawn."""
        return "matched" if "matched" in self.controls else "random"

    @property
    def peak_layer(self) -> int:
        """1-based layer where the mean set probability is highest."""
        return int(np.argmax(self.mean)) + 1

    def ratio_at_peak(self, control: str | None = None) -> float:
        peak, base = self.peak_layer - 1, self.control_mean(control or self.reference)
        return float(self.mean[peak] / base[peak]) if base[peak] > 0 else float("inf")

    def rows(self) -> list[dict]:
        def spread(values: np.ndarray) -> np.ndarray:
            return values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])

        columns = {"": self.set_probability, **{f"{name}_": values for name, values in self.controls.items()}}
        stats = {prefix: (values.mean(axis=0), spread(values)) for prefix, values in columns.items()}
        return [{"layer": layer + 1, **{f"{prefix}{kind}": float(stat[i][layer]) for prefix, stat in stats.items()
                                        for i, kind in enumerate(("mean", "sd"))}}
                for layer in range(len(self.mean))]


def frequency_bins(frequencies: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """A bin per vocabulary token: 0 for tokens the corpus sample never shows, else 1…n_bins by
    quantile of log frequency among the tokens it shows (ties share a bin)."""
    bins = np.zeros(len(frequencies), dtype=np.int64)
    seen = frequencies > 0
    if seen.any():
        logs = np.log(frequencies[seen])
        edges = np.quantile(logs, np.linspace(0, 1, n_bins + 1)[1:-1])
        bins[seen] = 1 + np.searchsorted(edges, logs, side="right")
    return bins


def matched_random_sets(token_ids: Sequence[int], bins: np.ndarray, n_sets: int, rng: np.random.Generator,
                        exclude: Sequence[int] = ()) -> np.ndarray:
    """``n_sets`` random token sets, [n_sets, len(token_ids)]: each token of the set replaced by a
    token of the same frequency bin, none of ``exclude`` (the set itself and the item's words), no
    token twice in a set. A bin with too few other tokens takes its neighbours."""
    taken = set(token_ids) | set(exclude)
    by_bin = {int(b): np.setdiff1d(np.flatnonzero(bins == b), list(taken)) for b in np.unique(bins)}
    sets = np.empty((n_sets, len(token_ids)), dtype=np.int64)
    wanted = np.bincount(bins[list(token_ids)], minlength=int(bins.max()) + 1)
    for r in range(n_sets):
        drawn = []
        for b in np.flatnonzero(wanted):
            pool, width = by_bin.get(int(b), np.empty(0, np.int64)), 0
            while len(pool) < wanted[b] and width <= bins.max():
                width += 1
                pool = np.concatenate([by_bin.get(int(c), np.empty(0, np.int64)) for c in range(b - width, b + width + 1)])
            drawn.extend(rng.choice(pool, size=int(wanted[b]), replace=False))
        sets[r] = drawn
    return sets


def _shuffled_partners(n: int, rng: np.random.Generator) -> np.ndarray | None:
    """For each item another item (a seeded derangement), or None with fewer than two items."""
    if n < 2:
        return None
    order = rng.permutation(n)
    partners = np.empty(n, dtype=np.int64)
    partners[order] = np.roll(order, -1)
    return partners


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
    n_random_sets: int = 20, seed: int = 0, batch_size: int = 8, frequencies: np.ndarray | None = None,
    decoder: Decoder = LOGIT_LENS,
) -> CurveResult:
    """Per item and layer, P(set) at the first target-predicting position under ``decoder``, against
    the CONTROLS: ``n_random_sets`` uniform and (with the corpus ``frequencies`` of the vocabulary) as
    many frequency-matched random sets of the same size, another item's set, and the source and
    target words' first tokens (seeded)."""
    rng = np.random.default_rng(seed)
    n_vocab = loaded.adapter.unembedding.weight.shape[0]
    tokenizer = loaded.tokenizer
    token_ids = [sorted(set(tokens)) for tokens in token_sets[: len(prompts)]]
    words = [(sorted(first_token_ids(tokenizer, p.item.source)), sorted(first_token_ids(tokenizer, p.item.target)))
             for p in prompts]
    sets = {"random": [np.stack([rng.choice(n_vocab, size=len(ids), replace=False) for _ in range(n_random_sets)])
                       for ids in token_ids]}  # [R, size] per item, drawn in item order
    if frequencies is not None:
        bins = frequency_bins(frequencies[:n_vocab])  # over the tokenizer's vocabulary, not padding rows
        sets["matched"] = [matched_random_sets(ids, bins, n_random_sets, rng, [*source, *target])
                           for ids, (source, target) in zip(token_ids, words)]
    partners = _shuffled_partners(len(token_ids), rng)
    if partners is not None:
        sets["shuffled"] = [np.array([token_ids[partner]]) for partner in partners]
    sets["source"] = [np.array([source]) for source, _ in words]
    sets["target"] = [np.array([target]) for _, target in words]

    def run(batch: list[int]) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
        probabilities = lens_probabilities(
            loaded, [prompts[i].token_ids for i in batch], [[prompts[i].first_predicting_position] for i in batch],
            decoder,
        )  # [L, batch, V]
        device = probabilities.device

        def summed(row: int, ids) -> np.ndarray:  # ids: [R, size] → mean over R of the summed P, per layer
            chosen = probabilities[:, row, torch.as_tensor(np.asarray(ids), device=device)]  # [L, R, size]
            return chosen.sum(-1).mean(-1).cpu().numpy()

        return [(summed(row, [token_ids[i]]), {name: summed(row, per_item[i]) for name, per_item in sets.items()})
                for row, i in enumerate(batch)]

    rows = run_by_length(range(len(token_ids)), lambda i: len(prompts[i].token_ids), batch_size, run)
    return CurveResult(np.stack([row[0] for row in rows]),
                       {name: np.stack([row[1][name] for row in rows]) for name in sets}, n_random_sets)


def curve_for_token_sets(
    loaded: LoadedModel, dataset: Dataset, items: Sequence[TokenSetItem], seed: int = 0,
    n_random_sets: int = 20, batch_size: int = 8, frequencies: np.ndarray | None = None,
    decoder: Decoder = LOGIT_LENS,
) -> CurveResult:
    index = {entry.id: i for i, entry in enumerate(dataset.entries)}
    prompts = [dataset_prompt(loaded.tokenizer, dataset, index[item.item_id], item.src, item.tgt, seed) for item in items]
    return token_set_curve(loaded, prompts, [item.token_ids for item in items], n_random_sets, seed, batch_size,
                           frequencies, decoder)


def write_curve(result: CurveResult, out_dir: Path, details: dict) -> dict:
    """curve.csv and curve.json: the peak layer, the ratio at the peak to the reference control
    (frequency-matched when drawn) and to each control, the per-layer rows of the set and every control."""
    rows = result.rows()
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "curve.csv").open("w") as handle:
        handle.write(",".join(rows[0]) + "\n")
        for row in rows:
            handle.write(",".join(f"{value:.6g}" if isinstance(value, float) else str(value) for value in row.values()) + "\n")
    summary = {**details, "n_items": len(result.set_probability), "n_random_sets": result.n_random_sets,
               "controls": {name: CONTROLS[name] for name in result.controls},
               "peak_layer": result.peak_layer, "reference_control": result.reference,
               "ratio_at_peak": result.ratio_at_peak(),
               "ratio_at_peak_by_control": {name: result.ratio_at_peak(name) for name in result.controls},
               "ratio_to_random_at_peak": result.ratio_at_peak("random"), "layers": rows}
    (out_dir / "curve.json").write_text(json.dumps(summary, indent=1))
    return summary

