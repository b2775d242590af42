"""Training a tuned lens (Belrose et al., 2023, "Eliciting Latent Predictions from Transformers with
the Tuned Lens") on corpus text, resumably, and measuring it on held-out text.

The method, as in the paper and its `tuned-lens` package: one affine translator per layer below the
last (decoders.Translators, identity at initialisation), trained to minimise KL(final ‖ decoded),
the model frozen. Our own implementation, because `tuned-lens` 0.2.0 does not run with this
project's pins and models: it imports ``torchdata.dataloader2`` (removed from torchdata), finds the
final norm only for OPT, GPT-NeoX, BLOOM, GPT-2, GPT-Neo, GPT-J and Llama model classes (Gemma-3,
Qwen2 and OLMo-2 raise NotImplementedError), and requires wandb; pivotlens already knows each
model's final norm, unembedding and soft-capping (models/adapters.py).

Data: the first ``documents`` documents of the corpus in a seeded hash order; each contributes
one window (its first ``sequence_length`` tokens, BOS included) and ``positions_per_sequence``
seeded positions after the BOS. The first documents in that order are held out, the next are
trained on, one pass. Progress is checkpointed every few steps in the output directory (the
run-directory protocol), so a killed run resumes where it stopped with the same result.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from pivotlens.artifacts import StageDirectory, open_atomic
from pivotlens.corpus.readers import RecordFields, fingerprint, read_corpus, resolve_corpus
from pivotlens.errors import CorpusError
from pivotlens.lens.core import _layer_outputs
from pivotlens.lens.decoders import LOGIT_LENS, Decoder, Translators, model_description, save_translators
from pivotlens.lens.options import TunedLensOptions
from pivotlens.models.loading import LoadedModel

CHECKPOINT_FILE = "checkpoint.pt"
HELDOUT_LOGIT_FILE = "heldout_logit.json"
CHUNK_POSITIONS = 64  # positions unembedded at once: 64 × vocab fp32 logits (67 MB for a 262k vocabulary)


@dataclass(frozen=True)
class Window:
    token_ids: tuple[int, ...]
    positions: tuple[int, ...]  # lens positions: the distribution predicting the token after each


@dataclass(frozen=True)
class TunedLensData:
    heldout: list[Window]
    batches: list[list[Window]]  # one optimizer step each

    @property
    def train_positions(self) -> int:
        return sum(len(w.positions) for batch in self.batches for w in batch)


def _document_order(seed: int, document_id: str) -> str:
    return hashlib.sha256(f"{seed}:{document_id}".encode()).hexdigest()


def plan_data(corpus, tokenizer, options: TunedLensOptions, seed: int,
              fields: RecordFields = RecordFields()) -> TunedLensData:
    """Held-out windows, then training windows grouped into optimizer steps, all deterministic."""
    documents = heapq.nsmallest(options.documents, read_corpus(corpus, fields),
                                key=lambda document: _document_order(seed, document.id))
    rng = np.random.default_rng(seed)
    heldout: list[Window] = []
    train: list[Window] = []
    wanted = {"heldout": options.heldout_positions, "train": options.train_positions}
    counts = {"heldout": 0, "train": 0}
    for document in documents:
        split = "heldout" if counts["heldout"] < wanted["heldout"] else "train"
        if counts[split] >= wanted[split]:
            break
        ids = tokenizer(document.text[: options.sequence_length * 16])["input_ids"][: options.sequence_length]
        if len(ids) < 2:
            continue
        # Positions after the BOS: the first one's huge norm (an attention sink) is no lens position.
        candidates = np.arange(1, len(ids))
        take = min(options.positions_per_sequence, len(candidates), wanted[split] - counts[split])
        positions = tuple(sorted(int(p) for p in rng.choice(candidates, size=take, replace=False)))
        (heldout if split == "heldout" else train).append(Window(tuple(ids), positions))
        counts[split] += take
    if not heldout or not train:
        raise CorpusError(f"the corpus gave {counts['heldout']} held-out and {counts['train']} training positions; "
                          "a tuned lens needs both (a larger corpus or fewer --heldout-positions)")
    batches: list[list[Window]] = [[]]
    for window in train:
        if sum(len(w.positions) for w in batches[-1]) >= options.batch_positions:
            batches.append([])
        batches[-1].append(window)
    return TunedLensData(heldout, batches)


def _hidden_states(loaded: LoadedModel, windows: Sequence[Window]) -> torch.Tensor:
    """[layers, positions, hidden] at the windows' lens positions, without gradient."""
    rows = torch.tensor([r for r, w in enumerate(windows) for _ in w.positions], device=loaded.device)
    columns = torch.tensor([p for w in windows for p in w.positions], device=loaded.device)
    with torch.no_grad():
        return _layer_outputs(loaded, [w.token_ids for w in windows], lambda hidden: hidden[rows, columns])


def _final_log_probabilities(loaded: LoadedModel, final_hidden: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.log_softmax(LOGIT_LENS.decoded_logits(loaded, final_hidden).float(), dim=-1)


def _kl(target_log_p: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) per position, p given as log-probabilities, q as logits."""
    log_q = torch.log_softmax(logits.float(), dim=-1)
    return (target_log_p.exp() * (target_log_p - log_q)).sum(-1)


@torch.no_grad()
def evaluate(loaded: LoadedModel, decoder: Decoder, windows: Sequence[Window]) -> list[dict]:
    """Per layer (1-based), over the windows' positions: mean KL(final ‖ decoded) in nats and the
    share of positions whose decoded top-1 token is the final layer's, fp32."""
    hidden = _hidden_states(loaded, windows)
    n_layers, n_positions = hidden.shape[0], hidden.shape[1]
    kl_sum, agree = np.zeros(n_layers), np.zeros(n_layers)
    for start in range(0, n_positions, CHUNK_POSITIONS):
        chunk = hidden[:, start : start + CHUNK_POSITIONS]
        target = _final_log_probabilities(loaded, chunk[-1])
        top = target.argmax(-1)
        for layer in range(n_layers):
            logits = decoder.layer_logits(loaded, chunk[layer], layer)
            kl_sum[layer] += float(_kl(target, logits).sum())
            agree[layer] += float((logits.argmax(-1) == top).sum())
    return [{"layer": layer + 1, "kl": kl_sum[layer] / n_positions, "top1_agreement": agree[layer] / n_positions}
            for layer in range(n_layers)]


class _TrainingUnembedding:
    """The unembedding used for training: a copy in ``dtype`` (bfloat16 roughly triples a CPU's
    matmul speed), the model's soft-capping kept; log-softmax and KL stay in fp32."""

    def __init__(self, loaded: LoadedModel, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self.adapter = loaded.adapter if dtype == next(loaded.model.parameters()).dtype else replace(
            loaded.adapter, unembedding=_copy_linear(loaded.adapter.unembedding, dtype))

    def logits(self, normed: torch.Tensor) -> torch.Tensor:
        return self.adapter.logits(normed.to(self.dtype))


def _copy_linear(linear: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Linear:
    copy = torch.nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None,
                           device=linear.weight.device, dtype=dtype)
    with torch.no_grad():
        copy.weight.copy_(linear.weight)
        if linear.bias is not None:
            copy.bias.copy_(linear.bias)
    return copy.requires_grad_(False)


def _step_loss(loaded: LoadedModel, translators: Translators, unembedding: _TrainingUnembedding,
               windows: Sequence[Window]) -> list[float]:
    """Backpropagate the mean KL of every translated layer over the step's positions (a chunk of
    positions and one layer at a time, so only one chunk's logits are alive); return it per layer."""
    hidden = _hidden_states(loaded, windows)
    n_positions = hidden.shape[1]
    totals = [0.0] * len(translators.translators)
    for start in range(0, n_positions, CHUNK_POSITIONS):
        chunk = hidden[:, start : start + CHUNK_POSITIONS]
        target = _final_log_probabilities(loaded, chunk[-1])
        for layer in range(len(translators.translators)):
            normed = loaded.adapter.final_norm(translators.translate(chunk[layer], layer))
            loss = _kl(target, unembedding.logits(normed)).sum() / n_positions
            loss.backward()
            totals[layer] += loss.item()
    return totals


def _optimizer(translators: Translators, options: TunedLensOptions, steps: int):
    if options.optimizer == "sgd":
        momentum = 0.9
        optimizer = torch.optim.SGD(translators.parameters(), lr=options.lr or (1 - momentum), momentum=momentum,
                                    nesterov=True, weight_decay=options.weight_decay)
        warmup = 0
    else:
        optimizer = torch.optim.AdamW(translators.parameters(), lr=options.lr or 1e-3,
                                      weight_decay=options.weight_decay)
        warmup = steps // 5  # Adam does poorly without warmup (tuned-lens)
    # Linear warmup, then linear decay to zero, as tuned-lens schedules it.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / warmup if step < warmup else max(0.0, (steps - step) / (steps - warmup)))
    return optimizer, schedule


def _corpus_identity(corpus) -> str:
    return hashlib.sha256("".join(fingerprint(shard)["sha256"] for shard in resolve_corpus(corpus)).encode()).hexdigest()


def _save_checkpoint(path: Path, state: dict) -> None:
    with open_atomic(path) as handle:
        torch.save(state, handle)


def train_tuned_lens(
    loaded: LoadedModel, corpus, out_dir: str | Path, options: TunedLensOptions, seed: int = 0,
    fields: RecordFields = RecordFields(), progress: Callable[[int], None] | None = None,
    total: Callable[[int, int], None] | None = None,
) -> dict:
    """Train (or resume, or return the finished) tuned lens for ``loaded`` in ``out_dir``: the
    translators, their description, held-out KL and top-1 agreement per layer (logit vs tuned).
    ``total(steps, done)`` is told the step count once known; ``progress(1)`` after every step."""
    out = Path(out_dir)
    model = model_description(loaded)
    identity = {**model, "corpus_sha256": _corpus_identity(corpus), "fields": asdict(fields), "seed": seed,
                "options": asdict(options)}
    directory = StageDirectory(out, "lens-tuned").claim(identity, {"corpus": corpus})
    if directory.is_complete():
        return directory.state()["summary"]
    data = plan_data(corpus, loaded.tokenizer, options, seed, fields)
    steps = len(data.batches)
    torch.manual_seed(seed)
    translators = Translators(model["layers"], model["hidden_size"]).to(loaded.device)
    optimizer, schedule = _optimizer(translators, options, steps)
    loaded.model.requires_grad_(False)
    state = {"step": 0, "seconds": 0.0, "log": []}
    checkpoint = out / CHECKPOINT_FILE
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=loaded.device, weights_only=False)
        translators.load_state_dict(state.pop("translators"))
        optimizer.load_state_dict(state.pop("optimizer"))
        schedule.load_state_dict(state.pop("schedule"))
    if total:
        total(steps, state["step"])
    heldout_logit_path = out / HELDOUT_LOGIT_FILE
    if not heldout_logit_path.is_file():  # the logit lens is the untrained tuned lens: measured once
        with open_atomic(heldout_logit_path) as handle:
            handle.write(json.dumps(evaluate(loaded, LOGIT_LENS, data.heldout)).encode())
    unembedding = _TrainingUnembedding(loaded, getattr(torch, options.logits_dtype))
    translators.train()
    for step in range(state["step"], steps):
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        by_layer = _step_loss(loaded, translators, unembedding, data.batches[step])
        optimizer.step()
        schedule.step()
        state["seconds"] += time.perf_counter() - started
        state["log"].append({"step": step + 1, "lr": schedule.get_last_lr()[0], "kl_by_layer": by_layer,
                             "kl_mean": float(np.mean(by_layer))})
        state["step"] = step + 1
        if state["step"] % options.checkpoint_every == 0 or state["step"] == steps:
            _save_checkpoint(checkpoint, {**state, "translators": translators.state_dict(),
                                          "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()})
        if progress:
            progress(1)
    translators.eval()
    heldout_tuned = evaluate(loaded, Decoder("tuned", translators), data.heldout)
    heldout_logit = json.loads(heldout_logit_path.read_text())
    rows = [{"layer": logit["layer"], "kl_logit": logit["kl"], "kl_tuned": tuned["kl"],
             "top1_logit": logit["top1_agreement"], "top1_tuned": tuned["top1_agreement"]}
            for logit, tuned in zip(heldout_logit, heldout_tuned)]
    with (out / "heldout.csv").open("w") as handle:
        handle.write("layer,kl_logit,kl_tuned,top1_logit,top1_tuned\n")
        handle.writelines(f"{r['layer']},{r['kl_logit']:.6g},{r['kl_tuned']:.6g},{r['top1_logit']:.4f},"
                          f"{r['top1_tuned']:.4f}\n" for r in rows)
    with (out / "training_log.jsonl").open("w") as handle:
        handle.writelines(json.dumps(entry) + "\n" for entry in state["log"])
    summary = {"steps": steps, "train_positions": data.train_positions,
               "heldout_positions": sum(len(w.positions) for w in data.heldout),
               "train_documents": sum(len(batch) for batch in data.batches), "heldout_documents": len(data.heldout),
               "training_seconds": round(state["seconds"], 1), "heldout": rows}
    (out / "heldout.json").write_text(json.dumps(summary, indent=1))
    save_translators(translators, out, {**model, "seed": seed, "options": asdict(options),
                                        **{k: v for k, v in summary.items() if k != "heldout"}})
    checkpoint.unlink()
    directory.complete(summary)
    return summary
