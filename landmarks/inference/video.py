"""Landmarks on video files: every frame through ``FaceTracker``, an annotated video and
one row per face per frame (CSV and JSON Lines), with limits so a huge file gets a clear
message instead of a server that hangs."""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2

from ..face.drawing import draw_faces
from ..face.records import CSV_COLUMNS, RAW_COLUMNS, csv_row, face_record, rounded

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
MAX_SECONDS = 600.0  # 10 minutes: about 6000 frames at 10 frames/s of work on two cores
MAX_PIXELS = 3840 * 2160  # 4K
# The work is bounded by frames, not by the seconds a container claims (a "30 s" clip at 999
# fps is 29970 frames): at most MAX_RATE frames a second of clip are tracked (faster clips are
# subsampled), and at most READ_RATE a second of the length limit are decoded at all.
MAX_RATE = 30.0
READ_RATE = 60.0  # phones film at 60 frames/s; decoding a frame costs little next to tracking it
BROWSER_CODECS = {"avc1", "h264", "vp80", "vp90", "av01"}  # what browsers play (Chromium, Firefox, Safari)
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
    codec: str = ""  # the FourCC, lower case ("h264", "mp4v", "vp80", ...)

    @property
    def seconds(self) -> float:
        return self.frames / self.fps if self.fps > 0 else 0.0

    @property
    def step(self) -> int:
        """Every step-th frame is tracked: at most ``MAX_RATE`` frames a second."""
        return max(1, math.ceil(self.fps / MAX_RATE - 1e-9))

    @property
    def browser_playable(self) -> bool:
        return self.codec in BROWSER_CODECS


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
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
        codec = "".join(chr((fourcc >> 8 * i) & 0xFF) for i in range(4)).strip("\0 ").lower()
        info = VideoInfo(fps if 0 < fps < 1000 else 25.0, max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))),
                         int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), codec)
    finally:
        cap.release()
    if info.width * info.height == 0:
        raise VideoError(f"{path.name}: not a readable video (no frame size)")
    if info.width * info.height > MAX_PIXELS:
        raise VideoError(f"{path.name}: frames are {info.width}x{info.height}; at most 4K ({MAX_PIXELS} pixels) is processed")
    if info.seconds > max_seconds:
        raise VideoError(f"{path.name}: {_duration(info.seconds)} long; at most {_duration(max_seconds)} is processed")
    if info.frames > read_limit(max_seconds):
        raise VideoError(f"{path.name}: {info.frames} frames ({info.fps:.0f} a second); at most {read_limit(max_seconds)} "
                         f"are read ({_duration(max_seconds)} at {READ_RATE:.0f} frames a second)")
    return info


def read_limit(max_seconds: float) -> int:
    """The most frames decoded from a clip under a ``max_seconds`` limit."""
    return int(max_seconds * READ_RATE)


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
    """Track faces through a video file (at most ``MAX_RATE`` frames a second: faster clips
    are subsampled, and the annotated video has the lower rate).  ``draw(rgb, faces)`` makes
    the annotated frame (default: points and boxes).  ``progress``: a tqdm bar (True), none
    (False), or a callback ``(frames done, frames expected)`` (the app's progress bar; it may
    raise to stop the work).  When the work fails or is stopped, the output files are removed.
    ``smooth``: points filtered over time (``FaceTracker``); ``raw_points``: the rows also carry
    the points as the network found them (``raw_points`` in JSON Lines, ``raw_x1,raw_y1 ...``
    in the CSV)."""
    from .tracking import FaceTracker

    info = probe(path, max_seconds)
    # containers that do not say their length (or lie about it) stop here
    limit = min(int(max_seconds * info.fps), read_limit(max_seconds))
    expected = math.ceil(min(info.frames or limit, limit) / info.step)
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
        writer = cv2.VideoWriter(str(out_video), cv2.VideoWriter_fourcc(*fourcc), info.fps / info.step,
                                 (info.width, info.height))
        if not writer.isOpened():
            raise VideoError(f"{out_video}: cannot write a video there")
    files = [open(p, "w", newline="") if p is not None else None for p in (out_csv, out_jsonl)]
    table = csv.writer(files[0]) if files[0] else None
    if table:
        table.writerow(CSV_COLUMNS + (RAW_COLUMNS if raw_points else []))
    tracker, cap, n, rows, read, done = FaceTracker(landmarker, smooth=smooth), cv2.VideoCapture(str(path)), 0, 0, 0, False
    try:
        while read < limit:
            if read % info.step:  # a frame skipped: decoded, not converted
                read += 1
                if not cap.grab():
                    break
                continue
            ok, bgr = cap.read()
            if not ok:
                break
            read += 1
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            at = read - 1  # the clip's own frame number
            faces = tracker(rgb, at / info.fps)
            for i, (face, raw) in enumerate(zip(faces, tracker.faces), 1):
                row = face_record(face, (rgb.shape[1], rgb.shape[0]), i, frame=at, time_s=at / info.fps)
                if raw_points:
                    row["raw_points"] = rounded(raw.points)
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
        done = n > 0
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        for f in files:
            if f is not None:
                f.close()
        if bar is not None:
            bar.close()
        if not done:  # failed, stopped or empty: no partial results left behind
            for p in (out_video, out_csv, out_jsonl):
                if p is not None:
                    Path(p).unlink(missing_ok=True)
    if n == 0:
        raise VideoError(f"{Path(path).name}: no frame could be decoded")
    return VideoResult(n, rows, info, out_video, Path(out_csv) if out_csv else None, Path(out_jsonl) if out_jsonl else None)
