"""Turning whatever a user hands us (path, file bytes, PIL image, numpy array) into RGB uint8."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

# PIL refuses images above ~179 Mpx as "decompression bombs"; a 10000x10000 photo
# (100 Mpx) is a legitimate input, a 1-gigapixel one is not.
MAX_PIXELS = 120_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageError(ValueError):
    """An input that is not a usable image, with the reason."""


def to_rgb_array(image, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """RGB uint8 array (H, W, 3) from a path, an image file's bytes, a PIL image or a numpy array.

    Grayscale, RGBA/LA (alpha dropped onto black), palette and 16-bit inputs are converted;
    an EXIF orientation is applied, so a phone photo comes out upright. Images over
    ``max_pixels`` are refused.
    """
    if isinstance(image, (str, Path, bytes)):
        return to_rgb_array(open_image(image, max_pixels), max_pixels)
    if isinstance(image, Image.Image):
        _check_size(image.width, image.height, max_pixels)
        image = upright(image)
        if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            image = Image.fromarray(_to_uint8(np.asarray(image)))
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image, max_pixels)
    raise ImageError(f"expected a path, image bytes, PIL image or numpy array, got {type(image).__name__}")


def open_image(source: str | Path | bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """The decoded, upright image in a file (a path, or the file's bytes).

    The pixel count is checked from the header, before decoding: a small file can
    announce a huge picture.
    """
    if isinstance(source, bytes):
        prefix, fp = "", io.BytesIO(source)
        if not source:
            raise ImageError("image is empty (0 bytes)")
    else:
        fp = Path(source)
        prefix = f"{fp}: "
        if not fp.is_file():
            raise ImageError(f"{prefix}file not found")
        if fp.stat().st_size == 0:
            raise ImageError(f"{prefix}file is empty (0 bytes)")
    try:
        with Image.open(fp) as image:  # reads the header only
            _check_size(image.width, image.height, max_pixels)
            image.load()
            return upright(image)
    except ImageError as e:
        raise ImageError(f"{prefix}{e}") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"{prefix}{e}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        reason = str(e).replace(f" {fp!r}", "") if isinstance(fp, io.BytesIO) else e  # not the buffer's repr
        raise ImageError(f"{prefix}not a readable image ({reason})") from None


def upright(image: Image.Image) -> Image.Image:
    """``image`` turned as its EXIF orientation says (phones store the sensor's view plus
    that note; browsers honour it, so people expect us to)."""
    if image.getexif().get(ExifTags.Base.Orientation, 1) in range(2, 9):
        return ImageOps.exif_transpose(image)
    return image  # exif_transpose would copy an already upright image


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(f"image is {width}x{height}, more than {max_pixels} pixels")


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


def _array_to_rgb(a: np.ndarray, max_pixels: int) -> np.ndarray:
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or min(a.shape[:2]) < 1:
        raise ImageError(f"expected an image array (H, W[, 1|3|4]), got shape {a.shape}")
    _check_size(a.shape[1], a.shape[0], max_pixels)
    a = _to_uint8(a)
    if a.shape[2] in (2, 4):  # drop alpha onto black, as a viewer shows a transparent area
        alpha = a[:, :, -1:].astype(np.uint16)
        a = (a[:, :, :-1].astype(np.uint16) * alpha // 255).astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a)
