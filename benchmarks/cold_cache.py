"""Filling an empty feature cache: the frozen bottom through LiteRT (today) against TensorFlow (before).

    .venv/bin/python benchmarks/cold_cache.py [--images 400] [--views 4] [--rounds 2] [--work DIR]

The default recipe's bottom (ImageNet MobileNetV2 at 224 px, cut for five fine-tuned blocks) and edgetl's own
``extract``: real hand-held photos, decoding and augmentation in its threads, a fresh HDF5 cache per fill. Both
engines fill the same images in the same process, alternating (LiteRT, TensorFlow, LiteRT, ...) so that a slow
start or a busy neighbour does not favour one. Reported per fill: seconds, views per second; and how far the two
engines' activations differ. Writes benchmarks/results/cold-cache.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from paths import DATA, ROOT, WEIGHTS  # noqa: E402  (also puts edgetl on the path)

from edgetl.atomic import write_json  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA / "inr-handheld")
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--views", type=int, default=4, help="views per image, the first one plain (the default recipe: 4)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()

    from edgetl.data.images import load_square
    from edgetl.tf_env import tf
    from edgetl.train import augment, backbones, frozen
    from edgetl.train.features import FeatureCache, extract
    from edgetl.digest import sha256_file  # the cache's own keys

    paths = sorted(p for p in args.data.glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    paths = paths[:: max(1, len(paths) // args.images)][: args.images]
    hashes = [sha256_file(p) for p in paths]
    model = backbones.create("mobilenet_v2", 7, 1.0, args.size, str(WEIGHTS), 0.2)
    cut = backbones.cut_layer_name(model, 5, "mobilenet_v2")
    bottom = backbones.split_at(model, cut)[0]
    graph = tf().function(lambda x: bottom(x, training=False))
    engines = {"tensorflow": lambda x: graph(x).numpy()}
    started = time.perf_counter()
    engines["litert"] = frozen.litert_runner(bottom)
    convert_s = time.perf_counter() - started

    def fill(run) -> tuple[float, np.ndarray]:
        with tempfile.TemporaryDirectory(dir=args.work) as tmp:
            with FeatureCache(Path(tmp) / "c.h5", bottom.output_shape[1:], {}) as cache:
                t0 = time.perf_counter()
                feats, _ = extract(paths, hashes, args.views, cache,
                                   lambda images: run(backbones.to_model_input(images)),
                                   lambda p: load_square(p, args.size), augment.make_view)
                return time.perf_counter() - t0, feats

    fill(engines["tensorflow"])  # outside the clock: TensorFlow traces its graph, the photos reach the page cache
    engines["litert"](np.zeros((32, args.size, args.size, 3), np.float32))  # and LiteRT allocates its tensors
    rows, feats = [], {}
    for r in range(args.rounds):
        for name in ("litert", "tensorflow"):
            seconds, feats[name] = fill(engines[name])
            views = len(paths) * args.views
            rows.append({"round": r, "engine": name, "seconds": round(seconds, 2), "views_per_s": round(views / seconds, 1)})
            print(f"round {r} {name:10s} {seconds:7.2f} s  {views / seconds:6.1f} views/s", flush=True)
    a, b = feats["litert"].astype(np.float32), feats["tensorflow"].astype(np.float32)
    mean = {n: float(np.mean([x["seconds"] for x in rows if x["engine"] == n])) for n in engines}
    out = {
        "command": "benchmarks/cold_cache.py " + shlex.join(sys.argv[1:]),
        "machine": f"{platform.system()} {platform.machine()}", "cpu_count": os.cpu_count(),
        "images": len(paths), "views": args.views, "size": args.size, "cut": cut, "convert_seconds": round(convert_s, 1),
        "fills": rows, "mean_seconds": {k: round(v, 2) for k, v in mean.items()},
        "tensorflow_over_litert": round(mean["tensorflow"] / mean["litert"], 2),
        "activations": {"max_abs_difference": float(np.abs(a - b).max()), "max_abs": float(np.abs(b).max()),
                        "float16_equal_share": float((feats["litert"] == feats["tensorflow"]).mean())},
    }
    print(f"TensorFlow / LiteRT: {out['tensorflow_over_litert']}x; conversion {convert_s:.1f} s; "
          f"largest difference {out['activations']['max_abs_difference']:.4g} of {out['activations']['max_abs']:.4g}")
    write_json(ROOT / "benchmarks" / "results" / "cold-cache.json", out)


if __name__ == "__main__":
    main()
