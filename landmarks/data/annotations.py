"""Reading 68-point annotations (dlib/iBUG XML files and 300-W ``.pts`` folders) and writing XML.

Every face becomes a :class:`LabelledFace` with 0-based pixel coordinates (pixel
centres at integers).  Bad input raises :class:`DatasetError` naming the file
and the problem, so a typo in a path never surfaces as a numpy stack trace.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.geometry import landmark_box
from ..core.scheme import NUM_POINTS


class DatasetError(ValueError):
    """An annotation file or image that cannot be used, with the reason."""


@dataclass(frozen=True)
class LabelledFace:
    image: Path  # absolute path of the photo
    box: tuple[float, float, float, float]  # x, y, w, h in image pixels
    points: np.ndarray  # (68, 2) float32, 0-based pixel coordinates


def _number(value: str | None, what: str, where: str) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: {what} is {value!r}, not a number") from None
    if not np.isfinite(out):
        raise DatasetError(f"{where}: {what} is {value!r}, not a finite number")
    return out


def read_xml(path: str | Path, check_images: bool = True) -> list[LabelledFace]:
    """Faces of a dlib XML file (``<image file=…><box …><part name x y/>×68``).

    Image paths are relative to the XML file's folder, as dlib's tools write them.
    Boxes without parts (dlib's detector-only files) are an error: we need points.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: annotation file not found")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DatasetError(f"{path}: not a valid XML file ({e})") from None
    images = root.find("images")
    if images is None:
        raise DatasetError(f"{path}: no <images> element; is this a dlib XML file?")
    records: list[LabelledFace] = []
    for image_el in images.iter("image"):
        name = image_el.get("file")
        if not name:
            raise DatasetError(f"{path}: an <image> has no file attribute")
        image_path = (path.parent / name).resolve()
        if check_images and not image_path.is_file():
            raise DatasetError(f"{path}: image {name} not found (looked at {image_path})")
        for k, box_el in enumerate(image_el.iter("box")):
            where = f"{path}: {name} box {k}"
            box = tuple(_number(box_el.get(a), a, where) for a in ("left", "top", "width", "height"))
            parts = box_el.findall("part")
            if len(parts) != NUM_POINTS:
                raise DatasetError(f"{where}: has {len(parts)} parts, expected {NUM_POINTS}")
            by_index: dict[int, tuple[float, float]] = {}
            for part in parts:
                index = int(_number(part.get("name"), "part name", where))
                by_index[index] = (
                    _number(part.get("x"), f"part {index} x", where),
                    _number(part.get("y"), f"part {index} y", where),
                )
            if sorted(by_index) != list(range(NUM_POINTS)):
                raise DatasetError(f"{where}: part names must be 0..{NUM_POINTS - 1}")
            points = np.array([by_index[i] for i in range(NUM_POINTS)], dtype=np.float32)
            records.append(LabelledFace(image_path, box, points))  # type: ignore[arg-type]
    if not records:
        raise DatasetError(f"{path}: contains no annotated faces")
    return records


def write_xml(records: list[LabelledFace], path: str | Path, name: str = "") -> Path:
    """Write faces as a dlib XML file that :func:`read_xml` reads back: image paths relative to
    the file's folder, as dlib's tools write them (nothing is copied), one ``<image>`` per photo."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = ET.Element("dataset")
    ET.SubElement(root, "name").text = name
    images = ET.SubElement(root, "images")
    last, image_el = None, None
    for r in records:
        if r.image != last:
            rel = os.path.relpath(Path(r.image).resolve(), path.parent.resolve())
            image_el, last = ET.SubElement(images, "image", file=rel), r.image
        x, y, w, h = r.box
        box = ET.SubElement(image_el, "box", top=f"{y:.0f}", left=f"{x:.0f}", width=f"{w:.0f}", height=f"{h:.0f}")
        for i, (px, py) in enumerate(r.points):
            ET.SubElement(box, "part", name=f"{i:02d}", x=f"{px:.2f}", y=f"{py:.2f}")
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def read_pts(path: str | Path) -> np.ndarray:
    """Points of one 300-W ``.pts`` file, converted from Matlab 1-based to 0-based."""
    path = Path(path)
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    if lines and lines[0].startswith("version"):  # header: version / n_points / {  … }
        try:
            lines = lines[lines.index("{") + 1 : lines.index("}")]
        except ValueError:
            raise DatasetError(f"{path}: header without matching braces") from None
    if len(lines) != NUM_POINTS:
        raise DatasetError(f"{path}: has {len(lines)} points, expected {NUM_POINTS}")
    coords = []
    for i, line in enumerate(lines):
        fields = line.split()
        if len(fields) != 2:
            raise DatasetError(f"{path}: point {i} is {line!r}, expected 'x y'")
        coords.append([_number(f, f"point {i}", str(path)) for f in fields])
    return np.asarray(coords, dtype=np.float32) - 1.0


_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def read_pts_folder(folder: str | Path) -> list[LabelledFace]:
    """Faces of a 300-W folder: each ``NAME.pts`` next to its ``NAME.jpg/png``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: folder not found")
    records = []
    for pts in sorted(folder.rglob("*.pts")):
        image = next((pts.with_suffix(s) for s in _IMAGE_SUFFIXES if pts.with_suffix(s).is_file()), None)
        if image is None:
            raise DatasetError(f"{pts}: no image with the same name next to it")
        points = read_pts(pts)
        records.append(LabelledFace(image.resolve(), landmark_box(points), points))
    if not records:
        raise DatasetError(f"{folder}: contains no .pts files")
    return records


def read_annotations(path: str | Path) -> list[LabelledFace]:
    """An XML file or a folder of ``.pts`` files."""
    path = Path(path)
    return read_pts_folder(path) if path.is_dir() else read_xml(path)


def split_train_val(records: list[LabelledFace], val_fraction: float = 0.1, seed: int = 0):
    """Fixed-seed split by image, so no photo lands on both sides."""
    images = sorted({r.image for r in records})
    order = np.random.default_rng(seed).permutation(len(images))
    val_images = {images[i] for i in order[: round(len(images) * val_fraction)]}
    train = [r for r in records if r.image not in val_images]
    val = [r for r in records if r.image in val_images]
    return train, val
