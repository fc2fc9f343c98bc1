import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("IBUG300W", ROOT.parent / "shared" / "data" / "ibug300w"))
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "labels_train.xml").is_file():
        pytest.fail(f"300-W data not found at {DATA}; set IBUG300W to the ibug300w folder")
    return DATA


@pytest.fixture(scope="session")
def test_records(data_dir):
    from landmarks.data import read_xml

    return read_xml(data_dir / "labels_test_common.xml")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def write_xml(path: Path, records) -> Path:
    """A dlib XML file for the given records (absolute image paths)."""
    lines = ["<?xml version='1.0' encoding='UTF-8'?>", "<dataset><images>"]
    for r in records:
        x, y, w, h = r.box
        lines.append(f"<image file='{r.image}'><box top='{y:.0f}' left='{x:.0f}' width='{w:.0f}' height='{h:.0f}'>")
        lines += [f"<part name='{i:02d}' x='{px:.2f}' y='{py:.2f}'/>" for i, (px, py) in enumerate(r.points)]
        lines.append("</box></image>")
    lines.append("</images></dataset>")
    path.write_text("\n".join(lines))
    return path
