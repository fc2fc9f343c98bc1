"""Turning whatever a user hands us (path, PIL image, numpy array) into RGB uint8."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

# PIL refuses images above ~179 Mpx as "decompression bombs"; a 10000x10000 photo
# (100 Mpx) is a legitimate input, a 1-gigapixel one is not.
MAX_PIXELS = 120_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageError(ValueError):
    """An input that is not a usable image, with the reason."""


def to_rgb_array(image) -> np.ndarray:
    """RGB uint8 array (H, W, 3) from a path, a PIL image or a numpy array.

    Grayscale, RGBA/LA (alpha dropped onto black), palette and 16-bit inputs are converted.
    """
    if isinstance(image, (str, Path)):
        return to_rgb_array(open_image(image))
    if isinstance(image, Image.Image):
        if image.width * image.height > MAX_PIXELS:
            raise ImageError(f"image is {image.width}x{image.height}, more than {MAX_PIXELS} pixels")
        if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            image = Image.fromarray(_to_uint8(np.asarray(image)))
        return np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image)
    raise ImageError(f"expected a path, PIL image or numpy array, got {type(image).__name__}")


def open_image(path: str | Path) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: file is empty (0 bytes)")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ImageError(f"{path}: not a readable image ({e})") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: {e}") from None
    return image


def _to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        a = np.nan_to_num(a)
        # floats in [0, 1] are the usual convention; anything larger is 0..255
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        return np.clip(a * scale, 0, 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        top = 65535 if a.max(initial=0) > 255 else 255
        return (np.clip(a, 0, top) * (255.0 / top)).astype(np.uint8)
    raise ImageError(f"unsupported pixel type {a.dtype}")


def _array_to_rgb(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or min(a.shape[:2]) < 1:
        raise ImageError(f"expected an image array (H, W[, 1|3|4]), got shape {a.shape}")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise ImageError(f"image is {a.shape[1]}x{a.shape[0]}, more than {MAX_PIXELS} pixels")
    a = _to_uint8(a)
    if a.shape[2] in (2, 4):  # drop alpha onto black, as a viewer shows a transparent area
        alpha = a[:, :, -1:].astype(np.uint16)
        a = (a[:, :, :-1].astype(np.uint16) * alpha // 255).astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a)
