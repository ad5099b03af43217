"""`edgetl predict`: real models (the tiny run, its int8 export), real images, the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgetl.card import ModelCard
from edgetl.predict import decide, predict

EDGETL = Path(sys.executable).with_name("edgetl")


@pytest.fixture(scope="module")
def int8_model(tiny_run, tmp_path_factory) -> Path:
    from edgetl.export.convert import export

    out = tmp_path_factory.mktemp("predict-models")
    export(tiny_run.run, out, ("int8",), log=lambda m: None)
    (model,) = out.glob("*_int8.tflite")
    return model


def edgetl(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(EDGETL), *map(str, args)], capture_output=True, text=True, timeout=300)


def _consistent(result: dict) -> None:
    """Each photo's verdict follows from its top answer, the threshold and the background label."""
    for p in result["predictions"]:
        best = p["top"][0]
        spoken = best["label"] != result["background"] and best["confidence"] >= result["threshold"]
        assert (p["announced"] == best["label"]) if spoken else (p["announced"] is None), p


@pytest.mark.slow  # exports the tiny run to int8 once (~30 s)
def test_cli_json_shows_the_cards_labels_and_all_probabilities(int8_model, synth_data):
    card = ModelCard.load(int8_model.with_suffix(".json"))
    proc = edgetl("predict", int8_model, synth_data / "10", synth_data / "background", "--top", len(card.labels), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["labels"] == card.labels and result["kind"] == "tflite"
    assert result["background"] == "background"
    assert len(result["predictions"]) == 28 and not result["unreadable"]  # 14 photos in each of the two folders
    for p in result["predictions"]:
        assert sorted(t["label"] for t in p["top"]) == sorted(card.labels)
        confidences = [t["confidence"] for t in p["top"]]
        assert confidences == sorted(confidences, reverse=True)
        assert sum(confidences) == pytest.approx(1.0, abs=0.03)  # uint8 output: steps of 1/256
    _consistent(result)


@pytest.mark.slow  # exports the tiny run to int8 once (~30 s)
def test_threshold_decides_what_is_announced(int8_model, synth_data):
    low = predict(int8_model, [synth_data / "20"], threshold=0.01).to_dict()
    high = predict(int8_model, [synth_data / "20"], threshold=1.0).to_dict()
    _consistent(low)
    _consistent(high)
    assert all(p["announced"] is None for p in high["predictions"] if p["top"][0]["confidence"] < 1.0)
    assert any(p["announced"] for p in low["predictions"] if p["top"][0]["label"] != "background")


@pytest.mark.slow  # exports the tiny run to int8 once (~30 s)
def test_text_output_and_the_default_top_three(int8_model, synth_data):
    photo = sorted((synth_data / "50").iterdir())[0]
    proc = edgetl("predict", int8_model, photo)
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith(str(photo)))
    assert line.count("%") == 3 and ("says" in line or "silent" in line)
    assert "1 image(s)" in proc.stdout


@pytest.mark.slow  # exports the tiny run to int8 once (~30 s)
def test_tflite_without_its_card_uses_metadata_labels_and_no_tensorflow(int8_model, synth_data, tmp_path):
    bare = tmp_path / "bare.tflite"
    shutil.copy(int8_model, bare)
    code = ("import sys, json; from edgetl.predict import predict; "
            f"r = predict({str(bare)!r}, [{str(synth_data / '100')!r}]); "
            "print(json.dumps({'labels': r.labels, 'n': len(r.predictions), 'source': r.threshold_source, "
            "'tf': 'tensorflow' in sys.modules}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["labels"] == ModelCard.load(int8_model.with_suffix(".json")).labels
    assert out["n"] == 14 and out["source"] == "default" and out["tf"] is False


def test_run_folder_and_keras_file_use_the_float_model(tiny_run, synth_data):
    labels = (tiny_run.run / "labels.txt").read_text().split()
    for model in (tiny_run.run, tiny_run.run / "model.keras"):
        result = predict(model, [synth_data / "200"], top=len(labels))
        assert result.kind == "keras" and result.labels == labels and len(result.predictions) == 14
        for p in result.predictions:
            assert sum(t["confidence"] for t in p.top) == pytest.approx(1.0, abs=1e-3)
        _consistent(result.to_dict())


@pytest.mark.slow  # exports the tiny run to int8 once (~30 s)
def test_unreadable_and_missing_files_are_listed_not_fatal(int8_model, synth_data, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(sorted((synth_data / "10").iterdir())[0], folder / "good.jpg")
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    (folder / "empty.png").write_bytes(b"")
    proc = edgetl("predict", int8_model, folder, tmp_path / "nowhere.jpg", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert [Path(p["path"]).name for p in result["predictions"]] == ["good.jpg"]
    assert len(result["unreadable"]) == 3 and "Traceback" not in proc.stderr
    assert any("nowhere.jpg" in u for u in result["unreadable"])


@pytest.mark.parametrize("bad", ["missing.tflite", "notes.txt", "fake.tflite"])
def test_a_bad_model_is_one_error_line_and_exit_2(bad, synth_data, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "fake.tflite").write_bytes(b"\0" * 64)
    proc = edgetl("predict", tmp_path / bad, synth_data / "10")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_an_all_zero_output_is_the_gates_silence():
    labels = ["10", "20", "background"]
    assert decide(np.zeros(3, np.float32), labels, 0.5, "background") == (None, "gate rejected")
    assert decide(np.array([0.1, 0.1, 0.8]), labels, 0.5, "background") == (None, "background")
    assert decide(np.array([0.6, 0.3, 0.1]), labels, 0.7, "background") == (None, "below threshold")
    assert decide(np.array([0.1, 0.8, 0.1]), labels, 0.7, "background") == ("20", "announced")
