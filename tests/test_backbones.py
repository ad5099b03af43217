"""The backbone registry on real networks: every backbone trains, exports int8 and runs in a real LiteRT.

Random weights (``--weights none``) at 96 px: these tests prove the plumbing (graph, cut, cache, export,
device contract) for each backbone, not accuracy. The folding of ImageNet pre-processing into the first
convolution is checked against Keras' own pre-processing with weight files written here.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import run_cli
from edgetl.errors import EdgetlError
from edgetl.train import backbones

ALL = backbones.names()
NO_QAT = [name for name in ALL if not backbones.get(name).qat]
SIZE = 96


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


# ---- fast: the registry and its one-line errors ---------------------------------------------------

def test_registry_lists_the_issue_backbones_with_mobilenet_v2_default():
    assert ALL == ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "vgg16", "resnet50"]
    assert backbones.DEFAULT == "mobilenet_v2"
    v2 = backbones.get("mobilenet_v2")
    assert (v2.mean, v2.std, v2.blocks) == (127.5, 127.5, 16)
    for name in ALL:
        spec = backbones.get(name)
        # the int8 input zero point is the mean, so it must be (a half-)integer pixel value
        assert spec.mean * 2 == int(spec.mean * 2) and 0 < spec.std and spec.features > 0
        assert backbones.weights_filename(1.0, 224, name).endswith(".h5")


def test_invalid_backbone_alpha_size_and_fine_tune_give_one_line_errors(tmp_path):
    with pytest.raises(EdgetlError, match=r"unknown backbone 'resnet18'; choose one of: mobilenet_v2, "):
        backbones.get("resnet18")
    with pytest.raises(EdgetlError, match="--alpha applies only to the MobileNet backbones, not vgg16"):
        backbones.validate(0.5, SIZE, "vgg16")
    with pytest.raises(EdgetlError, match="--alpha for mobilenet_v3_small must be one of 0.75, 1.0"):
        backbones.validate(0.35, SIZE, "mobilenet_v3_small")
    with pytest.raises(EdgetlError, match="--alpha must be between 0.35 and 1.4"):
        backbones.validate(2.0, SIZE, "mobilenet_v2")
    with pytest.raises(EdgetlError, match="--size must be between 96 and 224"):
        backbones.validate(1.0, 64, "resnet50")
    with pytest.raises(EdgetlError, match="--size must be between 96 and 224"):
        backbones.validate(1.0, 240, "resnet50")
    with pytest.raises(EdgetlError, match="--size must be between 96 and 320"):
        backbones.validate(1.0, 352, "mobilenet_v2")
    assert backbones.validate(1.0, 288, "mobilenet_v2").name == "mobilenet_v2"  # above 224: the 224 weights
    assert backbones.weights_filename(1.0, 288) == backbones.weights_filename(1.0, 224)
    with pytest.raises(EdgetlError, match="--fine-tune takes 0..4 blocks for VGG16"):
        backbones.cut_layer_name(None, 5, "vgg16")
    with pytest.raises(EdgetlError, match="not found"):
        backbones.resolve_weights(str(tmp_path / "nope.h5"), 1.0, SIZE, "efficientnet_b0")


@pytest.mark.parametrize("args, expected", [
    (("--backbone", "resnet18"), "unknown backbone 'resnet18'"),
    (("--backbone", "vgg16", "--alpha", "0.5"), "--alpha applies only to the MobileNet backbones"),
])
def test_cli_rejects_bad_backbone_options_before_touching_data(tmp_path, args, expected):
    proc = run_cli("train", str(tmp_path / "no-such-data"), "--out", str(tmp_path / "run"), "--size", "96",
                   "--weights", "none", *args)
    assert expected in one_error_line(proc)
    assert not (tmp_path / "run").exists()


# ---- ImageNet pre-processing folded into the first convolution -------------------------------------

@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(0).integers(0, 256, (2, SIZE, SIZE, 3)).astype(np.float32)


def _submodel(model, start: str | None, end: str):
    from edgetl.tf_env import keras

    inp = model.input if start is None else model.get_layer(start).input
    return keras().Model(inp, model.get_layer(end).output)


def test_caffe_weights_take_rgb_pixels_minus_one_mean(tmp_path, pixels):
    """VGG16/ResNet50 weights expect BGR minus per-channel means; ours take RGB minus one scalar, exactly inside."""
    from edgetl.tf_env import keras

    k = keras()
    reference = k.applications.VGG16(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
    weights = tmp_path / "vgg16_no_top.h5"
    reference.save_weights(weights)
    ours = backbones.create("vgg16", 3, size=SIZE, weights=str(weights))
    spec = backbones.get("vgg16")
    expected = _submodel(reference, None, "block1_conv1")(k.applications.vgg16.preprocess_input(pixels.copy())).numpy()
    got = _submodel(ours, None, "block1_conv1")(backbones.to_model_input(pixels, spec.mean, spec.std)).numpy()
    inside = np.abs(expected - got)[:, 1:-1, 1:-1]
    assert inside.max() < 1e-4 * np.abs(expected).max(), inside.max()
    # and the untouched rest of the network is the reference's
    np.testing.assert_array_equal(ours.get_layer("block5_conv3").get_weights()[0],
                                  reference.get_layer("block5_conv3").get_weights()[0])


def test_efficientnet_normalisation_folded_and_squeeze_excite_simplified(tmp_path, pixels):
    """Keras' EfficientNet ImageNet file stores the std as "variance" (and Keras divides once more); the fold
    reproduces that exactly away from the padded edge, and the rebuilt graph computes what Keras' does."""
    from edgetl.tf_env import keras

    k = keras()
    reference = k.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
    norm = next(layer for layer in reference.layers if isinstance(layer, k.layers.Normalization))
    norm.adapt_mean.assign([0.485, 0.456, 0.406])
    norm.adapt_variance.assign(list(backbones.EFFICIENTNET_STORED_STD))
    bn = reference.get_layer("stem_bn")
    values = bn.get_weights()
    values[2] = np.random.default_rng(1).normal(0, 1, values[2].shape).astype(np.float32)  # a non-zero moving mean
    bn.set_weights(values)
    weights = tmp_path / "efficientnetb0_notop.h5"
    reference.save_weights(weights)
    ours = backbones.create("efficientnet_b0", 3, size=SIZE, weights=str(weights))
    assert not [layer for layer in ours.layers if isinstance(layer, (k.layers.Rescaling, k.layers.Normalization, k.layers.Reshape))]
    spec = backbones.get("efficientnet_b0")
    std = np.array(backbones.EFFICIENTNET_STORED_STD)
    normalised = ((pixels / 255 - np.array([0.485, 0.456, 0.406])) / std).astype(np.float32)  # ImageNet mean/std
    expected = _submodel(reference, "stem_conv_pad", "stem_bn")(normalised).numpy()
    got = _submodel(ours, None, "stem_bn")(backbones.to_model_input(pixels, spec.mean, spec.std)).numpy()
    inside = np.abs(expected - got)[:, :-1, :-1]  # EfficientNet pads the bottom/right edge only
    assert inside.max() < 1e-4 * np.abs(expected).max(), inside.max()
    stem = _submodel(ours, None, "stem_activation")(backbones.to_model_input(pixels, spec.mean, spec.std))
    top_ref = k.Model(reference.get_layer("stem_activation").output, reference.output)(stem).numpy()
    top_ours = k.Model(ours.get_layer("stem_activation").output, ours.get_layer("pool").input)(stem).numpy()
    np.testing.assert_allclose(top_ours, top_ref, rtol=1e-4, atol=1e-4 * np.abs(top_ref).max())


# ---- slow: every backbone trains one epoch, exports int8 and runs in LiteRT ------------------------

@pytest.fixture(scope="module")
def trained(synth_data, feature_cache, tmp_path_factory):
    """name -> (run folder, export result); trained and exported once per name, on first use."""
    from edgetl.export.convert import export
    from edgetl.train.config import TrainConfig
    from edgetl.train.trainer import train

    root = tmp_path_factory.mktemp("backbones")
    done: dict = {}

    def get(name: str):
        if name not in done:
            run = root / "runs" / name
            if name == "mobilenet_v3_small":  # one backbone goes through the command line, to prove --backbone
                proc = run_cli("train", str(synth_data), "--out", str(run), "--backbone", name, "--size", str(SIZE),
                               "--weights", "none", "--epochs", "1", "--fine-tune", "1", "--fine-tune-epochs", "1",
                               "--views", "1", "--batch-size", "32", "--cache", str(feature_cache))
                assert proc.returncode == 0, proc.stderr[-2000:]
            else:
                config = TrainConfig(backbone=name, size=SIZE, weights="none", epochs=1, fine_tune=1, fine_tune_epochs=1,
                                     views=1, batch_size=32, cache_dir=str(feature_cache), seed=3)
                train(synth_data, run, config, log=lambda m: None)
            done[name] = run, export(run, root / "models", ("int8",), calibration_count=10, log=lambda m: None)
        return done[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_backbone_trains_one_epoch_and_exports_int8_that_runs(name, trained):
    from ai_edge_litert.interpreter import Interpreter

    from edgetl.card import ModelCard
    from edgetl.data.folders import read_manifest
    from edgetl.data.images import load_square

    spec = backbones.get(name)
    run, result = trained(name)
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["backbone"] == name and config["fine_tune_blocks"] == 1
    assert config["input"] == {"size": SIZE, "mean": spec.mean, "std": spec.std, "layout": "NHWC RGB"}
    assert config["backbone"]["name"] == name and config["backbone"]["features"] == spec.features
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["count"] > 0 and {"head", "fine-tune"} == {row["stage"] for row in _history(run)}

    # the cut at the top and at the bottom of the fine-tunable blocks splits the graph exactly (export has
    # already reloaded model.keras; a fresh build is quicker than a second load of ResNet50's 95 MB)
    model = backbones.create(name, 7, size=SIZE)
    assert model.name.startswith(f"edgetl_{name}_") and model.get_layer("pool").output_shape[-1] == spec.features
    test = read_manifest(run / "split.json")["test"]
    images = np.stack([load_square(s.path, SIZE) for s in test.samples])
    x = backbones.to_model_input(images[:2], spec.mean, spec.std)
    full = model(x, training=False).numpy()
    for blocks in (1, spec.blocks):
        bottom, top = backbones.split_at(model, backbones.cut_layer_name(model, blocks, name))
        np.testing.assert_allclose(top(bottom(x, training=False), training=False).numpy(), full, atol=1e-5)

    # int8: raw uint8 pixels in (scale 1/std around mean), probabilities out, in a real LiteRT interpreter
    report = result.files["int8"]["report"]
    assert report["int8_only"] is spec.int8_only, report["ops"]
    assert report["input"]["dtype"] == "uint8" and report["input"]["scale"] == pytest.approx(1 / spec.std, rel=1e-5)
    assert abs(report["input"]["zero_point"] - spec.mean) <= 0.5
    card = ModelCard.load(result.files["int8"]["card"])
    assert card.normalization == {"mean": spec.mean, "std": spec.std} and card.backbone["name"] == name
    interpreter = Interpreter(model_path=result.files["int8"]["model"])
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert inp["dtype"] == np.uint8 and tuple(inp["shape"]) == (1, SIZE, SIZE, 3)
    scale, zero = out["quantization"]
    for image in images[:3]:
        interpreter.set_tensor(inp["index"], image[None])
        interpreter.invoke()
        probs = (interpreter.get_tensor(out["index"])[0].astype(np.float32) - zero) * scale
        assert probs.shape == (len(card.labels),) and probs.min() >= 0 and probs.max() <= 1
        assert probs.sum() == pytest.approx(1.0, abs=0.05)


def _history(run):
    import csv

    return list(csv.DictReader((run / "history.csv").open()))


@pytest.mark.slow
@pytest.mark.parametrize("name", NO_QAT)
def test_qat_refuses_backbones_tfmot_cannot_wrap_in_one_line(name, trained, tmp_path):
    """The registry's "no QAT" is honest: tensorflow-model-optimization really refuses these graphs."""
    from edgetl.train.qat import qat, quantize
    from edgetl.train.loading import load_run_model

    run, _ = trained(name)
    with pytest.raises(EdgetlError, match=f"QAT is not supported for {name} .*post-training int8 export still works"):
        qat(run, epochs=1, max_images=8, log=lambda m: None)
    assert not (run / "qat_weights.h5").exists()
    with pytest.raises(EdgetlError, match="cannot wrap this model for QAT"):
        quantize(load_run_model(run))


@pytest.mark.slow
def test_qat_then_int8_export_beyond_mobilenet_v2(trained, tmp_path):
    """VGG16 is QAT-able: a quantization-aware epoch, then an int8-only export using the learned ranges."""
    from edgetl.export.convert import export
    from edgetl.train.qat import qat

    name = "vgg16"
    spec = backbones.get(name)
    assert spec.qat
    source, _ = trained(name)
    run = tmp_path / "run"
    shutil.copytree(source, run)
    metrics = qat(run, epochs=1, max_images=16, batch_size=16, log=lambda m: None)
    assert metrics["epochs"] == 1 and (run / "qat_weights.h5").exists()
    report = export(run, tmp_path / "models", ("int8",), calibration_count=10, log=lambda m: None).files["int8"]["report"]
    assert report["qat"] and report["int8_only"]
    assert report["input"]["scale"] == pytest.approx(1 / spec.std, rel=1e-5) and abs(report["input"]["zero_point"] - spec.mean) <= 0.5


# ---- input sizes above the ImageNet weights' 224 px ------------------------------------------------

def test_mobilenet_v2_above_224_px_sees_a_photo_as_it_does_at_224():
    """Convolution weights do not depend on the input size, so the 224 px ImageNet file serves 288 px too:
    a real photo's pooled features at 288 px match its own features at 224 px far better than another photo's."""
    from conftest import SHARED_WEIGHTS, need_shared
    from edgetl.data.images import load_square
    from edgetl.tf_env import keras

    need_shared("weights", SHARED_WEIGHTS.name)
    photos = [need_shared("data", "negatives", "scenes", name) for name in ("owl.jpg", "sunflower.jpg", "hot_dog.jpg")]
    pooled = {}
    for size in (224, 288):
        model = backbones.create("mobilenet_v2", 2, size=size, weights=str(SHARED_WEIGHTS))
        pool = keras().Model(model.input, model.get_layer("pool").output)
        x = backbones.to_model_input(np.stack([load_square(p, size) for p in photos]))
        f = pool.predict(x, verbose=0)
        pooled[size] = f / np.linalg.norm(f, axis=1, keepdims=True)
    similarity = pooled[224] @ pooled[288].T  # [photo at 224, photo at 288]
    same = np.diag(similarity)
    other = similarity[~np.eye(len(photos), dtype=bool)]
    assert same.min() > 0.8, same
    assert same.min() > other.max() + 0.2, (same, other)
