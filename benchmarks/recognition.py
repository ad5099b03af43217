"""How well does the default recipe name real notes, and stay silent on foreign ones? (issue: the model a blind user can trust)

    .venv/bin/python benchmarks/recognition.py --work /tmp/rec --protocol lofo:inr-parul --name R0
    .venv/bin/python benchmarks/recognition.py --work /tmp/rec --protocol holdout --name R0 --set label_smoothing=0

One recipe, one protocol, one row:

* ``holdout``: the four shared photo folders plus a synthetic ``background`` folder, split by
  ``edgetl train`` itself (seeded 80/10/10); scored on the untouched test part.
* ``lofo:FOLDER``: leave one photographer out. Train (and validate) on the other three folders plus the
  background, test on *every* photo of FOLDER: a photographer the model never saw, like a user's own phone.

The run is ``train()`` + ``export(..., ("int8",))`` with the library defaults unless ``--set`` overrides a
training option or ``--familiarity`` the gate; the int8 file is then scored exactly as shipped (raw
uint8 pixels in, the card's announce threshold): top-1 (a silent answer to a note counts as wrong),
coverage and precision at the card threshold, the best coverage at >= 99.5 % precision, and how many
``negatives/`` (Swedish notes, scenes; never trained on) are announced at the card threshold.
Writes ``benchmarks/results/recognition-NAME-PROTOCOL.json`` and prints one markdown row.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from paths import DATA, ROOT, WEIGHTS  # noqa: E402  (also puts edgetl on the path)

from edgetl.atomic import write_json  # noqa: E402
from edgetl.data.folders import LabelledSet, Sample, scan, split, write_manifest  # noqa: E402

PHOTO_FOLDERS = ("inr-photos", "inr-scans", "inr-handheld", "inr-parul")
TARGET = 0.995


def _tag(scenes: Path | None) -> str:
    """A folder-name suffix naming the scene photos used, so another DIR never reuses these pictures."""
    return "" if scenes is None else "-on-" + hashlib.sha256(str(Path(scenes).resolve()).encode()).hexdigest()[:8]


def background_folder(work: Path, count: int, size: int, scenes: Path | None = None) -> Path:
    """``edgetl synth --background-only [--background SCENES]``: no note, on drawn clutter or on crops of real photos.

    Some show a made-up foreign note, some a hand.
    """
    from edgetl.data.synth import make_dataset

    out = work / f"no-note-{count}{_tag(scenes)}"
    if not (out / "annotations.json").exists():
        make_dataset(out, per_class=count, size=size, seed=0, background_only=True, backgrounds=scenes, progress=False)
    return out


COMPOSITE_SOURCES = ("inr-photos", "inr-scans")  # flat, tightly framed notes: the ones that never appear in a scene


def composites_folder(work: Path, per_class: int, size: int, exclude: str | None, scenes: Path | None = None) -> Path:
    """``edgetl synth OUT --from inr-photos --from inr-scans --no-background [--background SCENES]``.

    Each note cut out, folded, held, lit, on drawn clutter or on crops of real ``scenes``. (Byte for byte what
    `make model` writes to build/composites, which uses drawn clutter.)
    """
    from edgetl.data.synth import make_dataset

    folders = [f for f in COMPOSITE_SOURCES if f != exclude]
    out = work / f"composites-{per_class}-{'-'.join(folders)}{_tag(scenes)}"
    if not (out / "annotations.json").exists():
        make_dataset(out, per_class=per_class, size=size, seed=0, source=[DATA / f for f in folders], background=False,
                     backgrounds=scenes, progress=False)
    return out


def lofo_manifest(work: Path, held_out: str, background: Path, extra: list[Path] = ()) -> Path:
    """train/val from every other folder (+ background, + extra), test = all of ``held_out`` (+ its share of background)."""
    others = [DATA / f for f in PHOTO_FOLDERS if f != held_out] + list(extra)
    known = split(scan(others + [background]), val=0.1, test=0.1, seed=0)
    classes = known["train"].classes
    unseen = scan(DATA / held_out)
    index = {c: i for i, c in enumerate(classes)}
    missing = [c for c in unseen.classes if c not in index]
    test = [Sample(s.path, index[unseen.classes[s.label]]) for s in unseen.samples if unseen.classes[s.label] in index]
    bg = index.get("background")
    test += [s for s in known["test"].samples if s.label == bg]
    parts = {"train": known["train"], "val": known["val"], "test": LabelledSet(classes, test)}
    if missing:
        print(f"note: {held_out} classes {missing} are unknown to the other folders and left out", file=sys.stderr)
    name = f"lofo-{held_out}{''.join('+' + Path(e).name for e in extra)}.json"
    return write_manifest(parts, work / name, seed=0)


def source_of(path: Path) -> str:
    parts = Path(path).parts
    return next((f for f in PHOTO_FOLDERS if f in parts), "background")


def predict_views(model: Path, paths: list[Path], size: int, count: int = 1) -> np.ndarray:
    """count x N x classes: the int8 file's output for each photo as is, then (count 2) turned 180 degrees."""
    from edgetl.data.images import load_square
    from edgetl.runtime.interpreter import Classifier

    clf = Classifier(model, threads=2)
    out: list[list[np.ndarray]] = [[] for _ in range(count)]
    for i in range(0, len(paths), 64):
        batch = np.stack([load_square(p, size) for p in paths[i: i + 64]])
        out[0].append(clf.predict(batch))
        if count == 2:
            out[1].append(clf.predict(np.ascontiguousarray(batch[:, ::-1, ::-1])))
    return np.stack([np.concatenate(o) for o in out])


def predict_file(model: Path, paths: list[Path], size: int) -> np.ndarray:
    return predict_views(model, paths, size)[0]


def best_coverage(probs: np.ndarray, truth: np.ndarray, silent: list[int], target: float = TARGET) -> float:
    """The largest share of notes one threshold could speak on at >= target precision (an oracle, for ranking).

    Notes are the pictures whose truth is not in ``silent``; a spoken answer to any other picture counts as wrong.
    """
    conf, pred = probs.max(1), probs.argmax(1)
    speakable = ~np.isin(pred, silent) & (conf > 0)  # an all-zero (gate-rejected) output is silence
    order = np.argsort(-np.where(speakable, conf, -1.0))
    right = np.cumsum(((pred == truth) & speakable)[order])
    spoken = np.cumsum(speakable[order])
    ok = np.flatnonzero((right / np.maximum(spoken, 1) >= target) & speakable[order])
    notes = int((~np.isin(truth, silent)).sum())
    return round(float(spoken[ok[-1]] / notes), 4) if ok.size else 0.0


def score(probs: np.ndarray, truth: np.ndarray, labels: list[str], threshold: float | None) -> dict:
    """Top-1 and the speaker's view: which answers it would say, and how many of those are right."""
    bg = labels.index("background") if "background" in labels else -1
    conf, pred = probs.max(1), probs.argmax(1)
    pred = np.where(conf > 0, pred, -1)  # a gate-rejected all-zero output is silence, not the first label
    notes = truth != bg
    speakable = (pred != bg) & (pred >= 0)
    row = {"notes": int(notes.sum()), "top1": round(float((pred[notes] == truth[notes]).mean()), 4),
           "silent_notes": round(float((~speakable[notes]).mean()), 4),
           "top1_by_class": {labels[c]: round(float((pred[truth == c] == c).mean()), 4) for c in sorted(set(truth[notes]))}}
    row["best_coverage_at_99_5"] = best_coverage(probs, truth, [bg])
    if threshold is not None:
        spoken = speakable & (conf >= threshold)
        n = int(spoken[notes].sum())
        row["card_threshold"] = threshold
        row["coverage_at_card"] = round(n / notes.sum(), 4)
        row["precision_at_card"] = round(float((pred[spoken & notes] == truth[spoken & notes]).mean()), 4) if n else 1.0
        row["wrong_at_card"] = int((spoken & notes & (pred != truth)).sum())
        row["background_announced"] = int((spoken & ~notes).sum())
    return row


def negatives(model: Path, size: int, threshold: float | None, labels: list[str]) -> dict:
    out = {}
    for name in ("sek-notes", "scenes"):
        paths = sorted(p for p in (DATA / "negatives" / name).iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        probs = predict_file(model, paths, size)
        bg = labels.index("background") if "background" in labels else -1
        conf, pred = probs.max(1), probs.argmax(1)
        said = (pred != bg) & (conf > 0) & (conf >= (threshold if threshold is not None else 2.0))
        out[name] = {"count": len(paths), "announced": int(said.sum())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="scratch folder; the feature cache lives in WORK/cache")
    ap.add_argument("--protocol", default="lofo:inr-parul", help="holdout | lofo:FOLDER")
    ap.add_argument("--name", required=True, help="name of the recipe (row)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="TrainConfig override (JSON value)")
    ap.add_argument("--familiarity", type=float, default=None, help="gate keep share (default: export's default; 0: off)")
    ap.add_argument("--background", type=int, default=600, help="synthetic no-note pictures")
    ap.add_argument("--composites", type=int, default=0,
                    help="per class: add `synth --from` composites of the flat training notes (scored never)")
    ap.add_argument("--scenes", type=Path, default=None,
                    help="folder of real scene photos: add `synth --background-only --background SCENES` no-note pictures")
    ap.add_argument("--composites-on-scenes", action="store_true", help="paste the composites' notes on --scenes crops")
    ap.add_argument("--scene-count", type=int, default=600, help="no-note pictures made from --scenes")
    ap.add_argument("--reuse", action="store_true", help="reuse the trained run and int8 file of the same name when present (score only)")
    args = ap.parse_args()
    if args.composites_on_scenes and not args.scenes:
        ap.error("--composites-on-scenes needs --scenes DIR")
    from edgetl.export.convert import export
    from edgetl.train.config import TrainConfig
    from edgetl.train.trainer import train

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    overrides = {k: json.loads(v) if v[:1] in "0123456789-[{tfn\"" else v for k, v in (s.split("=", 1) for s in args.set)}
    config = TrainConfig(weights=str(WEIGHTS), cache_dir=str(work / "cache"), **overrides)
    bg = background_folder(work, args.background, 224)
    held_out = args.protocol.split(":", 1)[1] if args.protocol.startswith("lofo:") else None
    on_scenes = args.scenes if args.composites_on_scenes else None
    extra = [composites_folder(work, args.composites, 224, held_out, on_scenes)] if args.composites else []
    extra += [background_folder(work, args.scene_count, 224, args.scenes)] if args.scenes else []
    if args.protocol == "holdout":
        data = [DATA / f for f in PHOTO_FOLDERS] + [bg] + extra
    elif held_out:
        data = lofo_manifest(work, held_out, bg, extra)
    else:
        sys.exit(f"unknown protocol {args.protocol}")
    tag = f"{args.name}-{args.protocol.replace(':', '-')}"
    run = work / tag
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    if args.reuse and (run / "model.keras").exists():
        metrics = json.loads((run / "metrics.json").read_text())
        train_s = metrics.get("seconds")
    else:
        result = train(data, run, config, force=True, log=log)
        metrics, train_s = result.metrics, round(time.perf_counter() - started, 1)
    keep = args.familiarity
    kwargs = {} if keep is None else {"familiarity": keep or None}
    models = work / f"{tag}-models{'' if keep is None else f'-gate{keep:g}'}"
    shipped = models / f"{tag}_int8.tflite"
    if args.reuse and shipped.exists():
        entry = {"model": shipped, "card": shipped.with_suffix(".json")}
    else:
        entry = export(run, models, ("int8",), log=log, **kwargs).files["int8"]
    card = json.loads(Path(entry["card"]).read_text())
    labels, size, threshold = card["labels"], card["input_size"], card.get("announce_threshold")
    from edgetl.data.folders import read_manifest

    test = read_manifest(run / "split.json")["test"]
    test.samples = [s for s in test.samples if not any(Path(s.path).is_relative_to(e) for e in extra)]
    paths = [s.path for s in test.samples]
    truth = np.array([labels.index(test.classes[s.label]) for s in test.samples])
    probs = predict_file(Path(entry["model"]), paths, size)
    by_source = {}
    sources = np.array([source_of(p) for p in paths])
    for src in sorted(set(sources) - {"background"}):
        m = (sources == src) | (sources == "background")
        by_source[src] = score(probs[m], truth[m], labels, threshold)
    # A class that only some training folders hold (2000: scans only, when inr-parul is left out) is a test of
    # something else than a new photographer; it is scored apart as well as within the whole.
    train_part = read_manifest(run / "split.json")["train"]
    held = {}
    for s in train_part.samples:
        held.setdefault(train_part.classes[s.label], set()).add(source_of(s.path))
    folders = set().union(*held.values()) - {"background"}
    common = sorted(c for c, f in held.items() if c != "background" and f >= folders)
    in_common = np.isin(truth, [labels.index(c) for c in common]) | (sources == "background")
    summary = {
        "command": " ".join(["benchmarks/recognition.py", *sys.argv[1:]]),
        "classes_in_every_training_folder": common,
        "int8_those_classes": score(probs[in_common], truth[in_common], labels, threshold),
        "name": args.name, "protocol": args.protocol, "overrides": overrides, "familiarity": card.get("familiarity") is not None,
        "train_seconds": train_s, "float_test_top1": metrics["test"]["top1"], "float_val_top1": metrics["val"]["top1"],
        "int8": score(probs, truth, labels, threshold), "by_source": by_source,
        "negatives": negatives(Path(entry["model"]), size, threshold, labels),
        "size_bytes": Path(entry["model"]).stat().st_size, "model": str(entry["model"]),
    }
    dest = ROOT / "benchmarks" / "results" / f"recognition-{tag}{'' if keep is None else f'-gate{keep:g}'}.json"
    write_json(dest, summary)
    n = summary["negatives"]
    for what, i in (("all classes", summary["int8"]), (f"{len(common)} classes", summary["int8_those_classes"])):
        print(f"| {args.name} | {args.protocol} ({what}) | {'gate' if summary['familiarity'] else 'no gate'} | "
              f"{summary['float_test_top1']:.1%} | {i['top1']:.1%} | {i['silent_notes']:.1%} | "
              f"{i.get('coverage_at_card', 0):.1%} @ {i.get('precision_at_card', 0):.2%} (t={threshold}) | "
              f"{i['best_coverage_at_99_5']:.1%} | {n['sek-notes']['announced']}/{n['sek-notes']['count']} | "
              f"{n['scenes']['announced']}/{n['scenes']['count']} | {train_s} s | {summary['size_bytes'] / 1e6:.2f} MB |")
    print(json.dumps(summary, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
