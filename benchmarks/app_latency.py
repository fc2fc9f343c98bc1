"""Server time per webcam frame and per photo: what the app does with each.

    python benchmarks/app_latency.py [--model SPEC] [--frames 40]

The second table prices the extras: a webcam frame with the pose axes drawn and without
(the pose and blink count of the status line are computed in both: their cost is the
"pose + eye ratio alone" row), and a photo with everything the photo tab shows (face
records with pose, aligned crops, axes) against detection and drawing the points alone.

Frames are made from the public-domain portrait (tests/pictures.py: webcam_clip: one face,
and five, drifting a few pixels a frame).  Prints median and p90 milliseconds of
``landmarks.webapp.handlers.annotate_frame`` (tracking with a detector run now and then, landmarks,
smoothing, drawing) with the model the app's Webcam tab runs (``handlers.webcam_landmarker``: the
bundled lite where the app serves the bundled full), and for scale the detector alone and one
network pass on all faces; photos with the model itself.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test pictures
from landmarks.webapp.handlers import Settings, annotate_frame, annotate_photo, webcam_landmarker  # noqa: E402
from landmarks.face.drawing import draw_faces  # noqa: E402
from landmarks.face.openness import eye_aspect_ratio  # noqa: E402
from landmarks.inference.landmarker import FaceLandmarker  # noqa: E402
from pictures import webcam_clip  # noqa: E402
from landmarks.runtime.hardware import cpu_line  # noqa: E402


def timed(fn, n: int) -> np.ndarray:
    fn()  # warm-up
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - t0))
    return np.array(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model")
    p.add_argument("--frames", type=int, default=40)
    a = p.parse_args()
    fl = FaceLandmarker(a.model, device="cpu")
    camera = webcam_landmarker(fl)  # as the app: the bundled lite for webcam frames where it serves the bundled full
    settings = Settings()
    print(f"CPU: {cpu_line()}, {torch.get_num_threads()} threads; photos: {fl.loaded.source} ({fl.runner.name}), "
          f"webcam frames: {camera.loaded.source} ({camera.runner.name}); frame 640x480, {a.frames} frames each\n")
    print("| faces | whole frame median ms | p90 ms | detector median ms | network median ms |")
    print("|---|---|---|---|---|")
    for faces in (1, 5):
        clip = webcam_clip(faces, a.frames + 1)
        frame = clip[0]
        found = len(camera(frame))
        state, frames = None, iter(clip)

        def whole():
            nonlocal state
            _, state, _ = annotate_frame(camera, next(frames), state, settings)

        boxes, _ = camera.detector(frame)
        whole_ms = timed(whole, a.frames)
        det_ms = timed(lambda: camera.detector(frame), a.frames)
        net_ms = timed(lambda: camera.predict_boxes(frame, camera.landmark_boxes(boxes)), a.frames)
        print(f"| {faces} (found {found}) | {np.median(whole_ms):.1f} | {np.percentile(whole_ms, 90):.1f} "
              f"| {np.median(det_ms):.1f} | {np.median(net_ms):.1f} |", flush=True)

    print("\n| case | faces | with the extras, median ms | without, median ms | ratio |\n|---|---|---|---|---|")
    for faces in (1, 5):
        clip = webcam_clip(faces, 2 * a.frames + 2)
        frame = clip[0]
        found = fl(frame)

        def stream(extras: bool):
            state, frames = None, iter(clip)
            chosen = settings if extras else Settings(show_axes=False)

            def one():
                nonlocal state
                _, state, _ = annotate_frame(camera, next(frames), state, chosen)
            return one

        on = timed(stream(True), a.frames)
        off = timed(stream(False), a.frames)
        print(f"| webcam frame | {faces} | {np.median(on):.1f} | {np.median(off):.1f} | {np.median(on) / np.median(off):.2f} |")
        photo_on = timed(lambda: annotate_photo(fl, frame, settings), a.frames // 2)
        photo_off = timed(lambda: draw_faces(frame, fl(frame), True), a.frames // 2)
        print(f"| photo | {faces} | {np.median(photo_on):.1f} | {np.median(photo_off):.1f} | "
              f"{np.median(photo_on) / np.median(photo_off):.2f} |")
        extras = timed(lambda: [(f.head_pose((640, 480)), eye_aspect_ratio(f.points)) for f in found], a.frames)
        print(f"| pose + eye ratio alone | {faces} | {np.median(extras):.2f} | | |", flush=True)


if __name__ == "__main__":
    main()
