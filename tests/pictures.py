"""Test and benchmark pictures made from the shipped public-domain portraits: group photos,
webcam clips with known motion, non-faces, Y4M files for Chromium's fake camera.  Used by
``tests/`` and ``benchmarks/`` only, so they do not ship with the package."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from landmarks.core.image_io import to_rgb_array

# the shipped pictures too, so that tests and benchmarks take every picture from here
from landmarks.core.samples import portrait, portrait_path, second_portrait, write_examples  # noqa: F401


def group_photo(faces: int, width: int = 640, height: int = 480) -> np.ndarray:
    """``faces`` copies of the portrait (alternately mirrored) tiled on a width x height canvas."""
    cols = int(np.ceil(np.sqrt(faces * width / height)))
    rows = int(np.ceil(faces / cols))
    cw, ch = width // cols, height // rows
    src = portrait()
    scale = min(cw / src.shape[1], ch / src.shape[0])
    tile = cv2.resize(src, (int(src.shape[1] * scale), int(src.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 40, np.uint8)
    for i in range(faces):
        r, c = divmod(i, cols)
        t = tile[:, ::-1] if i % 2 else tile
        y0, x0 = r * ch + (ch - t.shape[0]) // 2, c * cw + (cw - t.shape[1]) // 2
        canvas[y0 : y0 + t.shape[0], x0 : x0 + t.shape[1]] = t
    return canvas


def webcam_frame(faces: int = 1, width: int = 640, height: int = 480) -> np.ndarray:
    """A 640x480 frame: one face filling the frame's width as a webcam shows it, or several tiled."""
    if faces > 1:
        return group_photo(faces, width, height)
    src = portrait()
    scale = width / src.shape[1]
    frame = cv2.resize(src, (width, round(src.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(frame[:height]) if frame.shape[0] >= height else group_photo(1, width, height)


def webcam_clip(faces: int = 1, frames: int = 100, width: int = 640, height: int = 480) -> list[np.ndarray]:
    """``frames`` frames of ``webcam_frame(faces)`` drifting as a person in front of a webcam
    does: a slow sway of up to 16 px sideways and 8 px up and down."""
    still = webcam_frame(faces, width, height)
    out = []
    for i in range(frames):
        dx, dy = 16 * np.sin(2 * np.pi * i / 50), 8 * np.sin(2 * np.pi * i / 35)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        out.append(cv2.warpAffine(still, m, (width, height), borderMode=cv2.BORDER_REPLICATE))
    return out


MOTIONS = ("still", "slide", "turn", "closer")
PORTRAIT_CENTRE = (334.0, 301.0)  # the centre of the 68 points in ``webcam_frame(1)``


def path_matrix(kind: str, t: float, centre=PORTRAIT_CENTRE) -> np.ndarray:
    """2x3 matrix taking the still frame to time ``t`` (seconds) of a known path about
    ``centre``: ``still``; ``slide`` sideways +-60 px (a sine of period 1.5 s, up to 250 px/s);
    ``turn``, roll +-20 degrees (period 2 s); ``closer``, scale x1.5 and back (period 3 s)."""
    dx, roll, scale = {
        "still": (0.0, 0.0, 1.0),
        "slide": (60 * np.sin(2 * np.pi * t / 1.5), 0.0, 1.0),
        "turn": (0.0, 20 * np.sin(2 * np.pi * t / 2.0), 1.0),
        "closer": (0.0, 0.0, 1.5 ** ((1 - np.cos(2 * np.pi * t / 3.0)) / 2)),
    }[kind]
    m = cv2.getRotationMatrix2D(tuple(map(float, centre)), roll, scale)
    m[0, 2] += dx
    return m


def moving_clip(kind: str, fps: float, seconds: float = 3.0, noise: float = 4.0, seed: int = 0,
                layer: np.ndarray | None = None, centre=PORTRAIT_CENTRE, alpha: np.ndarray | None = None,
                background: np.ndarray | None = None, warp=None) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames of a face moving along ``path_matrix(kind)``, with fresh Gaussian sensor noise
    (``noise`` grey levels) on each, and their matrices (the still frame -> each frame).
    ``layer``: the still frame (default ``webcam_frame(1)``); with ``alpha`` (where the layer
    is, 0..1) it moves over a fixed ``background``, else the whole frame moves.  ``warp(image,
    t)``: a deformation applied to the layer (and its alpha) before the matrix, such as an
    opening mouth (benchmarks/steadiness.py)."""
    layer = (webcam_frame(1) if layer is None else layer).astype(np.float32)
    size = layer.shape[1::-1]
    alpha = np.ones(layer.shape[:2], np.float32) if alpha is None else alpha
    background = layer if background is None else background
    rng = np.random.default_rng(seed)
    frames, matrices = [], []
    for i in range(int(round(seconds * fps))):
        m = path_matrix(kind, i / fps, centre)
        shown, mask = (layer, alpha) if warp is None else (warp(layer, i / fps), warp(alpha, i / fps))
        moved = cv2.warpAffine(shown, m, size, borderMode=cv2.BORDER_REPLICATE)
        a = cv2.warpAffine(mask, m, size, borderMode=cv2.BORDER_REPLICATE)[..., None]
        frame = background * (1 - a) + moved * a + rng.normal(0, noise, layer.shape)
        frames.append(np.clip(np.round(frame), 0, 255).astype(np.uint8))
        matrices.append(m)
    return frames, np.array(matrices)


def non_faces() -> list[tuple[str, np.ndarray, tuple[float, float, float, float]]]:
    """(name, RGB image, box) of things that are not faces but could be boxed as one: the
    portrait's uniform, medals, flag and shoulder, matplotlib's other sample photo, its
    logo and terrain maps (sample data it installs; used by tests and benchmarks, never
    shown in the app), and synthetic patterns (checks, stripes, noise, flat grey)."""
    from matplotlib import cbook

    out = []
    hopper = portrait()  # 512 x 600; the face spans about x 150-370, y 90-360
    for name, box in (("uniform", (40, 420, 150, 150)), ("medals", (280, 420, 150, 150)),
                      ("flag", (0, 0, 140, 140)), ("shoulder", (380, 300, 130, 130))):
        out.append((f"portrait {name}", hopper, box))
    pack = to_rgb_array(cbook.get_sample_data("Minduka_Present_Blue_Pack.png", asfileobj=False))
    out.append(("blue pack photo", pack, (pack.shape[1] * 0.25, pack.shape[0] * 0.25, pack.shape[1] * 0.5, pack.shape[0] * 0.5)))
    logo = to_rgb_array(cbook.get_sample_data("logo2.png", asfileobj=False))
    out.append(("matplotlib logo", logo, (0, 0, logo.shape[0], logo.shape[0])))
    for name, key in (("jacksboro_fault_dem.npz", "elevation"), ("topobathy.npz", "topo")):
        dem = np.load(cbook.get_sample_data(name, asfileobj=False))[key].astype(np.float64)
        gray = (255 * (dem - dem.min()) / (np.ptp(dem) + 1e-9)).astype(np.uint8)
        side = min(gray.shape)
        out.append((f"terrain {name.split('.')[0]}", np.repeat(gray[:, :, None], 3, axis=2), (0, 0, side, side)))
    yy, xx = np.mgrid[:256, :256]
    patterns = {
        "checkerboard": ((xx // 32 + yy // 32) % 2) * 255,
        "stripes": ((xx // 16) % 2) * 255,
        "noise": np.random.default_rng(0).integers(0, 256, (256, 256)),
        "flat grey": np.full((256, 256), 128),
    }
    for name, img in patterns.items():
        out.append((name, np.repeat(img.astype(np.uint8)[:, :, None], 3, axis=2), (28, 28, 200, 200)))
    return out


def write_y4m(path: str | Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """A raw video clip of RGB frames: what Chromium's fake camera
    (``--use-file-for-fake-video-capture``) plays, in a loop."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return Path(path)
