"""The `edgetl` command line: parse options, call one library function, print the result.

Heavy imports (TensorFlow, OpenCV) happen inside the commands, so `edgetl --help` is instant and the
device-side commands never load TensorFlow.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from edgetl import demo as demo_defaults
from edgetl.errors import EdgetlError
from edgetl.export.config import NONE_MEANS as EXPORT_NONE_MEANS, OUTPUT_TYPES, ExportConfig
from edgetl.policy import DEFAULT_KEEP, TARGET_PRECISION
from edgetl.train.config import NONE_MEANS, QatConfig, TrainConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="From a folder of photos to an on-device classifier that speaks what it sees.")


def _print_version(value: bool) -> None:
    if value:
        from edgetl import __version__

        typer.echo(f"edgetl {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                          help="Print the edgetl version and exit."),
             verbose: bool = typer.Option(False, "--verbose", "-v",
                                          help="Show TensorFlow's own logging (also EDGETL_VERBOSE=1); quiet by default.")) -> None:
    if verbose:  # read by edgetl.tf_env before TensorFlow loads (commands import it lazily)
        import os

        os.environ["EDGETL_VERBOSE"] = "1"


data_app = typer.Typer(no_args_is_help=True, help="Inspect, split and capture class-folder data sets.")
app.add_typer(data_app, name="data")


def _d(text: str, default) -> str:
    """Help text ending in the library's own default, read from its config dataclass (never restated here)."""
    return f"{text} (default: {default})"


def _given(**options) -> dict:
    """Only the options the user set: typer passes None for the others, and the config's defaults fill them."""
    return {name: value for name, value in options.items() if value is not None}


def _emit(obj, as_json: bool, text: str | None = None) -> None:
    if as_json:
        typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))
    elif text is not None:
        typer.echo(text)


@app.command()
def synth(
    out: Path = typer.Argument(..., help="Folder to write class folders into (OUT/10, OUT/20, ..., OUT/background)."),
    per_class: int = typer.Option(60, help="Images per class."),
    size: int = typer.Option(224, help="Square image side in pixels."),
    seed: int = typer.Option(0, help="Same seed, same images."),
    denominations: str = typer.Option("10,20,50,100,200,500", help="Comma-separated note values."),
    no_background: bool = typer.Option(False, "--no-background", help="Leave out the 'background' (no note) class."),
    background_only: bool = typer.Option(False, "--background-only",
                                         help="Write only the 'background' class: the no-note folder to train beside real photos."),
    source: Optional[List[Path]] = typer.Option(None, "--from", help="Composite real note photos from this class-folder set "
                                                "(repeat to merge several: same-named classes are one class)."),
    backgrounds: Optional[Path] = typer.Option(None, "--background", help="Folder of scene photos to use as backgrounds."),
    foreign_notes: float = typer.Option(0.3, help="Share of 'background' images showing a made-up foreign note (must stay silent)."),
    video: Optional[Path] = typer.Option(None, help="Instead, write a test clip (OUT is ignored) with a ground-truth .json beside it."),
    seconds: float = typer.Option(40.0, help="Length of --video."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary."),
):
    """Generate photo-like synthetic banknotes (the embedded default data set) or a test video."""
    from edgetl.data import synth as synthesis

    values = tuple(int(v) for v in denominations.split(",") if v.strip())
    source = list(source) if source else None
    if video is not None:
        truth = synthesis.make_video(video, seed=seed, seconds=seconds, denominations=values, source=source,
                                     backgrounds=backgrounds)
        _emit(truth, as_json, f"wrote {video} ({truth['frames']} frames) and {video.with_suffix('.json')}")
        return
    summary = synthesis.make_dataset(out, per_class=per_class, size=size, seed=seed, denominations=values,
                                     background=not no_background, source=source, backgrounds=backgrounds,
                                     background_only=background_only,
                                     foreign_notes=foreign_notes)
    counts = ", ".join(f"{k}: {v}" for k, v in summary["counts"].items())
    _emit(summary, as_json, f"wrote {sum(summary['counts'].values())} images to {out} ({counts})")


@data_app.command("check")
def data_check(
    path: Path = typer.Argument(..., help="Class folders, a train/val/test tree, or a split manifest .json."),
    min_side: int = typer.Option(64, help="Flag images smaller than this many pixels on a side."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """Count images per class and find unreadable files, duplicates, tiny images and imbalance."""
    from edgetl.data.check import check_dataset

    report = check_dataset(path, min_side=min_side)
    _emit(report.to_dict(), as_json, report.format())
    if not report.ok():
        raise typer.Exit(1)


@data_app.command("split")
def data_split(
    path: List[Path] = typer.Argument(..., help="One or more class-folder roots (same-named classes merge)."),
    out: Path = typer.Option(..., help="Folder to write into: split.json (the manifest), or with --folders train/ val/ test/."),
    folders: bool = typer.Option(False, "--folders", help="Write train/ val/ test/ class folders into --out instead of split.json."),
    val: float = typer.Option(0.1, help="Share of each class for validation."),
    test: float = typer.Option(0.1, help="Share of each class for test."),
    seed: int = typer.Option(0, help="Same seed and files, same split."),
    link: bool = typer.Option(False, help="With --folders: symlink instead of copying."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """Stratified, deterministic train/val/test split, written as OUT/split.json or (--folders) as folders."""
    from edgetl.data.check import split_to_folders
    from edgetl.data.folders import scan, split, write_manifest

    if out.suffix.lower() == ".json" or out.is_file():
        raise typer.BadParameter(f"--out is a folder (the manifest is written as split.json inside it); got {out}")
    if link and not folders:
        raise typer.BadParameter("--link only applies to --folders")
    parts = split(scan(path), val=val, test=test, seed=seed)
    written = out if folders else out / "split.json"
    if folders:
        split_to_folders(parts, out, link=link)
    else:
        write_manifest(parts, written, seed=seed)
    summary = {name: {"images": len(part), "per_class": part.counts()} for name, part in parts.items()}
    text = "\n".join(f"{name:5s} {s['images']:6d} images  " + ", ".join(f"{c}: {n}" for c, n in s["per_class"].items())
                     for name, s in summary.items())
    _emit({"out": str(written), "seed": seed, "splits": summary}, as_json, f"{text}\nwrote {written}")


@app.command()
def train(
    data: List[Path] = typer.Argument(..., help="Class folders (several roots merge), a train/val/test tree, or a split .json."),
    out: Path = typer.Option(Path("runs/latest"), help="Run folder to create."),
    backbone: Optional[str] = typer.Option(None, help=_d("A registered backbone: `edgetl backbones` lists them "
                                                         "(BENCHMARKS.md compares them).", TrainConfig.backbone)),
    alpha: Optional[float] = typer.Option(None, help=_d("MobileNet width multiplier (V2: 0.35-1.4; V3: 0.75 or 1.0).", TrainConfig.alpha)),
    size: Optional[int] = typer.Option(None, help=_d("Input size in pixels (96-224; MobileNetV2 up to 320).", TrainConfig.size)),
    weights: Optional[str] = typer.Option(None, help=_d("imagenet (Keras download/cache) or PATH to a Keras no-top .h5 of the "
                                                        "backbone (none: random init, which cannot learn here and is refused).",
                                                        TrainConfig.weights)),
    strategy: Optional[str] = typer.Option(None, help=_d("auto, features (frozen backbone) or fine-tune.", TrainConfig.strategy)),
    fine_tune: Optional[int] = typer.Option(None, "--fine-tune", help=_d("Top blocks to unfreeze in stage 2 (-1: let --strategy decide).",
                                                                        TrainConfig.fine_tune)),
    epochs: Optional[int] = typer.Option(None, help=_d("Max epochs for the head (early stopping on validation).", TrainConfig.epochs)),
    fine_tune_epochs: Optional[int] = typer.Option(None, help=_d("Max epochs for fine-tuning.", TrainConfig.fine_tune_epochs)),
    batch_size: Optional[int] = typer.Option(None, help=_d("Images per training step.", TrainConfig.batch_size)),
    learning_rate: Optional[float] = typer.Option(None, help=_d("Learning rate for the head.", TrainConfig.learning_rate)),
    fine_tune_learning_rate: Optional[float] = typer.Option(None, help=_d("Learning rate for fine-tuning.",
                                                                          TrainConfig.fine_tune_learning_rate)),
    fine_tune_schedule: Optional[str] = typer.Option(None, help=_d("Fine-tuning learning rate over the epochs: constant, or "
                                                                    "cosine (decays to zero).", TrainConfig.fine_tune_schedule)),
    average_from: Optional[int] = typer.Option(None, help=_d("Fine-tuning epoch from which the weights are averaged over "
                                                              "every step (0: off, keep the best epoch's weights).",
                                                              NONE_MEANS["average_from"])),
    fine_tune_share: Optional[float] = typer.Option(None, help=_d("Share of the fine-tuned weights in the final model; the rest "
                                                                  "is the linear probe's (1: fine-tuned only).",
                                                                  TrainConfig.fine_tune_share)),
    views: Optional[int] = typer.Option(None, help=_d("Cached views per training image: 1 plain + (views-1) augmented.", TrainConfig.views)),
    no_augment: bool = typer.Option(False, "--no-augment", help="Train on plain images only."),
    no_class_weights: bool = typer.Option(False, "--no-class-weights", help="Do not weight classes by rarity."),
    dropout: Optional[float] = typer.Option(None, help=_d("Dropout before the classifier layer.", TrainConfig.dropout)),
    label_smoothing: Optional[float] = typer.Option(None, help=_d("Label smoothing of the training targets.", TrainConfig.label_smoothing)),
    patience: Optional[int] = typer.Option(None, help=_d("Early-stopping patience in epochs.", TrainConfig.patience)),
    val: Optional[float] = typer.Option(None, help=_d("Validation share when DATA is plain class folders.", TrainConfig.val_fraction)),
    test: Optional[float] = typer.Option(None, help=_d("Test share when DATA is plain class folders.", TrainConfig.test_fraction)),
    seed: Optional[int] = typer.Option(None, help=_d("Random seed: same seed and data, same result.", TrainConfig.seed)),
    cache: Optional[Path] = typer.Option(None, help="Feature cache folder (default ~/.cache/edgetl/features or $EDGETL_CACHE)."),
    resume: bool = typer.Option(False, help="Continue an interrupted run in --out."),
    force: bool = typer.Option(False, help="Replace an existing run in --out."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """Transfer learning: an ImageNet backbone (MobileNetV2 by default) + a new head, trained on class folders."""
    from edgetl.train.trainer import refuse_random_init, train as run_training

    config = TrainConfig(**_given(
        backbone=backbone, alpha=alpha, size=size, weights=weights, strategy=strategy, fine_tune=fine_tune, epochs=epochs,
        fine_tune_epochs=fine_tune_epochs, batch_size=batch_size, learning_rate=learning_rate,
        fine_tune_learning_rate=fine_tune_learning_rate, fine_tune_schedule=fine_tune_schedule, average_from=average_from,
        fine_tune_share=fine_tune_share, views=views, augment=False if no_augment else None,
        class_weights=False if no_class_weights else None, dropout=dropout, label_smoothing=label_smoothing,
        patience=patience, val_fraction=val, test_fraction=test, seed=seed, cache_dir=str(cache) if cache else None))
    refuse_random_init(config.weights)
    result = run_training(data if len(data) > 1 else data[0], out, config, resume=resume, force=force)
    _emit({"run": str(result.run), "metrics": result.metrics, "seconds": result.seconds, "cache": result.cache}, as_json,
          result.summary() + f"\nartefacts: {result.run}/ (model.keras, labels.txt, metrics.json, training_curves.png, confusion_matrix.png)")


@app.command()
def qat(
    run: Path = typer.Argument(..., help="A training run folder."),
    epochs: Optional[int] = typer.Option(None, help=_d("Quantization-aware epochs.", QatConfig.epochs)),
    learning_rate: Optional[float] = typer.Option(None, help=_d("Learning rate for quantization-aware training.", QatConfig.learning_rate)),
    batch_size: Optional[int] = typer.Option(None, help=_d("Images per training step.", QatConfig.batch_size)),
    max_images: Optional[int] = typer.Option(None, help=_d("Training images used (a seeded sample when there are more).",
                                                           QatConfig.max_images)),
    seed: Optional[int] = typer.Option(None, help=_d("Random seed: same seed and data, same result.", QatConfig.seed)),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """Quantization-aware fine-tuning of a trained run (saved as RUN/qat_weights.h5 for int8 export)."""
    from edgetl.train.qat import qat as run_qat

    metrics = run_qat(run, log=typer.echo, **_given(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                                                    max_images=max_images, seed=seed))
    val = metrics.get("val", {}).get("top1")
    _emit(metrics, as_json, f"QAT done in {metrics['seconds']:.0f} s" + (f", fake-quantized val top-1 {val:.1%}" if val is not None else ""))


@app.command()
def export(
    run: Path = typer.Argument(..., help="A training run folder."),
    int8: bool = typer.Option(False, "--int8", help="Full-integer model: uint8 raw-pixel input, int8 ops (CPU/XNNPACK, NNAPI, Edge TPU)."),
    fp16: bool = typer.Option(False, "--fp16", help="float16 weights for the GPU delegate."),
    dynamic: bool = typer.Option(False, "--dynamic", help="Dynamic-range quantization (int8 weights, float activations)."),
    float32: bool = typer.Option(False, "--float32", help="Plain float32 (for comparisons)."),
    out: Path = typer.Option(Path(ExportConfig.out_dir), help="Output folder."),
    name: Optional[str] = typer.Option(None, help="File name stem (default: the run folder's name)."),
    calibration: Optional[Path] = typer.Option(None, help="Images for int8 calibration (default: calibration/ if it has images, else a stratified training sample)."),
    calibration_count: Optional[int] = typer.Option(None, help=_d("Calibration images to use.", ExportConfig.calibration_count)),
    output_type: Optional[str] = typer.Option(None, help=_d("int8 model output: " + " or ".join(OUTPUT_TYPES) + ".",
                                                            ExportConfig.output_type)),
    qat: Optional[bool] = typer.Option(None, "--qat/--ptq", help="Use the run's QAT weights (default when they exist) or post-training quantization."),
    strict: bool = typer.Option(False, help="Fail when a target delegate would fall back to CPU."),
    android: Optional[Path] = typer.Option(None, help="Also copy model, card, labels and phrases into this Android assets folder."),
    familiarity: Optional[float] = typer.Option(None, help=_d("Familiarity gate built into the model: the share of right validation "
                                                              f"answers it lets through (e.g. {DEFAULT_KEEP}); notes that look like no "
                                                              "training photo go to background.", EXPORT_NONE_MEANS["familiarity"])),
    min_threshold: Optional[float] = typer.Option(None, help=_d("The card's announce threshold is never lower than this, "
                                                                "whatever validation trusts (0: validation alone).",
                                                                ExportConfig.min_threshold)),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """Export a run to TFLite with labels metadata, a model card and an export report."""
    from edgetl.export.convert import export as run_export

    quants = [q for q, on in (("int8", int8), ("fp16", fp16), ("dynamic", dynamic), ("float32", float32)) if on] or ["int8"]
    int8_only = {"--output-type": output_type, "--calibration": calibration, "--calibration-count": calibration_count,
                 "--qat/--ptq": qat}
    given = [flag for flag, value in int8_only.items() if value is not None]
    if "int8" not in quants and given:  # options that only shape an int8 model are refused, not silently ignored
        raise typer.BadParameter(f"{', '.join(given)} only applies to --int8 (exporting {', '.join(quants)})")
    options = _given(calibration_count=calibration_count, output_type=output_type, familiarity=familiarity,
                     min_threshold=min_threshold)
    if options.get("familiarity") == 0:  # --familiarity 0: no gate
        options["familiarity"] = None
    result = run_export(run, out, quants, calibration=calibration, use_qat=qat, strict=strict, android=android, name=name,
                        log=typer.echo, **options)
    text = result.table() + f"\nreport: {result.report_path}"
    if result.android:
        text += f"\nandroid assets: {', '.join(result.android)} -> {android}"
    steps = result.next_steps(run, android)
    text += "\n\nnext:\n" + "\n".join(f"  {step}" for step in steps) if steps else ""
    _emit({"files": result.files, "android": result.android, "report": str(result.report_path), "next": steps},
          as_json, text)


@app.command()
def evaluate(
    model: Path = typer.Argument(..., help="A .tflite (card beside it), a .keras model or a run folder."),
    data: Optional[Path] = typer.Argument(None, help="Run folder, split .json, train/val/test tree or class folders (default: the run's split)."),
    split: str = typer.Option("test", help="Which split of a run/manifest/tree."),
    compare: Optional[Path] = typer.Option(None, help="Another model to compare with (accuracy difference, top-1 agreement); "
                                           "a gated export against its own run also shows the gate's and quantization's shares apart."),
    negatives: List[Path] = typer.Option([], help="Folders of images that must not be announced (scenes, foreign notes)."),
    out: Optional[Path] = typer.Option(None, help="Folder for evaluation.json, confusion_matrix.png, misclassified.png, selective.png."),
    card: Optional[Path] = typer.Option(None, help="Model card, when not beside the .tflite."),
    target_precision: float = typer.Option(TARGET_PRECISION, help="Precision the announce threshold must reach."),
    min_spoken: int = typer.Option(100, help="Spoken answers needed before a threshold is trusted."),
    threads: Optional[int] = typer.Option(None, help="Interpreter threads (default: LiteRT's choice)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """Top-1, per-class metrics, confusion matrix, selective accuracy; float vs int8 with --compare."""
    from edgetl.evaluate import evaluate as run_evaluate, format_report

    report = run_evaluate(model, data, split=split, compare=compare, out_dir=out, target_precision=target_precision,
                          negatives=negatives, card=card, threads=threads, min_spoken=min_spoken)
    _emit(report, as_json, format_report(report))


@app.command()
def predict(
    model: Path = typer.Argument(..., help="A .tflite (card beside it, or labels in its metadata), a .keras or a run folder."),
    images: List[Path] = typer.Argument(..., help="Image files and/or folders (searched recursively)."),
    top: int = typer.Option(3, "--top", help="How many of the best labels to show per image."),
    threshold: Optional[float] = typer.Option(None, help="Announce threshold (default: the card's, else 0.8, as in `run`)."),
    card: Optional[Path] = typer.Option(None, help="Model card, when not beside the .tflite."),
    threads: Optional[int] = typer.Option(None, help="Interpreter threads (.tflite)."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
):
    """Top-k labels and confidences per photo, and whether the device would announce it."""
    from edgetl.predict import predict as run_predict

    result = run_predict(model, images, top=top, threshold=threshold, card=card, threads=threads)
    _emit(result.to_dict(), as_json, result.format())


@app.command()
def backbones(as_json: bool = typer.Option(False, "--json", help="Print the registry as JSON.")):
    """The backbones `train --backbone` accepts: input normalisation, features, alpha, sizes, fine-tuning, QAT."""
    from edgetl.backbone_list import backbone_rows, format_backbones

    rows = backbone_rows()
    _emit(rows, as_json, format_backbones(rows))


@app.command()
def benchmark(
    models: List[Path] = typer.Argument(..., help="One or more .tflite files (several are timed interleaved)."),
    threads: Optional[int] = typer.Option(None, help="Interpreter threads (default: LiteRT's choice)."),
    runs: int = typer.Option(200, help="Timed inferences per model."),
    warmup: int = typer.Option(20, help="Untimed inferences first."),
    no_xnnpack: bool = typer.Option(False, "--no-xnnpack", help="Time the builtin kernels without XNNPACK."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """Latency (p50/p90/p99), size and peak memory of TFLite models on this machine."""
    from edgetl.benchmark import benchmark as run_benchmark, compare_models, format_benchmark

    if len(models) == 1:
        result = run_benchmark(models[0], threads=threads, runs=runs, warmup=warmup, xnnpack=not no_xnnpack)
    else:
        result = compare_models(models, threads=threads, runs=runs, warmup=warmup, xnnpack=not no_xnnpack)
    _emit(result, as_json, format_benchmark(result))


def _decision_default(name: str) -> str:
    """A decision option's default for `edgetl run --help`, read from where it is declared (DecisionConfig)."""
    from edgetl.runtime.decision_config import DecisionConfig  # numpy-free: --help stays instant

    return str(getattr(DecisionConfig, name))


@app.command("run")
def run_device(
    model_arg: Optional[Path] = typer.Argument(None, metavar="MODEL", help="Exported .tflite (its card .json beside it)."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Same as MODEL (the older spelling, kept for scripts)."),
    card: Optional[Path] = typer.Option(None, help="Model card, when not beside the model."),
    source: str = typer.Option("0", "--source", "--camera", "-s",
                               help="Camera index, /dev/videoN, picamera2[:N], stream URL, video file or image folder."),
    width: Optional[int] = typer.Option(None, help="Requested capture width (cameras)."),
    height: Optional[int] = typer.Option(None, help="Requested capture height (cameras)."),
    fps: Optional[float] = typer.Option(None, help="Requested capture rate (cameras)."),
    loop: bool = typer.Option(False, "--loop", help="Repeat an image folder forever."),
    roi: Optional[str] = typer.Option(None, help="x,y,w,h of the frame the model sees (fractions or pixels); default centre square."),
    threads: Optional[int] = typer.Option(None, help="Interpreter threads."),
    delegate: Optional[str] = typer.Option(None, help="edgetpu, gpu or a delegate library path (falls back to CPU)."),
    no_xnnpack: bool = typer.Option(False, "--no-xnnpack", help="Disable the XNNPACK CPU delegate."),
    threshold: Optional[float] = typer.Option(
        None, help=f"Announce threshold (default: the card's, else {_decision_default('threshold')})."),
    smoothing: Optional[str] = typer.Option(None, help=f"ema or vote (default: {_decision_default('smoothing')})."),
    ema_alpha: Optional[float] = typer.Option(
        None, help=f"Weight of the newest frame in EMA smoothing (default: {_decision_default('ema_alpha')})."),
    window: Optional[int] = typer.Option(None, help=f"Frames in the vote window (default: {_decision_default('window')})."),
    stable_frames: Optional[int] = typer.Option(
        None, help=f"Same candidate for this many frames before speaking (default: {_decision_default('stable_frames')})."),
    cooldown: Optional[float] = typer.Option(
        None, help=f"Seconds before the same note may be announced again (default: {_decision_default('cooldown_s')})."),
    leave_frames: Optional[int] = typer.Option(
        None, help=f"Frames without a note before it counts as taken away (default: {_decision_default('leave_frames')})."),
    hint_after: Optional[float] = typer.Option(
        None, help="Say 'hold the note steady' after this many unclear seconds "
                   f"(0: never; default: {_decision_default('hint_after_s')})."),
    lang: str = typer.Option("en", help="Phrase language (en, hi, or one in a phrases.json beside the model)."),
    phrases: Optional[Path] = typer.Option(None, help="phrases.json to use (default: beside the model, else built in)."),
    engine: str = typer.Option("espeak", help="espeak, pyttsx3 or print."),
    speak_cmd: Optional[str] = typer.Option(None, "--speak-cmd", help="Your own TTS command, e.g. 'piper-say {text}' "
                                           "(never run by a shell; {text} must be a whole argument, or left out for stdin)."),
    voice: Optional[str] = typer.Option(None, help="Voice for the engine (default: from the phrases)."),
    rate: Optional[int] = typer.Option(None, help="Words per minute."),
    no_speech: bool = typer.Option(False, "--no-speech", help="Print announcements instead of speaking."),
    earcon: bool = typer.Option(False, "--earcon", help="Short beep before each announcement."),
    display: bool = typer.Option(False, "--display", help="Preview window with overlay ('r' repeats, 'q' quits)."),
    stats: bool = typer.Option(False, "--stats", help="Print FPS and per-stage milliseconds every 5 s."),
    log_file: Optional[Path] = typer.Option(None, "--log", help="Append one JSON line per event to this file."),
    gpio_pin: Optional[int] = typer.Option(None, "--gpio-pin", help="BCM pin of a button that repeats the last announcement."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Stop after this many frames."),
    max_seconds: Optional[float] = typer.Option(None, "--max-seconds", help="Stop after this many seconds."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
):
    """Camera -> model -> spoken denomination, until Ctrl-C / SIGTERM (or the end of a file)."""
    from edgetl.runtime.runner import RunConfig, run, run_cli_text

    model = _one_model(model_arg, model)

    decision = {"threshold": threshold, "smoothing": smoothing, "ema_alpha": ema_alpha, "window": window,
                "stable_frames": stable_frames, "cooldown_s": cooldown, "leave_frames": leave_frames,
                "hint_after_s": hint_after}  # only what was given: RunConfig / DecisionConfig hold the defaults
    config = RunConfig(model=model, card=card, source=source, width=width, height=height, fps=fps, loop=loop, roi=roi,
                       threads=threads, delegate=delegate, xnnpack=not no_xnnpack,
                       **{name: value for name, value in decision.items() if value is not None}, lang=lang,
                       phrases=phrases, engine=engine, speak_cmd=speak_cmd, voice=voice, rate=rate,
                       no_speech=no_speech, earcon=earcon, display=display, stats=stats, log_file=log_file,
                       gpio_pin=gpio_pin, max_frames=max_frames, max_seconds=max_seconds)
    summary = run(config)
    _emit(summary.to_dict(), as_json, run_cli_text(summary))
    if summary.error:  # the source failed for good: non-zero so systemd's Restart=on-failure retries
        raise typer.Exit(1)


def _one_model(positional: Optional[Path], option: Optional[Path]) -> Path:
    """MODEL or --model MODEL (not two different ones); missing is a usage error."""
    if positional is None and option is None:
        raise typer.BadParameter("give the exported .tflite: edgetl run MODEL", param_hint="MODEL")
    if positional is not None and option is not None and positional != option:
        raise typer.BadParameter(f"two models given ({positional} and --model {option}); give one", param_hint="MODEL")
    return positional or option


@data_app.command("capture")
def data_capture(
    out: Path = typer.Argument(..., help="Data set root; frames go to OUT/LABEL/<timestamp>_<n>.jpg."),
    label: str = typer.Option(..., "--label", "-l", help="Class folder name, e.g. 500 or background."),
    source: str = typer.Option("0", "--source", "--camera", "-s", help="Camera index, /dev/videoN, picamera2, URL or video file."),
    interval: Optional[float] = typer.Option(None, help="Headless: save one frame every this many seconds."),
    count: Optional[int] = typer.Option(None, help="Stop after this many images."),
    mode: str = typer.Option("auto", help="auto (key with a display, else interval), key (space saves) or interval."),
    quality: int = typer.Option(95, help="JPEG quality."),
    width: Optional[int] = typer.Option(None, help="Requested capture width."),
    height: Optional[int] = typer.Option(None, help="Requested capture height."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """Photograph training images with this device's camera (space to save, or --interval SECONDS headless)."""
    from edgetl.runtime.capture import capture

    result = capture(out, label, source=source, interval=interval, count=count, key_mode=mode, quality=quality,
                     width=width, height=height)
    _emit(result.to_dict(), as_json, f"saved {len(result.saved)} image(s) to {out / label} ({result.stopped_by})")


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-output"), help="Where the demo writes its data and run."),
    weights: str = typer.Option("imagenet", help="imagenet or PATH to a Keras no-top .h5."),
    per_class: Optional[int] = typer.Option(None, help=_d("Synthetic images per class.", demo_defaults.PER_CLASS)),
    size: Optional[int] = typer.Option(None, help=_d("Image and model input size in pixels.", demo_defaults.SIZE)),
    seed: int = typer.Option(0, help="Random seed: same seed and data, same result."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout (the steps go to stderr)."),
):
    """Synthetic notes -> train -> evaluate on a held-out split, end to end."""
    from edgetl.demo import run_demo
    from edgetl.train.trainer import refuse_random_init

    refuse_random_init(weights)
    log = (lambda m: typer.echo(m, err=True)) if as_json else typer.echo
    result = run_demo(out, weights=weights, seed=seed, log=log, **_given(per_class=per_class, size=size))
    _emit(result, as_json)


@app.command()
def explain(
    run: Path = typer.Argument(..., help="A training run folder (its float model.keras is explained)."),
    images: List[Path] = typer.Argument(None, help="Photos to explain (a photo in a folder named like a label counts as that class)."),
    out: Optional[Path] = typer.Option(None, help="Folder for the PNGs and explain.json (default RUN/explain)."),
    layers: bool = typer.Option(False, "--layers", help="Also write a layer-by-layer grid of feature maps per IMAGE."),
    misclassified: Optional[Path] = typer.Option(None, "--misclassified", help="Data set (class folders, split .json, train/val/test tree or run) to find the worst mistakes in."),
    split: str = typer.Option("test", help="Which split of a run/manifest/tree --misclassified uses."),
    top: int = typer.Option(12, help="How many of the most confident mistakes the --misclassified gallery shows."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """Grad-CAM heat-maps and top-3 scores per photo; feature maps (--layers); worst mistakes (--misclassified)."""
    from edgetl.explain import explain as run_explain, format_result

    result = run_explain(run, images or [], out=out, layers=layers, misclassified=misclassified, top=top, split=split)
    _emit(result, as_json, format_result(result))


@app.command()
def report(
    run: Path = typer.Argument(..., help="A training run folder."),
    out: Optional[Path] = typer.Option(None, help="Folder to write report.html into (default: the run folder)."),
    export_dir: Optional[Path] = typer.Option(None, "--export", help="Folder of this run's exports (default: models/ here, beside the run, beside its parent, and the run itself)."),
    no_latency: bool = typer.Option(False, "--no-latency", help="Do not time the exported models."),
    gradcam: bool = typer.Option(False, "--gradcam", help="Show mistakes with Grad-CAM heat-maps (loads TensorFlow and the float model)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """One self-contained HTML page for a run: config, data, curves, metrics, exports, mistakes (opens offline)."""
    from edgetl.report import build_report, format_summary

    built = build_report(run, export_dir, latency=not no_latency, gradcam=gradcam)
    path = built.save(out)
    summary = built.summary()
    _emit({**summary, "report": str(path)}, as_json, format_summary(summary, path))


def _interrupted_line(argv: list[str]) -> str:
    """The one line Ctrl-C leaves behind; a training run says how to continue."""
    if argv[:1] == ["train"]:
        return "interrupted: the run folder keeps its finished stages; run the same command again (--resume continues)"
    return "interrupted: finished artefacts are kept"


def main() -> None:
    """Entry point. Exit codes: 0 ok, 1 a check found problems, 2 user error (one ``error:`` line, or typer's
    usage box for bad options), 130 interrupted. Never a traceback for anything a user can cause."""
    argv = sys.argv[1:]
    try:
        app(prog_name="edgetl")  # standalone: usage errors print the usage box and exit 2; typer.Exit keeps its code
    except EdgetlError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:  # one `error:` line per problem
            typer.echo(f"error: {line}", err=True)
        sys.exit(exc.exit_code)
    except SystemExit as exc:
        if exc.code == 130:  # typer turns KeyboardInterrupt into exit 130, silently
            typer.echo(_interrupted_line(argv), err=True)
        raise
    except KeyboardInterrupt:  # raised outside the command (while importing, or in typer itself)
        typer.echo(_interrupted_line(argv), err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
