"""Frame sources and the keep-latest reader: real video files and image folders; a fake only for a
camera that dies mid-stream (no camera exists on this machine)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from edgetl.data.images import read_rgb
from edgetl.errors import EdgetlError
from edgetl.runtime.sources import (
    CaptureSource,
    FolderSource,
    FrameSource,
    LatestFrameReader,
    open_source,
)

W, H = 64, 48


def make_video(path: Path, n: int = 20, fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((H, W, 3), 10 + i * 10, np.uint8))  # frame i is a flat grey of 10 + 10 i
    writer.release()
    return path


def level(frame: np.ndarray) -> int:
    return int(round((float(frame.mean()) - 10) / 10))


class FakeCamera(FrameSource):
    """A live camera that delivers ``good`` frames, then fails (raise / no frame) forever."""

    is_live = True

    def __init__(self, generation: int, good: int | None = None, failure: str = "raise", period: float = 0.0):
        self.name = "fake cam"
        self.generation = generation
        self.good = good
        self.failure = failure
        self.period = period
        self.count = 0
        self.closed = False

    def read(self, out=None):
        if self.closed:
            raise RuntimeError("read after close")
        if self.good is not None and self.count >= self.good:
            if self.failure == "raise":
                raise OSError("device disconnected")
            return None if self.failure == "none" else np.zeros((0, 0, 3), np.uint8)
        if self.period:
            time.sleep(self.period)
        self.count += 1
        frame = out if out is not None and out.shape == (H, W, 3) else np.empty((H, W, 3), np.uint8)
        frame[...] = 0
        frame[0, 0, 0] = self.generation
        frame[0, 1, 0] = self.count % 256
        return frame

    def close(self):
        self.closed = True


# ------------------------------------------------------------------ real files


def test_video_file_read_in_order_without_drops(tmp_path):
    path = make_video(tmp_path / "notes.mp4", n=20)
    src = open_source(str(path))
    assert isinstance(src, CaptureSource) and not src.is_live and src.frame_count == 20
    reader = LatestFrameReader(src)
    assert reader.pace == "all"
    ids, levels, buffers = [], [], set()
    for frame_id, frame, t_capture in reader:
        assert frame.dtype == np.uint8 and frame.shape == (H, W, 3)
        ids.append(frame_id)
        levels.append(level(frame))
        buffers.add(frame.ctypes.data)
        if frame_id % 5 == 0:
            time.sleep(0.02)  # a slow consumer must not lose frames of a file
        assert t_capture <= time.monotonic()
    assert ids == list(range(1, 21))
    assert levels == list(range(20))
    assert reader.dropped == 0 and reader.finished
    assert reader.get(timeout=0.1) is None
    assert len(buffers) <= 3  # frames are decoded into a small reused pool, not a new array per frame
    assert reader.stop() and not reader.alive
    assert reader.source is None  # released


def test_image_folder_natural_order_bgr_and_bad_files_skipped(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.new("RGB", (W, H), (255, 0, 0)).save(folder / "img1.png")  # red
    Image.new("RGB", (W, H), (0, 0, 255)).save(folder / "img2.jpg", quality=95)  # blue
    Image.new("RGBA", (W, H), (0, 255, 0, 0)).save(folder / "img10.png")  # fully transparent
    (folder / "img3.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("ignored")
    src = open_source(folder)
    assert isinstance(src, FolderSource) and not src.is_live
    with LatestFrameReader(src) as reader:
        frames = [(fid, frame.copy()) for fid, frame, _ in reader]
    assert [fid for fid, _ in frames] == [1, 2, 3]
    red, blue, clear = (f for _, f in frames)
    assert tuple(red[0, 0]) == (0, 0, 255)  # BGR order
    assert blue[0, 0, 0] > 240 and blue[0, 0, 2] < 15
    # Transparency is handled exactly like the training reader does (composited on grey).
    np.testing.assert_array_equal(clear, cv2.cvtColor(read_rgb(folder / "img10.png"), cv2.COLOR_RGB2BGR))
    assert src.skipped == [str(folder / "img3.jpg")]


def test_folder_loop_and_single_image(tmp_path):
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "a.png")
    Image.new("RGB", (8, 8), (4, 5, 6)).save(tmp_path / "b.png")
    looped = open_source(tmp_path, loop=True)
    seq = [tuple(looped.read()[0, 0]) for _ in range(5)]
    assert seq == [(3, 2, 1), (6, 5, 4), (3, 2, 1), (6, 5, 4), (3, 2, 1)]
    single = open_source(tmp_path / "b.png")
    assert tuple(single.read()[0, 0]) == (6, 5, 4) and single.read() is None


# ------------------------------------------------------------------ clear errors


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (7, "camera 7 could not be opened"),
        ("7", "camera 7 could not be opened"),
        ("/dev/video9", "no camera at /dev/video9"),
        ("does/not/exist.mp4", "no such file or folder"),
        ("ftp://example.com/x", "unsupported stream URL"),
        ("picamera2", "picamera2 is not available"),
        (-1, "must be 0 or more"),
    ],
)
def test_unopenable_sources_are_one_line_errors(spec, message):
    with pytest.raises(EdgetlError, match=message) as err:
        open_source(spec)
    assert "\n" not in str(err.value)


def test_corrupt_and_empty_video_files(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(b"\x00garbage" * 100)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(EdgetlError, match="empty file"):
        open_source(tmp_path / "empty.mp4")
    with pytest.raises(EdgetlError, match="cannot open video"):
        open_source(tmp_path / "junk.mp4")
    with pytest.raises(EdgetlError, match="no images found"):
        open_source(tmp_path / "empty_dir")


# ------------------------------------------------------------------ live: reconnect, keep-latest, stop


@pytest.mark.parametrize("failure", ["raise", "none", "empty"])
def test_lost_camera_is_reopened_with_backoff_and_reported_once(failure):
    statuses: list[str] = []
    attempts = {"n": 0}

    def reopen():
        attempts["n"] += 1
        if attempts["n"] <= 3:  # still unplugged: the open itself fails, in both usual ways
            if attempts["n"] % 2:
                raise EdgetlError("camera 0 could not be opened")
            return None
        return FakeCamera(generation=2, period=0.001)

    first = FakeCamera(generation=1, good=5, failure=failure, period=0.001)
    reader = LatestFrameReader(first, reopen=reopen, backoff=(0.01, 0.02), on_status=statuses.append, max_misses=3)
    try:
        seen_generations = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            item = reader.get(timeout=1)
            assert item is not None, "reader stopped delivering frames"
            fid, frame, _ = item
            seen_generations.append(int(frame[0, 0, 0]))
            if seen_generations.count(2) >= 20:
                break
        assert seen_generations[0] == 1 and seen_generations[-1] == 2
        assert seen_generations.count(2) >= 20  # keeps delivering after recovery
        assert first.closed
        assert attempts["n"] == 4 and reader.reconnects == 1
        assert statuses == ["fake cam lost, reconnecting…", "fake cam back"]  # once, not per attempt
        assert reader.status == "fake cam back" and not reader.finished
    finally:
        assert reader.stop()
    assert not reader.alive


def test_lost_camera_without_reopen_finishes_with_reason():
    statuses: list[str] = []
    reader = LatestFrameReader(FakeCamera(1, good=2, failure="raise"), on_status=statuses.append)
    got = [item for item in iter(lambda: reader.get(timeout=1), None)]
    assert 1 <= len(got) <= 2 and reader.finished
    assert statuses[-1] == "fake cam lost and cannot be reopened" and reader.error == statuses[-1]
    reader.stop()


def test_keep_latest_for_fast_live_source_with_slow_consumer():
    src = FakeCamera(generation=1, period=0.002)
    reader = LatestFrameReader(src)
    assert reader.pace == "latest"
    try:
        first = reader.get(timeout=1)
        assert first is not None
        previous = first[0]
        jumps = []
        for _ in range(4):
            t_sleep = time.monotonic()
            time.sleep(0.05)  # "inference"
            newest_before = reader.frames
            fid, frame, t_capture = reader.get(timeout=1)
            assert fid >= newest_before  # the newest frame, never an older queued one
            assert int(frame[0, 1, 0]) == fid % 256  # the pixels belong to the id we were told
            assert t_capture > t_sleep  # captured while we were busy, not before
            jumps.append(fid - previous)
            previous = fid
        assert min(jumps) > 1 and reader.dropped > 0
    finally:
        reader.stop()


def test_stop_is_prompt_in_every_state(tmp_path):
    # Live source running flat out.
    live = FakeCamera(1, period=0.001)
    reader = LatestFrameReader(live)
    assert reader.get(timeout=1) is not None
    t0 = time.perf_counter()
    assert reader.stop(timeout=1)
    assert time.perf_counter() - t0 < 0.5 and not reader.alive and live.closed
    # File source blocked waiting for a consumer that never comes back.
    video = LatestFrameReader(open_source(make_video(tmp_path / "v.mp4", n=10)))
    assert video.get(timeout=1) is not None
    time.sleep(0.05)
    t0 = time.perf_counter()
    assert video.stop(timeout=1)
    assert time.perf_counter() - t0 < 0.5 and video.source is None
    # Reconnect back-off sleeping for a long time.
    dead = LatestFrameReader(FakeCamera(1, good=0), reopen=lambda: None, backoff=(30,))
    assert wait_for(lambda: dead.status is not None)
    t0 = time.perf_counter()
    assert dead.stop(timeout=1)
    assert time.perf_counter() - t0 < 0.5
    assert dead.get(timeout=0.1) is None
    names = [t.name for t in threading.enumerate()]
    assert names.count("edgetl-capture") == 0


def wait_for(predicate, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.005)
    return predicate()
