"""Detectors by name: ``blazeface`` (the default), ``fast`` and ``haar`` (OpenCV cascades)."""
from __future__ import annotations

from .haar import FastDetector, HaarDetector


def _blazeface(**kwargs):
    from .blazeface import BlazeFaceDetector

    return BlazeFaceDetector(**kwargs)


DETECTORS = {"fast": FastDetector, "haar": HaarDetector, "blazeface": _blazeface}


def make_detector(detector="blazeface", min_face: int = 40, scale_factor: float | None = None):
    """A detector by name (``blazeface``: the default; ``fast``: a permissive cascade with
    rotated passes; ``haar``: the seed's cascade settings), or
    ``detector`` itself when it is already one (any callable ``(rgb, min_face) -> (boxes, scores)``)."""
    if not isinstance(detector, str):
        return detector
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {sorted(DETECTORS)} or a callable, not {detector!r}")
    kwargs = {"min_face": min_face}
    if scale_factor is not None and detector == "blazeface":
        raise ValueError("scale_factor is a Haar cascade setting (detector 'fast' or 'haar'); BlazeFace has none")
    if scale_factor is not None:
        kwargs["scale_factor"] = scale_factor
    return DETECTORS[detector](**kwargs)
