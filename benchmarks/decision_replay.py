"""Replay decision settings on one clip's recorded model outputs, and show why missed notes were missed.

    python benchmarks/decision_replay.py MODEL --video clip.mp4 [--set ema --set vote --set ema,leave_frames=8]
    python benchmarks/decision_replay.py MODEL --video clip.mp4 --views alternate   # every second frame turned 180 degrees

The model runs once over every frame, through the same pre-processing and interpreter as `edgetl run` on a
file (video clock: frame i is at i / fps). Each ``--set`` then replays a fresh Decider over those rows and is
scored with the runner's own ``score_against_truth``. Replaying costs milliseconds, so settings can be
compared without re-running the model; ``benchmarks/runner.py --smoothing ...`` remains the measurement of
record (it runs the whole loop, and the negatives). For each note the first setting misses, it prints how
the model saw it: the true label's per-frame probability and which label topped the frames. Never imports
TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgetl.runtime.decide import DecisionConfig, Decider  # noqa: E402
from edgetl.runtime.interpreter import Classifier  # noqa: E402
from edgetl.runtime.preprocess import Preprocessor  # noqa: E402
from edgetl.runtime.runner import score_against_truth  # noqa: E402
from edgetl.runtime.setup import decision_setup  # noqa: E402
from edgetl.runtime.sources import open_source  # noqa: E402


VIEWS = ("as-is", "alternate", "mean")  # the frame; every second frame turned 180 degrees; both views averaged


def record(model: Path, video: Path, threads: int | None, turned: bool = False) -> tuple[Classifier, np.ndarray, np.ndarray | None]:
    """Every frame's class probabilities, as the loop computes them (and, if ``turned``, for the frame turned 180 degrees)."""
    clf = Classifier(model, threads=threads)
    prep = Preprocessor(clf.input.size, None, out=clf.input_buffer())
    source = open_source(video)
    rows, turned_rows = [], []
    try:
        while (frame := source.read()) is not None:
            square = prep(frame)  # the interpreter's own input buffer: copy the turned view before it is reused
            views = [square, np.ascontiguousarray(square[::-1, ::-1])] if turned else [square]
            for view, out in zip(views, (rows, turned_rows)):
                clf.set_input(view)
                clf.invoke()
                out.append(np.array(clf.output(), dtype=np.float64))
    finally:
        source.close()
    return clf, np.stack(rows), np.stack(turned_rows) if turned else None


def as_viewed(rows: np.ndarray, turned: np.ndarray | None, views: str) -> np.ndarray:
    """The rows a loop would see: as is; alternating with the turned view (one inference a frame); or averaged (two)."""
    if views == "as-is":
        return rows
    if views == "alternate":
        out = rows.copy()
        out[1::2] = turned[1::2]
        return out
    return (rows + turned) / 2


def parse_setting(text: str) -> dict:
    """``ema`` or ``vote``, then optional ``,FIELD=VALUE`` DecisionConfig overrides -> keyword arguments."""
    mode, *pairs = text.split(",")
    fields = {k: json.loads(v) for k, v in (p.split("=", 1) for p in pairs)}
    return {"smoothing": mode, **fields}


def replay(rows: np.ndarray, labels: list[str], background: str | None, threshold: float, fps: float,
           setting: dict) -> list[dict]:
    decider = Decider(labels, background, DecisionConfig(**{"threshold": threshold, **setting}))  # a setting may name its own threshold
    said = []
    for i, probs in enumerate(rows):
        event = decider.update(probs, i / fps)
        if event is not None and event.kind == "announce":
            said.append({"label": event.label, "frame": i})
    return said


def how_the_model_saw(rows: np.ndarray, labels: list[str], segment: dict) -> dict:
    part = rows[segment["start_frame"]:segment["end_frame"] + 1]
    p = part[:, labels.index(segment["label"])]
    tops = Counter(labels[k] for k in part.argmax(axis=1))
    return {"label": segment["label"], "frames": len(part), "p_median": round(float(np.median(p)), 3),
            "p_p90": round(float(np.percentile(p, 90)), 3), "p_max": round(float(p.max()), 3),
            "top_labels": dict(tops.most_common())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="exported .tflite (its card .json beside it)")
    ap.add_argument("--video", type=Path, required=True, help="clip with its ground-truth .json beside it")
    ap.add_argument("--set", dest="settings", action="append", help="ema or vote, optionally with ,FIELD=VALUE DecisionConfig overrides")
    ap.add_argument("--threshold", type=float, default=None, help="override the card's announce threshold")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--views", choices=VIEWS, default="as-is",
                    help="alternate: every second frame turned 180 degrees; mean: both views of every frame averaged")
    args = ap.parse_args(argv)
    settings = args.settings or ["ema"]
    truth = json.loads(args.video.with_suffix(".json").read_text())
    fps = float(truth.get("fps") or 30.0)
    clf, rows, turned = record(args.model, args.video, args.threads, turned=args.views != "as-is")
    rows = as_viewed(rows, turned, args.views)
    labels, card = list(clf.labels), clf.card
    setup = decision_setup(labels, card.background_label if card else None,
                           card.announce_threshold if card else None, threshold=args.threshold)
    report = {"model": str(args.model), "video": str(args.video), "frames": len(rows), "views": args.views, "threshold": setup.threshold,
              "settings": {}}
    for text in settings:
        score = score_against_truth(replay(rows, labels, setup.background, setup.threshold, fps,
                                           parse_setting(text)), truth)
        lat = score["latency_frames"]
        report["settings"][text] = {
            "announced": score["announced_segments"], "segments": score["segments"], "wrong": score["wrong"],
            "background": len(score["background"]), "repeats": len(score["repeats"]),
            "latency_median": float(np.median(lat)) if lat else None, "latency_max": max(lat) if lat else None,
            "missed": [how_the_model_saw(rows, labels, s) for s in score["missed"]]}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
