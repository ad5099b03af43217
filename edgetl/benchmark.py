"""`edgetl benchmark`: on-device latency and memory of a `.tflite`, with nothing but numpy and LiteRT.

Runs where the model will run (a Raspberry Pi, a phone over adb, a laptop), so it must never import
TensorFlow: the interpreter comes from ``edgetl.runtime.interpreter`` (ai_edge_litert / tflite_runtime).
Inputs are seeded random tensors of the model's own dtype; only ``invoke()`` is timed.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from edgetl.card import ModelCard, find_card
from edgetl.errors import EdgetlError
from edgetl.runtime.interpreter import load_interpreter, runtime_module

SEED = 0


def _maxrss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _current_rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return None


def _random_input(detail: dict, rng: np.random.Generator) -> np.ndarray:
    shape = tuple(int(d) for d in detail["shape"])
    dtype = np.dtype(detail["dtype"])
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(dtype)
    return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)


class _Bench:
    """One loaded model, its inputs set once, ready to time."""

    def __init__(self, model: str | Path, threads: int | None, xnnpack: bool, card, seed: int = SEED):
        self.path = Path(model)
        if not self.path.is_file():
            raise EdgetlError(f"model not found: {self.path}")
        self.card = card if isinstance(card, ModelCard) else find_card(self.path, card)
        if self.card is not None:
            self.card.verify(self.path)
        self.threads, self.xnnpack = threads, xnnpack
        rss_before, peak_before = _current_rss_mb(), _maxrss_mb()
        self.interpreter = load_interpreter(self.path, threads=threads, xnnpack=xnnpack)
        rng = np.random.default_rng(seed)
        self.inputs = self.interpreter.get_input_details()
        self.outputs = self.interpreter.get_output_details()
        for detail in self.inputs:
            self.interpreter.set_tensor(detail["index"], _random_input(detail, rng))
        self.invoke()  # the first invoke allocates scratch buffers: count it in the load memory
        rss_after = _current_rss_mb()
        if rss_before is not None and rss_after is not None:
            self.rss_delta = rss_after - rss_before
        else:
            self.rss_delta = _maxrss_mb() - peak_before
        self.times_ns: list[int] = []

    def invoke(self) -> None:
        try:
            self.interpreter.invoke()
        except (RuntimeError, ValueError) as exc:
            raise EdgetlError(f"{self.path}: inference failed ({str(exc).splitlines()[0][:200]})") from None

    def timed(self) -> None:
        start = time.perf_counter_ns()
        self.interpreter.invoke()
        self.times_ns.append(time.perf_counter_ns() - start)

    def result(self, warmup: int) -> dict:
        ms = np.asarray(self.times_ns, dtype=np.float64) / 1e6
        _, runtime = runtime_module()
        out = {
            "model": str(self.path),
            "size_bytes": self.path.stat().st_size,
            "runs": int(ms.size),
            "warmup": warmup,
            "threads": self.threads,
            "xnnpack": self.xnnpack,
            "p50_ms": round(float(np.percentile(ms, 50)), 4),
            "p90_ms": round(float(np.percentile(ms, 90)), 4),
            "p99_ms": round(float(np.percentile(ms, 99)), 4),
            "mean_ms": round(float(ms.mean()), 4),
            "min_ms": round(float(ms.min()), 4),
            "max_ms": round(float(ms.max()), 4),
            "peak_rss_mb": round(_maxrss_mb(), 1),
            "rss_delta_mb": round(float(self.rss_delta), 1),
            "input_dtypes": [np.dtype(d["dtype"]).name for d in self.inputs],
            "input_shapes": [[int(x) for x in d["shape"]] for d in self.inputs],
            "output_dtypes": [np.dtype(d["dtype"]).name for d in self.outputs],
            "runtime": runtime,
            "machine": f"{platform.system()} {platform.machine()}",
            "cpu_count": os.cpu_count(),
        }
        if self.card is not None:
            out["card"] = {"name": self.card.name, "quantization": self.card.quantization}
        return out


def _check_counts(runs: int, warmup: int) -> None:
    if runs < 1:
        raise EdgetlError(f"runs must be at least 1 (got {runs})")
    if warmup < 0:
        raise EdgetlError(f"warmup cannot be negative (got {warmup})")


def benchmark(model: str | Path, threads: int | None = None, runs: int = 200, warmup: int = 20, xnnpack: bool = True,
              card: str | Path | ModelCard | None = None) -> dict:
    """Latency percentiles (ms) of ``runs`` timed invokes after ``warmup`` untimed ones, plus size and memory.

    A model card (given, or the sidecar ``.json``) must match the model's sha256.
    """
    _check_counts(runs, warmup)
    bench = _Bench(model, threads, xnnpack, card)
    for _ in range(warmup):
        bench.invoke()
    for _ in range(runs):
        bench.timed()
    return bench.result(warmup)


def compare_models(paths: Sequence[str | Path], threads: int | None = None, runs: int = 200, warmup: int = 20,
                   xnnpack: bool = True) -> list[dict]:
    """Benchmark several models in one process, interleaving their runs so drift (thermal throttling, other
    load on the device) hits all of them alike. The starting model rotates each round.

    Memory figures in one process are shared: ``rss_delta_mb`` is each model's own load cost, ``peak_rss_mb``
    the process peak after all of them.
    """
    _check_counts(runs, warmup)
    if not paths:
        raise EdgetlError("no models to compare")
    benches = [_Bench(p, threads, xnnpack, None) for p in paths]
    for _ in range(warmup):
        for b in benches:
            b.invoke()
    n = len(benches)
    for i in range(runs):
        for k in range(n):
            benches[(i + k) % n].timed()
    return [b.result(warmup) for b in benches]


def format_benchmark(result: dict | Sequence[dict]) -> str:
    """One line per model: latency percentiles, size and memory."""
    results = [result] if isinstance(result, dict) else list(result)
    if not results:
        return "no results"
    name_w = max(5, *(len(Path(r["model"]).name) for r in results))
    head = (f"{'model':<{name_w}}  {'p50 ms':>8}  {'p90 ms':>8}  {'p99 ms':>8}  {'mean ms':>8}  {'min ms':>8}  "
            f"{'size MB':>8}  {'RSS MB':>7}  {'+RSS MB':>7}  input")
    lines = [head]
    for r in results:
        lines.append(f"{Path(r['model']).name:<{name_w}}  {r['p50_ms']:>8.2f}  {r['p90_ms']:>8.2f}  {r['p99_ms']:>8.2f}  "
                     f"{r['mean_ms']:>8.2f}  {r['min_ms']:>8.2f}  {r['size_bytes'] / 1e6:>8.2f}  {r['peak_rss_mb']:>7.1f}  "
                     f"{r['rss_delta_mb']:>7.1f}  {'/'.join(r['input_dtypes'])}")
    r0 = results[0]
    threads = "default" if r0["threads"] is None else r0["threads"]
    lines.append(f"{r0['runs']} runs after {r0['warmup']} warm-up, threads {threads}, "
                 f"XNNPACK {'on' if r0['xnnpack'] else 'off'}, {r0['runtime']} on {r0['machine']}")
    return "\n".join(lines)
