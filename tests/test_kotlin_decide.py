"""The Kotlin Decider (android_demo/decision) passes its JUnit tests and agrees with decide.py.

Agreement is bit-for-bit: same events (kind, label, frame) with identical confidence and
timestamp doubles, on every shared vector and on a few thousand frames of seeded random
streams under random configs. The card -> decision-settings rules (Kotlin SetupRules,
edgetl/runtime/setup.py) agree the same way on tests/vectors/decision_setup.json and on a
seeded grid of random cards and options.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgetl.runtime.decide import DecisionConfig, Decider
from edgetl.runtime.setup import SetupError, decision_setup

ROOT = Path(__file__).resolve().parents[1]
RUN_TESTS = ROOT / "android_demo" / "decision" / "run_tests.sh"
VECTORS = ROOT / "tests" / "vectors" / "decision.json"
SETUP_VECTORS = ROOT / "tests" / "vectors" / "decision_setup.json"

pytestmark = pytest.mark.skipif(
    shutil.which("kotlinc") is None or shutil.which("java") is None,
    reason="kotlinc/java not installed (apt-get install kotlin junit4) - Kotlin decision tests not run",
)


def _bits(x: float) -> int:
    return struct.unpack("<q", struct.pack("<d", x))[0]


def python_events(case: dict) -> list[list]:
    d = Decider(case["labels"], case["background"], DecisionConfig(**case["config"]))
    out = []
    for i, fr in enumerate(case["frames"]):
        ev = d.update(fr["probs"], fr["t"])
        if ev is not None:
            out.append([ev.kind, ev.label, i, _bits(ev.confidence), _bits(ev.t)])
    return out


def random_cases(seed: int = 1234, n_cases: int = 48, n_frames: int = 250) -> list[dict]:
    """Seeded random streams: runs of background / a note / ambiguity / swaps, noisy probabilities,
    jittery timestamps (not exact binary fractions) and random configs."""
    rng = np.random.default_rng(seed)
    cases = []
    for ci in range(n_cases):
        with_bg = ci % 4 != 3
        notes = ["5", "10", "20", "50", "100"][: int(rng.integers(2, 6))]
        labels = (["background"] if with_bg else []) + notes
        n = len(labels)
        config = {
            "threshold": float(rng.choice([0.6, 0.7, 0.8, 0.9])),
            "smoothing": "vote" if ci % 3 == 2 else "ema",
            "ema_alpha": float(rng.choice([0.3, 0.5, 0.7, 1.0])),
            "window": int(rng.integers(1, 8)),
            "stable_frames": int(rng.integers(1, 5)),
            "cooldown_s": float(rng.choice([0.0, 0.5, 1.3, 3.0])),
            "leave_frames": int(rng.integers(1, 7)),
            "hint_after_s": float(rng.choice([0.0, 0.0, 0.4, 1.1])),
        }
        frames = []
        t = float(rng.uniform(0, 100))
        while len(frames) < n_frames:
            kind = rng.choice(["bg", "note", "note", "amb", "flicker"])
            length = int(rng.integers(1, 30))
            dom = int(rng.integers(0, n))
            other = int(rng.integers(0, n))
            for j in range(length):
                alpha = np.full(n, 0.3)
                if kind == "bg" and with_bg:
                    alpha[0] = float(rng.uniform(5, 40))
                elif kind == "note":
                    alpha[dom] = float(rng.uniform(3, 60))
                elif kind == "amb":
                    alpha[dom] = alpha[other] = float(rng.uniform(2, 10))
                elif kind == "flicker":
                    alpha[dom if j % 2 else other] = float(rng.uniform(5, 40))
                p = rng.dirichlet(alpha).tolist()
                frames.append({"t": t, "probs": p})
                t += float(rng.uniform(0.02, 0.2))
        cases.append({
            "name": f"random_{ci}", "labels": labels,
            "background": "background" if with_bg else None,
            "config": config, "frames": frames[:n_frames],
        })
    return cases


def python_setup(case: dict) -> dict:
    """What edgetl/runtime/setup.py makes of one decision_setup case, doubles as raw bits like DumpSetup."""
    card = case["card"] or {}
    try:
        s = decision_setup(case["labels"], card.get("background_label"), card.get("announce_threshold"),
                           threshold=case["user"]["threshold"], hint_after_s=case["user"]["hint_after_s"])
    except SetupError as exc:
        return {"error": exc.field}
    return {"result": {"threshold": _bits(s.threshold), "threshold_source": s.threshold_source,
                       "background": s.background, "hint_after_s": _bits(s.hint_after_s)}}


def random_setup_cases(seed: int = 77, n: int = 400) -> list[dict]:
    """Seeded random cards and user options around every boundary of the rules."""
    rng = np.random.default_rng(seed)
    thresholds = [None, 0.0, 1e-12, 0.25, 0.4999999, 0.5, 0.5000001, 0.73, 0.8, 0.995, 1.0, 1.0000001, -0.2, 3.0]
    backgrounds = [None, "background", "bg", "Background", "10", ""]
    label_sets = [["10", "20", "background"], ["10", "20"], ["bg", "10"], ["10", "Background", ""]]
    hints = [None, 0.0, 0.4, 4.0, -0.5]
    cases = []
    for i in range(n):
        card = None if rng.random() < 0.15 else {
            "background_label": backgrounds[rng.integers(len(backgrounds))],
            "announce_threshold": thresholds[rng.integers(len(thresholds))]}
        user_t = None if rng.random() < 0.6 else thresholds[rng.integers(len(thresholds))]
        cases.append({"name": f"random_{i}", "labels": label_sets[rng.integers(len(label_sets))], "card": card,
                      "user": {"threshold": user_t, "hint_after_s": hints[rng.integers(len(hints))]},
                      "expected": {"error": "unused"}})
    return cases


@pytest.fixture(scope="module")
def kotlin_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kotlin_decide")
    rnd_in = tmp / "random_cases.json"
    rnd_in.write_text(json.dumps(random_cases()))
    vec_out = tmp / "vectors.events.jsonl"
    rnd_out = tmp / "random.events.jsonl"
    setup_in = tmp / "setup_cases.json"
    setup_in.write_text(json.dumps(json.loads(SETUP_VECTORS.read_text()) + random_setup_cases()))
    setup_out = tmp / "setup.jsonl"
    env = dict(os.environ, EDGETL_DUMP=f"{VECTORS} {vec_out} {rnd_in} {rnd_out}",
               EDGETL_DUMP_SETUP=f"{setup_in} {setup_out}")
    res = subprocess.run(
        ["bash", str(RUN_TESTS)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    return res, vec_out, rnd_in, rnd_out, setup_in, setup_out


def _load_events(path: Path) -> dict[str, list]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["name"]: r["events"] for r in rows}


def test_run_tests_sh_passes(kotlin_run):
    res, *_ = kotlin_run
    assert res.returncode == 0, f"run_tests.sh failed ({res.returncode}):\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    assert "OK (" in res.stdout


def test_python_and_kotlin_agree_on_every_shared_vector(kotlin_run):
    res, vec_out, *_ = kotlin_run
    assert vec_out.is_file(), res.stdout[-2000:] + res.stderr[-2000:]
    kotlin = _load_events(vec_out)
    cases = json.loads(VECTORS.read_text())
    assert sorted(kotlin) == sorted(c["name"] for c in cases)
    for c in cases:
        py = python_events(c)
        assert kotlin[c["name"]] == py, c["name"]
        assert [e[:3] for e in py] == [[x["kind"], x["label"], x["frame"]] for x in c["expected"]], c["name"]


def test_python_and_kotlin_agree_on_random_streams(kotlin_run):
    res, _, rnd_in, rnd_out, *_ = kotlin_run
    assert rnd_out.is_file(), res.stdout[-2000:] + res.stderr[-2000:]
    kotlin = _load_events(rnd_out)
    cases = json.loads(rnd_in.read_text())
    total = 0
    seen = set()
    for c in cases:
        py = python_events(c)
        assert kotlin[c["name"]] == py, c["name"]
        total += len(py)
        seen.update(e[0] for e in py)
    # Not vacuous: the streams do make both implementations speak, and hint too.
    assert total >= 50 and seen == {"announce", "hint"}, (total, seen)


def test_run_tests_sh_fails_on_a_wrong_expectation(kotlin_run, tmp_path):
    res, *_ = kotlin_run
    if res.returncode != 0:
        pytest.skip("run_tests.sh already failing")
    cases = json.loads(VECTORS.read_text())
    target = next(c for c in cases if c["expected"])
    target["expected"][0]["frame"] += 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(cases))
    env = dict(os.environ, EDGETL_VECTORS=str(bad))
    env.pop("EDGETL_DUMP", None)
    res2 = subprocess.run(["bash", str(RUN_TESTS)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert res2.returncode != 0
    assert target["name"] in res2.stdout


def test_kotlin_runs_the_shared_setup_vectors(kotlin_run):
    res, *_ = kotlin_run
    assert "SetupVectorsTest" in (RUN_TESTS.read_text()), "run_tests.sh must run the setup vectors"
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "DumpSetup:" in res.stdout


def test_python_and_kotlin_agree_on_every_setup_case(kotlin_run):
    res, *_, setup_in, setup_out = kotlin_run
    assert setup_out.is_file(), res.stdout[-2000:] + res.stderr[-2000:]
    kotlin = {row.pop("name"): row for row in map(json.loads, setup_out.read_text().splitlines())}
    cases = json.loads(setup_in.read_text())
    assert sorted(kotlin) == sorted(c["name"] for c in cases)
    outcomes = set()
    for c in cases:
        py = python_setup(c)
        assert kotlin[c["name"]] == py, (c["name"], c)
        outcomes.add(py["error"] if "error" in py else py["result"]["threshold_source"])
    # not vacuous: the random grid reaches every branch of the rules
    assert outcomes == {"user", "card", "card_raised", "default", "threshold", "card_threshold", "hint_after_s"}


def test_run_tests_sh_fails_on_a_wrong_setup_expectation(kotlin_run, tmp_path):
    res, *_ = kotlin_run
    if res.returncode != 0:
        pytest.skip("run_tests.sh already failing")
    cases = json.loads(SETUP_VECTORS.read_text())
    target = next(c for c in cases if c["expected"].get("threshold_source") == "card_raised")
    target["expected"]["threshold"] = 0.3  # what the phone did before the shared rules: no floor
    bad = tmp_path / "bad_setup.json"
    bad.write_text(json.dumps(cases))
    env = dict(os.environ, EDGETL_SETUP_VECTORS=str(bad))
    env.pop("EDGETL_DUMP", None)
    env.pop("EDGETL_DUMP_SETUP", None)
    res2 = subprocess.run(["bash", str(RUN_TESTS)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert res2.returncode != 0
    assert target["name"] in res2.stdout
