"""Backbones: build the flat classifier graph, resolve --weights, and find the fine-tuning cut.

The classifier is one functional graph (image -> backbone layers -> pooling -> dropout -> dense) rather
than a backbone model nested inside another, because tensorflow-model-optimization only quantizes
flat graphs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from edgetl.errors import EdgetlError
from edgetl.tf_env import keras

# MobileNetV2's pixels -> [-1, 1]; recorded in the model card so devices can reproduce it exactly.
MOBILENET_MEAN = 127.5
MOBILENET_STD = 127.5


@dataclass(frozen=True)
class Backbone:
    name: str
    mean: float
    std: float
    blocks: int  # how many top blocks --fine-tune may unfreeze


REGISTRY = {"mobilenet_v2": Backbone("mobilenet_v2", MOBILENET_MEAN, MOBILENET_STD, blocks=16)}


def get(name: str) -> Backbone:
    try:
        return REGISTRY[name]
    except KeyError:
        raise EdgetlError(f"unknown backbone {name!r}; choose one of: {', '.join(REGISTRY)}") from None


def validate(alpha: float, size: int) -> None:
    if not 0.35 <= alpha <= 1.4:
        raise EdgetlError(f"--alpha must be between 0.35 and 1.4 (got {alpha})")
    if not 96 <= size <= 224:
        raise EdgetlError(f"--size must be between 96 and 224 (got {size})")


def resolve_weights(weights: str, alpha: float, size: int) -> str | None:
    """Turn --weights into what keras.applications expects, failing with one actionable line."""
    if weights in (None, "", "none", "None"):
        return None
    if weights == "imagenet":
        rows = size if size in (96, 128, 160, 192, 224) else 224
        name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
        url = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/" + name
        try:
            return keras().utils.get_file(name, url, cache_subdir="models")
        except Exception as exc:  # network errors surface as many different exception types
            raise EdgetlError(
                f"could not download ImageNet weights for MobileNetV2 alpha {alpha} ({type(exc).__name__}); "
                "offline? pass --weights PATH to a Keras no-top .h5 file, or --weights none"
            ) from None
    path = Path(weights).expanduser()
    if not path.is_file():
        raise EdgetlError(f"weights file not found: {path} (use --weights imagenet|none|PATH)")
    return str(path)


def weights_identity(weights: str | None, seed: int) -> str:
    """What the backbone's numbers depend on, for the feature-cache key."""
    if weights is None:
        return f"random-seed{seed}"
    digest = hashlib.sha256()
    with open(weights, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def build_classifier(num_classes: int, alpha: float = 1.0, size: int = 224, weights: str | None = None, dropout: float = 0.2):
    """Return the flat Keras classifier taking [-1, 1] scaled RGB and giving softmax probabilities."""
    k = keras()
    validate(alpha, size)
    image = k.Input((size, size, 3), name="image")
    try:
        base = k.applications.MobileNetV2(include_top=False, weights=weights, alpha=alpha, input_tensor=image)
    except (ValueError, OSError) as exc:
        raise EdgetlError(
            f"cannot load weights {weights} into MobileNetV2 alpha {alpha} ({str(exc).splitlines()[0][:160]}); "
            "the file must be a Keras no-top .h5 for the same alpha"
        ) from None
    x = k.layers.GlobalAveragePooling2D(name="pool")(base.output)
    x = k.layers.Dropout(dropout, name="dropout")(x)
    probs = k.layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return k.Model(image, probs, name=f"edgetl_mobilenet_v2_{alpha}_{size}")


def cut_layer_name(model, fine_tune_blocks: int) -> str:
    """Name of the layer whose output feeds the first unfrozen block (the cached activation).

    0 blocks -> the pooled features; N -> the input of block (17 - N) of MobileNetV2.
    """
    if fine_tune_blocks <= 0:
        return "pool"
    if fine_tune_blocks > 16:
        raise EdgetlError(f"--fine-tune takes 0..16 blocks for MobileNetV2 (got {fine_tune_blocks})")
    first = f"block_{17 - fine_tune_blocks}_expand"
    node = model.get_layer(first)
    return node._inbound_nodes[0].inbound_layers.name


def split_at(model, cut: str):
    """Two models sharing the classifier's layers: image -> cut activation, cut activation -> probs."""
    k = keras()
    cut_tensor = model.get_layer(cut).output
    bottom = k.Model(model.input, cut_tensor, name="bottom")
    top = k.Model(cut_tensor, model.output, name="top")
    return bottom, top


def trainable_top(model, cut: str) -> list:
    """Layers after the cut (in graph order), i.e. the ones fine-tuning may change."""
    names = [layer.name for layer in model.layers]
    return model.layers[names.index(cut) + 1 :]


def to_model_input(images_uint8, mean: float = MOBILENET_MEAN, std: float = MOBILENET_STD):
    import numpy as np

    return (np.asarray(images_uint8, dtype=np.float32) - mean) / std
