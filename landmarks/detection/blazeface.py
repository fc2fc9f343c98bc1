"""BlazeFace, MediaPipe's full-range face detector, run with ONNX Runtime.

The network is fully convolutional: one 16-value regression (box centre offset, size, six
keypoints, in input pixels) and one logit per cell of a stride-4 grid.  Instead of MediaPipe's
one 192 x 192 letterbox it runs on the whole image at a few scales: it finds faces whose
landmark box is about 20 to 128 px in its input (``benchmarks/blazeface_onnx.py`` measured
it), so the finest pass shrinks the image just enough for ``min_face`` to stay at 20 px or more and
each coarser pass is a quarter of the previous scale, until the largest face the image can
hold is covered.  Weights and their licence: ``detectors/CREDITS.md``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..core.geometry import from_centred
from ..runtime.sessions import cpu_session
from .base import DetectorError

WEIGHTS = Path(__file__).resolve().parents[1] / "detectors" / "blazeface_full_range.onnx"
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
    # box -> tight landmark box (detect.to_landmark_boxes): benchmarks/box_calibration.py
    # --detector blazeface, 1803 of 1813 training faces
    calibration = (0.000, 0.093, 0.879, 0.859)
    # one re-cropping pass: NME at its boxes on 300-W common 3.46 (two: 3.44; ground truth 3.41)
    refine = 1
    thread_safe = True  # an ONNX Runtime session may be run from several threads at once

    def __post_init__(self):
        try:
            self._session = cpu_session(WEIGHTS)
        except Exception as e:  # missing or damaged file: one line, not ONNX Runtime's page
            reason = str(e).strip().splitlines()[0][:200]
            raise DetectorError(f"cannot load the face detector {WEIGHTS} ({reason}); reinstall the package, "
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

    def raw(self, rgb: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """One pass's confident candidates before suppression: boxes (N, 4) x, y, w, h in
        image pixels and confidences (N,).  The six keypoints are not decoded: the landmark
        network finds the face's points itself."""
        x = self._input(rgb, scale)
        regression, logits = self._session.run(None, {"input": x})
        gw = x.shape[3] // STRIDE
        confidence = 1 / (1 + np.exp(-np.clip(logits[0, :, 0], -80, 80)))
        keep = np.flatnonzero(confidence >= self.min_confidence)
        r = regression[0, keep, :4].reshape(-1, 2, 2)  # centre offset, size
        anchors = np.stack([keep % gw + 0.5, keep // gw + 0.5], axis=1) * STRIDE
        boxes = from_centred(np.concatenate([r[:, 0] + anchors, r[:, 1]], axis=1)) / scale
        return boxes.astype(np.float32), confidence[keep]

    def __call__(self, rgb: np.ndarray, min_face: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4) as x, y, w, h in image pixels and their confidences (N,), largest first."""
        passes = [self.raw(rgb, s) for s in self.scales(*rgb.shape[:2], min_face)]
        boxes = np.concatenate([p[0] for p in passes])
        confidence = np.concatenate([p[1] for p in passes])
        small = boxes[:, 2] < (min_face or self.min_face)
        boxes, confidence = boxes[~small], confidence[~small]
        keep = cv2.dnn.NMSBoxes(boxes.tolist(), confidence.tolist(), self.min_confidence, self.nms_iou)
        keep = np.asarray(keep, int).reshape(-1)
        boxes, confidence = boxes[keep], confidence[keep]
        order = np.argsort(-boxes[:, 2] * boxes[:, 3])
        return boxes[order].reshape(-1, 4), confidence[order]
