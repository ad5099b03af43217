"""The one sha256 of a file's bytes: model cards, the feature cache's content keys and duplicate finding all use it."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 1 << 20  # models can be large: hash them a slice at a time


def sha256_file(path: str | Path, never_raise: bool = False) -> str:
    """Hex sha256 of the file's contents; OSError (missing, unreadable) is the caller's to word.

    ``never_raise``: a photo's content key (feature cache, split ranking), where one bad file must stop
    nothing: an unreadable file (a symlink loop, no permission) gets a key of its own made from its path,
    and decoding it later reports the path.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
                digest.update(chunk)
    except OSError:
        if not never_raise:
            raise
        return hashlib.sha256(f"unreadable:{path}".encode()).hexdigest()
    return digest.hexdigest()
