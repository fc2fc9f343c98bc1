"""The Live tab in a real browser: ONNX Runtime Web on the page's own frames (Chromium's fake
camera), the pinned package served from the local npm install in place of the CDN."""
import base64
import io
import json
import time

import numpy as np
import pictures as sample_pictures
import pytest
from conftest import ROOT, open_page
from PIL import Image

from landmarks.core.geometry import landmark_box
from landmarks.webapp import live

DIST = ROOT / "landmarks" / "web" / "node_modules" / "onnxruntime-web" / "dist"
STATUS = "document.querySelector('#live-status')?.innerText || ''"


@pytest.fixture(scope="module")
def ort_dist():
    if not (DIST / "ort.wasm.min.mjs").is_file():
        pytest.fail(f"onnxruntime-web is not installed at {DIST}: run the README's test command (npm install --prefix landmarks/web)")
    return DIST


def serve_cdn_locally(context, dist):
    """The pinned CDN URL answered from the local npm install: no test reaches the internet,
    and the browser checks the files against the SRI hashes in web/package.json as on a Space."""
    base = json.loads(live.PACKAGE.read_text())["dependencies"]["onnxruntime-web"]
    prefix = live.CDN.format(version=base)

    def fulfil(route):
        name = route.request.url[len(prefix):]
        kind = "application/wasm" if name.endswith(".wasm") else "text/javascript"
        route.fulfill(body=(dist / name).read_bytes(), content_type=kind, headers={"Access-Control-Allow-Origin": "*"})

    context.route(prefix + "*", fulfil)


@pytest.fixture(scope="module")
def camera_frame():
    return sample_pictures.webcam_frame(1)


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def live_page(playwright, app_server, camera_frame, ort_dist, tmp_path_factory):
    clip = tmp_path_factory.mktemp("camera") / "face.y4m"
    sample_pictures.write_y4m(clip, [camera_frame] * 10)
    browser, page = open_page(playwright, app_server.url, [f"--use-file-for-fake-video-capture={clip}"])
    serve_cdn_locally(page.context, ort_dist)
    yield page
    browser.close()


def open_live(page, timeout=120_000):
    page.get_by_role("tab", name="Live").click()
    page.wait_for_function(f"({STATUS}).includes('1 face') && window.landmarksLive.frames > 30", timeout=timeout)


def page_frame(page) -> np.ndarray:
    """The RGB frame the page last computed on."""
    url = page.evaluate("""() => { const im = window.landmarksLive.image, c = new OffscreenCanvas(im.width, im.height);
        c.getContext('2d').putImageData(im, 0, 0);
        return c.convertToBlob({type: 'image/png'}).then(b => new Promise(r => { const f = new FileReader(); f.onload = () => r(f.result); f.readAsDataURL(b); })); }""")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))).convert("RGB"))


def page_faces(page):
    faces = page.evaluate("window.landmarksLive.faces.map(f => ({points: Array.from(f.points), raw: Array.from(f.raw)}))")
    return [{k: np.array(v, np.float32).reshape(68, 2) for k, v in f.items()} for f in faces]


def eye_distance(points) -> float:
    return float(np.linalg.norm(points[36:42].mean(0) - points[42:48].mean(0)))


def test_live_tab_draws_one_face_on_the_face(live_page, artifacts, camera_frame):
    open_live(live_page)
    status = live_page.locator("#live-status").inner_text()
    assert "fps" in status and "1 face" in status and " ms" in status, status
    assert "stay on this device" in live_page.locator("#live-note").inner_text()
    live_page.screenshot(path=str(artifacts / "live_tab.png"), full_page=True)
    (face,) = page_faces(live_page)
    # on the face: the points' box lies on the face the server's own detector finds
    from landmarks.inference.landmarker import FaceLandmarker

    (server,) = FaceLandmarker("lite")(camera_frame)
    x, y, w, h = landmark_box(face["points"])
    sx, sy, sw, sh = server.box
    assert abs(x + w / 2 - sx - sw / 2) < sw * 0.1 and abs(y + h / 2 - sy - sh / 2) < sh * 0.1
    # the canvas shows the camera mirrored (a selfie view)
    assert "matrix(-1" in live_page.evaluate("getComputedStyle(document.querySelector('#live-canvas')).transform")


STAGES = """async ([box, sequence]) => {
  const live = window.landmarksLive, fl = live.tracker.fl, im = live.image;
  const frame = {data: im.data, width: im.width, height: im.height};
  const boxes = await fl.detect(frame), faces = await fl.fromDetections(frame, boxes);
  const atBox = await fl.predictBoxes(frame, [box]);
  const filter = new live.FaceFilter(live.tracker.smoothing);
  const smoothed = sequence.map(([t, p, n]) => Array.from(filter.filter(Float32Array.from(p), t, n)));
  return {boxes, faces: faces.map(f => Array.from(f.points)), atBox: Array.from(atBox[0].points), score: atBox[0].score, smoothed,
          minScore: fl.minScore, refine: fl.refine};
}"""


def test_live_points_agree_with_python(live_page):
    """Each step on the very pixels the page computed on: the detector's boxes, the faces found
    in them, the points at one box (crop, network, readout), the smoothing of one point sequence.
    (Two whole trackers are not compared frame by frame: a crop moved by a hair can move a point
    to the next cell of the readout, so even Python's own points on a still picture wander by
    1-2 % of the eye distance from frame to frame, benchmarks/experiments.md.)"""
    from landmarks.inference.landmarker import FaceLandmarker
    from landmarks.inference.smoothing import FaceFilter
    from landmarks.inference.tracking import FaceTracker

    open_live(live_page)
    frame = page_frame(live_page)
    fl = FaceLandmarker("lite")
    tracker = FaceTracker(fl, smooth=False)
    rng = np.random.default_rng(0)
    raw = []
    for i in range(20):  # a moving face's raw points: the tracker's on shifted copies of the frame
        shifted = np.roll(frame, (i * 3, i * 2), axis=(0, 1))
        (face,) = tracker(shifted, timestamp=i / 30)
        # the first as a new face's start, standing for several frames (FaceTracker.starts)
        raw.append((i / 30, (face.points + rng.normal(0, 0.5, face.points.shape)).astype(np.float32), 3 if i == 0 else 1))
    box = landmark_box(FaceTracker(fl, smooth=False)(frame)[0].points)
    page = live_page.evaluate(STAGES, [list(box), [[t, p.reshape(-1).tolist(), n] for t, p, n in raw]])
    boxes = fl.detect(frame)
    assert len(page["boxes"]) == len(boxes) == 1
    assert np.abs(np.array(page["boxes"][0]) - boxes[0]).max() < 0.01 * boxes[0][2], (page["boxes"], boxes)
    python = fl.from_detections(frame, boxes)[0].points
    eyes = eye_distance(python)
    found = np.linalg.norm(np.array(page["faces"][0]).reshape(68, 2) - python, axis=1).mean() / eyes
    expected = fl.predict_boxes(frame, [box])[0]
    at_box = np.linalg.norm(np.array(page["atBox"]).reshape(68, 2) - expected.points, axis=1).mean() / eyes
    assert fl.spec.smoothing  # lite's own filter parameters, on both sides
    filt = FaceFilter(**dict(fl.spec.smoothing))
    smoothed = np.array([filt(p, t, frames=n) for t, p, n in raw])
    smoothing = np.abs(np.array(page["smoothed"]).reshape(-1, 68, 2) - smoothed).max()
    print(f"page vs Python, mean point distance in eye distances ({eyes:.0f} px): at the detector's boxes {found:.4f}, "
          f"at one box {at_box:.4f}; smoothing: {smoothing:.5f} px at most")
    assert found < 0.01 and at_box < 0.01
    assert abs(page["score"] - expected.score) < 0.01
    assert page["minScore"] == fl.min_score  # the model's own threshold, as in Python
    assert page["refine"] == fl.refine == 1  # and its passes in a detector's box (BlazeFace's 0, lite's 1 more)
    assert smoothing < 1e-3


SPLIT = """async (crops) => {
  const pool = window.landmarksLive.pool, pre = window.landmarksLive.tracker.fl.pre, dims = [pre.channels, pre.size, pre.size];
  const per = dims[0] * dims[1] * dims[2], x = Float32Array.from({length: crops * per}, (_, i) => Math.sin(i / 7));
  const all = await pool.run("landmarks", {crops: {data: x.slice(), dims: [crops, ...dims]}}), one = [];
  for (let i = 0; i < crops; i++) one.push(...(await pool.run("landmarks", {crops: {data: x.slice(i * per, (i + 1) * per), dims: [1, ...dims]}})).points.data);
  return {workers: pool.workers.length, cores: navigator.hardwareConcurrency, dims: all.points.dims, all: Array.from(all.points.data), one};
}"""


def test_the_workers_share_a_batch(live_page):
    """Five faces go to two workers (3 + 2 crops) and come back in order: the same points as one by one."""
    open_live(live_page)
    out = live_page.evaluate(SPLIT, 5)
    assert out["workers"] == min(out["cores"], 2)
    assert out["dims"][0] == 5
    np.testing.assert_allclose(out["all"], out["one"], atol=1e-5)


def server_cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_the_server_idles_while_the_page_streams(live_page, app_server):
    open_live(live_page)
    frames, cpu, start = live_page.evaluate("window.landmarksLive.frames"), server_cpu_seconds(app_server.proc.pid), time.time()
    live_page.wait_for_timeout(4000)
    used, seconds = server_cpu_seconds(app_server.proc.pid) - cpu, time.time() - start
    streamed = live_page.evaluate("window.landmarksLive.frames") - frames
    assert streamed > 10, "the page stopped computing"
    assert used / seconds < 0.1, f"the server used {used:.2f} s of CPU in {seconds:.1f} s while the page streamed"


def test_live_tab_fits_a_phone(live_page, artifacts):
    live_page.set_viewport_size({"width": 390, "height": 844})
    try:
        open_live(live_page)
        live_page.wait_for_timeout(500)
        live_page.screenshot(path=str(artifacts / "live_tab_phone.png"), full_page=False)
        box = live_page.locator("#live-canvas").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] <= 844 * 0.75
    finally:
        live_page.set_viewport_size({"width": 1280, "height": 1000})


def test_warm_cache_first_points_and_fallback(playwright, app_server, camera_frame, ort_dist, tmp_path):
    """A second visit takes the models from the Cache API; a browser without WebAssembly SIMD is sent to the Webcam tab."""
    from conftest import CHROMIUM, CHROMIUM_FLAGS

    clip = sample_pictures.write_y4m(tmp_path / "face.y4m", [camera_frame] * 10)
    context = playwright.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM,
                                                           args=CHROMIUM_FLAGS + [f"--use-file-for-fake-video-capture={clip}"],
                                                           viewport={"width": 1280, "height": 1000}, permissions=["camera"])
    serve_cdn_locally(context, ort_dist)
    times, fetched = [], []
    context.on("request", lambda r: fetched.append(r.url) if r.url.endswith((".onnx", ".wasm")) else None)
    for visit in range(2):
        fetched.clear()
        page = context.new_page()
        page.goto(app_server.url, wait_until="load")
        page.wait_for_selector("#photo-out", timeout=60_000)
        open_live(page)
        times.append(page.evaluate("window.landmarksLive.firstPoints") / 1000)
        page.close()
    # timed here for the log (benchmarks/live.py measures it): the bound is that nothing was downloaded again
    print(f"opening the Live tab to its first points: {times[0]:.1f} s (cold cache), {times[1]:.1f} s (warm)")
    assert fetched == [], f"the second visit downloaded {fetched}"
    page = context.new_page()
    page.add_init_script("const v = WebAssembly.validate; WebAssembly.validate = (b) => b.length === 31 ? false : v(b);")
    page.goto(app_server.url, wait_until="load")
    page.wait_for_selector("#photo-out", timeout=60_000)
    page.get_by_role("tab", name="Live").click()
    page.wait_for_function(f"({STATUS}).includes('no SIMD')", timeout=30_000)
    assert "Webcam tab" in page.locator("#live-status").inner_text()
    context.close()
