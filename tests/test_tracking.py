"""Webcam path: faces followed from frame to frame, the detector only now and then."""
import numpy as np
import pytest
from pictures import moving_clip, webcam_clip

from landmarks.core.geometry import landmark_box
from landmarks.inference.landmarker import FaceLandmarker
from landmarks.inference.stream import LiveStream
from landmarks.inference.tracking import FaceTracker, _moved
from landmarks.training.metrics import nme_per_face


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


def run(landmarker, frames, fps, smooth=True):
    tracker = FaceTracker(landmarker, smooth=smooth)
    return np.array([tracker(frame, i / fps)[0].points for i, frame in enumerate(frames)])


def eye_distance(points):
    return np.linalg.norm(points[36] - points[45])


@pytest.fixture(scope="module")
def still(landmarker):
    """Raw and smoothed points of the shipped portrait, still, with fresh sensor noise on
    every frame (1.5 s at 30 frames/s)."""
    frames, _ = moving_clip("still", 30, seconds=1.5)
    return run(landmarker, frames, 30, smooth=False), run(landmarker, frames, 30)


def test_a_still_noisy_face_is_steadier_smoothed(still):
    def jitter(points):  # % of the eye distance: the median over points of their std over frames
        return 100 * np.median(np.sqrt(points.var(axis=0).mean(axis=1))) / eye_distance(points.mean(axis=0))

    raw, smoothed = still
    assert jitter(smoothed) <= 0.04 and jitter(smoothed) < 0.4 * jitter(raw), (jitter(smoothed), jitter(raw))


@pytest.mark.parametrize("kind, fps", [("slide", 30), ("turn", 30), ("closer", 30), ("slide", 10)])
def test_a_moving_face_is_followed_smoothed_without_lag(landmarker, still, kind, fps):
    """Truth: the still clip's mean points moved along the known path; the targets of issue
    29: sliding at up to 250 px/s within 0.85 % of the eye distance (at 10 frames/s: within
    MediaPipe's 1.07 % on this portrait, benchmarks/steadiness.py), turning (roll +-20 deg) and
    coming closer (x1.5) within 10 % of the raw points' error."""
    frames, matrices = moving_clip(kind, fps, seconds=1.5, seed=1)
    mean = still[0].mean(axis=0)
    truth = np.array([mean @ m[:, :2].T + m[:, 2] for m in matrices])
    scale = np.sqrt(np.linalg.det(matrices[:, :, :2]))[:, None]

    def error(points):
        return 100 * (np.linalg.norm(points - truth, axis=2) / (eye_distance(mean) * scale)).mean()

    raw, smoothed = error(run(landmarker, frames, fps, smooth=False)), error(run(landmarker, frames, fps))
    assert smoothed <= ({30: 0.85, 10: 1.07}[fps] if kind == "slide" else 1.1 * raw), (smoothed, raw)


def test_unsmoothed_points_are_the_networks_exactly(landmarker):
    """``smooth=False`` returns the points the network found, cropped at the last frame's
    points; a smoothing tracker keeps the very same points in ``faces`` and crops around them."""
    import dataclasses

    frames, _ = moving_clip("slide", 30, seconds=0.5)
    plain, smoothing = FaceTracker(landmarker, smooth=False), FaceTracker(landmarker)
    last = None
    for i, frame in enumerate(frames):
        (raw,), (smoothed,) = plain(frame, i / 30), smoothing(frame, i / 30)
        np.testing.assert_array_equal(raw.points, smoothing.faces[0].points)
        if last is not None:  # cropped at the last points, and once more where the face moved far
            (again,) = landmarker.predict_boxes(frame, [landmark_box(last)])
            if _moved(landmark_box(last), landmark_box(again.points)) > plain.recrop:
                (again,) = landmarker.predict_boxes(frame, [landmark_box(again.points)])
            np.testing.assert_array_equal(raw.points, again.points)
            assert not np.array_equal(smoothed.points, raw.points)  # the filter did act
        last = raw.points
    assert plain.detections == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        smoothing.faces[0].points = smoothed.points


def test_a_live_stream_reports_faces_blinks_and_its_frame_rate(landmarker):
    ticks = iter(np.arange(0, 10, 0.05))  # the clock read twice a frame: frames 0.1 s apart
    stream = LiveStream(landmarker, clock=lambda: float(next(ticks)))
    clip = webcam_clip(1, 6)
    results = [stream(frame) for frame in clip]
    assert all(len(r.faces) == 1 and r.blinks == 0 for r in results)
    assert results[-1].fps == pytest.approx(10.0)  # one frame every 0.1 s
    # smoothing is on by default and off on request; the tracker's raw faces are the unsmoothed points
    assert not np.array_equal(results[-1].faces[0].points, stream.tracker.faces[0].points)
    raw = stream(clip[0], smooth=False)
    np.testing.assert_array_equal(raw.faces[0].points, stream.tracker.faces[0].points)
    assert stream(np.full_like(clip[0], 40)).blinks is None  # no face, no count
