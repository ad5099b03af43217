"""Augmented views of a hand-held note: each one still shows the note, and each is reproducible."""

from __future__ import annotations

import numpy as np

from edgetl.train.augment import make_view


def _note_photo(size: int = 160) -> np.ndarray:
    """A saturated green 'note' over the middle 60 % of a grey-brown table."""
    img = np.full((size, size, 3), (120, 100, 90), np.uint8)
    lo, hi = int(size * 0.2), int(size * 0.8)
    img[lo:hi, lo:hi] = (40, 200, 60)
    return img


def _green_share(img: np.ndarray) -> float:
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return float(((g > r + 50) & (g > b + 50)).mean())


def test_every_augmented_view_keeps_the_note_in_the_frame():
    """A view without the note would teach the model to call an empty table '500'.

    Version 1 added the turn's own offset twice, so a note turned by ~180 degrees was moved a whole frame
    away and the view showed only stretched border pixels.
    """
    photo = _note_photo()
    original = _green_share(photo)
    shares = np.array([_green_share(make_view(photo, "note", v)) for v in range(1, 61)])
    assert np.median(shares) >= 0.6 * original, np.median(shares) / original
    assert (shares >= 0.2 * original).mean() >= 0.95, np.sort(shares)[:5] / original


def test_views_are_reproducible_and_view_zero_is_the_photo():
    photo = _note_photo()
    assert make_view(photo, "abc", 0) is photo
    a, b = make_view(photo, "abc", 3), make_view(photo, "abc", 3)
    assert np.array_equal(a, b) and a.shape == photo.shape and a.dtype == np.uint8
    assert not np.array_equal(a, make_view(photo, "abd", 3))  # another image content, another view
