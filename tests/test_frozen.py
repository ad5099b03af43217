"""The frozen bottom through LiteRT gives TensorFlow's activations on real photos, at every batch size."""

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
WEIGHTS = SHARED / "weights" / "mobilenet_v2_1.0_224_imagenet_from_coral_int8ptq_no_top.h5"


def _real_photos(count: int, size: int) -> np.ndarray:
    from edgetl.data.images import load_square

    paths = sorted((SHARED / "data" / "inr-handheld").glob("*/*"))[::97][:count]
    assert len(paths) == count, "the shared hand-held photos are missing"
    return np.stack([load_square(p, size) for p in paths])


@pytest.fixture(scope="module")
def bottom():
    from edgetl.train import backbones

    if not WEIGHTS.is_file():
        pytest.skip("the shared ImageNet weights are not beside the project")
    model = backbones.create("mobilenet_v2", 7, 1.0, 96, str(WEIGHTS), 0.2)
    cut = backbones.cut_layer_name(model, 5, "mobilenet_v2")
    return backbones.split_at(model, cut)[0]


def test_litert_bottom_matches_tensorflow_on_real_photos(bottom):
    from edgetl.train import backbones, frozen

    x = backbones.to_model_input(_real_photos(7, 96))
    expected = bottom(x, training=False).numpy()
    run = frozen.litert_runner(bottom, threads=2)
    for rows in (slice(0, 4), slice(4, 7), slice(0, 7)):  # a batch, a shorter last one, then a larger one again
        got, want = run(x[rows]), expected[rows]
        assert got.shape == want.shape
        # The cache stores float16: LiteRT must agree to well inside that step on activations of this scale.
        assert np.abs(got - want).max() <= 1e-3 * max(1.0, float(np.abs(want).max()))
    assert np.abs(expected).max() > 1.0, "activations of real photos through ImageNet weights cannot be near zero"

