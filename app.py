"""Face landmarks in the browser: a photo tab and a live webcam tab (Gradio).

    python app.py [--model SPEC] [--host HOST] [--port PORT] [--share]

The work happens in ``landmarks``; this file only wires it to the page.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

import gradio as gr

from landmarks.demo import Settings, annotate_frame, annotate_photo
from landmarks.hub import resolve
from landmarks.predictor import FaceLandmarker
from landmarks.samples import write_examples

EXAMPLES_DIR = Path(tempfile.gettempdir()) / "landmarks-examples"


class PhotoInput(gr.Image):
    """``gr.Image`` (same page component) that passes the uploaded file on undecoded, so a
    corrupt, empty or 16-bit file reaches our decoder and gets a clear message."""

    is_template = True  # Gradio then uses gr.Image's frontend

    def preprocess(self, payload):
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return payload.path
        return super().preprocess(payload)


def build(fl: FaceLandmarker, model_note: str) -> gr.Blocks:
    def settings(box, indices, smooth, min_face):
        return Settings(show_box=box, show_indices=indices, smoothing=smooth, min_face=int(min_face))

    def on_photo(image, box, indices, min_face):
        return annotate_photo(fl, image, settings(box, indices, False, min_face))

    def on_frame(frame, state, box, indices, smooth, min_face, mirror):
        return annotate_frame(fl, frame, state, settings(box, indices, smooth, min_face), mirror)

    with gr.Blocks(title="Face landmarks") as demo:
        gr.Markdown("# 68-point face landmarks\nUpload a photo or turn on your camera: every face gets its 68 iBUG/300-W points.")
        gr.Markdown(model_note, elem_id="model-note")
        with gr.Row():
            show_box = gr.Checkbox(True, label="Show face boxes")
            show_indices = gr.Checkbox(False, label="Show point numbers")
            smoothing = gr.Checkbox(True, label="Smooth webcam points")
            min_face = gr.Slider(20, 400, value=40, step=10, label="Minimum face size (pixels)")
        with gr.Tab("Photo", id="photo"):
            with gr.Row():
                photo = PhotoInput(type="filepath", image_mode=None, sources=["upload", "clipboard"], label="Photo")
                annotated = gr.Image(label="Landmarks", elem_id="photo-out", interactive=False)
            message = gr.Markdown(elem_id="photo-message")
            result = gr.JSON(label="Faces: box (x, y, w, h), 68 points (x, y), score", elem_id="photo-json")
            gr.Examples([[str(p)] for p in write_examples(EXAMPLES_DIR)], inputs=photo)
            photo_inputs = [photo, show_box, show_indices, min_face]
            for trigger in (photo.change, show_box.change, show_indices.change, min_face.release):
                trigger(on_photo, photo_inputs, [annotated, result, message], show_progress="minimal")
        with gr.Tab("Webcam", id="webcam"):
            with gr.Row():
                camera = gr.Image(
                    sources=["webcam"],
                    streaming=True,
                    type="numpy",
                    label="Camera",
                    # the model must see the true image; mirroring the output is the checkbox below
                    webcam_options=gr.WebcamOptions(mirror=False),
                )
                live = gr.Image(label="Live landmarks", elem_id="webcam-out", interactive=False)
            status = gr.Markdown(elem_id="webcam-status")
            mirror = gr.Checkbox(False, label="Mirror the output (selfie view)")
            state = gr.State()
            camera.stream(
                on_frame,
                [camera, state, show_box, show_indices, smoothing, min_face, mirror],
                [live, state, status],
                stream_every=0.1,
                time_limit=600,
                concurrency_limit=4,
                show_progress="hidden",
            )
    return demo


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.environ.get("LANDMARKS_MODEL"),
                   help="model folder or Hub repo id user/repo[@revision] (default: $LANDMARKS_MODEL, else the bundled model)")
    p.add_argument("--host", help="address to listen on (default: 127.0.0.1, or GRADIO_SERVER_NAME)")
    p.add_argument("--port", type=int, help="port (default: 7860, or GRADIO_SERVER_PORT)")
    p.add_argument("--share", action="store_true", help="also create a public link")
    a = p.parse_args(argv)
    # configured Hub repo -> local Hub cache -> bundled model, saying which and why
    resolved = resolve(a.model)
    fl = FaceLandmarker(resolved.model)
    note = f"Model: {resolved.source} (runtime: {fl.runner.name})."
    if resolved.fell_back:
        note += f"\n\n**Fell back to the bundled model** because {resolved.fell_back}"
        print(f"warning: {resolved.fell_back}; using the bundled model", file=sys.stderr, flush=True)
    demo = build(fl, note)
    # Gradio prints a long notice when the share tunnel cannot be made; keep its output and
    # say it in one line instead
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        demo.launch(server_name=a.host, server_port=a.port, share=a.share, prevent_thread_lock=True,
                    allowed_paths=[str(EXAMPLES_DIR)])
    print(f"Serving on {demo.local_url}", flush=True)
    if a.share:
        if demo.share_url:
            print(f"Public link: {demo.share_url}", flush=True)
        else:
            print("Public link unavailable: the share tunnel could not be made (offline?); serving locally only.", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
