"""Temporal smoothing of one face's points: the head's motion lightly, the face's shape strongly.

Each frame's 68 points are split into a similarity transform (shift, scale, roll: the head
moving), fitted to the face's first shape, and what is left: the shape in that face's own
frame, which barely changes while the head moves.  Both go through One-Euro filters
(Casiez et al. 2012) whose cutoff grows with the square of the speed: noise moves the
points slowly, so a still face is strongly smoothed, while a real motion is many times
faster and opens the filter at once (a linear growth, the usual One-Euro, let noise open
it too).  The shape's cutoff is set per part of the face (jaw and lips, brows, nose,
eyes), so an opening mouth is followed without the still eyes jittering.  Parameters are in seconds
and Hz: the same filter works at 10 and 30 frames/s (``benchmarks/steadiness.py``).
"""
from __future__ import annotations

import math

import numpy as np

from ..core.scheme import NUM_POINTS, REGIONS

# (min cutoff Hz, beta Hz per (face sizes/s)^2, speed cutoff Hz); a face size is the RMS
# distance of the points from their centre.  Fitted on clips of the shipped portraits and of
# 300-W training faces (benchmarks/experiments.md, round eight); a model's config.json may
# give its own (``ModelSpec.smoothing``; lite's, round fourteen).
MOTION = (0.1, 100.0, 4.0)
SHAPE = (0.1, 1000.0, 1.0)
# the parts whose shape moves together: an opening mouth moves the chin too
PARTS = [[*REGIONS["jaw"], *REGIONS["outer lips"], *REGIONS["inner lips"]], [*REGIONS["right brow"], *REGIONS["left brow"]],
         [*REGIONS["nose bridge"], *REGIONS["nostrils"]], [*REGIONS["right eye"], *REGIONS["left eye"]]]


def _alpha(cutoff, dt: float):
    return 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff * dt))


class OneEuro:
    """One-Euro filter of an (n, d) array; the rows of each group share one cutoff, from the
    speed of the group's mean (its rows' velocities in ``weights`` units)."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float, groups=None):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.groups = groups
        self.x = self.dx = None
        self.n = 0

    def __call__(self, value: np.ndarray, dt: float, weights=1.0, frames: int = 1) -> np.ndarray:
        self.n += frames  # how many frames ``value`` stands for
        if self.x is None:
            self.x, self.dx = value.copy(), np.zeros_like(value)
            return self.x
        self.dx = self.dx + _alpha(self.d_cutoff, dt) * ((value - self.x) / dt - self.dx)
        groups = self.groups or [slice(None)]
        a = np.empty(len(value))
        for g in groups:
            speed = np.linalg.norm(self.dx[g].mean(axis=0) * weights)
            # the first frames are averaged (1/n): the filter starts calm without carrying
            # the first frame's error for seconds
            a[g] = max(_alpha(self.min_cutoff + self.beta * speed**2, dt), 1 / self.n)
        self.x = self.x + a[:, None] * (value - self.x)
        return self.x


class FaceFilter:
    """Smoothed points of one face, frame after frame: ``filter(points, t)`` with ``t`` in
    seconds.  A frame no later than the last one starts the filter afresh.  ``frames``: how
    many frames the points stand for, in the average of the first frames (a start averaged
    over several crops: ``FaceTracker.starts``)."""

    def __init__(self, motion=MOTION, shape=SHAPE):
        self.motion = OneEuro(*motion)
        self.shape = OneEuro(*shape, groups=PARTS)
        self.template: np.ndarray | None = None  # the first shape, centred, unit RMS size (complex)
        self.last: float | None = None
        self.params = (motion, shape)

    def __call__(self, points: np.ndarray, t: float, frames: int = 1) -> np.ndarray:
        if points.shape != (NUM_POINTS, 2):
            raise ValueError(f"FaceFilter: expected ({NUM_POINTS}, 2) points, got {points.shape}")
        if self.last is not None and t <= self.last:
            self.__init__(*self.params)
        dt = 0.0 if self.last is None else t - self.last
        self.last = t
        z = points[:, 0].astype(np.float64) + 1j * points[:, 1]
        centre = z.mean()
        if self.template is None:
            self.template = (z - centre) / np.sqrt(np.mean(np.abs(z - centre) ** 2))
            self.angle = 0.0
        # the similarity z ~ a * template + centre, closed form (least squares, complex a)
        a = np.vdot(self.template, z - centre) / np.vdot(self.template, self.template)
        angle = self.angle + np.angle(a * np.exp(-1j * self.angle))  # unwrapped: no jump at +-180 deg
        shape = (z - centre) / a
        motion = np.array([[centre.real, centre.imag, math.log(abs(a)), angle]])
        # speeds in face sizes per second: the shift divided by the face's size
        m = self.motion(motion, dt, weights=np.array([1 / abs(a), 1 / abs(a), 1, 1]), frames=frames)[0]
        s = self.shape(np.stack([shape.real, shape.imag], axis=1), dt, frames=frames)
        self.angle = m[3]
        out = math.exp(m[2]) * np.exp(1j * m[3]) * (s[:, 0] + 1j * s[:, 1]) + (m[0] + 1j * m[1])
        return np.stack([out.real, out.imag], axis=1).astype(np.float32)
