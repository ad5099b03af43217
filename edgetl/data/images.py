"""Read any photo a user has into RGB uint8, whatever its mode, bit depth or EXIF orientation."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from edgetl.errors import EdgetlError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})

# Decompression bombs are a real risk in user folders; 64 Mpx is far above any phone photo.
Image.MAX_IMAGE_PIXELS = 64_000_000


class UnreadableImage(EdgetlError):
    """An image file that cannot be decoded (corrupt, truncated, empty, not an image)."""


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit / 32-bit greyscale: stretch the actual range to 8 bits instead of clipping to white.
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        arr = ((arr - lo) * scale).clip(0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Composite transparent pixels onto neutral grey: white or black would read as paper or shadow.
        rgba = img.convert("RGBA")
        grey = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        return Image.alpha_composite(grey, rgba).convert("RGB")
    if mode != "RGB":
        return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, RGBX ...
    return img


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode ``path`` to an HxWx3 uint8 RGB array, upright as the camera saw it.

    Raises UnreadableImage (one line, naming the file) instead of letting PIL tracebacks escape.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise UnreadableImage(f"{path}: empty file")
        with Image.open(path) as img:
            img.load()  # force a full decode so truncated files fail here, not later
            img = ImageOps.exif_transpose(img)
            rgb = _to_rgb(img)
            arr = np.asarray(rgb, dtype=np.uint8)
    except UnreadableImage:
        raise
    except FileNotFoundError:
        raise UnreadableImage(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnreadableImage(f"{path}: cannot decode image ({reason})") from None
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise UnreadableImage(f"{path}: image has no pixels")
    return np.ascontiguousarray(arr)


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Squash the whole image to size x size, keeping every part of the note in view.

    Training uses the whole photo (tightly cropped scans would lose their numerals to a centre crop);
    aspect-ratio jitter in augmentation covers the runtime's square camera crop.
    """
    import cv2

    h, w = rgb.shape[:2]
    interp = cv2.INTER_AREA if (h > size or w > size) else cv2.INTER_LINEAR
    return cv2.resize(rgb, (size, size), interpolation=interp)


def load_square(path: str | Path, size: int) -> np.ndarray:
    return resize_square(read_rgb(path), size)


def load_squares(paths: Sequence[str | Path], sizes: Sequence[int],
                 on_unreadable: Callable[[Path, UnreadableImage], None] | None = None) -> tuple[dict[int, np.ndarray], list[int]]:
    """The batch loader: every readable image of ``paths`` squashed to each of ``sizes``, decoded once.

    Returns {size: N x size x size x 3 uint8} and the indices into ``paths`` that were read; an unreadable
    file is skipped (and passed to ``on_unreadable``), so one bad photo never stops a whole split.
    """
    squares: dict[int, list[np.ndarray]] = {s: [] for s in sizes}
    kept: list[int] = []
    for i, path in enumerate(paths):
        try:
            rgb = read_rgb(path)
        except UnreadableImage as exc:
            if on_unreadable is not None:
                on_unreadable(Path(path), exc)
            continue
        for s in sizes:
            squares[s].append(resize_square(rgb, s))
        kept.append(i)
    return {s: np.stack(v) if v else np.zeros((0, s, s, 3), np.uint8) for s, v in squares.items()}, kept


def load_square_batch(paths: Sequence[str | Path], size: int,
                      on_unreadable: Callable[[Path, UnreadableImage], None] | None = None) -> tuple[np.ndarray, list[int]]:
    """``load_squares`` at one size: (N x size x size x 3 uint8, indices of the paths read)."""
    batches, kept = load_squares(paths, (size,), on_unreadable)
    return batches[size], kept
