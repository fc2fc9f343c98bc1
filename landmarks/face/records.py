"""One face's result as a record: what the JSON, JSON Lines and CSV outputs hold, the same
for a photo (app, ``predict``) and for each frame of a video.

Numbering: faces and points count from 1 everywhere (face 1, the CSV's ``x1, y1`` ... ``x68,
y68``, the point numbers drawn), as the iBUG figures number points; the JSON's ``points`` list
holds point 1 first.  Frames count from 0 (frame n is at n / fps seconds).  Coordinates are
rounded to 0.01 px, angles to 0.01 degree."""
from __future__ import annotations

import csv
import io

import numpy as np

from ..core.scheme import NUM_POINTS
from .openness import eye_aspect_ratio, mouth_aspect_ratio
from .pose import head_pose

CSV_COLUMNS = ["frame", "time_s", "face", "score", "box_x", "box_y", "box_w", "box_h", "yaw", "pitch", "roll",
               "eye_aspect_ratio", "mouth_aspect_ratio"] + [f"{a}{i}" for i in range(1, NUM_POINTS + 1) for a in "xy"]
RAW_COLUMNS = [f"raw_{a}{i}" for i in range(1, NUM_POINTS + 1) for a in "xy"]  # a video's unsmoothed points, when asked for


def face_record(face, image_size: tuple[int, int], index: int = 1, frame: int | None = None, time_s: float | None = None) -> dict:
    """A face in an image of (width, height): box, score, head pose, eye and mouth openness, 68 points."""
    pose = head_pose(face.points, image_size)
    record = {} if frame is None else {"frame": frame, "time_s": round(time_s or 0.0, 3)}
    return {
        **record,
        "face": index,
        "score": None if face.score is None else round(float(face.score), 4),
        "box": [round(float(v), 2) for v in face.box],
        **pose.to_dict(),
        "eye_aspect_ratio": round(eye_aspect_ratio(face.points), 4),
        "mouth_aspect_ratio": round(mouth_aspect_ratio(face.points), 4),
        "points": rounded(face.points),
    }


def rounded(points) -> list:
    """Points to 0.01 px as a nested list; float64 first: float32 values rounded stay float32
    and print as 50.529998779296875."""
    return np.round(np.asarray(points, np.float64), 2).tolist()


def csv_row(record: dict) -> list:
    return [record.get("frame", 0), record.get("time_s", 0.0), record["face"], record["score"], *record["box"],
            record["yaw"], record["pitch"], record["roll"], record["eye_aspect_ratio"], record["mouth_aspect_ratio"],
            *np.ravel(record["points"]), *np.ravel(record.get("raw_points", []))]


def to_csv(records: list[dict]) -> str:
    """The records as CSV text with a header row (``CSV_COLUMNS``)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(r) for r in records)
    return out.getvalue()
