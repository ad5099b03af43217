"""`edgetl report`: one offline HTML page per run, built from real runs and exports, opened in real headless Chromium."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from edgetl.errors import EdgetlError
from edgetl.report import build_report, report
from edgetl.report_html import HEADER_COLOUR

CHROMIUM_TIMEOUT = 90


def _copy_run(run: Path, dest: Path) -> Path:
    """The run's record without its model: the report reads only the files beside model.keras."""
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("model.keras", ".*"))
    return dest


def _assert_self_contained(page: str) -> None:
    """Opens offline and loads nothing: every image embedded, every link in-page, no script, alt text on every image."""
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    for attr, value in re.findall(r'\b(src|href)\s*=\s*"([^"]*)"', page):
        assert value.startswith("data:image/png;base64,") if attr == "src" else value.startswith("#"), (attr, value[:80])
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", page.replace("<!DOCTYPE html>", ""), re.I)
    imgs = re.findall(r"<img\b[^>]*>", page)
    assert imgs and all(re.search(r'alt="[^"]{20,}"', tag) for tag in imgs)
    for uri in re.findall(r'src="data:image/png;base64,([^"]+)"', page):
        with Image.open(io.BytesIO(base64.b64decode(uri))) as im:
            im.load()
            assert min(im.size) > 50


def test_report_without_exports_has_every_section(tiny_run, tmp_path):
    empty = tmp_path / "no-models"
    empty.mkdir()
    out = report(tiny_run.run, out=tmp_path / "pages", export_dir=empty, latency=False)
    assert out == tmp_path / "pages" / "report.html"  # --out is a folder, like every command's
    page = out.read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert "<title>edgetl report: tiny</title>" in page and "<h1>edgetl report: tiny</h1>" in page
    for heading in ("Summary", "Configuration", "Data", "Training curves", "Confusion matrix", "Per-class metrics",
                    "Exported models", "Misclassified images"):
        assert re.search(rf'<h2 id="[a-z-]+-h">{heading}</h2>', page), heading
    assert page.count("<img ") == 3  # curves, confusion matrix, mistakes gallery
    assert "No exported model of this run was found" in page and str(empty) in page
    # numbers come from the run's own files
    metrics = json.loads((tiny_run.run / "metrics.json").read_text())
    assert f"{100 * metrics['test']['top1']:.1f}%" in page
    for label in tiny_run.classes:
        assert f'<th scope="row">{label}</th>' in page
    counts = tiny_run.config["counts"]
    total = sum(sum(per_class.values()) for per_class in counts.values())
    assert f'<td class="num">{total}</td></tr></tbody>' in page
    assert 'scope="col"' in page and "<caption>" in page


def test_default_output_goes_into_the_run_and_text_from_files_is_escaped(tiny_run, tmp_path):
    run = _copy_run(tiny_run.run, tmp_path / "a<b>&c")
    config = json.loads((run / "config.json").read_text())
    config["data"] = ["/data/<script>alert('x')</script>"]
    (run / "config.json").write_text(json.dumps(config))
    built = build_report(run, export_dir=tmp_path, latency=False)  # tmp_path holds no cards: nothing found
    path = built.save()
    assert path == run / "report.html" and oct(path.stat().st_mode & 0o044) == oct(0o044 & ~_umask())
    page = path.read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert "<title>edgetl report: a&lt;b&gt;&amp;c</title>" in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert not list(run.glob(".report.html.*"))  # written atomically: no temp file left behind
    assert built.summary()["exports"] == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_bad_input_is_one_clear_error(tmp_path, tiny_run):
    with pytest.raises(EdgetlError, match="run folder not found"):
        report(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgetlError, match="not an edgetl run"):
        report(tmp_path / "empty")
    unfinished = _copy_run(tiny_run.run, tmp_path / "unfinished")
    (unfinished / "metrics.json").unlink()
    with pytest.raises(EdgetlError, match="has not finished"):
        report(unfinished)
    with pytest.raises(EdgetlError, match="export folder not found"):
        report(tiny_run.run, out=tmp_path / "r", export_dir=tmp_path / "nowhere")
    with pytest.raises(EdgetlError, match="--out is a folder"):
        report(tiny_run.run, out=tmp_path / "r.html", latency=False)
    proc = subprocess.run([sys.executable, "-m", "edgetl.cli", "report", str(tmp_path / "missing")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: run folder not found: {tmp_path / 'missing'}"]


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is not installed (CI installs it: .ci/run); cannot check the page renders")
    return path


def _chromium_run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            f"--user-data-dir={profile}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT,
                          env={**os.environ, "HOME": str(profile)})


def test_report_renders_in_headless_chromium(tiny_run, tmp_path):
    browser = _chromium()
    empty = tmp_path / "no-models"
    empty.mkdir()
    page = report(tiny_run.run, out=tmp_path / "tiny report", export_dir=empty, latency=False)
    url = page.resolve().as_uri()
    shot = tmp_path / "shot.png"
    width, height = 1280, 4000
    proc = _chromium_run(browser, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={width},{height}", url)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]

    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape == (height, width, 3)
    assert pixels.std() > 20  # not a blank page
    assert len(np.unique(pixels.reshape(-1, 3)[::7], axis=0)) > 200  # text, tables and embedded plots
    band = np.array([int(HEADER_COLOUR[i : i + 2], 16) for i in (1, 3, 5)])
    top = pixels[5:60, 5:width - 5]
    in_band = np.abs(top - band).max(axis=2) <= 3
    assert in_band.mean() > 0.6, "the header band is not at the top of the page"
    white_text = (top.min(axis=2) >= 235).sum()
    assert white_text > 300, "no title text drawn in the header band"
    # matplotlib's first line colour (C0, #1f77b4) appears only inside the embedded training curves
    assert (np.abs(pixels - np.array([31, 119, 180])).max(axis=2) <= 10).sum() > 100, "embedded plots did not render"

    dom = _chromium_run(browser, tmp_path / "profile", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<title>edgetl report: tiny</title>" in dom.stdout
    assert "<h1>edgetl report: tiny</h1>" in dom.stdout


@pytest.mark.slow  # learned_run trains ImageNet MobileNetV2 (about a minute) unless another test already did
def test_export_section_measures_int8_and_fp16(learned_run, learned_export, tmp_path):
    result, models, _ = learned_export
    built = build_report(learned_run.run, export_dir=models, latency_runs=15, latency_warmup=2)
    rows = {r["quantization"]: r for r in built.exports}
    assert sorted(rows) == ["fp16", "int8"]
    float_top1 = learned_run.metrics["test"]["top1"]
    for quant, row in rows.items():
        card = json.loads(Path(result.files[quant]["card"]).read_text())
        assert "error" not in row, row.get("error")
        assert row["count"] == learned_run.metrics["test"]["count"]
        assert row["top1"] == card["accuracy"]["top1"]  # same images, same model file as export measured
        assert row["top1_diff_points"] == pytest.approx((row["top1"] - float_top1) * 100, abs=0.01)
        # gated exports vs the plain float model of a small fixture: the gate silences a share of answers by
        # design and int8 may flip near-ties; a broken export agrees at chance (about 1 in 7)
        assert row["agreement"] >= 0.7 and row["agreement_count"] == row["count"]
        assert row["latency"]["p50_ms"] > 0
        assert row["announce_threshold"] == card["announce_threshold"]
        assert row["details"]["size_bytes"] == card["size_bytes"]
    assert rows["int8"]["details"]["int8_only"] is True
    page = built.html()
    _assert_self_contained(page)
    assert "Agreement with float" in page and f"{Path(result.files['int8']['model']).name}" in page


@pytest.mark.slow  # learned_run trains ImageNet MobileNetV2 (about a minute) unless another test already did
def test_cli_finds_exports_beside_the_working_folder_without_tensorflow(learned_run, learned_export, tmp_path):
    """`edgetl export runs/notes` records a relative source run and writes ./models; report finds it from there."""
    result, _, _ = learned_export
    run = _copy_run(learned_run.run, tmp_path / "runs" / "notes")
    models = tmp_path / "models"
    models.mkdir()
    model = Path(result.files["int8"]["model"])
    shutil.copy(model, models / model.name)
    card = json.loads(Path(result.files["int8"]["card"]).read_text())
    card["source_run"] = "runs/notes"
    (models / model.with_suffix(".json").name).write_text(json.dumps(card))
    # as if trained with `edgetl train data/notes` from another folder: predictions.csv paths are relative
    with open(run / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["path"] = str(Path("elsewhere", "notes", *Path(row["path"]).parts[-2:]))
    with open(run / "predictions.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    script = textwrap.dedent("""
        import sys
        sys.modules["tensorflow"] = None  # the report must not need TensorFlow
        sys.modules["tf_keras"] = None
        sys.argv = ["edgetl", "report", "runs/notes", "--no-latency", "--json"]
        from edgetl.cli import main
        main()
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "EDGETL_PROGRESS": "0", "MPLBACKEND": "Agg",
                               "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert Path(summary["report"]) == Path("runs/notes/report.html") and (run / "report.html").is_file()
    assert [e["quantization"] for e in summary["exports"]] == ["int8"]
    assert summary["exports"][0]["agreement"] >= 0.7 and "p50_ms" not in summary["exports"][0]
    assert "--no-latency" in summary["latency_note"]
    assert summary["mistakes"] == 0 or summary["gallery"] == "thumbnail"  # photos found through split.json
    _assert_self_contained((run / "report.html").read_text(encoding="utf-8"))


def test_gradcam_gallery_from_explain(tiny_run, tmp_path):
    """--gradcam borrows `edgetl.explain`'s heat-map gallery of the float model's worst mistakes."""
    built = build_report(tiny_run.run, export_dir=tmp_path, latency=False, gradcam=True)
    assert built.gallery_note is None
    if not built.mistakes:
        pytest.skip("the tiny run made no mistakes on its test split, so there is nothing to explain")
    assert built.gallery_kind == "heat-map"
    page = built.html()
    _assert_self_contained(page)
    assert "Grad-CAM heat-map" in page


def test_the_threshold_column_says_when_the_floor_or_the_fallback_set_it():
    from edgetl.report_html import _threshold_text

    floor = {"announce_threshold": 0.9, "card_accuracy": {"threshold_rule": "floor", "validation_threshold": 0.8}}
    assert _threshold_text(floor) == "0.90 (the floor; validation: 0.80)"
    assert _threshold_text({"announce_threshold": 0.91, "card_accuracy": {"threshold_rule": "as measured"}}) == "0.91 (as measured)"
    assert _threshold_text({"announce_threshold": 0.93, "card_accuracy": {"threshold_rule": "one more wrong answer"}}) == "0.93"
    assert _threshold_text({"announce_threshold": None, "card_accuracy": {"top1": 0.9}}) == "none"
    assert _threshold_text({"announce_threshold": None}) == "n/a"
