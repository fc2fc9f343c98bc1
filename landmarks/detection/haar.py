"""The Haar cascades that ship with OpenCV.

``FastDetector``: the frontal cascade on an image shrunk
so the smallest face asked for just fills the cascade's 24-px window, with a coarse
pyramid (scale step 1.2) and a permissive vote (one neighbour), plus two passes on a
three-quarter-size copy rotated by +-20 degrees for tilted heads.  It proposes more boxes than the
seed's cascade; the landmark network, which runs on every box anyway, is the judge: its
face score drops the false ones (``FaceLandmarker.min_score``) and duplicates are merged
on the landmark boxes the network found.  ``HaarDetector`` is the seed's detector
(full-size image, step 1.1, five neighbours), still available as ``detector="haar"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .base import DetectorError, iou

# longest image side the detector sees: large photos are shrunk for detection only
DETECT_MAX_SIDE = 1280

# Haar box -> tight landmark box, the box models are trained on: centre offset (x, y) and
# size (w, h) in units of the Haar box width; medians over the training split, measured
# by benchmarks/haar_calibration.py.
HAAR_TO_LANDMARK_BOX = (0.003, 0.148, 0.899, 0.882)


def load_cascade(name: str) -> cv2.CascadeClassifier:
    """One of the Haar cascades OpenCV ships, or DetectorError."""
    path = Path(cv2.data.haarcascades) / name
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise DetectorError(f"cannot load Haar cascade {path}; opencv-python-headless 5.x ships none (pin <5)")
    return cascade


@dataclass
class HaarDetector:
    min_face: int = 40  # pixels, in the original image
    scale_factor: float = 1.1
    min_neighbors: int = 5
    cascade: str = "haarcascade_frontalface_default.xml"
    calibration = HAAR_TO_LANDMARK_BOX
    refine = 2  # README, Results: a second re-cropping pass halves the failures at cascade boxes
    thread_safe = False  # OpenCV's cascade is not documented as thread-safe

    def __post_init__(self):
        self._cascade = load_cascade(self.cascade)

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


@dataclass
class FastDetector:
    """Candidate face boxes, cheaply: see the module's docstring.  Boxes (N, 4) x, y, w, h in
    image pixels, upright-pass boxes first, then those of the rotated passes not already
    covered (IoU >= ``merge_iou``), each group largest first; a box from a rotated pass is
    the rotated window's centre and size, axis-aligned (the refined network pass then
    crops around the points it finds)."""

    min_face: int = 40  # pixels, in the original image
    scale_factor: float = 1.2
    min_neighbors: int = 1
    angles: tuple[float, ...] = (-20.0, 20.0)  # degrees; () for the upright pass only
    # rotated passes look at this fraction of the upright pass's image: faces >= min_face / 0.75 there.
    # benchmarks/recall.py: 0.5 -> 0.75 found 67 -> 72 of 79 faces rolled up to 30 degrees and
    # 547 -> 549 of 554 common-set crops, for about 15 % more photo-path time
    rotated_scale: float = 0.75
    merge_iou: float = 0.3
    cascade: str = "haarcascade_frontalface_default.xml"
    window: int = 24  # the cascade's window, pixels
    # refitted on this detector's boxes: (0.000, 0.142, 0.894, 0.878), no change worth making
    calibration = HAAR_TO_LANDMARK_BOX
    refine = 2
    thread_safe = False

    def __post_init__(self):
        self._cascade = load_cascade(self.cascade)

    def _pass(self, gray: np.ndarray, scale: float, angle: float) -> np.ndarray:
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = gray.shape
        if min(h, w) < self.window:
            return np.zeros((0, 4), np.float32)
        m = None
        if angle:
            m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            gray = cv2.warpAffine(gray, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        boxes = self._cascade.detectMultiScale(gray, self.scale_factor, self.min_neighbors, minSize=(self.window, self.window))
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if m is not None and len(boxes):
            centres = boxes[:, :2] + boxes[:, 2:] / 2
            back = cv2.invertAffineTransform(m)
            centres = centres @ back[:, :2].T + back[:, 2]
            boxes = np.concatenate([centres - boxes[:, 2:] / 2, boxes[:, 2:]], axis=1)
        return boxes / scale

    def __call__(self, rgb: np.ndarray, min_face: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4) as x, y, w, h in image pixels and a score per box (1 upright, 0.5 rotated pass)."""
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, self.window / (min_face or self.min_face), DETECT_MAX_SIDE / max(gray.shape))
        groups = [self._pass(gray, scale, 0.0)]
        groups += [self._pass(gray, scale * self.rotated_scale, a) for a in self.angles]
        kept: list[np.ndarray] = []
        weights: list[float] = []
        for g, group in enumerate(groups):
            for box in group[np.argsort(-group[:, 2] * group[:, 3])]:
                if g == 0 or all(iou(box, k) < self.merge_iou for k in kept):
                    kept.append(box)
                    weights.append(1.0 if g == 0 else 0.5)
        if not kept:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return np.array(kept, np.float32), np.array(weights, np.float32)
