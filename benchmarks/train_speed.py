"""What the feature cache buys: 10 head epochs on cached features vs 10 epochs recomputing the backbone.

    .venv/bin/python benchmarks/train_speed.py [--data ../shared/data/inr-scans] [--size 160] [--epochs 10] [--work DIR]

Same data, same process, same head (edgetl's own pieces):
(a) ``edgetl.train.trainer.train`` with fine_tune=0, views=1, no augmentation, ``--epochs`` head epochs and a
    patience larger than the epoch count, after a first call has filled the feature cache. Reported: the whole
    warm ``train()`` call (split, cache reads, head epochs, evaluation, writing the run) and, isolated, the
    sum of the head epochs' own seconds from the run's history.csv (validation included in each epoch).
(b) the same head trained ``--epochs`` times for one epoch, each time after running the frozen backbone
    (``build_classifier`` + ``split_at`` at "pool", ``to_model_input``) over every train and val image again,
    as a pipeline without a feature cache does. Validation on the freshly computed val features each epoch.
Decoding is excluded from both: (a) reads features from the cache, (b) decodes and resizes every image
once (``load_square``) before the clock starts. Prints a markdown row and writes
benchmarks/results/train_speed.json.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("EDGETL_PROGRESS", "0")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
WEIGHTS = SHARED / "weights" / "mobilenet_v2_1.0_224_imagenet_from_coral_int8ptq_no_top.h5"

import numpy as np  # noqa: E402

from edgetl.atomic import write_json  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "inr-scans")
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--work", type=Path, default=Path("/tmp/edgetl-train-speed"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "train_speed.json")
    args = ap.parse_args()
    command = ".venv/bin/python benchmarks/train_speed.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])

    from edgetl.data.folders import load_splits
    from edgetl.data.images import load_square
    from edgetl.tf_env import keras, tf
    from edgetl.train import backbones
    from edgetl.train.config import TrainConfig
    from edgetl.train.trainer import _class_weights, train

    work = args.work.resolve()
    config = TrainConfig(size=args.size, alpha=1.0, weights=str(WEIGHTS), fine_tune=0, epochs=args.epochs,
                         patience=args.epochs + 100, views=1, augment=False, cache_dir=str(work / "cache"), seed=0)

    # ---- (a) cached features ---------------------------------------------------------------------
    log("warming the feature cache (untimed)")
    t0 = time.perf_counter()
    warm = train([args.data], work / "warm", config, force=True, log=log)
    warm_seconds = time.perf_counter() - t0
    log(f"cache filled in {warm_seconds:.1f} s ({warm.cache})")
    t0 = time.perf_counter()
    res = train([args.data], work / "cached", config, force=True, log=log)
    cached_total = time.perf_counter() - t0
    with open(res.run / "history.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["stage"] == "head"]
    cached_epochs = sum(float(r["seconds"]) for r in rows)
    log(f"(a) warm train(): {cached_total:.2f} s, {len(rows)} head epochs {cached_epochs:.2f} s; cache {res.cache}")
    if res.cache.get("backbone_images"):
        log("WARNING: the timed run sent images through the backbone; the cache was not warm")

    # ---- (b) backbone recomputed every epoch ------------------------------------------------------
    parts = load_splits(res.run / "split.json")
    classes = parts["train"].classes
    n = len(classes)
    decoded = {}
    t0 = time.perf_counter()
    for name in ("train", "val"):
        decoded[name] = (np.stack([load_square(s.path, args.size) for s in parts[name].samples]),
                         np.array([s.label for s in parts[name].samples]))
    decode_seconds = time.perf_counter() - t0
    k = keras()
    k.utils.set_random_seed(0)
    model = backbones.build_classifier(n, 1.0, args.size, str(WEIGHTS), config.dropout)
    bottom, _ = backbones.split_at(model, "pool")
    feature_in = k.Input((model.get_layer("pool").output_shape[-1],), name="features")
    head = k.Model(feature_in, model.get_layer("classifier")(model.get_layer("dropout")(feature_in)), name="head")
    head.compile(optimizer=k.optimizers.Adam(config.learning_rate),
                 loss=k.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing), metrics=["accuracy"])
    run_bottom = tf().function(lambda x: bottom(x, training=False))
    spec = backbones.get("mobilenet_v2")

    def features(images: np.ndarray) -> np.ndarray:
        return np.concatenate([run_bottom(backbones.to_model_input(images[i : i + 64], spec.mean, spec.std)).numpy()
                               for i in range(0, len(images), 64)])

    features(decoded["train"][0][:64])  # trace the tf.function once, outside the clock (the trainer's is traced while warming)
    eye = np.eye(n, dtype=np.float32)
    x_tr, y_tr = decoded["train"]
    x_va, y_va = decoded["val"]
    cw = _class_weights(y_tr, n)
    per_epoch = []
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        f_tr = features(x_tr)
        f_va = features(x_va) if len(x_va) else None
        head.fit(f_tr, eye[y_tr], batch_size=config.batch_size, epochs=1, class_weight=cw, shuffle=True, verbose=0,
                 validation_data=(f_va, eye[y_va]) if f_va is not None else None)
        per_epoch.append(time.perf_counter() - t0)
        log(f"(b) epoch {epoch + 1}: {per_epoch[-1]:.2f} s")
    recompute = sum(per_epoch)

    ratio_epochs = recompute / cached_epochs
    ratio_total = recompute / cached_total
    result = {
        "command": command, "data": str(args.data), "size": args.size, "epochs": args.epochs,
        "train_images": int(len(x_tr)), "val_images": int(len(x_va)),
        "machine": f"{platform.system()} {platform.machine()}", "cpu_count": os.cpu_count(),
        "note": "2-core machine shared with another CPU-heavy benchmark during this run; absolute times inflated",
        "cache_fill_seconds": round(warm_seconds, 2),
        "cached_train_call_seconds": round(cached_total, 2),
        "cached_head_epochs_seconds": round(cached_epochs, 3),
        "cached_head_epoch_seconds": [float(r["seconds"]) for r in rows],
        "recompute_seconds": round(recompute, 2),
        "recompute_epoch_seconds": [round(s, 2) for s in per_epoch],
        "decode_seconds_excluded": round(decode_seconds, 2),
        "ratio_recompute_over_cached_epochs": round(ratio_epochs, 1),
        "ratio_recompute_over_cached_train_call": round(ratio_total, 1),
        "cached_test_top1": res.metrics["test"]["top1"],
    }
    md = "\n".join([
        f"| data | px | epochs | (a) cached: head epochs | (a) cached: whole warm `train()` | (b) backbone recomputed each epoch | (b)/(a) epochs | (b)/(a) whole call |",
        "|---|---|---|---|---|---|---|---|",
        f"| {args.data.name} ({len(x_tr)} train / {len(x_va)} val) | {args.size} | {args.epochs} | {cached_epochs:.2f} s | {cached_total:.2f} s | "
        f"{recompute:.1f} s | {ratio_epochs:.0f}× | {ratio_total:.1f}× |",
    ])
    result["markdown"] = md
    write_json(args.out, result)
    print(md)


if __name__ == "__main__":
    main()
