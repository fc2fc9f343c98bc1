"""Webcam path: faces followed from frame to frame, the detector only now and then."""
import numpy as np
import pytest

from landmarks.metrics import nme_per_face
from landmarks.predictor import FaceLandmarker
from landmarks.sample_pictures import webcam_clip
from landmarks.tracking import FaceTracker


@pytest.fixture(scope="module")
def landmarker():
    return FaceLandmarker(device="cpu")


@pytest.mark.parametrize("faces", [1, 5])
def test_tracking_follows_a_moving_face_with_few_detector_runs(landmarker, faces):
    clip = webcam_clip(faces, 30)
    tracker = FaceTracker(landmarker, detect_every=15)
    for frame in clip:
        tracked = tracker(frame)
        detected = landmarker(frame)
        assert len(tracked) == len(detected) == faces
        # same faces, same points as detecting each frame afresh (NME between the two, per face)
        centres = lambda fs: np.array([f.points.mean(axis=0) for f in fs])  # noqa: E731
        order = [int(np.argmin(np.linalg.norm(centres(detected) - c, axis=1))) for c in centres(tracked)]
        gap = nme_per_face(np.array([f.points for f in tracked]), np.array([detected[i].points for i in order]))
        assert gap.max() < 0.05
    assert tracker.detections == 2  # frames 1 and 16


def test_a_face_that_leaves_is_dropped_and_found_again(landmarker):
    clip = webcam_clip(1, 3)
    empty = np.full_like(clip[0], 40)
    tracker = FaceTracker(landmarker)
    assert len(tracker(clip[0])) == 1
    assert tracker(empty) == []  # the tracked crop no longer scores as a face; the detector finds none
    assert len(tracker(clip[1])) == 1
    assert tracker.detections == 3


def test_smoothing_leaves_the_tracked_points_alone():
    """Faces are immutable: the smoother returns new ones, and the next frame is cropped
    around the points the network found, not the smoothed ones."""
    import dataclasses

    from landmarks.smoothing import FaceTracks

    tracker, tracks = FaceTracker(FaceLandmarker(device="cpu")), FaceTracks()
    for i, frame in enumerate(webcam_clip(1, frames=6)):
        faces = tracker(frame)
        raw = [f.points.copy() for f in tracker.faces]
        smoothed = tracks.smooth(faces, i / 10)
        assert all(np.array_equal(f.points, r) for f, r in zip(tracker.faces, raw))
    assert not np.array_equal(smoothed[0].points, tracker.faces[0].points)  # the filter did act
    with pytest.raises(dataclasses.FrozenInstanceError):
        tracker.faces[0].points = smoothed[0].points
