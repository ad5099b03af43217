"""The device side never needs TensorFlow: every module of ``edgetl.runtime`` imported, and a real int8
.tflite run through the camera loop, in a Python where TensorFlow cannot be imported even when installed.

The colour model it runs (and the other device-side tests share) lives in conftest.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from conftest import GREEN, GREY, RED, colour_video

ROOT = Path(__file__).resolve().parents[1]

BLOCK_TF = r"""
import importlib
import importlib.abc
import json
import pkgutil
import sys

BLOCKED = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization")
attempts = []


class BlockTensorFlow(importlib.abc.MetaPathFinder):
    # consulted before the real finders: every import of a blocked package fails, and is recorded even
    # when the importer catches the ImportError and carries on
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            attempts.append(name)
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, BlockTensorFlow())
try:
    import tensorflow  # noqa: F401
except ImportError:
    pass
else:
    sys.exit("tensorflow was importable despite the block")
assert attempts == ["tensorflow"], attempts
attempts.clear()

import numpy as np
import edgetl.runtime

modules = sorted(m.name for m in pkgutil.iter_modules(edgetl.runtime.__path__, "edgetl.runtime."))
for name in modules:
    importlib.import_module(name)
from edgetl.runtime.interpreter import Classifier, runtime_module
from edgetl.runtime.runner import RunConfig, run

model, video = sys.argv[1], sys.argv[2]
clf = Classifier(model)
red = np.zeros((32, 32, 3), np.uint8); red[..., 0] = 255
green = np.zeros((32, 32, 3), np.uint8); green[..., 1] = 255
summary = run(RunConfig(model=model, source=video, no_speech=True, say_ready=False, handle_signals=False),
              log=lambda m: None)
print(json.dumps({
    "modules": modules,
    "runtime": runtime_module()[1],
    "red": clf(red).tolist(), "green": clf(green).tolist(),
    "frames": summary.frames,
    "announced": [[a.frame, a.label] for a in summary.announcements],
    "attempts": attempts,
    "tf_loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
    "training_side": sorted(m for m in sys.modules if m.startswith(("edgetl.train", "edgetl.export"))),
}))
"""


def test_runtime_imports_and_runs_a_real_model_with_tensorflow_blocked(colour_model, tmp_path):
    video = tmp_path / "clip.mp4"
    colour_video(video, [(GREY, 10, None), (RED, 20, "10"), (GREY, 10, None), (GREEN, 20, "20")])
    proc = subprocess.run([sys.executable, "-c", BLOCK_TF, str(colour_model), str(video)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = {"capture", "decide", "interpreter", "preprocess", "runner", "setup", "signals", "sources", "speech"}
    assert {name.rsplit(".", 1)[1] for name in result["modules"]} >= expected
    assert result["attempts"] == [] and result["tf_loaded"] == [] and result["training_side"] == []
    assert result["runtime"] in ("ai_edge_litert", "tflite_runtime")
    assert int(np.argmax(result["red"])) == 0 and result["red"][0] > 0.9
    assert int(np.argmax(result["green"])) == 1 and result["green"][1] > 0.9
    assert result["frames"] == 60
    assert [label for _, label in result["announced"]] == ["10", "20"]
    assert 10 <= result["announced"][0][0] < 20 and 40 <= result["announced"][1][0] < 50
