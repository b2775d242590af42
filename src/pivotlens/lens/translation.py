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
from pivotlens.lens.behaviour import Behaviour, ItemWords, label, meaningless_tokens, read_lens
from pivotlens.lens.core import lens_probabilities
from pivotlens.lens.decoders import LOGIT, LOGIT_LENS, Decoder, decoder_identity, load_decoder
from pivotlens.lens.options import ClassifyOptions
from pivotlens.models.loading import LoadedModel
from pivotlens.models.registry import model_sha256
from pivotlens.records import (
    BEHAVIOURS,
    BEHAVIOURS_DIR,
    OUTPUT_RULES,
    SEMANTIC_PIVOT,
    BehaviourRecord,
    LensReadout,
    TranslationItem,
    read_behaviours,
    write_behaviours,
)
from pivotlens.scoring.draws import draw_shot_entries
from pivotlens.scoring.prompts import build_prompt, continuation
from pivotlens.words import first_token_ids


@dataclass(frozen=True)
class TranslationPrompt:
    """One teacher-forced translation: prompt + " target", and where its words sit in the tokens."""

    item: TranslationItem
    text: str
    token_ids: tuple[int, ...]
    source_span: tuple[int, int]  # token indices [start, end) of the source word in the prompt
    continuation_start: int  # index of the first continuation token (may be a bare space)
    target_start: int  # index of the first continuation token with visible text
    entry_words: tuple[tuple[str, str], ...] = ()  # (language, word) of the entry in every study language
    draw: int = 0

    @property
    def first_predicting_position(self) -> int:
        """The position whose next-token distribution predicts the target word's first token."""
        return self.target_start - 1

    @property
    def words(self) -> dict[str, str]:
        return {**dict(self.entry_words), self.item.src: self.item.source, self.item.tgt: self.item.target}

    def item_words(self, tokenizer) -> ItemWords:
        """The item's words as the labels compare them: standalone (every tokenisation) and as they
        appear in the prompt."""
        return ItemWords.of(tokenizer, self.words, self.item.src, self.item.tgt,
                            self.token_ids[self.source_span[0] : self.source_span[1]], self.token_ids[self.target_start :])

    def language_first_ids(self, tokenizer) -> dict[str, set[int]]:
        """Per study language, the first token(s) of the entry's word in it (the latent-language curves)."""
        return {code: first_token_ids(tokenizer, word) for code, word in self.words.items()}


def translation_prompt(
    tokenizer, dataset: Dataset, item: TranslationItem, item_index: int | None, seed: int, n_shots: int = 5,
    draw: int = 0,
) -> TranslationPrompt:
    """The scoring prompt of shot draw ``draw`` (same shots as ``pivotlens score`` with the same seed)."""
    src, tgt, source = item.src, item.tgt, item.source
    _, shots = draw_shot_entries(dataset, item_index, item.id, src, tgt, seed, draw, n_shots)
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
    entry_words = tuple(dataset.entries[item_index].word.items()) if item_index is not None else ()
    return TranslationPrompt(
        item=item, text=text,
        token_ids=tuple(encoded["input_ids"]), source_span=(overlapping[0], overlapping[-1] + 1),
        continuation_start=start, target_start=visible[0] if visible else start, entry_words=entry_words, draw=draw,
    )


def dataset_prompt(tokenizer, dataset: Dataset, index: int, src: str, tgt: str, seed: int, draw: int = 0
                   ) -> TranslationPrompt:
    entry = dataset.entries[index]
    return translation_prompt(tokenizer, dataset, TranslationItem(entry.id, src, tgt, entry.word[src], entry.word[tgt]),
                              index, seed, draw=draw)


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
    readout: LensReadout


def _decode(tokenizer) -> Callable[[int], str]:
    return lambda token_id: tokenizer.decode([token_id])


@dataclass(frozen=True)
class ClassifierSettings:
    """Where t* is searched: layers ≥ first_layer (None: from the middle layer up); whether
    whitespace-only and special tokens may be t* (by default they may not); what the output word is."""

    first_layer: int | None = None
    allow_any_token: bool = False
    output_rule: str = "model"

    def __post_init__(self) -> None:
        if self.output_rule not in OUTPUT_RULES:
            raise PivotlensError(f"--output-rule must be one of {', '.join(OUTPUT_RULES)}, got {self.output_rule!r}")

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
    readout = _readout(loaded, prompt, probabilities[:, first], settings.ineligible(loaded))
    return Trace(
        prompt=prompt,
        positions=positions,
        input_tokens=[decode(prompt.token_ids[p]) for p in positions],
        top_ids=top.indices.cpu().numpy(),
        top_probabilities=top.values.cpu().numpy(),
        target_probability_by_layer=probabilities[:, first, prompt.token_ids[prompt.target_start]].cpu().numpy(),
        behaviour=label(readout, settings.output_rule, settings.resolved_first_layer(len(loaded.adapter.layers))),
        readout=readout,
    )


def _readout(loaded: LoadedModel, prompt: TranslationPrompt, probabilities: torch.Tensor,
             ineligible: torch.Tensor | None) -> LensReadout:
    tokenizer = loaded.tokenizer
    return read_lens(probabilities, prompt.item_words(tokenizer), _decode(tokenizer), ineligible,
                     prompt.language_first_ids(tokenizer), prompt.draw)


def behaviour_record(prompt: TranslationPrompt, readout: LensReadout, target_by_layer: Sequence[float],
                     output_rule: str, first_layer: int) -> BehaviourRecord:
    behaviour = label(readout, output_rule, first_layer)
    pivot = behaviour.kind == SEMANTIC_PIVOT
    return BehaviourRecord(
        prompt.item, behaviour.kind, behaviour.token_id, behaviour.token, behaviour.peak_layer,
        behaviour.peak_probability, behaviour.token_id if pivot else None, behaviour.token if pivot else None,
        tuple(float(p) for p in target_by_layer), output_rule, first_layer, readout,
    )


def classify_prompts(
    loaded: LoadedModel, prompts: Sequence[TranslationPrompt], first_layer: int, ineligible: torch.Tensor | None,
    decoder: Decoder = LOGIT_LENS, output_rule: str = "model",
) -> list[BehaviourRecord]:
    """Behaviour records of a batch of prompts, one lens pass at each first predicting position."""
    probabilities = lens_probabilities(
        loaded, [p.token_ids for p in prompts], [[p.first_predicting_position] for p in prompts], decoder
    )  # [L, batch, V]
    records = []
    for i, prompt in enumerate(prompts):
        readout = _readout(loaded, prompt, probabilities[:, i], ineligible)
        target = probabilities[:, i, prompt.token_ids[prompt.target_start]].cpu().numpy()
        records.append(behaviour_record(prompt, readout, target, output_rule, first_layer))
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
    draw: int = 0  # the shot draw of every prompt (draw 0: the shots of the score's first draw)

    RECORD_FORMAT = 2  # 2: the readout (model's answer, per-layer tops, language curves) is stored

    def identity(self) -> dict:
        return {"model": self.model, "model_sha256": model_sha256(self.model), "dataset_sha256": self.dataset_sha256,
                "seed": self.seed, "dtype": self.dtype, "classifier": asdict(self.classifier), "draw": self.draw,
                "record_format": self.RECORD_FORMAT, **decoder_identity(self.decoder)}

    def __post_init__(self) -> None:
        if self.batch_size < 1 or (self.limit is not None and self.limit < 1) or self.draw < 0:
            raise PivotlensError("--batch-size and --limit must be ≥ 1, the draw ≥ 0")


def classifier_settings(options: ClassifyOptions) -> ClassifierSettings:
    return ClassifierSettings(first_layer=options.first_layer, allow_any_token=options.allow_any_token,
                              output_rule=options.output_rule)


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
        prompts = [dataset_prompt(loaded.tokenizer, dataset, i, src, tgt, config.seed, config.draw) for i in chunk]
        return classify_prompts(loaded, prompts, first_layer, ineligible, decoder, config.classifier.output_rule)

    fill_pair_files(out / BEHAVIOURS_DIR, config.pairs, item_ids, config.batch_size, records_for, write_behaviours,
                    progress)
    summary = summarize_behaviours(out, config.pairs, set(item_ids))
    directory.complete({"items_per_pair": len(item_ids)})
    return summary


def summarize_behaviours(out_dir: Path, pairs, item_ids: set[str]) -> dict:
    """Per pair: the items, and the count and share of each behaviour under the run's output rule,
    with the semantic-pivot share under each other rule beside it (relabelled from the readouts)."""
    rows = []
    for src, tgt in pairs:
        records = [r for r in read_behaviours(out_dir / BEHAVIOURS_DIR / f"{pair_key(src, tgt)}.jsonl")
                   if r.item.id in item_ids]
        row = {"pair": pair_key(src, tgt), "n_items": len(records)}
        for kind in BEHAVIOURS:
            count = sum(r.behaviour == kind for r in records)
            key = kind.replace("-", "_")
            row.update({f"n_{key}": count, f"share_{key}": count / len(records) if records else float("nan")})
        for rule in OUTPUT_RULES:
            pivots = sum(label(r.readout, rule, r.first_layer).kind == SEMANTIC_PIVOT for r in records)
            row[f"pivot_share_{rule}_rule"] = pivots / len(records) if records else float("nan")
        row["share_output_is_target"] = (sum(r.readout.output_is_target for r in records) / len(records)
                                         if records else float("nan"))
        rows.append(row)
    (out_dir / "summary.json").write_text(json.dumps({"pairs": rows}, indent=2))
    columns = list(rows[0]) if rows else ["pair", "n_items"]
    with (out_dir / "summary.csv").open("w") as handle:
        handle.write(",".join(columns) + "\n")
        for row in rows:
            handle.write(",".join(f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns) + "\n")
    return {"pairs": rows}
