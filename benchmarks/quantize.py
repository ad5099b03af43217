"""What quantization costs and buys: float32 vs fp16 vs post-training int8 vs quantization-aware int8.

    .venv/bin/python benchmarks/quantize.py [--size 224] [--work DIR] [--reuse] [--runs 200]

One run: MobileNetV2 1.0 (../shared/weights, by path) trained on the union of inr-photos, inr-scans and
inr-handheld through a seeded split manifest (views 2, top 3 blocks fine-tuned), then QAT, then four
exports of that same run: float32, fp16, PTQ int8 and QAT int8 (different names, so nothing collides).
Each export is evaluated on the run's held-out test split plus ../shared/data/negatives (false
announcements at the threshold written in each model's card), compared with the float32 export on the
same decoded images, and timed together with the off-the-shelf reference int8 model in one interleaved
``compare_models`` call per thread count.

``--reuse`` keeps a finished run/QAT/exports in ``--work`` and only re-evaluates and re-times.
Prints markdown tables and writes benchmarks/results/quantize.json (with the command used).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from paths import DATA, FOLDERS, ROOT, SHARED, WEIGHTS  # noqa: E402  (also puts edgetl on the path)
REFERENCE = SHARED / "reference" / "imagenet_mobilenet_v2_1.0_224_int8.tflite"
NEGATIVES = [DATA / "negatives" / "scenes", DATA / "negatives" / "sek-notes"]
PEER_INT8_BYTES = 2.85e6

from edgetl.atomic import write_json  # noqa: E402
from edgetl.data.folders import scan, split, write_manifest  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(x) -> str:
    return "–" if x is None else f"{x * 100:.2f} %"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--work", type=Path, default=Path("/tmp/edgetl-quantize"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fine-tune-epochs", type=int, default=8)
    ap.add_argument("--qat-epochs", type=int, default=1)
    ap.add_argument("--qat-images", type=int, default=1500)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--reuse", action="store_true", help="keep a finished run / QAT / exports found in --work")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quantize.json")
    args = ap.parse_args()
    command = ".venv/bin/python benchmarks/quantize.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])

    from edgetl.benchmark import compare_models
    from edgetl.evaluate import evaluate
    from edgetl.export.convert import export
    from edgetl.train.config import TrainConfig
    from edgetl.train.qat import qat
    from edgetl.train.trainer import train

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    run = work / "run"
    models = work / "models"
    result: dict = {"command": command, "size": args.size, "machine": f"{platform.system()} {platform.machine()}",
                    "cpu_count": os.cpu_count(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "note": "2-core machine shared with another CPU-heavy benchmark during this run; wall times inflated"}

    # ---- train ---------------------------------------------------------------------------------
    manifest = work / "split.json"
    if not manifest.exists():
        parts = split(scan([DATA / f for f in FOLDERS]), val=0.1, test=0.1, seed=args.seed)
        write_manifest(parts, manifest, seed=args.seed)
    config = TrainConfig(size=args.size, alpha=1.0, weights=str(WEIGHTS), fine_tune=3, views=2, augment=True,
                         epochs=40, fine_tune_epochs=args.fine_tune_epochs, fine_tune_learning_rate=3e-4,
                         seed=args.seed, cache_dir=str(work / "cache"))
    if args.reuse and (run / "metrics.json").exists():
        metrics = json.loads((run / "metrics.json").read_text())
        log(f"reusing {run}")
        result["train"] = {"reused": True, "test_top1_keras": metrics["test"]["top1"], "seconds": metrics.get("seconds")}
    else:
        log(f"training {args.size} px on {', '.join(FOLDERS)}")
        t0 = time.perf_counter()
        tr = train(manifest, run, config, force=True, log=log)
        result["train"] = {"seconds": round(time.perf_counter() - t0, 1), "test_top1_keras": tr.metrics["test"]["top1"],
                           "val_top1_keras": tr.metrics["val"]["top1"], "cache": tr.cache,
                           "counts": {k: sum(v.values()) for k, v in tr.config["counts"].items()}}
        log(f"trained: {tr.summary()}")
    result["train"]["config"] = config.to_dict()

    # ---- QAT -----------------------------------------------------------------------------------
    if args.reuse and (run / "qat_weights.h5").exists() and (run / "qat_metrics.json").exists():
        result["qat"] = {"reused": True, **{k: v for k, v in json.loads((run / "qat_metrics.json").read_text()).items() if k != "val"}}
    else:
        t0 = time.perf_counter()
        qm = qat(run, epochs=args.qat_epochs, learning_rate=1e-5, batch_size=32, max_images=args.qat_images,
                 seed=args.seed, log=log)
        result["qat"] = {k: v for k, v in qm.items() if k != "val"}
        result["qat"]["val_top1_keras"] = qm.get("val", {}).get("top1")
        result["qat"]["wall_seconds"] = round(time.perf_counter() - t0, 1)

    # ---- export --------------------------------------------------------------------------------
    files: dict[str, dict] = {}
    plan = [("float32", "notes", ("float32", "fp16"), False), ("ptq_int8", "notes_ptq", ("int8",), False),
            ("qat_int8", "notes_qat", ("int8",), True)]
    export_seconds = {}
    for label, name, quants, use_qat in plan:
        paths = {q: models / f"{name}_{q}.tflite" for q in quants}
        if args.reuse and all(p.exists() for p in paths.values()):
            for q, p in paths.items():
                files["fp16" if q == "fp16" else label] = {"model": str(p), "card": str(p.with_suffix(".json"))}
            continue
        t0 = time.perf_counter()
        ex = export(run, models, quantizations=quants, use_qat=use_qat, name=name, log=log)
        export_seconds[name] = round(time.perf_counter() - t0, 1)
        for q, f in ex.files.items():
            files["fp16" if q == "fp16" else label] = f
    result["export_seconds"] = export_seconds
    names = ["float32", "fp16", "ptq_int8", "qat_int8"]

    # ---- accuracy ------------------------------------------------------------------------------
    acc: dict[str, dict] = {}
    for key in names:
        model = Path(files[key]["model"])
        log(f"evaluating {model.name}")
        rep = evaluate(model, data=run, split="test", negatives=NEGATIVES,
                       compare=None if key == "float32" else Path(files["float32"]["model"]), progress=False, log=log)
        card = json.loads(Path(files[key]["card"]).read_text())
        row = {"model": model.name, "size_bytes": model.stat().st_size, "top1": rep["top1"], "count": rep["count"],
               "selective_threshold": rep["selective"]["threshold"],
               "coverage_at_threshold": rep["selective"]["coverage_at_threshold"],
               "card_threshold": card.get("announce_threshold"),
               "at_card_threshold": rep.get("card_threshold"),
               "negatives": {k: v for k, v in rep.get("negatives", {}).items() if k != "curve"}}
        if "compare" in rep:
            row["vs_float32"] = {"agreement": rep["compare"]["agreement"], "accuracy_diff_points": rep["compare"]["accuracy_diff"],
                                 "max_prob_diff": rep["compare"]["max_prob_diff"]}
        acc[key] = row
    result["accuracy"] = acc

    # ---- latency -------------------------------------------------------------------------------
    bench_paths = [Path(files[k]["model"]) for k in names] + [REFERENCE]
    latency: dict[str, list] = {}
    for threads in (2, 1):
        log(f"timing {len(bench_paths)} models interleaved, {threads} thread(s), {args.runs} runs")
        latency[str(threads)] = compare_models(bench_paths, threads=threads, runs=args.runs, warmup=20)
    result["latency"] = latency
    result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")

    # ---- tables --------------------------------------------------------------------------------
    f32 = acc["float32"]
    out = [f"### Quantization, one run ({args.size} px, test split n={f32['count']} + {acc['float32']['negatives'].get('count', 0)} negatives)", "",
           "| export | test top-1 | vs float32: agreement | vs float32: Δ acc (points) | size | size / float32 | card threshold | coverage at card thr. | false announcements (negatives) at card thr. |",
           "|---|---|---|---|---|---|---|---|---|"]
    for key in names:
        r = acc[key]
        vs = r.get("vs_float32", {})
        ct = r.get("at_card_threshold") or {}
        out.append(f"| {key} | {pct(r['top1'])} | {pct(vs.get('agreement')) if vs else '–'} | "
                   f"{vs.get('accuracy_diff_points', '–') if vs else '–'} | {r['size_bytes'] / 1e6:.2f} MB | "
                   f"{r['size_bytes'] / f32['size_bytes']:.1%} | {r['card_threshold'] if r['card_threshold'] is not None else '–'} | "
                   f"{pct(ct.get('coverage')) if ct else '–'} | "
                   f"{ct.get('false_announcements', '–') if ct else '–'} / {r['negatives'].get('count', 0)} |")
    out += ["", "### Latency (interleaved in one `compare_models` call per thread count; reference = ../shared/reference int8)", "",
            "| model | size | p50 2 threads | p50 1 thread | p50 / float32 (2 thr) | p50 / reference (2 thr) |", "|---|---|---|---|---|---|"]
    ref2 = latency["2"][-1]["p50_ms"]
    fl2 = latency["2"][0]["p50_ms"]
    for i, p in enumerate(bench_paths):
        a, b = latency["2"][i], latency["1"][i]
        out.append(f"| {p.name} | {a['size_bytes'] / 1e6:.2f} MB | {a['p50_ms']:.2f} ms | {b['p50_ms']:.2f} ms | "
                   f"{a['p50_ms'] / fl2:.2f} | {a['p50_ms'] / ref2:.2f} |")
    q = acc["qat_int8"]
    checks = {
        "qat_int8_within_0.3_points_of_float": abs(q["vs_float32"]["accuracy_diff_points"]) <= 0.3,
        "int8_size_le_28pct_of_float": max(acc["ptq_int8"]["size_bytes"], q["size_bytes"]) <= 0.28 * f32["size_bytes"],
        "int8_size_le_peer_2.85MB": max(acc["ptq_int8"]["size_bytes"], q["size_bytes"]) <= PEER_INT8_BYTES,
        "int8_p50_le_0.6x_float_2thr": max(latency["2"][2]["p50_ms"], latency["2"][3]["p50_ms"]) <= 0.6 * fl2,
        "int8_p50_within_5pct_of_reference_2thr": max(latency["2"][2]["p50_ms"], latency["2"][3]["p50_ms"]) <= 1.05 * ref2,
    }
    result["checks"] = checks
    out += ["", "Targets: " + ", ".join(f"{k} {'✓' if v else '✗'}" for k, v in checks.items()), "",
            f"Train {result['train'].get('seconds')} s, QAT {result['qat'].get('wall_seconds', result['qat'].get('seconds'))} s. "
            f"Command: `{command}`"]
    result["markdown"] = "\n".join(out)
    write_json(args.out, result)
    print(result["markdown"])


if __name__ == "__main__":
    main()
