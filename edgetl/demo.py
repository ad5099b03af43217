"""`edgetl demo`: the whole pipeline on the embedded synthetic data set, in a few minutes on a laptop."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from edgetl.errors import EdgetlError


def run_demo(out: Path, weights: str = "imagenet", per_class: int = 80, size: int = 160, seed: int = 0,
             log: Callable[[str], None] = print) -> dict:
    from edgetl.data.synth import make_dataset
    from edgetl.train.config import TrainConfig
    from edgetl.train.trainer import train

    out = Path(out)
    started = time.perf_counter()
    data = out / "synthetic-notes"
    log(f"1/2 synthesising {per_class} images per class into {data}")
    make_dataset(data, per_class=per_class, size=size, seed=seed)
    alpha = 1.0
    if weights == "none":
        alpha = 0.35  # random weights learn little either way; keep it quick
        log("   --weights none: training a small random-init network (accuracy will be modest)")
    log(f"2/2 training MobileNetV2 {alpha}/{size} (weights: {weights})")
    try:
        result = train(data, out / "run", TrainConfig(alpha=alpha, size=size, weights=weights, seed=seed, strategy="features"),
                       force=True, log=log)
    except EdgetlError as exc:
        if weights == "imagenet":
            raise EdgetlError(f"{exc} (e.g. make demo WEIGHTS=path/to/no_top.h5)") from None
        raise
    test = result.metrics["test"]
    log("")
    log(f"held-out test top-1: {test['top1']:.1%} on {test['count']} images")
    for cls, row in test["per_class"].items():
        log(f"  {cls:>10s}: precision {row['precision']:.2f} recall {row['recall']:.2f} (n={row['support']})")
    log(f"artefacts in {result.run}/: model.keras labels.txt config.json metrics.json history.csv "
        "training_curves.png confusion_matrix.png")
    log(f"demo finished in {time.perf_counter() - started:.0f} s")
    return {"run": str(result.run), "test_top1": test["top1"]}
