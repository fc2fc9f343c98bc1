"""Fit a detector's box -> landmark-box calibration.

    python benchmarks/box_calibration.py [--detector blazeface|fast|haar] [--data ../shared/data/ibug300w] [--write]

Runs the detector on the training split (never the test files) and matches each annotated
face to its detection.
- The cascades (``fast``, ``haar``): prints the median centre offset and size of the tight
  landmark box in units of the detector box width (``HAAR_TO_LANDMARK_BOX`` in
  landmarks/detection/haar.py).
- ``blazeface``: fits, by least squares, the linear map from its box and four keypoints (eyes,
  nose tip, mouth) to the landmark box (``keypoint_boxes`` in landmarks/detection/blazeface.py);
  ``--write`` stores it in ``landmarks/detectors/blazeface_box_fit.json``.  Both fits are scored on the validation
  split: each side's mean error in landmark-box sizes.
"""
from __future__ import annotations

import argparse
import json
import sys
from itertools import groupby
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from landmarks.core.geometry import landmark_box, to_centred  # noqa: E402
from landmarks.core.image_io import to_rgb_array  # noqa: E402
from landmarks.data.annotations import read_xml, split_train_val  # noqa: E402
from landmarks.detection.base import match_detections, to_landmark_boxes  # noqa: E402
from landmarks.detection.detectors import DETECTORS, make_detector  # noqa: E402


def matched(detector, records) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(detector boxes (N, 4), their keypoints (N, 6, 2; zeros for a cascade), landmark boxes (N, 4))
    of the faces found."""
    keypoints_too = hasattr(detector, "detections")
    boxes, keypoints, truth = [], [], []
    for image, group in groupby(records, key=lambda r: r.image):
        gts = [landmark_box(r.points) for r in group]
        rgb = to_rgb_array(image)
        found, _, kps = detector.detections(rgb) if keypoints_too else (*detector(rgb), None)
        for gt, m in zip(gts, match_detections(gts, found)):
            if m is not None:
                boxes.append(found[m]), truth.append(gt)
                keypoints.append(kps[m] if keypoints_too else np.zeros((6, 2)))
    return np.array(boxes, np.float64), np.array(keypoints, np.float64), np.array(truth, np.float64)


def in_box_widths(boxes: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The inverse of ``to_landmark_boxes``: the landmark box's centre offset and size in detector box widths."""
    det, face = to_centred(boxes), to_centred(truth)
    return np.concatenate([face[:, :2] - det[:, :2], face[:, 2:]], axis=1) / det[:, 2:3]


def error(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean absolute error of centre x, y and width, height, in landmark-box sizes."""
    p, t = to_centred(predicted), to_centred(truth)
    return (np.abs(p - t) / np.sqrt(t[:, 2:3] * t[:, 3:4])).mean(axis=0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ibug300w"))
    p.add_argument("--detector", default="blazeface", choices=sorted(DETECTORS))
    p.add_argument("--write", action="store_true", help="blazeface: store the fit in landmarks/detectors/")
    a = p.parse_args()
    train, val = split_train_val(read_xml(Path(a.data) / "labels_train.xml"))
    if a.detector == "blazeface":
        from landmarks.detection.blazeface import BOX_FIT, BlazeFaceDetector, keypoint_boxes, keypoint_features

        detector = BlazeFaceDetector(box_fit=None)  # its own boxes and keypoints: what the fit maps
    else:
        detector = make_detector(a.detector)
    boxes, keypoints, truth = matched(detector, train)
    v_boxes, v_keypoints, v_truth = matched(detector, val)
    print(f"matched {len(boxes)} of {len(train)} training faces, {len(v_boxes)} of {len(val)} validation faces")
    median = tuple(np.median(in_box_widths(boxes, truth), axis=0))
    print(f"{a.detector}: median calibration = (%.3f, %.3f, %.3f, %.3f)" % median)
    print("validation error, centre x, y, width, height in box sizes: median calibration (%.4f, %.4f, %.4f, %.4f)"
          % tuple(error(to_landmark_boxes(v_boxes, median), v_truth)))
    if a.detector != "blazeface":
        return
    fit, *_ = np.linalg.lstsq(keypoint_features(boxes, keypoints), in_box_widths(boxes, truth), rcond=None)
    print("validation error, centre x, y, width, height in box sizes: keypoint fit     (%.4f, %.4f, %.4f, %.4f)"
          % tuple(error(keypoint_boxes(v_boxes, v_keypoints, fit), v_truth)))
    if a.write:
        head = {
            "what": "BlazeFace box and keypoints -> tight landmark box (keypoint_boxes in landmarks/detection/blazeface.py)",
            "made_by": "python benchmarks/box_calibration.py --detector blazeface --write",
            "fitted_on": f"{len(boxes)} faces of the 300-W training split, by least squares",
        }
        rows = ",\n  ".join(json.dumps([round(float(v), 6) for v in row]) for row in fit)  # a row a line
        BOX_FIT.write_text(json.dumps(head, indent=1)[:-2] + f',\n "fit": [\n  {rows}\n ]\n}}\n')
        print(f"wrote {BOX_FIT}")


if __name__ == "__main__":
    main()
