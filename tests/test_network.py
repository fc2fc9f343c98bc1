"""The pip head: its loss and decoding agree on real faces, and it learns."""
import numpy as np
import pytest
import torch

from landmarks.data import augment as A
from landmarks.data.training_faces import load_faces
from landmarks.model.heads import PipHead
from landmarks.model.network import LandmarkNet
from landmarks.training.trainer import TrainConfig, train


def perfect_maps(targets: torch.Tensor, grid: int) -> torch.Tensor:
    """The raw output a perfect pip head gives: score 1 at each point's cell, exact offsets at
    that cell and its 8 neighbours (what the loss trains), nonsense further away."""
    b, n, _ = targets.shape
    u, cell = PipHead.cells(targets, grid)
    idx = torch.arange(grid, dtype=torch.float32)
    raw = torch.zeros(b, 3, n, grid, grid)
    raw[:, 0] = ((idx.view(1, 1, 1, -1) == cell[..., 0, None, None]) & (idx.view(1, 1, -1, 1) == cell[..., 1, None, None])).float()
    raw[:, 1] = u[..., 0, None, None] - idx.view(1, 1, 1, -1)
    raw[:, 2] = u[..., 1, None, None] - idx.view(1, 1, -1, 1)
    far = ((idx.view(1, 1, 1, -1) - cell[..., 0, None, None]).abs() > 1) | ((idx.view(1, 1, -1, 1) - cell[..., 1, None, None]).abs() > 1)
    raw[:, 1:][far[:, None].expand(-1, 2, -1, -1, -1)] = 99.0
    return raw.view(b, 3 * n, grid, grid)


@pytest.fixture(scope="module")
def real_targets(test_records):
    faces = load_faces(test_records[:16], progress=False)
    _, targets = A.crop_geometry(faces.points, 160, 0.2, True, A.Augment(rotate=15, box_shift=0.05))
    return targets


def test_pip_decoding_inverts_the_training_targets(real_targets):
    model = LandmarkNet(preprocess={"size": 160}, head="pip")
    raw = perfect_maps(real_targets, 5)
    points, confidence = model.decode(raw)
    assert torch.allclose(points, real_targets, atol=1e-6)
    assert torch.all(confidence == 1)
    assert model.loss(raw, real_targets).item() == pytest.approx(0, abs=1e-6)
    # a score peak one cell off still reads the point right: the loss trains offsets around the cell
    shifted = raw.clone().view(16, 3, 68, 5, 5)
    _, cell = PipHead.cells(real_targets, 5)
    b, p = 3, 30
    col, row = int(cell[b, p, 0]), int(cell[b, p, 1])
    shifted[b, 0, p, row, col] = 0
    shifted[b, 0, p, row, min(col + 1, 4) if col < 4 else col - 1] = 0.9
    points, confidence = model.decode(shifted.view(16, -1, 5, 5))
    assert torch.allclose(points, real_targets, atol=1e-6) and confidence[b, p] == pytest.approx(0.9)


def test_a_head_checks_its_loss_and_old_folders_still_load(tmp_path):
    with pytest.raises(ValueError, match="the pip head trains with pip, not loss 'l1'"):
        LandmarkNet(head="pip", loss="l1")
    with pytest.raises(ValueError, match="unsupported head 'heatmap'"):
        LandmarkNet(head="heatmap")
    # a folder saved with the heads' earlier weight names (pip.*, backbone.fc.*)
    import safetensors.torch

    from landmarks.model.folder import load_network

    model = LandmarkNet(preprocess={"size": 64}, head="pip").eval()
    model.save_pretrained(tmp_path)
    state = safetensors.torch.load_file(tmp_path / "model.safetensors")
    old = {k.replace("head.conv.", "pip."): v for k, v in state.items()}
    safetensors.torch.save_file(old, tmp_path / "model.safetensors")
    loaded = load_network(tmp_path)
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    # a config without a readout (folders made before it) reads at the best cell, as its int8 twin does
    assert loaded.head.readout == "cell" and load_network(tmp_path, readout="neighbours").head.readout == "neighbours"
    with pytest.raises(ValueError, match="the regress head has no readout"):
        LandmarkNet(head="regress", readout="neighbours")


def test_pip_recipe_trains_and_saves_a_pip_model(data_dir, tmp_path):
    result = train(TrainConfig(data=str(data_dir), out=str(tmp_path), recipe="pip", limit=120, batch_size=16,
                               input_size=64, epochs=3, progress=False))
    h = result["history"]
    assert h[-1]["train_loss"] < 0.7 * h[0]["train_loss"]
    from landmarks.model.folder import load_network

    model = load_network(tmp_path / "best")
    assert model.head.name == "pip" and model.preprocess.size == 64
    assert model.head.readout == "neighbours"  # the recipe's, what validation chose the epoch with
    with torch.no_grad():
        points, confidence = model.predict(torch.zeros(2, 1, 64, 64))
    assert points.shape == (2, 68, 2) and confidence.shape == (2, 68)
    assert np.isfinite(points.numpy()).all() and ((confidence >= 0) & (confidence <= 1)).all()
