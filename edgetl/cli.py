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

from edgetl.errors import EdgetlError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="From a folder of photos to an on-device classifier that speaks what it sees.")
data_app = typer.Typer(no_args_is_help=True, help="Inspect, split and capture class-folder data sets.")
app.add_typer(data_app, name="data")


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
    source: Optional[Path] = typer.Option(None, "--from", help="Composite real note photos from this class-folder set."),
    backgrounds: Optional[Path] = typer.Option(None, "--background", help="Folder of scene photos to use as backgrounds."),
    video: Optional[Path] = typer.Option(None, help="Instead, write a test clip (OUT is ignored) with a ground-truth .json beside it."),
    seconds: float = typer.Option(40.0, help="Length of --video."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary."),
):
    """Generate photo-like synthetic banknotes (the embedded default data set) or a test video."""
    from edgetl.data import synth as synthesis

    values = tuple(int(v) for v in denominations.split(",") if v.strip())
    if video is not None:
        truth = synthesis.make_video(video, seed=seed, seconds=seconds, denominations=values, source=source,
                                     backgrounds=backgrounds)
        _emit(truth, as_json, f"wrote {video} ({truth['frames']} frames) and {video.with_suffix('.json')}")
        return
    summary = synthesis.make_dataset(out, per_class=per_class, size=size, seed=seed, denominations=values,
                                     background=not no_background, source=source, backgrounds=backgrounds)
    counts = ", ".join(f"{k}: {v}" for k, v in summary["counts"].items())
    _emit(summary, as_json, f"wrote {sum(summary['counts'].values())} images to {out} ({counts})")


@data_app.command("check")
def data_check(
    path: Path = typer.Argument(..., help="Class folders, a train/val/test tree, or a split manifest .json."),
    min_side: int = typer.Option(64, help="Flag images smaller than this many pixels on a side."),
    as_json: bool = typer.Option(False, "--json"),
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
    out: Path = typer.Option(..., help="A .json manifest, or a folder to receive train/ val/ test/ class folders."),
    val: float = typer.Option(0.1, help="Share of each class for validation."),
    test: float = typer.Option(0.1, help="Share of each class for test."),
    seed: int = typer.Option(0, help="Same seed and files, same split."),
    link: bool = typer.Option(False, help="Symlink instead of copying when writing folders."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Stratified, deterministic train/val/test split, written as a manifest or as folders."""
    from edgetl.data.check import split_to_folders
    from edgetl.data.folders import scan, split, write_manifest

    parts = split(scan(path), val=val, test=test, seed=seed)
    if out.suffix == ".json":
        write_manifest(parts, out, seed=seed)
    else:
        split_to_folders(parts, out, link=link)
    summary = {name: {"images": len(part), "per_class": part.counts()} for name, part in parts.items()}
    text = "\n".join(f"{name:5s} {s['images']:6d} images  " + ", ".join(f"{c}: {n}" for c, n in s["per_class"].items())
                     for name, s in summary.items())
    _emit({"out": str(out), "seed": seed, "splits": summary}, as_json, f"{text}\nwrote {out}")


@app.command()
def train(
    data: List[Path] = typer.Argument(..., help="Class folders (several roots merge), a train/val/test tree, or a split .json."),
    out: Path = typer.Option(Path("runs/latest"), help="Run folder to create."),
    alpha: float = typer.Option(1.0, help="MobileNetV2 width multiplier (0.35-1.4)."),
    size: int = typer.Option(224, help="Input size in pixels (96-224)."),
    weights: str = typer.Option("imagenet", help="imagenet (Keras download/cache), none, or PATH to a Keras no-top .h5."),
    strategy: str = typer.Option("auto", help="auto, features (frozen backbone) or fine-tune."),
    fine_tune: int = typer.Option(-1, "--fine-tune", help="Top blocks to unfreeze in stage 2 (-1: let --strategy decide)."),
    epochs: int = typer.Option(40, help="Max epochs for the head (early stopping on validation)."),
    fine_tune_epochs: int = typer.Option(15, help="Max epochs for fine-tuning."),
    batch_size: int = typer.Option(64),
    learning_rate: float = typer.Option(1e-3),
    fine_tune_learning_rate: float = typer.Option(1e-4),
    views: int = typer.Option(4, help="Cached views per training image: 1 plain + (views-1) augmented."),
    no_augment: bool = typer.Option(False, "--no-augment", help="Train on plain images only."),
    no_class_weights: bool = typer.Option(False, "--no-class-weights"),
    dropout: float = typer.Option(0.2),
    label_smoothing: float = typer.Option(0.1),
    patience: int = typer.Option(6, help="Early-stopping patience in epochs."),
    val: float = typer.Option(0.1, help="Validation share when DATA is plain class folders."),
    test: float = typer.Option(0.1, help="Test share when DATA is plain class folders."),
    seed: int = typer.Option(0),
    cache: Optional[Path] = typer.Option(None, help="Feature cache folder (default ~/.cache/edgetl/features or $EDGETL_CACHE)."),
    resume: bool = typer.Option(False, help="Continue an interrupted run in --out."),
    force: bool = typer.Option(False, help="Replace an existing run in --out."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Transfer learning: ImageNet MobileNetV2 + a new head, trained on class folders."""
    from edgetl.train.config import TrainConfig
    from edgetl.train.trainer import train as run_training

    config = TrainConfig(alpha=alpha, size=size, weights=weights, strategy=strategy, fine_tune=fine_tune, epochs=epochs,
                         fine_tune_epochs=fine_tune_epochs, batch_size=batch_size, learning_rate=learning_rate,
                         fine_tune_learning_rate=fine_tune_learning_rate, views=views, augment=not no_augment,
                         class_weights=not no_class_weights, dropout=dropout, label_smoothing=label_smoothing,
                         patience=patience, val_fraction=val, test_fraction=test, seed=seed,
                         cache_dir=str(cache) if cache else None)
    result = run_training(data if len(data) > 1 else data[0], out, config, resume=resume, force=force)
    _emit({"run": str(result.run), "metrics": result.metrics, "seconds": result.seconds, "cache": result.cache}, as_json,
          result.summary() + f"\nartefacts: {result.run}/ (model.keras, labels.txt, metrics.json, training_curves.png, confusion_matrix.png)")


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-output"), help="Where the demo writes its data and run."),
    weights: str = typer.Option("imagenet", help="imagenet, none, or PATH to a Keras no-top .h5."),
    per_class: int = typer.Option(80),
    size: int = typer.Option(160),
    seed: int = typer.Option(0),
):
    """Synthetic notes -> train -> evaluate on a held-out split, end to end."""
    from edgetl.demo import run_demo

    run_demo(out, weights=weights, per_class=per_class, size=size, seed=seed, log=typer.echo)


def main() -> None:
    """Entry point: user-fixable problems print one line and exit non-zero, never a traceback."""
    try:
        app(standalone_mode=False)
    except EdgetlError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted (finished artefacts are kept; `edgetl train ... --resume` continues a run)", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
