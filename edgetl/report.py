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
"""

from __future__ import annotations

import base64
import html
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from edgetl.card import ModelCard
from edgetl.errors import EdgetlError
from edgetl.run import Run

REPORT_NAME = "report.html"
SPLIT_ORDER = ("train", "val", "test")
PREDICT_CHUNK = 32
THUMB_SIDE = 112
LATENCY_RUNS = 100
LATENCY_WARMUP = 10
HEADER_COLOUR = "#12355b"  # the header band; tests look for it in a browser screenshot


# ---- reading the run ---------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EdgetlError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise EdgetlError(f"{path}: expected a JSON object")
    return data


class RunFiles(Run):
    """A finished `edgetl train` run folder (edgetl/run.py reads it) with what the report adds."""

    needs_results = True

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
            doc = _read_json(report_path)
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


def measure_export(run: RunFiles, card_path: Path, card: ModelCard, split: str | None) -> dict:
    """Accuracy of one exported model on the run's held-out split, and how often it agrees with the float model."""
    from edgetl.data.folders import read_manifest
    from edgetl.data.images import UnreadableImage, read_rgb, resize_square
    from edgetl.evaluate import load_predictor
    from edgetl.metrics import classification_report

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
    samples = [s for s in held_out.samples if held_out.classes[s.label] in index]
    truth, probs, paths = [], [], []
    for start in range(0, len(samples), PREDICT_CHUNK):
        images = []
        for sample in samples[start : start + PREDICT_CHUNK]:
            try:
                images.append(resize_square(read_rgb(sample.path), predictor.size))
            except UnreadableImage:
                continue
            truth.append(index[held_out.classes[sample.label]])
            paths.append(sample.path)
        if images:
            probs.append(predictor.predict(np.stack(images)))
    if not truth:
        row["error"] = f"none of the {split} images could be read"
        return row
    probs_all = np.concatenate(probs)
    metrics = classification_report(np.asarray(truth), probs_all, predictor.labels)
    float_top1 = (run.metrics.get(split) or {}).get("top1")
    float_pred = _float_predictions(run, split)
    predicted = [predictor.labels[i] for i in probs_all.argmax(axis=1)]
    matched = []
    for label, path in zip(predicted, paths):
        float_label = float_pred.get(str(Path(path).resolve()), float_pred.get(_image_key(path)))
        if float_label is not None:
            matched.append((label, float_label))
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


def _thumbnail(path: str, run: RunFiles) -> np.ndarray | None:
    from edgetl.data.images import UnreadableImage, read_rgb, resize_square

    try:
        return resize_square(read_rgb(_locate(path, run)), THUMB_SIDE)
    except UnreadableImage:
        return None


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

    note = None
    with tempfile.TemporaryDirectory(prefix="edgetl-report-") as tmp:
        if gradcam and split is not None:
            picture, note = _gradcam_gallery(run, split, Path(tmp))
            if picture is not None:
                return picture, "heat-map", None
        dest = Path(tmp) / "misclassified.png"
        items = []
        for m in mistakes[: gallery.MAX_ITEMS]:
            image = _thumbnail(m["path"], run)
            if image is not None:
                items.append({**m, "image": image})
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

    def summary(self) -> dict:
        run = self.run
        return {
            "run": str(run.path),
            "name": run.name,
            "finished": _iso(run.finished),
            "backbone": _backbone(run),
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
        from edgetl.atomic import write_text

        dest = Path(out) if out is not None else self.run.path / REPORT_NAME
        if dest.is_dir():
            dest = dest / REPORT_NAME
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
    return RunReport(files, folders, exports, latency_note, mistakes, picture, kind, note)


def report(run: str | Path, out: str | Path | None = None, export_dir: str | Path | None = None, latency: bool = True,
           latency_runs: int = LATENCY_RUNS, latency_warmup: int = LATENCY_WARMUP, gradcam: bool = False) -> Path:
    """Write the self-contained HTML report of ``run`` (default ``RUN/report.html``) and return its path."""
    return build_report(run, export_dir, latency, latency_runs, latency_warmup, gradcam).save(out)


# ---- HTML --------------------------------------------------------------------------------------------------

STYLE = f"""
:root {{ color-scheme: light; }}
* {{ box-sizing: border-box; }}
body {{ margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       font-size: 1.0625rem; line-height: 1.55; color: #1b1b1b; background: #ffffff; }}
header.band {{ background: {HEADER_COLOUR}; color: #ffffff; padding: 1.4rem 2rem 1.2rem; }}
header.band h1 {{ margin: 0 0 .4rem; font-size: 2rem; }}
header.band p {{ margin: 0; font-size: 1.1rem; }}
nav {{ padding: .6rem 2rem; background: #eef2f7; border-bottom: 1px solid #c9d3e0; }}
nav ul {{ list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .4rem 1.4rem; }}
a {{ color: #0b4f9c; }}
a:focus-visible {{ outline: 3px solid #b35c00; outline-offset: 2px; }}
main {{ padding: 0 2rem 3rem; max-width: 76rem; }}
section {{ margin-top: 2rem; }}
h2 {{ font-size: 1.5rem; border-bottom: 2px solid {HEADER_COLOUR}; padding-bottom: .2rem; }}
h3 {{ font-size: 1.2rem; }}
table {{ border-collapse: collapse; margin: .6rem 0 1rem; }}
caption {{ text-align: left; font-weight: 600; padding: .3rem 0; }}
th, td {{ border: 1px solid #9aa7b8; padding: .3rem .7rem; text-align: left; vertical-align: top; }}
thead th {{ background: #e3e9f1; }}
tbody th {{ background: #f4f6f9; font-weight: 600; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
figure {{ margin: 1rem 0; }}
figure img {{ max-width: 100%; height: auto; border: 1px solid #c9d3e0; }}
figcaption {{ font-size: .95rem; color: #3b3b3b; }}
.note {{ background: #fff7e0; border-left: 5px solid #8a5a00; padding: .6rem 1rem; }}
.good {{ color: #14692d; font-weight: 600; }}
.bad {{ color: #a01414; font-weight: 600; }}
dl.facts {{ display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1.2rem; }}
dl.facts dt {{ font-weight: 600; }}
dl.facts dd {{ margin: 0; }}
"""

# No network, no script: the report must open the same offline as online, and show nothing it did not embed.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * float(x):.1f}%"


def _num(x, digits: int = 2) -> str:
    return "n/a" if x is None else f"{float(x):.{digits}f}"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _backbone(run: RunFiles) -> dict:
    options = run.train_options
    return {"name": options.get("backbone", "mobilenet_v2"), "alpha": options.get("alpha"),
            "size": (run.config.get("input") or {}).get("size", options.get("size"))}


def _backbone_text(run: RunFiles) -> str:
    b = _backbone(run)
    alpha = f" α {b['alpha']:g}" if isinstance(b["alpha"], (int, float)) else ""
    size = f", {b['size']} px" if b["size"] else ""
    return f"{b['name']}{alpha}{size}"


def _table(caption: str, head: Sequence[str], rows: Sequence[Sequence], numeric_from: int = 1,
           row_headers: bool = True) -> str:
    """An accessible table: a caption, column headers with scope, the first cell of each row a row header."""
    out = [f"<table><caption>{_e(caption)}</caption><thead><tr>"]
    out += [f'<th scope="col">{_e(h)}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            if i == 0 and row_headers:
                cells.append(f'<th scope="row">{_e(cell)}</th>')
            else:
                cls = ' class="num"' if i >= numeric_from else ""
                cells.append(f"<td{cls}>{_e(cell)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _figure(png: bytes, alt: str, caption: str) -> str:
    return (f'<figure><img src="{_data_uri(png)}" alt="{_e(alt)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}" aria-labelledby="{anchor}-h"><h2 id="{anchor}-h">{_e(title)}</h2>{body}</section>'


def _summary_section(rep: RunReport) -> str:
    run = rep.run
    test, val = run.metrics.get("test") or {}, run.metrics.get("val") or {}
    classes = run.config.get("classes") or run.labels
    facts = [("Run folder", str(run.path)), ("Finished", _iso(run.finished)), ("Backbone", _backbone_text(run)),
             ("Classes", f"{len(classes)}: {', '.join(map(str, classes))}"),
             ("Test top-1", f"{_pct(test.get('top1'))} on {test.get('count', 0)} images"),
             ("Validation top-1", f"{_pct(val.get('top1'))} on {val.get('count', 0)} images"),
             ("Fine-tuned blocks", run.config.get("fine_tune_blocks", "n/a")),
             ("Training time", f"{run.metrics['seconds']:.0f} s" if isinstance(run.metrics.get("seconds"), (int, float)) else "n/a"),
             ("Exported models", ", ".join(r["quantization"] for r in rep.exports) or "none found")]
    body = '<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>"
    return _section("summary", "Summary", body)


def _config_value(value) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return "none" if value is None else str(value)


def _config_section(run: RunFiles) -> str:
    options = [(k, _config_value(v)) for k, v in run.train_options.items()]
    extra_keys = ("data", "weights_file", "fine_tune_blocks", "cut_layer", "input", "devices", "fit")
    extra = [(k, _config_value(run.config[k])) for k in extra_keys if k in run.config]
    cache = run.config.get("cache")
    if isinstance(cache, dict):
        extra.append(("feature cache", f"{cache.get('file', '')} ({cache.get('hits', 0)} hits, "
                                       f"{cache.get('misses', 0)} misses)"))
    body = _table("Training options (config.json, section train)", ["option", "value"], options, numeric_from=99)
    body += _table("What the run resolved", ["item", "value"], extra, numeric_from=99)
    return _section("config", "Configuration", body)


def _data_section(run: RunFiles) -> str:
    counts = run.config.get("counts")
    if not isinstance(counts, dict) or not counts:
        return _section("data", "Data", _note("config.json records no image counts for this run."))
    splits = [s for s in SPLIT_ORDER if s in counts] + [s for s in counts if s not in SPLIT_ORDER]
    classes = run.config.get("classes") or run.labels
    rows = []
    for c in classes:
        per_split = [int((counts.get(s) or {}).get(c, 0)) for s in splits]
        rows.append([c, *per_split, sum(per_split)])
    totals = [sum(int((counts.get(s) or {}).get(c, 0)) for c in classes) for s in splits]
    rows.append(["all classes", *totals, sum(totals)])
    body = _table("Images per class and split", ["class", *splits, "total"], rows)
    unreadable = run.path / "unreadable.txt"
    if unreadable.is_file():
        n = len([line for line in unreadable.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()])
        body += _note(f"{n} unreadable image(s) were skipped; they are listed in {unreadable}.")
    return _section("data", "Data", body)


def _curves_section(run: RunFiles) -> str:
    png = run.path / "training_curves.png"
    parts = []
    if png.is_file():
        parts.append(_figure(png.read_bytes(), "Training curves: loss (left) and accuracy (right) per epoch, for the "
                             "training and validation sets; a dashed line marks the start of fine-tuning.",
                             "Loss and accuracy per epoch (training_curves.png)."))
    else:
        parts.append(_note("No training_curves.png in the run (training recorded no epochs)."))
    if run.history:
        rows = []
        for stage in dict.fromkeys(h.get("stage", "") for h in run.history):
            epochs = [h for h in run.history if h.get("stage", "") == stage]
            vals = [(float(h["val_accuracy"]), i) for i, h in enumerate(epochs, 1) if _is_number(h.get("val_accuracy"))]
            best = max(vals) if vals else None
            last = epochs[-1]
            rows.append([stage or "training", len(epochs), _num(last.get("loss") if _is_number(last.get("loss")) else None, 3),
                         _pct(last.get("accuracy")) if _is_number(last.get("accuracy")) else "n/a",
                         f"{_pct(best[0])} (epoch {best[1]})" if best else "n/a"])
        parts.append(_table("Training stages (history.csv)", ["stage", "epochs", "last loss", "last accuracy",
                                                               "best validation accuracy"], rows))
    return _section("curves", "Training curves", "".join(parts))


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return value not in ("", None) and float(value) == float(value)


def _confusion_section(run: RunFiles) -> str:
    split = run.report_split
    parts = []
    png = run.path / "confusion_matrix.png"
    if png.is_file():
        parts.append(_figure(png.read_bytes(), f"Confusion matrix of the float model on the {split or 'held-out'} split: "
                             "rows are the true class, columns the predicted class; the same counts are in the table below.",
                             "Confusion matrix (confusion_matrix.png); colours are shares of each true class."))
    metrics = run.metrics.get(split or "", {}) if split else {}
    cm, classes = metrics.get("confusion"), metrics.get("classes") or run.labels
    if cm:
        rows = [[f"true {c}", *map(int, cm[i])] for i, c in enumerate(classes)]
        parts.append(_table(f"Confusion counts, {split} split (rows: true class, columns: predicted)",
                            ["true \\ predicted", *classes], rows))
    if not parts:
        parts.append(_note("No confusion matrix: the run has no held-out images."))
    return _section("confusion", "Confusion matrix", "".join(parts))


def _per_class_section(run: RunFiles) -> str:
    split = run.report_split
    per_class = (run.metrics.get(split) or {}).get("per_class") if split else None
    if not per_class:
        return _section("per-class", "Per-class metrics", _note("No held-out images, so no per-class metrics."))
    rows = [[c, _pct(m.get("precision")), _pct(m.get("recall")), _pct(m.get("f1")), m.get("support", 0)]
            for c, m in per_class.items()]
    body = _table(f"Float model on the {split} split", ["class", "precision", "recall", "F1", "images"], rows)
    return _section("per-class", "Per-class metrics", body)


def _exports_section(rep: RunReport) -> str:
    where = ", ".join(str(d) for d in rep.export_dirs) or "no candidate folder exists"
    if not rep.exports:
        text = (f"No exported model of this run was found (looked in: {where}). Export one with "
                f"`edgetl export {rep.run.path} --int8 --fp16`, then run `edgetl report` again "
                "(`--export DIR` if the models are elsewhere).")
        return _section("exports", "Exported models", _note(text))
    rows, problems = [], []
    for r in rep.exports:
        d = r.get("details") or {}
        ops = ("int8 only" if d.get("int8_only") else "mixed") if "int8_only" in d else "n/a"
        gpu = ("yes" if d.get("gpu_compatible") else "no") if "gpu_compatible" in d else "n/a"
        lat = r.get("latency")
        if "error" in r:
            problems.append(f"{Path(r['model']).name}: {r['error']}")
        diff = r.get("top1_diff_points")
        rows.append([r["quantization"], Path(r["model"]).name, f"{r['size_bytes'] / 1e6:.2f} MB",
                     f"{r['input_dtype']} → {r['output_dtype']}", _pct(r.get("top1")),
                     "n/a" if diff is None else f"{diff:+.2f}", _pct(r.get("agreement")),
                     "n/a" if not lat else f"{lat['p50_ms']:.2f}",
                     _threshold_text(r), _pct((r.get("card_accuracy") or {}).get("coverage_at_threshold")),
                     ops, gpu])
    split = next((r["split"] for r in rep.exports if r.get("split")), rep.run.report_split)
    body = _table(f"Each export measured on the run's {split} split, against the float model",
                  ["quantization", "file", "size", "input → output", "top-1", "top-1 change (points)",
                   "agreement with float", "latency p50 (ms)", "announce threshold", "coverage at threshold",
                   "ops", "GPU delegate"], rows, numeric_from=2)
    body += ('<p>“Agreement with float” is the share of images on which the export’s top-1 equals the float '
             "model’s (predictions.csv). The announce threshold comes from the model card: the lowest confidence "
             "whose precision on held-out images reached the target; “coverage” is the share of notes it speaks "
             "on, as measured at export time. An empty threshold means no confidence was safe enough.</p>")
    lat = next((r["latency"] for r in rep.exports if r.get("latency")), None)
    if lat:
        body += f"<p>Latency: {_e(lat['runs'])} timed runs per model, interleaved, XNNPACK {'on' if lat['xnnpack'] else 'off'}, " \
                f"threads {_e(lat['threads'] or 'default')}, {_e(lat['runtime'])} on {_e(lat['machine'])}.</p>"
    if rep.latency_note:
        body += _note(rep.latency_note)
    for p in problems:
        body += _note(f"Could not evaluate {p}")
    body += f"<p>Model cards were looked for in: {_e(where)}.</p>"
    return _section("exports", "Exported models", body)


def _threshold_text(row: dict) -> str:
    """The card's announce threshold; "none" when export measured it and no confidence was safe enough."""
    if row.get("announce_threshold") is not None:
        return f"{float(row['announce_threshold']):.2f}"
    return "none" if row.get("card_accuracy") else "n/a"


def _gallery_section(rep: RunReport) -> str:
    split = rep.run.report_split
    if split is None:
        return _section("mistakes", "Misclassified images", _note("No held-out images, so no mistakes to show."))
    if not rep.run.predictions:
        return _section("mistakes", "Misclassified images", _note("The run has no predictions.csv."))
    parts = []
    total = len(rep.mistakes)
    if rep.gallery:
        kind = ("each beside a Grad-CAM heat-map of where the model looked for its wrong answer (recomputed "
                "with model.keras)" if rep.gallery_kind == "heat-map"
                else "each titled with its true and predicted class and the confidence")
        alt = (f"{total} misclassified {split} images of the float model, most confident first, {kind}."
               if total else f"No misclassified images: every {split} image got the right top-1 label.")
        parts.append(_figure(rep.gallery, alt, f"Float model mistakes on the {split} split, {kind}."))
    elif total:
        parts.append(_note("The mistaken photos could not be read any more (moved since training?); they are listed below."))
    if rep.gallery_note:
        parts.append(_note(rep.gallery_note))
    if total:
        rows = [[Path(m["path"]).name, m["true"], m["predicted"], _pct(m["confidence"])] for m in rep.mistakes[:50]]
        shown = f"the {len(rows)} most confident of {total}" if total > len(rows) else f"all {total}"
        parts.append(_table(f"Mistakes, {shown}", ["file", "true", "predicted", "confidence"], rows, numeric_from=3))
    return _section("mistakes", "Misclassified images", "".join(parts))


def render(rep: RunReport) -> str:
    """The report as one HTML document: inline style, embedded images, no script, no network."""
    run = rep.run
    test_top1 = (run.metrics.get("test") or {}).get("top1")
    subtitle = f"{_iso(run.finished)} · {_backbone_text(run)} · test top-1 {_pct(test_top1)}"
    sections = [("summary", "Summary"), ("config", "Configuration"), ("data", "Data"), ("curves", "Training curves"),
                ("confusion", "Confusion matrix"), ("per-class", "Per-class metrics"), ("exports", "Exported models"),
                ("mistakes", "Misclassified images")]
    nav = "".join(f'<li><a href="#{a}">{_e(t)}</a></li>' for a, t in sections)
    body = "".join([_summary_section(rep), _config_section(run), _data_section(run), _curves_section(run),
                    _confusion_section(run), _per_class_section(run), _exports_section(rep), _gallery_section(rep)])
    import edgetl

    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="edgetl {_e(edgetl.__version__)}">'
        f"<title>edgetl report: {_e(run.name)}</title><style>{STYLE}</style></head>\n"
        f'<body><header class="band"><h1>edgetl report: {_e(run.name)}</h1><p>{_e(subtitle)}</p></header>'
        f'<nav aria-label="Sections"><ul>{nav}</ul></nav><main>{body}</main></body></html>\n'
    )


def format_summary(summary: dict, path: Path) -> str:
    """A few lines for the terminal."""
    lines = [f"report  {path}", f"run     {summary['run']} ({summary['backbone']['name']}, test top-1 {_pct(summary['test_top1'])})"]
    for r in summary["exports"]:
        if r.get("error"):
            lines.append(f"export  {r['quantization']}: not evaluated ({r['error']})")
            continue
        lat = f", p50 {r['p50_ms']:.2f} ms" if "p50_ms" in r else ""
        lines.append(f"export  {r['quantization']}: top-1 {_pct(r['top1'])}, agreement with float {_pct(r['agreement'])}{lat}")
    if not summary["exports"]:
        lines.append("export  none found (the report says where it looked)")
    if summary.get("latency_note"):
        lines.append(f"note    {summary['latency_note']}")
    return "\n".join(lines)
