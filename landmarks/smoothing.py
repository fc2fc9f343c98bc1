"""Temporal smoothing of landmarks across video frames (One-Euro filter, Casiez et al. 2012).

Still faces barely move (low cutoff: jitter removed); fast motion of the face raises the
cutoff so points follow without lag.  Faces are matched frame to frame by their box centres.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np


def _alpha(cutoff, dt: float):
    return 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff * dt))


@dataclass
class OneEuro:
    min_cutoff: float = 0.3  # Hz: smoothing of a still face
    beta: float = 0.1  # cutoff growth per pixel/s of face speed
    d_cutoff: float = 1.0
    x: np.ndarray | None = None
    dx: np.ndarray | None = None

    def __call__(self, value: np.ndarray, dt: float) -> np.ndarray:
        if self.x is None or dt <= 0:
            self.x, self.dx = value.copy(), np.zeros_like(value)
            return value
        dx = (value - self.x) / dt
        self.dx = self.dx + _alpha(self.d_cutoff, dt) * (dx - self.dx)
        # speed of the whole face (mean over its points): averaging 68 points makes it far less
        # noisy than each point's own, so a still face stays smoothed and a moving one is followed
        cutoff = self.min_cutoff + self.beta * np.linalg.norm(self.dx.mean(axis=0))
        self.x = self.x + _alpha(cutoff, dt) * (value - self.x)
        return self.x


@dataclass
class FaceTracks:
    """One-Euro filter per face, carried between frames (e.g. in a ``gr.State``)."""

    max_jump: float = 0.5  # a face moving more than this many face widths is a new face
    tracks: list = field(default_factory=list)  # [(centre, OneEuro)]
    last_time: float | None = None

    def smooth(self, faces, now: float):
        """Smoothed copies of the faces (the faces themselves are immutable)."""
        dt = 0.0 if self.last_time is None else now - self.last_time
        self.last_time = now
        new_tracks, free, out = [], list(self.tracks), []
        for face in faces:
            x, y, w, h = face.box
            centre = np.array([x + w / 2, y + h / 2])
            best = min(free, key=lambda t: np.linalg.norm(t[0] - centre), default=None)
            if best is not None and np.linalg.norm(best[0] - centre) < self.max_jump * w:
                free = [t for t in free if t is not best]  # by identity: tuples of arrays do not compare
                flt = best[1]
                face = replace(face, points=flt(face.points, dt).astype(np.float32))
            else:
                flt = OneEuro()
                flt(face.points, 0.0)
            new_tracks.append((centre, flt))
            out.append(face)
        self.tracks = new_tracks
        return out
