"""Head pose, aligned crops and eye openness on real test faces."""
import cv2
import numpy as np
import pytest

from landmarks.core.geometry import landmark_box
from landmarks.core.image_io import to_rgb_array
from landmarks.core.samples import portrait
from landmarks.face.alignment import TEMPLATE_112, five_points
from landmarks.face.openness import BlinkCounter, eye_aspect_ratio
from landmarks.face.pose import head_pose
from landmarks.inference.landmarker import FaceLandmarker


@pytest.fixture(scope="module")
def landmarker():
    return FaceLandmarker(device="cpu")


def predict(fl, rgb, points):
    return fl.predict_boxes(rgb, [landmark_box(points)], refine=1)[0].points


def frontal(rec) -> bool:
    """The nose tip as far from both ends of the jaw (within 5 %): a frontal face by its
    manual points alone, whatever the pose code says."""
    p = rec.points
    a, b = np.linalg.norm(p[30] - p[0]), np.linalg.norm(p[30] - p[16])
    return abs(a - b) / (a + b) < 0.05


def rotate(rgb, points, angle):
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)  # counter-clockwise in the image
    return cv2.warpAffine(rgb, m, (w, h), borderMode=cv2.BORDER_REPLICATE), np.c_[points, np.ones(len(points))] @ m.T


def test_turning_the_image_changes_roll_by_the_same_angle(landmarker, test_records):
    errors = []
    for rec in [r for r in test_records if frontal(r)][:12]:
        rgb = to_rgb_array(rec.image)
        size = rgb.shape[1::-1]
        base = head_pose(predict(landmarker, rgb, rec.points), size).roll
        # up to 15 degrees the turned face stays inside these 256-px crops (beyond, the corners
        # are smeared border pixels, and the jaw with them)
        for angle in (-15, 15):
            turned, pts = rotate(rgb, rec.points, angle)
            errors.append(head_pose(predict(landmarker, turned, pts), size).roll - base - angle)
    assert np.abs(errors).max() < 2.0, np.round(errors, 2)


def test_a_mirrored_face_flips_yaw_and_roll(landmarker, test_records):
    checked = 0
    for rec in test_records[::3]:
        rgb = to_rgb_array(rec.image)
        size = rgb.shape[1::-1]
        pose = head_pose(predict(landmarker, rgb, rec.points), size)
        if abs(pose.yaw) < 15:  # the sign of a small yaw is within the points' noise
            continue
        mirrored = np.ascontiguousarray(rgb[:, ::-1])
        flipped = np.c_[size[0] - 1 - rec.points[:, 0], rec.points[:, 1]]
        other = head_pose(predict(landmarker, mirrored, flipped), size)
        assert np.sign(other.yaw) == -np.sign(pose.yaw) and abs(other.yaw + pose.yaw) < 8, (pose, other)
        if abs(pose.roll) > 3:
            assert np.sign(other.roll) == -np.sign(pose.roll)
        checked += 1
    assert checked >= 10


def test_frontal_faces_come_out_near_zero_yaw(landmarker, test_records):
    yaws = []
    for rec in [r for r in test_records if frontal(r)][:20]:
        rgb = to_rgb_array(rec.image)
        yaws.append(head_pose(predict(landmarker, rgb, rec.points), rgb.shape[1::-1]).yaw)
    assert np.median(np.abs(yaws)) < 4 and np.abs(yaws).max() < 10, np.round(yaws, 1)
    face = landmarker(portrait())[0]
    assert abs(face.head_pose(portrait().shape[1::-1]).yaw) < 6  # Grace Hopper looks into the camera


def test_pose_axes_start_at_the_nose(landmarker):
    rgb = portrait()
    face = landmarker(rgb)[0]
    axes = face.head_pose(rgb.shape[1::-1]).axes()
    assert np.linalg.norm(axes[0] - face.points[30]) < 3  # solvePnP fits the nose tip closely
    assert axes[1, 0] > axes[0, 0] and axes[2, 1] < axes[0, 1]  # x to the right, y up


def test_aligned_crops_put_the_eyes_on_the_template(landmarker, test_records):
    for rec in [r for r in test_records if frontal(r)][:10]:
        rgb = to_rgb_array(rec.image)
        face = landmarker.predict_boxes(rgb, [landmark_box(rec.points)], refine=1)[0]
        crop, back = face.aligned(rgb, size=112)
        assert crop.shape == (112, 112, 3)
        to_crop = cv2.invertAffineTransform(back)
        eyes = np.c_[five_points(face.points)[:2], np.ones(2)] @ to_crop.T
        assert np.linalg.norm(eyes - TEMPLATE_112[:2], axis=1).max() < 2.0
        # and back: the template's eyes land on the face's eyes in the photo
        np.testing.assert_allclose(np.c_[TEMPLATE_112[:2], np.ones(2)] @ back.T, five_points(face.points)[:2], atol=2.5)
    big, _ = face.aligned(rgb, size=224)
    assert big.shape == (224, 224, 3)


def test_closed_eyes_have_a_lower_aspect_ratio(landmarker, test_records):
    """Faces whose manual points show shut eyes against faces with open eyes, as the model sees them."""
    truth = np.array([eye_aspect_ratio(r.points) for r in test_records])
    shut, open_ = np.argsort(truth)[:4], np.argsort(truth)[len(truth) // 2 : len(truth) // 2 + 20]
    seen = {i: eye_aspect_ratio(landmarker.predict_boxes(test_records[i].image, [landmark_box(test_records[i].points)])[0].points)
            for i in [*shut, *open_]}
    assert np.median([seen[i] for i in shut]) < 0.75 * np.median([seen[i] for i in open_])


def test_blink_counter_ignores_jitter_and_counts_blinks():
    rng = np.random.default_rng(0)
    counter = BlinkCounter()
    for ear in 0.30 + 0.02 * rng.standard_normal(200):  # open eyes, tracking jitter
        counter.update(ear)
    assert counter.blinks == 0
    for _ in range(3):  # three blinks: two frames shut, then open again
        for ear in (0.12, 0.10, 0.29, 0.31, 0.30, 0.30):
            counter.update(ear)
    assert counter.blinks == 3
    for ear in (0.21, 0.24, 0.21, 0.24, 0.21):  # hovering around the closing threshold: no blink
        counter.update(ear)
    assert counter.blinks == 3


def test_a_face_looking_into_the_camera_reads_alike_anywhere_in_the_picture(landmarker):
    # the portrait pasted at the left edge, the middle and the right edge of a wide picture: a
    # pinhole camera sees those as faces turned towards it (about 18 degrees at the edges);
    # pose is measured from the line of sight, so they read about as the middle one does
    rgb = portrait()
    h, w = rgb.shape[:2]
    yaws = []
    for x in (0, (1600 - w) // 2, 1600 - w):
        canvas = np.full((h, 1600, 3), 40, np.uint8)
        canvas[:, x : x + w] = rgb
        (face,) = landmarker(canvas)
        yaws.append(face.head_pose((1600, h)).yaw)
    assert np.abs(np.array(yaws) - yaws[1]).max() < 12, np.round(yaws, 1)


def status_angles(status: str) -> np.ndarray:
    import re

    return np.array([float(v) for v in re.search(r"yaw ([-+]\d+)°, pitch ([-+]\d+)°, roll ([-+]\d+)°", status).groups()])


def test_the_mirrored_webcam_view_negates_yaw_and_roll_and_keeps_blinks_and_drawing(landmarker, test_records):
    from landmarks.webapp.handlers import Settings, annotate_frame

    settings = Settings(smoothing=False, show_axes=False)  # the axes are drawn in the face's frame, not mirrored
    checked = 0
    for rec in test_records[::7]:
        rgb = to_rgb_array(rec.image)
        if abs(head_pose(rec.points, rgb.shape[1::-1]).yaw) < 15:
            continue
        plain, _, status = annotate_frame(landmarker, rgb, None, settings, mirror=False)
        mirrored, _, mirrored_status = annotate_frame(landmarker, rgb, None, settings, mirror=True)
        if "yaw" not in status:
            continue
        a, b = status_angles(status), status_angles(mirrored_status)
        assert np.abs(b - a * [-1, 1, -1]).max() <= 1.5, (status, mirrored_status)
        assert status.rsplit("·", 1)[1] == mirrored_status.rsplit("·", 1)[1]  # the blink count
        # the drawing of the mirrored view is the mirror of the plain one's
        assert np.abs(mirrored.astype(int) - plain[:, ::-1]).mean() < 1.0
        checked += 1
        if checked == 6:
            break
    assert checked == 6
