"""The int8 ONNX twin that FaceLandmarker runs on the CPU by default."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

from landmarks.data import landmark_box
from landmarks.metrics import nme_per_face
from landmarks.models import BUNDLED, ModelError
from landmarks.predictor import FaceLandmarker
from landmarks.runtime import ONNX_FILE


def test_bundled_model_runs_on_int8_onnx_by_default():
    assert (BUNDLED / ONNX_FILE).is_file()
    assert FaceLandmarker(device="cpu").runner.name == "onnx-int8"


def test_int8_points_match_the_torch_model_on_real_faces(test_records):
    fast, reference = FaceLandmarker(device="cpu"), FaceLandmarker(device="cpu", runtime="torch")
    recs = test_records[::20]
    a, b, gt = [], [], []
    for rec in recs:
        box = [landmark_box(rec.points)]
        a.append(fast.predict_boxes(rec.image, box)[0].points)
        b.append(reference.predict_boxes(rec.image, box)[0].points)
        gt.append(rec.points)
    a, b, gt = map(np.array, (a, b, gt))
    assert np.median(nme_per_face(a, b)) < 0.01  # the two runtimes agree to 1 % of the eye distance
    assert abs(nme_per_face(a, gt).mean() - nme_per_face(b, gt).mean()) < 0.003


def test_onnx_runtime_without_the_file_is_a_clear_error(tmp_path):
    from landmarks.hub import export

    folder = export(BUNDLED, tmp_path / "m")
    (folder / ONNX_FILE).unlink()
    assert FaceLandmarker(str(folder), device="cpu").runner.name == "torch"  # auto falls back
    with pytest.raises(ModelError, match=ONNX_FILE):
        FaceLandmarker(str(folder), device="cpu", runtime="onnx")
    p = subprocess.run([sys.executable, "-m", "landmarks", "evaluate", "labels.xml", "--model", str(folder), "--runtime", "onnx"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and f"error: runtime 'onnx' needs a model folder with {ONNX_FILE}" in p.stderr
    assert "Traceback" not in p.stderr
