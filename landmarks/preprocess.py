"""Face crops as the network sees them: cropped, resized, grey or RGB, normalised."""
from __future__ import annotations

import cv2
import numpy as np

from . import geometry


def crop_faces(model, rgb: np.ndarray, regions) -> np.ndarray:
    """uint8 crops (N, S, S, C) of an RGB image at the given regions, in the model's channels."""
    src = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if model.in_channels == 1 else rgb
    s = model.input_size
    return np.stack([geometry.crop(src, r, s).reshape(s, s, -1) for r in regions])


def normalise(model, crops: np.ndarray) -> np.ndarray:
    """uint8 crops (N, S, S, C) -> the network's float32 input (N, C, S, S)."""
    x = crops.transpose(0, 3, 1, 2).astype(np.float32)
    return np.ascontiguousarray((x / 255 - model.mean) / model.std)


def network_input(model, rgb: np.ndarray, regions) -> np.ndarray:
    """Crops of an RGB image at the given regions, as the network's normalised (N, C, S, S) float32 input."""
    return normalise(model, crop_faces(model, rgb, regions))
