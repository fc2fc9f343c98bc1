"""Export a model to ONNX and quantize it to int8, calibrated on real face crops.

Static quantization (per-channel int8 weights, uint8 activations) with the activation
ranges measured on training faces; the output layer and the decoding stay in float,
as they do under bf16 training, because coordinates need the precision.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import geometry
from .data import landmark_box, read_annotations
from .images import to_rgb_array
from .network import LandmarkNet
from .predictor import network_input
from .runtime import ONNX_FILE


class _Predict(nn.Module):
    def __init__(self, model: LandmarkNet):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.predict(x)


def face_crops(model: LandmarkNet, labels, count: int = 200, seed: int = 0) -> np.ndarray:
    """Normalised network inputs (N, C, S, S) of ``count`` faces drawn from an annotation file."""
    records = read_annotations(labels)
    pick = np.random.default_rng(seed).choice(len(records), size=min(count, len(records)), replace=False)
    crops = []
    for i in sorted(pick):
        region = geometry.region_from_box(landmark_box(records[i].points), model.margin, model.square)
        crops.append(network_input(model, to_rgb_array(records[i].image), [region]))
    return np.concatenate(crops)


def _float_nodes(graph) -> list[str]:
    """Nodes left in fp32: the output layer (fc, or the pip head's last conv), everything
    after it (decoding), and the first block of the last stage -- in int8 that block alone
    moved points by 0.4 px (of 160) on training faces, the rest of the network by 0.16 px."""
    convs = [n for n in graph.node if n.op_type == "Conv"]
    gemms = [n for n in graph.node if n.op_type in ("Gemm", "MatMul")]
    head = (gemms or convs)[-1]
    produced, after = set(head.output), []
    for n in graph.node:  # topologically sorted
        if any(x in produced for x in n.input):
            after.append(n.name)
            produced.update(n.output)
    block = [n.name for n in graph.node if "/layer4/layer4.0/" in n.name]
    return [head.name, *after, *block]


def export_int8(model: LandmarkNet, folder: Path, calibration: np.ndarray) -> Path:
    """Write ``folder/model.int8.onnx``; returns its path."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = model.float().cpu().eval()
    size = model.input_size
    out = Path(folder) / ONNX_FILE

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(calibration[i : i + 1] for i in range(len(calibration)))

        def get_next(self):
            x = next(self.batches, None)
            return None if x is None else {"crops": x}

    with tempfile.TemporaryDirectory() as tmp:
        fp32, pre = Path(tmp) / "fp32.onnx", Path(tmp) / "pre.onnx"
        torch.onnx.export(
            _Predict(model),
            (torch.zeros(1, model.in_channels, size, size),),
            str(fp32),
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, and the node names _float_nodes reads
            input_names=["crops"],
            output_names=["points", "confidence"],
            dynamic_axes={"crops": {0: "faces"}, "points": {0: "faces"}, "confidence": {0: "faces"}},
        )
        quant_pre_process(str(fp32), str(pre))
        graph = onnx.load(str(pre)).graph
        keep_float = _float_nodes(graph)
        quantize_static(
            str(pre),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=keep_float,
        )
    return out
