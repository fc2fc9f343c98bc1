"""Drawing faces: the 68-point contours as thin lines with the points on top, coloured by
region and sized to each face; optionally the face box, the point numbers and the head-pose axes."""
from __future__ import annotations

import cv2
import numpy as np

from ..core.scheme import CLOSED, NUM_POINTS
from ..core.scheme import REGIONS as PARTS

# colours (RGB) of the face's parts, by group
REGIONS = {
    "jaw": (range(0, 17), (255, 196, 0)),
    "brows": (range(17, 27), (255, 90, 90)),
    "nose": (range(27, 36), (80, 220, 120)),
    "eyes": (range(36, 48), (70, 170, 255)),
    "mouth": (range(48, 68), (235, 90, 235)),
}
POINT_COLORS = np.zeros((NUM_POINTS, 3), np.uint8)
for _indices, _color in REGIONS.values():
    POINT_COLORS[list(_indices)] = _color
AXIS_COLORS = ((230, 60, 60), (60, 200, 60), (60, 120, 255))  # x (to the image's right), y (up), z (out of the face)


def _pt(p) -> tuple[int, int]:
    return round(float(p[0])), round(float(p[1]))


def _box_of(points: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def draw_faces(
    image: np.ndarray,
    faces,
    show_box: bool = True,
    show_indices: bool = False,
    poses=None,
    first_index: int = 1,
    face_numbers: bool = False,
) -> np.ndarray:
    """A copy of the RGB image with each face drawn on it.

    The box drawn is the box of the points found (the face, chin included), not the
    detector's.  ``show_indices`` numbers the points from ``first_index`` (1: as the iBUG
    figures number them; 0: as arrays index them).  ``poses``: one ``HeadPose`` per face
    (or None) to draw its axes from the nose tip.  ``face_numbers``: each face's number
    (1, 2, ... in list order, as in the app's table and records) above its box.
    """
    out = np.ascontiguousarray(image.copy())
    for k, face in enumerate(faces):
        pts = np.asarray(face.points, np.float64)
        x, y, w, h = _box_of(pts)
        size = max(w, h, 1.0)
        radius = max(1, round(size / 120))
        thick = max(1, round(size / 250))
        if show_box:
            pad = 0.05 * size
            cv2.rectangle(out, _pt((x - pad, y - pad)), _pt((x + w + pad, y + h + pad)), (255, 255, 255), thick, cv2.LINE_AA)
        for name, idx in PARTS.items():
            line = np.round(pts[list(idx)]).astype(np.int32)
            color = tuple(int(c) for c in POINT_COLORS[idx.start])
            cv2.polylines(out, [line], name in CLOSED, color, thick, cv2.LINE_AA)
        for i, p in enumerate(pts):
            cv2.circle(out, _pt(p), radius, tuple(int(c) for c in POINT_COLORS[i]), -1, cv2.LINE_AA)
        if show_indices:
            _draw_numbers(out, pts, size, first_index)
        if poses is not None and k < len(poses) and poses[k] is not None:
            draw_axes(out, poses[k], size)
        if face_numbers:
            _label(out, str(k + 1), (x - 0.05 * size, y - 0.08 * size), max(0.6, size / 90))
    return out


def _label(out: np.ndarray, text: str, org, scale: float) -> None:
    """``text`` in white with a dark outline (readable on any skin or background), its
    bottom-left corner at ``org``, kept inside the picture."""
    thick = max(2, round(scale * 1.5))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x = int(np.clip(org[0], 0, max(0, out.shape[1] - tw)))
    y = int(np.clip(org[1], th, out.shape[0]))
    cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2 * max(1, thick // 2 + 1), cv2.LINE_AA)
    cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)


# Where the numbers of crowded parts go: around the part's centre on an ellipse with these
# half-axes, in units of the part's mean radius (eyes, outer lips) or of the outer lips'
# half-width and half-height (inner lips: above and below the mouth, clear of the outer
# ring); a thin leader line joins each number to its point.
_RINGS = {"right eye": (2.6, 2.6), "left eye": (2.6, 2.6), "outer lips": (1.5, 1.5), "inner lips": (0.75, 3.2)}


def _draw_numbers(out: np.ndarray, pts: np.ndarray, size: float, first: int) -> None:
    """Point numbers in white with a dark outline (readable on any skin or background):
    the jaw, brows and nose numbered beside their points, the eyes and lips on rings."""
    scale = max(0.28, size / 800)
    centre = pts.mean(axis=0)
    labels = np.array(pts, np.float64)
    for name, idx in PARTS.items():
        idx = list(idx)
        if name in _RINGS:
            ref = pts[list(PARTS["outer lips"])] if name == "inner lips" else pts[idx]
            c = ref.mean(axis=0)
            if name == "inner lips":
                unit = np.ptp(ref, axis=0) / 2
            else:
                unit = np.full(2, np.linalg.norm(ref - c, axis=1).mean())
            d = pts[idx] - c
            d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-6
            labels[idx] = c + d * unit * _RINGS[name]
        else:
            d = pts[idx] - centre
            labels[idx] = pts[idx] + d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-6) * size * 0.035
    for i, (p, q) in enumerate(zip(pts, labels)):
        text = str(i + first)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        if np.linalg.norm(q - p) > size * 0.05:
            cv2.line(out, _pt(p), _pt(q), (255, 255, 255), 1, cv2.LINE_AA)
        org = _pt(q - [tw / 2, -th / 2])
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def draw_axes(out: np.ndarray, pose, size: float) -> None:
    """The head's x, y and z axes from the nose tip, about half a face long."""
    ends = pose.axes(length=150.0)  # model units: the generic head is about 450 wide
    if not np.isfinite(ends).all():
        return
    thick = max(2, round(size / 120))
    origin = _pt(ends[0])
    for end, color in zip(ends[1:], AXIS_COLORS):
        cv2.arrowedLine(out, origin, _pt(end), color, thick, cv2.LINE_AA, tipLength=0.15)
