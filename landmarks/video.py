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
from .records import CSV_COLUMNS, RAW_COLUMNS, csv_row, face_record

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
MAX_SECONDS = 600.0  # 10 minutes: about 6000 frames at 10 frames/s of work on two cores
MAX_PIXELS = 3840 * 2160  # 4K
# what cv2.VideoWriter writes by suffix: WebM/VP8 plays in browsers; MPEG-4 Part 2 in players
_FOURCC = {".webm": "VP80", ".mp4": "mp4v", ".avi": "MJPG", ".mkv": "VP80"}


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
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


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
    draw: Callable | None = None,
    progress: bool | Callable[[int, int], None] = True,
    smooth: bool = True,
    raw_points: bool = False,
) -> VideoResult:
    """Track faces through a video file.  ``draw(rgb, faces)`` makes the annotated frame
    (default: points and boxes).  ``progress``: a tqdm bar (True), none (False), or a
    callback ``(frames done, frames expected)`` (the app's progress bar).  ``smooth``: points
    filtered over time (``FaceTracker``); ``raw_points``: the rows also carry the points as
    the network found them (``raw_points`` in JSON Lines, ``raw_x0,raw_y0 ...`` in the CSV)."""
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
        table.writerow(CSV_COLUMNS + (RAW_COLUMNS if raw_points else []))
    tracker, cap, n, rows = FaceTracker(landmarker, smooth=smooth), cv2.VideoCapture(str(path)), 0, 0
    try:
        while n < limit:
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            faces = tracker(rgb, n / info.fps)
            for i, (face, raw) in enumerate(zip(faces, tracker.faces)):
                row = face_record(face, (rgb.shape[1], rgb.shape[0]), i, frame=n, time_s=n / info.fps)
                if raw_points:
                    row["raw_points"] = np.round(raw.points, 2).tolist()
                if table:
                    table.writerow(csv_row(row))
                if files[1]:
                    files[1].write(json.dumps(row) + "\n")
                rows += 1
            if writer is not None:
                writer.write(cv2.cvtColor((draw or draw_faces)(rgb, faces), cv2.COLOR_RGB2BGR))
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
