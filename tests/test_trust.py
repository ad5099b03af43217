"""Trust: no code runs from a model file, exit codes tell the truth, two runs can share a feature cache.

Each test drives the real thing: the installed ``edgetl`` console script, real Keras/HDF5 files, real
TFLite models, two real processes on one cache, real signals. The one fake is a camera that dies for
good (there is no camera here to unplug), injected at the camera edge of an otherwise real run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgetl.errors import EdgetlError
from conftest import COLOUR_LABELS as LABELS, GREY, RED, build_colour_model

ROOT = Path(__file__).resolve().parents[1]
EDGETL = Path(sys.executable).with_name("edgetl")  # the console script pip installed beside this Python


def edgetl(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    assert EDGETL.is_file(), f"{EDGETL} missing: install the package (make install) so the console script exists"
    full_env = {**os.environ, "EDGETL_PROGRESS": "0", **(env or {})}
    return subprocess.run([str(EDGETL), *args], capture_output=True, text=True, env=full_env, cwd=cwd or ROOT,
                          timeout=timeout)


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


def tiny_images(root: Path, classes=("10", "20"), n: int = 3, size: int = 32) -> Path:
    for c, cls in enumerate(classes):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (size, size), (40 * i, 90 * c, 60)).save(root / cls / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory) -> Path:
    return build_colour_model(tmp_path_factory.mktemp("colour-model"))


# ---- 1. a model file never runs code ------------------------------------------------------------------


def _booby_trapped_run(folder: Path, marker: Path, fmt: str) -> Path:
    """A run folder whose model.keras holds a Lambda that creates ``marker`` when Keras rebuilds it."""
    from edgetl.tf_env import keras

    k = keras()
    trap = eval(f"lambda x: (open({str(marker)!r}, 'a').close(), x)[1]")  # noqa: S307 - the attack under test
    image = k.Input((8, 8, 3), name="image")
    x = k.layers.Lambda(trap, name="trap")(image)
    x = k.layers.GlobalAveragePooling2D(name="pool")(x)
    model = k.Model(image, k.layers.Dense(2, activation="softmax", name="classifier")(x))
    folder.mkdir(parents=True)
    if fmt == "hdf5":  # the legacy format under the zip's name: Keras would take its unsafe loader
        model.save(folder / "model.h5", save_format="h5")
        (folder / "model.h5").rename(folder / "model.keras")
    else:
        model.save(folder / "model.keras")
    marker.unlink()  # building the model ran the trap once; only a later load may create it again
    (folder / "labels.txt").write_text("10\n20\n")
    (folder / "config.json").write_text(json.dumps({"input": {"size": 8, "mean": 127.5, "std": 127.5}}))
    return folder


@pytest.mark.parametrize("fmt", ["hdf5", "zip"])
def test_model_keras_with_code_is_refused_and_never_runs(tmp_path, fmt):
    marker = tmp_path / "pwned"
    run = _booby_trapped_run(tmp_path / "run", marker, fmt)
    data = tiny_images(tmp_path / "data", size=8)
    for args in (("evaluate", str(run), str(data)), ("export", str(run), "--out", str(tmp_path / "models"))):
        proc = edgetl(*args)
        lines = error_lines(proc)
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
        assert str(run / "model.keras") in lines[0]
        assert not marker.exists(), f"`edgetl {args[0]}` ran code from {fmt} model.keras"


def test_weights_must_be_weights_only(tmp_path):
    from edgetl.tf_env import keras

    k = keras()
    model = k.Sequential([k.Input((4,)), k.layers.Dense(2)])
    model.save(tmp_path / "full.h5", save_format="h5")
    model.save(tmp_path / "full.keras")
    data = tiny_images(tmp_path / "data")
    for path in (tmp_path / "full.h5", tmp_path / "full.keras"):
        proc = edgetl("train", str(data), "--out", str(tmp_path / "run"), "--size", "96", "--alpha", "0.35",
                      "--weights", str(path), "--cache", str(tmp_path / "cache"))
        lines = error_lines(proc)
        assert proc.returncode == 2 and len(lines) == 1 and str(path) in lines[0] and "whole Keras model" in lines[0]


def test_our_own_weights_and_models_still_load(tmp_path):
    from edgetl.train import backbones
    from edgetl.train.loading import check_weights_file, load_keras_model

    shared = ROOT.parent / "shared" / "weights" / "mobilenet_v2_1.0_224_imagenet_from_coral_int8ptq_no_top.h5"
    if shared.exists():
        assert check_weights_file(shared) == shared
    model = backbones.create("mobilenet_v2", 3, 0.35, 96, None)
    model.save(tmp_path / "model.keras")
    assert load_keras_model(tmp_path / "model.keras").count_params() == model.count_params()


# ---- 2. exit codes through the console script -------------------------------------------------------------


def test_data_check_not_ready_exits_1(tmp_path):
    data = tiny_images(tmp_path / "data", classes=("10",))
    (data / "20").mkdir()
    (data / "20" / "a.jpg").write_bytes(b"not an image")
    proc = edgetl("data", "check", str(data))
    assert proc.returncode == 1 and "NOT READY" in proc.stdout and "Traceback" not in proc.stderr


def test_usage_and_user_errors_exit_2(tmp_path):
    assert edgetl("data", "check", "--bogus").returncode == 2
    proc = edgetl("data", "check", str(tmp_path / "missing"))
    assert proc.returncode == 2 and len(error_lines(proc)) == 1


@pytest.mark.slow
def test_export_strict_gate_that_finds_a_problem_exits_1(tiny_run, tmp_path):
    proc = edgetl("export", str(tiny_run.run), "--int8", "--output-type", "float32", "--strict", "--familiarity", "0",
                  "--calibration-count", "10", "--out", str(tmp_path / "models"))
    lines = error_lines(proc)
    assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: --strict:"), proc.stderr[-2000:]


DYING_CAMERA = """
import numpy as np
from edgetl.runtime import sources

class DyingCamera(sources.FrameSource):
    is_live = True
    name = "camera 0"

    def __init__(self):
        self.frames = 0

    def read(self, out=None):
        self.frames += 1
        if self.frames > 20:
            raise OSError("device unplugged")
        return np.full((48, 64, 3), 128, np.uint8)

sources.open_source = lambda *a, **k: DyingCamera()  # a camera that is lost for good, cannot be reopened
"""


def test_run_whose_source_fails_for_good_exits_nonzero(colour_model, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(DYING_CAMERA)
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = edgetl("run", "--model", str(colour_model), "--source", "0", "--no-speech", env=env, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "source failed" in proc.stdout and "cannot be reopened" in proc.stdout
    assert proc.returncode == 1  # systemd's Restart=on-failure restarts it


@pytest.mark.slow
def test_ctrl_c_during_train_exits_130_with_one_line(synth_data, tmp_path):
    argv = [str(EDGETL), "train", str(synth_data), "--out", str(tmp_path / "run"), "--alpha", "0.35", "--size", "96",
            "--weights", "none", "--epochs", "100000", "--patience", "100000", "--fine-tune", "0", "--views", "1",
            "--cache", str(tmp_path / "cache")]
    # A terminal's Ctrl-C reaches a program whose SIGINT is at its default. A suite started in the background by a
    # shell without job control (`bash -c 'make test' &`) ignores SIGINT, and exec would pass that on to edgetl.
    with_default_sigint = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
    proc = subprocess.Popen([sys.executable, "-c", with_default_sigint, *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "EDGETL_PROGRESS": "0", "EDGETL_ALLOW_RANDOM_INIT": "1"})
    seen = []
    try:
        for line in proc.stderr:  # wait until the head is training
            seen.append(line)
            if line.startswith("features:"):
                break
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    err = "".join(seen) + err
    assert proc.returncode == 130, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("interrupted:")]
    assert len(lines) == 1 and lines[0].endswith("(--resume continues)")
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


# ---- 3. no card: labels from the model's metadata, or refused ----------------------------------------------


def _red_then_grey_frames(folder: Path) -> Path:
    folder.mkdir()
    for i in range(12):
        colour = RED if 3 <= i < 9 else GREY
        Image.new("RGB", (64, 48), colour[::-1]).save(folder / f"{i:02d}.png")
    return folder


def test_model_without_card_uses_metadata_labels_or_is_refused(colour_model, tmp_path):
    from edgetl.export.metadata import ClassifierInfo, attach

    bare = tmp_path / "bare" / "colours.tflite"  # no card beside it, no labels inside
    bare.parent.mkdir()
    bare.write_bytes(colour_model.read_bytes())
    frames = _red_then_grey_frames(tmp_path / "frames")
    data = tiny_images(tmp_path / "data", classes=LABELS)
    for command in (("run", "--model", str(bare), "--source", str(frames), "--no-speech"),
                    ("evaluate", str(bare), str(data))):
        proc = edgetl(*command)
        lines = error_lines(proc)
        assert proc.returncode == 2 and len(lines) == 1 and "no labels in its metadata" in lines[0], proc.stderr

    labelled = tmp_path / "labelled" / "colours.tflite"
    labelled.parent.mkdir()
    info = ClassifierInfo(name="colours", description="", version="1", labels=LABELS, size=32, mean=127.5, std=127.5)
    labelled.write_bytes(attach(colour_model.read_bytes(), info))
    proc = edgetl("run", "--model", str(labelled), "--source", str(frames), "--no-speech", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert summary["labels"] == LABELS
    assert [a["label"] for a in summary["announcements"]] == ["10"]  # the grey frames are background: silence
    proc = edgetl("evaluate", str(labelled), str(data), "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["model"]["labels"] == LABELS, proc.stderr[-2000:]


# ---- 4. two processes, one feature cache --------------------------------------------------------------------

WRITER = """
import sys, time
import numpy as np
from edgetl.train.features import FeatureCache
with FeatureCache(sys.argv[1], (4,), {"k": 1}) as cache:
    if sys.argv[2] == "first":
        cache.add_many([f"first/{i}" for i in range(10)], np.ones((10, 4)))
        print("holding", flush=True)
        time.sleep(float(sys.argv[3]))
        cache.add_many([f"first/{i}" for i in range(10, 20)], np.ones((10, 4)))
    else:
        cache.add_many([f"second/{i}" for i in range(5)], np.full((5, 4), 2.0))
    print(len(cache.index), flush=True)
"""


def test_second_writer_waits_for_the_cache_and_nothing_is_lost(tmp_path):
    path = tmp_path / "cache" / "features.h5"
    argv = [sys.executable, "-c", WRITER, str(path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen([*argv, "first", "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert first.stdout.readline().strip() == "holding", first.stderr.read()
        second = subprocess.run([*argv, "second"], capture_output=True, text=True, env=env, timeout=60)
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0 and out.strip() == "20", err
    assert second.returncode == 0, second.stderr
    assert "in use by another edgetl run" in second.stderr and "waiting" in second.stderr
    assert second.stdout.strip() == "25"  # it saw all of the first run's features and added its own

    import h5py

    with h5py.File(path, "r") as h5:
        assert h5["data"].shape == (25, 4)


def test_really_corrupt_cache_is_replaced_and_a_failed_open_keeps_no_lock(tmp_path):
    from edgetl.train.features import FeatureCache

    path = tmp_path / "features.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # a write cut short
    with FeatureCache(path, (4,), {}) as cache:
        assert len(cache.index) == 0
        cache.add_many(["a"], np.zeros((1, 4)))
    with pytest.raises(EdgetlError, match="expected"):
        FeatureCache(path, (5,), {})  # another shape: refused, and the lock must be released with it

    def leaked(message: str):  # said after 3 s of waiting: fail instead of waiting forever
        raise AssertionError(f"the failed open kept the lock: {message}")

    with FeatureCache(path, (4,), {}, log=leaked) as cache:
        assert list(cache.index) == ["a"]


# ---- 5. --weights none is refused at the command line ------------------------------------------------------


def test_weights_none_is_refused_by_train_and_demo(tmp_path):
    data = tiny_images(tmp_path / "data")
    env = {"EDGETL_ALLOW_RANDOM_INIT": "0"}
    for args in (("train", str(data), "--out", str(tmp_path / "run"), "--weights", "none"),
                 ("demo", "--out", str(tmp_path / "demo"), "--weights", "none")):
        proc = edgetl(*args, env=env)
        lines = error_lines(proc)
        assert proc.returncode == 2 and len(lines) == 1 and "--weights none cannot learn" in lines[0]
    assert not (tmp_path / "run").exists() and not (tmp_path / "demo").exists()


@pytest.mark.slow
def test_random_init_features_collapse_which_is_why_it_is_refused(tiny_run):
    """The reason behind the refusal, measured: the random-init run answers one class for everything."""
    import csv

    with open(tiny_run.run / "predictions.csv", newline="") as fh:
        predicted = {row["predicted"] for row in csv.DictReader(fh)}
    assert len(predicted) == 1


# ---- 6. smaller holes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("field, value, expected", [
    ("normalization", None, "field 'normalization' must be"),
    ("labels", "10,20,background", "field 'labels' must be"),
    ("input_size", "32", "field 'input_size' must be a positive integer"),
    ("announce_threshold", 7, "field 'announce_threshold' must be"),
])
def test_bad_card_fields_are_one_error_line_each(colour_model, tmp_path, field, value, expected):
    card = json.loads(colour_model.with_suffix(".json").read_text())
    card[field] = value
    card["output_quantization"] = "wrong"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(card))
    frames = _red_then_grey_frames(tmp_path / "frames")
    for args in (("run", "--model", str(colour_model), "--card", str(bad), "--source", str(frames), "--no-speech"),
                 ("evaluate", str(colour_model), str(tmp_path), "--card", str(bad))):
        proc = edgetl(*args)
        lines = error_lines(proc)
        assert proc.returncode == 2 and len(lines) == 2, proc.stderr
        assert any(expected in line for line in lines) and any("field 'output_quantization'" in line for line in lines)
        assert all(str(bad) in line for line in lines)


def test_speak_cmd_never_turns_a_phrase_into_shell_code(tmp_path):
    from edgetl.runtime.speech import CommandEngine

    pwned, said = tmp_path / "pwned", tmp_path / "said.txt"
    phrase = f"500 rupees $(touch {pwned}); touch {pwned}"
    with pytest.raises(EdgetlError, match="must be an argument of its own"):
        CommandEngine(f"sh -c 'echo {{text}} > {said}'")
    CommandEngine(f"sh -c 'printf %s \"$1\" > {said}' _ {{text}}").speak(phrase)  # the documented safe form
    assert said.read_text() == phrase and not pwned.exists()


def test_resume_drops_temp_files_and_a_failed_start_is_not_a_run(tmp_path):
    from edgetl.train.trainer import STATE, prepare_run_dir

    run = tmp_path / "run"
    run.mkdir()
    (run / STATE).write_text('{"head_done": true}')
    (run / ".model.keras.k2j3h4l5.keras").write_bytes(b"")  # SIGKILL during the model.keras write
    (run / ".head.weights.h5").write_bytes(b"weights")
    prepare_run_dir(run, resume=True, force=False)
    assert sorted(p.name for p in run.iterdir()) == [".head.weights.h5", STATE]

    data = tiny_images(tmp_path / "data")
    failed = tmp_path / "failed"
    proc = edgetl("train", str(data), "--out", str(failed), "--size", "96", "--alpha", "0.35",
                  "--weights", str(tmp_path / "offline.h5"), "--cache", str(tmp_path / "cache"))
    assert proc.returncode == 2 and (failed / "split.json").exists()  # failed on the weights, after the split
    (tmp_path / "offline.h5").write_bytes(b"not hdf5")  # the corrected command gets past the folder check
    proc = edgetl("train", str(data), "--out", str(failed), "--size", "96", "--alpha", "0.35",
                  "--weights", str(tmp_path / "offline.h5"), "--cache", str(tmp_path / "cache"))
    lines = error_lines(proc)
    assert len(lines) == 1 and "already holds a run" not in lines[0] and "not an HDF5 weights file" in lines[0]
    (failed / "notes.txt").write_text("mine")  # a folder with files train did not write is still refused
    proc = edgetl("train", str(data), "--out", str(failed), "--weights", "imagenet")
    assert "holds other files and no run" in error_lines(proc)[0]


def test_self_symlink_is_listed_as_unreadable(tmp_path):
    data = tiny_images(tmp_path / "data", n=12, size=80)
    (data / "10" / "loop.jpg").symlink_to("loop.jpg")
    proc = edgetl("data", "check", str(data), "--json")
    report = json.loads(proc.stdout)
    assert [Path(u["path"]).name for u in report["unreadable"]] == ["loop.jpg"]

    from edgetl.data.folders import scan, split

    parts = split(scan(data), val=0.2, test=0.2)  # hashing it no longer raises; reading it reports it
    assert sum(len(p) for p in parts.values()) == 25


def test_sigterm_while_a_stalled_stream_opens_stops_cleanly(colour_model):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted = threading.Event()
    held = []

    def accept():  # accept the connection and never answer: the open stalls for its whole timeout
        conn, _ = server.accept()
        held.append(conn)
        accepted.set()

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/stream.mjpg"
    proc = subprocess.Popen([str(EDGETL), "run", "--model", str(colour_model), "--source", url, "--no-speech"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert accepted.wait(60), "the runner never connected"
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        waited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        server.close()
        for conn in held:
            conn.close()
    assert proc.returncode == 0, err[-2000:]
    assert "stopped: signal SIGTERM while opening the source" in out and "Traceback" not in err
    assert waited < 5  # not the 10 s open timeout
