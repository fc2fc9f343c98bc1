"""The model folder: its files, the bundled models by name, checking its config and loading one.

Loading gives a :class:`LoadedModel` that says what was loaded and from where; the runner
reads the folder from it (for the ONNX models).  Models from the Hub: ``hub/resolve.py``.

torch is imported only when a network is built, so that file names and config checks
are available to torch-free code (deploying a Space).
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from ..core.scheme import NUM_POINTS
from .preprocess import Preprocess

BUNDLED = Path(__file__).resolve().parents[1] / "pretrained"  # the `full` model
BUNDLED_LITE = Path(__file__).resolve().parents[1] / "pretrained_lite"
# The bundled models by name. A name wins over a folder of that name in the working directory
# (``./lite`` names the folder).
NAMED = {"full": BUNDLED, "lite": BUNDLED_LITE}
# Faces a model scores below this are dropped, unless its config names its own threshold
# (``min_score``).  benchmarks/confidence.py, bundled `full` model: 300-W test faces at BlazeFace
# boxes score 0.81 and up (5th percentile; 554 of 554 kept), non-face crops (cloth, flag, logo,
# terrain, patterns) at most 0.51 (all 12 dropped).
MIN_SCORE = 0.65
WEIGHTS, CONFIG = "model.safetensors", "config.json"
ONNX_FILE = "model.int8.onnx"  # the int8 twin for CPUs (runners.py)
EXACT_FILE = "model.onnx"  # the fp32 network for ONNX Runtime, where the twin fails its check (runtime/export.py)
REFERENCE_FILE = "reference.npz"  # what both ONNX models are checked against (runners.py)
METRICS, CED_PLOT = "metrics.json", "ced.png"  # written by evaluate --save
REQUIRED_FILES = (CONFIG, WEIGHTS)
INFERENCE_FILES = (CONFIG, WEIGHTS, ONNX_FILE, EXACT_FILE, REFERENCE_FILE)  # everything inference reads


class ModelError(RuntimeError):
    """A model that cannot be found or loaded, with the reason."""


# What a config.json may say: a downloaded folder is a stranger's file, and an input size of
# 2400 loads fine and then takes 23 s a face.
_CONFIG_BOUNDS = {
    "arch": {"resnet18", "mobilenet_v2"},  # network.ARCHS (torch-free here)
    "head": {"regress", "pip"},
    "readout": {"cell", "neighbours"},  # null, or no key (older folders): the head's default
    "min_score": (0.0, 1.0),  # null, or no key: MIN_SCORE
    "crop_model": set(NAMED),  # null, or no key: none; a bundled model's name, never a path or a repo
    "extra_refine": range(0, 4),  # no key: 0
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


def _check_smoothing(smoothing) -> None:
    """null, or {"motion": [3 numbers], "shape": [3 numbers]} (either may be left out): the
    One-Euro filters' minimum cutoff, speed gain and speed cutoff (inference/smoothing.py)."""
    if smoothing is None:
        return
    ok = isinstance(smoothing, dict) and set(smoothing) <= {"motion", "shape"} and all(
        isinstance(v, list) and len(v) == 3
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x <= 1e5 for x in v)
        for v in smoothing.values())
    if not ok:
        raise ValueError(f"config.json: smoothing is {smoothing!r}, expected motion and shape, each three numbers "
                         "above 0 and at most 100000")


def check_config(config) -> dict:
    """The config (upgraded), or ValueError naming the first value out of bounds."""
    config = upgrade_config(config)
    _check_smoothing(config.get("smoothing"))
    preprocess = config.get("preprocess", {})
    if not isinstance(preprocess, dict):
        raise ValueError("config.json: preprocess is not a JSON object")
    for key, allowed in _CONFIG_BOUNDS.items():
        group, _, name = key.rpartition(".")
        where = preprocess if group else config
        if name not in where or (key in ("readout", "min_score", "crop_model") and where[name] is None):
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


def read_config(folder: Path) -> dict:
    """A model folder's checked config, or ModelError saying what is wrong with the folder."""
    if not folder.is_dir():
        raise ModelError(f"model {folder}: no such folder")
    # safetensors only: a pickle file in a downloaded folder is never executed
    for name in REQUIRED_FILES:
        if not (folder / name).is_file():
            raise ModelError(f"model {folder}: {name} missing (expected a save_pretrained folder)")
    try:
        return check_config(json.loads((folder / CONFIG).read_text()))
    except Exception as e:  # corrupt JSON, values out of bounds
        raise ModelError(f"model {folder}: cannot load ({type(e).__name__}: {e})") from None


def load_network(folder: Path, device="cpu", **replace):
    """A model folder -> its LandmarkNet in eval mode, or ModelError saying what is wrong;
    ``replace`` sets config values that are not None (``export --readout``: an older pip model
    read anew; ``refit``: the data its offsets were refitted on), checked as the file's are."""
    config = read_config(folder)
    replace = {k: v for k, v in replace.items() if v is not None}
    if replace:
        try:
            config = check_config({**config, **replace})
        except ValueError as e:
            raise ModelError(f"model {folder}: {e}") from None
    return _network(folder, config, device)


def _network(folder: Path, config: dict, device):
    """The network of a folder whose config was read and checked (``read_config``)."""
    import safetensors.torch

    from .heads import LEGACY_KEYS
    from .network import LandmarkNet

    # built from config.json + strict safetensors load rather than the mixin's from_pretrained,
    # which prints to stdout and would fall back to a pickle file
    try:
        model = LandmarkNet(**config)
        state = safetensors.torch.load_file(folder / WEIGHTS)
        model.load_state_dict({LEGACY_KEYS.get(k, k): v for k, v in state.items()}, strict=True)
    except Exception as e:  # truncated safetensors, wrong keys or shapes
        raise ModelError(f"model {folder}: cannot load ({type(e).__name__}: {e})") from None
    return model.float().to(device).eval()


# heads whose output says how sure the model is that a crop holds a face (heads.py: has_confidence)
HEADS_WITH_CONFIDENCE = {"pip"}


@dataclass(frozen=True)
class ModelSpec:
    """What inference needs to know of a model besides its weights, from config.json (no torch)."""

    preprocess: Preprocess
    head: str
    num_points: int = NUM_POINTS
    arch: str = "resnet18"  # the backbone (network.ARCHS)
    # the config's own face threshold, where this model's scores are calibrated otherwise than
    # the default (None: MIN_SCORE); ``face_threshold`` is the one that applies
    min_score: float | None = None
    # the bundled model, by name, whose passes find this model's crops in a detector's boxes
    # before this model reads the points (FaceLandmarker; None: its own passes)
    crop_model: str | None = None
    # re-cropping passes this model needs in a detector's boxes beyond the detector's own
    # ``refine``: a lighter model's crops settle more slowly (lite: 1, benchmarks/experiments.md)
    extra_refine: int = 0
    # this model's FaceFilter parameters, as (name, (min cutoff, beta, speed cutoff)) pairs: a
    # noisier model's points open the filter more (lite, benchmarks/experiments.md); (): the defaults
    smoothing: tuple = ()

    @property
    def face_threshold(self) -> float:
        """The score under which a crop is not a face (FaceLandmarker's default ``min_score``)."""
        return MIN_SCORE if self.min_score is None else self.min_score

    def refine_after(self, detector_refine: int) -> int:
        """Re-cropping passes in the boxes of a detector whose own ``refine`` this is (FaceLandmarker's default)."""
        return detector_refine + self.extra_refine

    @property
    def has_confidence(self) -> bool:
        return self.head in HEADS_WITH_CONFIDENCE

    @classmethod
    def from_config(cls, config: dict) -> "ModelSpec":
        return cls(Preprocess(**config.get("preprocess", {})), config.get("head", "regress"), config.get("num_points", NUM_POINTS),
                   config.get("arch", "resnet18"), config.get("min_score"), config.get("crop_model"),
                   config.get("extra_refine", 0), _pairs(config.get("smoothing")))

    @classmethod
    def of_network(cls, network) -> "ModelSpec":
        return cls(network.preprocess, network.head.name, network.num_points, network.arch, network.min_score,
                   network.crop_model, network.extra_refine, _pairs(network.smoothing))


def _pairs(smoothing: dict | None) -> tuple:
    return tuple((name, tuple(v)) for name, v in (smoothing or {}).items())


@dataclass(frozen=True)
class LoadedModel:
    """What was loaded: its spec, the network (None where torch is not installed: then only
    the folder's ONNX models can run), the folder it came from (None for a network built
    in memory), which model from where in words, and why a requested model was not used."""

    spec: ModelSpec
    network: object | None  # LandmarkNet
    folder: Path | None
    source: str
    fell_back: str | None = None


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def load_folder(folder: str | Path, device="cpu", source: str | None = None) -> LoadedModel:
    folder = Path(folder)
    config = read_config(folder)
    network = _network(folder, config, device) if torch_installed() else None
    return LoadedModel(ModelSpec.from_config(config), network, folder, source or f"local folder {folder}")


def named(spec: str | Path) -> str | Path:
    """A bundled model's folder for its name (``full``, ``lite``); any other spec as it is."""
    return NAMED.get(spec, spec) if isinstance(spec, str) else spec
