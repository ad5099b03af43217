"""`edgetl explain`: what did the float model of a run look at, and where does it go wrong?

A person deciding whether to trust a note reader wants to see *why* it said "500": Grad-CAM heat-maps
show which part of the photo drove the answer (the note, or the table it lies on), a grid of feature
maps shows what the network computes on the way, and a gallery of the most confident mistakes shows
what it confuses. Everything runs on the run's float Keras model (the int8 export is its copy).

Python API (used by the CLI and by ``edgetl.report``):

- ``load_run(run) -> RunModel``: a run's float model, labels, input size and pixel scaling, checked.
  ``RunModel.square(rgb)`` resizes a photo exactly as training did, ``RunModel.predict(squares)`` gives
  probabilities, ``RunModel.grad_cam(squares, class_indices)`` heat-maps (model resolution, in [0, 1]).
- ``grad_cam(model, model_input, class_index) -> HxW heat-map`` for any flat classifier with a ``pool``
  (GlobalAveragePooling2D) layer; ``model_input`` is already scaled like training input.
- ``gradcam_layer(model)``: the layer whose 4-D activation feeds ``pool`` (the Grad-CAM target).
- ``save_overlay(rgb, heat, dest, ...)``: photo | heat-map overlay with colour bar | top-k scores, as a PNG.
- ``feature_grid(run_model, rgb, dest, layers=6, channels=8)``: feature maps from early to late layers.
- ``misclassified_gallery(run, data, out, top=12, split="test") -> dict``: the worst mistakes on a data set
  with their heat-maps (``misclassified_gradcam.png``) and a summary (``misclassified.json``). With no
  mistakes no PNG is written and the summary says so (``"gallery": null``).
- ``explain(run, images, out, layers=False, misclassified=None, top=12) -> dict``: what the CLI does.

PNG sizes are fixed (``OVERLAY_SIZE`` etc.) so that reports can lay them out. Grad-CAM uses the class
score before the softmax when the model ends in a softmax Dense layer: the gradient of a saturated
probability (0.999) is close to zero and mostly noise, the gradient of the logit is not.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edgetl.atomic import atomic_path, write_json
from edgetl.errors import EdgetlError
from edgetl.plots import headless_pyplot

POOL_LAYER = "pool"
TOP_SCORES = 3
GALLERY_TOP = 12
DPI = 100
OVERLAY_FIGSIZE = (12.0, 4.2)  # photo | overlay + colour bar | top-k scores
OVERLAY_SIZE = (int(OVERLAY_FIGSIZE[0] * DPI), int(OVERLAY_FIGSIZE[1] * DPI))  # (width, height) in pixels
HEAT_ALPHA = 0.45
HEAT_CMAP = "jet"
MAX_DISPLAY_SIDE = 512  # photos are shown at most this large (a 12 Mpx photo need not be blended in full)
CHUNK = 32


def _save(fig, dest: Path) -> Path:
    """Write a figure atomically at its fixed size (no tight bbox, so sizes are predictable)."""
    plt = headless_pyplot()
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    plt.close(fig)
    return dest


# ---- the model ---------------------------------------------------------------------------------------------


def gradcam_layer(model):
    """The layer whose 4-D output feeds ``pool``: the last spatial activation, whatever the backbone."""
    try:
        pool = model.get_layer(POOL_LAYER)
    except ValueError:
        raise EdgetlError(f"model {model.name} has no layer named {POOL_LAYER!r}; explain needs an edgetl classifier") from None
    inbound = pool._inbound_nodes[0].inbound_layers
    if isinstance(inbound, (list, tuple)):
        if len(inbound) != 1:
            raise EdgetlError(f"layer {POOL_LAYER!r} of {model.name} has {len(inbound)} inputs; expected one 4-D activation")
        inbound = inbound[0]
    shape = inbound.output_shape
    if not isinstance(shape, tuple) or len(shape) != 4:
        raise EdgetlError(f"layer {inbound.name!r} feeding {POOL_LAYER!r} has output shape {shape}; expected 4-D (N, H, W, C)")
    return inbound


class GradCam:
    """Grad-CAM on a flat classifier: class-score gradients at the last 4-D activation weight its channels.

    Built once per model (it wraps the model's own layers in a two-output model, no copy of the weights).
    """

    def __init__(self, model):
        from edgetl.tf_env import keras

        k = keras()
        self.target = gradcam_layer(model)
        self.model = model
        last = model.output._keras_history.layer
        activation = getattr(getattr(last, "activation", None), "__name__", "")
        self.dense = last if isinstance(last, k.layers.Dense) and activation == "softmax" else None
        score_input = last.input if self.dense is not None else model.output
        self.split = k.Model(model.input, [model.get_layer(POOL_LAYER).input, score_input], name="gradcam_split")

    def __call__(self, model_input: np.ndarray, class_indices: Sequence[int]) -> np.ndarray:
        """Heat-maps (N x H x W, model input resolution, each scaled to max 1; all zero if nothing is positive)."""
        import cv2

        from edgetl.tf_env import tf

        t = tf()
        x = t.convert_to_tensor(np.asarray(model_input, np.float32))
        idx = t.constant(np.asarray(class_indices, np.int32).reshape(-1, 1))
        with t.GradientTape() as tape:
            activation, scores = self.split(x, training=False)
            if self.dense is not None:  # the logits: the Dense layer without its softmax
                scores = t.matmul(scores, self.dense.kernel) + self.dense.bias
            score = t.reduce_sum(t.gather(scores, idx, batch_dims=1))
        grads = tape.gradient(score, activation)
        channel_weights = t.reduce_mean(grads, axis=(1, 2))  # one weight per channel and image
        cams = t.nn.relu(t.einsum("bhwc,bc->bhw", activation, channel_weights)).numpy()
        h, w = int(x.shape[1]), int(x.shape[2])
        out = np.zeros((len(cams), h, w), np.float32)
        for i, cam in enumerate(cams):
            peak = float(cam.max())
            if peak > 0:
                out[i] = np.clip(cv2.resize(cam / peak, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
        return out


def grad_cam(model, model_input: np.ndarray, class_index: int) -> np.ndarray:
    """Grad-CAM heat-map (H x W in [0, 1], model resolution) of one pre-scaled image for ``class_index``."""
    x = np.asarray(model_input, np.float32)
    if x.ndim != 3:
        raise EdgetlError(f"grad_cam takes one H x W x 3 image, got shape {x.shape}")
    return GradCam(model)(x[None], [int(class_index)])[0]


@dataclass
class RunModel:
    """A training run's float model with what is needed to feed it like training did."""

    run: Path
    model: object
    labels: list[str]
    size: int
    mean: float
    std: float
    _cam: GradCam | None = field(default=None, repr=False)

    def square(self, rgb: np.ndarray) -> np.ndarray:
        """Squash a photo to the model's square input, as training did (the whole note stays in view)."""
        from edgetl.data.images import resize_square

        return resize_square(rgb, self.size)

    def model_input(self, squares: np.ndarray) -> np.ndarray:
        from edgetl.train.backbones import to_model_input

        return to_model_input(squares, self.mean, self.std)

    def predict(self, squares: np.ndarray) -> np.ndarray:
        """Softmax probabilities (N x labels) for square uint8 RGB images."""
        squares = np.asarray(squares, np.uint8)
        if not len(squares):
            return np.zeros((0, len(self.labels)), np.float32)
        return np.concatenate([self.model(self.model_input(squares[i : i + CHUNK]), training=False).numpy()
                               for i in range(0, len(squares), CHUNK)])

    def grad_cam(self, squares: np.ndarray, class_indices: Sequence[int]) -> np.ndarray:
        """Heat-maps (N x size x size, in [0, 1]) of square uint8 RGB images, one class index each."""
        if self._cam is None:
            self._cam = GradCam(self.model)
        squares = np.asarray(squares, np.uint8)
        classes = [int(c) for c in class_indices]
        if len(classes) != len(squares):
            raise EdgetlError(f"grad_cam needs one class per image (got {len(classes)} for {len(squares)})")
        if not len(squares):
            return np.zeros((0, self.size, self.size), np.float32)
        return np.concatenate([self._cam(self.model_input(squares[i : i + CHUNK]), classes[i : i + CHUNK])
                               for i in range(0, len(squares), CHUNK)])

    @property
    def target_layer(self) -> str:
        return gradcam_layer(self.model).name


def load_run(run: str | Path) -> RunModel:
    """Load a run folder (or its model.keras) with labels.txt and config.json, checking they agree."""
    from edgetl.run import Run
    from edgetl.train.loading import load_run_model

    run = Path(run)
    if not run.exists():
        raise EdgetlError(f"run not found: {run}")
    opened = Run.open_model(run, purpose="explain")
    model = load_run_model(opened)
    gradcam_layer(model)  # fail now, with one line, for a model explain cannot handle
    return RunModel(opened.path, model, opened.labels, opened.size, opened.mean, opened.std)


def _as_run_model(run: str | Path | RunModel) -> RunModel:
    return run if isinstance(run, RunModel) else load_run(run)


def top_scores(probs: np.ndarray, labels: Sequence[str], k: int = TOP_SCORES) -> list[dict]:
    order = np.argsort(-probs, kind="stable")[: min(k, len(labels))]
    return [{"label": labels[i], "score": round(float(probs[i]), 4)} for i in order]


# ---- figures -----------------------------------------------------------------------------------------------


def _display_copy(rgb: np.ndarray) -> np.ndarray:
    """The photo at most MAX_DISPLAY_SIDE on its long side, for drawing (aspect kept)."""
    import cv2

    h, w = rgb.shape[:2]
    scale = MAX_DISPLAY_SIDE / max(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _heat_like(heat: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The square heat-map stretched back onto the photo's own shape (training squashed it to a square)."""
    import cv2

    h, w = rgb.shape[:2]
    return np.clip(cv2.resize(np.asarray(heat, np.float32), (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)


def _draw_overlay(ax, rgb: np.ndarray, heat: np.ndarray) -> None:
    ax.imshow(rgb, interpolation="bilinear")
    ax.imshow(_heat_like(heat, rgb), cmap=HEAT_CMAP, vmin=0.0, vmax=1.0, alpha=HEAT_ALPHA, interpolation="bilinear")
    ax.set_axis_off()


def _heat_scale():
    """What the colour bar shows: the full-strength colour map (the overlay itself is translucent)."""
    import matplotlib

    return matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0.0, 1.0), cmap=HEAT_CMAP)


def save_overlay(rgb: np.ndarray, heat: np.ndarray, dest: str | Path, predicted: str, scores: Sequence[dict],
                 true: str | None = None, name: str = "", target_layer: str = "") -> Path:
    """Photo | Grad-CAM overlay with colour bar | bar chart of the top scores, titled with the verdict."""
    plt = headless_pyplot()
    rgb = _display_copy(np.asarray(rgb, np.uint8))
    fig = plt.figure(figsize=OVERLAY_FIGSIZE)
    grid = fig.add_gridspec(1, 3, width_ratios=[1.0, 1.15, 0.9], left=0.02, right=0.97, bottom=0.1, top=0.8, wspace=0.55)
    ax_photo, ax_heat, ax_bars = (fig.add_subplot(grid[0, i]) for i in range(3))
    ax_photo.imshow(rgb, interpolation="bilinear")
    ax_photo.set_axis_off()
    ax_photo.set_title("photo", fontsize=10)
    _draw_overlay(ax_heat, rgb, heat)
    ax_heat.set_title(f"where the model looked for {predicted!r}", fontsize=10)
    bar = fig.colorbar(_heat_scale(), ax=ax_heat, fraction=0.046, pad=0.03)
    bar.set_label("Grad-CAM relevance (0 none, 1 most)", fontsize=8)
    bar.ax.tick_params(labelsize=7)

    labels = [s["label"] for s in scores][::-1]
    values = [float(s["score"]) for s in scores][::-1]
    colours = ["#1f77b4" if lab != predicted else ("#2ca02c" if true in (None, predicted) else "#d62728") for lab in labels]
    ax_bars.barh(range(len(values)), values, color=colours)
    ax_bars.set_yticks(range(len(values)), labels, fontsize=9)
    ax_bars.set_xlim(0, 1.18)
    for i, v in enumerate(values):
        ax_bars.text(v + 0.02, i, f"{v:.1%}", va="center", fontsize=9)
    ax_bars.set_xlabel("probability", fontsize=9)
    ax_bars.set_title(f"top-{len(values)} scores", fontsize=10)
    ax_bars.spines[["top", "right"]].set_visible(False)

    verdict = f"predicted {predicted} ({float(scores[0]['score']):.1%})"
    if true is not None:
        verdict = f"true {true}  |  " + verdict + ("  -- correct" if true == predicted else "  -- WRONG")
    ranked = ", ".join(f"{s['label']} {float(s['score']):.1%}" for s in scores)
    fig.suptitle(f"{name}\n{verdict}\ntop-{len(scores)}: {ranked}" + (f"   (Grad-CAM at {target_layer})" if target_layer else ""),
                 fontsize=10, color="#b42318" if true is not None and true != predicted else "black")
    return _save(fig, dest)


def feature_layers(model, count: int = 6) -> list[str]:
    """About ``count`` layers from the first to the last spatial activation (backbone-agnostic).

    The first activation (edges, colours), then the last activation at each spatial resolution (what
    each stage of the network hands on), topped up with evenly spaced layers when the network has
    fewer resolutions than ``count``. Activation layers (ReLU, Activation) are preferred: they are what
    the next layer sees; a backbone without separate activation layers falls back to every 4-D layer.
    """
    target = gradcam_layer(model)
    layers = model.layers[1 : model.layers.index(target) + 1]
    smallest = target.output_shape[1:3]  # squeeze-excitation branches (1 x 1 maps) are not feature maps
    spatial = [layer for layer in layers if isinstance(layer.output_shape, tuple) and len(layer.output_shape) == 4
               and all((s or 0) >= (m or 0) for s, m in zip(layer.output_shape[1:3], smallest))]
    activations = [layer for layer in spatial if type(layer).__name__ in ("ReLU", "Activation", "LeakyReLU", "PReLU")]
    pool = activations if len(activations) >= count else spatial
    if pool and pool[-1] is not target:
        pool = [*pool, target]  # the last row is always what Grad-CAM looks at
    if not pool:
        raise EdgetlError(f"model {model.name} has no spatial layers to show")
    last_at_resolution: dict[tuple, int] = {}
    for i, layer in enumerate(pool):
        last_at_resolution[tuple(layer.output_shape[1:3])] = i
    chosen = sorted({0, *last_at_resolution.values()})
    if len(chosen) > count:  # keep the first and the last, spread the rest
        chosen = [chosen[j] for j in np.unique(np.linspace(0, len(chosen) - 1, count).round().astype(int))]
    for i in np.linspace(0, len(pool) - 1, count).round().astype(int):
        if len(chosen) >= count:
            break
        if int(i) not in chosen:
            chosen.append(int(i))
    return [pool[i].name for i in sorted(chosen)]


def _stage(position: float) -> str:
    if position < 1 / 3:
        return "early: edges, colours"
    if position < 2 / 3:
        return "middle: textures, shapes"
    return "late: parts of the note"


def feature_grid(run: str | Path | RunModel, rgb: np.ndarray, dest: str | Path, layers: int = 6, channels: int = 8,
                 name: str = "") -> dict:
    """Feature maps of one photo: one row per layer (early edges to late parts), its most active channels.

    The maps of a row share one scale (the range of the shown channels), so their strengths compare.
    Returns {"path", "layers": [{"name", "shape", "channels"}]}.
    """
    from edgetl.tf_env import keras

    rm = _as_run_model(run)
    if layers < 1 or channels < 1:
        raise EdgetlError(f"feature grid needs at least one layer and one channel (got {layers}, {channels})")
    names = feature_layers(rm.model, layers)
    probe = keras().Model(rm.model.input, [rm.model.get_layer(n).output for n in names], name="feature_probe")
    square = rm.square(np.asarray(rgb, np.uint8))
    outputs = probe(rm.model_input(square[None]), training=False)
    maps = [np.asarray(o)[0] for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]

    plt = headless_pyplot()
    cols = channels + 1
    fig = plt.figure(figsize=(1.45 * cols + 1.6, 1.45 * (len(names) + 1) + 0.9))
    grid = fig.add_gridspec(len(names) + 1, cols, left=0.02, right=0.88, bottom=0.03, top=0.9, wspace=0.08, hspace=0.35)
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(square, interpolation="nearest")
    ax.set_title(f"model input\n{rm.size}x{rm.size}", fontsize=8)
    ax.set_axis_off()
    note = fig.add_subplot(grid[0, 1:])
    note.set_axis_off()
    note.text(0.0, 0.5, "Each row is one layer, from the first layers (top) to the last before pooling (bottom).\n"
              f"Shown: the {channels} most active channels of each layer for this photo (highest mean activation).\n"
              "Early layers respond to edges and colours, later ones to larger shapes and parts of the note.",
              va="center", fontsize=9)
    summary = []
    artist = None
    for row, (layer_name, act) in enumerate(zip(names, maps), start=1):
        strength = act.reshape(-1, act.shape[-1]).mean(axis=0)
        chosen = np.argsort(-strength, kind="stable")[: min(channels, act.shape[-1])]
        label = fig.add_subplot(grid[row, 0])
        label.set_axis_off()
        label.text(0.98, 0.5, f"{layer_name}\n{act.shape[0]}x{act.shape[1]}x{act.shape[2]}\n{_stage((row - 1) / max(1, len(names) - 1))}",
                   ha="right", va="center", fontsize=7)
        shown = act[:, :, chosen].astype(np.float32)
        lo, hi = float(shown.min()), float(shown.max())
        for col, ch in enumerate(chosen, start=1):
            fm = act[:, :, ch].astype(np.float32)
            scaled = (fm - lo) / (hi - lo) if hi > lo else np.zeros_like(fm)
            a = fig.add_subplot(grid[row, col])
            artist = a.imshow(scaled, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
            a.set_axis_off()
            a.set_title(f"ch {int(ch)}", fontsize=7)
        summary.append({"name": layer_name, "shape": [int(s) for s in act.shape], "channels": [int(c) for c in chosen]})
    if artist is not None:
        cax = fig.add_axes([0.9, 0.1, 0.015, 0.65])
        bar = fig.colorbar(artist, cax=cax)
        bar.set_label("activation, per row (0 = the row's lowest value, 1 = its highest)", fontsize=8)
    fig.suptitle(f"what the network computes, layer by layer{': ' + name if name else ''}", fontsize=11)
    path = _save(fig, dest)
    return {"path": str(path), "layers": summary}


def _gallery_figure(items: Sequence[dict], dest: Path, title: str) -> Path:
    """Pairs of panels per mistake: the photo, and the heat-map of the (wrong) predicted class."""
    plt = headless_pyplot()
    pairs_per_row = min(3, len(items))
    rows = math.ceil(len(items) / pairs_per_row)
    cols = 2 * pairs_per_row
    fig = plt.figure(figsize=(2.2 * cols + 1.0, 2.6 * rows + 1.0))
    grid = fig.add_gridspec(rows, cols, left=0.02, right=0.9, bottom=0.03, top=1 - 0.9 / (2.6 * rows + 1.0),
                            wspace=0.05, hspace=0.45)
    for n, item in enumerate(items):
        r, c = divmod(n, pairs_per_row)
        rgb = _display_copy(item["image"])
        photo = fig.add_subplot(grid[r, 2 * c])
        photo.imshow(rgb, interpolation="bilinear")
        photo.set_axis_off()
        photo.set_title(f"#{n + 1} {Path(item['path']).name}\ntrue {item['true']}", fontsize=8)
        heat = fig.add_subplot(grid[r, 2 * c + 1])
        _draw_overlay(heat, rgb, item["heat"])
        heat.set_title(f"pred {item['predicted']} {item['confidence']:.0%}\nheat for {item['predicted']}", fontsize=8,
                       color="#b42318")
    bar = fig.colorbar(_heat_scale(), cax=fig.add_axes([0.92, 0.15, 0.015, 0.6]))
    bar.set_label("Grad-CAM relevance for the predicted class", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, dest)


# ---- data sets ---------------------------------------------------------------------------------------------


def _data_pairs(data: str | Path, split: str, rm: RunModel) -> tuple[list[tuple[Path, int]], str, str | None]:
    """(path, label index) pairs of a data set in the run's label order; unknown class folders are an error."""
    from edgetl.data.folders import resolve_split

    pairs, description, used = resolve_split(Path(data), split, Path(rm.run))
    index = {name: i for i, name in enumerate(rm.labels)}
    unknown = sorted({c for _, c in pairs if c not in index})
    if unknown:
        raise EdgetlError(f"class folder(s) {', '.join(unknown)} in {data} are not labels of {rm.run} "
                          f"(its labels: {', '.join(rm.labels)})")
    return [(Path(p), index[c]) for p, c in pairs], description, used


def misclassified_gallery(run: str | Path | RunModel, data: str | Path, out: str | Path, top: int = GALLERY_TOP,
                          split: str = "test", log: Callable[[str], None] | None = None) -> dict:
    """Run the float model over ``data`` and show its most confident mistakes with Grad-CAM heat-maps.

    ``data``: class folders named like the run's labels, a train/val/test tree or split manifest (part
    ``split``), or a run folder (its own ``split``). Mistakes are ranked by the confidence of the wrong
    answer: those are what a device would say aloud. Writes ``out/misclassified.json`` always and
    ``out/misclassified_gradcam.png`` only when there is a mistake to show (a stale one is removed).
    """
    from edgetl.data.images import read_rgb
    from edgetl.scoring import score

    log = log or (lambda msg: print(msg, file=sys.stderr))
    if top < 1:
        raise EdgetlError(f"--top must be at least 1 (got {top})")
    rm = _as_run_model(run)
    pairs, description, used = _data_pairs(data, split, rm)
    out = Path(out)
    scores = score([rm], pairs, log=log)
    unreadable = scores.unreadable
    mistakes: list[dict] = []
    correct = 0
    for path, label, p in zip(scores.paths, scores.truth, scores.probs[0]):
        pred = int(p.argmax())
        if pred == label:
            correct += 1
            continue
        mistakes.append({"path": str(path), "true": rm.labels[label], "predicted": rm.labels[pred],
                         "confidence": round(float(p[pred]), 4), "top": top_scores(p, rm.labels), "_pred": pred})
    evaluated = correct + len(mistakes)
    if not evaluated:
        raise EdgetlError(f"none of the {len(pairs)} images in {description} could be read")
    mistakes.sort(key=lambda m: -m["confidence"])
    worst = mistakes[:top]
    gallery = out / "misclassified_gradcam.png"
    if worst:
        images = [read_rgb(m["path"]) for m in worst]
        heats = rm.grad_cam(np.stack([rm.square(im) for im in images]), [m["_pred"] for m in worst])
        shown = f"{len(worst)} of {len(mistakes)}" if len(mistakes) > len(worst) else f"all {len(mistakes)}"
        title = (f"{rm.run.name}: most confident mistakes on {description}{f' [{used}]' if used else ''} "
                 f"({shown} mistakes among {evaluated} images, top-1 {correct / evaluated:.1%})")
        _gallery_figure([{**m, "image": im, "heat": h} for m, im, h in zip(worst, images, heats)], gallery, title)
    elif gallery.exists():
        gallery.unlink()  # a gallery from an earlier, worse model would contradict "no mistakes"
    summary = {
        "run": str(rm.run), "data": description, "split": used, "images": evaluated, "unreadable": unreadable,
        "top1": round(correct / evaluated, 4), "mistakes": len(mistakes), "shown": len(worst),
        "gallery": str(gallery) if worst else None, "target_layer": rm.target_layer,
        "worst": [{k: v for k, v in m.items() if not k.startswith("_")} for m in worst],
    }
    summary["summary_file"] = str(write_json(out / "misclassified.json", summary))
    return summary


# ---- the command -------------------------------------------------------------------------------------------


def _unique_stems(paths: Sequence[Path]) -> list[str]:
    """File stems for outputs; the same stem from two folders gets its folder name added."""
    stems = [p.stem for p in paths]
    out = []
    for p, s in zip(paths, stems):
        out.append(s if stems.count(s) == 1 else f"{p.parent.name}_{s}")
    seen: dict[str, int] = {}
    for i, s in enumerate(out):
        seen[s] = seen.get(s, 0) + 1
        if seen[s] > 1:
            out[i] = f"{s}_{seen[s]}"
    return out


def explain(run: str | Path, images: Sequence[str | Path] = (), out: str | Path | None = None, layers: bool = False,
            misclassified: str | Path | None = None, top: int = GALLERY_TOP, split: str = "test",
            log: Callable[[str], None] | None = None) -> dict:
    """Predictions with top-3 scores and a Grad-CAM overlay per image; optionally feature grids and mistakes.

    An image inside a folder named like one of the run's labels is taken to be of that class (shown as the
    true label). ``out`` defaults to ``RUN/explain``. Every image is read before anything is written, so a
    bad path fails with one line and no partial output.
    """
    from edgetl.data.images import read_rgb

    images = [Path(p) for p in images]
    if not images and misclassified is None:
        raise EdgetlError("nothing to explain: give at least one IMAGE, or --misclassified DATA")
    if not Path(run).exists():
        raise EdgetlError(f"run not found: {run}")
    photos = [read_rgb(p) for p in images]  # UnreadableImage is an EdgetlError: one line naming the file
    rm = load_run(run)
    out = Path(out) if out is not None else rm.run / "explain"
    result: dict = {"run": str(rm.run), "out": str(out), "target_layer": rm.target_layer, "images": []}
    if photos:
        squares = np.stack([rm.square(rgb) for rgb in photos])
        probs = rm.predict(squares)
        predicted = [int(p.argmax()) for p in probs]
        heats = rm.grad_cam(squares, predicted)
        for path, stem, rgb, p, pred, heat in zip(images, _unique_stems(images), photos, probs, predicted, heats):
            true = path.parent.name if path.parent.name in rm.labels else None
            scores = top_scores(p, rm.labels)
            entry = {"path": str(path), "true": true, "predicted": rm.labels[pred],
                     "confidence": round(float(p[pred]), 4), "top": scores,
                     "heatmap": str(save_overlay(rgb, heat, out / f"{stem}_gradcam.png", rm.labels[pred], scores, true,
                                                 name=path.name, target_layer=rm.target_layer))}
            if layers:
                entry["layers"] = feature_grid(rm, rgb, out / f"{stem}_layers.png", name=path.name)["path"]
            result["images"].append(entry)
    if misclassified is not None:
        result["misclassified"] = misclassified_gallery(rm, misclassified, out, top=top, split=split, log=log)
    write_json(out / "explain.json", result)
    return result


def format_result(result: dict) -> str:
    """Terminal lines: one per image, then the mistakes summary."""
    lines = []
    for e in result["images"]:
        ranked = ", ".join(f"{s['label']} {s['score']:.1%}" for s in e["top"])
        truth = "" if e["true"] is None else (" (right)" if e["true"] == e["predicted"] else f" (WRONG, true {e['true']})")
        lines.append(f"{Path(e['path']).name}: {e['predicted']}{truth}  top-{len(e['top'])}: {ranked}")
        lines.append(f"  heat-map {e['heatmap']}" + (f"\n  layers   {e['layers']}" if "layers" in e else ""))
    m = result.get("misclassified")
    if m is not None:
        if m["mistakes"]:
            w = m["worst"][0]
            lines.append(f"mistakes: {m['mistakes']} of {m['images']} images (top-1 {m['top1']:.1%}); worst: "
                         f"{Path(w['path']).name} {w['true']} -> {w['predicted']} at {w['confidence']:.1%}")
            lines.append(f"  gallery  {m['gallery']} ({m['shown']} shown)")
        else:
            lines.append(f"no misclassified images among {m['images']} (top-1 {m['top1']:.1%}); no gallery written")
        lines.append(f"  summary  {m['summary_file']}")
    lines.append(f"wrote {Path(result['out']) / 'explain.json'}")
    return "\n".join(lines)
