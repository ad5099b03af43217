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


def _tilt(size: int, rng: np.random.Generator, amount: float) -> np.ndarray:
    """A homography that moves each corner by up to ``amount`` of the side: the note held at a slant."""
    corners = np.float32([[0, 0], [size, 0], [size, size], [0, size]])
    moved = corners + rng.uniform(-amount, amount, size=(4, 2)).astype(np.float32) * size
    return cv2.getPerspectiveTransform(corners, moved)


def _motion_blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A shaking hand: a line kernel of 5-11 px at a random angle."""
    length = int(rng.integers(5, 12))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    turn = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, turn, (length, length))
    return cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))


def _camera(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another phone: fewer pixels, stronger JPEG compression."""
    size = image.shape[0]
    if rng.random() < 0.25:
        small = max(16, int(size * rng.uniform(0.35, 0.8)))
        image = cv2.resize(cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA), (size, size),
                           interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 85))])
        if ok:
            image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return image


def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random hand-held variant of a square uint8 RGB image, same size."""
    size = image.shape[0]
    # Geometry: any rotation (notes are held upside-down too), zoom, aspect jitter, shift, a slant.
    angle = rng.uniform(0, 360)
    zoom = rng.uniform(0.7, 1.1)  # rarely zoom in: a hand-held note often sits off-centre and would leave the frame
    aspect = np.exp(rng.uniform(-0.2, 0.2))
    shift = rng.uniform(-0.08, 0.08, size=2) * size
    centre = (size / 2, size / 2)
    m = cv2.getRotationMatrix2D(centre, angle, zoom)
    m[:, 0] *= aspect
    m[:, 1] /= aspect
    m[:, 2] = shift + (np.array(centre) - m[:, :2] @ np.array(centre))  # turn and zoom about the centre, then shift
    h = np.vstack([m, [0, 0, 1]])
    if rng.random() < 0.5:
        h = _tilt(size, rng, 0.08) @ h
    border = cv2.BORDER_REFLECT_101 if rng.random() < 0.6 else cv2.BORDER_REPLICATE
    out = cv2.warpPerspective(image, h, (size, size), flags=cv2.INTER_LINEAR, borderMode=border)
    out = out.astype(np.float32)
    # Photometric: brightness, contrast, colour cast (another camera's white balance), gamma, low light.
    contrast = rng.uniform(0.65, 1.35)
    brightness = rng.uniform(-40, 40)
    cast = rng.uniform(0.85, 1.15, size=3)
    out = (out - 128.0) * contrast + 128.0 + brightness
    out *= cast
    if rng.random() < 0.4:
        out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** rng.uniform(0.7, 1.4)
    if rng.random() < 0.3:
        # Lighting gradient across the frame (a lamp on one side).
        ramp = np.linspace(rng.uniform(0.5, 1.0), rng.uniform(1.0, 1.3), size, dtype=np.float32)
        out *= (ramp[None, :, None] if rng.random() < 0.5 else ramp[:, None, None])
    # Cutout: a fold or a finger hides part of the note.
    if rng.random() < 0.5:
        ch = int(size * rng.uniform(0.15, 0.5))
        cw = int(size * rng.uniform(0.15, 0.5))
        y, x = rng.integers(0, size - ch + 1), rng.integers(0, size - cw + 1)
        out[y : y + ch, x : x + cw] = rng.uniform(40, 200, size=3)
    blur = rng.random()
    if blur < 0.15:
        k = int(rng.choice([3, 5]))
        out = cv2.GaussianBlur(out, (k, k), 0)
    elif blur < 0.3:
        out = _motion_blur(out, rng)
    if rng.random() < 0.3:
        out += rng.normal(0, rng.uniform(3, 10), size=out.shape).astype(np.float32)
    return _camera(np.clip(out, 0, 255).astype(np.uint8), rng)


def make_view(image: np.ndarray, content_hash: str, view: int) -> np.ndarray:
    """View 0 is the image itself; view k > 0 is a reproducible augmented copy."""
    if view == 0:
        return image
    return augment(image, view_rng(content_hash, view))
