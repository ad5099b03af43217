"""Time lost between fine-tuning epochs: the trainer's batch stream against a Keras Sequence of the same batches.

    .venv/bin/python benchmarks/fit_stall.py [--images 1500] [--epochs 3] [--no-validation]

The real top of today's classifier (MobileNetV2 1.0 with the shared weights, cut for 5 fine-tuned blocks) is
fitted twice on the same random activations at the cut (IMAGES x 4 views, 836 validation images, batch 64):
(a) through ``edgetl.train.batches.random_view_batches``, the stream `edgetl train` and `edgetl qat` use;
(b) through a ``keras.utils.Sequence`` over the same draws, which is how the trainer fed Keras until the
    eighteenth session. tf_keras builds a new iterator over a Sequence at every epoch, and fitting stood
    still while the old one was released.
Reported for each: fit's wall time, each epoch's own time (begin to end, validation included) and the time
outside the epochs: before the first, between each two, after the last. In one short process the feed that
runs first has shown the long stall whichever it was (BENCHMARKS.md), so ``--first`` picks the order. Prints a
markdown row and writes benchmarks/results/fit-stall-FIRST-first.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time

import numpy as np

from paths import ROOT, WEIGHTS  # noqa: E402  (also puts edgetl on the path)

from edgetl.atomic import write_json  # noqa: E402
from edgetl.train.batches import batch_draws, random_view_batches, steps_per_epoch  # noqa: E402

BATCH = 64
VIEWS = 4


def _sequence(k, count: int, seed: int, fetch):
    """The old feed: a Sequence whose epochs draw exactly what the stream draws."""

    class Draws(k.utils.Sequence):
        def __init__(self):
            super().__init__()
            self.draws = batch_draws(count, VIEWS, BATCH, seed)
            self.on_epoch_end()

        def on_epoch_end(self):
            self.epoch = [next(self.draws) for _ in range(len(self))]

        def __len__(self):
            return steps_per_epoch(count, BATCH)

        def __getitem__(self, i):
            return fetch(*self.epoch[i])

    return Draws()


def _fit(k, top, data, steps, epochs: int, validation) -> dict:
    """Wall time of one fit, each epoch's own time, and the time outside epochs: before the first, between, after the last."""
    marks: list[float] = []  # begin, end, begin, end, ...

    class Clock(k.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            marks.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            marks.append(time.perf_counter())

    start = time.perf_counter()
    top.fit(data, steps_per_epoch=steps, epochs=epochs, validation_data=validation, verbose=0, callbacks=[Clock()])
    stop = time.perf_counter()
    times = [start, *marks, stop]
    outside = [round(times[i + 1] - times[i], 2) for i in range(0, len(times), 2)]  # start->begin, end->begin, end->stop
    inside = [round(times[i + 1] - times[i], 2) for i in range(1, len(times) - 1, 2)]
    return {"wall_s": round(stop - start, 2), "epochs_s": inside, "outside_epochs_s": outside}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--no-validation", action="store_true")
    parser.add_argument("--first", choices=("stream", "sequence"), default="stream", help="which feed fits first")
    args = parser.parse_args()

    from edgetl.tf_env import keras, tf
    from edgetl.train import backbones

    k = keras()
    model = backbones.create("mobilenet_v2", 8, 1.0, 224, str(WEIGHTS), 0.2)
    cut = backbones.cut_layer_name(model, 5, "mobilenet_v2")
    _, top = backbones.split_at(model, cut)
    for layer in backbones.trainable_top(model, cut):
        layer.trainable = not isinstance(layer, k.layers.BatchNormalization)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.images, VIEWS, *top.input_shape[1:])).astype(np.float16)
    y = np.eye(8, dtype=np.float32)[rng.integers(0, 8, args.images)]
    validation = None if args.no_validation else (
        rng.standard_normal((836, *top.input_shape[1:])).astype(np.float32), np.eye(8, dtype=np.float32)[rng.integers(0, 8, 836)])

    def fetch(idx, view):
        return x[idx, view].astype(np.float32), y[idx]

    start_weights = top.get_weights()
    results = {}
    for name in ("stream", "sequence") if args.first == "stream" else ("sequence", "stream"):
        top.set_weights(start_weights)
        top.compile(optimizer=k.optimizers.Adam(5e-4), loss="categorical_crossentropy")
        if name == "stream":
            batches = random_view_batches(tf(), args.images, VIEWS, BATCH, 0, fetch)
            results[name] = _fit(k, top, batches.dataset, batches.steps, args.epochs, validation)
        else:
            results[name] = _fit(k, top, _sequence(k, args.images, 0, fetch), None, args.epochs, validation)
    out = {"command": shlex.join([sys.executable.split("/")[-1], *sys.argv]), "machine": f"{platform.system()} {platform.machine()}",
           "cpu_count": os.cpu_count(),
           "images": args.images, "views": VIEWS, "batch": BATCH, "epochs": args.epochs,
           "validation_images": 0 if validation is None else 836, "first": args.first, **results}
    write_json(ROOT / "benchmarks" / "results" / f"fit-stall-{args.first}-first.json", out)
    s, q = results["stream"], results["sequence"]
    print(f"| {args.images} x {VIEWS} views, {args.epochs} epochs | stream {s['wall_s']} s, outside epochs {s['outside_epochs_s']} s "
          f"| Sequence {q['wall_s']} s, outside epochs {q['outside_epochs_s']} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
