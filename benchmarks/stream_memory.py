"""Memory of the app under a long webcam stream: the real app, a real browser, a fake camera.

    python benchmarks/stream_memory.py [--minutes 10] [--every 30]

Starts ``python app.py``, opens its webcam tab in Debian's Chromium (Playwright) with a
fake camera playing a clip of the public-domain portrait drifting as a webcam sees a
person, starts the stream and samples the server process's resident memory (VmRSS) and
peak (VmHWM) from /proc while it runs.  Prints one row per sample.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test pictures
from pictures import webcam_clip, write_y4m  # noqa: E402
from landmarks.runtime.hardware import cpu_line  # noqa: E402

CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream",
                  "--use-fake-device-for-media-stream"]


def memory_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    kb = {k: int(v) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M)}
    return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024


def main() -> None:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--every", type=float, default=30, help="seconds between samples")
    a = p.parse_args()
    port = 7871
    server = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT,
                              env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: [lines.append(x) for x in server.stdout], daemon=True).start()
    try:
        while not any(x.startswith("Serving on") for x in lines):
            if server.poll() is not None:
                sys.exit("app did not start:\n" + "".join(lines))
            time.sleep(0.2)
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
            clip = write_y4m(Path(tmp) / "clip.y4m", webcam_clip(1, 100))
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=CHROMIUM_FLAGS + [f"--use-file-for-fake-video-capture={clip}"])
            page = browser.new_context(permissions=["camera"]).new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_role("tab", name="Webcam").click()
            page.get_by_role("button", name="Click to Access Webcam").click()
            page.get_by_role("button", name="capture photo").click()
            page.wait_for_function("document.querySelector('#webcam-status')?.innerText.includes('fps')", timeout=120_000)
            start = time.time()
            print(f"app pid {server.pid}; streaming {a.minutes} min; CPU: {cpu_line()}\n")
            print("| minute | RSS MB | peak RSS MB | status line |\n|---|---|---|---|", flush=True)
            while True:
                t = (time.time() - start) / 60
                rss, peak = memory_mb(server.pid)
                status = " ".join(page.locator("#webcam-status").inner_text().split())
                print(f"| {t:.1f} | {rss:.0f} | {peak:.0f} | {status} |", flush=True)
                if t >= a.minutes:
                    break
                time.sleep(min(a.every, max(0.0, a.minutes * 60 - (time.time() - start))))
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
