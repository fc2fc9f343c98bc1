"""Plots people look at: CED curves and training curves (PNG, no display needed)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .metrics import ced  # noqa: E402


def plot_ced(curves: dict, path: str | Path, threshold: float = 0.10) -> Path:
    """``curves`` maps a label to per-face NMEs (fractions)."""
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    for label, nmes in curves.items():
        xs, ys = ced(nmes, threshold)
        ax.plot(100 * xs, 100 * ys, label=label)
    ax.set(xlabel="NME (% of inter-ocular distance)", ylabel="faces (%)", xlim=(0, 100 * threshold), ylim=(0, 100))
    ax.set_title("Cumulative error distribution")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_training(history: list[dict], path: str | Path) -> Path:
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax1.plot(epochs, [h["val_loss"] for h in history], label="validation")
    ax1.set(xlabel="epoch", ylabel="loss", yscale="log", title="Loss")
    ax1.legend()
    ax2.plot(epochs, [h["val_nme"] for h in history], color="C2")
    ax2.set(xlabel="epoch", ylabel="NME (%)", title="Validation NME")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
