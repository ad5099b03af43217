"""Card -> decision settings (edgetl/runtime/setup.py): the shared cases, and the Pi runner following them.

The same cases (tests/vectors/decision_setup.json) are run by the Kotlin SetupRules of the Android app
(tests/test_kotlin_decide.py), so the phone and the Pi set up their Decider alike.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from edgetl.card import ModelCard
from edgetl.errors import EdgetlError
from edgetl.runtime.runner import RunConfig, run
from edgetl.runtime.setup import SetupError, decision_setup
from tests.test_runtime_no_tf import GREY, RED, build_colour_model, colour_video

ROOT = Path(__file__).resolve().parents[1]
SETUP_VECTORS = ROOT / "tests" / "vectors" / "decision_setup.json"
CASES = json.loads(SETUP_VECTORS.read_text())


def resolve(case: dict) -> dict:
    card = case["card"] or {}
    try:
        s = decision_setup(case["labels"], card.get("background_label"), card.get("announce_threshold"),
                           threshold=case["user"]["threshold"], hint_after_s=case["user"]["hint_after_s"])
    except SetupError as exc:
        return {"error": exc.field}
    return {"threshold": s.threshold, "threshold_source": s.threshold_source, "background": s.background,
            "hint_after_s": s.hint_after_s}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_shared_setup_vector(case):
    assert resolve(case) == case["expected"], case["note"]


def test_vectors_cover_every_rule():
    got = {c["expected"].get("error") or c["expected"]["threshold_source"] for c in CASES}
    assert got == {"user", "card", "card_raised", "default", "threshold", "card_threshold", "hint_after_s"}
    assert {c["expected"].get("background") for c in CASES if "error" not in c["expected"]} >= {"background", None}


def test_vector_file_is_what_the_generator_writes(tmp_path):
    import runpy
    import sys

    out = tmp_path / "decision_setup.json"
    argv = sys.argv
    sys.argv = ["make_decision_setup_vectors.py", str(out)]
    try:
        runpy.run_path(str(SETUP_VECTORS.parent / "make_decision_setup_vectors.py"), run_name="__main__")
    finally:
        sys.argv = argv
    assert out.read_text() == SETUP_VECTORS.read_text()


# ---------------------------------------------------------------------------------------- the Pi runner


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory) -> Path:
    return build_colour_model(tmp_path_factory.getbasetemp() / "colour-model")


def _with_card(model: Path, tmp_path: Path, **changes) -> Path:
    """A copy of the colour model whose card has ``changes``."""
    out = tmp_path / model.name
    out.write_bytes(model.read_bytes())
    card = ModelCard.load(model.with_suffix(".json"))
    for key, value in changes.items():
        setattr(card, key, value)
    card.save(out.with_suffix(".json"))
    return out


def _run(model: Path, clip: Path, **kw):
    lines: list[str] = []
    cfg = RunConfig(model=model, source=clip, no_speech=True, say_ready=False, handle_signals=False, **kw)
    return run(cfg, log=lines.append, out=io.StringIO()), lines


@pytest.fixture()
def clip(tmp_path) -> Path:
    colour_video(tmp_path / "clip.mp4", [(GREY, 10, None), (RED, 20, "10"), (GREY, 10, None)])
    return tmp_path / "clip.mp4"


def test_runner_raises_a_low_card_threshold_and_says_so(colour_model, clip, tmp_path):
    summary, lines = _run(_with_card(colour_model, tmp_path, announce_threshold=0.3), clip)
    assert summary.threshold == 0.5
    assert any("below 0.5; using 0.5" in line for line in lines), lines
    assert [a.label for a in summary.announcements] == ["10"]


def test_runner_treats_a_zero_card_threshold_as_uncalibrated(colour_model, clip, tmp_path):
    summary, lines = _run(_with_card(colour_model, tmp_path, announce_threshold=0.0), clip)
    assert summary.threshold == 0.8 and not any("below" in line for line in lines)


def test_runner_refuses_a_card_threshold_above_one_in_one_line(colour_model, clip, tmp_path):
    """The card is checked where it is read (card.py), so a broken card is refused even with --threshold."""
    for threshold in (None, 0.9):
        with pytest.raises(EdgetlError, match=r"announce_threshold.*(0, 1|0 to 1).*1\.5") as err:
            _run(_with_card(colour_model, tmp_path, announce_threshold=1.5), clip, threshold=threshold)
        assert "\n" not in str(err.value)


def test_runner_falls_back_to_the_label_named_background(colour_model, clip, tmp_path):
    # the card names a background class the model lacks: 'background' still silences grey frames
    summary, _ = _run(_with_card(colour_model, tmp_path, background_label="nothing"), clip, threshold=0.6)
    assert [a.label for a in summary.announcements] == ["10"]
    assert summary.threshold == 0.6
