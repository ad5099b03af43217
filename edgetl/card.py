"""The model card: everything a device needs to run an exported model correctly, in one JSON file.

Both sides meet here: `edgetl export` writes it next to the `.tflite`, and the Raspberry Pi runner and the
Android app read it (labels, input size and dtype, how to scale pixels, quantization parameters, which
label means "no note", and the confidence above which an answer is spoken). numpy/stdlib only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

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
        known = set(cls.__dataclass_fields__)
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise EdgetlError(f"{path}: model card is missing fields ({exc})") from None

    def model_path(self, card_path: str | Path) -> Path:
        return Path(card_path).parent / self.model_file

    def verify(self, model_path: str | Path) -> None:
        """Fail clearly when the card does not describe this exact model file."""
        digest = sha256_file(model_path)
        if digest != self.sha256:
            raise EdgetlError(f"model card does not match {model_path} (sha256 {digest[:12]}…, card says "
                              f"{self.sha256[:12]}…); re-export or pass the matching card")

    @property
    def background_index(self) -> int | None:
        return self.labels.index(self.background_label) if self.background_label in self.labels else None


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except FileNotFoundError:
        raise EdgetlError(f"model not found: {path}") from None
    return digest.hexdigest()


def card_path_for(model_path: str | Path) -> Path:
    """The sidecar card of ``models/notes_int8.tflite`` is ``models/notes_int8.json``."""
    return Path(model_path).with_suffix(".json")


def find_card(model_path: str | Path, card: str | Path | None = None) -> ModelCard | None:
    path = Path(card) if card else card_path_for(model_path)
    return ModelCard.load(path) if (card or path.exists()) else None
