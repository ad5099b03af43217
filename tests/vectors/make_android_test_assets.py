"""Write the Android instrumentation test's own model and expectations (android_demo/app/src/androidTest/assets).

The model is the tests' tiny "colour" classifier (tests/conftest.py: a real uint8-in/uint8-out
int8 TFLite model; a mostly red picture is the 10, a mostly green one the 20, anything else background),
saved under the app's fixed asset names so NoteClassifier opens it exactly as it opens an exported model.
colour_cases.json holds what the Pi's runtime (edgetl.runtime: Classifier, decision_setup, Decider) makes
of solid-colour frames and of a scripted sequence; the Kotlin test (ColourModelTest) must get the same,
and tests/test_android_project.py re-checks the file against the Python runtime on every run.

    .venv/bin/python tests/vectors/make_android_test_assets.py    # needs TensorFlow (the training extra)
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "android_demo" / "app" / "src" / "androidTest" / "assets"
MODEL, CARD, CASES = "model_int8.tflite", "model_int8.json", "colour_cases.json"
COLOURS = {"red": [255, 0, 0], "green": [0, 255, 0], "grey": [128, 128, 128]}  # RGB, as the phone delivers
SCRIPT = [["grey", 6], ["red", 12], ["grey", 8], ["green", 12], ["grey", 4]]
FPS = 10.0


def tensor_facts(model: Path) -> dict:
    """Input/output dtypes and quantization as the .tflite itself declares them, in card fields."""
    from edgetl.runtime.interpreter import Classifier

    clf = Classifier(model, verify=False)
    facts = {}
    for side, details in (("input", clf._in), ("output", clf._out)):
        dtype = np.dtype(details["dtype"]).name
        scale, zero = details["quantization"]
        facts[f"{side}_dtype"] = dtype
        facts[f"{side}_quantization"] = None if dtype == "float32" else {"scale": float(scale), "zero_point": int(zero)}
    return facts


def python_expectations(model: Path) -> dict:
    """What the Pi's runtime says about each colour and the scripted sequence."""
    from edgetl.runtime.decide import DecisionConfig, Decider
    from edgetl.runtime.interpreter import Classifier
    from edgetl.runtime.setup import decision_setup

    clf = Classifier(model)
    card = clf.card
    size = card.input_size
    top = {}
    for name, rgb in COLOURS.items():
        probs = np.asarray(clf(np.full((size, size, 3), rgb, np.uint8)), np.float64)
        top[name] = card.labels[int(np.argmax(probs))]
    setup = decision_setup(card.labels, card.background_label, card.announce_threshold)
    decider = Decider(card.labels, setup.background, DecisionConfig(threshold=setup.threshold,
                                                                    hint_after_s=setup.hint_after_s))
    said, frame = [], 0
    for name, count in SCRIPT:
        probs = np.asarray(clf(np.full((size, size, 3), COLOURS[name], np.uint8)), np.float64).tolist()
        for _ in range(count):
            event = decider.update(probs, frame / FPS)
            if event is not None:
                said.append([event.kind, event.label, frame])
            frame += 1
    return {"labels": card.labels, "threshold": setup.threshold, "background": setup.background,
            "colours": COLOURS, "top_label": top, "fps": FPS, "script": SCRIPT, "events": said}


def main(out: Path = ASSETS) -> None:
    sys.path.insert(0, str(ROOT))
    from edgetl.card import ModelCard
    from tests.conftest import build_colour_model

    with tempfile.TemporaryDirectory() as tmp:
        built = build_colour_model(Path(tmp))
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, out / MODEL)
        card = ModelCard.load(built.with_suffix(".json"))
        card.model_file = MODEL
        card.__dict__.update(tensor_facts(out / MODEL))  # the phone trusts the card for these
        card.save(out / CARD)
    (out / CASES).write_text(json.dumps(python_expectations(out / MODEL), indent=1) + "\n")
    print(f"wrote {MODEL}, {CARD}, {CASES} to {out}")


if __name__ == "__main__":
    main()
