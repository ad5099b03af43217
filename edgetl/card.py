"""The model card: everything a device needs to run an exported model correctly, in one JSON file.

Both sides meet here: `edgetl export` writes it next to the `.tflite`, and the Raspberry Pi runner and the
Android app read it (labels, input size and dtype, how to scale pixels, quantization parameters, which
label means "no note", and the confidence above which an answer is spoken). numpy/stdlib only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgetl.digest import sha256_file
from edgetl.errors import EdgetlError

CARD_FORMAT = "edgetl-card/1"


@dataclass
class ModelCard:
    name: str
    model_file: str  # file name of the .tflite, relative to the card
    labels: list[str]
    input_size: int  # square side in pixels
    input_dtype: str  # "uint8" (raw RGB 0-255 go straight in) or "float32" (normalise first)
    quantization: str  # int8 | fp16 | dynamic | float32
    sha256: str
    size_bytes: int
    background_label: str | None = "background"
    # float input: x = (pixel - mean) / std; uint8 input: the model's own input quantization does this
    normalization: dict = field(default_factory=lambda: {"mean": 127.5, "std": 127.5})
    input_quantization: dict | None = None  # {"scale", "zero_point"} when input_dtype is uint8/int8
    output_dtype: str = "float32"
    output_quantization: dict | None = None  # {"scale", "zero_point"} for a uint8 output
    output_semantics: str = "softmax probabilities over labels"
    crop: str = "center"  # devices take a centre square of the camera frame
    announce_threshold: float | None = None  # lowest confidence with >= 99.5 % precision on held-out data
    familiarity: dict | None = None  # the gate built into the graph (edgetl.train.familiarity), None: no gate
    accuracy: dict = field(default_factory=dict)
    source_run: str | None = None
    backbone: dict = field(default_factory=dict)
    created: str | None = None
    edgetl_version: str | None = None
    format: str = CARD_FORMAT

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        from edgetl.atomic import write_json

        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "ModelCard":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise EdgetlError(f"model card not found: {path}") from None
        except (OSError, ValueError) as exc:
            raise EdgetlError(f"{path}: not a readable model card ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != CARD_FORMAT:
            raise EdgetlError(f"{path}: not an edgetl model card (expected format {CARD_FORMAT})")
        problems = card_problems(data)
        if problems:
            raise EdgetlError("\n".join(f"{path}: {p}" for p in problems))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def model_path(self, card_path: str | Path) -> Path:
        return Path(card_path).parent / self.model_file

    def verify(self, model_path: str | Path) -> None:
        """Fail clearly when the card does not describe this exact model file."""
        try:
            digest = sha256_file(model_path)
        except FileNotFoundError:
            raise EdgetlError(f"model not found: {model_path}") from None
        if digest != self.sha256:
            raise EdgetlError(f"model card does not match {model_path} (sha256 {digest[:12]}…, card says "
                              f"{self.sha256[:12]}…); re-export or pass the matching card")

    @property
    def background_index(self) -> int | None:
        return self.labels.index(self.background_label) if self.background_label in self.labels else None


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _integer(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _text(v) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _scale_zero(v) -> bool:
    return isinstance(v, dict) and _number(v.get("scale")) and _integer(v.get("zero_point"))


# field -> (test, what it must be); a field absent from the card keeps its dataclass default
_REQUIRED = ("name", "model_file", "labels", "input_size", "input_dtype", "quantization", "sha256", "size_bytes")
_RULES = {
    "name": (_text, "a non-empty string"),
    "model_file": (_text, "a non-empty file name"),
    "labels": (lambda v: isinstance(v, list) and bool(v) and all(_text(x) for x in v) and len(set(v)) == len(v),
               "a non-empty list of distinct, non-empty strings"),
    "input_size": (lambda v: _integer(v) and v > 0, "a positive integer"),
    "input_dtype": (lambda v: v in ("uint8", "int8", "float32"), "one of uint8, int8, float32"),
    "quantization": (_text, "a string such as int8 or fp16"),
    "sha256": (lambda v: isinstance(v, str) and len(v) == 64, "a 64-character hex digest"),
    "size_bytes": (lambda v: _integer(v) and v >= 0, "a non-negative integer"),
    "background_label": (lambda v: v is None or _text(v), "a label or null"),
    "normalization": (lambda v: isinstance(v, dict) and _number(v.get("mean")) and _number(v.get("std")) and v["std"] != 0,
                      'an object {"mean": number, "std": non-zero number}'),
    "input_quantization": (lambda v: v is None or _scale_zero(v), 'null or {"scale": number, "zero_point": integer}'),
    "output_dtype": (lambda v: v in ("uint8", "int8", "float32", "float16"), "one of uint8, int8, float32, float16"),
    "output_quantization": (lambda v: v is None or _scale_zero(v), 'null or {"scale": number, "zero_point": integer}'),
    "output_semantics": (lambda v: isinstance(v, str), "a string"),
    "crop": (lambda v: isinstance(v, str), "a string"),
    "announce_threshold": (lambda v: v is None or (_number(v) and 0 <= v <= 1), "null or a number from 0 to 1"),
    "familiarity": (lambda v: v is None or isinstance(v, dict), "null or an object"),
    "accuracy": (lambda v: isinstance(v, dict), "an object"),
    "source_run": (lambda v: v is None or isinstance(v, str), "null or a string"),
    "backbone": (lambda v: isinstance(v, dict), "an object"),
    "created": (lambda v: v is None or isinstance(v, str), "null or a string"),
    "edgetl_version": (lambda v: v is None or isinstance(v, str), "null or a string"),
}


def card_problems(data: dict) -> list[str]:
    """One sentence per missing or mistyped field: every reader of a card checks it here, once."""
    problems = [f"missing field {name!r}" for name in _REQUIRED if name not in data]
    for name, (ok, what) in _RULES.items():
        if name in data and not ok(data[name]):
            problems.append(f"field {name!r} must be {what} (got {json.dumps(data[name])[:60]})")
    return problems


def card_path_for(model_path: str | Path) -> Path:
    """The sidecar card of ``models/notes_int8.tflite`` is ``models/notes_int8.json``."""
    return Path(model_path).with_suffix(".json")


def find_card(model_path: str | Path, card: str | Path | None = None) -> ModelCard | None:
    path = Path(card) if card else card_path_for(model_path)
    return ModelCard.load(path) if (card or path.exists()) else None
