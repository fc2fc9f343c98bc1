"""Landmarks on video files: every frame through ``FaceTracker``, an annotated video and
one row per face per frame (CSV and JSON Lines), with limits so a huge file gets a clear
message instead of a server that hangs."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .drawing import draw_faces
from .openness import eye_aspect_ratio, mouth_aspect_ratio
from .pose import head_pose
from .scheme import NUM_POINTS

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
MAX_SECONDS = 600.0  # 10 minutes: about 6000 frames at 10 frames/s of work on two cores
MAX_PIXELS = 3840 * 2160  # 4K
# what cv2.VideoWriter writes by suffix: WebM/VP8 plays in browsers; MPEG-4 Part 2 in players
_FOURCC = {".webm": "VP80", ".mp4": "mp4v", ".avi": "MJPG", ".mkv": "VP80"}
CSV_COLUMNS = ["frame", "time_s", "face", "score", "box_x", "box_y", "box_w", "box_h", "yaw", "pitch", "roll",
               "eye_aspect_ratio", "mouth_aspect_ratio"] + [f"{a}{i}" for i in range(NUM_POINTS) for a in "xy"]


class VideoError(ValueError):
    """A video that cannot be read or is over the limits, with the reason."""


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    frames: int  # as the container says; 0 when it does not say
    width: int
    height: int

    @property
    def seconds(self) -> float:
        return self.frames / self.fps if self.fps > 0 else 0.0


def probe(path: str | Path, max_seconds: float = MAX_SECONDS) -> VideoInfo:
    """The video's frame rate, length and size, or VideoError saying why it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: file not found")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"{path.name}: not a readable video")
        fps = cap.get(cv2.CAP_PROP_FPS)
        info = VideoInfo(fps if 0 < fps < 1000 else 25.0, max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))),
                         int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    finally:
        cap.release()
    if info.width * info.height == 0:
        raise VideoError(f"{path.name}: not a readable video (no frame size)")
    if info.width * info.height > MAX_PIXELS:
        raise VideoError(f"{path.name}: frames are {info.width}x{info.height}; at most 4K ({MAX_PIXELS} pixels) is processed")
    if info.seconds > max_seconds:
        raise VideoError(f"{path.name}: {_duration(info.seconds)} long; at most {_duration(max_seconds)} is processed")
    return info


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def face_row(frame: int, time_s: float, index: int, face, image_size: tuple[int, int]) -> dict:
    """One face in one frame: what the CSV and JSON Lines files hold."""
    pose = head_pose(face.points, image_size)
    return {
        "frame": frame,
        "time_s": round(time_s, 3),
        "face": index,
        "score": None if face.score is None else round(float(face.score), 4),
        "box": [round(float(v), 2) for v in face.box],
        **pose.to_dict(),
        "eye_aspect_ratio": round(eye_aspect_ratio(face.points), 4),
        "mouth_aspect_ratio": round(mouth_aspect_ratio(face.points), 4),
        "points": np.round(face.points, 2).tolist(),
    }


def _csv_values(row: dict) -> list:
    return [row["frame"], row["time_s"], row["face"], row["score"], *row["box"], row["yaw"], row["pitch"], row["roll"],
            row["eye_aspect_ratio"], row["mouth_aspect_ratio"], *np.ravel(row["points"])]


@dataclass(frozen=True)
class VideoResult:
    frames: int  # frames processed
    rows: int  # faces found, summed over frames
    info: VideoInfo
    video: Path | None
    csv: Path | None
    jsonl: Path | None


def process_video(
    path: str | Path,
    landmarker,
    out_video: str | Path | None = None,
    out_csv: str | Path | None = None,
    out_jsonl: str | Path | None = None,
    max_seconds: float = MAX_SECONDS,
    show_box: bool = True,
    progress: bool | Callable[[int, int], None] = True,
) -> VideoResult:
    """Track faces through a video file.  ``progress``: a tqdm bar (True), none (False), or a
    callback ``(frames done, frames expected)`` (the app's progress bar)."""
    from .tracking import FaceTracker

    info = probe(path, max_seconds)
    limit = int(max_seconds * info.fps)  # containers that do not say their length stop here
    expected = min(info.frames or limit, limit)
    bar = None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=expected, desc=Path(path).name, unit="frame")
    writer = None
    if out_video is not None:
        out_video = Path(out_video)
        fourcc = _FOURCC.get(out_video.suffix.lower())
        if fourcc is None:
            raise VideoError(f"{out_video.name}: write .webm, .mp4, .avi or .mkv")
        writer = cv2.VideoWriter(str(out_video), cv2.VideoWriter_fourcc(*fourcc), info.fps, (info.width, info.height))
        if not writer.isOpened():
            raise VideoError(f"{out_video}: cannot write a video there")
    files = [open(p, "w", newline="") if p is not None else None for p in (out_csv, out_jsonl)]
    table = csv.writer(files[0]) if files[0] else None
    if table:
        table.writerow(CSV_COLUMNS)
    tracker, cap, n, rows = FaceTracker(landmarker), cv2.VideoCapture(str(path)), 0, 0
    try:
        while n < limit:
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            faces = tracker(rgb)
            for i, face in enumerate(faces):
                row = face_row(n, n / info.fps, i, face, (rgb.shape[1], rgb.shape[0]))
                if table:
                    table.writerow(_csv_values(row))
                if files[1]:
                    files[1].write(json.dumps(row) + "\n")
                rows += 1
            if writer is not None:
                writer.write(cv2.cvtColor(draw_faces(rgb, faces, show_box), cv2.COLOR_RGB2BGR))
            n += 1
            if bar is not None:
                bar.update(1)
            elif callable(progress):
                progress(n, expected)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        for f in files:
            if f is not None:
                f.close()
        if bar is not None:
            bar.close()
    if n == 0:
        raise VideoError(f"{Path(path).name}: no frame could be decoded")
    return VideoResult(n, rows, info, out_video, Path(out_csv) if out_csv else None, Path(out_jsonl) if out_jsonl else None)
