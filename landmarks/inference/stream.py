"""A live stream (a webcam): faces followed and smoothed frame by frame, the main face's blinks
and the frame rate -- what a webcam view shows, whichever UI draws it."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..face.openness import BlinkCounter, eye_aspect_ratio
from .landmarker import Face, FaceLandmarker
from .tracking import FaceTracker


@dataclass(frozen=True)
class StreamFrame:
    """One frame's result: ``faces`` as shown (smoothed unless asked otherwise), largest first;
    ``blinks`` of the largest face since it was found (None: no face); the stream's frame rate
    and this frame's processing time."""

    faces: tuple[Face, ...]
    blinks: int | None
    fps: float
    ms: float


class LiveStream:
    """``LiveStream(landmarker)(rgb) -> StreamFrame``: one object per stream (per camera)."""

    def __init__(self, landmarker: FaceLandmarker | None = None, smooth: bool = True, clock=time.perf_counter):
        self.tracker = FaceTracker(landmarker, smooth=smooth)
        self.clock = clock
        self.fps = 0.0
        self._blinks: BlinkCounter | None = None
        self._last: float | None = None

    @property
    def landmarker(self) -> FaceLandmarker:
        return self.tracker.landmarker

    def __call__(self, rgb: np.ndarray, smooth: bool | None = None, min_face: int | None = None) -> StreamFrame:
        now = self.clock()
        if smooth is not None:
            self.tracker.smooth = smooth
        faces = self.tracker(rgb, now, min_face=min_face)
        if faces:  # blinks from the points as found (the tracker's raw faces): smoothing would flatten a blink
            self._blinks = self._blinks or BlinkCounter()
            self._blinks.update(eye_aspect_ratio(self.tracker.faces[0].points))
        else:
            self._blinks = None
        ms = 1000 * (self.clock() - now)
        if self._last is not None and now > self._last:
            rate = 1 / (now - self._last)
            self.fps = rate if self.fps == 0 else 0.8 * self.fps + 0.2 * rate
        self._last = now
        return StreamFrame(tuple(faces), self._blinks.blinks if self._blinks else None, self.fps, ms)
