"""Running the network on face crops: PyTorch, or ONNX Runtime on int8 weights.

On a CPU the int8 ONNX model (``model.int8.onnx`` in the model folder, written by
``python -m landmarks export --int8``) runs the same network about 4x faster than PyTorch;
``benchmarks/speed.py`` measures both, and ``evaluate --runtime`` their accuracy.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .models import ModelError

ONNX_FILE = "model.int8.onnx"
RUNTIMES = ("auto", "torch", "onnx")


class TorchRunner:
    name = "torch"

    def __init__(self, model, device):
        self.model, self.device = model, device

    @torch.inference_mode()
    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = torch.from_numpy(x).to(self.device).contiguous(memory_format=torch.channels_last)
        points, confidence = self.model.predict(t)
        return points.float().cpu().numpy(), confidence.float().cpu().numpy()


class OnnxRunner:
    name = "onnx-int8"

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points, confidence = self.session.run(None, {"crops": x})
        return points, confidence


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def make_runner(model, device: torch.device, runtime: str = "auto"):
    """``auto``: the int8 ONNX model when the model folder has one, the device is the CPU
    and onnxruntime is installed; otherwise PyTorch."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    folder = getattr(model, "folder", None)
    path = Path(folder) / ONNX_FILE if folder else None
    usable = path is not None and path.is_file() and device.type == "cpu"
    if runtime == "onnx":
        if not usable:
            # a missing model file, like a missing weights file: the CLI reports it in one line
            raise ModelError(f"runtime 'onnx' needs a model folder with {ONNX_FILE} and the CPU (model: {folder}, device: {device})")
        return OnnxRunner(path)
    if runtime == "auto" and usable and onnx_available():
        return OnnxRunner(path)
    return TorchRunner(model, device)
