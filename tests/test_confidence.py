"""The bundled model's face confidence: real faces pass, the cascade's kind of mistakes do not."""
import numpy as np
import pytest
from pictures import non_faces

from landmarks.core.geometry import landmark_box
from landmarks.core.image_io import to_rgb_array
from landmarks.detection.base import to_landmark_boxes
from landmarks.detection.haar import HAAR_TO_LANDMARK_BOX
from landmarks.inference.landmarker import FaceLandmarker
from landmarks.model.folder import MIN_SCORE


@pytest.fixture(scope="module")
def landmarker():
    return FaceLandmarker(device="cpu")


def test_real_test_faces_score_high(landmarker, test_records):
    scores = []
    for rec in test_records[::12]:
        (face,) = landmarker.predict_boxes(rec.image, [landmark_box(rec.points)])
        scores.append(face.score)
    assert len(scores) == 47
    assert np.mean(np.array(scores) >= MIN_SCORE) > 0.95 and np.median(scores) > 0.8  # 553 of 554 on the whole set


@pytest.mark.parametrize("name, rgb, box", non_faces(), ids=[n for n, _, _ in non_faces()])
def test_non_faces_score_low_and_are_dropped(landmarker, name, rgb, box):
    (face,) = landmarker.predict_boxes(rgb, to_landmark_boxes([box], HAAR_TO_LANDMARK_BOX), refine=1)
    assert face.score < MIN_SCORE, f"{name}: {face.score:.3f}"
    assert landmarker.from_detections(rgb, [box]) == []


def test_a_real_face_box_is_kept(landmarker, test_records):
    rec = test_records[0]
    rgb = to_rgb_array(rec.image)
    boxes = landmarker.detect(rgb)
    faces = landmarker.from_detections(rgb, boxes)
    assert len(faces) >= 1 and faces[0].score >= MIN_SCORE
