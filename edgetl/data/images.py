"""Read any photo a user has into RGB uint8, whatever its mode, bit depth or EXIF orientation."""

from __future__ import annotations

import hashlib
from pathlib import Path

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


def file_sha256(path: str | Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:  # unreadable (a symlink loop, no permission): a key of its own; decoding it reports the path
        return hashlib.sha256(f"unreadable:{path}".encode()).hexdigest()


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
