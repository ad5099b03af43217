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

from edgetl.runtime.signals import stop_on_signals
from edgetl.errors import EdgetlError
# Card -> decision settings (threshold floor and default, background, hint): shared with the Android app.
from edgetl.runtime.setup import DEFAULT_THRESHOLD, MIN_CARD_THRESHOLD, SetupError, decision_setup

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
    # decision
    threshold: float | None = None  # default: card.announce_threshold, else 0.8
    smoothing: str = "ema"
    ema_alpha: float = 0.5
    window: int = 5
    stable_frames: int = 3
    cooldown_s: float = 3.0
    leave_frames: int = 5
    hint_after_s: float = 0.0
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


def _decision_config(config: RunConfig, threshold: float):
    from edgetl.runtime.decide import DecisionConfig

    try:
        return DecisionConfig(threshold=float(threshold), smoothing=config.smoothing, ema_alpha=float(config.ema_alpha),
                              window=int(config.window), stable_frames=int(config.stable_frames),
                              cooldown_s=float(config.cooldown_s), leave_frames=int(config.leave_frames),
                              hint_after_s=float(config.hint_after_s))
    except ValueError as exc:
        raise EdgetlError(str(exc).replace("DecisionConfig: ", "")) from None


# ------------------------------------------------------------------------------------------ the loop


def run(config: RunConfig, stop_event: threading.Event | None = None,
        on_event: Callable[[Announcement], None] | None = None,
        log: Callable[[str], None] | None = None, out: TextIO | None = None) -> RunSummary:
    """Run the camera loop until the source ends, ``stop_event`` is set, a signal arrives or a limit hits.

    ``on_event`` is called (on the loop thread) for every announcement, hint and repeat. ``log`` receives
    human-readable status lines (default: stderr); ``out`` is where the print engine writes (default:
    stdout). Raises EdgetlError for problems found at start-up (model, card, source, options).
    """
    from edgetl.runtime.decide import Decider
    from edgetl.runtime.interpreter import Classifier
    from edgetl.runtime.preprocess import Preprocessor, parse_roi
    from edgetl.runtime.sources import FrameSource, LatestFrameReader, open_source_until
    from edgetl.runtime.speech import Phrases, open_speaker

    stop = stop_event if stop_event is not None else threading.Event()
    say_line = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    summary = RunSummary(model=str(config.model))
    if config.clock not in ("auto", "video", "capture"):
        raise EdgetlError(f"clock must be auto, video or capture (got {config.clock!r})")

    def warn(msg: str) -> None:
        summary.warnings.append(msg)
        say_line(msg)

    # ---- start-up: everything that can fail does so here, with one clear line
    classifier = Classifier(config.model, config.card, threads=config.threads, delegate=config.delegate,
                            xnnpack=config.xnnpack, warn=lambda m: warn(f"warning: {m}"))
    card = classifier.card
    labels = list(classifier.labels)
    summary.labels = labels
    try:
        setup = decision_setup(labels, card.background_label if card is not None else None,
                               card.announce_threshold if card is not None else None,
                               threshold=config.threshold, hint_after_s=config.hint_after_s)
    except SetupError as exc:
        raise EdgetlError(str(exc)) from None
    threshold = setup.threshold
    if setup.threshold_source == "card_raised":
        warn(f"warning: the model card's announce threshold {card.announce_threshold:.2f} is below "
             f"{MIN_CARD_THRESHOLD}; using {MIN_CARD_THRESHOLD} (pass --threshold to choose)")
    summary.threshold = threshold
    decider = Decider(labels, setup.background, _decision_config(config, threshold))
    phrases_path = config.phrases if config.phrases is not None else Path(config.model).parent
    phrases = Phrases.load(phrases_path, config.lang)
    texts = {label: phrases.phrase_for(label) for label in labels}
    hint_text = phrases.hint_phrase()
    roi = parse_roi(config.roi) if isinstance(config.roi, str) else config.roi
    preprocess = Preprocessor(classifier.input.size, roi, out=classifier.input_buffer())
    # One small resize a frame gains nothing from OpenCV's worker pool; waking it costs more than the
    # resize and competes with the interpreter's threads and the capture thread for the same cores.
    cv2.setNumThreads(1)

    speaker, speech_warning = open_speaker("print" if config.no_speech else config.engine, lang=config.lang,
                                           speak_cmd=None if config.no_speech else config.speak_cmd,
                                           voice=config.voice or phrases.voice, rate=config.rate,
                                           earcon=config.earcon, stream=out,
                                           on_error=lambda m: warn(m))
    summary.engine = speaker.engine.name
    if speech_warning:
        warn(f"warning: {speech_warning}")
    received: list[str] = []
    try:
        if isinstance(config.source, FrameSource):
            source = config.source
        else:  # a stalled stream may take its whole open timeout: SIGTERM/SIGINT must still stop cleanly
            with stop_on_signals(stop, config.handle_signals, received):
                source = open_source_until(stop, config.source, config.width, config.height, config.fps,
                                           loop=config.loop)
    except BaseException:
        speaker.close(timeout=1.0)
        raise
    if source is None:
        speaker.close(timeout=1.0)
        summary.stopped_by = f"signal {received[0]} while opening the source" if received else "stopped while opening"
        return summary
    summary.source = source.name
    use_video_clock = config.clock == "video" or (config.clock == "auto" and not source.is_live)
    video_fps = float(source.fps or 0.0) if use_video_clock else 0.0
    if config.clock == "video" and video_fps <= 0:
        video_fps = 30.0  # a folder of frames has no rate: treat it as 30 fps
    if video_fps <= 0:
        use_video_clock = False

    jsonl = None
    reader = None
    display = None
    button = None
    repeat_request = threading.Event()
    status_queue: list[str] = []
    status_lock = threading.Lock()

    def on_status(message: str) -> None:  # capture thread
        with status_lock:
            status_queue.append(message)

    timer = _Timer()
    I_CAP, I_PRE, I_INV, I_DEC, I_SPK, I_FRM = (timer.index[n] for n in STAGES)
    perf = time.perf_counter
    started = perf()
    try:
        if config.log_file:
            jsonl = _JsonlLog(config.log_file)
            jsonl.write({"event": "start", "time": _now_iso(), "model": str(config.model), "source": source.name,
                         "threshold": threshold, "labels": labels, "engine": summary.engine})
        if config.display:
            display = _Display(warn)
            if not display.enabled:
                display = None
        if config.gpio_pin is not None:
            button = _open_button(int(config.gpio_pin), repeat_request.set, warn)

        reader = LatestFrameReader(source, on_status=on_status, pace=config.pace, start=False)
        say_line(f"edgetl: {Path(config.model).name} ({len(labels)} labels, {classifier.input.size} px, "
                 f"threshold {threshold:.2f}) on {source.name}; speech: {summary.engine}"
                 + ("; Ctrl-C to stop" if source.is_live else ""))

        def emit(kind: str, label: str, conf: float, t: float, frame_index: int, text: str, t_capture: float) -> None:
            record = Announcement(frame_index, round(t, 4), label, round(float(conf), 4), text, kind,
                                  round((perf() - t_capture) * 1000.0, 3) if t_capture else 0.0, _now_iso())
            if kind == "announce":
                summary.announcements.append(record)
            elif kind == "hint":
                summary.hints.append(record)
            else:
                summary.repeats += 1
            if jsonl is not None:
                jsonl.write({"event": kind, "time": record.wall_time, "label": label, "confidence": record.confidence,
                             "frame": frame_index, "t": record.t, "text": text})
            if on_event is not None:
                try:
                    on_event(record)
                except Exception as exc:  # a broken callback must not kill the device loop
                    warn(f"warning: on_event callback failed: {exc}")

        def do_repeat(frame_index: int, t: float) -> None:
            last = decider.last_announced
            text = texts[last] if last is not None else phrases.text("repeat_none", "Nothing announced yet")
            speaker.say(text, key=("repeat", last))
            emit("repeat", last or "", 0.0, t, frame_index, text, 0.0)

        def drain_status(frame_index: int, t: float) -> None:
            with status_lock:
                messages = list(status_queue)
                status_queue.clear()
            for message in messages:
                summary.status.append(message)
                say_line(f"camera: {message}")
                back = message.endswith(" back")
                if jsonl is not None:
                    jsonl.write({"event": "status", "time": _now_iso(), "message": message, "frame": frame_index})
                if config.say_camera_status:
                    key = "camera_back" if back else "camera_lost"
                    speaker.say(phrases.text(key, "Camera back" if back else "Camera lost"), key=key)

        with stop_on_signals(stop, config.handle_signals, received):
            reader.start()
            frames = 0
            last_index = -1
            last_t = 0.0
            next_stats = perf() + config.stats_interval_s
            stats_frames = 0
            stats_start = perf()
            deadline = started + config.max_seconds if config.max_seconds else None
            ready_said = not config.say_ready
            while not stop.is_set():
                t0 = perf()
                item = reader.get(timeout=_GET_TIMEOUT_S)
                t1 = perf()
                if status_queue:
                    drain_status(last_index, last_t)
                if repeat_request.is_set():
                    repeat_request.clear()
                    do_repeat(last_index, last_t)
                if item is None:
                    if reader.finished:
                        summary.stopped_by = "end of source" if reader.error is None else "source failed"
                        summary.error = reader.error
                        break
                    if deadline is not None and t1 >= deadline:
                        summary.stopped_by = "max_seconds"
                        break
                    continue
                frame_id, frame, t_capture = item
                index = frame_id - 1
                t = index / video_fps if use_video_clock else t_capture
                if not ready_said:
                    ready_said = True
                    speaker.say(phrases.text("ready", "Ready"), key="ready")

                rgb = preprocess(frame)
                classifier.set_input(rgb)
                t2 = perf()
                classifier.invoke()
                t3 = perf()
                probs = classifier.output()
                event = decider.update(probs, t)
                t4 = perf()
                timer.add(I_CAP, t1 - t0)
                timer.add(I_PRE, t2 - t1)
                timer.add(I_INV, t3 - t2)
                timer.add(I_DEC, t4 - t3)
                if event is not None:
                    if event.kind == "announce":
                        text = texts[event.label]
                        speaker.say(text, key=event.label)
                    else:
                        text = hint_text
                        speaker.say(text, key="hint")
                    t5 = perf()
                    timer.add(I_SPK, t5 - t4)
                    emit(event.kind, event.label, event.confidence, t, index, text, t_capture)
                else:
                    t5 = t4
                timer.add(I_FRM, (t5 - t1) + 0.0)
                frames += 1
                stats_frames += 1
                last_index, last_t = index, t

                if display is not None:
                    top = int(np.argmax(probs))
                    hot = decider.in_view is not None
                    lines = [f"{decider.in_view or '-'}", f"top {labels[top]} {float(probs[top]):.2f}",
                             f"invoke {(t3 - t2) * 1000:.1f} ms"]
                    key = display.show(frame, _region_box(preprocess, frame.shape), lines, hot)
                    if key in (ord("r"), ord("R")):
                        do_repeat(index, t)
                    elif key in (ord("q"), ord("Q"), 27):
                        summary.stopped_by = "quit key"
                        break
                    if not display.enabled:
                        display = None

                now = perf()
                if config.stats and now >= next_stats:
                    means = timer.window_means()
                    fps = stats_frames / max(1e-9, now - stats_start)
                    say_line("stats: " + f"{fps:5.1f} fps | " + " | ".join(
                        f"{n} {means[n]:.2f} ms" for n in STAGES if means[n] == means[n])
                        + f" | dropped {reader.dropped} | reconnects {reader.reconnects}")
                    stats_frames, stats_start, next_stats = 0, now, now + config.stats_interval_s
                if config.max_frames is not None and frames >= config.max_frames:
                    summary.stopped_by = "max_frames"
                    break
                if deadline is not None and now >= deadline:
                    summary.stopped_by = "max_seconds"
                    break
            if not summary.stopped_by:
                summary.stopped_by = f"signal {received[0]}" if received else "stopped"
            summary.frames = frames
    finally:
        elapsed = perf() - started
        if reader is not None:
            reader.stop()
            summary.captured = reader.frames
            summary.dropped = reader.dropped
            summary.reconnects = reader.reconnects
            if status_queue:
                with contextlib.suppress(Exception):
                    drain_status(-1, 0.0)
        else:
            with contextlib.suppress(Exception):
                source.close()
        natural_end = summary.stopped_by in ("end of source", "max_frames", "max_seconds")
        speaker.close(timeout=3.0 if natural_end else 1.0, drain=natural_end)
        if display is not None:
            display.close()
        if button is not None:
            with contextlib.suppress(Exception):
                button.close()
        summary.seconds = round(elapsed, 3)
        loop_s = float(timer.total[I_FRM] + timer.total[I_CAP]) / 1000.0
        summary.fps = round(summary.frames / loop_s, 2) if loop_s > 0 and summary.frames else 0.0
        summary.stages = timer.stats()
        if jsonl is not None:
            jsonl.write({"event": "stop", "time": _now_iso(), "reason": summary.stopped_by or "error",
                         "frames": summary.frames, "announcements": len(summary.announcements),
                         "fps": summary.fps, "dropped": summary.dropped, "reconnects": summary.reconnects})
            jsonl.close()
    return summary


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
