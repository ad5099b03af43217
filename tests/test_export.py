"""Export on a real trained run: real TFLite conversion, real LiteRT interpreter, real metadata bytes."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_agrees, run_cli

from android_assets import android_asset_names
from edgetl.card import ModelCard
from edgetl.errors import EdgetlError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(learned_export):
    return learned_export


@pytest.fixture(scope="module")
def held_out(learned_run):
    from edgetl.data.folders import read_manifest
    from edgetl.data.images import load_square

    parts = read_manifest(learned_run.run / "split.json")
    samples = parts["test"].samples + parts["val"].samples
    return np.stack([load_square(s.path, 128) for s in samples]), np.array([s.label for s in samples])


def test_int8_model_takes_raw_uint8_pixels_and_is_integer_only(exported):
    from ai_edge_litert.interpreter import Interpreter

    result, _, _ = exported
    report = result.files["int8"]["report"]
    interpreter = Interpreter(model_path=result.files["int8"]["model"])
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    assert inp["dtype"] == np.uint8 and tuple(inp["shape"]) == (1, 128, 128, 3)
    scale, zero = inp["quantization"]
    assert scale == pytest.approx(1 / 127.5, rel=1e-5) and zero in (127, 128)  # raw pixels -> MobileNetV2's [-1, 1]
    assert report["int8_only"] and report["float_tensors"] == 0
    # Google's reference int8 MobileNetV2's ops plus the familiarity gate's: quantize only at the two edges
    assert report["ops"].get("QUANTIZE", 0) == 2 and "DEQUANTIZE" not in report["ops"]
    gate_ops = {"SUB", "SUM", "MAXIMUM", "RSQRT", "SQUARED_DIFFERENCE", "REDUCE_MAX", "MUL", "LOGISTIC", "RESHAPE",
                "AVERAGE_POOL_2D", "L2_NORMALIZATION"}
    assert set(report["ops"]) <= {"QUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"} | gate_ops


def test_int8_agrees_with_the_float_model(exported, learned_run, held_out):
    from edgetl.runtime.interpreter import Classifier
    from edgetl.train import backbones
    from edgetl.train.loading import load_run_model

    from edgetl.export.gate import gated_model
    from edgetl.train.familiarity import GATE_FILE, Gate

    result, _, _ = exported
    images, _ = held_out
    net = load_run_model(learned_run.run)
    run_gate = Gate.load(learned_run.run / GATE_FILE)

    def float_model(quant):
        """What export converted: the run's gate with the thresholds its card records (int8: placed on int8's own similarities)."""
        gate = run_gate.with_thresholds(ModelCard.load(result.files[quant]["card"]).familiarity["thresholds"])
        return gated_model(net, gate, learned_run.classes, "background")

    float_probs = float_model("int8").predict(backbones.to_model_input(images), verbose=0)
    int8_probs = Classifier(result.files["int8"]["model"]).predict(images)
    assert_agrees(float_probs, int8_probs)
    float_probs = float_model("fp16").predict(backbones.to_model_input(images), verbose=0)
    fp16_probs = Classifier(result.files["fp16"]["model"]).predict(images)
    assert float((fp16_probs.argmax(1) == float_probs.argmax(1)).mean()) >= 0.95
    # fp16 weights move a score by ~0.01 typically; a photo on the gate's edge may move further, so the
    # bound is on nearly every photo, not the single worst (0.116 seen on an AVX-512 machine)
    drift = np.abs(fp16_probs - float_probs).max(axis=1)
    assert np.median(drift) < 0.02 and (drift < 0.1).mean() >= 0.95, (np.median(drift), (drift < 0.1).mean())


def test_labels_travel_in_standard_metadata_and_the_card(exported, learned_run):
    from edgetl.model_metadata import read_metadata

    result, out, _ = exported
    labels = (learned_run.run / "labels.txt").read_text().split()
    for quant in ("int8", "fp16"):
        blob = open(result.files[quant]["model"], "rb").read()
        meta = read_metadata(blob)
        assert meta["labels"] == labels and meta["output_files"] == ["labels.txt"]
        assert meta["input_names"] == ["image"] and meta["min_parser_version"] == "1.0.0"
        with zipfile.ZipFile(result.files[quant]["model"]) as archive:  # any zip reader finds the packed labels
            assert archive.read("labels.txt").decode().split() == labels
            assert archive.getinfo("labels.txt").compress_type == zipfile.ZIP_STORED
        card = ModelCard.load(result.files[quant]["card"])
        card.verify(result.files[quant]["model"])
        assert card.labels == labels and card.input_size == 128 and card.quantization == quant
        assert card.background_label == "background"
        assert card.accuracy["count"] > 0
    int8 = ModelCard.load(result.files["int8"]["card"])
    assert int8.input_dtype == "uint8" and int8.input_quantization["zero_point"] in (127, 128)
    from ai_edge_litert.interpreter import Interpreter

    out_scale, out_zero = Interpreter(model_path=result.files["int8"]["model"]).get_output_details()[0]["quantization"]
    assert int8.output_quantization == {"scale": pytest.approx(out_scale), "zero_point": out_zero}  # the file's own
    # probabilities 0..1 in 256 steps (softmax's 1/256, or the gate's calibrated range just under it)
    assert out_zero == 0 and 0.99 <= out_scale * 255 <= 1.0
    report = json.loads((out / f"{learned_run.run.name}_export_report.json").read_text())
    assert set(report["models"]) == {"int8", "fp16"}
    assert report["models"]["fp16"]["gpu_compatible"] in (True, False)
    surest = report["models"]["int8"]["confident_mistakes"]  # named so a photo in the wrong folder can be found
    assert surest["split"] == "val"
    for m in surest["worst"]:
        assert Path(m["path"]).is_file() and m["said"] != m["filed_as"] and {m["said"], m["filed_as"]} <= set(labels)
    confidences = [m["confidence"] for m in surest["worst"]]
    assert confidences == sorted(confidences, reverse=True)


def test_float_and_int8_exports_never_overwrite_each_other(exported):
    result, out, _ = exported
    files = {result.files[q][k] for q in result.files for k in ("model", "card")}
    assert len(files) == 4
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left behind"


def test_android_assets_are_exactly_what_the_app_reads(exported):
    _, _, assets = exported
    expected = set(android_asset_names().values())
    assert {p.name for p in assets.iterdir()} == expected
    card = json.loads((assets / "model_int8.json").read_text())
    assert card["model_file"] == "model_int8.tflite"
    ModelCard.load(assets / "model_int8.json").verify(assets / "model_int8.tflite")


def test_qat_then_int8_export(learned_run, tmp_path, held_out):
    """QAT starts at the float model's accuracy (BN folded, ranges initialised) and exports integer-only."""
    import shutil

    from edgetl.export.convert import export
    from edgetl.runtime.interpreter import Classifier
    from edgetl.train.qat import qat

    run = tmp_path / "run"
    shutil.copytree(learned_run.run, run)  # the shared run stays PTQ-only for the other tests
    metrics = qat(run, epochs=1, max_images=96, batch_size=16, log=lambda m: None)
    float_val = learned_run.metrics["val"]["top1"]
    assert metrics["val"]["top1"] >= float_val - 0.1, (metrics["val"]["top1"], float_val)  # 7 of 70 photos: CPU noise
    result = export(run, tmp_path / "models", ("int8",), name="learned-qat", log=lambda m: None)
    report = result.files["int8"]["report"]
    assert report["qat"] and report["int8_only"] and report["input"]["dtype"] == "uint8"
    assert report["ops"].get("QUANTIZE", 0) == 2 and "DEQUANTIZE" not in report["ops"]
    images, labels = held_out
    int8_top1 = float((Classifier(result.files["int8"]["model"]).predict(images).argmax(1) == labels).mean())
    held_float = learned_run.metrics["test"]["top1"]
    assert int8_top1 >= min(held_float, float_val) - 0.1, (int8_top1, held_float)  # broken QAT falls to chance


def test_bad_inputs_fail_with_one_line(tmp_path, exported):
    from edgetl.export.convert import export
    from edgetl.runtime.interpreter import Classifier

    with pytest.raises(EdgetlError, match="run folder not found"):
        export(tmp_path / "missing", tmp_path)
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    with pytest.raises(EdgetlError, match="empty"):
        Classifier(empty)
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(EdgetlError, match="not a TFLite"):
        Classifier(junk)
    result, _, _ = exported
    with pytest.raises(EdgetlError, match="does not match"):
        Classifier(result.files["int8"]["model"], card=result.files["fp16"]["card"])


@pytest.mark.parametrize("floor", ["1", "-0.1"])
def test_a_floor_outside_zero_to_one_is_refused(tmp_path, floor):
    proc = run_cli("export", str(tmp_path / "no-run-needed"), "--int8", "--out", str(tmp_path / "models"), "--min-threshold", floor)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "--min-threshold" in lines[0], proc.stderr
    assert not (tmp_path / "models").exists()
