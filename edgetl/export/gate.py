"""The familiarity gate in an exported model: built into the graph, and its thresholds placed on the int8 model.

Fitting the gate (its prototypes and float thresholds) is training's work, in edgetl/train/familiarity.py;
here the fitted `Gate` becomes ordinary ops appended to the classifier, so every runtime (the Pi loop, the
Android app) gets it with no code, and the int8 model's own similarities place its thresholds.
"""

from __future__ import annotations

import warnings

import numpy as np

from edgetl.errors import EdgetlError
from edgetl.train.familiarity import (MIN_VAL_NOTES, PROBES, SLOPE, Gate, Probe, cell_pool, gate_layer, right_notes,
                                      with_placed_thresholds)


def place_on_quantized(tflite: bytes, gate: Gate, labels: list[str], background: str | None, images: np.ndarray,
                       truth: np.ndarray) -> Gate | None:
    """``gate`` with its thresholds placed on a converted model's *own* similarities of validation photos.

    int8 features and the int8 cosine chain drift by ~0.02 from float (the probes' whole edge), so thresholds
    placed in float do not keep ``keep`` of the int8 model's right answers. Only the gate's final bias depends
    on the thresholds, so reconverting with the returned gate reproduces these similarities exactly.
    None: too few right answers (keep the float placement).
    """
    from edgetl.tf_env import native_stderr_captured, tf

    with warnings.catch_warnings(), native_stderr_captured():  # tf.lite's deprecation notice, "preserve_all_tensors
        warnings.simplefilter("ignore")  # is for debugging" and LiteRT's "INFO: Created ... XNNPACK delegate"
        interpreter = tf().lite.Interpreter(model_content=tflite, experimental_preserve_all_tensors=True)
        interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    softmax = [op["outputs"][0] for op in interpreter._get_ops_details() if op["op_name"] == "SOFTMAX"]
    classes = len(gate.classes)
    found = {name: d for d in details.values() for name in PROBES
             if f"familiar_{name}_nearest" in d["name"] and tuple(d["shape"]) == (1, classes)}
    if set(found) != set(PROBES) or len(softmax) != 1:
        raise EdgetlError(f"the converted model lost the familiarity gate's tensors (found {sorted(found)}, {len(softmax)} softmax)")

    def value(detail) -> np.ndarray:
        raw = interpreter.get_tensor(detail["index"])[0].astype(np.float32)
        scale, zero = detail["quantization"]
        return (raw - zero) * scale if scale else raw

    # the classifier's own answer (before the gate: a gated note comes out as background) and both similarities
    sims = {name: np.full(len(images), np.nan, np.float32) for name in PROBES}
    predicted = np.zeros(len(images), int)
    for i, image in enumerate(images):
        x = image[None] if inp["dtype"] == np.uint8 else (image[None].astype(np.int16) - 128).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        predicted[i] = int(value(details[softmax[0]]).argmax())
        if labels[predicted[i]] in gate.classes:
            for name in PROBES:
                sims[name][i] = value(found[name])[gate.classes.index(labels[predicted[i]])]
    right = right_notes(predicted, truth, labels, background)
    if right.sum() < MIN_VAL_NOTES:
        return None
    return with_placed_thresholds(gate, {n: sims[n][right] for n in PROBES}, gate.keep)


def gated_model(net, gate: Gate, labels: list[str], background: str | None):
    """``net`` with the gate appended: one flat functional graph, same input, same output shape.

    A note's probability is multiplied by sigmoid(SLOPE * (similarity - threshold)) of each probe; what it
    loses goes to background (without a background class the scores just shrink, and low confidence is
    silence anyway). Only constant-shape reshapes, so no SHAPE/PACK ops that Edge TPU would split off.
    """
    from edgetl.tf_env import keras, tf

    k, t = keras(), tf()
    classes, per = len(gate.classes), gate.per_class
    layer_map = gate_layer(net, gate.layer).output
    final_map = gate_layer(net, "pool").input
    fh, fw = final_map.shape[1:3]
    h, w, d = layer_map.shape[1:]

    def nearest(vectors, probe: Probe, name: str):
        """Unit vectors, (B, D) or (B*classes, D) -> cosine to the nearest prototype of every class."""
        dense = k.layers.Dense(len(probe.prototypes), use_bias=False, trainable=False, name=f"familiar_{name}_prototypes")
        sims = dense(vectors)
        dense.set_weights([probe.prototypes.T])
        if name == "whole":  # (B, classes x per) -> (B, classes)
            return k.layers.Lambda(lambda s: t.reduce_max(t.reshape(s, (-1, classes, per)), axis=-1), name=f"familiar_{name}_nearest")(sims)
        # row c of each picture is class c's vector against every class's prototypes: keep the diagonal
        diagonal = t.constant(np.eye(classes, dtype=np.float32)[None])
        return k.layers.Lambda(lambda s: t.reduce_sum(t.reduce_max(t.reshape(s, (-1, classes, classes, per)), axis=-1) * diagonal, axis=-1),
                               name=f"familiar_{name}_nearest")(sims)

    # whole picture: the layer averaged, centred, unit length
    whole_center = t.constant(gate.whole.center[None], t.float32)
    pooled = k.layers.GlobalAveragePooling2D(name="familiar_whole_pool")(layer_map)
    whole = k.layers.Lambda(lambda f: t.math.l2_normalize(f - whole_center, axis=-1), name="familiar_whole_unit")(pooled)
    # the note: the layer on the final grid, weighted by each class's activation map
    cam = k.layers.Conv2D(classes, 1, use_bias=False, trainable=False, name="familiar_evidence")
    weights = k.layers.ReLU(name="familiar_evidence_relu")(cam(final_map))
    cam.set_weights([gate.evidence[None, None]])
    window = (cell_pool(h, fh)[0], cell_pool(w, fw)[0])  # "same" padding averages only real places, as final_grid
    cells = k.layers.AveragePooling2D(window, padding="same", name="familiar_cells")(layer_map)
    note_center = t.constant(gate.note.center[None, None, None], t.float32)
    centred = k.layers.Lambda(lambda f: f - note_center, name="familiar_note_centre")(cells)
    cells_n = fh * fw
    weighted = k.layers.Lambda(
        lambda a: t.reduce_sum(t.reshape(a[0], (-1, cells_n, classes, 1)) * t.reshape(a[1], (-1, cells_n, 1, d)), axis=1),
        name="familiar_note_pool")([weights, centred])
    # (B*classes, D): a Dense on a rank-3 tensor would add SHAPE/GATHER ops
    note = k.layers.Lambda(lambda v: t.math.l2_normalize(t.reshape(v, (-1, d)), axis=-1), name="familiar_note_unit")(weighted)
    gates = []
    for name, vectors, probe in (("whole", whole, gate.whole), ("note", note, gate.note)):
        # one sigmoid input per label: SLOPE * (similarity - threshold) for notes, a constant "open" for the rest
        kernel = np.zeros((classes, len(labels)), np.float32)
        bias = np.full(len(labels), 8.0, np.float32)
        for i, c in enumerate(gate.classes):
            kernel[i, labels.index(c)] = SLOPE
            bias[labels.index(c)] = -SLOPE * probe.threshold
        to_labels = k.layers.Dense(len(labels), activation="sigmoid", trainable=False, name=f"familiar_{name}_gate")
        gates.append(to_labels(nearest(vectors, probe, name)))
        to_labels.set_weights([kernel, bias])
    kept = k.layers.Multiply(name="familiar_kept")([net.output, *gates])
    if background is None:
        return k.Model(net.input, kept, name=f"{net.name}_gated")
    onehot = t.constant(np.eye(len(labels), dtype=np.float32)[labels.index(background)][None])
    out = k.layers.Lambda(lambda p: p + (1.0 - t.reduce_sum(p, axis=-1, keepdims=True)) * onehot, name="familiar_out")(kept)
    return k.Model(net.input, out, name=f"{net.name}_gated")
