import json

import numpy as np
import pytest
from conftest import run_landmarks

from landmarks.core.geometry import landmark_box
from landmarks.core.image_io import to_rgb_array
from landmarks.data.annotations import write_xml
from landmarks.inference.landmarker import FaceLandmarker
from landmarks.model.folder import ModelError, load_network
from landmarks.runtime.hardware import cpu_line
from landmarks.training.evaluate import evaluate


@pytest.fixture(scope="module")
def landmarker():
    return FaceLandmarker(device="cpu")


def test_evaluate_matches_a_hand_computation_on_three_faces(tmp_path, test_records, landmarker):
    faces = [test_records[i] for i in (0, 100, 400)]
    nmes, summary = evaluate(write_xml(faces, tmp_path / "three.xml"), landmarker, progress=False)
    by_hand = []
    for rec in faces:
        (pred,) = landmarker.predict_boxes(rec.image, [landmark_box(rec.points)])
        errors = [np.hypot(*(pred.points[i] - rec.points[i])) for i in range(68)]
        iod = np.hypot(*(rec.points[36] - rec.points[45]))
        by_hand.append(sum(errors) / 68 / iod)
    np.testing.assert_allclose(nmes, by_hand, rtol=1e-5)
    assert summary["n"] == 3
    assert summary["nme"] == pytest.approx(100 * np.mean(by_hand), abs=1e-3)
    assert summary["fr10"] == pytest.approx(100 * np.mean(np.array(by_hand) > 0.10), abs=0.005)  # rounded to 2 places


def test_bundled_model_finds_the_points_of_real_test_faces(tmp_path, test_records, landmarker):
    _, summary = evaluate(write_xml(test_records[::25], tmp_path / "some.xml"), landmarker, progress=False)
    assert summary["n"] == 23
    assert summary["nme"] < 6.0  # percent of the inter-ocular distance (3.9 on all 554)


def test_evaluate_command_prints_one_json_line(tmp_path, test_records):
    xml = write_xml(test_records[:4], tmp_path / "few.xml")
    for boxes in ("gt", "haar"):
        p = run_landmarks("evaluate", str(xml), "--boxes", boxes, "--json", "--ced", str(tmp_path / "ced.png"))
        assert p.returncode == 0, p.stderr
        lines = p.stdout.strip().splitlines()
        assert len(lines) == 1
        result = json.loads(lines[0])
        assert {"n", "nme", "fr8", "fr10", "auc8", "auc10", "ms_per_face", "runtime"} <= set(result)
        assert result["cpu"] == cpu_line() and result["runtime"] == "onnx-int8"  # figures name where they came from
        assert (tmp_path / "ced.png").stat().st_size > 5000
    assert 1 <= result["detected"] <= 4 and result["faces"] == 4


def test_relabel_writes_the_models_points_as_a_new_training_file(tmp_path, test_records, landmarker):
    from landmarks.data.annotations import read_xml
    from landmarks.training.metrics import nme_per_face

    faces = test_records[:3]
    labels = write_xml(faces, tmp_path / "few.xml")
    p = run_landmarks("relabel", str(labels), "--out", str(labels / "x.xml"))  # a folder inside a file
    assert p.returncode == 2 and p.stderr.startswith("error: --out") and "Traceback" not in p.stderr
    rgb = [to_rgb_array(r.image) for r in faces]
    for flip in (False, True):
        out = tmp_path / f"pseudo{flip}" / "labels.xml"
        p = run_landmarks("relabel", str(labels), "--out", str(out), *(["--flip"] if flip else []))
        assert p.returncode == 0, p.stderr
        assert "wrote 3 faces" in p.stdout and "NME against the old points" in p.stdout
        new = read_xml(out)
        assert [r.image for r in new] == [r.image for r in faces]
        # the model's points (one refining pass from the labelled box; mirrored when asked), not the labels
        expected = [landmarker.predict_boxes(im, [landmark_box(r.points)], refine=1, flip=flip)[0].points for im, r in zip(rgb, faces)]
        for r, e in zip(new, expected):
            np.testing.assert_allclose(r.points, e, atol=0.01)
            assert r.box == tuple(float(round(v)) for v in landmark_box(r.points))
    old = np.stack([r.points for r in faces])
    assert 0 < nme_per_face(np.stack([r.points for r in new]), old).max() < 0.08


def test_missing_or_broken_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="no such folder"):
        load_network(tmp_path / "absent")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="model.safetensors missing"):
        load_network(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 100)
    with pytest.raises(ModelError, match="cannot load"):
        load_network(tmp_path)
    p = run_landmarks("evaluate", "labels.xml", "--model", str(tmp_path / "absent"))
    assert p.returncode == 2 and "error: model" in p.stderr and "Traceback" not in p.stderr
