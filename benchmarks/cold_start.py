"""What a Space pays before it serves: seconds from ``python app.py`` to "Serving on" and to the
first photo answered (through ``gradio_client``), and the app's resident memory then, for the
training install (this Python, with torch) and for the app's own (``requirements.txt``: no torch),
alternating.

    python -m venv /tmp/light && /tmp/light/bin/pip install -r requirements.txt
    python benchmarks/cold_start.py --light-python /tmp/light/bin/python [--runs 3]

Both start ``app.py`` from this checkout on the bundled model with ``HF_HUB_OFFLINE=1``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gradio_client import Client, handle_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from landmarks.runtime.hardware import cpu_line  # noqa: E402
from landmarks.core.samples import portrait_path  # noqa: E402
from load import start_app  # noqa: E402


def start_to_first_photo(python: str) -> tuple[float, float, int, float]:
    """(s to "Serving on", s to the first photo's answer, faces found, resident MB)."""
    t0 = time.monotonic()
    server, url = start_app(ROOT / "app.py", python, {"HF_HUB_OFFLINE": "1", "PYTHONPATH": ""})
    try:
        serving = time.monotonic() - t0
        result = Client(url, verbose=False).predict(handle_file(str(portrait_path())), True, False, 40, api_name="/on_photo")
        first = time.monotonic() - t0
        status = Path(f"/proc/{server.pid}/status").read_text()
        rss = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024
        return serving, first, result[1]["faces"], rss
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--light-python", required=True, help="python of a venv with requirements.txt (no torch)")
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    print(f"CPU: {cpu_line()}\n")
    print("| install | run | to \"Serving on\" s | to first photo s | faces | resident MB |")
    print("|---|---|---|---|---|---|")
    for run in range(1, a.runs + 1):
        for name, python in (("training install (torch)", sys.executable), ("requirements.txt (no torch)", a.light_python)):
            serving, first, faces, rss = start_to_first_photo(python)
            print(f"| {name} | {run} | {serving:.1f} | {first:.1f} | {faces} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
