"""Import TensorFlow with Keras 2 (tf_keras), which tensorflow-model-optimization requires.

Every training-side module gets Keras from here so the environment variable is always set first.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tf():
    import tensorflow

    tensorflow.get_logger().setLevel("ERROR")
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
