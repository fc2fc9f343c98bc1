"""The iBUG/300-W 68-point scheme: how many points, which is which, which mirrors which.

0-based indices (the iBUG figures number them 1-68).  "Right" and "left" are the person's:
a face looking at the camera has its right eye on the image's left.
"""
from __future__ import annotations

import numpy as np

NUM_POINTS = 68

# index ranges of the face's parts
REGIONS = {
    "jaw": range(0, 17),
    "right brow": range(17, 22),
    "left brow": range(22, 27),
    "nose bridge": range(27, 31),
    "nostrils": range(31, 36),
    "right eye": range(36, 42),
    "left eye": range(42, 48),
    "outer lips": range(48, 60),
    "inner lips": range(60, 68),
}
CLOSED = {"right eye", "left eye", "outer lips", "inner lips"}  # contours that close on themselves

NOSE_TIP, CHIN = 30, 8
OUTER_EYE_CORNERS = (36, 45)  # the normaliser of NME
MOUTH_CORNERS = (48, 54)

# Horizontal-flip permutation: FLIP_PERMUTATION[i] is the index of point i's mirror twin
# (jaw 0<->16, brows 17<->26, eyes 36<->45, ...).
FLIP_PERMUTATION = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # nostrils
    + [45, 44, 43, 42, 47, 46]  # right eye <- left eye
    + [39, 38, 37, 36, 41, 40]  # left eye <- right eye
    + [54, 53, 52, 51, 50, 49, 48]  # outer lip top
    + [59, 58, 57, 56, 55]  # outer lip bottom
    + [64, 63, 62, 61, 60]  # inner lip top
    + [67, 66, 65],  # inner lip bottom
    dtype=np.int64,
)
