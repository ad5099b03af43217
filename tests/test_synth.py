"""The embedded synthetic data set and test video: deterministic, annotated, learnable, robust to bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgetl.data.folders import scan
from edgetl.data.images import read_rgb
from edgetl.data.synth import (BACKGROUND_LABEL, DEFAULT_DENOMINATIONS, make_dataset, make_video,
                               render_foreign_note, render_note)
from edgetl.errors import EdgetlError

SHARED_SCANS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "inr-scans"
NOTE_CLASSES = [str(d) for d in DEFAULT_DENOMINATIONS]


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "notes"
    summary = make_dataset(out, per_class=12, size=96, seed=3, progress=False)
    assert summary["out"] == str(out)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _annotations(root: Path) -> list[dict]:
    return json.loads((root / "annotations.json").read_text())["images"]


def _chroma(pixels: np.ndarray) -> np.ndarray:
    """Mean colour with brightness divided out (lighting in the pictures varies a lot)."""
    m = pixels.reshape(-1, 3).astype(np.float64).mean(axis=0)
    return m / max(m.sum(), 1e-9)


def _quad_mask(shape, quad) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(quad)).astype(np.int32)], 1)
    return mask.astype(bool)


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path, small_set):
    again = make_dataset(tmp_path / "again", per_class=12, size=96, seed=3, progress=False)
    other = make_dataset(tmp_path / "other", per_class=12, size=96, seed=4, progress=False)
    first, second, third = _files(small_set), _files(Path(again["out"])), _files(Path(other["out"]))
    assert first == second
    assert first.keys() == third.keys()
    changed = [k for k in first if k.endswith(".jpg") and first[k] != third[k]]
    assert len(changed) == sum(k.endswith(".jpg") for k in first)


def test_class_folders_counts_and_image_size(small_set):
    data = scan(small_set)
    assert data.classes == NOTE_CLASSES + [BACKGROUND_LABEL]
    assert data.counts() == {c: 12 for c in data.classes}
    for sample in data.samples[::7]:
        img = read_rgb(sample.path)
        assert img.shape == (96, 96, 3) and img.dtype == np.uint8
        assert img.std() > 5  # a scene, not a flat fill
    assert not [p for p in small_set.parent.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_annotations_place_each_note_inside_the_image(small_set):
    items = _annotations(small_set)
    assert len(items) == 7 * 12
    for it in items:
        assert (small_set / it["path"]).is_file()
        assert it["path"].split("/")[0] == it["label"]
        if it["label"] == BACKGROUND_LABEL:
            assert it["quad"] is None and it["box"] is None
            continue
        x0, y0, x1, y1 = it["box"]
        assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 96
        assert (x1 - x0) * (y1 - y0) >= 0.04 * 96 * 96  # a note fills a fair part of the picture
        quad = np.asarray(it["quad"], np.float32)
        assert quad.shape == (4, 2)
        assert 0.6 <= it["visible"] <= 1.0
        assert cv2.contourArea(quad) > 0 or cv2.contourArea(quad[::-1]) > 0


def test_notes_are_where_the_annotations_say_and_classes_differ_by_colour(small_set):
    """Nearest centroid on the colour inside each quad, centroids from the flat drawn notes.

    Inside the quad this must be far better than chance (1/6); outside the box it must not be, which
    shows the note really sits in its annotated place.
    """
    rng = np.random.default_rng(0)
    reference = np.stack([
        _chroma(np.concatenate([render_note(c, rng, face, 160).reshape(-1, 3) for face in ("front", "back")]))
        for c in NOTE_CLASSES
    ])
    inside_hits, outside_hits, n = 0, 0, 0
    for it in _annotations(small_set):
        if it["quad"] is None:
            continue
        img = read_rgb(small_set / it["path"])
        inside = _quad_mask(img.shape, it["quad"])
        x0, y0, x1, y1 = (int(round(v)) for v in it["box"])
        outside = np.ones(img.shape[:2], bool)
        outside[max(0, y0 - 2):y1 + 2, max(0, x0 - 2):x1 + 2] = False
        guess_in = NOTE_CLASSES[int(((reference - _chroma(img[inside])) ** 2).sum(1).argmin())]
        inside_hits += guess_in == it["label"]
        if outside.sum() > 30:
            guess_out = NOTE_CLASSES[int(((reference - _chroma(img[outside])) ** 2).sum(1).argmin())]
            outside_hits += guess_out == it["label"]
        n += 1
    assert inside_hits / n >= 0.8, f"colour inside the quads names only {inside_hits}/{n} notes"
    assert outside_hits / n <= 0.45, f"colour outside the boxes names {outside_hits}/{n} notes: boxes miss the notes"


def test_rerun_replaces_an_earlier_output_and_refuses_a_foreign_folder(tmp_path):
    out = tmp_path / "notes"
    make_dataset(out, per_class=2, size=48, seed=0, denominations=(10, 20), background=False, progress=False)
    summary = make_dataset(out, per_class=3, size=48, seed=1, denominations=(50, 500), progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["50", "500", "annotations.json", BACKGROUND_LABEL]
    assert summary["counts"] == {"50": 3, "500": 3, BACKGROUND_LABEL: 3}
    assert json.loads((out / "annotations.json").read_text())["seed"] == 1
    mine = tmp_path / "photos"
    (mine / "10").mkdir(parents=True)
    (mine / "10" / "holiday.jpg").write_bytes(b"not really")
    with pytest.raises(EdgetlError, match="not empty"):
        make_dataset(mine, per_class=1, size=48, progress=False)
    assert (mine / "10" / "holiday.jpg").read_bytes() == b"not really"


def test_an_interrupted_run_leaves_nothing_half_written(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "broken.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    out = tmp_path / "work" / "notes"
    with pytest.raises(EdgetlError, match="broken.jpg"):
        make_dataset(out, per_class=4, size=48, backgrounds=scenes, progress=False)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []


def _tiny_note_folders(root: Path) -> Path:
    """A real class-folder set on disk: photos of flat notes (as a phone would save them)."""
    rng = np.random.default_rng(11)
    for name in ("10", "20", "euro-5"):
        (root / name).mkdir(parents=True)
        for k in range(2):
            note = render_note(name, rng, "front" if k == 0 else "back", 200)
            cv2.imwrite(str(root / name / f"IMG_{k}.jpg"), cv2.cvtColor(note, cv2.COLOR_RGB2BGR))
    (root / BACKGROUND_LABEL).mkdir()
    scene = np.zeros((120, 160, 3), np.uint8)
    scene[:] = (30, 30, 200)  # a red wall (BGR order): background material, not a note class
    cv2.imwrite(str(root / BACKGROUND_LABEL / "wall.png"), scene)
    return root


def test_source_photos_become_the_classes(tmp_path):
    src = _tiny_note_folders(tmp_path / "real")
    summary = make_dataset(tmp_path / "out", per_class=4, size=64, seed=2, source=src, progress=False)
    assert summary["classes"] == ["10", "20", BACKGROUND_LABEL, "euro-5"]  # the order scan() gives
    data = scan(tmp_path / "out")
    assert data.classes == summary["classes"] and data.counts() == {c: 4 for c in data.classes}
    items = _annotations(tmp_path / "out")
    assert all((it["quad"] is None) == (it["label"] == BACKGROUND_LABEL) for it in items)
    # the 'background' folder of the source supplied the scenes: background pictures look like the red wall
    reds = [read_rgb(tmp_path / "out" / it["path"]).reshape(-1, 3).mean(0) for it in items if it["label"] == BACKGROUND_LABEL]
    assert all(r[0] > 1.5 * r[2] for r in reds)


def test_several_sources_merge_their_classes_at_the_console(tmp_path):
    """`synth --from A --from B`: same-named classes are one class; only notes, with --no-background."""
    import subprocess
    import sys

    first = _tiny_note_folders(tmp_path / "phone")
    second = tmp_path / "scans"
    (second / "20").mkdir(parents=True)
    (second / "2000").mkdir()
    rng = np.random.default_rng(5)
    for name in ("20", "2000"):
        cv2.imwrite(str(second / name / "scan.jpg"), cv2.cvtColor(render_note(name, rng, "front", 200), cv2.COLOR_RGB2BGR))
    edgetl = Path(sys.executable).with_name("edgetl")
    proc = subprocess.run([str(edgetl), "synth", str(tmp_path / "out"), "--from", str(first), "--from", str(second),
                           "--no-background", "--per-class", "3", "--size", "48", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["classes"] == ["10", "20", "2000", "euro-5"]
    assert scan(tmp_path / "out").counts() == {"10": 3, "20": 3, "2000": 3, "euro-5": 3}
    assert json.loads((tmp_path / "out" / "annotations.json").read_text())["source"] == f"{first}, {second}"


def test_background_folder_supplies_the_scenes(tmp_path):
    scenes = tmp_path / "scenes" / "kitchen"
    scenes.mkdir(parents=True)
    for k in range(2):
        img = np.zeros((90, 140, 3), np.uint8)
        img[:] = (20, 170, 30)  # green (BGR)
        cv2.circle(img, (40 + 40 * k, 45), 20, (10, 120, 10), -1)
        cv2.imwrite(str(scenes / f"s{k}.jpg"), img)
    make_dataset(tmp_path / "out", per_class=3, size=48, seed=0, denominations=(100,), backgrounds=tmp_path / "scenes", progress=False)
    for p in (tmp_path / "out" / BACKGROUND_LABEL).iterdir():
        r, g, b = read_rgb(p).reshape(-1, 3).mean(0)
        assert g > 1.5 * r and g > 1.5 * b


def test_real_scans_as_source(tmp_path):
    if not SHARED_SCANS.is_dir():
        pytest.skip(f"{SHARED_SCANS} is absent (real note scans live in ../shared beside the repo)")
    summary = make_dataset(tmp_path / "out", per_class=2, size=64, seed=0, source=SHARED_SCANS, progress=False)
    expected = sorted(p.name for p in SHARED_SCANS.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert sorted(c for c in summary["classes"] if c != BACKGROUND_LABEL) == sorted(expected)
    assert scan(tmp_path / "out").counts() == {c: 2 for c in summary["classes"]}


def test_some_background_pictures_show_a_foreign_note_where_the_annotations_say(small_set):
    """A made-up currency's note sits in about 30 % of the background pictures, and changes them there."""
    items = [it for it in _annotations(small_set) if it["label"] == BACKGROUND_LABEL]
    with_note = [it for it in items if "foreign_box" in it]
    assert 1 <= len(with_note) < len(items)
    for it in with_note:
        assert it["box"] is None  # no note of ours: the label stays "background"
        img = read_rgb(small_set / it["path"])
        inside = _quad_mask(img.shape, it["foreign_quad"])
        assert inside.sum() >= 0.04 * img.shape[0] * img.shape[1]


def test_foreign_notes_are_varied_deterministic_and_unlike_the_rupee_designs():
    a = render_foreign_note(np.random.default_rng(5), "front", 200)
    b = render_foreign_note(np.random.default_rng(5), "front", 200)
    assert np.array_equal(a, b) and a.shape[1] == 200 and a.dtype == np.uint8
    rupees = {c: render_note(c, np.random.default_rng(0), "front", 200) for c in NOTE_CLASSES}
    designs = [render_foreign_note(np.random.default_rng(i), "front", 200) for i in range(12)]
    chroma = np.stack([_chroma(d) for d in designs])
    assert np.ptp(chroma, axis=0).max() > 0.3  # colours differ from note to note
    for d in designs:  # never a pixel-level copy of a rupee design
        for r in rupees.values():
            if d.shape == r.shape:
                assert np.abs(d.astype(int) - r.astype(int)).mean() > 10


def test_no_foreign_notes_when_asked(tmp_path):
    make_dataset(tmp_path / "plain", per_class=6, size=64, seed=1, denominations=(10, 20), foreign_notes=0.0, progress=False)
    assert not any("foreign_box" in it for it in _annotations(tmp_path / "plain"))


def test_render_note_is_deterministic_and_faces_and_values_differ():
    a = render_note(500, np.random.default_rng(1), "front", 240)
    b = render_note(500, np.random.default_rng(1), "front", 240)
    assert np.array_equal(a, b)
    assert a.shape == (round(240 * 66 / 150), 240, 3) and a.dtype == np.uint8
    back = render_note(500, np.random.default_rng(1), "back", 240)
    assert np.abs(a.astype(int) - back.astype(int)).mean() > 10
    means = np.stack([_chroma(render_note(d, np.random.default_rng(0), "front", 160)) for d in DEFAULT_DENOMINATIONS])
    gaps = np.sqrt(((means[:, None] - means[None]) ** 2).sum(-1)) + np.eye(len(means))
    assert gaps.min() > 0.02  # every pair of denominations differs in colour
    assert render_note("2000", np.random.default_rng(0)).shape[1] == 320
    assert render_note(75, np.random.default_rng(0), width=100).shape[1] == 100  # unknown values still render


def test_video_decodes_and_its_ground_truth_is_sane(tmp_path):
    out = tmp_path / "clips" / "walk.mp4"
    fps, seconds = 10, 30.0
    truth = make_video(out, seed=2, size=(160, 120), fps=fps, seconds=seconds)
    assert json.loads(out.with_suffix(".json").read_text()) == truth
    assert (truth["width"], truth["height"], truth["fps"]) == (160, 120, fps)
    assert truth["frames"] == int(seconds * fps)
    assert truth["background_label"] == BACKGROUND_LABEL
    assert truth["classes"] == NOTE_CLASSES + [BACKGROUND_LABEL]

    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened()
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == truth["frames"]
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == truth["frames"] and frames[0].shape == (120, 160, 3)

    segs = truth["segments"]
    assert {s["label"] for s in segs} == set(NOTE_CLASSES)
    for s in segs:
        assert 0 <= s["start_frame"] <= s["end_frame"] < truth["frames"]
        assert s["end_frame"] - s["start_frame"] + 1 >= 2 * fps  # each note stays at least ~2 s
    gaps = [b["start_frame"] - a["end_frame"] - 1 for a, b in zip(segs, segs[1:])]
    assert all(g >= 0 for g in gaps)  # ordered, never overlapping
    assert any(g >= 2 * fps for g in gaps)  # background-only stretches between some notes
    assert segs[0]["start_frame"] > 0 and segs[-1]["end_frame"] < truth["frames"] - 1
    # a note on screen changes the picture: mid-segment frames differ from the frames in background gaps
    note_frames = [frames[(s["start_frame"] + s["end_frame"]) // 2].astype(np.float32) for s in segs]
    bg_frames = [frames[a["end_frame"] + g // 2 + 1].astype(np.float32) for a, g in zip(segs, gaps) if g >= 2 * fps]
    assert min(np.abs(n - b).mean() for n in note_frames for b in bg_frames) > 5


@pytest.mark.parametrize("kwargs, message", [
    (dict(per_class=0), "per_class"),
    (dict(size=31), "size"),
    (dict(denominations=()), "denominations"),
    (dict(source="{tmp}/missing"), "not found"),
    (dict(source="{tmp}/empty"), "no class sub-folders"),
    (dict(backgrounds="{tmp}/missing"), "not found"),
    (dict(backgrounds="{tmp}/empty"), "no images"),
    (dict(foreign_notes=1.5), "foreign_notes"),
])
def test_bad_dataset_input_is_one_clear_error(tmp_path, kwargs, message):
    (tmp_path / "empty").mkdir()
    kwargs = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in kwargs.items()}
    with pytest.raises(EdgetlError, match=message) as info:
        make_dataset(tmp_path / "out", progress=False, **kwargs)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_bad_video_input_is_one_clear_error(tmp_path):
    with pytest.raises(EdgetlError, match="too short"):
        make_video(tmp_path / "short.mp4", seconds=8.0, size=(64, 64), fps=5)
    with pytest.raises(EdgetlError, match=".mp4"):
        make_video(tmp_path / "clip.avi", size=(64, 64), fps=5)
    with pytest.raises(EdgetlError, match="width and height"):
        make_video(tmp_path / "clip.mp4", size=(16, 64), fps=5)
    assert list(tmp_path.iterdir()) == []


def test_background_only_writes_the_no_note_folder_to_train_beside_real_photos(tmp_path):
    """`edgetl synth OUT --background-only`: one class, `background`, some pictures with a made-up foreign note."""
    import subprocess
    import sys

    out = tmp_path / "no-note"
    exe = Path(sys.executable).with_name("edgetl")
    proc = subprocess.run([str(exe), "synth", str(out), "--background-only", "--per-class", "20", "--size", "96",
                           "--foreign-notes", "0.5"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["background"]
    assert len(list((out / "background").glob("*.jpg"))) == 20
    notes = json.loads((out / "annotations.json").read_text())
    assert notes["classes"] == ["background"] and notes["foreign_notes"] == 0.5
    assert all(item["quad"] is None for item in notes["images"])  # no rupee note anywhere
