"""The stages of `pivotlens run`, in data-flow order. Each is a thin adapter from the run config to
a stage's library API; it writes into its stage directory and returns a summary for the report."""

from __future__ import annotations

import json

from tqdm import tqdm

from pivotlens.languages import LANGUAGE_CODES, LANGUAGES
from pivotlens.pipeline import Stage, StageContext, markdown_table


def _matrix_markdown(matrix: dict) -> str:
    rows = [{"source \\ target": LANGUAGES[s].name,
             **{LANGUAGES[t].name: matrix[s][t] for t in LANGUAGE_CODES}} for s in LANGUAGE_CODES]
    return markdown_table(rows)


def run_score(ctx: StageContext) -> dict:
    from pivotlens.scoring import ScoreConfig, score_dataset

    dataset, o = ctx.dataset(), ctx.options
    config = ScoreConfig(model=ctx.config["model"], dataset_sha256=dataset.sha256, pairs=ctx.pairs(),
                         draws=o.get("draws", 5), shots=o.get("shots", 5), seed=ctx.config["seed"],
                         limit=o.get("limit"), dtype=ctx.config.get("dtype", "auto"), batch_size=o.get("batch_size", 8))
    n_items = min(config.limit or len(dataset), len(dataset))
    with tqdm(total=n_items * len(config.pairs), unit="item", desc="score") as bar:
        summary = score_dataset(ctx.model(), dataset, config, ctx.stage_dir, progress=bar.update)
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
    from pivotlens.report.figures import lens_trace_figure, save_figure

    dataset, o, loaded = ctx.dataset(), ctx.options, ctx.model()
    settings = ClassifierSettings(first_layer=o.get("first_layer"), allow_whitespace=o.get("allow_whitespace", False))
    config = ClassifyConfig(model=ctx.config["model"], dataset_sha256=dataset.sha256, pairs=ctx.pairs(),
                            seed=ctx.config["seed"], limit=o.get("limit"), dtype=ctx.config.get("dtype", "auto"),
                            batch_size=o.get("batch_size", 8), classifier=settings)
    n_items = min(config.limit or len(dataset), len(dataset))
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
        result = count(plan, ctx.stage_dir, engine=o.get("engine", "local"), shards=resolve_corpus(ctx.config["corpus"]),
                       dataset=ctx.config["dataset"], ray_address=o.get("ray_address"), progress=bar.update)
    pair_counts = read_pair_counts(ctx.stage_dir)
    documents = result.counts.documents if result is not None else None
    return {"facts": {"documents": documents, "words": len(plan.terms), "pairs_counted": len(pair_counts)},
            "tables": [], "figures": []}


def run_auc(ctx: StageContext) -> dict:
    from pivotlens.corpus.auc import write_auc_report

    o = ctx.options
    write_auc_report(ctx.dir_of("counts"), ctx.dir_of("lens"), ctx.stage_dir, bootstrap=o.get("bootstrap", 1000),
                     seed=ctx.config["seed"])
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

    sets = ctx.dir_of("pivots") / "token_sets.jsonl"
    if not sets.read_text(encoding="utf-8").strip():
        return {"facts": {"items": 0}, "tables": [], "figures": [],
                "notes": "No item had kept pivots, so there is no curve (a larger corpus or more items help)."}
    dataset, loaded = ctx.dataset(), ctx.model()
    items = read_token_sets(sets, loaded.tokenizer, dataset)
    result = curve_for_token_sets(loaded, dataset, items, ctx.config["seed"], ctx.options.get("random_sets", 20))
    summary = write_curve(result, ctx.stage_dir, f"{ctx.config['model']}: mined pivot sets, {len(items)} items",
                          {"model": ctx.config["model"]})
    return {"facts": {"items": len(items), "peak_layer": summary["peak_layer"],
                      "ratio_to_random_at_peak": summary["ratio_to_random_at_peak"]},
            "tables": [], "figures": [{"title": "Pivot-set probability across layers vs random sets (paper Fig. 3)",
                                       "path": ctx.relative(ctx.stage_dir / "curve.png")}]}


STAGES: list[Stage] = [
    Stage("score", "cross-lingual ability matrix", (), run_score),
    Stage("lens", "logit lens behaviours", (), run_lens),
    Stage("counts", "document co-occurrence counts", (), run_counts),
    Stage("auc", "AUC of co-occurrence vs behaviour", ("counts", "lens"), run_auc),
    Stage("pivots", "semantic-pivot mining", ("counts", "lens"), run_pivots),
    Stage("pivot_curve", "pivot-set curve across layers", ("pivots",), run_pivot_curve),
]
