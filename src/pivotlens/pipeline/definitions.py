"""The stages of `pivotlens run`, in data-flow order. Each is a thin adapter from the run config to
a stage's library API; it writes into its stage directory and returns a summary for the report."""

from __future__ import annotations

import json

from tqdm import tqdm

from pivotlens.languages import LANGUAGE_CODES, LANGUAGES
from pivotlens.pipeline.stage import Stage, StageContext
from pivotlens.tables import markdown_table


def _matrix_markdown(matrix: dict) -> str:
    rows = [{"source \\ target": LANGUAGES[s].name,
             **{LANGUAGES[t].name: matrix[s][t] for t in LANGUAGE_CODES}} for s in LANGUAGE_CODES]
    return markdown_table(rows)


def run_score(ctx: StageContext) -> dict:
    from pivotlens.plots.figures import draw_ability_heatmap
    from pivotlens.scoring import ScoreConfig, score_dataset

    dataset, o = ctx.dataset(), ctx.options
    config = ScoreConfig(model=ctx.config["model"], dataset_sha256=dataset.sha256, pairs=ctx.pairs(),
                         draws=o.get("draws", 5), shots=o.get("shots", 5), seed=ctx.config["seed"],
                         limit=o.get("limit"), dtype=ctx.config.get("dtype", "auto"), batch_size=o.get("batch_size", 8))
    n_items = dataset.count(config.limit)
    with tqdm(total=n_items * len(config.pairs), unit="item", desc="score") as bar:
        summary = score_dataset(ctx.model(), dataset, config, ctx.stage_dir, progress=bar.update)
    draw_ability_heatmap(ctx.stage_dir)
    return {
        "facts": {"mean": summary["mean"], "items_per_pair": n_items, "draws": config.draws},
        "tables": [{"title": f"Cross-lingual ability (rows: source; mean {summary['mean']:.4f})",
                    "markdown": _matrix_markdown(summary["matrix"])},
                   {"title": "Per pair", "markdown": markdown_table(summary["pairs"])}],
        "figures": [{"title": "Cross-lingual ability matrix (paper Fig. 1)", "path": ctx.relative(ctx.stage_dir / "heatmap.png")}],
    }


def run_lens(ctx: StageContext) -> dict:
    from pivotlens.languages import parse_pairs
    from pivotlens.lens.translation import (
        ClassifierSettings, ClassifyConfig, classify_dataset, dataset_prompt, trace_translation,
    )
    from pivotlens.plots.figures import lens_trace_figure, save_figure

    dataset, o, loaded = ctx.dataset(), ctx.options, ctx.model()
    settings = ClassifierSettings(first_layer=o.get("first_layer"), allow_any_token=o.get("allow_any_token", False))
    config = ClassifyConfig(model=ctx.config["model"], dataset_sha256=dataset.sha256, pairs=ctx.pairs(),
                            seed=ctx.config["seed"], limit=o.get("limit"), dtype=ctx.config.get("dtype", "auto"),
                            batch_size=o.get("batch_size", 8), classifier=settings)
    n_items = dataset.count(config.limit)
    with tqdm(total=n_items * len(config.pairs), unit="item", desc="lens") as bar:
        summary = classify_dataset(loaded, dataset, config, ctx.stage_dir, progress=bar.update)
    figures = []
    if o.get("trace_word"):
        (src, tgt), = parse_pairs(o.get("trace_pair", "fr-ja"))
        index = next((i for i, e in enumerate(dataset.entries) if o["trace_word"] in (e.id, e.word[src])), 0)
        trace = trace_translation(loaded, dataset_prompt(loaded.tokenizer, dataset, index, src, tgt, ctx.config["seed"]),
                                  settings=settings)
        top = [[loaded.tokenizer.decode([int(p[0])]) for p in layer] for layer in trace.top_ids]
        b = trace.behaviour
        title = f"{trace.prompt.source} → {trace.prompt.target}: {b.kind}, t*={b.token!r} @ layer {b.peak_layer}"
        path = save_figure(lens_trace_figure(trace.input_tokens, top, trace.top_probabilities[:, :, 0], title),
                           ctx.stage_dir / "trace.png")
        figures.append({"title": f"Logit lens of one translation (paper Fig. 2): {title}", "path": ctx.relative(path)})
    examples = []
    for row in summary["pairs"]:
        path = ctx.stage_dir / "behaviours" / f"{row['pair']}.jsonl"
        examples += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                     if '"semantic-pivot"' in line][:2]
    pivot_rows = [{"pair": f"{r['src']}-{r['tgt']}", "source": r["source"], "target": r["target"],
                   "pivot": r["pivot_token"].strip(), "layer": r["peak_layer"], "p": r["peak_probability"]}
                  for r in examples]
    return {
        "facts": {"items_per_pair": n_items},
        "tables": [{"title": "Behaviour per pair", "markdown": markdown_table(summary["pairs"])},
                   {"title": "Examples of semantic-pivot behaviour", "markdown": markdown_table(pivot_rows, digits=3)}],
        "figures": figures,
    }


def run_counts(ctx: StageContext) -> dict:
    from pivotlens.corpus.counting import CountConfig, plan_counts
    from pivotlens.corpus.readers import resolve_corpus
    from pivotlens.corpus.results import count, read_pair_counts

    o = ctx.options
    plan = plan_counts(ctx.dataset(), ctx.pairs(), CountConfig(reservoir=o.get("reservoir", 500), seed=ctx.config["seed"]))
    with tqdm(unit="doc", desc="counts", unit_scale=True) as bar:
        count(plan, ctx.stage_dir, engine=o.get("engine", "local"), shards=resolve_corpus(ctx.config["corpus"]),
              dataset=ctx.config["dataset"], ray_address=o.get("ray_address"), progress=bar.update)
    pair_counts = read_pair_counts(ctx.stage_dir)
    documents = json.loads((ctx.stage_dir / "manifest.json").read_text())["documents"]  # also when already counted
    return {"facts": {"documents": documents, "words": len(plan.terms), "pairs_counted": len(pair_counts)},
            "tables": [], "figures": []}


def run_auc(ctx: StageContext) -> dict:
    from pivotlens.corpus.auc import write_auc_report
    from pivotlens.plots.figures import plot_auc_scatter

    o = ctx.options
    rows, points = write_auc_report(ctx.dir_of("counts"), ctx.dir_of("lens"), ctx.stage_dir, bootstrap=o.get("bootstrap", 1000),
                                    seed=ctx.config["seed"])
    plot_auc_scatter(points, rows, ctx.stage_dir / "scatter.png")
    return {"facts": {},
            "tables": [{"title": "AUC of co-occurrence count vs co-occurrence behaviour (paper Table 1)",
                        "markdown": (ctx.stage_dir / "auc.md").read_text(encoding="utf-8")}],
            "figures": [{"title": "Co-occurrence count vs P(target), by behaviour", "path": ctx.relative(ctx.stage_dir / "scatter.png")}]}


def run_pivots(ctx: StageContext) -> dict:
    from pivotlens.pivots.run import MineConfig, run_mining

    o = ctx.options
    config = MineConfig(model=ctx.config["model"], documents_per_word=o.get("documents", 2000),
                        background_documents=o.get("background", 2000), top=o.get("top", 50),
                        frequency=o.get("frequency", "document"), seed=ctx.config["seed"],
                        llm_url=o.get("llm_url"), llm_model=o.get("llm_model", "gpt-4o-mini"))
    with tqdm(unit="item", desc="pivots") as bar:
        records = run_mining(ctx.model().tokenizer, ctx.dir_of("lens"), ctx.dir_of("counts"), ctx.config["corpus"],
                             config, ctx.stage_dir, progress=bar.update)
    rows = [{"pair": f"{r['src']}-{r['tgt']}", "source": r["source"], "target": r["target"],
             "docs (s/t)": f"{r['n_source_documents']}/{r['n_target_documents']}",
             "kept pivots (best first)": ", ".join(c["token"].strip() for c in r["kept"][:8])} for r in records]
    return {"facts": {"items": len(records), "items_with_pivots": sum(bool(r["kept"]) for r in records)},
            "tables": [{"title": "Mined semantic pivots", "markdown": markdown_table(rows)}], "figures": []}


def run_pivot_curve(ctx: StageContext) -> dict:
    from pivotlens.lens.curves import curve_for_token_sets, read_token_sets, write_curve
    from pivotlens.plots.figures import plot_token_set_curve

    sets = ctx.dir_of("pivots") / "token_sets.jsonl"
    if not sets.read_text(encoding="utf-8").strip():
        return {"facts": {"items": 0}, "tables": [], "figures": [],
                "notes": "No item had kept pivots, so there is no curve (a larger corpus or more items help)."}
    dataset, loaded = ctx.dataset(), ctx.model()
    items = read_token_sets(sets, loaded.tokenizer, dataset)
    result = curve_for_token_sets(loaded, dataset, items, ctx.config["seed"], ctx.options.get("random_sets", 20))
    summary = write_curve(result, ctx.stage_dir, {"model": ctx.config["model"]})
    plot_token_set_curve(summary["layers"], ctx.stage_dir / "curve.png",
                         f"{ctx.config['model']}: mined pivot sets, {len(items)} items")
    return {"facts": {"items": len(items), "peak_layer": summary["peak_layer"],
                      "ratio_to_random_at_peak": summary["ratio_to_random_at_peak"]},
            "tables": [], "figures": [{"title": "Pivot-set probability across layers vs random sets (paper Fig. 3)",
                                       "path": ctx.relative(ctx.stage_dir / "curve.png")}]}


def run_selection(ctx: StageContext) -> dict:
    from pivotlens.corpus.readers import resolve_corpus
    from pivotlens.selection.adjacency import AdjacencyConfig, run_adjacency
    from pivotlens.selection.langid import LangIdConfig, run_langid
    from pivotlens.selection.mixes import MIXES, MixConfig, run_mixes
    from pivotlens.selection.pivots import PivotConfig, run_pivot_set
    from pivotlens.selection.tokens import DocumentTokenizer

    o, out = ctx.options, ctx.stage_dir
    engine = {"engine": o.get("engine", "local"), "ray_address": o.get("ray_address")}
    tokenizer = DocumentTokenizer.from_model(ctx.config["model"])
    with tqdm(unit="doc", desc="language ID", unit_scale=True) as bar:
        run_langid(resolve_corpus(ctx.config["corpus"]), tokenizer, out / "langid", LangIdConfig(), progress=bar.update,
                   **engine)
    adjacency = AdjacencyConfig(docs_per_language=o.get("docs_per_language"), vocab_cap=o.get("vocab_cap"),
                                seed=ctx.config["seed"])
    run_adjacency(out / "langid", out / "adjacency", adjacency, **engine)
    pivot_set = run_pivot_set(out / "adjacency", out / "pivot_set",
                              PivotConfig(o.get("alpha", 1.0), o.get("drop_top_percent", 5.0))).summary()
    run_mixes(out / "langid", out / "pivot_set", out / "mixes", MixConfig(o.get("mix_size", 1000), o.get("multilingual_window"),
                                                                     o.get("candidate_window")),
              sensitivity=o.get("sensitivity", (0.5, 1, 2, 4)), **engine)
    shares = (out / "mixes" / "language_shares.md").read_text(encoding="utf-8")
    tables = [{"title": "Language shares of the three mixes (paper Table 2)", "markdown": shares}]
    if (out / "mixes" / "sensitivity.md").is_file():
        tables.append({"title": "Sensitivity to α (pivot-set size and selected documents)",
                       "markdown": (out / "mixes" / "sensitivity.md").read_text(encoding="utf-8")})
    return {"facts": {"pivot_set_size": pivot_set["pivots"], "tau": pivot_set["tau"], "mixes": ", ".join(MIXES)},
            "tables": tables, "figures": []}


def _mix_files(ctx: StageContext, mix: str) -> str:
    return str(ctx.dir_of("selection") / "mixes" / "mixes" / mix)


def run_training(ctx: StageContext) -> dict:
    from pivotlens.selection.mixes import MIXES
    from pivotlens.training.trainer import TrainConfig, train

    o = ctx.options
    rows = []
    for mix in MIXES:
        config = TrainConfig(model=ctx.config["model"], data=_mix_files(ctx, mix), steps=o.get("steps", 4),
                             seq_len=o.get("seq_len", 128), batch_size=o.get("batch_size", 2),
                             grad_accum=o.get("grad_accum", 1), lr=o.get("lr", 2e-5),
                             warmup_steps=o.get("warmup_steps", 1), save_every=o.get("save_every", 1000),
                             seed=ctx.config["seed"], dtype=ctx.config.get("dtype", "auto"),
                             device=ctx.config.get("device", "auto"))
        result = train(config, ctx.stage_dir / mix).summary()
        rows.append({"mix": mix, **{k: v for k, v in result.items()  # directories: the run dir's layout says them
                                    if isinstance(v, (int, float, str)) and not k.endswith("_dir")}})
    return {"facts": {"steps": o.get("steps", 4), "mixes": len(rows)},
            "tables": [{"title": "Continued pre-training, same settings and seed for each mix",
                        "markdown": markdown_table(rows)}], "figures": []}


def run_compare(ctx: StageContext) -> dict:
    from pivotlens.plots.training import draw_comparison_figures
    from pivotlens.scoring import ScoreConfig
    from pivotlens.selection.mixes import MIXES
    from pivotlens.training.compare import comparison_markdown
    from pivotlens.training.evaluation import NamedModel, compare_models

    o, dataset = ctx.options, ctx.dataset()
    models = [NamedModel("start", ctx.config["model"])] + [
        NamedModel(mix, str(ctx.dir_of("training") / mix / "final")) for mix in MIXES]
    template = ScoreConfig(model=ctx.config["model"], dataset_sha256=dataset.sha256, pairs=ctx.pairs(),
                           draws=o.get("draws", 2), shots=o.get("shots", 5), seed=ctx.config["seed"],
                           limit=o.get("limit"), dtype=ctx.config.get("dtype", "auto"), batch_size=o.get("batch_size", 8))
    comparison = compare_models(models, "start", dataset, template, ctx.stage_dir, load=ctx.fresh_model,
                                n_bootstrap=o.get("bootstrap", 1000))
    draw_comparison_figures(comparison, ctx.stage_dir)
    figures = [{"title": f"Change vs the starting checkpoint: {path.stem}", "path": ctx.relative(path)}
               for path in sorted(ctx.stage_dir.glob("*.png"))]
    return {"facts": {}, "tables": [{"title": "Before/after continued pre-training (paper Table 3; paired 95% CIs)",
                                     "markdown": comparison_markdown(comparison)}], "figures": figures}


STAGES: list[Stage] = [
    Stage("score", "cross-lingual ability matrix", (), run_score),
    Stage("lens", "logit lens behaviours", (), run_lens),
    Stage("counts", "document co-occurrence counts", (), run_counts),
    Stage("auc", "AUC of co-occurrence vs behaviour", ("counts", "lens"), run_auc),
    Stage("pivots", "semantic-pivot mining", ("counts", "lens"), run_pivots),
    Stage("pivot_curve", "pivot-set curve across layers", ("pivots",), run_pivot_curve),
    Stage("selection", "pivot-aware data selection and baselines", (), run_selection),
    Stage("training", "continued pre-training on each mix", ("selection",), run_training),
    Stage("compare", "before/after comparison", ("training",), run_compare),
]
