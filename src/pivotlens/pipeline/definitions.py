"""The stages of `pivotlens run`, in data-flow order, and the options of a study. Each stage is a
thin adapter from its typed options (the library's options dataclass, which is also the matching
command's flags) to a stage's library API; it writes into its stage directory and returns a summary
for the report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from tqdm import tqdm

from pivotlens.corpus.auc import AucOptions
from pivotlens.corpus.counting import CountOptions
from pivotlens.errors import ConfigError
from pivotlens.languages import ENGLISH, LANGUAGES, pair_key
from pivotlens.lens.options import ClassifyOptions, CurveOptions, LanguagesOptions, RobustnessOptions
from pivotlens.options import option, parse_options
from pivotlens.pipeline.stage import Stage, StageContext
from pivotlens.pivots.options import MineOptions
from pivotlens.records import BEHAVIOURS_DIR, SEMANTIC_PIVOT, read_behaviours
from pivotlens.scoring.options import ScoreOptions
from pivotlens.selection.mixes import SelectionOptions
from pivotlens.tables import markdown_table
from pivotlens.training.compare import CompareOptions
from pivotlens.training.trainer import TrainOptions


@dataclass(frozen=True)
class StudyOptions:
    """The top-level keys of a study config, shared by the stages."""

    model: str = option("gemma-3-270m", "packaged short name, local model directory, or hub id")
    dataset: str = option("clwtd", "CLWTD JSONL file, bundled name (clwtd, clwtd-v1, sample), HF export directory or hub id")
    corpus: str | list[str] = option("bundled", "JSONL(.gz/.zst) / Parquet files, globs, directories, or 'bundled'")
    seed: int = option(0, "shot draws, samples and training")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = option("auto", "auto = bfloat16 on GPU, float32 on CPU")
    device: Literal["auto", "cpu", "cuda"] = option("auto", "where models run")
    pairs: str = option("all", "translation pairs, e.g. en-fr,zh-ja,en-* (all = every ordered pair of the dataset's languages)")
    stages: str | list[str] = option("all", "'all' or a list of stage names")
    run_dir: str | None = option(None, "where every stage writes (the command line's --run-dir wins)")


@dataclass(frozen=True)
class LensStageOptions(ClassifyOptions):
    """`lens classify`'s options plus the one translation the study traces for its figure."""

    trace_word: str | None = option(None, "a source word (or dataset id) whose lens trace is drawn (default: none)")
    trace_pair: str = option("fr-ja", "the pair of the traced translation")


def _matrix_markdown(matrix: dict) -> str:
    rows = [{"source \\ target": LANGUAGES[s].name, **{LANGUAGES[t].name: matrix[s][t] for t in matrix}} for s in matrix]
    return markdown_table(rows)


def _lens_name(decoder: str) -> str:
    return "Logit lens" if decoder == "logit" else f"Tuned lens ({decoder.removeprefix('tuned:')})"


def _score_config(ctx: StageContext, options: ScoreOptions, dataset):
    from pivotlens.scoring import score_config

    return score_config(options, model=ctx.config["model"], dataset=dataset, pairs=ctx.pairs(),
                        seed=ctx.config["seed"], dtype=ctx.config["dtype"])


def run_score(ctx: StageContext, o: ScoreOptions) -> dict:
    from pivotlens.plots.figures import draw_ability_heatmap
    from pivotlens.scoring import score_dataset

    dataset = ctx.dataset()
    config = _score_config(ctx, o, dataset)
    n_items = dataset.count(config.limit)
    with tqdm(total=n_items * len(config.pairs), unit="item", desc="score") as bar:
        summary = score_dataset(ctx.model(), dataset, config, ctx.stage_dir, progress=bar.update)
    draw_ability_heatmap(ctx.stage_dir)
    return {
        "facts": {"mean": summary["mean"], "items_per_pair": n_items, "draws": config.draws},
        "tables": [{"title": f"Cross-lingual ability (rows: source; mean {summary['mean']:.4f})",
                    "markdown": _matrix_markdown(summary["matrix"])},
                   {"title": "Per pair", "markdown": markdown_table(summary["pairs"])}],
        "figures": [{"title": "Cross-lingual ability matrix (paper Fig. 1)",
                     "path": ctx.relative(ctx.stage_dir / "heatmap.png")}],
    }


def run_lens(ctx: StageContext, o: LensStageOptions) -> dict:
    from pivotlens.languages import parse_pairs
    from pivotlens.lens.decoders import load_decoder
    from pivotlens.lens.translation import classify_config, classify_dataset, dataset_prompt, trace_translation
    from pivotlens.plots.figures import lens_trace_figure, save_figure

    dataset, loaded = ctx.dataset(), ctx.model()
    config = classify_config(o, model=ctx.config["model"], dataset=dataset, pairs=ctx.pairs(), seed=ctx.config["seed"],
                             dtype=ctx.config["dtype"])
    n_items = dataset.count(config.limit)
    with tqdm(total=n_items * len(config.pairs), unit="item", desc="lens") as bar:
        summary = classify_dataset(loaded, dataset, config, ctx.stage_dir, progress=bar.update)
    figures = []
    if o.trace_word:
        (src, tgt), = parse_pairs(o.trace_pair)
        index = next((i for i, e in enumerate(dataset.entries) if o.trace_word in (e.id, e.word[src])), 0)
        trace = trace_translation(loaded, dataset_prompt(loaded.tokenizer, dataset, index, src, tgt, ctx.config["seed"]),
                                  settings=config.classifier, decoder=load_decoder(o.decoder, loaded))
        top = [[loaded.tokenizer.decode([int(p[0])]) for p in layer] for layer in trace.top_ids]
        b = trace.behaviour
        title = f"{trace.prompt.item.source} → {trace.prompt.item.target}: {b.kind}, t*={b.token!r} @ layer {b.peak_layer}"
        path = save_figure(lens_trace_figure(trace.input_tokens, top, trace.top_probabilities[:, :, 0], title),
                           ctx.stage_dir / "trace.png")
        figures.append({"title": f"{_lens_name(o.decoder)} of one translation (paper Fig. 2): {title}",
                        "path": ctx.relative(path)})
    examples = []
    for row in summary["pairs"]:
        records = read_behaviours(ctx.stage_dir / BEHAVIOURS_DIR / f"{row['pair']}.jsonl")
        examples += [r for r in records if r.behaviour == SEMANTIC_PIVOT][:2]
    pivot_rows = [{"pair": pair_key(r.item.src, r.item.tgt), "source": r.item.source, "target": r.item.target,
                   "pivot": r.pivot_token.strip(), "layer": r.peak_layer, "p": r.peak_probability}
                  for r in examples]
    return {
        "facts": {"items_per_pair": n_items, "decoder": o.decoder},
        "tables": [{"title": f"Behaviour per pair ({_lens_name(o.decoder)})",
                    "markdown": markdown_table(summary["pairs"])},
                   {"title": "Examples of semantic-pivot behaviour", "markdown": markdown_table(pivot_rows, digits=3)}],
        "figures": figures,
    }


def run_robustness(ctx: StageContext, o: RobustnessOptions) -> dict:
    from dataclasses import replace

    from pivotlens.lens.robustness import TITLES, RobustnessConfig
    from pivotlens.lens.robustness import run_robustness as robustness
    from pivotlens.lens.translation import classify_config

    lens = parse_options(LensStageOptions, ctx.config.get("lens"), "lens")
    dataset = ctx.dataset()
    classify = classify_config(lens, model=ctx.config["model"], dataset=dataset, pairs=ctx.pairs(),
                               seed=ctx.config["seed"], dtype=ctx.config["dtype"])
    classify = replace(classify, limit=o.limit or classify.limit, batch_size=o.batch_size)
    n_items = dataset.count(classify.limit)
    with tqdm(total=n_items * len(classify.pairs) * (o.draws - 1), unit="item", desc="robustness draws") as bar:
        result = robustness(ctx.dir_of("lens"), ctx.stage_dir, RobustnessConfig(o.draws, o.floor, lens.output_rule),
                            classify, ctx.model() if o.draws > 1 else None, dataset, progress=bar.update)
    agreement = next(row for row in result["draw_agreement"] if row["pair"] == "all")
    return {"facts": {"draws": o.draws, "floor": o.floor, "rule": lens.output_rule,
                      "fleiss_kappa_all_pairs": agreement["fleiss kappa"]},
            "tables": [{"title": TITLES[key], "markdown": markdown_table(result[key], digits=3)} for key in TITLES],
            "figures": []}


def run_languages(ctx: StageContext, o: LanguagesOptions) -> dict:
    from pivotlens.lens.languages import peak_rows, write_language_curves
    from pivotlens.plots.figures import plot_language_curves

    curves = write_language_curves(ctx.dir_of("lens"), ctx.stage_dir)
    plot_language_curves(curves, ctx.stage_dir / "languages.png", f"{ctx.config['model']}: latent languages")
    return {"facts": {"pairs": len(curves)},
            "tables": [{"title": "Where each language's word peaks (mean over items, 95% t-interval)",
                        "markdown": markdown_table(peak_rows(curves), digits=4)}],
            "figures": [{"title": "Latent-language curves (Wendler et al. 2024): P(the entry's word in each study "
                                  "language) per layer at the target-predicting position, 95% CI",
                         "path": ctx.relative(ctx.stage_dir / "languages.png")}]}


def run_counts(ctx: StageContext, o: CountOptions) -> dict:
    from pivotlens.corpus.counting import count_config, plan_counts
    from pivotlens.corpus.readers import resolve_corpus
    from pivotlens.corpus.results import count, read_pair_counts

    plan = plan_counts(ctx.dataset(), ctx.pairs(), count_config(o, ctx.config["seed"]))
    if o.engine == "infinigram-api":
        return _counts_through_api(ctx, o, plan)
    with tqdm(unit="doc", desc="counts", unit_scale=True) as bar:
        count(plan, ctx.stage_dir, engine=o.engine, shards=resolve_corpus(ctx.config["corpus"]),
              dataset=ctx.dataset().identity(), ray_address=o.ray_address, progress=bar.update, workers=o.workers)
    pair_counts = read_pair_counts(ctx.stage_dir)
    documents = json.loads((ctx.stage_dir / "manifest.json").read_text())["documents"]  # also when already counted
    return {"facts": {"documents": documents, "words": len(plan.terms), "pairs_counted": len(pair_counts)},
            "tables": [], "figures": []}


def _counts_through_api(ctx: StageContext, o: CountOptions, plan) -> dict:
    """The counts stage on the hosted infini-gram API (occurrences and AND-window co-occurrences)."""
    from dataclasses import replace

    from pivotlens.corpus.infinigram_api import ApiOptions, api_client, count_queries, count_with_api

    api = api_client(o.index, replace(ApiOptions(), api_url=o.api_url))
    queries = count_queries(plan, 100, ApiOptions().max_clause_freq)
    with tqdm(total=len(queries) - 1, unit="query", desc="counts (infinigram-api)") as bar:
        count_with_api(plan, ctx.stage_dir, api, dataset=ctx.dataset().identity(), progress=bar.update)
    return {"facts": {"index": api.index, "queries": len(queries), "requests_sent": api.sent,
                      "words": len(plan.terms), "word_pairs": len(plan.term_pairs)},
            "tables": [], "figures": [],
            "notes": "Counts through the infini-gram API: word occurrences and co-occurrences within 100 Llama-2 "
                     "tokens (the API's AND), not documents; the AUC scores items by the window count."}


def run_auc(ctx: StageContext, o: AucOptions) -> dict:
    from pivotlens.corpus.auc import write_auc_report
    from pivotlens.plots.figures import plot_auc_scatter

    rows, points = write_auc_report(ctx.dir_of("counts"), ctx.dir_of("lens"), ctx.stage_dir, bootstrap=o.bootstrap,
                                    seed=ctx.config["seed"])
    plot_auc_scatter(points, rows, ctx.stage_dir / "scatter.png")
    return {"facts": {},
            "tables": [{"title": "AUC of co-occurrence count vs co-occurrence behaviour (paper Table 1)",
                        "markdown": (ctx.stage_dir / "auc.md").read_text(encoding="utf-8")}],
            "figures": [{"title": "Co-occurrence count vs P(target), by behaviour",
                         "path": ctx.relative(ctx.stage_dir / "scatter.png")}]}


def run_pivots(ctx: StageContext, o: MineOptions) -> dict:
    from pivotlens.pivots.run import mine_config, run_mining

    if o.engine != "local":
        raise ConfigError(f"pivots.engine {o.engine}: a study mines the corpus it counted (local); mine through "
                          "the API with `pivotlens pivots mine --engine infinigram-api --index NAME`")
    config = mine_config(o, model=ctx.config["model"], seed=ctx.config["seed"])
    english = {entry.id: entry.word[ENGLISH] for entry in ctx.dataset().entries if ENGLISH in entry.word}
    with tqdm(unit="item", desc="pivots") as bar:
        records = run_mining(ctx.model().tokenizer, ctx.dir_of("lens"), ctx.dir_of("counts"), ctx.config["corpus"],
                             config, ctx.stage_dir, progress=bar.update, english_words=english)
    rows = [{"pair": f"{r['src']}-{r['tgt']}", "source": r["source"], "target": r["target"],
             "docs (s/t)": f"{r['n_source_documents']}/{r['n_target_documents']}",
             "kept pivots (best first)": ", ".join(c["token"].strip() for c in r["kept"][:8])} for r in records]
    return {"facts": {"items": len(records), "items_with_pivots": sum(bool(r["kept"]) for r in records)},
            "tables": [{"title": "Mined semantic pivots", "markdown": markdown_table(rows)}], "figures": []}


def run_pivot_curve(ctx: StageContext, o: CurveOptions) -> dict:
    from pivotlens.lens.curves import CONTROLS, curve_for_token_sets, read_token_sets, write_curve
    from pivotlens.lens.decoders import decoder_identity, load_decoder
    from pivotlens.pivots.mining import read_token_frequencies
    from pivotlens.plots.figures import plot_token_set_curve

    sets = ctx.dir_of("pivots") / "token_sets.jsonl"
    if not sets.read_text(encoding="utf-8").strip():
        return {"facts": {"items": 0}, "tables": [], "figures": [],
                "notes": "No item had kept pivots, so there is no curve (a larger corpus or more items help)."}
    dataset, loaded = ctx.dataset(), ctx.model()
    items = read_token_sets(sets, loaded.tokenizer, dataset)
    result = curve_for_token_sets(loaded, dataset, items, ctx.config["seed"], o.random_sets, o.batch_size,
                                  read_token_frequencies(ctx.dir_of("pivots")), load_decoder(o.decoder, loaded))
    summary = write_curve(result, ctx.stage_dir, {"model": ctx.config["model"], **decoder_identity(o.decoder)})
    plot_token_set_curve(summary["layers"], ctx.stage_dir / "curve.png",
                         f"{ctx.config['model']}: mined pivot sets, {len(items)} items")
    ratios = [{"control": CONTROLS[name], "× at the peak layer": ratio}
              for name, ratio in summary["ratio_at_peak_by_control"].items()]
    return {"facts": {"items": len(items), "peak_layer": summary["peak_layer"],
                      f"ratio_to_{summary['reference_control']}_at_peak": summary["ratio_at_peak"], "decoder": o.decoder},
            "tables": [{"title": "Pivot-set probability at its peak layer over each control",
                        "markdown": markdown_table(ratios, digits=2)}],
            "figures": [{"title": f"Pivot-set probability across layers vs its controls (paper Fig. 3; "
                                  f"{_lens_name(o.decoder)})",
                         "path": ctx.relative(ctx.stage_dir / "curve.png")}]}


def run_selection(ctx: StageContext, o: SelectionOptions) -> dict:
    from pivotlens.corpus.readers import resolve_corpus
    from pivotlens.selection.adjacency import AdjacencyConfig, run_adjacency
    from pivotlens.selection.langid import LangIdConfig, run_langid
    from pivotlens.selection.mixes import MIXES, MixConfig, run_mixes
    from pivotlens.selection.pivots import PivotConfig, run_pivot_set
    from pivotlens.selection.tokens import DocumentTokenizer

    out = ctx.stage_dir
    engine = {"engine": o.engine, "ray_address": o.ray_address}
    tokenizer = DocumentTokenizer.from_model(ctx.config["model"])
    with tqdm(unit="doc", desc="language ID", unit_scale=True) as bar:
        run_langid(resolve_corpus(ctx.config["corpus"]), tokenizer, out / "langid", LangIdConfig(), progress=bar.update,
                   **engine)
    adjacency = AdjacencyConfig(docs_per_language=o.docs_per_language, vocab_cap=o.vocab_cap, seed=ctx.config["seed"])
    run_adjacency(out / "langid", out / "adjacency", adjacency, **engine)
    pivot_set = run_pivot_set(out / "adjacency", out / "pivot_set", PivotConfig(o.alpha, o.drop_top_percent)).summary()
    run_mixes(out / "langid", out / "pivot_set", out / "mixes",
              MixConfig(o.mix_size, o.multilingual_window, o.candidate_window), sensitivity=o.sensitivity, **engine)
    shares = (out / "mixes" / "language_shares.md").read_text(encoding="utf-8")
    tables = [{"title": "Language shares of the three mixes (paper Table 2)", "markdown": shares}]
    if (out / "mixes" / "sensitivity.md").is_file():
        tables.append({"title": "Sensitivity to α (pivot-set size and selected documents)",
                       "markdown": (out / "mixes" / "sensitivity.md").read_text(encoding="utf-8")})
    return {"facts": {"pivot_set_size": pivot_set["pivots"], "tau": pivot_set["tau"], "mixes": ", ".join(MIXES)},
            "tables": tables, "figures": []}


def _mix_files(ctx: StageContext, mix: str) -> str:
    return str(ctx.dir_of("selection") / "mixes" / "mixes" / mix)


def run_training(ctx: StageContext, o: TrainOptions) -> dict:
    from pivotlens.models.registry import model_sha256
    from pivotlens.selection.mixes import MIXES
    from pivotlens.training.trainer import train, train_config

    rows, models = [], {}
    for mix in MIXES:
        config = train_config(o, model=ctx.config["model"], data=_mix_files(ctx, mix), seed=ctx.config["seed"],
                              dtype=ctx.config["dtype"], device=ctx.config["device"])
        trained = train(config, ctx.stage_dir / mix)
        models[mix] = model_sha256(str(trained.final_dir))
        result = trained.summary()
        rows.append({"mix": mix, **{k: v for k, v in result.items()  # directories: the run dir's layout says them
                                    if isinstance(v, (int, float, str)) and not k.endswith("_dir")}})
    return {"facts": {"steps": o.steps, "mixes": len(rows)},
            "tables": [{"title": "Continued pre-training, same settings and seed for each mix",
                        "markdown": markdown_table(rows)}], "figures": [],
            "outputs": models}  # the trained models by content: compare reruns when one changes


def run_compare(ctx: StageContext, o: CompareOptions) -> dict:
    from pivotlens.plots.training import draw_comparison_figures
    from pivotlens.selection.mixes import MIXES
    from pivotlens.training.compare import comparison_markdown
    from pivotlens.training.evaluation import NamedModel, compare_models

    dataset = ctx.dataset()
    models = [NamedModel("start", ctx.config["model"])] + [
        NamedModel(mix, str(ctx.dir_of("training") / mix / "final")) for mix in MIXES]
    comparison = compare_models(models, "start", dataset, _score_config(ctx, o, dataset), ctx.stage_dir,
                                load=ctx.fresh_model, n_bootstrap=o.bootstrap)
    draw_comparison_figures(comparison, ctx.stage_dir)
    figures = [{"title": f"Change vs the starting checkpoint: {path.stem}", "path": ctx.relative(path)}
               for path in sorted(ctx.stage_dir.glob("*.png"))]
    return {"facts": {}, "tables": [{"title": "Before/after continued pre-training (paper Table 3; paired 95% CIs)",
                                     "markdown": comparison_markdown(comparison)}], "figures": figures}


STAGES: list[Stage] = [
    Stage("score", "cross-lingual ability matrix", (), run_score, ScoreOptions),
    Stage("lens", "lens behaviours", (), run_lens, LensStageOptions),
    Stage("robustness", "how far the lens labels rest on their settings", ("lens",), run_robustness, RobustnessOptions),
    Stage("languages", "latent-language curves", ("lens",), run_languages, LanguagesOptions),
    Stage("counts", "document co-occurrence counts", (), run_counts, CountOptions),
    Stage("auc", "AUC of co-occurrence vs behaviour", ("counts", "lens"), run_auc, AucOptions),
    Stage("pivots", "semantic-pivot mining", ("counts", "lens"), run_pivots, MineOptions),
    Stage("pivot_curve", "pivot-set curve across layers", ("pivots",), run_pivot_curve, CurveOptions),
    Stage("selection", "pivot-aware data selection and baselines", (), run_selection, SelectionOptions),
    Stage("training", "continued pre-training on each mix", ("selection",), run_training, TrainOptions),
    Stage("compare", "before/after comparison", ("training",), run_compare, CompareOptions),
]
