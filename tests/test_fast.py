"""The fast tier: synthetic points and images only, no data, no model, no server -- runs
anywhere in seconds (``python -m pytest tests/test_fast.py``)."""
import cv2
import numpy as np
import pytest
import torch

from landmarks.core import geometry
from landmarks.core.scheme import FLIP_PERMUTATION, NUM_POINTS, REGIONS
from landmarks.face.alignment import TEMPLATE_112, alignment_matrix, five_points
from landmarks.face.openness import BlinkCounter, eye_aspect_ratio, mouth_aspect_ratio
from landmarks.face.pose import MODEL_INDICES, MODEL_POINTS, camera_matrix, head_pose
from landmarks.model.folder import check_config, upgrade_config
from landmarks.model.heads import PipHead, RegressHead
from landmarks.model.preprocess import Preprocess
from landmarks.training.metrics import nme_per_face, summarize


def synthetic_face(rng=None) -> np.ndarray:
    """68 points shaped roughly like a frontal face in a 200-px box at (100, 100)."""
    rng = rng or np.random.default_rng(0)
    t = np.linspace(0, np.pi, 17)
    jaw = np.c_[200 - 100 * np.cos(t), 180 + 90 * np.sin(t) - 60]
    brows = np.c_[np.linspace(130, 270, 10), np.full(10, 150.0)]
    nose = np.r_[np.c_[np.full(4, 200.0), np.linspace(165, 225, 4)], np.c_[np.linspace(180, 220, 5), np.full(5, 235.0)]]
    eye = lambda cx: np.c_[cx + 20 * np.cos(np.linspace(np.pi, -np.pi, 7)[:6]), 175 + 8 * np.sin(np.linspace(np.pi, -np.pi, 7)[:6])]  # noqa: E731
    mouth = np.c_[200 - 40 * np.cos(np.linspace(0, 2 * np.pi, 13)[:12]), 265 + 15 * np.sin(np.linspace(0, 2 * np.pi, 13)[:12])]
    inner = np.c_[200 - 25 * np.cos(np.linspace(0, 2 * np.pi, 9)[:8]), 265 + 5 * np.sin(np.linspace(0, 2 * np.pi, 9)[:8])]
    pts = np.r_[jaw, brows, nose, eye(155), eye(245), mouth, inner]
    assert pts.shape == (NUM_POINTS, 2)
    return (pts + rng.normal(0, 0.5, pts.shape)).astype(np.float32)


def test_the_flip_permutation_is_an_involution_that_swaps_sides():
    assert np.array_equal(FLIP_PERMUTATION[FLIP_PERMUTATION], np.arange(NUM_POINTS))
    assert FLIP_PERMUTATION[36] == 45 and FLIP_PERMUTATION[0] == 16 and FLIP_PERMUTATION[30] == 30
    assert sorted(i for r in REGIONS.values() for i in r) == list(range(NUM_POINTS))


def test_crop_targets_round_trip():
    pts = synthetic_face()
    region = geometry.region_from_box((100, 100, 200, 190), 0.2, True)
    np.testing.assert_allclose(geometry.from_targets(geometry.to_targets(pts, region), region), pts, atol=1e-3)


@pytest.mark.parametrize("readout", ["cell", "neighbours"])
@pytest.mark.parametrize("grid", [5, 8])
def test_pip_head_decodes_what_its_loss_encodes(grid, readout):
    head = PipHead(8, NUM_POINTS, readout=readout)
    targets = torch.rand(3, NUM_POINTS, 2) * 0.9 - 0.45
    u, cell = head.cells(targets, grid)
    idx = torch.arange(grid, dtype=torch.float32)
    raw = torch.zeros(3, 3, NUM_POINTS, grid, grid)
    raw[:, 0] = ((idx.view(1, 1, 1, -1) == cell[..., 0, None, None]) & (idx.view(1, 1, -1, 1) == cell[..., 1, None, None])).float()
    raw[:, 1] = u[..., 0, None, None] - idx.view(1, 1, 1, -1)
    raw[:, 2] = u[..., 1, None, None] - idx.view(1, 1, -1, 1)
    raw = raw.view(3, -1, grid, grid)
    points, confidence = head.decode(raw)
    assert torch.allclose(points, targets, atol=1e-5) and torch.all(confidence == 1)
    assert head.loss(raw, targets).item() == pytest.approx(0, abs=1e-6)


def test_the_neighbours_readout_is_the_mean_of_the_estimates_around_the_best_cell():
    g = 5
    raw = torch.randn(2, 3, NUM_POINTS, g, g)
    raw[:, 0] = raw[:, 0].clamp(max=0.5)
    raw[0, 0, 0, 2, 3] = 1.0  # face 0, point 0: best cell at row 2, column 3 (nine neighbours in the grid)
    raw[0, 0, 1, 0, 0] = 1.0  # point 1: at the corner, where only four cells are in the grid
    est_x = torch.arange(g).view(1, g) + raw[0, 1, :2]  # (2, G, G): the position each cell gives, in cells
    est_y = torch.arange(g).view(g, 1) + raw[0, 2, :2]
    flat = raw.view(2, -1, g, g)
    points, _ = PipHead(8, NUM_POINTS, readout="neighbours").decode(flat)
    for p, (rows, cols) in enumerate([(slice(1, 4), slice(2, 5)), (slice(0, 2), slice(0, 2))]):
        expected = torch.stack([est_x[p, rows, cols].mean(), est_y[p, rows, cols].mean()]) / g - 0.5
        assert torch.allclose(points[0, p], expected, atol=1e-6)
    cell, _ = PipHead(8, NUM_POINTS).decode(flat)  # the default: the best cell alone
    assert torch.allclose(cell[0, 0], torch.stack([est_x[0, 2, 3], est_y[0, 2, 3]]) / g - 0.5, atol=1e-6)
    assert not torch.allclose(cell, points)
    with pytest.raises(ValueError, match="readout cell or neighbours, not 'mean'"):
        PipHead(8, NUM_POINTS, readout="mean")


def test_regress_head_and_its_losses():
    head = RegressHead(8, NUM_POINTS, loss="l1")
    raw = head(torch.zeros(2, 8, 5, 5))
    assert raw.shape == (2, NUM_POINTS, 2) and not head.has_confidence
    assert head.loss(raw, raw.detach()).item() == 0
    with pytest.raises(ValueError, match="the regress head trains with l1 or mse, not loss 'pip'"):
        RegressHead(8, NUM_POINTS, loss="pip")


def test_nme_and_summary_by_hand():
    gt = synthetic_face()[None]
    iod = np.linalg.norm(gt[0, 36] - gt[0, 45])
    pred = gt + [3.0, 4.0]  # every point 5 px off
    assert nme_per_face(pred, gt)[0] == pytest.approx(5 / iod)
    s = summarize(np.array([0.02, 0.05, 0.09, 0.2]))
    assert s["n"] == 4 and s["nme"] == pytest.approx(9.0) and s["fr8"] == 50.0 and s["fr10"] == 25.0


def project(yaw, pitch, roll, size=(640, 480), distance=2500.0, at=(0.0, 0.0)):
    """Image points of the generic head at a known pose, as the pose module's camera sees it:
    ``at`` (x, y) shifts the head sideways, and the angles are then from the line of sight
    (0, 0, 0: looking into the camera from there)."""
    r = cv2.Rodrigues(np.array([0.0, 0.0, -np.radians(roll)]))[0] @ cv2.Rodrigues(np.array([0.0, -np.radians(yaw), 0.0]))[0] \
        @ cv2.Rodrigues(np.array([-np.radians(pitch), 0.0, 0.0]))[0]
    t = np.array([*at, distance])
    axis = np.cross([0, 0, 1], t / np.linalg.norm(t))  # the camera's axis turned onto the ray to the head
    if np.linalg.norm(axis) > 0:
        r = cv2.Rodrigues(axis / np.linalg.norm(axis) * np.arccos(distance / np.linalg.norm(t)))[0] @ r
    uv, _ = cv2.projectPoints(MODEL_POINTS, cv2.Rodrigues(r)[0], t, camera_matrix(size), None)
    pts = np.zeros((NUM_POINTS, 2))
    pts[MODEL_INDICES] = uv.reshape(-1, 2)
    return pts


@pytest.mark.parametrize("yaw, pitch, roll", [(0, 0, 0), (20, 0, 0), (-30, 10, 0), (0, -15, 25), (15, 10, -20)])
def test_pose_recovers_known_angles(yaw, pitch, roll):
    pose = head_pose(project(yaw, pitch, roll), (640, 480))
    assert (pose.yaw, pose.pitch, pose.roll) == pytest.approx((yaw, pitch, roll), abs=0.5)


@pytest.mark.parametrize("at", [(-1500, 0), (1400, -900), (0, 1000)])
@pytest.mark.parametrize("yaw, pitch, roll", [(0, 0, 0), (20, -10, 5)])
def test_pose_is_measured_from_the_line_of_sight(at, yaw, pitch, roll):
    # a head looking into the camera from the edge of the picture reads 0, as in the middle
    # (the head 2500 units away and 1500 aside is about 31 degrees off the camera's axis)
    pose = head_pose(project(yaw, pitch, roll, at=at), (640, 480))
    assert (pose.yaw, pose.pitch, pose.roll) == pytest.approx((yaw, pitch, roll), abs=0.5)


def test_pose_of_a_mirrored_face_flips_yaw_and_roll():
    pts = project(25, 5, 12)
    mirrored = np.c_[639 - pts[:, 0], pts[:, 1]][FLIP_PERMUTATION]
    a, b = head_pose(pts, (640, 480)), head_pose(mirrored, (640, 480))
    assert (b.yaw, b.pitch, b.roll) == pytest.approx((-a.yaw, a.pitch, -a.roll), abs=0.5)


def test_alignment_puts_the_template_face_on_the_template():
    pts = synthetic_face()
    m = alignment_matrix(pts)
    moved = np.c_[five_points(pts), np.ones(5)] @ m.T
    assert np.linalg.norm(moved[:2] - TEMPLATE_112[:2], axis=1).max() < 2.5
    # a turned and shrunk copy of the face aligns to the same crop positions
    turn = cv2.getRotationMatrix2D((200, 200), 25, 0.6)
    m2 = alignment_matrix(np.c_[pts, np.ones(NUM_POINTS)] @ turn.T)
    np.testing.assert_allclose(np.c_[np.c_[pts, np.ones(NUM_POINTS)] @ turn.T, np.ones(NUM_POINTS)] @ m2.T,
                               np.c_[pts, np.ones(NUM_POINTS)] @ m.T, atol=1e-3)


def test_eye_and_mouth_openness():
    pts = synthetic_face()
    assert 0.2 < eye_aspect_ratio(pts) < 0.5 and mouth_aspect_ratio(pts) > 0.1
    shut = pts.copy()
    for eye in ("right eye", "left eye"):
        idx = list(REGIONS[eye])
        shut[idx, 1] = shut[idx, 1].mean()
    assert eye_aspect_ratio(shut) < 0.02
    counter = BlinkCounter()
    for ear in [eye_aspect_ratio(pts)] * 10 + [eye_aspect_ratio(shut)] * 2 + [eye_aspect_ratio(pts)] * 3:
        counter.update(ear)
    assert counter.blinks == 1


def test_preprocess_spec_crops_and_normalises():
    spec = Preprocess(size=32, channels=1, margin=0.0, square=True, mean=0.5, std=0.25)
    image = np.zeros((100, 100, 3), np.uint8)
    image[40:60, 40:60] = 255
    x = spec(image, [spec.region((40, 40, 20, 20))])
    assert x.shape == (1, 1, 32, 32) and x.dtype == np.float32
    assert x[0, 0, 16, 16] == pytest.approx((1 - 0.5) / 0.25) and x[0, 0, 0, 0] > 0  # white inside, the edge too


def test_config_upgrade_and_bounds():
    flat = {"arch": "resnet18", "head": "pip", "input_size": 160, "in_channels": 1, "margin": 0.2, "square": True,
            "mean": 0.5, "std": 0.5}
    up = upgrade_config(flat)
    assert up["preprocess"] == {"size": 160, "channels": 1, "margin": 0.2, "square": True, "mean": 0.5, "std": 0.5}
    assert Preprocess(**up["preprocess"]).size == 160
    with pytest.raises(ValueError, match="preprocess.size is 2400"):
        check_config({**flat, "input_size": 2400})
    with pytest.raises(ValueError, match="head is 'x'"):
        check_config({**flat, "head": "x"})
    assert check_config({**flat, "readout": None})["readout"] is None  # the head's default, as in older folders
    with pytest.raises(ValueError, match="readout is 'best'"):
        check_config({**flat, "readout": "best"})
    # a model's own face threshold: a score, or null (the library's default)
    from landmarks.model.folder import ModelSpec

    assert ModelSpec.from_config(check_config({**flat, "min_score": 0.7})).min_score == 0.7
    assert ModelSpec.from_config(check_config({**flat, "min_score": None})).min_score is None
    with pytest.raises(ValueError, match="min_score is 1.5"):
        check_config({**flat, "min_score": 1.5})
    # the model that finds its crops: a bundled model's name, never a path or a repo a stranger's file could name
    assert ModelSpec.from_config(check_config({**flat, "crop_model": "lite"})).crop_model == "lite"
    assert ModelSpec.from_config(check_config(flat)).crop_model is None
    for where in ("../lite", "user/repo", "/tmp/model"):
        with pytest.raises(ValueError, match="crop_model is"):
            check_config({**flat, "crop_model": where})
    # a model's own smoothing: the FaceFilter's two triples
    smoothing = {"motion": [0.1, 50, 4], "shape": [0.1, 250, 1]}
    assert ModelSpec.from_config(check_config({**flat, "smoothing": smoothing})).smoothing == (
        ("motion", (0.1, 50, 4)), ("shape", (0.1, 250, 1)))
    for bad in ({"motion": [0.1, 50]}, {"motion": [0.1, -5, 4]}, {"speed": [1, 1, 1]}, [0.1, 50, 4], {"shape": [0.1, True, 1]}):
        with pytest.raises(ValueError, match="smoothing is"):
            check_config({**flat, "smoothing": bad})


def test_what_inference_knows_of_each_head_without_torch_matches_the_heads():
    from landmarks.model.folder import _CONFIG_BOUNDS, HEADS_WITH_CONFIDENCE
    from landmarks.model.heads import HEADS

    assert set(HEADS) == _CONFIG_BOUNDS["head"]
    assert set(PipHead.readouts) == _CONFIG_BOUNDS["readout"]
    assert {name for name, head in HEADS.items() if head.has_confidence} == HEADS_WITH_CONFIDENCE


def test_box_converters_round_trip_on_arrays_and_tensors():
    boxes = np.array([[10.0, 20.0, 30.0, 40.0], [0.0, 0.0, 2.0, 4.0]])
    centred = geometry.to_centred(boxes)
    np.testing.assert_allclose(centred, [[25, 40, 30, 40], [1, 2, 2, 4]])
    np.testing.assert_allclose(geometry.from_centred(centred), boxes)
    t = torch.tensor(boxes)
    assert torch.equal(geometry.to_centred(t), torch.tensor(centred))
    pts = np.array([[1.0, 2.0], [5.0, 3.0], [2.0, 9.0]])
    assert geometry.landmark_box(pts) == (1.0, 2.0, 4.0, 7.0)


def test_the_card_names_the_terms_of_youtube68_also_when_relabelled():
    from landmarks.hub.publish import _extra_data

    for name in ("youtube68/labels.xml", "youtube68-relabelled/labels.xml"):
        config = {"training_data": [{"name": "ibug300w", "role": "training and validation"},
                                    {"name": name, "role": "before fine-tuning: training and validation"}]}
        text = _extra_data(config)
        assert "YouTube Faces" in text and "non-commercial" in text and f"`{name}`" not in text
    assert "relabel" in _extra_data({"training_data": [{}, {"name": "youtube68-relabelled/labels.xml", "role": "extra"}]})


def test_scratch_folders_are_private_swept_and_kept_under_a_size(tmp_path):
    import os
    import time

    from landmarks.webapp import scratch
    dead = tmp_path / f"{scratch.PREFIX}999999999-x"  # no such process
    live = tmp_path / f"{scratch.PREFIX}{os.getpid()}-y"  # this one
    for folder in (dead, live):
        folder.mkdir()
    folder = scratch.make(tmp_path)
    assert not dead.exists() and live.exists()
    assert folder.name.startswith(f"{scratch.PREFIX}{os.getpid()}-") and folder.stat().st_mode & 0o777 == 0o700
    for i in range(5):  # five results of 1000 bytes, oldest first
        (folder / f"r{i}").mkdir()
        (folder / f"r{i}" / "x.jpeg").write_bytes(b"x" * 1000)
        os.utime(folder / f"r{i}" / "x.jpeg", (time.time() - 100 + i, time.time() - 100 + i))
    (folder / "examples").mkdir()
    (folder / "examples" / "a.jpg").write_bytes(b"e" * 1000)
    assert scratch.disk_bytes(folder) == 6000
    assert scratch.trim(folder, 3500, keep=[folder / "examples"]) == 3000
    assert sorted(p.name for p in folder.iterdir()) == ["examples", "r3", "r4"]


def _module_imports(path, package):
    """The landmarks modules a module imports at its top level (not inside functions)."""
    import ast

    tree = ast.parse(path.read_text())
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base) if node.level else node.module or ""
            if target.startswith("landmarks"):
                for alias in node.names:  # ``from . import x`` imports the module x
                    out.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in _MODULES else target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("landmarks"))
    return {m for m in out if m in _MODULES}


_ROOT = __import__("pathlib").Path(__file__).resolve().parents[1] / "landmarks"
_MODULES = {".".join(("landmarks", *p.relative_to(_ROOT).with_suffix("").parts)).removesuffix(".__init__"): p
            for p in _ROOT.rglob("*.py") if "node_modules" not in p.parts}


def test_the_package_has_no_import_cycle_and_its_layers_show():
    graph = {}
    for name, path in _MODULES.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = _module_imports(path, package)
    assert len(graph["landmarks.inference.landmarker"]) > 5  # the scan sees imports
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for dep in graph[node]:
            assert state.get(dep) != "open", f"import cycle: {' -> '.join([*stack, node, dep])}"
            if dep not in state:
                visit(dep, [*stack, node])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [])
    roots = [n for n, p in _MODULES.items() if p.parent == _ROOT]  # modules at the root, not sub-packages
    assert len(roots) <= 10, roots
    inits = [p for n, p in _MODULES.items() if p.name == "__init__.py" and n != "landmarks"]
    assert inits and all(not _module_imports(p, n) for n, p in _MODULES.items() if p in inits)  # no heavy __init__


def test_the_face_detector_loads_neither_torch_nor_the_hub_client():
    import subprocess
    import sys

    code = ("import sys, landmarks.detection.blazeface, landmarks.inference.landmarker; "
            "print(sorted(m for m in ('torch', 'huggingface_hub', 'matplotlib') if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=_ROOT.parent)
    assert p.returncode == 0, p.stderr
    # the landmarker resolves Hub models, so it loads the client; the detector alone loads neither
    code = "import sys, landmarks.detection.blazeface; print(sorted(m for m in ('torch', 'huggingface_hub', 'matplotlib') if m in sys.modules))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=_ROOT.parent)
    assert p.returncode == 0 and p.stdout.strip() == "[]", p.stdout + p.stderr
