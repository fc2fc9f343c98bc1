"""Pseudo-labels: a training set's faces re-annotated by a model, in the model's point conventions.

Extra faces whose labels follow other conventions than 300-W's (youtube68's differ from
dlib's by a median 6.5 %) teach the network those conventions; the same faces labelled by a
model trained on 300-W alone teach it 300-W's.  The model crops each face at its labelled
points' box, then again at its own points' box (``refine``): the protocol of ``evaluate
--boxes gt`` plus a refining pass. Averaging with the mirror image (``flip``) helps a model
whose offsets were trained on mirrored faces, and costs the refitted bundled model 0.04 of NME
(``refit.py``), so it is the caller's choice.
"""
from __future__ import annotations

from dataclasses import replace
from itertools import groupby

import numpy as np
from tqdm import tqdm

from ..core.geometry import landmark_box
from ..core.image_io import to_rgb_array
from ..data.annotations import LabelledFace
from ..inference.landmarker import FaceLandmarker
from .metrics import nme_per_face


def relabel(records: list[LabelledFace], landmarker: FaceLandmarker, refine: int = 1, flip: bool = False,
            progress: bool = True) -> tuple[list[LabelledFace], np.ndarray]:
    """The records with the landmarker's points (and their tight boxes), and each face's NME
    (fraction) against its old points: how far the two conventions lie apart."""
    out = []
    photos = groupby(records, key=lambda r: r.image)
    for image, group in tqdm(photos, desc="relabelling", unit="img", total=len({r.image for r in records}), disable=not progress):
        group = list(group)
        faces = landmarker.predict_boxes(to_rgb_array(image), [landmark_box(r.points) for r in group], refine=refine, flip=flip)
        out += [replace(r, box=landmark_box(f.points), points=f.points.astype(np.float32)) for r, f in zip(group, faces)]
    old = np.stack([r.points for r in records])
    return out, nme_per_face(np.stack([r.points for r in out]), old)
