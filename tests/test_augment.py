"""Pixels and points move together: dots drawn at the points land on the transformed points."""
import numpy as np
import pytest
import torch

from landmarks.core.scheme import FLIP_PERMUTATION
from landmarks.data import augment as A
from landmarks.data.training_faces import load_faces

SIZE = 224
DOTS = (0, 8, 16, 19, 30, 36, 45, 48, 54, 57)  # jaw, brow, nose, eye corners, mouth


@pytest.fixture(scope="module")
def faces(test_records):
    return load_faces(test_records[:6], progress=False)


def dot_images(points: torch.Tensor, index: int, size: int) -> torch.Tensor:
    """One Gaussian dot per image at point ``index``."""
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    p = points[:, index]
    return torch.exp(-((xx - p[:, 0, None, None]) ** 2 + (yy - p[:, 1, None, None]) ** 2) / (2 * 1.5**2))[:, None]


def centroids(images: torch.Tensor) -> torch.Tensor:
    s = images.shape[-1]
    yy, xx = torch.meshgrid(torch.arange(s, dtype=torch.float32), torch.arange(s, dtype=torch.float32), indexing="ij")
    w = images[:, 0] / images[:, 0].sum(dim=(1, 2), keepdim=True)
    return torch.stack([(w * xx).sum(dim=(1, 2)), (w * yy).sum(dim=(1, 2))], 1)


CASES = {
    "rotation": {"angle": 9.0},
    "scale": {"scale": 1.25},
    "shift": {"shift": [0.12, -0.08]},
    "flip": {"flip": True},
    "all": {"angle": -10.0, "scale": 0.85, "shift": [-0.05, 0.1], "flip": True},
}


@pytest.mark.parametrize("square", [True, False])
@pytest.mark.parametrize("case", list(CASES))
def test_dots_land_on_transformed_points(faces, case, square):
    n = len(faces)
    params = {k: torch.tensor([v] * n) for k, v in CASES[case].items()}
    # margin keeps every dot inside the crop, so no dot is cut in half at the border
    mats, targets = A.crop_geometry(faces.points, SIZE, 0.6, square, params=params)
    _, plain = A.crop_geometry(faces.points, SIZE, 0.6, square)
    flipped = bool(CASES[case].get("flip"))
    moved = 0.0
    for k in DOTS:
        out = A.warp(dot_images(faces.points, k, faces.images.shape[-1]), mats, SIZE)
        # after a flip the dot of point k is where the twin's target says
        twin = int(np.flatnonzero(FLIP_PERMUTATION == k)[0]) if flipped else k
        expected = targets[:, twin] * SIZE + (SIZE - 1) / 2
        err = (centroids(out) - expected).norm(dim=1)
        assert err.max() < 1.0, f"point {k}: dot {err.max():.2f} px from its transformed point"
        moved = max(moved, float((expected - plain[:, k] * SIZE - (SIZE - 1) / 2).norm(dim=1).max()))
    assert moved > 5  # the transform really moved the points


def test_flip_permutation_pairs_left_and_right():
    perm = FLIP_PERMUTATION
    assert sorted(perm) == list(range(68))
    np.testing.assert_array_equal(perm[perm], np.arange(68))  # its own inverse
    for left, right in [(0, 16), (17, 26), (36, 45), (39, 42), (31, 35), (48, 54), (60, 64), (65, 67)]:
        assert perm[left] == right and perm[right] == left
    for centre in (8, 27, 30, 33, 51, 57, 62, 66):
        assert perm[centre] == centre


def test_flip_maps_each_point_to_its_twin_on_real_faces(data_dir):
    from landmarks.data.annotations import read_xml

    pts = np.stack([r.points for r in read_xml(data_dir / "labels_train.xml")])
    pts = pts - pts.mean(axis=1, keepdims=True)
    mean = pts.mean(axis=0)  # the mean face is close to mirror-symmetric
    iod = np.linalg.norm(mean[36] - mean[45])
    mirrored = mean * [-1, 1]
    assert np.linalg.norm(mirrored[FLIP_PERMUTATION] - mean, axis=1).mean() / iod < 0.03
    assert np.linalg.norm(mirrored - mean, axis=1).mean() / iod > 0.3  # without the permutation: wrong points


def test_colour_jitter_changes_pixels_not_geometry(faces):
    aug = A.Augment(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1)
    x = faces.images.float() / 255
    g = torch.Generator().manual_seed(0)
    y = A.color_jitter(x, aug, g)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert (y - x).abs().mean() > 0.01
    assert torch.allclose(A.color_jitter(x, A.NO_AUGMENT), x)


def test_training_crop_matches_inference_crop(faces, test_records):
    """One preprocessing spec, read by the batched training warp and by the OpenCV crop used
    at inference: both give the network the same input."""
    from landmarks.core import geometry
    from landmarks.core.geometry import landmark_box
    from landmarks.core.image_io import to_rgb_array
    from landmarks.model.preprocess import Preprocess

    for spec in (Preprocess(SIZE, 3, 0.0, False), Preprocess(SIZE, 1, 0.3, True, mean=0.4, std=0.3)):
        mats, targets = A.crop_geometry(faces.points, spec.size, spec.margin, spec.square)
        train_input = A.to_network_input(A.warp(faces.images, mats, spec.size), spec.channels, spec.mean, spec.std)
        for i, rec in enumerate(test_records[: len(faces)]):
            region = spec.region(landmark_box(rec.points))
            infer = spec(to_rgb_array(rec.image), [region])[0]
            diff = np.abs(train_input[i].numpy() - infer).mean() * spec.std  # in [0, 1] pixel units
            assert diff < 0.02
            np.testing.assert_allclose(geometry.to_targets(rec.points, region), targets[i].numpy(), atol=1e-4)
