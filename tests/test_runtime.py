"""The int8 ONNX twin that FaceLandmarker runs on the CPU by default, and its self-check."""
import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from conftest import ROOT, without_torch
from onnx import numpy_helper

from landmarks.core.geometry import landmark_box
from landmarks.core.samples import portrait_path
from landmarks.inference.landmarker import FaceLandmarker
from landmarks.model.folder import BUNDLED, ONNX_FILE, REFERENCE_FILE, ModelError, load_network
from landmarks.runtime.hardware import cpu_line
from landmarks.runtime.runners import compute_reference
from landmarks.training.metrics import nme_per_face


def test_bundled_model_runs_on_int8_onnx_by_default():
    assert (BUNDLED / ONNX_FILE).is_file()
    fl = FaceLandmarker(device="cpu")
    # the twin passed its self-check on this very CPU
    assert fl.runner.name == "onnx-int8", f"{cpu_line()}: {fl.runner.note}"
    assert fl.runner.note.startswith("checked on this CPU")


def test_the_stored_reference_is_what_the_weights_give():
    model = load_network(BUNDLED)
    computed = compute_reference(model)
    with np.load(BUNDLED / REFERENCE_FILE) as stored:
        np.testing.assert_array_equal(stored["crops"], computed.crops)
        np.testing.assert_allclose(stored["points"], computed.points, atol=1e-5)
        np.testing.assert_allclose(stored["confidence"], computed.confidence, atol=1e-5)


def copy_of_bundled(tmp_path, reference=True):
    folder = tmp_path / "model"
    shutil.copytree(BUNDLED, folder)
    if not reference:
        (folder / REFERENCE_FILE).unlink()
    return folder


def damage_twin(folder, factor=1.3):
    """Scale the dequantisation scales of one conv's int8 weights: the file loads and runs,
    the points are wrong -- as a twin with wrong kernels on some CPU would be."""
    model = onnx.load(str(folder / ONNX_FILE))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    weights = [n for n in graph.node if n.op_type == "DequantizeLinear" and len(getattr(inits.get(n.input[0]), "dims", ())) == 4]
    node = weights[5]  # a conv of the second stage
    scale = inits[node.input[1]]
    scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * factor, scale.name))
    onnx.save(model, str(folder / ONNX_FILE))


@pytest.mark.parametrize("reference", [True, False], ids=["reference.npz", "weights as reference"])
def test_a_wrong_twin_falls_back_to_pytorch_with_one_warning(tmp_path, caplog, reference):
    folder = copy_of_bundled(tmp_path, reference)
    damage_twin(folder)
    with caplog.at_level(logging.WARNING, logger="landmarks"):
        fl = FaceLandmarker(str(folder), device="cpu")
    assert fl.runner.name == "torch"
    assert "the int8 twin is wrong on this CPU" in fl.runner.note and "so PyTorch runs" in fl.runner.note
    (record,) = [r for r in caplog.records if r.name.startswith("landmarks")]
    assert "\n" not in record.getMessage() and record.getMessage().endswith("using PyTorch")
    # asked for by name, the twin still runs, with the warning
    assert FaceLandmarker(str(folder), device="cpu", runtime="onnx").runner.name == "onnx-int8"


def test_an_intact_twin_passes_without_reference_file(tmp_path):
    folder = copy_of_bundled(tmp_path, reference=False)
    assert FaceLandmarker(str(folder), device="cpu").runner.name == "onnx-int8"


def test_a_truncated_twin_falls_back_and_the_cli_says_so_in_one_line(tmp_path, caplog):
    folder = copy_of_bundled(tmp_path)
    data = (folder / ONNX_FILE).read_bytes()
    (folder / ONNX_FILE).write_bytes(data[: len(data) // 3])
    with caplog.at_level(logging.WARNING, logger="landmarks"):
        fl = FaceLandmarker(str(folder), device="cpu")
    assert fl.runner.name == "torch" and "could not be loaded" in fl.runner.note
    assert any("cannot be loaded" in r.getMessage() for r in caplog.records)
    with pytest.raises(ModelError, match="ONNX Runtime cannot load it"):
        FaceLandmarker(str(folder), device="cpu", runtime="onnx")
    p = subprocess.run([sys.executable, "-m", "landmarks", "evaluate", "labels.xml", "--model", str(folder), "--runtime", "onnx"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and "ONNX Runtime cannot load it" in p.stderr and "Traceback" not in p.stderr


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
    from landmarks.hub.publish import export

    folder = export(BUNDLED, tmp_path / "m")
    (folder / ONNX_FILE).unlink()
    assert FaceLandmarker(str(folder), device="cpu").runner.name == "torch"  # auto falls back
    with pytest.raises(ModelError, match=ONNX_FILE):
        FaceLandmarker(str(folder), device="cpu", runtime="onnx")
    p = subprocess.run([sys.executable, "-m", "landmarks", "evaluate", "labels.xml", "--model", str(folder), "--runtime", "onnx"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and f"error: runtime 'onnx' needs a model folder with {ONNX_FILE}" in p.stderr
    assert "Traceback" not in p.stderr


def test_export_sets_the_readout_and_never_keeps_a_twin_that_reads_otherwise(tmp_path, test_records):
    from landmarks.hub.publish import export

    assert load_network(BUNDLED).head.readout == "neighbours"
    with pytest.raises(ModelError, match="give --int8 LABELS"):  # the bundled twin reads at the neighbourhood
        export(BUNDLED, tmp_path / "stale", readout="cell")
    bare = export(BUNDLED, tmp_path / "bare")
    (bare / ONNX_FILE).unlink()
    cell = export(bare, tmp_path / "cell", readout="cell")
    assert json.loads((cell / "config.json").read_text())["readout"] == "cell"
    rec = test_records[3]
    box = [landmark_box(rec.points)]
    a = FaceLandmarker(str(bare)).predict_boxes(rec.image, box)[0].points
    b = FaceLandmarker(str(cell)).predict_boxes(rec.image, box)[0].points
    assert 0 < np.linalg.norm(a - b, axis=1).mean() < 2  # pixels on a 256-px crop: the same weights, read two ways


def no_torch_env(tmp_path) -> dict:
    return {**os.environ, **without_torch(tmp_path / "no-torch")}


def test_without_torch_the_checked_twin_gives_the_same_points(tmp_path, test_records):
    rec = test_records[3]
    box = landmark_box(rec.points)
    script = ("import json, sys; from landmarks import FaceLandmarker; fl = FaceLandmarker(); "
              f"f = fl.predict_boxes({str(rec.image)!r}, [{list(box)}])[0]; "
              "print(json.dumps([fl.runner.name, 'torch' in sys.modules and sys.modules['torch'] is not None, f.points.tolist()]))")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=no_torch_env(tmp_path))
    assert p.returncode == 0, p.stderr
    name, imported, points = json.loads(p.stdout.splitlines()[-1])
    assert name == "onnx-int8" and not imported
    with_torch = FaceLandmarker(device="cpu", runtime="onnx").predict_boxes(rec.image, [box])[0].points
    np.testing.assert_allclose(points, with_torch, atol=1e-3)  # the same twin on the same crop


def test_without_torch_a_folder_without_the_twin_is_one_clear_line(tmp_path):
    from landmarks.hub.publish import export

    folder = export(BUNDLED, tmp_path / "m")
    (folder / ONNX_FILE).unlink()
    p = subprocess.run([sys.executable, "-m", "landmarks", "predict", str(portrait_path()), "--out", str(tmp_path / "o.json"),
                        "--model", str(folder)], capture_output=True, text=True, cwd=ROOT, env=no_torch_env(tmp_path))
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.strip() == (f"error: model {folder}: PyTorch is not installed (pip install torch, or the full "
                                f"requirements), and the int8 twin cannot run instead: no {ONNX_FILE} in the model folder")
