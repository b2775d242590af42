"""Lens traces of word translations, per-item behaviours over a dataset, resumable on disk."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from pivotlens.artifacts import StageDirectory, fill_pair_files
from pivotlens.clwtd import Dataset
from pivotlens.errors import PivotlensError
from pivotlens.languages import LANGUAGES, pair_key
from pivotlens.lens.behaviour import SEMANTIC_PIVOT, Behaviour, classify, meaningless_tokens
from pivotlens.lens.core import lens_probabilities
from pivotlens.lens.decoders import LOGIT, LOGIT_LENS, Decoder, decoder_identity, load_decoder
from pivotlens.lens.options import ClassifyOptions
from pivotlens.models.loading import LoadedModel
from pivotlens.models.registry import model_sha256
from pivotlens.records import BEHAVIOURS_DIR, BehaviourRecord, TranslationItem, read_behaviours, write_behaviours
from pivotlens.scoring.draws import draw_shot_entries
from pivotlens.scoring.prompts import build_prompt, continuation


@dataclass(frozen=True)
class TranslationPrompt:
    """One teacher-forced translation: prompt + " target", and where its words sit in the tokens."""

    item: TranslationItem
    text: str
    token_ids: tuple[int, ...]
    source_span: tuple[int, int]  # token indices [start, end) of the source word in the prompt
    continuation_start: int  # index of the first continuation token (may be a bare space)
    target_start: int  # index of the first continuation token with visible text

    @property
    def first_predicting_position(self) -> int:
        """The position whose next-token distribution predicts the target word's first token."""
        return self.target_start - 1

    def word_token_ids(self, tokenizer) -> set[int]:
        """Tokens of the input and output words: as they appear in the prompt, and standalone."""
        ids = set(self.token_ids[self.source_span[0] : self.source_span[1]])
        ids |= set(self.token_ids[self.continuation_start :])
        for word in (self.item.source, self.item.target):
            for text in (word, " " + word):
                ids |= set(tokenizer(text, add_special_tokens=False)["input_ids"])
        return ids


def translation_prompt(
    tokenizer, dataset: Dataset, item: TranslationItem, item_index: int | None, seed: int, n_shots: int = 5,
) -> TranslationPrompt:
    """The scoring prompt of draw 0 (same shots as ``pivotlens score`` with the same seed)."""
    src, tgt, source = item.src, item.tgt, item.source
    _, shots = draw_shot_entries(dataset, item_index, item.id, src, tgt, seed, 0, n_shots)
    prompt = build_prompt(src, tgt, [(s.word[src], s.word[tgt]) for s in shots], source)
    text = prompt + continuation(item.target)
    encoded = tokenizer(text, return_offsets_mapping=True)
    offsets = encoded["offset_mapping"]
    word_start = len(prompt) - len(f"{source}\n{LANGUAGES[tgt].name}:")
    word_end = word_start + len(source)
    overlapping = [i for i, (a, b) in enumerate(offsets) if a < word_end and b > word_start]
    start = next(i for i, (_, end) in enumerate(offsets) if end > len(prompt))
    # Some tokenizers split " 花" into a bare "▁" and "花": the word starts at the visible token.
    visible = [i for i in range(start, len(offsets)) if text[offsets[i][0] : offsets[i][1]].strip()]
    return TranslationPrompt(
        item=item, text=text,
        token_ids=tuple(encoded["input_ids"]), source_span=(overlapping[0], overlapping[-1] + 1),
        continuation_start=start, target_start=visible[0] if visible else start,
    )


def dataset_prompt(tokenizer, dataset: Dataset, index: int, src: str, tgt: str, seed: int) -> TranslationPrompt:
    entry = dataset.entries[index]
    return translation_prompt(tokenizer, dataset, TranslationItem(entry.id, src, tgt, entry.word[src], entry.word[tgt]),
                              index, seed)


@dataclass(frozen=True)
class Trace:
    """Top-k lens tokens per layer over a window of positions (source word → last target token)."""

    prompt: TranslationPrompt
    positions: list[int]
    input_tokens: list[str]  # decoded token at each position
    top_ids: np.ndarray  # [layers, positions, k]
    top_probabilities: np.ndarray  # [layers, positions, k]
    target_probability_by_layer: np.ndarray  # P(first target token) at the first predicting position
    behaviour: Behaviour


def _decode(tokenizer) -> Callable[[int], str]:
    return lambda token_id: tokenizer.decode([token_id])


@dataclass(frozen=True)
class ClassifierSettings:
    """Where t* is searched: layers ≥ first_layer (None: from the middle layer up), and whether
    whitespace-only and special tokens may be t* (by default they may not)."""

    first_layer: int | None = None
    allow_any_token: bool = False

    def resolved_first_layer(self, n_layers: int) -> int:
        first = (n_layers + 1) // 2 if self.first_layer is None else self.first_layer
        if not 1 <= first <= n_layers:
            raise PivotlensError(f"--first-layer must be between 1 and {n_layers} for this model, got {first}")
        return first

    def ineligible(self, loaded: LoadedModel) -> torch.Tensor | None:
        if self.allow_any_token:
            return None
        mask = meaningless_tokens(loaded.tokenizer)
        n_vocab = loaded.adapter.unembedding.weight.shape[0]
        # Unembedding rows beyond the tokenizer's vocabulary are padding: never t*.
        return torch.cat([mask[:n_vocab], torch.ones(max(0, n_vocab - len(mask)), dtype=torch.bool)])


def trace_translation(
    loaded: LoadedModel, prompt: TranslationPrompt, top_k: int = 5, settings: ClassifierSettings = ClassifierSettings(),
    decoder: Decoder = LOGIT_LENS,
) -> Trace:
    positions = list(range(prompt.source_span[0], len(prompt.token_ids) - 1))
    probabilities = lens_probabilities(loaded, [prompt.token_ids], [positions], decoder)  # [L, P, V]
    first = positions.index(prompt.first_predicting_position)
    top = torch.topk(probabilities, k=top_k, dim=-1)
    decode = _decode(loaded.tokenizer)
    return Trace(
        prompt=prompt,
        positions=positions,
        input_tokens=[decode(prompt.token_ids[p]) for p in positions],
        top_ids=top.indices.cpu().numpy(),
        top_probabilities=top.values.cpu().numpy(),
        target_probability_by_layer=probabilities[:, first, prompt.token_ids[prompt.target_start]].cpu().numpy(),
        behaviour=classify(probabilities[:, first], prompt.word_token_ids(loaded.tokenizer), decode,
                           settings.resolved_first_layer(len(loaded.adapter.layers)), settings.ineligible(loaded)),
    )


def behaviour_record(prompt: TranslationPrompt, behaviour: Behaviour, target_by_layer: Sequence[float]) -> BehaviourRecord:
    pivot = behaviour.kind == SEMANTIC_PIVOT
    return BehaviourRecord(
        prompt.item, behaviour.kind, behaviour.token_id, behaviour.token, behaviour.peak_layer,
        behaviour.peak_probability, behaviour.token_id if pivot else None, behaviour.token if pivot else None,
        tuple(float(p) for p in target_by_layer),
    )


def classify_prompts(
    loaded: LoadedModel, prompts: Sequence[TranslationPrompt], first_layer: int, ineligible: torch.Tensor | None,
    decoder: Decoder = LOGIT_LENS,
) -> list[BehaviourRecord]:
    """Behaviour records of a batch of prompts, one lens pass at each first predicting position."""
    probabilities = lens_probabilities(
        loaded, [p.token_ids for p in prompts], [[p.first_predicting_position] for p in prompts], decoder
    )  # [L, batch, V]
    decode = _decode(loaded.tokenizer)
    records = []
    for i, prompt in enumerate(prompts):
        behaviour = classify(probabilities[:, i], prompt.word_token_ids(loaded.tokenizer), decode, first_layer, ineligible)
        target = probabilities[:, i, prompt.token_ids[prompt.target_start]].cpu().numpy()
        records.append(behaviour_record(prompt, behaviour, target))
    return records


@dataclass(frozen=True)
class ClassifyConfig:
    model: str
    dataset_sha256: str
    pairs: tuple[tuple[str, str], ...]
    seed: int = 0
    limit: int | None = None
    dtype: str = "auto"
    batch_size: int = 8
    classifier: ClassifierSettings = ClassifierSettings()
    decoder: str = LOGIT  # "logit" or "tuned:DIR"

    def identity(self) -> dict:
        return {"model": self.model, "model_sha256": model_sha256(self.model), "dataset_sha256": self.dataset_sha256,
                "seed": self.seed, "dtype": self.dtype, "classifier": asdict(self.classifier),
                **decoder_identity(self.decoder)}

    def __post_init__(self) -> None:
        if self.batch_size < 1 or (self.limit is not None and self.limit < 1):
            raise PivotlensError("--batch-size and --limit must be ≥ 1")


def classifier_settings(options: ClassifyOptions) -> ClassifierSettings:
    return ClassifierSettings(first_layer=options.first_layer, allow_any_token=options.allow_any_token)


def classify_config(options: ClassifyOptions, *, model: str, dataset: Dataset, pairs: tuple[tuple[str, str], ...],
                    seed: int, dtype: str) -> ClassifyConfig:
    """The one place a ClassifyConfig is assembled from user options."""
    dataset.require_pairs(pairs)
    return ClassifyConfig(model=model, dataset_sha256=dataset.sha256, pairs=pairs, seed=seed, limit=options.limit,
                          dtype=dtype, batch_size=options.batch_size, classifier=classifier_settings(options),
                          decoder=options.decoder)


def classify_dataset(
    loaded: LoadedModel, dataset: Dataset, config: ClassifyConfig, out_dir: str | Path,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Write ``behaviours/{src}-{tgt}.jsonl`` (resuming item by item), the per-pair pivot shares and
    the completion marker."""
    out = Path(out_dir)
    decoder = load_decoder(config.decoder, loaded)  # refused for another model before the directory is claimed
    directory = StageDirectory(out, "lens-classify").claim(config.identity(), {"config": asdict(config),
                                                                                "dataset": dataset.identity()})
    directory.reopen()  # the pairs or the limit may differ from the completed run's
    item_ids = [entry.id for entry in dataset.entries[: config.limit]]  # limit None: all
    first_layer = config.classifier.resolved_first_layer(len(loaded.adapter.layers))
    ineligible = config.classifier.ineligible(loaded)

    def records_for(src: str, tgt: str, chunk: list[int]) -> list[BehaviourRecord]:
        prompts = [dataset_prompt(loaded.tokenizer, dataset, i, src, tgt, config.seed) for i in chunk]
        return classify_prompts(loaded, prompts, first_layer, ineligible, decoder)

    fill_pair_files(out / BEHAVIOURS_DIR, config.pairs, item_ids, config.batch_size, records_for, write_behaviours,
                    progress)
    summary = summarize_behaviours(out, config.pairs, set(item_ids))
    directory.complete({"items_per_pair": len(item_ids)})
    return summary


def summarize_behaviours(out_dir: Path, pairs, item_ids: set[str]) -> dict:
    rows = []
    for src, tgt in pairs:
        records = [r for r in read_behaviours(out_dir / BEHAVIOURS_DIR / f"{pair_key(src, tgt)}.jsonl")
                   if r.item.id in item_ids]
        pivots = sum(r.behaviour == SEMANTIC_PIVOT for r in records)
        rows.append({"pair": pair_key(src, tgt), "n_items": len(records), "n_semantic_pivot": pivots,
                     "share_semantic_pivot": pivots / len(records) if records else float("nan")})
    (out_dir / "summary.json").write_text(json.dumps({"pairs": rows}, indent=2))
    with (out_dir / "summary.csv").open("w") as handle:
        handle.write("pair,n_items,n_semantic_pivot,share_semantic_pivot\n")
        for row in rows:
            handle.write(f"{row['pair']},{row['n_items']},{row['n_semantic_pivot']},{row['share_semantic_pivot']:.4f}\n")
    return {"pairs": rows}
