"""What every detector shares: a callable ``(rgb, min_face) -> (boxes, scores)`` whose
``calibration`` maps its boxes to the tight landmark boxes the model was trained on (None:
it returns those already) and whose
``refine`` says how many re-cropping passes its boxes need (``FaceLandmarker``); its one error;
and matching detections to known faces."""
from __future__ import annotations

import numpy as np

from ..core.geometry import from_centred, to_centred


class DetectorError(RuntimeError):
    """A detector's weights are missing or damaged: one line that says what to do."""


def to_landmark_boxes(boxes: np.ndarray, calibration) -> np.ndarray:
    """Detector boxes (N, 4) -> the landmark boxes they most likely hold (``calibration`` None:
    the detector's boxes are landmark boxes already)."""
    if calibration is None:
        return np.asarray(boxes, np.float64).reshape(-1, 4)
    centred = to_centred(np.asarray(boxes, np.float64).reshape(-1, 4))
    side = centred[:, 2:3]  # the calibration is in units of the detector box's width
    return from_centred(np.concatenate([centred[:, :2] + side * calibration[:2], side * calibration[2:]], axis=1))


def iou(a, b) -> float:
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    iw = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    ih = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter + 1e-9)


def match_detections(gt_boxes, det_boxes, min_iou: float = 0.3) -> list[int | None]:
    """For each ground-truth face, the index of its best detection (IoU >= min_iou), each used once."""
    used, out = set(), []
    for g in gt_boxes:
        ious = [(iou(g, d), j) for j, d in enumerate(det_boxes) if j not in used]
        best = max(ious, default=(0.0, None))
        if best[0] >= min_iou:
            used.add(best[1])
            out.append(best[1])
        else:
            out.append(None)
    return out
