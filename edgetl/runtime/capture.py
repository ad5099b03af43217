"""`edgetl data capture`: photograph training images with the device's own camera.

Pictures taken by the camera that will run the model are the best training data there is (same lens,
same light, same white balance). Each saved frame goes to ``OUT/<label>/<timestamp>_<n>.jpg``, written
atomically (temp file + rename), so an interrupted capture never leaves a half-written JPEG for
training to choke on.

Two ways to trigger a shot:

* ``key`` (needs a display): a preview window; **space** saves the current frame, **q**/Esc stops.
* ``interval``: headless, one frame every ``interval`` seconds (video time for a file, wall time for a
  camera); stops after ``count`` images, at the end of a file, or on Ctrl-C / SIGTERM.

Never imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from edgetl.runtime.signals import stop_on_signals
from edgetl.atomic import write_bytes
from edgetl.errors import EdgetlError

__all__ = ["capture", "CaptureResult", "KEY_MODES"]

KEY_MODES = ("auto", "key", "interval")
_BAD_LABEL = re.compile(r"[/\\\x00]")
_WINDOW = "edgetl capture"


@dataclass
class CaptureResult:
    out: Path
    label: str
    saved: list[str] = field(default_factory=list)
    frames_seen: int = 0
    stopped_by: str = ""
    mode: str = ""

    def to_dict(self) -> dict:
        return {"out": str(self.out), "label": self.label, "saved": self.saved, "count": len(self.saved),
                "frames_seen": self.frames_seen, "stopped_by": self.stopped_by, "mode": self.mode}


def _check_label(label: str) -> str:
    label = str(label).strip()
    if not label or label in (".", "..") or _BAD_LABEL.search(label) or label.startswith("."):
        raise EdgetlError(f"invalid class label {label!r}: use a plain folder name such as 500 or background")
    return label


def _display_available() -> bool:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    import cv2

    try:
        cv2.namedWindow(_WINDOW, cv2.WINDOW_NORMAL)
    except cv2.error:
        return False
    return True


def _choose_mode(key_mode: str, interval: float | None, count: int | None, quality: int) -> str:
    """Check the options and resolve ``auto``: key mode needs a display, interval mode an interval."""
    if key_mode not in KEY_MODES:
        raise EdgetlError(f"key mode must be one of {', '.join(KEY_MODES)} (got {key_mode!r})")
    if interval is not None and not (interval > 0):
        raise EdgetlError(f"--interval must be a positive number of seconds (got {interval})")
    if count is not None and count < 1:
        raise EdgetlError(f"--count must be at least 1 (got {count})")
    if not 1 <= int(quality) <= 100:
        raise EdgetlError(f"JPEG quality must be 1-100 (got {quality})")
    mode = key_mode
    if mode == "auto":
        mode = "interval" if interval is not None else ("key" if _display_available() else "")
        if not mode:
            raise EdgetlError("no display for the preview window: give --interval SECONDS to capture headless")
    elif mode == "key" and not _display_available():
        raise EdgetlError("key mode needs a display (opencv-python with GUI support and a desktop session); "
                          "use --interval SECONDS to capture headless")
    if mode == "interval" and interval is None:
        raise EdgetlError("interval mode needs --interval SECONDS")
    return mode


class _Saver:
    """Writes each shot to ``folder/<timestamp>_<n>.jpg`` atomically and records it in the result."""

    def __init__(self, folder: Path, result: CaptureResult, quality: int, count: int | None,
                 say: Callable[[str], None]) -> None:
        import cv2

        self.cv2 = cv2
        self.folder, self.result, self.count, self.say = folder, result, count, say
        self.encode_params = [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)]

    def __call__(self, frame: np.ndarray) -> Path:
        ok, buf = self.cv2.imencode(".jpg", frame, self.encode_params)
        if not ok:
            raise EdgetlError("could not encode the frame as JPEG")
        saved, folder = self.result.saved, self.folder
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]
        path = folder / f"{stamp}_{len(saved) + 1:04d}.jpg"
        while path.exists():  # two shots in the same millisecond
            stamp += "x"
            path = folder / f"{stamp}_{len(saved) + 1:04d}.jpg"
        write_bytes(path, buf.tobytes())
        saved.append(str(path))
        self.say(f"saved {path} ({len(saved)}{'/' + str(self.count) if self.count else ''})")
        return path


class _Every:
    """Headless trigger: one shot every ``interval`` seconds of frame time; after a stall, no burst to catch up."""

    def __init__(self, interval: float) -> None:
        self.interval = float(interval)
        self.next_shot: float | None = None

    def due(self, t: float) -> bool:
        next_shot = self.next_shot
        if next_shot is not None and t < next_shot - 1e-9:
            return False
        next_shot = (t if next_shot is None else next_shot) + self.interval
        if t >= next_shot:  # a stall longer than the interval
            next_shot = t + self.interval
        self.next_shot = next_shot
        return True


def _preview_key(frame: np.ndarray, label: str, saved: int) -> int:
    """Show the frame with the capture overlay and return the key pressed (255 for none)."""
    import cv2

    preview = frame.copy()
    cv2.putText(preview, f"{label}: {saved} saved  [space] save  [q] quit", (10, 26),
                cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.imshow(_WINDOW, preview)
    return cv2.waitKey(1) & 0xFF


def _shoot(reader, stop: threading.Event, result: CaptureResult, save: _Saver, interval: float | None,
           count: int | None, video_fps: float) -> None:
    """Take frames until a stop, the end of the source, the quit key or ``count`` shots; sets ``stopped_by``."""
    every = _Every(interval) if result.mode == "interval" else None
    while not stop.is_set():
        item = reader.get(timeout=0.25)
        if item is None:
            if reader.finished:
                result.stopped_by = "end of source" if reader.error is None else f"source failed: {reader.error}"
                return
            continue
        frame_id, frame, t_capture = item
        result.frames_seen += 1
        if every is not None:
            if every.due((frame_id - 1) / video_fps if video_fps > 0 else t_capture):
                save(frame)
        else:
            key = _preview_key(frame, result.label, len(result.saved))
            if key == ord(" "):
                save(frame)
            elif key in (ord("q"), ord("Q"), 27):
                result.stopped_by = "quit key"
                return
        if count is not None and len(result.saved) >= count:
            result.stopped_by = "count reached"
            return


def capture(
    out: str | Path,
    label: str,
    source=0,
    interval: float | None = None,
    count: int | None = None,
    key_mode: str = "auto",
    quality: int = 95,
    width: int | None = None,
    height: int | None = None,
    stop_event: threading.Event | None = None,
    log: Callable[[str], None] | None = None,
    handle_signals: bool = True,
) -> CaptureResult:
    """Save frames from ``source`` into ``out/label/``.

    ``key_mode``: ``"key"`` (preview window, space saves), ``"interval"`` (headless, every ``interval``
    seconds) or ``"auto"`` (``key`` when a display is available and no interval is given, else
    ``interval``). Returns what was saved; raises EdgetlError for bad options or an unopenable source.
    """
    from edgetl.runtime.sources import FrameSource, LatestFrameReader, open_source

    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    label = _check_label(label)
    mode = _choose_mode(key_mode, interval, count, quality)
    folder = Path(out) / label
    folder.mkdir(parents=True, exist_ok=True)
    result = CaptureResult(Path(out), label, mode=mode)
    stop = stop_event if stop_event is not None else threading.Event()
    source_obj = source if isinstance(source, FrameSource) else open_source(source, width, height)
    video_fps = float(source_obj.fps or 0.0) if not source_obj.is_live else 0.0
    save = _Saver(folder, result, quality, count, say)

    received: list[str] = []
    with stop_on_signals(stop, handle_signals, received):
        reader = LatestFrameReader(source_obj, on_status=lambda m: say(f"camera: {m}"))
        try:
            say(f"capturing '{label}' from {source_obj.name} into {folder}: "
                + ("space saves, q quits" if mode == "key" else f"one frame every {interval:g} s") + ("" if count is None else f", {count} images"))
            _shoot(reader, stop, result, save, interval, count, video_fps)
            if not result.stopped_by:
                result.stopped_by = f"signal {received[0]}" if received else "stopped"
        finally:
            reader.stop()
            if mode == "key":
                import cv2

                with contextlib.suppress(Exception):
                    cv2.destroyWindow(_WINDOW)
                    cv2.waitKey(1)
    return result
