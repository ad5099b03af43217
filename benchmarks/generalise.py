"""Does it generalise? Held-out accuracy on the union of the real photo sets, and on an unseen photographer.

    .venv/bin/python benchmarks/generalise.py [--size 160] [--only union|cross]

1. union: inr-photos + inr-scans + inr-handheld, seeded stratified 80/10/10 split; test top-1 overall
   and per source folder, with the whole training wall time from a cold feature cache (the peer tool,
   MediaPipe Model Maker fine-tuned: 96.6 % in 1092 s on this machine, see ../shared/PEERS.md).
2. cross: train on inr-photos + inr-scans only, test on all of inr-handheld (hand-held, folded notes from
   another photographer), once per recipe, to show what moves the number: frozen features, + augmentation,
   + fine-tuning, + synthetic composites of the training notes (edgetl synth --from).
Prints markdown tables and writes benchmarks/results/generalise.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from paths import DATA, FOLDERS, ROOT, WEIGHTS  # noqa: E402  (also puts edgetl on the path)

from edgetl.atomic import write_json  # noqa: E402
from edgetl.data.folders import LabelledSet, Sample, scan, split, write_manifest  # noqa: E402
from edgetl.train.config import TrainConfig  # noqa: E402
from edgetl.train.trainer import train  # noqa: E402


def per_folder(run: Path) -> dict[str, float]:
    import csv

    hits: dict[str, list[int]] = defaultdict(list)
    for row in csv.DictReader((run / "predictions.csv").open()):
        if row["split"] != "test":
            continue
        folder = next((f for f in FOLDERS if f"/{f}/" in row["path"]), "other")
        hits[folder].append(row["label"] == row["predicted"])
    return {f: round(sum(v) / len(v), 4) for f, v in hits.items()}


def union(size: int, work: Path, log, blocks: int = 3, views: int = 3, lr: float = 5e-4, epochs: int = 20) -> dict:
    cache = work / f"cache-union-{blocks}"  # cold: the wall time includes every backbone pass
    config = TrainConfig(size=size, weights=str(WEIGHTS), fine_tune=blocks, views=views, epochs=40,
                         fine_tune_epochs=epochs, fine_tune_learning_rate=lr, cache_dir=str(cache), seed=0)
    started = time.perf_counter()
    result = train([DATA / f for f in FOLDERS], work / "union", config, force=True, log=log)
    wall = time.perf_counter() - started
    return {"recipe": f"fine-tune {blocks} blocks at {lr:g} (≤ {epochs} epochs) + augmentation ({views} views)", "size": size, "wall_s": round(wall, 1),
            "test_top1": result.metrics["test"]["top1"], "test_count": result.metrics["test"]["count"],
            "val_top1": result.metrics["val"]["top1"], "per_folder": per_folder(result.run)}


def cross_manifest(work: Path, extra_train: Path | None = None) -> Path:
    """train/val from photos+scans (+ optional synthetic composites), test = every hand-held photo."""
    known = split(scan([DATA / "inr-photos", DATA / "inr-scans"]), val=0.1, test=0.0, seed=0)
    classes = known["train"].classes
    handheld = scan(DATA / "inr-handheld")
    index = {c: i for i, c in enumerate(classes)}
    test = LabelledSet(classes, [Sample(s.path, index[handheld.classes[s.label]]) for s in handheld.samples])
    train_set = known["train"]
    if extra_train is not None:
        synth = scan(extra_train)
        train_set = LabelledSet(classes, train_set.samples + [Sample(s.path, index[synth.classes[s.label]]) for s in synth.samples])
    name = "cross-synth.json" if extra_train else "cross.json"
    return write_manifest({"train": train_set, "val": known["val"], "test": test}, work / name, seed=0)


def composites(work: Path, size: int) -> Path:
    """Synthetic hand-held composites made only from the training split's photos (never from hand-held)."""
    from edgetl.data.folders import read_manifest
    from edgetl.data.synth import make_dataset

    src = work / "cross-train-src"
    if not src.exists():
        for s in read_manifest(work / "cross.json")["train"].samples:
            dest = src / s.path.parent.name / f"{s.path.parent.parent.name}-{s.path.name}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(s.path)
    out = work / "cross-composites"
    if not out.exists():
        make_dataset(out, per_class=300, size=size, seed=0, background=False, source=src, progress=False)
    return out


def cross(size: int, work: Path, log) -> list[dict]:
    plain = cross_manifest(work)
    recipes = [
        ("frozen features, no augmentation (the seeds' recipe, softmax head)", plain, dict(fine_tune=0, augment=False, views=1)),
        ("frozen features + augmentation (4 views)", plain, dict(fine_tune=0, views=4)),
        ("fine-tune 3 blocks + augmentation", plain, dict(fine_tune=3, views=4)),
        ("fine-tune 3 blocks + augmentation + synthetic composites", None, dict(fine_tune=3, views=4)),
    ]
    rows = []
    for name, manifest, options in recipes:
        if manifest is None:
            manifest = cross_manifest(work, composites(work, size))
        config = TrainConfig(size=size, weights=str(WEIGHTS), epochs=40, fine_tune_epochs=12,
                             cache_dir=str(work / "cache-cross"), seed=0, **options)
        started = time.perf_counter()
        result = train(manifest, work / f"cross-{len(rows)}", config, force=True, log=log)
        rows.append({"recipe": name, "size": size, "wall_s": round(time.perf_counter() - started, 1),
                     "in_distribution_val_top1": result.metrics["val"]["top1"],
                     "handheld_top1": result.metrics["test"]["top1"], "handheld_count": result.metrics["test"]["count"]})
        log(f"cross: {rows[-1]}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--only", choices=["union", "cross"])
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--fine-tune", type=int, default=3, help="union: top blocks to fine-tune")
    parser.add_argument("--views", type=int, default=3, help="union: cached views per training image")
    parser.add_argument("--lr", type=float, default=5e-4, help="union: fine-tuning learning rate")
    parser.add_argument("--epochs", type=int, default=20, help="union: max fine-tuning epochs")
    args = parser.parse_args()
    if not DATA.exists() or not WEIGHTS.exists():
        sys.exit(f"needs {DATA} and {WEIGHTS}")
    work = args.work or Path(tempfile.mkdtemp(prefix="edgetl-generalise-"))
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    results: dict = {"command": " ".join([".venv/bin/python benchmarks/generalise.py", *sys.argv[1:]])}
    if args.only in (None, "union"):
        results["union"] = union(args.size, work, log, args.fine_tune, args.views, args.lr, args.epochs)
        u = results["union"]
        print("\n| data | recipe | px | test top-1 | per folder | train wall time |\n|---|---|---|---|---|---|")
        folders = ", ".join(f"{k} {v:.1%}" for k, v in sorted(u["per_folder"].items()))
        print(f"| union of 3 folders ({u['test_count']} test) | {u['recipe']} | {u['size']} | **{u['test_top1']:.1%}** | {folders} | {u['wall_s']:.0f} s |")
        print("| same, MediaPipe Model Maker fine-tuned (PEERS.md) | its defaults | 224 | 96.6 % | – | 1092 s |")
    if args.only in (None, "cross"):
        results["cross"] = cross(args.size, work, log)
        print("\n| trained on photos + scans | px | their val top-1 | all of inr-handheld | wall time |\n|---|---|---|---|---|")
        for r in results["cross"]:
            print(f"| {r['recipe']} | {r['size']} | {r['in_distribution_val_top1']:.1%} | **{r['handheld_top1']:.1%}** ({r['handheld_count']}) | {r['wall_s']:.0f} s |")
        print("| seeds' recipe: frozen features + logistic regression (PEERS.md) | 224 | 99.6 % | 45.5 % | – |")
    dest = ROOT / "benchmarks" / "results" / "generalise.json"
    if dest.exists():
        results = {**json.loads(dest.read_text()), **results}
    write_json(dest, results)


if __name__ == "__main__":
    main()
