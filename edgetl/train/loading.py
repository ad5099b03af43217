"""The one way edgetl opens a Keras model or a weights file a user hands it, so no file can run code.

A `.keras` file is a zip archive whose JSON config Keras rebuilds with ``safe_mode=True``, which refuses
layers carrying Python bytecode (``Lambda``). Any other file named `.keras` would reach Keras' legacy
HDF5 loader, which has no safe mode and unpickles such layers: it is refused before Keras sees it.
A ``--weights`` file must be weights only (HDF5 without a model config): its numbers are copied into a
graph edgetl builds itself, so nothing in it is ever executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgetl.errors import EdgetlError

if TYPE_CHECKING:
    from edgetl.run import Run

ZIP_SIGNATURE = b"PK\x03\x04"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _head(path: Path, n: int = 8) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except FileNotFoundError:
        raise EdgetlError(f"model not found: {path}") from None
    except OSError as exc:
        raise EdgetlError(f"cannot read {path}: {exc.strerror or exc}") from None


def load_keras_model(path: str | Path):
    """A tf_keras model from a `.keras` zip, rebuilt in safe mode; anything else is refused in one line."""
    path = Path(path)
    if _head(path)[:4] != ZIP_SIGNATURE:
        raise EdgetlError(f"{path}: not a Keras .keras (zip) archive; refusing to load it, since other formats "
                          "can run code stored in the file (retrain, or restore the model.keras `edgetl train` wrote)")
    from edgetl.tf_env import keras

    try:
        return keras().models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a foreign, corrupt or unsafe file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise EdgetlError(f"cannot load {path}: {first}") from None


def check_weights_file(path: str | Path) -> Path:
    """Accept only a weights-only HDF5 file for ``--weights PATH`` (a full model file is refused)."""
    path = Path(path)
    head = _head(path)
    if head[:4] == ZIP_SIGNATURE:
        raise EdgetlError(f"--weights {path} is a whole Keras model (.keras zip); pass the backbone's no-top "
                          "weights .h5 instead")
    if head != HDF5_SIGNATURE:
        raise EdgetlError(f"--weights {path} is not an HDF5 weights file; pass the backbone's Keras no-top .h5")
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            full_model = "model_config" in h5.attrs or "model_weights" in h5
    except OSError as exc:
        raise EdgetlError(f"--weights {path}: unreadable HDF5 file ({str(exc).splitlines()[0][:160]})") from None
    if full_model:
        raise EdgetlError(f"--weights {path} holds a whole Keras model, not weights only; pass the backbone's "
                          "no-top weights .h5 (a model file can carry code edgetl will not run)")
    return path


def load_run_model(run: "Run | str | Path"):
    """A run's float classifier (tf_keras), checked against the run's labels, input size and backbone.

    ``run``: an opened Run, a run folder or a .keras file inside one. Every mismatch is one line.
    """
    from edgetl.run import Run

    run = run if isinstance(run, Run) else Run.open_model(run)
    path = run.model_file
    model = load_keras_model(path)  # zip + safe mode only: a model file never runs code
    said = run.configured_backbone
    if said and model.name.startswith("edgetl_") and not model.name.startswith(f"edgetl_{said}_"):
        raise EdgetlError(f"{path} holds {model.name!r} but {run.config_file} says backbone {said}; "
                          "retrain or restore the matching model.keras")
    outputs = int(model.output_shape[-1])
    if outputs != len(run.labels):
        raise EdgetlError(f"{run.labels_file} lists {len(run.labels)} labels but {path} outputs {outputs} scores")
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1] not in (None, run.size) or shape[2] not in (None, run.size):
        raise EdgetlError(f"{path} takes input {shape[1:]} but {run.config_file.name} says {run.size}x{run.size}x3")
    return model
