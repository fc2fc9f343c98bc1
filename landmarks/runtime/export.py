"""Exporting a network to ONNX: the one ``torch.onnx.export`` call, and the exact ONNX model
(``model.onnx`` in the model folder) that runs where the int8 twin fails its check, without torch.

The exact model is the fp32 graph with its BatchNorm layers left apart from the convolutions:
folding them would give weights that fp16 cannot hold.  Each float initializer that fp16 holds
exactly (all of them for weights stored with ``export --half``) is stored in fp16 behind a Cast
to float, which ONNX Runtime folds when it loads the file: half the file, fp32 compute, and
the outputs of the fp32 weights.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from ..model.folder import EXACT_FILE
from ..model.network import LandmarkNet


class _Predict(nn.Module):
    def __init__(self, model: LandmarkNet):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.predict(x)


def onnx_program(model: LandmarkNet):
    """The network's ``predict`` (crops in, points and confidence out) as a torch ONNXProgram,
    unoptimised; any number of crops per call."""
    size = model.preprocess.size
    return torch.onnx.export(
        _Predict(model.float().cpu().eval()).eval(),
        (torch.zeros(1, model.preprocess.channels, size, size),),
        dynamo=True,  # torch.export-based; the TorchScript exporter is deprecated
        optimize=False,  # each caller optimises its own way
        input_names=["crops"],
        output_names=["points", "confidence"],
        dynamic_shapes=({0: torch.export.Dim("faces", min=1, max=1024)},),
        verbose=False,
    )


def half_stored(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with each float initializer that fp16 holds exactly stored in fp16, cast back to float."""
    graph = model.graph
    inits, casts = [], []
    for init in graph.initializer:
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32 and np.array_equal(a.astype(np.float16).astype(np.float32), a):
            inits.append(numpy_helper.from_array(a.astype(np.float16), f"{init.name}.fp16"))
            casts.append(helper.make_node("Cast", [f"{init.name}.fp16"], [init.name], to=TensorProto.FLOAT,
                                          name=f"{init.name}.cast"))
        else:
            inits.append(init)
    graph.ClearField("initializer")
    graph.initializer.extend(inits)
    nodes = [*casts, *graph.node]  # the casts first: the graph stays topologically sorted
    graph.ClearField("node")
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def export_exact(model: LandmarkNet, folder: Path) -> Path:
    """Write ``folder/model.onnx``; returns its path."""
    import onnxscript.optimizer

    program = onnx_program(model)
    # constant folding only: the graph's shape arithmetic goes, the BatchNorm layers stay
    onnxscript.optimizer.fold_constants(program.model)
    onnxscript.optimizer.remove_unused_nodes(program.model)
    out = Path(folder) / EXACT_FILE
    onnx.save(half_stored(program.model_proto), str(out))
    return out
