"""Face-crop geometry shared by training, evaluation and inference.

Boxes: the public convention is (x, y, w, h), top-left corner and size in image pixels,
as ``Face.box``, ``LabelledFace.box`` and detectors give them.  Crop regions and the
training augmentation work on centred boxes (cx, cy, w, h): ``to_centred`` and
``from_centred`` convert, on numpy arrays and torch tensors alike.

A crop *region* is (cx, cy, sw, sh): a rectangle centred on (cx, cy) in image
pixel-index coordinates (pixel centres at integers), sw x sh pixels large.  The
network sees it resized to S x S and predicts each point as its offset from the
centre in units of the region size, ``t = (p - c) / (sw, sh)`` -- the tutorial's
targets in [-0.5, 0.5].  Output pixel u (0..S-1) samples image position
``x = cx + ((u + 0.5) / S - 0.5) * sw``.
"""
from __future__ import annotations

import cv2
import numpy as np


def landmark_box(points: np.ndarray) -> tuple[float, float, float, float]:
    """Tight box (x, y, w, h) around (68, 2) points: the box papers evaluate with."""
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def to_centred(boxes):
    """(..., 4) boxes x, y, w, h -> cx, cy, w, h."""
    return _join(boxes[..., :2] + boxes[..., 2:] / 2, boxes[..., 2:])


def from_centred(boxes):
    """(..., 4) boxes cx, cy, w, h -> x, y, w, h."""
    return _join(boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., 2:])


def _join(a, b):
    if isinstance(a, np.ndarray):
        return np.concatenate([a, b], axis=-1)
    import torch  # only when given tensors (training): inference stays numpy

    return torch.cat([a, b], dim=-1)


def region_from_box(box, margin: float, square: bool) -> tuple[float, float, float, float]:
    """Crop region for a face box (x, y, w, h): grown by ``1 + margin``, squared if asked."""
    cx, cy, w, h = (float(v) for v in to_centred(np.asarray(box, np.float64)))
    if square:
        w = h = max(w, h)
    return cx, cy, w * (1 + margin), h * (1 + margin)


def region_to_matrix(region, size: int) -> np.ndarray:
    """2x3 matrix mapping output pixel (u, v) to image pixel (x, y)."""
    cx, cy, sw, sh = region
    ax, ay = sw / size, sh / size
    return np.array([[ax, 0, cx + 0.5 * ax - sw / 2], [0, ay, cy + 0.5 * ay - sh / 2]], dtype=np.float64)


def crop(image: np.ndarray, region, size: int) -> np.ndarray:
    """Resample ``region`` of ``image`` to size x size (bilinear, black outside).

    Regions much larger than the output are first shrunk with area averaging so a
    face in a 10000-px photo is not aliased into noise.
    """
    cx, cy, sw, sh = region
    shrink = int(min(sw, sh) / size / 1.5)
    if shrink >= 2:
        # cut a padded window around the region, average it down by an integer factor
        x0, y0 = int(np.floor(cx - sw / 2)) - shrink, int(np.floor(cy - sh / 2)) - shrink
        x1, y1 = int(np.ceil(cx + sw / 2)) + shrink, int(np.ceil(cy + sh / 2)) + shrink
        h, w = image.shape[:2]
        window = image[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
        if window.size == 0:
            return np.zeros((size, size) + image.shape[2:], image.dtype)
        ox, oy = max(x0, 0), max(y0, 0)
        small = cv2.resize(
            window, (max(window.shape[1] // shrink, 1), max(window.shape[0] // shrink, 1)), interpolation=cv2.INTER_AREA
        )
        fx, fy = window.shape[1] / small.shape[1], window.shape[0] / small.shape[0]
        # the same region in the shrunk window's pixel coordinates
        region = ((cx - ox + 0.5) / fx - 0.5, (cy - oy + 0.5) / fy - 0.5, sw / fx, sh / fy)
        image = small
    m = region_to_matrix(region, size)
    return cv2.warpAffine(
        image, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def to_targets(points: np.ndarray, region) -> np.ndarray:
    cx, cy, sw, sh = region
    return (points - np.array([cx, cy])) / np.array([sw, sh])


def from_targets(targets: np.ndarray, region) -> np.ndarray:
    """Network outputs (..., 68, 2) back to image pixels."""
    cx, cy, sw, sh = region
    return targets * np.array([sw, sh]) + np.array([cx, cy])
