"""Classification metrics in plain numpy, shared by training, evaluation and benchmarks."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgetl.policy import TARGET_PRECISION


def confusion(y_true: Sequence[int], y_pred: Sequence[int], n: int) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


SILENT = -1  # the "prediction" of an all-zero output: a gate that moved a note's probability to nowhere


def predicted(probs: np.ndarray) -> np.ndarray:
    """Arg-max per row, or SILENT where the model gave no probability at all.

    A familiarity gate on a model without a ``background`` class rejects a photo by zeroing every score;
    that is silence, and counting it as the first label would turn a refusal into a wrong answer.
    """
    probs = np.asarray(probs, np.float32)
    if probs.size == 0:
        return np.zeros(len(probs), int)
    return np.where(probs.max(axis=1) > 0, probs.argmax(axis=1), SILENT)


def classification_report(y_true, probs: np.ndarray, classes: Sequence[str]) -> dict:
    """Top-1, per-class precision/recall/F1 and the confusion matrix (rows = truth).

    Silent outputs (see ``predicted``) count against top-1 and recall, never against a class's precision;
    ``answered`` and ``silent`` say how many photos got an answer.
    """
    y_true = np.asarray(y_true, int)
    probs = np.asarray(probs, np.float32)
    n = len(classes)
    if y_true.size == 0:
        return {"count": 0, "top1": None, "answered": 0, "silent": 0, "per_class": {},
                "confusion": np.zeros((n, n), int).tolist(), "classes": list(classes)}
    y_pred = predicted(probs)
    said = y_pred != SILENT
    cm = confusion(y_true[said], y_pred[said], n)
    support = np.bincount(y_true, minlength=n)
    tp = np.diag(cm).astype(float)
    precision = np.divide(tp, cm.sum(axis=0), out=np.zeros(n), where=cm.sum(axis=0) > 0)
    recall = np.divide(tp, support, out=np.zeros(n), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n), where=(precision + recall) > 0)
    silent_by_class = np.bincount(y_true[~said], minlength=n)
    per_class = {
        c: {"precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
            "f1": round(float(f1[i]), 4), "support": int(support[i]), "silent": int(silent_by_class[i])}
        for i, c in enumerate(classes)
    }
    return {
        "count": int(y_true.size),
        "top1": round(float((y_pred == y_true).mean()), 4),
        "answered": int(said.sum()),
        "silent": int((~said).sum()),
        "per_class": per_class,
        "confusion": cm.tolist(),
        "classes": list(classes),
    }


def measured_threshold(sel: dict) -> float | None:
    """When no threshold is trusted: the lowest at which the held-out answers reach the target as measured.

    Weaker than the trusted rule (no extra wrong answer is counted), but placed on the model's own photos, unlike
    a device's generic default: one folded 10 called 20 at 0.97 among the validation photos of the rupee model
    `make model` builds left no threshold trusted, and the Pi and the phone then spoke from 0.80 where this gives
    0.90 (BENCHMARKS.md, "The shipped model's card"). ``sel`` is what ``selective`` returned."""
    return next((r["threshold"] for r in sel["curve"]
                 if r["spoken"] >= sel["min_spoken"] and r["precision"] >= sel["target_precision"]), None)


def card_threshold(sel: dict, floor: float = 0.0) -> tuple[float | None, str, float | None]:
    """(the card's threshold, the rule that set it, validation's own pick) from ``selective``'s result.

    Validation's trusted threshold, else the one reached as measured, raised to ``floor`` when lower: validation
    shares its photographers with training, so a model that is merely less over-confident there gets a lower
    pick, and on a new photographer a lower card said wrong notes (BENCHMARKS.md, "The card's floor")."""
    own, rule = sel["threshold"], "one more wrong answer"
    if own is None:
        own, rule = measured_threshold(sel), "as measured"
    if own is None or own >= floor:
        return own, rule, own
    return floor, "floor", own


def confident_mistakes(y_true, probs: np.ndarray, labels: Sequence[str], paths: Sequence, silent: Sequence[int] = (),
                       count: int = 5) -> list[dict]:
    """The spoken wrong answers the model is surest of, surest first.

    On photos from the training photographers these are most often photos filed in the wrong class folder: the
    model is right and the folder is not. A few of them are enough to keep the card's rule from trusting any
    threshold, so export names them.
    """
    y_true = np.asarray(y_true, int)
    probs = np.asarray(probs, np.float32)
    pred = predicted(probs)
    wrong = np.flatnonzero(~np.isin(pred, list(silent)) & (pred != SILENT) & (pred != y_true))
    worst = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:count]
    return [{"path": str(paths[i]), "filed_as": labels[y_true[i]], "said": labels[pred[i]],
             "confidence": round(float(probs[i, pred[i]]), 4)} for i in worst]


def selective(y_true, probs: np.ndarray, thresholds: Sequence[float] | None = None, target_precision: float = TARGET_PRECISION,
              silent: Sequence[int] = (), min_spoken: int = 100) -> dict:
    """Coverage and precision of "speak only above a confidence threshold", and the lowest threshold to trust.

    A prediction of a ``silent`` class (e.g. background) is never spoken. Coverage is the share of
    images with a spoken answer; precision is the share of spoken answers that are right.

    The chosen threshold must keep ``target_precision`` even if one more spoken answer were wrong
    (``right / (spoken + 1)``), on at least ``min_spoken`` answers. Held-out photos come from the same
    photographers as the training ones and flatter the model; on a new photographer the plain point
    estimate landed at 98.4 % precision where this rule held 99.6 % (BENCHMARKS.md, "The card's threshold").
    """
    y_true = np.asarray(y_true, int)
    probs = np.asarray(probs, np.float32)
    if thresholds is None:
        thresholds = [round(t, 3) for t in np.concatenate([np.arange(0.30, 0.899, 0.05), np.arange(0.90, 0.999, 0.01)])]
    conf = probs.max(axis=1)
    pred = predicted(probs)
    speakable = ~np.isin(pred, list(silent)) & (pred != SILENT)
    rows = []
    for t in thresholds:
        spoken = speakable & (conf >= t)
        n_spoken = int(spoken.sum())
        correct = int((pred[spoken] == y_true[spoken]).sum())
        rows.append({"threshold": float(t), "coverage": round(n_spoken / max(1, y_true.size), 4),
                     "precision": round(correct / n_spoken, 4) if n_spoken else 1.0, "spoken": n_spoken,
                     "wrong": n_spoken - correct, "trusted": n_spoken >= min_spoken and correct / (n_spoken + 1) >= target_precision})
    best = next((r for r in rows if r["trusted"]), None)
    return {"target_precision": target_precision, "min_spoken": min_spoken, "curve": rows, "threshold": best["threshold"] if best else None,
            "coverage_at_threshold": best["coverage"] if best else 0.0}
