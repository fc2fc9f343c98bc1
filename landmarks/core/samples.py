"""Sample pictures that may be shipped and shown: built from two public-domain portraits,
Grace Hopper (US Navy photograph) and Eileen Collins (NASA), both in ``pictures/`` (see its
CREDITS.md), never from the research-only 300-W data."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .image_io import to_rgb_array

PICTURES = Path(__file__).resolve().parents[1] / "pictures"


def portrait_path() -> Path:
    """Grace Hopper: the portrait the int8 twin's self-check, the tests and the benchmarks use."""
    return PICTURES / "grace_hopper.jpg"


@lru_cache(maxsize=1)
def portrait() -> np.ndarray:
    return to_rgb_array(portrait_path())


def second_portrait_path() -> Path:
    """Eileen Collins: a second person, for examples with different faces."""
    return PICTURES / "eileen_collins.jpg"


@lru_cache(maxsize=1)
def second_portrait() -> np.ndarray:
    """Her portrait without the shuttle model beside her: the model scores that shape 0.67 as a
    face (just over ``MIN_SCORE``), a false face nobody wants in an example."""
    return np.ascontiguousarray(to_rgb_array(second_portrait_path())[:, :352])


def varied_group(width: int = 1024, height: int = 600) -> np.ndarray:
    """Four faces of two people, as unlike each other as two portraits allow: different
    sizes, mirrored, tilted, in grey."""
    hopper, collins = portrait(), second_portrait()
    canvas = np.full((height, width, 3), 60, np.uint8)
    grey = np.repeat(cv2.cvtColor(hopper, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)[:, ::-1]
    h, w = collins.shape[:2]
    tilted = cv2.warpAffine(collins[:, ::-1], cv2.getRotationMatrix2D((w / 2, h / 2), 10, 1.0), (w, h),
                            borderMode=cv2.BORDER_REPLICATE)
    x = 0
    for image, side in ((hopper, 360), (collins, 300), (grey, 220), (tilted, 260)):
        t = cv2.resize(image, (side * image.shape[1] // image.shape[0], side), interpolation=cv2.INTER_AREA)
        y = (height - side) // 2
        canvas[y : y + side, x : x + t.shape[1]] = t
        x += t.shape[1] + 10
    return canvas


def turned_face() -> np.ndarray:
    """The portrait with its face turned about 25 degrees, as a perspective warp fakes it:
    the far side narrower and shorter."""
    src = portrait()
    h, w = src.shape[:2]
    quad = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    turned = np.float32([[0, 0], [w * 0.78, h * 0.07], [w * 0.78, h * 0.93], [0, h]])
    return cv2.warpPerspective(src, cv2.getPerspectiveTransform(quad, turned), (int(w * 0.8), h),
                               borderMode=cv2.BORDER_REPLICATE)


def write_examples(folder: str | Path) -> list[Path]:
    """The app's offline examples: one face, four faces of two people, a turned face."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, rgb in (("one_face.jpg", second_portrait()), ("four_faces.jpg", varied_group()), ("turned_face.jpg", turned_face())):
        out.append(folder / name)
        cv2.imwrite(str(out[-1]), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return out
