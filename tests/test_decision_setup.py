"""Card -> decision settings (edgetl/runtime/setup.py): the shared cases, and the Pi runner following them.

The same cases (tests/vectors/decision_setup.json) are run by the Kotlin SetupRules of the Android app
(tests/test_kotlin_decide.py), so the phone and the Pi set up their Decider alike.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from edgetl.card import ModelCard
from edgetl.errors import EdgetlError
from edgetl.runtime.runner import RunConfig, RunSummary, run
from edgetl.runtime.setup import SetupError, decision_setup
from conftest import GREY, RED, colour_video

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


DULL_RED = (108, 108, 155)  # BGR: the colour model's top label is the 10, at about 0.65 -- an unclear view


def test_runner_takes_the_hint_delay_from_the_setup_rules(colour_model, tmp_path):
    """The Decider gets the hint delay the rules resolved: "not given" (None, as `edgetl run` passes it) is the
    rules' default (no hint), a given delay yields one hint per unclear stretch, a bad one is a one-line error."""
    clip = tmp_path / "unclear.mp4"
    colour_video(clip, [(GREY, 10, None), (DULL_RED, 45, None), (GREY, 10, None)])
    quiet, _ = _run(colour_model, clip, hint_after_s=None)
    assert quiet.frames == 65 and quiet.hints == [] and quiet.announcements == []
    hinted, _ = _run(colour_model, clip, hint_after_s=0.5)
    assert [(h.kind, h.label) for h in hinted.hints] == [("hint", "hold_steady")] and hinted.announcements == []
    assert 10 + 15 <= hinted.hints[0].frame < 10 + 25  # 0.5 s (15 frames) after the unclear view began
    assert hinted.hints[0].text == "Hold the note steady"
    with pytest.raises(EdgetlError, match="hint_after_s") as err:
        _run(colour_model, clip, hint_after_s=-1.0)
    assert "\n" not in str(err.value)


def test_decision_defaults_are_declared_once():
    """RunConfig and the setup rules start from DecisionConfig's defaults, so `edgetl run` with no decision
    options decides exactly like a Decider built with DecisionConfig()."""
    from edgetl.runtime.decide import DecisionConfig
    from edgetl.runtime.setup import DEFAULT_HINT_AFTER_S, DEFAULT_THRESHOLD

    run_defaults = {f.name: f.default for f in fields(RunConfig)}
    base = DecisionConfig()
    for f in fields(DecisionConfig):
        if f.name in ("threshold", "hint_after_s"):  # None: "not given", resolved by decision_setup
            assert run_defaults[f.name] is None
        else:
            assert run_defaults[f.name] == getattr(base, f.name), f.name
    setup = decision_setup(["10", "background"])
    assert (setup.threshold, setup.hint_after_s) == (DEFAULT_THRESHOLD, DEFAULT_HINT_AFTER_S) == (base.threshold, base.hint_after_s)


def _cli_run(model: Path, clip: Path, *options: str) -> dict:
    argv = [sys.executable, "-m", "edgetl.cli", "run", str(model), "--source", str(clip), "--no-speech", "--json", *options]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()  # "Ready" and the printed announcements, then the JSON summary
    return json.loads("\n".join(lines[lines.index("{"):]))


def test_cli_run_passes_on_only_the_decision_options_given(colour_model, tmp_path):
    clip = tmp_path / "clip.mp4"
    colour_video(clip, [(GREY, 10, None), (RED, 20, "10"), (GREY, 10, None), (RED, 20, "10"), (GREY, 10, None),
                        (DULL_RED, 45, None), (GREY, 10, None)])
    plain = _cli_run(colour_model, clip)
    assert set(plain) == {f.name for f in fields(RunSummary)}
    library, _ = _run(colour_model, clip)
    assert plain["threshold"] == library.threshold == 0.8 and plain["hints"] == []
    assert len(plain["announcements"]) == 1  # the 10 shown again within the 3 s cooldown stays unsaid
    assert [(a["label"], a["frame"]) for a in plain["announcements"]] == [(a.label, a.frame) for a in library.announcements]
    given = _cli_run(colour_model, clip, "--stable-frames", "8", "--hint-after", "0.5", "--cooldown", "0")
    library, _ = _run(colour_model, clip, stable_frames=8, hint_after_s=0.5, cooldown_s=0.0)
    assert [(a["label"], a["frame"]) for a in given["announcements"]] == [(a.label, a.frame) for a in library.announcements]
    assert len(given["announcements"]) == 2  # no cooldown
    assert given["announcements"][0]["frame"] > plain["announcements"][0]["frame"]  # 8 stable frames, not 3
    assert [h["frame"] for h in given["hints"]] == [h.frame for h in library.hints] and len(given["hints"]) == 1


def test_setup_rules_and_cli_read_the_defaults_without_numpy():
    """decision_config.py keeps DecisionConfig numpy-free, so the setup rules stay pure Python (as the Kotlin
    port reads them) and `edgetl --help` does not pay for loading numpy."""
    code = ("import sys, edgetl.cli, edgetl.runtime.setup, edgetl.runtime.decision_config\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'cv2')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
