"""Steady points in video: jitter on a still face, error on a moving one, side by side in one run.

    python benchmarks/steadiness.py [--model SPEC] [--faces 6] [--fps 30 10] [--no-peers]

Clips (640x480, 3 s, fresh Gaussian sensor noise of sigma 4 grey levels on every frame):
- scenes: the public-domain portrait as a webcam shows it (``tests/pictures.py: webcam_frame``),
  and ``--faces`` real 300-W test faces (``labels_test_common.xml``, the largest ones),
  each pasted on a fixed background;
- motions, about the face's centre: ``still``; ``slide`` sideways +-60 px (a sine of period
  1.5 s, up to 250 px/s); ``turn``, roll +-20 deg (period 2 s); ``closer``, scale x1.5 and back
  (period 3 s); and ``mouth``: the lower lip and chin drop 0.2 eye distances and rise again as in
  speech (period 1 s, up to 0.63 eye distances/s; the still frame warped below the lips, the
  gap between them stretched open); each at every ``--fps``.
Systems on the same frames: ours raw (``FaceTracker(smooth=False)``), ours smoothed (the
defaults, the webcam tab's), MediaPipe Face Mesh in video mode (``mediapipe==0.10.21`` in
.cache/mediapipe-venv, as benchmarks/speed.py sets it up) and dlib HOG + 68 points on every
frame (.cache/bench-deps).  Measures, in % of the outer-eye-corner distance:
- jitter (still clips): the median over points of each point's standard deviation over the
  frames (x and y pooled: sqrt((var x + var y) / 2));
- moving error (moving clips): the mean distance to the truth, which is the system's own
  mean points on the still clip moved along the known path (so each system's own bias
  does not count, its lag and noise do); for ``mouth``, over the points that move with the
  lower lip and chin (those the warp moves by 90 % or more), where the face's shape changes,
  which is what a filter must let through.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test pictures

from landmarks.runtime.hardware import cpu_line  # noqa: E402
from pictures import MOTIONS, PORTRAIT_CENTRE, moving_clip, webcam_frame  # noqa: E402

SIZE = (640, 480)
SECONDS = 3.0
NOISE = 4.0  # grey levels: a webcam in ordinary room light
MEDIAPIPE_EYES = (33, 263)  # outer eye corners of the 468-point mesh
DLIB_EYES = OURS_EYES = (36, 45)
KINDS = (*MOTIONS, "mouth")
MOUTH_DEPTH, MOUTH_PERIOD = 0.2, 1.0  # eye distances, seconds


class Mouth:
    """A mouth opening and closing: points below the lips move down by up to ``MOUTH_DEPTH``
    eye distances, fully below a thin band between the lips and not at all above it, fading
    sideways away from the mouth (a dropping jaw moves its sides less)."""

    def __init__(self, points: np.ndarray):  # the face's 68 points in the still frame
        self.iod = np.linalg.norm(points[36] - points[45])
        self.lips = (points[61:64, 1].mean() + points[65:68, 1].mean()) / 2  # between the inner lips
        self.x = points[48:68, 0].mean()
        self._maps = (None, None)  # (image size, time), cv2.remap's maps

    def weight(self, xy: np.ndarray) -> np.ndarray:
        """How much of the drop each (..., 2) point takes, 0 to 1."""
        u = np.clip((xy[..., 1] - self.lips) / (0.06 * self.iod) + 0.5, 0, 1)
        return u * u * (3 - 2 * u) * np.exp(-0.5 * ((xy[..., 0] - self.x) / (0.6 * self.iod)) ** 2)

    def drop(self, t: float) -> float:
        return MOUTH_DEPTH * self.iod * (1 - np.cos(2 * np.pi * t / MOUTH_PERIOD)) / 2

    def move(self, points: np.ndarray, t: float) -> np.ndarray:
        return points + np.stack([np.zeros(len(points)), self.drop(t) * self.weight(points)], axis=1)

    def warp(self, image: np.ndarray, t: float) -> np.ndarray:
        """The image as the moved face shows it (a frame's layer, then its alpha: the maps of
        the last size and time are kept)."""
        key = (image.shape[:2], t)
        if self._maps[0] != key:
            self._maps = (key, self.maps(*image.shape[:2], t))
        map_x, map_y = self._maps[1]
        return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def maps(self, h: int, w: int, t: float) -> tuple[np.ndarray, np.ndarray]:
        """cv2.remap's maps at time ``t``.  Each column's points only move down, more the lower
        they are, so the inverse map is each column's forward map interpolated back."""
        ys = np.arange(h, dtype=np.float64)
        map_y = np.empty((h, w), np.float32)
        for x in range(w):
            forward = ys + self.drop(t) * self.weight(np.stack([np.full(h, x), ys], axis=1))
            map_y[:, x] = np.interp(ys, forward, ys)
        return np.broadcast_to(np.arange(w, dtype=np.float32), (h, w)), map_y


class Scene:
    """A face over a fixed background (``alpha``: where the face's layer is; None: the whole
    frame moves), where its centre is, and its 68 points in the still frame."""

    def __init__(self, name: str, layer: np.ndarray, centre, points: np.ndarray, background=None, alpha=None):
        self.name, self.layer, self.centre, self.points = name, layer, centre, points
        self.background, self.alpha = background, alpha

    def clip(self, kind: str, fps: float, seed: int = 0) -> tuple[list[np.ndarray], Motion]:
        mouth = Mouth(self.points) if kind == "mouth" else None
        frames, matrices = moving_clip("still" if mouth else kind, fps, SECONDS, NOISE, seed, self.layer, self.centre,
                                       self.alpha, self.background, warp=mouth and mouth.warp)
        return frames, Motion(mouth=mouth, times=np.arange(len(frames)) / fps) if mouth else Motion(matrices=matrices)


@dataclass(frozen=True)
class Motion:
    """Where a clip takes a still face's points: a 2x3 matrix per frame, or a mouth's motion."""

    matrices: np.ndarray | None = None
    mouth: Mouth | None = None
    times: np.ndarray | None = None

    def truth(self, still: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The still points (n, 2) moved to every frame (frames, n, 2), each frame's scale
        (frames,), and the points that count (n,) bool."""
        if self.mouth is None:
            truth = np.array([apply(m, still) for m in self.matrices])
            scale = np.sqrt(np.abs(np.linalg.det(self.matrices[:, :, :2])))  # the eye distance grows with the face
            return truth, scale, np.ones(len(still), bool)
        truth = np.array([self.mouth.move(still, t) for t in self.times])
        return truth, np.ones(len(self.times)), self.mouth.weight(still) >= 0.9


def background(seed: int = 1) -> np.ndarray:
    """A fixed, smooth, coloured texture: a room behind the face, not a flat wall."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(40, 200, (6, 8, 3)).astype(np.float32)
    return cv2.resize(small, SIZE, interpolation=cv2.INTER_CUBIC).clip(0, 255)


def portrait_scene() -> Scene:
    """The portrait, its points as `lite` finds them: they only place the mouth's warp, the
    same whichever model is measured."""
    from landmarks.inference.landmarker import FaceLandmarker

    frame = webcam_frame(1)
    return Scene("portrait", frame, PORTRAIT_CENTRE, FaceLandmarker("lite", device="cpu")(frame)[0].points)


def pasted_scene(name: str, rgb: np.ndarray, points: np.ndarray, eyes: float = 110.0) -> Scene:
    """A face with its labelled points, scaled to ``eyes`` px between the outer eye corners
    and pasted on the background's centre with a soft edge."""
    iod = np.linalg.norm(points[36] - points[45])
    scale = eyes / iod
    centre = (points.min(0) + points.max(0)) / 2
    m = np.float32([[scale, 0, SIZE[0] / 2 - scale * centre[0]], [0, scale, SIZE[1] / 2 - scale * centre[1]]])
    layer = cv2.warpAffine(rgb, m, SIZE, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    moved = points * scale + m[:, 2]
    lo, hi = moved.min(0), moved.max(0)
    pad = 0.35 * (hi - lo)  # forehead, ears and a little background of the photo come along
    alpha = np.zeros(SIZE[::-1], np.float32)
    x0, y0 = np.maximum(lo - pad * [1, 1.6], 0).astype(int)
    x1, y1 = np.minimum(hi + pad, SIZE).astype(int)
    alpha[y0:y1, x0:x1] = 1
    alpha = cv2.GaussianBlur(alpha, (0, 0), 6)
    return Scene(name, layer, (SIZE[0] / 2, SIZE[1] / 2), moved, background(), alpha)


def labelled_scenes(xml: Path, count: int, prefix: str) -> list[Scene]:
    """The ``count`` largest faces of a 300-W split (their labelled eye distance over 110 px,
    so they are shrunk, never blown up), one per image, in file order."""
    from landmarks.data.annotations import read_xml
    from landmarks.core.image_io import to_rgb_array

    records = read_xml(xml)
    iod = np.array([np.linalg.norm(r.points[36] - r.points[45]) for r in records])
    picked, seen = [], set()
    for i in np.argsort(-iod, kind="stable"):
        if records[i].image not in seen:
            seen.add(records[i].image)
            picked.append(i)
        if len(picked) == count:
            break
    return [pasted_scene(f"{prefix} {Path(records[i].image).name}", to_rgb_array(records[i].image), records[i].points)
            for i in sorted(picked)]


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ m[:, :2].T + m[:, 2]


def measures(points: dict, eyes: tuple[int, int], fps: float) -> dict:
    """{motion: jitter % (still) or moving error % (others)} for one system on one scene and
    frame rate; ``points[motion]``: (Motion, (frames, n, 2) points, NaN where nothing found).
    ``settled``: the jitter from 0.5 s on, once a new face's track and filter have settled."""
    _, still = points["still"]
    mean = np.nanmean(still, axis=0)
    iod = np.linalg.norm(mean[eyes[0]] - mean[eyes[1]])

    def jitter(pts):
        return 100 * float(np.median(np.sqrt(np.nanvar(pts, axis=0).mean(axis=1)))) / iod

    out = {"still": jitter(still), "settled": jitter(still[int(0.5 * fps):])}
    for kind, (motion, pts) in points.items():
        if kind != "still":
            truth, scale, counted = motion.truth(mean)
            err = np.linalg.norm(pts - truth, axis=2)[:, counted].mean(axis=1) / (iod * scale)
            out[kind] = 100 * float(np.nanmean(err))
            out[kind + " lost"] = int(np.isnan(err).sum())
    return out


def ours(fl, frames, fps: float, smooth: bool) -> np.ndarray:
    from landmarks.inference.tracking import FaceTracker

    tracker = FaceTracker(fl, smooth=smooth)
    out = []
    for i, frame in enumerate(frames):
        faces = tracker(frame, i / fps)
        out.append(faces[0].points if faces else np.full((68, 2), np.nan, np.float32))
    return np.array(out)


def dlib_points(frames) -> np.ndarray | None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from compare_dlib import import_dlib

    dlib, predictor_path = import_dlib()
    hog, shape = dlib.get_frontal_face_detector(), dlib.shape_predictor(predictor_path)
    out = []
    for frame in frames:
        rects = sorted(hog(frame, 0), key=lambda r: -r.area())
        out.append(np.array([[p.x, p.y] for p in shape(frame, rects[0]).parts()], np.float32) if rects
                   else np.full((68, 2), np.nan, np.float32))
    return np.array(out)


def mediapipe_points(clips: dict) -> dict | None:
    """{key: (frames, 468, 2) pixels} from MediaPipe Face Mesh in video mode, a fresh graph per clip."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from speed import mediapipe_python

    python = mediapipe_python()
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "clips.npz", Path(tmp) / "points.npz"
        np.savez(src, **{k: np.stack(v) for k, v in clips.items()})
        run = subprocess.run([str(python), str(ROOT / "benchmarks" / "mediapipe_worker.py"), str(src), str(dst)],
                             capture_output=True, text=True)
        if run.returncode:
            print(f"MediaPipe failed:\n{run.stderr[-2000:]}", file=sys.stderr)
            return None
        with np.load(dst) as got:
            return {k: got[k] for k in got.files}


def table(results: dict, fps_list, systems) -> None:
    """One row per system and face set: the mean over the set's scenes."""
    cols = [("still", "jitter, still"), ("settled", "jitter from 0.5 s"), ("slide", "error, slide"), ("turn", "error, turn"),
            ("closer", "error, closer"), ("mouth", "error, mouth")]
    for fps in fps_list:
        print(f"\n**{fps:g} fps** (jitter and error in % of the outer-eye-corner distance)\n")
        print("| faces | system | " + " | ".join(c[1] for c in cols) + " |")
        print("|---|---|" + "---|" * len(cols))
        for group, scenes in results.items():
            for system in systems:
                rows = [scenes[s][fps][system] for s in scenes if system in scenes[s][fps]]
                if not rows:
                    continue
                cells = []
                for kind, _ in cols:
                    value = np.mean([r[kind] for r in rows])
                    lost = sum(r.get(kind + " lost", 0) for r in rows)
                    cells.append(f"{value:.3f}" if kind in ("still", "settled") else f"{value:.2f}" + (f" ({lost} frames lost)" if lost else ""))
                print(f"| {group} ({len(rows)}) | {system} | " + " | ".join(cells) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model")
    p.add_argument("--faces", type=int, default=6, help="300-W test faces")
    p.add_argument("--fps", type=float, nargs="+", default=[30, 10])
    p.add_argument("--no-peers", action="store_true", help="ours only (no MediaPipe, no dlib)")
    p.add_argument("--json", help="also write every figure here")
    a = p.parse_args()
    from landmarks.inference.landmarker import FaceLandmarker

    fl = FaceLandmarker(a.model, device="cpu")
    data = ROOT.parent / "shared" / "data" / "ibug300w" / "labels_test_common.xml"
    groups = {"portrait": [portrait_scene()]}
    if a.faces and data.is_file():
        groups["300-W test"] = labelled_scenes(data, a.faces, "test")
    elif a.faces:
        print(f"no 300-W data at {data}: the portrait only", file=sys.stderr)
    clips = {(g, s.name, fps, kind): s.clip(kind, fps, seed=k)
             for g, scenes in groups.items() for s in scenes for fps in a.fps for k, kind in enumerate(KINDS)}
    points: dict = {}
    for key, (frames, motion) in clips.items():
        points[key + ("ours, raw",)] = (motion, ours(fl, frames, key[2], smooth=False))
        points[key + ("ours, smoothed",)] = (motion, ours(fl, frames, key[2], smooth=True))
    systems = ["ours, raw", "ours, smoothed"]
    eyes = {"ours, raw": OURS_EYES, "ours, smoothed": OURS_EYES}
    if not a.no_peers:
        mesh = mediapipe_points({str(i): frames for i, (frames, _) in enumerate(clips.values())})
        if mesh is not None:
            for i, (key, (_, motion)) in enumerate(clips.items()):
                points[key + ("MediaPipe Face Mesh",)] = (motion, mesh[str(i)])
            systems.append("MediaPipe Face Mesh")
            eyes["MediaPipe Face Mesh"] = MEDIAPIPE_EYES
        try:
            for key, (frames, motion) in clips.items():
                points[key + ("dlib HOG + 68 points",)] = (motion, dlib_points(frames))
            systems.append("dlib HOG + 68 points")
            eyes["dlib HOG + 68 points"] = DLIB_EYES
        except Exception as e:  # no wheel for this Python, no network: say so, keep ours
            print(f"dlib: not measured ({e})", file=sys.stderr)
    results: dict = {}
    for g, scenes in groups.items():
        for s in scenes:
            for fps in a.fps:
                for system in systems:
                    per_kind = {kind: points[(g, s.name, fps, kind, system)] for kind in KINDS}
                    results.setdefault(g, {}).setdefault(s.name, {}).setdefault(fps, {})[system] = measures(per_kind, eyes[system], fps)
    print(f"CPU: {cpu_line()}; our runtime: {fl.runner.name}; {SECONDS:g} s clips, 640x480, noise sigma {NOISE:g}")
    table(results, a.fps, systems)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
