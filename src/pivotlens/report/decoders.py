"""Logit lens against tuned lens: how well each layer's decoded distribution matches the final one,
and what the behaviour classification makes of each.

    python -m pivotlens.report.decoders --tuned DIR [--figure PATH] [NAME=LENS_DIR …]

prints markdown: the held-out KL(final ‖ layer) and top-1 agreement per layer of a tuned-lens
directory (`pivotlens lens train-tuned`), logit vs tuned, with its training settings; then, for
each `lens classify` output directory (a decoder and a t* search rule each), on the (pair, item)
cells that every directory classified, the share of semantic-pivot items per pair, and how often t*
is the digit `1` or a token without a letter (digits, punctuation, symbols: junk as a pivot), how
often it peaks in the two lowest layers, and the most frequent t* tokens (one token serving as t*
for many unrelated words is junk too: `s` at layer 1 under the logit lens on Gemma-3).
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

from pivotlens.languages import pair_key
from pivotlens.records import SEMANTIC_PIVOT, read_lens_behaviours
from pivotlens.tables import markdown_table
from pivotlens.text import normalize_token_text


def has_letter(token: str) -> bool:
    return any(unicodedata.category(character).startswith("L") for character in normalize_token_text(token))


def heldout_markdown(tuned_dir: Path) -> str:
    summary = json.loads((tuned_dir / "heldout.json").read_text())
    rows = [{"layer": r["layer"], "KL logit": r["kl_logit"], "KL tuned": r["kl_tuned"],
             "top-1 logit": r["top1_logit"], "top-1 tuned": r["top1_tuned"]} for r in summary["heldout"]]
    below_last = summary["heldout"][:-1]
    rows.append({"layer": f"mean of 1–{len(below_last)}", "KL logit": np.mean([r["kl_logit"] for r in below_last]),
                 "KL tuned": np.mean([r["kl_tuned"] for r in below_last]),
                 "top-1 logit": np.mean([r["top1_logit"] for r in below_last]),
                 "top-1 tuned": np.mean([r["top1_tuned"] for r in below_last])})
    settings = (f"{summary['steps']} steps, {summary['train_positions']} training positions from "
                f"{summary['train_documents']} documents, {summary['heldout_positions']} held-out positions from "
                f"{summary['heldout_documents']} other documents, {summary['training_seconds']:.0f} s of training")
    return f"{settings}\n\n{markdown_table(rows, digits=3)}\n"


def behaviour_brief(records: list) -> dict:
    """Per pair the semantic-pivot share; over all items the share of t* = `1` and of letterless t*."""
    by_pair: dict[str, list] = {}
    for record in records:
        by_pair.setdefault(pair_key(record.item.src, record.item.tgt), []).append(record)
    shares = {pair: sum(r.behaviour == SEMANTIC_PIVOT for r in rs) / len(rs) for pair, rs in by_pair.items()}
    return {"items": len(records), "shares": shares,
            "semantic_pivot": sum(r.behaviour == SEMANTIC_PIVOT for r in records) / len(records),
            "one": sum(normalize_token_text(r.top_token) == "1" for r in records) / len(records),
            "letterless": sum(not has_letter(r.top_token) for r in records) / len(records),
            "lowest_layers": sum(r.peak_layer <= 2 for r in records) / len(records),
            "mean_peak_layer": float(np.mean([r.peak_layer for r in records])),
            "frequent": Counter(r.top_token for r in records).most_common(3)}


def behaviours_markdown(lens_dirs: dict[str, Path]) -> str:
    records = {name: read_lens_behaviours(path) for name, path in lens_dirs.items()}
    cells = set.intersection(*({(r.item.src, r.item.tgt, r.item.id) for r in rs} for rs in records.values()))
    briefs = {name: behaviour_brief([r for r in rs if (r.item.src, r.item.tgt, r.item.id) in cells])
              for name, rs in records.items()}
    scored = [(r.item.src, r.item.tgt) for rs in records.values() for r in rs]  # the pairs in their files' order
    pairs = [pair_key(s, t) for s, t in dict.fromkeys(scored) if any(pair_key(s, t) in b["shares"] for b in briefs.values())]
    share_rows = [{"pair": pair, **{name: b["shares"].get(pair, float("nan")) for name, b in briefs.items()}}
                  for pair in pairs]
    share_rows.append({"pair": "all", **{name: b["semantic_pivot"] for name, b in briefs.items()}})
    t_star_rows = [{"lens": name, "items": b["items"], "t* = `1`": b["one"], "t* without a letter": b["letterless"],
                    "t* at layer 1–2": b["lowest_layers"], "mean peak layer": b["mean_peak_layer"],
                    "most frequent t* (items)": ", ".join(f"{token!r} {count}" for token, count in b["frequent"])}
                   for name, b in briefs.items()]
    return (f"Semantic-pivot share per pair\n\n{markdown_table(share_rows, digits=3)}\n\n"
            f"t* over all items\n\n{markdown_table(t_star_rows, digits=3)}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pivotlens.report.decoders", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tuned", type=Path, help="a tuned-lens directory: its held-out table")
    parser.add_argument("--figure", type=Path, help="draw the held-out KL / top-1 figure here (needs --tuned)")
    parser.add_argument("lens", nargs="*", metavar="NAME=LENS_DIR", help="`lens classify` output directories")
    args = parser.parse_args(argv)
    lens_dirs = {}
    for item in args.lens:
        name, sep, path = item.partition("=")
        if not sep:
            parser.error(f"{item!r}: write NAME=LENS_DIR")
        lens_dirs[name] = Path(path)
    if args.tuned:
        print(heldout_markdown(args.tuned))
        if args.figure:
            from pivotlens.plots.figures import plot_decoder_agreement

            rows = json.loads((args.tuned / "heldout.json").read_text())["heldout"]
            plot_decoder_agreement(rows, args.figure, f"held-out agreement with the final layer ({args.tuned.name})")
    if lens_dirs:
        print(behaviours_markdown(lens_dirs))


if __name__ == "__main__":
    main()
