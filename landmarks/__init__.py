"""68-point face landmarks: data, training, evaluation and inference.

>>> from landmarks import FaceLandmarker
>>> faces = FaceLandmarker()("photo.jpg")   # one Face (box, points, score) per detected face
"""
from .predictor import Face, FaceLandmarker
from .tracking import FaceTracker

__all__ = ["Face", "FaceLandmarker", "FaceTracker"]
