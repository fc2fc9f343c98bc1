"""CPU speed, side by side in one run: our pipeline, dlib and MediaPipe on the same frames.

    python benchmarks/speed.py [--models full,lite] [--frames 100]

Frames: 640x480, made from the public-domain portrait (tests/pictures.py: webcam_clip),
one face and five, drifting a few pixels per frame as a webcam sees a person.
Each of our models (by default the bundled ``full`` and ``lite``) is measured:
- ours, webcam path: ``FaceTracker`` (detector every 15 frames or when a face is lost,
  else a crop at the previous points) with the runtime ``FaceLandmarker`` picks by default;
- ours, photo path: ``FaceLandmarker()(frame)``: detection (the default ``blazeface``
  detector), the crop found (for ``full``: by two ``lite`` passes), the points and the score
  each frame; and the first model with the ``fast`` cascade detector (shrunk permissive cascade
  + rotated passes), and finding its crops with its own passes (``crop_model=False``);
- dlib: HOG detector + ``shape_predictor_68_face_landmarks.dat`` each frame (``dlib-bin`` and
  ``face-recognition-models`` installed into .cache/bench-deps for this benchmark only);
- MediaPipe Face Mesh in video mode (``mediapipe==0.10.21`` in .cache/mediapipe-venv, its
  own environment because it pins numpy < 2).
Then a 1920x1080 photo with five faces (``group_photo``), photo paths and dlib, 20 runs
each; then the landmark network alone on one face crop, per runtime.  Prints median and
p90 ms per frame and each of our rows' ratio to dlib and to MediaPipe.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test pictures
sys.path.insert(0, str(ROOT / "benchmarks"))
from compare_dlib import import_dlib  # noqa: E402

from landmarks.inference.landmarker import FaceLandmarker  # noqa: E402
from landmarks.runtime.runners import TorchRunner  # noqa: E402
from pictures import group_photo, webcam_clip  # noqa: E402
from landmarks.inference.tracking import FaceTracker  # noqa: E402
from landmarks.core.geometry import landmark_box  # noqa: E402
from landmarks.runtime.hardware import cpu_line  # noqa: E402

MEDIAPIPE_VENV = ROOT / ".cache" / "mediapipe-venv"


def timed(fn, frames) -> tuple[np.ndarray, int]:
    """ms per frame over the clip, and the faces found in its last frame."""
    ms, found = [], 0
    for frame in frames:
        t0 = time.perf_counter()
        found = fn(frame)
        ms.append(1000 * (time.perf_counter() - t0))
    return np.array(ms), found


def mediapipe_python() -> Path:
    """The Python of .cache/mediapipe-venv, made on first use (MediaPipe pins numpy < 2)."""
    python = MEDIAPIPE_VENV / "bin" / "python"
    if not python.exists():
        print("creating .cache/mediapipe-venv with mediapipe==0.10.21 ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(MEDIAPIPE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "mediapipe==0.10.21"], check=True)
    return python


def mediapipe_times(clips: dict) -> dict | None:
    python = mediapipe_python()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clips.npz"
        np.savez(path, **{str(k): np.stack(v) for k, v in clips.items()})
        run = subprocess.run([str(python), str(ROOT / "benchmarks" / "mediapipe_worker.py"), str(path)],
                             capture_output=True, text=True)
    if run.returncode:
        print(f"MediaPipe failed:\n{run.stderr[-2000:]}", file=sys.stderr)
        return None
    return {int(k): (np.array(v["ms"]), v["found"]) for k, v in json.loads(run.stdout.strip().splitlines()[-1]).items()}


def stats(ms: np.ndarray) -> tuple[float, float]:
    return float(np.median(ms)), float(np.percentile(ms, 90))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="full,lite", help="comma-separated model specs, each measured (default: full,lite)")
    p.add_argument("--frames", type=int, default=100)
    a = p.parse_args()
    models = {spec: FaceLandmarker(spec, device="cpu") for spec in a.models.split(",")}
    first = next(iter(models.values()))
    fl_fast = FaceLandmarker(next(iter(models)), device="cpu", detector="fast")
    # the first model finding its crops itself, where a crop model finds them by default (full: lite)
    own_passes = FaceLandmarker(next(iter(models)), device="cpu", crop_model=False) if first.cropper else None
    dlib, predictor_path = import_dlib()
    hog, shape = dlib.get_frontal_face_detector(), dlib.shape_predictor(predictor_path)
    clips = {n: webcam_clip(n, a.frames) for n in (1, 5)}
    mediapipe = mediapipe_times(clips)

    def run_dlib(frame):
        rects = hog(frame, 0)
        for r in rects:
            shape(frame, r)
        return len(rects)

    runtimes = ", ".join(f"{spec}: {fl.runner.name}" for spec, fl in models.items())
    print(f"CPU: {cpu_line()}, {torch.get_num_threads()} threads; 640x480 frames, {a.frames} per clip; our runtimes: {runtimes}\n")
    print("| faces | system | found | median ms | p90 ms | this / dlib | this / MediaPipe |")
    print("|---|---|---|---|---|---|---|")
    for n, frames in clips.items():
        rows, trackers = {}, {}
        for spec, fl in models.items():
            fl(frames[0])  # warm-up
            trackers[spec] = tracker = FaceTracker(fl)
            rows[f"ours `{spec}`, webcam path (tracking)"] = timed(lambda f: len(tracker(f)), frames)
            rows[f"ours `{spec}`, photo path (detect + refine)"] = timed(lambda f: len(fl(f)), frames)
        rows[f"ours `{next(iter(models))}`, photo path, `fast` cascade detector"] = timed(lambda f: len(fl_fast(f)), frames)
        if own_passes is not None:
            rows[f"ours `{next(iter(models))}`, photo path, its own passes (`crop_model=False`)"] = timed(lambda f: len(own_passes(f)), frames)
        rows["dlib HOG + 68-point predictor"] = timed(run_dlib, frames)
        if mediapipe:
            rows["MediaPipe Face Mesh (video mode)"] = mediapipe[n]
        peers = {k: stats(rows[k][0])[0] for k in ("dlib HOG + 68-point predictor", "MediaPipe Face Mesh (video mode)") if k in rows}
        for name, (ms, found) in rows.items():
            med, p90 = stats(ms)
            ratios = [f"{med / peer:.2f}" if name.startswith("ours") else "" for peer in peers.values()]
            print(f"| {n} | {name} | {found} | {med:.1f} | {p90:.1f} | {' | '.join(ratios + [''] * (2 - len(ratios)))} |", flush=True)
        for spec, tracker in trackers.items():
            print(f"| {n} | (ours `{spec}`: detector ran on {tracker.detections} of {len(frames)} frames) | | | | | |")
    if not mediapipe:
        print("\nMediaPipe: not measured (see the error above)")

    # a large photo: what a user uploads
    big = group_photo(5, 1920, 1080)
    runs = max(5, a.frames // 5)
    rows = {}
    for spec, fl in models.items():
        fl(big)  # warm-up
        rows[f"ours `{spec}`, photo path (detect + refine)"] = timed(lambda f: len(fl(f)), [big] * runs)
    fl_fast(big), run_dlib(big)
    rows[f"ours `{next(iter(models))}`, photo path, `fast` cascade detector"] = timed(lambda f: len(fl_fast(f)), [big] * runs)
    rows["dlib HOG + 68-point predictor"] = timed(run_dlib, [big] * runs)
    peer = stats(rows["dlib HOG + 68-point predictor"][0])[0]
    print(f"\n| 1920x1080 photo, 5 faces ({runs} runs) | found | median ms | p90 ms | this / dlib |")
    print("|---|---|---|---|---|")
    for name, (ms, found) in rows.items():
        med, p90 = stats(ms)
        print(f"| {name} | {found} | {med:.1f} | {p90:.1f} | {f'{med / peer:.2f}' if name.startswith('ours') else ''} |", flush=True)

    # the network alone, one face: each model in each runtime on the same face
    face = first(clips[1][0])[0]
    print("\n| network alone, 1 face | median ms | p90 ms |\n|---|---|---|")
    for spec, fl in models.items():
        m = fl.model
        x = m.preprocess(clips[1][0], [m.preprocess.region(landmark_box(face.points))])
        runners = {fl.runner.name: fl.runner, "torch fp32": TorchRunner(m, torch.device("cpu"))}
        for name, runner in runners.items():
            ms, _ = timed(lambda _: runner(x), range(20 + a.frames))
            med, p90 = stats(ms[20:])
            print(f"| `{spec}` {name} ({m.preprocess.size} px) | {med:.2f} | {p90:.2f} |")


if __name__ == "__main__":
    main()
