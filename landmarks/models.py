"""Loading a ``save_pretrained`` model folder; the bundled default model lives in ``pretrained/``."""
from __future__ import annotations

import json
from pathlib import Path

import safetensors.torch

from .network import LandmarkNet

BUNDLED = Path(__file__).resolve().parent / "pretrained"
WEIGHTS, CONFIG = "model.safetensors", "config.json"


class ModelError(RuntimeError):
    """A model that cannot be found or loaded, with the reason."""


def load_folder(folder: Path, device="cpu") -> LandmarkNet:
    """A model folder -> model in eval mode, or ModelError saying what is wrong."""
    if not folder.is_dir():
        raise ModelError(f"model {folder}: no such folder")
    # safetensors only: a pickle file in a downloaded folder is never executed
    for name in (WEIGHTS, CONFIG):
        if not (folder / name).is_file():
            raise ModelError(f"model {folder}: {name} missing (expected a save_pretrained folder)")
    # built from config.json + strict safetensors load rather than the mixin's from_pretrained,
    # which prints to stdout and would fall back to a pickle file
    try:
        model = LandmarkNet(**json.loads((folder / CONFIG).read_text()))
        safetensors.torch.load_model(model, folder / WEIGHTS, strict=True)
    except Exception as e:  # corrupt JSON, truncated safetensors, wrong keys or shapes
        raise ModelError(f"model {folder}: cannot load ({type(e).__name__}: {e})") from None
    model.folder = folder  # where runtime.py looks for the int8 ONNX twin
    return model.float().to(device).eval()

