"""Augmentation for hand-held notes, done once per cached view (OpenCV, no TensorFlow).

A blind user holds the note at any angle, too close or too far, half folded, in poor light. Each view
is a deterministic function of (image content, view index), so cached features stay valid across runs.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np


def view_rng(content_hash: str, view: int) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256(f"{content_hash}:{view}".encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random hand-held variant of a square uint8 RGB image, same size."""
    size = image.shape[0]
    # Geometry: any rotation (notes are held upside-down too), zoom, aspect jitter, shift.
    angle = rng.uniform(0, 360)
    zoom = rng.uniform(0.8, 1.3)
    aspect = np.exp(rng.uniform(-0.2, 0.2))
    shift = rng.uniform(-0.12, 0.12, size=2) * size
    centre = (size / 2, size / 2)
    m = cv2.getRotationMatrix2D(centre, angle, zoom)
    m[:, 0] *= aspect
    m[:, 1] /= aspect
    m[:, 2] += shift + (np.array(centre) - m[:, :2] @ np.array(centre))
    border = cv2.BORDER_REFLECT_101 if rng.random() < 0.6 else cv2.BORDER_REPLICATE
    out = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=border)
    out = out.astype(np.float32)
    # Photometric: brightness, contrast, colour cast, low light.
    contrast = rng.uniform(0.65, 1.35)
    brightness = rng.uniform(-40, 40)
    cast = rng.uniform(0.9, 1.1, size=3)
    out = (out - 128.0) * contrast + 128.0 + brightness
    out *= cast
    if rng.random() < 0.3:
        # Lighting gradient across the frame (a lamp on one side).
        ramp = np.linspace(rng.uniform(0.5, 1.0), rng.uniform(1.0, 1.3), size, dtype=np.float32)
        out *= (ramp[None, :, None] if rng.random() < 0.5 else ramp[:, None, None])
    # Cutout: a fold or a finger hides part of the note.
    if rng.random() < 0.5:
        h = int(size * rng.uniform(0.15, 0.5))
        w = int(size * rng.uniform(0.15, 0.5))
        y, x = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
        out[y : y + h, x : x + w] = rng.uniform(40, 200, size=3)
    if rng.random() < 0.25:
        k = int(rng.choice([3, 5]))
        out = cv2.GaussianBlur(out, (k, k), 0)
    if rng.random() < 0.3:
        out += rng.normal(0, rng.uniform(3, 10), size=out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def make_view(image: np.ndarray, content_hash: str, view: int) -> np.ndarray:
    """View 0 is the image itself; view k > 0 is a reproducible augmented copy."""
    if view == 0:
        return image
    return augment(image, view_rng(content_hash, view))
