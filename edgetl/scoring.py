"""Score models on labelled photos: the one loop behind `evaluate`, `report` and export's own measuring.

Photos are decoded once per chunk and squashed to each model's input size, unreadable ones are skipped
and named, and every model sees exactly the same images. Nothing here imports TensorFlow: a `.tflite`
model is scored on LiteRT alone; a Keras model brings TensorFlow with it, not this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np

CHUNK = 32  # images decoded and predicted together: bounded memory on a Pi, full batches for the interpreter


class Model(Protocol):
    """Square RGB uint8 images (N x size x size x 3) in, class probabilities (N x classes) out."""

    def predict(self, images: np.ndarray) -> np.ndarray: ...


@dataclass
class Scores:
    """What the models said about the readable images, in the order they were given."""

    truth: np.ndarray  # the label of each readable image (-1 for a negative)
    probs: list[np.ndarray]  # one N x classes array per model
    paths: list[Path] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.truth)


def input_size(model) -> int:
    """A model's square input side: ``size`` on a Predictor, ``input.size`` on the runtime's Classifier."""
    size = getattr(model, "size", None)
    return int(size if size is not None else model.input.size)


def score(models: Sequence[Model], items: Sequence[tuple[str | Path, int]], log: Callable[[str], None] | None = None,
          chunks: Callable[[list], Iterable] | None = None) -> Scores:
    """Run every model over the (path, label) ``items``; unreadable photos are skipped and listed.

    ``log`` hears one line per skipped photo; ``chunks`` may wrap the chunk list (a progress bar).
    """
    from edgetl.data.images import load_squares

    sizes = sorted({input_size(m) for m in models})
    truth: list[int] = []
    probs: list[list[np.ndarray]] = [[] for _ in models]
    scores = Scores(np.zeros(0, int), [])

    def skipped(path: Path, exc: Exception) -> None:
        scores.unreadable.append(str(path))
        if log is not None:
            log(f"skipping unreadable image: {exc}")

    parts = [list(items[i : i + CHUNK]) for i in range(0, len(items), CHUNK)]
    for part in chunks(parts) if chunks is not None else parts:
        batches, kept = load_squares([p for p, _ in part], sizes, skipped)
        if not kept:
            continue
        for out, m in zip(probs, models):
            out.append(_probabilities(m, batches[input_size(m)]))
        truth += [part[i][1] for i in kept]
        scores.paths += [Path(part[i][0]) for i in kept]
    scores.truth = np.asarray(truth, int)
    scores.probs = [np.concatenate(p) if p else np.zeros((0, 0), np.float32) for p in probs]
    return scores


def score_squares(models: Sequence[Model], squares: np.ndarray, truth: Sequence[int],
                  paths: Sequence[str | Path] = ()) -> Scores:
    """The same scoring on photos already decoded to one square size.

    For callers that keep the decoded photos for other work too (export places its familiarity gate on the
    held-out photos it also measures on), so nothing is decoded twice.
    """
    squares = np.asarray(squares, np.uint8)
    side = squares.shape[1] if squares.ndim == 4 else None
    for m in models:
        if input_size(m) != side:
            raise ValueError(f"a {input_size(m)} px model cannot score squares of shape {squares.shape}")
    parts = [squares[i : i + CHUNK] for i in range(0, len(squares), CHUNK)] or [squares]
    probs = [np.concatenate([_probabilities(m, part) for part in parts]) for m in models]
    return Scores(np.asarray(truth, int), probs, [Path(p) for p in paths])


def _probabilities(model: Model, squares: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(squares), np.float32)
