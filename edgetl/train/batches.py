"""The one batch order for training on views: every epoch, every image once in a fresh order, each as one
of its views picked at random. Fine-tuning reads cached views, QAT makes them on the fly; both draw the
same way from the same seeded generator, so a run is reproducible.

Keras gets the batches as one endless ``tf.data`` stream with ``steps_per_epoch``, not as a
``keras.utils.Sequence``: tf_keras builds a new iterator over a Sequence at every epoch, and fitting stood
still for about 20 s between fine-tuning epochs, over a quarter of a training's wall time (BENCHMARKS.md, "Twenty
seconds between epochs"). The stream keeps the batch order Keras gave a shuffled Sequence, so runs are
bit-identical to the ones measured before it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np


@dataclass(frozen=True)
class ViewBatches:
    dataset: object  # tf.data.Dataset of (inputs, targets) batches, epoch after epoch without end
    steps: int  # batches in one epoch: pass as steps_per_epoch


def batch_draws(count: int, views: int, batch_size: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless (image indices, view of each) batches; each epoch is a fresh permutation, the last batch may be short."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(count)
        view = rng.integers(0, views, size=count)
        for start in range(0, count, batch_size):
            idx = order[start : start + batch_size]
            yield idx, view[idx]


def steps_per_epoch(count: int, batch_size: int) -> int:
    return -(-count // batch_size)


def random_view_batches(tf, count: int, views: int, batch_size: int, seed: int,
                        fetch: Callable[[np.ndarray, np.ndarray], tuple]) -> ViewBatches:
    """The batches of ``fetch(indices, view_of_each) -> (inputs, targets)`` for ``count`` images, as a stream."""
    first_x, first_y = fetch(np.arange(1), np.zeros(1, np.int64))  # image 0's plain view: only for shapes and dtypes
    signature = tuple(tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype)) for a in (first_x, first_y))

    steps = steps_per_epoch(count, batch_size)

    def generate():
        draws = batch_draws(count, views, batch_size, seed)
        while True:
            epoch = [next(draws) for _ in range(steps)]
            order = list(range(steps))
            random.shuffle(order)  # the batch order tf_keras gave a shuffled Sequence: runs stay as they were
            for i in order:
                yield fetch(*epoch[i])

    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(2)
    return ViewBatches(dataset, steps)
