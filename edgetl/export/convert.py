"""`edgetl export`: a trained run -> deployable .tflite files, each with labels, a model card and a report.

int8 is full-integer (int8 builtin ops only, no float fallback) with a uint8 input that takes raw RGB
pixels: the input quantization is pinned to scale 1/std around mean, the run's own per-tensor
normalisation (1/127.5 around 127.5 for MobileNetV2), so devices feed camera bytes straight in and the
graph carries no extra ops compared with Google's reference int8 MobileNetV2.
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

import edgetl
from edgetl.atomic import copy_file, write_bytes, write_json, write_text
from edgetl.card import ModelCard
from edgetl.data.folders import list_images
from edgetl.data.images import load_square_batch
from edgetl.digest import sha256_file
from edgetl.errors import CheckFailed, EdgetlError
from edgetl.export import metadata
from edgetl.run import Run
from edgetl.export.config import ExportConfig, OUTPUT_TYPES
from edgetl.train.familiarity import Gate

QUANTIZATIONS = ("int8", "fp16", "dynamic", "float32")
INT8_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX", "RESHAPE",
            "QUANTIZE", "DEQUANTIZE", "PAD", "CONCATENATION", "MUL", "HARD_SWISH", "RELU6", "RELU", "LOGISTIC",
            "MAX_POOL_2D",
            # the familiarity gate (edgetl.export.gate): all int8 builtins, on Edge TPU's list too
            "SUB", "SUM", "MAXIMUM", "RSQRT", "SQUARED_DIFFERENCE", "REDUCE_MAX", "L2_NORMALIZATION"}
# The files the Android app reads from its assets folder (android_demo/.../Assets.kt names the same).
ANDROID_ASSETS = {"int8": ("model_int8.tflite", "model_int8.json"), "fp16": ("model_fp16.tflite", "model_fp16.json")}
ANDROID_LABELS = "labels.txt"
ANDROID_PHRASES = "phrases.json"
MIN_CALIBRATION = 10


@dataclass
class ExportResult:
    files: dict[str, dict] = field(default_factory=dict)  # quantization -> {"model", "card", "report"}
    android: list[str] = field(default_factory=list)
    report_path: Path | None = None

    def table(self) -> str:
        rows = ["quant    size      ops  int8-only  gpu  top-1    threshold  file",
                "-------  --------  ---  ---------  ---  -------  ---------  ----"]
        for quant, entry in self.files.items():
            r = entry["report"]
            acc = r.get("accuracy", {}).get("top1")
            thr = r.get("announce_threshold")
            rows.append(f"{quant:7s}  {r['size_bytes'] / 1e6:6.2f}MB  {r['op_count']:3d}  "
                        f"{'yes' if r['int8_only'] else 'no':9s}  {'yes' if r['gpu_compatible'] else 'no':3s}  "
                        f"{'-' if acc is None else f'{acc:.1%}':7s}  {'-' if thr is None else f'{thr:.2f}':9s}  {entry['model']}")
        return "\n".join(rows)

    def next_steps(self, run: str | Path, android: str | Path | None = None) -> list[str]:
        """The commands a user runs next on what was just exported (printed after the table)."""
        if not self.files:
            return []
        import shlex

        quant = "int8" if "int8" in self.files else next(iter(self.files))
        model, run = shlex.quote(str(self.files[quant]["model"])), shlex.quote(str(run))
        steps = [f"edgetl evaluate {model} {run} --compare {run}   # float vs {quant} on the run's test photos",
                 f"edgetl predict {model} PHOTO_OR_FOLDER   # what it says about your own photos",
                 f"edgetl run {model} --source 0   # camera -> spoken denomination"]
        if android is None:
            steps.append(f"edgetl export {run} --{quant} --android android_demo/app/src/main/assets   # into the Android demo")
        return steps


# ---- calibration ---------------------------------------------------------------------------------

def calibration_images(run: Run, folder: str | Path | None, count: int, seed: int = 0) -> np.ndarray:
    """Representative uint8 images: from ``folder`` when it holds images, else a stratified train sample."""
    paths: list[Path] = []
    if folder is not None:
        folder = Path(folder)
        if not folder.is_dir():
            raise EdgetlError(f"calibration folder not found: {folder}")
        paths = list_images(folder)
    if folder is not None and not paths:
        raise EdgetlError(f"no images in calibration folder {folder}")
    if not paths:
        train = run.split("train")
        by_class: dict[int, list[Path]] = {}
        for s in train.samples:
            by_class.setdefault(s.label, []).append(s.path)
        rng = np.random.default_rng(seed)
        per_class = max(1, int(np.ceil(count / max(1, len(by_class)))))
        for label in sorted(by_class):
            members = by_class[label]
            paths += [members[i] for i in rng.permutation(len(members))[:per_class]]
    rng = np.random.default_rng(seed)
    paths = [paths[i] for i in rng.permutation(len(paths))[:count]]
    images, _ = load_square_batch(paths, run.size)
    if len(images) < min(MIN_CALIBRATION, count):
        raise EdgetlError(f"only {len(images)} readable calibration image(s); int8 calibration needs at least "
                          f"{min(MIN_CALIBRATION, count)} (add photos to calibration/ or pass --calibration DIR)")
    return images


def _pin_input_range(images: np.ndarray) -> np.ndarray:
    """Copy of the calibration set whose first image holds one black and one white pixel.

    The converter takes the input's range from calibration; with both 0 and 255 present it is exactly
    [(0 - mean) / std, (255 - mean) / std], i.e. scale 1/std around mean, so devices can feed raw pixels.
    Two pixels barely touch any other range.
    """
    pinned = images.copy()
    pinned[0, 0, 0] = 0
    pinned[0, 0, 1] = 255
    return pinned


# ---- conversion ----------------------------------------------------------------------------------

def convert(model, quantization: str, calibration: np.ndarray | None = None, mean: float = 127.5, std: float = 127.5,
            output_type: str = "uint8", from_qat: bool = False) -> bytes:
    """Convert a tf_keras classifier taking (pixel - mean) / std input to TFLite bytes."""
    from edgetl.tf_env import tf

    t = tf()
    converter = t.lite.TFLiteConverter.from_keras_model(model)
    if quantization == "float32":
        pass
    elif quantization == "fp16":
        converter.optimizations = [t.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [t.float16]
    elif quantization == "dynamic":
        converter.optimizations = [t.lite.Optimize.DEFAULT]
    elif quantization == "int8":
        converter.optimizations = [t.lite.Optimize.DEFAULT]
        # Also given for QAT graphs: the converter wants it, and uses it only where no fake-quant range exists.
        if calibration is None or len(calibration) == 0:
            raise EdgetlError("int8 quantization needs calibration images")
        pinned = _pin_input_range(calibration)

        def representative():
            for img in pinned:
                yield [((img[None].astype(np.float32) - mean) / std)]

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = t.uint8
        if output_type not in OUTPUT_TYPES:
            raise EdgetlError(f"--output-type must be {' or '.join(OUTPUT_TYPES)} (got {output_type})")
        converter.inference_output_type = t.uint8 if output_type == "uint8" else t.float32
    else:
        raise EdgetlError(f"unknown quantization {quantization!r}; choose from {', '.join(QUANTIZATIONS)}")
    from edgetl.tf_env import native_stderr_captured

    try:  # the converter's C++ side prints its settings ("fully_quantize: 0, ...") straight to fd 2
        with contextlib.redirect_stdout(io.StringIO()), native_stderr_captured():
            return bytes(converter.convert())
    except Exception as exc:  # the converter raises ConverterError and friends
        raise EdgetlError(f"TFLite conversion ({quantization}) failed: {str(exc).splitlines()[0][:240]}") from None


# ---- inspection ----------------------------------------------------------------------------------

def gpu_compatibility(model_bytes: bytes) -> tuple[bool, list[str]]:
    """Run TFLite's model analyzer with the GPU-delegate check; return (compatible, warnings)."""
    from edgetl.tf_env import tf

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        tf().lite.experimental.Analyzer.analyze(model_content=model_bytes, gpu_compatibility=True)
    text = buf.getvalue()
    warnings = [line.strip() for line in text.splitlines() if "GPU COMPATIBILITY WARNING" in line or "Not supported" in line]
    return not warnings and "compatible with GPU delegate" in text, warnings


def inspect_model(path: Path) -> dict:
    """Op list, tensor dtypes, IO quantization and delegate friendliness of an exported model."""
    from edgetl.runtime.interpreter import load_interpreter

    # without XNNPACK, so the op list is the model's own rather than one DELEGATE node
    interpreter = load_interpreter(path, threads=1, xnnpack=False, warn=lambda m: None)
    ops = [op["op_name"] for op in interpreter._get_ops_details()]
    tensors = interpreter.get_tensor_details()
    float_tensors = [t["name"] for t in tensors if t["dtype"] in (np.float32, np.float16)]
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    counts: dict[str, int] = {}
    for op in ops:
        counts[op] = counts.get(op, 0) + 1
    int8_only = not float_tensors and set(counts) <= INT8_OPS
    return {
        "ops": counts, "op_count": len(ops), "int8_only": int8_only, "float_tensors": len(float_tensors),
        "input": {"dtype": np.dtype(inp["dtype"]).name, "shape": [int(s) for s in inp["shape"]],
                  "scale": float(inp["quantization"][0]), "zero_point": int(inp["quantization"][1])},
        "output": {"dtype": np.dtype(out["dtype"]).name, "shape": [int(s) for s in out["shape"]],
                   "scale": float(out["quantization"][0]), "zero_point": int(out["quantization"][1])},
        "size_bytes": path.stat().st_size,
    }


# ---- the command ---------------------------------------------------------------------------------

def _held_out(run: Run, split: str) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """The split's readable photos as model-sized squares, their labels and paths (unreadable ones are left out)."""
    samples = run.split(split).samples
    images, kept = load_square_batch([s.path for s in samples], run.size)
    return images, np.array([samples[i].label for i in kept], np.int64), [Path(samples[i].path) for i in kept]


@dataclass
class _Plan:
    """What every quantization's export shares: the run, its float model and gate, the options, held-out photos."""

    run: Run
    out_dir: Path
    name: str
    float_model: object
    gate: Gate | None
    use_qat: bool
    calibration: str | Path | None
    calibration_count: int
    output_type: str
    strict: bool
    target_precision: float
    min_threshold: float
    log: Callable[[str], None]
    held: dict[str, tuple[np.ndarray, np.ndarray, list[Path]]] = field(default_factory=dict)

    @property
    def pick(self) -> str:
        """The split that picks the announce threshold (validation, unless it is empty)."""
        return "val" if len(self.held["val"][1]) else "test"

    @property
    def report_on(self) -> str:
        """The split whose numbers the card reports: not the one that picked the threshold, when there is one."""
        return "test" if len(self.held["test"][1]) else self.pick


def _plan(run: Run, quantizations: Sequence[str], use_qat: bool | None, familiarity: float | None,
          log: Callable[[str], None], **options) -> _Plan:
    """Check the request, load the float model, fit (or reuse) the gate and read the held-out photos."""
    from edgetl.train.familiarity import gate_for_run
    from edgetl.train.loading import load_run_model

    unknown = [q for q in quantizations if q not in QUANTIZATIONS]
    if unknown or not quantizations:
        raise EdgetlError(f"choose at least one of --int8 --fp16 --dynamic --float32 (got {', '.join(unknown) or 'none'})")
    qat_available = run.qat_weights.exists()
    if use_qat and not qat_available:
        raise EdgetlError(f"{run.path} has no quantization-aware model; run `edgetl qat {run.path}` first")
    float_model = load_run_model(run)
    gate = None
    if familiarity:
        gate = gate_for_run(run, float_model, log=log, keep=familiarity)
        if gate is not None:
            log(f"familiarity gate: {gate.per_class} prototypes per class from {gate.layer}, thresholds "
                f"{gate.whole.threshold:.3f} (whole picture) and {gate.note.threshold:.3f} (the note) "
                f"(together keep {gate.keep:.1%} of {gate.val_notes} right validation answers)")
    plan = _Plan(run=run, float_model=float_model, gate=gate, use_qat=qat_available if use_qat is None else use_qat,
                 log=log, **options)
    # The announce threshold is chosen on validation images and its effect reported on test images, so the
    # card's numbers are not measured on the very images that picked the threshold.
    plan.held = {split: _held_out(run, split) for split in ("val", "test")}
    return plan


def _converted(plan: _Plan, quant: str) -> tuple[bytes, Gate | None, bool]:
    """(TFLite bytes, the gate it carries, whether it came from the QAT model) for one quantization."""
    from edgetl.export.gate import gated_model, place_on_quantized

    r, log, gate = plan.run, plan.log, plan.gate
    qat_here = quant == "int8" and plan.use_qat
    model, calib = plan.float_model, None
    if quant == "int8":
        folder = plan.calibration
        if folder is None and Path("calibration").is_dir() and list_images(Path("calibration")):
            folder = "calibration"  # the project's calibration/ folder, when someone filled it
        calib = calibration_images(r, folder, plan.calibration_count)
        if qat_here:
            from edgetl.train.qat import load_qat_model

            model = load_qat_model(r)
            log(f"int8: converting the quantization-aware model ({r.qat_weights.name}) with its learned ranges")
        else:
            log(f"int8: post-training quantization calibrated on {len(calib)} images")

    def converted(g: Gate | None) -> bytes:
        return convert(gated_model(model, g, r.labels, r.background) if g else model, quant, calib, r.mean, r.std,
                       plan.output_type, from_qat=qat_here)

    tflite = converted(gate)
    if gate is not None and quant == "int8" and len(plan.held["val"][1]):
        placed = place_on_quantized(tflite, gate, r.labels, r.background, *plan.held["val"][:2])
        if placed is not None:
            log(f"int8: familiarity thresholds placed on the int8 model's own similarities: whole picture "
                f"{gate.whole.threshold:.3f} -> {placed.whole.threshold:.3f}, the note {gate.note.threshold:.3f} -> "
                f"{placed.note.threshold:.3f}; converting again")
            gate, tflite = placed, converted(placed)
    return tflite, gate, qat_here


def _inspected(plan: _Plan, quant: str, model_path: Path, tflite: bytes, qat_here: bool) -> dict:
    """The written model's ops, IO and delegate fit; refuses an int8 input that is not raw pixels, and --strict misses."""
    r = plan.run
    details = inspect_model(model_path)
    gpu_ok, gpu_warnings = gpu_compatibility(tflite)
    details.update(gpu_compatible=gpu_ok, gpu_warnings=gpu_warnings[:20], quantization=quant, qat=qat_here)
    if quant == "int8":
        expected = 1 / r.std
        if abs(details["input"]["scale"] - expected) > 1e-6 or abs(details["input"]["zero_point"] - r.mean) > 1.0:
            raise EdgetlError(f"int8 input quantization came out as scale {details['input']['scale']:.6f} / zero point "
                              f"{details['input']['zero_point']}, not raw pixels (1/{r.std:g} around {r.mean:g})")
    if plan.strict:
        if quant == "int8" and not details["int8_only"]:
            raise CheckFailed(f"--strict: {model_path.name} has float tensors or non-int8 ops {sorted(set(details['ops']) - INT8_OPS)}; NNAPI/Edge TPU would fall back to CPU")
        if quant in ("fp16", "float32") and not gpu_ok:
            raise CheckFailed(f"--strict: {model_path.name} is not fully GPU-delegate compatible: {gpu_warnings[:1]}")
    return details


def _card(plan: _Plan, quant: str, model_path: Path, details: dict, gate: Gate | None) -> ModelCard:
    r = plan.run

    def quantization(tensor: dict) -> dict | None:
        return {"scale": tensor["scale"], "zero_point": tensor["zero_point"]} if tensor["dtype"] in ("uint8", "int8") else None

    return ModelCard(name=plan.name, model_file=model_path.name, labels=r.labels, input_size=r.size,
                     input_dtype=details["input"]["dtype"], quantization=quant, sha256=sha256_file(model_path),
                     size_bytes=details["size_bytes"], background_label=r.background,
                     normalization={"mean": r.mean, "std": r.std}, input_quantization=quantization(details["input"]),
                     output_dtype=details["output"]["dtype"], output_quantization=quantization(details["output"]),
                     source_run=str(r.path), backbone={**r.backbone, "size": r.size},
                     familiarity=gate.summary() if gate is not None else None,
                     created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), edgetl_version=edgetl.__version__)


def _measure(plan: _Plan, quant: str, model_path: Path, card: ModelCard, details: dict) -> None:
    """Accuracy and the announce threshold on the run's held-out photos, measured on the exported model itself."""
    from edgetl.metrics import classification_report, confident_mistakes, selective
    from edgetl.runtime.interpreter import Classifier
    from edgetl.scoring import score_squares

    r, pick, report_on, held = plan.run, plan.pick, plan.report_on, plan.held
    if not len(held[report_on][1]):
        return
    silent = [r.labels.index(r.background)] if r.background else []
    classifier = Classifier(model_path, card)
    scores = {split: score_squares([classifier], *held[split]) for split in {pick, report_on}}
    sel = selective(scores[pick].truth, scores[pick].probs[0], target_precision=plan.target_precision, silent=silent)
    y_test, p_test = scores[report_on].truth, scores[report_on].probs[0]
    acc = classification_report(y_test, p_test, r.labels)
    card.accuracy = {"split": report_on, "count": acc["count"], "top1": acc["top1"],
                     "threshold_split": pick, "target_precision": plan.target_precision}
    surest = confident_mistakes(scores[pick].truth, scores[pick].probs[0], r.labels, scores[pick].paths, silent)
    details["confident_mistakes"] = {"split": pick, "worst": surest}
    threshold, rule, by_validation = _card_threshold(plan, quant, sel, surest)
    if threshold is not None:
        on_test = selective(y_test, p_test, thresholds=[threshold], silent=silent, min_spoken=1)["curve"][0]
        card.accuracy.update(coverage_at_threshold=on_test["coverage"], precision_at_threshold=on_test["precision"],
                             threshold_rule=rule, validation_threshold=by_validation)
    card.announce_threshold = threshold
    details["accuracy"] = card.accuracy
    details["announce_threshold"] = threshold


def _card_threshold(plan: _Plan, quant: str, sel: dict, surest: list[dict]) -> tuple[float | None, str, float | None]:
    """``metrics.card_threshold`` with export's floor, saying why when validation trusted nothing or too little."""
    from edgetl.metrics import card_threshold

    threshold, rule, own = card_threshold(sel, plan.min_threshold)
    if sel["threshold"] is None:
        _log_untrusted(plan, quant, sel, own, surest)
    if rule == "floor":
        plan.log(f"{quant}: validation trusts {own:.2f}; the card takes the floor {threshold:.2f}, because validation "
                 "photos come from the photographers the model was trained on (--min-threshold)")
    return threshold, rule, own


def _log_untrusted(plan: _Plan, quant: str, sel: dict, threshold: float | None, surest: list[dict]) -> None:
    head = (f"{quant}: no threshold keeps {plan.target_precision:.1%} precision on the held-out photos with one more "
            "wrong answer counted; ")
    if threshold is None:
        plan.log(head + "none reaches it even as measured, so the card leaves announce_threshold empty (devices fall "
                 "back to their default)")
    else:
        row = next(r for r in sel["curve"] if r["threshold"] == threshold)
        plan.log(head + f"the card starts from {threshold:.2f}, the lowest where they reach it as measured ({row['spoken']} "
                 f"answers, {row['wrong']} wrong). More held-out photos would make it firmer; check it on your own notes")
    if surest:
        plan.log(f"{quant}: the wrong answers it is surest of; a photo filed in the wrong class folder looks like this "
                 "(move it and train again):")
        for m in surest[:3]:
            plan.log(f"  {m['confidence']:.2f} said {m['said']}, filed as {m['filed_as']}: {m['path']}")


def _export_one(plan: _Plan, quant: str) -> dict:
    """Convert, write, inspect and measure one quantization; its card is saved beside the model."""
    r = plan.run
    tflite, gate, qat_here = _converted(plan, quant)
    info = metadata.ClassifierInfo(name=f"{plan.name} ({quant})", description=f"edgetl {r.backbone['name']} "
                                   f"classifier for {', '.join(r.labels)}", version=edgetl.__version__,
                                   labels=r.labels, size=r.size, mean=r.mean, std=r.std)
    tflite = metadata.attach(tflite, info)
    model_path = plan.out_dir / f"{plan.name}_{quant}.tflite"
    write_bytes(model_path, tflite)
    details = _inspected(plan, quant, model_path, tflite, qat_here)
    card = _card(plan, quant, model_path, details, gate)
    _measure(plan, quant, model_path, card, details)
    card_path = model_path.with_suffix(".json")
    card.save(card_path)
    return {"model": str(model_path), "card": str(card_path), "report": details}


def export(
    run: str | Path,
    out_dir: str | Path = ExportConfig.out_dir,
    quantizations: Sequence[str] = ("int8",),
    calibration: str | Path | None = None,
    calibration_count: int = ExportConfig.calibration_count,
    output_type: str = ExportConfig.output_type,
    use_qat: bool | None = None,
    strict: bool = False,
    android: str | Path | None = None,
    name: str | None = None,
    target_precision: float = ExportConfig.target_precision,
    min_threshold: float = ExportConfig.min_threshold,
    familiarity: float | None = ExportConfig.familiarity,
    log: Callable[[str], None] = print,
) -> ExportResult:
    """Export ``run`` in each of ``quantizations``; write model, card and report atomically per file.

    ``familiarity``: share of right validation answers the familiarity gate keeps (None: no gate).
    ``min_threshold``: the card's announce threshold is never lower than this (0: validation alone decides).
    """
    if not 0.0 <= min_threshold < 1.0:
        raise EdgetlError(f"--min-threshold is a confidence, at least 0 and below 1 (got {min_threshold})")
    started = time.perf_counter()
    r = Run.open(run)
    name = name or r.name
    plan = _plan(r, quantizations, use_qat, familiarity, log, out_dir=Path(out_dir), name=name, calibration=calibration,
                 calibration_count=calibration_count, output_type=output_type, strict=strict,
                 target_precision=target_precision, min_threshold=min_threshold)
    result = ExportResult()
    report: dict = {"run": str(r.path), "name": name, "models": {}}
    for quant in quantizations:
        result.files[quant] = _export_one(plan, quant)
        report["models"][quant] = result.files[quant]["report"]
    write_text(plan.out_dir / f"{name}_labels.txt", "\n".join(r.labels) + "\n")
    report["seconds"] = round(time.perf_counter() - started, 1)
    result.report_path = write_json(plan.out_dir / f"{name}_export_report.json", report)
    if android is not None:
        result.android = copy_to_android(result, Path(android), r.labels)
    return result


def copy_to_android(result: ExportResult, assets: Path, labels: list[str]) -> list[str]:
    """Put model, card, labels and phrases where android_demo's app reads them (fixed names)."""
    from importlib import resources

    written = []
    for quant, (model_name, card_name) in ANDROID_ASSETS.items():
        if quant not in result.files:
            continue
        copy_file(result.files[quant]["model"], assets / model_name)
        card = ModelCard.load(result.files[quant]["card"])
        card.model_file = model_name
        card.save(assets / card_name)
        written += [model_name, card_name]
    write_text(assets / ANDROID_LABELS, "\n".join(labels) + "\n")
    phrases = resources.files("edgetl.runtime").joinpath("phrases.json").read_text(encoding="utf-8")
    write_text(assets / ANDROID_PHRASES, phrases)
    return written + [ANDROID_LABELS, ANDROID_PHRASES]
