"""Head pose from the 68 points: ``cv2.solvePnP`` against a generic 3D face.

Camera model (no calibration is known for a user's photo): a pinhole camera with the
focal length equal to the image width in pixels (about a 53 degree horizontal field of
view, typical of webcams and phone cameras), the principal point at the image centre and
no lens distortion.  Angles are in degrees, relative to the line of sight from the camera
to the face: 0/0/0 for a face looking into the camera wherever it is in the picture (at the
edge of a group photo as in the middle), not for a face parallel to the image plane:

- ``yaw``: positive when the face turns towards the image's right (the person's left);
- ``pitch``: positive when the face tilts up;
- ``roll``: positive when the face is turned counter-clockwise in the image.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..core.scheme import CHIN, MOUTH_CORNERS, NOSE_TIP, OUTER_EYE_CORNERS

# Six points of a generic head in OpenCV's camera axes (x right, y down, z away from the
# camera), nose tip at the origin, in millimetre-like units.  The numbers are the generic
# model of S. Mallick, "Head Pose Estimation using OpenCV and Dlib" (LearnOpenCV, 2016),
# turned from its y-up, z-towards-the-camera axes into OpenCV's.
MODEL_POINTS = np.array(
    [
        (0.0, 0.0, 0.0),  # 30 nose tip
        (0.0, 330.0, 65.0),  # 8 chin
        (-225.0, -170.0, 135.0),  # 36 outer corner of the eye on the image's left
        (225.0, -170.0, 135.0),  # 45 outer corner of the eye on the image's right
        (-150.0, 150.0, 125.0),  # 48 mouth corner on the image's left
        (150.0, 150.0, 125.0),  # 54 mouth corner on the image's right
    ]
)
MODEL_INDICES = [NOSE_TIP, CHIN, *OUTER_EYE_CORNERS, *MOUTH_CORNERS]


@dataclass(frozen=True)
class HeadPose:
    yaw: float
    pitch: float
    roll: float
    rotation: np.ndarray  # Rodrigues vector (3,), model -> camera, for cv2.projectPoints
    translation: np.ndarray  # (3,), model units
    camera: np.ndarray  # (3, 3) the intrinsics assumed (see the module's docstring)

    def to_dict(self) -> dict:
        return {"yaw": round(self.yaw, 2), "pitch": round(self.pitch, 2), "roll": round(self.roll, 2)}

    def axes(self, length: float = 150.0) -> np.ndarray:
        """Image positions (4, 2) of the nose tip and the ends of the head's x (to the image's
        right), y (up) and z (out of the face) axes, ``length`` model units long."""
        ends = np.array([[0, 0, 0], [length, 0, 0], [0, -length, 0], [0, 0, -length]], np.float64)
        uv, _ = cv2.projectPoints(ends, self.rotation, self.translation, self.camera, None)
        return uv.reshape(-1, 2)


def camera_matrix(image_size: tuple[int, int]) -> np.ndarray:
    """The assumed intrinsics for an image of (width, height) pixels."""
    w, h = image_size
    return np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]], np.float64)


def head_pose(points: np.ndarray, image_size: tuple[int, int]) -> HeadPose:
    """Yaw, pitch and roll of a face from its (68, 2) points in an image of (width, height)."""
    camera = camera_matrix(image_size)
    image_points = np.asarray(points, np.float64)[MODEL_INDICES]
    ok, rvec, tvec = cv2.solvePnP(MODEL_POINTS, image_points, camera, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        nan = float("nan")
        return HeadPose(nan, nan, nan, np.zeros(3), np.zeros(3), camera)
    rotation = _towards_camera(tvec.ravel()).T @ cv2.Rodrigues(rvec)[0]
    # rotation = Rz(c) Ry(b) Rx(a): roll outermost, so that turning the image in its plane
    # changes roll alone (camera axes: x right, y down, z away from the camera)
    b = -np.arcsin(np.clip(rotation[2, 0], -1.0, 1.0))
    a = np.arctan2(rotation[2, 1], rotation[2, 2])
    c = np.arctan2(rotation[1, 0], rotation[0, 0])
    # with y down and z away, positive a tilts the face down, positive b turns it towards
    # the image's left, positive c turns it clockwise: the docstring's signs are the opposites
    pitch, yaw, roll = -np.degrees(a), -np.degrees(b), -np.degrees(c)
    return HeadPose(float(yaw), float(pitch), float(roll), rvec.ravel(), tvec.ravel(), camera)


def _towards_camera(translation: np.ndarray) -> np.ndarray:
    """The smallest rotation turning the camera's axis (0, 0, 1) onto the ray to the face:
    a face turned by it looks into the camera, so angles are measured from there."""
    ray = translation / (np.linalg.norm(translation) + 1e-12)
    axis = np.cross([0.0, 0.0, 1.0], ray)
    sin, cos = np.linalg.norm(axis), ray[2]
    if sin < 1e-12:
        return np.eye(3)
    return cv2.Rodrigues(axis / sin * np.arctan2(sin, cos))[0]
