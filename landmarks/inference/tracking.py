"""Following faces through video: the detector now and then, the previous points in between.

Between detector runs each face is cropped at the box of its points in the previous
frame -- the box the network was trained on -- so a frame costs one batched network
pass instead of a detector scan of the whole frame.  The detector runs again when the
model's confidence says a face was lost, and every ``detect_every`` frames to pick up
faces that walked in.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..core.geometry import landmark_box
from ..detection.base import match_detections
from .landmarker import Face, FaceLandmarker, distinct
from .smoothing import FaceFilter

# a new face's start (FaceTracker.starts): crops moved by 0.3 % of the box's width, and how
# many frames their average stands for in the filter (five crops of one frame: part of their
# noise is the frame's own); benchmarks/experiments.md, round eighteen
START_SHIFTS = ((0.003, 0), (-0.003, 0), (0, 0.003), (0, -0.003))
START_FRAMES = 3


@dataclass
class FaceTracker:
    """Faces of each video frame, followed from the last.  ``smooth``: the returned points are
    filtered over time (``smoothing.FaceFilter``: calm on a still face, no lag on a moving
    one); ``faces`` always holds the points as the network found them, in the same order,
    and the next frame is cropped around those."""

    landmarker: FaceLandmarker | None = None  # None: the bundled `lite` model (under half of `full`'s cost a frame)
    smooth: bool = True
    detect_every: int = 15  # frames; at the app's 10 frames/s a new face appears within 1.5 s
    # extra passes for a newly detected face: with the detector's own, four (`full`) or five (`lite`)
    # passes in all, as round eight tuned them (BlazeFace's boxes need none since round nineteen)
    settle: int = 3
    recrop: float = 0.05  # a face whose points' box moved more than this (of its size) is cropped again
    start: int = 4  # crops moved by a hair whose points start a new face's smoothing (0: its own points)
    faces: list[Face] = field(default_factory=list)  # the last frame's raw faces
    filters: list = field(default_factory=list)  # one per face of ``faces`` (None: not smoothed)
    since_detection: int = 0
    detections: int = 0  # detector runs so far (for benchmarks and tests)
    frames: int = 0

    def __post_init__(self):
        if self.landmarker is None:
            self.landmarker = FaceLandmarker("lite")

    def __call__(self, rgb: np.ndarray, timestamp: float | None = None, min_face: int | None = None) -> list[Face]:
        """Faces of this frame, largest first; ``box`` is each face's tight landmark box.
        ``timestamp``: the frame's time in seconds (None: frames 1/30 s apart)."""
        now = self.frames / 30 if timestamp is None else float(timestamp)
        self.frames += 1
        tracks = self.follow(rgb)
        self.since_detection += 1
        if self.needs_detection(tracks):
            tracks = self.add_detections(rgb, tracks, min_face)
            self.since_detection, self.detections = 0, self.detections + 1
        tracks = self.without_duplicates(tracks)
        self.faces = [face for face, _ in tracks]
        if not self.smooth:
            self.filters = [None] * len(tracks)
            return self.faces
        new = [flt is None for _, flt in tracks]
        starts = iter(self.starts(rgb, [face for (face, _), n in zip(tracks, new) if n]))
        self.filters = [flt or FaceFilter(**dict(self.landmarker.spec.smoothing)) for _, flt in tracks]
        smoothed = [flt(next(starts), now, frames=START_FRAMES) if n else flt(face.points, now)
                    for (face, _), flt, n in zip(tracks, self.filters, new)]
        return [Face(np.array(landmark_box(p), np.float32), p, f.score) for f, p in zip(self.faces, smoothed)]

    def follow(self, rgb: np.ndarray) -> list[tuple[Face, object]]:
        """(face, its filter) of the last frame's faces, found again at the boxes of their
        points; lost ones dropped."""
        fl = self.landmarker
        if not self.faces:
            return []
        boxes = [landmark_box(f.points) for f in self.faces]
        found = fl.predict_boxes(rgb, boxes)
        # a face that moved far since the last frame was cropped off-centre: crop it again where
        # it is now (fast motion at a low frame rate; a still or slow face costs no extra pass)
        moved = [i for i, (f, b) in enumerate(zip(found, boxes)) if _moved(b, landmark_box(f.points)) > self.recrop]
        for i, f in zip(moved, fl.predict_boxes(rgb, [landmark_box(found[i].points) for i in moved])):
            found[i] = f
        kept = fl.confident(found)
        return [(f, flt) for f, flt in zip(found, self.filters) if any(f is k for k in kept)]

    def needs_detection(self, tracked: list) -> bool:
        """Nothing followed, a face lost, or ``detect_every`` frames since the detector last ran."""
        return not tracked or len(tracked) < len(self.faces) or self.since_detection >= self.detect_every

    def add_detections(self, rgb: np.ndarray, tracked: list, min_face: int | None) -> list:
        """Tracked faces plus the detector's new ones (without a filter yet).  A detection of a
        face already tracked adds nothing (the tracked points stay), so it is matched before any
        network pass: its box, as the landmark box the detector's calibration gives, against
        the track's points' box."""
        fl = self.landmarker
        boxes = np.asarray(fl.detect(rgb, min_face), np.float32).reshape(-1, 4)
        match = match_detections([landmark_box(f.points) for f, _ in tracked], fl.landmark_boxes(boxes))
        taken = {m for m in match if m is not None}
        # without a confidence (regress models) only the detector can tell a track is still a face
        tracked = [t for t, m in zip(tracked, match) if m is not None or t[0].score is not None]
        untracked = [b for i, b in enumerate(boxes) if i not in taken]
        # this model's own passes, not a crop model's: the track's later frames are this model's
        # passes at its last points, and its start was tuned so (benchmarks/experiments.md, round eight)
        new = fl.from_detections(rgb, untracked, crop_model=False) if untracked else []
        if new and self.settle:
            # each later frame is one more pass at the last points: run those passes now, so that
            # a new face starts where its track settles instead of drifting there over frames
            new = fl.predict_boxes(rgb, [landmark_box(f.points) for f in new], refine=self.settle - 1)
        return tracked + [(f, None) for f in new]

    def starts(self, rgb: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        """New faces' first points for the filter: each face's points averaged with those of
        ``start`` crops moved by a hair.  Most of a still track's noise is its crop wandering
        with the last points, not the sensor, and the filter's first frames are an average of
        the frames so far: this one counts as ``START_FRAMES``, and a track's first half second
        is 13-16 % calmer (benchmarks/experiments.md, round eighteen)."""
        k = min(self.start, len(START_SHIFTS))
        if not faces or not k:
            return [f.points for f in faces]
        boxes = [(x + dx * w, y + dy * w, w, h) for x, y, w, h in (landmark_box(f.points) for f in faces) for dx, dy in START_SHIFTS[:k]]
        found = self.landmarker.predict_boxes(rgb, boxes)
        return [np.mean([f.points, *(g.points for g in found[i * k:(i + 1) * k])], axis=0) for i, f in enumerate(faces)]

    @staticmethod
    def without_duplicates(tracks: list) -> list:
        """Largest first, boxed by their points; of two tracks that slid onto one face, the larger."""
        boxed = [(replace(f, box=np.array(landmark_box(f.points), np.float32)), flt) for f, flt in tracks]
        kept = distinct([f for f, _ in boxed], rank=lambda f: -f.box[2] * f.box[3])
        return [next(t for t in boxed if t[0] is f) for f in kept]


def _moved(a, b) -> float:
    """How far box ``b`` is from box ``a`` (x, y, w, h): the larger of the centre's shift and
    the change of size, in ``a``'s sizes."""
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    size = (aw + ah) / 2
    shift = np.hypot(bx + bw / 2 - ax - aw / 2, by + bh / 2 - ay - ah / 2)
    return max(shift, abs(bw + bh - aw - ah) / 2) / size
