"""Shared fixtures: one tiny synthetic data set and one tiny trained run per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("EDGETL_PROGRESS", "0")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_WEIGHTS = SHARED / "weights" / "mobilenet_v2_1.0_224_imagenet_from_coral_int8ptq_no_top.h5"


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
