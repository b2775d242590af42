"""report.md and a self-contained report.html (figures embedded) for a run directory."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from markdown_it import MarkdownIt

from pivotlens.artifacts import library_versions
from pivotlens.errors import PivotlensError
from pivotlens.options import dump_yaml, load_yaml
from pivotlens.pipeline import stage_summaries
from pivotlens.tables import escape_markdown

EMBEDDED_IMAGE = "data:image/png;base64,"

MECHANICS_NOTE = (
    "These numbers come from the embedded default: a 270M-parameter model with 4-bit quantized weights "
    "(dequantized to fp32), a 36-word hand-written CLWTD sample and a small bundled corpus. They check that "
    "the mechanics of the study work end to end; they are not a replication of the paper. For a real study "
    "run e.g. `pivotlens run my.yaml` with `model: Qwen/Qwen2.5-0.5B` (or OLMo-1B-hf), `dataset: clwtd` and "
    "your pre-training corpus; the project's docs/results.md shows the measurement study on the full CLWTD "
    "(configs/study.yaml)."
)


def _facts_line(facts: dict) -> str:
    shown = []
    for key, value in facts.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        shown.append(f"{escape_markdown(key.replace('_', ' '))}: **{escape_markdown(value)}**")
    return " · ".join(shown)


def _run_config(run_dir: Path) -> dict:
    return load_yaml((run_dir / "config.yaml").read_text(encoding="utf-8"), str(run_dir / "config.yaml"))


def report_markdown(run_dir: Path, config: dict | None = None) -> str:
    config = config or _run_config(run_dir)
    parts = [f"# pivotlens report: {escape_markdown(config['model'])}", ""]
    if config.get("model") == "gemma-3-270m" and config.get("dataset") == "sample":
        parts += [f"> {MECHANICS_NOTE}", ""]
    for stage, state in stage_summaries(run_dir):
        summary = state.get("summary") or {}
        parts += [f"## {stage.title[0].upper()}{stage.title[1:]}  ({stage.name}, {state.get('seconds', 0):.0f} s)", ""]
        if summary.get("facts"):
            parts += [_facts_line(summary["facts"]), ""]
        if summary.get("notes"):
            parts += [escape_markdown(summary["notes"]), ""]
        for table in summary.get("tables", []):
            parts += [f"**{escape_markdown(table['title'])}**", "", table["markdown"], ""]
        for figure in summary.get("figures", []):
            title = escape_markdown(figure["title"])
            parts += [f"![{title}]({figure['path']})", "", f"*{title}*", ""]
    parts += ["## Configuration", "", "```yaml", dump_yaml(config).strip(),
              "```", "", "## Versions", "", "```json", json.dumps(library_versions(), indent=1), "```", ""]
    return "\n".join(parts)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, 'Noto Sans', 'Noto Sans CJK JP', sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 100%; border: 1px solid #eee; }}
blockquote {{ background: #fff8e1; border-left: 4px solid #f0b400; margin: 1em 0; padding: 0.5em 1em; }}
pre {{ background: #f6f8fa; padding: 0.8em; overflow-x: auto; }}
</style></head>
<body>
{body}
<script>
// Marks the page once every figure has loaded, so a headless browser can check the rendering.
window.addEventListener("load", () => {{
  const images = Array.from(document.images);
  document.body.dataset.figures = images.length;
  document.body.dataset.figuresRendered = images.filter(img => img.complete && img.naturalWidth > 0).length;
}});
</script>
</body></html>
"""


def _embed_images(markdown_text: str, run_dir: Path) -> str:
    """Swap figure paths for data: URIs so the HTML is one self-contained file. Only PNG files inside
    the run directory are embedded."""
    root = run_dir.resolve()
    for line in markdown_text.split("\n"):
        if line.startswith("![") and line.endswith(")") and "](" in line:
            path = line[line.rindex("](") + 2 : -1]
            figure = (run_dir / path).resolve()
            if not figure.is_relative_to(root) or figure.suffix != ".png" or not figure.is_file():
                raise PivotlensError(f"report figure {path!r} is not a PNG file inside {run_dir}")
            data = base64.b64encode(figure.read_bytes()).decode()
            markdown_text = markdown_text.replace(f"]({path})", f"]({EMBEDDED_IMAGE}{data})")
    return markdown_text


def render_html(markdown_text: str) -> str:
    """Markdown to HTML with raw HTML off and no link or image but an embedded PNG: what reaches the
    page is either our markup or escaped text."""
    renderer = MarkdownIt("js-default")  # tables, fenced code; html=False
    renderer.validateLink = lambda url: url.startswith(EMBEDDED_IMAGE)
    return renderer.render(markdown_text)


def write_report(run_dir: str | Path) -> tuple[Path, Path]:
    run_dir = Path(run_dir)
    config = _run_config(run_dir)
    text = report_markdown(run_dir, config)
    md_path = run_dir / "report.md"
    md_path.write_text(text, encoding="utf-8")
    body = render_html(_embed_images(text, run_dir))
    title = html.escape(f"pivotlens report: {config['model']}")
    html_path = run_dir / "report.html"
    html_path.write_text(PAGE.format(title=title, body=body), encoding="utf-8")
    return md_path, html_path
