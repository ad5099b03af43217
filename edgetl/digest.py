"""The one sha256 of a file's bytes: model cards, the feature cache's content keys and duplicate finding all use it."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 1 << 20  # models can be large: hash them a slice at a time


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of the file's contents; OSError (missing, unreadable) is the caller's to word."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()
