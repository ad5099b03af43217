"""`edgetl evaluate`: how well a model (a `.tflite` or a training run) does on labelled photos, and how safe it is.

What matters for a talking note reader is not only top-1 but what gets *spoken*: a wrong denomination
said aloud is worse than silence. So besides top-1, per-class P/R/F1 and the confusion matrix, the report
has the selective curve (coverage and precision of "speak only above a confidence threshold", background
predictions counting as silence), the lowest threshold reaching the target precision, and -- for folders
of negatives (photos without a note) -- how many of them would be announced.

Images are decoded once and fed to both models when comparing (e.g. an int8 export against its float
run). TensorFlow is imported only to evaluate a `.keras` model; `.tflite` models run on LiteRT.
"""

from __future__ import annotations

import heapq
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edgetl.card import ModelCard, find_card
from edgetl.errors import EdgetlError
from edgetl.metrics import SILENT, classification_report, predicted, selective
from edgetl.policy import TARGET_PRECISION
from edgetl.scoring import Scores, score

NONE_LABEL = "none"  # the true label of a negative: nothing should be announced
SILENT_LABEL = "(silent)"  # what a gate-rejected all-zero output "predicts"
# Class folders with one of these names hold negatives when the model has no label of that name.
NEGATIVE_NAMES = frozenset({"negative", "negatives", "none", "no_note", "no-note", "not_a_note", "not-a-note",
                            "non_note", "non_notes", "distractors"})
GALLERY_ITEMS = 24
THUMB = 112


# ---- models ------------------------------------------------------------------------------------------------


@dataclass
class Predictor:
    """A model behind one interface: square RGB uint8 images (N x size x size x 3) in, float probabilities out."""

    path: Path
    kind: str  # "tflite" or "keras"
    labels: list[str]
    size: int
    _predict: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    card: ModelCard | None = None
    net: object = field(default=None, repr=False)  # the loaded Keras model of a "keras" predictor

    def predict(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, dtype=np.uint8)
        if images.ndim != 4 or images.shape[1:] != (self.size, self.size, 3):
            raise EdgetlError(f"{self.path} takes {self.size}x{self.size} RGB images, got shape {images.shape}")
        if not len(images):
            return np.zeros((0, len(self.labels)), np.float32)
        return np.asarray(self._predict(images), dtype=np.float32)

    def describe(self) -> dict:
        return {"path": str(self.path), "kind": self.kind, "labels": list(self.labels), "size": self.size,
                **({"card": self.card.name, "quantization": self.card.quantization} if self.card else {})}


def load_float_run(model: Path, purpose: str = "evaluate"):
    """A run's float Keras model with its labels and input spec, checked against each other.

    Returns (run folder, model.keras path, net, labels, size, mean, std); every mismatch is one line.
    """
    from edgetl.run import Run
    from edgetl.train.loading import load_run_model

    run = Run.open_model(model, purpose)
    return run.path, run.model_file, load_run_model(run), run.labels, run.size, run.mean, run.std


def _load_keras(model: Path) -> Predictor:
    from edgetl.train.backbones import to_model_input

    _, keras_file, net, labels, size, mean, std = load_float_run(model)

    def predict(images: np.ndarray, batch: int = 64) -> np.ndarray:
        return np.concatenate([net(to_model_input(images[i : i + batch], mean, std), training=False).numpy()
                               for i in range(0, len(images), batch)])

    return Predictor(keras_file, "keras", labels, size, predict, net=net)


def _load_tflite(model: Path, card, threads: int | None) -> Predictor:
    from edgetl.runtime.interpreter import Classifier

    card_obj = card if isinstance(card, ModelCard) else find_card(model, card)
    # checks the card's sha256 against the file; without a card, labels come from the model's metadata
    classifier = Classifier(model, card_obj, threads=threads)
    if card_obj is not None and card_obj.input_size != classifier.input.size:
        raise EdgetlError(f"model card says {card_obj.input_size} px input but {model} takes {classifier.input.size} px")
    return Predictor(model, "tflite", list(classifier.labels), classifier.input.size, classifier.predict, card_obj)


def load_predictor(model: str | Path, card: str | Path | ModelCard | None = None, threads: int | None = None) -> Predictor:
    """A `.tflite` (labels from its model card) or a run folder / `.keras` (labels.txt and config.json beside it)."""
    model = Path(model)
    if not model.exists():
        raise EdgetlError(f"model not found: {model}")
    if model.suffix.lower() == ".tflite":
        return _load_tflite(model, card, threads)
    if card is not None:
        raise EdgetlError(f"a model card describes a .tflite; {model} is not one")
    if model.is_dir() or model.suffix.lower() == ".keras":
        return _load_keras(model)
    raise EdgetlError(f"{model}: not a model (expected a .tflite, a .keras or a training run folder)")


# ---- data --------------------------------------------------------------------------------------------------


def _resolve_data(data, split: str, model: Path) -> tuple[list[tuple[Path, str]], str, str | None]:
    """(path, class name) pairs through the one data resolver; a run folder or its .keras supplies the default."""
    from edgetl.data.folders import resolve_split

    run = model if model.is_dir() else model.parent if model.suffix.lower() == ".keras" else None
    return resolve_split(data, split, run)


def _negative_images(dirs: Sequence[str | Path]) -> list[Path]:
    from edgetl.data.folders import list_images

    out: list[Path] = []
    for d in map(Path, dirs):
        if not d.is_dir():
            raise EdgetlError(f"negatives folder not found: {d}")
        found = list_images(d)
        if not found:
            raise EdgetlError(f"negatives folder has no images: {d}")
        out += found
    return sorted(set(out), key=str)


# ---- evaluation --------------------------------------------------------------------------------------------


def _subsample(n: int, limit: int | None) -> np.ndarray:
    if limit is None or limit >= n:
        return np.arange(n)
    if limit <= 0:
        raise EdgetlError(f"limit must be positive (got {limit})")
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))  # spread over every class


def _at_threshold(t: float, y: np.ndarray, probs: np.ndarray, silent: list[int]) -> dict:
    conf, pred = probs.max(axis=1), predicted(probs)
    spoken = (conf >= t) & ~np.isin(pred, silent) & (pred != SILENT)
    pos, neg = y >= 0, y < 0
    n_spoken = int(spoken.sum())
    correct = int((spoken & (pred == y)).sum())
    return {"threshold": float(t), "spoken": n_spoken, "wrong": n_spoken - correct,
            "precision": round(correct / n_spoken, 4) if n_spoken else 1.0,
            "coverage": round(int((spoken & pos).sum()) / max(1, int(pos.sum())), 4),
            "false_announcements": int((spoken & neg).sum())}


@dataclass
class _Request:
    """What the caller asked to be measured with, kept together so each step reads it by name."""

    thresholds: Sequence[float] | None
    target_precision: float
    min_spoken: int
    silent: list[int]


def evaluate(model: str | Path, data=None, split: str = "test", compare: str | Path | None = None,
             out_dir: str | Path | None = None, thresholds: Sequence[float] | None = None,
             target_precision: float = TARGET_PRECISION, silent_labels: Sequence[str] = ("background",), limit: int | None = None,
             progress: bool = True, negatives: Sequence[str | Path] = (), card: str | Path | ModelCard | None = None,
             compare_card: str | Path | ModelCard | None = None, threads: int | None = None,
             log: Callable[[str], None] | None = None, min_spoken: int = 100) -> dict:
    """Evaluate ``model`` on ``data`` and return (and with ``out_dir`` write) the report.

    ``data``: a run folder (its split.json, part ``split``), a split manifest .json, a train/val/test tree
    (folder ``split``) or plain class folders (every image); omitted, a run folder ``model`` uses its own split.
    Class folders are matched to the model's labels by name. ``negatives``: folders of photos that must not be
    announced (true label "none"); a data class folder with a negatives-like name (``negatives``, ``none``,
    ``not_a_note``, ...) unknown to the model counts as negatives too.

    Selective metrics count every announced negative as a wrong answer (precision) but measure coverage on
    note images only. ``compare``: a second model run on the same decoded images; ``accuracy_diff`` is
    top-1 of ``model`` minus top-1 of ``compare``, in percentage points.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if not 0 < target_precision <= 1:
        raise EdgetlError(f"target precision must be in (0, 1] (got {target_precision})")
    model = Path(model)
    if not model.exists():
        raise EdgetlError(f"model not found: {model}")
    pairs, data_desc, used_split = _resolve_data(data, split, model)
    main, other = _load_models(model, card, compare, compare_card, threads)
    gated = _gated_float(main, other, log) if other is not None else None
    entries, negative_folders = _labelled_entries(pairs, negatives, main, limit)
    index = {name: i for i, name in enumerate(main.labels)}
    silent = [index[name] for name in silent_labels if name in index]
    request = _Request(thresholds, target_precision, min_spoken, silent)
    scores = _score(main, [m for m in (other, gated) if m is not None], entries, data_desc, progress, log)
    report: dict = {"model": main.describe(), "data": data_desc, "split": used_split,
                    "negatives_folders": [str(Path(d)) for d in negatives], "negatives_classes": negative_folders}
    curve = _summarise(report, main, scores, request)
    if (scores.truth < 0).any():
        report["negatives"] = _negatives(report["selective"]["threshold"], main, scores, curve, request.silent)
    mistakes = _worst_mistakes(main, scores, request.silent, report)
    if other is not None:
        report["compare"] = _compare(report, main, other, scores, request)
    if gated is not None:
        report["effects"] = _effects(report, scores)
    if out_dir is not None:
        report["artefacts"] = _write(report, mistakes, Path(out_dir))
    return report


def _load_models(model: Path, card, compare, compare_card, threads: int | None) -> tuple[Predictor, Predictor | None]:
    """The model and, when asked, the one it is compared with; their labels must be the same set."""
    main = load_predictor(model, card, threads)
    other = load_predictor(compare, compare_card, threads) if compare is not None else None
    if other is not None and sorted(other.labels) != sorted(main.labels):
        raise EdgetlError(f"cannot compare: {other.path} has labels {other.labels} but {main.path} has {main.labels}")
    return main, other


def _labelled_entries(pairs: list[tuple[Path, str]], negatives: Sequence[str | Path], main: Predictor,
                      limit: int | None) -> tuple[list[tuple[Path, int]], list[str]]:
    """(path, label index or -1 for a negative) for every photo, and the data's class folders taken as negatives."""
    index = {name: i for i, name in enumerate(main.labels)}
    negative_paths = _negative_images(negatives)
    negative_folders = sorted({c for _, c in pairs if c not in index and c.lower() in NEGATIVE_NAMES})
    unknown = sorted({c for _, c in pairs if c not in index and c.lower() not in NEGATIVE_NAMES})
    if unknown:
        raise EdgetlError(f"class folder(s) {', '.join(unknown)} are not labels of {main.path.name} "
                          f"(its labels: {', '.join(main.labels)}); pass photos without a note as negatives")
    entries = [(p, index[c]) for p, c in pairs if c in index] + [(p, -1) for p, c in pairs if c not in index]
    seen = {p for p, _ in entries}
    entries += [(p, -1) for p in negative_paths if p not in seen]
    return [entries[i] for i in _subsample(len(entries), limit)], negative_folders


def _score(main: Predictor, others: list[Predictor], entries: list[tuple[Path, int]], data_desc: str, progress: bool,
           log: Callable[[str], None]) -> Scores:
    """Every model on the same decoded photos; the other models' columns put in the main model's label order."""
    from edgetl.progress import track

    bar = (lambda parts: track(parts, f"evaluating {main.path.name}", total=len(parts))) if progress else None
    scores = score([main, *others], entries, log=log, chunks=bar)
    if not len(scores):
        raise EdgetlError(f"none of the {len(entries)} images in {data_desc} could be read")
    for i, other in enumerate(others, start=1):
        scores.probs[i] = scores.probs[i][:, [other.labels.index(name) for name in main.labels]]
    return scores


def _summarise(report: dict, main: Predictor, scores: Scores, request: _Request) -> list[dict]:
    """Top-1, per-class figures and the selective curve (negatives in mind) into ``report``; returns the curve."""
    y, probs, silent = scores.truth, scores.probs[0], request.silent
    pos = y >= 0
    report.update(classification_report(y[pos], probs[pos], main.labels))
    report["unreadable"] = scores.unreadable
    sel = selective(y, probs, thresholds=request.thresholds, target_precision=request.target_precision, silent=silent,
                    min_spoken=request.min_spoken)
    # one row per distinct threshold (float steps can repeat one), each recomputed with negatives in mind
    curve = [_at_threshold(t, y, probs, silent) for t in sorted({row["threshold"] for row in sel["curve"]})]
    sel["curve"] = [{k: r[k] for k in ("threshold", "coverage", "precision", "spoken", "wrong")} for r in curve]
    sel["coverage_at_threshold"] = next((r["coverage"] for r in curve if r["threshold"] == sel["threshold"]), 0.0)
    sel["silent_labels"] = [main.labels[i] for i in silent]
    report["selective"] = sel
    if main.card is not None and main.card.announce_threshold is not None:
        report["card_threshold"] = _at_threshold(main.card.announce_threshold, y, probs, silent)
    return curve


def _negatives(threshold: float | None, main: Predictor, scores: Scores, curve: list[dict], silent: list[int]) -> dict:
    """How the photos without a note fared: announced at the chosen threshold, silent at top-1, what was said."""
    neg = scores.truth < 0
    pred_neg = predicted(scores.probs[0][neg])
    chosen = next((r for r in curve if r["threshold"] == threshold), None)
    return {
        "count": int(neg.sum()),
        "threshold": threshold,
        "false_announcements": chosen["false_announcements"] if chosen else None,
        "top1_silent": int((np.isin(pred_neg, silent) | (pred_neg == SILENT)).sum()),
        "top1_predictions": {main.labels[i] if i != SILENT else SILENT_LABEL: int((pred_neg == i).sum())
                             for i in np.unique(pred_neg)},
        "curve": [{"threshold": r["threshold"], "false_announcements": r["false_announcements"]} for r in curve],
    }


def _worst_mistakes(main: Predictor, scores: Scores, silent: list[int], report: dict) -> list[dict]:
    """The most confident wrong answers (with thumbnails for the gallery) into ``report``, worst first.

    A wrong answer is a wrong label for a note and anything spoken for a negative.
    """
    from edgetl.data.images import load_square_batch, resize_square

    probs = scores.probs[0]
    worst: list[tuple[float, int, dict]] = []  # min-heap of the most confident mistakes
    n_mistakes = 0
    for label, path, pred, p in zip(scores.truth, scores.paths, predicted(probs), probs):
        label, pred = int(label), int(pred)
        wrong = pred != label if label >= 0 else pred not in silent and pred != SILENT
        if not wrong:
            continue
        n_mistakes += 1
        conf = float(p.max())
        item = {"path": str(path), "true": main.labels[label] if label >= 0 else NONE_LABEL,
                "predicted": main.labels[pred] if pred != SILENT else SILENT_LABEL, "confidence": round(conf, 4)}
        if len(worst) < GALLERY_ITEMS or conf > worst[0][0]:
            entry = (conf, n_mistakes, item)
            heapq.heappush(worst, entry) if len(worst) < GALLERY_ITEMS else heapq.heapreplace(worst, entry)
    mistakes = [item for _, _, item in sorted(worst, key=lambda e: -e[0])]
    report["mistakes"] = {"count": n_mistakes, "worst": [dict(m) for m in mistakes]}
    squares, kept = load_square_batch([m["path"] for m in mistakes], main.size)  # only the few shown are read again
    return [{**mistakes[i], "image": resize_square(square, min(THUMB, main.size))} for square, i in zip(squares, kept)]


def _compare(report: dict, main: Predictor, other: Predictor, scores: Scores, request: _Request) -> dict:
    """The compared model's figures on the same photos, and how far the two agree."""
    y, probs, probs_b = scores.truth, scores.probs[0], scores.probs[1]
    pos = y >= 0
    other_report = classification_report(y[pos], probs_b[pos], main.labels)
    other_sel = selective(y, probs_b, thresholds=request.thresholds, target_precision=request.target_precision,
                          silent=request.silent, min_spoken=request.min_spoken)
    top_a, top_b = report["top1"], other_report["top1"]
    return {
        "model": other.describe(),
        "top1_model": top_a,
        "top1_compare": top_b,
        "accuracy_diff": round((top_a - top_b) * 100, 2) if top_a is not None and top_b is not None else None,
        "agreement": round(float((predicted(probs) == predicted(probs_b)).mean()), 4),
        "max_prob_diff": round(float(np.abs(probs - probs_b).max()), 4),
        "per_class": other_report["per_class"],
        "threshold": other_sel["threshold"],
        "coverage_at_threshold": _at_threshold(other_sel["threshold"], y, probs_b, request.silent)["coverage"]
        if other_sel["threshold"] is not None else 0.0,
    }


def _gated_float(main: Predictor, other: Predictor, log: Callable[[str], None]) -> Predictor | None:
    """The compared float run with the exported model's familiarity gate built in, when ``main`` is a gated
    export of it: the middle step that splits a difference into what the gate costs and what int8 costs."""
    gate_info = main.card.familiarity if main.card is not None else None
    if main.kind != "tflite" or other.kind != "keras" or not gate_info:
        return None
    from edgetl.export.gate import gated_model
    from edgetl.policy import DEFAULT_KEEP
    from edgetl.run import Run
    from edgetl.train.backbones import to_model_input
    from edgetl.train.familiarity import gate_for_run

    run = Run.open_model(other.path)
    net = other.net  # already loaded for the compared model: not read twice
    gate = gate_for_run(run, net, log=lambda m: log(f"float+gate: {m}"), keep=float(gate_info.get("keep", DEFAULT_KEEP)))
    if gate is None:
        return None
    gated = gated_model(net, gate, run.labels, run.background)

    def predict(images: np.ndarray, batch: int = 64) -> np.ndarray:
        return np.concatenate([gated(to_model_input(images[i : i + batch], run.mean, run.std), training=False).numpy()
                               for i in range(0, len(images), batch)])

    return Predictor(run.model_file, "keras+gate", list(run.labels), run.size, predict)


def _effects(report: dict, scores: Scores) -> dict:
    """float -> float with the gate -> int8 with the gate, on the same photos: each step's share of the difference.

    Top-1 counts a note the gate silenced as missed, as the exported model's own top-1 does.
    """
    y = scores.truth
    pos = y >= 0
    float_top1 = report["compare"]["top1_compare"]  # the compared float run, as _compare measured it
    gated_top1 = classification_report(y[pos], scores.probs[2][pos], report["classes"])["top1"]
    int8_top1 = report["top1"]

    def points(a, b):
        return None if a is None or b is None else round((a - b) * 100, 2)

    return {"float": float_top1, "float_gate": gated_top1, "exported": int8_top1,
            "gate_share_points": points(gated_top1, float_top1), "quantization_share_points": points(int8_top1, gated_top1),
            "total_points": points(int8_top1, float_top1)}


def _write(report: dict, mistakes: list[dict], out: Path) -> dict:
    from edgetl import gallery, plots
    from edgetl.atomic import write_json

    name = Path(report["model"]["path"]).name
    where = f"{report['split']} split" if report["split"] else "all images"
    files = {"evaluation": out / "evaluation.json", "confusion_matrix": out / "confusion_matrix.png",
             "misclassified": out / "misclassified.png", "selective": out / "selective.png"}
    plots.confusion_matrix(report["confusion"], report["classes"], files["confusion_matrix"],
                           title=f"{name}: confusion matrix ({where})")
    gallery.misclassified(mistakes, files["misclassified"], title=f"{name}: mistakes", total=report["mistakes"]["count"])
    fa = [r["false_announcements"] for r in report["negatives"]["curve"]] if "negatives" in report else None
    gallery.selective_curve(report["selective"], files["selective"], title=f"{name}: speak only above a threshold",
                            false_announcements=fa)
    artefacts = {k: str(v) for k, v in files.items()}
    write_json(files["evaluation"], {**report, "artefacts": artefacts})
    return artefacts


# ---- text --------------------------------------------------------------------------------------------------


def _pct(x) -> str:
    return "  n/a" if x is None else f"{100 * x:5.1f}%"


def _signed(points) -> str:
    return "n/a" if points is None else f"{points:+.1f} points"


def format_report(report: dict) -> str:
    """A compact table for the terminal."""
    m = report["model"]
    lines = [f"model   {m['path']} ({m['kind']}, {m['size']} px, {len(m['labels'])} labels)"]
    extra = []
    if "negatives" in report:
        extra.append(f"+{report['negatives']['count']} negatives")
    if report.get("unreadable"):
        extra.append(f"{len(report['unreadable'])} unreadable skipped")
    where = f" [{report['split']}]" if report.get("split") else ""
    lines.append(f"data    {report['data']}{where}: {report['count']} images" + (f" ({', '.join(extra)})" if extra else ""))
    lines.append(f"top-1   {_pct(report['top1']).strip()}" + (f" (answered {report['answered']}, silent {report['silent']}: "
                                                               "a silent note counts as missed)" if report.get("silent") else ""))
    width = max([5] + [len(c) for c in report["per_class"]])
    lines.append(f"  {'class':<{width}}  precision  recall     f1  support")
    for c, r in report["per_class"].items():
        lines.append(f"  {c:<{width}}     {_pct(r['precision'])}  {_pct(r['recall'])}  {_pct(r['f1'])}  {r['support']:>7}")
    sel = report["selective"]
    if sel["threshold"] is not None:
        lines.append(f"speak   at confidence >= {sel['threshold']:.2f} precision reaches {100 * sel['target_precision']:.1f}% "
                     f"with coverage {_pct(sel['coverage_at_threshold']).strip()}")
    else:
        lines.append(f"speak   no threshold reaches {100 * sel['target_precision']:.1f}% precision: the model should not speak")
    if "card_threshold" in report:
        ct = report["card_threshold"]
        lines.append(f"card    threshold {ct['threshold']:.2f}: precision {_pct(ct['precision']).strip()}, "
                     f"coverage {_pct(ct['coverage']).strip()}, {ct['wrong']} wrong spoken")
    if "negatives" in report:
        n = report["negatives"]
        said = "n/a (no threshold)" if n["false_announcements"] is None else f"{n['false_announcements']} of {n['count']}"
        lines.append(f"negatives announced at the threshold: {said}; top-1 silent for {n['top1_silent']} of {n['count']}")
    if report.get("mistakes", {}).get("count"):
        worst = report["mistakes"]["worst"][0]
        lines.append(f"mistakes {report['mistakes']['count']}; worst: {Path(worst['path']).name} {worst['true']} -> "
                     f"{worst['predicted']} at {worst['confidence']:.2f}")
    if "compare" in report:
        c = report["compare"]
        diff = "n/a" if c["accuracy_diff"] is None else f"{c['accuracy_diff']:+.2f} points"
        lines.append(f"compare {c['model']['path']} ({c['model']['kind']}): top-1 {_pct(c['top1_compare']).strip()}, "
                     f"difference {diff}, agreement {_pct(c['agreement']).strip()}")
    if "effects" in report:
        e = report["effects"]
        lines.append(f"effects float {_pct(e['float']).strip()} -> with the gate {_pct(e['float_gate']).strip()} "
                     f"(gate {_signed(e['gate_share_points'])}) -> as exported {_pct(e['exported']).strip()} "
                     f"(quantization {_signed(e['quantization_share_points'])})")
    for k, v in report.get("artefacts", {}).items():
        lines.append(f"wrote   {v}")
    return "\n".join(lines)
