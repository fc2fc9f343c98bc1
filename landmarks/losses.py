"""Regression losses on (B, 68, 2) crop-unit coordinates."""
from __future__ import annotations

import torch.nn.functional as F


def get_loss(name: str):
    losses = {"mse": F.mse_loss, "l1": F.l1_loss}
    try:
        return losses[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(losses)}") from None
