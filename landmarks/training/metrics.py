"""300-W metrics: inter-ocular NME, failure rate and area under the CED curve."""
from __future__ import annotations

import numpy as np

from ..core.scheme import NUM_POINTS, OUTER_EYE_CORNERS


def nme_per_face(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Mean point error of each face divided by its outer-eye-corner distance (a fraction)."""
    pred, gt = np.asarray(pred, np.float64).reshape(-1, NUM_POINTS, 2), np.asarray(gt, np.float64).reshape(-1, NUM_POINTS, 2)
    iod = np.linalg.norm(gt[:, OUTER_EYE_CORNERS[0]] - gt[:, OUTER_EYE_CORNERS[1]], axis=1)
    return np.linalg.norm(pred - gt, axis=2).mean(axis=1) / iod


def failure_rate(nmes: np.ndarray, threshold: float) -> float:
    return float(np.mean(np.asarray(nmes) > threshold))


def ced(nmes: np.ndarray, threshold: float, steps: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: fraction of faces with NME <= x, for x in [0, threshold]."""
    xs = np.linspace(0, threshold, steps + 1)
    ys = (np.sort(nmes)[None, :] <= xs[:, None]).mean(axis=1)
    return xs, ys


def auc(nmes: np.ndarray, threshold: float) -> float:
    xs, ys = ced(nmes, threshold)
    return float(np.trapezoid(ys, xs) / threshold)


def summarize(nmes: np.ndarray) -> dict:
    """The reported figures; NME, FR and AUC in percent."""
    nmes = np.asarray(nmes)
    return {
        "n": int(len(nmes)),
        "nme": round(100 * float(nmes.mean()), 3),
        "fr8": round(100 * failure_rate(nmes, 0.08), 2),
        "fr10": round(100 * failure_rate(nmes, 0.10), 2),
        "auc8": round(100 * auc(nmes, 0.08), 2),
        "auc10": round(100 * auc(nmes, 0.10), 2),
    }
