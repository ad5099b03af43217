"""The device side runs without TensorFlow: a real int8 .tflite through Classifier and the runner, in a
Python where ``import tensorflow`` (and tf_keras) fails.

Also home of the small "colour" model the runner tests share: a real int8 TFLite classifier (uint8 in,
uint8 out, built with TensorFlow's converter) whose answer is readable from the frame -- a mostly red
frame is the 10, a mostly green one the 20, anything else background -- so tests can script exactly what
the camera shows and know what must be said.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["10", "20", "background"]
GREY, RED, GREEN = (128, 128, 128), (0, 0, 255), (0, 255, 0)  # BGR, as a camera delivers


def build_colour_model(out_dir: Path, size: int = 32) -> Path:
    """Write ``colours_int8.tflite`` + its card into ``out_dir`` (once per session; reused after)."""
    out_dir = Path(out_dir)
    path = out_dir / "colours_int8.tflite"
    if path.is_file() and path.with_suffix(".json").is_file():
        return path
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    import tf_keras as keras

    from edgetl.card import ModelCard, sha256_file

    inp = keras.Input((size, size, 3))  # float RGB in [-1, 1], as edgetl's exported models expect
    dense = keras.layers.Dense(len(LABELS))
    model = keras.Model(inp, keras.layers.Softmax()(dense(keras.layers.GlobalAveragePooling2D()(inp))))
    # mean r, g, b -> logits for 10 / 20 / background: red beats the rest for the 10, green for the 20
    dense.set_weights([np.array([[10, -5, 0], [-5, 10, 0], [-5, -5, 0]], np.float32), np.array([0, 0, 3], np.float32)])
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(48):
            colour = rng.uniform(-1, 1, (1, 1, 1, 3)).astype(np.float32)
            yield [np.broadcast_to(colour, (1, size, size, 3)).copy()]

    def with_range():  # black and white first, so the uint8 input maps to [-1, 1] like a real export
        for value in (-1.0, 1.0):
            yield [np.full((1, size, size, 3), value, np.float32)]
        yield from representative()

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = with_range
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    blob = converter.convert()
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    ModelCard(name="colours_int8", model_file=path.name, labels=LABELS, input_size=size, input_dtype="uint8",
              quantization="int8", sha256=sha256_file(path), size_bytes=path.stat().st_size,
              background_label="background", announce_threshold=0.8).save(path.with_suffix(".json"))
    return path


def colour_video(path: Path, plan, fps: float = 30.0, size=(96, 72)) -> dict:
    """An mp4 of flat colours; ``plan`` = [(bgr, frames, label or None)]; returns make_video-style truth."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    segments, i = [], 0
    frame = np.empty((size[1], size[0], 3), np.uint8)
    for colour, n, label in plan:
        if label:
            segments.append({"label": label, "start_frame": i, "end_frame": i + n - 1})
        frame[:] = colour
        for _ in range(n):
            writer.write(frame)
            i += 1
    writer.release()
    truth = {"fps": fps, "frames": i, "segments": segments, "background_label": "background"}
    path.with_suffix(".json").write_text(json.dumps(truth))
    return truth


@pytest.fixture(scope="session")
def colour_model(tmp_path_factory) -> Path:
    return build_colour_model(tmp_path_factory.getbasetemp() / "colour-model")


BLOCK_TF = """
import sys
for name in ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization"):
    sys.modules[name] = None  # any import of these now raises ImportError
import json
import numpy as np
from edgetl.runtime import decide, interpreter, preprocess, runner, sources, speech, capture
from edgetl.runtime.interpreter import Classifier, runtime_module
from edgetl.runtime.runner import RunConfig, run

model, video = sys.argv[1], sys.argv[2]
clf = Classifier(model)
red = np.zeros((32, 32, 3), np.uint8); red[..., 0] = 255
green = np.zeros((32, 32, 3), np.uint8); green[..., 1] = 255
summary = run(RunConfig(model=model, source=video, no_speech=True, say_ready=False, handle_signals=False),
              log=lambda m: None)
print(json.dumps({
    "runtime": runtime_module()[1],
    "red": clf(red).tolist(), "green": clf(green).tolist(),
    "frames": summary.frames,
    "announced": [[a.frame, a.label] for a in summary.announcements],
    "tf_loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras", "keras") and sys.modules[m] is not None),
}))
"""


def test_runtime_runs_a_real_tflite_model_without_tensorflow(colour_model, tmp_path):
    video = tmp_path / "clip.mp4"
    colour_video(video, [(GREY, 10, None), (RED, 20, "10"), (GREY, 10, None), (GREEN, 20, "20")])
    proc = subprocess.run([sys.executable, "-c", BLOCK_TF, str(colour_model), str(video)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["tf_loaded"] == []
    assert result["runtime"] in ("ai_edge_litert", "tflite_runtime")
    assert int(np.argmax(result["red"])) == 0 and result["red"][0] > 0.9
    assert int(np.argmax(result["green"])) == 1 and result["green"][1] > 0.9
    assert result["frames"] == 60
    assert [label for _, label in result["announced"]] == ["10", "20"]
    assert 10 <= result["announced"][0][0] < 20 and 40 <= result["announced"][1][0] < 50


def test_importing_runtime_modules_does_not_import_tensorflow():
    code = ("import sys\n"
            "import edgetl.runtime.runner, edgetl.runtime.capture, edgetl.runtime.interpreter\n"
            "sys.exit(1 if any(m.split('.')[0] in ('tensorflow', 'tf_keras') for m in sys.modules) else 0)\n")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60).returncode == 0
