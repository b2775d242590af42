"""Sentence-level translation quality: few-shot greedy translation scored with chrF++ (Appendix B).

Parallel files (``--parallel``):

* ``udhr`` — the bundled en/fr/zh/ja sample (50 aligned UDHR paragraphs, ``data/SOURCES.md``);
* ``libreoffice[:SEED]`` — sentences aligned across LibreOffice's en/fr/ja/zh-CN translation
  catalogues (MPL-2.0), built on demand from Debian's source package into the cache
  (:mod:`pivotlens.training.libreoffice`), in a seeded random order (seed 0 by default);
* ``.tsv`` — ``source<TAB>target`` per line (a first line ``src<TAB>tgt`` or naming the two language
  codes is a header); FLORES: ``paste eng_Latn.devtest zho_Hans.devtest > en-zh.tsv``;
* ``.jsonl`` — ``{"src": …, "tgt": …}`` per line, or records keyed by language code
  (``{"en": …, "fr": …, "zh": …, "ja": …}``) from which ``--src``/``--tgt`` pick two fields.

Prompt (k shots; the first k pairs of the file are the shots and are not evaluated)::

    Please translate sentences from English to Chinese.

    English: {shot source}
    Chinese: {shot target}

    English: {source}
    Chinese:

Decoding is greedy and stops at the first newline; the hypothesis is the stripped text before it.
chrF++ is sacrebleu's ``CHRF(word_order=2)`` over the corpus. Like sacrebleu, no language-specific
tokenisation is applied: character n-grams ignore whitespace, so Chinese and Japanese are scored
on characters; the word n-grams split on whitespace, so for those two targets they match only
whole whitespace-free segments and chrF++ stays close to plain chrF.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib.resources import as_file, files
from pathlib import Path

import torch

from pivotlens.artifacts import StageDirectory, append_jsonl, iter_jsonl, write_json_atomic
from pivotlens.batching import batched, run_by_length
from pivotlens.errors import PivotlensError
from pivotlens.languages import LANGUAGES
from pivotlens.models.loading import LoadedModel
from pivotlens.models.registry import model_sha256

BUNDLED_PARALLEL = "udhr"


@dataclass(frozen=True)
class ParallelPair:
    id: str
    source: str
    target: str


def parallel_path(spec: str | Path) -> Path:
    from pivotlens.training import libreoffice

    if (seed := libreoffice.parse_spec(str(spec))) is not None:
        return libreoffice.sentences_path(seed)
    if str(spec) == BUNDLED_PARALLEL:
        with as_file(files("pivotlens.training").joinpath("data/udhr_parallel.jsonl")) as path:
            return Path(path)
    path = Path(spec)
    if not path.is_file():
        raise PivotlensError(f"--parallel {spec}: no such file (give a .tsv / .jsonl file, '{BUNDLED_PARALLEL}' or "
                             "'libreoffice[:SEED]')")
    return path


def _one_line(text: str) -> str:
    """Prompts are line-based: a newline inside a sentence would end it early."""
    return " ".join(text.split())


def _tsv_pairs(path: Path, src: str, tgt: str) -> list[ParallelPair]:
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):  # not at U+2028
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 2:
            raise PivotlensError(f"{path}:{number}: expected 2 tab-separated columns (source, target), found {len(fields)}")
        if number == 1 and tuple(f.strip() for f in fields) in (("src", "tgt"), (src, tgt)):
            continue
        pairs.append(ParallelPair(str(number), fields[0], fields[1]))
    return pairs


def _jsonl_pairs(path: Path, src: str, tgt: str) -> list[ParallelPair]:
    pairs = []
    for number, record in iter_jsonl(path):
        if not isinstance(record, dict):
            raise PivotlensError(f"{path}:{number}: a line must be a JSON object")
        keys = ("src", "tgt") if {"src", "tgt"} <= record.keys() else (src, tgt)
        if not all(isinstance(record.get(key), str) for key in keys):
            raise PivotlensError(f"{path}:{number}: needs string fields 'src' and 'tgt', or '{src}' and '{tgt}'")
        pairs.append(ParallelPair(str(record.get("id", number)), record[keys[0]], record[keys[1]]))
    return pairs


def read_parallel(spec: str | Path, src: str, tgt: str) -> list[ParallelPair]:
    """Sentence pairs src → tgt from a TSV or JSONL file (or the bundled ``udhr``), in file order."""
    for code in (src, tgt):
        if code not in LANGUAGES:
            raise PivotlensError(f"language {code!r}: use one of {', '.join(LANGUAGES)}")
    path = parallel_path(spec)
    reader = _tsv_pairs if path.suffix == ".tsv" else _jsonl_pairs if path.suffix == ".jsonl" else None
    if reader is None:
        raise PivotlensError(f"{path}: unsupported parallel file; use .tsv (source<TAB>target) or .jsonl")
    pairs = [ParallelPair(p.id, _one_line(p.source), _one_line(p.target)) for p in reader(path, src, tgt)]
    if not pairs:
        raise PivotlensError(f"{path}: no sentence pairs")
    return pairs


def translation_prompt(src: str, tgt: str, shots: Sequence[ParallelPair], source: str) -> str:
    src_name, tgt_name = LANGUAGES[src].name, LANGUAGES[tgt].name
    examples = "".join(f"{src_name}: {shot.source}\n{tgt_name}: {shot.target}\n\n" for shot in shots)
    return f"Please translate sentences from {src_name} to {tgt_name}.\n\n{examples}{src_name}: {source}\n{tgt_name}:"


@torch.no_grad()
def translate(loaded: LoadedModel, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 8) -> list[str]:
    """Greedy continuation of each prompt up to its first newline (stripped), batched by length."""
    tokenizer = loaded.tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def run(batch: list[str]) -> list[str]:
        encoded = tokenizer(batch, return_tensors="pt", padding=True).to(loaded.device)
        generated = loaded.model.generate(
            **encoded, do_sample=False, max_new_tokens=max_new_tokens, stop_strings=["\n"], tokenizer=tokenizer,
            pad_token_id=pad_id,
        )
        new_tokens = generated[:, encoded["input_ids"].shape[1] :]
        return [text.split("\n", 1)[0].strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]

    previous_side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation continues every row from its last real token
    try:
        return run_by_length(prompts, len, batch_size, run)
    finally:
        tokenizer.padding_side = previous_side


def chrf_metric():
    from sacrebleu.metrics import CHRF

    return CHRF(word_order=2)


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """Corpus-level chrF++ (0–100) with sacrebleu's defaults, and sacrebleu's signature of it."""
    metric = chrf_metric()
    score = float(metric.corpus_score(list(hypotheses), [list(references)]).score)
    return score, str(metric.get_signature())


@dataclass(frozen=True)
class ChrfConfig:
    model: str
    parallel_sha256: str
    src: str
    tgt: str
    shots: int = 3
    max_new_tokens: int = 256
    limit: int | None = None
    batch_size: int = 8  # does not change the identity: only padding differs between batch sizes

    def __post_init__(self) -> None:
        if self.src == self.tgt:
            raise PivotlensError("--src and --tgt must differ")
        if self.shots < 0 or self.max_new_tokens < 1 or self.batch_size < 1 or (self.limit is not None and self.limit < 1):
            raise PivotlensError("--shots must be ≥ 0; --max-new-tokens, --batch-size and --limit ≥ 1")

    def identity(self) -> dict:
        return {**{k: getattr(self, k) for k in ("model", "parallel_sha256", "src", "tgt", "shots", "max_new_tokens")},
                "model_sha256": model_sha256(self.model)}


@dataclass(frozen=True)
class ChrfResult:
    score: float
    n_items: int
    signature: str
    records: list[dict]  # per item: id, source, reference, hypothesis, sentence chrF++


def evaluate_chrf(
    loaded: LoadedModel,
    pairs: Sequence[ParallelPair],
    config: ChrfConfig,
    out_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> ChrfResult:
    """Translate the pairs after the shots and score them; with ``out_dir``, translations are
    appended to ``translations.jsonl`` as they finish and a rerun skips those already there."""
    if len(pairs) <= config.shots:
        raise PivotlensError(f"{len(pairs)} sentence pairs leave none to evaluate after {config.shots} shots")
    shots, items = pairs[: config.shots], pairs[config.shots :]
    items = items if config.limit is None else items[: config.limit]
    path = directory = None
    done: dict[str, dict] = {}
    if out_dir is not None:
        directory = StageDirectory(out_dir, "chrf").claim(config.identity(), {"config": asdict(config)})
        directory.reopen()  # the limit may differ from the completed run's
        path = directory.path / "translations.jsonl"
        done = {record["id"]: record for _, record in iter_jsonl(path, on_invalid="truncate")}
    metric = chrf_metric()
    todo = [item for item in items if item.id not in done]
    if progress:
        progress(len(items) - len(todo))
    for chunk in batched(todo, config.batch_size):
        prompts = [translation_prompt(config.src, config.tgt, shots, item.source) for item in chunk]
        records = [
            {"id": item.id, "source": item.source, "reference": item.target, "hypothesis": hypothesis,
             "chrf": float(metric.sentence_score(hypothesis, [item.target]).score)}
            for item, hypothesis in zip(chunk, translate(loaded, prompts, config.max_new_tokens, config.batch_size))
        ]
        done.update((record["id"], record) for record in records)
        if path is not None:
            append_jsonl(path, records)
        if progress:
            progress(len(chunk))
    ordered = [done[item.id] for item in items]
    score, signature = corpus_chrf([r["hypothesis"] for r in ordered], [r["reference"] for r in ordered])
    result = ChrfResult(score, len(ordered), signature, ordered)
    if directory is not None:
        summary = {"model": config.model, "src": config.src, "tgt": config.tgt, "chrf++": score,
                   "n_items": len(ordered), "signature": result.signature, "config": asdict(config)}
        write_json_atomic(directory.path / "chrf.json", summary, indent=1)
        directory.complete({"chrf++": score, "n_items": len(ordered)})
    return result
