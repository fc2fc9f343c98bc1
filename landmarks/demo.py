"""What the app does with a photo or a webcam frame, independent of any UI toolkit."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .drawing import draw_faces
from .images import ImageError, to_rgb_array
from .predictor import Face, FaceLandmarker
from .smoothing import FaceTracks
from .tracking import FaceTracker

DISPLAY_MAX_SIDE = 2048  # the annotated picture sent to the browser; points stay full resolution
NO_FACE = "No face found. Faces should be roughly frontal and at least the minimum face size."


@dataclass
class Settings:
    show_box: bool = True
    show_indices: bool = False
    smoothing: bool = True
    min_face: int = 40


def _scaled(faces: list[Face], scale: float) -> list[Face]:
    return [Face(f.box * scale, f.points * scale, f.score) for f in faces]


def annotate_photo(fl: FaceLandmarker, image, settings: Settings) -> tuple[np.ndarray | None, dict, str]:
    """(annotated picture, result for the JSON panel, one-line message) for an uploaded photo."""
    if image is None:
        return None, {}, "Upload a photo, paste one, or pick an example."
    try:
        rgb = to_rgb_array(image)
    except ImageError as e:
        # the upload's temporary path means nothing to the person who sent it
        msg = str(e).replace(str(image), Path(image).name) if isinstance(image, (str, Path)) else str(e)
        return None, {"error": msg}, f"Cannot read this image: {msg}"
    t0 = time.perf_counter()
    faces = fl(rgb, min_face=settings.min_face)
    ms = 1000 * (time.perf_counter() - t0)
    h, w = rgb.shape[:2]
    scale = min(1.0, DISPLAY_MAX_SIDE / max(h, w))
    shown = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    annotated = draw_faces(shown, _scaled(faces, scale), settings.show_box, settings.show_indices)
    result = {"faces": len(faces), "image_size": [w, h], "results": [f.to_dict() for f in faces]}
    if not faces:
        return annotated, result, NO_FACE
    return annotated, result, f"{len(faces)} face{'s' if len(faces) > 1 else ''} found in {ms:.0f} ms."


@dataclass
class StreamState:
    """Carried between webcam frames: the face tracker, the smoothing tracks and the frame clock."""

    tracker: FaceTracker | None = None
    tracks: FaceTracks | None = None
    last_frame: float | None = None
    fps: float = 0.0


def annotate_frame(
    fl: FaceLandmarker, frame, state: StreamState | None, settings: Settings, mirror: bool = False
) -> tuple[np.ndarray | None, StreamState, str]:
    """One webcam frame (unmirrored, as the camera sees it) -> annotated frame, state, status line.

    The model sees the true image; the result is mirrored for display when ``mirror``
    is set, because people expect to see themselves as in a mirror.
    """
    state = state or StreamState()
    if frame is None:
        return None, state, "Waiting for the camera…"
    rgb = to_rgb_array(frame)
    now = time.perf_counter()
    if state.tracker is None or state.tracker.landmarker is not fl:
        state.tracker = FaceTracker(fl)
    faces = state.tracker(rgb, min_face=settings.min_face)
    if settings.smoothing:
        state.tracks = state.tracks or FaceTracks()
        faces = state.tracks.smooth(faces, now)
    else:
        state.tracks = None
    ms = 1000 * (time.perf_counter() - now)
    if state.last_frame is not None:
        dt = now - state.last_frame
        state.fps = 1 / dt if state.fps == 0 else 0.8 * state.fps + 0.2 / dt
    state.last_frame = now
    if mirror:
        w = rgb.shape[1]
        rgb = rgb[:, ::-1]
        faces = [Face(np.array([w - f.box[0] - f.box[2], *f.box[1:]]), f.points * [-1, 1] + [w - 1, 0], f.score) for f in faces]
    annotated = draw_faces(rgb, faces, settings.show_box, settings.show_indices)
    status = f"{state.fps:.1f} fps · {ms:.0f} ms per frame on the server · {len(faces)} face{'s' * (len(faces) != 1)}"
    return annotated, state, status
