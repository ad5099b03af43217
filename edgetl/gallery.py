"""Evaluation figures: a gallery of the mistakes a model would speak, and the "speak above a threshold" curve.

Headless matplotlib (via ``edgetl.plots``), every PNG written atomically. numpy + matplotlib only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from edgetl.atomic import atomic_path
from edgetl.plots import headless_pyplot

MAX_ITEMS = 24


def _save(fig, dest: Path) -> Path:
    plt = headless_pyplot()
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return dest


def misclassified(items: Sequence[dict], dest: str | Path, title: str = "misclassified examples",
                  max_items: int = MAX_ITEMS, total: int | None = None, cols: int = 6) -> Path:
    """Thumbnails of mistakes, most confident (most dangerous when spoken) first.

    ``items``: dicts with ``image`` (HxWx3 uint8), ``true``, ``predicted`` and ``confidence``, and optionally
    ``path``. ``total`` is the number of mistakes overall when ``items`` holds only the worst of them. With no
    items the figure still renders, saying so, so a report never links to a missing or blank file.
    """
    plt = headless_pyplot()
    ranked = sorted(items, key=lambda it: -float(it["confidence"]))[:max_items]
    total = len(items) if total is None else total
    if not ranked:
        fig, ax = plt.subplots(figsize=(6, 2.2))
        ax.set_axis_off()
        ax.text(0.5, 0.55, "no misclassified images", ha="center", va="center", fontsize=16, color="#1a7f37")
        ax.text(0.5, 0.2, "every evaluated image got the right top-1 label", ha="center", va="center", fontsize=9,
                color="#444444")
        fig.patch.set_facecolor("#f4f8f4")
        fig.suptitle(title)
        return _save(fig, dest)
    cols = max(1, min(cols, len(ranked)))
    rows = math.ceil(len(ranked) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols, 2.45 * rows + 0.6), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, it in zip(axes.ravel(), ranked):
        ax.imshow(np.asarray(it["image"], dtype=np.uint8), interpolation="nearest")
        ax.set_title(f"true {it['true']}\npred {it['predicted']} {float(it['confidence']):.0%}", fontsize=8,
                     color="#b42318")
    shown = f"{len(ranked)} of {total}" if total > len(ranked) else f"{total}"
    fig.suptitle(f"{title} ({shown}, most confident first)", fontsize=10)
    fig.tight_layout()
    return _save(fig, dest)


def selective_curve(selective: dict, dest: str | Path, title: str = "speak only above a confidence threshold",
                    false_announcements: Sequence[int] | None = None) -> Path:
    """Coverage and precision against threshold, the target precision and the chosen threshold marked.

    ``selective`` is ``edgetl.metrics.selective``'s result. ``false_announcements`` (one count per curve row)
    adds the number of negative images that would be announced, on a second axis.
    """
    plt = headless_pyplot()
    curve = selective.get("curve") or []
    t = np.array([r["threshold"] for r in curve], dtype=float)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    if len(t):
        ax.plot(t, [r["coverage"] for r in curve], marker=".", label="coverage (share spoken)", color="#1f77b4")
        ax.plot(t, [r["precision"] for r in curve], marker=".", label="precision (spoken and right)", color="#2ca02c")
    else:
        ax.text(0.5, 0.5, "no images evaluated", ha="center", va="center", transform=ax.transAxes)
    target = selective.get("target_precision")
    if target is not None:
        ax.axhline(target, color="#2ca02c", linestyle=":", linewidth=1, label=f"target precision {target:g}")
    chosen = selective.get("threshold")
    if chosen is not None:
        ax.axvline(chosen, color="#d62728", linestyle="--", linewidth=1.2,
                   label=f"threshold {chosen:g} (coverage {selective.get('coverage_at_threshold', 0):.1%})")
    elif len(t):
        title += "\nno threshold reaches the target precision: the model should stay silent"
    ax.set_xlabel("confidence threshold")
    ax.set_ylabel("share")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if false_announcements is not None and len(t):
        ax2 = ax.twinx()
        line = ax2.step(t, list(false_announcements), where="mid", color="#ff7f0e", label="false announcements (negatives)")
        ax2.set_ylabel("negatives announced")
        ax2.set_ylim(bottom=0, top=max(1, max(false_announcements, default=0)) * 1.1)
        handles += line
        labels += [line[0].get_label()]
    ax.legend(handles, labels, loc="best", fontsize=8, framealpha=0.9)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, dest)
