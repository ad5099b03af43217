"""Import TensorFlow with Keras 2 (tf_keras), which tensorflow-model-optimization requires, quietly.

Every training-side module gets Keras from here so the environment variables are always set first.
Quiet by default: TensorFlow's C++ logging is off (TF_CPP_MIN_LOG_LEVEL=3), and the notices absl prints
before its logging is initialised (oneDNN, the CUDA stub) -- which no environment variable reaches --
are caught by pointing file descriptor 2 elsewhere while TensorFlow loads. ``--verbose`` or
EDGETL_VERBOSE=1 shows everything.
"""

from __future__ import annotations

import contextlib
import os
import sys

from edgetl.quiet import native_stderr_captured, verbose

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__all__ = ["keras", "native_stderr_captured", "set_log_level", "tf", "verbose"]


def set_log_level() -> None:
    """TensorFlow reads TF_CPP_MIN_LOG_LEVEL once, when it loads: set it before that (the user's value wins)."""
    if verbose():
        if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "3" and os.environ.get("_EDGETL_SET_TF_LOG") == "1":
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        return
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        os.environ["_EDGETL_SET_TF_LOG"] = "1"


set_log_level()


def tf():
    set_log_level()
    if "tensorflow" not in sys.modules:
        with native_stderr_captured():
            import tensorflow  # noqa: F401  (the notices it prints while loading go to the sink)
    import tensorflow

    if not verbose():
        tensorflow.get_logger().setLevel("ERROR")
        with contextlib.suppress(ImportError):
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
    return tensorflow


def keras():
    """The Keras 2 API (tf_keras). Raise a clear error when the training extra is not installed."""
    try:
        tf()
        import tf_keras
    except ImportError as exc:  # pragma: no cover - depends on the install
        from edgetl.errors import EdgetlError

        raise EdgetlError(f"training needs TensorFlow: pip install 'edgetl[train]' ({exc})") from None
    return tf_keras
