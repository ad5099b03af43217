"""PNG figures for a run: training curves and confusion matrix (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from edgetl.atomic import atomic_path


def headless_pyplot():
    """matplotlib's pyplot on the Agg backend: figures go to files, never to a window (servers, CI, a Pi)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def training_curves(history: Sequence[dict], dest: Path) -> Path:
    """Loss and accuracy per epoch, train vs validation, with the head / fine-tune stages marked."""
    plt = headless_pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(1, len(history) + 1)
    for key, ax in (("loss", ax_loss), ("accuracy", ax_acc)):
        ax.plot(x, [h.get(key, np.nan) for h in history], label=f"train {key}")
        ax.plot(x, [h.get(f"val_{key}", np.nan) for h in history], label=f"val {key}")
        stages = [h.get("stage") for h in history]
        for i in range(1, len(stages)):
            if stages[i] != stages[i - 1]:
                ax.axvline(i + 0.5, color="grey", linestyle="--", linewidth=1)
                ax.text(i + 0.6, ax.get_ylim()[1], "fine-tune", va="top", fontsize=8, color="grey")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("edgetl training")
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return dest


def confusion_matrix(cm: Sequence[Sequence[int]], classes: Sequence[str], dest: Path, title: str = "confusion matrix") -> Path:
    """Row-normalised colours with raw counts written in each cell."""
    plt = headless_pyplot()
    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.6 * n))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of true class")
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return dest
