"""Does the model's face confidence separate faces from things that are not faces?

    python benchmarks/confidence.py [--model SPEC] [--labels ../shared/data/ibug300w/labels_test_common.xml]

Scores (mean over the 68 points of the pip head's best cell score) for: the test faces
at their ground-truth boxes and at detector boxes (`--detector`, default `blazeface`); its false detections on
the test photos; and non-face crops (tests/pictures.py: non_faces), each run through
the path a detection takes (calibrated box, refined pass), against the model's threshold
(``FaceLandmarker.min_score``: the model config's ``min_score``, else ``MIN_SCORE`` in
landmarks/model/folder.py).
"""
from __future__ import annotations

import argparse
import sys
from itertools import groupby
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test pictures
from landmarks.data.annotations import read_annotations  # noqa: E402
from landmarks.core.geometry import landmark_box  # noqa: E402
from landmarks.detection.base import match_detections  # noqa: E402
from landmarks.core.image_io import to_rgb_array  # noqa: E402
from landmarks.inference.landmarker import FaceLandmarker  # noqa: E402
from pictures import non_faces  # noqa: E402
from landmarks.runtime.hardware import cpu_line  # noqa: E402


def main() -> None:
    default = ROOT.parent / "shared" / "data" / "ibug300w" / "labels_test_common.xml"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labels", default=str(default))
    p.add_argument("--model")
    p.add_argument("--detector", default="blazeface", choices=["blazeface", "fast", "haar"], help="FaceLandmarker's detector (default: blazeface)")
    a = p.parse_args()
    fl = FaceLandmarker(a.model, device="cpu", detector=a.detector)
    hits, false = f"faces, `{a.detector}` detector boxes", f"`{a.detector}` detector's false detections"
    scores: dict[str, list[float]] = {"faces, ground-truth boxes": [], hits: [], false: []}
    for image, group in groupby(read_annotations(a.labels), key=lambda r: r.image):
        rgb = to_rgb_array(image)
        gt = [landmark_box(r.points) for r in group]
        scores["faces, ground-truth boxes"] += [f.score for f in fl.predict_boxes(rgb, gt)]
        det = fl.detect(rgb)
        match = match_detections(gt, det)
        hit = {m for m in match if m is not None}
        for j, box in enumerate(det):
            (face,) = fl.at_detections(rgb, fl.landmark_boxes([box]))
            scores[hits if j in hit else false].append(face.score)
    print(f"min_score = {fl.min_score}; model runtime {fl.runner.name}; CPU: {cpu_line()}\n")
    print("| crops | n | min | 5th pct | median | 95th pct | max | kept (>= min_score) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, s in scores.items():
        s = np.array(s, float)
        if len(s):
            q = np.percentile(s, [0, 5, 50, 95, 100])
            print(f"| {name} | {len(s)} | " + " | ".join(f"{v:.3f}" for v in q) + f" | {(s >= fl.min_score).sum()} |")
        else:
            print(f"| {name} | 0 | | | | | | |")
    print("\n| non-face crop | score | kept |\n|---|---|---|")
    for name, rgb, box in non_faces():
        (face,) = fl.at_detections(rgb, fl.landmark_boxes([box]))
        print(f"| {name} | {face.score:.3f} | {'yes' if face.score >= fl.min_score else 'no'} |")


if __name__ == "__main__":
    main()
