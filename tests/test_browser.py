"""The app in a real browser: Debian's Chromium driven by Playwright, with a fake camera."""
import io
import json
from pathlib import Path

import numpy as np
import pictures as sample_pictures
import pytest
from conftest import open_page
from PIL import Image

from landmarks.detection.haar import HaarDetector
from landmarks.face.drawing import REGIONS


@pytest.fixture(scope="module")
def camera_frame():
    return sample_pictures.webcam_frame(1)


@pytest.fixture(scope="module")
def page(app_server, camera_frame, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    clip = tmp_path_factory.mktemp("camera") / "face.y4m"
    sample_pictures.write_y4m(clip, [camera_frame] * 10)
    with sync_playwright() as p:
        browser, page = open_page(p, app_server.url, [f"--use-file-for-fake-video-capture={clip}"])
        yield page
        browser.close()


def colour_pixels(image: np.ndarray, rgb, tol=45) -> np.ndarray:
    """(N, 2) x, y of pixels near a drawing colour."""
    near = (np.abs(image.astype(int) - np.array(rgb)) < tol).all(axis=2)
    ys, xs = np.nonzero(near)
    return np.stack([xs, ys], 1)


def upload_photo(page, path, expect: str):
    if page.locator("#photo-out img").count():  # a photo is shown: clear it, as a person would
        page.get_by_role("button", name="Remove Image").first.click()
        # clearing is an event too: wait for its message, else the same photo twice (same count, same
        # milliseconds) reads as no new result and the wait below never ends
        page.wait_for_function("(document.querySelector('#photo-message')?.innerText || '').includes('Upload a photo')")
    before = page.locator("#photo-message").inner_text()
    page.locator("input[type=file]").first.set_input_files(str(path))
    # while an event runs the old message stays up under a "processing" line: wait until none runs
    page.wait_for_function(
        f"(t => t.includes({expect!r}) && t !== {before!r} && !t.includes('processing'))"
        "(document.querySelector('#photo-message')?.innerText || '')",
        timeout=60_000)
    page.locator("#photo-out img").wait_for(timeout=30_000)
    page.wait_for_timeout(500)


def test_photo_tab_shows_points_pose_crops_and_downloads(page, artifacts, tmp_path):
    for button in ("#photo-picture-file", "#photo-json-file", "#photo-csv-file"):  # nothing to download yet
        assert page.locator(button).is_disabled()
    upload_photo(page, sample_pictures.portrait_path(), "found")
    for button in ("#photo-picture-file", "#photo-json-file", "#photo-csv-file"):
        assert page.locator(button).is_enabled()
    assert page.locator("#photo-message").inner_text().startswith("1 face found")
    page.locator("#photo-crops img").first.wait_for(timeout=30_000)
    assert page.locator("#photo-crops img").count() == 1
    assert "face" in page.locator("#photo-summary").inner_text()
    page.screenshot(path=str(artifacts / "photo_tab.png"), full_page=True)
    with page.expect_download() as download:
        page.locator("#photo-json-file").click()
    stem = Path(sample_pictures.portrait_path()).stem
    assert download.value.suggested_filename == f"{stem}.landmarks.json"  # named after the upload
    result = json.loads(open(download.value.path()).read())
    (face,) = result["results"]
    x, y, w, h = face["box"]
    pts = np.array(face["points"])
    assert pts.shape == (68, 2) and abs(face["yaw"]) < 10
    assert (pts >= [x - w / 3, y - h / 3]).all() and (pts <= [x + w * 4 / 3, y + h * 4 / 3]).all()
    with page.expect_download() as download:
        page.locator("#photo-csv-file").click()
    rows = open(download.value.path()).read().splitlines()
    assert len(rows) == 2 and rows[0].startswith("frame,time_s,face,score")
    with page.expect_download() as download:
        page.locator("#photo-picture-file").click()
    assert download.value.suggested_filename == f"{stem}.landmarks.jpg"
    assert Image.open(download.value.path()).size == Image.open(sample_pictures.portrait_path()).size


LAYOUT = (Path(__file__).parent / "layout.js").read_text()
SETTINGS = ["Show face boxes", "Show point numbers (1-68, as in the iBUG figures)", "Show head pose axes"]


@pytest.mark.parametrize("name, size", [("phone", (390, 844)), ("desktop", (1280, 1000))])
def test_the_page_reads_on_a_phone_and_a_desktop(page, artifacts, tmp_path, name, size):
    group = tmp_path / "group.png"
    Image.fromarray(sample_pictures.group_photo(3, 960, 480)).save(group)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    try:
        upload_photo(page, group, "3 faces found")
        page.screenshot(path=str(artifacts / f"photo_tab_{name}.png"), full_page=True)
        report = page.evaluate(LAYOUT, SETTINGS)
    finally:
        page.set_viewport_size({"width": 1280, "height": 1000})
    for label, seen in report["labels"].items():
        # a label squeezed into a narrow column wrapped after every few letters ("Sho/fac/box")
        assert seen is not None and seen["width"] >= 150 and seen["lines"] <= 2, (label, seen, report["view"])
        assert seen["right"] <= report["view"]
    # all seven columns of the face table, nothing cut short or scrolled out of sight
    assert report["columns"] == 7 and report["cells"] == 7 * 4
    assert report["cut"] == [], report["cut"]


def test_photo_tab_with_several_faces_and_with_none(page, artifacts, tmp_path):
    group = tmp_path / "group.png"
    Image.fromarray(sample_pictures.group_photo(3, 960, 480)).save(group)
    upload_photo(page, group, "found")
    assert page.locator("#photo-message").inner_text().startswith("3 faces found")
    page.screenshot(path=str(artifacts / "photo_tab_several.png"), full_page=True)
    wall = tmp_path / "wall.png"
    Image.fromarray(np.full((300, 400, 3), 150, np.uint8)).save(wall)
    upload_photo(page, wall, "No face found")
    assert "minimum face size" in page.locator("#photo-message").inner_text()
    page.screenshot(path=str(artifacts / "photo_tab_no_face.png"), full_page=True)


def test_minimum_face_size_applies_from_its_number_box(page):
    upload_photo(page, sample_pictures.portrait_path(), "1 face found")
    box = page.locator("#min-face input[type=number]")
    for value, expect in (("400", "No face found"), ("40", "1 face found")):  # the portrait's face is about 200 px
        box.fill(value)
        box.press("Enter")
        page.wait_for_function(f"document.querySelector('#photo-message')?.innerText.startsWith({expect!r})", timeout=60_000)


def test_video_tab_gives_an_annotated_clip_and_points(page, artifacts, test_records, tmp_path):
    from test_video import make_clip

    clip, truth = make_clip(tmp_path / "clip.webm", [test_records[0], test_records[40]], frames_each=5)
    page.get_by_role("tab", name="Video").click()
    page.locator("#video-in input[type=file]").set_input_files(str(clip))
    page.wait_for_timeout(1000)
    page.locator("#video-run").click()
    page.wait_for_function("document.querySelector('#video-message')?.innerText.includes('faces a frame')", timeout=120_000)
    assert page.locator("#video-message").inner_text().startswith("10 frames")
    page.locator("#video-out video").wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "video_tab.png"), full_page=True)
    with page.expect_download() as download:
        page.locator("#video-csv").click()
    assert len(open(download.value.path()).read().splitlines()) == 1 + len(truth)
    page.get_by_role("tab", name="Photo").click()


def test_webcam_tab_streams_annotated_frames(page, artifacts, camera_frame):
    page.get_by_role("tab", name="Webcam").click()
    page.get_by_role("button", name="Click to Access Webcam").click()
    start = page.get_by_role("button", name="capture photo")  # the stream's start button (its aria label)
    assert start.inner_text().strip() == "Start streaming"  # not Gradio's "Record", which sounds like saving video
    start.click()
    page.wait_for_function("document.querySelector('#webcam-status')?.innerText.includes('1 face')", timeout=90_000)
    page.wait_for_timeout(1500)  # let a few frames through
    page.screenshot(path=str(artifacts / "webcam_tab.png"), full_page=True)
    status = page.locator("#webcam-status").inner_text()
    assert "fps" in status and "ms per frame" in status and "yaw" in status and "blinks" in status
    src = page.locator("#webcam-out img").get_attribute("src")
    frame = np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB"))
    assert frame.shape == camera_frame.shape
    # the drawn mouth and nose points sit inside the face the detector finds in the camera frame
    (box,), _ = HaarDetector()(camera_frame)
    x, y, w, h = box
    for region in ("mouth", "nose"):
        found = colour_pixels(frame, REGIONS[region][1])
        assert len(found) > 20, f"no {region} points drawn"
        inside = ((found >= [x, y]) & (found <= [x + w, y + h * 1.2])).all(axis=1).mean()
        assert inside > 0.9, f"{region} points off the face"
