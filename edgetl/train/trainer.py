"""`edgetl train`: class folders in, a trained and evaluated flat classifier (any registered backbone) out.

Both stages run from the feature cache. Stage 1 trains the head on pooled features. Stage 2 fine-tunes
the top blocks from cached activations at the cut point: with the layers below frozen and BatchNorm in
inference mode those activations never change, so this is the same optimisation as fine-tuning the
whole network on the cached augmented views, at a fraction of the cost.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edgetl.atomic import write_json
from edgetl.data.folders import LabelledSet, load_splits
from edgetl.data.images import load_square
from edgetl.digest import sha256_file
from edgetl.errors import EdgetlError
from edgetl.metrics import classification_report
from edgetl.progress import enabled as progress_enabled
from edgetl.run import CONFIG, Run, RunFolder
from edgetl.train import augment, backbones, frozen
from edgetl.train.batches import ViewBatches, random_view_batches
from edgetl.train.config import FINE_TUNE_SCHEDULES, TrainConfig
from edgetl.train.features import CacheStats, FeatureCache, cache_key, default_cache_dir, extract, missing_views

FIT = "squash"  # how a photo becomes a square input; part of the cache key
AUGMENT_VERSION = 2  # bump when augment.py changes so stale cached views are not reused
STATE = ".state.json"


@dataclass
class TrainResult:
    run: Path
    classes: list[str]
    metrics: dict
    config: dict
    seconds: float
    cache: dict = field(default_factory=dict)

    def summary(self) -> str:
        val = self.metrics.get("val", {}).get("top1")
        test = self.metrics.get("test", {}).get("top1")
        parts = [f"run {self.run}", f"{len(self.classes)} classes"]
        if val is not None:
            parts.append(f"val top-1 {val:.1%}")
        if test is not None:
            parts.append(f"test top-1 {test:.1%}")
        parts.append(f"{self.seconds:.0f} s")
        return ", ".join(parts)


def choose_fine_tune(config: TrainConfig, train: LabelledSet) -> int:
    """--strategy auto: fine-tune only when there is enough data that it helps more than it overfits."""
    if config.fine_tune >= 0:
        return config.fine_tune
    if config.strategy == "features":
        return 0
    most = backbones.get(config.backbone).blocks  # VGG16 has only 4 blocks above its first
    if config.strategy == "fine-tune":
        return min(5, most)
    if config.strategy != "auto":
        raise EdgetlError(f"--strategy must be auto, features or fine-tune (got {config.strategy!r})")
    per_class = min(train.counts().values()) if train.samples else 0
    return min(5, most) if per_class >= 100 else 0  # 5 blocks beat 3 by 2.4 points on the real union (BENCHMARKS.md)


def distribution():
    """MirroredStrategy over all GPUs, or all logical CPUs when several are configured; else the default."""
    from edgetl.tf_env import tf

    t = tf()
    gpus = t.config.list_logical_devices("GPU")
    devices = gpus if gpus else t.config.list_logical_devices("CPU")
    if len(devices) > 1:
        return t.distribute.MirroredStrategy([d.name for d in devices]), len(devices)
    return t.distribute.get_strategy(), 1


# What train writes before its first finished stage: a folder holding only these is a failed start
# (bad data, offline weights), not a run, so the corrected command may reuse it.
EARLY_FILES = frozenset({"split.json", "unreadable.txt"})
# edgetl.atomic's temp names: "." + artefact name + "." + 8 random characters + the artefact's suffix
_TEMP_FILE = re.compile(r"^\.(?P<dest>.+)\.[a-z0-9_]{8}(?P<suffix>\.[^.]+)$")


def stale_temp_files(out: Path) -> list[Path]:
    """Temp files an atomic write left behind when the process was killed (SIGKILL, power loss)."""
    found = []
    for p in out.iterdir():
        m = _TEMP_FILE.match(p.name)
        if m and m["suffix"] in (Path(m["dest"]).suffix or ".tmp", ".tmp"):
            found.append(p)
    return found


def has_finished_stage(out: Path) -> bool:
    """True once training finished a stage in ``out`` (or is mid-way through one it can resume)."""
    return any((out / name).exists() for name in (STATE, "model.keras", ".backup", ".head.weights.h5"))


def prepare_run_dir(out: Path, resume: bool, force: bool) -> None:
    if out.is_dir():
        for tmp in stale_temp_files(out):  # a kill mid-write: never keep half an artefact
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    if out.exists() and any(out.iterdir()):
        if force:
            shutil.rmtree(out)
        elif has_finished_stage(out):
            if resume:
                return
            raise EdgetlError(f"{out} already holds a run; pass --resume to continue it or --force to replace it")
        elif not all(p.name in EARLY_FILES for p in out.iterdir()):
            raise EdgetlError(f"{out} holds other files and no run; choose another --out, or --force to empty it")
        # else: an earlier attempt failed before finishing a stage; its leftovers are rewritten
    elif resume:
        raise EdgetlError(f"nothing to resume in {out}")
    out.mkdir(parents=True, exist_ok=True)


def refuse_random_init(weights: str | None) -> None:
    """``--weights none`` at the command line: refused, because it cannot learn here.

    A random-init backbone's activations shrink layer by layer to ~1e-8 at the cut, the float16 feature
    cache stores them as zeros, and every answer becomes one class. The Python API still accepts it
    (tests use random weights to exercise the plumbing), as does the CLI with EDGETL_ALLOW_RANDOM_INIT=1.
    """
    if str(weights).lower() != "none" or os.environ.get("EDGETL_ALLOW_RANDOM_INIT") == "1":
        return
    raise EdgetlError("--weights none cannot learn: a random-init backbone's cached features are ~0, so every "
                      "answer would be one class; pass --weights imagenet or --weights PATH to a no-top .h5 "
                      "(EDGETL_ALLOW_RANDOM_INIT=1 allows it for pipeline tests)")


class _EpochLog:
    """Collects per-epoch history rows and prints a one-line summary per epoch when a person watches."""

    def __init__(self, keras, stage: str, rows: list[dict], log: Callable[[str], None], epochs: int):
        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(cb, epoch, logs=None):
                cb.t0 = time.perf_counter()

            def on_epoch_end(cb, epoch, logs=None):
                logs = dict(logs or {})
                row = {"stage": stage, "epoch": epoch + 1, **{k: round(float(v), 5) for k, v in logs.items()},
                       "seconds": round(time.perf_counter() - cb.t0, 2)}
                rows.append(row)
                msg = f"  {stage} epoch {epoch + 1}/{epochs}: loss {logs.get('loss', float('nan')):.3f} acc {logs.get('accuracy', float('nan')):.3f}"
                if "val_accuracy" in logs:
                    msg += f"  val loss {logs['val_loss']:.3f} val acc {logs['val_accuracy']:.3f}"
                log(msg)

        self.callback = Callback()


def _one_hot(y: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n, dtype=np.float32)[y]


def _class_weights(y: np.ndarray, n: int) -> dict[int, float]:
    counts = np.bincount(y, minlength=n).astype(float)
    weights = len(y) / (n * np.maximum(counts, 1))
    return {i: float(w) for i, w in enumerate(weights)}


def _hashes(samples) -> list[str]:
    return [sha256_file(s.path, never_raise=True) for s in samples]


def fine_tune_rate(keras, config: TrainConfig, steps: int):
    """The fine-tuning learning rate: constant, or a cosine decay to zero over every planned step.

    Cosine lets the last epochs settle instead of wandering at full rate. It ranks a new photographer's notes
    better but held-out photos worse, so constant stays the default (BENCHMARKS.md, "A cosine fine-tuning
    schedule")."""
    if config.fine_tune_schedule == "constant":
        return config.fine_tune_learning_rate
    return keras.optimizers.schedules.CosineDecay(config.fine_tune_learning_rate, decay_steps=max(1, steps))


def _view_batches(x: np.ndarray, y: np.ndarray, n_classes: int, batch: int, seed: int) -> ViewBatches:
    """Each epoch: every image once, in a new order, as one of its cached views picked at random."""
    from edgetl.tf_env import tf

    return random_view_batches(tf(), len(x), x.shape[1], batch, seed,
                               lambda idx, view: (x[idx, view].astype(np.float32), _one_hot(y[idx], n_classes)))


class _WeightAverage:
    """A running mean of the fine-tuned weights over every step from epoch ``start`` (1-based) on.

    A constant-rate run wanders, so its best epoch is a noisy pick; the mean of many steps sits in a flatter
    region, and it names more of a new photographer's notes (BENCHMARKS.md, "Weight averaging"). BatchNorm is
    frozen: no statistics to recompute. The mean replaces the weights when fitting ends, after EarlyStopping's
    restore; a resumed run averages from where it resumed."""

    def __init__(self, keras, model, start: int, log: Callable[[str], None]):
        self.mean: list[np.ndarray] | None = None
        self.steps = 0
        average = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(cb, epoch, logs=None):
                cb.active = epoch + 1 >= start

            def on_train_batch_end(cb, batch, logs=None):
                if cb.active:
                    average.add(model.get_weights())

            def on_train_end(cb, logs=None):
                if average.mean is None:
                    log(f"fine-tuning stopped before epoch {start}: kept the best epoch's weights, nothing averaged")
                    return
                model.set_weights([m.astype(np.float32) if m.dtype.kind == "f" else m for m in average.mean])
                log(f"fine-tuned weights: the mean of {average.steps} steps from epoch {start}")

        self.callback = Callback()

    def add(self, weights: list[np.ndarray]) -> None:
        self.steps += 1
        if self.mean is None:
            self.mean = [w.astype(np.float64) if w.dtype.kind == "f" else w for w in weights]
            return
        for m, w in zip(self.mean, weights):
            if m.dtype.kind == "f":
                m += (w - m) / self.steps


def blend(model, probe: list[np.ndarray], share: float) -> None:
    """Move ``model``'s weights to ``share`` x themselves + (1 - share) x ``probe`` (same layout), in place.

    Fine-tuning pulls the top blocks towards the training photographers; a point on the straight line back to
    the linear probe (the ImageNet blocks with the stage-1 head) gives back much of its certainty about what it
    never saw, such as foreign notes; at 0.85, after weight averaging, little of the accuracy it gained
    (BENCHMARKS.md, "… fine-tuned weights blended with the linear probe" and "The card's floor")."""
    model.set_weights([share * w + (1.0 - share) * p if w.dtype.kind == "f" else w
                       for w, p in zip(model.get_weights(), probe)])


def _predict(model, x: np.ndarray, batch: int = 256) -> np.ndarray:
    if len(x) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    return np.concatenate([model(x[i : i + batch].astype(np.float32), training=False).numpy() for i in range(0, len(x), batch)])


@dataclass
class _Net:
    """The classifier being trained, cut where the cached activations end, and its two trainable parts."""

    model: object  # the whole flat classifier, saved as model.keras
    bottom: object  # input -> activations at the cut (frozen; its output is what the cache holds)
    top: object  # cut activations -> probabilities (fine-tuned in stage 2)
    head: object  # pooled features -> probabilities (stage 1)
    pool_model: object | None  # cut activations -> pooled features (None when the cut is the pool)
    cut: str
    blocks: int  # top blocks fine-tuned

    def pooled(self, x: np.ndarray) -> np.ndarray:
        """(images, views, *cut shape) -> (images, views, features)."""
        flat = x.reshape(-1, *x.shape[2:])
        p = flat.astype(np.float32) if self.pool_model is None else _predict(self.pool_model, flat)
        return p.reshape(x.shape[0], x.shape[1], -1)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """The trained classifier's answers for the plain view of cached activations."""
        return _predict(self.top, x[:, 0]) if self.blocks > 0 else _predict(self.head, self.pooled(x)[:, 0])


@dataclass
class _Features:
    """Each split's cached activations (images x views x cut shape) and labels, readable images only."""

    arrays: dict[str, tuple[np.ndarray, np.ndarray]]
    readable: dict[str, np.ndarray]  # per split: which samples were readable
    stats: CacheStats
    cache_file: Path


class _Training:
    """One `edgetl train`, as named steps: data -> net -> cache -> head -> fine-tune -> write."""

    def __init__(self, folder: RunFolder, config: TrainConfig, state: dict, log: Callable[[str], None]):
        self.folder, self.config, self.state, self.log = folder, config, state, log
        self.state_path = folder.path / STATE
        self.history: list[dict] = list(state.get("history", []))

    def split(self, data) -> dict[str, LabelledSet]:
        config = self.config
        parts = load_splits(data, val=config.val_fraction, test=config.test_fraction, seed=config.seed)
        if len(parts["train"]) == 0:
            raise EdgetlError("the training split is empty")
        self.folder.write_split(parts, seed=config.seed)
        self.log(f"data: {len(parts['train'].classes)} classes, train {len(parts['train'])}, val {len(parts['val'])}, "
                 f"test {len(parts['test'])} images")
        return parts

    def build(self, parts: dict[str, LabelledSet]) -> _Net:
        """The classifier with its backbone weights, split at the cut for the chosen fine-tuning depth."""
        from edgetl.tf_env import keras  # only now: bad data is refused before TensorFlow loads

        k = self.keras = keras()
        config = self.config
        k.utils.set_random_seed(config.seed)
        self.strategy, self.devices = distribution()
        if self.devices > 1:
            self.log(f"training on {self.devices} devices with MirroredStrategy")
        self.weights = backbones.resolve_weights(config.weights, config.alpha, config.size, config.backbone)
        blocks = choose_fine_tune(config, parts["train"])
        with self.strategy.scope():
            model = backbones.create(config.backbone, len(parts["train"].classes), config.alpha, config.size,
                                     self.weights, config.dropout)
            cut = backbones.cut_layer_name(model, blocks, config.backbone)
            bottom, top = backbones.split_at(model, cut)
            pool_model = k.Model(model.get_layer(cut).output, model.get_layer("pool").output) if cut != "pool" else None
            feature_in = k.Input((model.get_layer("pool").output_shape[-1],), name="features")
            head = k.Model(feature_in, model.get_layer("classifier")(model.get_layer("dropout")(feature_in)), name="head")
        return _Net(model, bottom, top, head, pool_model, cut, blocks)

    def cache(self, net: _Net, parts: dict[str, LabelledSet]) -> _Features:
        """Every split through the frozen bottom once (train in several augmented views), from or into the cache."""
        config, log = self.config, self.log
        spec = backbones.get(config.backbone)
        key = cache_key({"backbone": config.backbone, "alpha": config.alpha, "size": config.size, "cut": net.cut,
                         "fit": FIT, "weights": backbones.weights_identity(self.weights, config.seed),
                         "augment": AUGMENT_VERSION})
        cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
        stats = CacheStats()

        def load(path: Path) -> np.ndarray:
            return load_square(path, config.size)

        views = max(1, config.views) if config.augment else 1
        arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        readable: dict[str, np.ndarray] = {}
        with FeatureCache(cache_dir / f"{key}.h5", net.bottom.output_shape[1:], {"key": key, "cut": net.cut}, log=log) as cache:
            hashes = {name: _hashes(parts[name].samples) for name in ("train", "val", "test")}
            counts = {name: views if name == "train" else 1 for name in hashes}  # views per image
            todo = sum(missing_views(hashes[name], counts[name], cache) for name in hashes)
            run_bottom = self._bottom_runner(net, todo)

            def through_bottom(images: np.ndarray) -> np.ndarray:
                return run_bottom(backbones.to_model_input(images, spec.mean, spec.std))

            for name in ("train", "val", "test"):
                samples = parts[name].samples
                feats, ok = extract([s.path for s in samples], hashes[name], counts[name], cache,
                                    through_bottom, load, augment.make_view, stats=stats, description=f"{name} features")
                labels = np.array([s.label for s in samples], dtype=np.int64)
                arrays[name] = (feats[ok], labels[ok])
                readable[name] = ok
        if stats.unreadable:
            self.folder.write_unreadable(stats.unreadable)
            log(f"skipped {len(stats.unreadable)} unreadable image(s), listed in {self.folder.unreadable_file}")
        classes = parts["train"].classes
        present = np.bincount(arrays["train"][1], minlength=len(classes))
        missing = [c for c, n in zip(classes, present) if n == 0]
        if missing:
            raise EdgetlError(f"class(es) with no readable training image: {', '.join(missing)}")
        log(f"features: {stats.backbone_images} image views through the backbone, {stats.hits} from cache ({cache_dir})")
        return _Features(arrays, readable, stats, cache_dir / f"{key}.h5")

    def _fit_settings(self, feats: _Features, n: int):
        """(loss, class weights, monitored metric, validation arrays) shared by both stages."""
        y_train = feats.arrays["train"][1]
        x_val, y_val = feats.arrays["val"]
        class_weight = _class_weights(y_train, n) if self.config.class_weights else None
        loss = self.keras.losses.CategoricalCrossentropy(label_smoothing=self.config.label_smoothing)
        monitor = "val_loss" if len(y_val) > 0 else "loss"
        return loss, class_weight, monitor, (x_val, y_val) if len(y_val) > 0 else None

    def _epoch_log(self, stage: str, epochs: int):
        return _EpochLog(self.keras, stage, self.history, self.log if progress_enabled() else (lambda m: None), epochs)

    def _bottom_runner(self, net: _Net, todo: int) -> Callable[[np.ndarray], np.ndarray]:
        """The frozen bottom for ``todo`` cache misses: a LiteRT copy when there are enough of them to repay its
        conversion (frozen.LITERT_FROM_VIEWS), else, or when the converter refuses the graph, TensorFlow's own."""
        if todo >= frozen.LITERT_FROM_VIEWS:
            try:
                run = frozen.litert_runner(net.bottom)
                self.log(f"filling the feature cache: {todo} views through a LiteRT copy of the frozen layers")
                return run
            except Exception as exc:  # an unusual backbone: slower, same activations to float16 rounding
                self.log(f"the frozen layers run in TensorFlow (LiteRT could not take them: {type(exc).__name__})")
        from edgetl.tf_env import tf

        graph = tf().function(lambda batch: net.bottom(batch, training=False))
        return lambda batch: graph(batch).numpy()

    def head_stage(self, net: _Net, feats: _Features, n: int) -> None:
        """Stage 1: the new head on pooled features of every cached view (skipped when a resumed run did it)."""
        k, config = self.keras, self.config
        head_weights = self.folder.path / ".head.weights.h5"
        if self.state.get("head_done") and head_weights.exists():
            net.head.load_weights(head_weights)
            self.log("head stage already done; loaded its weights")
            return
        loss, class_weight, monitor, val = self._fit_settings(feats, n)
        x_train, y_train = feats.arrays["train"]
        p_train = net.pooled(x_train)
        xs = p_train.reshape(-1, p_train.shape[-1])
        ys = np.repeat(y_train, p_train.shape[1])
        val_data = (net.pooled(val[0])[:, 0], _one_hot(val[1], n)) if val else None
        with self.strategy.scope():
            net.head.compile(optimizer=k.optimizers.Adam(config.learning_rate), loss=loss, metrics=["accuracy"])
        net.head.fit(xs, _one_hot(ys, n), batch_size=config.batch_size, epochs=config.epochs, validation_data=val_data,
                     class_weight=class_weight, shuffle=True, verbose=0,
                     callbacks=[k.callbacks.EarlyStopping(monitor=monitor, patience=config.patience, restore_best_weights=True),
                                k.callbacks.BackupAndRestore(str(self.folder.path / ".backup" / "head")),
                                self._epoch_log("head", config.epochs).callback])
        net.head.save_weights(head_weights)
        self.state.update(head_done=True, history=self.history)
        write_json(self.state_path, self.state)

    def fine_tune_stage(self, net: _Net, feats: _Features, n: int) -> None:
        """Stage 2: the top blocks from the cut activations, BatchNorm kept in inference mode."""
        k, config = self.keras, self.config
        if net.blocks <= 0 or config.fine_tune_epochs <= 0:
            return
        for layer in backbones.trainable_top(net.model, net.cut):
            layer.trainable = not isinstance(layer, k.layers.BatchNormalization)  # BN stays in inference mode
        loss, class_weight, monitor, val = self._fit_settings(feats, n)
        x_train, y_train = feats.arrays["train"]
        batches = _view_batches(x_train, y_train, n, config.batch_size, config.seed)
        with self.strategy.scope():
            rate = fine_tune_rate(k, config, steps=config.fine_tune_epochs * batches.steps)
            net.top.compile(optimizer=k.optimizers.Adam(rate), loss=loss, metrics=["accuracy"])
        self.log(f"fine-tuning the top {net.blocks} block(s) from {net.cut} ({net.top.count_params():,} parameters in the top)")
        epoch_log = self._epoch_log("fine-tune", config.fine_tune_epochs)
        val_data = (val[0][:, 0].astype(np.float32), _one_hot(val[1], n)) if val else None
        blended = config.fine_tune_share < 1.0
        probe = net.top.get_weights() if blended else None  # ImageNet blocks + stage-1 head (fit restores a resume)
        net.top.fit(batches.dataset, steps_per_epoch=batches.steps, epochs=config.fine_tune_epochs,
                    validation_data=val_data, class_weight=class_weight, verbose=0,
                    callbacks=[k.callbacks.EarlyStopping(monitor=monitor, patience=max(2, config.patience // 2),
                                                         restore_best_weights=True),
                               k.callbacks.BackupAndRestore(str(self.folder.path / ".backup" / "fine_tune")),
                               epoch_log.callback, *self._averaging(net)])
        if blended:
            blend(net.top, probe, config.fine_tune_share)
            self.log(f"final weights: {config.fine_tune_share:.0%} fine-tuned, {1 - config.fine_tune_share:.0%} linear probe")

    def _averaging(self, net: _Net) -> list:
        start = self.config.averaging_start()
        if start <= 0:
            return []
        self.log(f"averaging the fine-tuned weights over every step from epoch {start}")
        return [_WeightAverage(self.keras, net.top, start, self.log).callback]

    def write(self, net: _Net, feats: _Features, parts: dict[str, LabelledSet], data, seconds_so_far) -> TrainResult:
        """Evaluate every split and write the complete run: model, labels, config, metrics, tables, plots."""
        classes = parts["train"].classes
        metrics, rows = _evaluate(net, feats, parts)
        seconds = seconds_so_far()
        config = self._run_config(net, feats, parts, data)
        folder = self.folder
        folder.save_model(net.model)
        folder.write_labels(classes)
        folder.write_config(config)
        folder.write_metrics({**metrics, "seconds": round(seconds, 1)})
        folder.write_table("history.csv", self.history)
        folder.write_table("predictions.csv", rows)
        _plot(self.history, metrics, classes, folder.path)
        self.state.update(done=True, history=self.history)
        write_json(self.state_path, self.state)
        shutil.rmtree(folder.path / ".backup", ignore_errors=True)
        return TrainResult(folder.path, classes, metrics, config, seconds, config["cache"])

    def _run_config(self, net: _Net, feats: _Features, parts: dict[str, LabelledSet], data) -> dict:
        config, spec, stats = self.config, backbones.get(self.config.backbone), feats.stats
        return {"train": config.to_dict(), "data": [str(p) for p in (data if isinstance(data, (list, tuple)) else [data])],
                "classes": parts["train"].classes, "counts": {name: parts[name].counts() for name in parts},
                "fine_tune_blocks": net.blocks, "cut_layer": net.cut, "fit": FIT,
                "input": {"size": config.size, "mean": spec.mean, "std": spec.std, "layout": "NHWC RGB"},
                "backbone": {"name": spec.name, "alpha": config.alpha if spec.has_alpha else None,
                             "features": int(net.model.get_layer("pool").output_shape[-1]),
                             "parameters": int(net.model.count_params())},
                "weights_file": self.weights, "devices": self.devices,
                "cache": {"file": str(feats.cache_file), "hits": stats.hits, "misses": stats.misses,
                          "backbone_images": stats.backbone_images}}


def _evaluate(net: _Net, feats: _Features, parts: dict[str, LabelledSet]) -> tuple[dict, list[dict]]:
    """Per-split metrics and one predictions.csv row per held-out image."""
    classes = parts["train"].classes
    metrics: dict = {}
    rows = []
    for name in ("train", "val", "test"):
        x, y = feats.arrays[name]
        probs = net.probabilities(x)
        metrics[name] = classification_report(y, probs, classes)
        if name != "train":
            paths = [s.path for s, good in zip(parts[name].samples, feats.readable[name]) if good]
            rows += [{"split": name, "path": str(p), "label": classes[t], "predicted": classes[int(q.argmax())],
                      "confidence": round(float(q.max()), 5)} for p, t, q in zip(paths, y, probs)]
    return metrics, rows


def _plot(history: list[dict], metrics: dict, classes: list[str], out: Path) -> None:
    from edgetl import plots

    if history:
        plots.training_curves(history, out / "training_curves.png")
    split_for_cm = "test" if metrics["test"]["count"] else "val" if metrics["val"]["count"] else "train"
    plots.confusion_matrix(metrics[split_for_cm]["confusion"], classes, out / "confusion_matrix.png",
                           title=f"confusion matrix ({split_for_cm} split)")


def _starting_config(out: Path, config: TrainConfig, resume: bool, log: Callable[[str], None]) -> TrainConfig:
    """The options to train with: a resumed run keeps the ones it was started with."""
    if resume and (out / CONFIG).exists():
        log(f"resuming {out} with its saved options")
        return TrainConfig.from_dict(Run.open(out).train_options)
    return config


def train(
    data: str | Path | Sequence[str | Path],
    out: str | Path,
    config: TrainConfig | None = None,
    resume: bool = False,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a classifier on class folders (or a split manifest) and write a complete run folder."""
    started = time.perf_counter()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    out = Path(out)
    config = config or TrainConfig()
    backbones.validate(config.alpha, config.size, config.backbone)
    if config.fine_tune_schedule not in FINE_TUNE_SCHEDULES:
        raise EdgetlError(f"--fine-tune-schedule must be {' or '.join(FINE_TUNE_SCHEDULES)} (got {config.fine_tune_schedule!r})")
    if config.average_from is not None and not 0 <= config.average_from <= max(config.fine_tune_epochs, 0):
        raise EdgetlError(f"--average-from must be 0 (off) or an epoch of fine-tuning, 1-{config.fine_tune_epochs} "
                          f"(got {config.average_from})")
    if not 0.0 < config.fine_tune_share <= 1.0:
        raise EdgetlError(f"--fine-tune-share is the fine-tuned weights' share of the final ones, above 0 and at most 1 "
                          f"(got {config.fine_tune_share})")
    created = not out.exists()
    prepare_run_dir(out, resume, force)
    state_path = out / STATE
    state = json.loads(state_path.read_text()) if resume and state_path.exists() else {}
    config = _starting_config(out, config, resume, log)
    training = _Training(RunFolder(out), config, state, log)
    try:
        parts = training.split(data)
    except EdgetlError:
        if created and not any(out.iterdir()):  # refused data leaves no empty run folder behind
            out.rmdir()
        raise
    net = training.build(parts)
    feats = training.cache(net, parts)
    n = len(parts["train"].classes)
    training.head_stage(net, feats, n)
    training.fine_tune_stage(net, feats, n)
    return training.write(net, feats, parts, data, lambda: time.perf_counter() - started)
