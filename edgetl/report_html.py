"""The HTML of `edgetl report`: one self-contained page rendered from a `RunReport` (edgetl.report gathers it).

Images are embedded as data URIs, the style is inline, there is no script, and a Content Security Policy
forbids every network load, so the page opens the same offline. Every picture's numbers are also a table,
and tables have captions and header scopes for screen readers. Nothing here reads a model or a photo.
"""

from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path
from typing import Sequence

import edgetl

# `rep` is an edgetl.report.RunReport and `run` its RunFiles: named in annotations only, never imported
# (report imports this module to render, not the other way round).

SPLIT_ORDER = ("train", "val", "test")


def utc_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


def percent(x) -> str:
    return "n/a" if x is None else f"{100 * float(x):.1f}%"


HEADER_COLOUR = "#12355b"  # the header band; tests look for it in a browser screenshot

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


def _num(x, digits: int = 2) -> str:
    return "n/a" if x is None else f"{float(x):.{digits}f}"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _backbone_text(run: RunFiles) -> str:
    b = run.backbone
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
    facts = [("Run folder", str(run.path)), ("Finished", utc_time(run.finished)), ("Backbone", _backbone_text(run)),
             ("Classes", f"{len(classes)}: {', '.join(map(str, classes))}"),
             ("Test top-1", f"{percent(test.get('top1'))} on {test.get('count', 0)} images"),
             ("Validation top-1", f"{percent(val.get('top1'))} on {val.get('count', 0)} images"),
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


def _data_section(rep: RunReport) -> str:
    run = rep.run
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
    if rep.unreadable_photos is not None:
        body += _note(f"{rep.unreadable_photos} unreadable image(s) were skipped; they are listed in {run.unreadable_file}.")
    return _section("data", "Data", body)


def _curves_section(rep: RunReport) -> str:
    run, png = rep.run, rep.figures.get("training_curves.png")
    parts = []
    if png is not None:
        parts.append(_figure(png, "Training curves: loss (left) and accuracy (right) per epoch, for the "
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
                         percent(last.get("accuracy")) if _is_number(last.get("accuracy")) else "n/a",
                         f"{percent(best[0])} (epoch {best[1]})" if best else "n/a"])
        parts.append(_table("Training stages (history.csv)", ["stage", "epochs", "last loss", "last accuracy",
                                                               "best validation accuracy"], rows))
    return _section("curves", "Training curves", "".join(parts))


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return value not in ("", None) and float(value) == float(value)


def _confusion_section(rep: RunReport) -> str:
    run, png = rep.run, rep.figures.get("confusion_matrix.png")
    split = run.report_split
    parts = []
    if png is not None:
        parts.append(_figure(png, f"Confusion matrix of the float model on the {split or 'held-out'} split: "
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
    rows = [[c, percent(m.get("precision")), percent(m.get("recall")), percent(m.get("f1")), m.get("support", 0)]
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
                     f"{r['input_dtype']} → {r['output_dtype']}", percent(r.get("top1")),
                     "n/a" if diff is None else f"{diff:+.2f}", percent(r.get("agreement")),
                     "n/a" if not lat else f"{lat['p50_ms']:.2f}",
                     _threshold_text(r), percent((r.get("card_accuracy") or {}).get("coverage_at_threshold")),
                     ops, gpu])
    split = next((r["split"] for r in rep.exports if r.get("split")), rep.run.report_split)
    body = _table(f"Each export measured on the run's {split} split, against the float model",
                  ["quantization", "file", "size", "input → output", "top-1", "top-1 change (points)",
                   "agreement with float", "latency p50 (ms)", "announce threshold", "coverage at threshold",
                   "ops", "GPU delegate"], rows, numeric_from=2)
    body += ('<p>“Agreement with float” is the share of images on which the export’s top-1 equals the float '
             "model’s (predictions.csv). The announce threshold comes from the model card: the lowest confidence "
             "whose precision on held-out images reached the target; “coverage” is the share of notes it speaks "
             "on, as measured at export time. The card never takes less than export’s floor (--min-threshold), because "
             "validation photos come from the photographers the model was trained on. An empty threshold means no "
             "confidence was safe enough.</p>")
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
    """The card's announce threshold and, when validation did not set it alone, why; "none" when export measured
    it and no confidence was safe enough."""
    if row.get("announce_threshold") is None:
        return "none" if row.get("card_accuracy") else "n/a"
    text = f"{float(row['announce_threshold']):.2f}"
    accuracy = row.get("card_accuracy") or {}
    if accuracy.get("threshold_rule") == "floor":
        return text + f" (the floor; validation: {float(accuracy['validation_threshold']):.2f})"
    return text + (" (as measured)" if accuracy.get("threshold_rule") == "as measured" else "")


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
        rows = [[Path(m["path"]).name, m["true"], m["predicted"], percent(m["confidence"])] for m in rep.mistakes[:50]]
        shown = f"the {len(rows)} most confident of {total}" if total > len(rows) else f"all {total}"
        parts.append(_table(f"Mistakes, {shown}", ["file", "true", "predicted", "confidence"], rows, numeric_from=3))
    return _section("mistakes", "Misclassified images", "".join(parts))


def render(rep: RunReport) -> str:
    """The report as one HTML document: inline style, embedded images, no script, no network."""
    run = rep.run
    test_top1 = (run.metrics.get("test") or {}).get("top1")
    subtitle = f"{utc_time(run.finished)} · {_backbone_text(run)} · test top-1 {percent(test_top1)}"
    sections = [("summary", "Summary"), ("config", "Configuration"), ("data", "Data"), ("curves", "Training curves"),
                ("confusion", "Confusion matrix"), ("per-class", "Per-class metrics"), ("exports", "Exported models"),
                ("mistakes", "Misclassified images")]
    nav = "".join(f'<li><a href="#{a}">{_e(t)}</a></li>' for a, t in sections)
    body = "".join([_summary_section(rep), _config_section(run), _data_section(rep), _curves_section(rep),
                    _confusion_section(rep), _per_class_section(run), _exports_section(rep), _gallery_section(rep)])
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
