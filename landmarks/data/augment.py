"""Batched augmentation on the training device (GPU or CPU) with exact point geometry.

Each sample gets its own crop box jitter, rotation and flip, folded into one affine
map per sample and applied with a single ``grid_sample`` (one resampling, no PIL
round trips, so a GPU never waits for the CPU).  torchvision's v2 transforms draw
one set of parameters per call, which is why the per-sample batched warp is here;
the tests check it against drawn dots.  Colour jitter follows
``torchvision.transforms.ColorJitter`` (brightness, contrast, saturation, hue)
with per-sample factors.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..core import geometry
from ..core.scheme import FLIP_PERMUTATION
from ..training.recipes import Augment

_GRAY = (0.299, 0.587, 0.114)  # ITU-R 601, as torchvision's rgb_to_grayscale


NO_AUGMENT = Augment()


def _uniform(n, spread, generator, device):
    return (torch.rand(n, generator=generator, device=device) * 2 - 1) * spread


def landmark_boxes(points: torch.Tensor) -> torch.Tensor:
    """(B, 68, 2) -> (B, 4) tight boxes x, y, w, h (``geometry.landmark_box`` for a batch)."""
    lo, hi = points.min(dim=1).values, points.max(dim=1).values
    return torch.cat([lo, hi - lo], dim=1)


def crop_geometry(
    points: torch.Tensor,
    size: int,
    margin: float,
    square: bool,
    aug: Augment = NO_AUGMENT,
    generator: torch.Generator | None = None,
    boxes: torch.Tensor | None = None,
    params: dict | None = None,
):
    """Per-sample affine maps and regression targets for a batch.

    points: (B, 68, 2) in source pixels; boxes: (B, 4) x, y, w, h (default: the
    landmark boxes).  ``params`` overrides the random draws (keys ``angle`` in
    degrees, ``scale``, ``shift`` (B, 2) in box fractions, ``flip`` bool) for tests.
    Returns matrices (B, 2, 3) mapping output pixel (u, v) to source pixel (x, y),
    and targets (B, 68, 2): points as offsets from the crop centre in crop units,
    flipped and permuted where the image is.
    """
    b, device = points.shape[0], points.device
    points = points.float()
    boxes = geometry.to_centred(landmark_boxes(points) if boxes is None else boxes.float())
    p = {
        "angle": _uniform(b, aug.rotate, generator, device),
        "scale": 1 + _uniform(b, aug.box_scale, generator, device),
        "shift": torch.stack([_uniform(b, aug.box_shift, generator, device) for _ in range(2)], 1),
        "flip": torch.rand(b, generator=generator, device=device) < aug.flip,
    }
    p.update({k: torch.as_tensor(v, device=device) for k, v in (params or {}).items()})
    wh = boxes[:, 2:]
    centre = boxes[:, :2] + p["shift"].float() * wh
    if square:
        wh = wh.max(dim=1, keepdim=True).values.expand(-1, 2)
    region = wh * p["scale"].float()[:, None] * (1 + margin)  # (B, 2) sw, sh
    theta = p["angle"].float() * (math.pi / 180)
    cos, sin = torch.cos(theta), torch.sin(theta)
    rot = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # (B, 2, 2)
    sign = 1 - 2 * p["flip"].float()
    lin = rot * torch.stack([sign * region[:, 0], region[:, 1]], 1)[:, None, :]  # rot @ diag(f*sw, sh)
    offset = torch.full((b, 2, 1), 0.5 / size - 0.5, device=device)
    matrices = torch.cat([lin / size, centre[:, :, None] + lin @ offset], dim=2)
    # targets: undo the rotation, scale to crop units, mirror x where flipped
    local = (points - centre[:, None, :]) @ rot  # row-vector form of rot^T @ (p - c)
    targets = local / region[:, None, :]
    targets[..., 0] *= sign[:, None]
    if p["flip"].any():
        perm = torch.as_tensor(FLIP_PERMUTATION, device=device)
        targets = torch.where(p["flip"][:, None, None], targets[:, perm], targets)
    return matrices, targets


def warp(images: torch.Tensor, matrices: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resample of (B, C, H, W) images through (B, 2, 3) maps; float in [0, 1]."""
    b, _, h, w = images.shape
    device = images.device
    u = torch.arange(size, device=device, dtype=torch.float32)
    grid_uv = torch.stack(torch.meshgrid(u, u, indexing="xy"), -1).reshape(1, -1, 2)  # (1, S*S, 2) (u, v)
    xy = grid_uv @ matrices[:, :, :2].transpose(1, 2) + matrices[:, :, 2][:, None, :]
    norm = torch.tensor([2.0 / w, 2.0 / h], device=device)
    grid = ((xy + 0.5) * norm - 1).reshape(b, size, size, 2)
    src = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (_GRAY[0] * r + _GRAY[1] * g + _GRAY[2] * b)[:, None]


def color_jitter(x: torch.Tensor, aug: Augment, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample brightness, contrast, saturation and hue jitter of (B, C, H, W) in [0, 1]."""
    b, device = x.shape[0], x.device

    def factor(spread):
        return (1 + _uniform(b, spread, generator, device)).clamp(min=0)[:, None, None, None]

    if aug.brightness:
        x = (x * factor(aug.brightness)).clamp(0, 1)
    if aug.contrast:
        mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * factor(aug.contrast) + mean).clamp(0, 1)
    if x.shape[1] == 3 and aug.saturation:
        g = _gray(x)
        x = ((x - g) * factor(aug.saturation) + g).clamp(0, 1)
    if x.shape[1] == 3 and aug.hue:
        # rotate chroma in YIQ space: the hue shift without an HSV round trip
        angle = _uniform(b, aug.hue, generator, device) * 2 * math.pi
        yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=device)
        c, s = torch.cos(angle), torch.sin(angle)
        rot = torch.zeros(b, 3, 3, device=device)
        rot[:, 0, 0] = 1
        rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = c, -s, s, c
        m = torch.linalg.inv(yiq) @ rot @ yiq  # (B, 3, 3)
        x = torch.einsum("bij,bjhw->bihw", m, x).clamp(0, 1)
    return x


def occlude(x: torch.Tensor, probability: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample random grey rectangle over (B, C, S, S) in [0, 1]: hands, hair, glasses,
    microphones hide parts of real faces and the points must still be placed."""
    if not probability:
        return x
    b, _, h, w = x.shape
    device = x.device

    def draw():
        return torch.rand(b, generator=generator, device=device)

    on = draw() < probability
    side_w, side_h = (0.1 + 0.3 * draw()) * w, (0.1 + 0.3 * draw()) * h
    x0, y0 = draw() * (w - side_w), draw() * (h - side_h)
    shade = draw()
    cols = torch.arange(w, device=device)[None, :]
    rows = torch.arange(h, device=device)[None, :]
    inside_x = (cols >= x0[:, None]) & (cols < (x0 + side_w)[:, None])  # (B, W)
    inside_y = (rows >= y0[:, None]) & (rows < (y0 + side_h)[:, None])  # (B, H)
    mask = (inside_y[:, :, None] & inside_x[:, None, :] & on[:, None, None])[:, None]  # (B, 1, H, W)
    return torch.where(mask, shade[:, None, None, None], x)


def to_network_input(x: torch.Tensor, channels: int, mean: float, std: float) -> torch.Tensor:
    """[0, 1] RGB or gray batch -> the network's normalised input."""
    if channels == 1:
        x = _gray(x)
    elif x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return (x - mean) / std


def network_batch(images: torch.Tensor, points: torch.Tensor, preprocess, aug: Augment = NO_AUGMENT,
                  generator: torch.Generator | None = None, teacher=None):
    """Cached faces (``training_faces.FaceTensors``' images and points) -> (network input,
    targets, crop maps, the teacher's targets or None), cropped as ``preprocess`` says and
    augmented by ``aug``: what training, validation and the offsets' refit all feed the network.
    ``teacher`` (network input -> crop-unit points) labels each crop after the geometric
    augmentation and before colour jitter and occlusion, which move no point."""
    p = preprocess
    matrices, targets = crop_geometry(points, p.size, p.margin, p.square, aug, generator)
    x = warp(images, matrices, p.size)
    taught = None if teacher is None else teacher(to_network_input(x, p.channels, p.mean, p.std))
    x = color_jitter(x, aug, generator)
    x = occlude(x, aug.occlude, generator)
    return to_network_input(x, p.channels, p.mean, p.std), targets, matrices, taught
