import json

import pytest

from pivotlens.errors import PivotlensError
from pivotlens.languages import ALL_PAIRS, PAPER_LANGUAGES, pair_key
from pivotlens.records import BehaviourRecord, ItemScore, LensReadout, TranslationItem, write_behaviours, write_item_scores
from pivotlens.report.study import auc_brief, common_item_scores, curve_shape, lens_brief, main, study_markdown, symmetry


def _matrix(values: dict[tuple[str, str], float]) -> dict:
    return {s: {t: (None if s == t else values[(s, t)]) for t in PAPER_LANGUAGES} for s in PAPER_LANGUAGES}


def test_symmetry_of_a_symmetric_and_a_skewed_matrix():
    pairs = [(s, t) for i, s in enumerate(PAPER_LANGUAGES) for t in PAPER_LANGUAGES[i + 1:]]
    base = {pair: 0.1 * (k + 1) for k, pair in enumerate(pairs)}  # 0.1 … 0.6
    same = symmetry(_matrix({**base, **{(t, s): v for (s, t), v in base.items()}}))
    assert same.correlation == pytest.approx(1.0) and same.mean_abs_difference == 0.0
    # Every reverse direction 0.1 higher: |diff| = 0.1, overall mean = 0.35 + 0.05.
    skewed = symmetry(_matrix({**base, **{(t, s): v + 0.1 for (s, t), v in base.items()}}))
    assert skewed.correlation == pytest.approx(1.0)
    assert skewed.mean_abs_difference == pytest.approx(0.1)
    assert skewed.relative_asymmetry == pytest.approx(0.1 / 0.4)


def test_curve_shape_and_auc_brief(tmp_path):
    layers = [{"layer": i + 1, "mean": m, "random_mean": 0.01} for i, m in enumerate([0.001, 0.02, 0.05, 0.03])]
    shape = curve_shape({"layers": layers})
    assert (shape["peak_layer"], shape["rises_then_falls"], shape["layers_above_random"]) == (3, True, 3)
    assert shape["ratio_to_random_at_peak"] == pytest.approx(5.0)
    assert not curve_shape({"layers": layers[:3]})["rises_then_falls"]  # peak at the last layer
    (tmp_path / "auc.csv").write_text("pair,n,n_positive,auc,ci_low,ci_high\nen-fr,9,3,0.7,0.55,0.8\n"
                                      "fr-en,9,4,0.45,0.3,0.6\nzh-ja,9,9,nan,nan,nan\n")
    (tmp_path / "items.csv").write_text("pair,id,cooccurrence\nen-fr,a,0\nen-fr,b,3\nfr-en,a,0\n")
    assert auc_brief(tmp_path) == {"pairs": 2, "above_half": 1, "ci_above_half": 1, "mean_auc": pytest.approx(0.575),
                                   "items": 3, "never_cooccur": 2}


def _write_behaviours(run, pair, records):
    """Behaviour records of ``pair`` from (behaviour, pivot token, peak layer)."""
    folder = run / "lens" / "behaviours"
    folder.mkdir(parents=True, exist_ok=True)
    src, tgt = pair.split("-")
    def readout(token, layer):  # t* = token at ``layer`` of 16; a co-occurrence's t* is the source word
        tops = tuple(token or "word" if k == layer - 1 else "w" for k in range(16))
        relations = tuple("source" if token is None and k == layer - 1 else None for k in range(16))
        probabilities = tuple(0.5 if k == layer - 1 else 0.1 for k in range(16))
        return LensReadout(0, (7,) * 16, tops, probabilities, relations, 8, "mot", 0.4, True, {}, (1.0,) * 16)

    write_behaviours(folder / f"{pair}.jsonl", [
        BehaviourRecord(TranslationItem(f"w{i}", src, tgt, "word", "mot"), behaviour, 7, token or "w", layer, 0.5,
                        None if token is None else 7, token, (0.1, 0.2), "gold", 1, readout(token, layer))
        for i, (behaviour, token, layer) in enumerate(records)])


def test_lens_brief_counts_pivots_and_their_layers(tmp_path):
    pivot = lambda token, layer: ("semantic-pivot", token, layer)  # noqa: E731
    _write_behaviours(tmp_path, "en-fr", [pivot("1", 9), pivot("1", 10), ("co-occurrence", None, 3)])
    _write_behaviours(tmp_path, "fr-en", [pivot(" désir", 13), pivot("1", 9)])
    brief = lens_brief(tmp_path, top=2)
    assert (brief["items"], brief["semantic_pivot"], brief["share"]) == (5, 4, 0.8)
    assert brief["top_pivots"] == [("1", 3, [9, 10]), (" désir", 1, [13])]
    with pytest.raises(PivotlensError, match="run `pivotlens lens classify` first"):
        lens_brief(tmp_path / "empty")


def test_study_markdown_on_two_run_directories(tmp_path):
    runs = []
    for name, offset in (("small", 0.0), ("large", 0.1)):
        run = tmp_path / name
        (run / "score" / "items").mkdir(parents=True)
        (run / "pivot_curve").mkdir()
        (run / "auc").mkdir()
        values = {pair: 0.2 + offset for pair in ALL_PAIRS}
        (run / "score" / "matrix.json").write_text(json.dumps({"matrix": _matrix(values), "mean": 0.2 + offset}))
        (run / "score" / "manifest.json").write_text(json.dumps({"identity": {"model": name}}))
        for pair in ALL_PAIRS:
            scores = [ItemScore(TranslationItem(f"w{i}", *pair, "word", "mot"), ("a",), 0.2 + offset, ()) for i in range(3)]
            write_item_scores(run / "score" / "items" / f"{pair_key(*pair)}.jsonl", scores)
        layers = [{"layer": i + 1, "mean": m, "random_mean": 0.01} for i, m in enumerate([0.01, 0.04, 0.02])]
        (run / "pivot_curve" / "curve.json").write_text(json.dumps({"layers": layers}))
        (run / "auc" / "auc.csv").write_text("pair,n,n_positive,auc,ci_low,ci_high\nen-fr,9,3,0.6,0.51,0.7\n")
        (run / "auc" / "items.csv").write_text("pair,id,cooccurrence\nen-fr,w0,0\n")
        _write_behaviours(run, "en-fr", [("semantic-pivot", "a|b", 2)])
        runs.append(run)
    text = study_markdown(runs, common_items=2)
    assert "24 (pair, item) cells; mean difference **+0.1000**" in text  # 12 pairs × 2 items
    assert "12 of 12 pairs higher" in text
    assert "| small | 3 | 2 | 0.0400 | 0.0200 | yes | 4.0 | 2 |" in text
    assert "| small | 1 | 1 | 1.0000 | 'a\\|b' 1 (L2) |" in text  # a "|" in a token is escaped
    assert "| 0.600 | 1 of 1 |" in text
    with pytest.raises(PivotlensError, match="missing"):
        common_item_scores([tmp_path / "nowhere"], None)


def test_scores_only_compares_two_dataset_versions_on_shared_ids(tmp_path, capsys):
    # v1 scored w0, w1, w2; v2 scored w1, w2, w3 (w0 left, w3 is new): the pairs are w1 and w2.
    runs = []
    for name, ids, score in (("v1", (0, 1, 2), 0.3), ("v2", (1, 2, 3), 0.5)):
        run = tmp_path / name
        (run / "score" / "items").mkdir(parents=True)
        (run / "score" / "matrix.json").write_text(json.dumps({"matrix": _matrix({p: score for p in ALL_PAIRS}), "mean": score}))
        (run / "score" / "manifest.json").write_text(json.dumps({"identity": {"model": "m"}}))
        for pair in ALL_PAIRS:
            items = [ItemScore(TranslationItem(f"w{i}", *pair, "word", "mot"), ("a",), score + 0.01 * i, ()) for i in ids]
            write_item_scores(run / "score" / "items" / f"{pair_key(*pair)}.jsonl", items)
        runs.append(run)
    main([str(runs[0]), str(runs[1]), "--scores-only"])
    text = capsys.readouterr().out
    assert "### v2 − v1 on the items both scored" in text
    assert "24 (pair, item) cells; mean difference **+0.2000**" in text  # 12 pairs × {w1, w2}
