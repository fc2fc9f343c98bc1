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

from .geometry import landmark_box
from .detect import match_detections
from .predictor import Face, FaceLandmarker, distinct


@dataclass
class FaceTracker:
    landmarker: FaceLandmarker
    detect_every: int = 15  # frames; at the app's 10 frames/s a new face appears within 1.5 s
    faces: list[Face] = field(default_factory=list)
    since_detection: int = 0
    detections: int = 0  # detector runs so far (for benchmarks and tests)

    def __call__(self, rgb: np.ndarray, min_face: int | None = None) -> list[Face]:
        """Faces of this frame; ``box`` is each face's tight landmark box.  The next frame is
        cropped around these points, as the network found them (smoothing makes new faces)."""
        tracked = self.follow(rgb)
        self.since_detection += 1
        if self.needs_detection(tracked):
            tracked = self.add_detections(rgb, tracked, min_face)
            self.since_detection, self.detections = 0, self.detections + 1
        self.faces = self.without_duplicates(tracked)
        return self.faces

    def follow(self, rgb: np.ndarray) -> list[Face]:
        """The faces of the last frame, found again at the boxes of their points; lost ones dropped."""
        fl = self.landmarker
        return fl.confident(fl.predict_boxes(rgb, [landmark_box(f.points) for f in self.faces])) if self.faces else []

    def needs_detection(self, tracked: list[Face]) -> bool:
        """Nothing followed, a face lost, or ``detect_every`` frames since the detector last ran."""
        return not tracked or len(tracked) < len(self.faces) or self.since_detection >= self.detect_every

    def add_detections(self, rgb: np.ndarray, tracked: list[Face], min_face: int | None) -> list[Face]:
        """Tracked faces plus the detector's new ones; a detection of a face already tracked adds
        nothing (the tracked points stay)."""
        fl = self.landmarker
        found = fl.from_detections(rgb, fl.detect(rgb, min_face))
        match = match_detections([landmark_box(f.points) for f in tracked], [landmark_box(f.points) for f in found])
        taken = {m for m in match if m is not None}
        # without a confidence (regress models) only the detector can tell a track is still a face
        tracked = [f for f, m in zip(tracked, match) if m is not None or f.score is not None]
        return tracked + [f for i, f in enumerate(found) if i not in taken]

    @staticmethod
    def without_duplicates(faces: list[Face]) -> list[Face]:
        """Largest first, boxed by their points; of two tracks that slid onto one face, the larger."""
        boxed = [replace(f, box=np.array(landmark_box(f.points), np.float32)) for f in faces]
        return distinct(boxed, rank=lambda f: -f.box[2] * f.box[3])
