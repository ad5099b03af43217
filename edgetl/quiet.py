"""Quiet by default: keep native libraries' notices (TensorFlow, LiteRT) off a user's terminal.

Used by both sides (training and device), so it imports nothing heavy. ``--verbose`` or EDGETL_VERBOSE=1
turns it off.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile


def verbose() -> bool:
    """True when the user asked to see TensorFlow's own logging (``--verbose`` or EDGETL_VERBOSE=1)."""
    return os.environ.get("EDGETL_VERBOSE", "").strip().lower() in ("1", "true", "yes", "on")


@contextlib.contextmanager
def native_stderr_captured():
    """Send C/C++ writes to stderr (fd 2) to a temporary file for the duration of the block.

    On an exception what was captured is written back to stderr, so a real failure keeps its explanation.
    Does nothing when verbose. Python's sys.stderr shares fd 2, so keep progress bars out of the block.
    """
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            _restore(saved)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", errors="replace"))
            sys.stderr.flush()
            raise
        else:
            _restore(saved)


def _restore(saved: int) -> None:
    if saved < 0:
        return
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
