"""Class folders (one sub-folder per label) and the deterministic, stratified split of them."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from edgetl.data.images import IMAGE_EXTENSIONS, is_image_file
from edgetl.digest import sha256_file
from edgetl.errors import EdgetlError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


@dataclass
class LabelledSet:
    """Images with integer labels into ``classes`` (ordered: 10 < 20 < 100, then alphabetical)."""

    classes: list[str]
    samples: list[Sample] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        c = Counter(s.label for s in self.samples)
        return {name: c.get(i, 0) for i, name in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.samples)


def natural_key(name: str):
    """Sort '10' < '20' < '100' < 'background' rather than '10' < '100' < '20'.

    Names that compare equal ('10' and '010', 'Euro' and 'euro') fall back to the raw name, so class
    order (and so label numbers) never depends on the order folders were listed or roots were given.
    """
    key = [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", name) if t]
    return key + [(2, 0, name)]


def class_dirs(root: Path) -> list[Path]:
    return sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: natural_key(d.name))


def _broken_image_link(path: Path) -> bool:
    """An image-named symlink that leads nowhere (to itself, or to a deleted file).

    It is listed with the images so that reading it fails and it is reported as unreadable by path,
    like any other bad file, instead of vanishing from the data set without a word.
    """
    if path.suffix.lower() not in IMAGE_EXTENSIONS or path.name.startswith(".") or not path.is_symlink():
        return False
    try:
        path.stat()
    except OSError:
        return True
    return False


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` at any depth, skipping hidden files and hidden folders (.thumbnails, ...)."""
    return sorted(
        p for p in folder.rglob("*")
        if (is_image_file(p) or _broken_image_link(p)) and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def scan(roots: Path | str | Sequence[Path | str], min_classes: int = 2) -> LabelledSet:
    """Read one or more class-folder roots; same-named classes across roots are merged.

    Raises EdgetlError with one line for a missing folder, no classes, a single class or an empty class.
    """
    if isinstance(roots, (str, Path)):
        roots = [roots]
    per_class: dict[str, list[Path]] = defaultdict(list)
    for root in map(Path, roots):
        if not root.exists():
            raise EdgetlError(f"data folder not found: {root}")
        if not root.is_dir():
            raise EdgetlError(f"not a folder: {root} (expected one sub-folder of images per class)")
        dirs = class_dirs(root)
        if not dirs:
            raise EdgetlError(f"{root} has no class sub-folders (expected e.g. {root}/10/*.jpg, {root}/500/*.jpg)")
        for d in dirs:
            per_class[d.name].extend(list_images(d))
    for name, paths in per_class.items():
        # The same root given twice (or overlapping roots) must not double-count; order by path, not by roots order.
        per_class[name] = sorted(set(paths), key=str)
    classes = sorted(per_class, key=natural_key)
    empty = [c for c in classes if not per_class[c]]
    if empty:
        raise EdgetlError(f"class folder(s) with no images: {', '.join(empty)}")
    if len(classes) < min_classes:
        raise EdgetlError(
            f"found {len(classes)} class ({', '.join(classes)}); a classifier needs at least {min_classes} "
            "class folders (add a 'background' folder of scenes without notes)"
        )
    samples = [Sample(p, i) for i, c in enumerate(classes) for p in per_class[c]]
    return LabelledSet(classes, samples)


def _rank(content_hash: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{content_hash}".encode()).hexdigest()


def split(data: LabelledSet, val: float = 0.1, test: float = 0.1, seed: int = 0) -> dict[str, LabelledSet]:
    """Stratified split that depends only on file contents and seed, never on listing order.

    Identical files (same bytes) always land in the same split, so duplicates cannot leak from train
    into val or test -- also when the same file sits in two class folders. Each class with >= 3
    distinct images gets at least one val and one test image when the fraction is non-zero, and
    always keeps at least one train image.
    """
    if not 0 <= val < 1 or not 0 <= test < 1 or val + test >= 1:
        raise EdgetlError(f"split fractions must satisfy 0 <= val, test and val + test < 1 (got {val}, {test})")
    out = {name: LabelledSet(list(data.classes)) for name in SPLITS}
    by_class: dict[int, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    for s in data.samples:
        by_class[s.label][sha256_file(s.path, never_raise=True)].append(s)
    placed: dict[str, str] = {}  # content hash -> split, shared across classes
    for label in sorted(by_class):
        groups = sorted(by_class[label].items(), key=lambda kv: _rank(kv[0], seed))
        n = len(groups)
        n_test = max(1, round(n * test)) if test > 0 and n >= 3 else 0
        n_val = max(1, round(n * val)) if val > 0 and n >= 3 else 0
        while n_test + n_val > n - 1 and n_test + n_val > 0:  # rounding up must not empty train
            if n_val >= n_test:
                n_val -= 1
            else:
                n_test -= 1
        # Content already placed by an earlier class (a cross-class duplicate) keeps its split and
        # counts towards this class's quota; the rest fill test, then val, then train in rank order.
        taken = Counter(placed[h] for h, _ in groups if h in placed)
        for h, members in groups:
            if h in placed:
                name = placed[h]
            elif taken["test"] < n_test:
                name = "test"
            elif taken["val"] < n_val:
                name = "val"
            else:
                name = "train"
            if h not in placed:
                taken[name] += 1
                placed[h] = name
            out[name].samples.extend(members)
    for part in out.values():
        part.samples.sort(key=lambda s: (s.label, str(s.path)))
    return out


def _manifest_path(path: Path, base: Path) -> str:
    """``path`` as read_manifest will resolve it: relative to the manifest's folder, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return Path(os.path.relpath(absolute, os.path.abspath(base))).as_posix()
    except ValueError:  # another drive on Windows
        return str(absolute)


def write_manifest(parts: dict[str, LabelledSet], dest: Path, seed: int, absolute: bool = False) -> Path:
    """A listable split: JSON with classes and one row per image (path, label name, split).

    By default paths are stored relative to the manifest's own folder (read_manifest resolves them from
    there), so a manifest kept beside its data moves with it. ``absolute`` suits a manifest that travels
    without the data, like a training run's record of its split.
    """
    from edgetl.atomic import write_json

    classes = next(iter(parts.values())).classes
    base = Path(dest).parent
    rows = []
    for name in SPLITS:
        for s in parts.get(name, LabelledSet(classes)).samples:
            path = str(Path(s.path).resolve()) if absolute else _manifest_path(s.path, base)
            rows.append({"path": path, "label": classes[s.label], "split": name})
    return write_json(dest, {"format": "edgetl-split/1", "seed": seed, "classes": classes, "items": rows})


def read_manifest(path: Path) -> dict[str, LabelledSet]:
    try:
        doc = json.loads(Path(path).read_text())
        classes = list(doc["classes"])
        parts = {name: LabelledSet(classes) for name in SPLITS}
        index = {c: i for i, c in enumerate(classes)}
        base = Path(path).parent
        for row in doc["items"]:
            p = Path(row["path"])
            # Lexical join, matching how write_manifest made the path relative (a symlinked folder stays put).
            parts[row["split"]].samples.append(Sample(p if p.is_absolute() else Path(os.path.normpath(base / p)), index[row["label"]]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EdgetlError(f"{path}: not an edgetl split manifest ({type(exc).__name__}: {exc})") from None
    return parts


# ---- the one data resolver: which folder layout is what ------------------------------------------------
# A folder with any of train/, val/, test/ inside is a split tree (those three names are never classes).
# Training (and `data check`, which checks for training) needs its train/ and val/; test/ is optional.
# Evaluating needs only the split it is asked for. Anything else is plain class folders.

TRAINING_SPLITS = ("train", "val")


def split_folders(root: Path) -> list[str]:
    """The split folders ``root`` holds, in train, val, test order; any one makes it a split tree."""
    return [name for name in SPLITS if (root / name).is_dir()]


def is_split_tree(root: Path) -> bool:
    return Path(root).is_dir() and bool(split_folders(Path(root)))


def split_tree_problem(root: Path, needed: Sequence[str] = TRAINING_SPLITS) -> str | None:
    """One line naming the first split folder ``needed`` that the tree lacks, or None when all are there."""
    present = split_folders(root)
    missing = [name for name in needed if name not in present]
    if not missing:
        return None
    purpose = "training needs train/ and val/" if tuple(needed) == TRAINING_SPLITS else f"the {missing[0]} split was asked for"
    return (f"{root} has {', '.join(f'{s}/' for s in present)} but no {missing[0]}/ folder; {purpose} "
            f"(add {root / missing[0]} with one sub-folder per class)")


def _split_tree(root: Path) -> dict[str, LabelledSet]:
    """A train/ val/ [test/] tree, with every split labelled in train/'s class order."""
    problem = split_tree_problem(root)
    if problem:
        raise EdgetlError(problem)
    train = scan(root / "train")
    parts = {"train": train}
    index = {c: i for i, c in enumerate(train.classes)}
    for name in ("val", "test"):
        if not (root / name).is_dir():
            parts[name] = LabelledSet(train.classes)
            continue
        other = scan(root / name, min_classes=1)
        unknown = [c for c in other.classes if c not in index]
        if unknown:
            raise EdgetlError(f"{root / name} has classes not in train/: {', '.join(unknown)}")
        parts[name] = LabelledSet(train.classes, [Sample(s.path, index[other.classes[s.label]]) for s in other.samples])
    return parts


def load_splits(data: Path | str | Sequence[Path | str], val: float = 0.1, test: float = 0.1, seed: int = 0) -> dict[str, LabelledSet]:
    """What training reads: a manifest .json, a split tree (train/ and val/ needed, test/ optional), or class folders."""
    paths = [Path(data)] if isinstance(data, (str, Path)) else [Path(p) for p in data]
    if len(paths) == 1 and paths[0].suffix == ".json":
        if not paths[0].exists():
            raise EdgetlError(f"split manifest not found: {paths[0]}")
        return read_manifest(paths[0])
    if len(paths) == 1 and is_split_tree(paths[0]):
        return _split_tree(paths[0])
    return split(scan(paths), val=val, test=test, seed=seed)


def resolve_split(data, split: str, run: Path | None = None) -> tuple[list[tuple[Path, str]], str, str | None]:
    """What evaluating reads: (path, class name) pairs of one split, a description, and the split used.

    ``data``: a run folder (its split.json), a split manifest .json, a split tree (its ``split`` folder) or
    plain class folders (every image; the split used is then None). Omitted, the run folder ``run`` serves.
    """
    if split not in SPLITS:
        raise EdgetlError(f"split must be one of {', '.join(SPLITS)} (got {split!r})")
    if data is None:
        if run is None or not (run / "split.json").is_file():
            raise EdgetlError("no data given: pass class folders, a train/val/test tree, a split manifest or a run folder")
        data = run
    data = Path(data)
    if not data.exists():
        raise EdgetlError(f"data not found: {data}")
    used: str | None = split
    if data.is_file():
        if data.suffix.lower() != ".json":
            raise EdgetlError(f"{data}: expected a folder of class folders or a split manifest .json")
        part = read_manifest(data)[split]
    elif is_split_tree(data):
        problem = split_tree_problem(data, (split,))
        if problem:
            raise EdgetlError(problem)
        part = scan(data / split, min_classes=1)
    elif (data / "split.json").is_file():
        part = read_manifest(data / "split.json")[split]  # a training run folder
    else:
        part = scan(data, min_classes=1)
        used = None
    pairs = [(s.path, part.classes[s.label]) for s in part.samples]
    if not pairs:
        raise EdgetlError(f"no images to evaluate in {data}" + (f" ({split} split)" if used else ""))
    return pairs, str(data), used


def iter_paths(parts: dict[str, LabelledSet], names: Iterable[str] = SPLITS) -> Iterable[Sample]:
    for name in names:
        yield from parts[name].samples
