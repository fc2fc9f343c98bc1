"""The default detector path of ``FaceLandmarker`` (BlazeFace): real faces are found with
their points on the face, tilted, tiny and image-filling ones too; things that are not faces
give nothing; the cascades and user detectors can still be picked."""
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from pictures import non_faces, portrait

from landmarks.core.geometry import landmark_box
from landmarks.core.image_io import to_rgb_array
from landmarks.detection.base import DetectorError, iou
from landmarks.detection.blazeface import BlazeFaceDetector
from landmarks.detection.detectors import make_detector
from landmarks.detection.haar import FastDetector, HaarDetector
from landmarks.inference.landmarker import FaceLandmarker


@pytest.fixture(scope="module")
def landmarker():
    return FaceLandmarker(device="cpu")


def inside(points, box, margin=0.1) -> float:
    """Fraction of the points inside ``box`` grown by ``margin`` of its size on each side."""
    x, y, w, h = box
    x0, y0, x1, y1 = x - margin * w, y - margin * h, x + w * (1 + margin), y + h * (1 + margin)
    return float(np.mean((points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)))


def test_default_is_blazeface_and_the_cascades_stay_available(landmarker):
    assert isinstance(landmarker.detector, BlazeFaceDetector) and landmarker.refine == 0
    haar = FaceLandmarker(landmarker.model, detector="haar")
    assert isinstance(haar.detector, HaarDetector) and haar.refine == 2
    assert isinstance(FaceLandmarker(landmarker.model, detector="fast").detector, FastDetector)
    assert FaceLandmarker(landmarker.model, refine=0).refine == 0
    mine = lambda rgb, min_face=None: (np.zeros((0, 4), np.float32), np.zeros(0, np.float32))  # noqa: E731
    assert make_detector(mine) is mine
    assert FaceLandmarker(landmarker.model, detector=mine)(portrait()) == []
    with pytest.raises(ValueError):
        make_detector("nope")
    assert make_detector("haar", scale_factor=1.3).scale_factor == 1.3
    with pytest.raises(ValueError, match="BlazeFace has none"):  # once silently ignored
        make_detector("blazeface", scale_factor=1.2)


def test_test_faces_found_with_points_on_the_face(landmarker, test_records):
    recs = test_records[::40]  # 14 crops
    found = 0
    for rec in recs:
        faces = landmarker(rec.image)
        gt = landmark_box(rec.points)
        hits = [f for f in faces if iou(gt, landmark_box(f.points)) >= 0.5]
        assert len(faces) <= 1, "one face per crop, no duplicates or false alarms"
        if hits:
            found += 1
            assert inside(hits[0].points, gt) > 0.95
            assert hits[0].score >= landmarker.min_score
    assert found >= len(recs) - 1  # 553 of 554 on the whole set (benchmarks/recall.py)


def test_a_face_filling_the_image_and_a_tiny_one_are_found(landmarker):
    rgb = portrait()
    close_up = cv2.resize(rgb[100:350, 160:360], None, fx=2, fy=2)  # a 400-px face fills the picture
    assert len(landmarker(close_up)) == 1  # too large for the finest pass: the coarse one finds it
    tiny = cv2.resize(rgb, None, fx=0.12, fy=0.12, interpolation=cv2.INTER_AREA)  # face about 26 px wide
    canvas = np.full((480, 640, 3), 100, np.uint8)
    canvas[200 : 200 + tiny.shape[0], 300 : 300 + tiny.shape[1]] = tiny
    assert landmarker(canvas) == [], "smaller than min_face"
    (face,) = landmarker(canvas, min_face=20)
    assert inside(face.points, (300 + 150 * 0.12, 200 + 90 * 0.12, 220 * 0.12, 270 * 0.12), margin=0.1) > 0.95


def test_blazeface_runs_from_several_threads_at_once(test_records):
    detector = BlazeFaceDetector()
    images = [to_rgb_array(r.image) for r in test_records[:16:2]]
    alone = [detector(rgb)[0] for rgb in images]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda rgb: detector(rgb)[0], images))
    for a, b in zip(alone, together):
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_portrait_found_with_points_on_the_face(landmarker):
    (face,) = landmarker(portrait())  # public domain; the face spans about x 150-370, y 90-360
    assert inside(face.points, (150, 90, 220, 270), margin=0.05) == 1.0


def test_several_faces_small_large_and_tilted_in_one_scene(landmarker, test_records):
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    boxes = []
    for rec, x, face_px, angle in ((test_records[0], 40, 60, 0), (test_records[40], 300, 180, 0), (test_records[80], 700, 300, 20)):
        crop, pts = to_rgb_array(rec.image), np.asarray(rec.points, np.float64)
        if angle:
            m = cv2.getRotationMatrix2D((crop.shape[1] / 2, crop.shape[0] / 2), angle, 1.0)
            crop = cv2.warpAffine(crop, m, crop.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
            pts = pts @ m[:, :2].T + m[:, 2]
        s = face_px / landmark_box(pts)[2]
        crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        canvas[100 : 100 + crop.shape[0], x : x + crop.shape[1]] = crop
        bx, by, bw, bh = landmark_box(pts * s)
        boxes.append((bx + x, by + 100, bw, bh))
    faces = landmarker(canvas)
    assert len(faces) == 3
    for gt in boxes:
        (face,) = [f for f in faces if iou(gt, landmark_box(f.points)) >= 0.5]
        assert inside(face.points, gt) > 0.95


@pytest.mark.parametrize("name, rgb, box", non_faces(), ids=[n for n, _, _ in non_faces()])
def test_non_face_pictures_give_nothing(landmarker, name, rgb, box):
    x, y, w, h = box
    x0, y0 = max(0, int(x - w / 4)), max(0, int(y - h / 4))
    crop = np.ascontiguousarray(rgb[y0 : int(y + h * 1.25), x0 : int(x + w * 1.25)])
    if max(crop.shape[:2]) < 256:
        crop = cv2.resize(crop, None, fx=256 / max(crop.shape[:2]), fy=256 / max(crop.shape[:2]))
    assert landmarker(crop) == [], name


def test_the_apps_examples_show_every_face_they_hold(landmarker, tmp_path):
    from landmarks.core.samples import write_examples

    expected = {"one_face.jpg": 1, "four_faces.jpg": 4, "turned_face.jpg": 1}
    paths = write_examples(tmp_path)
    assert [p.name for p in paths] == list(expected)
    for path in paths:
        faces = landmarker(path)
        assert len(faces) == expected[path.name], path.name
        assert all(f.score > 0.8 for f in faces), [f.score for f in faces]


def test_blazeface_boxes_are_the_landmark_boxes_its_keypoints_predict(test_records):
    """BlazeFace reports the tight landmark box its box and six keypoints predict
    (benchmarks/box_calibration.py): closer to the test faces' boxes than its own box with the
    one calibration that fits all faces best (the median offset and size)."""
    from landmarks.detection.base import match_detections, to_landmark_boxes

    detector, median = BlazeFaceDetector(), (0.000, 0.093, 0.879, 0.859)
    fitted, calibrated = [], []
    for rec in test_records[::10]:
        rgb, truth = to_rgb_array(rec.image), landmark_box(rec.points)
        own, _, _ = detector.detections(rgb)
        boxes, _ = detector(rgb)
        (i,), (j,) = match_detections([truth], own), match_detections([truth], boxes)
        calibrated.append(iou(truth, to_landmark_boxes(own[i], median)[0]))
        fitted.append(iou(truth, boxes[j]))
    print(f"mean IoU with the landmark box over {len(fitted)} test faces: fitted {np.mean(fitted):.3f}, one calibration {np.mean(calibrated):.3f}")
    assert np.mean(fitted) > 0.85 and np.mean(fitted) > np.mean(calibrated) + 0.05


def test_damaged_detector_weights_are_one_clear_line(tmp_path, monkeypatch):
    import landmarks.detection.blazeface as blazeface

    broken = tmp_path / "blazeface_full_range.onnx"
    broken.write_bytes(b"not a model")
    monkeypatch.setattr(blazeface, "WEIGHTS", broken)
    with pytest.raises(DetectorError, match="cannot load the face detector .*reinstall the package") as e:
        BlazeFaceDetector()
    assert "\n" not in str(e.value)


def test_a_damaged_box_fit_is_one_clear_line(tmp_path):
    broken = tmp_path / "blazeface_box_fit.json"
    for text in ("{", '{"fit": [[1, 2], [3, 4]]}'):
        broken.write_text(text)
        with pytest.raises(DetectorError, match="cannot load the face detector .*reinstall the package") as e:
            BlazeFaceDetector(box_fit=broken)
        assert "\n" not in str(e.value)
