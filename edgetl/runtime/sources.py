"""Where frames come from (camera, Pi camera, video file, stream, image folder) and a reader that
keeps only the newest one.

Every source yields BGR uint8 HxWx3 arrays (OpenCV's order) from ``read()``, or None when it has no
frame (end of a file, or a camera that stopped delivering). ``LatestFrameReader`` runs the capture in
its own thread so slow inference never lets stale frames pile up, and reconnects a lost camera with
back-off while reporting the outage once.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from edgetl.data.images import UnreadableImage, is_image_file, read_rgb
from edgetl.errors import EdgetlError

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".h264", ".mjpeg", ".mjpg", ".wmv", ".3gp"})
DEFAULT_BACKOFF = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Hide OpenCV's own WARN lines while probing a device; we raise one clear error instead."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    try:
        previous = logging.getLogLevel()
        logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    except Exception:
        yield
        return
    try:
        yield
    finally:
        logging.setLogLevel(previous)


def _as_bgr(frame: np.ndarray | None) -> np.ndarray | None:
    if frame is None or frame.size == 0 or frame.dtype != np.uint8:
        return None
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


class FrameSource:
    """Interface: ``read(out=None)`` -> BGR uint8 frame or None; ``close()``; usable with ``with``.

    ``out`` is an optional buffer from a previous read that the source may decode into (OpenCV
    captures do); callers must use the returned array, which may or may not be ``out``.
    """

    name: str = "source"
    is_live: bool = False  # camera/stream (frames keep coming, old ones lose value) vs file/folder
    fps: float | None = None  # nominal rate when the source knows it
    frame_count: int | None = None  # total frames of a file/folder, when known

    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def reopen(self) -> "FrameSource":
        """A fresh source for the same device (used to reconnect); default: not possible."""
        raise EdgetlError(f"{self.name} cannot be reopened")

    @property
    def can_reopen(self) -> bool:
        return type(self).reopen is not FrameSource.reopen

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class CaptureSource(FrameSource):
    """An OpenCV ``VideoCapture``: camera index, /dev/videoN, video file or network stream."""

    def __init__(
        self,
        target: int | str,
        *,
        name: str | None = None,
        is_live: bool,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
    ) -> None:
        self.target = target
        self.is_live = is_live
        self.name = name or str(target)
        self._settings = (width, height, fps)
        with _quiet_opencv():
            if isinstance(target, str) and "://" in target:
                params: list[int] = []
                for prop, value in (("CAP_PROP_OPEN_TIMEOUT_MSEC", 10000), ("CAP_PROP_READ_TIMEOUT_MSEC", 5000)):
                    if hasattr(cv2, prop):
                        params += [getattr(cv2, prop), value]
                cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG, params) if params else cv2.VideoCapture(target)
            elif isinstance(target, int) or (isinstance(target, str) and target.startswith("/dev/video")):
                use_v4l2 = hasattr(cv2, "CAP_V4L2") and sys.platform.startswith("linux")
                cap = cv2.VideoCapture(target, cv2.CAP_V4L2) if use_v4l2 else cv2.VideoCapture(target)
            else:
                cap = cv2.VideoCapture(str(target))
        if not cap.isOpened():
            cap.release()
            if is_live and not (isinstance(target, str) and "://" in target):
                raise EdgetlError(f"{self.name} could not be opened (not connected, or in use by another program?)")
            if is_live:
                raise EdgetlError(f"stream {target} could not be opened (check the URL and that it is reachable)")
            raise EdgetlError(f"{target}: cannot open video (unsupported format or corrupt file)")
        if is_live:
            if width:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, int(width))
            if height:
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, int(height))
            if fps:
                cap.set(cv2.CAP_PROP_FPS, float(fps))
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # fewer frames queued in the driver = less latency
        self._cap = cap
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if (not is_live and count > 0) else None

    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        cap = self._cap
        if cap is None:
            return None
        ok, frame = cap.read(out) if out is not None else cap.read()
        if not ok:
            return None
        return _as_bgr(frame)

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

    def reopen(self) -> "CaptureSource":
        width, height, fps = self._settings
        return CaptureSource(self.target, name=self.name, is_live=self.is_live, width=width, height=height, fps=fps)


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


_FAST_CV2_SUFFIXES = frozenset({".jpg", ".jpeg"})


def read_bgr(path: str | Path) -> np.ndarray:
    """Decode an image file to BGR uint8, matching what training saw (``read_rgb``).

    JPEGs (8-bit, no alpha) go through cv2.imread, which applies EXIF orientation like read_rgb does;
    everything else (alpha, 16-bit, palettes, GIF...) goes through read_rgb so it is decoded identically.
    """
    path = Path(path)
    if path.suffix.lower() in _FAST_CV2_SUFFIXES:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is not None and frame.size:
            return frame
    rgb = read_rgb(path)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


class FolderSource(FrameSource):
    """The images of a folder (or one image), in natural sort order; ``loop=True`` repeats forever.

    Unreadable files are skipped and listed in ``skipped``, so one bad photo does not end a run.
    """

    is_live = False

    def __init__(self, path: str | Path, loop: bool = False) -> None:
        path = Path(path)
        if path.is_dir():
            files = sorted((p for p in path.iterdir() if is_image_file(p)), key=_natural_key)
        elif is_image_file(path):
            files = [path]
        else:
            raise EdgetlError(f"{path}: not an image folder or image file")
        if not files:
            raise EdgetlError(f"{path}: no images found (looked for .jpg, .png, .bmp, .webp, ...)")
        self.path = path
        self.files = files
        self.loop = loop
        self.name = str(path)
        self.frame_count = None if loop else len(files)
        self.skipped: list[str] = []
        self.current: Path | None = None  # file of the frame last returned
        self._index = 0
        self._closed = False

    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        misses = 0
        while not self._closed:
            if self._index >= len(self.files):
                if not self.loop or misses >= len(self.files):
                    return None
                self._index = 0
            path = self.files[self._index]
            self._index += 1
            try:
                frame = read_bgr(path)
            except (UnreadableImage, OSError):
                misses += 1
                if str(path) not in self.skipped:
                    self.skipped.append(str(path))
                if misses > len(self.files):
                    return None
                continue
            self.current = path
            return frame
        return None

    def close(self) -> None:
        self._closed = True


class Picamera2Source(FrameSource):
    """A Raspberry Pi camera through picamera2/libcamera (only importable on a Pi)."""

    is_live = True

    def __init__(self, camera_num: int = 0, width: int | None = None, height: int | None = None, fps: float | None = None) -> None:
        try:
            from picamera2 import Picamera2  # noqa: PLC0415 - only exists on Raspberry Pi OS
        except ImportError:
            raise EdgetlError(
                "picamera2 is not available: on Raspberry Pi OS run 'sudo apt install python3-picamera2' "
                "and create the venv with --system-site-packages (or use --camera 0 for a USB camera)"
            ) from None
        self.camera_num = camera_num
        self._settings = (width, height, fps)
        self.name = f"Pi camera {camera_num}"
        try:
            cam = Picamera2(camera_num)
            size = (int(width or 640), int(height or 480))
            controls = {"FrameRate": float(fps)} if fps else {}
            # libcamera's "RGB888" is laid out B,G,R in memory: exactly OpenCV's BGR.
            config = cam.create_video_configuration(main={"size": size, "format": "RGB888"}, controls=controls, buffer_count=2)
            cam.configure(config)
            cam.start()
        except Exception as exc:  # libcamera raises RuntimeError/IndexError/... for a missing camera
            raise EdgetlError(f"{self.name} could not be started: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        self._cam = cam

    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        cam = self._cam
        if cam is None:
            return None
        frame = cam.capture_array("main")
        return _as_bgr(frame[:, :, :3] if frame.ndim == 3 and frame.shape[2] == 4 else frame)

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            with contextlib.suppress(Exception):
                cam.stop()
            with contextlib.suppress(Exception):
                cam.close()

    def reopen(self) -> "Picamera2Source":
        width, height, fps = self._settings
        return Picamera2Source(self.camera_num, width, height, fps)


def open_source(
    spec: str | int | Path,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    loop: bool = False,
) -> FrameSource:
    """Open what the user named with ``--source``.

    ``0`` / ``"0"`` -> camera index; ``/dev/video2``; ``picamera2`` or ``picamera2:1`` -> Pi camera;
    ``rtsp://...`` / ``http://...`` -> stream; a folder or image file -> images (``loop`` repeats);
    any other existing file -> video file. Raises EdgetlError with one clear line otherwise.
    """
    if isinstance(spec, bool):
        raise EdgetlError(f"invalid source {spec!r}")
    if isinstance(spec, int):
        if spec < 0:
            raise EdgetlError(f"camera index must be 0 or more, not {spec}")
        return CaptureSource(spec, name=f"camera {spec}", is_live=True, width=width, height=height, fps=fps)
    text = str(spec).strip()
    if not text:
        raise EdgetlError("no source given; use a camera index (0), a video file, an image folder or a stream URL")
    if text.isdigit():
        return open_source(int(text), width, height, fps, loop)
    m = re.fullmatch(r"(?i)(picamera2?|picam|libcamera)(?::(\d+))?", text)
    if m:
        return Picamera2Source(int(m.group(2) or 0), width, height, fps)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme:
        if scheme not in STREAM_SCHEMES:
            raise EdgetlError(f"unsupported stream URL '{text}'; use one of: {', '.join(s + '://' for s in STREAM_SCHEMES)}")
        return CaptureSource(text, name=f"stream {_redact(text)}", is_live=True, width=width, height=height, fps=fps)
    if re.fullmatch(r"/dev/video\d+", text):
        if not Path(text).exists():
            raise EdgetlError(f"no camera at {text} (see 'ls /dev/video*'; is it plugged in?)")
        return CaptureSource(text, name=f"camera {text}", is_live=True, width=width, height=height, fps=fps)
    path = Path(text).expanduser()
    if not path.exists():
        raise EdgetlError(f"{text}: no such file or folder (for a camera give its index, e.g. --source 0)")
    if path.is_dir() or is_image_file(path):
        return FolderSource(path, loop=loop)
    if path.is_file():
        if path.stat().st_size == 0:
            raise EdgetlError(f"{path}: empty file")
        return CaptureSource(str(path), name=str(path), is_live=False)
    raise EdgetlError(f"{path}: not a video file, image folder or camera device")


def open_source_until(stop: threading.Event, spec, width: int | None = None, height: int | None = None,
                      fps: float | None = None, loop: bool = False, poll_s: float = 0.05) -> FrameSource | None:
    """``open_source`` that gives up as soon as ``stop`` is set (SIGTERM/SIGINT while a stream stalls).

    OpenCV's open blocks inside C for up to its open timeout, where no Python signal handler runs, so it
    runs in a helper thread while this one waits on ``stop``. Returns None when stopped first; a source
    that opens after that is closed by the helper, never leaked.
    """
    result: dict = {}
    lock = threading.Lock()
    done = threading.Event()

    def opener() -> None:
        try:
            opened = open_source(spec, width, height, fps, loop=loop)
        except BaseException as exc:  # handed to the waiting thread below
            with lock:
                result["error"] = exc
                done.set()
            return
        with lock:
            if result.get("abandoned"):
                opened.close()
            else:
                result["source"] = opened
            done.set()

    threading.Thread(target=opener, name="edgetl-open-source", daemon=True).start()
    while not done.wait(poll_s):
        if stop.is_set():
            with lock:
                if not done.is_set():
                    result["abandoned"] = True
                    return None
    if "error" in result:
        raise result["error"]
    return result["source"]


def _redact(url: str) -> str:
    """Hide a password in rtsp://user:pass@host URLs before it reaches logs or speech."""
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)


class LatestFrameReader:
    """Capture on a background thread; ``get()`` always returns the newest frame.

    ``pace="latest"`` (default for live sources): frames the consumer did not take in time are
    replaced and counted in ``dropped``. ``pace="all"`` (default for files/folders): the capture thread
    waits for the consumer, so an offline video is processed frame by frame, deterministically.

    Frames live in a small pool of reused buffers; the array returned by ``get()`` stays valid until
    the next ``get()`` call (pass ``copy=True`` to keep one longer).

    A live source that raises or returns no frame ``max_misses`` times in a row is closed and re-opened
    through ``reopen`` (default: ``source.reopen``) after the delays in ``backoff`` (last one repeats).
    ``on_status`` is called once when the source is lost and once when frames flow again; ``status``
    holds the latest message. The end of a file/folder, or a lost source that cannot be reopened, sets
    ``finished``; ``get`` then returns None.
    """

    def __init__(
        self,
        source: FrameSource,
        reopen: Callable[[], FrameSource | None] | None = None,
        backoff: tuple[float, ...] = DEFAULT_BACKOFF,
        pace: str | None = None,
        on_status: Callable[[str], None] | None = None,
        max_misses: int = 5,
        start: bool = True,
    ) -> None:
        if pace is None:
            pace = "latest" if source.is_live else "all"
        if pace not in ("latest", "all"):
            raise ValueError("pace must be 'latest' or 'all'")
        if reopen is None and source.can_reopen:
            reopen = source.reopen
        self.source = source
        self.name = source.name
        self.is_live = source.is_live
        self.pace = pace
        self.reopen = reopen
        self.backoff = tuple(float(b) for b in backoff) or (1.0,)
        self.on_status = on_status
        self.max_misses = max(1, int(max_misses))
        self.status: str | None = None
        self.frames = 0  # frames captured (= id of the newest frame)
        self.dropped = 0  # captured frames replaced before the consumer took them
        self.reconnects = 0
        self.error: str | None = None  # why the reader finished early, if it did
        self._attempt = 0  # reconnect attempts since the last good frame (indexes backoff)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._buffers: list[np.ndarray | None] = [None, None, None]
        self._latest: int | None = None  # slot of the newest unconsumed frame
        self._latest_meta: tuple[int, float] = (0, 0.0)
        self._held: int | None = None  # slot last handed to the consumer
        self._done = False
        self._thread = threading.Thread(target=self._run, name="edgetl-capture", daemon=True)
        if start:
            self.start()

    # -- consumer side
    def start(self) -> "LatestFrameReader":
        if not self._thread.is_alive() and not self._done:
            self._thread.start()
        return self

    def get(self, timeout: float | None = None, copy: bool = False) -> tuple[int, np.ndarray, float] | None:
        """``(frame_id, frame, t_capture)`` of the newest frame, or None on timeout / when finished.

        ``t_capture`` is ``time.monotonic()`` when the frame was read. Frame ids count every captured
        frame, so a jump means frames were dropped.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._latest is None:
                if self._done:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            slot = self._latest
            self._held = slot
            self._latest = None
            frame_id, t_capture = self._latest_meta
            frame = self._buffers[slot]
            self._cond.notify_all()
        assert frame is not None
        return frame_id, (frame.copy() if copy else frame), t_capture

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, float]]:
        while True:
            item = self.get()
            if item is None:
                return
            yield item

    @property
    def finished(self) -> bool:
        with self._cond:
            return self._done and self._latest is None

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop capturing and release the source; True when the thread has ended."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        elif not self._thread.ident:  # never started: release the source here
            self._close_source()
        with self._cond:
            self._done = True
            self._cond.notify_all()
        return not self._thread.is_alive()

    def __enter__(self) -> "LatestFrameReader":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- capture thread
    def _set_status(self, message: str) -> None:
        self.status = message
        if self.on_status is not None:
            try:
                self.on_status(message)
            except Exception:
                pass

    def _close_source(self) -> None:
        src, self.source = self.source, None
        if src is not None:
            with contextlib.suppress(Exception):
                src.close()

    def _free_slot(self) -> int:
        for slot in range(len(self._buffers)):
            if slot != self._latest and slot != self._held:
                return slot
        raise AssertionError("no free frame buffer")  # 3 slots, at most 2 in use

    def _run(self) -> None:
        try:
            self._capture_loop()
        finally:
            self._close_source()
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _capture_loop(self) -> None:
        misses = 0
        lost = False
        with self._cond:
            slot = self._free_slot()
        while not self._stop.is_set():
            src = self.source
            failure: str | None = None
            frame = None
            if src is None:
                failure = "no source"
            else:
                try:
                    frame = src.read(self._buffers[slot])
                except Exception as exc:
                    failure = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if frame is not None and (frame.size == 0 or frame.ndim != 3):
                frame = None
            if self._stop.is_set():
                return
            if frame is None:
                if not self.is_live:
                    if failure:  # a broken file: finish with the reason instead of silently
                        self.error = f"{self.name}: {failure}"
                        self._set_status(f"{self.name} failed: {failure}")
                    return  # end of file / folder
                misses += 1
                if failure is None and misses < self.max_misses:
                    self._stop.wait(0.01)  # a camera answering "no frame" instantly must not spin a core
                    continue
                if not lost:
                    lost = True
                    self._set_status(f"{self.name} lost, reconnecting…")
                if not self._reconnect():
                    return
                misses = 0
                continue
            misses = 0
            self._attempt = 0
            if lost:
                lost = False
                self._set_status(f"{self.name} back")
            t_capture = time.monotonic()
            with self._cond:
                self._buffers[slot] = frame
                if self.pace == "all":
                    self._cond.wait_for(lambda: self._latest is None or self._stop.is_set())
                    if self._stop.is_set():
                        return
                elif self._latest is not None:
                    self.dropped += 1
                self.frames += 1
                self._latest = slot
                self._latest_meta = (self.frames, t_capture)
                slot = self._free_slot()
                self._cond.notify_all()

    def _reconnect(self) -> bool:
        """Close the dead source and reopen it with back-off until it works or we are stopped."""
        self._close_source()
        if self.reopen is None:
            self.error = f"{self.name} lost and cannot be reopened"
            self._set_status(self.error)
            return False
        while not self._stop.is_set():
            delay = self.backoff[min(self._attempt, len(self.backoff) - 1)]
            self._attempt += 1
            if self._stop.wait(delay):
                return False
            try:
                new = self.reopen()
            except Exception:  # EdgetlError "could not be opened" etc.: keep trying quietly
                new = None
            if new is None:
                continue
            if self._stop.is_set():
                with contextlib.suppress(Exception):
                    new.close()
                return False
            self.source = new
            self.reconnects += 1
            return True
        return False
