"""The app end to end: a real Gradio server, called with gradio_client."""
import json
from pathlib import Path

import numpy as np
import pictures as sample_pictures
import pytest
from gradio_client import Client, handle_file
from PIL import Image


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


def photo(client, path, min_face=40):
    _, result, message, *_ = client.predict(handle_file(str(path)), True, False, min_face, api_name="/on_photo")
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


def test_share_says_so_in_one_line_and_keeps_serving(app_server, share_trap):
    assert "Public link unavailable" in app_server.output
    assert app_server.proc.poll() is None
    # the tunnel request went to the local trap, not to Gradio's share service
    assert share_trap.hits >= 1


def test_photo_gets_68_points_on_the_face(client):
    result, message = photo(client, sample_pictures.portrait_path())
    assert message.startswith("1 face found")
    assert_points_on_faces(result, 1)


def test_many_faces(client, tmp_path):
    path = tmp_path / "five.png"
    Image.fromarray(sample_pictures.group_photo(5)).save(path)
    result, message = photo(client, path)
    assert message.startswith("5 faces found")
    assert_points_on_faces(result, 5)


@pytest.mark.parametrize("kind", ["rgba", "gray", "gray16"])
def test_odd_pixel_formats(client, tmp_path, kind):
    rgb = sample_pictures.portrait()
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
    face = np.asarray(Image.fromarray(sample_pictures.portrait()).resize((2048, 2400)))
    canvas[6000:8400, 7000:9048] = face
    path = tmp_path / "huge.jpg"
    Image.fromarray(canvas).save(path, quality=85)
    result, _ = photo(client, path, min_face=200)
    assert result["image_size"] == [10000, 10000]
    assert_points_on_faces(result, 1)
    x, y, _, _ = result["results"][0]["box"]
    assert 7000 < x < 9048 and 6000 < y < 8400


def phone_photo(path):
    """The portrait as a phone stores a picture taken upright: pixels as the sensor lay
    (turned a quarter), EXIF Orientation 6 saying to turn them back for display."""
    image = Image.fromarray(np.ascontiguousarray(np.rot90(sample_pictures.portrait())))
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(path, quality=95, exif=exif.tobytes())
    return path


def test_phone_photo_stored_sideways_is_turned_upright(client, tmp_path):
    path = phone_photo(tmp_path / "phone.jpg")
    h, w = sample_pictures.portrait().shape[:2]
    result, message = photo(client, path)
    assert message.startswith("1 face found")
    assert result["image_size"] == [w, h]  # as the browser shows it, not as stored
    assert_points_on_faces(result, 1)


def test_library_turns_phone_photos_upright(tmp_path):
    # the one decoder behind predict, evaluate and the app
    from landmarks.core.image_io import to_rgb_array

    path = phone_photo(tmp_path / "phone.jpg")
    upright = sample_pictures.portrait().astype(int)
    for source in (path, path.read_bytes(), Image.open(path)):
        rgb = to_rgb_array(source)
        assert rgb.shape == upright.shape and np.abs(rgb - upright).mean() < 5


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


def test_photo_gives_a_summary_aligned_crops_and_downloads(client, tmp_path):
    from landmarks.face.records import CSV_COLUMNS

    path = tmp_path / "Grace Hopper.jpg"  # a name with a space, as phones and cameras make them
    big = Image.fromarray(sample_pictures.portrait()).resize((2560, 3000))  # larger than the display copy
    big.save(path, quality=92)
    out = client.predict(handle_file(str(path)), True, False, 40, True, api_name="/on_photo")
    shown, result, message, table, crops, picture_file, json_file, csv_file = out
    assert message.startswith("1 face found")
    assert table["headers"][:3] == ["face", "score", "yaw"] and len(table["data"]) == 1
    assert abs(float(table["data"][0][2])) < 10  # the portrait looks into the camera
    (crop,) = crops
    assert Image.open(crop["image"] if isinstance(crop["image"], str) else crop["image"]["path"]).size == (112, 112)
    # the downloads are named after the upload; the picture at the photo's own size (the one
    # shown is at most 2048 px), drawn where the JSON's points are
    assert [Path(f).name for f in (picture_file, json_file, csv_file)] == [
        "Grace_Hopper.landmarks.jpg", "Grace_Hopper.landmarks.json", "Grace_Hopper.landmarks.csv"]
    assert Image.open(picture_file).size == (2560, 3000) and max(Image.open(shown).size) == 2048
    saved = json.loads(open(json_file).read())
    assert saved == result and len(saved["results"][0]["points"]) == 68
    assert saved["results"][0]["face"] == 1  # faces and points count from 1, as on the page
    rows = open(csv_file).read().splitlines()
    assert rows[0].split(",") == CSV_COLUMNS and len(rows) == 2
    assert CSV_COLUMNS[13:15] == ["x1", "y1"] and CSV_COLUMNS[-1] == "y68"
    # coordinates to 0.01 px, without float noise (50.529998779296875)
    numbers = [v for v in rows[1].split(",")[4:8] + rows[1].split(",")[13:]]
    assert all(len(v.partition(".")[2]) <= 2 for v in numbers), numbers[:8]


def test_downloads_are_inactive_without_a_result(client, tmp_path):
    path = tmp_path / "wall.png"
    Image.fromarray(np.full((480, 640, 3), 128, np.uint8)).save(path)
    picture, json_file, csv_file = client.predict(handle_file(str(path)), True, False, 40, True, api_name="/on_photo")[5:]
    assert picture is json_file is csv_file is None
    buttons = [c["props"] for c in client.config["components"]
               if c.get("props", {}).get("elem_id") in ("photo-picture-file", "photo-json-file", "photo-csv-file",
                                                         "video-csv", "video-jsonl")]
    assert len(buttons) == 5 and not any(b["interactive"] for b in buttons)  # greyed out until there is a file


def test_video_tab_annotates_a_clip_and_gives_its_points(client, test_records, tmp_path):
    from test_video import make_clip

    clip, truth = make_clip(tmp_path / "clip.avi", [test_records[3], test_records[50]], frames_each=6)
    video, message, csv_file, jsonl_file = client.predict(handle_file(str(clip)),
                                                          True, False, True, api_name="/on_video")
    assert message.startswith("12 frames, 1.0 faces a frame")
    video = video if isinstance(video, str) else video["video"]
    assert [Path(f).name for f in (video, csv_file, jsonl_file)] == ["clip.landmarks.webm", "clip.landmarks.csv",
                                                                     "clip.landmarks.jsonl"]
    assert len(open(csv_file).read().splitlines()) == 1 + len(truth)
    lines = [json.loads(line) for line in open(jsonl_file)]
    assert [r["frame"] for r in lines] == list(range(12)) and "yaw" in lines[0]
    assert {r["face"] for r in lines} == {1}  # faces count from 1, as in photos


def test_video_tab_refuses_a_long_clip_in_one_line(client, tmp_path):
    import cv2

    path = tmp_path / "long.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 1, (64, 48))
    for _ in range(70):  # 70 s at one frame a second
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    video, message, csv_file, _ = client.predict(handle_file(str(path)), True, False, True,
                                                 api_name="/on_video")
    assert video is None and csv_file is None
    assert message == "Cannot use this video: long.avi: 70.0 s long; at most 60.0 s is processed"


def test_an_mp4v_clip_says_it_has_no_preview(client, tmp_path):
    import cv2

    def clip(path, fourcc):
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (64, 48))
        for _ in range(5):
            writer.write(np.zeros((48, 64, 3), np.uint8))
        writer.release()
        return handle_file(str(path))

    # MPEG-4 Part 2, what OpenCV writes for .mp4: browsers show "Video not playable"
    note = client.predict(clip(tmp_path / "phone.mp4", "mp4v"), api_name="/video_note")
    assert note.startswith("This clip's format (MPEG-4 Part 2, mp4v) cannot be played in a browser") and "processed all the same" in note
    assert client.predict(clip(tmp_path / "fine.webm", "VP80"), api_name="/video_note") == ""
