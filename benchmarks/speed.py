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

The rows of a table take turns: each system runs the next ten frames (MediaPipe in its own
process, one frame per request, timed inside it), in an order rotated each turn.  This machine's
speed drifts within minutes (other tenants, clocks): timed one row after another, one pipeline
came out 126 and 84 ms on the same photo (benchmarks/experiments.md, round eighteen), so a ratio
of rows run minutes apart was partly drift.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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


def interleaved(systems: dict, frames: list, block: int = 10) -> dict[str, tuple[np.ndarray, int]]:
    """(ms per frame, faces found in the last frame) of each system, taking turns: each runs the
    next ``block`` frames, in an order rotated each turn.  Blocks, not single frames: a system
    run frame by frame between seven others ran cold (dlib 1.8x, ours 1.4x its time).  A system
    is ``fn(frame) -> faces`` (timed here) or a ``MediaPipeClip`` (which times itself)."""
    names = list(systems)
    ms = {name: [] for name in names}
    found = dict.fromkeys(names, 0)
    for turn, start in enumerate(range(0, len(frames), block)):
        k = turn % len(names)
        stop = min(start + block, len(frames))
        for name in names[k:] + names[:k]:
            fn = systems[name]
            if isinstance(fn, MediaPipeClip):
                for i in range(start, stop):
                    t, found[name] = fn(i)
                    ms[name].append(t)
            else:
                t, found[name] = timed(fn, frames[start:stop])
                ms[name].extend(t)
    return {name: (np.array(ms[name]), found[name]) for name in names}


def mediapipe_python() -> Path:
    """The Python of .cache/mediapipe-venv, made on first use (MediaPipe pins numpy < 2)."""
    python = MEDIAPIPE_VENV / "bin" / "python"
    if not python.exists():
        print("creating .cache/mediapipe-venv with mediapipe==0.10.21 ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(MEDIAPIPE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "mediapipe==0.10.21"], check=True)
    return python


DLIB, MEDIAPIPE = "dlib HOG + 68-point predictor", "MediaPipe Face Mesh (video mode)"


def start_mediapipe(clips: dict) -> MediaPipe | None:
    """The MediaPipe process, answering; None where it cannot start (the error is printed, the
    process and its folder are gone)."""
    mediapipe = None
    try:
        mediapipe = MediaPipe(clips)
        mediapipe.frame(1, 0)  # started and answering
        return mediapipe
    except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
        print(f"MediaPipe: {e}", file=sys.stderr)
        if mediapipe is not None:
            mediapipe.close()
        return None


class MediaPipe:
    """MediaPipe Face Mesh in its own process (benchmarks/mediapipe_worker.py --serve), one frame
    per request."""

    def __init__(self, clips: dict):
        self.tmp = tempfile.TemporaryDirectory()
        path = Path(self.tmp.name) / "clips.npz"
        np.savez(path, **{str(k): np.stack(v) for k, v in clips.items()})
        # its log to a file: a pipe nobody reads would fill and stall it
        self.log = open(Path(self.tmp.name) / "stderr.txt", "w+")
        self.proc = subprocess.Popen([str(mediapipe_python()), str(ROOT / "benchmarks" / "mediapipe_worker.py"), str(path), "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)

    def frame(self, clip: int, i: int) -> tuple[float, int]:
        self.proc.stdin.write(f"{clip} {i}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.log.seek(0)
            raise RuntimeError(f"failed:\n{self.log.read()[-2000:]}")
        ms, found = line.split()
        return float(ms), int(found)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()
        self.log.close()
        self.tmp.cleanup()


@dataclass
class MediaPipeClip:
    """One clip's frames, by index, from the MediaPipe process."""

    mediapipe: MediaPipe
    clip: int

    def __call__(self, i: int) -> tuple[float, int]:
        return self.mediapipe.frame(self.clip, i)


def stats(ms: np.ndarray) -> tuple[float, float]:
    return float(np.median(ms)), float(np.percentile(ms, 90))


def print_rows(faces: int, rows: dict) -> None:
    """One clip's table rows, ours with their ratios to the peers' medians."""
    peers = {k: stats(rows[k][0])[0] for k in (DLIB, MEDIAPIPE) if k in rows}
    for name, (ms, found) in rows.items():
        med, p90 = stats(ms)
        ratios = [f"{med / peer:.2f}" if name.startswith("ours") else "" for peer in peers.values()]
        print(f"| {faces} | {name} | {found} | {med:.1f} | {p90:.1f} | {' | '.join(ratios + [''] * (2 - len(ratios)))} |", flush=True)


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
    mediapipe = start_mediapipe(clips)

    def run_dlib(frame):
        rects = hog(frame, 0)
        for r in rects:
            shape(frame, r)
        return len(rects)

    runtimes = ", ".join(f"{spec}: {fl.runner.name}" for spec, fl in models.items())
    print(f"CPU: {cpu_line()}, {torch.get_num_threads()} threads; 640x480 frames, {a.frames} per clip; our runtimes: {runtimes}; "
          "rows taking turns, 10 frames each\n")
    print("| faces | system | found | median ms | p90 ms | this / dlib | this / MediaPipe |")
    print("|---|---|---|---|---|---|---|")
    for n, frames in clips.items():
        systems, trackers = {}, {}
        for spec, fl in models.items():
            fl(frames[0])  # warm-up
            trackers[spec] = FaceTracker(fl)
            systems[f"ours `{spec}`, webcam path (tracking)"] = lambda f, t=trackers[spec]: len(t(f))
            systems[f"ours `{spec}`, photo path (detect + refine)"] = lambda f, fl=fl: len(fl(f))
        systems[f"ours `{next(iter(models))}`, photo path, `fast` cascade detector"] = lambda f: len(fl_fast(f))
        if own_passes is not None:
            systems[f"ours `{next(iter(models))}`, photo path, its own passes (`crop_model=False`)"] = lambda f: len(own_passes(f))
        fl_fast(frames[0]), run_dlib(frames[0])
        systems[DLIB] = run_dlib
        if mediapipe:
            systems[MEDIAPIPE] = MediaPipeClip(mediapipe, n)
        print_rows(n, interleaved(systems, frames))
        for spec, tracker in trackers.items():
            print(f"| {n} | (ours `{spec}`: detector ran on {tracker.detections} of {len(frames)} frames) | | | | | |")
    if mediapipe:
        mediapipe.close()
    else:
        print("\nMediaPipe: not measured (see the error above)")

    # a large photo: what a user uploads
    big = group_photo(5, 1920, 1080)
    runs = max(5, a.frames // 5)
    systems = {}
    for spec, fl in models.items():
        fl(big)  # warm-up
        systems[f"ours `{spec}`, photo path (detect + refine)"] = lambda f, fl=fl: len(fl(f))
    fl_fast(big), run_dlib(big)
    systems[f"ours `{next(iter(models))}`, photo path, `fast` cascade detector"] = lambda f: len(fl_fast(f))
    systems[DLIB] = run_dlib
    print(f"\n| 1920x1080 photo, 5 faces ({runs} runs) | found | median ms | p90 ms | this / dlib |")
    print("|---|---|---|---|---|")
    rows = interleaved(systems, [big] * runs, block=5)
    peer = stats(rows[DLIB][0])[0]
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
            ms, _ = timed(lambda _, r=runner, x=x: r(x), range(20 + a.frames))
            med, p90 = stats(ms[20:])
            print(f"| `{spec}` {name} ({m.preprocess.size} px) | {med:.2f} | {p90:.2f} |")


if __name__ == "__main__":
    main()
