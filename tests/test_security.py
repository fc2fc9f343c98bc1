"""The app as strangers use it: a real server on 127.0.0.1, probed with raw HTTP (what an
attacker writes by hand) and gradio_client."""
import base64
import io
import json
import os
import queue
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np
import pictures as sample_pictures
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app
from landmarks.webapp.handlers import BUSY

UPLOADS = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


class Session:
    """One browser session's queue traffic: events joined, and the messages the server sends back."""

    def __init__(self, server):
        self.api = server.url + "gradio_api"
        self.hash = uuid.uuid4().hex[:11]
        self.fns = {d["api_name"]: d["id"] for d in httpx.get(server.url + "config").json()["dependencies"]}
        self.http = httpx.Client(timeout=120)
        self.messages: queue.Queue = queue.Queue()
        self._listener = threading.Thread(target=self._listen, daemon=True)

    def _listen(self):
        try:
            with httpx.stream("GET", f"{self.api}/queue/data", params={"session_hash": self.hash}, timeout=None) as r:
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        self.messages.put((time.monotonic(), json.loads(line[5:])))
        except httpx.HTTPError:
            pass  # the server went away (end of the tests)

    def body(self, api_name, data):
        return {"data": data, "fn_index": self.fns[api_name], "session_hash": self.hash, "event_data": None, "trigger_id": None}

    def join(self, api_name, data) -> str:
        r = self.http.post(f"{self.api}/queue/join", json=self.body(api_name, data))
        r.raise_for_status()
        if self._listener.ident is None:  # the server knows the session once it has an event
            self._listener.start()
        return r.json()["event_id"]

    def wait(self, seconds, until=lambda msg: False) -> list[tuple[float, dict]]:
        """Messages for ``seconds``, or until one satisfies ``until``."""
        out, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                out.append(self.messages.get(timeout=left))
            except queue.Empty:
                break
            if until(out[-1][1]):
                break
        return out


class Stream(Session):
    """A webcam stream as the page sends it: join with the first frame, then post the next ones."""

    def __init__(self, server, frame):
        super().__init__(server)
        self.event_id = self.join("on_frame", self.frame_data(frame))

    @staticmethod
    def frame_data(frame):
        return [frame, None, True, False, True, 40, False, True]  # frame, state, box, numbers, smoothing, min face, mirror, axes

    def send(self, frame):
        self.http.post(f"{self.api}/stream/{self.event_id}", json=self.body("on_frame", self.frame_data(frame)))

    def status(self, seconds, until) -> str | None:
        """The first status line that satisfies ``until`` (else the last one seen; "" for silence)."""
        return ([""] + self.statuses(seconds, until))[-1]

    def statuses(self, seconds, until=lambda status: False) -> list[str]:
        """Status lines of the frames processed in the next ``seconds``; ``None`` for an error."""
        def line_of(msg):
            if msg["msg"] == "process_completed" and not msg.get("success"):
                return None
            if msg["msg"] in ("process_streaming", "process_completed") and msg.get("output", {}).get("data"):
                return msg["output"]["data"][2]
            return ""
        lines = [line_of(m) for _, m in self.wait(seconds, lambda m: line_of(m) is None or until(line_of(m) or ""))]
        return [s for s in lines if s != ""]


def inline(path) -> dict:
    """An image payload as a base64 ``data:`` URL, as the webcam sends its frames."""
    return {"url": "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()}


def jpeg_frame(rgb) -> dict:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "jpeg", quality=85)
    return {"url": "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()}


def call(server, api_name, data) -> tuple[str, str]:
    """POST /call/<api_name> as a script would: (last event's name, its data as sent)."""
    api = f"{server.url}gradio_api/call/{api_name}"
    event_id = httpx.post(api, json={"data": data}).json()["event_id"]
    blocks = httpx.get(f"{api}/{event_id}", timeout=120).text.strip().split("\n\n")
    event, _, data = [b for b in blocks if not b.startswith("event: heartbeat")][-1].partition("\ndata: ")
    return event.removeprefix("event: "), data


def call_photo(server, image) -> tuple[str, str]:
    return call(server, "on_photo", [image, True, False, 40, True])


def server_memory_mb(pid, key="VmRSS") -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(ln for ln in status.splitlines() if ln.startswith(key)).split()[1]) / 1024


def peak_growth_mb(pid, work) -> float:
    """How far the server's resident memory rose above its level before ``work``."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak := current
    before = server_memory_mb(pid)
    work()
    return server_memory_mb(pid, "VmHWM") - before


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory) -> Path:
    """225 Mpx of black in a 220 KB file: the header says what decoding would cost."""
    path = tmp_path_factory.mktemp("huge") / "huge.png"
    Image.new("L", (15000, 15000)).save(path)
    return path


def test_server_paths_in_payloads_are_refused_on_every_endpoint(app_server, tmp_path):
    secret = tmp_path / "secret.png"  # in the system temp folder, which Gradio itself would allow
    Image.fromarray(np.full((37, 53, 3), 90, np.uint8)).save(secret)
    (tmp_path / "notes.txt").write_text("not an image")
    traversal = str(UPLOADS) + "/.." * len(UPLOADS.parts) + str(secret)
    payloads = [
        {"path": str(secret)},  # no "meta": Gradio's upload-folder check skips it
        {"path": str(secret), "meta": {"_type": "gradio.FileData"}},
        {"path": traversal},
        {"path": str(tmp_path / "notes.txt")},
        {"path": str(tmp_path / "missing.png")},
    ]
    answers = set()
    for payload in payloads:
        for event, text in (call_photo(app_server, payload), call(app_server, "on_video", [payload, True, False, True]),
                            call(app_server, "video_note", [payload])):
            assert event == "error", text
            assert "image_size" not in text and "/file=" not in text and "53" not in text
            answers.add(text)
        stream = Stream(app_server, payload)
        assert stream.statuses(30, until=lambda s: "fps" in s) == [None]  # ended with an error, no frame
    # refused alike whether the file exists, is an image or not: nothing to learn about the disk
    assert len(answers) == 2  # Gradio's own refusal (with "meta") and ours
    assert any(app.REFUSED_PATH in a for a in answers)


def test_uploads_over_the_cap_are_refused(app_server, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + os.urandom(app.MAX_UPLOAD_MB * 2**20 + 1024))
    with big.open("rb") as f:
        r = httpx.post(app_server.url + "gradio_api/upload", files={"files": ("big.png", f, "image/png")}, timeout=120)
    assert r.status_code == 413
    event, text = call_photo(app_server, inline(big))
    assert event == "error" and f"larger than {app.MAX_UPLOAD_MB} MB" in text
    # a larger request is not even read (Gradio would parse it whole, and keep it in the session)
    body = b'{"data": [{"url": "data:image/png;base64,' + b"A" * app.BODY_LIMIT + b'"}, true, false, 40, true]}'
    r = httpx.post(app_server.url + "gradio_api/call/on_photo", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize("route", ["upload", "inline"])
def test_pixel_count_is_checked_before_decoding(app_server, client, huge_png, route):
    out = {}

    def send():
        if route == "upload":
            out["message"] = client.predict(handle_file(str(huge_png)), True, False, 40, api_name="/on_photo")[2]
        else:
            out["message"] = json.loads(call_photo(app_server, inline(huge_png))[1])[2]

    grew = peak_growth_mb(app_server.proc.pid, send)
    assert "15000x15000, more than" in out["message"]
    assert grew < 100, f"the server's memory rose {grew:.0f} MB for an image it refuses"  # decoding takes 225 MB


def test_photos_are_processed_in_parallel(app_server, client, tmp_path):
    # a phone-sized photo: about half a second of work, long enough to overlap
    path = tmp_path / "group.jpg"
    Image.fromarray(cv2.resize(sample_pictures.group_photo(4, 1024, 768), (2048, 1536))).save(path)
    uploaded = httpx.post(app_server.url + "gradio_api/upload", files={"files": ("group.jpg", path.read_bytes())}).json()[0]
    payload = {"path": uploaded, "meta": {"_type": "gradio.FileData"}}
    sessions = [Session(app_server) for _ in range(2)]
    for s in sessions:
        s.join("on_photo", [payload, True, False, 40, True])
    done = lambda m: m["msg"] == "process_completed"  # noqa: E731
    timelines = [s.wait(60, done) for s in sessions]
    starts = [next(t for t, m in tl if m["msg"] == "process_starts") for tl in timelines]
    ends = [next(t for t, m in tl if done(m)) for tl in timelines]
    assert max(starts) < min(ends), "the second photo waited for the first one"
    # and side by side they stay correct: the right faces for each of 8 photos sent at once
    group = tmp_path / "five.png"
    Image.fromarray(sample_pictures.group_photo(5)).save(group)
    files = [sample_pictures.portrait_path(), group] * 4
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda p: client.predict(handle_file(str(p)), True, False, 40, api_name="/on_photo")[1], files))
    assert [r["faces"] for r in results] == [1, 5] * 4


def test_bad_webcam_frames_are_skipped_and_the_stream_goes_on(app_server, huge_png):
    frame = jpeg_frame(sample_pictures.webcam_frame(1))
    stream = Stream(app_server, frame)
    assert "1 face" in stream.status(30, until=lambda s: "fps" in s)
    for bad in ({"url": "data:image/jpeg;base64," + base64.b64encode(b"not a jpeg").decode()}, inline(huge_png)):
        stream.send(bad)
        assert (stream.status(30, until=lambda s: "Skipped" in s) or "the stream ended").startswith("Skipped a bad frame")
    stream.send(frame)
    assert "1 face" in stream.status(30, until=lambda s: "fps" in s)


def test_webcam_slots_go_to_live_clients_and_the_rest_are_told_to_wait(app_server):
    frame = jpeg_frame(sample_pictures.webcam_frame(1))
    streams = [Stream(app_server, frame) for _ in range(app.WEBCAM_SLOTS + 2)]
    first = [s.status(30, until=lambda s: "fps" in s or s == BUSY) for s in streams]
    served = [s for s, status in zip(streams, first) if "fps" in status]
    waiting = [s for s, status in zip(streams, first) if status == BUSY]
    # everyone hears something; slots left by an earlier test may still be held, so "at most"
    assert len(served) + len(waiting) == len(streams)
    assert len(served) <= app.WEBCAM_SLOTS and len(waiting) >= 2
    # the served clients vanish without closing; those waiting keep sending and get their turn
    deadline = time.monotonic() + 30
    while waiting and time.monotonic() < deadline:
        for s in list(waiting):
            s.send(frame)
            if any("fps" in status for status in s.statuses(0.3)):
                waiting.remove(s)
    assert not waiting, "a dropped client kept its webcam slot for more than 30 s"


def test_gradio_cache_is_cleaned(tmp_path):
    demo = app.build(None, "", tmp_path)
    frequency, age = demo.delete_cache
    assert frequency <= 600 and age <= 3600


def upload(server, path) -> Path:
    with open(path, "rb") as f:
        r = httpx.post(server.url + "gradio_api/upload", files={"files": (Path(path).name, f)}, timeout=120)
    r.raise_for_status()
    return Path(r.json()[0])


def test_the_cache_folder_is_private_swept_at_start_and_emptied_at_exit(tmp_path):
    from conftest import AppServer

    base = Path(tempfile.gettempdir())
    stale = base / "landmarks-app-999999999-killed"  # a folder left by a server that was killed (no such pid)
    (stale / "result").mkdir(parents=True, exist_ok=True)
    (stale / "result" / "photo.jpeg").write_bytes(b"left behind")
    # a file of another Gradio process, in the folder all of them share by default
    other = Path(os.environ.get("GRADIO_TEMP_DIR") or base / "gradio") / uuid.uuid4().hex / "theirs.png"
    other.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(other)
    server = AppServer()
    try:
        assert not stale.exists()
        cache = upload(server, sample_pictures.portrait_path()).parents[1]
        assert cache.parent == base and cache.name.startswith(f"landmarks-app-{server.proc.pid}-")
        assert cache.stat().st_mode & 0o777 == 0o700 and cache.stat().st_uid == os.getuid()
        # only this process's files are served
        assert httpx.get(f"{server.url}gradio_api/file={other}").status_code == 403
        event, data = call(server, "on_photo", [{"path": str(other), "meta": {"_type": "gradio.FileData"}}, True, False, 40, True])
        assert event == "error"
        event, data = call_photo(server, inline(sample_pictures.portrait_path()))
        picture = json.loads(data)[0]["url"]
        assert httpx.get(picture).status_code == 200 and str(cache) in picture
    finally:
        server.stop()
        other.unlink()
        other.parent.rmdir()
    assert server.proc.returncode == 0 and not cache.exists()  # stopped (SIGTERM): everything gone


def tiny_clip(path, fps, frames, size=(64, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for _ in range(frames):
        writer.write(np.zeros((size[1], size[0], 3), np.uint8))
    writer.release()
    return path


def server_cpu_seconds(pid) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_999_fps_clip_is_refused_at_once_and_refusals_leave_nothing(app_server, tmp_path):
    # "5 s" at 999 frames a second: 4995 frames, which took as many tracker passes
    fast = upload(app_server, tiny_clip(tmp_path / "fast.avi", 999, 4995))
    cache = fast.parents[1]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0\0\0\x18ftypmp42" + b"junk" * 100)
    before = set(cache.glob("video-*"))
    cpu = server_cpu_seconds(app_server.proc.pid)
    event, data = call(app_server, "on_video", [{"path": str(fast), "meta": {"_type": "gradio.FileData"}},
                                                True, False, True])
    used = server_cpu_seconds(app_server.proc.pid) - cpu
    assert event == "complete" and "fast.avi: 4995 frames (999 a second); at most 3600 are read" in data, data
    assert used < 10, f"{used:.0f} s of the server's CPU for a clip it refuses"
    event, data = call(app_server, "on_video", [{"path": str(upload(app_server, broken)),
                                                "meta": {"_type": "gradio.FileData"}}, True, False, True])
    assert "not a readable video" in data
    assert set(cache.glob("video-*")) == before  # no folder left by either refusal


def test_a_clip_whose_client_is_gone_is_stopped(app_server, tmp_path, test_records):
    from test_video import make_clip

    clip, _ = make_clip(tmp_path / "long.avi", [test_records[0]], frames_each=1800, fps=30)  # 60 s of work or more
    path = upload(app_server, clip)
    cache = path.parents[1]
    before = set(cache.glob("video-*"))
    session = Session(app_server)
    payload = [{"path": str(path), "meta": {"_type": "gradio.FileData"}}, True, False, True]
    r = session.http.post(f"{session.api}/queue/join", json=session.body("on_video", payload))
    r.raise_for_status()
    with httpx.stream("GET", f"{session.api}/queue/data", params={"session_hash": session.hash}, timeout=120) as events:
        for line in events.iter_lines():  # until the clip is being worked on
            if line.startswith("data:") and json.loads(line[5:])["msg"] == "progress":
                break
    (job,) = set(cache.glob("video-*")) - before
    # the page is closed: the server notices, stops the work and removes what it wrote
    deadline = time.monotonic() + 60
    while job.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not job.exists(), "the clip was still being processed a minute after its client left"


def test_a_result_handed_out_again_is_not_left_to_age_out(tmp_path):
    # delete_cache removes files whose ctime is older than its age: a result that is the same
    # as an earlier one (same photo, a still camera) must count as new again when handed out
    rgb = sample_pictures.webcam_frame(1)
    first = Path(app.cached_jpeg(rgb, str(tmp_path)))
    before = first.stat().st_ctime_ns
    time.sleep(0.05)
    again = Path(app.cached_jpeg(rgb, str(tmp_path)))
    assert again == first and again.stat().st_ctime_ns > before
    assert np.abs(np.asarray(Image.open(again), np.int16) - rgb).mean() < 3  # the same picture, as JPEG


def test_a_login_when_asked_for_one():
    from conftest import AppServer

    server = AppServer(env={"LANDMARKS_AUTH": "ada:analytical engine"})
    try:
        assert "login required" in server.output
        api = server.url + "gradio_api"
        assert httpx.post(f"{api}/call/on_photo", json={"data": [None, True, False, 40, True]}).status_code == 401
        assert httpx.post(f"{api}/upload", files={"files": ("x.png", b"x")}).status_code == 401
        client = Client(server.url, auth=("ada", "analytical engine"), verbose=False)
        result = client.predict(handle_file(str(sample_pictures.portrait_path())), True, False, 40, api_name="/on_photo")[1]
        assert result["faces"] == 1
    finally:
        server.stop()
