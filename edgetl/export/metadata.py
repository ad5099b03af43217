"""Standard TFLite metadata (the "M001" ModelMetadata flatbuffer) plus packed labels, written directly.

This is what the TFLite Task Library and MediaPipe's ImageClassifier read on Android: an image input with
its normalisation, a probability output whose axis labels come from `labels.txt` packed into the model
file as a zip archive appended after the flatbuffer. The maintained writers either do not install beside
TensorFlow 2.21 (tflite-support pins protobuf < 4) or ship without their native helper (mediapipe 1.2's
wheel), so edgetl builds the few tables it needs with the `flatbuffers` builder, field by field as the
published metadata_schema.fbs orders them.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import flatbuffers

from edgetl.model_metadata import FILE_IDENTIFIER, LABELS_FILE, METADATA_NAME

# enum values from metadata_schema.fbs
TENSOR_AXIS_LABELS = 2
COLOR_RGB = 1
CONTENT_FEATURE, CONTENT_IMAGE = 1, 2
UNIT_NORMALIZATION = 1


@dataclass
class ClassifierInfo:
    name: str
    description: str
    version: str
    labels: list[str]
    size: int
    mean: float
    std: float
    author: str = "edgetl"
    license: str = ""


def _strings(b: flatbuffers.Builder, *values: str) -> list[int]:
    return [b.CreateString(v) for v in values]


def _table(b: flatbuffers.Builder, fields: list[tuple[int, str, object]]) -> int:
    """Build one table from (slot, kind, value): kind is 'off' (offset), 'u8', 'u32' or skipped when None."""
    b.StartObject(max(slot for slot, _, _ in fields) + 1 if fields else 0)
    for slot, kind, value in fields:
        if value is None:
            continue
        if kind == "off":
            b.PrependUOffsetTRelativeSlot(slot, value, 0)
        elif kind == "u8":
            b.PrependUint8Slot(slot, value, 0)
        elif kind == "u32":
            b.PrependUint32Slot(slot, value, 0)
    return b.EndObject()


def _vector(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _floats(b: flatbuffers.Builder, values: list[float]) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependFloat32(v)
    return b.EndVector()


def build_metadata(info: ClassifierInfo) -> bytes:
    b = flatbuffers.Builder(1024)
    # AssociatedFile{name, description, type}
    file_name, file_desc = _strings(b, LABELS_FILE, "One label per output score, in order.")
    labels_file = _table(b, [(0, "off", file_name), (1, "off", file_desc), (2, "u8", TENSOR_AXIS_LABELS)])

    # input: TensorMetadata{name, description, content(ImageProperties RGB), process_units[Normalization], stats}
    size = _table(b, [(0, "u32", info.size), (1, "u32", info.size)])  # ImageSize{width, height}
    image_props = _table(b, [(0, "u8", COLOR_RGB), (1, "off", size)])
    in_content = _table(b, [(0, "u8", CONTENT_IMAGE), (1, "off", image_props)])
    mean, std = _floats(b, [info.mean]), _floats(b, [info.std])
    norm = _table(b, [(0, "off", mean), (1, "off", std)])
    unit = _table(b, [(0, "u8", UNIT_NORMALIZATION), (1, "off", norm)])
    units = _vector(b, [unit])
    in_stats = _table(b, [(0, "off", _floats(b, [255.0])), (1, "off", _floats(b, [0.0]))])
    in_name, in_desc = _strings(b, "image", f"RGB image, {info.size}x{info.size}, centre-cropped; uint8 pixels 0-255 for "
                                            "the int8 model, (pixel - mean) / std for float models.")
    input_meta = _table(b, [(0, "off", in_name), (1, "off", in_desc), (3, "off", in_content), (4, "off", units),
                            (5, "off", in_stats)])

    # output: TensorMetadata{name, description, content(FeatureProperties), stats, associated_files[labels]}
    feature_props = _table(b, [])
    out_content = _table(b, [(0, "u8", CONTENT_FEATURE), (1, "off", feature_props)])
    out_stats = _table(b, [(0, "off", _floats(b, [1.0])), (1, "off", _floats(b, [0.0]))])
    out_files = _vector(b, [labels_file])
    out_name, out_desc = _strings(b, "probability", "Softmax probability of each label.")
    output_meta = _table(b, [(0, "off", out_name), (1, "off", out_desc), (3, "off", out_content), (5, "off", out_stats),
                             (6, "off", out_files)])

    subgraph = _table(b, [(2, "off", _vector(b, [input_meta])), (3, "off", _vector(b, [output_meta]))])
    name, desc, version, author, lic, parser = _strings(b, info.name, info.description, info.version, info.author,
                                                        info.license, "1.0.0")
    root = _table(b, [(0, "off", name), (1, "off", desc), (2, "off", version), (3, "off", _vector(b, [subgraph])),
                      (4, "off", author), (5, "off", lic), (7, "off", parser)])
    b.Finish(root, file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def attach(model: bytes, info: ClassifierInfo) -> bytes:
    """Return model bytes with the metadata buffer referenced from Model.metadata and labels packed in."""
    from tensorflow.lite.python import schema_py_generated as schema

    obj = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    obj.metadata = [m for m in (obj.metadata or []) if m.name.decode() != METADATA_NAME]
    buffer = schema.BufferT()
    buffer.data = list(build_metadata(info))
    obj.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(obj.buffers) - 1
    obj.metadata.append(entry)
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(obj.Pack(builder), file_identifier=b"TFL3")
    packed = io.BytesIO(bytes(builder.Output()))
    # Associated files ride along as an uncompressed zip appended to the flatbuffer, so readers can mmap them.
    with zipfile.ZipFile(packed, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(LABELS_FILE, "\n".join(info.labels) + "\n")
    return packed.getvalue()
