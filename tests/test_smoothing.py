import numpy as np

from landmarks.predictor import Face
from landmarks.smoothing import FaceTracks


def stream(centres, noise, seed=0, fps=15):
    """Faces of a clip: a fixed 68-point shape moved to each centre, plus detector jitter."""
    rng = np.random.default_rng(seed)
    shape = rng.uniform(-50, 50, (68, 2))
    tracks, raw, smooth = FaceTracks(), [], []
    for i, c in enumerate(centres):
        pts = shape + c + rng.normal(0, noise, (68, 2))
        face = Face(np.array([c[0] - 50, c[1] - 50, 100, 100], np.float32), pts.astype(np.float32))
        raw.append(pts - shape - c)
        (out,) = tracks.smooth([face], i / fps)
        smooth.append(out.points - shape - c)
    return np.array(raw), np.array(smooth)


def test_still_face_stops_jittering():
    raw, smooth = stream([np.array([200.0, 150.0])] * 60, noise=2.0)
    assert smooth[20:].std() < 0.4 * raw[20:].std()


def test_moving_face_is_followed_without_lag():
    centres = [np.array([100.0 + 20 * i, 150.0]) for i in range(30)]  # 300 px/s at 15 fps
    _, smooth = stream(centres, noise=0.0)
    assert np.abs(smooth[10:]).max() < 5.0  # pixels behind the true position


def test_a_new_face_far_away_starts_its_own_track():
    tracks = FaceTracks()
    a = Face(np.array([0, 0, 100, 100], np.float32), np.zeros((68, 2), np.float32))
    tracks.smooth([a], 0.0)
    b = Face(np.array([400, 0, 100, 100], np.float32), np.full((68, 2), 450, np.float32))
    (out,) = tracks.smooth([b], 0.1)
    np.testing.assert_array_equal(out.points, b.points)  # not dragged towards the old face


def test_several_faces_keep_their_own_filters_whatever_their_order():
    shape = np.random.default_rng(1).uniform(-30, 30, (68, 2)).astype(np.float32)
    centres = [np.array([100.0 + 150 * i, 200.0]) for i in range(4)]
    tracks = FaceTracks()
    for t in range(5):
        order = [3, 1, 0, 2] if t % 2 else [0, 1, 2, 3]  # detectors list faces in any order
        faces = [Face(np.array([*(centres[i] - 50), 100, 100], np.float32), shape + centres[i].astype(np.float32))
                 for i in order]
        out = tracks.smooth(faces, t / 10)
        for i, face in zip(order, out):
            assert np.abs(face.points - (shape + centres[i])).max() < 1e-3  # never pulled toward another face
