"""Photo-like synthetic Indian banknotes: the embedded default data set and a test video.

Everything here is deterministic: a seed fixes every random choice (numpy Generators derived from
the seed, the class name and the image number), so the same seed writes byte-identical files.

The pipeline for one picture imitates what a blind user's phone sees:

1. a background: generated clutter (table/cloth/paper textures, shapes, stray text, hands, cards) or
   a random crop of a real scene photo (``backgrounds=``);
2. a note: a drawn note (:func:`render_note`: class colour, numerals, guilloche pattern, portrait or
   monument, front or back) or a rough cut-out of a real note photo (``source=``);
3. the note folded in half, creased or dog-eared, perspective-warped at any rotation (upside-down
   included), casting a soft shadow, partly covered by a skin-coloured hand;
4. uneven light, low light, white balance, glare, blur, sensor noise and JPEG artefacts.

``annotations.json`` records where each note ended up (its quadrilateral and box in output pixels).
"""

from __future__ import annotations

import colorsys
import functools
import json
import math
import os
import shutil
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from edgetl.atomic import current_umask
from edgetl.errors import EdgetlError

DEFAULT_DENOMINATIONS = (10, 20, 50, 100, 200, 500)
BACKGROUND_LABEL = "background"
ANNOTATIONS = "annotations.json"
VISIBLE_THRESHOLD = 0.6  # a video note counts as shown once this share of it is inside the frame

_HI_WIDTH = 448  # notes are drawn once at this width, then area-resized (clean anti-aliasing)
_AA = cv2.LINE_AA
_SHIFT = 4  # sub-pixel bits for cv2 drawing calls
_ONE = 1 << _SHIFT


# --------------------------------------------------------------------------------------------
# note designs


@dataclass(frozen=True)
class _Style:
    base: tuple[int, int, int]  # paper colour (RGB)
    ink: tuple[int, int, int]  # numerals, portrait, motif
    light: tuple[int, int, int]  # watermark window, highlights
    pattern: str  # guilloche family drawn over the paper
    motif: str  # picture on the back
    portrait_x: float  # centre of the portrait oval, as a fraction of the width
    aspect: float  # width / height of the real note


# Colours follow the Mahatma Gandhi New Series; sizes follow the real notes (mm) so shapes differ too.
_STYLES: dict[str, _Style] = {
    "10": _Style((172, 118, 80), (78, 42, 22), (222, 186, 150), "rosette", "wheel", 0.50, 123 / 63),
    "20": _Style((200, 208, 96), (84, 104, 30), (236, 240, 176), "waves", "arches", 0.42, 129 / 63),
    "50": _Style((86, 196, 214), (16, 88, 116), (186, 238, 244), "ripples", "chariot", 0.56, 135 / 66),
    "100": _Style((166, 144, 214), (70, 50, 132), (220, 210, 244), "stripes", "stepwell", 0.46, 142 / 66),
    "200": _Style((246, 168, 46), (140, 60, 16), (255, 222, 140), "sunburst", "stupa", 0.38, 146 / 66),
    "500": _Style((158, 158, 148), (58, 64, 58), (212, 212, 202), "lattice", "fort", 0.60, 150 / 66),
    "2000": _Style((214, 86, 168), (104, 24, 76), (244, 196, 226), "spiral", "orbiter", 0.48, 166 / 66),
}
_PATTERNS = ("rosette", "waves", "ripples", "stripes", "sunburst", "lattice", "spiral")
_MOTIFS = ("wheel", "arches", "chariot", "stepwell", "stupa", "fort", "orbiter")


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _style(name: str) -> _Style:
    """The design of a denomination; values without a known design get a stable made-up one."""
    if name in _STYLES:
        return _STYLES[name]
    code = zlib.crc32(name.encode("utf-8"))
    hue = (code % 360) / 360.0
    return _Style(
        _hsv(hue, 0.45, 0.82), _hsv(hue, 0.8, 0.35), _hsv(hue, 0.15, 0.96),
        _PATTERNS[(code >> 9) % len(_PATTERNS)], _MOTIFS[(code >> 13) % len(_MOTIFS)],
        0.38 + ((code >> 17) % 23) / 100.0, 2.1,
    )


def _mix(a, b, t: float) -> tuple[int, int, int]:
    return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def _poly(img: np.ndarray, pts: np.ndarray, colour, thickness: int = 1, closed: bool = False) -> None:
    cv2.polylines(img, [np.round(np.asarray(pts) * _ONE).astype(np.int32)], closed, colour, thickness, _AA, _SHIFT)


def _fill(img: np.ndarray, pts: np.ndarray, colour) -> None:
    cv2.fillPoly(img, [np.round(np.asarray(pts) * _ONE).astype(np.int32)], colour, _AA, _SHIFT)


def _ellipse_pts(cx: float, cy: float, a: float, b: float, angle: float = 0.0, n: int = 40) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ca, sa = math.cos(angle), math.sin(angle)
    x, y = a * np.cos(t), b * np.sin(t)
    return np.stack([cx + x * ca - y * sa, cy + x * sa + y * ca], axis=1)


def _text(img, s: str, x: float, y: float, height: float, colour, weight: float = 0.12,
          font: int = cv2.FONT_HERSHEY_TRIPLEX, align: str = "left") -> float:
    """Draw ``s`` with its baseline at y and caps ``height`` px tall; returns the drawn width."""
    scale = height / max(cv2.getTextSize(s, font, 1.0, 1)[0][1], 1)
    th = max(1, int(round(height * weight)))
    width = cv2.getTextSize(s, font, scale, th)[0][0]
    if align == "right":
        x -= width
    elif align == "center":
        x -= width / 2
    cv2.putText(img, s, (int(round(x)), int(round(y))), font, scale, colour, th, _AA)
    return width


def _text_vertical(img, s: str, cx: float, cy: float, height: float, colour, weight: float = 0.12) -> None:
    """A numeral running bottom-to-top, centred on (cx, cy) (like the notes' vertical numerals)."""
    font = cv2.FONT_HERSHEY_TRIPLEX
    scale = height / max(cv2.getTextSize(s, font, 1.0, 1)[0][1], 1)
    th = max(1, int(round(height * weight)))
    (tw, tht), base = cv2.getTextSize(s, font, scale, th)
    pad = th + 2
    mask = np.zeros((tht + base + 2 * pad, tw + 2 * pad), np.uint8)
    cv2.putText(mask, s, (pad, pad + tht), font, scale, 255, th, _AA)
    mask = np.rot90(mask)
    h, w = mask.shape
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    H, W = img.shape[:2]
    xs, ys = max(x0, 0), max(y0, 0)
    xe, ye = min(x0 + w, W), min(y0 + h, H)
    if xe <= xs or ye <= ys:
        return
    a = mask[ys - y0:ye - y0, xs - x0:xe - x0, None].astype(np.float32) / 255.0
    roi = img[ys:ye, xs:xe]
    roi[:] = (roi * (1 - a) + np.asarray(colour, np.float32) * a + 0.5).astype(np.uint8)


def _rupee(img, x: float, y: float, h: float, colour, th: int) -> float:
    """A rupee sign with its top-left at (x, y), ``h`` px tall; returns its width."""
    w = 0.62 * h
    _poly(img, np.array([[x, y], [x + w, y]]), colour, th)
    _poly(img, np.array([[x, y + 0.2 * h], [x + w, y + 0.2 * h]]), colour, th)
    t = np.linspace(-np.pi / 2, np.pi / 2, 16)
    arc = np.stack([x + 0.25 * w + 0.42 * w * np.cos(t), y + 0.2 * h + 0.2 * h * np.sin(t)], 1)
    _poly(img, np.vstack([[[x, y + 0.0]], arc[1:], [[x, y + 0.4 * h]]]), colour, th)
    _poly(img, np.array([[x + 0.05 * w, y + 0.4 * h], [x + 0.8 * w, y + h]]), colour, th)
    return w


def _draw_pattern(img: np.ndarray, kind: str, colour, face: str) -> None:
    h, w = img.shape[:2]
    t = max(1, int(round(w / 400)))
    back = face == "back"
    if kind == "rosette":
        centres = [(0.28, 0.52), (0.8, 0.48)] if not back else [(0.52, 0.5)]
        for cx, cy in centres:
            ang = np.linspace(0, 2 * np.pi, 720)
            for k in range(7):
                r = 0.44 * h * (0.55 + 0.45 * np.cos(9 * ang + k * np.pi / 7)) * (0.7 + 0.05 * k)
                _poly(img, np.stack([cx * w + r * np.cos(ang), cy * h + r * np.sin(ang)], 1), colour, t, True)
    elif kind == "waves":
        slope = 0.45 if not back else -0.45
        xs = np.linspace(0, w, 120)
        for k in range(-30, 60):
            y0 = k * 0.045 * h * 2
            ys = y0 + slope * (xs - w / 2) + 0.03 * h * np.sin(xs / w * 14 * np.pi + k * 0.4)
            _poly(img, np.stack([xs, ys], 1), colour, t)
    elif kind == "ripples":
        cx, cy = (0.2 * w, 0.5 * h) if not back else (0.85 * w, 0.5 * h)
        ang = np.linspace(0, 2 * np.pi, 360)
        for k in range(1, 70):
            r = k * 0.035 * h + 0.012 * h * np.sin(12 * ang + k * 0.5)
            _poly(img, np.stack([cx + r * np.cos(ang), cy + r * np.sin(ang)], 1), colour, t, True)
    elif kind == "stripes":
        xs = np.linspace(0, w, 160)
        step = 0.05 * h
        for k in range(-2, int(h / step) + 3):
            ys = k * step + 0.025 * h * np.sin(xs / w * (10 if not back else 6) * np.pi + (k % 4) * 0.8)
            _poly(img, np.stack([xs, ys], 1), colour, t * (3 if k % 4 == 0 else 1))
    elif kind == "sunburst":
        cx, cy = (0.5 * w, 1.15 * h) if not back else (0.15 * w, -0.1 * h)
        for k in range(90):
            a = np.pi * k / 90 * 2
            _poly(img, np.array([[cx, cy], [cx + 2 * w * np.cos(a), cy + 2 * w * np.sin(a)]]), colour, t)
        for k in range(1, 14):
            r = k * 0.12 * h
            _poly(img, _ellipse_pts(cx, cy, r, r, n=180), colour, t, True)
    elif kind == "lattice":
        step = 0.09 * h if not back else 0.13 * h
        n = int((w + h) / step) + 2
        for k in range(-n, n):
            x0 = k * step
            _poly(img, np.array([[x0, 0], [x0 + h * 0.7, h]]), colour, t)
            _poly(img, np.array([[x0, 0], [x0 - h * 0.7, h]]), colour, t)
    else:  # spiral
        cx, cy = (0.3 * w, 0.5 * h) if not back else (0.7 * w, 0.5 * h)
        ang = np.linspace(0, 30 * np.pi, 2400)
        for k in range(3):
            r = 0.012 * h * (ang + k * 2.1)
            _poly(img, np.stack([cx + r * np.cos(ang + k * 2.1), cy + r * np.sin(ang + k * 2.1)], 1), colour, t)


def _border(img: np.ndarray, colour) -> None:
    """Guilloche bands along the top and bottom edges (every note has them)."""
    h, w = img.shape[:2]
    t = max(1, int(round(w / 450)))
    xs = np.linspace(0, w, 200)
    for y, sign in ((0.045 * h, 1), (0.955 * h, -1)):
        for k in range(3):
            ys = y + sign * 0.022 * h * np.sin(xs / w * 40 * np.pi + k * 2.1)
            _poly(img, np.stack([xs, ys], 1), colour, t)


def _portrait(img: np.ndarray, cx: float, cy: float, st: _Style) -> None:
    h, w = img.shape[:2]
    a, b = 0.13 * w, 0.36 * h
    _fill(img, _ellipse_pts(cx, cy, a, b, n=60), _mix(st.base, st.light, 0.5))
    t = max(1, int(round(w / 300)))
    shade = _mix(st.base, st.ink, 0.45)
    for y in np.arange(cy - b, cy + b, 0.022 * h):  # engraving hatch clipped to the oval
        dx = a * math.sqrt(max(0.0, 1 - ((y - cy) / b) ** 2))
        _poly(img, np.array([[cx - dx, y], [cx + dx, y]]), shade, 1)
    dark = _mix(st.base, st.ink, 0.75)
    # shoulders, head, glasses, hairline: a face-like engraving
    t_sh = np.linspace(np.pi, 2 * np.pi, 30)
    _fill(img, np.vstack([np.stack([cx + 0.95 * a * np.cos(t_sh), cy + b * 0.98 + 0.45 * b * np.sin(t_sh)], 1)]), dark)
    _fill(img, _ellipse_pts(cx, cy - 0.12 * b, 0.5 * a, 0.5 * b, n=40), _mix(st.base, st.ink, 0.55))
    _fill(img, _ellipse_pts(cx - 0.04 * a, cy - 0.05 * b, 0.36 * a, 0.36 * b, n=40), _mix(st.light, st.base, 0.35))
    for gx in (-0.17 * a, 0.15 * a):
        _poly(img, _ellipse_pts(cx + gx, cy - 0.14 * b, 0.11 * a, 0.07 * b, n=20), dark, t, True)
    _poly(img, np.array([[cx - 0.06 * a, cy - 0.14 * b], [cx + 0.04 * a, cy - 0.14 * b]]), dark, t)
    _poly(img, np.array([[cx - 0.1 * a, cy + 0.18 * b], [cx + 0.1 * a, cy + 0.16 * b]]), dark, t)  # mouth
    _poly(img, _ellipse_pts(cx, cy, a, b, n=80), st.ink, 2 * t, True)


def _emblem(img: np.ndarray, cx: float, cy: float, s: float, colour) -> None:
    """An Ashoka-pillar-like stack: base, drum, three heads."""
    _fill(img, np.array([[cx - 0.5 * s, cy + s], [cx + 0.5 * s, cy + s], [cx + 0.35 * s, cy + 0.7 * s], [cx - 0.35 * s, cy + 0.7 * s]]), colour)
    _fill(img, np.array([[cx - 0.3 * s, cy + 0.7 * s], [cx + 0.3 * s, cy + 0.7 * s], [cx + 0.3 * s, cy + 0.45 * s], [cx - 0.3 * s, cy + 0.45 * s]]), colour)
    for dx in (-0.22, 0.0, 0.22):
        _fill(img, _ellipse_pts(cx + dx * s, cy + 0.18 * s, 0.16 * s, 0.3 * s, n=20), colour)


def _motif(img: np.ndarray, kind: str, cx: float, cy: float, s: float, st: _Style) -> None:
    """The picture on the back, ``s`` px tall, centred on (cx, cy)."""
    h, w = img.shape[:2]
    t = max(1, int(round(w / 220)))
    ink, fill = st.ink, _mix(st.base, st.ink, 0.3)
    if kind == "wheel":
        r = 0.48 * s
        _fill(img, _ellipse_pts(cx, cy, r, r, n=80), fill)
        _poly(img, _ellipse_pts(cx, cy, r, r, n=80), ink, 2 * t, True)
        _poly(img, _ellipse_pts(cx, cy, 0.82 * r, 0.82 * r, n=80), ink, t, True)
        for k in range(24):
            a = 2 * np.pi * k / 24
            _poly(img, np.array([[cx + 0.15 * r * np.cos(a), cy + 0.15 * r * np.sin(a)], [cx + 0.82 * r * np.cos(a), cy + 0.82 * r * np.sin(a)]]), ink, t)
        _fill(img, _ellipse_pts(cx, cy, 0.15 * r, 0.15 * r), ink)
    elif kind == "arches":
        bw = 1.7 * s
        x0, y0 = cx - bw / 2, cy + 0.45 * s
        _fill(img, np.array([[x0, y0], [x0 + bw, y0], [x0 + bw, cy - 0.3 * s], [x0, cy - 0.3 * s]]), fill)
        for k in range(5):
            ax = x0 + bw * (k + 0.5) / 5
            arch = np.vstack([[[ax - 0.12 * s, y0]], np.stack([ax + 0.12 * s * np.cos(np.linspace(np.pi, 2 * np.pi, 12)), cy - 0.02 * s + 0.16 * s * np.sin(np.linspace(np.pi, 2 * np.pi, 12))], 1), [[ax + 0.12 * s, y0]]])
            _fill(img, arch, ink)
        for k in range(3):
            y = cy - 0.3 * s - k * 0.12 * s
            _fill(img, np.array([[x0 + k * 0.15 * s, y], [x0 + bw - k * 0.15 * s, y], [x0 + bw - (k + 1) * 0.15 * s, y - 0.12 * s], [x0 + (k + 1) * 0.15 * s, y - 0.12 * s]]), _mix(fill, ink, 0.3 * k))
    elif kind == "chariot":
        _fill(img, np.array([[cx - 0.55 * s, cy + 0.2 * s], [cx + 0.55 * s, cy + 0.2 * s], [cx + 0.35 * s, cy - 0.35 * s], [cx - 0.35 * s, cy - 0.35 * s]]), fill)
        _fill(img, np.array([[cx - 0.2 * s, cy - 0.35 * s], [cx + 0.2 * s, cy - 0.35 * s], [cx, cy - 0.55 * s]]), ink)
        for k in range(-2, 3):
            _poly(img, np.array([[cx + k * 0.15 * s, cy + 0.2 * s], [cx + k * 0.1 * s, cy - 0.35 * s]]), ink, t)
        for wx in (-0.3, 0.3):
            _poly(img, _ellipse_pts(cx + wx * s, cy + 0.3 * s, 0.2 * s, 0.2 * s), ink, 2 * t, True)
            for k in range(8):
                a = np.pi * k / 4
                _poly(img, np.array([[cx + wx * s, cy + 0.3 * s], [cx + wx * s + 0.2 * s * np.cos(a), cy + 0.3 * s + 0.2 * s * np.sin(a)]]), ink, t)
    elif kind == "stepwell":
        for k in range(6):
            half = (0.95 - 0.13 * k) * s
            y1, y0 = cy + 0.5 * s - k * 0.17 * s, cy + 0.5 * s - (k + 1) * 0.17 * s
            _fill(img, np.array([[cx - half, y1], [cx + half, y1], [cx + half, y0], [cx - half, y0]]), _mix(fill, ink, 0.12 * (k % 2)))
            for x in np.arange(cx - half + 0.06 * s, cx + half, 0.11 * s):
                _poly(img, np.array([[x, y1], [x, y0 + 0.03 * s]]), ink, t)
    elif kind == "stupa":
        base_y = cy + 0.4 * s
        _fill(img, np.array([[cx - 0.7 * s, base_y], [cx + 0.7 * s, base_y], [cx + 0.7 * s, base_y - 0.15 * s], [cx - 0.7 * s, base_y - 0.15 * s]]), ink)
        dome = np.stack([cx + 0.58 * s * np.cos(np.linspace(np.pi, 2 * np.pi, 40)), base_y - 0.15 * s + 0.6 * s * np.sin(np.linspace(np.pi, 2 * np.pi, 40))], 1)
        _fill(img, dome, fill)
        _poly(img, dome, ink, 2 * t)
        _fill(img, np.array([[cx - 0.12 * s, base_y - 0.75 * s], [cx + 0.12 * s, base_y - 0.75 * s], [cx + 0.12 * s, base_y - 0.85 * s], [cx - 0.12 * s, base_y - 0.85 * s]]), ink)
        _poly(img, np.array([[cx, base_y - 0.85 * s], [cx, base_y - 1.0 * s]]), ink, t)
        for x in np.arange(cx - 0.95 * s, cx + 0.96 * s, 0.1 * s):  # railing
            _poly(img, np.array([[x, base_y + 0.08 * s], [x, base_y - 0.1 * s]]), ink, t)
    elif kind == "fort":
        x0, x1 = cx - 0.95 * s, cx + 0.95 * s
        _fill(img, np.array([[x0, cy + 0.45 * s], [x1, cy + 0.45 * s], [x1, cy - 0.15 * s], [x0, cy - 0.15 * s]]), fill)
        for x in np.arange(x0, x1, 0.12 * s):  # battlements
            _fill(img, np.array([[x, cy - 0.15 * s], [x + 0.07 * s, cy - 0.15 * s], [x + 0.07 * s, cy - 0.23 * s], [x, cy - 0.23 * s]]), ink)
        for dx in (-0.5, 0.5):
            dome = np.stack([cx + dx * s + 0.17 * s * np.cos(np.linspace(np.pi, 2 * np.pi, 20)), cy - 0.23 * s + 0.25 * s * np.sin(np.linspace(np.pi, 2 * np.pi, 20))], 1)
            _fill(img, dome, ink)
        gate = np.vstack([[[cx - 0.15 * s, cy + 0.45 * s]], np.stack([cx + 0.15 * s * np.cos(np.linspace(np.pi, 2 * np.pi, 12)), cy + 0.1 * s + 0.2 * s * np.sin(np.linspace(np.pi, 2 * np.pi, 12))], 1), [[cx + 0.15 * s, cy + 0.45 * s]]])
        _fill(img, gate, ink)
        _poly(img, np.array([[cx, cy - 0.15 * s], [cx, cy - 0.6 * s]]), ink, t)
        _fill(img, np.array([[cx, cy - 0.6 * s], [cx + 0.2 * s, cy - 0.53 * s], [cx, cy - 0.46 * s]]), ink)
    else:  # orbiter: a planet with an ellipse orbit
        _fill(img, _ellipse_pts(cx, cy, 0.35 * s, 0.35 * s), fill)
        _poly(img, _ellipse_pts(cx, cy, 0.8 * s, 0.25 * s, angle=-0.3, n=60), ink, 2 * t, True)
        _fill(img, _ellipse_pts(cx + 0.6 * s, cy - 0.1 * s, 0.08 * s, 0.08 * s), ink)


@functools.lru_cache(maxsize=64)
def _base_note(name: str, face: str, width: int) -> np.ndarray:
    """The deterministic part of a note (no serials, no wear), area-resized from a large drawing."""
    st = _style(name)
    if width != _HI_WIDTH:
        hi = _base_note(name, face, _HI_WIDTH)
        out = _resize_note(hi, width, st.aspect)
        out.flags.writeable = False
        return out
    img = _draw_design(st, name, face, _INDIA)
    img.flags.writeable = False
    return img


def _resize_note(hi: np.ndarray, width: int, aspect: float) -> np.ndarray:
    height = max(8, int(round(width / aspect)))
    return cv2.resize(hi, (width, height), interpolation=cv2.INTER_AREA if width < hi.shape[1] else cv2.INTER_CUBIC)


@dataclass(frozen=True)
class _Issuer:
    """Who printed the note: the words and currency sign that make a design belong to one country."""

    bank: str
    promise: str
    sign: str | None  # None: the rupee glyph, drawn as strokes (Hershey fonts have no "₹")
    year: str
    spectacles: bool  # the Swachh Bharat logo on the back of the new Indian series


_INDIA = _Issuer("RESERVE BANK OF INDIA", "GUARANTEED BY THE CENTRAL GOVERNMENT", None, "2017", True)


def _draw_design(st: _Style, num: str, face: str, issuer: _Issuer, w: int = _HI_WIDTH) -> np.ndarray:
    """Draw a note's fixed design at width ``w``: paper, pattern, portrait or motif, numerals, texts."""
    h = int(round(w / st.aspect))
    back = face == "back"
    # paper: base colour with a soft horizontal gradient (lighter towards the watermark side)
    ramp = np.linspace(0.92, 1.08, w, dtype=np.float32)
    if back:
        ramp = ramp[::-1]
    paper = np.asarray(st.base, np.float32)[None, None, :] * ramp[None, :, None]
    if back:
        paper = paper * 0.93 + np.asarray(st.light, np.float32) * 0.07
    img = np.ascontiguousarray(np.broadcast_to(paper, (h, w, 3)).clip(0, 255).astype(np.uint8))
    _draw_pattern(img, st.pattern, _mix(st.base, st.ink, 0.35), face)
    _border(img, _mix(st.base, st.ink, 0.6))
    ink = st.ink
    big = 0.2 * h
    if not back:
        px = st.portrait_x * w
        wm_x = 0.86 * w if st.portrait_x < 0.5 else 0.16 * w  # watermark window opposite the portrait
        _fill(img, _ellipse_pts(wm_x, 0.5 * h, 0.09 * w, 0.3 * h), _mix(st.light, (250, 250, 245), 0.5))
        _portrait(img, px, 0.54 * h, st)
        thread_x = px + (0.16 if st.portrait_x < 0.5 else -0.16) * w
        for y in np.arange(0.02 * h, h, 0.06 * h):  # windowed security thread
            _poly(img, np.array([[thread_x, y], [thread_x, y + 0.035 * h]]), _mix(ink, (40, 90, 80), 0.4), max(2, w // 150))
        text_x = px + 0.15 * w if st.portrait_x < 0.5 else 0.06 * w
        _text(img, issuer.bank, text_x, 0.17 * h, 0.055 * h, ink, weight=0.14, font=cv2.FONT_HERSHEY_SIMPLEX)
        _text(img, issuer.promise, text_x, 0.25 * h, 0.03 * h, ink, weight=0.14, font=cv2.FONT_HERSHEY_SIMPLEX)
        _text(img, num, 0.03 * w, 0.16 * h, 0.1 * h, ink)  # top-left corner numeral
        rw = 0.62 * big
        _text(img, num, 0.965 * w, 0.9 * h, big, _mix(ink, (20, 110, 70), 0.5), weight=0.14, align="right")
        nw = cv2.getTextSize(num, cv2.FONT_HERSHEY_TRIPLEX, big / max(cv2.getTextSize(num, cv2.FONT_HERSHEY_TRIPLEX, 1.0, 1)[0][1], 1), max(1, int(round(big * 0.14))))[0][0]
        _sign(img, issuer, 0.965 * w - nw - rw - 0.02 * w, 0.9 * h - big, big, ink)
        mid_x = px - 0.2 * w if st.portrait_x >= 0.45 else px + 0.22 * w
        _text_vertical(img, num, mid_x, 0.58 * h, 0.16 * h, ink)  # the middle numeral
        _text(img, num, 0.06 * w, 0.62 * h, 0.14 * h, _mix(st.base, ink, 0.5))  # see-through numeral, left
        _emblem(img, 0.9 * w if st.portrait_x < 0.5 else 0.09 * w, 0.3 * h, 0.3 * h, _mix(st.base, ink, 0.7))
    else:
        _motif(img, st.motif, 0.6 * w, 0.52 * h, 0.55 * h, st)
        for k in range(6):  # language panel
            y = 0.3 * h + k * 0.07 * h
            _poly(img, np.array([[0.05 * w, y], [0.05 * w + (0.14 + 0.03 * (k % 3)) * w, y]]), _mix(st.base, ink, 0.6), max(1, w // 220))
        if issuer.spectacles:  # Swachh Bharat logo
            gx, gy = 0.11 * w, 0.82 * h
            for dx in (-0.04, 0.04):
                _poly(img, _ellipse_pts(gx + dx * w, gy, 0.035 * w, 0.06 * h), ink, max(1, w // 200), True)
        _text(img, issuer.year, 0.22 * w, 0.92 * h, 0.045 * h, ink, font=cv2.FONT_HERSHEY_SIMPLEX)
        rw = 0.62 * big
        x_end = 0.965 * w
        nw = _text(img, num, x_end, 0.25 * h, big, ink, weight=0.14, align="right")
        _sign(img, issuer, x_end - nw - rw - 0.02 * w, 0.25 * h - big, big, ink)
        _text(img, num, 0.03 * w, 0.94 * h, 0.1 * h, ink)  # bottom-left corner numeral
        _text(img, num, 0.05 * w, 0.2 * h, 0.13 * h, ink, weight=0.16)  # top-left numeral
        _text_vertical(img, num, 0.3 * w, 0.55 * h, 0.17 * h, _mix(st.base, ink, 0.7))  # the middle numeral
        _text(img, issuer.bank, 0.6 * w, 0.94 * h, 0.045 * h, ink, font=cv2.FONT_HERSHEY_SIMPLEX, align="center")
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), _mix(st.base, st.ink, 0.25), max(1, w // 300), _AA)
    return img


def _sign(img: np.ndarray, issuer: _Issuer, x: float, y: float, h: float, colour) -> None:
    """The currency sign just left of the big numeral (top edge at ``y``, ``h`` tall)."""
    if issuer.sign is None:
        _rupee(img, x, y, h, colour, max(1, int(round(h * 0.1))))
    elif issuer.sign:
        _text(img, issuer.sign, x + 0.62 * h, y + h, 0.7 * h, colour, weight=0.12, align="right")


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: tuple[int, int], amplitude: float) -> np.ndarray:
    """Low-frequency random field in [-amplitude, amplitude] (wrinkles, blotches, uneven light)."""
    small = rng.uniform(-1.0, 1.0, (cells[0], cells[1])).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * amplitude


def render_note(denomination, rng: np.random.Generator, face: str = "front", width: int = 320) -> np.ndarray:
    """A flat note as RGB uint8, ``width`` px wide (height from the real note's proportions).

    The design (colour, numerals, pattern, layout) depends only on the denomination and the face;
    ``rng`` adds what differs between two real notes: serial numbers, fading, dirt and wrinkles.
    """
    if face not in ("front", "back"):
        raise EdgetlError(f"face must be 'front' or 'back' (got {face!r})")
    width = int(width)
    if width < 16:
        raise EdgetlError(f"note width must be at least 16 px (got {width})")
    name = str(denomination)
    return _wear(np.array(_base_note(name, face, width)), rng, face)


def _wear(img: np.ndarray, rng: np.random.Generator, face: str) -> np.ndarray:
    """What differs between two printed notes of one design: serial numbers, fading, dirt, wrinkles."""
    h, w = img.shape[:2]
    # serial numbers (front) / a printed year (back) differ between notes
    letters = "ABCDEFGHKLMNPQRSTUVW"
    serial = f"{rng.integers(1, 10)}{letters[rng.integers(len(letters))]}{letters[rng.integers(len(letters))]} {rng.integers(0, 1_000_000):06d}"
    if face == "front" and w >= 64:
        red = (150, 30, 30)
        _text(img, serial, 0.04 * w, 0.92 * h, 0.055 * h, red, weight=0.14, font=cv2.FONT_HERSHEY_SIMPLEX)
        _text(img, serial, 0.96 * w, 0.36 * h, 0.05 * h, red, weight=0.14, font=cv2.FONT_HERSHEY_SIMPLEX, align="right")
    f = img.astype(np.float32)
    # wear: faded ink, slightly shifted paper colour, wrinkle shading, dirt
    f = f * (1 - (fade := rng.uniform(0.0, 0.12))) + 245.0 * fade
    f *= (1 + rng.normal(0, 0.025, 3)).astype(np.float32)
    shade = 1 + _smooth_field(rng, h, w, (int(rng.integers(2, 5)), int(rng.integers(3, 8))), rng.uniform(0.02, 0.1))
    f *= shade[..., None]
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 4))):
            m = np.zeros((h, w), np.float32)
            cv2.ellipse(m, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), (int(rng.uniform(2, 0.08 * w)), int(rng.uniform(2, 0.1 * h))),
                        float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.1, 0.35)), -1)
            m = cv2.GaussianBlur(m, (0, 0), max(1.0, 0.01 * w))
            f *= 1 - m[..., None] * np.asarray([0.9, 1.0, 1.1], np.float32)
    return f.clip(0, 255).astype(np.uint8)


_FOREIGN_VALUES = ("1", "2", "5", "10", "20", "25", "50", "100", "200", "500", "1000", "5000")
_FOREIGN_BANKS = ("NATIONAL BANK", "CENTRAL BANK", "FEDERAL RESERVE", "ROYAL MINT", "STATE BANK", "RIKSBANK",
                  "BANK OF THE REPUBLIC", "MONETARY AUTHORITY", "BANCO CENTRAL", "BANQUE NATIONALE")
_FOREIGN_SIGNS = ("kr", "$", "L", "F", "K", "R", "Fr", "")


def render_foreign_note(rng: np.random.Generator, face: str = "front", width: int = 320) -> np.ndarray:
    """A note of a made-up currency: random colours, pattern, value, bank and sign, no rupee glyph.

    Pasted into ``background`` images, these teach a model that a banknote shape alone is not a rupee
    note, so a traveller's kronor or dollars stay silent instead of being announced as rupees.
    """
    hue, sat = rng.uniform(0, 1), rng.uniform(0.15, 0.7)
    st = _Style(
        _hsv(hue, sat, rng.uniform(0.6, 0.95)), _hsv(hue + rng.uniform(-0.15, 0.15), rng.uniform(0.4, 0.9), rng.uniform(0.15, 0.45)),
        _hsv(hue, sat * 0.3, 0.96), _PATTERNS[rng.integers(len(_PATTERNS))], _MOTIFS[rng.integers(len(_MOTIFS))],
        float(rng.uniform(0.3, 0.65)), float(rng.uniform(1.6, 2.4)),
    )
    issuer = _Issuer(str(rng.choice(_FOREIGN_BANKS)), "LEGAL TENDER", str(rng.choice(_FOREIGN_SIGNS)),
                     str(rng.integers(1970, 2025)), False)
    hi = _draw_design(st, str(rng.choice(_FOREIGN_VALUES)), face, issuer)
    return _wear(_resize_note(hi, int(width), st.aspect), rng, face)


class _ForeignNotes:
    def __init__(self, width: int):
        self.width = width

    def note(self, rng: np.random.Generator):
        face = "front" if rng.random() < 0.5 else "back"
        return render_foreign_note(rng, face, self.width), None, face


# --------------------------------------------------------------------------------------------
# scenes: generated clutter and real scene photos


def _skin(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A skin tone (light to dark) and a shadow tone for it, as float RGB."""
    dark, light = np.array([88, 56, 40], np.float32), np.array([238, 198, 172], np.float32)
    base = dark + rng.uniform(0, 1) * (light - dark) + rng.normal(0, 6, 3)
    return base.clip(0, 255), (base * rng.uniform(0.6, 0.8)).clip(0, 255)


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return _hsv(rng.random(), rng.uniform(0, 0.9) ** 1.5, rng.uniform(0.1, 1.0))


_WORDS = ("MILK", "TEA", "RICE", "Bill", "NOTE", "Total", "Rs", "SALE", "open", "news", "keys", "Dr.", "phone", "OK")


def _draw_hand_shape(img: np.ndarray, parts: list[np.ndarray], rng_colours: tuple[np.ndarray, np.ndarray]) -> None:
    """Fill hand parts (polygons in image pixels) with a shaded skin tone."""
    base, shadow = rng_colours
    for pts in parts:
        _fill(img, pts, tuple(float(v) for v in shadow))
    for pts in parts:
        c = pts.mean(axis=0)
        _fill(img, c + (pts - c) * 0.82, tuple(float(v) for v in base))


def _free_hand(rng: np.random.Generator, cx: float, cy: float, s: float) -> list[np.ndarray]:
    """A hand-like blob (palm and fingers) of size ~s, centred on (cx, cy), any orientation."""
    a = rng.uniform(0, 2 * np.pi)
    ca, sa = math.cos(a), math.sin(a)
    parts = [_ellipse_pts(cx, cy, 0.42 * s, 0.36 * s, angle=a)]
    for k, spread in enumerate(np.linspace(-0.5, 0.5, int(rng.integers(3, 5)))):
        d = 0.62 * s
        fx, fy = cx + d * (ca * math.cos(spread) - sa * math.sin(spread)), cy + d * (sa * math.cos(spread) + ca * math.sin(spread))
        parts.append(_ellipse_pts(fx, fy, 0.3 * s, 0.09 * s, angle=a + spread, n=24))
    thumb = a + rng.choice([-1.3, 1.3])
    parts.append(_ellipse_pts(cx + 0.45 * s * math.cos(thumb), cy + 0.45 * s * math.sin(thumb), 0.26 * s, 0.1 * s, angle=thumb, n=24))
    return parts


_GRID_CACHE: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised coordinates in [-1, 1] (cached per shape)."""
    key = (h, w)
    if key not in _GRID_CACHE:
        ys = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
        xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        if len(_GRID_CACHE) > 16:
            _GRID_CACHE.clear()
        _GRID_CACHE[key] = (np.broadcast_to(xs, (h, w)), np.broadcast_to(ys, (h, w)))
    return _GRID_CACHE[key]


def _clutter(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A generated cluttered scene: a textured surface with objects, text, cards and hands on it."""
    xs, ys = _grid(h, w)
    kind = rng.choice(["wood", "cloth", "paper", "dark", "tiles", "gradient"], p=[0.25, 0.22, 0.15, 0.12, 0.1, 0.16])
    if kind == "wood":
        c1 = np.array(_hsv(rng.uniform(0.04, 0.1), rng.uniform(0.35, 0.7), rng.uniform(0.3, 0.75)), np.float32)
        c2 = c1 * rng.uniform(0.6, 0.85)
        a = rng.uniform(0, np.pi)
        u = xs * math.cos(a) + ys * math.sin(a) + _smooth_field(rng, h, w, (3, 3), 0.25)
        g = 0.5 + 0.5 * np.sin(u * rng.uniform(10, 30) + _smooth_field(rng, h, w, (6, 6), 1.5))
        img = c1 * g[..., None] + c2 * (1 - g[..., None])
    elif kind == "tiles":
        c1 = np.array(_random_colour(rng), np.float32)
        img = np.broadcast_to(c1, (h, w, 3)).copy()
        step = rng.uniform(0.15, 0.4) * max(h, w)
        off = rng.uniform(0, step, 2)
        line = c1 * rng.uniform(0.5, 0.8)
        th = max(1, int(round(max(h, w) / 150)))
        for x in np.arange(off[0], w, step):
            cv2.line(img, (int(x), 0), (int(x), h), tuple(float(v) for v in line), th, _AA)
        for y in np.arange(off[1], h, step):
            cv2.line(img, (0, int(y)), (w, int(y)), tuple(float(v) for v in line), th, _AA)
    else:
        if kind == "paper":
            c1 = np.array(_hsv(rng.random(), rng.uniform(0, 0.12), rng.uniform(0.75, 0.97)), np.float32)
        elif kind == "dark":
            c1 = np.array(_hsv(rng.random(), rng.uniform(0, 0.6), rng.uniform(0.04, 0.3)), np.float32)
        else:
            c1 = np.array(_random_colour(rng), np.float32)
        c2 = np.array(_random_colour(rng), np.float32) if kind == "gradient" else c1 * rng.uniform(0.75, 1.15)
        a = rng.uniform(0, 2 * np.pi)
        g = (0.5 + 0.5 * (xs * math.cos(a) + ys * math.sin(a)))[..., None]
        img = c1 * (1 - g) + c2 * g
        if kind == "cloth":
            img += rng.normal(0, rng.uniform(3, 12), (h, w, 1)).astype(np.float32)
    img = img + _smooth_field(rng, h, w, (int(rng.integers(2, 7)), int(rng.integers(2, 7))), rng.uniform(5, 30))[..., None]
    img = img.clip(0, 255).astype(np.uint8)
    side = max(h, w)
    for _ in range(int(rng.integers(2, 10))):
        colour = _random_colour(rng)
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        s = rng.uniform(0.05, 0.45) * side
        shape = rng.choice(["rect", "circle", "line", "poly", "text", "card", "hand", "ring"],
                           p=[0.2, 0.15, 0.12, 0.13, 0.13, 0.12, 0.07, 0.08])
        if shape == "rect":
            box = cv2.boxPoints(((cx, cy), (s, s * rng.uniform(0.2, 1.0)), rng.uniform(0, 180)))
            _fill(img, box, colour)
        elif shape == "circle":
            _fill(img, _ellipse_pts(cx, cy, s / 2, s / 2 * rng.uniform(0.5, 1), angle=rng.uniform(0, np.pi)), colour)
        elif shape == "ring":
            _poly(img, _ellipse_pts(cx, cy, s / 2, s / 2), colour, max(1, int(s / 10)), True)
        elif shape == "line":
            a = rng.uniform(0, np.pi)
            _poly(img, np.array([[cx - s * math.cos(a), cy - s * math.sin(a)], [cx + s * math.cos(a), cy + s * math.sin(a)]]), colour, max(1, int(rng.uniform(0.005, 0.03) * side)))
        elif shape == "poly":
            n = int(rng.integers(3, 7))
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            r = s / 2 * rng.uniform(0.5, 1.0, n)
            _fill(img, np.stack([cx + r * np.cos(ang), cy + r * np.sin(ang)], 1), colour)
        elif shape == "text":
            word = _WORDS[int(rng.integers(len(_WORDS)))]
            _text(img, word, cx - s / 2, cy, rng.uniform(0.03, 0.1) * side, colour, font=cv2.FONT_HERSHEY_SIMPLEX)
        elif shape == "card":  # plain paper or a card: a rectangle that is NOT a note
            paper = _hsv(rng.random(), rng.uniform(0, 0.25), rng.uniform(0.7, 1.0))
            box = cv2.boxPoints(((cx, cy), (s * 1.4, s * rng.uniform(0.5, 0.9)), rng.uniform(0, 180)))
            _fill(img, box, paper)
            ink = _hsv(rng.random(), rng.uniform(0, 0.5), rng.uniform(0, 0.4))
            c = box.mean(axis=0)
            for k in range(int(rng.integers(0, 5))):
                y = c[1] - 0.25 * s + k * 0.1 * s
                _poly(img, np.array([[c[0] - 0.4 * s, y], [c[0] + rng.uniform(-0.2, 0.4) * s, y]]), ink, max(1, int(s / 60)))
        else:
            _draw_hand_shape(img, _free_hand(rng, cx, cy, s * 0.8), _skin(rng))
    sigma = rng.uniform(0, 1.6) * side / 224
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    return img


class _ImagePool:
    """Photos decoded on demand (downscaled to ``max_side``) with a bounded cache."""

    def __init__(self, paths: Sequence[Path], max_side: int, cap: int = 192):
        self.paths = list(paths)
        self.max_side = max_side
        self.cap = cap
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, index: int) -> np.ndarray:
        if index not in self._cache:
            from edgetl.data.images import read_rgb

            img = read_rgb(self.paths[index])
            h, w = img.shape[:2]
            if max(h, w) > self.max_side:
                k = self.max_side / max(h, w)
                img = cv2.resize(img, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
            if len(self._cache) >= self.cap:
                self._cache.pop(next(iter(self._cache)))
            self._cache[index] = img
        return self._cache[index]


def _scene_crop(rng: np.random.Generator, pool: _ImagePool, w: int, h: int) -> np.ndarray:
    """A random crop of a random scene photo, resized to w x h."""
    img = pool.get(int(rng.integers(len(pool))))
    ih, iw = img.shape[:2]
    aspect = w / h
    cw_max = min(iw, ih * aspect)
    cw = cw_max * rng.uniform(0.45, 1.0)
    ch = cw / aspect
    x0, y0 = rng.uniform(0, iw - cw), rng.uniform(0, ih - ch)
    crop = img[int(y0):max(int(y0) + 1, int(y0 + ch)), int(x0):max(int(x0) + 1, int(x0 + cw))]
    out = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if crop.shape[1] > w else cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def _background(rng: np.random.Generator, w: int, h: int, pool: _ImagePool | None) -> np.ndarray:
    if pool is None:
        return _clutter(rng, w, h)
    img = _scene_crop(rng, pool, w, h)
    if rng.random() < 0.25:  # a hand in view without a note: the hardest "nothing to announce" case
        _draw_hand_shape(img, _free_hand(rng, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.2, 0.5) * max(w, h)), _skin(rng))
    return img


# --------------------------------------------------------------------------------------------
# notes in scenes: folds, warps, hands, light, camera


class _DrawnNotes:
    def __init__(self, labels: Sequence[str], width: int):
        self.labels = list(labels)
        self.width = width

    def note(self, label: str, rng: np.random.Generator, index: int | None = None):
        face = "front" if rng.random() < 0.5 else "back"
        return render_note(label, rng, face=face, width=self.width), None, face


def _feather(h: int, w: int, frac: float) -> np.ndarray:
    f = max(1.5, frac * min(h, w))
    ax = np.minimum(np.arange(w, dtype=np.float32) + 0.5, w - 0.5 - np.arange(w, dtype=np.float32)) / f
    ay = np.minimum(np.arange(h, dtype=np.float32) + 0.5, h - 0.5 - np.arange(h, dtype=np.float32)) / f
    return np.minimum(ax.clip(0, 1)[None, :], ay.clip(0, 1)[:, None])


class _PhotoNotes:
    """Rough cut-outs of real note photos: the whole photo or its central part, edges feathered."""

    def __init__(self, per_class: dict[str, list[Path]], width: int, seed: int):
        self.labels = list(per_class)
        self.pools = {c: _ImagePool(p, max_side=width, cap=96) for c, p in per_class.items()}
        self.orders = {c: np.random.default_rng([seed, _key(c), 77]).permutation(len(p)) for c, p in per_class.items()}

    def note(self, label: str, rng: np.random.Generator, index: int | None = None):
        pool = self.pools[label]
        order = self.orders[label]
        pick = int(order[index % len(order)]) if index is not None else int(rng.integers(len(pool)))
        img = pool.get(pick)
        h, w = img.shape[:2]
        if rng.random() < 0.5:  # the central part: cuts away most of the photo's own background
            fx, fy = rng.uniform(0.65, 0.95), rng.uniform(0.65, 0.95)
            cw, ch = max(8, int(w * fx)), max(8, int(h * fy))
            x0 = int(np.clip((w - cw) / 2 + rng.uniform(-0.3, 0.3) * (w - cw), 0, w - cw))
            y0 = int(np.clip((h - ch) / 2 + rng.uniform(-0.3, 0.3) * (h - ch), 0, h - ch))
            img = img[y0:y0 + ch, x0:x0 + cw]
        img = np.ascontiguousarray(img)
        return img, _feather(img.shape[0], img.shape[1], rng.uniform(0.02, 0.08)), "photo"


def _key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def _rect(w: float, h: float) -> np.ndarray:
    return np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)


def _warp_into(dst: np.ndarray, src: np.ndarray, alpha: np.ndarray | None, quad: np.ndarray,
               src_rect: np.ndarray | None = None) -> None:
    """Perspective-warp ``src`` (with optional alpha in [0, 1]) so that its corners land on ``quad``.

    Only the quad's bounding box of ``dst`` is touched. The source is area-downscaled first when it
    would shrink a lot, so fine guilloche lines blend into a tint instead of aliasing.
    """
    H_dst, W_dst = dst.shape[:2]
    quad = np.asarray(quad, np.float32)
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W_dst), min(y1, H_dst)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return
    sh, sw = src.shape[:2]
    rect = _rect(sw, sh) if src_rect is None else np.asarray(src_rect, np.float32)
    span = max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3])) / max(rect[1, 0] - rect[0, 0], 1e-6)
    if span < 0.7:  # shrink first (INTER_AREA), then warp
        k = max(span * 1.25, 2.0 / min(sw, sh))
        nw, nh = max(2, int(round(sw * k))), max(2, int(round(sh * k)))
        src = cv2.resize(src, (nw, nh), interpolation=cv2.INTER_AREA)
        if alpha is not None:
            alpha = cv2.resize(alpha, (nw, nh), interpolation=cv2.INTER_AREA)
        rect = rect * np.array([nw / sw, nh / sh], np.float32)
        sh, sw = nh, nw
    H = cv2.getPerspectiveTransform(rect.astype(np.float32), (quad - np.array([x0, y0], np.float32)).astype(np.float32))
    size = (x1 - x0, y1 - y0)
    if src_rect is not None:  # only the rectangle part of src is drawn
        rx0, ry0 = rect[0]
        rx1, ry1 = rect[2]
        m = np.zeros((sh, sw), np.float32)
        m[int(round(ry0)):int(round(ry1)), int(round(rx0)):int(round(rx1))] = 1
        alpha = m if alpha is None else alpha * m
    warped = cv2.warpPerspective(src, H, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    a_src = np.ones((sh, sw), np.float32) if alpha is None else alpha.astype(np.float32)
    a = cv2.warpPerspective(a_src, H, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    roi = dst[y0:y1, x0:x1]
    roi[:] = cv2.blendLinear(warped, np.ascontiguousarray(roi), a, 1.0 - a)


def _inside_fraction(quad: np.ndarray, w: int, h: int, ref_area: float | None = None) -> float:
    quad = np.asarray(quad, np.float32)
    area = abs(cv2.contourArea(quad)) if ref_area is None else ref_area
    if area <= 1e-6:
        return 0.0
    frame = _rect(w, h)
    inter, _ = cv2.intersectConvexConvex(quad, frame)
    return float(min(1.0, max(0.0, inter) / area))


def _pose_quad(w: float, h: float, cx: float, cy: float, long_side: float, angle: float,
               tilt: np.ndarray) -> np.ndarray:
    """Corners of a w x h note scaled so its long side is ``long_side``, rotated and tilted."""
    k = long_side / max(w, h)
    pts = (_rect(w, h) - np.array([w / 2, h / 2], np.float32)) * k
    pts = pts + tilt.reshape(4, 2) * long_side
    ca, sa = math.cos(angle), math.sin(angle)
    rot = np.array([[ca, -sa], [sa, ca]], np.float32)
    return (pts @ rot.T + np.array([cx, cy], np.float32)).astype(np.float32)


def _hand_on_note(rng: np.random.Generator, w: float, h: float) -> list[np.ndarray]:
    """Hand parts in note coordinates: a palm beyond one edge and a thumb (and fingers) over the note."""
    edge = rng.choice(["bottom", "top", "left", "right"], p=[0.4, 0.2, 0.2, 0.2])
    length = w if edge in ("bottom", "top") else h
    depth = h if edge in ("bottom", "top") else w
    s = min(w, h) * rng.uniform(0.8, 1.3)
    a = rng.uniform(0.15, 0.85) * length
    parts_ab = [(a, -0.42 * s, 0.46 * s, 0.36 * s, 0.0)]  # palm: (along, inward, radius along, radius in, angle)
    reach = rng.uniform(0.15, 0.45) * min(depth, 1.2 * s)
    parts_ab.append((a + rng.uniform(-0.1, 0.1) * s, reach / 2 - 0.05 * s, 0.1 * s, reach / 2 + 0.12 * s, rng.uniform(-0.4, 0.4)))
    if rng.random() < 0.4:
        for k in range(int(rng.integers(1, 4))):
            fa = a + (k + 1) * 0.2 * s * rng.choice([-1, 1])
            parts_ab.append((fa, reach / 3, 0.085 * s, reach / 3 + 0.15 * s, rng.uniform(-0.2, 0.2)))
    parts = []
    for along, inward, ra, rb, ang in parts_ab:
        pts = _ellipse_pts(along, inward, ra, rb, angle=ang, n=28)
        al, inn = pts[:, 0], pts[:, 1]
        if edge == "bottom":
            xy = np.stack([al, h - inn], 1)
        elif edge == "top":
            xy = np.stack([w - al, inn], 1)
        elif edge == "left":
            xy = np.stack([inn, al], 1)
        else:
            xy = np.stack([w - inn, h - al], 1)
        parts.append(xy.astype(np.float32))
    return parts


def _map_parts(parts: list[np.ndarray], H: np.ndarray) -> list[np.ndarray]:
    return [cv2.perspectiveTransform(p.reshape(-1, 1, 2), H).reshape(-1, 2) for p in parts]


def _fold(rng: np.random.Generator, note: np.ndarray, alpha: np.ndarray | None):
    """Fold the flat note: 'half' (one part folded away), 'corner' (dog-ear) or 'crease' (decided later)."""
    r = rng.random()
    h, w = note.shape[:2]
    if r < 0.15:  # half-folded: only one part is visible, shaded towards the fold
        keep = rng.uniform(0.5, 0.72)
        along_x = rng.random() < 0.75
        n = int(round((w if along_x else h) * keep))
        first = rng.random() < 0.5
        sl = (slice(None), slice(0, n)) if along_x and first else (slice(None), slice(w - n, w)) if along_x else (slice(0, n), slice(None)) if first else (slice(h - n, h), slice(None))
        note = note[sl].copy()
        alpha = None if alpha is None else alpha[sl].copy()
        hh, ww = note.shape[:2]
        ramp = np.linspace(0, 1, ww if along_x else hh, dtype=np.float32)
        if (along_x and first) or (not along_x and first):
            ramp = ramp[::-1]  # the fold is at the kept part's far side
        ramp = (1 - rng.uniform(0.15, 0.35) * np.clip(1 - ramp / 0.25, 0, 1))
        shade = ramp[None, :, None] if along_x else ramp[:, None, None]
        note = (note * shade).clip(0, 255).astype(np.uint8)
        return note, alpha, "half"
    if r < 0.25:  # dog-eared corner: a triangle folded over, showing paper from behind
        note = note.copy()
        alpha = np.ones((h, w), np.float32) if alpha is None else alpha.copy()
        s = rng.uniform(0.2, 0.45) * h
        corner = int(rng.integers(4))
        cx, cy = [(0, 0), (w, 0), (w, h), (0, h)][corner]
        dx, dy = (1 if cx == 0 else -1), (1 if cy == 0 else -1)
        tri = np.array([[cx, cy], [cx + dx * s, cy], [cx, cy + dy * s]], np.float32)
        cv2.fillPoly(alpha, [np.round(tri * _ONE).astype(np.int32)], 0.0, _AA, _SHIFT)
        flap = np.array([[cx + dx * s, cy], [cx + dx * s, cy + dy * s], [cx, cy + dy * s]], np.float32)
        paper = note.reshape(-1, 3).mean(axis=0) * rng.uniform(0.75, 1.05)
        _fill(note, flap, tuple(float(v) for v in paper.clip(0, 255)))
        _poly(note, np.array([[cx + dx * s, cy], [cx, cy + dy * s]]), tuple(float(v) for v in (paper * 0.6)), max(1, w // 200))
        return note, alpha, "corner"
    if r < 0.4:
        return note, alpha, "crease"
    return note, alpha, "none"


def _place(rng: np.random.Generator, S: int, w: int, h: int, min_inside: float = 0.78):
    """A random pose for a w x h note in an S x S frame: any rotation, perspective, mostly inside."""
    for attempt in range(24):
        long_side = S * rng.uniform(0.6, 1.1) * (0.85 ** (attempt // 6))
        angle = rng.uniform(0, 2 * np.pi)
        tilt = rng.normal(0, rng.uniform(0.01, 0.06), 8).astype(np.float32)
        cx, cy = S / 2 + rng.normal(0, 0.13 * S, 2)
        quad = _pose_quad(w, h, cx, cy, long_side, angle, tilt)
        if not cv2.isContourConvex(quad.reshape(-1, 1, 2)):
            continue
        if _inside_fraction(quad, S, S) >= min_inside:
            return quad
    return _pose_quad(w, h, S / 2, S / 2, 0.6 * S, rng.uniform(0, 2 * np.pi), np.zeros(8, np.float32))


def _drop_shadow(img: np.ndarray, quad: np.ndarray, rng: np.random.Generator) -> None:
    S = max(img.shape[:2])
    m = np.zeros(img.shape[:2], np.float32)
    off = rng.normal(0, 0.025 * S, 2)
    _fill(m, quad + off.astype(np.float32), 1.0)
    m = cv2.GaussianBlur(m, (0, 0), max(1.0, 0.02 * S))
    img[:] = (img * (1 - rng.uniform(0.2, 0.5) * m[..., None])).astype(np.uint8)


def _composite_note(img: np.ndarray, rng: np.random.Generator, note: np.ndarray, alpha: np.ndarray | None,
                    fold: str, quad: np.ndarray) -> np.ndarray:
    """Warp the note onto ``img`` at ``quad``; a 'crease' bends one part away. Returns the outline."""
    h, w = note.shape[:2]
    if fold != "crease":
        _warp_into(img, note, alpha, quad)
        return quad
    f = rng.uniform(0.35, 0.65)
    tl, tr, br, bl = quad
    pt, pb = tl + f * (tr - tl), bl + f * (br - bl)
    tr2, br2 = pt + rng.uniform(0.6, 0.95) * (tr - pt), pb + rng.uniform(0.6, 0.95) * (br - pb)
    fx = f * w
    _warp_into(img, note, alpha, np.array([tl, pt, pb, bl], np.float32), src_rect=np.array([[0, 0], [fx, 0], [fx, h], [0, h]], np.float32))
    shade = np.linspace(rng.uniform(0.55, 0.8), rng.uniform(0.8, 1.0), w, dtype=np.float32)[None, :, None]
    bent = (note * shade).clip(0, 255).astype(np.uint8)
    _warp_into(img, bent, alpha, np.array([pt, tr2, br2, pb], np.float32), src_rect=np.array([[fx, 0], [w, 0], [w, h], [fx, h]], np.float32))
    return np.array([tl, tr2, br2, bl], np.float32)


def _camera(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Light and camera: uneven and low light, white balance, glare, blur, noise, JPEG artefacts."""
    h, w = img.shape[:2]
    S = max(h, w)
    xs, ys = _grid(h, w)
    a = rng.uniform(0, 2 * np.pi)
    gain = 1 + rng.uniform(0, 0.5) * (xs * math.cos(a) + ys * math.sin(a)) / 2
    gain = gain - rng.uniform(0, 0.35) * (xs * xs + ys * ys) / 2  # vignette
    low = rng.random() < 0.2
    level = rng.uniform(0.28, 0.55) if low else rng.uniform(0.75, 1.15)
    wb = (1 + rng.normal(0, 0.05, 3).clip(-0.12, 0.12)).astype(np.float32)
    f = img.astype(np.float32) * (gain * level)[..., None] * wb
    if rng.random() < 0.12:  # glare from a lamp or window
        m = np.zeros((h, w), np.float32)
        cv2.ellipse(m, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), (int(rng.uniform(0.05, 0.25) * S), int(rng.uniform(0.03, 0.15) * S)),
                    float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        f += cv2.GaussianBlur(m, (0, 0), 0.04 * S)[..., None] * rng.uniform(60, 160)
    r = rng.random()
    if r < 0.35 or low and r < 0.6:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.4, 1.6) * S / 224)
    elif r < 0.47:  # hand-shake motion blur
        n = max(3, int(rng.uniform(3, 11) * S / 224) | 1)
        k = np.zeros((n, n), np.float32)
        ang = rng.uniform(0, np.pi)
        c = (n - 1) / 2
        cv2.line(k, (int(round(c - c * math.cos(ang))), int(round(c - c * math.sin(ang)))), (int(round(c + c * math.cos(ang))), int(round(c + c * math.sin(ang)))), 1.0, 1)
        f = cv2.filter2D(f, -1, k / k.sum())
    sigma = rng.uniform(5, 14) if low else rng.uniform(1, 5)
    f += rng.normal(0, sigma, (h, w, 1)).astype(np.float32) + rng.normal(0, sigma * 0.4, (h, w, 3)).astype(np.float32)
    out = f.clip(0, 255).astype(np.uint8)
    if rng.random() < 0.75:
        q = int(rng.integers(25, 92))
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out


def _photo(rng: np.random.Generator, S: int, label: str | None, notes, pool: _ImagePool | None, index: int,
           foreign: _ForeignNotes | None = None, foreign_share: float = 0.0):
    """One picture: returns (RGB image, record for annotations.json).

    A background picture (``label`` None) shows a made-up foreign note with probability ``foreign_share``;
    its outline goes into the record as ``foreign_quad``/``foreign_box`` (``box`` stays None: no note of ours).
    """
    img = _background(rng, S, S, pool)
    rec: dict = {"quad": None, "box": None}
    if label is None and foreign is not None and foreign_share > 0 and rng.random() < foreign_share:
        pasted = _paste_note(img, rng, *foreign.note(rng))
        rec["foreign_quad"], rec["foreign_box"] = pasted["quad"], pasted["box"]
    elif label is not None:
        rec = _paste_note(img, rng, *notes.note(label, rng, index))
    return _camera(img, rng), rec


def _paste_note(img: np.ndarray, rng: np.random.Generator, note: np.ndarray, alpha: np.ndarray | None, face: str) -> dict:
    """Fold, place, shadow and maybe half-cover one note in ``img`` (in place); returns where it went."""
    S = img.shape[0]
    note, alpha, fold = _fold(rng, note, alpha)
    h, w = note.shape[:2]
    quad = _place(rng, S, w, h)
    if rng.random() < 0.55:
        _drop_shadow(img, quad, rng)
    outline = _composite_note(img, rng, note, alpha, fold, quad)
    occluded = rng.random() < 0.35
    if occluded:
        H = cv2.getPerspectiveTransform(_rect(w, h), outline)
        _draw_hand_shape(img, _map_parts(_hand_on_note(rng, w, h), H), _skin(rng))
    x0, y0 = np.clip(outline.min(axis=0), 0, S)
    x1, y1 = np.clip(outline.max(axis=0), 0, S)
    rec = {
        "quad": [[round(float(x), 2), round(float(y), 2)] for x, y in outline],
        "box": [round(float(x0), 2), round(float(y0), 2), round(float(x1), 2), round(float(y1), 2)],
        "face": face, "fold": fold, "occluded": occluded,
        "visible": round(_inside_fraction(outline, S, S), 3),
    }
    return rec


# --------------------------------------------------------------------------------------------
# the data set


def _check_size(per_class, size) -> None:
    if not isinstance(per_class, (int, np.integer)) or isinstance(per_class, bool) or per_class < 1:
        raise EdgetlError(f"per_class must be a whole number >= 1 (got {per_class!r})")
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 32 or size > 4096:
        raise EdgetlError(f"size must be a whole number of pixels from 32 to 4096 (got {size!r})")


def _labels(denominations) -> list[str]:
    from edgetl.data.folders import natural_key

    if denominations is None or isinstance(denominations, (str, bytes)) and not denominations:
        raise EdgetlError("no denominations given (e.g. 10,20,50,100,200,500)")
    if isinstance(denominations, str):
        denominations = [d for d in denominations.split(",") if d.strip()]
    elif isinstance(denominations, (int, np.integer)):
        denominations = [denominations]
    names = [str(d).strip() for d in denominations]
    if not names:
        raise EdgetlError("no denominations given (e.g. 10,20,50,100,200,500)")
    for n in names:
        if not n or n.startswith(".") or any(c in n for c in "/\\:") or n == BACKGROUND_LABEL:
            raise EdgetlError(f"not a usable denomination / class name: {n!r}")
    if len(set(names)) != len(names):
        raise EdgetlError(f"denominations repeat: {', '.join(names)}")
    return sorted(names, key=natural_key)


def _source_roots(source) -> list[Path]:
    """``source`` as a list of class-folder roots: one path, or several whose same-named classes merge."""
    return [Path(source)] if isinstance(source, (str, Path)) else [Path(p) for p in source]


def _source_text(source) -> str | None:
    return None if source is None else ", ".join(str(p) for p in _source_roots(source))


def _source_notes(source, width: int, seed: int):
    """Class folders of real note photos; a 'background' folder in them becomes scene material."""
    from edgetl.data.folders import scan

    roots = _source_roots(source)
    src = _source_text(source)
    data = scan(roots, min_classes=1)
    per_class: dict[str, list[Path]] = {c: [] for c in data.classes}
    for s in data.samples:
        per_class[data.classes[s.label]].append(s.path)
    scenes = per_class.pop(BACKGROUND_LABEL, [])
    if not per_class:
        raise EdgetlError(f"{src} has only a '{BACKGROUND_LABEL}' folder; it needs one folder of note photos per class")
    return _PhotoNotes(per_class, width, seed), scenes


def _scene_paths(backgrounds) -> list[Path]:
    from edgetl.data.folders import list_images

    root = Path(backgrounds)
    if not root.exists():
        raise EdgetlError(f"background folder not found: {root}")
    if not root.is_dir():
        raise EdgetlError(f"not a folder: {root} (expected scene photos to use as backgrounds)")
    paths = list_images(root)
    if not paths:
        raise EdgetlError(f"{root} has no images to use as backgrounds")
    return paths


def _prepare_out(out: Path, source) -> None:
    if out.exists() and not out.is_dir():
        raise EdgetlError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / ANNOTATIONS).is_file():
        raise EdgetlError(f"{out} is not empty and is not an earlier `edgetl synth` output; choose a new folder")
    for root in _source_roots(source) if source is not None else []:
        src, dst = root.resolve(), out.resolve()
        if dst == src or src in dst.parents:
            raise EdgetlError(f"output folder {out} must not be inside the source folder {root}")


def _notes_and_scenes(source, denominations, backgrounds, note_width: int, seed: int):
    """The notes to paste (real photos from ``source`` or drawn ones) and the scene photos to paste them on."""
    from edgetl.data.folders import natural_key

    scene_paths: list[Path] = []
    if source is not None:
        notes, scene_paths = _source_notes(source, note_width, seed)
        labels = sorted(notes.labels, key=natural_key)
    else:
        labels = _labels(denominations)
        notes = _DrawnNotes(labels, note_width)
    if backgrounds is not None:
        scene_paths = _scene_paths(backgrounds) + scene_paths
    return notes, labels, scene_paths


def make_dataset(out, per_class: int = 60, size: int = 224, seed: int = 0, denominations=DEFAULT_DENOMINATIONS,
                 background: bool = True, source=None, backgrounds=None, foreign_notes: float = 0.3,
                 progress: bool = True, background_only: bool = False) -> dict:
    """Write ``per_class`` photo-like images per class into ``out/<class>/<class>_NNNN.jpg``.

    Classes are the denominations (or, with ``source``, the class folders of that data set) plus
    ``background`` (scenes with no note) unless ``background=False``; that share ``foreign_notes`` of the
    background images shows a note of a made-up currency, which must stay silent. ``out/annotations.json`` gives
    every image's note quadrilateral and box in output pixels (null for background images).
    ``background_only`` writes just the ``background`` class: the "no note" folder to put beside real photos.
    Images are written into a hidden folder beside ``out`` and moved into place at the end, so an
    interrupted run leaves nothing half-written; an earlier synth output at ``out`` is replaced.
    Returns {"out", "classes", "counts", "seconds", "annotations"}.
    """
    from edgetl.data.folders import natural_key
    from edgetl.progress import track

    started = time.perf_counter()
    _check_size(per_class, size)
    if not 0.0 <= float(foreign_notes) <= 1.0:
        raise EdgetlError(f"foreign_notes is a share of the background images, from 0 to 1 (got {foreign_notes})")
    per_class, size, seed = int(per_class), int(size), int(seed)
    out = Path(out)
    _prepare_out(out, source)
    note_width = int(np.clip(round(size * 1.5), 160, _HI_WIDTH))
    notes, labels, scene_paths = _notes_and_scenes(source, denominations, backgrounds, note_width, seed)
    pool = _ImagePool(scene_paths, max_side=max(2 * size, 320)) if scene_paths else None
    if background_only:
        labels, background = [], True
    classes = sorted(labels + ([BACKGROUND_LABEL] if background else []), key=natural_key)
    jobs = [(c, i) for c in classes for i in range(per_class)]
    foreign = _ForeignNotes(note_width)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.synth-", dir=out.parent))
    try:
        tmp.chmod(0o777 & ~current_umask())  # mkdtemp makes it private; the data set is an ordinary folder
        for c in classes:
            (tmp / c).mkdir()
        items = []
        for c, i in track(jobs, "synthesising", total=len(jobs)) if progress else jobs:
            rng = np.random.default_rng([seed, _key(c), i])
            rgb, rec = _photo(rng, size, None if c == BACKGROUND_LABEL else c, notes, pool, i, foreign, float(foreign_notes))
            rel = f"{c}/{c}_{i:04d}.jpg"
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
            if not ok:
                raise EdgetlError(f"could not encode {rel} as JPEG")
            (tmp / rel).write_bytes(buf.tobytes())
            items.append({"path": rel, "label": c, **rec})
        doc = {
            "format": "edgetl-synth/1", "seed": seed, "size": size, "classes": classes,
            "background_label": BACKGROUND_LABEL if background else None,
            "source": _source_text(source),
            "backgrounds": None if backgrounds is None else str(backgrounds),
            "foreign_notes": float(foreign_notes) if background else 0.0,
            "coordinates": "output pixels, x right, y down; quad = the note's 4 corners in order around it; box = [x0, y0, x1, y1] clipped to the image",
            "images": items,
        }
        (tmp / ANNOTATIONS).write_text(json.dumps(doc, indent=1) + "\n")
        _swap_into_place(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {
        "out": str(out), "classes": classes, "counts": {c: per_class for c in classes},
        "seconds": round(time.perf_counter() - started, 3), "annotations": str(out / ANNOTATIONS),
    }


def _swap_into_place(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / "x")
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# the test video


@dataclass
class _Shown:
    label: str
    note: np.ndarray
    alpha: np.ndarray | None
    f_enter: int  # first frame the note is drawn
    f_hold: int  # first frame at its resting pose
    f_leave: int  # last frame at its resting pose
    f_gone: int  # last frame the note is drawn
    enter: str  # 'slide-left' ... | 'grow' | 'cut'
    leave: str  # 'slide-...' | 'shrink' | 'cut'
    cx: float
    cy: float
    long_side: float
    angle: float
    tilt: np.ndarray
    shake: np.ndarray
    hand: list[np.ndarray] | None
    skin: tuple[np.ndarray, np.ndarray]
    light: float


_MINS = {"lead": 0.5, "enter": 0.4, "hold": 2.0, "leave": 0.4, "gap": 2.0, "tail": 0.3}
_RANGES = {"lead": (0.8, 1.6), "enter": (0.4, 0.8), "hold": (2.0, 4.0), "leave": (0.4, 0.8), "gap": (2.0, 3.5), "tail": (0.5, 1.2)}


def _plan(rng: np.random.Generator, labels: list[str], seconds: float) -> tuple[list[str], list[dict]]:
    """Which notes appear in what order, and how long each phase lasts (in seconds).

    Every label appears at least once; later notes repeat labels, never twice in a row. Between two
    notes the user either swaps one note directly for the next or takes it away (background >= 2 s).
    """
    mean = {k: (a + b) / 2 for k, (a, b) in _RANGES.items()}
    order = [str(x) for x in rng.permutation(labels)]

    def expected(n: int) -> float:
        return mean["lead"] + mean["tail"] + n * (mean["enter"] + mean["hold"]) + (n - 1) * 0.6 * (mean["leave"] + mean["gap"]) + mean["leave"]

    while expected(len(order) + 1) <= seconds:
        choices = [x for x in labels if x != order[-1]] or labels
        order.append(str(choices[int(rng.integers(len(choices)))]))
    trans = ["swap" if rng.random() < 0.4 else "gap" for _ in range(len(order) - 1)]
    if len(trans) >= 1 and "gap" not in trans:
        trans[int(rng.integers(len(trans)))] = "gap"
    if len(trans) >= 2 and "swap" not in trans:
        trans[int(rng.integers(len(trans)))] = "swap"

    def phases(order, trans, pick):
        ph = [{"lead": pick("lead")}]
        for k in range(len(order)):
            p = {"enter": pick("enter") if k == 0 or trans[k - 1] == "gap" else 0.0, "hold": pick("hold")}
            if k == len(order) - 1 or trans[k] == "gap":
                p["leave"] = pick("leave")
                p["gap"] = pick("gap") if k < len(order) - 1 else 0.0
            else:
                p["leave"], p["gap"] = 0.0, 0.0
            ph.append(p)
        ph.append({"tail": pick("tail")})
        return ph

    def total(ph):
        return sum(v for p in ph for v in p.values())

    while True:
        minimal = phases(order, trans, lambda k: _MINS[k])
        if total(minimal) <= seconds:
            break
        if len(order) > len(labels):
            order.pop()
            trans.pop()
        elif trans.count("gap") > 1:
            trans[trans.index("gap", trans.index("gap") + 1)] = "swap"
        else:
            raise EdgetlError(f"a {seconds:g} s video is too short to show {len(labels)} notes; use at least {math.ceil(total(minimal))} s")
    sampled = phases(order, trans, lambda k: float(rng.uniform(*_RANGES[k])))
    t_min, t_s = total(minimal), total(sampled)
    if t_s > seconds:  # squeeze the flexible part of every phase
        f = (seconds - t_min) / (t_s - t_min)
        sampled = [{k: (mn[k] + (sp[k] - mn[k]) * f if sp[k] > 0 else 0.0) for k in sp} for sp, mn in zip(sampled, minimal)]
    else:  # spread the slack over the gaps and the tail
        spare = seconds - t_s
        slots = [p for p in sampled if p.get("gap", 0) > 0] + [sampled[-1]]
        for p in slots:
            p["gap" if "gap" in p else "tail"] += spare / len(slots)
    return order, sampled


def _ease(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return 1 - (1 - u) ** 3


def _video_pose(s: _Shown, i: int, fps: float, W: int, H: int) -> tuple[float, float, float, float]:
    """Centre, long side and angle of note ``s`` at frame ``i`` (entering, resting with shake, leaving)."""
    t = i / fps
    sx = s.shake
    dx = W * sx[0] * (math.sin(2 * math.pi * sx[1] * t + sx[2]) + 0.35 * math.sin(2 * math.pi * sx[3] * t + sx[4]))
    dy = H * sx[0] * (math.cos(2 * math.pi * sx[1] * 0.8 * t + sx[5]) + 0.35 * math.sin(2 * math.pi * sx[3] * 1.1 * t + sx[6]))
    da = sx[7] * math.sin(2 * math.pi * sx[1] * 0.6 * t + sx[8])
    cx, cy, ls, ang = s.cx + dx, s.cy + dy, s.long_side, s.angle + da
    if i < s.f_hold:
        u = _ease((i - s.f_enter + 1) / max(1, s.f_hold - s.f_enter + 1))
        kind = s.enter
    elif i > s.f_leave:
        v = min(1.0, (i - s.f_leave) / max(1, s.f_gone - s.f_leave))
        u = 1 - v * v  # accelerating away
        kind = s.leave
    else:
        return cx, cy, ls, ang
    far = 0.5 * math.hypot(s.long_side, s.long_side) + 4
    if kind == "grow" or kind == "shrink":
        return cx, cy + (1 - u) * 0.1 * H, ls * (0.08 + 0.92 * u), ang + (1 - u) * 0.4
    side = kind.split("-")[1]
    start = {"left": (-far, cy), "right": (W + far, cy), "top": (cx, -far), "bottom": (cx, H + far)}[side]
    return start[0] + (cx - start[0]) * u, start[1] + (cy - start[1]) * u, ls, ang + (1 - u) * 0.3


class _VideoScenes:
    """Backgrounds that pan slowly, cut to other scenes and change brightness; a passing object."""

    def __init__(self, rng: np.random.Generator, W: int, H: int, n_frames: int, fps: float, pool: _ImagePool | None):
        self.W, self.H = W, H
        self.cw, self.ch = int(W * 1.3), int(H * 1.3)
        self.cuts = [0]
        while True:
            nxt = self.cuts[-1] + int(rng.uniform(6, 12) * fps)
            if nxt >= n_frames:
                break
            self.cuts.append(nxt)
        self.scenes = [_background(rng, self.cw, self.ch, pool) if pool is not None else _clutter(rng, self.cw, self.ch)
                       for _ in self.cuts]
        self.pan = [rng.uniform(0, 2 * np.pi, 2).tolist() + rng.uniform(6, 14, 2).tolist() for _ in self.cuts]
        self.level = [float(rng.uniform(0.55, 1.1)) for _ in self.cuts]
        self.fps = fps
        self.movers = []
        for k in range(len(self.cuts)):
            if rng.random() < 0.6:
                start = self.cuts[k] + int(rng.uniform(0, 4) * fps)
                self.movers.append((start, int(rng.uniform(2, 5) * fps), rng.uniform(-0.2, 1.2, 2) * (W, H), rng.uniform(-0.2, 1.2, 2) * (W, H),
                                    rng.uniform(0.08, 0.25) * W, rng.random() < 0.5, _random_colour(rng), _free_hand(rng, 0, 0, 1.0), _skin(rng)))

    def frame(self, i: int) -> tuple[np.ndarray, float]:
        k = int(np.searchsorted(self.cuts, i, side="right") - 1)
        t = i / self.fps
        p = self.pan[k]
        ox = (self.cw - self.W) * (0.5 + 0.45 * math.sin(2 * math.pi * t / p[2] + p[0]))
        oy = (self.ch - self.H) * (0.5 + 0.45 * math.sin(2 * math.pi * t / p[3] + p[1]))
        img = self.scenes[k][int(oy):int(oy) + self.H, int(ox):int(ox) + self.W].copy()
        for start, dur, a, b, s, is_hand, colour, hand, skin in self.movers:
            if start <= i < start + dur:
                u = (i - start) / dur
                c = a + (b - a) * u
                if is_hand:
                    _draw_hand_shape(img, [c + q * s for q in hand], skin)
                else:
                    _fill(img, _ellipse_pts(c[0], c[1], s / 2, s / 3, angle=u * 2), colour)
        level = self.level[k] * (1 + 0.08 * math.sin(2 * math.pi * t / 5.0))
        return img, level


def _video_target(out, size) -> tuple[Path, int, int]:
    """Check make_video's output path and size; returns (path, width, height) with the size rounded down to even."""
    out = Path(out)
    if out.suffix.lower() != ".mp4":
        raise EdgetlError(f"video output must be an .mp4 file (got {out})")
    if out.is_dir():
        raise EdgetlError(f"{out} is a folder; give the video's file name (e.g. {out / 'clip.mp4'})")
    try:
        W, H = (int(v) for v in size)
    except (TypeError, ValueError):
        raise EdgetlError(f"video size must be (width, height) in pixels (got {size!r})") from None
    if W < 32 or H < 32 or W > 4096 or H > 4096:
        raise EdgetlError(f"video width and height must be 32 to 4096 px (got {W}x{H})")
    return out, W - W % 2, H - H % 2


def _draw_shown_note(frame: np.ndarray, s: _Shown, i: int, fps: float, W: int, H: int) -> bool:
    """Draw note ``s`` (and the hand holding it) into video frame ``i``; True when enough of it is in view
    for the frame to count towards its ground-truth segment."""
    nh, nw = s.note.shape[:2]
    cx, cy, ls, ang = _video_pose(s, i, fps, W, H)
    quad = _pose_quad(nw, nh, cx, cy, ls, ang, s.tilt)
    rest_area = abs(cv2.contourArea(_pose_quad(nw, nh, s.cx, s.cy, s.long_side, s.angle, s.tilt)))
    visible = _inside_fraction(quad, W, H, rest_area) >= VISIBLE_THRESHOLD
    note = s.note if s.light == 1.0 else cv2.convertScaleAbs(s.note, alpha=s.light)
    _warp_into(frame, note, s.alpha, quad)
    if s.hand is not None:
        Hm = cv2.getPerspectiveTransform(_rect(nw, nh), quad)
        _draw_hand_shape(frame, _map_parts(s.hand, Hm), s.skin)
    return visible


def make_video(out, seed: int = 0, size=(640, 480), fps: float = 30, seconds: float = 40.0,
               denominations=DEFAULT_DENOMINATIONS, source=None, backgrounds=None) -> dict:
    """Write a test clip (mp4v) of notes entering, resting with hand shake, swapping and leaving.

    Ground truth goes to ``out`` with suffix .json: {"fps", "frames", "width", "height", "classes",
    "segments": [{"label", "start_frame", "end_frame"}], "background_label", ...}. A segment runs
    from the first to the last frame (inclusive) in which the note is at least 60% of its resting
    size inside the frame; every other frame is background. Odd sizes are rounded down to even
    (what the encoder stores). Returns the ground-truth dict.
    """
    from edgetl.atomic import atomic_path, write_json
    from edgetl.data.folders import natural_key

    out, W, H = _video_target(out, size)
    if not (0 < float(fps) <= 240):
        raise EdgetlError(f"fps must be between 0 and 240 (got {fps})")
    if not (0 < float(seconds) <= 3600):
        raise EdgetlError(f"seconds must be between 0 and 3600 (got {seconds})")
    fps, seconds, seed = float(fps), float(seconds), int(seed)
    n_frames = max(1, int(round(seconds * fps)))
    note_width = int(np.clip(round(0.8 * W), 160, 640))
    notes, labels, scene_paths = _notes_and_scenes(source, denominations, backgrounds, note_width, seed)
    pool = _ImagePool(scene_paths, max_side=int(max(W, H) * 1.6)) if scene_paths else None

    rng = np.random.default_rng([seed, 0x56494445])
    order, phases = _plan(rng, labels, seconds)
    shown = _schedule(rng, order, phases, notes, fps, W, H)
    scenes = _VideoScenes(rng, W, H, n_frames, fps, pool)
    noise = [rng.normal(0, 1, (H, W, 1)).astype(np.float32) * 3.0 for _ in range(3)]
    noise_pos = [np.repeat(np.clip(n, 0, 255), 3, axis=2).astype(np.uint8) for n in noise]
    noise_neg = [np.repeat(np.clip(-n, 0, 255), 3, axis=2).astype(np.uint8) for n in noise]

    active = np.full(n_frames, -1, np.int64)
    for k, s in enumerate(shown):
        active[max(0, s.f_enter):min(n_frames, s.f_gone + 1)] = k
    visible_frames: dict[int, list[int]] = {k: [] for k in range(len(shown))}
    with atomic_path(out) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
        if not writer.isOpened():
            raise EdgetlError(f"OpenCV cannot write mp4v video to {out}")
        try:
            for i in range(n_frames):
                frame, level = scenes.frame(i)
                k = int(active[i])
                if k >= 0 and _draw_shown_note(frame, shown[k], i, fps, W, H):
                    visible_frames[k].append(i)
                frame = cv2.convertScaleAbs(frame, alpha=level)
                frame = cv2.subtract(cv2.add(frame, noise_pos[i % 3]), noise_neg[i % 3])
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
    segments = []
    for k, s in enumerate(shown):
        fr = visible_frames[k]
        if fr:
            segments.append({"label": s.label, "start_frame": int(fr[0]), "end_frame": int(fr[-1])})
    truth = {
        "fps": int(fps) if fps.is_integer() else fps, "frames": n_frames, "width": W, "height": H,
        "classes": sorted(labels + [BACKGROUND_LABEL], key=natural_key),
        "segments": segments, "background_label": BACKGROUND_LABEL,
        "end_frame_inclusive": True, "visible_threshold": VISIBLE_THRESHOLD, "seed": seed,
        "source": _source_text(source),
    }
    write_json(out.with_suffix(".json"), truth)
    return truth


def _schedule(rng: np.random.Generator, order: list[str], phases: list[dict], notes, fps: float, W: int, H: int) -> list[_Shown]:
    """Turn the plan into frame numbers and resting poses."""
    t = phases[0]["lead"]
    shown: list[_Shown] = []
    for label, p in zip(order, phases[1:-1]):
        f_enter = int(round(t * fps))
        t += p["enter"]
        f_hold = int(round(t * fps)) if p["enter"] > 0 else f_enter
        t += p["hold"]
        f_leave = int(round(t * fps)) - 1
        t += p["leave"]
        f_gone = int(round(t * fps)) - 1 if p["leave"] > 0 else f_leave
        t += p["gap"]
        note, alpha, _face = notes.note(label, rng)
        nh, nw = note.shape[:2]
        for attempt in range(30):
            long_side = min(W, H) * rng.uniform(0.75, 1.05) * (0.93 ** attempt) * (W / min(W, H)) ** 0.5
            angle = float(rng.uniform(0, 2 * np.pi)) if rng.random() < 0.4 else float(rng.normal(0, 0.25) + (np.pi if rng.random() < 0.25 else 0))
            tilt = rng.normal(0, 0.03, 8).astype(np.float32)
            cx, cy = W / 2 + rng.uniform(-0.1, 0.1) * W, H / 2 + rng.uniform(-0.1, 0.1) * H
            quad = _pose_quad(nw, nh, cx, cy, long_side * 1.08, angle, tilt)  # margin for the shake
            if cv2.isContourConvex(quad.reshape(-1, 1, 2)) and _inside_fraction(quad, W, H) >= 0.999:
                break
        prev = shown[-1] if shown else None
        enter = "cut" if p["enter"] == 0 else ("grow" if rng.random() < 0.3 else "slide-" + str(rng.choice(["left", "right", "top", "bottom"])))
        leave = "cut" if p["leave"] == 0 else ("shrink" if rng.random() < 0.25 else "slide-" + str(rng.choice(["left", "right", "top", "bottom"])))
        if prev is not None and enter == "cut":
            f_enter = f_hold = prev.f_gone + 1
        shake = np.array([rng.uniform(0.003, 0.01), rng.uniform(0.3, 1.0), rng.uniform(0, 6.3), rng.uniform(3, 7), rng.uniform(0, 6.3),
                          rng.uniform(0, 6.3), rng.uniform(0, 6.3), rng.uniform(0.01, 0.04), rng.uniform(0, 6.3)])
        hand = _hand_on_note(rng, nw, nh) if rng.random() < 0.7 else None
        # the note is pre-shrunk to about its on-screen size once, not every frame
        k = min(1.0, long_side * 1.1 / max(nw, nh))
        if k < 0.95:
            nw2, nh2 = max(2, int(round(nw * k))), max(2, int(round(nh * k)))
            note = cv2.resize(note, (nw2, nh2), interpolation=cv2.INTER_AREA)
            alpha = None if alpha is None else cv2.resize(alpha, (nw2, nh2), interpolation=cv2.INTER_AREA)
            if hand is not None:
                hand = [q * np.array([nw2 / nw, nh2 / nh], np.float32) for q in hand]
        shown.append(_Shown(label, note, alpha, f_enter, f_hold, f_leave, f_gone, enter, leave, float(cx), float(cy),
                            float(long_side), angle, tilt, shake, hand, _skin(rng), float(rng.uniform(0.8, 1.1))))
    return shown
