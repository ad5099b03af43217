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



def _cache_rows(folder: Path) -> dict[str, np.ndarray]:
    import h5py

    [path] = folder.glob("*.h5")
    with h5py.File(path, "r") as h5:
        keys = [k.decode() if isinstance(k, bytes) else k for k in h5["keys"][:]]
        return dict(zip(keys, h5["data"][:].astype(np.float32)))


def test_a_large_fill_goes_through_litert_and_a_small_one_through_tensorflow(tmp_path, synth_data, tiny_config,
                                                                              monkeypatch):
    """Both engines fill the same cache rows for the same run, equal to the cache's float16 step."""
    from dataclasses import replace

    from edgetl.train import frozen
    from edgetl.train.trainer import train

    filled = {}
    for engine, threshold in (("litert", 1), ("tensorflow", 10**9)):
        monkeypatch.setattr(frozen, "LITERT_FROM_VIEWS", threshold)
        messages: list[str] = []
        config = replace(tiny_config, cache_dir=str(tmp_path / engine), epochs=1, fine_tune_epochs=1)
        train(synth_data, tmp_path / f"run-{engine}", config, log=messages.append)
        assert any("through a LiteRT copy" in m for m in messages) == (engine == "litert"), messages
        filled[engine] = _cache_rows(tmp_path / engine)
    assert filled["litert"].keys() == filled["tensorflow"].keys()
    for key, row in filled["tensorflow"].items():
        step = np.spacing(np.abs(row).astype(np.float16)).astype(np.float32)  # one float16 step at each value
        assert (np.abs(filled["litert"][key] - row) <= step + 1e-6).all(), key
