"""Load a .tflite with whichever LiteRT runtime is installed, and classify frames the way its card says.

Order of preference: ai_edge_litert (maintained), tflite_runtime (older Pi images), tensorflow.lite (a
workstation that has TensorFlow anyway). Never imports TensorFlow unless the other two are missing.
"""

from __future__ import annotations

import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edgetl.card import ModelCard, find_card
from edgetl.errors import EdgetlError

DELEGATE_LIBRARIES = {
    "edgetpu": "libedgetpu.so.1",
    "gpu": "libtensorflowlite_gpu_delegate.so",
}


def runtime_module():
    """Return (module with Interpreter and load_delegate, its name)."""
    try:
        from ai_edge_litert import interpreter as litert

        return litert, "ai_edge_litert"
    except ImportError:
        pass
    try:
        import tflite_runtime.interpreter as tflite

        return tflite, "tflite_runtime"
    except ImportError:
        pass
    try:
        import tensorflow as tf

        return tf.lite, "tensorflow.lite"
    except ImportError:
        raise EdgetlError("no TFLite runtime found: pip install ai-edge-litert (or 'edgetl[pi]')") from None


def load_interpreter(model: str | Path, threads: int | None = None, delegate: str | None = None, xnnpack: bool = True,
                     warn: Callable[[str], None] | None = None):
    """A ready (allocated) interpreter. A delegate that cannot load falls back to CPU with one warning."""
    model = Path(model)
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    if not model.is_file():
        raise EdgetlError(f"model not found: {model}")
    if model.stat().st_size < 16:
        raise EdgetlError(f"{model} is empty or truncated, not a TFLite model")
    with open(model, "rb") as fh:
        head = fh.read(8)
    if head[4:8] != b"TFL3":
        raise EdgetlError(f"{model} is not a TFLite flatbuffer (no TFL3 identifier); export one with `edgetl export`")
    module, _ = runtime_module()
    delegates = []
    if delegate:
        library = DELEGATE_LIBRARIES.get(delegate, delegate)
        try:
            delegates.append(module.load_delegate(library))
        except (ValueError, OSError, RuntimeError) as exc:
            warn(f"delegate {delegate!r} unavailable ({str(exc).splitlines()[0][:120]}); running on CPU")
    kwargs = {"model_path": str(model), "num_threads": threads}
    if delegates:
        kwargs["experimental_delegates"] = delegates
    if not xnnpack and not delegates:
        resolver = getattr(module, "OpResolverType", None)
        if resolver is not None:
            kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    from edgetl.quiet import native_stderr_captured

    try:  # LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate" to fd 2 here
        with native_stderr_captured():
            interpreter = module.Interpreter(**kwargs)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise EdgetlError(f"cannot load {model}: {str(exc).splitlines()[0][:200]}") from None
    return interpreter


def metadata_labels(model: str | Path) -> list[str]:
    """The labels `edgetl export` packs into the .tflite's own metadata, for a model without its card.

    A model with neither is refused: announcing class numbers would speak wrong words ("6 rupees").
    """
    model = Path(model)
    try:
        from edgetl.model_metadata import read_metadata

        labels = read_metadata(model.read_bytes()).get("labels") or []
    except ImportError:  # the flatbuffers package is missing: treat as no metadata
        labels = []
    except (ValueError, IndexError, KeyError, OSError, zipfile.BadZipFile):  # foreign or damaged metadata
        labels = []
    labels = [label.strip() for label in labels if label.strip()]
    if not labels:
        raise EdgetlError(f"{model} has no model card ({model.with_suffix('.json').name}) and no labels in its "
                          "metadata, so what it says would be class numbers; pass --card CARD.json")
    return labels


@dataclass
class InputSpec:
    size: int
    dtype: np.dtype
    scale: float
    zero_point: int
    mean: float
    std: float

    @property
    def raw_pixels(self) -> bool:
        """True when uint8 pixels go straight in (the model's input quantization does the scaling)."""
        return self.dtype == np.uint8


class Classifier:
    """One model + its card: square RGB uint8 image in, float probabilities out."""

    def __init__(self, model: str | Path, card: str | Path | ModelCard | None = None, threads: int | None = None,
                 delegate: str | None = None, xnnpack: bool = True, verify: bool = True, warn=None):
        self.path = Path(model)
        self.card = card if isinstance(card, ModelCard) else find_card(self.path, card)
        if self.card is not None and verify:
            self.card.verify(self.path)
        self.interpreter = load_interpreter(self.path, threads, delegate, xnnpack, warn)
        inp = self.interpreter.get_input_details()
        out = self.interpreter.get_output_details()
        if len(inp) != 1 or len(inp[0]["shape"]) != 4 or inp[0]["shape"][3] != 3:
            raise EdgetlError(f"{self.path}: expected one NHWC RGB image input, found {[tuple(d['shape']) for d in inp]}")
        self._in, self._out = inp[0], out[0]
        h, w = int(inp[0]["shape"][1]), int(inp[0]["shape"][2])
        if h != w:
            raise EdgetlError(f"{self.path}: expected a square input, got {w}x{h}")
        scale, zero = self._in["quantization"]
        norm = self.card.normalization if self.card else {"mean": 127.5, "std": 127.5}
        self.input = InputSpec(h, np.dtype(self._in["dtype"]), float(scale), int(zero), float(norm["mean"]), float(norm["std"]))
        self.labels = list(self.card.labels) if self.card else metadata_labels(self.path)
        if len(self.labels) != int(out[0]["shape"][-1]):
            where = "model card" if self.card else f"{self.path.name}'s metadata"
            raise EdgetlError(f"{where} lists {len(self.labels)} labels but {self.path} outputs {int(out[0]['shape'][-1])} scores")
        o_scale, o_zero = self._out["quantization"]
        self._out_q = (float(o_scale), int(o_zero)) if self._out["dtype"] != np.float32 and o_scale else None
        self._buffer = np.zeros(tuple(inp[0]["shape"]), dtype=self.input.dtype)
        self._staged = self._buffer[0] if self.input.raw_pixels else None

    def input_buffer(self) -> np.ndarray | None:
        """For uint8 models, the staging buffer itself: pre-process straight into it and skip one copy."""
        return self._staged

    def set_input(self, rgb: np.ndarray) -> None:
        """Copy one size x size RGB uint8 image into the input tensor (no allocation for uint8 models)."""
        if self.input.raw_pixels:
            if rgb is not self._staged:
                self._buffer[0] = rgb
        elif self.input.dtype == np.int8:
            self._buffer[0] = (rgb.astype(np.int16) - 128).astype(np.int8)
        else:
            np.subtract(rgb, self.input.mean, out=self._buffer[0], dtype=np.float32, casting="unsafe")
            self._buffer[0] /= self.input.std
        self.interpreter.set_tensor(self._in["index"], self._buffer)

    def invoke(self) -> None:
        self.interpreter.invoke()

    def output(self) -> np.ndarray:
        raw = self.interpreter.get_tensor(self._out["index"])[0]
        if self._out_q is not None:
            scale, zero = self._out_q
            return (raw.astype(np.float32) - zero) * scale
        return raw.astype(np.float32, copy=False)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        self.set_input(rgb)
        self.invoke()
        return self.output()

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.stack([self(img) for img in images]) if len(images) else np.zeros((0, len(self.labels)), np.float32)
