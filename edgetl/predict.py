"""`edgetl predict`: what a model says about single photos, and whether the device would speak it.

The quick check every classifier tool has: point it at a model and a few photos (or folders of them) and
see the top-k labels with confidences. "Announced" applies the same rules as `edgetl run` (the card's
threshold, the background label counts as silence, an all-zero output from the familiarity gate is
silence) to one photo, without the run loop's smoothing over frames.

A `.tflite` runs on LiteRT only (no TensorFlow import); a `.keras` or run folder needs TensorFlow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from edgetl.errors import EdgetlError

SILENT = "(silent)"  # what an all-zero (gate-rejected) output predicts


@dataclass
class Prediction:
    """One photo's answer: top-k (label, confidence), the spoken label or None, and why."""

    path: str
    top: list[dict]
    announced: str | None
    reason: str  # "announced", "background", "below threshold" or "gate rejected"


@dataclass
class PredictResult:
    model: str
    kind: str
    labels: list[str]
    threshold: float
    threshold_source: str
    background: str | None
    predictions: list[Prediction] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def format(self) -> str:
        lines = [f"{self.model} ({self.kind}): announce threshold {self.threshold:.2f} ({self.threshold_source})"]
        for p in self.predictions:
            tops = ", ".join(f"{t['label']} {t['confidence']:.1%}" for t in p.top) or SILENT
            verdict = f"says {p.announced}" if p.announced is not None else f"silent ({p.reason})"
            lines.append(f"{p.path}: {tops} -> {verdict}")
        lines += [f"unreadable: {u}" for u in self.unreadable]
        spoken = sum(p.announced is not None for p in self.predictions)
        lines.append(f"{len(self.predictions)} image(s), {spoken} announced, {len(self.unreadable)} unreadable")
        return "\n".join(lines)


def image_paths(inputs: Sequence[str | Path]) -> tuple[list[Path], list[str]]:
    """Files named directly (whatever their extension) and images found recursively in folders.

    Returns (paths, problems): a missing input is a problem to report, not a crash.
    """
    from edgetl.data.images import is_image_file

    paths, problems = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += sorted(p for p in item.rglob("*") if is_image_file(p))
        elif item.is_file():
            paths.append(item)
        else:
            problems.append(f"{item}: no such file or folder")
    return paths, problems


def decide(probs: np.ndarray, labels: Sequence[str], threshold: float, background: str | None) -> tuple[str | None, str]:
    """Would this one output be spoken? (label or None, reason)."""
    if not np.any(probs > 0):
        return None, "gate rejected"
    best = int(np.argmax(probs))
    if labels[best] == background:
        return None, "background"
    if float(probs[best]) < threshold:
        return None, "below threshold"
    return labels[best], "announced"


def _top(probs: np.ndarray, labels: Sequence[str], k: int) -> list[dict]:
    if not np.any(probs > 0):
        return []
    order = np.argsort(-probs, kind="stable")[:k]
    return [{"label": labels[i], "confidence": round(float(probs[i]), 6)} for i in order]


def _setup(predictor, threshold: float | None):
    from edgetl.runtime.setup import SetupError, decision_setup

    card = getattr(predictor, "card", None)
    try:
        return decision_setup(predictor.labels, card.background_label if card else None,
                              card.announce_threshold if card else None, threshold)
    except SetupError as exc:
        raise EdgetlError(str(exc)) from None


def predict(model: str | Path, inputs: Iterable[str | Path], top: int = 3, threshold: float | None = None,
            card: str | Path | None = None, threads: int | None = None) -> PredictResult:
    """Classify each readable image; unreadable ones are listed in the result, never raised."""
    from edgetl.data.images import load_square_batch
    from edgetl.evaluate import load_predictor
    from edgetl.scoring import CHUNK

    if top < 1:
        raise EdgetlError(f"--top must be at least 1 (got {top})")
    predictor = load_predictor(model, card=card, threads=threads)
    setup = _setup(predictor, threshold)
    paths, problems = image_paths(list(inputs))
    result = PredictResult(str(predictor.path), predictor.kind, list(predictor.labels), setup.threshold,
                           setup.threshold_source, setup.background, unreadable=problems)
    for start in range(0, len(paths), CHUNK):
        part = paths[start : start + CHUNK]
        squares, kept = load_square_batch(part, predictor.size, lambda _, exc: result.unreadable.append(str(exc)))
        for square, i in zip(squares, kept):  # predicted one by one, as a device would see them
            probs = np.asarray(predictor.predict(square[None]), np.float32)[0]
            announced, reason = decide(probs, predictor.labels, setup.threshold, setup.background)
            result.predictions.append(Prediction(str(part[i]), _top(probs, predictor.labels, top), announced, reason))
    return result
