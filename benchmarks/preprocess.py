"""Time the runner's pre-processing alone: the exact-multiple crop against plain bilinear on the full square.

    python benchmarks/preprocess.py [--video clip.mp4] [--size 224] [--frames 200] [--calls 3000] [--json]

Frames are decoded from a video (default: a 640x480 ``make_video`` clip) and cycled through, so each call
reads a frame from memory rather than from the cache, as a freshly captured frame would be. Both methods
write into one reused buffer and end with BGR->RGB, as ``Preprocessor`` does; the methods alternate in
rounds so machine load falls on both alike. Never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import paths  # noqa: F401  (makes edgetl importable)

from edgetl.runtime.preprocess import Preprocessor


def decode(video: Path, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise SystemExit(f"no frames in {video}")
    return frames


def bilinear_full_square(size: int):
    """The previous method: the whole centre square, bilinear straight to ``size``."""
    out = np.empty((size, size, 3), np.uint8)

    def call(frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        side = min(h, w)
        y, x = (h - side) // 2, (w - side) // 2
        cv2.resize(frame[y:y + side, x:x + side], (size, size), dst=out, interpolation=cv2.INTER_LINEAR)
        return cv2.cvtColor(out, cv2.COLOR_BGR2RGB, dst=out)

    return call


def time_calls(fn, frames: list[np.ndarray], calls: int) -> np.ndarray:
    times = np.empty(calls)
    for i in range(calls):
        frame = frames[i % len(frames)]
        start = time.perf_counter()
        fn(frame)
        times[i] = time.perf_counter() - start
    return times * 1e3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, help="clip to decode frames from (default: a 640x480 make_video clip)")
    ap.add_argument("--size", type=int, default=224, help="model input size")
    ap.add_argument("--frames", type=int, default=200, help="frames to cycle through")
    ap.add_argument("--calls", type=int, default=3000, help="timed calls per method and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)  # as in the loop
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if video is None:
            from edgetl.data.synth import make_video

            video = Path(tmp) / "clip.mp4"
            make_video(video, seconds=max(20.0, args.frames / 30 + 1))  # make_video needs ~17 s to show every note
        frames = decode(video, args.frames)
    methods = {"bilinear, full square": bilinear_full_square(args.size), "Preprocessor": Preprocessor(args.size)}
    samples: dict[str, list[np.ndarray]] = {name: [] for name in methods}
    for _ in range(args.rounds):
        for name, fn in methods.items():
            samples[name].append(time_calls(fn, frames, args.calls))
    h, w = frames[0].shape[:2]
    rows, cols, pyramid, interpolation = methods["Preprocessor"].plan(h, w)
    report = {"video": str(args.video or "make_video 640x480"), "frame": f"{w}x{h}", "size": args.size,
              "preprocessor_crop": f"{cols.stop - cols.start}x{rows.stop - rows.start}",
              "preprocessor_method": "box (INTER_AREA)" if interpolation == cv2.INTER_AREA else f"pyramid x{len(pyramid)} + bilinear",
              "methods": {}}
    for name, parts in samples.items():
        t = np.concatenate(parts)
        report["methods"][name] = {"mean_ms": round(float(t.mean()), 4), "p50_ms": round(float(np.median(t)), 4),
                                   "p95_ms": round(float(np.percentile(t, 95)), 4), "calls": len(t)}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{report['frame']} frames -> {args.size} px; Preprocessor: {report['preprocessor_crop']} crop, "
          f"{report['preprocessor_method']}\n")
    print("| method | mean ms | p50 ms | p95 ms |\n|---|---:|---:|---:|")
    for name, r in report["methods"].items():
        print(f"| {name} | {r['mean_ms']:.3f} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
