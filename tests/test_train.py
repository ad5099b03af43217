"""Training on real components: a real MobileNetV2, real images, a real HDF5 feature cache."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, SHARED_WEIGHTS, need_shared, run_cli
from edgetl.errors import EdgetlError

pytestmark = pytest.mark.slow


def test_run_folder_holds_every_artefact(tiny_run):
    run = tiny_run.run
    for name in ("model.keras", "labels.txt", "config.json", "metrics.json", "history.csv", "split.json",
                 "training_curves.png", "confusion_matrix.png"):
        assert (run / name).is_file(), name
    labels = (run / "labels.txt").read_text().split()
    assert labels == ["10", "20", "50", "100", "200", "500", "background"]
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["alpha"] == 0.35 and config["input"]["size"] == 96 and config["fine_tune_blocks"] == 1
    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("val", "test"):
        m = metrics[split]
        assert m["count"] > 0 and 0 <= m["top1"] <= 1
        assert set(m["per_class"]) == set(labels)
        assert np.asarray(m["confusion"]).sum() == m["count"]
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert {r["stage"] for r in rows} == {"head", "fine-tune"}
    for png in ("training_curves.png", "confusion_matrix.png"):
        with Image.open(run / png) as im:
            assert im.size[0] > 300 and im.getextrema() != ((255, 255), (255, 255), (255, 255), (255, 255))
    # no leftovers from training bookkeeping or atomic writes
    assert not (run / ".backup").exists()
    assert not [p for p in run.iterdir() if p.name.startswith(".") and p.name.endswith((".tmp", ".keras", ".json"))
                and p.name not in (".state.json",)]


def test_saved_model_reproduces_the_cached_pipeline(tiny_run):
    """model.keras on raw test images must give exactly the predictions measured from cached activations."""
    from edgetl.data.folders import read_manifest
    from edgetl.data.images import load_square
    from edgetl.train import backbones
    from edgetl.train.loading import load_run_model

    model = load_run_model(tiny_run.run)
    test = read_manifest(tiny_run.run / "split.json")["test"]
    images = np.stack([load_square(s.path, 96) for s in test.samples])
    probs = model.predict(backbones.to_model_input(images), verbose=0)
    top1 = float((probs.argmax(1) == np.array([s.label for s in test.samples])).mean())
    assert top1 == pytest.approx(tiny_run.metrics["test"]["top1"], abs=1e-3)


def test_feature_cache_is_hit_on_the_second_run(tmp_path, synth_data, tiny_run, tiny_config):
    from edgetl.train.trainer import train

    assert tiny_run.cache["backbone_images"] > 0
    again = train(synth_data, tmp_path / "again", replace(tiny_config, epochs=2, fine_tune_epochs=1), log=lambda m: None)
    assert again.cache["backbone_images"] == 0, "the backbone ran again although every view was cached"
    assert again.cache["hits"] == tiny_run.cache["hits"] + tiny_run.cache["misses"]
    # a different backbone config must not reuse those features
    other = train(synth_data, tmp_path / "other", replace(tiny_config, size=112, epochs=1, fine_tune_epochs=0), log=lambda m: None)
    assert other.cache["backbone_images"] > 0


def test_existing_run_is_never_silently_reused(tiny_run, synth_data, tiny_config):
    from edgetl.train.trainer import train

    with pytest.raises(EdgetlError, match="--resume"):
        train(synth_data, tiny_run.run, tiny_config)


def test_resume_skips_the_finished_head_stage(tmp_path, synth_data, tiny_config):
    from edgetl.train.trainer import train

    out = tmp_path / "resumable"
    train(synth_data, out, replace(tiny_config, epochs=2, fine_tune_epochs=1), log=lambda m: None)
    # Pretend it died during fine-tuning: the head is done, the final artefacts are not written yet.
    (out / "model.keras").unlink()
    state = json.loads((out / ".state.json").read_text())
    state.pop("done")
    (out / ".state.json").write_text(json.dumps(state))
    messages: list[str] = []
    result = train(synth_data, out, tiny_config, resume=True, log=messages.append)
    assert any("head stage already done" in m for m in messages)
    assert (out / "model.keras").exists() and result.metrics["test"]["count"] > 0


@pytest.mark.parametrize("case", ["missing", "one-class", "unreadable-class"])
def test_bad_data_gives_one_line_and_nonzero_exit(tmp_path, case):
    data = tmp_path / "data"
    if case == "one-class":
        (data / "10").mkdir(parents=True)
        Image.new("RGB", (64, 64), "red").save(data / "10" / "a.jpg")
    elif case == "unreadable-class":
        for cls in ("10", "20"):
            (data / cls).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (64, 64), (i * 40, 10, 10)).save(data / "10" / f"{i}.jpg")
            (data / "20" / f"{i}.jpg").write_bytes(b"not a jpeg at all")
    proc = run_cli("train", str(data), "--out", str(tmp_path / "run"), "--alpha", "0.35", "--size", "96",
                   "--weights", "none", "--cache", str(tmp_path / "cache"), "--epochs", "1")
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    expected = {"missing": "not found", "one-class": "at least 2", "unreadable-class": "no readable training image"}[case]
    assert expected in lines[0]


def test_fine_tune_rate_decays_to_zero_over_the_planned_steps():
    """Cosine starts at the configured rate, is at half of it half way, and ends at zero; constant never moves."""
    from edgetl.tf_env import keras
    from edgetl.train.config import TrainConfig
    from edgetl.train.trainer import fine_tune_rate

    k = keras()
    cosine = fine_tune_rate(k, TrainConfig(fine_tune_learning_rate=4e-4, fine_tune_schedule="cosine"), steps=100)
    assert [round(float(cosine(step)), 7) for step in (0, 50, 100, 150)] == [4e-4, 2e-4, 0.0, 0.0]
    assert fine_tune_rate(k, TrainConfig(fine_tune_learning_rate=4e-4), steps=100) == 4e-4  # the default


def test_weight_average_is_the_mean_of_every_step_from_its_epoch():
    """After fitting, the model holds the mean of its weights after each step of epochs 2-3, not the last step's."""
    from edgetl.tf_env import keras
    from edgetl.train.trainer import _WeightAverage

    k = keras()
    k.utils.set_random_seed(0)
    model = k.Sequential([k.Input((4,)), k.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=k.optimizers.SGD(0.5), loss="categorical_crossentropy")
    seen: list[list[np.ndarray]] = []

    class Record(k.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.epoch >= 1:
                seen.append([w.copy() for w in model.get_weights()])

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    messages: list[str] = []
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)).astype(np.float32), np.eye(3, dtype=np.float32)[rng.integers(0, 3, 40)]
    model.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0,
              callbacks=[Record(), _WeightAverage(k, model, start=2, log=messages.append).callback])
    assert len(seen) == 8  # 4 steps in each of epochs 2 and 3
    for got, *steps in zip(model.get_weights(), *seen):
        np.testing.assert_allclose(got, np.mean(steps, axis=0), rtol=1e-5, atol=1e-6)
        assert not np.allclose(got, steps[-1])
    assert messages == ["fine-tuned weights: the mean of 8 steps from epoch 2"]


def test_average_from_outside_the_fine_tuning_epochs_is_refused(tmp_path):
    proc = run_cli("train", str(tmp_path / "no-data-needed"), "--out", str(tmp_path / "run"), "--average-from", "16")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "--average-from" in lines[0] and "1-15" in lines[0], proc.stderr
    assert not (tmp_path / "run").exists()


def test_blend_puts_every_float_weight_on_the_line_to_the_probe():
    from edgetl.tf_env import keras
    from edgetl.train.trainer import blend

    k = keras()
    model = k.Sequential([k.Input((4,)), k.layers.Dense(3), k.layers.BatchNormalization(), k.layers.Dense(2)])
    probe = [w.copy() for w in model.get_weights()]
    rng = np.random.default_rng(1)
    tuned = [w + rng.normal(size=w.shape).astype(w.dtype) for w in probe]
    model.set_weights(tuned)
    blend(model, probe, 0.7)
    for got, t, p in zip(model.get_weights(), tuned, probe):
        np.testing.assert_allclose(got, 0.7 * t + 0.3 * p, rtol=1e-6, atol=1e-6)
        assert got.dtype == t.dtype
    blend(model, probe, 1.0)  # a share of 1 keeps what is there
    for got, t, p in zip(model.get_weights(), tuned, probe):
        np.testing.assert_allclose(got, 0.7 * t + 0.3 * p, rtol=1e-6, atol=1e-6)


def test_a_blended_run_says_so_and_records_its_share(tmp_path, synth_data, tiny_config):
    from edgetl.train.trainer import train

    messages: list[str] = []
    result = train(synth_data, tmp_path / "run", replace(tiny_config, fine_tune_share=0.6), log=messages.append)
    assert "final weights: 60% fine-tuned, 40% linear probe" in messages
    assert result.config["train"]["fine_tune_share"] == 0.6
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["fine_tune_share"] == 0.6


@pytest.mark.parametrize("share", ["0", "1.5"])
def test_fine_tune_share_outside_zero_to_one_is_refused(tmp_path, share):
    proc = run_cli("train", str(tmp_path / "no-data-needed"), "--out", str(tmp_path / "run"), "--fine-tune-share", share)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "--fine-tune-share" in lines[0], proc.stderr
    assert not (tmp_path / "run").exists()


def test_unknown_schedule_is_refused_before_any_work(tmp_path):
    proc = run_cli("train", str(tmp_path / "no-data-needed"), "--out", str(tmp_path / "run"), "--fine-tune-schedule", "linear")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "cosine or constant" in lines[0], proc.stderr
    assert not (tmp_path / "run").exists()


def test_weights_options_fail_clearly(tmp_path):
    from edgetl.train.backbones import build_classifier, resolve_weights

    with pytest.raises(EdgetlError, match="not found"):
        resolve_weights(str(tmp_path / "nope.h5"), 1.0, 96)
    if SHARED_WEIGHTS.exists():
        with pytest.raises(EdgetlError, match="same alpha"):
            build_classifier(3, alpha=0.35, size=96, weights=str(SHARED_WEIGHTS))


def test_mirrored_strategy_on_two_logical_cpus(tmp_path, synth_data, feature_cache):
    script = f"""
import os, json
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from edgetl.train.config import TrainConfig
from edgetl.train.trainer import train
r = train({str(synth_data)!r}, {str(tmp_path / 'mirrored')!r}, TrainConfig(alpha=0.35, size=96, weights="none",
          epochs=2, fine_tune=1, fine_tune_epochs=1, views=1, cache_dir={str(feature_cache)!r}), log=print)
print("DEVICES", r.config["devices"], r.metrics["test"]["count"])
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "MirroredStrategy" in proc.stdout
    assert "DEVICES 2" in proc.stdout


@pytest.mark.shared
def test_learns_real_banknotes_with_real_imagenet_weights(tmp_path, feature_cache):
    """Chance is 1/7; frozen random features get nowhere near this. Only real transfer learning does."""
    from edgetl.train.config import TrainConfig
    from edgetl.train.trainer import train

    data = need_shared("data", "inr-scans")
    weights = need_shared("weights", SHARED_WEIGHTS.name)
    config = TrainConfig(alpha=1.0, size=96, weights=str(weights), epochs=25, fine_tune=0, views=2,
                         cache_dir=str(feature_cache), seed=0)
    result = train(data, tmp_path / "real", config, log=lambda m: None)
    assert len(result.classes) == 7
    assert result.metrics["val"]["top1"] >= 0.90, result.metrics["val"]
    assert result.metrics["test"]["top1"] >= 0.90, result.metrics["test"]


@pytest.mark.slow
@pytest.mark.shared
def test_the_default_recipe_names_unseen_hand_held_notes(tmp_path, feature_cache):
    """The README's defaults (every option but the input size), on about 48 hand-held training photos a note plus a
    synthetic no-note folder, name hand-held photos the run never saw far above chance (1 in 7)."""
    from edgetl.data.folders import scan
    from edgetl.data.synth import make_dataset
    from edgetl.train.config import TrainConfig
    from edgetl.train.trainer import train

    handheld = need_shared("data", "inr-handheld")
    weights = need_shared("weights", SHARED_WEIGHTS.name)
    subset = tmp_path / "notes"
    photos = scan(handheld)
    for label, name in enumerate(photos.classes):
        (subset / name).mkdir(parents=True)
        for s in [s for s in photos.samples if s.label == label][::8][:60]:
            (subset / name / s.path.name).symlink_to(s.path)
    make_dataset(tmp_path / "no-note", per_class=30, size=128, seed=0, background_only=True, progress=False)
    config = TrainConfig(size=128, weights=str(weights), cache_dir=str(feature_cache))
    assert (config.strategy, config.fine_tune) == ("auto", -1)
    result = train([subset, tmp_path / "no-note"], tmp_path / "run", config, log=lambda m: None)
    test = result.metrics["test"]
    assert test["count"] >= 35
    assert test["top1"] >= 0.5, test  # chance is 1/7; a broken recipe stays near it


def test_weight_averaging_starts_at_epoch_3_unless_fine_tuning_is_shorter_or_it_is_set():
    from edgetl.train.config import TrainConfig

    assert TrainConfig().averaging_start() == 3
    assert TrainConfig(fine_tune_epochs=2).averaging_start() == 0  # a short schedule needs no second option
    assert TrainConfig(average_from=0).averaging_start() == 0
    assert TrainConfig(average_from=5, fine_tune_epochs=2).averaging_start() == 5  # refused later, with its value
