"""What the app does with a photo, a webcam frame or a video, independent of any UI toolkit."""
from __future__ import annotations

import ctypes
import ctypes.util
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..core.image_io import ImageError, to_rgb_array
from ..face.drawing import draw_faces
from ..face.records import face_record
from ..inference.landmarker import Face, FaceLandmarker
from ..inference.stream import LiveStream
from ..inference.video import MAX_RATE, VideoError, probe, process_video
from ..model.folder import NAMED

DISPLAY_MAX_SIDE = 2048  # the annotated picture sent to the browser; points stay full resolution
DISPLAY_MIN_SIDE = 320  # a tiny picture is shown enlarged, so that the panels keep a usable size
FRAME_MAX_PIXELS = 3840 * 2160  # a 4K camera; a larger "frame" is a client sending something else
NO_FACE = ("No face found. Try a lower minimum face size, a more frontal photo, or one where the face is "
           "larger and sharper; faces turned more than about 45 degrees are often missed.")
BUSY = "The server is busy with other webcams; try again in a moment (your camera keeps trying)."


@dataclass
class Settings:
    show_box: bool = True
    show_indices: bool = False  # numbered 1-68, as the iBUG figures do
    smoothing: bool = True
    min_face: int = 40
    show_axes: bool = True  # head-pose axes from the nose tip


def _scaled(faces: list[Face], scale: float) -> list[Face]:
    return [Face(f.box * scale, f.points * scale, f.score) for f in faces]


def draw(rgb: np.ndarray, faces: list[Face], settings: Settings) -> np.ndarray:
    poses = [f.head_pose(rgb.shape[1::-1]) for f in faces] if settings.show_axes else None
    # several faces get their numbers, as the table, the crops and the records number them
    return draw_faces(rgb, faces, settings.show_box, settings.show_indices, poses, first_index=1, face_numbers=len(faces) > 1)


def output_stem(source) -> str:
    """What results are named after: the upload's file name without its suffix (letters,
    digits, ``-_.`` kept), "photo" for pictures handed in as bytes or arrays."""
    if not isinstance(source, (str, Path)):
        return "photo"
    return re.sub(r"[^\w.-]+", "_", Path(source).stem)[:80].strip("._") or "photo"


@dataclass
class PhotoResult:
    image: np.ndarray | None  # the annotated picture, display size
    result: dict  # every face's record (box, score, pose, openness, 68 points): the JSON download
    message: str
    crops: list[tuple[np.ndarray, str]]  # aligned 112 x 112 faces with a caption
    table: list[list]  # one short row per face, for the summary panel
    full_image: bytes | None = None  # the annotated picture at the photo's own size, as a JPEG file (the download)
    name: str = "photo"  # what the downloads are named after (``output_stem``)

    # short, so that the seven columns fit a phone's width; angles in whole degrees
    TABLE_COLUMNS = ["face", "score", "yaw", "pitch", "roll", "eyes", "mouth"]


def annotate_photo(fl: FaceLandmarker, image, settings: Settings) -> PhotoResult:
    """Everything the photo tab shows for an uploaded photo."""
    try:
        return _annotate_photo(fl, image, settings)
    finally:
        release_memory()  # the full-resolution picture is gone now


def release_memory() -> None:
    """Give freed memory back to the system. glibc keeps what a worker thread frees in that
    thread's arena, cut up: after six 119-Mpx photos in two threads a process held 1 GB
    more than before them, 70 MB with a trim after each (which takes about 3 ms)."""
    if _malloc_trim is not None:
        _malloc_trim(0)


_libc = ctypes.util.find_library("c")
_malloc_trim = getattr(ctypes.CDLL(_libc), "malloc_trim", None) if _libc else None  # glibc only


def _annotate_photo(fl: FaceLandmarker, image, settings: Settings) -> PhotoResult:
    if image is None:
        return PhotoResult(None, {}, "Upload a photo, paste one, or pick an example.", [], [])
    try:
        rgb = to_rgb_array(image)
    except ImageError as e:
        # the upload's temporary path means nothing to the person who sent it
        msg = str(e).replace(str(image), Path(image).name) if isinstance(image, (str, Path)) else str(e)
        return PhotoResult(None, {"error": msg}, f"Cannot read this image: {msg}", [], [])
    t0 = time.perf_counter()
    faces = fl(rgb, min_face=settings.min_face)
    ms = 1000 * (time.perf_counter() - t0)
    h, w = rgb.shape[:2]
    scale = min(DISPLAY_MAX_SIDE / max(h, w), max(1.0, DISPLAY_MIN_SIDE / max(h, w)))
    size = (round(w * scale), round(h * scale))
    shown = rgb if scale == 1 else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST)
    annotated = draw(shown, _scaled(faces, scale), settings)
    records = [face_record(f, (w, h), i) for i, f in enumerate(faces, 1)]
    result = {"faces": len(faces), "image_size": [w, h], "results": records}
    crops = [(f.aligned(rgb)[0], f"face {i}") for i, f in enumerate(faces, 1)]
    table = [[r["face"], f"{r['score']:.2f}", *(f"{r[k]:+.0f}" for k in ("yaw", "pitch", "roll")),
              f"{r['eye_aspect_ratio']:.2f}", f"{r['mouth_aspect_ratio']:.2f}"] for r in records]
    if not faces:
        return PhotoResult(annotated, result, NO_FACE, [], [], name=output_stem(image))
    message = f"{len(faces)} face{'s' if len(faces) > 1 else ''} found in {ms:.0f} ms."
    # encoded here, so that the full-size copy is gone (and its memory given back) with the photo
    full = annotated.copy() if scale == 1 else draw(rgb, faces, settings)
    cv2.cvtColor(full, cv2.COLOR_RGB2BGR, dst=full)  # in place: a 119-Mpx photo is 357 MB a copy
    full = cv2.imencode(".jpg", full, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    return PhotoResult(annotated, result, message, crops, table, full, output_stem(image))


VIDEO_MAX_SECONDS = 60.0  # a clip takes about as long again to process on two cores


def annotate_video(fl: FaceLandmarker, path, cache: Path, settings: Settings, progress=None):
    """(annotated WebM, CSV, JSON Lines, one-line message) for an uploaded clip; the files are
    written into a new folder in ``cache``, named after the clip.  ``progress(frames done,
    frames expected)`` is called per frame and may raise to stop the work.  A refused, failed
    or stopped clip leaves nothing in ``cache``."""
    if path is None:
        return None, None, None, f"Upload a video clip (up to {VIDEO_MAX_SECONDS:.0f} s)."
    folder, stem, kept = Path(tempfile.mkdtemp(prefix="video-", dir=cache)), output_stem(path), False
    try:
        r = process_video(path, fl, out_video=folder / f"{stem}.landmarks.webm", out_csv=folder / f"{stem}.landmarks.csv",
                          out_jsonl=folder / f"{stem}.landmarks.jsonl", max_seconds=VIDEO_MAX_SECONDS,
                          draw=lambda rgb, faces: draw(rgb, faces, settings), progress=progress or False)
        kept = True
    except VideoError as e:
        return None, None, None, _cannot_use(e, path)
    finally:
        if not kept:
            shutil.rmtree(folder, ignore_errors=True)
        release_memory()
    per_frame = r.rows / r.frames
    rate = (f" (1 frame in {r.info.step} of this {r.info.fps:.0f} fps clip: at most {MAX_RATE:.0f} a second are tracked)"
            if r.info.step > 1 else "")
    return r.video, r.csv, r.jsonl, (f"{r.frames} frames{rate}, {per_frame:.1f} faces a frame on average: "
                                     "download the points below.")


def _cannot_use(e: VideoError, path) -> str:
    """The refusal as the page shows it: the file by its name, never the server's path."""
    return f"Cannot use this video: {str(e).replace(str(path), Path(path).name)}"


# FourCCs as FFmpeg reports them -> what people call them
CODEC_NAMES = {"fmp4": "MPEG-4 Part 2, mp4v", "mp4v": "MPEG-4 Part 2, mp4v", "xvid": "Xvid", "divx": "DivX",
               "mjpg": "Motion JPEG", "hevc": "H.265", "hev1": "H.265", "hvc1": "H.265"}


def video_note(path) -> str:
    """A line about an uploaded clip before it is processed: whether the browser can show it."""
    if path is None:
        return ""
    try:
        info = probe(path, VIDEO_MAX_SECONDS)
    except VideoError as e:
        return _cannot_use(e, path)
    if info.browser_playable:
        return ""
    codec = CODEC_NAMES.get(info.codec, info.codec or "unknown")
    return (f"This clip's format ({codec}) cannot be played in a browser, so it has no preview here; "
            "it is processed all the same, and the annotated clip (WebM) plays.")


def webcam_landmarker(fl: FaceLandmarker) -> FaceLandmarker:
    """The Webcam tab's model: the bundled ``lite`` where the server runs the bundled ``full``
    (a webcam frame then costs under half, README: Performance), else the model the server was given."""
    folder = fl.loaded.folder
    if folder is None or Path(folder).resolve() != NAMED["full"].resolve():
        return fl
    return FaceLandmarker("lite", device=fl.device)


def annotate_frame(
    fl: FaceLandmarker, frame, stream: LiveStream | None, settings: Settings, mirror: bool = False
) -> tuple[np.ndarray | None, LiveStream, str]:
    """One webcam frame (unmirrored, as the camera sees it: an RGB array or an image file's
    bytes) -> annotated frame (None: nothing new to show), the stream, status line.

    The model sees the true image; the result is mirrored for display when ``mirror``
    is set, because people expect to see themselves as in a mirror.
    """
    if stream is None or stream.landmarker is not fl:
        stream = LiveStream(fl)
    if frame is None:
        return None, stream, "Waiting for the camera…"
    try:
        rgb = to_rgb_array(frame, FRAME_MAX_PIXELS)
    except ImageError as e:
        # one bad frame (a glitch, or a client sending junk) must not end the stream
        return None, stream, f"Skipped a bad frame ({e}); the stream goes on."
    result = stream(rgb, smooth=settings.smoothing, min_face=settings.min_face)
    faces = list(result.faces)
    if mirror:
        faces = [f.mirrored(rgb.shape[1]) for f in faces]
        rgb = rgb[:, ::-1]
    annotated = draw(rgb, faces, settings)
    status = (f"{result.fps:.1f} fps · {result.ms:.0f} ms per frame on the server · "
              f"{len(faces)} face{'s' * (len(faces) != 1)}")
    if faces:
        pose = faces[0].head_pose(rgb.shape[1::-1])
        status += f" · yaw {pose.yaw:+.0f}°, pitch {pose.pitch:+.0f}°, roll {pose.roll:+.0f}° · {result.blinks} blinks"
    return annotated, stream, status


class StreamSlots:
    """At most ``limit`` webcam streams served at once, first come first served.

    A stream holds its slot while its frames keep coming; one not heard from for
    ``idle`` seconds frees it, because a client that drops never says goodbye.
    Thread-safe: frames of different streams are handled in parallel.
    """

    def __init__(self, limit: int = 4, idle: float = 10.0, clock=time.monotonic):
        self.limit, self.idle, self.clock = limit, idle, clock
        self._seen: dict[str, float] = {}  # stream -> when its last frame came
        self._lock = threading.Lock()

    def admit(self, stream: str) -> bool:
        """True when ``stream`` may have this frame processed (and keeps or takes a slot)."""
        now = self.clock()
        with self._lock:
            for key in [k for k, t in self._seen.items() if now - t > self.idle]:
                del self._seen[key]
            if stream in self._seen or len(self._seen) < self.limit:
                self._seen[stream] = now
                return True
            return False

    def release(self, stream: str) -> None:
        with self._lock:
            self._seen.pop(stream, None)
