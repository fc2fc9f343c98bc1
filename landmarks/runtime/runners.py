"""Running the network on face crops: ONNX Runtime on int8 or fp32 weights, verified, or PyTorch.

On a CPU the int8 ONNX model (``model.int8.onnx`` in the model folder, written by
``python -m landmarks export --int8``) runs the same network 2-4x faster than PyTorch.
Int8 kernels differ between CPUs (VNNI or not, AVX2, ARM), so the twin is checked on the
CPU it runs on before it is used: its outputs on reference crops (``reference.npz`` in
the model folder, else computed from the PyTorch weights) must match the fp32 weights', or
``FaceLandmarker`` runs the exact ONNX model (``model.onnx``, the fp32 network, checked
too), else PyTorch, and says why.  The ONNX models need no torch: the app's install has none.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..model.folder import EXACT_FILE, ONNX_FILE, REFERENCE_FILE, LoadedModel, ModelError, ModelSpec
from .sessions import cpu_session, onnx_available

log = logging.getLogger(__name__)  # without logging set up, Python prints warnings as one line on stderr

RUNTIMES = ("auto", "onnx", "onnx-fp32", "torch")


@dataclass(frozen=True)
class OnnxModel:
    file: str  # in the model folder
    name: str  # the runner's
    what: str  # in words


# by runtime, in the order ``auto`` tries them
ONNX_MODELS = {"onnx": OnnxModel(ONNX_FILE, "onnx-int8", "the int8 twin"),
               "onnx-fp32": OnnxModel(EXACT_FILE, "onnx-fp32", "the exact ONNX model")}
NO_TORCH = "PyTorch is not installed (pip install '.[train]')"

# Tolerances of the self-check, set by measurement on the reference crops (bundled model,
# AMD EPYC with AVX2 and no VNNI): twins whose int8 kernels are right there (7-bit or uint8
# weights) differ from PyTorch by at most 0.20 % of the crop side per crop (0.32 px of 160)
# and 0.004 in face score; the twin whose u8 x s8 products saturated there was off by
# 0.84-1.78 % (1.3-2.9 px) and up to 0.041.
POINT_TOLERANCE = 0.005  # largest per-crop mean point distance, fraction of the crop side
SCORE_TOLERANCE = 0.015  # largest difference of a crop's face score (mean confidence)

# The public-domain portrait's face (landmark box x, y, w, h, found by the bundled model):
# the reference crops are this face turned and scaled, and mirrored.
_PORTRAIT_FACE = (178.0, 157.5, 171.0, 177.0)
_TURNS = ((-20, 0.95), (-10, 1.05), (0, 1.0), (10, 0.9), (20, 1.1))


class TorchRunner:
    name = "torch"

    def __init__(self, model, device):
        self.model, self.device = model, device

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            t = torch.from_numpy(x).to(self.device).contiguous(memory_format=torch.channels_last)
            points, confidence = self.model.predict(t)
        return points.float().cpu().numpy(), confidence.float().cpu().numpy()


class OnnxRunner:
    def __init__(self, path: Path, name: str):
        self.name = name
        self.session = cpu_session(path)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points, confidence = self.session.run(None, {"crops": x})
        return points, confidence


# ---- the self-check ---------------------------------------------------------


def reference_crops(model) -> np.ndarray:
    """uint8 crops (N, S, S, C) in the model's input format: the public-domain portrait's
    face turned by -20..20 degrees and scaled by 0.9..1.1, mirrored too.  Faces only: on a
    non-face the best cell of a point is a coin toss, so its points say nothing of the kernels."""
    from ..core.samples import portrait

    rgb = portrait()
    x, y, w, h = _PORTRAIT_FACE
    crops = []
    for image, cx in ((rgb, x + w / 2), (np.ascontiguousarray(rgb[:, ::-1]), rgb.shape[1] - 1 - x - w / 2)):
        for angle, scale in _TURNS:
            m = cv2.getRotationMatrix2D((cx, y + h / 2), angle, scale)
            turned = cv2.warpAffine(image, m, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
            crops.append(model.preprocess.crop(turned, [model.preprocess.region((cx - w / 2, y, w, h))]))
    return np.concatenate(crops)


@dataclass(frozen=True)
class Reference:
    crops: np.ndarray  # uint8 (N, S, S, C)
    points: np.ndarray  # (N, 68, 2) crop units, from the fp32 PyTorch weights
    confidence: np.ndarray  # (N, 68)


def compute_reference(model) -> Reference:
    crops = reference_crops(model)
    points, confidence = TorchRunner(model.float().cpu().eval(), "cpu")(model.preprocess.normalise(crops))
    return Reference(crops, points, confidence)


def write_reference(model, folder: Path) -> Path:
    """``folder/reference.npz``: the reference crops and the fp32 weights' outputs on them."""
    ref = compute_reference(model)
    path = Path(folder) / REFERENCE_FILE
    np.savez_compressed(path, crops=ref.crops, points=ref.points, confidence=ref.confidence)
    return path


def load_reference(loaded: LoadedModel) -> Reference | None:
    """The folder's ``reference.npz`` when it fits the model, else computed from the weights
    (None without them: torch not installed)."""
    path = Path(loaded.folder) / REFERENCE_FILE if loaded.folder else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                ref = Reference(f["crops"], f["points"], f["confidence"])
            spec = loaded.spec
            s, c = spec.preprocess.size, spec.preprocess.channels
            if ref.crops.dtype == np.uint8 and ref.crops.shape[1:] == (s, s, c) and ref.points.shape[1:] == (spec.num_points, 2):
                return ref
        except Exception:  # unreadable: the weights give the same answer, a little slower
            pass
    return compute_reference(loaded.network) if loaded.network is not None else None


@dataclass(frozen=True)
class Check:
    point_error: float  # largest per-crop mean point distance, fraction of the crop side
    score_error: float  # largest difference of a crop's face score

    @property
    def passed(self) -> bool:
        return self.point_error <= POINT_TOLERANCE and self.score_error <= SCORE_TOLERANCE

    def __str__(self) -> str:
        return (f"points differ by up to {100 * self.point_error:.2f} % of the crop (tolerance {100 * POINT_TOLERANCE:.1f} %), "
                f"face scores by up to {self.score_error:.3f} (tolerance {SCORE_TOLERANCE})")


def check(runner, spec: ModelSpec, reference: Reference) -> Check:
    """How far a runner's outputs are from the reference (the fp32 weights') on the reference crops."""
    points, confidence = runner(spec.preprocess.normalise(reference.crops))
    point_error = np.linalg.norm(points - reference.points, axis=2).mean(axis=1).max()
    score_error = np.abs(confidence.mean(axis=1) - reference.confidence.mean(axis=1)).max()
    return Check(float(point_error), float(score_error))


class _Unusable(Exception):
    """Why one of the folder's ONNX models cannot run; ``broken``: it is there and fails (worth a warning)."""

    def __init__(self, why: str, broken: bool = False):
        super().__init__(why)
        self.broken = broken


def _open(loaded: LoadedModel, kind: OnnxModel) -> OnnxRunner:
    path = Path(loaded.folder) / kind.file
    try:
        return OnnxRunner(path, kind.name)
    except Exception as e:  # truncated or foreign file: ONNX Runtime's own message, shortened
        first = str(e).splitlines()[0][:160] if str(e) else ""
        raise _Unusable(f"{path}: ONNX Runtime cannot load it ({type(e).__name__}: {first})", broken=True) from None


def _verify(loaded: LoadedModel, runner: OnnxRunner, kind: OnnxModel) -> str:
    """The runner's note when it passes its self-check on this CPU, else _Unusable saying why."""
    from .hardware import cpu_info

    reference = load_reference(loaded)
    if reference is None:  # no torch and no reference.npz: nothing to check the model against
        raise _Unusable(f"{kind.what} cannot be checked: no {REFERENCE_FILE} in the model folder and {NO_TORCH}")
    result = check(runner, loaded.spec, reference)
    cpu = cpu_info()["model"]
    if not result.passed:
        raise _Unusable(f"{kind.what} is wrong on this CPU ({cpu}): {result}", broken=True)
    return f"checked on this CPU ({cpu}): {result}"


def make_runner(loaded: LoadedModel, device="cpu", runtime: str = "auto"):
    """``auto``: on the CPU, the int8 twin (``model.int8.onnx``) when it passes its self-check
    on this CPU, else the exact ONNX model (``model.onnx``) when it passes its own, else PyTorch;
    where torch is not installed (the app's install) and neither ONNX model can run, a
    ModelError saying why.  ``onnx`` (the twin), ``onnx-fp32`` (the exact model): that file,
    checked all the same (a warning if the check fails or cannot be made).  ``torch``: PyTorch.
    The runner's ``note`` says which runtime runs and why."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    folder = loaded.folder
    on_cpu = folder is not None and getattr(device, "type", device) == "cpu"
    torch_runner = TorchRunner(loaded.network, device) if loaded.network is not None else None
    if runtime == "torch":
        if torch_runner is None:
            raise ModelError(f"model {folder}: runtime 'torch' needs PyTorch: {NO_TORCH}")
        torch_runner.note = "as asked"
        return torch_runner
    if runtime in ONNX_MODELS:  # asked for by name: it runs whatever its check says, with a warning
        kind = ONNX_MODELS[runtime]
        if not on_cpu or not (Path(folder) / kind.file).is_file():
            # a missing model file, like a missing weights file: the CLI reports it in one line
            raise ModelError(f"runtime {runtime!r} needs a model folder with {kind.file} and the CPU (model: {folder}, device: {device})")
        try:
            runner = _open(loaded, kind)
        except _Unusable as e:
            raise ModelError(str(e)) from None
        try:
            runner.note = _verify(loaded, runner, kind)
        except _Unusable as e:
            log.warning("%s; running it anyway, as asked", e)
            runner.note = str(e)
        return runner
    reasons, broken = [], False  # auto: why each ONNX model cannot run; whether one is there but fails
    if not on_cpu:
        reasons.append("no ONNX model for this device" if folder else "a network in memory has no ONNX models")
    elif not onnx_available():
        reasons.append("onnxruntime is not installed")
    else:
        present = [kind for kind in ONNX_MODELS.values() if (Path(folder) / kind.file).is_file()]
        missing = [kind.file for kind in ONNX_MODELS.values() if kind not in present]
        if missing:
            reasons.append(f"no {' or '.join(missing)} in the model folder")
        for kind in present:
            try:
                runner = _open(loaded, kind)
                note = _verify(loaded, runner, kind)
            except _Unusable as e:
                reasons.append(str(e))
                broken |= e.broken
                continue
            if broken:
                log.warning("%s; using %s", "; ".join(reasons), kind.what)
            runner.note = f"{'; '.join(reasons)}, so {kind.what} runs, {note}" if reasons else note
            return runner
    why = "; ".join(reasons)
    if torch_runner is None:
        raise ModelError(f"model {folder}: {NO_TORCH}, and no ONNX model can run instead: {why}")
    if broken:
        log.warning("%s; using PyTorch", why)
    torch_runner.note = f"{why}, so PyTorch runs"
    return torch_runner
