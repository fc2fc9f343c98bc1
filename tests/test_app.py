"""The app end to end: a real Gradio server, called with gradio_client."""
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from landmarks import samples


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


def photo(client, path, min_face=40):
    _, result, message = client.predict(handle_file(str(path)), True, False, min_face, api_name="/on_photo")
    return result, message


def assert_points_on_faces(result, n):
    assert result["faces"] == n and len(result["results"]) == n
    for face in result["results"]:
        x, y, w, h = face["box"]
        pts = np.array(face["points"])
        assert pts.shape == (68, 2)
        # every point within the detected face box grown by a third on each side
        assert (pts[:, 0] > x - w / 3).all() and (pts[:, 0] < x + w * 4 / 3).all()
        assert (pts[:, 1] > y - h / 3).all() and (pts[:, 1] < y + h * 4 / 3).all()


def test_share_says_so_in_one_line_and_keeps_serving(app_server):
    assert "Public link unavailable" in app_server.output
    assert app_server.proc.poll() is None


def test_photo_gets_68_points_on_the_face(client):
    result, message = photo(client, samples.portrait_path())
    assert message.startswith("1 face found")
    assert_points_on_faces(result, 1)


def test_many_faces(client, tmp_path):
    path = tmp_path / "five.png"
    Image.fromarray(samples.group_photo(5)).save(path)
    result, message = photo(client, path)
    assert message.startswith("5 faces found")
    assert_points_on_faces(result, 5)


@pytest.mark.parametrize("kind", ["rgba", "gray", "gray16"])
def test_odd_pixel_formats(client, tmp_path, kind):
    rgb = samples.portrait()
    image = {
        "rgba": Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])),
        "gray": Image.fromarray(rgb).convert("L"),
        "gray16": Image.fromarray(np.asarray(Image.fromarray(rgb).convert("L")).astype(np.uint16) * 257),
    }[kind]
    path = tmp_path / f"{kind}.png"
    image.save(path)
    result, _ = photo(client, path)
    assert_points_on_faces(result, 1)


def test_huge_image_keeps_full_resolution_points(client, tmp_path):
    canvas = np.full((10000, 10000, 3), 200, np.uint8)
    face = np.asarray(Image.fromarray(samples.portrait()).resize((2048, 2400)))
    canvas[6000:8400, 7000:9048] = face
    path = tmp_path / "huge.jpg"
    Image.fromarray(canvas).save(path, quality=85)
    result, _ = photo(client, path, min_face=200)
    assert result["image_size"] == [10000, 10000]
    assert_points_on_faces(result, 1)
    x, y, _, _ = result["results"][0]["box"]
    assert 7000 < x < 9048 and 6000 < y < 8400


@pytest.mark.parametrize(
    "content, expected",
    [(b"", "file is empty"), (b"\xff\xd8\xff\xe0 not really a jpeg" * 20, "not a readable image")],
)
def test_broken_files_get_a_clear_message(client, tmp_path, content, expected):
    path = tmp_path / "broken.jpg"
    path.write_bytes(content)
    result, message = photo(client, path)
    assert message.startswith("Cannot read this image") and expected in message
    assert "/tmp/gradio" not in message  # the server's temporary path is not shown


def test_no_face_is_a_message_not_an_error(client, tmp_path):
    path = tmp_path / "wall.png"
    Image.fromarray(np.full((480, 640, 3), 128, np.uint8)).save(path)
    result, message = photo(client, path)
    assert result["faces"] == 0 and message.startswith("No face found")
