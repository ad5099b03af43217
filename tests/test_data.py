"""Data side on real files: odd image formats, class folders, splits, manifests, checks, split folders."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgetl.data import check as check_mod
from edgetl.data.check import CheckReport, check_dataset, split_to_folders
from edgetl.data.folders import (
    SPLITS,
    LabelledSet,
    load_splits,
    natural_key,
    read_manifest,
    scan,
    split,
    write_manifest,
)
from edgetl.data.images import UnreadableImage, is_image_file, read_rgb
from edgetl.digest import sha256_file
from edgetl.errors import EdgetlError

REPO = Path(__file__).resolve().parents[1]
INR_SCANS = REPO.parent / "shared" / "data" / "inr-scans"


# ---------------------------------------------------------------- helpers


def noise(seed: int, size=(72, 80)) -> np.ndarray:
    """A distinct RGB image per seed (h, w = size)."""
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def save_png(path: Path, seed: int, size=(72, 80)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(noise(seed, size)).save(path)
    return path


def make_classes(root: Path, spec: dict[str, int], start: int = 0, ext: str = ".png") -> Path:
    """root/<class>/img<i>.png with distinct content; spec maps class -> number of images."""
    seed = start
    for cls, n in spec.items():
        for i in range(n):
            save_png(root / cls / f"img{i}{ext}", seed)
            seed += 1
    return root


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg, f"error should be one line: {msg!r}"
    return msg


def path_sets(parts: dict[str, LabelledSet]) -> dict[str, set[str]]:
    return {name: {str(s.path) for s in part.samples} for name, part in parts.items()}


def content_sets(parts: dict[str, LabelledSet]) -> dict[str, set[tuple[str, str]]]:
    """Per split: (class name, file name) pairs, comparable across roots."""
    return {name: {(part.classes[s.label], Path(s.path).name) for s in part.samples} for name, part in parts.items()}


# ---------------------------------------------------------------- reading images


def test_read_rgba_png_composites_onto_grey(tmp_path):
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :25, 3] = 255  # left half opaque red, right half fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_rgb(tmp_path / "a.png")
    assert out.shape == (40, 50, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 49]) == (128, 128, 128)


def test_read_greyscale_and_palette_with_transparency(tmp_path):
    Image.fromarray(np.full((30, 20), 77, np.uint8), "L").save(tmp_path / "g.jpg", quality=95)
    g = read_rgb(tmp_path / "g.jpg")
    assert g.shape == (30, 20, 3) and abs(int(g[5, 5, 0]) - 77) <= 2 and (g[..., 0] == g[..., 2]).all()

    pal = Image.new("P", (16, 12))
    pal.putpalette([0, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 6))
    pal.paste(1, (0, 0, 8, 12))  # left half index 1 (green), right half index 0 (transparent)
    pal.save(tmp_path / "p.png", transparency=0)
    assert Image.open(tmp_path / "p.png").mode == "P"
    p = read_rgb(tmp_path / "p.png")
    assert p.shape == (12, 16, 3)
    assert tuple(p[0, 0]) == (0, 255, 0)
    assert tuple(p[0, 15]) == (128, 128, 128)


def test_read_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (24, 18), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)  # red in CMYK
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    out = read_rgb(tmp_path / "c.jpg")
    assert out.shape == (18, 24, 3)
    r, g, b = (int(v) for v in out[9, 12])
    assert r > 200 and g < 60 and b < 60


def test_read_16bit_png_stretches_range(tmp_path):
    arr = np.linspace(1000, 3000, 20 * 30).reshape(20, 30).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode == "I;16"
    out = read_rgb(tmp_path / "d.png")
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    assert out.min() == 0 and out.max() == 255  # not clipped to white, not crushed to black


def test_read_exif_rotated_jpeg_is_upright(tmp_path):
    # Stored landscape 60 wide x 40 high with a red block top-left; orientation 6 = "rotate 90 CW to view".
    arr = np.full((40, 60, 3), 255, np.uint8)
    arr[:16, :16] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(arr).save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = read_rgb(tmp_path / "r.jpg")
    assert out.shape == (60, 40, 3)  # upright: portrait
    r, g, b = (int(v) for v in out[4, 35])  # red block is now top-right
    assert r > 200 and g < 60 and b < 60
    assert int(out[4, 4].min()) > 200  # top-left is white


@pytest.mark.parametrize(
    "name, content",
    [
        ("empty.jpg", b""),
        ("text.jpg", b"this is not a jpeg, it is a note to self\n"),
        ("truncated.jpg", None),
        ("garbage.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40),
    ],
)
def test_unreadable_files_raise_one_line_naming_the_file(tmp_path, name, content):
    path = tmp_path / name
    if content is None:
        Image.fromarray(noise(1, (120, 160))).save(tmp_path / "full.jpg", quality=90)
        data = (tmp_path / "full.jpg").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(UnreadableImage) as exc:
        read_rgb(path)
    assert isinstance(exc.value, EdgetlError)
    assert str(path) in one_line(exc)


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(UnreadableImage, match="no such file"):
        read_rgb(tmp_path / "nope.jpg")


def test_is_image_file(tmp_path):
    save_png(tmp_path / "a.PNG", 1)
    save_png(tmp_path / ".hidden.png", 2)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "dir.jpg").mkdir()
    assert is_image_file(tmp_path / "a.PNG")
    assert not is_image_file(tmp_path / ".hidden.png")
    assert not is_image_file(tmp_path / "notes.txt")
    assert not is_image_file(tmp_path / "dir.jpg")


# ---------------------------------------------------------------- scan


def test_scan_orders_classes_naturally_and_skips_hidden(tmp_path):
    make_classes(tmp_path, {"100": 2, "20": 2, "10": 2, "background": 2})
    save_png(tmp_path / "10" / ".thumbnails" / "t.png", 99)  # hidden folder inside a class
    save_png(tmp_path / "10" / "nested" / "deep.png", 98)  # ordinary sub-folder: included
    (tmp_path / ".git").mkdir()
    data = scan(tmp_path)
    assert data.classes == ["10", "20", "100", "background"]
    assert data.counts() == {"10": 3, "20": 2, "100": 2, "background": 2}
    assert not any(".thumbnails" in str(s.path) for s in data.samples)


def test_scan_merges_roots_independent_of_order(tmp_path):
    make_classes(tmp_path / "a", {"20": 2, "10": 2}, start=0)
    make_classes(tmp_path / "b", {"010": 1, "10": 3, "50": 1}, start=100)
    ab = scan([tmp_path / "a", tmp_path / "b"])
    ba = scan([tmp_path / "b", tmp_path / "a"])
    assert ab.classes == ba.classes
    assert [(str(s.path), s.label) for s in ab.samples] == [(str(s.path), s.label) for s in ba.samples]
    assert ab.counts()["10"] == 5
    # the same root twice does not double-count
    assert len(scan([tmp_path / "a", tmp_path / "a"])) == 4


def test_natural_key_is_total():
    names = ["100", "10", "b", "20", "010", "A", "a"]
    assert sorted(names, key=natural_key) == sorted(reversed(names), key=natural_key)
    assert sorted(["100", "20", "10"], key=natural_key) == ["10", "20", "100"]


def test_scan_errors_are_one_line(tmp_path):
    with pytest.raises(EdgetlError) as exc:
        scan(tmp_path / "missing")
    assert "not found" in one_line(exc)

    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(EdgetlError) as exc:
        scan(tmp_path / "file.txt")
    assert "not a folder" in one_line(exc)

    empty_root = tmp_path / "flat"
    save_png(empty_root / "loose.png", 1)
    with pytest.raises(EdgetlError) as exc:
        scan(empty_root)
    assert "no class sub-folders" in one_line(exc)

    single = make_classes(tmp_path / "single", {"10": 3})
    with pytest.raises(EdgetlError) as exc:
        scan(single)
    assert "at least 2" in one_line(exc)

    with_empty = make_classes(tmp_path / "withempty", {"10": 2, "20": 2})
    (with_empty / "50").mkdir()
    (with_empty / "50" / "readme.txt").write_text("no images here")
    with pytest.raises(EdgetlError) as exc:
        scan(with_empty)
    assert "50" in one_line(exc)


# ---------------------------------------------------------------- split


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory):
    root = tmp_path_factory.mktemp("split") / "data"
    make_classes(root, {"10": 40, "20": 30, "50": 20, "100": 3, "200": 2}, ext=".png")
    return root


def test_split_is_stratified_with_right_fractions(three_classes):
    data = scan(three_classes)
    parts = split(data, val=0.1, test=0.2, seed=0)
    assert set(parts) == set(SPLITS)
    total = sum(len(p) for p in parts.values())
    assert total == len(data)
    for cls in ["10", "20", "50", "100"]:
        n = data.counts()[cls]
        n_val, n_test = parts["val"].counts()[cls], parts["test"].counts()[cls]
        assert n_val >= 1 and n_test >= 1 and parts["train"].counts()[cls] >= 1
        if n >= 20:
            assert abs(n_val - 0.1 * n) <= 1 and abs(n_test - 0.2 * n) <= 1
    # too few images to hold any out: all train
    assert parts["train"].counts()["200"] == 2 and parts["val"].counts()["200"] == 0
    # every split keeps the full class list, so labels mean the same everywhere
    assert all(p.classes == data.classes for p in parts.values())


def test_split_is_deterministic_and_seed_dependent(three_classes):
    data = scan(three_classes)
    a = split(data, seed=3)
    shuffled = list(data.samples)
    random.Random(7).shuffle(shuffled)
    b = split(LabelledSet(data.classes, shuffled), seed=3)
    assert path_sets(a) == path_sets(b)
    assert [s.path for s in a["train"].samples] == [s.path for s in b["train"].samples]  # same order too
    c = split(data, seed=4)
    assert path_sets(a) != path_sets(c)


def test_split_ignores_roots_order(tmp_path):
    make_classes(tmp_path / "a", {"10": 12, "20": 12}, start=0)
    make_classes(tmp_path / "b", {"20": 12, "50": 12}, start=500)
    ab = split(scan([tmp_path / "a", tmp_path / "b"]), seed=1)
    ba = split(scan([tmp_path / "b", tmp_path / "a"]), seed=1)
    assert path_sets(ab) == path_sets(ba)


def test_split_keeps_exact_duplicates_together(tmp_path):
    root = make_classes(tmp_path / "d", {"10": 20, "20": 20, "50": 20})
    for i in range(10):  # within-class duplicates under other names
        shutil.copy(root / "10" / f"img{i}.png", root / "10" / f"copy{i}.png")
    for i in range(10):  # the same photo filed under two classes
        shutil.copy(root / "10" / f"img{i}.png", root / "50" / f"from10_{i}.png")
    data = scan(root)
    for seed in range(4):
        parts = split(data, val=0.2, test=0.2, seed=seed)
        where: dict[str, set[str]] = {}
        for name, part in parts.items():
            for s in part.samples:
                where.setdefault(sha256_file(s.path), set()).add(name)
        assert all(len(v) == 1 for v in where.values()), "a duplicate was split across train/val/test"
        for cls in data.classes:
            assert parts["val"].counts()[cls] >= 1 and parts["test"].counts()[cls] >= 1


def test_split_never_empties_train(tmp_path):
    data = scan(make_classes(tmp_path, {"10": 4, "20": 3}))
    parts = split(data, val=0.45, test=0.45)
    for cls in data.classes:
        assert parts["train"].counts()[cls] >= 1


def test_split_rejects_bad_fractions(three_classes):
    data = scan(three_classes)
    for val, test in [(0.5, 0.5), (-0.1, 0.1), (0.1, 1.0)]:
        with pytest.raises(EdgetlError) as exc:
            split(data, val=val, test=test)
        one_line(exc)


# ---------------------------------------------------------------- manifests and load_splits


def test_manifest_round_trip_from_another_working_directory(tmp_path, monkeypatch, three_classes):
    work = tmp_path / "work"
    shutil.copytree(three_classes, work / "data")
    monkeypatch.chdir(work)
    parts = split(scan("data"), seed=2)  # relative paths, as a user would type them
    dest = write_manifest(parts, Path("runs") / "split.json", seed=2)
    doc = json.loads(dest.read_text())
    assert doc["format"] == "edgetl-split/1" and doc["seed"] == 2 and doc["classes"] == parts["train"].classes
    monkeypatch.chdir(tmp_path)  # elsewhere: relative paths must still resolve
    back = read_manifest(work / "runs" / "split.json")
    expected = {n: {str((work / s.path).resolve()) for s in p.samples} for n, p in parts.items()}
    assert {n: {str(s.path.resolve()) for s in p.samples} for n, p in back.items()} == expected
    assert all(s.path.exists() for p in back.values() for s in p.samples)
    assert path_sets(load_splits(work / "runs" / "split.json")) == path_sets(back)


def test_bad_manifests_are_edgetl_errors(tmp_path):
    with pytest.raises(EdgetlError) as exc:
        load_splits(tmp_path / "missing.json")
    one_line(exc)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(EdgetlError) as exc:
        read_manifest(tmp_path / "bad.json")
    one_line(exc)
    (tmp_path / "wrong.json").write_text(json.dumps({"classes": ["a"], "items": [{"path": "x", "label": "b", "split": "train"}]}))
    with pytest.raises(EdgetlError):
        read_manifest(tmp_path / "wrong.json")


def test_load_splits_on_split_folders(tmp_path):
    make_classes(tmp_path / "train", {"10": 5, "20": 5}, start=0)
    make_classes(tmp_path / "val", {"20": 2, "10": 2}, start=100)
    make_classes(tmp_path / "test", {"10": 1}, start=200)
    parts = load_splits(tmp_path)
    assert parts["train"].classes == ["10", "20"]
    assert parts["train"].counts() == {"10": 5, "20": 5}
    assert parts["val"].counts() == {"10": 2, "20": 2}
    assert parts["test"].counts() == {"10": 1, "20": 0}
    for name in SPLITS:  # labels index train's classes in every split
        for s in parts[name].samples:
            assert s.path.parent.name == parts[name].classes[s.label]


def test_load_splits_split_folder_errors(tmp_path):
    make_classes(tmp_path / "t1" / "train", {"10": 3, "20": 3})
    make_classes(tmp_path / "t1" / "val", {"10": 1, "500": 1}, start=50)
    with pytest.raises(EdgetlError) as exc:
        load_splits(tmp_path / "t1")
    assert "500" in one_line(exc)

    make_classes(tmp_path / "t2" / "train", {"10": 3, "20": 3})
    make_classes(tmp_path / "t2" / "test", {"10": 1, "20": 1}, start=50)
    with pytest.raises(EdgetlError) as exc:  # must not become two classes named "test" and "train"
        load_splits(tmp_path / "t2")
    assert "val" in one_line(exc)


def test_load_splits_on_plain_class_folders_splits(three_classes):
    """Plain class folders get a seeded split: every image once, each class in train, shares near 80/10/10."""
    parts = load_splits(three_classes, val=0.1, test=0.1, seed=0)
    sets = path_sets(parts)
    everything = {str(p) for p in three_classes.rglob("*.png")}
    assert set().union(*sets.values()) == everything and sum(map(len, sets.values())) == len(everything)
    assert all(n > 0 for n in parts["train"].counts().values())
    assert parts["test"].counts()["10"] == parts["val"].counts()["10"] == 4  # 10 % of 40
    assert path_sets(load_splits(three_classes, val=0.1, test=0.1, seed=0)) == sets
    assert path_sets(load_splits(three_classes, val=0.1, test=0.1, seed=1)) != sets


# ---------------------------------------------------------------- split_to_folders


def test_split_to_folders_avoids_collisions_and_round_trips(tmp_path):
    # two roots with the same file names (10/img0.png ...) but different pictures
    make_classes(tmp_path / "a", {"10": 6, "20": 6}, start=0)
    make_classes(tmp_path / "b", {"10": 6, "20": 6}, start=300)
    parts = split(scan([tmp_path / "a", tmp_path / "b"]), val=0.2, test=0.2, seed=0)
    out = tmp_path / "out"
    summary = split_to_folders(parts, out)
    assert summary["files"] == 24 and summary["mode"] == "copy"
    assert len(summary["renamed"]) > 0
    written = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(written) == 24
    assert len({sha256_file(p) for p in written}) == 24  # nothing overwritten
    back = load_splits(out)
    for name in SPLITS:
        assert back[name].counts() == parts[name].counts()
        src = sorted(sha256_file(s.path) for s in parts[name].samples)
        assert sorted(sha256_file(s.path) for s in back[name].samples) == src
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp")]
    # never writes over an existing, non-empty folder
    with pytest.raises(EdgetlError) as exc:
        split_to_folders(parts, out)
    one_line(exc)


def test_split_to_folders_links(tmp_path):
    parts = split(scan(make_classes(tmp_path / "d", {"10": 5, "20": 5})), seed=0)
    (tmp_path / "out").mkdir()  # an empty folder is fine
    try:
        summary = split_to_folders(parts, tmp_path / "out", link=True)
    except EdgetlError as exc:  # pragma: no cover - platforms without symlink rights
        pytest.skip(f"symlinks not available: {exc}")
    assert summary["mode"] == "link"
    files = [p for p in (tmp_path / "out").rglob("*.png")]
    assert len(files) == 10 and all(p.is_symlink() and p.resolve().exists() for p in files)


def test_split_to_folders_interrupted_leaves_nothing(tmp_path, monkeypatch):
    parts = split(scan(make_classes(tmp_path / "d", {"10": 6, "20": 6})), seed=0)
    real_place = check_mod._place
    calls = {"n": 0}

    def flaky(src, dest, link):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        real_place(src, dest, link)

    monkeypatch.setattr(check_mod, "_place", flaky)
    with pytest.raises(KeyboardInterrupt):
        split_to_folders(parts, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


# ---------------------------------------------------------------- check_dataset


@pytest.fixture()
def messy(tmp_path):
    root = tmp_path / "messy"
    make_classes(root, {"10": 14, "20": 14, "50": 3}, start=0)
    shutil.copy(root / "10" / "img0.png", root / "10" / "img0 (copy).png")  # within class
    shutil.copy(root / "10" / "img1.png", root / "20" / "same_as_10.png")  # across classes
    save_png(root / "20" / "small.png", 500, size=(40, 90))  # 90 wide, 40 high: tiny
    (root / "10" / "empty.jpg").write_bytes(b"")
    (root / "10" / "notes.jpg").write_text("not an image")
    full = save_png(tmp_path / "full.png", 501, size=(100, 100)).read_bytes()
    (root / "20" / "truncated.png").write_bytes(full[: len(full) // 2])
    (root / "20" / "IMG_0001.HEIC").write_bytes(b"\x00" * 10)  # unsupported type: skipped, mentioned
    return root


def test_check_finds_problems_without_raising(messy):
    r = check_dataset(messy, progress=False)
    assert isinstance(r, CheckReport)
    assert r.classes == ["10", "20", "50"]
    assert r.counts == {"10": 15, "20": 16, "50": 3}
    assert r.ok()  # problems, but nothing blocking
    bad = {Path(u["path"]).name: u["reason"] for u in r.unreadable}
    assert set(bad) == {"empty.jpg", "notes.jpg", "truncated.png"}
    assert "empty" in bad["empty.jpg"] and all(bad.values())
    dup_names = [sorted(Path(p).name for p in g) for g in r.duplicates]
    assert ["img0 (copy).png", "img0.png"] in dup_names
    assert ["img1.png", "same_as_10.png"] in dup_names
    assert [sorted(Path(p).parent.name for p in g) for g in r.cross_class_duplicates] == [["10", "20"]]
    assert r.cross_split_duplicates == []
    assert [(Path(t["path"]).name, t["width"], t["height"]) for t in r.tiny] == [("small.png", 90, 40)]
    text = " ".join(r.warnings)
    assert "imbalanced" in text and "'50' has only 3" in text and ".heic" in text
    assert "more than one class" in text

    json.dumps(r.to_dict())  # serialisable for --json
    assert r.to_dict()["ok"] is True
    report = r.format()
    for needle in ("10", "20", "50", "empty.jpg", "truncated.png", "same_as_10.png", "small.png: 90x40", "Result: OK"):
        assert needle in report


def test_check_thresholds_are_parameters(messy):
    r = check_dataset(messy, min_side=30, imbalance_ratio=10, progress=False)
    assert r.tiny == []
    assert not any("imbalanced" in w for w in r.warnings)


def test_check_blocking_errors(tmp_path):
    with pytest.raises(EdgetlError) as exc:
        check_dataset(tmp_path / "missing", progress=False)
    one_line(exc)

    (tmp_path / "empty").mkdir()
    r = check_dataset(tmp_path / "empty", progress=False)
    assert not r.ok() and "no class sub-folders" in r.errors[0]
    assert "NOT READY" in r.format()

    root = make_classes(tmp_path / "d", {"10": 12, "20": 12})
    (root / "30").mkdir()
    (root / "40").mkdir()
    (root / "40" / "bad.jpg").write_bytes(b"junk")
    r = check_dataset(root, progress=False)
    assert not r.ok()
    assert sorted(e for e in r.errors if "no readable images" in e) == [
        "class '30' has no readable images",
        "class '40' has no readable images",
    ]

    single = make_classes(tmp_path / "single", {"10": 12})
    r = check_dataset(single, progress=False)
    assert any("only one class" in w for w in r.warnings)


def test_check_split_folders_finds_leakage(tmp_path):
    make_classes(tmp_path / "train", {"10": 12, "20": 12}, start=0)
    make_classes(tmp_path / "val", {"10": 3, "20": 3}, start=100)
    make_classes(tmp_path / "test", {"10": 3}, start=200)
    shutil.copy(tmp_path / "train" / "10" / "img0.png", tmp_path / "test" / "10" / "leak.png")
    r = check_dataset(tmp_path, progress=False)
    assert r.layout == "split-folders" and r.ok()
    assert r.split_counts["train"] == {"10": 12, "20": 12}
    assert r.split_counts["test"] == {"10": 4, "20": 0}
    assert [sorted(Path(p).name for p in g) for g in r.cross_split_duplicates] == [["img0.png", "leak.png"]]
    assert r.cross_class_duplicates == []
    assert any("leakage" in w for w in r.warnings)
    assert any("test has no images of class(es) 20" in w for w in r.warnings)
    assert "train" in r.format() and "leak.png" in r.format()


def test_check_manifest(tmp_path):
    root = make_classes(tmp_path / "d", {"10": 12, "20": 12})
    parts = split(scan(root), seed=0)
    parts["test"].samples.append(parts["train"].samples[0])  # the same file in two splits
    manifest = write_manifest(parts, tmp_path / "split.json", seed=0)
    (root / "20" / "img3.png").unlink()  # listed but gone
    r = check_dataset(manifest, progress=False)
    assert r.layout == "manifest"
    assert len(r.cross_split_duplicates) == 1
    assert [Path(u["path"]).name for u in r.unreadable] == ["img3.png"]
    assert r.unreadable[0]["reason"] == "no such file"


@pytest.mark.shared
@pytest.mark.skipif(not INR_SCANS.is_dir(), reason=f"real data not present at {INR_SCANS}")
def test_check_real_inr_scans():
    r = check_dataset(INR_SCANS, progress=False)
    assert r.ok(), r.format()
    assert len(r.classes) == 7
    assert r.unreadable == []
    assert all(n > 100 for n in r.counts.values())


# ---------------------------------------------------------------- the one split-tree rule, at the console


def test_every_command_reads_a_split_tree_by_the_same_rule(tmp_path):
    """train/ + test/ without val/: `data check` finds the problem (exit 1) and `train` refuses (exit 2), with the
    same one line naming the folder to add; `evaluate` on that tree reaches past the data to the model."""
    import subprocess
    import sys

    edgetl = Path(sys.executable).with_name("edgetl")
    for part in ("train", "test"):
        make_classes(tmp_path / "tree" / part, {"10": 3, "20": 3}, start=0 if part == "train" else 50)
    tree = tmp_path / "tree"
    advice = f"no val/ folder; training needs train/ and val/ (add {tree / 'val'}"

    def console(*args):
        done = subprocess.run([str(edgetl), *map(str, args)], capture_output=True, text=True, timeout=300)
        assert "Traceback" not in done.stdout + done.stderr
        return done

    check = console("data", "check", tree)
    assert check.returncode == 1 and advice in check.stdout
    train = console("train", tree, "--out", tmp_path / "run", "--weights", "imagenet")
    assert train.returncode == 2 and train.stderr.startswith("error:") and advice in train.stderr
    assert not (tmp_path / "run").exists()
    asked = console("evaluate", tmp_path / "missing.tflite", tree, "--split", "val")
    assert asked.returncode == 2 and "error:" in asked.stderr


def test_data_split_writes_into_the_out_folder(tmp_path, three_classes):
    """`--out` is a folder for every command: split.json inside it, or train/ val/ test/ with --folders."""
    import subprocess
    import sys

    edgetl = str(Path(sys.executable).with_name("edgetl"))
    done = subprocess.run([edgetl, "data", "split", str(three_classes), "--out", str(tmp_path / "m"), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["out"] == str(tmp_path / "m" / "split.json")
    assert path_sets(load_splits(tmp_path / "m" / "split.json")) == path_sets(load_splits(three_classes, seed=0))
    done = subprocess.run([edgetl, "data", "split", str(three_classes), "--out", str(tmp_path / "f"), "--folders"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and sorted(p.name for p in (tmp_path / "f").iterdir()) == ["test", "train", "val"]
    refused = subprocess.run([edgetl, "data", "split", str(three_classes), "--out", str(tmp_path / "x.json")],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "--out is a folder" in refused.stderr and "Traceback" not in refused.stderr
