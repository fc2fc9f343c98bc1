"""68-point face landmarks: data, training, evaluation and inference.

>>> from landmarks import FaceLandmarker
>>> faces = FaceLandmarker()("photo.jpg")   # one Face (box, points, score) per detected face
"""
__all__ = ["Face", "FaceLandmarker", "FaceTracker"]


def __getattr__(name: str):
    # imported on first use: ``python -m train --help`` and the light modules need no torch
    if name in ("Face", "FaceLandmarker"):
        from .inference import landmarker

        return getattr(landmarker, name)
    if name == "FaceTracker":
        from .inference.tracking import FaceTracker

        return FaceTracker
    raise AttributeError(f"module 'landmarks' has no attribute {name!r}")
