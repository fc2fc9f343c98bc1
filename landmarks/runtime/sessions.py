"""ONNX Runtime sessions on the CPU, sized to the cores this process may use.  No Hub and no
torch import: the face detector's session comes from here too."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def cpu_session(path: Path):
    """An ONNX Runtime CPU session on as many threads as PyTorch uses, else the usable cores.
    Its threads spin between the operators of a run and stop when the run returns: a photo
    runs three networks in turn (detector, crop model, landmark model); threads left spinning
    after one slowed the next, and threads that never spin slowed each run (one face: 10.0 ms
    a frame, against 12.4 without spinning; five faces 21-23 against 24;
    benchmarks/experiments.md, round sixteen)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = default_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def default_threads() -> int:
    """PyTorch's thread count where it is installed (the two runtimes compared alike), else the usable cores."""
    if importlib.util.find_spec("torch") is not None:
        import torch

        return torch.get_num_threads()
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
