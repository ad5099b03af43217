"""Build the product model the runner benchmark measures: real rupee photos + a "no note" class.

    .venv/bin/python benchmarks/notes_model.py --work /tmp/notes-model [--size 224]

The real photo sets have no "no note" class, and a model that never saw one announces whatever it is
shown. This script

1. splits the union of inr-photos, inr-scans and inr-handheld 80/10/10 (seeded, stratified);
2. runs ``edgetl synth --from`` on the *training* photos only: composites of real notes folded, covered
   and warped into clutter, plus ``background`` pictures (clutter, hands, and made-up foreign notes);
   the background pictures are split 80/10/10 as well, the composites of notes go to training only;
3. trains MobileNetV2 1.0 (ImageNet weights from ../shared) with the benchmark-tuned recipe;
4. exports int8 (and fp16) with the announce threshold picked on validation and the familiarity gate
   (fitted on training and validation photos; pass ``--familiarity 0`` to export without it);
5. writes a test clip whose notes are cut from the *test* photos (``synth --video --from``), so nothing
   the runner benchmark shows was seen in training. ``../shared/data/negatives/`` is never used here:
   it stays a pure test of real scenes and real foreign notes.

Prints the paths and test metrics; writes ``WORK/notes_model.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from paths import DATA, FOLDERS, WEIGHTS  # noqa: E402  (also puts edgetl on the path)

from edgetl.atomic import write_json  # noqa: E402
from edgetl.data.folders import LabelledSet, Sample, natural_key, scan, split, write_manifest  # noqa: E402
from edgetl.data.synth import BACKGROUND_LABEL, make_dataset, make_video  # noqa: E402


def link_tree(samples, classes, dest: Path) -> Path:
    """Class folders of symlinks (synth --from reads class folders; the photos stay in ../shared)."""
    for s in samples:
        target = dest / classes[s.label] / f"{s.path.parent.parent.name}-{s.path.name}"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(s.path.resolve())
    return dest


def build_manifest(work: Path, size: int, per_class: int, foreign: float, seed: int,
                   extra_background: int = 0, extra_foreign: float = 0.7) -> tuple[Path, Path]:
    real = split(scan([DATA / f for f in FOLDERS]), val=0.1, test=0.1, seed=seed)
    notes = real["train"].classes
    train_src = link_tree(real["train"].samples, notes, work / "train-photos")
    test_src = link_tree(real["test"].samples, notes, work / "test-photos")
    composites = work / "composites"
    if not (composites / "annotations.json").exists():
        make_dataset(composites, per_class=per_class, size=size, seed=seed, source=train_src,
                     foreign_notes=foreign, progress=True)
    synth = scan(composites)
    classes = sorted(set(notes) | {BACKGROUND_LABEL}, key=natural_key)
    index = {c: i for i, c in enumerate(classes)}

    def relabel(samples, names):
        return [Sample(s.path, index[names[s.label]]) for s in samples]

    bg = [s for s in synth.samples if synth.classes[s.label] == BACKGROUND_LABEL]
    if extra_background:  # more "no note" pictures, most with a made-up foreign note (drawn mode: no photos needed)
        extra = work / f"background-{extra_background}-{extra_foreign:g}"
        if not (extra / "annotations.json").exists():
            make_dataset(extra, per_class=extra_background, size=size, seed=seed + 1, denominations=("10",),
                         foreign_notes=extra_foreign, progress=False)
        more = scan(extra)
        bg += [Sample(s.path, synth.classes.index(BACKGROUND_LABEL)) for s in more.samples if more.classes[s.label] == BACKGROUND_LABEL]
    bg_split = split(LabelledSet(synth.classes, bg), val=0.1, test=0.1, seed=seed)
    parts = {
        "train": relabel(real["train"].samples, notes) + relabel([s for s in synth.samples if synth.classes[s.label] != BACKGROUND_LABEL], synth.classes)
                 + relabel(bg_split["train"].samples, synth.classes),
        "val": relabel(real["val"].samples, notes) + relabel(bg_split["val"].samples, synth.classes),
        "test": relabel(real["test"].samples, notes) + relabel(bg_split["test"].samples, synth.classes),
    }
    manifest = write_manifest({k: LabelledSet(classes, v) for k, v in parts.items()}, work / "notes.json", seed=seed)
    return manifest, test_src


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (re-runs reuse what is there)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--per-class", type=int, default=250, help="synthetic composites per class (and background pictures)")
    ap.add_argument("--foreign-notes", type=float, default=0.4, help="share of background pictures with a made-up foreign note")
    ap.add_argument("--fine-tune", type=int, default=5)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=10, help="max fine-tuning epochs")
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--extra-background", type=int, default=0, help="extra background pictures (drawn scenes)")
    ap.add_argument("--extra-foreign", type=float, default=0.7, help="share of the extra ones with a foreign note")
    ap.add_argument("--name", default="run", help="run folder (WORK/NAME) and models folder (WORK/NAME-models)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the test clip")
    ap.add_argument("--familiarity", type=float, default=0.99, help="gate keep share at export (0: no gate)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not DATA.exists() or not WEIGHTS.exists():
        sys.exit(f"needs {DATA} and {WEIGHTS}")
    from edgetl.export.convert import export
    from edgetl.train.config import TrainConfig
    from edgetl.train.trainer import train

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    manifest, test_src = build_manifest(work, args.size, args.per_class, args.foreign_notes, args.seed,
                                        args.extra_background, args.extra_foreign)
    config = TrainConfig(size=args.size, weights=str(WEIGHTS), fine_tune=args.fine_tune, views=args.views, epochs=40,
                         fine_tune_epochs=args.epochs, label_smoothing=args.label_smoothing, cache_dir=str(work / "cache"),
                         seed=args.seed)
    result = train(manifest, work / args.name, config, force=True, log=log)
    trained = time.perf_counter() - started
    exported = export(result.run, work / ("models" if args.name == "run" else f"{args.name}-models"), ("int8", "fp16"),
                      familiarity=args.familiarity or None, log=log)
    clip = work / "clip-test-notes.mp4"
    if not clip.exists():
        make_video(clip, seed=args.seed, seconds=args.seconds, source=test_src)
    summary = {
        "command": " ".join([".venv/bin/python benchmarks/notes_model.py", *sys.argv[1:]]),
        "run": str(result.run), "models": {q: str(e["model"]) for q, e in exported.files.items()},
        "clip": str(clip), "train_seconds": round(trained, 1),
        "test_top1": result.metrics["test"]["top1"], "val_top1": result.metrics["val"]["top1"],
        "test_count": result.metrics["test"]["count"],
    }
    write_json(work / f"{args.name}.json", summary)
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
