"""Faces decoded once into fixed-size tensors that training augments on the device.

Each face is cut out around its landmark box with generous context (``CONTEXT`` x
the box's longer side, square) at ``CACHE_SIZE`` pixels: room for the recipes'
margins, box jitter and rotation.  For the shared 300-W crops (face = 1/1.6 of a
256 crop) this is an exact pixel copy with a black border.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from ..core import geometry
from ..core.geometry import landmark_box
from ..core.image_io import ImageError, to_rgb_array
from ..core.scheme import NUM_POINTS
from .annotations import DatasetError, LabelledFace

CONTEXT = 2.0
CACHE_SIZE = 320


@dataclass
class FaceTensors:
    images: torch.Tensor  # (N, 3, CACHE_SIZE, CACHE_SIZE) uint8
    points: torch.Tensor  # (N, 68, 2) float32 in cache pixels

    def __len__(self) -> int:
        return len(self.points)

    def to(self, device) -> "FaceTensors":
        return FaceTensors(self.images.to(device), self.points.to(device))


def cache_region(points: np.ndarray) -> tuple[float, float, float, float]:
    x, y, w, h = landmark_box(points)
    side = round(CONTEXT * max(w, h))  # integer side and corner: an exact copy when side == CACHE_SIZE
    x0, y0 = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
    return x0 + (side - 1) / 2, y0 + (side - 1) / 2, float(side), float(side)


def load_faces(records: list[LabelledFace], progress: bool = True) -> FaceTensors:
    n = len(records)
    images = np.zeros((n, CACHE_SIZE, CACHE_SIZE, 3), np.uint8)
    points = np.zeros((n, NUM_POINTS, 2), np.float32)
    decoded: dict = {}
    for i, rec in enumerate(tqdm(records, desc="loading faces", disable=not progress, unit="face")):
        if rec.image not in decoded:
            try:
                decoded = {rec.image: to_rgb_array(rec.image)}  # keep one photo: records are grouped by image
            except ImageError as e:
                raise DatasetError(str(e)) from None
        region = cache_region(rec.points)
        # exact copy for in-range regions; resampled (area-averaged) for larger faces
        images[i] = geometry.crop(decoded[rec.image], region, CACHE_SIZE)
        points[i] = geometry.to_targets(rec.points, region) * CACHE_SIZE + (CACHE_SIZE - 1) / 2
    return FaceTensors(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(points))
