"""``FaceLandmarker``: image in, 68 points per face out."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from . import geometry
from .detect import HaarDetector, to_landmark_boxes
from .images import to_rgb_array
from .hub import load_model


@dataclass
class Face:
    box: np.ndarray  # x, y, w, h in image pixels
    points: np.ndarray  # (68, 2) image pixels
    score: float | None = None

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "points": np.round(self.points, 2).tolist(),
            "score": None if self.score is None else round(float(self.score), 4),
        }


class FaceLandmarker:
    """Detect faces and find their 68 iBUG points.

    >>> fl = FaceLandmarker()            # the bundled model, on the CPU
    >>> faces = fl("photo.jpg")          # path, PIL image or RGB numpy array
    >>> faces[0].points.shape
    (68, 2)
    """

    def __init__(self, model=None, device: str | None = None, min_face: int = 40, scale_factor: float = 1.1):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if isinstance(model, torch.nn.Module):
            self.model = model.to(self.device).eval()
        else:
            self.model = load_model(model, self.device)
        self.detector = HaarDetector(min_face=min_face, scale_factor=scale_factor)
        self._lock = threading.Lock()  # OpenCV's cascade is not documented as thread-safe

    def __call__(self, image, min_face: int | None = None) -> list[Face]:
        """Faces of an image, largest first; ``min_face`` (pixels) overrides the default for this call."""
        rgb = to_rgb_array(image)
        with self._lock:
            boxes, scores = self.detector(rgb, min_face)
        faces = self.predict_boxes(rgb, to_landmark_boxes(boxes))
        for face, box, score in zip(faces, boxes, scores):
            face.box, face.score = box, float(score)  # report the detector's box, not the crop box
        return faces

    def get_landmarks(self, image) -> list[np.ndarray]:
        """face-alignment style: a (68, 2) array per detected face."""
        return [f.points for f in self(image)]

    @torch.inference_mode()
    def predict_boxes(self, image, boxes) -> list[Face]:
        """Points for given tight landmark boxes (x, y, w, h), all faces in one forward pass."""
        is_rgb = isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
        rgb = image if is_rgb else to_rgb_array(image)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            return []
        m = self.model
        src = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if m.in_channels == 1 else rgb
        regions = [geometry.region_from_box(b, m.margin, m.square) for b in boxes]
        crops = np.stack([geometry.crop(src, r, m.input_size) for r in regions])
        x = torch.from_numpy(crops).to(self.device)
        x = x[:, None] if m.in_channels == 1 else x.permute(0, 3, 1, 2)
        x = ((x.float() / 255 - m.mean) / m.std).contiguous(memory_format=torch.channels_last)
        out = m(x).float().cpu().numpy()
        points = [geometry.from_targets(o, r).astype(np.float32) for o, r in zip(out, regions)]
        return [Face(b.astype(np.float32), p) for b, p in zip(boxes, points)]
