"""Sample pictures that may be shipped and shown: built from matplotlib's public-domain
portrait of Grace Hopper (US Navy photograph), never from the research-only 300-W data."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np

from .images import to_rgb_array


def portrait_path() -> Path:
    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


@lru_cache(maxsize=1)
def portrait() -> np.ndarray:
    return to_rgb_array(portrait_path())


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


def write_examples(folder: str | Path) -> list[Path]:
    """The app's offline examples: the portrait and a group of four."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    one = folder / "grace_hopper.jpg"
    group = folder / "group_of_four.jpg"
    cv2.imwrite(str(one), cv2.cvtColor(portrait(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(group), cv2.cvtColor(group_photo(4, 1024, 768), cv2.COLOR_RGB2BGR))
    return [one, group]
