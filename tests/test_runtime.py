"""The int8 ONNX twin that FaceLandmarker runs on the CPU by default, its self-check, and the exact
ONNX model that runs where the twin fails it."""
import json
import logging
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from conftest import ROOT, training_only_packages, without_training_packages
from onnx import numpy_helper

from landmarks.core.geometry import landmark_box
from landmarks.core.samples import portrait_path
from landmarks.inference.landmarker import FaceLandmarker
from landmarks.model.folder import BUNDLED, EXACT_FILE, NAMED, ONNX_FILE, REFERENCE_FILE, ModelError, load_network
from landmarks.runtime.hardware import cpu_line
from landmarks.runtime.runners import TorchRunner, compute_reference, reference_crops
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


def one_warning(caplog, folder, runtime="auto"):
    """FaceLandmarker on the folder, and the one line it warned."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="landmarks"):
        fl = FaceLandmarker(str(folder), device="cpu", runtime=runtime)
    (record,) = [r for r in caplog.records if r.name.startswith("landmarks")]
    assert "\n" not in record.getMessage()
    return fl, record.getMessage()


@pytest.mark.parametrize("reference", [True, False], ids=["reference.npz", "weights as reference"])
def test_a_wrong_twin_gives_way_to_the_exact_model_then_pytorch_with_one_warning(tmp_path, caplog, reference):
    folder = copy_of_bundled(tmp_path, reference)
    damage_twin(folder)
    fl, warning = one_warning(caplog, folder)
    assert fl.runner.name == "onnx-fp32" and warning.endswith("using the exact ONNX model")
    assert fl.runner.note.startswith("the int8 twin is wrong on this CPU")
    assert "so the exact ONNX model runs, checked on this CPU" in fl.runner.note
    (folder / EXACT_FILE).unlink()
    fl, warning = one_warning(caplog, folder)
    assert fl.runner.name == "torch" and warning.endswith("using PyTorch")
    assert "the int8 twin is wrong on this CPU" in fl.runner.note and "so PyTorch runs" in fl.runner.note
    # asked for by name, the twin still runs, with the warning
    fl, warning = one_warning(caplog, folder, runtime="onnx")
    assert fl.runner.name == "onnx-int8" and warning.endswith("running it anyway, as asked")


@pytest.mark.parametrize("name", NAMED)
def test_the_exact_model_stores_fp16_and_computes_in_fp32(tmp_path, name):
    """model.onnx: the fp16-stored weights cast to float, casts that ONNX Runtime folds when it loads
    the file, and the fp32 network's outputs."""
    import onnxruntime as ort

    folder = NAMED[name]
    stored = onnx.load(str(folder / EXACT_FILE))
    kinds = {numpy_helper.to_array(i).dtype for i in stored.graph.initializer if i.dims and np.prod(i.dims) > 64}
    assert kinds == {np.dtype(np.float16)}  # every weight tensor: these weights were saved in fp16
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # constant folding among them
    options.optimized_model_filepath = str(tmp_path / "loaded.onnx")
    session = ort.InferenceSession(str(folder / EXACT_FILE), options, providers=["CPUExecutionProvider"])
    fp16 = {i.name for i in stored.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16}
    loaded = onnx.load(str(tmp_path / "loaded.onnx")).graph
    # no cast left on a weight, no weight left in fp16: the convolutions run in fp32
    assert not [n.name for n in loaded.node if n.op_type == "Cast" and n.input[0] in fp16]
    assert not [i.name for i in loaded.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    model = load_network(folder)
    crops = model.preprocess.normalise(reference_crops(model))
    points, confidence = session.run(None, {"crops": crops})
    want_points, want_confidence = TorchRunner(model, "cpu")(crops)
    np.testing.assert_allclose(points, want_points, atol=1e-4)  # crop units: 0.016 px of a 160-px crop
    np.testing.assert_allclose(confidence, want_confidence, atol=1e-4)


def test_an_intact_twin_passes_without_reference_file(tmp_path):
    folder = copy_of_bundled(tmp_path, reference=False)
    assert FaceLandmarker(str(folder), device="cpu").runner.name == "onnx-int8"


def test_a_truncated_twin_falls_back_and_the_cli_says_so_in_one_line(tmp_path, caplog):
    folder = copy_of_bundled(tmp_path)
    data = (folder / ONNX_FILE).read_bytes()
    (folder / ONNX_FILE).write_bytes(data[: len(data) // 3])
    fl, warning = one_warning(caplog, folder)
    assert fl.runner.name == "onnx-fp32" and "ONNX Runtime cannot load it" in fl.runner.note
    assert "ONNX Runtime cannot load it" in warning and warning.endswith("using the exact ONNX model")
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
    assert FaceLandmarker(str(folder), device="cpu").runner.name == "onnx-fp32"  # auto falls back, to export's exact model
    with pytest.raises(ModelError, match=ONNX_FILE):
        FaceLandmarker(str(folder), device="cpu", runtime="onnx")
    (folder / EXACT_FILE).unlink()
    assert FaceLandmarker(str(folder), device="cpu").runner.name == "torch"  # and further
    with pytest.raises(ModelError, match=f"^runtime 'onnx-fp32' needs a model folder with {EXACT_FILE}"):
        FaceLandmarker(str(folder), device="cpu", runtime="onnx-fp32")
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


def app_install_env(tmp_path) -> dict:
    """This environment less every training-only package: the app's install."""
    return {**os.environ, **without_training_packages(tmp_path / "no-train")}


def test_without_torch_the_checked_twin_gives_the_same_points(tmp_path, test_records):
    rec = test_records[3]
    box = landmark_box(rec.points)
    script = ("import json, sys; from landmarks import FaceLandmarker; fl = FaceLandmarker(); "
              f"f = fl.predict_boxes({str(rec.image)!r}, [{list(box)}])[0]; "
              "print(json.dumps([fl.runner.name, 'torch' in sys.modules and sys.modules['torch'] is not None, f.points.tolist()]))")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=app_install_env(tmp_path))
    assert p.returncode == 0, p.stderr
    name, imported, points = json.loads(p.stdout.splitlines()[-1])
    assert name == "onnx-int8" and not imported
    with_torch = FaceLandmarker(device="cpu", runtime="onnx").predict_boxes(rec.image, [box])[0].points
    np.testing.assert_allclose(points, with_torch, atol=1e-3)  # the same twin on the same crop


def test_without_torch_a_folder_without_the_twin_is_one_clear_line(tmp_path):
    from landmarks.hub.publish import export

    folder = export(BUNDLED, tmp_path / "m")
    (folder / ONNX_FILE).unlink()
    (folder / EXACT_FILE).unlink()
    p = subprocess.run([sys.executable, "-m", "landmarks", "predict", str(portrait_path()), "--out", str(tmp_path / "o.json"),
                        "--model", str(folder)], capture_output=True, text=True, cwd=ROOT, env=app_install_env(tmp_path))
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.strip() == (f"error: model {folder}: PyTorch is not installed (pip install '.[train]'), "
                                f"and no ONNX model can run instead: no {ONNX_FILE} or {EXACT_FILE} "
                                "in the model folder")


def test_without_torch_a_wrong_twin_gives_way_to_the_exact_model(tmp_path):
    """The app's install (no torch) never dead-ends: the twin runs on the portrait where it passes its
    check, the exact ONNX model where it does not, each giving the points that model gives with torch."""
    damaged = copy_of_bundled(tmp_path)
    damage_twin(damaged)
    script = ("import json, sys; from landmarks import FaceLandmarker; out = []\n"
              f"for model in (None, {str(damaged)!r}):\n"
              "    fl = FaceLandmarker(model); (face,) = fl(sys.argv[1])\n"
              "    out.append([fl.runner.name, fl.runner.note, face.points.tolist()])\n"
              "print(json.dumps([out, 'torch' in sys.modules and sys.modules['torch'] is not None]))")
    p = subprocess.run([sys.executable, "-c", script, str(portrait_path())], capture_output=True, text=True, cwd=ROOT,
                       env=app_install_env(tmp_path))
    assert p.returncode == 0, p.stderr
    ((twin, twin_note, twin_points), (exact, exact_note, exact_points)), imported = json.loads(p.stdout.splitlines()[-1])
    assert not imported and (twin, exact) == ("onnx-int8", "onnx-fp32"), (twin_note, exact_note)
    assert exact_note.startswith("the int8 twin is wrong on this CPU") and "checked on this CPU" in exact_note
    for points, model, runtime in ((twin_points, None, "onnx"), (exact_points, str(damaged), "onnx-fp32")):
        (face,) = FaceLandmarker(model, device="cpu", runtime=runtime)(portrait_path())
        np.testing.assert_allclose(points, face.points, atol=1e-3)  # the same model on the same picture


def test_without_torch_the_training_commands_say_what_to_install_in_one_line(tmp_path):
    # the command line's list of training-only packages is pyproject's train extra less requirements.txt
    from landmarks.__main__ import TRAINING_MODULES

    assert TRAINING_MODULES == set(training_only_packages())
    # the first training-only package each command imports is the one it names
    one_of = "|".join(training_only_packages())
    p = subprocess.run([sys.executable, "-m", "landmarks", "export", "full", str(tmp_path / "out")],
                       capture_output=True, text=True, cwd=ROOT, env=app_install_env(tmp_path))
    assert p.returncode == 2 and re.fullmatch(f"error: export needs ({one_of}), which the app's install leaves out: "
                                              r"pip install '\.\[train\]'", p.stderr.strip()), p.stderr
    p = subprocess.run([sys.executable, "-m", "train", "--data", str(tmp_path), "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, cwd=ROOT, env=app_install_env(tmp_path))
    assert p.returncode == 2 and re.fullmatch(f"error: training needs ({one_of}), which the app's install leaves out: "
                                              r"pip install '\.\[train\]'", p.stderr.strip()), p.stderr
