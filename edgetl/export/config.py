"""Export's defaults, declared once: `export()` and `edgetl export` both read them from here. Light to import."""

from __future__ import annotations

from dataclasses import dataclass

from edgetl.policy import MIN_ANNOUNCE_THRESHOLD, TARGET_PRECISION

QUANTIZATIONS = ("int8", "fp16", "dynamic", "float32")
OUTPUT_TYPES = ("uint8", "float32")
NONE_MEANS = {"familiarity": "0, no gate"}  # what a None default stands for, in the help


@dataclass(frozen=True)
class ExportConfig:
    out_dir: str = "models"
    calibration_count: int = 200  # images the int8 converter calibrates its ranges on
    output_type: str = "uint8"  # int8 model output: uint8 (smallest, what the app reads) or float32
    target_precision: float = TARGET_PRECISION  # the card's announce threshold is placed to reach this on held-out photos
    min_threshold: float = MIN_ANNOUNCE_THRESHOLD  # the card's threshold is never lower, whatever validation trusts
    familiarity: float | None = None  # a gate keeping this share of right validation answers (None: no gate; see policy)
