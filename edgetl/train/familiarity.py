"""The familiarity gate: silence for things that look like no note the model was trained on.

A classifier must spread its probability over the classes it knows, so a Swedish 100-kronor note (blue,
"100" in the corner) comes out as "100" rupees at 0.9+ confidence. A "no note" class only helps with what
it has seen. The gate asks a second question: does this image look like the *training photos of the class
it was given*? It compares a mid-level feature (print texture, lettering, portrait detail, which separate
currencies better than the final pooled feature) with prototypes of that class's training photos, twice:

* **whole**: the feature averaged over the whole picture;
* **note**: the feature averaged where the classifier found its evidence for the class (its class
  activation map), so a foreign note lying on a familiar towel is judged by the note, not the towel.

Both must look familiar; what an unfamiliar-looking note loses moves to background. The gate is fitted on
training and validation photos only (no foreign notes needed): its two thresholds together keep a chosen
share (``keep``, 99 %) of the validation notes the model gets right. Export builds it into the graph from
ordinary ops (edgetl/export/gate.py), so every runtime (the Pi loop, the Android app) gets it with no code.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edgetl.atomic import write_bytes
from edgetl.data.images import load_square_batch
from edgetl.errors import EdgetlError
from edgetl.policy import DEFAULT_KEEP
from edgetl.run import GATE, Run

GATE_FILE = GATE  # the gate's file in a run folder
GATE_FORMAT = 2  # 1: the whole-picture probe only (refitted on the next export)
MIN_VAL_NOTES = 20  # fewer right answers than this cannot place the thresholds
EDGE = 0.02  # each probe goes from 0.05 to 0.95 over +-EDGE of cosine similarity around its centre
SLOPE = math.log(19) / EDGE
PROBES = ("whole", "note")


@dataclass
class Probe:
    """One similarity test: cosine of a centred pooled feature with the nearest prototype of a class."""

    center: np.ndarray  # (D,) mean training feature, subtracted before the cosine
    prototypes: np.ndarray  # (classes x per_class, D), unit length, grouped by class
    threshold: float  # centre of the probe's edge: passes 50 % here, 95 % at threshold + EDGE


@dataclass
class Gate:
    layer: str  # the backbone layer whose pooled output is compared
    evidence: np.ndarray  # (final channels, classes): the classifier's weights for the note classes (the CAM)
    whole: Probe  # ``layer`` averaged over the whole picture
    note: Probe  # ``layer`` averaged with the class's evidence map as weights
    classes: list[str]  # the note labels, in prototype-group order
    keep: float  # share of right validation answers both probes together keep
    val_notes: int  # how many right validation answers it was placed on
    model_sha256: str = ""  # the model.keras it was fitted for: a retrained run refits

    @property
    def per_class(self) -> int:
        return len(self.whole.prototypes) // len(self.classes)

    @property
    def probes(self) -> dict[str, Probe]:
        return {"whole": self.whole, "note": self.note}

    def summary(self) -> dict:
        return {"layer": self.layer, "probes": list(PROBES), "prototypes": int(sum(len(p.prototypes) for p in self.probes.values())),
                "per_class": self.per_class, "thresholds": {n: round(float(p.threshold), 4) for n, p in self.probes.items()},
                "keep": self.keep, "fitted_on_val_notes": self.val_notes}

    def with_thresholds(self, thresholds: dict[str, float]) -> "Gate":
        """The same gate with other thresholds, e.g. those a card records for its int8 model."""
        return replace(self, **{n: replace(p, threshold=float(thresholds[n])) for n, p in self.probes.items()})

    def save(self, path: str | Path) -> Path:
        buf = io.BytesIO()
        probes = {f"{n}_{field}": getattr(p, field) for n, p in self.probes.items() for field in ("center", "prototypes", "threshold")}
        np.savez(buf, format=GATE_FORMAT, layer=self.layer, evidence=self.evidence, classes=np.array(self.classes),
                 keep=self.keep, val_notes=self.val_notes, model_sha256=self.model_sha256, **probes)
        return write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "Gate":
        """Raises EdgetlError for a broken file and for an older format (export then refits)."""
        try:
            with np.load(path) as z:
                version = int(z["format"]) if "format" in z.files else 1
                if version != GATE_FORMAT:
                    raise OutdatedGate(f"{path}: familiarity gate format {version}, this edgetl writes {GATE_FORMAT}")
                probes = {n: Probe(center=z[f"{n}_center"], prototypes=z[f"{n}_prototypes"], threshold=float(z[f"{n}_threshold"]))
                          for n in PROBES}
                sha = str(z["model_sha256"]) if "model_sha256" in z.files else ""
                return cls(layer=str(z["layer"]), evidence=z["evidence"], classes=[str(c) for c in z["classes"]],
                           keep=float(z["keep"]), val_notes=int(z["val_notes"]), model_sha256=sha, **probes)
        except (OSError, ValueError, KeyError) as exc:
            raise EdgetlError(f"{path}: not a readable familiarity gate ({type(exc).__name__}); delete it to refit") from None


class OutdatedGate(EdgetlError):
    """A gate file written by an older edgetl: refit rather than use."""


def feature_layer(net) -> str:
    """The last layer one stride-2 step above the final feature map (MobileNetV2: block_13_expand_relu).

    That is the deepest place that still sees fine print; one rule serves every backbone in the registry.
    A stride-2 step halves a side rounding up, so at 240 px the layer is 15x15 above a final 8x8.
    """
    final = net.get_layer("pool").input_shape[1]
    found = None
    for layer in net.layers:
        shape = layer.output_shape
        if (isinstance(shape, tuple) and len(shape) == 4 and shape[1] > final and (shape[1] + 1) // 2 == final
                and "pad" not in layer.name):
            found = layer.name
    if found is None:
        raise EdgetlError(f"{net.name}: no layer one stride-2 step above its final {final}x{final} for the familiarity gate")
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


def gate_layer(model, name: str):
    """``name`` in a float model, or its wrapper in a quantization-aware one."""
    names = {layer.name for layer in model.layers}
    return model.get_layer(name if name in names else f"quant_{name}")


def maps_model(net, layer: str):
    """``net`` also returning ``layer``'s map and the final feature map (the pooled layer's input)."""
    from edgetl.tf_env import keras

    return keras().Model(net.input, [gate_layer(net, layer).output, gate_layer(net, "pool").input, net.output])


@dataclass
class Features:
    """What both probes need, for every class at once, computed in numpy exactly as the graph does."""

    whole: np.ndarray  # (n, D) layer averaged over the picture
    weighted: np.ndarray  # (n, classes, D) sum of the layer weighted by each class's evidence
    weight: np.ndarray  # (n, classes) sum of those weights (0: no evidence anywhere)
    probs: np.ndarray  # (n, labels)

    def __len__(self) -> int:
        return len(self.whole)

    def take(self, rows) -> "Features":
        return Features(self.whole[rows], self.weighted[rows], self.weight[rows], self.probs[rows])

    @classmethod
    def concat(cls, parts: Sequence["Features"]) -> "Features":
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("whole", "weighted", "weight", "probs")))


def cell_pool(size: int, cells: int) -> tuple[int, int, int]:
    """(window, padding before, padding after) that average a side of ``size`` onto ``cells``, as a stride-2
    step does: TensorFlow's "same" padding, the padded places left out of each mean (15 -> 8: last cell alone)."""
    window = -(-size // cells)
    pad = cells * window - size
    return window, pad // 2, pad - pad // 2


def final_grid(layer_map: np.ndarray, grid) -> np.ndarray:
    """The layer averaged onto the final map's grid; the exported gate's "same" AveragePooling2D, in numpy."""
    n, h, w, d = layer_map.shape
    (wh, h0, h1), (ww, w0, w1) = cell_pool(h, grid[0]), cell_pool(w, grid[1])
    pads = ((0, 0), (h0, h1), (w0, w1), (0, 0))
    sums = np.pad(layer_map, pads).reshape(n, grid[0], wh, grid[1], ww, d).sum((2, 4))
    counts = np.pad(np.ones((1, h, w, 1), layer_map.dtype), pads).reshape(1, grid[0], wh, grid[1], ww, 1).sum((2, 4))
    return sums / counts


def features(model, x: np.ndarray, evidence: np.ndarray) -> Features:
    """Run ``maps_model`` on model-ready images ``x``; ``evidence``: (final channels, classes)."""
    layer_map, final_map, probs = model.predict(x, verbose=0)
    cells = final_grid(layer_map, final_map.shape[1:3])
    weights = np.maximum(np.einsum("nhwk,kc->nhwc", final_map, evidence), 0.0)  # class activation maps, >= 0
    return Features(layer_map.mean((1, 2)), np.einsum("nhwc,nhwd->ncd", weights, cells), weights.sum((1, 2)), probs)


def _read(model, paths: Sequence[Path], size: int, mean: float, std: float, evidence: np.ndarray, batch: int = 32):
    parts, kept = [], []
    for start in range(0, len(paths), batch):
        images, read = load_square_batch(paths[start:start + batch], size)
        kept += [start + i for i in read]
        if len(images):
            parts.append(features(model, (images.astype(np.float32) - mean) / std, evidence))
    return (Features.concat(parts) if parts else None), kept


def _vectors(probe_name: str, feats: Features, classes: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Unit, centred vectors of each row for its class (zero when the class has no evidence in the picture)."""
    if probe_name == "whole":
        return _unit(feats.whole - center)
    rows = np.arange(len(feats))
    return _unit(feats.weighted[rows, classes] - feats.weight[rows, classes][:, None] * center)


def similarities(gate: Gate, feats: Features, predicted: Sequence[str]) -> dict[str, np.ndarray]:
    """Per probe: cosine similarity of each row to the nearest prototype of its predicted class (nan: not a note)."""
    known = np.array([label in gate.classes for label in predicted], dtype=bool)
    classes = np.array([gate.classes.index(label) if ok else 0 for label, ok in zip(predicted, known)], dtype=int)
    out = {}
    for name, probe in gate.probes.items():
        v = _vectors(name, feats, classes, probe.center)
        grouped = (v @ probe.prototypes.T).reshape(len(v), len(gate.classes), gate.per_class).max(-1)
        out[name] = np.where(known, grouped[np.arange(len(v)), classes], np.nan)
    return out


def _check_keep(keep: float) -> None:
    if not 0.5 <= keep < 1.0:
        raise EdgetlError(f"familiarity keep must be in [0.5, 1) (got {keep})")


def right_notes(predicted: np.ndarray, truth: np.ndarray, labels: list[str], background: str | None) -> np.ndarray:
    """Which answers are right *and* name a note (right silence says nothing about familiarity)."""
    return (predicted == truth) & np.array([labels[y] != background for y in truth], dtype=bool)


def with_placed_thresholds(gate: Gate, sims: dict[str, np.ndarray], keep: float) -> Gate:
    """``gate`` with thresholds placed on right answers' similarities ``sims`` (one array per probe)."""
    thresholds = _joint_thresholds(np.stack([sims[n] for n in PROBES]), keep)
    return gate.with_thresholds({n: float(t) - EDGE for n, t in zip(PROBES, thresholds)})


def _joint_thresholds(sims: np.ndarray, keep: float) -> np.ndarray:
    """Per-probe thresholds at one shared rank, the strictest whose probes *together* pass ``keep`` of rows."""
    ranked = np.sort(sims, axis=1)
    best = ranked[:, 0]
    for i in range(sims.shape[1]):
        if (sims >= ranked[:, i:i + 1]).all(0).mean() < keep:
            break
        best = ranked[:, i]
    return best


def fit(net, labels: list[str], background: str | None, train: Sequence[tuple[Path, int]], val: Sequence[tuple[Path, int]],
        size: int, mean: float, std: float, per_class: int = 64, images_per_class: int = 300, keep: float = DEFAULT_KEEP,
        seed: int = 0, log: Callable[[str], None] = print) -> Gate | None:
    """Fit the gate for ``net`` on its run's training and validation photos; None when it cannot be placed."""
    _check_keep(keep)
    notes = [label for label in labels if label != background]
    layer = feature_layer(net)
    model = maps_model(net, layer)
    evidence = gate_layer(net, "classifier").get_weights()[0][:, [labels.index(c) for c in notes]].astype(np.float32)
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[Path]] = {}
    for path, y in train:
        if labels[y] != background:
            by_class.setdefault(y, []).append(path)
    if len(by_class) < len(notes):
        missing = sorted(set(notes) - {labels[y] for y in by_class})
        log(f"familiarity gate skipped: no training photos of {', '.join(missing)}")
        return None
    chosen = {notes.index(labels[y]): [paths[i] for i in rng.permutation(len(paths))[:images_per_class]] for y, paths in by_class.items()}
    parts = {c: _read(model, paths, size, mean, std, evidence)[0] for c, paths in sorted(chosen.items())}
    unreadable = [notes[c] for c, f in parts.items() if f is None]
    if unreadable:
        log(f"familiarity gate skipped: no readable training photos of {', '.join(unreadable)}")
        return None
    feats = Features.concat(list(parts.values()))
    own = np.concatenate([np.full(len(f), c) for c, f in parts.items()])
    rows = np.arange(len(feats))
    alive = feats.weight[rows, own] > 0
    if not alive.any():
        log("familiarity gate skipped: the classifier finds no evidence for any class in its own training photos")
        return None
    centers = {"whole": feats.whole.mean(0),
               "note": (feats.weighted[rows, own][alive] / feats.weight[rows, own][alive][:, None]).mean(0)}
    probes = {}
    for name in PROBES:
        v = _vectors(name, feats, own, centers[name])
        usable = alive if name == "note" else np.ones(len(v), bool)  # a photo with no evidence has no note vector
        protos = []
        for c in range(len(notes)):
            rows_c = (own == c) & usable
            protos.append(_spherical_kmeans(v[rows_c if rows_c.any() else own == c], per_class, seed))
        probes[name] = Probe(center=centers[name].astype(np.float32), prototypes=np.concatenate(protos).astype(np.float32), threshold=0.0)
    gate = Gate(layer=layer, evidence=evidence, classes=notes, keep=keep, val_notes=0, **probes)
    return place(gate, net, labels, background, val, size, mean, std, keep, log)


def place(gate: Gate, net, labels: list[str], background: str | None, val: Sequence[tuple[Path, int]], size: int,
          mean: float, std: float, keep: float, log: Callable[[str], None] = print) -> Gate | None:
    """``gate`` with thresholds that together keep ``keep`` of ``net``'s right validation answers (prototypes as they are)."""
    _check_keep(keep)
    val_feats, kept = _read(maps_model(net, gate.layer), [p for p, _ in val], size, mean, std, gate.evidence)
    truth = np.array([val[i][1] for i in kept], dtype=int)
    predicted = val_feats.probs.argmax(1) if val_feats is not None else np.zeros(0, int)
    right = right_notes(predicted, truth, labels, background)
    if right.sum() < MIN_VAL_NOTES:
        log(f"familiarity gate skipped: {int(right.sum())} right validation answers on notes, needs {MIN_VAL_NOTES}")
        return None
    sims = similarities(gate, val_feats.take(right), [labels[y] for y in predicted[right]])
    return replace(with_placed_thresholds(gate, sims, keep), keep=keep, val_notes=int(right.sum()))


def gate_for_run(run: Run, net, log: Callable[[str], None] = print, keep: float = DEFAULT_KEEP,
                 refit: bool = False) -> Gate | None:
    """The run's fitted gate (fitted now and saved in the run folder the first time)."""
    from edgetl.digest import sha256_file

    path, background = run.gate_file, run.background
    val = [(s.path, s.label) for s in run.split("val").samples]
    model_sha256 = sha256_file(run.model_file)
    if path.exists() and not refit:
        try:
            gate = Gate.load(path)
        except OutdatedGate as exc:
            log(f"{exc}; refitting")
        else:
            if gate.model_sha256 != model_sha256:
                log(f"familiarity gate: {path.name} was fitted for another model.keras (retrained?); refitting")
            elif gate.classes == [label for label in run.labels if label != background] and gate.layer == feature_layer(net):
                if gate.keep == keep:
                    return gate
                # the prototypes do not depend on keep: only the thresholds move
                log(f"familiarity gate: placing its thresholds again for keep {keep:.1%}")
                gate = place(gate, net, run.labels, background, val, run.size, run.mean, run.std, keep, log)
                if gate is not None:
                    gate.save(path)
                return gate
    log(f"familiarity gate: fitting on {run.path.name}'s training and validation photos (keep {keep:.1%})")
    train = [(s.path, s.label) for s in run.split("train").samples]
    gate = fit(net, run.labels, background, train, val, run.size, run.mean, run.std, keep=keep, log=log)
    if gate is not None:
        gate = replace(gate, model_sha256=model_sha256)
        gate.save(path)
    return gate
