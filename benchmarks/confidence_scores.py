"""Which confidence keeps foreign notes quietest at the same coverage of real ones?

The float classifier of a trained run is read up to its logits; several scores are computed from them
(max softmax, the top-two margin of the probabilities and of the logits, max logit, the energy of the note
classes, the best note's logit minus the no-note one) and each is compared at
equal coverage of the test photos (a photographer the run never saw, under lofo): how many Swedish notes
and scenes of ``negatives/`` would pass a threshold that speaks on that share of real notes, and how
precise the spoken answers are. A score that ranks foreign notes lower at the same coverage is a
better confidence, whatever its scale.

With ``--int8 NPZ`` (the scores `thresholds.py` saved for the exported int8 file, familiarity gate on) the
two scores a device can compute from its uint8 output, max softmax and the top-two margin, are also
compared the way the product uses them: a card threshold picked on validation by the trusted rule, then
coverage and precision on test and negatives spoken at that threshold.

    .venv/bin/python benchmarks/confidence_scores.py /work/rec/C200-lofo-inr-parul --test ../shared/data/inr-parul \
        --int8 /work/rec/C200-lofo-inr-parul-models/C200-lofo-inr-parul_int8.tflite.views-1.npz
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from paths import DATA

COVERAGES = (0.5, 0.6, 0.7, 0.8, 0.9)


def logit_reader(run: Path):
    """A function from image paths to the run's float pre-softmax scores (images squashed to the run's size, as
    export does); the model is loaded once and reused for every folder."""
    from edgetl.data.images import load_square_batch
    from edgetl.run import Run
    from edgetl.train import backbones
    from edgetl.train.loading import load_run_model
    from edgetl.tf_env import keras

    opened = Run.open_model(run)
    model = load_run_model(opened)
    spec = backbones.get(opened.configured_backbone or "mobilenet_v2")
    to_features = keras().Model(model.input, model.get_layer("pool").output)
    kernel, bias = model.get_layer("classifier").get_weights()

    def logits(paths: list[Path]) -> np.ndarray:
        out = []
        for i in range(0, len(paths), 64):
            images, kept = load_square_batch(paths[i:i + 64], opened.size)
            if len(kept) != len(paths[i:i + 64]):
                raise SystemExit(f"error: an unreadable image among {paths[i]} ... (rows would no longer match)")
            feats = to_features(backbones.to_model_input(images, spec.mean, spec.std), training=False).numpy()
            out.append(feats @ kernel + bias)
        return np.concatenate(out)

    return logits


def scores(z: np.ndarray, notes: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{score name: (predicted note class or -1 for no-note, score)}; higher score = more sure.

    ``z``: logits with the ``notes`` note classes first and ``background`` (if any) last. The softmax margin is
    taken over every class, as a device would from its output; the logit scores over the note classes, plus
    one that weighs the best note against ``background``."""
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    pred = p.argmax(1)
    pred = np.where(pred < notes, pred, -1)
    zn = z[:, :notes]
    top2 = np.sort(p, 1)[:, -2:]
    ztop2 = np.sort(zn, 1)[:, -2:]
    energy = np.log(np.exp(zn - zn.max(1, keepdims=True)).sum(1)) + zn.max(1)
    return {
        "max softmax": (pred, p.max(1)),
        "softmax margin": (pred, top2[:, 1] - top2[:, 0]),
        "max logit": (pred, zn.max(1)),
        "logit margin": (pred, ztop2[:, 1] - ztop2[:, 0]),
        "energy (notes)": (pred, energy),
        "note logit - no-note logit": (pred, zn.max(1) - z[:, notes:].max(1) if z.shape[1] > notes else zn.max(1)),
    }


def compare(test: tuple[np.ndarray, np.ndarray], y_test: np.ndarray, negatives: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """The best coverage at >= 99.5 % precision, and at each of COVERAGES of the test notes: the threshold
    that speaks on that share, the precision there, and how many of each negative folder pass it as a note."""
    pred, s = test
    said = pred >= 0
    order = np.argsort(-np.where(said, s, -np.inf))
    right = (pred == y_test)[order]
    n = len(y_test)
    row: dict = {}
    precision_curve = np.cumsum(right) / np.arange(1, n + 1)
    ok = np.flatnonzero((precision_curve >= 0.995) & said[order])
    row["best_coverage_at_99_5"] = round(float((ok.max() + 1) / n), 4) if ok.size else 0.0
    for c in COVERAGES:
        k = int(round(c * n))
        if k < 1 or not said[order[k - 1]]:
            continue
        threshold = s[order[k - 1]]
        entry = {"threshold": round(float(threshold), 4), "precision": round(float(right[:k].mean()), 4)}
        for name, (npred, ns) in negatives.items():
            entry[name] = int(((npred >= 0) & (ns >= threshold)).sum())
        row[f"{int(c * 100)}%"] = entry
    return row


def _as_scores(p: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """A matrix with ``conf`` at each row's arg-max and zeros elsewhere, so ``selective`` ranks by ``conf``."""
    from edgetl.metrics import SILENT, predicted

    q = np.zeros_like(p)
    pred = predicted(p)
    rows = np.flatnonzero(pred != SILENT)
    q[rows, pred[rows]] = conf[rows]
    return q


def int8_card(npz: Path, labels: list[str]) -> dict:
    """Max softmax against the top-two margin on the exported int8 file's outputs, each with the card threshold
    the export's rule would give it (trusted on validation, else "as measured"), and the best on test."""
    from edgetl.metrics import measured_threshold, selective
    from thresholds import table

    d = dict(np.load(npz, allow_pickle=False))
    fine = [round(t, 3) for t in np.arange(0.30, 0.9995, 0.01)]
    out = {}
    for name, conf in (("max softmax", lambda p: p.max(1)),
                       ("softmax margin", lambda p: np.diff(np.sort(p, 1)[:, -2:], axis=1)[:, 0])):
        recoded = {k: _as_scores(v, conf(v)) if k.startswith("p_") else v for k, v in d.items()}
        val = selective(recoded["y_val"], recoded["p_val"], silent=[labels.index("background")])
        card = val["threshold"] or measured_threshold(val)
        t = table(recoded, labels, fine)
        row = next((r for r in t["rows"] if card is not None and r["threshold"] >= card - 1e-9), {})
        out[name] = {"card": card, "rule": "trusted" if val["threshold"] else "as measured" if card else "none", **row,
                     "best_coverage_at_99_5": t["best_coverage_at_99_5"], "top1": t["top1"]}
    return out


def _photos(folder: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    """Every photo in ``folder``'s class folders that the run knows, with its class index."""
    pairs = [(p, i) for i, c in enumerate(classes) if (folder / c).is_dir() for p in sorted((folder / c).iterdir())]
    return [p for p, _ in pairs], np.array([i for _, i in pairs], int)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--test", type=Path, required=True, help="class folders of test photos (e.g. inr-parul)")
    ap.add_argument("--negatives", type=Path, default=DATA / "negatives")
    ap.add_argument("--int8", type=Path, help="thresholds.py's saved int8 scores (MODEL.views-1.npz) of the same run")
    ap.add_argument("--json", type=Path, help="write the table here")
    args = ap.parse_args()
    labels = (args.run / "labels.txt").read_text().split()
    notes = sum(1 for label in labels if label != "background")
    if labels[notes:] not in ([], ["background"]):
        raise SystemExit(f"error: {args.run}/labels.txt must list 'background' last, if at all")
    test_paths, y = _photos(args.test, labels[:notes])
    neg = {d.name: sorted(d.glob("*")) for d in sorted(args.negatives.iterdir()) if d.is_dir()}
    logits = logit_reader(args.run)
    z_test = logits(test_paths)
    z_neg = {name: logits(paths) for name, paths in neg.items()}
    s_test = scores(z_test, notes)
    s_neg = {name: scores(z, notes) for name, z in z_neg.items()}
    table = {score: compare(s_test[score], y, {n: s_neg[n][score] for n in neg}) for score in s_test}
    width = max(map(len, table))
    for score, row in table.items():
        cells = [f"best {row['best_coverage_at_99_5']:.1%}"]
        cells += [f"{c}: {e['precision']:.2%} " + "/".join(str(e[n]) for n in neg) for c, e in row.items() if c.endswith("%")]
        print(f"{score:<{width}}  " + "  ".join(cells))
    print(f"(negatives per cell: {' / '.join(f'{n} of {len(p)}' for n, p in neg.items())})")
    int8 = int8_card(args.int8, labels) if args.int8 else None
    for score, row in (int8 or {}).items():
        at_card = (f"{row['test_coverage']:.1%} @ {row['test_precision']:.2%}, Swedish / scenes {row['sek-notes_announced']} / "
                   f"{row['scenes_announced']}" if row["card"] is not None else "no card threshold")
        print(f"int8, {score}: card {row['card']} ({row['rule']}) -> {at_card}; best {row['best_coverage_at_99_5']:.1%}")
    if args.json:
        args.json.write_text(json.dumps({"run": str(args.run), "test": str(args.test), "float": table, "int8": int8}, indent=1))


if __name__ == "__main__":
    main()
