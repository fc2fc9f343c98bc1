"""How open the eyes and the mouth are, and a blink counter built on it.

Eye aspect ratio (Soukupova and Cech, "Real-Time Eye Blink Detection using Facial
Landmarks", 2016): the eye's two lid-to-lid heights over twice its width, about 0.3 for
an open eye and under 0.15 for a closed one.  Mouth aspect ratio: the inner lips' three
heights over twice their width, 0 for a closed mouth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.scheme import REGIONS


def _ratio(p: np.ndarray, corners: tuple[int, int], pairs: list[tuple[int, int]]) -> float:
    width = np.linalg.norm(p[corners[0]] - p[corners[1]])
    heights = sum(np.linalg.norm(p[a] - p[b]) for a, b in pairs)
    return float(heights / (len(pairs) * width)) if width > 0 else 0.0


def eye_aspect_ratio(points: np.ndarray) -> float:
    """Mean of both eyes' aspect ratios."""
    p = np.asarray(points, np.float64)
    # each eye: corners 0 and 3 of its six points, lids 1-5 and 2-4
    return float(np.mean([_ratio(p[list(REGIONS[e])], (0, 3), [(1, 5), (2, 4)]) for e in ("right eye", "left eye")]))


def mouth_aspect_ratio(points: np.ndarray) -> float:
    """Inner-lip opening: points 61-67, 62-66, 63-65 over the width 60-64."""
    p = np.asarray(points, np.float64)[list(REGIONS["inner lips"])]
    return _ratio(p, (0, 4), [(1, 7), (2, 6), (3, 5)])


@dataclass
class BlinkCounter:
    """Counts blinks from one face's eye aspect ratio, frame by frame.

    People's open eyes differ (0.22 to 0.40 on 300-W test faces, as the bundled model sees
    them), so the thresholds are relative to a running baseline of this face's open eyes.
    Hysteresis: the eyes count as closed below ``close_ratio`` of the baseline and as open
    again only above ``open_ratio``; jitter around either threshold never makes a blink.
    """

    close_ratio: float = 0.75
    open_ratio: float = 0.9
    baseline: float | None = None
    blinks: int = 0
    closed: bool = False

    def update(self, ear: float) -> int:
        if self.baseline is None:
            self.baseline = ear
        if not self.closed and ear < self.close_ratio * self.baseline:
            self.closed = True
        elif self.closed and ear > self.open_ratio * self.baseline:
            self.closed = False
            self.blinks += 1
        if not self.closed:  # the baseline follows the open eye slowly (about 2 s at 10 frames/s)
            self.baseline += 0.05 * (ear - self.baseline)
        return self.blinks
