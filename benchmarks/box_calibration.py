"""Fit a detector's box -> landmark-box calibration (``calibration`` of the detectors in
landmarks/detect.py).

    python benchmarks/box_calibration.py [--detector blazeface|fast|haar] [--data ../shared/data/ibug300w]

Runs the detector on the training split (never the test files), matches each annotated
face to its detection and prints the median centre offset and size of the tight landmark
box in units of the detector box width.
"""
from __future__ import annotations

import argparse
import sys
from itertools import groupby
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from landmarks.data.annotations import read_xml, split_train_val  # noqa: E402
from landmarks.core.geometry import landmark_box, to_centred  # noqa: E402
from landmarks.detection.detectors import DETECTORS, make_detector  # noqa: E402
from landmarks.detection.base import match_detections  # noqa: E402
from landmarks.core.image_io import to_rgb_array  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ibug300w"))
    p.add_argument("--detector", default="blazeface", choices=sorted(DETECTORS))
    a = p.parse_args()
    train, _ = split_train_val(read_xml(Path(a.data) / "labels_train.xml"))
    detector, rows = make_detector(a.detector), []
    for image, group in groupby(train, key=lambda r: r.image):
        gts = [landmark_box(r.points) for r in group]
        boxes, _ = detector(to_rgb_array(image))
        for gt, m in zip(gts, match_detections(gts, boxes)):
            if m is not None:
                face, det = to_centred(np.array(gt)), to_centred(np.asarray(boxes[m], np.float64))
                # the inverse of detect.to_landmark_boxes: offset and size in detector box widths
                rows.append(np.concatenate([face[:2] - det[:2], face[2:]]) / det[2])
    rows = np.array(rows)
    print(f"matched {len(rows)} of {len(train)} training faces")
    print(f"{a.detector}: calibration = (%.3f, %.3f, %.3f, %.3f)" % tuple(np.median(rows, axis=0)))
    print("spread (std):          (%.3f, %.3f, %.3f, %.3f)" % tuple(rows.std(axis=0)))


if __name__ == "__main__":
    main()
