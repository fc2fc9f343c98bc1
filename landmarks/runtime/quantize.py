"""Export a model to ONNX and quantize it to int8, calibrated on real face crops.

Static quantization (per-channel 7-bit weights in int8, uint8 activations) with the
activation ranges measured on training faces; the output layer and the decoding stay in
float, as they do under bf16 training, because coordinates need the precision.

Why 7-bit weights (``reduce_range``): on x86 CPUs without VNNI (AVX2, AVX-512F alone)
ONNX Runtime multiplies uint8 by int8 with VPMADDUBSW, whose 16-bit sums saturate; with
full-range weights the bundled model's points moved by 1.3-2.9 px (of 160) on an AMD EPYC
(AVX2) and its NME went from 3.45 to 4.64 %.  7-bit weights cannot saturate and keep the
int8 speed (8.1 ms a face there, like the saturating twin; uint8 weights: 10.5 ms, fp32
ONNX: 12.9 ms).  ``runtime.check`` verifies the twin on whatever CPU loads it.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..core.geometry import landmark_box
from ..core.image_io import to_rgb_array
from ..data.annotations import read_annotations
from ..model.folder import ONNX_FILE
from ..model.network import LandmarkNet
from .export import onnx_program


def face_crops(model: LandmarkNet, labels, count: int = 200, seed: int = 0) -> np.ndarray:
    """Normalised network inputs (N, C, S, S) of ``count`` faces drawn from an annotation file."""
    records = read_annotations(labels)
    pick = np.random.default_rng(seed).choice(len(records), size=min(count, len(records)), replace=False)
    crops = []
    for i in sorted(pick):
        p = model.preprocess
        crops.append(p(to_rgb_array(records[i].image), [p.region(landmark_box(records[i].points))]))
    return np.concatenate(crops)


# Per backbone, the block kept in fp32 beside the head: in ResNet18 the first block of the last
# stage alone moved points by 0.4 px (of 160) in int8 on training faces, the rest of the network
# by 0.16 px. MobileNetV2: none; on the reference crops its twin is within 0.39 % of the crop of
# the weights' points in int8 throughout, 0.38 % with its last block in fp32 (and 1.4 MB more).
_FLOAT_BLOCKS = {"resnet18": "backbone.layer4.0:", "mobilenet_v2": None}


def _float_nodes(graph, arch: str) -> list[str]:
    """Nodes left in fp32: the output layer (fc, or the pip head's last conv), everything
    after it (decoding), and the backbone's ``_FLOAT_BLOCKS`` block."""
    convs = [n for n in graph.node if n.op_type == "Conv"]
    gemms = [n for n in graph.node if n.op_type in ("Gemm", "MatMul")]
    head = (gemms or convs)[-1]
    produced, after = set(head.output), []
    for n in graph.node:  # topologically sorted
        if any(x in produced for x in n.input):
            after.append(n.name)
            produced.update(n.output)
    if _FLOAT_BLOCKS[arch] is None:
        return [head.name, *after]
    # the exporter records each node's module path in its "namespace" metadata
    block = [n.name for n in graph.node if any(p.key == "namespace" and _FLOAT_BLOCKS[arch] in p.value for p in n.metadata_props)]
    if not block:
        raise RuntimeError(f"the exported graph names no {_FLOAT_BLOCKS[arch]} block: the exporter's metadata changed")
    return [head.name, *after, *block]


def export_int8(model: LandmarkNet, folder: Path, calibration: np.ndarray) -> Path:
    """Write ``folder/model.int8.onnx``; returns its path."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = Path(folder) / ONNX_FILE

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(calibration[i : i + 1] for i in range(len(calibration)))

        def get_next(self):
            x = next(self.batches, None)
            return None if x is None else {"crops": x}

    with tempfile.TemporaryDirectory() as tmp:
        fp32, pre = Path(tmp) / "fp32.onnx", Path(tmp) / "pre.onnx"
        program = onnx_program(model)
        program.optimize()  # constants folded, BatchNorm folded into the convolutions
        program.save(str(fp32))
        quant_pre_process(str(fp32), str(pre))
        graph = onnx.load(str(pre)).graph
        keep_float = _float_nodes(graph, model.arch)
        quantize_static(
            str(pre),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,  # see the module's docstring
            nodes_to_exclude=keep_float,
            # activation ranges without their rarest extremes: with the bundled weights, on the
            # 201 validation faces, the points moved 0.17 px (of 160) from the weights' on
            # average, 0.20 px with min-max
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": 99.999},
        )
    return out
