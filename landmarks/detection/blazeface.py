"""BlazeFace, MediaPipe's full-range face detector, run with ONNX Runtime.

The network is fully convolutional: one 16-value regression (box centre offset, size, six
keypoints, in input pixels) and one logit per cell of a stride-4 grid.  It reports the tight
landmark box that its box and keypoints predict, by a linear map fitted on training faces
(``BOX_FIT``): the eyes, nose tip and mouth say where in its box the face turns, which a fixed
offset cannot.  The ears are left out: their two weights came out large and opposed, and a
portrait's misplaced ear made its box 45 % too wide (benchmarks/experiments.md, round
nineteen).  Instead of MediaPipe's one 192 x 192 letterbox it runs on the whole image at a few scales: it finds faces whose
landmark box is about 20 to 128 px in its input (``benchmarks/blazeface_onnx.py`` measured
it), so the finest pass shrinks the image just enough for ``min_face`` to stay at 20 px or more and
each coarser pass is a quarter of the previous scale, until the largest face the image can
hold is covered.  Weights and their licence: ``detectors/CREDITS.md``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..core.geometry import from_centred, to_centred
from ..runtime.sessions import cpu_session
from .base import DetectorError

WEIGHTS = Path(__file__).resolve().parents[1] / "detectors" / "blazeface_full_range.onnx"
BOX_FIT = WEIGHTS.with_name("blazeface_box_fit.json")  # benchmarks/box_calibration.py --write
STRIDE = 4  # one anchor per 4 x 4 input pixels
ALIGN = 32  # the network pools four times and upsamples back: sides must divide by this
SMALLEST, LARGEST = 20, 128  # landmark-box sides (input pixels) it finds reliably
STEP = 4  # scale ratio between passes: 20 * 4 < 128 leaves an overlap


@dataclass
class BlazeFaceDetector:
    min_face: int = 40  # pixels, in the original image
    max_side: int = 1280  # the finest pass sees at most this many pixels along the longer side
    min_confidence: float = 0.5
    nms_iou: float = 0.3
    box_fit: Path | None = BOX_FIT  # None: only ``detections`` (what benchmarks/box_calibration.py fits)
    calibration = None  # its boxes are landmark boxes already (BOX_FIT)
    # re-cropping passes its boxes need: benchmarks/experiments.md, round nineteen
    refine = 0
    thread_safe = True  # an ONNX Runtime session may be run from several threads at once

    def __post_init__(self):
        try:
            self._session = cpu_session(WEIGHTS)
            self._fit = None if self.box_fit is None else read_box_fit(self.box_fit)
        except Exception as e:  # missing or damaged file: one line, not ONNX Runtime's page
            reason = str(e).strip().splitlines()[0][:200]
            raise DetectorError(f"cannot load the face detector ({reason}); reinstall the package, "
                                "or pick detector='fast'") from None

    def scales(self, height: int, width: int, min_face: int | None = None) -> list[float]:
        """Image scales of the passes, finest first."""
        scale = min(1.0, SMALLEST / (min_face or self.min_face), self.max_side / max(height, width))
        out = [scale]
        while LARGEST / out[-1] < min(height, width):  # a face filling the image is still too big
            out.append(out[-1] / STEP)
        return out

    def _input(self, rgb: np.ndarray, scale: float) -> np.ndarray:
        h, w = rgb.shape[:2]
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        ph, pw = -(-nh // ALIGN) * ALIGN, -(-nw // ALIGN) * ALIGN
        x = np.zeros((ph, pw, 3), np.float32)
        x[:nh, :nw] = small.astype(np.float32) * (2 / 255) - 1
        return x.transpose(2, 0, 1)[None]

    def raw(self, rgb: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One pass's confident candidates before suppression: its own boxes (N, 4) x, y, w, h,
        confidences (N,) and keypoints (N, 6, 2), in image pixels."""
        x = self._input(rgb, scale)
        regression, logits = self._session.run(None, {"input": x})
        gw = x.shape[3] // STRIDE
        confidence = 1 / (1 + np.exp(-np.clip(logits[0, :, 0], -80, 80)))
        keep = np.flatnonzero(confidence >= self.min_confidence)
        r = regression[0, keep].reshape(-1, 8, 2)  # centre offset, size, six keypoints' offsets
        anchors = np.stack([keep % gw + 0.5, keep // gw + 0.5], axis=1) * STRIDE
        boxes = from_centred(np.concatenate([r[:, 0] + anchors, r[:, 1]], axis=1)) / scale
        keypoints = (r[:, 2:] + anchors[:, None]) / scale
        return boxes.astype(np.float32), confidence[keep], keypoints.astype(np.float32)

    def detections(self, rgb: np.ndarray, min_face: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Its own boxes (N, 4), confidences (N,) and keypoints (N, 6, 2) after suppression;
        those under ``min_face`` pixels wide dropped."""
        passes = [self.raw(rgb, s) for s in self.scales(*rgb.shape[:2], min_face)]
        boxes, confidence, keypoints = (np.concatenate([p[i] for p in passes]) for i in range(3))
        big = boxes[:, 2] >= (min_face or self.min_face)
        boxes, confidence, keypoints = boxes[big], confidence[big], keypoints[big]
        keep = cv2.dnn.NMSBoxes(boxes.tolist(), confidence.tolist(), self.min_confidence, self.nms_iou)
        keep = np.asarray(keep, int).reshape(-1)
        return boxes[keep].reshape(-1, 4), confidence[keep], keypoints[keep].reshape(-1, 6, 2)

    def __call__(self, rgb: np.ndarray, min_face: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Tight landmark boxes (N, 4) as x, y, w, h in image pixels and their confidences (N,), largest first."""
        if self._fit is None:
            raise DetectorError("this BlazeFaceDetector has no box fit: it gives detections() only")
        boxes, confidence, keypoints = self.detections(rgb, min_face)
        boxes = keypoint_boxes(boxes, keypoints, self._fit)
        order = np.argsort(-boxes[:, 2] * boxes[:, 3])
        return boxes[order], confidence[order]


FIT_KEYPOINTS = 4  # of BlazeFace's six: eyes, nose tip, mouth centre (then the ears)


def keypoint_features(boxes: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """(N, 9) inputs of the box fit: 1, then the eyes', nose tip's and mouth's x and y relative
    to the box's centre, in box widths."""
    centred = to_centred(np.asarray(boxes, np.float64).reshape(-1, 4))
    kept = np.asarray(keypoints, np.float64).reshape(-1, 6, 2)[:, :FIT_KEYPOINTS]
    rel = (kept - centred[:, None, :2]) / centred[:, None, 2:3]
    return np.concatenate([np.ones((len(rel), 1)), rel.reshape(len(rel), 2 * FIT_KEYPOINTS)], axis=1)


def keypoint_boxes(boxes: np.ndarray, keypoints: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """BlazeFace's boxes and keypoints -> the tight landmark boxes they predict (N, 4): ``fit``
    (9, 4) maps ``keypoint_features`` to the landmark box's centre offset and size in box widths."""
    centred = to_centred(np.asarray(boxes, np.float64).reshape(-1, 4))
    out = keypoint_features(boxes, keypoints) @ fit * centred[:, 2:3]
    return from_centred(np.concatenate([centred[:, :2] + out[:, :2], out[:, 2:]], axis=1)).astype(np.float32)


def read_box_fit(path: Path = BOX_FIT) -> np.ndarray:
    """The (9, 4) map of ``keypoint_boxes`` as ``benchmarks/box_calibration.py`` wrote it."""
    fit = np.array(json.loads(Path(path).read_text())["fit"], np.float64)
    if fit.shape != (1 + 2 * FIT_KEYPOINTS, 4) or not np.isfinite(fit).all():
        raise ValueError(f"{path}: a {1 + 2 * FIT_KEYPOINTS} x 4 map of finite numbers expected, not {fit.shape}")
    return fit
