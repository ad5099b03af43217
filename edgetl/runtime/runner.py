"""The device loop: newest camera frame -> model -> decision -> spoken denomination.

One thread does the per-frame work; capture and speech each run on their own thread, so a slow model
never queues stale frames and a slow voice never stalls the camera:

    LatestFrameReader.get()  ->  Preprocessor  ->  Classifier.set_input/invoke/output
        ->  Decider.update(probs, t)  ->  Speaker.say(phrase, key=label)   (returns at once)

Per frame the loop reuses every buffer it can (the reader's frame pool, the preprocessor's output, the
interpreter's input tensor, preallocated timing rings), so the work around ``invoke()`` stays well under a
millisecond even on a Raspberry Pi.

Time: a live camera uses the capture clock (``time.monotonic()`` at capture). A video file uses its own
timeline (frame index / fps), so cooldowns and hint delays mean the same thing whether the file is
processed in real time or ten times faster -- and results are reproducible.

Frame numbers in announcements are 0-based source frame indices (frame ``n`` of a video file is the
``n``-th decoded frame), so they compare directly with a ground-truth ``segments`` list.

Never imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, TextIO

import cv2
import numpy as np

from edgetl.errors import EdgetlError
from edgetl.runtime.decide import DecisionConfig, Decider
from edgetl.runtime.interpreter import Classifier
from edgetl.runtime.preprocess import Preprocessor, parse_roi
# Card -> decision settings (threshold floor and default, background, hint): shared with the Android app.
from edgetl.runtime.setup import DEFAULT_THRESHOLD, MIN_CARD_THRESHOLD, DecisionSetup, SetupError, decision_setup
from edgetl.runtime.signals import stop_on_signals
from edgetl.runtime.sources import FrameSource, LatestFrameReader, open_source_until
from edgetl.runtime.speech import Phrases, open_speaker

__all__ = [
    "RunConfig",
    "Announcement",
    "StageStats",
    "RunSummary",
    "run",
    "run_cli_text",
    "score_against_truth",
    "DEFAULT_THRESHOLD",
    "STAGES",
]

STAGES = ("capture", "preprocess", "invoke", "decide", "speech", "frame")
_STAGE_HELP = {
    "capture": "waiting for the newest frame (camera pace / decode)",
    "preprocess": "crop + resize + BGR->RGB + copy into the input tensor",
    "invoke": "interpreter.invoke()",
    "decide": "read + dequantize output, Decider.update",
    "speech": "Speaker.say hand-off (announcements only)",
    "frame": "whole loop iteration excluding capture wait",
}
_RING = 8192  # timing samples kept per stage for percentiles (totals/means cover the whole run)
_GET_TIMEOUT_S = 0.25  # how often the loop wakes up while no frame comes (stop, repeat button, display)


@dataclass
class RunConfig:
    """Everything ``edgetl run`` can be told. Only ``model`` is required."""

    model: str | Path
    card: str | Path | None = None  # default: the .json beside the model
    source: object = 0  # camera index, /dev/videoN, picamera2, URL, video file, image folder, or a FrameSource
    width: int | None = None  # camera capture size / rate requests (live sources only)
    height: int | None = None
    fps: float | None = None
    loop: bool = False  # repeat an image folder forever
    pace: str | None = None  # "latest" (drop stale frames) / "all" (every frame); default by source kind
    clock: str = "auto"  # "auto" (files: video time; live: capture time), "video" or "capture"
    # model
    threads: int | None = None
    delegate: str | None = None
    xnnpack: bool = True
    roi: str | tuple[float, float, float, float] | None = None  # "x,y,w,h" fractions or pixels; default centre square
    # speech
    lang: str = "en"
    phrases: str | Path | None = None  # phrases.json (default: one beside the model, else packaged)
    engine: str = "espeak"
    speak_cmd: str | None = None
    voice: str | None = None
    rate: int | None = None
    no_speech: bool = False  # print announcements instead of speaking
    earcon: bool = False  # short beep before each announcement
    say_ready: bool = True  # speak "Ready" once the camera delivers its first frame
    say_camera_status: bool = True  # speak "Camera lost" / "Camera back"
    # ui
    display: bool = False
    stats: bool = False
    stats_interval_s: float = 5.0
    log_file: str | Path | None = None
    gpio_pin: int | None = None  # BCM pin of a push button that repeats the last announcement
    # decision: defaults are DecisionConfig's; threshold and hint go through the setup rules (setup.py)
    threshold: float | None = None  # None: card.announce_threshold, else DecisionConfig.threshold
    smoothing: str = DecisionConfig.smoothing
    ema_alpha: float = DecisionConfig.ema_alpha
    window: int = DecisionConfig.window
    stable_frames: int = DecisionConfig.stable_frames
    cooldown_s: float = DecisionConfig.cooldown_s
    leave_frames: int = DecisionConfig.leave_frames
    hint_after_s: float | None = None  # None: DecisionConfig.hint_after_s (off)
    # limits (tests, benchmarks)
    max_frames: int | None = None
    max_seconds: float | None = None
    handle_signals: bool = True  # install SIGINT/SIGTERM handlers (main thread only)


@dataclass
class Announcement:
    frame: int  # 0-based source frame index
    t: float  # decision time in seconds (video time for files, monotonic for cameras)
    label: str
    confidence: float
    text: str
    kind: str = "announce"  # "announce" | "hint" | "repeat"
    latency_ms: float = 0.0  # capture -> speech hand-off
    wall_time: str = ""  # ISO timestamp


@dataclass
class StageStats:
    count: int = 0
    total_ms: float = 0.0
    mean_ms: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0


@dataclass
class RunSummary:
    frames: int = 0  # frames processed by the model
    captured: int = 0  # frames the source delivered
    dropped: int = 0  # frames replaced before the loop took them (live sources)
    reconnects: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    announcements: list[Announcement] = field(default_factory=list)  # kind == "announce" only
    hints: list[Announcement] = field(default_factory=list)
    repeats: int = 0
    stages: dict[str, StageStats] = field(default_factory=dict)
    status: list[str] = field(default_factory=list)  # camera lost / back messages, in order
    warnings: list[str] = field(default_factory=list)
    stopped_by: str = ""
    error: str | None = None  # set when the source failed for good
    engine: str = ""
    threshold: float = DEFAULT_THRESHOLD
    labels: list[str] = field(default_factory=list)
    model: str = ""
    source: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------ timing


class _Timer:
    """Per-stage timing in preallocated rings: recording a sample allocates nothing on the heap."""

    def __init__(self, names=STAGES, ring: int = _RING) -> None:
        self.names = tuple(names)
        self.index = {n: i for i, n in enumerate(self.names)}
        k = len(self.names)
        self.ring = np.zeros((k, ring), np.float64)
        self.count = np.zeros(k, np.int64)
        self.total = np.zeros(k, np.float64)
        self.max = np.zeros(k, np.float64)
        self.win_total = np.zeros(k, np.float64)  # since the last --stats line
        self.win_count = np.zeros(k, np.int64)
        self._size = ring

    def add(self, i: int, seconds: float) -> None:
        ms = seconds * 1000.0
        c = self.count[i]
        self.ring[i, c % self._size] = ms
        self.count[i] = c + 1
        self.total[i] += ms
        self.win_total[i] += ms
        self.win_count[i] += 1
        if ms > self.max[i]:
            self.max[i] = ms

    def window_means(self) -> dict[str, float]:
        out = {}
        for i, n in enumerate(self.names):
            c = int(self.win_count[i])
            out[n] = float(self.win_total[i] / c) if c else float("nan")
        self.win_total[:] = 0.0
        self.win_count[:] = 0
        return out

    def stats(self) -> dict[str, StageStats]:
        out = {}
        for i, n in enumerate(self.names):
            c = int(self.count[i])
            if c == 0:
                out[n] = StageStats()
                continue
            samples = self.ring[i, : min(c, self._size)]
            p50, p95 = np.percentile(samples, [50, 95])
            out[n] = StageStats(c, round(float(self.total[i]), 3), round(float(self.total[i] / c), 4),
                                round(float(p50), 4), round(float(p95), 4), round(float(self.max[i]), 4))
        return out


# ------------------------------------------------------------------------------------------ display / button


class _Display:
    """An OpenCV preview window with an overlay; turns itself off (one warning) where there is no display."""

    WINDOW = "edgetl"

    def __init__(self, warn: Callable[[str], None]) -> None:
        self.enabled = False
        import cv2

        self.cv2 = cv2
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            warn("warning: --display needs a desktop session (no DISPLAY); continuing without the preview window")
            return
        try:
            cv2.namedWindow(self.WINDOW, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            first = (str(exc).strip().splitlines() or ["cv2.error"])[-1][:120]
            warn(f"warning: --display unavailable ({first}; opencv-python-headless has no GUI); continuing without it")
            return
        self.enabled = True

    def show(self, frame: np.ndarray, region: tuple[int, int, int, int], lines: list[str], hot: bool) -> int:
        """Draw the overlay on ``frame`` (in place) and return the key pressed (-1 for none)."""
        cv2 = self.cv2
        x0, y0, x1, y1 = region
        cv2.rectangle(frame, (x0, y0), (x1 - 1, y1 - 1), (0, 220, 0) if hot else (200, 200, 200), 2)
        y = 28
        for text in lines:
            cv2.putText(frame, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 4, cv2.LINE_AA)
            cv2.putText(frame, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
            y += 30
        try:
            cv2.imshow(self.WINDOW, frame)
            return cv2.waitKey(1) & 0xFF
        except cv2.error:
            self.enabled = False
            return -1

    def close(self) -> None:
        if self.enabled:
            with contextlib.suppress(Exception):
                self.cv2.destroyWindow(self.WINDOW)
                self.cv2.waitKey(1)
        self.enabled = False


def _open_button(pin: int, on_press: Callable[[], None], warn: Callable[[str], None]):
    try:
        from gpiozero import Button  # noqa: PLC0415 - optional, Raspberry Pi only
    except ImportError:
        warn(f"warning: gpiozero is not installed, so the repeat button on GPIO {pin} is disabled "
             "(sudo apt install python3-gpiozero, or pip install gpiozero)")
        return None
    try:
        button = Button(pin, pull_up=True, bounce_time=0.05)
    except Exception as exc:  # no GPIO chip / pin busy / not a Pi
        warn(f"warning: repeat button on GPIO {pin} unavailable ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})")
        return None
    button.when_pressed = on_press
    return button


# ------------------------------------------------------------------------------------------ helpers


def _region_box(pre, shape) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the part of the frame the model sees (for the overlay)."""
    rows, cols = pre.plan(shape[0], shape[1])[:2]
    return cols.start, rows.start, cols.stop, rows.stop


def _now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="milliseconds")


class _JsonlLog:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.fh = open(self.path, "a", encoding="utf-8", buffering=1)
        except OSError as exc:
            raise EdgetlError(f"cannot open log file {self.path}: {exc.strerror or exc}") from None

    def write(self, record: dict) -> None:
        try:
            self.fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        except (OSError, ValueError):
            pass  # a full disk must not stop the announcements

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.fh.close()


def _decision_config(config: RunConfig, setup: DecisionSetup) -> DecisionConfig:
    """The Decider's settings: threshold and hint delay as the setup rules resolved them, the rest as given."""
    try:
        return DecisionConfig(threshold=float(setup.threshold), smoothing=config.smoothing,
                              ema_alpha=float(config.ema_alpha), window=int(config.window),
                              stable_frames=int(config.stable_frames), cooldown_s=float(config.cooldown_s),
                              leave_frames=int(config.leave_frames), hint_after_s=float(setup.hint_after_s))
    except ValueError as exc:
        raise EdgetlError(str(exc).replace("DecisionConfig: ", "")) from None


def _video_clock(clock: str, source: FrameSource) -> float:
    """Frames per second of the video timeline to use, or 0 for the capture clock."""
    if clock == "capture" or (clock == "auto" and source.is_live):
        return 0.0
    fps = float(source.fps or 0.0)
    if clock == "video" and fps <= 0:
        fps = 30.0  # a folder of frames has no rate: treat it as 30 fps
    return max(fps, 0.0)


# ------------------------------------------------------------------------------------------ the loop


class _Loop:
    """One run of the device loop: :meth:`start` opens everything, :meth:`step` handles one frame,
    :meth:`close` stops the threads and fills in the summary. State shared by the steps lives here."""

    def __init__(self, config: RunConfig, stop_event: threading.Event | None,
                 on_event: Callable[[Announcement], None] | None, log: Callable[[str], None] | None,
                 out: TextIO | None) -> None:
        self.config = config
        self.stop = stop_event if stop_event is not None else threading.Event()
        self.on_event = on_event
        self.say_line = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.out = out
        self.summary = RunSummary(model=str(config.model))
        if config.clock not in ("auto", "video", "capture"):
            raise EdgetlError(f"clock must be auto, video or capture (got {config.clock!r})")
        self.received: list[str] = []  # names of the signals that stopped the run
        self.jsonl: _JsonlLog | None = None
        self.reader: LatestFrameReader | None = None
        self.display: _Display | None = None
        self.button = None
        self.repeat_request = threading.Event()  # set by the GPIO button's thread
        self.status_queue: list[str] = []  # camera lost / back, from the capture thread
        self.status_lock = threading.Lock()
        self.timer = _Timer()
        self.stage = tuple(self.timer.index[n] for n in STAGES)  # capture, preprocess, invoke, decide, speech, frame
        self.started = time.perf_counter()
        self.frames = 0
        self.last_index, self.last_t = -1, 0.0

    def warn(self, msg: str) -> None:
        self.summary.warnings.append(msg)
        self.say_line(msg)

    # ---- start-up: everything that can fail does so here, with one clear line

    def start(self) -> bool:
        """Open model, speaker, source and outputs; False when a stop came while the source was opening."""
        self._open_model()
        self._open_speaker()
        if not self._open_source():
            return False
        self.started = time.perf_counter()
        try:
            self._open_outputs()
        except BaseException:
            self.close()
            raise
        return True

    def _open_model(self) -> None:
        """Classifier + card, the decision settings, the phrases and the preprocessor."""
        config, summary = self.config, self.summary
        self.classifier = Classifier(config.model, config.card, threads=config.threads, delegate=config.delegate,
                                     xnnpack=config.xnnpack, warn=lambda m: self.warn(f"warning: {m}"))
        card = self.classifier.card
        self.labels = labels = list(self.classifier.labels)
        summary.labels = labels
        try:
            setup = decision_setup(labels, card.background_label if card is not None else None,
                                   card.announce_threshold if card is not None else None,
                                   threshold=config.threshold, hint_after_s=config.hint_after_s)
        except SetupError as exc:
            raise EdgetlError(str(exc)) from None
        if setup.threshold_source == "card_raised":
            self.warn(f"warning: the model card's announce threshold {card.announce_threshold:.2f} is below "
                      f"{MIN_CARD_THRESHOLD}; using {MIN_CARD_THRESHOLD} (pass --threshold to choose)")
        summary.threshold = setup.threshold
        self.decider = Decider(labels, setup.background, _decision_config(config, setup))
        phrases_path = config.phrases if config.phrases is not None else Path(config.model).parent
        self.phrases = Phrases.load(phrases_path, config.lang)
        self.texts = {label: self.phrases.phrase_for(label) for label in labels}
        self.hint_text = self.phrases.hint_phrase()
        roi = parse_roi(config.roi) if isinstance(config.roi, str) else config.roi
        self.preprocess = Preprocessor(self.classifier.input.size, roi, out=self.classifier.input_buffer())
        # One small resize a frame gains nothing from OpenCV's worker pool; waking it costs more than the
        # resize and competes with the interpreter's threads and the capture thread for the same cores.
        cv2.setNumThreads(1)

    def _open_speaker(self) -> None:
        config = self.config
        self.speaker, speech_warning = open_speaker(
            "print" if config.no_speech else config.engine, lang=config.lang,
            speak_cmd=None if config.no_speech else config.speak_cmd, voice=config.voice or self.phrases.voice,
            rate=config.rate, earcon=config.earcon, stream=self.out, on_error=lambda m: self.warn(m))
        self.summary.engine = self.speaker.engine.name
        if speech_warning:
            self.warn(f"warning: {speech_warning}")

    def _open_source(self) -> bool:
        """Open the frame source and pick the clock; False (summary says why) when stopped while opening."""
        config, summary = self.config, self.summary
        try:
            if isinstance(config.source, FrameSource):
                source = config.source
            else:  # a stalled stream may take its whole open timeout: SIGTERM/SIGINT must still stop cleanly
                with stop_on_signals(self.stop, config.handle_signals, self.received):
                    source = open_source_until(self.stop, config.source, config.width, config.height, config.fps,
                                               loop=config.loop)
        except BaseException:
            self.speaker.close(timeout=1.0)
            raise
        if source is None:
            self.speaker.close(timeout=1.0)
            summary.stopped_by = (f"signal {self.received[0]} while opening the source" if self.received
                                  else "stopped while opening")
            return False
        self.source = source
        summary.source = source.name
        self.video_fps = _video_clock(config.clock, source)
        return True

    def _open_outputs(self) -> None:
        """JSONL log, preview window, repeat button and the capture thread (not started yet); then the banner."""
        config, summary, source = self.config, self.summary, self.source
        if config.log_file:
            self.jsonl = _JsonlLog(config.log_file)
            self.jsonl.write({"event": "start", "time": _now_iso(), "model": str(config.model), "source": source.name,
                              "threshold": summary.threshold, "labels": self.labels, "engine": summary.engine})
        if config.display:
            display = _Display(self.warn)
            self.display = display if display.enabled else None
        if config.gpio_pin is not None:
            self.button = _open_button(int(config.gpio_pin), self.repeat_request.set, self.warn)
        self.reader = LatestFrameReader(source, on_status=self._on_status, pace=config.pace, start=False)
        self.say_line(f"edgetl: {Path(config.model).name} ({len(self.labels)} labels, {self.classifier.input.size} px, "
                      f"threshold {summary.threshold:.2f}) on {source.name}; speech: {summary.engine}"
                      + ("; Ctrl-C to stop" if source.is_live else ""))

    def begin(self) -> None:
        """Start capturing; limits and the --stats window count from here."""
        self.reader.start()
        now = time.perf_counter()
        self.next_stats = now + self.config.stats_interval_s
        self.stats_frames = 0
        self.stats_start = now
        self.deadline = self.started + self.config.max_seconds if self.config.max_seconds else None
        self.ready_said = not self.config.say_ready

    # ---- per frame

    def step(self) -> bool:
        """One pass: newest frame -> preprocess -> invoke -> decide -> speak/log; False ends the loop."""
        perf = time.perf_counter
        t0 = perf()
        item = self.reader.get(timeout=_GET_TIMEOUT_S)
        t1 = perf()
        if self.status_queue:
            self.drain_status(self.last_index, self.last_t)
        if self.repeat_request.is_set():
            self.repeat_request.clear()
            self.repeat(self.last_index, self.last_t)
        if item is None:
            return self._idle(t1)
        frame_id, frame, t_capture = item
        index = frame_id - 1
        t = index / self.video_fps if self.video_fps else t_capture
        if not self.ready_said:
            self.ready_said = True
            self.speaker.say(self.phrases.text("ready", "Ready"), key="ready")
        probs, invoke_s = self._classify(frame, index, t, t_capture, t0, t1)
        self.frames += 1
        self.stats_frames += 1
        self.last_index, self.last_t = index, t
        if self.display is not None and not self._show(frame, probs, index, t, invoke_s):
            return False
        return self._tick()

    def _idle(self, now: float) -> bool:
        """No frame within the wait: end when the source is done or time is up, else keep waiting."""
        reader, summary = self.reader, self.summary
        if reader.finished:
            summary.stopped_by = "end of source" if reader.error is None else "source failed"
            summary.error = reader.error
            return False
        if self.deadline is not None and now >= self.deadline:
            summary.stopped_by = "max_seconds"
            return False
        return True

    def _classify(self, frame: np.ndarray, index: int, t: float, t_capture: float,
                  t0: float, t1: float) -> tuple[np.ndarray, float]:
        """Preprocess, invoke, decide and speak for one frame, timing each stage from ``t0`` (waiting for the
        frame) and ``t1`` (frame in hand); returns (probs, invoke seconds)."""
        perf = time.perf_counter
        timer, (i_cap, i_pre, i_inv, i_dec, i_spk, i_frm) = self.timer, self.stage
        classifier = self.classifier
        rgb = self.preprocess(frame)
        classifier.set_input(rgb)
        t2 = perf()
        classifier.invoke()
        t3 = perf()
        probs = classifier.output()
        event = self.decider.update(probs, t)
        t4 = perf()
        timer.add(i_cap, t1 - t0)
        timer.add(i_pre, t2 - t1)
        timer.add(i_inv, t3 - t2)
        timer.add(i_dec, t4 - t3)
        if event is not None:
            if event.kind == "announce":
                text = self.texts[event.label]
                self.speaker.say(text, key=event.label)
            else:
                text = self.hint_text
                self.speaker.say(text, key="hint")
            t5 = perf()
            timer.add(i_spk, t5 - t4)
            self.emit(event.kind, event.label, event.confidence, t, index, text, t_capture)
        else:
            t5 = t4
        timer.add(i_frm, (t5 - t1) + 0.0)
        return probs, t3 - t2

    def _show(self, frame: np.ndarray, probs: np.ndarray, index: int, t: float, invoke_s: float) -> bool:
        """Draw the preview; 'r' repeats, 'q'/Esc quits (returns False)."""
        decider, display = self.decider, self.display
        top = int(np.argmax(probs))
        lines = [f"{decider.in_view or '-'}", f"top {self.labels[top]} {float(probs[top]):.2f}",
                 f"invoke {invoke_s * 1000:.1f} ms"]
        key = display.show(frame, _region_box(self.preprocess, frame.shape), lines, decider.in_view is not None)
        if key in (ord("r"), ord("R")):
            self.repeat(index, t)
        elif key in (ord("q"), ord("Q"), 27):
            self.summary.stopped_by = "quit key"
            return False
        if not display.enabled:
            self.display = None
        return True

    def _tick(self) -> bool:
        """After a frame: a --stats line when one is due; False once max_frames or max_seconds is reached."""
        config, summary = self.config, self.summary
        now = time.perf_counter()
        if config.stats and now >= self.next_stats:
            means = self.timer.window_means()
            fps = self.stats_frames / max(1e-9, now - self.stats_start)
            self.say_line("stats: " + f"{fps:5.1f} fps | " + " | ".join(
                f"{n} {means[n]:.2f} ms" for n in STAGES if means[n] == means[n])
                + f" | dropped {self.reader.dropped} | reconnects {self.reader.reconnects}")
            self.stats_frames, self.stats_start, self.next_stats = 0, now, now + config.stats_interval_s
        if config.max_frames is not None and self.frames >= config.max_frames:
            summary.stopped_by = "max_frames"
            return False
        if self.deadline is not None and now >= self.deadline:
            summary.stopped_by = "max_seconds"
            return False
        return True

    # ---- events: announcements, repeats, camera status

    def emit(self, kind: str, label: str, conf: float, t: float, frame_index: int, text: str, t_capture: float) -> None:
        """Record one announcement / hint / repeat in the summary and the log, and tell ``on_event``."""
        summary = self.summary
        record = Announcement(frame_index, round(t, 4), label, round(float(conf), 4), text, kind,
                              round((time.perf_counter() - t_capture) * 1000.0, 3) if t_capture else 0.0, _now_iso())
        if kind == "announce":
            summary.announcements.append(record)
        elif kind == "hint":
            summary.hints.append(record)
        else:
            summary.repeats += 1
        if self.jsonl is not None:
            self.jsonl.write({"event": kind, "time": record.wall_time, "label": label, "confidence": record.confidence,
                              "frame": frame_index, "t": record.t, "text": text})
        if self.on_event is not None:
            try:
                self.on_event(record)
            except Exception as exc:  # a broken callback must not kill the device loop
                self.warn(f"warning: on_event callback failed: {exc}")

    def repeat(self, frame_index: int, t: float) -> None:
        """Say the last announcement again (button or 'r' key)."""
        last = self.decider.last_announced
        text = self.texts[last] if last is not None else self.phrases.text("repeat_none", "Nothing announced yet")
        self.speaker.say(text, key=("repeat", last))
        self.emit("repeat", last or "", 0.0, t, frame_index, text, 0.0)

    def _on_status(self, message: str) -> None:  # capture thread
        with self.status_lock:
            self.status_queue.append(message)

    def drain_status(self, frame_index: int, t: float) -> None:
        """Report the capture thread's camera lost / back messages (stderr, log, and by voice if asked)."""
        with self.status_lock:
            messages = list(self.status_queue)
            self.status_queue.clear()
        for message in messages:
            self.summary.status.append(message)
            self.say_line(f"camera: {message}")
            back = message.endswith(" back")
            if self.jsonl is not None:
                self.jsonl.write({"event": "status", "time": _now_iso(), "message": message, "frame": frame_index})
            if self.config.say_camera_status:
                key = "camera_back" if back else "camera_lost"
                self.speaker.say(self.phrases.text(key, "Camera back" if back else "Camera lost"), key=key)

    # ---- shut-down

    def finish(self) -> None:
        """The loop ended without an error: say why, and count the frames."""
        if not self.summary.stopped_by:
            self.summary.stopped_by = f"signal {self.received[0]}" if self.received else "stopped"
        self.summary.frames = self.frames

    def close(self) -> None:
        """Stop capture, speech, window and button, then fill in the summary and close the log."""
        elapsed = time.perf_counter() - self.started
        summary = self.summary
        if self.reader is not None:
            self.reader.stop()
            summary.captured = self.reader.frames
            summary.dropped = self.reader.dropped
            summary.reconnects = self.reader.reconnects
            if self.status_queue:
                with contextlib.suppress(Exception):
                    self.drain_status(-1, 0.0)
        else:
            with contextlib.suppress(Exception):
                self.source.close()
        natural_end = summary.stopped_by in ("end of source", "max_frames", "max_seconds")
        self.speaker.close(timeout=3.0 if natural_end else 1.0, drain=natural_end)
        if self.display is not None:
            self.display.close()
        if self.button is not None:
            with contextlib.suppress(Exception):
                self.button.close()
        summary.seconds = round(elapsed, 3)
        timer = self.timer
        loop_s = float(timer.total[timer.index["frame"]] + timer.total[timer.index["capture"]]) / 1000.0
        summary.fps = round(summary.frames / loop_s, 2) if loop_s > 0 and summary.frames else 0.0
        summary.stages = self.timer.stats()
        if self.jsonl is not None:
            self.jsonl.write({"event": "stop", "time": _now_iso(), "reason": summary.stopped_by or "error",
                              "frames": summary.frames, "announcements": len(summary.announcements),
                              "fps": summary.fps, "dropped": summary.dropped, "reconnects": summary.reconnects})
            self.jsonl.close()


def run(config: RunConfig, stop_event: threading.Event | None = None,
        on_event: Callable[[Announcement], None] | None = None,
        log: Callable[[str], None] | None = None, out: TextIO | None = None) -> RunSummary:
    """Run the camera loop until the source ends, ``stop_event`` is set, a signal arrives or a limit hits.

    ``on_event`` is called (on the loop thread) for every announcement, hint and repeat. ``log`` receives
    human-readable status lines (default: stderr); ``out`` is where the print engine writes (default:
    stdout). Raises EdgetlError for problems found at start-up (model, card, source, options).
    """
    loop = _Loop(config, stop_event, on_event, log, out)
    if not loop.start():  # stopped while the source was still opening
        return loop.summary
    try:
        with stop_on_signals(loop.stop, config.handle_signals, loop.received):
            loop.begin()
            while not loop.stop.is_set() and loop.step():
                pass
            loop.finish()
    finally:
        loop.close()
    return loop.summary


# ------------------------------------------------------------------------------------------ reporting


def run_cli_text(summary: RunSummary) -> str:
    """A short human-readable report for the end of ``edgetl run``."""
    lines = [
        f"stopped: {summary.stopped_by or 'unknown'}" + (f" ({summary.error})" if summary.error else ""),
        f"frames: {summary.frames} processed of {summary.captured} captured, {summary.dropped} dropped, "
        f"{summary.reconnects} reconnect(s); {summary.fps:.1f} fps over {summary.seconds:.1f} s",
        f"announcements: {len(summary.announcements)}"
        + (" (" + ", ".join(f"{a.label}@{a.frame}" for a in summary.announcements[:12])
           + (", …" if len(summary.announcements) > 12 else "") + ")" if summary.announcements else ""),
    ]
    if summary.hints:
        lines.append(f"hints: {len(summary.hints)}")
    rows = [(n, summary.stages.get(n)) for n in STAGES]
    rows = [(n, s) for n, s in rows if s is not None and s.count]
    if rows:
        lines.append("stage        mean ms   p50 ms   p95 ms   max ms   count")
        for n, s in rows:
            lines.append(f"{n:<11} {s.mean_ms:8.3f} {s.p50_ms:8.3f} {s.p95_ms:8.3f} {s.max_ms:8.2f} {s.count:7d}")
    return "\n".join(lines)


def score_against_truth(announcements, truth: dict, margin_frames: int | None = None) -> dict:
    """Compare announcements with a synthetic video's ground truth (``make_video``'s JSON).

    A segment's *window* is ``[start - margin, end + margin]`` (a note half in view, or the EMA still
    holding it for a few frames after it left, is not a false alarm). An announcement inside a window
    with the segment's label is a hit (the first per segment; more are ``repeats``); inside a window with
    another label it is ``wrong``; outside every window it is ``background`` (spoken while no note was
    shown). ``latency_frames`` is announcement frame - segment start for each hit.
    """
    fps = float(truth.get("fps") or 30.0)
    margin = int(round(0.5 * fps)) if margin_frames is None else int(margin_frames)
    segments = truth["segments"]
    hits: dict[int, int] = {}
    wrong, background, repeats = [], [], []
    latency = []
    for a in announcements:
        label, frame = (a.label, a.frame) if hasattr(a, "label") else (a["label"], a["frame"])
        inside = [k for k, s in enumerate(segments) if s["start_frame"] - margin <= frame <= s["end_frame"] + margin]
        if not inside:
            background.append({"label": label, "frame": frame})
            continue
        match = [k for k in inside if segments[k]["label"] == label]
        if not match:
            wrong.append({"label": label, "frame": frame, "shown": [segments[k]["label"] for k in inside]})
            continue
        k = match[0]
        if k in hits:
            repeats.append({"label": label, "frame": frame, "segment": k})
            continue
        hits[k] = frame
        latency.append(frame - segments[k]["start_frame"])
    return {
        "segments": len(segments),
        "announced_segments": len(hits),
        "recall": len(hits) / len(segments) if segments else 1.0,
        "wrong": wrong,
        "background": background,
        "repeats": repeats,
        "latency_frames": latency,
        "margin_frames": margin,
        "missed": [segments[k] for k in range(len(segments)) if k not in hits],
    }
