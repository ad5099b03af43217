"""The training batch order: every image once an epoch, a random view each, the same stream for a seed."""

from __future__ import annotations

import random
from itertools import islice

import numpy as np

from edgetl.train.batches import batch_draws, random_view_batches, steps_per_epoch


def _epochs(count: int, views: int, batch: int, seed: int, epochs: int) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    steps = steps_per_epoch(count, batch)
    draws = list(islice(batch_draws(count, views, batch, seed), steps * epochs))
    return [draws[e * steps : (e + 1) * steps] for e in range(epochs)]


def test_each_epoch_shows_every_image_once_in_a_new_order():
    epochs = _epochs(count=23, views=4, batch=5, seed=0, epochs=3)
    orders = []
    for batches in epochs:
        assert [len(idx) for idx, _ in batches] == [5, 5, 5, 5, 3]  # the last batch is the remainder
        order = np.concatenate([idx for idx, _ in batches])
        assert sorted(order) == list(range(23))
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])


def test_views_are_drawn_from_every_cached_view():
    views = np.concatenate([v for batches in _epochs(200, 4, 32, 1, 5) for _, v in batches])
    assert set(views.tolist()) == {0, 1, 2, 3}
    assert np.bincount(views).min() > 0.2 * len(views)  # 1000 draws: each view near a quarter


def test_the_stream_is_reproducible_for_a_seed():
    a, b, c = (list(islice(batch_draws(50, 3, 8, seed), 20)) for seed in (7, 7, 8))
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def _stream(seed: int, python_seed: int, epochs: int):
    from edgetl.tf_env import tf

    random.seed(python_seed)  # what keras.utils.set_random_seed does before training
    x = np.arange(10 * 2, dtype=np.float32).reshape(10, 2)  # image i's view v is the number 2 i + v
    batches = random_view_batches(tf(), 10, 2, 4, seed, lambda idx, view: (x[idx, view][:, None], idx.astype(np.int64)))
    assert batches.steps == 3
    return list(islice(batches.dataset.as_numpy_iterator(), epochs * batches.steps))


def test_keras_reads_the_drawn_batches_epoch_after_epoch():
    """One endless tf.data stream: each epoch holds that epoch's drawn batches, in an order Python's random shuffles
    (as tf_keras shuffled a Sequence's batches, so runs from before the stream are reproduced bit for bit)."""
    got = _stream(seed=3, python_seed=0, epochs=3)
    want = list(islice(batch_draws(10, 2, 4, 3), 9))
    for epoch in range(3):
        got_epoch = {tuple(idx): inputs[:, 0] for inputs, idx in got[3 * epoch : 3 * epoch + 3]}
        want_epoch = {tuple(idx): 2 * idx + view for idx, view in want[3 * epoch : 3 * epoch + 3]}
        assert got_epoch.keys() == want_epoch.keys()
        assert all(np.array_equal(got_epoch[k], want_epoch[k]) for k in want_epoch)
    again, other = _stream(3, 0, 3), _stream(3, 1, 3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(got, again))
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(got, other))  # the batch order follows Python's seed
