"""What would averaging several models' answers buy? An upper bound for distillation and weight blending.

    .venv/bin/python benchmarks/ensemble.py MODEL_A.tflite MODEL_B.tflite [MODEL_C.tflite ...] [--without 2000]

Reads the int8 outputs ``benchmarks/thresholds.py`` cached beside each model (``MODEL.views-1.npz``: validation,
test photos and ``negatives/``), averages them picture by picture, and prints, for each model alone and for the
average: top-1 on the test photos, the best coverage any threshold reaches at >= 99.5 % precision, and the
Swedish notes / scenes announced at the thresholds given by ``--at``. The models must have been scored on the same
test photos (the same protocol; under lofo any seed). No model is run, and an ensemble is not something edgetl
ships (one inference per frame is the budget): this only says how much there is to gain.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from paths import ROOT  # noqa: F401  (puts edgetl and benchmarks on the path)
from recognition import best_coverage  # noqa: E402
from thresholds import cached_predictions  # noqa: E402

BACKGROUND = "background"


def _load(model: Path) -> tuple[dict[str, np.ndarray], list[str]] | None:
    """The model's cached outputs and labels, or None when thresholds.py has not scored these bytes yet."""
    labels_file = model.with_name(model.name.removesuffix("_int8.tflite") + "_labels.txt")
    parts = cached_predictions(model, 1)
    if parts is None or not labels_file.exists():
        return None
    return parts, labels_file.read_text().split()


def summary(parts: dict[str, np.ndarray], labels: list[str], at: list[float], without: str | None = None) -> str:
    bg = labels.index(BACKGROUND)
    notes = [i for i in range(len(labels)) if i != bg]
    y, p = parts["y_test"], parts["p_test"]
    line = f"top-1 {(p.argmax(1) == y).mean():.1%}, best {best_coverage(p, y, [bg]):.1%}"
    if without is not None:
        kept = y != labels.index(without)
        line += f", top-1 without {without} {(p[kept].argmax(1) == y[kept]).mean():.1%}"
    neg, kind = parts["p_negatives"], parts["y_negatives"]
    named = neg.argmax(1) != bg
    for t in at:
        said = named & (neg[:, notes].max(1) >= t)
        line += f" | at {t:.2f}: {int((said & (kind == 0)).sum())} / {int((said & (kind == 1)).sum())}"
    return line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", type=Path, nargs="+")
    ap.add_argument("--at", type=float, nargs="+", default=[0.85, 0.90], help="thresholds for the negatives columns")
    ap.add_argument("--without", help="also top-1 without this class (under lofo: 2000, known only from scans)")
    args = ap.parse_args(argv)
    if len(args.models) < 2:
        print("error: give two models or more", file=sys.stderr)
        return 2
    loaded = [_load(m) for m in args.models]
    missing = [m.name for m, got in zip(args.models, loaded) if got is None]
    if missing:
        print(f"error: no cached outputs for {', '.join(missing)}: run benchmarks/thresholds.py on each first", file=sys.stderr)
        return 2
    first, labels = loaded[0]
    if args.without is not None and args.without not in labels:
        print(f"error: --without {args.without}: the labels are {', '.join(labels)}", file=sys.stderr)
        return 2
    if not all(lab == labels and np.array_equal(d["y_test"], first["y_test"]) for d, lab in loaded):
        print("error: the models were not scored on the same test photos with the same labels", file=sys.stderr)
        return 2
    print("negatives columns: Swedish notes / scenes announced (of 56 / 23)")
    for model, (parts, _) in zip(args.models, loaded):
        print(f"{model.name}: {summary(parts, labels, args.at, args.without)}")
    mean = {k: np.mean([d[k] for d, _ in loaded], axis=0) if k.startswith("p_") else first[k] for k in first}
    print(f"average of {len(loaded)}: {summary(mean, labels, args.at, args.without)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
