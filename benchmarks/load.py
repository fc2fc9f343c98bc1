"""The app under a crowd and under abuse: throughput, latency, CPU and memory of a real server.

    python benchmarks/load.py [--clients 8] [--photos 25] [--kinds portrait,group,phone] [--mixed 100] [--videos 6] [--app app.py]

Starts ``python app.py`` on 127.0.0.1 (a free port; nothing else is contacted), then:

1. ``--clients`` clients each send ``--photos`` photos at once (the public-domain portrait,
   a group of four at 1024x768, a 4032x3024 phone-sized photo with two faces, in turn;
   ``--kinds`` picks), as the page does: upload, the photo event, then the annotated
   picture fetched (raw HTTP: gradio_client's CPU on this same machine would be taken
   from the server's). Prints photos/s, p50/p95 latency, errors, and how busy the server
   kept the CPU (its CPU time over wall time x cores, from /proc), next to the clients'
   share and any other process's (a clean run has none).
2. ``--mixed`` requests from 4 clients mixing ordinary photos with abuse: a 15000x15000
   PNG of 0.6 MB and a 10900x10900 JPEG, each uploaded and inline (base64 ``data:``
   URL), a 300 MB upload, a broken file, a server path: the server's resident memory
   (VmRSS) before, its peak, and after (10 s later).
3. ``--videos`` clips (10 s at 30 frames/s, 640x480, the portrait drifting) from 3 clients at
   once through the video tab, and one clip whose client leaves as soon as it starts.

Throughout, the disk the server's files take (its private folder; Gradio's shared one for an
older app): before, peak (sampled every 0.5 s) and after each phase, and whether any is left
once the server has stopped.

Every request has a 120 s timeout and the run stops after ``--max-minutes``.
``--app`` runs another copy of the app (e.g. an older checkout) for comparison.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test pictures
import pictures as sample_pictures  # noqa: E402
from landmarks.webapp.scratch import PREFIX, disk_bytes  # noqa: E402
from landmarks.runtime.hardware import cpu_line  # noqa: E402

TIMEOUT = 120


def memory_mb(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {k: int(v) / 1024 for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M)}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, all threads


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (from /proc/stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK"), sum(ticks) / os.sysconf("SC_CLK_TCK")


def server_folder(pid: int) -> Path:
    """Where the server keeps its files: its private folder, else Gradio's shared default."""
    mine = sorted(Path(tempfile.gettempdir()).glob(f"{PREFIX}{pid}-*"))
    return mine[0] if mine else Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


class DiskWatch:
    """The disk a folder's files take, sampled every half second: ``phase()`` prints the
    figures since the last call (before, peak, now)."""

    def __init__(self, folder: Path):
        self.folder, self.start = folder, disk_bytes(folder)
        self.peak, self._stop = self.start, threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self):
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, disk_bytes(self.folder))

    def phase(self, name: str) -> None:
        now = disk_bytes(self.folder)
        peak = max(self.peak, now)
        print(f"server disk ({name}, {self.folder}): {self.start / 2**20:.1f} MB before, peak {peak / 2**20:.1f} MB, "
              f"{now / 2**20:.1f} MB after", flush=True)
        self.start = self.peak = now

    def stop(self):
        self._stop.set()


def make_clip(path: Path, seconds: float = 10, fps: int = 30) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    for frame in sample_pictures.webcam_clip(1, int(seconds * fps)):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def start_app(app: Path, python: str = sys.executable, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """``python app.py`` on a free port, once it says "Serving on": (process, URL)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([python, app.name, "--host", "127.0.0.1", "--port", str(port)], cwd=app.parent,
                              env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: [lines.append(x) for x in server.stdout], daemon=True).start()
    deadline = time.time() + 300
    while not any(x.startswith("Serving on") for x in lines):
        if server.poll() is not None or time.time() > deadline:
            server.kill()
            sys.exit("app did not start:\n" + "".join(lines))
        time.sleep(0.2)
    return server, f"http://127.0.0.1:{port}/"


def make_files(folder: Path) -> dict[str, Path]:
    files = {"portrait": sample_pictures.portrait_path()}
    Image.fromarray(sample_pictures.group_photo(4, 1024, 768)).save(files.setdefault("group", folder / "group.jpg"), quality=90)
    phone = cv2.resize(sample_pictures.group_photo(2, 1024, 768), (4032, 3024), interpolation=cv2.INTER_CUBIC)
    Image.fromarray(phone).save(files.setdefault("phone", folder / "phone.jpg"), quality=90)
    Image.new("RGB", (15000, 15000)).save(files.setdefault("png_15000", folder / "black.png"))
    big = cv2.resize(sample_pictures.group_photo(4, 1024, 768), (10900, 10900), interpolation=cv2.INTER_LINEAR)
    Image.fromarray(big).save(files.setdefault("jpeg_10900", folder / "big.jpg"), quality=85)
    del big
    files["clip"] = make_clip(folder / "clip.avi")
    files["broken"] = folder / "broken.jpg"
    files["broken"].write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 20)
    with open(files.setdefault("upload_300mb", folder / "huge.bin"), "wb") as f:
        f.truncate(300 * 2**20)
    return files


class Caller:
    """Raw HTTP as the page talks to the app: upload, then /call/on_photo (lighter than
    gradio_client, whose CPU on this same machine would be taken from the server's)."""

    def __init__(self, url: str):
        self.api = url + "gradio_api"
        self.http = httpx.Client(timeout=TIMEOUT)
        photo_event = next(d for d in httpx.get(url + "config").json()["dependencies"] if d["api_name"] == "on_photo")
        self.settings = [True, False, 40, True][: len(photo_event["inputs"]) - 1]  # box, numbers, min face, axes

    def upload(self, path: Path) -> dict:
        with path.open("rb") as f:
            r = self.http.post(f"{self.api}/upload", files={"files": (path.name, f)})
        r.raise_for_status()
        return {"path": r.json()[0], "meta": {"_type": "gradio.FileData"}}

    def video(self, payload) -> str:
        """The clip through the video tab: the last server event ("complete" or "error")."""
        event_id = self.http.post(f"{self.api}/call/on_video", json={"data": [payload, True, False, True]}).json()["event_id"]
        blocks = self.http.get(f"{self.api}/call/on_video/{event_id}").text.strip().split("\n\n")
        return [b for b in blocks if not b.startswith("event: heartbeat")][-1].partition("\n")[0].removeprefix("event: ")

    def leave_video(self, payload) -> None:
        """Start a clip and hang up once it is being processed."""
        event_id = self.http.post(f"{self.api}/call/on_video", json={"data": [payload, True, False, True]}).json()["event_id"]
        with self.http.stream("GET", f"{self.api}/call/on_video/{event_id}"):
            time.sleep(3)  # a few seconds of a 10 s clip's work

    def photo(self, payload, fetch: bool = False) -> str:
        """The last server event ("complete" or "error"), raising on anything else;
        ``fetch``: then download the annotated picture, as the page does."""
        event_id = self.http.post(f"{self.api}/call/on_photo", json={"data": [payload, *self.settings]}).json()["event_id"]
        blocks = self.http.get(f"{self.api}/call/on_photo/{event_id}").text.strip().split("\n\n")
        event, _, data = [b for b in blocks if not b.startswith("event: heartbeat")][-1].partition("\ndata: ")
        event = event.removeprefix("event: ")
        if event not in ("complete", "error"):
            raise RuntimeError(f"unexpected event {event}")
        if fetch and event == "complete":
            self.http.get(json.loads(data)[0]["url"]).raise_for_status()
        return event


def inline(path: Path) -> dict:
    return {"url": f"data:image/{path.suffix[1:]};base64," + base64.b64encode(path.read_bytes()).decode()}


def mixed_request(url: str, kind: str, files: dict[str, Path]) -> str:
    c = Caller(url)
    if kind == "upload_300mb":
        try:
            return str(c.http.post(f"{c.api}/upload", files={"files": ("huge.bin", files[kind].open("rb"))}).status_code)
        except httpx.HTTPError as e:  # the server may hang up once the cap is passed
            return type(e).__name__
    if kind == "server_path":
        return c.photo({"path": "/etc/hostname"})
    if kind.endswith("_inline"):
        return c.photo(inline(files[kind.removesuffix("_inline")]))
    return c.photo(c.upload(files[kind]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--photos", type=int, default=25, help="photos per client")
    p.add_argument("--kinds", default="portrait,group,phone", help="the photos sent in turn in the first phase")
    p.add_argument("--mixed", type=int, default=100, help="requests in the memory phase (0: skip it)")
    p.add_argument("--videos", type=int, default=6, help="clips in the video phase (0: skip it)")
    p.add_argument("--app", type=Path, default=ROOT / "app.py")
    p.add_argument("--max-minutes", type=float, default=20)
    a = p.parse_args()
    started: list[subprocess.Popen] = []

    def give_up():  # bounded, whatever happens
        print(f"stopped after {a.max_minutes} minutes", flush=True)
        for server in started:
            server.kill()
        os._exit(3)

    limit = threading.Timer(a.max_minutes * 60, give_up)
    limit.daemon = True
    limit.start()
    print(f"CPU: {cpu_line()}, {len(os.sched_getaffinity(0))} cores", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp))
        server, url = start_app(a.app.resolve())
        started.append(server)
        disk = DiskWatch(server_folder(server.pid))
        try:
            print(f"app: {a.app.resolve()} at {url} (pid {server.pid})", flush=True)
            kinds = a.kinds.split(",")
            clients = [Caller(url) for _ in range(a.clients)]
            for kind in kinds:  # warm-up
                clients[0].photo(clients[0].upload(files[kind]))

            def photos(i: int) -> tuple[list[float], list[str]]:
                times, errors = [], []
                for j in range(a.photos):
                    t = time.perf_counter()
                    try:
                        c = clients[i]
                        if c.photo(c.upload(files[kinds[(i + j) % len(kinds)]]), fetch=True) != "complete":
                            raise RuntimeError("the server answered with an error")
                        times.append(time.perf_counter() - t)
                    except Exception as e:
                        errors.append(f"{type(e).__name__}: {e}"[:200])
                return times, errors

            cpu0, own0, t0 = cpu_seconds(server.pid), cpu_seconds(os.getpid()), time.perf_counter()
            busy0, total0 = machine_busy_seconds()
            with ThreadPoolExecutor(a.clients) as pool:
                results = list(pool.map(photos, range(a.clients)))
            wall, cpu = time.perf_counter() - t0, cpu_seconds(server.pid) - cpu0
            own = cpu_seconds(os.getpid()) - own0
            busy, total = (b - b0 for b, b0 in zip(machine_busy_seconds(), (busy0, total0)))
            times = np.array([t for ts, _ in results for t in ts])
            errors = [e for _, es in results for e in es]
            cores = len(os.sched_getaffinity(0))
            print(f"\n{a.clients} clients x {a.photos} photos ({a.kinds}): {len(times) / wall:.2f} photos/s, "
                  f"p50 {np.percentile(times, 50):.2f} s, p95 {np.percentile(times, 95):.2f} s, {len(errors)} errors; "
                  f"server CPU {cpu:.0f} s in {wall:.0f} s = {100 * cpu / wall / cores:.0f} % of {cores} cores "
                  f"(the clients here: {100 * own / wall / cores:.0f} %, other processes: "
                  f"{100 * (busy / total - (cpu + own) / wall / cores):.0f} %)", flush=True)
            for error in sorted(set(errors)):
                print(f"  error: {error}")
            disk.phase("photos")

            if a.videos:
                clip = Caller(url).upload(files["clip"])
                t0 = time.perf_counter()
                with ThreadPoolExecutor(3) as pool:
                    events = list(pool.map(lambda _: _safe(Caller(url).video, clip), range(a.videos)))
                print(f"\n{a.videos} clips of 10 s (3 clients): {time.perf_counter() - t0:.0f} s, "
                      + ", ".join(f"{events.count(e)} {e}" for e in sorted(set(events))), flush=True)
                _safe(Caller(url).leave_video, clip)
                time.sleep(5)  # the server notices, stops that clip and removes its files
                disk.phase("videos, and one clip whose client left")

            if not a.mixed:
                return
            mix = ["portrait", "group", "png_15000", "png_15000_inline", "jpeg_10900", "jpeg_10900_inline",
                   "upload_300mb", "broken", "server_path", "phone"]
            requests = [mix[i % len(mix)] for i in range(a.mixed)]
            time.sleep(5)
            before = memory_mb(server.pid)["VmRSS"]
            Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # peak := now
            t0 = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                outcomes = list(pool.map(lambda k: (k, _safe(mixed_request, url, k, files)), requests))
            took = time.perf_counter() - t0
            peak = memory_mb(server.pid)["VmHWM"]
            time.sleep(10)
            after = memory_mb(server.pid)["VmRSS"]
            summary: dict[str, dict[str, int]] = {}
            for kind, outcome in outcomes:
                summary.setdefault(kind, {}).setdefault(outcome, 0)
                summary[kind][outcome] += 1
            print(f"\n{a.mixed} mixed requests in {took:.0f} s: " + "; ".join(
                f"{k}: " + ", ".join(f"{n} {o}" for o, n in v.items()) for k, v in summary.items()))
            print(f"server memory: {before:.0f} MB before, peak {peak:.0f} MB, {after:.0f} MB after "
                  f"({after - before:+.0f} MB)", flush=True)
            disk.phase("mixed")
        finally:
            server.terminate()
            server.wait(10)
            disk.stop()
            left = disk_bytes(disk.folder) if disk.folder.exists() else 0
            print(f"server disk once stopped: {'folder removed' if not disk.folder.exists() else f'{left / 2**20:.1f} MB left'}",
                  flush=True)


def _safe(fn, *args) -> str:
    try:
        return fn(*args)
    except Exception as e:  # counted and shown, not fatal
        return f"failed ({type(e).__name__})"


if __name__ == "__main__":
    main()
