"""What a run folder holds and how it survives a kill: ``last.pt`` (resumable), ``best/`` (the
model kept), the logs and curves.  Every write goes to a temporary name first, then is swapped in."""
from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import torch

from ..core.errors import ArgumentError
from ..hub.publish import model_card
from ..model.network import LandmarkNet
from .plots import plot_training
from .recipes import RENAMED

LAST, BEST = "last.pt", "best"


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a kill mid-write leaves the previous checkpoint intact


def save_model_atomically(model: LandmarkNet, folder: Path) -> None:
    """save_pretrained into a fresh folder, then swap it in: a kill never leaves half a model."""
    tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    model_card(tmp).save(tmp / "README.md")  # the real card, not the mixin's "More Information Needed"
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(path: Path, model, opt, ema, epoch: int, history: list[dict], best: float, recipe, sources) -> None:
    """``last.pt``: everything a resumed run needs, written so that a kill never loses it."""
    atomic_save(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "epoch": epoch,
            "history": history,
            "best_nme": best,
            "recipe": recipe.to_dict(),
            "sources": sources,
            "rng": torch.get_rng_state(),
            **({"ema": ema.state_dict()} if ema is not None else {}),
        },
        path,
    )


def resume(path: Path, model, opt, ema, recipe, sources: list[dict], device) -> tuple[int, list[dict], float]:
    """Weights, optimiser and averages from ``path`` (``last.pt``) into ``model``, ``opt`` and
    ``ema``: (next epoch, history, best val NME).  A checkpoint of another recipe or data is refused."""
    if not path.is_file():
        raise ArgumentError("resume", f"no checkpoint at {path}")
    try:
        # weights_only: tensors, numbers, strings, lists and dicts; a planted pickle runs nothing
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise ArgumentError("resume", f"{path} is not a readable checkpoint ({type(e).__name__}: {first})") from None
    # more epochs is fine; fields added to Recipe after the checkpoint default to the old behaviour
    now = recipe.to_dict()
    saved = {**now, **ckpt["recipe"], "epochs": recipe.epochs}
    saved["name"] = RENAMED.get(saved["name"], saved["name"])
    saved["augment"] = {**now["augment"], **ckpt["recipe"].get("augment", {})}
    if saved != now:
        raise ArgumentError("resume", f"{path} was trained with another recipe or settings: {ckpt['recipe']}")
    if ckpt.get("sources", sources) != sources:
        raise ArgumentError("resume", f"{path} was trained on other data: {ckpt['sources']}")
    model.load_state_dict(ckpt["model"])
    if ema is not None:
        ema.load_state_dict(ckpt["ema"])
    opt.load_state_dict(ckpt["optimizer"])
    torch.set_rng_state(ckpt["rng"])
    return ckpt["epoch"] + 1, ckpt["history"], ckpt["best_nme"]


def write_logs(out: Path, recipe, history: list[dict]) -> None:
    """``log.csv``, ``log.json`` and ``curves.png``, rewritten after every epoch."""
    with open(out / "log.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(history[0]))
        w.writeheader()
        w.writerows(history)
    (out / "log.json").write_text(json.dumps({"recipe": recipe.to_dict(), "epochs": history}, indent=1))
    plot_training(history, out / "curves.png")
