"""Quantization-aware training: a few low-learning-rate epochs with fake-quantized weights and activations.

The whole flat MobileNetV2 graph is wrapped by tensorflow-model-optimization, so int8 export afterwards
uses ranges the network learned to live with instead of ranges guessed from calibration images.
BatchNorm stays frozen (inference mode), as in fine-tuning.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from edgetl.atomic import atomic_path, write_json
from edgetl.data.images import UnreadableImage, file_sha256, load_square
from edgetl.errors import EdgetlError
from edgetl.metrics import classification_report
from edgetl.train import augment
from edgetl.train.backbones import to_model_input

QAT_FILE = "qat.weights.h5"  # weights of quantize(float model); rebuilt on load


def _tfmot():
    from edgetl.tf_env import keras

    keras()
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError:  # pragma: no cover - part of the train extra
        raise EdgetlError("QAT needs tensorflow-model-optimization: pip install 'edgetl[train]'") from None
    return tfmot


def load_qat_model(run_path: str | Path):
    """Rebuild the QAT graph from the run's float model and load the trained QAT weights into it."""
    from edgetl.train.trainer import load_run_model

    run_path = Path(run_path)
    qmodel = quantize(load_run_model(run_path))
    try:
        qmodel.load_weights(run_path / QAT_FILE)
    except Exception as exc:  # h5py/Keras raise several types for a foreign or truncated file
        raise EdgetlError(f"cannot load {run_path / QAT_FILE}: {str(exc).splitlines()[0][:200]}") from None
    return qmodel


def quantize(model):
    """Wrap the float classifier for QAT, with every BatchNorm frozen first."""
    tfmot = _tfmot()
    from edgetl.tf_env import keras

    for layer in model.layers:
        if isinstance(layer, keras().layers.BatchNormalization):
            layer.trainable = False
    try:
        return tfmot.quantization.keras.quantize_model(model)
    except (ValueError, RuntimeError) as exc:
        raise EdgetlError(f"cannot wrap this model for QAT: {str(exc).splitlines()[0][:200]}") from None


def pin_input_range(qmodel, low: float = -1.0, high: float = 1.0) -> None:
    """Fix the learned input range to MobileNetV2's [-1, 1], so int8 export takes raw pixels exactly."""
    for layer in qmodel.layers:
        if type(layer).__name__ == "QuantizeLayer":
            for weight in layer.weights:
                if weight.name.endswith("min:0") or "_min" in weight.name.split("/")[-1]:
                    weight.assign(low)
                elif weight.name.endswith("max:0") or "_max" in weight.name.split("/")[-1]:
                    weight.assign(high)


def init_ranges(qmodel, float_model, images: np.ndarray, batch: int = 32) -> None:
    """Start every fake-quant range where the float network actually lives.

    tensorflow-model-optimization starts all ranges at [-6, 6] and moves them by a slow moving average,
    so a freshly wrapped MobileNetV2 is near chance until thousands of steps later. Setting kernel ranges
    from the weights and activation ranges from real activations makes QAT start at PTQ accuracy.
    """
    from edgetl.tf_env import keras

    k = keras()
    wrappers = [w for w in qmodel.layers if hasattr(w, "layer")]
    wanted = sorted({w.layer.name for w in wrappers if any(_kind(v) == "act" for v in w.weights)})
    probe_names = [n for n in wanted if n != "classifier"]
    classifier = float_model.get_layer("classifier")
    outputs = [float_model.get_layer(n).output for n in probe_names] + [classifier.input]
    probe = k.Model(float_model.input, outputs)
    lows = {n: np.inf for n in probe_names + ["classifier"]}
    highs = {n: -np.inf for n in probe_names + ["classifier"]}
    kernel, bias = classifier.get_weights()
    for i in range(0, len(images), batch):
        acts = probe(images[i : i + batch], training=False)
        acts = [a.numpy() for a in acts]
        acts[-1] = acts[-1] @ kernel + bias  # the classifier's pre-activation (logits)
        for name, a in zip(probe_names + ["classifier"], acts):
            lows[name] = min(lows[name], float(a.min()))
            highs[name] = max(highs[name], float(a.max()))
    for wrapper in wrappers:
        inner = wrapper.layer
        for var in wrapper.weights:
            kind = _kind(var)
            if kind == "kernel":
                source = float_model.get_layer(inner.name)  # inside the wrapper the kernel is a fake-quant tensor
                w = (source.depthwise_kernel if "depthwise" in var.name else source.kernel).numpy()
                axes = tuple(range(w.ndim - 1)) if var.shape.rank == 1 and var.shape[0] == w.shape[-1] and w.shape[-1] > 1 else None
                low, high = np.minimum(w.min(axis=axes), 0), np.maximum(w.max(axis=axes), 0)
                var.assign(np.broadcast_to(low if var.name.endswith("min:0") else high, var.shape).astype(np.float32))
            elif kind == "act" and inner.name in lows:
                value = min(lows[inner.name], 0.0) if var.name.endswith("min:0") else max(highs[inner.name], 0.0)
                var.assign(np.full(var.shape, value, np.float32))
    pin_input_range(qmodel)


def _kind(var) -> str | None:
    short = var.name.split("/")[-1].split(":")[0]
    if short.endswith(("kernel_min", "kernel_max")):
        return "kernel"
    if short in ("output_min", "output_max", "post_activation_min", "post_activation_max", "pre_activation_min",
                 "pre_activation_max"):
        return "act"
    return None


def _load_split(run, name: str, limit: int | None, seed: int):
    samples = run.split(name).samples
    if limit and len(samples) > limit:
        rng = np.random.default_rng(seed)
        samples = [samples[i] for i in sorted(rng.permutation(len(samples))[:limit])]
    images, labels, hashes = [], [], []
    for s in samples:
        try:
            images.append(load_square(s.path, run.size))
        except UnreadableImage:
            continue
        labels.append(s.label)
        hashes.append(file_sha256(s.path))
    if not images:
        return np.zeros((0, run.size, run.size, 3), np.uint8), np.zeros(0, np.int64), []
    return np.stack(images), np.array(labels), hashes


def qat(run: str | Path, epochs: int = 2, learning_rate: float = 1e-5, batch_size: int = 32, max_images: int | None = 2000,
        seed: int = 0, log: Callable[[str], None] = print) -> dict:
    """Fine-tune ``run``'s classifier quantization-aware; save RUN/qat.weights.h5 and return its metrics."""
    from edgetl.export.convert import Run
    from edgetl.tf_env import keras
    from edgetl.train.trainer import load_run_model

    started = time.perf_counter()
    k = keras()
    k.utils.set_random_seed(seed)
    r = Run.open(run)
    images, labels, hashes = _load_split(r, "train", max_images, seed)
    if len(images) == 0:
        raise EdgetlError(f"{r.path}: no readable training images for QAT")
    val_images, val_labels, _ = _load_split(r, "val", None, seed)
    n = len(r.labels)
    float_model = load_run_model(r.path)
    qmodel = quantize(float_model)
    init_ranges(qmodel, float_model, to_model_input(images[: min(len(images), 256)], r.mean, r.std))
    smoothing = float(r.config.get("train", {}).get("label_smoothing", 0.1))
    qmodel.compile(optimizer=k.optimizers.Adam(learning_rate),
                   loss=k.losses.CategoricalCrossentropy(label_smoothing=smoothing), metrics=["accuracy"])
    views = max(1, int(r.config.get("train", {}).get("views", 4)))
    mean, std = r.mean, r.std

    class Batches(k.utils.Sequence):
        """Fresh order and a random cached-style view (plain or augmented) of each image, every epoch."""

        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.on_epoch_end()

        def on_epoch_end(self):
            self.order = self.rng.permutation(len(images))
            self.view = self.rng.integers(0, views, size=len(images))

        def __len__(self):
            return int(np.ceil(len(images) / batch_size))

        def __getitem__(self, i):
            idx = self.order[i * batch_size : (i + 1) * batch_size]
            batch = np.stack([augment.make_view(images[j], hashes[j], int(self.view[j])) for j in idx])
            return to_model_input(batch, mean, std), np.eye(n, dtype=np.float32)[labels[idx]]

    val = (to_model_input(val_images, mean, std), np.eye(n, dtype=np.float32)[val_labels]) if len(val_images) else None
    log(f"QAT: {epochs} epoch(s) on {len(images)} training images at learning rate {learning_rate:g}")
    history = qmodel.fit(Batches(), epochs=epochs, validation_data=val, verbose=0)
    pin_input_range(qmodel)
    with atomic_path(r.path / QAT_FILE) as tmp:
        qmodel.save_weights(tmp)
    metrics = {"epochs": epochs, "images": len(images), "learning_rate": learning_rate,
               "history": {key: [round(float(v), 5) for v in values] for key, values in history.history.items()},
               "seconds": round(time.perf_counter() - started, 1)}
    if val is not None:
        probs = qmodel.predict(val[0], verbose=0, batch_size=64)
        metrics["val"] = classification_report(val_labels, probs, r.labels)
    write_json(r.path / "qat_metrics.json", metrics)
    return metrics
