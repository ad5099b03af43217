"""The backbone registry: build the flat classifier graph, resolve --weights, and find the fine-tuning cut.

``create(name, num_classes, ...)`` builds any registered backbone, timm-style. Every backbone keeps the
same device contract: the classifier takes RGB pixels normalised by ONE scalar pair, ``(pixel - mean) /
std``, recorded in config.json and the model card. int8 exports fold that affine into the uint8 input's
quantization, so devices feed camera bytes straight in; that only works because it is per-tensor.
Backbones whose ImageNet weights expect something else (EfficientNet's per-channel normalisation, VGG's
and ResNet's BGR "caffe" mean subtraction) get that difference folded into their first convolution when
the weights are loaded (see ``fold_input_affine``).

The classifier is one functional graph (image -> backbone layers -> ``pool`` -> ``dropout`` ->
``classifier``) rather than a backbone model nested inside another, because tensorflow-model-optimization
only quantizes flat graphs and Grad-CAM finds the last feature map as the input of ``pool``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgetl.errors import EdgetlError
from edgetl.tf_env import keras

# MobileNetV2's pixels -> [-1, 1]; recorded in the model card so devices can reproduce it exactly.
MOBILENET_MEAN = 127.5
MOBILENET_STD = 127.5
# What Keras' VGG16/ResNet50 ImageNet weights expect: BGR pixels minus these per-channel means (no scale).
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
# What Keras' EfficientNet ImageNet weights store in their Normalization layer as "variance" (really the
# standard deviation; Keras compensates with an extra division, tensorflow/tensorflow#49930).
EFFICIENTNET_STORED_STD = (0.229, 0.224, 0.225)
KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class Backbone:
    """Everything edgetl needs to know about one keras.applications network."""

    name: str  # the --backbone value
    display: str  # how messages name it
    constructor: str  # keras.applications attribute
    mean: float  # per-tensor input normalisation in RGB 0..255 space: (pixel - mean) / std
    std: float
    features: int  # pooled feature size (at alpha 1.0 for the MobileNets)
    blocks: int  # how many top blocks --fine-tune may unfreeze
    block_pattern: str  # regex over layer names; group 1 names the block a layer belongs to
    weights_url: str  # ImageNet no-top weights: URL of the folder
    weights_file: str  # ... and file name ({alpha} and {rows} filled in)
    alphas: tuple[float, ...] | None = None  # width multipliers: (low, high) range for V2, a set for V3
    alpha_range: bool = False  # True: alphas is an inclusive (low, high) range rather than a set
    sizes: tuple[int, int] = (96, 224)
    input_adapter: str = "none"  # none | caffe | efficientnet: how loaded weights are made to take (x-mean)/std
    first_conv: str = ""  # the convolution the input affine is folded into
    first_bn: str = ""  # the BatchNorm after it, when that convolution has no bias
    keras_options: tuple = ()  # extra constructor keywords, as (name, value) pairs
    qat: bool = True  # does quantization-aware training (tensorflow-model-optimization) wrap it?
    qat_note: str = ""  # why not, when it does not
    int8_only: bool = True  # does full-integer export give int8 builtin ops only?

    @property
    def has_alpha(self) -> bool:
        return self.alphas is not None


REGISTRY: dict[str, Backbone] = {spec.name: spec for spec in (
    Backbone(name="mobilenet_v2", display="MobileNetV2", constructor="MobileNetV2", mean=MOBILENET_MEAN, std=MOBILENET_STD,
             features=1280, blocks=16, block_pattern=r"^(block_\d+)_", alphas=(0.35, 1.4), alpha_range=True,
             weights_url=KERAS_WEIGHTS + "mobilenet_v2/",
             weights_file="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}_no_top.h5",
             sizes=(96, 320)),  # convolution weights do not depend on the input size; above 224 the 224 file is used
    # Keras' own Rescaling layer is switched off: the network then takes [-1, 1], exactly MobileNetV2's
    # contract, and the int8 graph starts with a convolution instead of a float multiply-add.
    Backbone(name="mobilenet_v3_small", display="MobileNetV3Small", constructor="MobileNetV3Small", mean=MOBILENET_MEAN,
             std=MOBILENET_STD, features=576, blocks=10, block_pattern=r"^(expanded_conv_\d+)/", alphas=(0.75, 1.0),
             weights_url=KERAS_WEIGHTS + "mobilenet_v3/", weights_file="weights_mobilenet_v3_small_224_{alpha}_float_no_top_v2.h5",
             keras_options=(("include_preprocessing", False),), qat=False,
             qat_note="tensorflow-model-optimization cannot wrap its hard-swish TF-op lambda layers"),
    Backbone(name="mobilenet_v3_large", display="MobileNetV3Large", constructor="MobileNetV3Large", mean=MOBILENET_MEAN,
             std=MOBILENET_STD, features=960, blocks=14, block_pattern=r"^(expanded_conv_\d+)/", alphas=(0.75, 1.0),
             weights_url=KERAS_WEIGHTS + "mobilenet_v3/", weights_file="weights_mobilenet_v3_large_224_{alpha}_float_no_top_v2.h5",
             keras_options=(("include_preprocessing", False),), qat=False,
             qat_note="tensorflow-model-optimization cannot wrap its hard-swish TF-op lambda layers"),
    # ImageNet mean/std of the torch recipe in pixel units are about (124, 116, 104) / (58, 57, 57); one
    # integer mean near them keeps the folding error at zero-padded borders small and the int8 zero point exact.
    Backbone(name="efficientnet_b0", display="EfficientNetB0", constructor="EfficientNetB0", mean=115.0, std=58.0,
             features=1280, blocks=16, block_pattern=r"^(block\d[a-z])_",
             weights_url="https://storage.googleapis.com/keras-applications/", weights_file="efficientnetb0_notop.h5",
             input_adapter="efficientnet", first_conv="stem_conv", first_bn="stem_bn", qat=False,
             qat_note="tensorflow-model-optimization has no quantize config for its squeeze-excite Multiply layers"),
    Backbone(name="vgg16", display="VGG16", constructor="VGG16", mean=115.0, std=1.0, features=512, blocks=4,
             block_pattern=r"^(block\d)_", weights_url=KERAS_WEIGHTS + "vgg16/",
             weights_file="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", input_adapter="caffe",
             first_conv="block1_conv1"),
    Backbone(name="resnet50", display="ResNet50", constructor="ResNet50", mean=115.0, std=1.0, features=2048, blocks=16,
             block_pattern=r"^(conv\d_block\d+)_", weights_url=KERAS_WEIGHTS + "resnet/",
             weights_file="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", input_adapter="caffe",
             first_conv="conv1_conv"),
)}
DEFAULT = "mobilenet_v2"


def get(name: str) -> Backbone:
    try:
        return REGISTRY[name]
    except KeyError:
        raise EdgetlError(f"unknown backbone {name!r}; choose one of: {', '.join(REGISTRY)}") from None


def names() -> list[str]:
    return list(REGISTRY)


def validate(alpha: float, size: int, backbone: str = DEFAULT) -> Backbone:
    """Check --alpha and --size for ``backbone``; return its spec."""
    spec = get(backbone)
    if not spec.has_alpha:
        if float(alpha) != 1.0:
            raise EdgetlError(f"--alpha applies only to the MobileNet backbones, not {backbone} (got {alpha})")
    elif spec.alpha_range:
        low, high = spec.alphas
        if not low <= alpha <= high:
            raise EdgetlError(f"--alpha must be between {low} and {high} (got {alpha})")
    elif float(alpha) not in spec.alphas:
        raise EdgetlError(f"--alpha for {backbone} must be one of {', '.join(str(a) for a in spec.alphas)} (got {alpha})")
    low, high = spec.sizes
    if not low <= size <= high:
        raise EdgetlError(f"--size must be between {low} and {high} (got {size})")
    return spec


def weights_filename(alpha: float, size: int, backbone: str = DEFAULT) -> str:
    """Keras' name for the ImageNet no-top weights of this backbone configuration."""
    rows = size if size in (96, 128, 160, 192, 224) else 224  # MobileNetV2 has weights per input size
    return get(backbone).weights_file.format(alpha=float(alpha), rows=rows)


def resolve_weights(weights: str, alpha: float, size: int, backbone: str = DEFAULT) -> str | None:
    """Turn --weights into a file path (or None for random init), failing with one actionable line."""
    if weights in (None, "", "none", "None"):
        return None
    spec = get(backbone)
    if weights == "imagenet":
        name = weights_filename(alpha, size, backbone)
        try:
            return keras().utils.get_file(name, spec.weights_url + name, cache_subdir="models")
        except Exception as exc:  # network errors surface as many different exception types
            what = f"{spec.display} alpha {alpha}" if spec.has_alpha else spec.display
            raise EdgetlError(
                f"could not download ImageNet weights for {what} ({type(exc).__name__}); "
                f"offline? pass --weights PATH to a Keras no-top .h5 file ({name})"
            ) from None
    path = Path(weights).expanduser()
    if not path.is_file():
        raise EdgetlError(f"weights file not found: {path} (use --weights imagenet|none|PATH)")
    from edgetl.train.loading import check_weights_file

    return str(check_weights_file(path))  # weights only: a full model file is refused


def weights_identity(weights: str | None, seed: int) -> str:
    """What the backbone's numbers depend on, for the feature-cache key."""
    if weights is None:
        return f"random-seed{seed}"
    digest = hashlib.sha256()
    with open(weights, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


# ---- building ------------------------------------------------------------------------------------

def _keras_backbone(spec: Backbone, image, alpha: float, weights: str | None):
    """keras.applications' no-top network on ``image``, with ``weights`` loaded; one clear line on failure."""
    k = keras()
    options = dict(spec.keras_options)
    if spec.has_alpha:
        options["alpha"] = alpha
    try:
        return getattr(k.applications, spec.constructor)(include_top=False, weights=weights, input_tensor=image, **options)
    except (ValueError, OSError) as exc:
        if spec.has_alpha:
            need = "the file must be a Keras no-top .h5 for the same alpha"
            what = f"{spec.display} alpha {alpha}"
        else:
            need = f"the file must be Keras' {spec.display} no-top .h5 ({spec.weights_file})"
            what = spec.display
        raise EdgetlError(f"cannot load weights {weights} into {what} ({str(exc).splitlines()[0][:160]}); {need}") from None


def _simplified(base, image_name: str):
    """EfficientNet rebuilt as a fresh flat graph without the ops that do not belong in an int8 model.

    Removes the Rescaling/Normalization layers at the bottom (their affine is folded into the stem by
    ``fold_input_affine``) and turns each squeeze-excite ``GlobalAveragePooling2D -> Reshape(1, 1, C)`` into
    one ``GlobalAveragePooling2D(keepdims=True)``: the same numbers, but the Reshape of a batch-sized tensor
    became SHAPE/STRIDED_SLICE/PACK ops in TFLite, which are not int8 builtins. Done on the functional config,
    so layers with extra call arguments are rebuilt faithfully, then weights are copied by layer name.
    Returns (model, removed preprocessing layers).
    """
    k = keras()
    removed = []
    for layer in base.layers[1:]:
        if not isinstance(layer, (k.layers.Rescaling, k.layers.Normalization)):
            break
        removed.append(layer)
    redirect = {layer.name: image_name for layer in removed}
    keep_dims = set()
    for layer in base.layers:
        if isinstance(layer, k.layers.Reshape) and tuple(layer.target_shape[:2]) == (1, 1):
            source = layer._inbound_nodes[0].inbound_layers
            if isinstance(source, k.layers.GlobalAveragePooling2D) and len(source._outbound_nodes) == 1:
                redirect[layer.name] = source.name
                keep_dims.add(source.name)
    config = base.get_config()
    config["layers"] = [entry for entry in config["layers"] if entry["name"] not in redirect]
    for entry in config["layers"]:
        if entry["name"] in keep_dims:
            entry["config"]["keepdims"] = True
        for node in entry.get("inbound_nodes", []):
            for ref in node:
                if ref[0] in redirect:
                    ref[0], ref[1], ref[2] = redirect[ref[0]], 0, 0
    simple = k.Model.from_config(config)
    for layer in simple.layers:
        weights = base.get_layer(layer.name).get_weights()
        if weights:
            layer.set_weights(weights)
    return simple, removed


def _efficientnet_input_affine(removed) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (scale, offset) with which EfficientNet's own preprocessing maps pixels to its stem."""
    k = keras()
    scale, offset = np.ones(3), np.zeros(3)
    for layer in removed:
        if isinstance(layer, k.layers.Rescaling):
            scale, offset = scale * layer.scale, offset * layer.scale + layer.offset
        else:
            # the variables, not layer.mean/variance: those are snapshots taken before the weights were loaded
            mean = layer.adapt_mean.numpy().astype(np.float64).reshape(-1)
            variance = layer.adapt_variance.numpy().astype(np.float64).reshape(-1)
            divisor = np.maximum(np.sqrt(variance), 1e-7)
            if np.allclose(variance, EFFICIENTNET_STORED_STD, atol=1e-3):
                divisor = divisor * np.sqrt(variance)  # what Keras adds for its ImageNet weights (#49930)
            scale, offset = scale / divisor, (offset - mean) / divisor
    return scale, offset


def fold_input_affine(model, spec: Backbone, scale: np.ndarray, offset: np.ndarray, reverse_channels: bool = False) -> None:
    """Make the first convolution take ``(pixel - spec.mean) / spec.std`` RGB instead of what its weights expect.

    The weights expect ``u_c = pixel_c * scale_c + offset_c`` (in BGR order when ``reverse_channels``).
    Reversing the kernel's input-channel axis turns BGR into RGB exactly; the per-channel scale goes into
    the kernel exactly; the per-channel shift becomes a bias (or a BatchNorm moving-mean change). The shift
    is exact wherever the kernel sees real pixels; at zero-padded borders the original network padded with
    its own zero, so border outputs differ by the kernel's share of ``(spec.mean*scale_c + offset_c)`` — small,
    because ``spec.mean`` sits near the weights' own channel means.
    """
    conv = model.get_layer(spec.first_conv)
    weights = conv.get_weights()
    kernel = weights[0].astype(np.float64)
    if reverse_channels:
        kernel = kernel[:, :, ::-1, :]
        scale, offset = np.asarray(scale)[::-1], np.asarray(offset)[::-1]
    scale, offset = np.asarray(scale, np.float64), np.asarray(offset, np.float64)
    shift = np.einsum("hwio,i->o", kernel, scale * spec.mean + offset)
    kernel = kernel * (scale * spec.std).reshape(1, 1, -1, 1)
    if conv.use_bias:
        conv.set_weights([kernel.astype(np.float32), (weights[1] + shift).astype(np.float32)])
        return
    conv.set_weights([kernel.astype(np.float32)])
    bn = model.get_layer(spec.first_bn)  # BN(conv + shift) == BN with its moving mean lowered by shift
    values = {w.name.split("/")[-1].split(":")[0]: w for w in bn.weights}
    moving_mean = values["moving_mean"]
    moving_mean.assign((moving_mean.numpy() - shift).astype(np.float32))


def create(name: str, num_classes: int, alpha: float = 1.0, size: int = 224, weights: str | None = None,
           dropout: float = 0.2):
    """The flat Keras classifier for backbone ``name``: (pixel - mean)/std RGB in, softmax probabilities out.

    ``weights`` is a no-top .h5 path (see ``resolve_weights``) or None for random initialisation.
    """
    k = keras()
    spec = validate(alpha, size, name)
    image = k.Input((size, size, 3), name="image")
    base = _keras_backbone(spec, image, alpha, weights)
    if spec.input_adapter == "efficientnet":
        base, removed = _simplified(base, "image")
        image = base.input
        if weights is not None:
            fold_input_affine(base, spec, *_efficientnet_input_affine(removed))
    elif spec.input_adapter == "caffe" and weights is not None:
        fold_input_affine(base, spec, np.ones(3), -np.asarray(CAFFE_MEAN_RGB)[::-1], reverse_channels=True)
    x = k.layers.GlobalAveragePooling2D(name="pool")(base.output)
    x = k.layers.Dropout(dropout, name="dropout")(x)
    probs = k.layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    tag = f"{name}_{alpha}_{size}" if spec.has_alpha else f"{name}_{size}"
    return k.Model(image, probs, name=f"edgetl_{tag}")


def build_classifier(num_classes: int, alpha: float = 1.0, size: int = 224, weights: str | None = None, dropout: float = 0.2,
                     backbone: str = DEFAULT):
    """``create`` with the historical argument order (MobileNetV2 unless told otherwise)."""
    return create(backbone, num_classes, alpha, size, weights, dropout)


# ---- the fine-tuning cut ---------------------------------------------------------------------------

def block_inputs(model, backbone: str = DEFAULT) -> list[str]:
    """For each fine-tunable block, bottom to top, the name of the layer whose output feeds it."""
    pattern = re.compile(get(backbone).block_pattern)
    seen: dict[str, str] = {}
    for layer in model.layers:
        match = pattern.match(layer.name)
        if match and match.group(1) not in seen:
            source = layer._inbound_nodes[0].inbound_layers
            seen[match.group(1)] = (source[0] if isinstance(source, list) else source).name
    return list(seen.values())


def cut_layer_name(model, fine_tune_blocks: int, backbone: str = DEFAULT) -> str:
    """Name of the layer whose output feeds the first unfrozen block (the cached activation).

    0 blocks -> the pooled features; N -> the input of the N-th block from the top (for MobileNetV2,
    block 17 - N).
    """
    if fine_tune_blocks <= 0:
        return "pool"
    spec = get(backbone)
    if fine_tune_blocks > spec.blocks:
        raise EdgetlError(f"--fine-tune takes 0..{spec.blocks} blocks for {spec.display} (got {fine_tune_blocks})")
    inputs = block_inputs(model, backbone)
    if len(inputs) < spec.blocks:  # a registry entry that no longer matches its Keras network
        raise EdgetlError(f"found {len(inputs)} fine-tunable blocks in {spec.display}, expected {spec.blocks}")
    return inputs[len(inputs) - fine_tune_blocks]


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
    return (np.asarray(images_uint8, dtype=np.float32) - mean) / std
