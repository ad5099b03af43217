"""Shared fixtures: one tiny synthetic data set and one tiny trained run per test session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("EDGETL_PROGRESS", "0")
os.environ.setdefault("EDGETL_ALLOW_RANDOM_INIT", "1")  # plumbing tests drive `edgetl train --weights none`

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_WEIGHTS = SHARED / "weights" / "mobilenet_v2_1.0_224_imagenet_from_coral_int8ptq_no_top.h5"


def assert_agrees(reference: np.ndarray, probs: np.ndarray, overall: float = 0.8, decisive_margin: float = 0.25) -> None:
    """``probs`` (e.g. int8) names what ``reference`` (float) names, wherever the reference is decisive.

    The small learned fixture is unsure of about one photo in seven, and which photos those are depends on
    the CPU's float kernels (AVX2 and AVX-512 builds of oneDNN train slightly different models); there a
    quantized model may rightly pick the runner-up. So the bar is strict only where the reference's answer is
    clear of its runner-up, and loose overall. A broken conversion agrees at chance (about one in seven).
    """
    same = reference.argmax(1) == probs.argmax(1)
    assert same.mean() >= overall, f"agreement {same.mean():.3f} < {overall}"
    ranked = np.sort(reference, axis=1)
    decisive = ranked[:, -1] - ranked[:, -2] >= decisive_margin
    assert decisive.sum() >= len(same) // 3, f"only {decisive.sum()} of {len(same)} reference answers are decisive"
    assert same[decisive].mean() >= 0.97, f"agreement {same[decisive].mean():.3f} on {decisive.sum()} decisive answers"


def need_shared(*parts: str) -> Path:
    """Path inside ../shared, or skip the test with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: real photos and ImageNet weights come from ../shared beside the repo")
    return path


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory) -> Path:
    """Six denominations + background, 14 images each at 96 px (a couple of seconds to make)."""
    from edgetl.data.synth import make_dataset

    out = tmp_path_factory.mktemp("synth") / "notes"
    make_dataset(out, per_class=14, size=96, seed=1, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_config(feature_cache):
    from edgetl.train.config import TrainConfig

    return TrainConfig(alpha=0.35, size=96, weights="none", epochs=8, fine_tune=1, fine_tune_epochs=2, views=2,
                       batch_size=32, cache_dir=str(feature_cache), patience=20, seed=3)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, synth_data, tiny_config):
    """A trained alpha-0.35 / 96 px run (random weights): what export and runtime tests build on."""
    from edgetl.train.trainer import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    return train(synth_data, out, tiny_config, log=lambda m: None)


@pytest.fixture(scope="session")
def learned_run(tmp_path_factory, feature_cache):
    """A run that actually learned: ImageNet MobileNetV2 1.0 at 128 px on 100 synthetic images a class.

    The random-init ``tiny_run`` sits near chance, where float and int8 disagree on ties and a runner
    rightly stays silent, so export-agreement and end-to-end checks need real weights (~1 minute here).
    """
    if not SHARED_WEIGHTS.exists():
        pytest.skip(f"{SHARED_WEIGHTS} is absent: checks that need a model that learned use the ImageNet weights from ../shared")
    from edgetl.data.synth import make_dataset
    from edgetl.train.config import TrainConfig
    from edgetl.train.trainer import train

    root = tmp_path_factory.mktemp("learned")
    make_dataset(root / "notes", per_class=100, size=128, seed=1, progress=False)
    config = TrainConfig(alpha=1.0, size=128, weights=str(SHARED_WEIGHTS), epochs=30, fine_tune=3, fine_tune_epochs=8,
                         fine_tune_learning_rate=5e-4, views=3, batch_size=32, cache_dir=str(feature_cache), patience=20, seed=3)
    return train(root / "notes", root / "run", config, log=lambda m: None)


@pytest.fixture(scope="session")
def learned_export(learned_run, tmp_path_factory):
    """int8 + fp16 exports of ``learned_run``, with the Android assets copied out."""
    from edgetl.export.convert import export

    out = tmp_path_factory.mktemp("models")
    assets = tmp_path_factory.mktemp("android") / "assets"
    result = export(learned_run.run, out, ("int8", "fp16"), android=assets, log=lambda m: None)
    return result, out, assets
