"""``FaceFilter`` on synthetic points: a head's motion is followed, noise is not."""
import numpy as np
import pytest

from landmarks.inference.smoothing import FaceFilter

SHAPE = np.random.default_rng(1).uniform(-50, 50, (68, 2))


def moved(t):
    """SHAPE sliding at 300 px/s, turning at 30 deg/s and growing by 20 % a second."""
    angle, scale = np.radians(30 * t), 1 + 0.2 * t
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return scale * SHAPE @ rot.T + [200 + 300 * t, 240]


def test_a_constant_face_comes_out_unchanged():
    flt = FaceFilter()
    for i in range(20):
        out = flt(SHAPE.astype(np.float32) + 300, i / 30)
    np.testing.assert_allclose(out, SHAPE + 300, atol=1e-3)


def test_noise_on_a_still_face_is_smoothed_away():
    # 0.15 px on a face of 41 px RMS size: about the network's own noise (benchmarks/steadiness.py)
    rng, flt = np.random.default_rng(0), FaceFilter()
    raw = [SHAPE + 300 + rng.normal(0, 0.15, SHAPE.shape) for _ in range(90)]
    out = np.array([flt(p, i / 30) for i, p in enumerate(raw)])
    assert out[30:].std(axis=0).mean() < 0.3 * np.array(raw)[30:].std(axis=0).mean()


@pytest.mark.parametrize("fps", [30, 10])
def test_a_moving_turning_growing_face_is_followed_without_lag(fps):
    flt = FaceFilter()
    errors = [np.abs(flt(moved(i / fps), i / fps) - moved(i / fps)).max() for i in range(2 * fps)]
    assert max(errors[fps // 2:]) < 1.0  # pixels, at 300 px/s: less than a tenth of a frame's motion


@pytest.mark.parametrize("frames, share", [(1, 1 / 2), (3, 1 / 4)])
def test_a_start_counts_as_the_frames_it_stands_for(frames, share):
    """The first frames are averaged: a start standing for three frames (FaceTracker.starts)
    takes a quarter of the next frame's shift, a single frame half."""
    flt = FaceFilter()
    flt(SHAPE + 300, 0.0, frames=frames)
    out = flt(SHAPE + [300.3, 300], 1 / 30)
    np.testing.assert_allclose(out - (SHAPE + 300), np.broadcast_to([0.3 * share, 0], SHAPE.shape), atol=2e-3)


def test_a_repeated_timestamp_starts_afresh():
    flt = FaceFilter()
    flt(SHAPE, 0.0)
    np.testing.assert_array_equal(flt(SHAPE + 100, 0.0), (SHAPE + 100).astype(np.float32))


def test_wrong_points_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"expected \(68, 2\) points, got \(5, 2\)"):
        FaceFilter()(np.zeros((5, 2)), 0.0)
