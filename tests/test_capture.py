"""`edgetl data capture`: frames from a real video file (standing in for the camera) into class folders."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgetl.data.folders import scan
from edgetl.errors import EdgetlError
from edgetl.runtime.capture import capture
from edgetl.runtime.sources import FrameSource

ROOT = Path(__file__).resolve().parents[1]


def grey_ramp_video(path: Path, n: int = 100, fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (64, 48))
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((48, 64, 3), 2 * i + 10, np.uint8))  # frame i is a flat grey 2 i + 10
    writer.release()
    return path


def test_interval_capture_from_video_uses_video_time(tmp_path):
    video = grey_ramp_video(tmp_path / "cam.mp4", n=100, fps=25.0)  # 4 s
    lines = []
    result = capture(tmp_path / "data", "500", source=str(video), interval=1.0, log=lines.append, handle_signals=False)
    assert result.mode == "interval" and result.stopped_by == "end of source" and result.frames_seen == 100
    files = sorted((tmp_path / "data" / "500").iterdir())
    assert [Path(p) for p in result.saved] == files and len(files) == 4  # t = 0, 1, 2, 3 s
    for k, path in enumerate(files):
        assert re.fullmatch(r"\d{8}-\d{6}-\d{3}_\d{4}\.jpg", path.name), path.name
        assert path.name.endswith(f"_{k + 1:04d}.jpg")
        img = cv2.imread(str(path))
        assert img.shape == (48, 64, 3)
        assert abs(float(img.mean()) - (2 * 25 * k + 10)) < 4  # frames 0, 25, 50, 75
    assert sum(line.startswith("saved ") for line in lines) == 4
    # no temp files left behind, and the folder is a valid class folder for training
    assert not [p for p in (tmp_path / "data").rglob(".*")]
    assert scan(tmp_path / "data", min_classes=1).counts() == {"500": 4}


def test_count_stops_early_and_second_session_adds_files(tmp_path):
    video = grey_ramp_video(tmp_path / "cam.mp4", n=100, fps=25.0)
    first = capture(tmp_path / "data", "background", source=str(video), interval=0.2, count=3, log=lambda m: None,
                    handle_signals=False)
    assert first.stopped_by == "count reached" and len(first.saved) == 3
    second = capture(tmp_path / "data", "background", source=str(video), interval=0.2, count=2, log=lambda m: None,
                     handle_signals=False)
    assert len(second.saved) == 2
    assert len(list((tmp_path / "data" / "background").glob("*.jpg"))) == 5  # appended, nothing overwritten


class SlowCamera(FrameSource):
    is_live = True
    name = "slow cam"

    def __init__(self):
        self.closed = False

    def read(self, out=None):
        time.sleep(0.01)
        return np.full((24, 32, 3), 77, np.uint8)

    def close(self):
        self.closed = True


def test_live_camera_interval_uses_wall_clock_and_stop_event(tmp_path):
    cam = SlowCamera()
    stop = threading.Event()
    threading.Timer(0.75, stop.set).start()
    result = capture(tmp_path / "data", "10", source=cam, interval=0.3, stop_event=stop, log=lambda m: None,
                     handle_signals=False)
    assert result.stopped_by == "stopped" and cam.closed
    assert 2 <= len(result.saved) <= 4  # t = 0, 0.3, 0.6 (+ scheduling slack)


@pytest.mark.parametrize("label", ["", "..", "a/b", ".hidden"])
def test_bad_labels_rejected(tmp_path, label):
    with pytest.raises(EdgetlError, match="invalid class label"):
        capture(tmp_path, label, source=str(tmp_path), interval=1.0, handle_signals=False)


def test_headless_without_interval_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    video = grey_ramp_video(tmp_path / "cam.mp4", n=5)
    with pytest.raises(EdgetlError, match="--interval"):
        capture(tmp_path / "data", "10", source=str(video), handle_signals=False)
    with pytest.raises(EdgetlError, match="key mode needs a display"):
        capture(tmp_path / "data", "10", source=str(video), key_mode="key", handle_signals=False)
    with pytest.raises(EdgetlError, match="positive"):
        capture(tmp_path / "data", "10", source=str(video), interval=0, handle_signals=False)
    assert not (tmp_path / "data" / "10").exists() or not list((tmp_path / "data" / "10").iterdir())


def test_sigterm_stops_capture_cleanly(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "a.png"), np.full((24, 32, 3), 50, np.uint8))
    code = ("import sys\n"
            "from edgetl.runtime.capture import capture\n"
            "from edgetl.runtime.sources import open_source\n"
            "r = capture(sys.argv[1], 'x', source=open_source(sys.argv[2], loop=True), interval=0.05,\n"
            "            log=lambda m: print(m, flush=True))\n"
            "print('stopped by', r.stopped_by, len(r.saved), flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "out"), str(frames)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()  # "capturing ..."
        proc.stdout.readline()  # first "saved ..."
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped by signal SIGTERM" in out
    saved = list((tmp_path / "out" / "x").glob("*.jpg"))
    assert saved and all(cv2.imread(str(p)) is not None for p in saved)  # every file complete
    assert not list((tmp_path / "out" / "x").glob(".*"))
