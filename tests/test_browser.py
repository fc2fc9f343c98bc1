"""The app in a real browser: Debian's Chromium driven by Playwright, with a fake camera."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from conftest import open_page
from landmarks import samples
from landmarks.detect import HaarDetector
from landmarks.drawing import REGIONS


@pytest.fixture(scope="module")
def camera_frame():
    return samples.webcam_frame(1)


@pytest.fixture(scope="module")
def page(app_server, camera_frame, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    clip = tmp_path_factory.mktemp("camera") / "face.y4m"
    samples.write_y4m(clip, [camera_frame] * 10)
    with sync_playwright() as p:
        browser, page = open_page(p, app_server.url, [f"--use-file-for-fake-video-capture={clip}"])
        yield page
        browser.close()


def colour_pixels(image: np.ndarray, rgb, tol=45) -> np.ndarray:
    """(N, 2) x, y of pixels near a drawing colour."""
    near = (np.abs(image.astype(int) - np.array(rgb)) < tol).all(axis=2)
    ys, xs = np.nonzero(near)
    return np.stack([xs, ys], 1)


def test_photo_tab_shows_points_and_json(page, artifacts):
    page.locator("input[type=file]").first.set_input_files(str(samples.portrait_path()))
    page.wait_for_function("document.querySelector('#photo-message')?.innerText.includes('found')", timeout=60_000)
    assert page.locator("#photo-message").inner_text().startswith("1 face found")
    page.locator("#photo-out img").wait_for(timeout=30_000)
    page.locator("#photo-json button[title='Copy']").click()
    result = json.loads(page.evaluate("navigator.clipboard.readText()"))
    page.screenshot(path=str(artifacts / "photo_tab.png"), full_page=True)
    (face,) = result["results"]
    x, y, w, h = face["box"]
    pts = np.array(face["points"])
    assert pts.shape == (68, 2)
    assert (pts >= [x - w / 3, y - h / 3]).all() and (pts <= [x + w * 4 / 3, y + h * 4 / 3]).all()


def test_webcam_tab_streams_annotated_frames(page, artifacts, camera_frame):
    page.get_by_role("tab", name="Webcam").click()
    page.get_by_role("button", name="Click to Access Webcam").click()
    page.get_by_role("button", name="capture photo").click()  # the stream's start button
    page.wait_for_function("document.querySelector('#webcam-status')?.innerText.includes('1 face')", timeout=90_000)
    page.wait_for_timeout(1500)  # let a few frames through
    page.screenshot(path=str(artifacts / "webcam_tab.png"), full_page=True)
    status = page.locator("#webcam-status").inner_text()
    assert "fps" in status and "ms per frame" in status
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
