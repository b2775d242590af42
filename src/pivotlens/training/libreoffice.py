"""The ``libreoffice`` parallel set: en/fr/ja/zh segments aligned through LibreOffice's translation
catalogues (MPL-2.0), built on demand from the Debian source package.

Source: the ``libreoffice_*.orig-translations.tar.xz`` tarball of Debian's ``libreoffice`` *source*
package, fetched with ``apt-get source --download-only libreoffice`` through a private ``deb-src``
entry (its own ``Dir::Etc::SourceParts`` and ``Dir::State::Lists``, after an ``apt-get update`` with
the same options; the mirror and suite are the system's own Debian entry), so nothing of the
system's apt state changes. It holds ``translations/source/{lang}/**/*.po``: per catalogue entry the
English source (``msgid``) and its translation (``msgstr``); the UI strings (``messages.po``) and
the help pages (``helpcontent2``), the UI strings of the configuration (``officecfg``).

Alignment: entries are matched on (catalogue path, ``msgctxt``, ``msgid``) across the fr, ja and
zh-CN catalogues; a segment is kept when it is translated (non-empty, not fuzzy, not obsolete, no
plural forms) in all three. Cleaning, in every language: help markup (``<ahelp>``, ``<link>``,
``<emph>``, …) is stripped to its text and entities decoded; the product-name placeholders
(``%PRODUCTNAME``, ``$[officename]``) become "LibreOffice"; menu accelerators are removed (``(~R)``,
``(_R)`` after CJK labels, ``~`` and, in UI catalogues, the GTK mnemonic ``_``); whitespace is
collapsed. A segment still holding a placeholder (``%1``, ``%s``, ``%OBJECT_NAME%``, ``$(ARG1)``,
``$1``, ``{0}``, ``$[officeversion]``, …) in any language is dropped, as is one whose cleaned text
is empty in any language. Duplicates are dropped on the English text (the first in (catalogue,
context) order is kept).

Files (``$PIVOTLENS_CACHE/parallel/libreoffice-{version}/``): ``segments.jsonl`` (every aligned
segment: id, en, fr, ja, zh, catalogue, kind ui/help), ``sentences.jsonl`` (the sentence-level
subset: English of 4 to 60 words ending in . ! ? or :, in id order), ``manifest.json`` (source,
licence, tarball sha256, counts of every filter and of the aligned pairs). ``--parallel
libreoffice[:SEED]`` reads ``sentences-seed{SEED}.jsonl``: the sentences in a seeded random order
(seed 0 by default), so the first k are the shots and ``--limit N`` evaluates a seeded random
sample of N.
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import re
import shutil
import subprocess
import tarfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pivotlens.artifacts import cache_root, file_sha256, write_atomic
from pivotlens.errors import PivotlensError

NAME = "libreoffice"
SOURCE_PACKAGE = "libreoffice"
LICENCE = "MPL-2.0"
CATALOGUE_LANGUAGES = {"fr": "fr", "ja": "ja", "zh": "zh-CN"}  # pivotlens code → LibreOffice's directory
LANGUAGES = ("en", *CATALOGUE_LANGUAGES)

_TAG = re.compile(r"<[^<>]*>")
_PRODUCT = re.compile(r"%PRODUCTNAME\b|\$\[officename\]")
_ACCELERATOR_SUFFIX = re.compile(r"\s*[（(]\s*[~_&][^\s()（）]\s*[）)]")
_GTK_MNEMONIC = re.compile(r"_(?=[^\s_])")
_PLACEHOLDER = re.compile(r"%[A-Za-z_][A-Za-z0-9_]*%|%[A-Za-z]+\b|%\d|\$\(?[A-Za-z]*\d+\)?|\$\[\w+\]|\{\w*\}|#\d|"
                          r"\$[A-Z_]{2,}\$?|\\[nt]|\bSTR_[A-Z]")
_SENTENCE_END = re.compile(r"[.!?:]$")


def clean(text: str, ui: bool) -> str | None:
    """The text of a catalogue string, or None when it holds a placeholder."""
    text = _TAG.sub("", text)
    text = html.unescape(text)
    text = _PRODUCT.sub("LibreOffice", text)
    text = _ACCELERATOR_SUFFIX.sub("", text).replace("~", "")
    if ui:
        text = _GTK_MNEMONIC.sub("", text)
    if _PLACEHOLDER.search(text):
        return None
    return " ".join(text.split())


def is_sentence(english: str) -> bool:
    return 4 <= len(english.split()) <= 60 and bool(_SENTENCE_END.search(english))


# ---- fetching ---------------------------------------------------------------------------------

def _system_debian_source() -> tuple[str, str]:
    """(mirror URI, suite) of the system's first Debian ``deb`` entry with the main component."""
    entries = []
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(line.split(":", 1) for line in stanza.splitlines() if ":" in line and not line.startswith("#"))
            fields = {k.strip(): v.strip() for k, v in fields.items()}
            if "deb" in fields.get("Types", "").split() and "main" in fields.get("Components", "").split():
                entries.append((fields["URIs"].split()[0], fields["Suites"].split()[0]))
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[0] == "deb" and "main" in parts[3:]:
                entries.append((parts[1], parts[2]))
    debian = [entry for entry in entries if "debian" in entry[0] and "security" not in entry[0]]
    if not debian:
        raise PivotlensError("no Debian 'deb … main' entry in /etc/apt: give the tarball with --tarball "
                             "(libreoffice_*.orig-translations.tar.xz of Debian's libreoffice source package)")
    return debian[0]


def fetch_translations_tarball(work_dir: Path, log: Callable[[str], None] = print) -> Path:
    """``apt-get source --download-only libreoffice`` with a private deb-src entry; returns the
    translations tarball (the other downloaded files are deleted)."""
    if shutil.which("apt-get") is None:
        raise PivotlensError("apt-get is not available: give the tarball with --tarball")
    uri, suite = _system_debian_source()
    work_dir.mkdir(parents=True, exist_ok=True)
    parts, lists, download = work_dir / "sources.list.d", work_dir / "lists", work_dir / "download"
    for directory in (parts, lists / "partial", download):
        directory.mkdir(parents=True, exist_ok=True)
    (parts / "pivotlens-deb-src.sources").write_text(
        f"Types: deb-src\nURIs: {uri}\nSuites: {suite}\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    options = ["-o", f"Dir::Etc::SourceParts={parts}", "-o", "Dir::Etc::SourceList=/dev/null",
               "-o", f"Dir::State::Lists={lists}", "-o", f"Dir::Cache={work_dir / 'cache'}"]
    for step, command, where in (("apt-get update", ["apt-get", *options, "update"], work_dir),
                                 ("apt-get source", ["apt-get", *options, "source", "--download-only", SOURCE_PACKAGE],
                                  download)):
        log(f"{step} (deb-src {suite})…")
        run = subprocess.run(command, cwd=where, capture_output=True, text=True)
        if run.returncode != 0:
            raise PivotlensError(f"{step} failed (exit {run.returncode}):\n{(run.stdout + run.stderr)[-1500:]}")
    tarballs = sorted(download.glob(f"{SOURCE_PACKAGE}_*.orig-translations.tar.xz"))
    if not tarballs:
        raise PivotlensError(f"apt-get source {SOURCE_PACKAGE} brought no *.orig-translations.tar.xz")
    for other in download.iterdir():
        if other not in tarballs:
            other.unlink()
    return tarballs[-1]


# ---- building ---------------------------------------------------------------------------------

def _read_catalogues(tarball: Path, progress: Callable[[int], None] | None) -> dict[str, dict[tuple, str]]:
    """Per language directory: (catalogue path, msgctxt, msgid) → msgstr, translated entries only."""
    import polib

    wanted = {directory: f"translations/source/{directory}/" for directory in CATALOGUE_LANGUAGES.values()}
    found: dict[str, dict[tuple, str]] = {directory: {} for directory in wanted}
    with tarfile.open(tarball, "r|xz") as archive:
        for member in archive:
            if not (member.isfile() and member.name.endswith(".po")):
                continue
            directory = next((d for d, prefix in wanted.items() if member.name.startswith(prefix)), None)
            if directory is None:
                continue
            catalogue = member.name[len(wanted[directory]):]
            content = archive.extractfile(member).read().decode("utf-8")
            for entry in polib.pofile(content):
                if entry.translated() and not entry.msgid_plural and entry.msgid:
                    found[directory][(catalogue, entry.msgctxt or "", entry.msgid)] = entry.msgstr
            if progress:
                progress(1)
    return found


def build(tarball: Path, out_dir: Path, progress: Callable[[int], None] | None = None) -> dict:
    """Align, clean and dedupe the catalogues of ``tarball`` into ``out_dir``; returns the manifest."""
    version = re.sub(r"^libreoffice_|\.orig-translations\.tar\.xz$", "", tarball.name)
    catalogues = _read_catalogues(tarball, progress)
    by_language = {code: catalogues[directory] for code, directory in CATALOGUE_LANGUAGES.items()}
    keys = sorted(set.intersection(*(set(entries) for entries in by_language.values())))
    pairs = {f"en-{code}": len(entries) for code, entries in by_language.items()}
    dropped: Counter = Counter()
    seen: set[str] = set()
    segments = []
    for catalogue, context, msgid in keys:
        ui = catalogue.endswith("messages.po")
        texts = {"en": clean(msgid, ui), **{code: clean(by_language[code][(catalogue, context, msgid)], ui)
                                            for code in CATALOGUE_LANGUAGES}}
        if any(text is None for text in texts.values()):
            dropped["placeholder"] += 1
            continue
        if not all(texts.values()):
            dropped["empty after cleaning"] += 1
            continue
        if texts["en"] in seen:
            dropped["duplicate English"] += 1
            continue
        seen.add(texts["en"])
        key = hashlib.sha256(f"{catalogue}\x00{context}\x00{msgid}".encode()).hexdigest()[:12]
        kind = "help" if catalogue.startswith("helpcontent2/") else "ui"
        segments.append({"id": f"lo-{key}", **texts, "catalogue": catalogue, "kind": kind})
    sentences = sorted((s for s in segments if is_sentence(s["en"])), key=lambda s: s["id"])
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "segments.jsonl", "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in segments))
    write_atomic(out_dir / "sentences.jsonl", "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in sentences))
    manifest = {
        "name": NAME, "licence": LICENCE, "licence_note": "LibreOffice translations, Mozilla Public License 2.0",
        "source": f"Debian source package {SOURCE_PACKAGE} {version}: {tarball.name}",
        "tarball_sha256": file_sha256(tarball), "languages": {"en": "msgid", **CATALOGUE_LANGUAGES},
        "translated_entries_per_pair": pairs, "translated_in_all_four": len(keys), "dropped": dict(dropped),
        "segments": len(segments), "segments_by_kind": dict(Counter(s["kind"] for s in segments)),
        "sentences": len(sentences),
    }
    write_atomic(out_dir / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
    return manifest


def default_dir() -> Path:
    return cache_root() / "parallel"


def built_dir(root: Path | None = None) -> Path | None:
    """The newest built set under ``root``, if any."""
    built = sorted((root or default_dir()).glob(f"{NAME}-*/manifest.json"))
    return built[-1].parent if built else None


def ensure_built(root: Path | None = None, tarball: Path | None = None, log: Callable[[str], None] = print) -> Path:
    """The built set's directory, building it first (fetching the tarball with apt) when missing."""
    root = root or default_dir()
    if tarball is None and (existing := built_dir(root)) is not None:
        return existing
    if tarball is None:
        tarball = fetch_translations_tarball(root / "apt", log)
    version = re.sub(r"^libreoffice_|\.orig-translations\.tar\.xz$", "", tarball.name)
    out = root / f"{NAME}-{version}"
    log(f"building the {NAME} parallel set from {tarball.name} into {out} (about a minute)…")
    build(tarball, out)
    return out


def sentences_path(seed: int = 0, root: Path | None = None) -> Path:
    """``sentences-seed{seed}.jsonl`` of the built set (built first if needed): the sentences in a
    seeded random order."""
    directory = ensure_built(root)
    path = directory / f"sentences-seed{seed}.jsonl"
    if not path.is_file():
        lines = (directory / "sentences.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        random.Random(seed).shuffle(lines)
        write_atomic(path, "".join(lines))
    return path


def parse_spec(spec: str) -> int | None:
    """The seed of a ``libreoffice[:SEED]`` spec, or None for another spec."""
    match = re.fullmatch(rf"{NAME}(?::(\d+))?", spec)
    return None if match is None else int(match.group(1) or 0)
