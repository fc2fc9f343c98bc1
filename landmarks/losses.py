"""Training losses: raw network output vs (B, 68, 2) crop-unit targets."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .network import pip_cells

PIP_SCORE_WEIGHT = 10.0  # PIPNet's balance of the cell scores against the offsets


def pip_loss(raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """PIPNet's loss: MSE of the cell scores against the one-hot cell of each point,
    plus L1 of the offsets.  Offsets are trained at the point's cell *and its eight
    neighbours* (PIPNet trains only the one cell), so reading a point at a neighbouring
    cell, when the score peak lands there, still gives a good position."""
    b, _, g, _ = raw.shape
    n = targets.shape[1]
    score, off = raw.view(b, 3, n, g, g).split([1, 2], dim=1)
    u, cell = pip_cells(targets, g)
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
    return PIP_SCORE_WEIGHT * F.mse_loss(score[:, 0], onehot) + offset_loss


def get_loss(name: str):
    losses = {"mse": F.mse_loss, "l1": F.l1_loss, "pip": pip_loss}
    try:
        return losses[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(losses)}") from None
