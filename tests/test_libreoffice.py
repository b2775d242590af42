"""The libreoffice parallel set: alignment and cleaning on a hand-made translations tarball; the
real Debian source package in a slow test."""

import io
import json
import re
import tarfile

import pytest

from pivotlens.cli import main
from pivotlens.training.libreoffice import build, clean, ensure_built, parse_spec
from pivotlens.training.translation import parallel_path, read_parallel

UI, HELP = "sw/messages.po", "helpcontent2/source/text/swriter/01.po"
# (catalogue, msgctxt, msgid, {lang dir: msgstr}, flags); "" = untranslated
ENTRIES = [
    (UI, "find|replace", "_Replace", {"fr": "_Remplacer", "ja": "置換(_R)", "zh-CN": "替换(_R)"}, ""),
    (UI, "STR_TEXT_CONTRAST", "Text contrast is too low.",
     {"fr": "Le contraste du texte est trop faible.", "ja": "テキストのコントラストが低すぎます。",
      "zh-CN": "文本对比度太低。"}, ""),
    (UI, "STR_NO_ALT", "No alt text for graphic '%OBJECT_NAME%'",
     {"fr": "Pas de texte alternatif pour l'image « %OBJECT_NAME% »", "ja": "画像 '%OBJECT_NAME%' に代替テキストがない",
      "zh-CN": "图形“%OBJECT_NAME%”无替代文本"}, ""),
    (UI, "STR_CLOSE", "~Close window", {"fr": "~Fermer la fenêtre", "ja": "ウィンドウを閉じる(~C)", "zh-CN": "关闭窗口(~C)"}, ""),
    (UI, "STR_UNTRANSLATED", "Only in French", {"fr": "Seulement en français", "ja": "", "zh-CN": "只有法语"}, ""),
    (UI, "STR_FUZZY", "A fuzzy one", {"fr": "Un flou", "ja": "あいまい", "zh-CN": "模糊"}, "zh-CN"),
    (HELP, "par_id1", '<ahelp hid=".uno:PrintPreview">Displays a preview of the <emph>printed</emph> page.</ahelp>',
     {"fr": '<ahelp hid=".uno:PrintPreview">Affiche un aperçu de la page <emph>imprimée</emph>.</ahelp>',
      "ja": '<ahelp hid=".uno:PrintPreview">印刷される<emph>ページ</emph>のプレビューを表示します。</ahelp>',
      "zh-CN": '<ahelp hid=".uno:PrintPreview">显示<emph>打印</emph>页面的预览。</ahelp>'}, ""),
    (HELP, "par_id2", "Exit %PRODUCTNAME.", {"fr": "Quitter %PRODUCTNAME.", "ja": "%PRODUCTNAME を終了します。",
                                            "zh-CN": "退出 %PRODUCTNAME。"}, ""),
    (HELP, "par_id3", "Text contrast is too low.",
     {"fr": "Contraste trop faible.", "ja": "コントラストが低い。", "zh-CN": "对比度低。"}, ""),
    (HELP, "par_id4", "Fish &amp; chips &lt;here&gt;",
     {"fr": "Poisson &amp; frites", "ja": "魚とポテト", "zh-CN": "炸鱼薯条"}, ""),
]


def _po(entries) -> bytes:
    lines = ['msgid ""', 'msgstr ""', '"Content-Type: text/plain; charset=UTF-8\\n"', ""]
    for context, msgid, msgstr, fuzzy in entries:
        quote = lambda text: json.dumps(text, ensure_ascii=False)  # noqa: E731 - PO strings escape like JSON here
        lines += (["#, fuzzy"] if fuzzy else []) + [f"msgctxt {quote(context)}", f"msgid {quote(msgid)}",
                                                    f"msgstr {quote(msgstr)}", ""]
    return "\n".join(lines).encode("utf-8")


@pytest.fixture()
def tarball(tmp_path):
    path = tmp_path / "libreoffice_9.9.9.orig-translations.tar.xz"
    with tarfile.open(path, "w:xz") as archive:
        for directory in ("fr", "ja", "zh-CN"):
            for catalogue in (UI, HELP):
                rows = [(ctx, msgid, strings[directory], flag == directory)
                        for cat, ctx, msgid, strings, flag in ENTRIES if cat == catalogue]
                data = _po(rows)
                info = tarfile.TarInfo(f"translations/source/{directory}/{catalogue}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        extra = _po([("x", "Only a French catalogue", "Seulement un catalogue français", False)])
        info = tarfile.TarInfo("translations/source/fr/extras/messages.po")
        info.size = len(extra)
        archive.addfile(info, io.BytesIO(extra))
    return path


def test_segments_are_aligned_cleaned_and_deduplicated(tarball, tmp_path):
    manifest = build(tarball, tmp_path / "set")
    segments = [json.loads(line) for line in (tmp_path / "set" / "segments.jsonl").read_text().splitlines()]
    texts = {s["en"]: (s["fr"], s["ja"], s["zh"]) for s in segments}
    assert texts == {
        "Replace": ("Remplacer", "置換", "替换"),
        # the first in (catalogue, context) order: the help page's, before sw/messages.po's
        "Text contrast is too low.": ("Contraste trop faible.", "コントラストが低い。", "对比度低。"),
        "Close window": ("Fermer la fenêtre", "ウィンドウを閉じる", "关闭窗口"),
        "Displays a preview of the printed page.": ("Affiche un aperçu de la page imprimée.",
                                                    "印刷されるページのプレビューを表示します。", "显示打印页面的预览。"),
        "Exit LibreOffice.": ("Quitter LibreOffice.", "LibreOffice を終了します。", "退出 LibreOffice。"),
        "Fish & chips <here>": ("Poisson & frites", "魚とポテト", "炸鱼薯条"),  # escaped text is text
    }
    assert manifest["translated_entries_per_pair"] == {"en-fr": 11, "en-ja": 9, "en-zh": 9}
    assert manifest["translated_in_all_four"] == 8
    assert manifest["dropped"] == {"placeholder": 1, "duplicate English": 1}
    assert manifest["licence"] == "MPL-2.0" and "libreoffice 9.9.9" in manifest["source"]
    assert {s["en"]: s["kind"] for s in segments}["Exit LibreOffice."] == "help"
    sentences = [json.loads(line)["en"] for line in (tmp_path / "set" / "sentences.jsonl").read_text().splitlines()]
    assert sorted(sentences) == ["Displays a preview of the printed page.", "Text contrast is too low."]


def test_cleaning_rules():
    assert clean("Re_place", ui=True) == "Replace" and clean("CHAR_NAME", ui=False) == "CHAR_NAME"
    assert clean("置き換え (~R)", ui=False) == "置き換え" and clean("Column (A)", ui=False) == "Column (A)"
    assert clean("十六进制(_#):", ui=True) == "十六进制:" and clean("underline (_)", ui=False) == "underline (_)"
    assert clean("Hex _#:", ui=True) == "Hex #:"
    assert clean("$[officename] Writer", ui=False) == "LibreOffice Writer"
    for placeholder in ("Page %1 of %2", "Copy %s", "$(ARG1) failed", "{0} items", "Version $[officeversion]"):
        assert clean(placeholder, ui=True) is None


def test_chrf_reads_the_built_set_in_a_seeded_order(tarball, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIVOTLENS_CACHE", str(tmp_path / "cache"))
    assert main(["parallel", "libreoffice", "--tarball", str(tarball)]) == 0
    assert "kept 6 segments (2 sentences)" in capsys.readouterr().out
    assert ensure_built() == tmp_path / "cache" / "parallel" / "libreoffice-9.9.9"
    pairs = read_parallel("libreoffice", "en", "zh")
    assert sorted((p.source, p.target) for p in pairs) == [("Displays a preview of the printed page.", "显示打印页面的预览。"),
                                                           ("Text contrast is too low.", "对比度低。")]
    assert read_parallel("libreoffice:0", "en", "zh") == pairs
    assert parallel_path("libreoffice:3").name == "sentences-seed3.jsonl"
    assert parse_spec("libreoffice") == 0 and parse_spec("libreoffice:7") == 7 and parse_spec("udhr") is None


@pytest.mark.slow
def test_the_debian_source_package_aligns_hand_picked_segments(tmp_path):
    """Fetches libreoffice's translations tarball with apt-get source (≈ 600 MB) and builds the set."""
    directory = ensure_built(tmp_path)
    segments = {}
    for line in (directory / "segments.jsonl").read_text(encoding="utf-8").splitlines():
        segment = json.loads(line)
        segments[segment["en"]] = (segment["fr"], segment["ja"], segment["zh"])
    assert segments["Text contrast is too low."] == ("Le contraste du texte est trop faible.",
                                                      "テキストのコントラストが低すぎます。", "文本对比度太低。")
    assert segments["Avoid footnotes."] == ("Éviter les notes de bas de page.", "脚注を避ける。", "不要使用脚注。")
    assert segments["Print Preview"] == ("Aperçu avant impression", "印刷プレビュー", "打印预览")
    assert segments["Cancel"] == ("Annuler", "キャンセル", "取消")
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["segments"] > 30_000 and manifest["sentences"] > 10_000
    accelerator = re.compile(r"~|[（(][~_]\S[）)]")  # "(_)" is text: underline in a help page
    assert not any(accelerator.search(text) for texts in segments.values() for text in texts)
