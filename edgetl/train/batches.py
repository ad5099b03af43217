"""The one batch order for training on views: every epoch, every image once in a fresh order, each as one
of its views picked at random. Fine-tuning reads cached views, QAT makes them on the fly; both draw the
same way from the same seeded generator, so a run is reproducible."""

from __future__ import annotations

from typing import Callable

import numpy as np


def random_view_batches(keras, count: int, views: int, batch_size: int, seed: int,
                        fetch: Callable[[np.ndarray, np.ndarray], tuple]):
    """A Keras ``Sequence`` over ``count`` images; ``fetch(indices, view_of_each)`` returns (inputs, targets)."""

    class RandomViews(keras.utils.Sequence):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.on_epoch_end()

        def on_epoch_end(self):
            self.order = self.rng.permutation(count)
            self.view = self.rng.integers(0, views, size=count)

        def __len__(self):
            return int(np.ceil(count / batch_size))

        def __getitem__(self, i):
            idx = self.order[i * batch_size : (i + 1) * batch_size]
            return fetch(idx, self.view[idx])

    return RandomViews()
