"""`edgetl demo`: the whole pipeline on the embedded synthetic data set, in a few minutes on a laptop.

synth -> train -> (QAT only if asked) -> int8 export -> evaluate float vs int8 -> the camera loop over a synthetic clip.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from edgetl.errors import EdgetlError


# 250 drawn notes a class and four fine-tuned blocks for ten epochs: with 80 a class and two blocks for six the
# float model reached 82 % and int8 fell 3.6 points under it; here float ~90 %, int8 within a point (README).
PER_CLASS = 250
SIZE = 160
TRAINING = {"fine_tune": 4, "fine_tune_epochs": 10, "fine_tune_learning_rate": 5e-4, "views": 3}


def run_demo(out: Path, weights: str = "imagenet", per_class: int = PER_CLASS, size: int = SIZE, seed: int = 0,
             log: Callable[[str], None] = print, qat_epochs: int = 0, video_seconds: float = 30.0,
             **train_options) -> dict:
    """The whole pipeline in one call; ``train_options`` override the demo's TrainConfig settings (TRAINING)."""
    from edgetl.data.synth import make_dataset, make_video
    from edgetl.evaluate import evaluate
    from edgetl.export.convert import export
    from edgetl.runtime.runner import RunConfig, run, score_against_truth
    from edgetl.train.config import TrainConfig
    from edgetl.train.qat import qat
    from edgetl.train.trainer import train

    out = Path(out)
    started = time.perf_counter()
    data = out / "synthetic-notes"
    log(f"1/6 synthesising {per_class} images per class into {data}")
    make_dataset(data, per_class=per_class, size=size, seed=seed, progress=False)
    alpha = 1.0
    if weights == "none":
        alpha = 0.35  # random weights learn little either way; keep it quick
        log("    --weights none: training a small random-init network (accuracy will be modest)")
    log(f"2/6 training MobileNetV2 {alpha}/{size} (weights: {weights})")
    try:
        options = {**TRAINING, **train_options}
        result = train(data, out / "run", TrainConfig(alpha=alpha, size=size, weights=weights, seed=seed, **options),
                       force=True, log=log)
    except EdgetlError as exc:
        if weights == "imagenet":
            raise EdgetlError(f"{exc} (e.g. make demo WEIGHTS=path/to/no_top.h5)") from None
        raise
    float_test = result.metrics["test"]
    log(f"    float test top-1 {float_test['top1']:.1%} on {float_test['count']} held-out images")
    if qat_epochs > 0:
        log(f"3/6 quantization-aware training ({qat_epochs} epoch)")
        qat(result.run, epochs=qat_epochs, max_images=400, log=lambda m: log("    " + m))
    else:  # one QAT epoch on this small model cost int8 3.6 more points than post-training quantization (README)
        log("3/6 no quantization-aware training: on this small demo model post-training quantization does better")
    log("4/6 exporting int8 (uint8 raw-pixel input) and fp16")
    exported = export(result.run, out / "models", ("int8", "fp16"), name="notes", use_qat=qat_epochs > 0,
                      log=lambda m: log("    " + m))
    for line in exported.table().splitlines():
        log("    " + line)
    int8_model = Path(exported.files["int8"]["model"])
    log("5/6 evaluating int8 against the float model on the held-out split")
    report = evaluate(int8_model, result.run, compare=result.run, out_dir=out / "evaluation", progress=False, min_spoken=20)
    cmp, effects = report["compare"], report.get("effects")
    if effects:  # what the gate costs and what int8 costs, measured apart on the same photos
        log(f"    float {effects['float']:.1%} -> with the familiarity gate {effects['float_gate']:.1%} "
            f"({effects['gate_share_points']:+.1f} points) -> int8 with the same gate {effects['exported']:.1%} "
            f"({effects['quantization_share_points']:+.1f} points from quantization)")
    else:
        log(f"    int8 top-1 {cmp['top1_model']:.1%}, float {cmp['top1_compare']:.1%}, "
            f"difference {cmp['accuracy_diff']:+.1f} points, top-1 agreement {cmp['agreement']:.1%}")
    log(f"6/6 running the camera loop over a {video_seconds:.0f} s synthetic clip (printing instead of speaking)")
    clip = out / "clip.mp4"
    truth = make_video(clip, seed=seed, size=(320, 240), seconds=video_seconds)
    summary = run(RunConfig(model=int8_model, source=str(clip), no_speech=True, say_ready=False,
                            handle_signals=False), log=lambda m: None)
    for event in summary.announcements:
        log(f"    frame {event.frame:5d}: said {event.text!r} (confidence {event.confidence:.2f})")
    score = score_against_truth(summary.announcements, truth)
    log(f"    {score['segments']} notes shown, {score['announced_segments']} announced correctly, "
        f"{len(score['wrong'])} wrong, {len(score['background'])} while no note was shown, {len(score['repeats'])} repeats")
    log("")
    log(f"artefacts: {result.run}/ (model.keras, metrics.json, training_curves.png, confusion_matrix.png), "
        f"{out / 'models'}/ (notes_int8.tflite, notes_fp16.tflite, cards), {out / 'evaluation'}/")
    log(f"demo finished in {time.perf_counter() - started:.0f} s")
    return {"run": str(result.run), "test_top1": float_test["top1"], "int8": str(int8_model), "compare": cmp, "effects": effects,
            "announcements": [a.label for a in summary.announcements], "score": score}
