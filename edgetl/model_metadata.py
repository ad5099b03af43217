"""Read the standard TFLite metadata and packed labels back out of a model file, with the stdlib only.

Both sides need this: `edgetl export` checks what it wrote, and the device side (`edgetl run`, `predict`
on a bare .tflite) takes labels from a model that came without its card. The writer lives in
`edgetl/export/metadata.py` and imports its names from here, so the two never disagree.
"""

from __future__ import annotations

import io
import zipfile

METADATA_NAME = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
LABELS_FILE = "labels.txt"


def _field(buf: bytes, table: int, slot: int) -> int | None:
    """Absolute position of a field's data, or None when absent."""
    vtable = table - int.from_bytes(buf[table : table + 4], "little", signed=True)
    vt_size = int.from_bytes(buf[vtable : vtable + 2], "little")
    entry = 4 + 2 * slot
    if entry >= vt_size:
        return None
    off = int.from_bytes(buf[vtable + entry : vtable + entry + 2], "little")
    return table + off if off else None


def _deref(buf: bytes, pos: int) -> int:
    return pos + int.from_bytes(buf[pos : pos + 4], "little")


def _string(buf: bytes, table: int, slot: int) -> str | None:
    pos = _field(buf, table, slot)
    if pos is None:
        return None
    start = _deref(buf, pos)
    n = int.from_bytes(buf[start : start + 4], "little")
    return buf[start + 4 : start + 4 + n].decode()


def _table_vector(buf: bytes, table: int, slot: int) -> list[int]:
    pos = _field(buf, table, slot)
    if pos is None:
        return []
    start = _deref(buf, pos)
    n = int.from_bytes(buf[start : start + 4], "little")
    return [_deref(buf, start + 4 + 4 * i) for i in range(n)]


def _model_metadata_buffer(model: bytes) -> bytes | None:
    """The TFLITE_METADATA buffer of a TFLite model (Model.metadata slot 6, Model.buffers slot 4)."""
    root = _deref(model, 0)
    buffers = _table_vector(model, root, 4)
    for entry in _table_vector(model, root, 6):
        if _string(model, entry, 0) != METADATA_NAME:
            continue
        pos = _field(model, entry, 1)
        index = int.from_bytes(model[pos : pos + 4], "little") if pos is not None else 0
        data = _field(model, buffers[index], 0)
        if data is None:
            return None
        start = _deref(model, data)
        n = int.from_bytes(model[start : start + 4], "little")
        return model[start + 4 : start + 4 + n]
    return None


def read_metadata(model: bytes) -> dict:
    """Names, packed files and labels from a model written by `attach` (or any standard writer)."""
    if model[4:8] != b"TFL3":
        raise ValueError("not a TFLite flatbuffer")
    meta = _model_metadata_buffer(model)
    if meta is None:
        return {}
    if meta[4:8] != FILE_IDENTIFIER:
        raise ValueError("metadata buffer lacks the M001 identifier")
    root = _deref(meta, 0)
    subgraphs = _table_vector(meta, root, 3)
    out = {"name": _string(meta, root, 0), "description": _string(meta, root, 1), "version": _string(meta, root, 2),
           "min_parser_version": _string(meta, root, 7)}
    if subgraphs:
        inputs = _table_vector(meta, subgraphs[0], 2)
        outputs = _table_vector(meta, subgraphs[0], 3)
        out["input_names"] = [_string(meta, t, 0) for t in inputs]
        out["output_names"] = [_string(meta, t, 0) for t in outputs]
        files = _table_vector(meta, outputs[0], 6) if outputs else []
        out["output_files"] = [_string(meta, f, 0) for f in files]
    with zipfile.ZipFile(io.BytesIO(model)) as archive:
        out["packed_files"] = archive.namelist()
        if LABELS_FILE in out["packed_files"]:
            out["labels"] = archive.read(LABELS_FILE).decode().splitlines()
    return out
