"""Loading a ``save_pretrained`` model folder; the bundled default model lives in ``pretrained/``."""
from __future__ import annotations

import json
from pathlib import Path

import safetensors.torch

from .scheme import NUM_POINTS
from .heads import LEGACY_KEYS
from .network import LandmarkNet

BUNDLED = Path(__file__).resolve().parent / "pretrained"
WEIGHTS, CONFIG = "model.safetensors", "config.json"


class ModelError(RuntimeError):
    """A model that cannot be found or loaded, with the reason."""


# What a config.json may say: a downloaded folder is a stranger's file, and an input size of
# 2400 loads fine and then takes 23 s a face.
_CONFIG_BOUNDS = {
    "arch": {"resnet18"},
    "head": {"regress", "pip"},
    "num_points": {NUM_POINTS},
    "preprocess.channels": {1, 3},
    "preprocess.size": range(32, 513),
    "preprocess.margin": (0.0, 1.0),
    "preprocess.mean": (0.0, 1.0),
    "preprocess.std": (0.01, 1.0),
    "preprocess.square": {True, False},
}
# config.json before the preprocessing spec had its own key: flat names -> Preprocess fields
_LEGACY_PREPROCESS = {"input_size": "size", "in_channels": "channels", "margin": "margin", "square": "square",
                      "mean": "mean", "std": "std"}


def upgrade_config(config: dict) -> dict:
    """A config in today's layout: the flat preprocessing keys of older folders moved under ``preprocess``."""
    if not isinstance(config, dict):
        raise ValueError("config.json is not a JSON object")
    old = {new: config[key] for key, new in _LEGACY_PREPROCESS.items() if key in config}
    if not old:
        return config
    rest = {k: v for k, v in config.items() if k not in _LEGACY_PREPROCESS}
    return {**rest, "preprocess": {**old, **rest.get("preprocess", {})}}


def check_config(config) -> dict:
    """The config (upgraded), or ValueError naming the first value out of bounds."""
    config = upgrade_config(config)
    preprocess = config.get("preprocess", {})
    if not isinstance(preprocess, dict):
        raise ValueError("config.json: preprocess is not a JSON object")
    for key, allowed in _CONFIG_BOUNDS.items():
        group, _, name = key.rpartition(".")
        where = preprocess if group else config
        if name not in where:
            continue
        value = where[name]
        if isinstance(allowed, tuple):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and allowed[0] <= value <= allowed[1]
            shown = f"{allowed[0]} to {allowed[1]}"
        elif isinstance(allowed, range):
            ok = isinstance(value, int) and not isinstance(value, bool) and value in allowed
            shown = f"{allowed.start} to {allowed.stop - 1}"
        else:
            ok = type(value) is type(next(iter(allowed))) and value in allowed
            shown = ", ".join(map(str, sorted(allowed, key=str)))
        if not ok:
            raise ValueError(f"config.json: {key} is {value!r}, expected {shown}")
    return config


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
        model = LandmarkNet(**check_config(json.loads((folder / CONFIG).read_text())))
        state = safetensors.torch.load_file(folder / WEIGHTS)
        model.load_state_dict({LEGACY_KEYS.get(k, k): v for k, v in state.items()}, strict=True)
    except Exception as e:  # corrupt JSON, truncated safetensors, wrong keys or shapes
        raise ModelError(f"model {folder}: cannot load ({type(e).__name__}: {e})") from None
    model.folder = folder  # where runtime.py looks for the int8 ONNX twin
    return model.float().to(device).eval()

