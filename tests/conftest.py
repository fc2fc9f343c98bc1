import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("IBUG300W", ROOT.parent / "shared" / "data" / "ibug300w"))
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The 300-W folder.  Without it the tests that need it are skipped, saying why; CI
    (``LANDMARKS_REQUIRE_DATA=1``, set by ``.ci/run``) fails instead, so nothing goes untested."""
    if not (DATA / "labels_train.xml").is_file():
        message = f"needs the 300-W data: not found at {DATA}; set IBUG300W to the ibug300w folder"
        if os.environ.get("LANDMARKS_REQUIRE_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return DATA


@pytest.fixture(scope="session")
def test_records(data_dir):
    from landmarks.data.annotations import read_xml

    return read_xml(data_dir / "labels_test_common.xml")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def run_landmarks(*args) -> subprocess.CompletedProcess:
    """``python -m landmarks ARGS`` from the repository root, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "landmarks", *args], capture_output=True, text=True, cwd=ROOT)


def training_only_packages() -> list[str]:
    """What ``pip install ".[train]"`` adds to the app's install (requirements.txt): the train
    extra's packages that requirements.txt lacks (each imported under its own name)."""
    import re
    import tomllib

    def name(requirement: str) -> str:
        return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower()

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["train"]
    app = {name(line.split("#")[0]) for line in (ROOT / "requirements.txt").read_text().splitlines() if line.split("#")[0].strip()}
    return sorted({name(r) for r in extra} - app)


def without_training_packages(folder: Path) -> dict:
    """Environment variables under which every training-only package fails to import in a new
    Python process, as in the app's install (a ``sitecustomize`` in ``folder``, put on PYTHONPATH)."""
    folder.mkdir(parents=True, exist_ok=True)
    blocked = training_only_packages()
    (folder / "sitecustomize.py").write_text(f"import sys\nsys.modules.update(dict.fromkeys({blocked!r}))  # as if not installed\n")
    return {"PYTHONPATH": str(folder)}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """``python app.py`` in a subprocess on 127.0.0.1, as a user starts it."""

    def __init__(self, *args, env=None, timeout=180):
        import subprocess
        import threading
        import time

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        environ = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(self.port), *args],
            cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=lambda: [self.lines.append(ln.rstrip()) for ln in self.proc.stdout], daemon=True).start()
        deadline = time.time() + timeout
        while not any(ln.startswith("Serving on") for ln in self.lines):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError("app did not start:\n" + "\n".join(self.lines))
            time.sleep(0.2)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except Exception:
            self.proc.kill()


class ShareTrap:
    """A port on 127.0.0.1 that takes connections and drops them, counting them: the app's
    share request is sent there through an HTTPS proxy setting, so ``--share`` fails at
    once, the same way online or off, and nothing leaves the machine."""

    def __init__(self):
        import socket
        import threading

        self.hits = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.env = {name: f"http://127.0.0.1:{self._sock.getsockname()[1]}" for name in ("HTTPS_PROXY", "https_proxy")}
        # the app's own requests to itself (Gradio checks its local URL at launch) go direct
        self.env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.hits += 1
            conn.close()

    def close(self):
        self._sock.close()


@pytest.fixture(scope="session")
def share_trap():
    trap = ShareTrap()
    yield trap
    trap.close()


@pytest.fixture(scope="session")
def app_server(share_trap):
    server = AppServer("--share", env=share_trap.env)
    yield server
    server.stop()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
]


def open_page(playwright, url: str, extra_flags=()):
    """Debian's Chromium on the app's page, once the page has drawn; returns (browser, page)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS + list(extra_flags))
    context = browser.new_context(viewport={"width": 1280, "height": 1000},
                                  permissions=["camera", "clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(url, wait_until="load")
    page.wait_for_selector("#photo-out", timeout=60_000)
    return browser, page
