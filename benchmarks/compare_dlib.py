"""Our model next to dlib's 68-point predictor, on the same 300-W faces, in one run.

    python benchmarks/compare_dlib.py [--labels ../shared/data/ibug300w/labels_test_common.xml] [--model SPEC]

dlib (``dlib-bin``, with ``shape_predictor_68_face_landmarks.dat`` from
``face-recognition-models``) is installed for this benchmark only, into
``.cache/bench-deps``.  Each system uses its own detector: dlib its HOG detector (the
boxes its predictor was trained on), ours the Haar cascade.  Printed: faces found, NME
on the faces each found, and NME on the faces both found; plus ours with ground-truth
boxes (the papers' protocol).  dlib's model was trained on the public 300-W images, so
its figures on the common set are optimistic.
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from itertools import groupby
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEPS = ROOT / ".cache" / "bench-deps"

from landmarks.data.annotations import read_xml  # noqa: E402
from landmarks.core.geometry import landmark_box  # noqa: E402
from landmarks.detection.base import match_detections  # noqa: E402
from landmarks.core.image_io import to_rgb_array  # noqa: E402
from landmarks.training.metrics import nme_per_face, summarize  # noqa: E402
from landmarks.inference.landmarker import FaceLandmarker  # noqa: E402
from landmarks.runtime.hardware import cpu_line  # noqa: E402


def import_dlib():
    sys.path.insert(0, str(DEPS))
    if importlib.util.find_spec("dlib") is None or importlib.util.find_spec("face_recognition_models") is None:
        print("installing dlib-bin and face-recognition-models into .cache/bench-deps ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(DEPS),
                        "dlib-bin", "face-recognition-models", "--no-deps"], check=True)
        importlib.invalidate_caches()
    import dlib

    # the package's __init__ needs pkg_resources, gone from current setuptools: find the file instead
    models = Path(importlib.util.find_spec("face_recognition_models").submodule_search_locations[0]) / "models"
    return dlib, str(models / "shape_predictor_68_face_landmarks.dat")


def main() -> None:
    default = ROOT.parent / "shared" / "data" / "ibug300w" / "labels_test_common.xml"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labels", default=str(default))
    p.add_argument("--model", help="our model (default: the bundled one)")
    a = p.parse_args()
    dlib, predictor_path = import_dlib()
    hog, shape = dlib.get_frontal_face_detector(), dlib.shape_predictor(predictor_path)
    fl = FaceLandmarker(a.model, device="cpu")

    records = read_xml(a.labels)
    gt, ours_gt, ours, theirs = [], [], {}, {}
    ms = {"ours": [], "dlib": []}
    for image, group in groupby(records, key=lambda r: r.image):
        group = list(group)
        rgb = to_rgb_array(image)
        boxes = [landmark_box(r.points) for r in group]
        base = len(gt)
        gt += [r.points for r in group]
        ours_gt += [f.points for f in fl.predict_boxes(rgb, boxes)]

        t0 = time.perf_counter()
        found = fl(rgb)  # detection, refinement, confidence threshold: what users get
        ms["ours"].append(1000 * (time.perf_counter() - t0))
        for i, m in enumerate(match_detections(boxes, [f.box for f in found])):
            if m is not None:
                ours[base + i] = found[m].points

        t0 = time.perf_counter()
        rects = hog(rgb, 1)
        pts = [np.array([[p.x, p.y] for p in shape(rgb, r).parts()], np.float32) for r in rects]
        ms["dlib"].append(1000 * (time.perf_counter() - t0))
        dboxes = [(r.left(), r.top(), r.width(), r.height()) for r in rects]
        for i, m in enumerate(match_detections(boxes, dboxes)):
            if m is not None:
                theirs[base + i] = pts[m]

    gt = np.array(gt)
    both = sorted(set(ours) & set(theirs))

    def nme(pred: dict, keys) -> dict:
        return summarize(nme_per_face(np.array([pred[k] for k in keys]), gt[keys]))

    print(f"{Path(a.labels).name}: {len(gt)} faces; CPU: {cpu_line()}; our runtime: {fl.runner.name}\n")
    print("| system | detector | faces found | NME % (its faces) | NME % (faces both found) | FR@8 % (both) | AUC@8 % (both) | ms / image |")
    print("|---|---|---|---|---|---|---|---|")
    for name, pred, det in (("ours", ours, "`fast` (cascade + network score)"), ("dlib 68-point", theirs, "HOG")):
        own, common = nme(pred, sorted(pred)), nme(pred, both)
        t = np.median(ms["ours" if name == "ours" else "dlib"])
        print(f"| {name} | {det} | {len(pred)} | {own['nme']} | {common['nme']} | {common['fr8']} | {common['auc8']} | {t:.1f} |")
    g = summarize(nme_per_face(np.array(ours_gt), gt))
    print(f"| ours | ground-truth boxes | {len(gt)} | {g['nme']} | | {g['fr8']} (all) | {g['auc8']} (all) | |")


if __name__ == "__main__":
    main()
