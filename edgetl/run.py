"""The run folder `edgetl train` writes: where each file lives, how it is read (once) and written (atomically).

Training, QAT and the familiarity gate write through `RunFolder`; export, evaluate, explain and report read
through `Run`, so the folder's layout and its parsing live here and nowhere else. TensorFlow-free.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Sequence

from edgetl.atomic import atomic_path, write_json, write_text
from edgetl.data.folders import LabelledSet, read_manifest, write_manifest
from edgetl.errors import EdgetlError

CONFIG = "config.json"
LABELS = "labels.txt"
SPLIT = "split.json"
MODEL = "model.keras"
QAT_WEIGHTS = "qat_weights.h5"  # weights of the QAT-wrapped float model; the graph is rebuilt on load
QAT_METRICS = "qat_metrics.json"
GATE = "familiarity.npz"
METRICS = "metrics.json"
HISTORY = "history.csv"
PREDICTIONS = "predictions.csv"
UNREADABLE = "unreadable.txt"
DEFAULT_BACKBONE = "mobilenet_v2"  # runs from before the backbone registry


class RunFolder:
    """A run folder's layout and the atomic writes into it (what training, QAT and the gate produce)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG

    @property
    def labels_file(self) -> Path:
        return self.path / LABELS

    @property
    def split_file(self) -> Path:
        return self.path / SPLIT

    @property
    def default_model_file(self) -> Path:
        return self.path / MODEL

    @property
    def qat_weights(self) -> Path:
        return self.path / QAT_WEIGHTS

    @property
    def qat_metrics_file(self) -> Path:
        return self.path / QAT_METRICS

    @property
    def gate_file(self) -> Path:
        return self.path / GATE

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS

    @property
    def unreadable_file(self) -> Path:
        return self.path / UNREADABLE

    def write_split(self, parts: dict[str, LabelledSet], seed: int) -> Path:
        return write_manifest(parts, self.split_file, seed=seed, absolute=True)

    def write_labels(self, labels: Sequence[str]) -> Path:
        return write_text(self.labels_file, "\n".join(labels) + "\n")

    def write_config(self, config: dict) -> Path:
        """config.json; the input size lives in its ``input`` section only (not repeated under ``train``)."""
        train = {k: v for k, v in config.get("train", {}).items() if k != "size"}
        return write_json(self.config_file, {**config, "train": train})

    def write_metrics(self, metrics: dict) -> Path:
        return write_json(self.metrics_file, metrics)

    def write_qat_metrics(self, metrics: dict) -> Path:
        return write_json(self.qat_metrics_file, metrics)

    def write_unreadable(self, paths: Sequence[str]) -> Path:
        return write_text(self.unreadable_file, "\n".join(paths) + "\n")

    def write_table(self, name: str, rows: list[dict]) -> Path:
        """A CSV of ``rows`` (history.csv, predictions.csv); columns in order of first appearance."""
        keys: list[str] = []
        for row in rows:
            keys += [k for k in row if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
        return write_text(self.path / name, buf.getvalue())

    def save_model(self, model) -> Path:
        """model.keras (a Keras zip), renamed into place only once complete."""
        with atomic_path(self.default_model_file) as tmp:
            model.save(tmp)
        return self.default_model_file

    def save_qat_weights(self, qmodel) -> Path:
        with atomic_path(self.qat_weights) as tmp:
            qmodel.save_weights(tmp)
        return self.qat_weights


def read_json_object(path: Path) -> dict:
    """A JSON object written by edgetl (run files, export reports); absent is empty, unreadable is one line."""
    if not path.is_file():
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EdgetlError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(found, dict):
        raise EdgetlError(f"{path}: expected a JSON object")
    return found


def _read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []


def _read_labels(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _input_spec(config: dict, config_file: Path) -> tuple[int, float, float]:
    """(size, mean, std) from config.json's ``input`` section: the one place a run's input is parsed."""
    try:
        spec = config["input"]
        return int(spec["size"]), float(spec["mean"]), float(spec["std"])
    except (KeyError, ValueError, TypeError) as exc:
        raise EdgetlError(f"{config_file}: no usable input section ({type(exc).__name__}: {exc})") from None


@dataclass
class Run(RunFolder):
    """A trained run folder, opened once: config, labels and input spec parsed; results read on demand."""

    path: Path
    config: dict
    labels: list[str]
    size: int
    mean: float
    std: float
    model_file: Path = field(default=Path(MODEL))
    needs_results: ClassVar[bool] = False  # True: refuse a run whose training has not finished

    @classmethod
    def open(cls, path: str | Path) -> "Run":
        """The run folder at ``path``; every way it can be missing or incomplete is one line."""
        path = Path(path)
        if not path.exists():
            hint = "" if cls.needs_results else f" (train one with: edgetl train DATA --out {path})"
            raise EdgetlError(f"run folder not found: {path}{hint}")
        if not path.is_dir():
            raise EdgetlError(f"{path} is not a run folder (pass the folder `edgetl train --out` created)")
        missing = [name for name in (CONFIG, LABELS) if not (path / name).is_file()]
        if missing:
            raise EdgetlError(f"{path} is not an edgetl run (no {' or '.join(missing)}); pass the folder `edgetl train --out` created")
        if cls.needs_results and not (path / METRICS).is_file():
            raise EdgetlError(f"{path}: training has not finished (no {METRICS}); continue it with `edgetl train ... --out {path} --resume`")
        return cls._read(path, path / MODEL)

    @classmethod
    def open_model(cls, model: str | Path, purpose: str = "evaluate") -> "Run":
        """The run holding a float model: its folder, or a .keras file inside one (``model_file`` names it)."""
        model = Path(model)
        path, model_file = (model, model / MODEL) if model.is_dir() else (model.parent, model)
        if not model_file.exists():
            raise EdgetlError(f"no trained model at {model_file} (train one with: edgetl train DATA --out {path})")
        if not (path / LABELS).is_file():
            raise EdgetlError(f"{path} has no {LABELS} beside {model_file.name}; {purpose} the run folder `edgetl train` wrote")
        if not (path / CONFIG).is_file():
            raise EdgetlError(f"{path} has no {CONFIG} (needed for the input size and pixel scaling)")
        return cls._read(path, model_file)

    @classmethod
    def _read(cls, path: Path, model_file: Path) -> "Run":
        config = read_json_object(path / CONFIG)
        try:
            labels = _read_labels(path / LABELS)
        except (OSError, ValueError) as exc:
            raise EdgetlError(f"{path / LABELS}: unreadable ({type(exc).__name__}: {exc})") from None
        size, mean, std = _input_spec(config, path / CONFIG)
        return cls(path=path, config=config, labels=labels, size=size, mean=mean, std=std, model_file=model_file)

    @property
    def train_options(self) -> dict:
        """The options the run was trained with (config.json's ``train``), with the input size added."""
        options = self.config.get("train")
        return {**(options if isinstance(options, dict) else {}), "size": self.size}

    @property
    def backbone(self) -> dict:
        """name, alpha (MobileNets only), features and parameters; older runs are MobileNetV2."""
        options = self.train_options
        found = {"name": options.get("backbone", DEFAULT_BACKBONE), "alpha": options.get("alpha")}
        found.update(self.config.get("backbone") or {})
        return found

    @property
    def configured_backbone(self) -> str | None:
        """The backbone config.json's train section names, or None (a run from before the registry)."""
        return self.train_options.get("backbone")

    @property
    def background(self) -> str | None:
        """The label that means "no note" (announced as silence), when the run has one."""
        return "background" if "background" in self.labels else None

    def split(self, name: str) -> LabelledSet:
        return read_manifest(self.split_file)[name]

    @cached_property
    def metrics(self) -> dict:
        return read_json_object(self.metrics_file)

    @cached_property
    def history(self) -> list[dict]:
        return _read_csv(self.path / HISTORY)

    @cached_property
    def predictions(self) -> list[dict]:
        return _read_csv(self.path / PREDICTIONS)

    @property
    def finished(self) -> float:
        """mtime of metrics.json: when training wrote its results."""
        return self.metrics_file.stat().st_mtime
