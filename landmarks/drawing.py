"""Drawing faces: points coloured by region, optional boxes and indices, sized to each face."""
from __future__ import annotations

import cv2
import numpy as np

# iBUG 68-point regions and their colours (RGB)
REGIONS = {
    "jaw": (range(0, 17), (255, 196, 0)),
    "brows": (range(17, 27), (255, 90, 90)),
    "nose": (range(27, 36), (80, 220, 120)),
    "eyes": (range(36, 48), (70, 170, 255)),
    "mouth": (range(48, 68), (235, 90, 235)),
}
POINT_COLORS = np.zeros((68, 3), np.uint8)
for _indices, _color in REGIONS.values():
    POINT_COLORS[list(_indices)] = _color


def draw_faces(image: np.ndarray, faces, show_box: bool = True, show_indices: bool = False) -> np.ndarray:
    """A copy of the RGB image with each face's points (and box, indices) drawn on it."""
    out = np.ascontiguousarray(image.copy())
    for face in faces:
        x, y, w, h = (float(v) for v in face.box)
        size = max(w, h)
        radius = max(1, round(size / 110))
        thick = max(1, round(size / 200))
        if show_box:
            cv2.rectangle(out, (round(x), round(y)), (round(x + w), round(y + h)), (255, 255, 255), thick, cv2.LINE_AA)
        for i, (px, py) in enumerate(face.points):
            color = tuple(int(c) for c in POINT_COLORS[i])
            cv2.circle(out, (round(float(px)), round(float(py))), radius, color, -1, cv2.LINE_AA)
            if show_indices:
                scale = max(0.25, size / 900)
                cv2.putText(out, str(i), (round(float(px)) + radius, round(float(py)) - radius),
                            cv2.FONT_HERSHEY_SIMPLEX, scale, color, max(1, thick // 2), cv2.LINE_AA)
    return out
