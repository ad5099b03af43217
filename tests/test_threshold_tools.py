"""The recognition benchmarks' threshold tools: where the card's rule lands, and recipes compared at equal coverage.

They decide what is kept and dropped in BENCHMARKS.md, so their arithmetic is checked here on arrays whose answer
is known by construction.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import equal_coverage  # noqa: E402
import thresholds  # noqa: E402

LABELS = ["10", "20", "background"]


def _answers(pairs: list[tuple[int, int, float, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(truth, said, confidence, count) groups -> truth array and probability rows."""
    truth, probs = [], []
    for y, said, conf, count in pairs:
        row = np.full(len(LABELS), (1 - conf) / (len(LABELS) - 1), np.float32)
        row[said] = conf
        truth += [y] * count
        probs += [row] * count
    return np.array(truth), np.array(probs)


@pytest.fixture
def predictions() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """500 real validation notes right (300 at 0.865, 200 at 0.955) and 10 wrong at 0.505; three synthetic ones
    wrong at 0.885. The real mask marks the first 510. (Confidences sit between grid steps, clear of float32
    rounding.)"""
    y_val, p_val = _answers([(0, 0, 0.865, 300), (1, 1, 0.955, 200), (0, 1, 0.505, 10), (1, 0, 0.885, 3)])
    y_test, p_test = _answers([(0, 0, 0.935, 80), (1, 1, 0.875, 20), (2, 2, 0.99, 5)])
    y_neg, p_neg = _answers([(0, 1, 0.925, 1), (1, 0, 0.605, 2), (1, 2, 0.99, 4)])  # kinds: 0 Swedish, 1 scenes
    real = np.arange(len(y_val)) < 510
    return {"y_val": y_val, "p_val": p_val, "y_test": y_test, "p_test": p_test,
            "y_negatives": y_neg, "p_negatives": p_neg}, real


def test_the_card_rule_on_exports_grid_and_on_real_validation_only(predictions):
    pred, real = predictions
    grid = [round(t, 2) for t in np.arange(0.50, 0.9995, 0.01)]
    everything = thresholds.table(pred, LABELS, grid)
    # at 0.85: 503 spoken, 3 wrong -> 500/504 < 99.5 %; at 0.90: 200 right of 200 -> 200/201 >= 99.5 %
    assert everything["card_by_rule"] == 0.90 and everything["val_pictures"] == 513
    assert everything["threshold_by_rule"] == 0.89  # the finer grid: the three synthetic errors fall silent at 0.89
    real_only = thresholds.table(pred, LABELS, grid, val_rows=real)
    # without the synthetic errors, 0.55 is the first step of export's grid above the ten wrong answers at 0.505
    assert real_only["card_by_rule"] == 0.55 and real_only["val_pictures"] == 510
    assert real_only["rows"][0]["val_wrong"] == 10 and everything["rows"][0]["val_wrong"] == 13
    # the test and negatives columns do not depend on which validation pictures place the card
    strip = ("val_spoken", "val_wrong", "trusted")
    assert [{k: v for k, v in r.items() if k not in strip} for r in everything["rows"]] == \
           [{k: v for k, v in r.items() if k not in strip} for r in real_only["rows"]]
    at_90 = next(r for r in everything["rows"] if r["threshold"] == 0.90)
    assert at_90["test_coverage"] == 0.8 and at_90["test_precision"] == 1.0  # the 0.875 notes are silent
    assert at_90["sek-notes_announced"] == 1 and at_90["scenes_announced"] == 0  # no-note answers are never spoken
    assert everything["test_notes"] == 100 and everything["top1"] == 1.0


def test_equal_coverage_takes_the_highest_threshold_that_still_reaches(tmp_path):
    rows = [{"threshold": t, "test_coverage": c, "test_precision": p, "sek-notes_announced": s, "scenes_announced": n}
            for t, c, p, s, n in [(0.80, 0.92, 0.990, 9, 4), (0.85, 0.81, 0.996, 5, 2), (0.90, 0.64, 1.0, 1, 0)]]
    assert equal_coverage.at_coverage(rows, 0.80)["threshold"] == 0.85
    assert equal_coverage.at_coverage(rows, 0.60)["threshold"] == 0.90
    assert equal_coverage.at_coverage(rows, 0.95) is None
    doc = {"top1": 0.95, "best_coverage_at_99_5": 0.81, "rows": rows}
    for name in ("thresholds-A-lofo-x.json", "thresholds-A-lofo-x-valreal.json", "thresholds-B-holdout.json"):
        (tmp_path / name).write_text(json.dumps(doc))
    assert equal_coverage.main(["--results", str(tmp_path), "--at", "0.8", "0.95"]) == 0
    assert equal_coverage.main(["--results", str(tmp_path), "--at", "1.5"]) == 2
    lines = equal_coverage.table(sorted(tmp_path.glob("*lofo-x.json")), [0.8, 0.95])
    assert lines[2] == "| A-lofo-x | 95.0% | 81.0% | 5 / 2, 99.60% (0.85) | never |"


def test_equal_coverage_reads_each_model_once(tmp_path, capsys):
    doc = {"top1": 0.9, "best_coverage_at_99_5": 0.5, "rows": [{"threshold": 0.9, "test_coverage": 0.7,
            "test_precision": 1.0, "sek-notes_announced": 0, "scenes_announced": 0}]}
    for name in ("thresholds-A-lofo-x.json", "thresholds-A-lofo-x-valreal.json"):
        (tmp_path / name).write_text(json.dumps(doc))
    assert equal_coverage.main(["--results", str(tmp_path)]) == 0
    body = [line for line in capsys.readouterr().out.splitlines()[2:] if line]
    assert body == ["| A-lofo-x | 90.0% | 50.0% | 0 / 0, 100.00% (0.90) | 0 / 0, 100.00% (0.90) | never |"]


def test_ensemble_averages_answers_picture_by_picture(tmp_path, capsys):
    """Two models that each get a different note wrong, less surely than the other gets it right: their average
    is right on all four, and a Swedish note only one of them names drops below the threshold."""
    import ensemble

    y_test = np.array([0, 0, 1, 1])
    a = np.array([[0.9, 0.05, 0.05], [0.3, 0.65, 0.05], [0.05, 0.9, 0.05], [0.05, 0.9, 0.05]], np.float32)
    b = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.65, 0.3, 0.05], [0.05, 0.9, 0.05]], np.float32)
    y_neg = np.array([0, 1])  # one Swedish note, one scene
    neg_a = np.array([[0.92, 0.04, 0.04], [0.1, 0.1, 0.8]], np.float32)
    neg_b = np.array([[0.1, 0.1, 0.8], [0.1, 0.1, 0.8]], np.float32)
    models = []
    for name, p, n in (("a", a, neg_a), ("b", b, neg_b)):
        model = tmp_path / f"{name}_int8.tflite"
        model.write_bytes(f"model {name}".encode())  # never run: only its bytes key the saved outputs
        np.savez(f"{model}.views-1.npz", y_val=y_test, p_val=p, y_test=y_test, p_test=p, y_negatives=y_neg, p_negatives=n,
                 **thresholds.cache_key(model, None))
        (tmp_path / f"{name}_labels.txt").write_text("\n".join(LABELS) + "\n")
        models.append(str(model))
    assert ensemble.main(models + ["--at", "0.9"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "a_int8.tflite: top-1 75.0%, best 75.0% | at 0.90: 1 / 0"
    assert out[2] == "b_int8.tflite: top-1 75.0%, best 75.0% | at 0.90: 0 / 0"
    assert out[3] == "average of 2: top-1 100.0%, best 100.0% | at 0.90: 0 / 0"
    assert ensemble.main(models + ["--at", "0.9", "--without", "20"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("a_int8.tflite: top-1 75.0%, best 75.0%, top-1 without 20 50.0%")
    assert ensemble.main(models + ["--without", "5"]) == 2
    assert ensemble.main(models[:1]) == 2
    assert ensemble.main(models + [str(tmp_path / "unscored_int8.tflite")]) == 2
    assert "unscored_int8.tflite" in capsys.readouterr().err
    (tmp_path / "b_int8.tflite").write_bytes(b"model b, exported again")  # the saved outputs are now another file's
    assert ensemble.main(models) == 2
    assert "b_int8.tflite" in capsys.readouterr().err and thresholds.cached_predictions(tmp_path / "a_int8.tflite", 1) is not None
