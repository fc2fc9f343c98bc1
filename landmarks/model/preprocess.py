"""How a face becomes the network's input: crop, resize, grey or RGB, normalise.

One frozen spec per model (``LandmarkNet.preprocess``, stored under ``"preprocess"`` in
``config.json``).  Inference crops with OpenCV (here), training with batched torch warps
(``augment.py``); both read the same spec, and a test checks that they agree.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ..core import geometry


@dataclass(frozen=True)
class Preprocess:
    size: int = 224  # the square input's side, pixels
    channels: int = 1  # 1: grey (ITU-R 601), 3: RGB
    margin: float = 0.0  # the crop is the face box grown by 1 + margin
    square: bool = False  # square crop around the box (False stretches the box to the input)
    mean: float = 0.5  # input = (pixel / 255 - mean) / std
    std: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)

    def region(self, box) -> tuple[float, float, float, float]:
        """The crop region (cx, cy, sw, sh) for a tight face box (x, y, w, h)."""
        return geometry.region_from_box(box, self.margin, self.square)

    def crop(self, rgb: np.ndarray, regions) -> np.ndarray:
        """uint8 crops (N, S, S, C) of an RGB image at the given regions."""
        src = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if self.channels == 1 else rgb
        return np.stack([geometry.crop(src, r, self.size).reshape(self.size, self.size, -1) for r in regions])

    def normalise(self, crops: np.ndarray) -> np.ndarray:
        """uint8 crops (N, S, S, C) -> the network's float32 input (N, C, S, S)."""
        x = crops.transpose(0, 3, 1, 2).astype(np.float32)
        return np.ascontiguousarray((x / 255 - self.mean) / self.std)

    def __call__(self, rgb: np.ndarray, regions) -> np.ndarray:
        """The network's input for an RGB image's face regions."""
        return self.normalise(self.crop(rgb, regions))
