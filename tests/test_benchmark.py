"""Device-side benchmark on real .tflite files (conftest's tiny float and int8 models)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from edgetl.errors import EdgetlError


def test_benchmark_numbers_are_sane(tiny_models):
    from edgetl.benchmark import benchmark, format_benchmark

    for key, dtype in (("float", "float32"), ("int8", "uint8")):
        path = tiny_models[key]
        r = benchmark(path, threads=1, runs=40, warmup=3)
        assert r["runs"] == 40 and r["warmup"] == 3 and r["threads"] == 1 and r["xnnpack"] is True
        assert 0 < r["min_ms"] <= r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert r["min_ms"] <= r["mean_ms"] <= r["max_ms"]
        assert r["size_bytes"] == path.stat().st_size
        assert r["input_dtypes"] == [dtype] and r["output_dtypes"] == [dtype]
        assert r["input_shapes"] == [[1, 32, 32, 3]]
        assert r["peak_rss_mb"] > 10 and r["rss_delta_mb"] >= 0
        assert r["runtime"] in ("ai_edge_litert", "tflite_runtime", "tensorflow.lite")
        assert r["card"]["quantization"] == ("int8" if key == "int8" else "float32")
        text = format_benchmark(r)
        assert path.name in text and "p50" in text
    plain = benchmark(tiny_models["float"], runs=5, warmup=0, xnnpack=False)
    assert plain["xnnpack"] is False and plain["runs"] == 5


def test_compare_models_interleaves(tiny_models):
    from edgetl.benchmark import compare_models, format_benchmark

    results = compare_models([tiny_models["float"], tiny_models["int8"]], threads=1, runs=25, warmup=2)
    assert [r["model"] for r in results] == [str(tiny_models["float"]), str(tiny_models["int8"])]
    assert all(r["runs"] == 25 and r["p50_ms"] > 0 for r in results)
    text = format_benchmark(results)
    assert len(text.splitlines()) == 4 and "tiny_int8.tflite" in text


def test_bad_models_fail_with_one_line(tiny_models, tmp_path):
    from edgetl.benchmark import benchmark

    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\x18\x00\x00\x00TFL3" + bytes(range(256)) * 4)
    stale = tmp_path / "stale.tflite"  # int8 bytes under a card written for the float model
    shutil.copyfile(tiny_models["int8"], stale)
    shutil.copyfile(tiny_models["float"].with_suffix(".json"), stale.with_suffix(".json"))
    for bad in (empty, corrupt, tmp_path / "missing.tflite", stale):
        with pytest.raises(EdgetlError) as exc:
            benchmark(bad, runs=2, warmup=0)
        assert "\n" not in str(exc.value) and str(bad.name) in str(exc.value)
    with pytest.raises(EdgetlError):
        benchmark(tiny_models["float"], runs=0)


def test_runs_with_tensorflow_unimportable(tiny_models):
    """What a Raspberry Pi has: numpy and LiteRT. Importing TensorFlow here would fail the run."""
    script = textwrap.dedent(f"""
        import json, sys
        sys.modules["tensorflow"] = None  # any `import tensorflow` now raises ImportError
        sys.modules["tf_keras"] = None
        from edgetl.benchmark import benchmark, compare_models, format_benchmark
        r = benchmark({str(tiny_models["int8"])!r}, threads=1, runs=10, warmup=2)
        both = compare_models([{str(tiny_models["float"])!r}, {str(tiny_models["int8"])!r}], runs=5, warmup=1)
        format_benchmark(both)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras", "keras")
                        and sys.modules[m] is not None)
        print(json.dumps({{"p50": r["p50_ms"], "runtime": r["runtime"], "loaded": loaded, "n": len(both)}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "EDGETL_PROGRESS": "0"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["p50"] > 0 and out["n"] == 2 and out["loaded"] == []
    assert out["runtime"] != "tensorflow.lite"


def test_preprocess_benchmark_times_both_methods_on_a_real_clip():
    """benchmarks/preprocess.py end to end on a short make_video clip: the VGA plan and both timings."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "preprocess.py"), "--frames", "10", "--calls", "30",
                           "--rounds", "1", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["frame"] == "640x480" and report["preprocessor_crop"] == "448x448"
    assert report["preprocessor_method"] == "box (INTER_AREA)"
    for method in ("bilinear, full square", "Preprocessor"):
        row = report["methods"][method]
        assert row["calls"] == 30 and 0 < row["p50_ms"] <= row["p95_ms"]
