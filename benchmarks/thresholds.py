"""Where should a recognition run's int8 model start speaking? Every threshold at a fine step, side by side.

    .venv/bin/python benchmarks/thresholds.py /tmp/rec/R0-lofo-inr-parul /tmp/rec/R0-lofo-inr-parul-models/R0-lofo-inr-parul_int8.tflite
    .venv/bin/python benchmarks/thresholds.py RUN MODEL --views 2      # also score each photo turned 180 deg, averaged
    .venv/bin/python benchmarks/thresholds.py RUN MODEL --mistakes 0.8 # and name every photo called wrong at >= 0.8
    .venv/bin/python benchmarks/thresholds.py RUN MODEL --val real     # the rule placed on real validation photos only

``recognition.py`` reports one row at the card's threshold. This tool shows the whole trade behind it, for
one run folder and the int8 file exported from it (scored as shipped, raw uint8 pixels in):

* validation (the split that places the card's threshold): answers spoken, wrong ones, and whether the
  export's rule (``edgetl.metrics.selective``: 99.5 % precision with one more wrong answer counted, on at
  least 100 spoken answers) trusts the threshold;
* test notes (real photos only; the no-note pictures are left out, negatives below stand for them):
  coverage, precision and wrong answers;
* ``negatives/``: Swedish notes and scenes announced (never trained on, test only).

The card's rule is also applied on the export's own grid (``card_by_rule``: what export writes, falling back to
the lowest threshold measured at 99.5 % when none is trusted). ``--val real`` leaves the synthetic pictures
(composites, no-note) out of validation, to see where real photos alone would place the card.

With ``--views 2`` each photo is also seen turned 180 degrees and the two outputs are averaged, the
"several views of one note" lever (two inferences per photo). Predictions are cached beside the model
(``MODEL.views-N.npz``, with the model's and the split's sha256: a file exported or trained again in place is
scored again), so a second look at another step is instant. Writes
``benchmarks/results/thresholds-NAME[-views2].json`` unless ``--no-save`` (NAME: the model's, or ``--name``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from paths import DATA, ROOT  # noqa: E402  (also puts edgetl on the path)

from edgetl.atomic import write_json  # noqa: E402
from edgetl.digest import sha256_file  # noqa: E402
from edgetl.data.folders import read_manifest  # noqa: E402
from edgetl.metrics import measured_threshold, selective  # noqa: E402
from recognition import best_coverage, predict_views  # noqa: E402

NEGATIVES = ("sek-notes", "scenes")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def _photos(run: Path, labels: list[str]) -> dict[str, tuple[list[Path], np.ndarray]]:
    """Validation as the export saw it (synthetic pictures included); test: the real photos only."""
    manifest = read_manifest(run / "split.json")
    parts = {}
    for part, real_only in (("val", False), ("test", True)):
        split = manifest[part]
        samples = [s for s in split.samples if not real_only or Path(s.path).is_relative_to(DATA)]
        parts[part] = ([Path(s.path) for s in samples],
                       np.array([labels.index(split.classes[s.label]) for s in samples], int))
    negs = [p for kind in NEGATIVES for p in sorted((DATA / "negatives" / kind).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    parts["negatives"] = (negs, np.array([NEGATIVES.index(p.parent.name) for p in negs], int))
    return parts


def cache_key(model: Path, run: Path | None) -> dict[str, np.ndarray]:
    """What cached outputs were computed from: a model exported again, or a run trained again, in the same place
    must not reuse them (the file names stay the same)."""
    key = {"model_sha256": np.array(sha256_file(model))}
    if run is not None:
        key["split_sha256"] = np.array(sha256_file(run / "split.json"))
    return key


def _read_cache(cache: Path, key: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    if not cache.exists():
        return None
    saved = dict(np.load(cache, allow_pickle=False))
    if any(name not in saved or str(saved[name]) != str(value) for name, value in key.items()):
        return None
    return {name: value for name, value in saved.items() if not name.endswith("_sha256")}


def _cache_file(model: Path, views: int) -> Path:
    return Path(f"{model}.views-{views}.npz")


def cached_predictions(model: Path, views: int, run: Path | None = None) -> dict[str, np.ndarray] | None:
    """The outputs saved beside ``model`` if they were computed from these very bytes (and this run's split), else None."""
    if not Path(model).is_file():
        return None
    return _read_cache(_cache_file(model, views), cache_key(model, run))


def predictions(run: Path, model: Path, labels: list[str], size: int, views: int) -> dict[str, np.ndarray]:
    """Truth and averaged outputs per part, computed once per model file, run split and view count."""
    cache, key = _cache_file(model, views), cache_key(model, run)  # hashed once: the check and the save share it
    out = _read_cache(cache, key)
    if out is not None:
        return out
    out = {}
    for part, (paths, truth) in _photos(run, labels).items():
        print(f"  scoring {len(paths)} {part} photos ...", file=sys.stderr, flush=True)
        out[f"y_{part}"], out[f"p_{part}"] = truth, predict_views(model, paths, size, views).mean(0)
    tmp = cache.with_name(cache.name + ".tmp.npz")
    np.savez(tmp, **out, **key)
    tmp.replace(cache)
    return out


def real_validation(run: Path, labels: list[str]) -> np.ndarray:
    """Which validation pictures are real photos (True) rather than composites or no-note pictures."""
    return np.array([p.is_relative_to(DATA) for p in _photos(run, labels)["val"][0]], bool)


def table(pred: dict[str, np.ndarray], labels: list[str], thresholds: list[float], val_rows: np.ndarray | None = None) -> dict:
    """One row per threshold: validation (trusted or not; only ``val_rows`` if given), test notes, negatives announced."""
    silent = [labels.index("background")] if "background" in labels else []
    y_val, p_val = (pred["y_val"], pred["p_val"]) if val_rows is None else (pred["y_val"][val_rows], pred["p_val"][val_rows])
    val = selective(y_val, p_val, thresholds=thresholds, silent=silent)
    on_export_grid = selective(y_val, p_val, silent=silent)
    notes = ~np.isin(pred["y_test"], silent)
    test = selective(pred["y_test"][notes], pred["p_test"][notes], thresholds=thresholds, silent=silent, min_spoken=1)
    conf, top = pred["p_negatives"].max(1), pred["p_negatives"].argmax(1)
    speakable = ~np.isin(top, silent) & (conf > 0)
    rows = []
    for v, t in zip(val["curve"], test["curve"]):
        said = speakable & (conf >= v["threshold"])
        rows.append({"threshold": v["threshold"], "val_spoken": v["spoken"], "val_wrong": v["wrong"], "trusted": v["trusted"],
                     "test_coverage": t["coverage"], "test_precision": t["precision"], "test_wrong": t["wrong"],
                     **{f"{kind}_announced": int(said[pred["y_negatives"] == i].sum()) for i, kind in enumerate(NEGATIVES)}})
    p_notes, y_notes = pred["p_test"][notes], pred["y_test"][notes]
    card = on_export_grid["threshold"] if on_export_grid["threshold"] is not None else measured_threshold(on_export_grid)
    return {"threshold_by_rule": val["threshold"], "card_by_rule": card,
            "val_pictures": int(len(y_val)), "test_notes": int(notes.sum()),
            "top1": round(float((p_notes.argmax(1) == y_notes).mean()), 4),
            "best_coverage_at_99_5": best_coverage(p_notes, y_notes, silent),
            "negatives": {kind: int((pred["y_negatives"] == i).sum()) for i, kind in enumerate(NEGATIVES)}, "rows": rows}


def confident_mistakes(run: Path, pred: dict[str, np.ndarray], labels: list[str], at: float) -> list[dict]:
    """Validation and test photos, and negatives, given a wrong name at confidence >= ``at``: the answers that
    keep the card's threshold up, or that a user would hear."""
    silent = labels.index("background") if "background" in labels else -1
    paths = {part: p for part, (p, _) in _photos(run, labels).items()}
    found = []
    for part in ("val", "test", "negatives"):
        probs, truth = pred[f"p_{part}"], pred[f"y_{part}"]
        conf, top = probs.max(1), probs.argmax(1)
        wrong = (top != silent) & (conf >= at) & ((top != truth) if part != "negatives" else True)
        for i in np.flatnonzero(wrong)[np.argsort(-conf[wrong])]:
            said = labels[top[i]]
            found.append({"part": part, "path": str(paths[part][i]), "said": said, "confidence": round(float(conf[i]), 3),
                          "truth": NEGATIVES[truth[i]] if part == "negatives" else labels[truth[i]]})
    return found


def show(result: dict) -> None:
    print(f"top-1 {result['top1']:.1%} on {result['test_notes']} test notes; best coverage at >= 99.5 %: "
          f"{result['best_coverage_at_99_5']:.1%}; the card's rule on this grid picks {result['threshold_by_rule']}, "
          f"on export's grid {result['card_by_rule']} ({result['val_pictures']} validation pictures)")
    neg = result["negatives"]
    print(f"| threshold | val spoken | val wrong | trusted | test coverage | test precision | test wrong | "
          f"Swedish (of {neg['sek-notes']}) | scenes (of {neg['scenes']}) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        print(f"| {r['threshold']:.2f} | {r['val_spoken']} | {r['val_wrong']} | {'yes' if r['trusted'] else ''} | "
              f"{r['test_coverage']:.1%} | {r['test_precision']:.2%} | {r['test_wrong']} | "
              f"{r['sek-notes_announced']} | {r['scenes_announced']} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="the recognition run folder (holds split.json)")
    ap.add_argument("model", type=Path, help="the int8 .tflite exported from it (its card beside it)")
    ap.add_argument("--views", type=int, choices=(1, 2), default=1, help="2: also turned 180 degrees, averaged")
    ap.add_argument("--low", type=float, default=0.50, help="lowest threshold shown")
    ap.add_argument("--step", type=float, default=0.01)
    ap.add_argument("--mistakes", type=float, default=None, metavar="T",
                    help="also list every photo given a wrong name at confidence >= T (validation, test, negatives)")
    ap.add_argument("--val", choices=("all", "real"), default="all",
                    help="validation pictures the card's rule sees: all (as export) or the real photos only")
    ap.add_argument("--no-save", action="store_true", help="print only")
    ap.add_argument("--name", help="results file name (default: the model's, e.g. C200-lofo-inr-parul)")
    args = ap.parse_args()
    card_path = args.model.with_suffix(".json")
    if not (args.run / "split.json").is_file() or not card_path.is_file():
        print(f"error: need {args.run}/split.json and the model's card {card_path} beside the model", file=sys.stderr)
        sys.exit(2)
    card = json.loads(card_path.read_text())
    labels = card["labels"]
    thresholds = [round(float(t), 3) for t in np.arange(args.low, 0.9995, args.step)]
    pred = predictions(args.run, args.model, labels, card["input_size"], args.views)
    result = table(pred, labels, thresholds, real_validation(args.run, labels) if args.val == "real" else None)
    result.update(model=args.model.name, views=args.views, card_threshold=card.get("announce_threshold"),
                  command=" ".join(["benchmarks/thresholds.py", *sys.argv[1:]]))
    print(f"card threshold: {result['card_threshold']}")
    show(result)
    if args.mistakes is not None:
        result["mistakes"] = confident_mistakes(args.run, pred, labels, args.mistakes)
        print(f"\nwrong names at confidence >= {args.mistakes}:")
        for m in result["mistakes"]:
            print(f"  {m['part']:9s} {m['confidence']:.3f} said {m['said']:>5s}, is {m['truth']:>9s}  {m['path']}")
    if not args.no_save:
        name = (args.name or args.model.stem.removesuffix("_int8")) + ("-views2" if args.views == 2 else "") \
            + ("-valreal" if args.val == "real" else "")
        write_json(ROOT / "benchmarks" / "results" / f"thresholds-{name}.json", result)


if __name__ == "__main__":
    main()
