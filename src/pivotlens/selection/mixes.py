"""The three continued-pre-training mixes (paper §5.2, Table 2): Original, Multilingual, pivot-aware.

Positions are document indices in corpus order (input files in order, records in file order), and
a document's language is its dominant language from ``select langid``. With ``size`` N:

* **Original** — documents [0, N): the original training data, whatever their languages.
* **Multilingual** — the fr/zh/ja documents of the *multilingual window*, the ``multilingual_window``
  documents that follow the original data (default 15·N: the paper's 15 later checkpoints), in
  order, padded to N with English documents. The fr/zh/ja counts ``m_l`` fix the shares
  ``m_l / N`` that the pivot-aware mix must match.
* **Pivot-aware** — every fr/zh/ja document of the *candidate window* (default 25·N documents after
  the original data: the paper's 25 checkpoints) is a candidate; its score is
  ``(tokens of the document in the pivot set) / (all tokens of the document)``, counting
  occurrences. ``min_tokens`` (default 0: off, as in the paper) leaves shorter candidates unranked —
  the ratio otherwise favours documents of a few tokens. Per language l the ``round(m_l · P / N)``
  candidates of highest score are selected
  (ties: earlier document first), P = ``pivot_size`` (default N), so each language's share matches
  the Multilingual mix's to within one document; then English padding up to P documents.
* English padding — the first English documents of the corpus in order: those of the original
  data first, then later ones if the original data has too few. Both mixes get the same padding.

Document scoring is the map/reduce step (local or Ray); selection and writing run on the driver.

Output directory::

    mixes/{original,multilingual,pivot_aware}/part-00000.jsonl.zst   {"id", "text", "lang"}, corpus order
    language_shares.{md,csv}     per mix: documents and the share of each language (the paper's Table 2)
    scores.parquet               per candidate: position, id, lang, tokens, pivot_tokens, score, selected
    sensitivity.{md,csv}         with --sensitivity: pivot-set size and selection per α
    manifest.json                settings, windows, per-mix language counts, files, pivot-set summary
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pivotlens.artifacts import StageDirectory
from pivotlens.batching import batched
from pivotlens.corpus.readers import RecordFields, Shard, read_shard
from pivotlens.engine import Progress, SelectionEngine, map_shards
from pivotlens.errors import SelectionError
from pivotlens.languages import parse_languages
from pivotlens.options import option
from pivotlens.selection.adjacency import AdjacencyMatrix
from pivotlens.selection.files import (
    ShardedJsonlWriter,
    write_table,
)
from pivotlens.selection.langid import LanguageIndex, aligned
from pivotlens.selection.pivots import SENSITIVITY_ALPHAS, PivotConfig, PivotSetFile, build_pivot_set
from pivotlens.selection.tokens import DocumentTokenizer

STAGE = "select-mix"
MIXES = ("original", "multilingual", "pivot_aware")
PADDING_LANGUAGE = "en"
MULTILINGUAL_WINDOWS, CANDIDATE_WINDOWS = 15, 25  # the paper's later checkpoints, in units of N


@dataclass(frozen=True)
class SelectionOptions:
    """The `selection` section of a study: the options of `select adjacency|pivotset|mix` that a study sets
    (the commands' flags of the same names come from here)."""

    engine: SelectionEngine = option("local", "local: in this process; ray: one Ray task per input file")
    ray_address: str | None = option(None, "'auto' or 'ray://head:10001' for an existing cluster; default: start a "
                                           "local Ray")
    docs_per_language: int | None = option(None, "about this many documents per language for the adjacency matrix "
                                                 "(seeded sample); default: all")
    vocab_cap: int | None = option(None, "keep the N tokens of highest document frequency (two passes); default: all")
    alpha: float = option(1.0, "τ = alpha × mean per-document token probability")
    drop_top_percent: float = option(5.0, "percent of tokens with the highest degree dropped from the pivot set")
    mix_size: int = option(2000, "N: documents of the Original and Multilingual mixes")
    multilingual_window: int | None = option(None, "documents after the original data that give the Multilingual "
                                                   "fr/zh/ja (default 15×N)")
    candidate_window: int | None = option(None, "documents after the original data whose fr/zh/ja are ranked "
                                                "(default 25×N)")
    sensitivity: tuple[float, ...] = option(SENSITIVITY_ALPHAS, "α values whose pivot-set size and selection are "
                                                                "also reported")


@dataclass(frozen=True)
class MixConfig:
    size: int
    multilingual_window: int | None = None  # None: 15 · size
    candidate_window: int | None = None  # None: 25 · size
    pivot_size: int | None = None  # None: size
    min_tokens: int = 0  # candidates with fewer tokens are not ranked (0: all, as in the paper)
    languages: tuple[str, ...] = ("fr", "zh", "ja")
    docs_per_file: int = 10_000
    batch_size: int = 256  # documents tokenised together; does not change results

    def __post_init__(self) -> None:
        for name in ("size", "multilingual_window", "candidate_window", "pivot_size", "docs_per_file", "batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SelectionError(f"--{name.replace('_', '-')} must be ≥ 1")
        if self.min_tokens < 0:
            raise SelectionError("--min-tokens must be ≥ 0")
        parse_languages(self.languages)  # registered codes, or an error listing them

    @property
    def windows(self) -> tuple[int, int]:
        return (self.multilingual_window or MULTILINGUAL_WINDOWS * self.size,
                self.candidate_window or CANDIDATE_WINDOWS * self.size)

    @property
    def pivot_total(self) -> int:
        return self.pivot_size or self.size


@dataclass
class MixPlan:
    """Everything about the mixes that needs no scores."""

    original: np.ndarray
    multilingual: np.ndarray
    multilingual_counts: dict[str, int]
    pivot_targets: dict[str, int]
    candidates: np.ndarray  # positions of the candidate documents, ascending
    padding: np.ndarray  # English padding of the pivot-aware mix


def round_half_up(value: float) -> int:
    return int(np.floor(value + 0.5))


def plan_mixes(languages: np.ndarray, config: MixConfig) -> MixPlan:
    n, total = config.size, len(languages)
    if n > total:
        raise SelectionError(f"--size {n} is larger than the corpus ({total} documents)")
    multilingual_window, candidate_window = config.windows
    positions = np.arange(total)
    wanted = np.isin(languages, config.languages)
    later_multilingual = positions[n:n + multilingual_window][wanted[n:n + multilingual_window]]
    if len(later_multilingual) > n:
        fitting = int(np.searchsorted(np.cumsum(wanted[n:]), n, side="right"))  # longest window with ≤ n of them
        raise SelectionError(f"the multilingual window ({multilingual_window} documents after the first {n}) holds "
                             f"{len(later_multilingual)} {'/'.join(config.languages)} documents, more than --size {n}: "
                             f"use --multilingual-window {fitting} or less")
    counts = Counter(languages[later_multilingual].tolist())
    multilingual_counts = {lang: counts[lang] for lang in config.languages}
    targets = {lang: round_half_up(m * config.pivot_total / n) for lang, m in multilingual_counts.items()}
    english = positions[languages == PADDING_LANGUAGE]
    needed = max(n - len(later_multilingual), config.pivot_total - sum(targets.values()))
    if len(english) < needed:
        raise SelectionError(f"the corpus has {len(english)} English documents, the padding needs {needed}")
    return MixPlan(
        original=positions[:n],
        multilingual=np.sort(np.concatenate([later_multilingual, english[:n - len(later_multilingual)]])),
        multilingual_counts=multilingual_counts, pivot_targets=targets,
        candidates=positions[n:n + candidate_window][wanted[n:n + candidate_window]],
        padding=english[:config.pivot_total - sum(targets.values())],
    )


def select_top(positions: np.ndarray, languages: np.ndarray, scores: np.ndarray,
               targets: dict[str, int]) -> np.ndarray:
    """Per language, the ``targets[lang]`` positions of highest score (ties: lower position first)."""
    chosen = []
    for lang, target in targets.items():
        mine = np.flatnonzero(languages == lang)
        if len(mine) < target:
            raise SelectionError(f"{target} {lang} documents are needed to match the Multilingual share, the "
                                 f"candidate window has {len(mine)}: use a larger --candidate-window")
        order = np.lexsort((positions[mine], -scores[mine]))
        chosen.append(positions[mine[order[:target]]])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


@dataclass(frozen=True)
class ScoreWork:
    tokenizer: DocumentTokenizer
    fields: RecordFields
    pivot_masks: np.ndarray  # bool, variants × vocabulary: row 0 the pivot set, then the sensitivity ones
    batch_size: int


@dataclass(frozen=True)
class ScoreJob:
    shard: Shard
    first_position: int
    languages: np.ndarray
    candidate: np.ndarray  # bool per document of the shard


@dataclass
class ShardScores:
    positions: np.ndarray
    ids: list[str]
    tokens: np.ndarray
    pivot_tokens: np.ndarray  # variants × candidates
    documents_read: int


def score_shard(work: ScoreWork, job: ScoreJob, progress: Progress | None = None) -> ShardScores:
    """Map: token and pivot-token counts of the candidate documents of one input file."""
    positions, ids, tokens, pivot_tokens = [], [], [], []
    read = 0
    documents = enumerate(aligned(read_shard(job.shard, work.fields), job.languages, job.shard))
    for batch in batched(documents, work.batch_size):
        chosen = [(local, document) for local, (document, _) in batch if job.candidate[local]]
        for (local, document), encoding in zip(chosen, work.tokenizer.encode([d.text for _, d in chosen])):
            token_ids = np.asarray(encoding.ids, np.int64)
            positions.append(job.first_position + local)
            ids.append(document.id)
            tokens.append(len(token_ids))
            pivot_tokens.append(work.pivot_masks[:, token_ids].sum(axis=1))
        read += len(batch)
        if progress:
            progress(len(batch))
    variants = len(work.pivot_masks)
    return ShardScores(np.asarray(positions, np.int64), ids, np.asarray(tokens, np.int64),
                       np.asarray(pivot_tokens, np.int64).reshape(-1, variants).T, read)


@dataclass
class CandidateScores:
    positions: np.ndarray
    ids: list[str]
    languages: np.ndarray
    tokens: np.ndarray
    pivot_tokens: np.ndarray  # variants × candidates

    def scores(self, variant: int = 0) -> np.ndarray:
        return self.pivot_tokens[variant] / np.maximum(self.tokens, 1)

    def select(self, targets: dict[str, int], min_tokens: int, variant: int = 0) -> np.ndarray:
        eligible = self.tokens >= min_tokens
        return select_top(self.positions[eligible], self.languages[eligible], self.scores(variant)[eligible], targets)


def score_candidates(index: LanguageIndex, tokenizer: DocumentTokenizer, candidates: np.ndarray,
                     pivot_masks: np.ndarray, *, batch_size: int = 256, engine: str = "local",
                     ray_address: str | None = None, progress: Progress | None = None) -> CandidateScores:
    """Score the documents at ``candidates`` against each pivot-set mask, shard by shard."""
    candidate = np.zeros(len(index.languages), bool)
    candidate[candidates] = True
    offsets = index.offsets
    jobs = [ScoreJob(shard, offsets[i], index.shard_languages(i),
                     candidate[offsets[i]:offsets[i] + index.documents_per_shard[i]])
            for i, shard in enumerate(index.shards)]
    parts: list[ShardScores | None] = [None] * len(jobs)

    def keep(position: int, part: ShardScores) -> None:
        parts[position] = part

    map_shards(score_shard, ScoreWork(tokenizer, index.fields, pivot_masks, batch_size), jobs, keep,
               stage="selection", engine=engine, ray_address=ray_address, progress=progress)
    positions = np.concatenate([p.positions for p in parts])
    return CandidateScores(positions, [i for p in parts for i in p.ids], index.languages[positions],
                           np.concatenate([p.tokens for p in parts]),
                           np.concatenate([p.pivot_tokens for p in parts], axis=1))


def language_shares(languages: np.ndarray, shown: Sequence[str]) -> dict:
    """Documents per language of ``shown`` (registry codes), the rest as "other"."""
    counts = Counter(languages.tolist())
    known = {lang: counts[lang] for lang in shown}
    return {"documents": len(languages), "counts": {**known, "other": len(languages) - sum(known.values())}}


def shares_table(shares: dict[str, dict]) -> list[dict]:
    rows = []
    for mix, entry in shares.items():
        row = {"mix": mix, "documents": entry["documents"]}
        row.update({f"{lang} %": f"{100 * n / max(entry['documents'], 1):.2f}" for lang, n in entry["counts"].items()})
        rows.append(row)
    return rows


@dataclass
class MixResult:
    plan: MixPlan
    scores: CandidateScores
    mixes: dict[str, np.ndarray]  # positions per mix
    shares: dict[str, dict]
    sensitivity: list[dict] = field(default_factory=list)


def _sensitivity_rows(scores: CandidateScores, plan: MixPlan, main: np.ndarray, variants: Sequence[dict],
                      min_tokens: int) -> list[dict]:
    """Per α: the pivot set's size and how the selected fr/zh/ja documents differ from the main selection."""
    rows = []
    for number, summary in enumerate(variants, start=1):
        chosen = scores.select(plan.pivot_targets, min_tokens, number)
        selected_scores = scores.scores(number)[np.isin(scores.positions, chosen)]
        overlap = len(np.intersect1d(chosen, main))
        rows.append({"alpha": summary["alpha"], "tau": f"{summary['tau']:.6g}", "pivot set": summary["pivots"],
                     "degree 0": summary["degree_zero"], "ubiquitous": summary["ubiquitous"],
                     "selected": len(chosen), "same as main": overlap,
                     "jaccard vs main": f"{overlap / max(len(np.union1d(chosen, main)), 1):.3f}",
                     "mean score (own set)": f"{selected_scores.mean() if len(selected_scores) else 0.0:.4f}"})
    return rows


def build_mixes(index: LanguageIndex, pivots: PivotSetFile, config: MixConfig, *,
                sensitivity: Sequence[float] = (), engine: str = "local", ray_address: str | None = None,
                progress: Progress | None = None) -> MixResult:
    """Plan the baselines, score the candidates, select the pivot-aware mix (no files written)."""
    index.check_unchanged()
    if len(pivots.token_ids) == 0:
        raise SelectionError("the pivot set is empty: rebuild it with a lower --alpha or a smaller --drop-top-percent")
    plan = plan_mixes(index.languages, config)
    tokenizer = DocumentTokenizer.load(pivots.adjacency_dir, name=f"tokenizer of {pivots.adjacency_dir}")
    masks = [np.isin(np.arange(tokenizer.vocab_size), pivots.token_ids)]
    variants = []
    if sensitivity:
        matrix = AdjacencyMatrix.load(pivots.adjacency_dir)
        for alpha in sensitivity:
            variant = build_pivot_set(matrix, PivotConfig(alpha, pivots.config.drop_top_percent))
            masks.append(variant.mask(tokenizer.vocab_size))
            variants.append(variant.summary())
    scores = score_candidates(index, tokenizer, plan.candidates, np.stack(masks), batch_size=config.batch_size,
                              engine=engine, ray_address=ray_address, progress=progress)
    selected = scores.select(plan.pivot_targets, config.min_tokens)
    mixes = {"original": plan.original, "multilingual": plan.multilingual,
             "pivot_aware": np.sort(np.concatenate([selected, plan.padding]))}
    shown = (PADDING_LANGUAGE, *(lang for lang in config.languages if lang != PADDING_LANGUAGE))
    shares = {name: language_shares(index.languages[positions], shown) for name, positions in mixes.items()}
    return MixResult(plan, scores, mixes, shares, _sensitivity_rows(scores, plan, selected, variants, config.min_tokens))


def write_mixes(index: LanguageIndex, result: MixResult, out: Path, docs_per_file: int) -> dict[str, list[str]]:
    """One pass over the corpus, each selected document appended to the mixes that contain it."""
    membership = np.zeros((len(index.languages), len(MIXES)), bool)
    for column, name in enumerate(MIXES):
        membership[result.mixes[name], column] = True
    writers = [ShardedJsonlWriter(out / "mixes" / name, docs_per_file) for name in MIXES]
    for i, (shard, first) in enumerate(zip(index.shards, index.offsets)):
        documents = aligned(read_shard(shard, index.fields), index.shard_languages(i), shard)
        for local, (document, language) in enumerate(documents):
            for column in np.flatnonzero(membership[first + local]):
                writers[column].write({"id": document.id, "text": document.text, "lang": language})
    return {name: writer.close() for name, writer in zip(MIXES, writers)}


def _write_scores(result: MixResult, out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    scores = result.scores
    pq.write_table(pa.table({
        "position": scores.positions, "id": scores.ids, "lang": scores.languages.tolist(), "tokens": scores.tokens,
        "pivot_tokens": scores.pivot_tokens[0], "score": scores.scores(),
        "selected": np.isin(scores.positions, result.mixes["pivot_aware"]),
    }), out / "scores.parquet")


def run_mixes(langid_dir: str | Path, pivots_dir: str | Path, out_dir: str | Path, config: MixConfig, *,
              sensitivity: Sequence[float] = (), engine: str = "local", ray_address: str | None = None,
              progress: Progress | None = None) -> MixResult | None:
    """Build and write the three mixes; None when ``out_dir`` already holds this run."""
    index = LanguageIndex.load(langid_dir)
    pivots = PivotSetFile.load(pivots_dir)
    out = Path(out_dir)
    identity = {"langid": index.digest, "pivot_set": pivots.manifest["identity"],
                "pivot_tokens": hashlib.sha256(pivots.token_ids.tobytes()).hexdigest(),
                "config": {k: v for k, v in asdict(config).items() if k != "batch_size"},
                "sensitivity": list(sensitivity)}
    directory = StageDirectory(out, STAGE).claim(identity)
    if directory.is_complete():
        return None
    result = build_mixes(index, pivots, config, sensitivity=sensitivity, engine=engine, ray_address=ray_address,
                         progress=progress)
    files = write_mixes(index, result, out, config.docs_per_file)
    _write_scores(result, out)
    write_table(shares_table(result.shares), out / "language_shares")
    if result.sensitivity:
        write_table(result.sensitivity, out / "sensitivity")
    multilingual_window, candidate_window = config.windows
    directory.complete(details={
        "langid_dir": str(Path(langid_dir).resolve()), "pivots_dir": str(Path(pivots_dir).resolve()),
        "engine": engine, "config": asdict(config),
        "windows": {"original": [0, config.size],
                    "multilingual": [config.size, config.size + multilingual_window],
                    "candidates": [config.size, config.size + candidate_window]},
        "multilingual_counts": result.plan.multilingual_counts, "pivot_targets": result.plan.pivot_targets,
        "candidates": len(result.scores.positions), "language_shares": result.shares,
        "files": {name: [f"mixes/{name}/{f}" for f in names] for name, names in files.items()},
        "pivot_set": {k: pivots.manifest[k] for k in ("alpha", "drop_top_percent", "tau", "pivots")},
    })
    return result
