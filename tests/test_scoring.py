"""scoring.score and the batch loader on real photos and real .tflite models (conftest's ``tiny_models``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_CLASSES, TINY_SIZE


def _items(tiny_models) -> list[tuple[Path, int]]:
    test = tiny_models["tree"] / "test"
    return [(p, TINY_CLASSES.index(p.parent.name)) for p in sorted(test.glob("*/*.jpg"))]


def _with_bad_photos(items: list[tuple[Path, int]], tmp_path: Path) -> tuple[list[tuple[Path, int]], list[Path]]:
    """The items with a corrupt photo and a vanished one slipped in, in different chunks."""
    corrupt = tmp_path / "red" / "corrupt.jpg"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    missing = tmp_path / "blue" / "gone.jpg"
    return items[:5] + [(corrupt, 3)] + items[5:35] + [(missing, 1)] + items[35:], [corrupt, missing]


def test_unreadable_photos_are_skipped_and_named_and_the_rest_scored_like_one_by_one(tiny_models, tmp_path):
    from edgetl.data.images import load_square
    from edgetl.evaluate import load_predictor
    from edgetl.runtime.interpreter import Classifier
    from edgetl.scoring import CHUNK, score

    readable = _items(tiny_models)
    items, bad = _with_bad_photos(readable, tmp_path)
    heard: list[str] = []
    chunk_lists: list[list] = []

    def bar(parts: list) -> list:
        chunk_lists.append(parts)
        return parts

    float_model = load_predictor(tiny_models["float"])  # evaluate's Predictor: ``size``
    int8_model = Classifier(tiny_models["int8"])  # the device's Classifier: ``input.size``
    scores = score([float_model, int8_model], items, log=heard.append, chunks=bar)

    assert scores.unreadable == [str(p) for p in bad]
    assert len(heard) == 2 and all(line.startswith("skipping unreadable image: ") for line in heard)
    assert str(bad[0]) in heard[0] and "cannot decode" in heard[0]
    assert str(bad[1]) in heard[1] and "no such file" in heard[1]
    assert len(chunk_lists) == 1 and [len(c) for c in chunk_lists[0]] == [CHUNK, len(items) - CHUNK]

    assert len(scores) == len(readable) == 40
    assert scores.paths == [p for p, _ in readable]
    assert scores.truth.tolist() == [label for _, label in readable]
    assert [p.shape for p in scores.probs] == [(40, len(TINY_CLASSES))] * 2
    assert all(p.dtype == np.float32 for p in scores.probs)
    one_by_one = [np.stack([m.predict(load_square(p, TINY_SIZE)[None])[0] for p, _ in readable])
                  for m in (float_model, int8_model)]
    for batched, single in zip(scores.probs, one_by_one):
        np.testing.assert_array_equal(batched, single)
    assert (scores.probs[0].argmax(1) == scores.truth).mean() >= 0.9  # the tiny model did learn the colours


def test_squares_already_decoded_score_the_same(tiny_models):
    from edgetl.data.images import load_square_batch
    from edgetl.runtime.interpreter import Classifier
    from edgetl.scoring import score, score_squares

    items = _items(tiny_models)
    model = Classifier(tiny_models["int8"])
    from_files = score([model], items)
    squares, kept = load_square_batch([p for p, _ in items], TINY_SIZE)
    assert kept == list(range(len(items)))
    from_squares = score_squares([model], squares, [label for _, label in items], [p for p, _ in items])
    np.testing.assert_array_equal(from_squares.probs[0], from_files.probs[0])
    assert from_squares.truth.tolist() == from_files.truth.tolist() and from_squares.paths == from_files.paths
    with pytest.raises(ValueError):
        score_squares([model], load_square_batch([items[0][0]], TINY_SIZE + 8)[0], [items[0][1]])


def test_nothing_readable_gives_empty_scores_and_every_name(tiny_models, tmp_path):
    from edgetl.data.images import load_squares
    from edgetl.runtime.interpreter import Classifier
    from edgetl.scoring import score

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    scores = score([Classifier(tiny_models["float"])], [(empty, 0), (tmp_path / "missing.png", 1)])
    assert len(scores) == 0 and len(scores.probs[0]) == 0 and scores.paths == []
    assert scores.unreadable == [str(empty), str(tmp_path / "missing.png")]
    batches, kept = load_squares([empty], (16, 24))
    assert kept == [] and {s: b.shape for s, b in batches.items()} == {16: (0, 16, 16, 3), 24: (0, 24, 24, 3)}


def test_one_decode_serves_every_size(tiny_models):
    from edgetl.data.images import load_square, load_squares

    paths = [p for p, _ in _items(tiny_models)[:3]]
    batches, kept = load_squares(paths, (16, TINY_SIZE))
    assert kept == [0, 1, 2]
    for size in (16, TINY_SIZE):
        assert batches[size].shape == (3, size, size, 3) and batches[size].dtype == np.uint8
        np.testing.assert_array_equal(batches[size], np.stack([load_square(p, size) for p in paths]))
