"""The backbone trade-off: parameters, feature size, TFLite sizes, int8 latency, QAT and int8-only, per backbone.

    .venv/bin/python benchmarks/backbones.py [--size 96] [--work DIR] [--runs 100] [--threads 2] [--only a,b]

For every registered backbone: train one epoch with ``--weights none`` on a small synthetic set (the
numbers measured here do not depend on the weights' values; no other ImageNet weights exist offline),
export float32 and post-training int8, then try QAT (one epoch) and export int8 from it. MobileNetV2 is
also run with the real ImageNet weights from ../shared/weights. All int8 models are timed together in one
interleaved ``compare_models`` call (warm ``invoke()``, XNNPACK, ``--threads``), so load from other work
on the machine hits them alike. Prints a markdown table; writes benchmarks/results/backbones.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("EDGETL_PROGRESS", "0")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REAL_WEIGHTS = ROOT.parent / "shared" / "weights" / "mobilenet_v2_1.0_224_imagenet_from_coral_int8ptq_no_top.h5"

from edgetl.atomic import write_json  # noqa: E402
from edgetl.errors import EdgetlError  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def quiet(msg: str) -> None:
    pass


def measure(name: str, weights: str, label: str, data: Path, work: Path, size: int, reuse: bool) -> dict:
    """Train, export float32 + PTQ int8, then QAT + int8: everything but latency, for one backbone."""
    from edgetl.export.convert import export
    from edgetl.train import backbones
    from edgetl.train.config import TrainConfig
    from edgetl.train.qat import qat
    from edgetl.train.trainer import train

    spec = backbones.get(name)
    run = work / "runs" / label
    models = work / "models"
    row: dict = {"backbone": name, "label": label, "weights": "ImageNet (../shared)" if weights != "none" else "none",
                 "size": size, "mean": spec.mean, "std": spec.std}
    started = time.perf_counter()
    if not (reuse and (run / "model.keras").exists()):
        config = TrainConfig(backbone=name, size=size, weights=weights, epochs=1, fine_tune=0, views=1, batch_size=32,
                             cache_dir=str(work / "cache"), seed=0)
        train(data, run, config, force=True, log=quiet)
    row["train_seconds"] = round(time.perf_counter() - started, 1)
    config = json.loads((run / "config.json").read_text())
    row["parameters"] = config["backbone"]["parameters"]
    row["features"] = config["backbone"]["features"]
    started = time.perf_counter()
    result = export(run, models, ("float32", "int8"), name=label, calibration_count=50, use_qat=False, log=quiet)
    row["export_seconds"] = round(time.perf_counter() - started, 1)
    int8 = result.files["int8"]["report"]
    row.update(float32_bytes=result.files["float32"]["report"]["size_bytes"], int8_bytes=int8["size_bytes"],
               int8_only=int8["int8_only"], int8_ops=int8["ops"], int8_model=result.files["int8"]["model"],
               int8_input={"scale": int8["input"]["scale"], "zero_point": int8["input"]["zero_point"]})
    # QAT on a copy, so the PTQ run above stays as it was
    qat_run = work / "runs" / f"{label}-qat"
    shutil.rmtree(qat_run, ignore_errors=True)
    shutil.copytree(run, qat_run)
    started = time.perf_counter()
    try:
        qat(qat_run, epochs=1, max_images=64, batch_size=16, log=quiet)
        qat_result = export(qat_run, models, ("int8",), name=f"{label}-qat", calibration_count=50, log=quiet)
        report = qat_result.files["int8"]["report"]
        row.update(qat="yes", qat_int8_only=report["int8_only"], qat_int8_bytes=report["size_bytes"])
    except EdgetlError as exc:
        row.update(qat="no", qat_error=str(exc), qat_int8_only=None)
    row["qat_seconds"] = round(time.perf_counter() - started, 1)
    log(f"{label}: {row['parameters']:,} parameters, int8 {row['int8_bytes'] / 1e6:.2f} MB, int8-only {row['int8_only']}, "
        f"QAT {row['qat']}")
    return row


def yes_no(value) -> str:
    return "–" if value is None else ("yes" if value else "**no**")


def table(rows: list[dict], threads: int) -> str:
    lines = [f"| backbone | weights | parameters | features | float32 | int8 | int8 p50 ({threads} threads) | int8-only | QAT | QAT → int8-only |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lat = r.get("latency", {}).get("p50_ms")
        lines.append(f"| `{r['backbone']}` | {r['weights']} | {r['parameters'] / 1e6:.2f} M | {r['features']} | "
                     f"{r['float32_bytes'] / 1e6:.2f} MB | {r['int8_bytes'] / 1e6:.2f} MB | "
                     f"{'–' if lat is None else f'{lat:.2f} ms'} | {yes_no(r['int8_only'])} | "
                     f"{'yes' if r['qat'] == 'yes' else '**no**'} | {yes_no(r['qat_int8_only'])} |")
    return "\n".join(lines)


def main() -> None:
    from edgetl.train import backbones

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--work", type=Path, default=Path("/tmp/edgetl-backbones"))
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated backbones (default: all)")
    ap.add_argument("--reuse", action="store_true", help="keep trained runs found in --work")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "backbones.json")
    args = ap.parse_args()
    command = ".venv/bin/python benchmarks/backbones.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    names = [n for n in args.only.split(",") if n] or backbones.names()
    for n in names:
        backbones.get(n)
    from edgetl.benchmark import compare_models
    from edgetl.data.synth import make_dataset

    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "notes"
    if not data.exists():
        make_dataset(data, per_class=14, size=args.size, seed=1, progress=False)
    plan = [(n, "none", n) for n in names]
    if "mobilenet_v2" in names and REAL_WEIGHTS.exists():
        plan.insert(1, ("mobilenet_v2", str(REAL_WEIGHTS), "mobilenet_v2-imagenet"))
    rows = []
    for name, weights, label in plan:
        log(f"{label}: train, export, QAT")
        rows.append(measure(name, weights, label, data, args.work, args.size, args.reuse))
    log(f"timing {len(rows)} int8 models interleaved, {args.threads} threads, {args.runs} runs each")
    timings = compare_models([r["int8_model"] for r in rows], threads=args.threads, runs=args.runs, warmup=10)
    for row, timing in zip(rows, timings):
        row["latency"] = {k: timing[k] for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "runtime")}
    text = table(rows, args.threads)
    print(text)
    print(f"\nCommand: `{command}`")
    write_json(args.out, {"command": command, "size": args.size, "threads": args.threads, "runs": args.runs,
                          "machine": f"{platform.system()} {platform.machine()}", "cpu_count": os.cpu_count(),
                          "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows, "table": text})
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
