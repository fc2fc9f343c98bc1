"""Face landmarks in the browser: photo, live webcam and video tabs (Gradio).

    python app.py [--model SPEC] [--host HOST] [--port PORT] [--share]

Set LANDMARKS_AUTH=user:password to ask for that login (page and API). The work happens
in ``landmarks``; this file only wires it to the page.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import html
import io
import json
import os
import signal
import sys
import uuid
from pathlib import Path

import gradio as gr
import numpy as np
from gradio import processing_utils
from gradio.data_classes import ImageData
from PIL import Image
from pydantic import field_serializer
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from landmarks.webapp import scratch
from landmarks.webapp.handlers import (BUSY, PhotoResult, Settings, StreamSlots, annotate_frame, annotate_photo, annotate_video,
                                video_note, webcam_landmarker)
from landmarks.detection.base import DetectorError
from landmarks.hub.resolve import resolve
from landmarks.model.folder import ModelError
from landmarks.inference.landmarker import FaceLandmarker
from landmarks.face.records import to_csv
from landmarks.core.samples import write_examples
from landmarks.webapp.live import LiveFiles, live_folder

MAX_UPLOAD_MB = 50  # the largest image file taken, uploaded or inline (a phone photo is 2-15 MB)
PHOTO_WORKERS = 2  # photos processed at once: the detector and the network use both cores of a Space
WEBCAM_SLOTS = 4  # webcam streams served at once; more users are told the server is busy
CACHE_CLEANING = (300, 1800)  # every 5 min, Gradio deletes uploads and results older than 30 min
CACHE_MAX_MB = 2000  # and the private folder is kept under this, oldest files first (checked every 30 s and before a clip)
# The webcam asks for what the server can serve to every stream at once: each of the
# WEBCAM_SLOTS streams gets its share of the cores, at a budget of 30 ms of CPU a frame (one
# face: 15 ms of landmarks and drawing on the 2-core EPYC, about as much again for Gradio's
# decoding, encoding and sending), and never more than 30 frames a second.
FRAME_CPU_S = 0.03
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1  # Linux; macOS
WEBCAM_FPS = max(5, min(30, int(CORES / (WEBCAM_SLOTS * FRAME_CPU_S))))
BODY_LIMIT = MAX_UPLOAD_MB * 2**20 * 4 // 3 + 2**20  # an inline image at the cap (base64) and the rest of a request
STYLE = Path(__file__).resolve().parent / "landmarks" / "static" / "app.css"  # the page's look on phones
REFUSED_PATH = "Refused: send the image itself; this app opens no path on the server other than its own uploads and examples."


class ImagePayload(ImageData):
    """What a client sends for an image. Gradio keeps each session's last input (up to 10000
    sessions); an inline picture is kept as its header only, else it stays in memory."""

    @field_serializer("url")
    def _url(self, url):
        return url.partition(",")[0] if url and url.startswith("data:") else url


class ImageInput(gr.Image):
    """``gr.Image`` (same page component) that hands ``landmarks`` the file undecoded: a path
    in Gradio's upload folder (or the examples folder), or the bytes of an inline ``data:``
    image. The library then checks the size from the header before decoding, turns phone
    photos upright, and words a clear message for a broken file.

    A client writes the payload itself and can name any path on the server; Gradio checks
    only payloads that carry its ``meta`` tag, so every path is checked here."""

    is_template = True  # Gradio then uses gr.Image's frontend
    data_model = ImagePayload
    examples_folder: Path | None = None  # set by build(); not an __init__ argument, so not sent to the page

    def preprocess(self, payload):
        if payload is None:
            return None
        if (payload.url or "").startswith("data:"):
            return inline_bytes(payload.url)
        return checked_path(self, payload.path)


def checked_path(component, path) -> str:
    """``path`` if it lies in Gradio's upload folder or the examples folder, else refused."""
    folders = [Path(component.GRADIO_CACHE), *([component.examples_folder] if component.examples_folder else [])]
    if path is None or not any(Path(path).resolve().is_relative_to(f.resolve()) for f in folders):
        raise gr.Error(REFUSED_PATH, print_exception=False)
    return path


class VideoInput(gr.Video):
    """``gr.Video`` (same page component) whose path is checked as ``ImageInput``'s is, and
    handed on as uploaded: ``landmarks`` reads and checks the file (no conversion first)."""

    is_template = True
    examples_folder: Path | None = None

    def preprocess(self, payload):
        return None if payload is None else checked_path(self, payload.path)


class ResultDownload(gr.DownloadButton):
    """A download button for a file made per request (a photo's JSON, CSV and annotated
    picture), written into Gradio's cache, which ``delete_cache`` cleans, under a name from the
    upload: ``(file name, text or the file's bytes)``."""

    is_template = True

    def postprocess(self, value):
        if isinstance(value, tuple):
            name, content = value
            path = Path(self.GRADIO_CACHE) / uuid.uuid4().hex / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
            value = str(path)
        return super().postprocess(value)


def active(*files) -> list[dict]:
    """Download buttons active with a file, greyed out without one (run after the event that
    gives them their files, so that its API still answers with the files themselves)."""
    return [gr.update(interactive=f is not None) for f in files]


class ClientGone(Exception):
    """The page or script that asked for a clip is no longer there to receive it."""


def client_present():
    """A check that the client of the event now running is still connected: Gradio marks an
    event dead when its client's event stream closes (``Event.alive``; no public API says so,
    hence the private names, read defensively)."""
    from gradio.context import LocalContext

    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)

    def present() -> bool:
        for job in getattr(getattr(blocks, "_queue", None), "active_jobs", None) or []:
            for event in job or []:
                if getattr(event, "_id", None) == event_id:
                    return getattr(event, "alive", True)
        return True

    return present


def cached_jpeg(rgb: np.ndarray, cache: str) -> str:
    """``rgb`` as a JPEG file in Gradio's cache (encoded in milliseconds where WebP took
    0.1-0.3 s a photo). Files there are named by their content, so identical results (the
    same photo and settings, a still camera) share one; Gradio rewrites such a file in place
    and cut off clients still downloading it (1 in 200 photos from 8 clients): written once
    here, atomically.  A file handed out again is touched: ``delete_cache`` ages files by
    ctime and Gradio does not touch a path already in its cache, so an hour-old copy would
    be deleted by the next sweep while a client is still fetching it."""
    data = processing_utils.encode_pil_to_bytes(Image.fromarray(rgb), "jpeg")
    path = Path(cache) / processing_utils.hash_bytes(data) / "image.jpeg"
    try:
        os.utime(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f"{uuid.uuid4().hex}.part")
        part.write_bytes(data)
        part.replace(path)  # a reader sees the whole file or none
    return str(path)


class ResultImage(gr.Image):
    """``gr.Image`` for results, stored by ``cached_jpeg``."""

    is_template = True  # Gradio then uses gr.Image's frontend

    def postprocess(self, value):
        return super().postprocess(cached_jpeg(value, self.GRADIO_CACHE) if isinstance(value, np.ndarray) else value)


class ResultGallery(gr.Gallery):
    """``gr.Gallery`` for results, its pictures stored by ``cached_jpeg``."""

    is_template = True

    def postprocess(self, value):
        if value:
            value = [(cached_jpeg(image, self.GRADIO_CACHE) if isinstance(image, np.ndarray) else image, caption)
                     for image, caption in value]
        return super().postprocess(value)


def inline_bytes(url: str) -> bytes:
    """The file in a ``data:`` URL, refused over the upload cap before it is decoded."""
    data = url.partition(",")[2]
    if len(data) * 3 // 4 > MAX_UPLOAD_MB * 2**20:
        raise gr.Error(f"Refused: the image is larger than {MAX_UPLOAD_MB} MB.", print_exception=False)
    try:
        return base64.b64decode(data)
    except binascii.Error:
        return data.encode()  # not base64: the decoder then says it is not a readable image


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413 before it is read. Gradio
    reads and parses a JSON body whole, and when the request fails, keeps it until the garbage
    collector's next pass. Uploads have Gradio's own cap (``max_file_size``)."""

    class TooLarge(Exception):
        pass

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].endswith("/upload"):
            return await self.app(scope, receive, send)
        refusal = PlainTextResponse(f"Refused: requests are limited to {self.limit // 2**20} MB.", status_code=413)
        if int(dict(scope["headers"]).get(b"content-length", 0)) > self.limit:
            return await refusal(scope, receive, send)
        seen = 0

        async def counted():  # a chunked body announces no length
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise self.TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except self.TooLarge:
            await refusal(scope, receive, send)


class LiveAssets:
    """ASGI middleware serving the Live tab's files (``landmarks.webapp.live``) at ``/live/<hash>/<name>``:
    the URL names the content, so browsers keep them for good.  Under a login only a logged-in
    page gets them, as any other file of the app (Gradio's session cookie, read defensively)."""

    def __init__(self, app, files: LiveFiles, auth: bool):
        self.app, self.files, self.auth = app, files.files, auth

    async def __call__(self, scope, receive, send):
        parts = scope["path"].split("/") if scope["type"] == "http" else []
        if len(parts) != 4 or parts[1] != "live" or scope["method"] not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        found = self.files.get(parts[3])
        if found is None or (self.auth and not self.logged_in(scope)):
            return await PlainTextResponse("Not found", status_code=404)(scope, receive, send)
        body, kind = found
        headers = {"Cache-Control": "public, max-age=31536000, immutable"}
        await Response(body if scope["method"] == "GET" else b"", media_type=kind, headers=headers)(scope, receive, send)

    def logged_in(self, scope) -> bool:
        gradio_app = scope.get("app")
        cookies = Request(scope).cookies
        tokens = getattr(gradio_app, "tokens", {})
        return any(cookies.get(name) in tokens for name in cookies if name.startswith("access-token"))


def private_folder() -> Path:
    """This process's own temporary folder, made the folder of Gradio's cache (uploads,
    results) and of the examples: ``/gradio_api/file=`` then serves only this process's
    files, and all of them go at exit (``landmarks.webapp.scratch``; a fixed name in the shared temp
    folder could be made beforehand by another local user, and filled with their files)."""
    folder = scratch.make(os.environ.get("GRADIO_TEMP_DIR"))
    os.environ["GRADIO_TEMP_DIR"] = str(folder)  # read by Gradio when its components and routes are made
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(folder / "cached_examples")
    (folder / "examples").mkdir()
    return folder


LIVE_NOTE = ("**Runs in your browser:** the camera's frames stay on this device; the server only sent the models. "
             "The Webcam tab runs them on the server instead (frames go there).")


def build(fl: FaceLandmarker, model_note: str, examples: Path, live: LiveFiles | None = None,
          webcam_fl: FaceLandmarker | None = None) -> gr.Blocks:
    slots = StreamSlots(WEBCAM_SLOTS)
    webcam_fl = webcam_fl or fl

    def settings(box, indices, smooth, min_face, axes):
        return Settings(show_box=box, show_indices=indices, smoothing=smooth, min_face=int(min_face), show_axes=axes)

    def on_photo(image, box, indices, min_face, axes):
        r: PhotoResult = annotate_photo(fl, image, settings(box, indices, False, min_face, axes))
        files = ((f"{r.name}.landmarks.jpg", r.full_image), (f"{r.name}.landmarks.json", json.dumps(r.result, indent=1)),
                 (f"{r.name}.landmarks.csv", to_csv(r.result["results"]))) if r.result.get("results") else (None,) * 3
        return (r.image, r.result, r.message, r.table or None, r.crops or None, *files)

    def on_frame(frame, state, box, indices, smooth, min_face, mirror, axes, request: gr.Request):
        if not slots.admit(request.session_hash):
            return gr.skip(), state, BUSY
        image, state, status = annotate_frame(webcam_fl, frame, state, settings(box, indices, smooth, min_face, axes), mirror)
        return gr.skip() if image is None else image, state, status

    def on_video(video, box, indices, axes, progress=gr.Progress()):
        present = client_present()

        def report(done, total):
            if not present():  # stop, and let annotate_video remove what was written
                raise ClientGone
            progress((done, max(total, done)), unit="frames")

        cache = Path(video_in.GRADIO_CACHE)
        scratch.trim(cache, CACHE_MAX_MB * 2**20, keep=[examples])
        try:
            clip, table, lines, message = annotate_video(fl, video, cache, settings(box, indices, False, 40, axes), report)
        except ClientGone:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return clip, message, table, lines

    def on_leave(request: gr.Request):
        slots.release(request.session_hash)

    with gr.Blocks(title="Face landmarks", delete_cache=CACHE_CLEANING) as demo:
        gr.Markdown("# 68-point face landmarks\nUpload a photo or turn on your camera: every face gets its 68 iBUG/300-W points.")
        gr.Markdown(model_note, elem_id="model-note")
        # two columns that sit side by side on a desktop and one above the other on a phone
        # (a row of four squeezed each label to a few letters at 390 px)
        with gr.Row(equal_height=True):
            with gr.Column(min_width=300):
                show_box = gr.Checkbox(True, label="Show face boxes")
                show_indices = gr.Checkbox(False, label="Show point numbers (1-68, as in the iBUG figures)")
                show_axes = gr.Checkbox(True, label="Show head pose axes")
            with gr.Column(min_width=300):
                min_face = gr.Slider(20, 400, value=40, step=10, label="Minimum face size (pixels)", elem_id="min-face")
        with gr.Tab("Photo", id="photo"):
            with gr.Row():
                photo = ImageInput(type="filepath", image_mode=None, sources=["upload", "clipboard"], label="Photo")
                # its own download button would give the display copy: the full size one is below
                annotated = ResultImage(label="Landmarks", elem_id="photo-out", interactive=False, buttons=["fullscreen"])
            message = gr.Markdown(elem_id="photo-message")
            summary = gr.Dataframe(headers=PhotoResult.TABLE_COLUMNS, elem_id="photo-summary", interactive=False,
                                   column_widths=["13%", "16%", "11%", "16%", "13%", "14%", "17%"],  # by their text's length
                                   label="Faces: score, head pose in degrees from looking into the camera, "
                                         "eye and mouth openness (aspect ratios)")
            with gr.Row():
                picture_file = ResultDownload("Download the picture (full size)", elem_id="photo-picture-file",
                                              interactive=False, min_width=200)
                json_file = ResultDownload("Download JSON (every point)", elem_id="photo-json-file", interactive=False,
                                           min_width=200)
                csv_file = ResultDownload("Download CSV", elem_id="photo-csv-file", interactive=False, min_width=200)
            crops = ResultGallery(label="Aligned faces (112 x 112)", elem_id="photo-crops", columns=8, height=180,
                                  preview=False, object_fit="contain", allow_preview=False, fit_columns=False)
            with gr.Accordion("All results as JSON", open=False):
                result = gr.JSON(label="Faces: box (x, y, w, h), 68 points (x, y), score, pose", elem_id="photo-json")
            gr.Examples([[str(p)] for p in write_examples(examples)], inputs=photo)
            gr.Markdown("Faces and points are numbered from 1, on the picture, in the table and in the downloads "
                        "(CSV columns x1, y1 ... x68, y68); coordinates are in the photo's own pixels, to 0.01 px.")
            gr.on(
                [photo.change, show_box.change, show_indices.change, show_axes.change, min_face.release, min_face.input],
                on_photo,
                [photo, show_box, show_indices, min_face, show_axes],
                [annotated, result, message, summary, crops, picture_file, json_file, csv_file],
                show_progress="minimal",
                concurrency_limit=PHOTO_WORKERS,
                trigger_mode="always_last",
            ).then(active, downloads := [picture_file, json_file, csv_file], downloads, api_visibility="private", queue=False,
                   show_progress="hidden")
        if live is not None:
            with gr.Tab("Live", id="live"):
                gr.Markdown(LIVE_NOTE, elem_id="live-note")
                # the page's own script (landmarks/web/live.js) fills this in; the frames never reach Python
                gr.HTML(f'<div id="live-root" data-config="{html.escape(json.dumps(live.config))}">'
                        '<div id="live-load"><span></span><progress></progress></div>'
                        '<canvas id="live-canvas" width="640" height="480"></canvas>'
                        '<div id="live-status">Starting the camera…</div></div>', elem_id="live")
        with gr.Tab("Webcam", id="webcam"):
            with gr.Row():
                camera = ImageInput(
                    sources=["webcam"],
                    streaming=True,
                    type="numpy",
                    label="Camera: frames are processed, never stored",
                    # the model must see the true image; mirroring the output is the checkbox below
                    webcam_options=gr.WebcamOptions(mirror=False),
                )
                live = ResultImage(label="Live landmarks", elem_id="webcam-out", interactive=False)
            status = gr.Markdown(elem_id="webcam-status")
            with gr.Row():
                mirror = gr.Checkbox(False, label="Mirror the output (selfie view)", min_width=240)
                smoothing = gr.Checkbox(True, label="Smooth the points over time", min_width=240)
            state = gr.State()
            camera.stream(
                on_frame,
                [camera, state, show_box, show_indices, smoothing, min_face, mirror, show_axes],
                [live, state, status],
                stream_every=1 / WEBCAM_FPS,
                time_limit=600,
                # no Gradio limit: it would hold a slot for a dropped client until time_limit;
                # StreamSlots frees it once the frames stop and tells extra users to wait
                concurrency_limit=None,
                show_progress="hidden",
            )
        with gr.Tab("Video", id="video"):
            with gr.Row():
                video_in = VideoInput(sources=["upload"], label="Video clip (up to 60 s)", elem_id="video-in")
                video_out = gr.Video(label="Landmarks", elem_id="video-out", interactive=False)
            run_video = gr.Button("Find the landmarks in every frame", variant="primary", elem_id="video-run")
            video_message = gr.Markdown(elem_id="video-message")
            with gr.Row():
                video_csv = gr.DownloadButton("Download CSV (a row per face per frame)", elem_id="video-csv",
                                              interactive=False, min_width=200)
                video_jsonl = gr.DownloadButton("Download JSON Lines", elem_id="video-jsonl", interactive=False, min_width=200)
            video_in.change(video_note, video_in, video_message, show_progress="hidden")
            run_video.click(on_video, [video_in, show_box, show_indices, show_axes], [video_out, video_message, video_csv, video_jsonl],
                            concurrency_limit=1,  # one clip at a time: it keeps a core busy for as long as it lasts
                            ).then(active, [video_csv, video_jsonl], [video_csv, video_jsonl], api_visibility="private",
                                   queue=False, show_progress="hidden")
        demo.unload(on_leave)
    for component in (photo, camera, video_in):
        component.examples_folder = examples
    return demo


# Gradio's webcam button says "Record", which sounds like saving a video: its own
# translation keys, given here, say what it does (custom strings are looked up first)
BUTTON_TEXT = gr.I18n(en={"audio.record": "Start streaming", "audio.stop": "Stop"})  # longer wraps in the button


def model_line(source: str, runner, fell_back: str | None = None, webcam: str | None = None) -> str:
    """The page's model line: what runs, in plain words (and why not the model asked for),
    with the runtime's own account behind a click; ``webcam``: the Webcam tab's model where it is another."""
    how = {"onnx-int8": "in a compact 8-bit form, checked against the full model on this computer when the app started",
           "onnx-fp32": "in full precision with ONNX Runtime, checked on this computer when the app started"}.get(
        runner.name, "with PyTorch")
    line = f"Model: {source}, running on the server's processor {how}."
    if webcam:
        line += f" The Webcam tab runs {webcam}, at under half the cost a frame."
    if fell_back:
        line += f"\n\n**Fell back to the bundled model** because {fell_back}"
    return line + f"\n\n<details><summary>Details</summary>\n\nruntime: {runner.name}: {runner.note}.\n\n</details>"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.environ.get("LANDMARKS_MODEL"),
                   help="model folder or Hub repo id user/repo[@revision] (default: $LANDMARKS_MODEL, else the bundled model)")
    p.add_argument("--host", help="address to listen on (default: 127.0.0.1, or GRADIO_SERVER_NAME)")
    p.add_argument("--port", type=int, help="port (default: 7860, or GRADIO_SERVER_PORT)")
    p.add_argument("--share", action="store_true", help="also create a public link")
    a = p.parse_args(argv)
    # from the environment, not the command line, where any local user could read it
    auth = os.environ.get("LANDMARKS_AUTH")
    if auth is not None and ":" not in auth:
        p.error("LANDMARKS_AUTH must be user:password")
    # configured Hub repo -> local Hub cache -> bundled model, saying which and why
    try:
        resolved = resolve(a.model)
    except ModelError as e:  # no model at all (a Space deployed without the bundled weights)
        sys.exit(f"error: {e}")
    try:
        fl = FaceLandmarker(resolved)
    except DetectorError as e:
        sys.exit(f"error: {e}")
    webcam_fl = webcam_landmarker(fl)
    note = model_line(resolved.source, fl.runner, resolved.fell_back, webcam_fl.loaded.source if webcam_fl is not fl else None)
    if resolved.fell_back:
        print(f"warning: {resolved.fell_back}; using the bundled model", file=sys.stderr, flush=True)
    folder = private_folder()
    examples = folder / "examples"
    scratch.keep_trimmed(folder, CACHE_MAX_MB * 2**20, keep=[examples])
    # a stop (SIGTERM: a Space, systemd, a test) exits through atexit, which removes the folder
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    folder_for_page = live_folder(fl.loaded.folder)
    live = LiveFiles.of(folder_for_page) if folder_for_page is not None else None
    demo = build(fl, note, examples, live, webcam_fl)
    # Gradio prints a long notice when the share tunnel cannot be made; keep its output and
    # say it in one line instead
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        demo.launch(server_name=a.host, server_port=a.port, share=a.share, prevent_thread_lock=True,
                    allowed_paths=[str(examples)], max_file_size=f"{MAX_UPLOAD_MB}mb",
                    app_kwargs={"middleware": [Middleware(BodyLimit, limit=BODY_LIMIT),
                                               *([Middleware(LiveAssets, files=live, auth=bool(auth))] if live else [])]},
                    auth=tuple(auth.split(":", 1)) if auth else None, i18n=BUTTON_TEXT, css_paths=[STYLE],
                    head=f'<script type="module" src="{live.config["script"]}"></script>' if live else None)
    print(f"Serving on {demo.local_url}" + (" (login required)" if auth else ""), flush=True)
    if a.share:
        if demo.share_url:
            print(f"Public link: {demo.share_url}", flush=True)
        else:
            print("Public link unavailable: the share tunnel could not be made (offline?); serving locally only.", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
