"""The familiarity gate on a real trained run: real features, a real graph, a real int8 conversion."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgetl.errors import EdgetlError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_and_gate(learned_export, learned_run):
    """The gate export fitted for ``learned_run`` (export saves it beside model.keras)."""
    from edgetl.train.familiarity import GATE_FILE, Gate

    path = learned_run.run / GATE_FILE
    assert path.exists(), "export with the default settings fits and saves the gate"
    return learned_run.run, Gate.load(path)


@pytest.fixture(scope="module")
def photos(learned_run):
    from edgetl.data.folders import read_manifest
    from edgetl.data.images import load_square

    test = read_manifest(learned_run.run / "split.json")["test"]
    return np.stack([load_square(s.path, 128) for s in test.samples]), np.array([s.label for s in test.samples]), test.classes


def _pooled(net, layer, images):
    from edgetl.train import backbones
    from edgetl.train.familiarity import _pooled_model

    return _pooled_model(net, layer).predict(backbones.to_model_input(images), verbose=0)


def test_the_gate_reads_fine_print_at_twice_the_final_resolution(run_and_gate):
    from edgetl.train.familiarity import feature_layer
    from edgetl.train.trainer import load_run_model

    run, gate = run_and_gate
    net = load_run_model(run)
    assert feature_layer(net) == gate.layer == "block_13_expand_relu"  # MobileNetV2: 8x8 at 128 px, before the last stride
    assert gate.classes == [c for c in json.loads((run / "split.json").read_text())["classes"] if c != "background"]
    assert gate.prototypes.shape == (len(gate.classes) * gate.per_class, net.get_layer(gate.layer).output_shape[-1])
    assert np.allclose(np.linalg.norm(gate.prototypes, axis=1), 1.0, atol=1e-5)
    assert 0.5 <= gate.keep < 1 and gate.val_notes >= 20


def test_gated_graph_moves_unfamiliar_notes_to_background_and_nothing_else(run_and_gate, photos):
    """The graph computes exactly p * sigmoid(slope * (similarity - threshold)), the rest to background."""
    from edgetl.train import backbones
    from edgetl.train.familiarity import SLOPE, gated_model, similarities
    from edgetl.train.trainer import load_run_model

    run, gate = run_and_gate
    images, _, classes = photos
    net = load_run_model(run)
    feats, probs = _pooled(net, gate.layer, images)
    gated = gated_model(net, gate, classes, "background").predict(backbones.to_model_input(images), verbose=0)
    assert len(gated.shape) == 2 and gated.shape == probs.shape
    np.testing.assert_allclose(gated.sum(1), 1.0, atol=1e-5)  # still a distribution
    expected = probs.copy()
    bg = classes.index("background")
    for c in gate.classes:
        i = classes.index(c)
        sims = similarities(gate, feats, [c] * len(feats))
        expected[:, i] = probs[:, i] / (1 + np.exp(-SLOPE * (sims - gate.threshold)))
    expected[:, bg] += 1 - expected.sum(1)
    np.testing.assert_allclose(gated, expected, atol=2e-4)
    # a familiar note keeps its answer, and the gate never adds to another note class
    assert (gated[:, [classes.index(c) for c in gate.classes]] <= probs[:, [classes.index(c) for c in gate.classes]] + 1e-6).all()


def test_a_note_unlike_every_training_photo_is_silenced(run_and_gate, photos):
    """Swap the prototypes for ones no real note resembles: the same photos now all come out as background."""
    from dataclasses import replace

    from edgetl.train import backbones
    from edgetl.train.familiarity import gated_model
    from edgetl.train.trainer import load_run_model

    run, gate = run_and_gate
    images, _, classes = photos
    net = load_run_model(run)
    feats, probs = _pooled(net, gate.layer, images)
    # a direction at right angles to every one of these photos (there are more feature dims than photos)
    basis = np.linalg.svd(feats - gate.center, full_matrices=True)[2]
    away = basis[len(feats):][0]
    assert gate.threshold > 0.1  # so cosine 0 is well below it
    stranger = replace(gate, prototypes=np.tile(away, (len(gate.prototypes), 1)).astype(np.float32))
    gated = gated_model(net, stranger, classes, "background").predict(backbones.to_model_input(images), verbose=0)
    assert (probs.argmax(1) != classes.index("background")).sum() >= 10  # the ungated model names notes here
    assert (gated.argmax(1) == classes.index("background")).all()


def test_threshold_keeps_the_promised_share_of_right_validation_answers(run_and_gate, learned_run):
    from edgetl.data.folders import read_manifest
    from edgetl.data.images import load_square
    from edgetl.train.familiarity import EDGE, similarities
    from edgetl.train.trainer import load_run_model

    run, gate = run_and_gate
    val = read_manifest(run / "split.json")["val"]
    images = np.stack([load_square(s.path, 128) for s in val.samples])
    truth = np.array([s.label for s in val.samples])
    net = load_run_model(run)
    feats, probs = _pooled(net, gate.layer, images)
    right = (probs.argmax(1) == truth) & (truth != val.classes.index("background"))
    sims = similarities(gate, feats[right], [val.classes[y] for y in truth[right]])
    passed = float((sims >= gate.threshold + EDGE).mean())
    assert right.sum() == gate.val_notes
    assert passed == pytest.approx(gate.keep, abs=1.5 / right.sum() + 1e-9)


def test_int8_export_carries_the_gate_in_integer_ops(learned_export, run_and_gate, photos):
    from edgetl.card import ModelCard
    from edgetl.export.convert import INT8_OPS
    from edgetl.runtime.interpreter import Classifier
    from edgetl.train import backbones
    from edgetl.train.familiarity import gated_model
    from edgetl.train.trainer import load_run_model

    result, _, _ = learned_export
    run, gate = run_and_gate
    images, _, classes = photos
    report = result.files["int8"]["report"]
    assert report["int8_only"] and report["float_tensors"] == 0
    assert {"REDUCE_MAX", "LOGISTIC", "RSQRT"} <= set(report["ops"]) <= INT8_OPS
    assert "SHAPE" not in report["ops"]  # constant reshapes only: nothing Edge TPU would split off
    card = ModelCard.load(result.files["int8"]["card"])
    assert card.familiarity["threshold"] == pytest.approx(gate.threshold, abs=1e-4)
    assert card.familiarity["prototypes"] == len(gate.prototypes)
    float_gated = gated_model(load_run_model(run), gate, classes, "background").predict(backbones.to_model_input(images), verbose=0)
    int8 = Classifier(result.files["int8"]["model"]).predict(images)
    assert float((float_gated.argmax(1) == int8.argmax(1)).mean()) >= 0.9


def test_export_without_the_gate_is_the_plain_classifier(learned_run, tmp_path):
    from edgetl.card import ModelCard
    from edgetl.export.convert import export

    result = export(learned_run.run, tmp_path, ("int8",), familiarity=None, log=lambda m: None)
    report = result.files["int8"]["report"]
    assert set(report["ops"]) == {"QUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}
    assert ModelCard.load(result.files["int8"]["card"]).familiarity is None


def test_gate_file_round_trips_and_a_broken_one_is_one_line(run_and_gate, tmp_path):
    from edgetl.train.familiarity import Gate

    _, gate = run_and_gate
    again = Gate.load(gate.save(tmp_path / "g.npz"))
    assert again.summary() == gate.summary() and np.array_equal(again.prototypes, gate.prototypes)
    (tmp_path / "bad.npz").write_bytes(b"not a gate")
    with pytest.raises(EdgetlError, match="not a readable familiarity gate") as err:
        Gate.load(tmp_path / "bad.npz")
    assert "\n" not in str(err.value)


def test_too_few_validation_answers_skip_the_gate_with_a_line(learned_run):
    from edgetl.data.folders import read_manifest
    from edgetl.train.familiarity import fit
    from edgetl.train.trainer import load_run_model

    parts = read_manifest(learned_run.run / "split.json")
    train = [(s.path, s.label) for s in parts["train"].samples]
    val = [(s.path, s.label) for s in parts["val"].samples][:5]
    said: list[str] = []
    gate = fit(load_run_model(learned_run.run), parts["train"].classes, "background", train, val, 128, 127.5, 127.5,
               images_per_class=8, log=said.append)
    assert gate is None and len(said) == 1 and "skipped" in said[0]


def test_keep_outside_its_range_is_refused():
    from edgetl.train.familiarity import fit

    with pytest.raises(EdgetlError, match="keep"):
        fit(None, ["a", "b"], None, [], [], 96, 127.5, 127.5, keep=1.0)
