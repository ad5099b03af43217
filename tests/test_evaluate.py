"""Evaluation on real components: a tiny CNN trained on coloured squares, converted to float and int8 .tflite
(conftest's ``tiny_models``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, TINY_CLASSES as CLASSES, TINY_SIZE as SIZE
from edgetl.errors import EdgetlError

def _non_blank_png(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG"
        arr = np.asarray(im.convert("RGB"))
    assert arr.std() > 5 and len(np.unique(arr.reshape(-1, 3), axis=0)) > 10, path
    return im.size


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg and "Traceback" not in msg
    return msg


def test_class_folders_report_and_artefacts(tiny_models, tmp_path):
    from edgetl.evaluate import evaluate, format_report

    out = tmp_path / "eval"
    report = evaluate(tiny_models["float"], tiny_models["tree"] / "test", out_dir=out, progress=False)
    assert report["model"]["kind"] == "tflite" and report["split"] is None
    assert report["count"] == 40 and report["top1"] >= 0.9
    assert report["classes"] == CLASSES and set(report["per_class"]) == set(CLASSES)
    cm = np.asarray(report["confusion"])
    assert cm.shape == (4, 4) and cm.sum() == 40 and (cm.sum(axis=1) == 10).all()
    assert json.loads((out / "evaluation.json").read_text())["top1"] == report["top1"]
    for name in ("confusion_matrix.png", "misclassified.png", "selective.png"):
        _non_blank_png(out / name)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # atomic writes left nothing behind
    text = format_report(report)
    assert "top-1" in text and "red" in text and "selective.png" in text


def test_class_names_matched_by_name_and_subset(tiny_models, tmp_path):
    """A folder with only some classes, listed in another order, still lands in the model's label rows."""
    import shutil

    from edgetl.evaluate import evaluate

    data = tmp_path / "subset"
    for cls in ("red", "blue"):
        shutil.copytree(tiny_models["tree"] / "test" / cls, data / cls)
    report = evaluate(tiny_models["int8"], data, progress=False, limit=12)
    cm = np.asarray(report["confusion"])
    assert cm.shape == (4, 4) and report["count"] == 12
    assert cm[CLASSES.index("red")].sum() + cm[CLASSES.index("blue")].sum() == 12
    assert cm[CLASSES.index("green")].sum() == 0


def test_tree_manifest_and_run_folder_agree(tiny_models):
    from edgetl.evaluate import evaluate

    by_tree = evaluate(tiny_models["int8"], tiny_models["tree"], split="test", progress=False)
    by_run = evaluate(tiny_models["int8"], tiny_models["run"], split="test", progress=False)
    by_manifest = evaluate(tiny_models["run"], tiny_models["run"] / "split.json", split="val", progress=False)
    keras_default = evaluate(tiny_models["run"], progress=False)  # a run folder evaluates its own test split
    assert by_tree["split"] == by_run["split"] == "test" and by_manifest["split"] == "val"
    assert by_tree["count"] == by_run["count"] == keras_default["count"] == 40 and by_manifest["count"] == 16
    assert by_tree["confusion"] == by_run["confusion"]
    assert keras_default["model"]["kind"] == "keras" and keras_default["top1"] >= 0.9


def test_compare_int8_with_float_and_keras(tiny_models):
    from edgetl.evaluate import evaluate, format_report

    report = evaluate(tiny_models["int8"], tiny_models["tree"] / "test", compare=tiny_models["float"], progress=False)
    c = report["compare"]
    assert c["agreement"] >= 0.9 and c["top1_model"] == report["top1"]
    assert c["accuracy_diff"] == pytest.approx(round((c["top1_model"] - c["top1_compare"]) * 100, 2))
    vs_keras = evaluate(tiny_models["float"], tiny_models["run"], compare=tiny_models["run"], progress=False)
    assert vs_keras["compare"]["model"]["kind"] == "keras"
    assert vs_keras["compare"]["agreement"] == 1.0 and vs_keras["compare"]["max_prob_diff"] < 1e-3
    assert "agreement" in format_report(report)


def _answers(right: int, wrong: int) -> dict:
    """selective() at 0.55 and 0.9 over `right` confident right answers, `wrong` confident wrong ones, and 50
    unsure answers (3 of them wrong)."""
    from edgetl.metrics import selective

    y = np.array([0] * (right + wrong + 50))
    probs = np.zeros((y.size, 2), np.float32)
    probs[:right] = [0.95, 0.05]
    probs[right:right + wrong] = [0.05, 0.95]
    probs[right + wrong:] = [0.6, 0.4]
    probs[right + wrong:right + wrong + 3] = [0.4, 0.6]
    return selective(y, probs, thresholds=[0.55, 0.9], target_precision=0.995)


def test_a_threshold_is_trusted_only_if_one_more_wrong_answer_would_not_break_the_target():
    def pick(right: int, wrong: int) -> float | None:
        return _answers(right, wrong)["threshold"]

    assert pick(199, 0) == 0.9  # 199 / 200
    assert pick(198, 0) is None  # 198 / 199 < 99.5 %, although every answer was right
    assert pick(461, 1) == 0.9  # 461 / 463
    assert pick(508, 2) is None  # 99.6 % as measured, 508 / 511 < 99.5 % with one more wrong
    assert pick(2000, 0) == 0.55  # enough answers to trust the lower threshold despite its 3 wrong ones


def test_an_untrusted_card_takes_the_lowest_threshold_that_reaches_the_target_as_measured():
    """Export's fallback: more cautious than a device's generic 0.8, and none when too few answers reach it."""
    from edgetl.metrics import measured_threshold

    def both(right: int, wrong: int) -> tuple:
        sel = _answers(right, wrong)
        return sel["threshold"], measured_threshold(sel)

    assert both(198, 0) == (None, 0.9)  # 198 / 198 right as measured
    assert both(508, 2) == (None, 0.9)  # 508 / 510 = 99.6 %
    assert both(461, 1) == (0.9, 0.9)  # the trusted rule and the measured one agree here
    assert both(300, 2) == (None, None)  # 99.3 % at 0.9, and the unsure answers pull 0.55 lower still
    assert both(60, 0) == (None, None)  # 60 answers at 0.9: fewer than the 100 needed


def test_the_card_takes_validations_threshold_but_never_below_the_floor():
    from edgetl.metrics import card_threshold

    assert card_threshold(_answers(2000, 0), floor=0.9) == (0.9, "floor", 0.55)  # validation alone trusts 0.55
    assert card_threshold(_answers(2000, 0), floor=0.5) == (0.55, "one more wrong answer", 0.55)
    assert card_threshold(_answers(2000, 0)) == (0.55, "one more wrong answer", 0.55)  # no floor
    assert card_threshold(_answers(199, 0), floor=0.9) == (0.9, "one more wrong answer", 0.9)  # at the floor: its own
    assert card_threshold(_answers(198, 0), floor=0.95) == (0.95, "floor", 0.9)  # as measured, then raised
    assert card_threshold(_answers(60, 0), floor=0.9) == (None, "as measured", None)  # nothing to raise: devices decide


def test_confident_mistakes_lists_spoken_wrong_answers_surest_first():
    """What export names when the card's rule trusts no threshold: silences and right answers are never listed."""
    from edgetl.metrics import confident_mistakes

    labels = ["10", "20", "200", "background"]
    truth = np.array([1, 1, 0, 1, 2, 0])
    probs = np.array([
        [0.02, 0.01, 0.97, 0.00],  # a 200 filed as 20: the surest mistake
        [0.10, 0.80, 0.10, 0.00],  # right
        [0.05, 0.90, 0.05, 0.00],  # a 10 read as 20
        [0.00, 0.00, 0.00, 0.00],  # gate silence: no answer, no mistake
        [0.03, 0.02, 0.05, 0.90],  # "no note": silent, not a mistake
        [0.30, 0.60, 0.10, 0.00],  # a 10 read as 20, less sure
    ], np.float32)
    paths = [f"p{i}.jpg" for i in range(len(truth))]
    worst = confident_mistakes(truth, probs, labels, paths, silent=[3])
    assert [(m["path"], m["filed_as"], m["said"]) for m in worst] == [
        ("p0.jpg", "20", "200"), ("p2.jpg", "10", "20"), ("p5.jpg", "10", "20")]
    assert worst[0]["confidence"] == pytest.approx(0.97)
    assert confident_mistakes(truth, probs, labels, paths, silent=[3], count=1) == worst[:1]
    assert confident_mistakes(truth[1:2], probs[1:2], labels, paths[1:2]) == []


def test_selective_curve_and_negatives(tiny_models, tmp_path):
    import shutil

    from edgetl.evaluate import evaluate, format_report

    # 40 photos cannot back 99.5 % (that takes 199 right answers in a row); 90 % is what they can show
    easy = evaluate(tiny_models["float"], tiny_models["tree"] / "test", negatives=[tiny_models["negatives"] / "scenes"],
                    out_dir=tmp_path / "o", progress=False, min_spoken=5, target_precision=0.9)
    sel = easy["selective"]
    thresholds = [r["threshold"] for r in sel["curve"]]
    assert thresholds == sorted(set(thresholds))
    cov = [r["coverage"] for r in sel["curve"]]
    assert all(a >= b for a, b in zip(cov, cov[1:]))  # coverage never grows with the threshold
    assert sel["threshold"] is not None and 0 < sel["coverage_at_threshold"] <= 1
    assert sel["silent_labels"] == ["background"]
    chosen = sel["curve"][thresholds.index(sel["threshold"])]
    assert chosen["precision"] >= sel["target_precision"] and chosen["coverage"] == sel["coverage_at_threshold"]
    neg = easy["negatives"]
    assert neg["count"] == 8 and easy["count"] == 40  # negatives stay out of top-1 and the confusion matrix
    assert neg["false_announcements"] == neg["curve"][thresholds.index(sel["threshold"])]["false_announcements"]
    _non_blank_png(tmp_path / "o" / "selective.png")

    # yellow squares look like red notes: every announced one is a wrong spoken answer
    hard = evaluate(tiny_models["float"], tiny_models["tree"] / "test", negatives=[tiny_models["negatives"]], progress=False)
    neg = hard["negatives"]
    assert neg["count"] == 16 and sum(neg["top1_predictions"].values()) == 16
    fa = [r["false_announcements"] for r in neg["curve"]]
    assert all(a >= b for a, b in zip(fa, fa[1:])) and fa[0] > 0
    for row, n_fa in zip(hard["selective"]["curve"], fa):
        assert row["wrong"] >= n_fa
    if hard["selective"]["threshold"] is None:
        assert neg["false_announcements"] is None and "should not speak" in format_report(hard)
    else:
        assert neg["false_announcements"] == fa[[r["threshold"] for r in neg["curve"]].index(hard["selective"]["threshold"])]
    assert hard["mistakes"]["count"] >= fa[0] and hard["mistakes"]["worst"][0]["true"] == "none"

    # the same negatives as a class folder named like a negatives set
    data = tmp_path / "with_neg"
    shutil.copytree(tiny_models["tree"] / "test", data)
    shutil.copytree(tiny_models["negatives"], data / "negatives")
    again = evaluate(tiny_models["float"], data, progress=False)
    assert again["negatives"]["curve"] == neg["curve"] and again["negatives_classes"] == ["negatives"]


def test_gallery_renders_mistakes_and_no_mistakes(tmp_path):
    from edgetl import gallery

    rng = np.random.default_rng(0)
    items = [{"image": rng.integers(0, 255, (40, 40, 3), dtype=np.uint8), "true": "20", "predicted": "50",
              "confidence": c} for c in (0.4, 0.97, 0.6)]
    w_many, h_many = _non_blank_png(gallery.misclassified(items, tmp_path / "m.png", total=30))
    w_none, h_none = _non_blank_png(gallery.misclassified([], tmp_path / "none.png"))
    assert w_none > 300 and h_many > 150
    empty_sel = {"target_precision": 0.995, "curve": [], "threshold": None, "coverage_at_threshold": 0.0}
    _non_blank_png(gallery.selective_curve(empty_sel, tmp_path / "s.png"))


def test_bad_inputs_fail_with_one_line(tiny_models, tmp_path):
    import shutil

    from edgetl.card import ModelCard
    from edgetl.evaluate import evaluate, load_predictor

    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\x18\x00\x00\x00TFL3" + bytes(range(256)) * 4)
    not_tfl = tmp_path / "photo.tflite"
    not_tfl.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    for bad in (empty, corrupt, not_tfl, tmp_path / "missing.tflite", tmp_path / "model.onnx"):
        if bad.suffix == ".onnx":
            bad.write_bytes(b"x")
        with pytest.raises(EdgetlError) as exc:
            load_predictor(bad)
        _one_line(exc)
    with pytest.raises(EdgetlError) as exc:  # the float model's card does not describe the int8 file
        load_predictor(tiny_models["int8"], card=tiny_models["float"].with_suffix(".json"))
    assert "does not match" in _one_line(exc)
    no_card = tmp_path / "bare.tflite"
    shutil.copyfile(tiny_models["float"], no_card)
    with pytest.raises(EdgetlError) as exc:
        load_predictor(no_card)
    assert "card" in _one_line(exc)
    wrong_size = ModelCard.load(tiny_models["float"].with_suffix(".json"))
    wrong_size.input_size = 64
    with pytest.raises(EdgetlError) as exc:
        load_predictor(tiny_models["float"], card=wrong_size)
    _one_line(exc)
    with pytest.raises(EdgetlError) as exc:
        evaluate(tiny_models["float"], tmp_path / "nowhere", progress=False)
    _one_line(exc)
    with pytest.raises(EdgetlError) as exc:
        evaluate(tmp_path / "no_model.tflite", tiny_models["tree"] / "test", progress=False)
    _one_line(exc)
    unknown = tmp_path / "unknown"
    shutil.copytree(tiny_models["tree"] / "test" / "red", unknown / "red")
    shutil.copytree(tiny_models["negatives"] / "yellow", unknown / "purple")
    with pytest.raises(EdgetlError) as exc:
        evaluate(tiny_models["float"], unknown, progress=False)
    assert "purple" in _one_line(exc)
    with pytest.raises(EdgetlError) as exc:
        evaluate(tiny_models["float"], tiny_models["tree"], split="holdout", progress=False)
    _one_line(exc)


def test_tflite_evaluation_needs_no_tensorflow(tiny_models, tmp_path):
    """The device-side path (.tflite + card) runs with TensorFlow unimportable."""
    script = textwrap.dedent(f"""
        import json, sys
        sys.modules["tensorflow"] = None
        sys.modules["tf_keras"] = None
        from edgetl.evaluate import evaluate
        r = evaluate({str(tiny_models["int8"])!r}, {str(tiny_models["tree"] / "test")!r}, out_dir={str(tmp_path / "o")!r},
                     progress=False)
        print(json.dumps({{"top1": r["top1"], "count": r["count"]}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "EDGETL_PROGRESS": "0", "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["count"] == 40 and out["top1"] >= 0.9
    assert (tmp_path / "o" / "misclassified.png").is_file()


def test_a_gate_rejected_all_zero_output_is_silence_not_the_first_label(tiny_models, tmp_path):
    """A model without a background class says "no" by zeroing every score (the familiarity gate does so).

    Here a real .tflite keeps blue and green and zeroes its output for red photos. Counting those as the
    first label ("blue") would hand blue ten false answers; they are silence: missed, never announced.
    """
    import shutil

    import edgetl.tf_env  # noqa: F401
    from edgetl.card import ModelCard
    from edgetl.digest import sha256_file
    from edgetl.evaluate import SILENT_LABEL, evaluate
    from edgetl.tf_env import keras, tf

    k = keras()
    base = k.models.load_model(tiny_models["run"] / "model.keras", compile=False)
    probs = base.output
    refuse = k.layers.Dense(1, trainable=False, name="is_red")(probs)  # 1 for red, 0 otherwise, as a layer
    keep = k.layers.Activation("relu")(k.layers.Dense(1, trainable=False, name="keep")(refuse))
    gated = k.layers.Multiply()([k.layers.Dense(3, trainable=False, name="notes")(probs), keep])
    model = k.Model(base.input, gated)
    model.get_layer("is_red").set_weights([np.array([[0], [0], [0], [2.0]], np.float32), np.array([-1.0], np.float32)])
    model.get_layer("keep").set_weights([np.array([[-1e4]], np.float32), np.array([1.0], np.float32)])
    model.get_layer("notes").set_weights([np.eye(4, dtype=np.float32)[:, 1:], np.zeros(3, np.float32)])
    path = tmp_path / "no_background.tflite"
    path.write_bytes(tf().lite.TFLiteConverter.from_keras_model(model).convert())
    labels = ["blue", "green", "red"]
    ModelCard(name="no_background", model_file=path.name, labels=labels, input_size=SIZE, input_dtype="float32",
              quantization="float32", sha256=sha256_file(path), size_bytes=path.stat().st_size,
              normalization={"mean": 127.5, "std": 127.5}).save(path.with_suffix(".json"))
    data = tmp_path / "notes"
    for c in labels:
        shutil.copytree(tiny_models["tree"] / "test" / c, data / c)

    report = evaluate(path, data, progress=False)
    assert report["count"] == 30 and report["silent"] >= 8 and report["answered"] == 30 - report["silent"]
    assert report["per_class"]["red"]["silent"] == report["silent"] and report["per_class"]["red"]["recall"] == 0.0
    assert report["per_class"]["blue"]["precision"] == 1.0, report["per_class"]["blue"]  # not charged with red photos
    assert report["top1"] <= round(2 / 3, 4)
    assert {m["predicted"] for m in report["mistakes"]["worst"]} == {SILENT_LABEL}
    assert all(row["wrong"] == 0 for row in report["selective"]["curve"])  # silence is never a spoken wrong answer
