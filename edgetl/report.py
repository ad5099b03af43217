"""`edgetl report RUN`: one HTML file that tells the whole story of a training run, readable offline.

A run is spread over a dozen files (config, metrics, history, plots, predictions) and its exports over
more (.tflite, cards, export report). Reviewers -- including people using screen readers or screen
magnifiers -- should not need Python or a network to see how a model did, so the report is a single
file: images are embedded as data URIs, the style is inline, there is no script, and a Content Security
Policy forbids every network load. Every number shown as a picture is also given as a table.

Exports are evaluated on the run's test split with the TFLite interpreter only; "agreement with float"
compares their top-1 with the float model's own predictions saved in the run's predictions.csv, so
TensorFlow is never loaded. Parts that do not exist yet (no export, no history) are reported as missing,
never as a failure.

This module gathers and measures everything into a `RunReport`; `edgetl.report_html` renders it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from edgetl.card import ModelCard
from edgetl.errors import EdgetlError
from edgetl.report_html import percent, render, utc_time
from edgetl.run import Run, read_json_object

REPORT_NAME = "report.html"
THUMB_SIDE = 112
LATENCY_RUNS = 100
LATENCY_WARMUP = 10
FIGURES = ("training_curves.png", "confusion_matrix.png")  # the run's own plots, embedded in the page


# ---- reading the run ---------------------------------------------------------------------------------------


class RunFiles(Run):
    """A finished `edgetl train` run folder (edgetl/run.py reads it) with what the report adds."""

    needs_results = True

    @property
    def backbone(self) -> dict:
        """The backbone's name, width (alpha) and input size, as the run's config records them."""
        options = self.train_options
        return {"name": options.get("backbone", "mobilenet_v2"), "alpha": options.get("alpha"),
                "size": (self.config.get("input") or {}).get("size", options.get("size"))}

    @property
    def name(self) -> str:
        return self.path.resolve().name

    @cached_property
    def absolute_paths(self) -> dict[tuple[str, str], Path]:
        """(class folder, file name) -> the absolute path split.json recorded, for every image of the run."""
        from edgetl.data.folders import read_manifest

        found: dict[tuple[str, str], Path] = {}
        if (self.path / "split.json").is_file():
            try:
                for part in read_manifest(self.path / "split.json").values():
                    found.update({_image_key(s.path): Path(s.path) for s in part.samples})
            except EdgetlError:
                pass
        return found

    @property
    def report_split(self) -> str | None:
        """The split the run's own figures describe: test when it has images, else val (as the trainer does)."""
        for name in ("test", "val"):
            if (self.metrics.get(name) or {}).get("count"):
                return name
        return None


# ---- finding and measuring exports -------------------------------------------------------------------------


def _same_run(source_run: str | None, run: Path) -> bool:
    """Does a card's ``source_run`` (as typed at export time, maybe relative) name this run folder?"""
    if not source_run:
        return False
    source = Path(source_run)
    here = run.resolve()
    if source.is_absolute():
        return source.resolve() == here
    if source.resolve() == here:
        return True
    parts = [p for p in source.parts if p not in (".", "")]
    return bool(parts) and ".." not in parts and list(here.parts[-len(parts):]) == parts


def default_export_dirs(run: Path) -> list[Path]:
    """Where `edgetl export` output usually lands: `models/` in the working folder (its default), `models/`
    beside the run (what `edgetl demo` writes) or beside the runs folder, and the run folder itself."""
    run = run.resolve()
    candidates = [Path.cwd() / "models", run.parent / "models", run.parent.parent / "models", run]
    unique: list[Path] = []
    for c in candidates:
        if c.is_dir() and c.resolve() not in unique:
            unique.append(c.resolve())
    return unique


def find_exports(run: RunFiles, folders: Sequence[Path]) -> list[tuple[Path, ModelCard]]:
    """(card path, card) for every model card in ``folders`` that was exported from this run."""
    found: dict[Path, tuple[Path, ModelCard]] = {}
    for folder in folders:
        for card_path in sorted(folder.glob("*.json")):
            if card_path.name.endswith("_export_report.json"):
                continue
            try:
                card = ModelCard.load(card_path)
            except EdgetlError:
                continue  # some other JSON file
            if _same_run(card.source_run, run.path) and card.labels == run.labels:
                found.setdefault(card_path.resolve(), (card_path, card))
    order = {"int8": 0, "fp16": 1, "dynamic": 2, "float32": 3}
    return sorted(found.values(), key=lambda item: (order.get(item[1].quantization, 9), str(item[0])))


def _export_details(card_path: Path, card: ModelCard) -> dict:
    """Op-level facts from the `NAME_export_report.json` written beside the card, when it still describes this file."""
    for report_path in card_path.parent.glob("*_export_report.json"):
        try:
            doc = read_json_object(report_path)
        except EdgetlError:
            continue
        models = doc.get("models")
        details = models.get(card.quantization) if isinstance(models, dict) else None
        if (isinstance(details, dict) and f"{doc.get('name')}_{card.quantization}.tflite" == card.model_file
                and details.get("size_bytes") == card.size_bytes):
            return details
    return {}


def _image_key(path: str | Path) -> tuple[str, str]:
    """Class folder and file name: what identifies a photo even when the run was trained from another folder."""
    p = Path(path)
    return p.parent.name, p.name


def _float_predictions(run: RunFiles, split: str) -> dict:
    """Image -> the float model's top-1 label, from predictions.csv, keyed two ways.

    predictions.csv keeps paths as training was given them (maybe relative to another working folder),
    while split.json holds absolute ones: an exact (resolved) path matches first, else the stable end of
    the path -- class folder and file name -- when only one image has it.
    """
    exact: dict = {}
    by_name: dict = {}
    for row in run.predictions:
        if row.get("split") == split and row.get("path") and row.get("predicted"):
            exact[str(Path(row["path"]).resolve())] = row["predicted"]
            key = _image_key(row["path"])
            by_name[key] = None if key in by_name else row["predicted"]  # ambiguous names match nothing
    return {**{k: v for k, v in by_name.items() if v is not None}, **exact}


def _locate(path: str, run: RunFiles) -> Path:
    """A photo named in predictions.csv, found through split.json's absolute paths when the csv's is relative."""
    if Path(path).is_file():
        return Path(path)
    return run.absolute_paths.get(_image_key(path), Path(path))


def _agreement(run: RunFiles, split: str, labels: Sequence[str], paths: Sequence[Path],
               probs: np.ndarray) -> list[tuple[str, str]]:
    """(export's top-1, float model's top-1) for every photo predictions.csv also has an answer for."""
    float_pred = _float_predictions(run, split)
    matched = []
    for label, path in zip([labels[i] for i in probs.argmax(axis=1)], paths):
        float_label = float_pred.get(str(Path(path).resolve()), float_pred.get(_image_key(path)))
        if float_label is not None:
            matched.append((label, float_label))
    return matched


def measure_export(run: RunFiles, card_path: Path, card: ModelCard, split: str | None) -> dict:
    """Accuracy of one exported model on the run's held-out split, and how often it agrees with the float model."""
    from edgetl.data.folders import read_manifest
    from edgetl.evaluate import load_predictor
    from edgetl.metrics import classification_report
    from edgetl.scoring import score

    model_path = card.model_path(card_path)
    row: dict = {"quantization": card.quantization, "model": str(model_path), "card": str(card_path),
                 "size_bytes": card.size_bytes, "input_dtype": card.input_dtype, "output_dtype": card.output_dtype,
                 "announce_threshold": card.announce_threshold, "card_accuracy": card.accuracy,
                 "created": card.created, "details": _export_details(card_path, card)}
    if not model_path.is_file():
        row["error"] = f"model file missing: {model_path}"
        return row
    if split is None or not (run.path / "split.json").is_file():
        row["error"] = "the run has no held-out images to evaluate on"
        return row
    try:
        predictor = load_predictor(model_path, card)  # checks the card's sha256 against the file
        held_out = read_manifest(run.path / "split.json")[split]
    except EdgetlError as exc:
        row["error"] = str(exc)
        return row
    index = {name: i for i, name in enumerate(predictor.labels)}
    items = [(s.path, index[held_out.classes[s.label]]) for s in held_out.samples if held_out.classes[s.label] in index]
    scores = score([predictor], items)  # unreadable photos are left out silently: the count shows it
    if not len(scores):
        row["error"] = f"none of the {split} images could be read"
        return row
    metrics = classification_report(scores.truth, scores.probs[0], predictor.labels)
    float_top1 = (run.metrics.get(split) or {}).get("top1")
    matched = _agreement(run, split, predictor.labels, scores.paths, scores.probs[0])
    row.update(split=split, count=metrics["count"], top1=metrics["top1"], per_class=metrics["per_class"],
               top1_diff_points=round((metrics["top1"] - float_top1) * 100, 2) if float_top1 is not None else None,
               agreement=round(sum(a == b for a, b in matched) / len(matched), 4) if matched else None,
               agreement_count=len(matched))
    return row


def measure_latency(rows: list[dict], runs: int, warmup: int) -> str | None:
    """Add p50/p90 latency to each evaluable export (timed interleaved); a reason string when it cannot be done."""
    from edgetl.benchmark import compare_models

    timed = [r for r in rows if "error" not in r]
    if not timed:
        return None
    try:
        results = compare_models([r["model"] for r in timed], runs=runs, warmup=warmup)
    except EdgetlError as exc:
        return str(exc)
    for r, res in zip(timed, results):
        r["latency"] = {k: res[k] for k in ("p50_ms", "p90_ms", "runs", "threads", "xnnpack", "runtime", "machine")}
    return None


# ---- the misclassified gallery -----------------------------------------------------------------------------


def float_mistakes(run: RunFiles, split: str | None) -> list[dict]:
    """The float model's wrong answers on ``split``, most confident (most dangerous when spoken) first."""
    if split is None:
        return []
    rows = [r for r in run.predictions if r.get("split") == split and r.get("label") != r.get("predicted")]
    mistakes = []
    for r in rows:
        try:
            confidence = float(r.get("confidence", "nan"))
        except ValueError:
            confidence = float("nan")
        mistakes.append({"path": r.get("path", ""), "true": r.get("label", "?"), "predicted": r.get("predicted", "?"),
                         "confidence": confidence})
    return sorted(mistakes, key=lambda m: -m["confidence"] if m["confidence"] == m["confidence"] else 0.0)


def gallery_png(run: RunFiles, mistakes: list[dict], split: str | None, gradcam: bool = False) -> tuple[bytes | None, str, str | None]:
    """The gallery picture, its kind ("heat-map" or "thumbnail") and a note when heat-maps were asked for but failed.

    Plain thumbnails need only the photos and predictions.csv. ``gradcam`` asks `edgetl.explain` for
    Grad-CAM heat-maps instead, which loads TensorFlow and the float model, so it is opt-in.
    """
    from edgetl import gallery
    from edgetl.data.images import load_square_batch

    note = None
    with tempfile.TemporaryDirectory(prefix="edgetl-report-") as tmp:
        if gradcam and split is not None:
            picture, note = _gradcam_gallery(run, split, Path(tmp))
            if picture is not None:
                return picture, "heat-map", None
        dest = Path(tmp) / "misclassified.png"
        shown = mistakes[: gallery.MAX_ITEMS]
        thumbs, kept = load_square_batch([_locate(m["path"], run) for m in shown], THUMB_SIDE)
        items = [{**shown[i], "image": thumb} for thumb, i in zip(thumbs, kept)]
        if mistakes and not items:
            return None, "thumbnail", note  # the photos moved since training: the table still lists them
        gallery.misclassified(items, dest, title=f"{run.name}: float model mistakes ({split} split)",
                              total=len(mistakes))
        return dest.read_bytes(), "thumbnail", note


def _gradcam_gallery(run: RunFiles, split: str, folder: Path) -> tuple[bytes | None, str | None]:
    """`edgetl.explain`'s heat-map gallery of the worst mistakes, or (None, why not)."""
    try:
        from edgetl.explain import misclassified_gallery
    except ImportError as exc:
        return None, f"Grad-CAM heat-maps unavailable ({exc}); showing plain thumbnails."
    try:
        result = misclassified_gallery(run.path, run.path, folder, split=split, log=lambda msg: None)
    except Exception as exc:  # an optional extra must not cost the user the whole report
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return None, f"Grad-CAM heat-maps failed ({reason}); showing plain thumbnails."
    picture = result.get("gallery")
    if not picture:
        return None, None  # no mistakes: the plain gallery says so
    return Path(picture).read_bytes(), None


# ---- the run's own figures ---------------------------------------------------------------------------------


def run_figures(run: RunFiles) -> dict[str, bytes]:
    """The plots training wrote (by file name), read once so the page can embed them."""
    return {name: (run.path / name).read_bytes() for name in FIGURES if (run.path / name).is_file()}


def unreadable_count(run: RunFiles) -> int | None:
    """How many photos training skipped as unreadable (the lines of unreadable.txt); None without that file."""
    if not run.unreadable_file.is_file():
        return None
    text = run.unreadable_file.read_text(encoding="utf-8", errors="replace")
    return len([line for line in text.splitlines() if line.strip()])


# ---- the report --------------------------------------------------------------------------------------------


@dataclass
class RunReport:
    """Everything the HTML is rendered from; ``summary()`` is its machine-readable digest."""

    run: RunFiles
    export_dirs: list[Path]
    exports: list[dict] = field(default_factory=list)
    latency_note: str | None = None  # why latency is missing, when it is
    mistakes: list[dict] = field(default_factory=list)
    gallery: bytes | None = None
    gallery_kind: str = "thumbnail"
    gallery_note: str | None = None
    figures: dict[str, bytes] = field(default_factory=dict)  # run_figures()
    unreadable_photos: int | None = None  # unreadable_count()

    def summary(self) -> dict:
        run = self.run
        return {
            "run": str(run.path),
            "name": run.name,
            "finished": utc_time(run.finished),
            "backbone": run.backbone,
            "test_top1": (run.metrics.get("test") or {}).get("top1"),
            "export_dirs": [str(d) for d in self.export_dirs],
            "exports": [{k: r.get(k) for k in ("quantization", "model", "size_bytes", "top1", "top1_diff_points",
                                               "agreement", "announce_threshold", "error")}
                        | ({"p50_ms": r["latency"]["p50_ms"]} if "latency" in r else {}) for r in self.exports],
            "latency_note": self.latency_note,
            "mistakes": len(self.mistakes),
            "gallery": self.gallery_kind if self.gallery else None,
        }

    def html(self) -> str:
        return render(self)

    def save(self, out: str | Path | None = None) -> Path:
        """Write ``OUT/report.html`` (default: the run folder); like every ``--out``, OUT is a folder."""
        from edgetl.atomic import write_text

        folder = Path(out) if out is not None else self.run.path
        if folder.suffix.lower() in (".html", ".htm") or folder.is_file():
            raise EdgetlError(f"--out is a folder (the page is written as {REPORT_NAME} inside it); got {folder}")
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / REPORT_NAME
        write_text(dest, self.html())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(dest, 0o666 & ~umask)  # a page to share and open in a browser, not a private temp file
        return dest


def build_report(run: str | Path, export_dir: str | Path | None = None, latency: bool = True,
                 latency_runs: int = LATENCY_RUNS, latency_warmup: int = LATENCY_WARMUP, gradcam: bool = False) -> RunReport:
    """Read a run, find and measure its exports, and gather the gallery: everything but the writing."""
    files = RunFiles.open(run)
    if export_dir is not None:
        export_dir = Path(export_dir)
        if not export_dir.is_dir():
            raise EdgetlError(f"export folder not found: {export_dir}")
        folders = [export_dir]
    else:
        folders = default_export_dirs(files.path)
    split = files.report_split
    exports = [measure_export(files, card_path, card, split) for card_path, card in find_exports(files, folders)]
    latency_note = None
    if not latency:
        latency_note = "latency not measured (--no-latency)"
    elif exports:
        latency_note = measure_latency(exports, latency_runs, latency_warmup)
    mistakes = float_mistakes(files, split)
    picture, kind, note = gallery_png(files, mistakes, split, gradcam)
    return RunReport(files, folders, exports, latency_note, mistakes, picture, kind, note, run_figures(files),
                     unreadable_count(files))


def report(run: str | Path, out: str | Path | None = None, export_dir: str | Path | None = None, latency: bool = True,
           latency_runs: int = LATENCY_RUNS, latency_warmup: int = LATENCY_WARMUP, gradcam: bool = False) -> Path:
    """Write the self-contained HTML report of ``run`` (default ``RUN/report.html``) and return its path."""
    return build_report(run, export_dir, latency, latency_runs, latency_warmup, gradcam).save(out)


def format_summary(summary: dict, path: Path) -> str:
    """A few lines for the terminal."""
    lines = [f"report  {path}", f"run     {summary['run']} ({summary['backbone']['name']}, test top-1 {percent(summary['test_top1'])})"]
    for r in summary["exports"]:
        if r.get("error"):
            lines.append(f"export  {r['quantization']}: not evaluated ({r['error']})")
            continue
        lat = f", p50 {r['p50_ms']:.2f} ms" if "p50_ms" in r else ""
        lines.append(f"export  {r['quantization']}: top-1 {percent(r['top1'])}, agreement with float {percent(r['agreement'])}{lat}")
    if not summary["exports"]:
        lines.append("export  none found (the report says where it looked)")
    if summary.get("latency_note"):
        lines.append(f"note    {summary['latency_note']}")
    return "\n".join(lines)
