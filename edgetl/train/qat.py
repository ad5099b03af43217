"""Quantization-aware training: a few low-learning-rate epochs with fake-quantized weights and activations.

The whole flat classifier graph is wrapped by tensorflow-model-optimization, so int8 export afterwards
uses ranges the network learned to live with instead of ranges guessed from calibration images.
BatchNorm stays frozen (inference mode), as in fine-tuning. Tuned on MobileNetV2; VGG16 and ResNet50 wrap
too. The registry says which backbones tensorflow-model-optimization cannot wrap (MobileNetV3's lambda
activations, EfficientNet's squeeze-excite Multiply); for those ``qat`` refuses with one line, and PTQ
int8 export still works.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from edgetl.data.images import load_square_batch
from edgetl.digest import sha256_file
from edgetl.errors import EdgetlError
from edgetl.metrics import classification_report
from edgetl.run import Run
from edgetl.train import augment, backbones
from edgetl.train.backbones import to_model_input
from edgetl.train.batches import ViewBatches, random_view_batches
from edgetl.train.config import QatConfig, TrainConfig
from edgetl.train.loading import load_run_model


def _tfmot():
    from edgetl.tf_env import keras

    keras()
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError:  # pragma: no cover - part of the train extra
        raise EdgetlError("QAT needs tensorflow-model-optimization: pip install 'edgetl[train]'") from None
    return tfmot


def load_qat_model(run: Run):
    """Rebuild the QAT graph from the run's float model and load the trained QAT weights into it."""
    require_qat_support(run)
    qmodel = quantize(load_run_model(run))
    try:
        qmodel.load_weights(run.qat_weights)
    except Exception as exc:  # h5py/Keras raise several types for a foreign or truncated file
        raise EdgetlError(f"cannot load {run.qat_weights}: {str(exc).splitlines()[0][:200]}") from None
    return qmodel


def require_qat_support(run: Run) -> None:
    """Refuse, in one line, a run whose backbone tensorflow-model-optimization cannot wrap."""
    spec = backbones.get(run.configured_backbone or backbones.DEFAULT)
    if not spec.qat:
        raise EdgetlError(f"QAT is not supported for {spec.name} ({spec.qat_note}); "
                          f"post-training int8 export still works: edgetl export {run.path} --int8")


def fold_batchnorm(model):
    """The same network with every frozen BatchNorm folded into the convolution before it.

    Exact while BatchNorm runs in inference mode, and it is what the TFLite converter does anyway, so the
    fake-quantized weights seen during QAT are the weights the int8 model will carry.
    """
    from edgetl.tf_env import keras

    k = keras()
    conv_types = (k.layers.Conv2D, k.layers.DepthwiseConv2D)

    def inbound(layer):
        found = layer._inbound_nodes[0].inbound_layers
        return found if isinstance(found, list) else [found]

    folded: dict[str, object] = {}  # conv name -> the BatchNorm that follows it
    for layer in model.layers:
        if isinstance(layer, k.layers.BatchNormalization):
            (source,) = inbound(layer)
            if isinstance(source, conv_types) and len(source._outbound_nodes) == 1:
                folded[source.name] = layer
    skipped = {bn.name: conv for conv, bn in folded.items()}
    tensors: dict[str, object] = {}
    image = k.Input(model.input_shape[1:], name=model.layers[0].name)
    for layer in model.layers:
        if isinstance(layer, k.layers.InputLayer):
            tensors[layer.name] = image
            continue
        if layer.name in skipped:
            tensors[layer.name] = tensors[skipped[layer.name]]
            continue
        args = [tensors[src.name] for src in inbound(layer)]
        config = layer.get_config()
        if layer.name in folded:
            config["use_bias"] = True
        clone = type(layer).from_config(config)
        tensors[layer.name] = clone(args if len(args) > 1 else args[0])
        weights = layer.get_weights()
        if layer.name in folded:
            bn = folded[layer.name]
            gamma, beta, mean, var = bn.get_weights() if bn.scale and bn.center else _bn_weights(bn)
            factor = gamma / np.sqrt(var + bn.epsilon)
            kernel = weights[0]
            bias = weights[1] if len(weights) > 1 else np.zeros_like(mean)
            if isinstance(layer, k.layers.DepthwiseConv2D):
                kernel = kernel * factor.reshape(1, 1, -1, kernel.shape[-1])
            else:
                kernel = kernel * factor
            weights = [kernel, (bias - mean) * factor + beta]
        clone.set_weights(weights)
    return k.Model(image, tensors[model.layers[-1].name], name=model.name + "_folded")


def _bn_weights(bn):
    values = {w.name.split("/")[-1].split(":")[0]: w.numpy() for w in bn.weights}
    n = values["moving_mean"].shape[0]
    return (values.get("gamma", np.ones(n, np.float32)), values.get("beta", np.zeros(n, np.float32)),
            values["moving_mean"], values["moving_variance"])


def _depthwise_config():
    """A QuantizeConfig giving DepthwiseConv2D per-channel weights, as TFLite int8 uses.

    tensorflow-model-optimization's own config quantizes along the kernel's last axis, which is the depth
    multiplier (1) for a depthwise kernel: effectively per-tensor, which wrecks MobileNetV2 accuracy.
    """
    tfmot = _tfmot()
    import tensorflow as tf

    LastValue = tfmot.quantization.keras.quantizers.LastValueQuantizer

    class DepthwisePerChannel(LastValue):
        def __init__(self, **_):
            super().__init__(num_bits=8, per_axis=True, symmetric=True, narrow_range=True)

        def build(self, tensor_shape, name, layer):
            channels = int(tensor_shape[-2]) * int(tensor_shape[-1])
            from edgetl.tf_env import keras

            make = keras().initializers.Constant
            return {"min_var": layer.add_weight(name + "_min", shape=(channels,), initializer=make(-6.0), trainable=False),
                    "max_var": layer.add_weight(name + "_max", shape=(channels,), initializer=make(6.0), trainable=False)}

        def __call__(self, inputs, training, weights, **kwargs):
            shape = inputs.shape
            flat = tf.reshape(inputs, (shape[0], shape[1], 1, shape[2] * shape[3]))
            return tf.reshape(super().__call__(flat, training, weights, **kwargs), shape)

        def get_config(self):
            return {}

    class DepthwiseConfig(tfmot.quantization.keras.QuantizeConfig):
        # No activation quantizer: the ReLU6 that follows quantizes the output, as TFLite's fused op does.
        def get_weights_and_quantizers(self, layer):
            return [(layer.depthwise_kernel, DepthwisePerChannel())]

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            layer.depthwise_kernel = quantize_weights[0]

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return []

        def get_config(self):
            return {}

    return DepthwiseConfig, DepthwisePerChannel


def quantize(model):
    """Fold BatchNorm, then wrap the whole flat graph for QAT with per-channel depthwise weights."""
    tfmot = _tfmot()
    from edgetl.tf_env import keras

    k = keras()
    DepthwiseConfig, DepthwisePerChannel = _depthwise_config()
    api = tfmot.quantization.keras

    def annotate(layer):
        if isinstance(layer, k.layers.InputLayer):
            return layer.__class__.from_config(layer.get_config())
        if isinstance(layer, k.layers.DepthwiseConv2D):
            return api.quantize_annotate_layer(layer, quantize_config=DepthwiseConfig())
        return api.quantize_annotate_layer(layer)

    try:
        folded = fold_batchnorm(model)
        annotated = k.models.clone_model(folded, clone_function=annotate)
        with api.quantize_scope({"DepthwiseConfig": DepthwiseConfig, "DepthwisePerChannel": DepthwisePerChannel}):
            return api.quantize_apply(annotated)
    except (ValueError, RuntimeError, TypeError, AttributeError, KeyError) as exc:
        raise EdgetlError(f"cannot wrap this model for QAT: {str(exc).splitlines()[0][:200]}") from None


def pin_input_range(qmodel, mean: float = 127.5, std: float = 127.5) -> None:
    """Fix the learned input range to what pixels 0..255 become, so int8 export takes raw pixels exactly.

    [-1, 1] for MobileNetV2's 127.5/127.5; in general [(0 - mean) / std, (255 - mean) / std].
    """
    low, high = (0.0 - mean) / std, (255.0 - mean) / std
    for layer in qmodel.layers:
        if type(layer).__name__ == "QuantizeLayer":
            for weight in layer.weights:
                if weight.name.endswith("min:0") or "_min" in weight.name.split("/")[-1]:
                    weight.assign(low)
                elif weight.name.endswith("max:0") or "_max" in weight.name.split("/")[-1]:
                    weight.assign(high)


def init_ranges(qmodel, float_model, images: np.ndarray, batch: int = 32, mean: float = 127.5, std: float = 127.5) -> None:
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
                per = int(var.shape[0]) if var.shape.rank == 1 and int(var.shape[0]) > 1 else 1
                bound = np.abs(w.reshape(-1, per)).max(axis=0)  # symmetric, per output channel
                bound = bound if per > 1 else bound.max()
                var.assign(np.broadcast_to(-bound if var.name.endswith("min:0") else bound, var.shape).astype(np.float32))
            elif kind == "act" and inner.name in lows:
                value = min(lows[inner.name], 0.0) if var.name.endswith("min:0") else max(highs[inner.name], 0.0)
                var.assign(np.full(var.shape, value, np.float32))
    pin_input_range(qmodel, mean, std)


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
    images, kept = load_square_batch([s.path for s in samples], run.size)
    labels = np.array([samples[i].label for i in kept], np.int64)
    return images, labels, [sha256_file(samples[i].path, never_raise=True) for i in kept]


def _view_batches(images: np.ndarray, labels: np.ndarray, hashes: list[str], views: int, n: int, batch_size: int,
                  seed: int, mean: float, std: float) -> ViewBatches:
    """Fresh order and a random cached-style view (plain or augmented) of each image, every epoch."""

    def fetch(idx: np.ndarray, view: np.ndarray):
        batch = np.stack([augment.make_view(images[j], hashes[j], int(v)) for j, v in zip(idx, view)])
        return to_model_input(batch, mean, std), np.eye(n, dtype=np.float32)[labels[idx]]

    from edgetl.tf_env import tf

    return random_view_batches(tf(), len(images), views, batch_size, seed, fetch)


def _wrapped(run: Run, images: np.ndarray, learning_rate: float, options: TrainConfig):
    """The run's float classifier wrapped for QAT, ranges started from real activations, compiled."""
    from edgetl.tf_env import keras

    k = keras()
    float_model = load_run_model(run)
    qmodel = quantize(float_model)
    init_ranges(qmodel, fold_batchnorm(float_model), to_model_input(images[: min(len(images), 256)], run.mean, run.std),
                mean=run.mean, std=run.std)
    qmodel.compile(optimizer=k.optimizers.Adam(learning_rate),
                   loss=k.losses.CategoricalCrossentropy(label_smoothing=options.label_smoothing), metrics=["accuracy"])
    return qmodel


def qat(run: str | Path, epochs: int = QatConfig.epochs, learning_rate: float = QatConfig.learning_rate,
        batch_size: int = QatConfig.batch_size, max_images: int | None = QatConfig.max_images, seed: int = QatConfig.seed,
        log: Callable[[str], None] = print) -> dict:
    """Fine-tune ``run``'s classifier quantization-aware; save RUN/qat_weights.h5 and return its metrics."""
    from edgetl.tf_env import keras

    started = time.perf_counter()
    k = keras()
    k.utils.set_random_seed(seed)
    r = Run.open(run)
    require_qat_support(r)
    images, labels, hashes = _load_split(r, "train", max_images, seed)
    if len(images) == 0:
        raise EdgetlError(f"{r.path}: no readable training images for QAT")
    val_images, val_labels, _ = _load_split(r, "val", None, seed)
    n = len(r.labels)
    options = TrainConfig.from_dict(r.train_options)  # what the run was trained with; TrainConfig's defaults otherwise
    qmodel = _wrapped(r, images, learning_rate, options)
    batches = _view_batches(images, labels, hashes, max(1, options.views), n, batch_size, seed, r.mean, r.std)
    val = (to_model_input(val_images, r.mean, r.std), np.eye(n, dtype=np.float32)[val_labels]) if len(val_images) else None
    log(f"QAT: {epochs} epoch(s) on {len(images)} training images at learning rate {learning_rate:g}")
    history = qmodel.fit(batches.dataset, steps_per_epoch=batches.steps, epochs=epochs, validation_data=val, verbose=0)
    pin_input_range(qmodel, r.mean, r.std)
    r.save_qat_weights(qmodel)
    metrics = {"epochs": epochs, "images": len(images), "learning_rate": learning_rate,
               "history": {key: [round(float(v), 5) for v in values] for key, values in history.history.items()},
               "seconds": round(time.perf_counter() - started, 1)}
    if val is not None:
        probs = qmodel.predict(val[0], verbose=0, batch_size=64)
        metrics["val"] = classification_report(val_labels, probs, r.labels)
    r.write_qat_metrics(metrics)
    return metrics
