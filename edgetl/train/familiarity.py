"""The familiarity gate: silence for things that look like no note the model was trained on.

A classifier must spread its probability over the classes it knows, so a Swedish 100-kronor note (blue,
"100" in the corner) comes out as "100" rupees at 0.9+ confidence. A "no note" class only helps with what
it has seen. The gate asks a second question: does this image look like the *training photos of the class
it was given*? It compares a mid-level feature (print texture, lettering, portrait detail, which separate
currencies better than the final pooled feature) with prototypes of that class's training photos, and
moves the probability of an unfamiliar-looking note to background.

The gate is fitted on training and validation photos only (no foreign notes needed): its threshold keeps a
chosen share (``keep``, 95 %) of the validation notes the model gets right. It is built into the
exported graph from ordinary ops, so every runtime (the Pi loop, the Android app) gets it with no code.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edgetl.atomic import write_bytes
from edgetl.data.images import UnreadableImage, load_square
from edgetl.errors import EdgetlError

GATE_FILE = "familiarity.npz"
MIN_VAL_NOTES = 20  # fewer right answers than this cannot place a 97.5 % threshold
EDGE = 0.02  # the gate goes from 0.05 to 0.95 over +-EDGE of cosine similarity around its centre
SLOPE = math.log(19) / EDGE
DEFAULT_KEEP = 0.95  # benchmarks/notes_model.py: 0.975 let 3 more Swedish notes through for 4 more clip frames


@dataclass
class Gate:
    layer: str  # the backbone layer whose globally pooled output is compared
    center: np.ndarray  # (D,) mean training feature, subtracted before the cosine
    prototypes: np.ndarray  # (classes x per_class, D), unit length, grouped by class
    classes: list[str]  # the note labels, in prototype-group order
    threshold: float  # cosine similarity at which the gate passes 95 %
    keep: float  # share of right validation answers the threshold keeps
    val_notes: int  # how many right validation answers it was placed on

    @property
    def per_class(self) -> int:
        return len(self.prototypes) // len(self.classes)

    def summary(self) -> dict:
        return {"layer": self.layer, "prototypes": int(len(self.prototypes)), "per_class": self.per_class,
                "threshold": round(float(self.threshold), 4), "keep": self.keep, "fitted_on_val_notes": self.val_notes}

    def save(self, path: str | Path) -> Path:
        buf = io.BytesIO()
        np.savez(buf, layer=self.layer, center=self.center, prototypes=self.prototypes, classes=np.array(self.classes),
                 threshold=self.threshold, keep=self.keep, val_notes=self.val_notes)
        return write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "Gate":
        try:
            with np.load(path) as z:
                return cls(layer=str(z["layer"]), center=z["center"], prototypes=z["prototypes"],
                           classes=[str(c) for c in z["classes"]], threshold=float(z["threshold"]),
                           keep=float(z["keep"]), val_notes=int(z["val_notes"]))
        except (OSError, ValueError, KeyError) as exc:
            raise EdgetlError(f"{path}: not a readable familiarity gate ({type(exc).__name__}); delete it to refit") from None


def feature_layer(net) -> str:
    """The last layer at twice the final feature map's resolution (MobileNetV2: block_13_expand_relu).

    That is the deepest place that still sees fine print; one rule serves every backbone in the registry.
    """
    final = net.get_layer("pool").input_shape[1]
    found = None
    for layer in net.layers:
        shape = layer.output_shape
        if isinstance(shape, tuple) and len(shape) == 4 and shape[1] == 2 * final and "pad" not in layer.name:
            found = layer.name
    if found is None:
        raise EdgetlError(f"{net.name}: no layer at {2 * final}x{2 * final} for the familiarity gate")
    return found


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _spherical_kmeans(x: np.ndarray, k: int, seed: int, iterations: int = 20) -> np.ndarray:
    """k unit-length centres of unit rows ``x`` (all rows, repeated, when there are fewer than k)."""
    if len(x) <= k:
        return x[np.arange(k) % len(x)]
    rng = np.random.default_rng(seed)
    centres = x[rng.choice(len(x), k, replace=False)].copy()
    for _ in range(iterations):
        nearest = (x @ centres.T).argmax(1)
        for j in range(k):
            members = x[nearest == j]
            if len(members):
                centres[j] = members.sum(0)
        centres = _unit(centres)
    return centres


def _pooled_model(net, layer: str):
    from edgetl.tf_env import keras

    k = keras()
    return k.Model(net.input, [k.layers.GlobalAveragePooling2D()(net.get_layer(layer).output), net.output])


def _run_images(model, paths: Sequence[Path], size: int, mean: float, std: float, batch: int = 32):
    feats, probs = [], []
    kept = []
    for start in range(0, len(paths), batch):
        images = []
        for i, p in enumerate(paths[start:start + batch], start):
            try:
                images.append(load_square(p, size))
                kept.append(i)
            except UnreadableImage:
                continue
        if images:
            f, p = model.predict((np.stack(images).astype(np.float32) - mean) / std, verbose=0)
            feats.append(f)
            probs.append(p)
    if not feats:
        return np.zeros((0, 1), np.float32), np.zeros((0, 1), np.float32), []
    return np.concatenate(feats), np.concatenate(probs), kept


def similarities(gate: Gate, features: np.ndarray, predicted: Sequence[str]) -> np.ndarray:
    """Cosine similarity of each feature to the nearest prototype of its predicted class (nan: not a note)."""
    sims = _unit(features - gate.center) @ gate.prototypes.T
    grouped = sims.reshape(len(sims), len(gate.classes), gate.per_class).max(-1)
    out = np.full(len(sims), np.nan)
    for i, label in enumerate(predicted):
        if label in gate.classes:
            out[i] = grouped[i, gate.classes.index(label)]
    return out


def fit(net, labels: list[str], background: str | None, train: Sequence[tuple[Path, int]], val: Sequence[tuple[Path, int]],
        size: int, mean: float, std: float, per_class: int = 64, images_per_class: int = 300, keep: float = DEFAULT_KEEP,
        seed: int = 0, log: Callable[[str], None] = print) -> Gate | None:
    """Fit the gate for ``net`` on its run's training and validation photos; None when it cannot be placed."""
    if not 0.5 <= keep < 1.0:
        raise EdgetlError(f"familiarity keep must be in [0.5, 1) (got {keep})")
    notes = [label for label in labels if label != background]
    layer = feature_layer(net)
    model = _pooled_model(net, layer)
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[Path]] = {}
    for path, y in train:
        if labels[y] != background:
            by_class.setdefault(y, []).append(path)
    if len(by_class) < len(notes):
        missing = sorted(set(notes) - {labels[y] for y in by_class})
        log(f"familiarity gate skipped: no training photos of {', '.join(missing)}")
        return None
    chosen = {y: [paths[i] for i in rng.permutation(len(paths))[:images_per_class]] for y, paths in by_class.items()}
    feats = {y: _run_images(model, paths, size, mean, std)[0] for y, paths in sorted(chosen.items())}
    unreadable = [labels[y] for y, f in feats.items() if len(f) == 0 or f.shape[1] <= 1]
    if unreadable:
        log(f"familiarity gate skipped: no readable training photos of {', '.join(unreadable)}")
        return None
    center = np.concatenate(list(feats.values())).mean(0)
    prototypes = np.concatenate([_spherical_kmeans(_unit(feats[labels.index(c)] - center), per_class, seed) for c in notes])
    gate = Gate(layer=layer, center=center.astype(np.float32), prototypes=prototypes.astype(np.float32), classes=notes,
                threshold=0.0, keep=keep, val_notes=0)
    val_feats, val_probs, kept = _run_images(model, [p for p, _ in val], size, mean, std)
    truth = np.array([val[i][1] for i in kept], dtype=int)
    predicted = val_probs.argmax(1) if len(kept) else np.zeros(0, int)
    right = (predicted == truth) & np.array([labels[y] != background for y in truth], dtype=bool)
    if right.sum() < MIN_VAL_NOTES:
        log(f"familiarity gate skipped: {int(right.sum())} right validation answers on notes, needs {MIN_VAL_NOTES}")
        return None
    sims = similarities(gate, val_feats[right], [labels[y] for y in predicted[right]])
    gate.threshold = float(np.quantile(sims, 1 - keep)) - EDGE
    gate.val_notes = int(right.sum())
    return gate


def gated_model(net, gate: Gate, labels: list[str], background: str | None):
    """``net`` with the gate appended: one flat functional graph, same input, same output shape.

    A note's probability is multiplied by sigmoid(SLOPE * (similarity - threshold)); what it loses goes to
    background (without a background class the scores just shrink, and low confidence is silence anyway).
    """
    from edgetl.tf_env import keras, tf

    k, t = keras(), tf()
    layer = net.get_layer(gate.layer) if gate.layer in {l.name for l in net.layers} else net.get_layer(f"quant_{gate.layer}")
    pooled = k.layers.GlobalAveragePooling2D(name="familiar_pool")(layer.output)
    center = t.constant(gate.center[None], t.float32)
    unit = k.layers.Lambda(lambda f: t.math.l2_normalize(f - center, axis=-1), name="familiar_unit")(pooled)
    sims = k.layers.Dense(len(gate.prototypes), use_bias=False, trainable=False, name="familiar_prototypes")
    grouped = sims(unit)
    sims.set_weights([gate.prototypes.T])
    # a constant-shape reshape (not keras' Reshape, whose batch lookup adds SHAPE/PACK ops Edge TPU dislikes)
    groups = (-1, len(gate.classes), gate.per_class)
    nearest = k.layers.Lambda(lambda s: t.reduce_max(t.reshape(s, groups), axis=-1), name="familiar_nearest")(grouped)
    # one sigmoid input per label: SLOPE * (similarity - threshold) for notes, a constant "open" for the rest
    kernel = np.zeros((len(gate.classes), len(labels)), np.float32)
    bias = np.full(len(labels), 8.0, np.float32)
    for i, c in enumerate(gate.classes):
        kernel[i, labels.index(c)] = SLOPE
        bias[labels.index(c)] = -SLOPE * gate.threshold
    to_labels = k.layers.Dense(len(labels), activation="sigmoid", trainable=False, name="familiar_gate")
    gate_out = to_labels(nearest)
    to_labels.set_weights([kernel, bias])
    kept = k.layers.Multiply(name="familiar_kept")([net.output, gate_out])
    if background is None:
        return k.Model(net.input, kept, name=f"{net.name}_gated")
    onehot = t.constant(np.eye(len(labels), dtype=np.float32)[labels.index(background)][None])
    out = k.layers.Lambda(lambda p: p + (1.0 - t.reduce_sum(p, axis=-1, keepdims=True)) * onehot, name="familiar_out")(kept)
    return k.Model(net.input, out, name=f"{net.name}_gated")


def gate_for_run(run, net, log: Callable[[str], None] = print, keep: float = DEFAULT_KEEP, refit: bool = False) -> Gate | None:
    """The run's fitted gate (fitted now and saved beside model.keras the first time)."""
    path = Path(run.path) / GATE_FILE
    background = "background" if "background" in run.labels else None
    if path.exists() and not refit:
        gate = Gate.load(path)
        if gate.keep == keep and gate.classes == [label for label in run.labels if label != background]:
            return gate
    log(f"familiarity gate: fitting on {run.path.name}'s training and validation photos (keep {keep:.1%})")
    train = [(s.path, s.label) for s in run.split("train").samples]
    val = [(s.path, s.label) for s in run.split("val").samples]
    gate = fit(net, run.labels, background, train, val, run.size, run.mean, run.std, keep=keep, log=log)
    if gate is not None:
        gate.save(path)
    return gate
