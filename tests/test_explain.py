"""`edgetl explain`: Grad-CAM that points at the note, feature-map grids, the worst-mistakes gallery, clean errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgetl.errors import EdgetlError

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "EDGETL_PROGRESS": "0", "MPLBACKEND": "Agg"}


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgetl.cli", "explain", *args], capture_output=True, text=True,
                          cwd=ROOT, env=ENV, timeout=timeout)


def decode_png(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, f"{path} does not decode as an image"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return img


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not _tf_noise(line)]
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def _tf_noise(line: str) -> bool:
    """TensorFlow's C++ start-up chatter on stderr (CUDA probing), which is not ours to print."""
    return line.startswith(("I0000", "E0000", "W0000", "WARNING: All log messages"))


def _sample_images(data: Path, per_class: int = 1) -> list[Path]:
    return [p for d in sorted(q for q in data.iterdir() if q.is_dir()) for p in sorted(d.glob("*.jpg"))[:per_class]]


# ---- Grad-CAM looks at the note ------------------------------------------------------------------------------


@pytest.mark.slow  # trains learned_run (about a minute) unless another test already did
def test_gradcam_heat_concentrates_inside_the_note_box(learned_run):
    """On held-out synthetic photos, the heat-map of the predicted class sits on the note, not on the scene.

    Fair normalisation: the *mean heat per pixel* inside the note's ground-truth box is compared with the
    mean heat per pixel outside it, so a big box gets no credit for its size (equivalently: the box's share
    of the heat mass beats its share of the image area). Images whose box leaves < 10 % of the image
    outside are skipped: there is no "outside" to compare with.

    A heat-map that ignores the image and just favours the centre would pass that check too (synthetic
    notes sit near the middle), so a second check asks that the heat follows *this* photo's note: its
    inside-minus-outside contrast is higher against its own box than against the other test photos' boxes
    (a fixed, image-independent heat-map scores 50 % on average here).
    """
    from edgetl.data.images import read_rgb
    from edgetl.explain import load_run

    run = learned_run.run
    notes = run.parent / "notes"
    annotations = json.loads((notes / "annotations.json").read_text())
    boxes = {item["path"]: item["box"] for item in annotations["images"] if item["label"] != "background"}
    model = load_run(run)
    scale = model.size / annotations["size"]
    test_rows = [row for row in json.loads((run / "split.json").read_text())["items"] if row["split"] == "test"]
    keys = [Path(row["path"]).resolve().relative_to(notes.resolve()).as_posix() for row in test_rows]
    chosen = [(Path(row["path"]), boxes[key]) for row, key in zip(test_rows, keys) if boxes.get(key) is not None]
    assert len(chosen) >= 30, f"only {len(chosen)} annotated test images"

    squares = np.stack([model.square(read_rgb(path)) for path, _ in chosen])
    predicted = model.predict(squares).argmax(axis=1)
    heats = model.grad_cam(squares, predicted)
    assert heats.shape == (len(chosen), model.size, model.size)
    assert heats.min() >= 0 and heats.max() <= 1

    centres = np.arange(model.size) + 0.5  # pixel centres, in the same units as the box
    masks = []
    for _, (x0, y0, x1, y1) in chosen:
        inside_x = (centres >= x0 * scale) & (centres <= x1 * scale)
        inside_y = (centres >= y0 * scale) & (centres <= y1 * scale)
        masks.append(inside_y[:, None] & inside_x[None, :])
    usable = [i for i, m in enumerate(masks) if 0 < m.mean() <= 0.9]
    assert len(usable) >= 30

    def contrast(heat: np.ndarray, mask: np.ndarray) -> float:
        return float(heat[mask].mean() - heat[~mask].mean())

    own = np.array([contrast(heats[i], masks[i]) for i in usable])
    concentrated = float((own > 0).mean())
    mass_share = np.array([heats[i][masks[i]].sum() / max(heats[i].sum(), 1e-9) for i in usable])
    area_share = np.array([masks[i].mean() for i in usable])
    follows = np.mean([np.mean([own[a] > contrast(heats[i], masks[j]) for j in usable if j != i])
                       for a, i in enumerate(usable)])
    print(f"\nGrad-CAM on {len(usable)} held-out note images ({len(chosen) - len(usable)} skipped, box >= 90 % of the image): "
          f"mean heat inside the box > outside on {concentrated:.1%}; median heat-mass share in box "
          f"{np.median(mass_share):.1%} vs median box area share {np.median(area_share):.1%}; own box beats "
          f"other photos' boxes {follows:.1%} of the time (image-independent heat: 50 %)")
    assert concentrated > 0.5, f"heat concentrated on the note on only {concentrated:.1%} of test images"
    assert follows > 0.6, f"heat follows the photo's own note only {follows:.1%} of the time"


# ---- the command ---------------------------------------------------------------------------------------------


def test_cli_writes_overlays_feature_grid_and_mistakes_gallery(tiny_run, synth_data, tmp_path):
    from edgetl.explain import OVERLAY_SIZE

    images = _sample_images(synth_data)[:2]
    out = tmp_path / "explained"
    proc = run_cli(str(tiny_run.run), *map(str, images), "--layers", "--misclassified", str(synth_data), "--top", "5",
                   "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    labels = (tiny_run.run / "labels.txt").read_text().split()
    assert [Path(e["path"]) for e in result["images"]] == images
    for entry, image in zip(result["images"], images):
        assert entry["true"] == image.parent.name  # a photo in a label-named folder has a known class
        assert entry["predicted"] in labels and entry["top"][0]["label"] == entry["predicted"]
        assert len(entry["top"]) == 3
        assert [s["score"] for s in entry["top"]] == sorted((s["score"] for s in entry["top"]), reverse=True)
        overlay = decode_png(Path(entry["heatmap"]))
        assert overlay.shape[:2] == (OVERLAY_SIZE[1], OVERLAY_SIZE[0])
        assert overlay.std() > 10  # a picture, not a blank page
        grid = decode_png(Path(entry["layers"]))
        assert grid.shape[0] > 600 and grid.shape[1] > 900
    mistakes = result["misclassified"]
    summary = json.loads((out / "misclassified.json").read_text())
    assert summary["mistakes"] == mistakes["mistakes"] and summary["images"] == 7 * 14
    assert summary["top1"] == pytest.approx(1 - summary["mistakes"] / summary["images"], abs=1e-4)
    if mistakes["mistakes"]:  # a random-init 96 px model is far from perfect on all 98 images
        assert decode_png(Path(mistakes["gallery"])).std() > 10
        worst = mistakes["worst"]
        assert len(worst) == min(5, mistakes["mistakes"]) == mistakes["shown"]
        assert all(w["true"] != w["predicted"] for w in worst)
        assert [w["confidence"] for w in worst] == sorted((w["confidence"] for w in worst), reverse=True)
    assert json.loads((out / "explain.json").read_text())["images"][0]["heatmap"] == result["images"][0]["heatmap"]
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_feature_grid_spans_early_to_late_layers(tiny_run, synth_data, tmp_path):
    from edgetl.data.images import read_rgb
    from edgetl.explain import feature_grid, gradcam_layer, load_run

    model = load_run(tiny_run.run)
    image = _sample_images(synth_data)[0]
    result = feature_grid(model, read_rgb(image), tmp_path / "grid.png", layers=6, channels=8)
    decode_png(Path(result["path"]))
    shapes = [layer["shape"] for layer in result["layers"]]
    assert len(shapes) == 6
    assert all(len(layer["channels"]) == min(8, layer["shape"][2]) for layer in result["layers"])
    sides = [s[0] for s in shapes]
    assert sides == sorted(sides, reverse=True) and sides[0] > sides[-1]  # from fine early maps to coarse late ones
    assert result["layers"][-1]["name"] == gradcam_layer(model.model).name


def test_grad_cam_targets_the_activation_feeding_pool(tiny_run, synth_data):
    from edgetl.data.images import read_rgb
    from edgetl.explain import grad_cam, gradcam_layer, load_run

    model = load_run(tiny_run.run)
    target = gradcam_layer(model.model)
    pool = model.model.get_layer("pool")
    assert target.output is pool.input and len(target.output_shape) == 4
    square = model.square(read_rgb(_sample_images(synth_data)[0]))
    heat = grad_cam(model.model, model.model_input(square), class_index=1)
    assert heat.shape == (model.size, model.size) and heat.dtype == np.float32
    assert heat.min() >= 0 and heat.max() <= 1
    assert heat.max() == 0 or heat.max() > 0.9  # scaled to its peak (before upsampling), or all zero
    batch = model.grad_cam(square[None], [1])[0]
    np.testing.assert_allclose(batch, heat, atol=1e-5)


def test_no_mistakes_writes_no_gallery_and_says_so(tiny_run, synth_data, tmp_path):
    """A data set the model gets entirely right: the summary says 0 mistakes and no gallery PNG exists."""
    from edgetl.data.images import read_rgb
    from edgetl.explain import format_result, load_run, misclassified_gallery

    model = load_run(tiny_run.run)
    images = _sample_images(synth_data, per_class=14)
    predicted = model.predict(np.stack([model.square(read_rgb(p)) for p in images])).argmax(axis=1)
    right = [p for p, q in zip(images, predicted) if model.labels[q] == p.parent.name]
    assert right, "the tiny run gets none of its own training images right"
    data = tmp_path / "right"
    for p in right:
        (data / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, data / p.parent.name / p.name)
    out = tmp_path / "out"
    out.mkdir()
    (out / "misclassified_gradcam.png").write_bytes(b"stale gallery from an earlier model")
    summary = misclassified_gallery(model, data, out, log=lambda m: None)
    assert summary["mistakes"] == 0 and summary["images"] == len(right) and summary["top1"] == 1.0
    assert summary["gallery"] is None and summary["worst"] == []
    assert not (out / "misclassified_gradcam.png").exists()
    assert json.loads((out / "misclassified.json").read_text())["mistakes"] == 0
    text = format_result({"images": [], "misclassified": summary, "out": str(out)})
    assert f"no misclassified images among {len(right)}" in text


# ---- bad input: one line, no traceback -----------------------------------------------------------------------


def test_missing_run_unreadable_image_and_nothing_to_do_are_one_line_errors(tiny_run, synth_data, tmp_path):
    image = _sample_images(synth_data)[0]
    line = one_line_error(run_cli(str(tmp_path / "no-such-run"), str(image), timeout=120))
    assert "run not found" in line and "no-such-run" in line

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    line = one_line_error(run_cli(str(tiny_run.run), str(image), str(broken), "--out", str(out), timeout=120))
    assert "broken.jpg" in line and "cannot decode" in line
    assert not out.exists()  # every image is read before anything is written

    line = one_line_error(run_cli(str(tiny_run.run), str(tmp_path / "missing.jpg"), timeout=120))
    assert "missing.jpg" in line and "no such file" in line

    line = one_line_error(run_cli(str(tiny_run.run), timeout=120))
    assert "nothing to explain" in line


def test_label_mismatches_are_clear_errors(tiny_run, synth_data, tmp_path):
    from edgetl.explain import explain, misclassified_gallery

    run = tmp_path / "run"
    shutil.copytree(tiny_run.run, run)
    (run / "labels.txt").write_text("10\n20\n50\n")
    with pytest.raises(EdgetlError) as exc:
        explain(run, [_sample_images(synth_data)[0]], out=tmp_path / "out")
    assert "lists 3 labels" in str(exc.value) and "\n" not in str(exc.value)

    foreign = tmp_path / "foreign"
    (foreign / "euro_5").mkdir(parents=True)
    shutil.copy(_sample_images(synth_data)[0], foreign / "euro_5" / "a.jpg")
    with pytest.raises(EdgetlError) as exc:
        misclassified_gallery(tiny_run.run, foreign, tmp_path / "out2")
    message = str(exc.value)
    assert "euro_5" in message and "not labels of" in message and "\n" not in message
    assert not (tmp_path / "out2").exists()
