"""Validation during training: the loss and the NME of every validation face, in source pixels."""
from __future__ import annotations

import numpy as np
import torch

from ..data.training_faces import FaceTensors
from .metrics import nme_per_face


@torch.no_grad()
def validate(model, val: FaceTensors, loss_fn, batch, amp: dict, size: int) -> tuple[float, np.ndarray]:
    """Validation loss and per-face NME (in source pixels) of ``model`` on ``val``; ``batch(faces, idx)``
    makes the unaugmented inputs, targets and crop maps."""
    model.eval()
    losses, nmes = [], []
    for start in range(0, len(val), 128):
        idx = torch.arange(start, min(start + 128, len(val)), device=val.points.device)
        x, targets, mats, _ = batch(val, idx)
        with torch.autocast(**amp):
            pred = model(x)
        losses.append(loss_fn(pred.float(), targets).item() * len(idx))
        # back to source pixels: the crop is a similarity of the image, so NME is unchanged
        src = targets_to_source(model.decode(pred.float())[0], mats, size)
        nmes.append(nme_per_face(src.cpu().numpy(), val.points[idx].cpu().numpy()))
    return sum(losses) / len(val), np.concatenate(nmes)


def targets_to_source(targets: torch.Tensor, matrices: torch.Tensor, size: int) -> torch.Tensor:
    """Network outputs (B, 68, 2) -> source pixels through the crop maps (B, 2, 3)."""
    uv = targets * size + (size - 1) / 2
    return uv @ matrices[:, :, :2].transpose(1, 2) + matrices[:, None, :, 2]
