"""``edgetl data check``: find what will hurt training before training starts, and write splits to folders.

A check reads every image once (content hash + full decode through ``read_rgb``), never stops at a
bad file, and reports in plain sentences: unreadable files by path, duplicates (and the harmful
kinds: the same photo under two labels, or in two splits), tiny images, class imbalance and
classes too small to learn from.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
import warnings
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgetl.data.folders import (SPLITS, LabelledSet, class_dirs, is_split_tree, list_images, natural_key, read_manifest,
                                 split_tree_problem)
from edgetl.data.images import IMAGE_EXTENSIONS, UnreadableImage, read_rgb
from edgetl.digest import sha256_file
from edgetl.errors import EdgetlError
from edgetl.progress import track

MIN_IMAGES_PER_CLASS = 10
_LIST_LIMIT = 20  # items per problem list in format(); to_dict() always has all of them


@dataclass
class CheckReport:
    root: str
    classes: list[str]
    counts: dict[str, int]  # readable images per class, all splits together
    unreadable: list[dict] = field(default_factory=list)  # {"path", "reason", "label"}
    duplicates: list[list[str]] = field(default_factory=list)
    cross_class_duplicates: list[list[str]] = field(default_factory=list)
    cross_split_duplicates: list[list[str]] = field(default_factory=list)
    tiny: list[dict] = field(default_factory=list)  # {"path", "width", "height", "label"}
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    layout: str = "classes"  # classes | split-folders | manifest
    split_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> class -> readable images
    min_side: int = 64

    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok()
        return d

    def _rel(self, path: str) -> str:
        try:
            base = self.root if self.layout != "manifest" else os.path.dirname(self.root)
            rel = os.path.relpath(path, base or ".")
        except ValueError:
            return path
        return path if rel.startswith("..") else rel

    def format(self) -> str:
        lines = [f"Dataset: {self.root} ({_LAYOUT_NAMES.get(self.layout, self.layout)})", ""]
        bad_per_class = Counter(u.get("label") for u in self.unreadable)
        tiny_per_class = Counter(t.get("label") for t in self.tiny)
        splits = [s for s in SPLITS if s in self.split_counts]
        header = ["class", "images", *splits, "unreadable", "tiny"]
        rows = []
        for c in self.classes:
            rows.append([c, self.counts.get(c, 0), *(self.split_counts[s].get(c, 0) for s in splits), bad_per_class.get(c, 0), tiny_per_class.get(c, 0)])
        if self.classes:
            rows.append(
                [
                    "total",
                    sum(self.counts.values()),
                    *(sum(self.split_counts[s].values()) for s in splits),
                    len(self.unreadable),
                    len(self.tiny),
                ]
            )
            widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
            fmt = lambda r: "  ".join(str(v).ljust(widths[0]) if i == 0 else str(v).rjust(widths[i]) for i, v in enumerate(r))
            lines.append(fmt(header))
            lines.append("  ".join("-" * w for w in widths))
            lines.extend(fmt(r) for r in rows[:-1])
            lines.append("  ".join("-" * w for w in widths))
            lines.append(fmt(rows[-1]))
        else:
            lines.append("(no classes found)")

        def section(title: str, items: list[str]) -> None:
            if not items:
                return
            lines.extend(["", f"{title} ({len(items)}):"])
            lines.extend(f"  {item}" for item in items[:_LIST_LIMIT])
            if len(items) > _LIST_LIMIT:
                lines.append(f"  ... and {len(items) - _LIST_LIMIT} more")

        section("Unreadable files", [f"{self._rel(u['path'])}: {u['reason']}" for u in self.unreadable])
        section("Same image under different classes", [" = ".join(map(self._rel, g)) for g in self.cross_class_duplicates])
        section("Same image in different splits", [" = ".join(map(self._rel, g)) for g in self.cross_split_duplicates])
        section("Identical files, all groups", [" = ".join(map(self._rel, g)) for g in self.duplicates])
        section(f"Smaller than {self.min_side} px", [f"{self._rel(t['path'])}: {t['width']}x{t['height']}" for t in self.tiny])
        section("Warnings", [f"- {w}" for w in self.warnings])
        section("Errors", [f"- {e}" for e in self.errors])
        lines.append("")
        if self.ok():
            verdict = "OK" + (f", with {len(self.warnings)} warning(s)" if self.warnings else "")
        else:
            verdict = f"NOT READY: {len(self.errors)} error(s) must be fixed before training"
        lines.append(f"Result: {verdict}")
        return "\n".join(lines)


_LAYOUT_NAMES = {
    "classes": "one folder per class",
    "split-folders": "train/ val/ test/ folders",
    "manifest": "split manifest",
}


@dataclass
class _Entry:
    path: Path
    label: str
    split: str | None


@dataclass
class _Result:
    sha: str | None = None
    width: int = 0
    height: int = 0
    error: str | None = None


def _inspect(path: Path) -> _Result:
    """Hash and fully decode one file; every failure becomes a reason string, never an exception."""
    try:
        digest = sha256_file(path)
    except FileNotFoundError:
        return _Result(error="no such file")
    except OSError as exc:
        return _Result(error=f"cannot read file ({exc.strerror or type(exc).__name__})")
    try:
        rgb = read_rgb(path)
    except UnreadableImage as exc:
        msg = str(exc)
        prefix = f"{path}: "
        msg = msg[len(prefix):] if msg.startswith(prefix) else msg
        return _Result(sha=digest, error=msg.replace(f" '{path}'", "").replace(f" {path}", ""))  # the path is listed already
    except MemoryError:
        return _Result(sha=digest, error="image too large to decode")
    except Exception as exc:  # a decoder bug on a hostile file must not stop the check
        return _Result(sha=digest, error=f"cannot decode image ({type(exc).__name__}: {exc})".splitlines()[0])
    h, w = rgb.shape[:2]
    return _Result(sha=digest, width=int(w), height=int(h))


def _ignored_files(folder: Path) -> list[Path]:
    """Files under a class folder that will be skipped: not a supported image type (e.g. .heic)."""
    out = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder).parts
        if any(part.startswith(".") for part in rel) or not p.is_file():
            continue
        if p.suffix.lower() not in IMAGE_EXTENSIONS and p.name not in ("Thumbs.db", "desktop.ini"):
            out.append(p)
    return out


def _class_folders(folder: Path, split: str | None, expected: str, errors: list[str], warn: list[str],
                   entries: list, ignored: list[Path]) -> list[str]:
    """One folder of class folders: its class names; its images go to ``entries``, stray files to warnings."""
    dirs = class_dirs(folder)
    if not dirs:
        errors.append(f"{folder} has no class sub-folders ({expected})")
    strays = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")]
    if strays:
        warn.append(f"{len(strays)} image(s) directly in {folder} are ignored: put them in a class folder")
    for d in dirs:
        entries.extend(_Entry(p, d.name, split) for p in list_images(d))
        ignored.extend(_ignored_files(d))
    return [d.name for d in dirs]


def _collect(root: Path, errors: list[str], warn: list[str]) -> tuple[str, list[str], list[_Entry], list[Path]]:
    """Find the layout, the classes and every image to inspect. Problems go to errors/warnings."""
    if root.suffix.lower() == ".json" and root.is_file():
        parts = read_manifest(root)
        classes = list(next(iter(parts.values())).classes)
        entries = [_Entry(s.path, classes[s.label], name) for name, part in parts.items() for s in part.samples]
        for name in ("train", "val"):
            if not parts[name].samples:
                errors.append(f"the manifest has no {name} images")
        return "manifest", classes, entries, []

    ignored: list[Path] = []
    entries: list[_Entry] = []
    if is_split_tree(root):
        layout = "split-folders"
        per_split: dict[str, list[str]] = {}
        problem = split_tree_problem(root)  # the same rule `edgetl train` applies
        if problem:
            errors.append(problem)
        for name in SPLITS:
            folder = root / name
            if not folder.is_dir():
                if name == "test":
                    warn.append(f"no {name}/ folder: there is no held-out {name} set to report final accuracy on")
                continue
            per_split[name] = _class_folders(folder, name, f"expected e.g. {folder}/10/*.jpg", errors, warn, entries, ignored)
        train_classes = set(per_split.get("train", []))
        for name in ("val", "test"):
            unknown = [c for c in per_split.get(name, []) if c not in train_classes]
            if unknown:
                errors.append(f"{root / name} has class(es) not in train/: {', '.join(sorted(unknown, key=natural_key))}")
        classes = sorted({c for names in per_split.values() for c in names}, key=natural_key)
    else:
        layout = "classes"
        classes = _class_folders(root, None, f"expected one folder of images per class, e.g. {root}/10/*.jpg, {root}/500/*.jpg",
                                 errors, warn, entries, ignored)
    return layout, classes, entries, ignored


def _inspect_all(paths: list[Path], progress: bool) -> list[_Result]:
    workers = max(1, min(4, os.cpu_count() or 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's metadata warnings on odd files; problems are reported per file
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = pool.map(_inspect, paths, chunksize=8)
            if progress:
                results = track(results, "Checking images", total=len(paths))
            return list(results)


def _groups(by_hash: dict[str, list[_Entry]]) -> list[list[_Entry]]:
    groups = [sorted(g, key=lambda e: str(e.path)) for g in by_hash.values() if len(g) > 1]
    return sorted(groups, key=lambda g: str(g[0].path))


def check_dataset(path, min_side: int = 64, imbalance_ratio: float = 3.0, progress: bool = True) -> CheckReport:
    """Check class folders, a train/ val/ [test/] tree or a split manifest .json.

    Raises EdgetlError only when there is nothing to check (missing folder or manifest, or a manifest
    that is not one); every problem with the data itself is reported in the returned CheckReport.
    """
    root = Path(path)
    if not root.exists():
        raise EdgetlError(f"{'split manifest' if root.suffix.lower() == '.json' else 'data folder'} not found: {root}")
    if not root.is_dir() and root.suffix.lower() != ".json":
        raise EdgetlError(f"not a folder: {root} (expected one sub-folder of images per class, or a split manifest .json)")

    errors: list[str] = []
    warn: list[str] = []
    layout, classes, entries, ignored = _collect(root, errors, warn)
    results = _inspect_all([e.path for e in entries], progress)

    report = CheckReport(root=str(root), classes=classes, counts={c: 0 for c in classes}, layout=layout, min_side=min_side)
    split_counts: dict[str, Counter] = defaultdict(Counter)
    by_hash: dict[str, list[_Entry]] = defaultdict(list)
    for e, r in zip(entries, results):
        if r.error is not None:
            report.unreadable.append({"path": str(e.path), "reason": r.error, "label": e.label})
            continue
        report.counts[e.label] = report.counts.get(e.label, 0) + 1
        if e.split is not None:
            split_counts[e.split][e.label] += 1
        by_hash[r.sha].append(e)  # type: ignore[index]
        if min(r.width, r.height) < min_side:
            report.tiny.append({"path": str(e.path), "width": r.width, "height": r.height, "label": e.label})
    if layout != "classes":
        present = [s for s in SPLITS if s in split_counts or (layout == "split-folders" and (root / s).is_dir()) or layout == "manifest"]
        report.split_counts = {s: {c: split_counts[s].get(c, 0) for c in classes} for s in present}

    groups = _groups(by_hash)
    report.duplicates = [[str(e.path) for e in g] for g in groups]
    report.cross_class_duplicates = [[str(e.path) for e in g] for g in groups if len({e.label for e in g}) > 1]
    report.cross_split_duplicates = [[str(e.path) for e in g] for g in groups if len({e.split for e in g}) > 1]

    _judge(report, ignored, imbalance_ratio, errors, warn)
    report.errors = errors
    report.warnings = warn
    return report


def _judge(report: CheckReport, ignored: list[Path], ratio: float, errors: list[str], warn: list[str]) -> None:
    counts = report.counts
    for c in report.classes:
        if counts.get(c, 0) == 0:
            errors.append(f"class '{c}' has no readable images")
    readable = {c: n for c, n in counts.items() if n > 0}
    if len(report.classes) == 1:
        warn.append(
            f"only one class ('{report.classes[0]}'); a classifier needs at least 2 "
            "(add a 'background' folder of scenes without notes)"
        )
    small = [c for c, n in readable.items() if n < MIN_IMAGES_PER_CLASS]
    for c in small:
        warn.append(f"class '{c}' has only {readable[c]} image(s); aim for at least {MIN_IMAGES_PER_CLASS}, ideally 50+")
    if len(readable) >= 2:
        big = max(readable, key=lambda c: readable[c])
        tiny_class = min(readable, key=lambda c: readable[c])
        if readable[big] > ratio * readable[tiny_class]:
            warn.append(
                f"classes are imbalanced: '{big}' has {readable[big]} images but '{tiny_class}' only {readable[tiny_class]} "
                f"({readable[big] / readable[tiny_class]:.1f}x, more than {ratio:g}x); add photos of the small classes "
                "(class weights only partly make up for it)"
            )
    for name, per_class in report.split_counts.items():
        if name == "train":
            continue
        total = sum(per_class.values())
        missing = [c for c in report.classes if per_class.get(c, 0) == 0 and counts.get(c, 0) > 0]
        if total and missing:
            warn.append(f"{name} has no images of class(es) {', '.join(missing)}: their {name} accuracy cannot be measured")
    if report.unreadable:
        warn.append(f"{len(report.unreadable)} file(s) cannot be read as images (listed above); delete or re-save them")
    if report.cross_class_duplicates:
        warn.append(
            f"{len(report.cross_class_duplicates)} image(s) appear under more than one class: label noise; "
            "keep each photo in exactly one class folder"
        )
    if report.cross_split_duplicates:
        warn.append(
            f"{len(report.cross_split_duplicates)} image(s) appear in more than one split: val/test scores will be "
            "optimistic (leakage); keep each photo in one split"
        )
    extra = sum(len(g) - 1 for g in report.duplicates)
    if extra:
        warn.append(f"{len(report.duplicates)} group(s) of identical files ({extra} redundant copies); duplicates add nothing and over-weight those photos")
    if report.tiny:
        warn.append(f"{len(report.tiny)} image(s) are smaller than {report.min_side} px on one side; they will be blurry when scaled up")
    if ignored:
        kinds = Counter(p.suffix.lower() or "(no extension)" for p in ignored)
        listing = ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items()))
        warn.append(
            f"{len(ignored)} file(s) in class folders are not a supported image type and are skipped ({listing}); "
            f"convert photos to one of {', '.join(sorted(IMAGE_EXTENSIONS))}"
        )


def _unique_name(src: Path, used: set[str]) -> str:
    """``src.name`` unless taken in this folder (case-insensitively), else name~<hash of source path>."""
    name = src.name
    if name.lower() not in used:
        return name
    tag = hashlib.sha256(os.path.abspath(src).encode()).hexdigest()
    for n in range(8, len(tag) + 1, 4):
        name = f"{src.stem}~{tag[:n]}{src.suffix}"
        if name.lower() not in used:
            return name
    i = 2
    while f"{src.stem}~{i}{src.suffix}".lower() in used:  # pragma: no cover - needs a sha256 collision
        i += 1
    return f"{src.stem}~{i}{src.suffix}"


def split_to_folders(parts: dict[str, LabelledSet], out: Path, link: bool = False) -> dict:
    """Write a split as ``out/train/<class>/``, ``out/val/<class>/``, ``out/test/<class>/``.

    Copies files (or, with ``link``, symlinks to the absolute source paths). Same-named files from
    different sources get a short suffix from their source path instead of overwriting each other.
    The tree is built in a hidden sibling folder and renamed to ``out`` only when complete, so an
    interrupted run leaves no plausible-looking partial tree. ``out`` must not exist or be empty.
    Empty splits and empty classes get no folder. Returns a summary dict.
    """
    out = Path(out)
    unknown = [name for name in parts if name not in SPLITS]
    if unknown:
        raise EdgetlError(f"unknown split name(s): {', '.join(unknown)} (expected {', '.join(SPLITS)})")

    def check_target() -> None:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise EdgetlError(f"{out} already exists and is not empty; choose a new output folder or remove it")

    check_target()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    counts: dict[str, dict[str, int]] = {}
    renamed: list[dict] = []
    try:
        for name in SPLITS:
            part = parts.get(name)
            if part is None or not part.samples:
                continue
            counts[name] = {}
            by_class: dict[str, list[Path]] = defaultdict(list)
            for s in part.samples:
                by_class[part.classes[s.label]].append(Path(s.path))
            for cls in part.classes:
                sources = sorted(set(by_class.get(cls, [])), key=str)
                if not sources:
                    continue
                folder = tmp / name / cls
                folder.mkdir(parents=True)
                used: set[str] = set()
                for src in sources:
                    dest_name = _unique_name(src, used)
                    used.add(dest_name.lower())
                    if dest_name != src.name:
                        renamed.append({"source": str(src), "path": str(out / name / cls / dest_name)})
                    _place(src, folder / dest_name, link)
                counts[name][cls] = len(sources)
        check_target()
        if out.exists():
            out.rmdir()  # empty, checked above
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "out": str(out),
        "mode": "link" if link else "copy",
        "files": sum(n for per in counts.values() for n in per.values()),
        "counts": counts,
        "renamed": renamed,
    }


def _place(src: Path, dest: Path, link: bool) -> None:
    try:
        if link:
            os.symlink(os.path.abspath(src), dest)
        else:
            shutil.copy2(src, dest)
    except FileNotFoundError:
        raise EdgetlError(f"cannot {'link' if link else 'copy'} {src}: no such file") from None
    except OSError as exc:
        hint = " (symlinks may need extra permissions here; try without --link)" if link else ""
        raise EdgetlError(f"cannot {'link' if link else 'copy'} {src} to {dest}: {exc.strerror or exc}{hint}") from None

