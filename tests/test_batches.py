"""The training batch order: every image once an epoch, a random view each, the same stream for a seed."""

from __future__ import annotations

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


def test_keras_reads_the_stream_epoch_after_epoch():
    """One endless tf.data stream: fetch sees the same batches as the draws, across the epoch boundary."""
    from edgetl.tf_env import tf

    x = np.arange(10 * 2, dtype=np.float32).reshape(10, 2)  # image i's view v is the number 2 i + v
    batches = random_view_batches(tf(), 10, 2, 4, 3, lambda idx, view: (x[idx, view][:, None], idx.astype(np.int64)))
    assert batches.steps == 3
    got = list(islice(batches.dataset.as_numpy_iterator(), 2 * batches.steps))
    want = list(islice(batch_draws(10, 2, 4, 3), 2 * batches.steps))
    for (inputs, idx), (want_idx, want_view) in zip(got, want):
        assert np.array_equal(idx, want_idx)
        assert np.array_equal(inputs[:, 0], 2 * want_idx + want_view)
