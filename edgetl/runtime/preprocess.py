"""Camera frame -> model input: centre square (or ROI), resize, BGR->RGB, in as few passes as possible.

Runs per frame on a Pi, so it crops by slicing (a view, no copy), resizes straight into a preallocated
buffer, converts colour in place, and works out the crop and resize method once per frame size.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgetl.errors import EdgetlError


def parse_roi(text: str | None) -> tuple[float, float, float, float] | None:
    """'x,y,w,h' as fractions of the frame (0-1) or pixels (>1)."""
    if not text:
        return None
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise EdgetlError(f"--roi must be x,y,w,h (got {text!r})") from None
    if w <= 0 or h <= 0:
        raise EdgetlError(f"--roi width and height must be positive (got {text!r})")
    return x, y, w, h


# How much of the crop's side the resize may trim to make it an exact multiple of the model's size. An exact
# k x k box average (OpenCV's INTER_AREA fast path) is both the cheapest resize and the best-filtered one:
# VGA's 480 px square -> 448 px -> 224 px loses 16 px a side and halves the pre-processing time.
MAX_TRIM = 0.10


class Preprocessor:
    def __init__(self, size: int, roi: tuple[float, float, float, float] | None = None, out: np.ndarray | None = None):
        """``out``: where to write each result, e.g. a uint8 model's input buffer (then nothing is copied)."""
        self.size = size
        self.roi = roi
        if out is not None and (out.shape != (size, size, 3) or out.dtype != np.uint8 or not out.flags.c_contiguous):
            raise ValueError(f"out must be a contiguous {size}x{size}x3 uint8 array")
        self.out = out if out is not None else np.empty((size, size, 3), np.uint8)
        self._plans: dict[tuple[int, int], tuple[slice, slice, list[np.ndarray], int]] = {}

    def _region_bounds(self, h: int, w: int) -> tuple[slice, slice]:
        if self.roi is None:
            side = min(h, w)
            y, x = (h - side) // 2, (w - side) // 2
            return slice(y, y + side), slice(x, x + side)
        x, y, rw, rh = self.roi
        if max(x, y, rw, rh) <= 1.0:
            x, y, rw, rh = x * w, y * h, rw * w, rh * h
        x0, y0 = int(max(0, x)), int(max(0, y))
        x1, y1 = int(min(w, x + rw)), int(min(h, y + rh))
        if x1 <= x0 or y1 <= y0:
            raise EdgetlError(f"--roi lies outside the {w}x{h} frame")
        return slice(y0, y1), slice(x0, x1)

    def plan(self, h: int, w: int) -> tuple[slice, slice, list[np.ndarray], int]:
        """(rows, cols, pyramid buffers, interpolation) for an h x w frame; worked out once per frame size."""
        plan = self._plans.get((h, w))
        if plan is None:
            rows, cols = self._region_bounds(h, w)
            rows, cols, exact = self._trim(rows), self._trim(cols), True
            if rows is None or cols is None:
                rows, cols = self._region_bounds(h, w)
                exact = False
            pyramid: list[np.ndarray] = []
            if not exact:
                # No exact multiple nearby: halve with a Gaussian pyramid (into buffers kept for the next
                # frame) until bilinear no longer aliases (< 3x); INTER_AREA at an odd ratio costs ~10x more.
                ch, cw = rows.stop - rows.start, cols.stop - cols.start
                while min(ch, cw) >= 3 * self.size:
                    ch, cw = (ch + 1) // 2, (cw + 1) // 2
                    pyramid.append(np.empty((ch, cw, 3), np.uint8))
            plan = rows, cols, pyramid, cv2.INTER_AREA if exact else cv2.INTER_LINEAR
            self._plans[(h, w)] = plan
        return plan

    def _trim(self, span: slice) -> slice | None:
        """``span`` shrunk about its centre to a multiple of the model size, or None when that cuts > MAX_TRIM."""
        length = span.stop - span.start
        k = length // self.size
        if k < 1 or length - k * self.size > MAX_TRIM * length:
            return None
        start = span.start + (length - k * self.size) // 2
        return slice(start, start + k * self.size)

    def __call__(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Return the RGB model input (a reused buffer: valid until the next call)."""
        rows, cols, pyramid, interpolation = self.plan(frame_bgr.shape[0], frame_bgr.shape[1])
        crop = frame_bgr[rows, cols]
        for level in pyramid:
            crop = cv2.pyrDown(crop, dst=level, dstsize=(level.shape[1], level.shape[0]))
        cv2.resize(crop, (self.size, self.size), dst=self.out, interpolation=interpolation)
        cv2.cvtColor(self.out, cv2.COLOR_BGR2RGB, dst=self.out)
        return self.out
