"""Benchmark the device loop (`edgetl run`) on an exported int8 model.

    python benchmarks/runner.py models/notes_int8.tflite [--video clip.mp4] [--threads 2] [--json]

Runs through the real runner (print engine, so speech costs only its hand-off):

1. **video** -- a synthetic clip with ground truth (``--video`` with its ``.json`` beside it, or one made
   on the fly with ``make_video``): per-stage milliseconds (capture wait/decode, pre-process, invoke,
   decide, speech hand-off), loop FPS, recall, wrong announcements, announcements during background-only
   stretches, and frames from a note appearing to its announcement.
2. **camera-paced** -- the same clip delivered like a live camera (``--camera-fps``, default 30): the
   per-stage cost when the loop is not saturated, as on a real camera.
3. **negatives** -- every image under ``../shared/data/negatives/`` (scenes, foreign notes) shown as a
   camera would, each held for ``--hold`` frames: any announcement there is a false one.
4. **bare invoke** -- ``Classifier.invoke()`` alone, in the same process right after, for the loop's
   overhead in context.

Prints a markdown table (or ``--json``). Never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgetl.data.images import is_image_file, read_rgb  # noqa: E402
from edgetl.runtime.interpreter import Classifier  # noqa: E402
from edgetl.runtime.runner import STAGES, RunConfig, run, score_against_truth  # noqa: E402
from edgetl.runtime.sources import FrameSource, open_source  # noqa: E402

NEGATIVES = ROOT.parent / "shared" / "data" / "negatives"


class HeldImages(FrameSource):
    """Images letterboxed into WxH frames, each repeated ``hold`` times (a still camera looking at it)."""

    is_live = False

    def __init__(self, paths: list[Path], hold: int = 30, size=(640, 480), fps: float = 30.0):
        self.paths = paths
        self.hold = hold
        self.size = size
        self.fps = fps
        self.name = f"{len(paths)} negative images x {hold} frames"
        self.frame_count = len(paths) * hold
        self._i = 0
        self._frame = None
        self.owner: list[str] = []  # image path per frame index

    def _compose(self, path: Path) -> np.ndarray:
        w, h = self.size
        rgb = read_rgb(path)
        scale = min(w / rgb.shape[1], h / rgb.shape[0])
        nw, nh = max(1, int(rgb.shape[1] * scale)), max(1, int(rgb.shape[0] * scale))
        frame = np.full((h, w, 3), 40, np.uint8)
        y, x = (h - nh) // 2, (w - nw) // 2
        frame[y:y + nh, x:x + nw] = cv2.cvtColor(cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
        return frame

    def read(self, out=None):
        if self._i >= self.frame_count:
            return None
        k, j = divmod(self._i, self.hold)
        if j == 0:
            self._frame = self._compose(self.paths[k])
        self.owner.append(str(self.paths[k]))
        self._i += 1
        if out is not None and out.shape == self._frame.shape:
            out[...] = self._frame
            return out
        return self._frame.copy()


class CameraPaced(FrameSource):
    """A video file delivered like a live camera: frame i becomes available at i / fps, not sooner.

    The saturated run (every frame as fast as possible) shows what the loop can do; this one shows what
    it costs on a real 30 FPS camera, where the interpreter's and OpenCV's threads idle between frames.
    """

    is_live = True

    def __init__(self, path: Path, fps: float = 30.0):
        self.inner = open_source(path)
        self.fps = fps
        self.name = f"{path} paced at {fps:g} FPS"
        self._start: float | None = None
        self._i = 0

    def read(self, out=None):
        if self._start is None:
            self._start = time.perf_counter()
        frame = self.inner.read(out)
        due = self._start + self._i / self.fps
        self._i += 1
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        return frame

    def close(self):
        self.inner.close()


def stage_rows(summary) -> dict:
    return {n: {"mean_ms": s.mean_ms, "p50_ms": s.p50_ms, "p95_ms": s.p95_ms, "count": s.count}
            for n, s in summary.stages.items() if s.count}


def loop_overhead(stages: dict) -> float:
    """The loop's own work per frame (mean ms): everything but waiting for frames and the model."""
    return sum(stages.get(n, {}).get("mean_ms", 0.0) for n in ("preprocess", "decide"))


def print_stages(stages: dict, extra: tuple[str, dict] | None = None) -> None:
    print("| stage | mean ms | p50 ms | p95 ms | count |\n|---|---:|---:|---:|---:|")
    rows = [(n, stages[n]) for n in STAGES if n in stages] + ([extra] if extra else [])
    for name, s in rows:
        print(f"| {name} | {s['mean_ms']:.3f} | {s['p50_ms']:.3f} | {s['p95_ms']:.3f} | {s['count']} |")
    print()


def bare_invoke(model: Path, threads: int | None, n: int = 200) -> dict:
    clf = Classifier(model, threads=threads)
    clf.set_input(np.zeros((clf.input.size, clf.input.size, 3), np.uint8))
    for _ in range(10):
        clf.invoke()
    times = np.empty(n)
    for i in range(n):
        t = time.perf_counter()
        clf.invoke()
        times[i] = (time.perf_counter() - t) * 1000
    return {"mean_ms": float(times.mean()), "p50_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95)), "count": n}


def background_stretches(truth: dict, margin: int) -> int:
    """Frames farther than ``margin`` from every note segment (where nothing may be said)."""
    covered = np.zeros(truth["frames"], bool)
    for s in truth["segments"]:
        covered[max(0, s["start_frame"] - margin):s["end_frame"] + margin + 1] = True
    return int((~covered).sum())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="exported .tflite (its card .json beside it)")
    ap.add_argument("--video", type=Path, help="clip with ground-truth .json beside it (default: synthesise one)")
    ap.add_argument("--seconds", type=float, default=40.0, help="length of the synthesised clip")
    ap.add_argument("--size", default="640x480", help="synthesised clip / negative frame size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--negatives", type=Path, default=NEGATIVES)
    ap.add_argument("--hold", type=int, default=30, help="frames each negative image is shown")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--threshold", type=float, default=None, help="override the card's announce threshold")
    ap.add_argument("--camera-fps", type=float, default=30.0, help="pace of the camera-like run (0: skip it)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    quiet = dict(no_speech=True, say_ready=False, handle_signals=False, threads=args.threads, threshold=args.threshold)
    sink = open("/dev/null", "w")  # noqa: SIM115 - the print engine's output is not the point here
    report: dict = {"model": str(args.model), "threads": args.threads}

    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if video is None:
            from edgetl.data.synth import make_video  # numpy/OpenCV only

            video = Path(tmp) / "clip.mp4"
            make_video(video, seed=args.seed, size=(w, h), seconds=args.seconds)
        truth = json.loads(video.with_suffix(".json").read_text())
        summary = run(RunConfig(model=args.model, source=video, **quiet), log=lambda m: None, out=sink)
        score = score_against_truth(summary.announcements, truth)
        report["video"] = {
            "source": str(args.video or f"make_video(seed={args.seed}, {w}x{h}, {args.seconds:g} s)"),
            "frames": summary.frames, "fps": summary.fps, "threshold": summary.threshold,
            "stages": stage_rows(summary),
            "segments": score["segments"], "announced_segments": score["announced_segments"], "recall": score["recall"],
            "wrong": len(score["wrong"]), "background_announcements": len(score["background"]),
            "background_frames": background_stretches(truth, score["margin_frames"]),
            "repeats": len(score["repeats"]),
            "latency_frames": score["latency_frames"],
            "latency_frames_median": float(np.median(score["latency_frames"])) if score["latency_frames"] else None,
            "latency_frames_max": max(score["latency_frames"]) if score["latency_frames"] else None,
            "details": {k: score[k] for k in ("wrong", "background", "repeats")},
        }

        if args.camera_fps > 0:
            paced = run(RunConfig(model=args.model, source=CameraPaced(video, args.camera_fps), **quiet), log=lambda m: None, out=sink)
            paced_score = score_against_truth(paced.announcements, truth)
            report["camera_paced"] = {
                "fps_in": args.camera_fps, "frames": paced.frames, "dropped": getattr(paced, "dropped", None),
                "stages": stage_rows(paced), "announced_segments": paced_score["announced_segments"],
                "wrong": len(paced_score["wrong"]), "background_announcements": len(paced_score["background"]),
                "latency_frames": paced_score["latency_frames"],
            }

    paths = sorted(p for p in args.negatives.rglob("*") if p.is_file() and is_image_file(p)) if args.negatives.is_dir() else []
    if paths:
        held = HeldImages(paths, hold=args.hold, size=(w, h))
        neg = run(RunConfig(model=args.model, source=held, **quiet), log=lambda m: None, out=sink)
        false = [{"image": held.owner[a.frame], "label": a.label, "confidence": a.confidence} for a in neg.announcements]
        report["negatives"] = {"images": len(paths), "frames": neg.frames, "false_announcements": len(false),
                               "images_with_false": len({f["image"] for f in false}), "details": false}
    else:
        report["negatives"] = {"images": 0, "note": f"{args.negatives} not found"}

    report["bare_invoke"] = bare_invoke(args.model, args.threads)
    v = report["video"]
    overhead = loop_overhead(v["stages"])
    report["overhead_ms_per_frame"] = round(overhead, 4)
    paced = report.get("camera_paced")
    paced_overhead = loop_overhead(paced["stages"]) if paced else None
    report["overhead_ms_per_frame_camera_paced"] = None if paced_overhead is None else round(paced_overhead, 4)

    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print(f"model `{args.model}`, threads {args.threads or 'default'}, threshold {v['threshold']:.2f}\n")
    print_stages(v["stages"], extra=("bare invoke()", report["bare_invoke"]))
    if paced:
        print(f"camera-paced run ({args.camera_fps:g} FPS in, {paced['frames']} frames processed)\n")
        print_stages(paced["stages"])
    neg = report["negatives"]
    print("| measure | value |\n|---|---|")
    rows = [
        ("loop FPS (video, every frame)", f"{v['fps']:.1f}"),
        ("pre-process + decide per frame", f"{overhead:.3f} ms"),
        (f"pre-process + decide per frame, camera-paced at {args.camera_fps:g} FPS",
         f"{paced_overhead:.3f} ms ({paced['frames']} frames)" if paced else "-"),
        ("note segments announced", f"{v['announced_segments']}/{v['segments']} ({v['recall']:.0%})"),
        ("wrong denomination announced", str(v["wrong"])),
        ("announcements in background-only stretches", f"{v['background_announcements']} over {v['background_frames']} frames"),
        ("repeated announcements of one note", str(v["repeats"])),
        ("frames from note appearing to announcement", f"median {v['latency_frames_median']}, max {v['latency_frames_max']}"
         if v["latency_frames"] else "-"),
        ("false announcements on negatives", f"{neg.get('false_announcements', '-')} over {neg.get('frames', 0)} frames "
                                             f"({neg.get('images', 0)} images x {args.hold})"),
    ]
    for k, val in rows:
        print(f"| {k} | {val} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
