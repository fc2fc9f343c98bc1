"""The Live tab's speed in headless Chromium: frames per second with 1 and with 5 faces at the
fake camera's 30 fps, the in-page ms per frame with the `lite` model and with `full`, and the
time from opening the tab to the first points (cold and warm cache).

    python benchmarks/live.py [--seconds 6]

Needs what tests/test_live.py needs: Debian's Chromium and `npm install --prefix landmarks/web`.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import CHROMIUM, CHROMIUM_FLAGS, AppServer  # noqa: E402
from test_live import DIST, STATUS, serve_cdn_locally  # noqa: E402

import pictures as sample_pictures  # noqa: E402
from landmarks.runtime.hardware import cpu_line  # noqa: E402
from landmarks.webapp.live import float_graph  # noqa: E402
from landmarks.model.folder import NAMED, ONNX_FILE  # noqa: E402

SWAP = """async (url) => {  // the page's landmark model replaced by another one, in each of its workers
  await window.landmarksLive.pool.load("landmarks", await (await fetch(url)).arrayBuffer());
}"""
MEASURE = """async (ms) => {
  const live = window.landmarksLive, f0 = live.frames, t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return {fps: (live.frames - f0) * 1000 / (performance.now() - t0), status: document.querySelector('#live-status').innerText};
}"""


def run(playwright, url: str, clip: Path, profile: Path, seconds: float, model: str | None = None):
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=CHROMIUM_FLAGS + [f"--use-file-for-fake-video-capture={clip}"],
        viewport={"width": 1280, "height": 1000}, permissions=["camera"])
    serve_cdn_locally(context, DIST)
    if model:
        data = float_graph(NAMED[model] / ONNX_FILE)
        context.route("**/bench/model.onnx", lambda route: route.fulfill(body=data, content_type="application/octet-stream"))
    page = context.new_page()
    page.goto(url, wait_until="load")
    page.wait_for_selector("#photo-out", timeout=60_000)
    page.get_by_role("tab", name="Live").click()
    page.wait_for_function(f"({STATUS}).includes('fps') && window.landmarksLive.frames > 5", timeout=180_000)
    first = page.evaluate("window.landmarksLive.firstPoints") / 1000
    if model:
        page.evaluate(SWAP, url + "bench/model.onnx")
    page.wait_for_timeout(2000)  # the status line's 2-second window: only the model measured
    out = page.evaluate(MEASURE, int(seconds * 1000))
    context.close()
    return first, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=6)
    a = p.parse_args()
    from playwright.sync_api import sync_playwright

    print(cpu_line())
    server = AppServer()
    tmp = Path(tempfile.mkdtemp())
    try:
        with sync_playwright() as pw:
            for faces in (1, 5):
                clip = sample_pictures.write_y4m(tmp / f"faces{faces}.y4m", [sample_pictures.webcam_frame(faces)] * 10, fps=30)
                profile = tmp / f"profile{faces}"
                cold, _ = run(pw, server.url, clip, profile, 1)
                warm, out = run(pw, server.url, clip, profile, a.seconds)
                print(f"{faces} face(s), lite: {out['fps']:.1f} fps computed ({out['status']}); "
                      f"first points {cold:.1f} s cold, {warm:.1f} s warm cache")
            clip = tmp / "faces1.y4m"
            for model in ("lite", "full"):
                _, out = run(pw, server.url, clip, tmp / "profile1", a.seconds, model)
                print(f"in-page, model {model}: {out['status']}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
