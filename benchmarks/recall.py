"""Face detection recall, ours next to dlib's HOG detector, on the same images in one run.

    python benchmarks/recall.py [--labels ../shared/data/ibug300w/labels_test_common.xml] [--model SPEC]
                                [--scenes 20] [--seed 0]

Systems: ours as ``FaceLandmarker`` returns faces (detector, landmark network, faces under
``min_score`` dropped, duplicates merged), with the default ``blazeface`` detector, the
``fast`` cascade detector and the seed's ``haar`` cascade; dlib's HOG frontal detector (``dlib-bin`` in .cache/bench-deps,
see compare_dlib.py) with one upsampling (faces down to about 40 px) as compare_dlib.py
runs it.  A face counts as found when a returned box (ours: the box of the points found;
dlib: its rectangle) overlaps its ground-truth landmark box with IoU >= 0.3; every other
returned box is a false alarm.

1. the common set's crops (554 faces, one per crop);
2. multi-face scenes built in memory from the same crops (never written to disk: 300-W is
   research-only): 1280x720 canvases on a blurred, textured background, 3 to 6 faces each,
   the face (landmark box width) 40 to 400 px, log-uniform, placed without overlap;
   upright, and rotated by up to +-30 degrees (roll);
3. non-face pictures (tests/pictures.py: non_faces: each crop around its box, at least
   256 px): faces returned there are false alarms.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test pictures
sys.path.insert(0, str(ROOT / "benchmarks"))
from compare_dlib import import_dlib  # noqa: E402

from landmarks.data.annotations import read_annotations  # noqa: E402
from landmarks.core.geometry import landmark_box  # noqa: E402
from landmarks.detection.base import match_detections  # noqa: E402
from landmarks.runtime.hardware import cpu_line  # noqa: E402
from landmarks.core.image_io import to_rgb_array  # noqa: E402
from landmarks.inference.landmarker import FaceLandmarker  # noqa: E402
from pictures import non_faces  # noqa: E402


def make_scenes(records, n: int, rotate: bool, seed: int, size=(1280, 720), faces=(3, 6), px=(40, 400)):
    """[(RGB canvas, [ground-truth landmark boxes])]: test crops pasted at random sizes and places."""
    rng = np.random.default_rng(seed)
    w, h = size
    out = []
    for _ in range(n):
        noise = rng.integers(0, 256, (h // 16, w // 16, 3)).astype(np.uint8)
        canvas = cv2.GaussianBlur(cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 3)
        taken, boxes = [], []
        for _ in range(int(rng.integers(faces[0], faces[1] + 1))):
            rec = records[int(rng.integers(len(records)))]
            crop, pts = to_rgb_array(rec.image), np.asarray(rec.points, np.float64)
            if rotate:
                angle = float(rng.uniform(-30, 30))
                m = cv2.getRotationMatrix2D((crop.shape[1] / 2, crop.shape[0] / 2), angle, 1.0)
                crop = cv2.warpAffine(crop, m, crop.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
                pts = pts @ m[:, :2].T + m[:, 2]
            face = float(np.exp(rng.uniform(np.log(px[0]), np.log(px[1]))))
            s = face / landmark_box(pts)[2]
            ch, cw = round(crop.shape[0] * s), round(crop.shape[1] * s)
            if ch >= h or cw >= w:
                continue
            for _ in range(50):  # a free place
                x, y = int(rng.integers(0, w - cw)), int(rng.integers(0, h - ch))
                if all(x + cw <= a or a + c <= x or y + ch <= b or b + d <= y for a, b, c, d in taken):
                    break
            else:
                continue
            interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
            canvas[y : y + ch, x : x + cw] = cv2.resize(crop, (cw, ch), interpolation=interp)
            taken.append((x, y, cw, ch))
            bx, by, bw, bh = landmark_box(pts * s)
            boxes.append((bx + x, by + y, bw, bh))
        out.append((canvas, boxes))
    return out


def score(images, systems) -> dict:
    """Per system: faces, found, missed, false alarms, median ms per image."""
    rows = {}
    for name, fn in systems.items():
        found = false = total = 0
        ms = []
        for rgb, gt in images:
            t0 = time.perf_counter()
            boxes = fn(rgb)
            ms.append(1000 * (time.perf_counter() - t0))
            match = match_detections(gt, boxes)
            hit = sum(m is not None for m in match)
            found, total, false = found + hit, total + len(gt), false + len(boxes) - hit
        rows[name] = (total, found, total - found, false, float(np.median(ms)))
    return rows


def main() -> None:
    default = ROOT.parent / "shared" / "data" / "ibug300w" / "labels_test_common.xml"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labels", default=str(default))
    p.add_argument("--model")
    p.add_argument("--scenes", type=int, default=20, help="canvases per condition")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    dlib, _ = import_dlib()
    hog = dlib.get_frontal_face_detector()
    ours = {name: FaceLandmarker(a.model, device="cpu", detector=name) for name in ("blazeface", "fast", "haar")}

    def ours_fn(fl):
        return lambda rgb: [landmark_box(f.points) for f in fl(rgb)]

    def dlib_fn(rgb):
        return [(r.left(), r.top(), r.width(), r.height()) for r in hog(rgb, 1)]

    systems = {
        "ours, `blazeface` detector (default)": ours_fn(ours["blazeface"]),
        "ours, `fast` cascade detector": ours_fn(ours["fast"]),
        "ours, seed's `haar` detector": ours_fn(ours["haar"]),
        "dlib HOG (upsample 1)": dlib_fn,
    }
    records = read_annotations(a.labels)
    print(f"CPU: {cpu_line()}; our runtime: {ours['blazeface'].runner.name}; min_score {ours['blazeface'].min_score}\n")
    sets = {
        f"common-set crops ({len(records)})": [(to_rgb_array(r.image), [landmark_box(r.points)]) for r in records],
        f"scenes, upright ({a.scenes} x 1280x720)": make_scenes(records, a.scenes, False, a.seed),
        f"scenes, rolled +-30 deg ({a.scenes} x 1280x720)": make_scenes(records, a.scenes, True, a.seed + 1),
    }
    crops = []
    for name, rgb, (x, y, w, h) in non_faces():
        x0, y0 = max(0, int(x - w / 4)), max(0, int(y - h / 4))
        crop = rgb[y0 : int(y + h * 1.25), x0 : int(x + w * 1.25)]
        if max(crop.shape[:2]) < 256:
            s = 256 / max(crop.shape[:2])
            crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
        crops.append((np.ascontiguousarray(crop), []))
    sets[f"non-face pictures ({len(crops)})"] = crops

    print("| images | system | faces | found | missed | false alarms | median ms / image |")
    print("|---|---|---|---|---|---|---|")
    for set_name, images in sets.items():
        for name, (total, found, missed, false, ms) in score(images, systems).items():
            print(f"| {set_name} | {name} | {total} | {found} | {missed} | {false} | {ms:.1f} |", flush=True)


if __name__ == "__main__":
    main()
