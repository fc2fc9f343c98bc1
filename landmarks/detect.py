"""Face detection with the Haar cascade that ships with OpenCV."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# longest image side the detector sees: large photos are shrunk for detection only
DETECT_MAX_SIDE = 1280

# Haar box -> tight landmark box, the box models are trained on: centre offset (x, y) and
# size (w, h) in units of the Haar box width; medians over the training split, measured
# by benchmarks/haar_calibration.py.
HAAR_TO_LANDMARK_BOX = (0.003, 0.148, 0.899, 0.882)


@dataclass
class HaarDetector:
    min_face: int = 40  # pixels, in the original image
    scale_factor: float = 1.1
    min_neighbors: int = 5
    cascade: str = "haarcascade_frontalface_default.xml"

    def __post_init__(self):
        path = Path(cv2.data.haarcascades) / self.cascade
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise RuntimeError(f"cannot load Haar cascade {path}; opencv-python-headless 5.x ships none (pin <5)")

    def __call__(self, rgb: np.ndarray, min_face: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4) as x, y, w, h in image pixels and their detector scores (N,)."""
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, DETECT_MAX_SIDE / max(gray.shape))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        min_size = max(int((min_face or self.min_face) * scale), 20)
        boxes, _, weights = self._cascade.detectMultiScale3(
            gray, self.scale_factor, self.min_neighbors, minSize=(min_size, min_size), outputRejectLevels=True
        )
        if len(boxes) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        boxes = np.asarray(boxes, np.float32) / scale
        weights = np.asarray(weights, np.float32).reshape(-1)
        order = np.argsort(-boxes[:, 2] * boxes[:, 3])  # largest face first
        return boxes[order], weights[order]


def iou(a, b) -> float:
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    iw = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    ih = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter + 1e-9)


def match_detections(gt_boxes, det_boxes, min_iou: float = 0.3) -> list[int | None]:
    """For each ground-truth face, the index of its best detection (IoU >= min_iou), each used once."""
    used, out = set(), []
    for g in gt_boxes:
        ious = [(iou(g, d), j) for j, d in enumerate(det_boxes) if j not in used]
        best = max(ious, default=(0.0, None))
        if best[0] >= min_iou:
            used.add(best[1])
            out.append(best[1])
        else:
            out.append(None)
    return out


def to_landmark_boxes(boxes: np.ndarray, calibration=HAAR_TO_LANDMARK_BOX) -> np.ndarray:
    """Detector boxes (N, 4) -> the landmark boxes they most likely hold."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    ox, oy, sw, sh = calibration
    side = boxes[:, 2]
    cx = boxes[:, 0] + boxes[:, 2] / 2 + ox * side
    cy = boxes[:, 1] + boxes[:, 3] / 2 + oy * side
    w, h = sw * side, sh * side
    return np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
