"""Landmark heads: each owns its layers, how it reads points off its raw output, the loss
that trains it (and the target encoding that loss needs), and whether it gives a confidence.

Both take the backbone's last feature map (B, C, G, G) and training targets in crop units
(B, N, 2): offsets from the crop centre in units of the crop size, in [-0.5, 0.5].
Adding a head (a heatmap head, say) means one class here and one entry in ``HEADS``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RegressHead(nn.Module):
    """The tutorial's: global average pooling and a linear layer to 2N numbers."""

    name = "regress"
    has_confidence = False  # no score: the detector alone says what is a face
    losses = {"mse": F.mse_loss, "l1": F.l1_loss}

    def __init__(self, channels: int, num_points: int, loss: str = "mse"):
        super().__init__()
        self.num_points, self.loss_name = num_points, _checked(self, loss)
        self.fc = nn.Linear(channels, 2 * num_points)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features.mean(dim=(2, 3))).view(-1, self.num_points, 2)

    def decode(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return raw, torch.ones(raw.shape[:2], device=raw.device)

    def loss(self, raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.losses[self.loss_name](raw, targets)


class PipHead(nn.Module):
    """Pixel-in-pixel (after PIPNet): on the G x G feature map a 1x1 convolution gives each
    point a score per cell and the point's x/y offset from that cell's corner, in cells.
    The best scores give a confidence that the crop holds a face at all.

    ``readout`` says where a point is read: ``cell`` (PIPNet's) at its best cell alone;
    ``neighbours``, the mean of the positions that the best cell and its (up to) eight
    neighbours give, each of which the loss trains. Averaging the nine estimates was 0.04-0.06
    NME better on validation for each of four trained models (``benchmarks/experiments.md``,
    round five). A folder whose config names no readout was made before it existed: ``cell``,
    the readout its int8 twin was exported with."""

    name = "pip"
    has_confidence = True
    losses = {"pip"}
    readouts = ("cell", "neighbours")
    SCORE_WEIGHT = 10.0  # PIPNet's balance of the cell scores against the offsets

    def __init__(self, channels: int, num_points: int, loss: str = "pip", readout: str = "cell"):
        super().__init__()
        self.num_points, self.loss_name = num_points, _checked(self, loss)
        if readout not in self.readouts:
            raise ValueError(f"the pip head reads points with readout {' or '.join(self.readouts)}, not {readout!r}")
        self.readout = readout
        self.conv = nn.Conv2d(channels, 3 * num_points, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.conv(features)

    @staticmethod
    def cells(targets: torch.Tensor, grid: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Crop-unit points (B, N, 2) -> grid position (B, N, 2) in cells and the cell (B, N, 2)
        holding it (integer, clamped to the grid): the target encoding."""
        u = (targets + 0.5) * grid
        return u, u.floor().clamp(0, grid - 1)

    def decode(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw = raw.float()
        b, _, g, _ = raw.shape
        score, off = raw.view(b, 3, self.num_points, g * g).split([1, 2], dim=1)
        best, cell = score[:, 0].max(dim=2)  # (B, N)
        idx = torch.arange(g * g, device=raw.device)
        col, row = idx % g, torch.div(idx, g, rounding_mode="floor")  # (G*G,) each cell's corner
        if self.readout == "cell":
            use = idx == cell[..., None]
        else:  # the best cell and its neighbours inside the grid
            best_col, best_row = cell % g, torch.div(cell, g, rounding_mode="floor")
            use = ((col - best_col[..., None]).abs() <= 1) & ((row - best_row[..., None]).abs() <= 1)
        w = use.float() / use.sum(dim=2, keepdim=True)  # (B, N, G*G)
        x, y = ((col + off[:, 0]) * w).sum(dim=2), ((row + off[:, 1]) * w).sum(dim=2)
        return torch.stack([x, y], dim=-1) / g - 0.5, best.clamp(0, 1)

    def loss(self, raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """PIPNet's loss: MSE of the cell scores against the one-hot cell of each point,
        plus L1 of the offsets.  Offsets are trained at the point's cell *and its eight
        neighbours* (PIPNet trains only the one cell), so reading a point at a neighbouring
        cell, when the score peak lands there, still gives a good position."""
        b, _, g, _ = raw.shape
        n = targets.shape[1]
        score, off = raw.view(b, 3, n, g, g).split([1, 2], dim=1)
        u, cell = self.cells(targets, g)
        idx = torch.arange(g, device=raw.device, dtype=raw.dtype)
        dx = idx.view(1, 1, 1, g) - cell[..., 0, None, None]  # (B, N, 1, G): column minus point's column
        dy = idx.view(1, 1, g, 1) - cell[..., 1, None, None]  # (B, N, G, 1)
        onehot = ((dx == 0) & (dy == 0)).to(raw.dtype)
        near = ((dx.abs() <= 1) & (dy.abs() <= 1)).to(raw.dtype)  # (B, N, G, G)
        # the target offset at cell (i, j) is the point's position minus that cell's corner
        tx = u[..., 0, None, None] - idx.view(1, 1, 1, g)
        ty = u[..., 1, None, None] - idx.view(1, 1, g, 1)
        l1 = (off[:, 0] - tx).abs() + (off[:, 1] - ty).abs()
        offset_loss = (l1 * near).sum() / near.sum()
        return self.SCORE_WEIGHT * F.mse_loss(score[:, 0], onehot) + offset_loss


HEADS = {h.name: h for h in (RegressHead, PipHead)}


def _checked(head, loss: str) -> str:
    if loss not in head.losses:
        raise ValueError(f"the {head.name} head trains with {' or '.join(sorted(head.losses))}, not loss {loss!r}")
    return loss


def make_head(name: str, channels: int, num_points: int, loss: str | None = None, readout: str | None = None) -> nn.Module:
    if name not in HEADS:
        raise ValueError(f"unsupported head {name!r}; known: {', '.join(HEADS)}")
    cls = HEADS[name]
    if readout is not None and not hasattr(cls, "readouts"):
        raise ValueError(f"the {name} head has no readout to choose (got {readout!r})")
    options = {k: v for k, v in (("loss", loss), ("readout", readout)) if v is not None}
    return cls(channels, num_points, **options)


# Where earlier versions kept the heads' weights (the regress head inside torchvision's
# ResNet, the pip head beside it): folders saved then still load.
LEGACY_KEYS = {
    "backbone.fc.weight": "head.fc.weight",
    "backbone.fc.bias": "head.fc.bias",
    "pip.weight": "head.conv.weight",
    "pip.bias": "head.conv.bias",
}
