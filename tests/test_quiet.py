"""Quiet by default: TensorFlow's and LiteRT's native notices stay off a user's terminal unless asked for."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EDGETL = Path(sys.executable).with_name("edgetl")  # the installed console script
NOISE = re.compile(r"^(I0000|E0000|W0000)|fully_quantize|Created TensorFlow Lite XNNPACK", re.M)


def _env(**extra: str) -> dict:
    """The environment a user has: none of the logging variables the test session sets for itself."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "EDGETL_VERBOSE", "_EDGETL_SET_TF_LOG")}
    env.update(EDGETL_ALLOW_RANDOM_INIT="1", **extra)
    return env


def _edgetl(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(EDGETL), *args], cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"edgetl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory, feature_cache):
    """synth -> train (random init, alpha 0.35, 96 px, 1 epoch) -> export --int8, as a user runs them."""
    work = tmp_path_factory.mktemp("quiet")
    cache = str(feature_cache)
    steps = [
        _edgetl(work, "synth", "data", "--per-class", "8", "--size", "96"),
        _edgetl(work, "train", "data", "--out", "run", "--weights", "none", "--alpha", "0.35", "--size", "96",
                "--epochs", "1", "--fine-tune-epochs", "0", "--views", "1", "--batch-size", "16", "--cache", cache),
        _edgetl(work, "export", "run", "--int8", "--out", "models"),
    ]
    return work, steps


@pytest.mark.slow
def test_training_and_int8_export_print_no_native_logging(tiny_pipeline):
    work, steps = tiny_pipeline
    for proc in steps:
        assert not NOISE.search(proc.stderr), proc.stderr
        assert "Traceback" not in proc.stderr
    assert (work / "models" / "run_int8.tflite").is_file()
    assert "int8" in steps[-1].stdout and "report:" in steps[-1].stdout  # our own output is still there


@pytest.mark.slow
def test_verbose_shows_tensorflows_own_logging(tiny_pipeline):
    work, _ = tiny_pipeline
    proc = _edgetl(work, "--verbose", "export", "run", "--int8", "--out", "verbose")
    assert "fully_quantize" in proc.stderr  # the converter's settings line, captured when quiet
    env_proc = _edgetl(work, "predict", "models/run_int8.tflite", "data/10", EDGETL_VERBOSE="1")
    assert "XNNPACK" in env_proc.stderr  # LiteRT's notice, captured when quiet


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=_env(**env), capture_output=True, text=True, timeout=60)


CAPTURE = """
import os, sys
from edgetl.quiet import native_stderr_captured
with native_stderr_captured():
    os.write(2, b"native chatter\\n")
sys.stderr.write("after the block\\n")
with native_stderr_captured():
    os.write(2, b"the reason it failed\\n")
    raise SystemExit(3)
"""


def test_native_stderr_is_captured_but_reemitted_on_failure():
    proc = _python(CAPTURE)
    assert proc.returncode == 3
    assert "native chatter" not in proc.stderr
    assert "after the block" in proc.stderr  # fd 2 is restored
    assert "the reason it failed" in proc.stderr  # a failure keeps its explanation


def test_verbose_environment_turns_capture_off():
    proc = _python(CAPTURE, EDGETL_VERBOSE="1")
    assert "native chatter" in proc.stderr


def test_tensorflow_logging_level_is_set_before_import_and_the_users_choice_wins():
    code = "import os, edgetl.tf_env; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    assert _python(code).stdout.strip() == "3"
    assert _python(code, TF_CPP_MIN_LOG_LEVEL="1").stdout.strip() == "1"
    verbose = "import os, edgetl.tf_env; print(os.environ.get('TF_CPP_MIN_LOG_LEVEL', 'unset'))"
    assert _python(verbose, EDGETL_VERBOSE="1").stdout.strip() == "unset"


@pytest.mark.slow
def test_export_ends_with_next_commands_that_work(tiny_pipeline):
    work, steps = tiny_pipeline
    out = steps[-1].stdout
    assert "\nnext:\n" in out
    commands = [line.split("#")[0].split() for line in out.split("\nnext:\n")[1].splitlines() if line.strip()]
    assert [c[1] for c in commands] == ["evaluate", "predict", "run", "export"]
    assert commands[-1][-2:] == ["--android", "android_demo/app/src/main/assets"]
    evaluate, predict_ = commands[0], commands[1]
    assert _edgetl(work, *evaluate[1:], "--json").returncode == 0
    predict_ = [("data/10" if word == "PHOTO_OR_FOLDER" else word) for word in predict_]
    assert "8 image(s)" in _edgetl(work, *predict_[1:]).stdout
    run = commands[2]
    proc = _edgetl(work, *run[1:run.index("--source")], "--source", "data/10", "--no-speech", "--max-frames", "3")
    assert "Traceback" not in proc.stderr
