"""What the app's Live tab loads into the visitor's browser, where ONNX Runtime Web runs the models.

The page (``web/live.js``) fetches three files from the app: the landmark model, the face
detector and the model's crop settings.  The landmark model goes as a float graph with the
int8 twin's own weights (``float_graph``): WebAssembly has no fast int8 dot product, so the
twin's int8 convolutions took 2.7 times as long there as float ones (benchmarks/experiments.md,
round ten), while its weights keep the points as close to the server's as the twin is.
ONNX Runtime Web itself comes from a pinned CDN URL, checked against the hashes in
``web/package.json`` (README, Live tab).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.scheme import CLOSED, REGIONS
from ..detection.blazeface import WEIGHTS as DETECTOR, BlazeFaceDetector, read_box_fit
from ..face.drawing import REGIONS as COLOURS
from ..model.folder import NAMED, ONNX_FILE, ModelSpec, read_config

WEB = Path(__file__).resolve().parents[1] / "web"
PACKAGE = WEB / "package.json"  # the pinned onnxruntime-web version and the SRI hashes of its files
CDN = "https://cdn.jsdelivr.net/npm/onnxruntime-web@{version}/dist/"
TYPES = {".js": "text/javascript", ".onnx": "application/octet-stream"}


def live_folder(server_folder: Path | None) -> Path | None:
    """The model the page runs: the bundled ``lite`` model (a quarter of ``full``'s download,
    ``benchmarks/live.py``) when it is there with its int8 twin, else the server's own."""
    lite = NAMED["lite"]
    if (lite / ONNX_FILE).is_file():
        return lite
    return server_folder if server_folder is not None and (Path(server_folder) / ONNX_FILE).is_file() else None


@dataclass(frozen=True)
class LiveFiles:
    """The files the app serves the page, by name (content, media type), and the page's
    settings: where each file is (URLs that name their content, so a browser may keep them
    for good), how large, the crop settings, the drawing's parts and colours."""

    files: dict
    config: dict

    @classmethod
    def of(cls, folder: Path, prefix: str = "/live") -> "LiveFiles":
        files = {p.name: (p.read_bytes(), TYPES[".js"]) for p in sorted(WEB.glob("*.js"))}
        files["landmarks.onnx"] = (float_graph(Path(folder) / ONNX_FILE), TYPES[".onnx"])
        files["detector.onnx"] = (DETECTOR.read_bytes(), TYPES[".onnx"])
        code = _digest(b"".join(files[n][0] for n in files if n.endswith(".js")))  # one folder: modules import each other

        def url(name):
            return f"{prefix}/{code if name.endswith('.js') else _digest(files[name][0])}/{name}"

        package = json.loads(PACKAGE.read_text())
        version = package["dependencies"]["onnxruntime-web"]
        model_config = read_config(Path(folder))  # checked, older layouts upgraded
        spec = ModelSpec.from_config(model_config)
        config = {
            "script": url("live.js"),
            "models": {n: {"url": url(f"{n}.onnx"), "bytes": len(files[f"{n}.onnx"][0])} for n in ("landmarks", "detector")},
            "preprocess": model_config["preprocess"],
            "minScore": spec.face_threshold,  # FaceLandmarker.min_score
            "refine": spec.refine_after(BlazeFaceDetector.refine),  # FaceLandmarker.refine
            "boxFit": read_box_fit().tolist(),  # BlazeFace's boxes and keypoints -> landmark boxes
            "smoothing": dict(spec.smoothing),  # FaceTracker's FaceFilter
            "ort": {"base": CDN.format(version=version), "version": version, "files": package["integrity"]},
            "parts": [{"points": list(REGIONS[name]), "closed": name in CLOSED, "colour": _colour(REGIONS[name][0])} for name in REGIONS],
        }
        return cls(files, config)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _colour(point: int) -> str:
    rgb = next(c for indices, c in COLOURS.values() if point in indices)
    return "rgb({}, {}, {})".format(*rgb)


def float_graph(int8_onnx: Path) -> bytes:
    """The int8 twin (QDQ form) as a float graph: each constant weight dequantized once, each
    activation's quantize-dequantize pair replaced by a clip to the range it could hold (the
    quantizer folded ReLU6 into those ranges).  Same weights, same readout in the graph."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(int8_onnx))
    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    nodes, new_consts = [], {}
    for n in graph.node:
        x = n.input[0] if n.input else None
        if n.op_type == "QuantizeLinear" and x not in consts:
            continue  # an activation's: replaced by the clip below
        if n.op_type != "DequantizeLinear":
            nodes.append(n)
        elif x in consts:  # a weight: dequantized now
            q, s = consts[x].astype(np.float32), consts[n.input[1]].astype(np.float32)
            z = consts[n.input[2]].astype(np.float32) if len(n.input) > 2 else np.float32(0)
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
            if s.ndim == 1 and q.ndim > 1:  # per channel
                shape = [1] * q.ndim
                shape[axis] = -1
                s, z = s.reshape(shape), z.reshape(shape) if z.ndim else z
            new_consts[n.output[0]] = ((q - z) * s).astype(np.float32)
        else:  # an activation's round trip: the range it could hold
            quant = producer[x]
            s, z = float(consts[quant.input[1]]), consts[quant.input[2]]
            info = np.iinfo(z.dtype)
            low, high = n.output[0] + "_low", n.output[0] + "_high"
            new_consts[low], new_consts[high] = np.float32((info.min - int(z)) * s), np.float32((info.max - int(z)) * s)
            nodes.append(onnx.helper.make_node("Clip", [quant.input[0], low, high], [n.output[0]]))
    used = {i for n in nodes for i in n.input}
    inits = [t for t in graph.initializer if t.name in used]
    inits += [numpy_helper.from_array(a, name) for name, a in new_consts.items() if name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(inits)
    del graph.value_info[:]
    return model.SerializeToString()
