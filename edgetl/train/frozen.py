"""The frozen bottom of the classifier as a LiteRT graph, to fill the feature cache faster.

The bottom never trains, and on the CPUs here LiteRT's XNNPACK kernels run it about 1.5 times as fast as
TensorFlow's own (BENCHMARKS.md, nineteenth session), but converting it takes 10-15 s for MobileNetV2, so it pays
only for a large fill (``LITERT_FROM_VIEWS``); small fills, tests among them, stay with TensorFlow. The activations
of the two agree to float16 rounding, the cache's own step, so one cache may hold rows from both.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from edgetl.quiet import native_stderr_captured

# Break-even on the machines here: 1.5x faster at about 150 views/s saves ~3 ms a view, against ~12 s to convert.
LITERT_FROM_VIEWS = 4000


def litert_runner(bottom, threads: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A function (images, H, W, 3) float32 -> activations at the cut, through a converted copy of ``bottom``.

    Raises whatever the converter raises for a graph it cannot take; the caller then keeps TensorFlow.
    """
    from edgetl.runtime.interpreter import runtime_module
    from edgetl.tf_env import tf

    with native_stderr_captured():
        flatbuffer = tf().lite.TFLiteConverter.from_keras_model(bottom).convert()
        module, _ = runtime_module()
        interpreter = module.Interpreter(model_content=flatbuffer, num_threads=threads or os.cpu_count() or 1)
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]
    batch = [0]

    def run(images: np.ndarray) -> np.ndarray:
        if len(images) != batch[0]:  # the last batch of a split is shorter: size the graph to it
            with native_stderr_captured():  # the first allocation announces the XNNPACK delegate
                interpreter.resize_tensor_input(source, images.shape)
                interpreter.allocate_tensors()
            batch[0] = len(images)
        interpreter.set_tensor(source, np.ascontiguousarray(images, dtype=np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(target).copy()

    return run
