"""Shared fixtures: one tiny synthetic data set and one tiny trained run per test session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("EDGETL_PROGRESS", "0")
os.environ.setdefault("EDGETL_ALLOW_RANDOM_INIT", "1")  # plumbing tests drive `edgetl train --weights none`

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_WEIGHTS = SHARED / "weights" / "mobilenet_v2_1.0_224_imagenet_from_coral_int8ptq_no_top.h5"


def assert_agrees(reference: np.ndarray, probs: np.ndarray, overall: float = 0.8, decisive_margin: float = 0.25) -> None:
    """``probs`` (e.g. int8) names what ``reference`` (float) names, wherever the reference is decisive.

    The small learned fixture is unsure of about one photo in seven, and which photos those are depends on
    the CPU's float kernels (AVX2 and AVX-512 builds of oneDNN train slightly different models); there a
    quantized model may rightly pick the runner-up. So the bar is strict only where the reference's answer is
    clear of its runner-up, and loose overall. A broken conversion agrees at chance (about one in seven).
    """
    same = reference.argmax(1) == probs.argmax(1)
    assert same.mean() >= overall, f"agreement {same.mean():.3f} < {overall}"
    ranked = np.sort(reference, axis=1)
    decisive = ranked[:, -1] - ranked[:, -2] >= decisive_margin
    assert decisive.sum() >= len(same) // 3, f"only {decisive.sum()} of {len(same)} reference answers are decisive"
    assert same[decisive].mean() >= 0.97, f"agreement {same[decisive].mean():.3f} on {decisive.sum()} decisive answers"


def run_cli(*args: str, env: dict | None = None, timeout: int = 600):
    """``python -m edgetl.cli ARGS`` in a child process, as a user's shell runs it (no progress bars)."""
    import subprocess
    import sys

    full_env = {**os.environ, "EDGETL_PROGRESS": "0", **(env or {})}
    return subprocess.run([sys.executable, "-m", "edgetl.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=full_env, timeout=timeout)


def need_shared(*parts: str) -> Path:
    """Path inside ../shared, or skip the test with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: real photos and ImageNet weights come from ../shared beside the repo")
    return path


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory) -> Path:
    """Six denominations + background, 14 images each at 96 px (a couple of seconds to make)."""
    from edgetl.data.synth import make_dataset

    out = tmp_path_factory.mktemp("synth") / "notes"
    make_dataset(out, per_class=14, size=96, seed=1, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_config(feature_cache):
    from edgetl.train.config import TrainConfig

    return TrainConfig(alpha=0.35, size=96, weights="none", epochs=8, fine_tune=1, fine_tune_epochs=2, views=2,
                       batch_size=32, cache_dir=str(feature_cache), patience=20, seed=3)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, synth_data, tiny_config):
    """A trained alpha-0.35 / 96 px run (random weights): what export and runtime tests build on."""
    from edgetl.train.trainer import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    return train(synth_data, out, tiny_config, log=lambda m: None)


@pytest.fixture(scope="session")
def learned_run(tmp_path_factory, feature_cache):
    """A run that actually learned: ImageNet MobileNetV2 1.0 at 128 px on 100 synthetic images a class.

    The random-init ``tiny_run`` sits near chance, where float and int8 disagree on ties and a runner
    rightly stays silent, so export-agreement and end-to-end checks need real weights (~1 minute here).
    """
    if not SHARED_WEIGHTS.exists():
        pytest.skip(f"{SHARED_WEIGHTS} is absent: checks that need a model that learned use the ImageNet weights from ../shared")
    from edgetl.data.synth import make_dataset
    from edgetl.train.config import TrainConfig
    from edgetl.train.trainer import train

    root = tmp_path_factory.mktemp("learned")
    make_dataset(root / "notes", per_class=100, size=128, seed=1, progress=False)
    config = TrainConfig(alpha=1.0, size=128, weights=str(SHARED_WEIGHTS), epochs=30, fine_tune=3, fine_tune_epochs=8,
                         fine_tune_learning_rate=5e-4, views=3, batch_size=32, cache_dir=str(feature_cache), patience=20, seed=3)
    return train(root / "notes", root / "run", config, log=lambda m: None)


@pytest.fixture(scope="session")
def learned_export(learned_run, tmp_path_factory):
    """int8 + fp16 exports of ``learned_run`` with the familiarity gate asked for, and the Android assets copied out."""
    from edgetl.export.convert import export
    from edgetl.policy import DEFAULT_KEEP

    out = tmp_path_factory.mktemp("models")
    assets = tmp_path_factory.mktemp("android") / "assets"
    result = export(learned_run.run, out, ("int8", "fp16"), android=assets, familiarity=DEFAULT_KEEP, log=lambda m: None)
    return result, out, assets


# runtime fixtures
# The small "colour" model the device-side tests share: a real int8 TFLite classifier (uint8 in, uint8 out,
# built with TensorFlow's converter) whose answer is readable from the frame -- a mostly red frame is the 10,
# a mostly green one the 20, anything else background -- so tests can script exactly what the camera shows
# and know what must be said.

COLOUR_LABELS = ["10", "20", "background"]
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
    dense = keras.layers.Dense(len(COLOUR_LABELS))
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
    ModelCard(name="colours_int8", model_file=path.name, labels=COLOUR_LABELS, input_size=size, input_dtype="uint8",
              quantization="int8", sha256=sha256_file(path), size_bytes=path.stat().st_size,
              background_label="background", announce_threshold=0.8).save(path.with_suffix(".json"))
    return path


def colour_video(path: Path, plan, fps: float = 30.0, size=(96, 72)) -> dict:
    """An mp4 of flat colours; ``plan`` = [(bgr, frames, label or None)]; returns make_video-style truth."""
    import json

    import cv2

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
    """The colour model, built once per session (needs TensorFlow to build; never to run)."""
    return build_colour_model(tmp_path_factory.getbasetemp() / "colour-model")


# scoring/evaluate fixtures ----------------------------------------------------------------------------------
# A tiny CNN trained on coloured squares, exported to float and int8 .tflite with cards: evaluate, benchmark
# and scoring tests share one build per session (about half a minute).

TINY_CLASSES = ["background", "blue", "green", "red"]  # the order scan() gives them
TINY_SIZE = 32
TINY_COLOURS = {"red": (200, 30, 30), "green": (30, 170, 40), "blue": (30, 40, 200)}


def _tiny_photo(cls: str, rng: np.random.Generator) -> np.ndarray:
    """A non-square 'photo': a coloured square on grey for a note class, plain grey noise for background."""
    h, w = 40, 52
    img = np.full((h, w, 3), rng.integers(90, 170), dtype=np.int16)
    if cls in TINY_COLOURS:
        s = int(rng.integers(24, 36))
        y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        img[y : y + s, x : x + s] = TINY_COLOURS[cls]
    elif cls == "yellow":  # a hard negative: a colour the model never saw, close to red
        img[4:36, 8:44] = (210, 200, 30)
    elif cls == "scenes":  # an easy negative: a grey scene with a dark stripe
        img[:, 20:26] = 40
    img += rng.normal(0, 12, img.shape).astype(np.int16)
    return img.clip(0, 255).astype(np.uint8)


def _tiny_folder(root: Path, classes, per_class: int, rng) -> Path:
    from PIL import Image

    for cls in classes:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(_tiny_photo(cls, rng)).save(root / cls / f"{cls}_{i:02d}.jpg", quality=92)
    return root


def _build_tiny_models(root: Path) -> dict:
    """Data tree, negatives, a trained tf_keras run folder, float32 and int8 .tflite with cards."""
    import warnings

    import edgetl.tf_env  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
    from edgetl.atomic import write_json, write_text
    from edgetl.card import ModelCard
    from edgetl.digest import sha256_file
    from edgetl.data.folders import load_splits, write_manifest
    from edgetl.data.images import load_square
    from edgetl.tf_env import keras, tf

    tf_ = tf()
    k = keras()
    rng = np.random.default_rng(7)
    tree = root / "data"
    for split, n in (("train", 12), ("val", 4), ("test", 10)):
        _tiny_folder(tree / split, TINY_CLASSES, n, rng)
    negatives = _tiny_folder(root / "neg", ["yellow", "scenes"], 8, rng)
    parts = load_splits(tree)
    assert parts["train"].classes == TINY_CLASSES

    def arrays(part):
        x = np.stack([load_square(s.path, TINY_SIZE) for s in part.samples])
        return x, np.array([s.label for s in part.samples])

    x_train, y_train = arrays(parts["train"])
    x_rep, _ = arrays(parts["val"])
    k.utils.set_random_seed(0)
    inp = k.Input((TINY_SIZE, TINY_SIZE, 3))
    h = k.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
    h = k.layers.Conv2D(16, 3, strides=2, activation="relu")(h)
    h = k.layers.GlobalAveragePooling2D()(h)
    out = k.layers.Dense(len(TINY_CLASSES), activation="softmax")(h)
    model = k.Model(inp, out)
    model.compile(optimizer=k.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    model.fit((x_train.astype(np.float32) - 127.5) / 127.5, y_train, epochs=60, batch_size=16, verbose=0)

    run = root / "run"
    run.mkdir()
    model.save(run / "model.keras")
    write_text(run / "labels.txt", "\n".join(TINY_CLASSES) + "\n")
    write_json(run / "config.json", {"input": {"size": TINY_SIZE, "mean": 127.5, "std": 127.5, "layout": "NHWC RGB"}})
    write_manifest(parts, run / "split.json", seed=0)

    models = root / "models"
    models.mkdir()

    def convert(name: str, int8: bool) -> Path:
        conv = tf_.lite.TFLiteConverter.from_keras_model(model)
        if int8:
            conv.optimizations = [tf_.lite.Optimize.DEFAULT]
            conv.representative_dataset = lambda: ([((x[None].astype(np.float32) - 127.5) / 127.5)] for x in x_rep)
            conv.target_spec.supported_ops = [tf_.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf_.uint8
            conv.inference_output_type = tf_.uint8
        path = models / f"{name}.tflite"
        with warnings.catch_warnings():  # "Statistics for quantized inputs were expected": the representative set covers it
            warnings.simplefilter("ignore", UserWarning)
            path.write_bytes(conv.convert())
        ModelCard(name=name, model_file=path.name, labels=TINY_CLASSES, input_size=TINY_SIZE,
                  input_dtype="uint8" if int8 else "float32", quantization="int8" if int8 else "float32",
                  sha256=sha256_file(path), size_bytes=path.stat().st_size,
                  normalization={"mean": 127.5, "std": 127.5}).save(path.with_suffix(".json"))
        return path

    return {"root": root, "tree": tree, "negatives": negatives, "run": run, "float": convert("tiny_float", False),
            "int8": convert("tiny_int8", True)}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict:
    """Paths of the tiny squares models: "tree" (train/val/test), "negatives", "run", "float" and "int8" .tflite."""
    return _build_tiny_models(tmp_path_factory.mktemp("tinymodels"))
