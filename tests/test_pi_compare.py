"""deploy/raspberrypi/compare_announcements.py: how the arm64 check judges two runs of the same clip.

Confident announcements must match in label and order; near-threshold ones may differ, as ARM and
x86 kernels round differently. Driven as the check drives it: a script over two JSON-lines logs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "deploy" / "raspberrypi" / "compare_announcements.py"


def log(path: Path, *said: tuple[str, int, float]) -> Path:
    events = [{"event": "start"}] + [{"event": "announce", "label": label, "frame": frame, "confidence": conf}
                                     for label, frame, conf in said] + [{"event": "stop"}]
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def compare(tmp_path, host, arm, *extra) -> subprocess.CompletedProcess:
    args = [sys.executable, SCRIPT, log(tmp_path / "host.jsonl", *host), log(tmp_path / "arm.jsonl", *arm), "0.6", "x86_64", *extra]
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=30)


def test_a_near_threshold_note_may_be_missing_on_one_side(tmp_path):
    host = [("100", 23, 0.66), ("200", 177, 0.87), ("10", 349, 0.64), ("500", 585, 0.82)]
    arm = [("100", 23, 0.66), ("200", 177, 0.88), ("500", 586, 0.80)]
    done = compare(tmp_path, host, arm)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10@349(0.64~)" in done.stdout and "500@586(0.80)" in done.stdout


def test_a_confident_note_missing_on_arm64_fails(tmp_path):
    done = compare(tmp_path, [("200", 177, 0.87), ("500", 585, 0.82)], [("200", 177, 0.88)])
    assert done.returncode == 1 and "arm64 missed or reordered" in done.stderr


def test_a_confident_wrong_note_on_arm64_fails(tmp_path):
    done = compare(tmp_path, [("200", 177, 0.87)], [("200", 177, 0.88), ("50", 300, 0.9)])
    assert done.returncode == 1 and "did not, or in another order" in done.stderr


def test_the_same_notes_in_another_order_fail(tmp_path):
    done = compare(tmp_path, [("200", 10, 0.9), ("500", 90, 0.9)], [("500", 10, 0.9), ("200", 90, 0.9)])
    assert done.returncode == 1


def test_nothing_confident_on_the_host_is_no_comparison_unless_the_model_is_weak(tmp_path):
    assert compare(tmp_path, [("10", 5, 0.62)], []).returncode == 1
    assert compare(tmp_path, [("10", 5, 0.62)], [], "weak").returncode == 0
