"""``python -m landmarks deploy`` against the local Hub stand-in, over real HTTP: what the Space
receives, its variable, and a fresh copy of it that starts and serves a face with the model
pulled from the (stand-in) Hub."""
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.request import urlopen

import huggingface_hub
import pytest
from conftest import ROOT, free_port, without_training_packages
from gradio_client import Client, handle_file
from hub_standin import HubStandIn
from huggingface_hub import HfApi, SpaceCard, hf_hub_download, snapshot_download

from landmarks.__main__ import main
from landmarks.core.samples import portrait_path
from landmarks.hub import deploy as dep
from landmarks.model.folder import BUNDLED, CONFIG, EXACT_FILE, NAMED, ONNX_FILE, REFERENCE_FILE, WEIGHTS

MODEL = "bob/face-landmarks"
# both bundled models, full and lite
WEIGHT_FILES = {f"landmarks/{folder.name}/{n}" for folder in NAMED.values()
                for n in (CONFIG, WEIGHTS, ONNX_FILE, EXACT_FILE, REFERENCE_FILE) if (folder / n).is_file()}


def app_files() -> set[str]:
    """The app, the library's modules and data folders (the page's style sheet among them), requirements and
    README (.gitattributes is the Hub's own)."""
    return {".gitattributes", "README.md", "app.py", "requirements.txt",
            *(p.relative_to(ROOT).as_posix() for p in (ROOT / "landmarks").rglob("*.py") if "node_modules" not in p.parts),
            *(f"landmarks/{d}/{p.name}" for d in ("pictures", "detectors", "static", "web")
              for p in (ROOT / "landmarks" / d).glob("*") if p.is_file())}


def space_holds(api, space, before: set[str], weights: bool) -> int:
    """Checks that the Space holds exactly the app's files (with the bundled weights or without);
    ``before``: app_files() taken before the deploy, as a module may be added to the checkout while
    the tests run. Returns the number of files."""
    listed = set(api.list_repo_files(space, repo_type="space"))
    extra = WEIGHT_FILES if weights else set()
    assert listed in (before | extra, app_files() | extra)
    return len(listed)


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory):
    server = HubStandIn(tmp_path_factory.mktemp("hub")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(hub_server):
    return HfApi(endpoint=hub_server.url, token=HubStandIn.TOKEN)


@pytest.fixture(scope="module")
def model_repo(hub_server):
    from landmarks.hub import publish
    publish.push(BUNDLED, MODEL, endpoint=hub_server.url, token=HubStandIn.TOKEN)
    return MODEL


@pytest.fixture
def at_standin(hub_server, monkeypatch, tmp_path):
    """The CLI in this process, talking to the stand-in as it would to the Hub (HF_ENDPOINT)."""
    constants = huggingface_hub.constants  # what HF_ENDPOINT sets when huggingface_hub is imported
    monkeypatch.setattr(constants, "ENDPOINT", hub_server.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub_server.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setenv("HF_TOKEN", HubStandIn.TOKEN)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))


def cli(capsys, *args) -> tuple[int, list[str], list[str]]:
    rc = main(["deploy", *args])
    out, err = capsys.readouterr()
    return rc, out.splitlines(), err.splitlines()


def test_the_space_gets_what_it_needs_and_nothing_else(api, model_repo, at_standin, capsys):
    assert set(dep.MODEL_FILES) == {CONFIG, WEIGHTS, ONNX_FILE, EXACT_FILE, REFERENCE_FILE}  # what a model folder holds
    space = "alice/bundled"
    before = app_files()
    rc, out, err = cli(capsys, space)
    assert rc == 0, err
    n = space_holds(api, space, before, weights=True)
    assert out[0] == f"created the Space {space}: {n} files, the bundled weights"
    assert out[-1] == f"Space: {api.endpoint}/spaces/{space}"
    assert {f"landmarks/{folder.name}/{n}" for folder in NAMED.values() for n in (WEIGHTS, ONNX_FILE, EXACT_FILE)} <= WEIGHT_FILES
    info = api.space_info(space, files_metadata=True)
    assert info.sdk == "gradio" and not info.private
    sizes = {s.rfilename: s.size for s in info.siblings}
    assert sizes[f"landmarks/pretrained/{WEIGHTS}"] == (BUNDLED / WEIGHTS).stat().st_size
    assert dep.VARIABLE not in api.get_space_variables(space)

    # again, now with a Hub model: the weights leave, the variable comes
    before = app_files()
    rc, out, err = cli(capsys, space, "--model", model_repo)
    assert rc == 0, err
    n = space_holds(api, space, before, weights=False)
    assert out[0] == f"updated the Space {space}: {n} files, weights from the Hub repo {model_repo}"
    assert api.get_space_variables(space)[dep.VARIABLE].value == model_repo
    # and back: the bundled weights again, the variable gone
    before = app_files()
    assert cli(capsys, space)[0] == 0
    space_holds(api, space, before, weights=True)
    assert dep.VARIABLE not in api.get_space_variables(space)


def test_the_readme_is_the_space_card(api, hub_server, model_repo, at_standin, capsys, tmp_path):
    import gradio

    space = "alice/carded"
    assert cli(capsys, space, "--model", f"{model_repo}@main")[0] == 0
    card = SpaceCard.load(hf_hub_download(space, "README.md", repo_type="space", endpoint=hub_server.url,
                                          cache_dir=tmp_path))
    assert (card.data.sdk, card.data.app_file, card.data.sdk_version) == ("gradio", "app.py", gradio.__version__)
    assert card.data.models == [model_repo]
    assert card.text == SpaceCard((ROOT / "README.md").read_text()).text  # the body is the repository's README
    assert api.get_space_variables(space)[dep.VARIABLE].value == f"{model_repo}@main"


def test_private_space_and_private_model(api, hub_server, at_standin, capsys):
    from landmarks.hub import publish
    publish.push(BUNDLED, "bob/private-landmarks", private=True, endpoint=hub_server.url, token=HubStandIn.TOKEN)
    space = "alice/private-space"
    rc, out, err = cli(capsys, space, "--model", "bob/private-landmarks", "--private")
    assert rc == 0, err
    assert api.space_info(space).private
    (note,) = [line for line in out if "HF_TOKEN" in line]
    assert "bob/private-landmarks is private" in note and f"hf spaces secrets add {space}" in note
    # --private on an existing public Space makes it private
    assert cli(capsys, "alice/was-public")[0] == 0 and not api.space_info("alice/was-public").private
    assert cli(capsys, "alice/was-public", "--private")[0] == 0 and api.space_info("alice/was-public").private


@pytest.mark.parametrize("args, token, expected", [
    (["alice/x"], "hf_wrong", "error: the Hub refused the token (401): check --token, HF_TOKEN or `hf auth login`"),
    (["alice/taken"], HubStandIn.OTHER_TOKEN, "error: alice/taken: this token may not create Spaces in the namespace "
     "'alice' (403): the name belongs to another user or an organisation you are not in, or the token is read-only; "
     "use your own user name or a write token"),
    (["alice/x", "--model", "bob/missing"], HubStandIn.TOKEN, "error: model bob/missing: no such model repository on "
     "the Hub (or this token cannot see it); push one first: python -m landmarks push FOLDER bob/missing"),
    (["alice/x", "--model", "bob/face-landmarks@" + "0" * 40], HubStandIn.TOKEN,
     f"error: model bob/face-landmarks@{'0' * 40}: the repository bob/face-landmarks has no revision {'0' * 40}"),
    (["alice/x", "--model", "runs/mine/best"], HubStandIn.TOKEN, "error: --model runs/mine/best: not a Hub repo id "
     "(USER/MODEL[@revision]); push a local model first: python -m landmarks push FOLDER USER/MODEL"),
    (["alice/docker"], HubStandIn.TOKEN, "error: alice/docker exists and is a docker Space, not a Gradio one: "
     "pick another name"),
    (["alice"], HubStandIn.TOKEN, "error: alice: not a Space id (USER/SPACE)"),
    (["alice/x"], None, "error: no Hub token: pass --token, set HF_TOKEN or run `hf auth login` (a token that can write)"),
])
def test_each_failure_is_one_clear_line(api, model_repo, at_standin, capsys, monkeypatch, args, token, expected):
    api.create_repo("alice/taken", repo_type="space", space_sdk="gradio", exist_ok=True)
    api.create_repo("alice/docker", repo_type="space", space_sdk="docker", exist_ok=True)
    monkeypatch.delenv("HF_TOKEN")
    rc, out, err = cli(capsys, *args, *(["--token", token] if token else []))
    assert (rc, out, err) == (2, [], [expected])
    assert not api.repo_exists("alice/x", repo_type="space")  # nothing was created on the way
    assert api.list_repo_files("alice/taken", repo_type="space") == [".gitattributes", "README.md"]


class SpaceApp:
    """``python app.py`` in a folder holding what the Space holds, as the Space runs it."""

    def __init__(self, folder, env, timeout=120):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HF_TOKEN", "LANDMARKS_MODEL")}
        environ.update(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_DISABLE_TELEMETRY="1", **env)
        self.proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(self.port)],
                                     cwd=folder, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: [self.lines.append(ln.rstrip()) for ln in self.proc.stdout], daemon=True).start()
        self.started = time.monotonic()
        deadline = self.started + timeout
        while not any(ln.startswith("Serving on") for ln in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Space's app did not start:\n" + "\n".join(self.lines))
            time.sleep(0.2)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def test_a_deployed_space_starts_and_serves_a_face(hub_server, api, model_repo, tmp_path):
    space = "alice/face-landmarks"
    env = {**os.environ, "HF_ENDPOINT": hub_server.url, "HF_TOKEN": HubStandIn.TOKEN, "HF_HUB_DISABLE_TELEMETRY": "1"}
    before = app_files()
    p = subprocess.run([sys.executable, "-m", "landmarks", "deploy", space, "--model", model_repo],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-1] == f"Space: {hub_server.url}/spaces/{space}"
    space_holds(api, space, before, weights=False)  # no weights: they come from the Hub
    variables = {k: v.value for k, v in api.get_space_variables(space).items()}
    assert variables == {dep.VARIABLE: model_repo}

    # a fresh checkout of the Space, run as the Space runs it: its variables in the environment
    folder = snapshot_download(space, repo_type="space", endpoint=hub_server.url, token=HubStandIn.TOKEN,
                               local_dir=tmp_path / "space")
    assert not (tmp_path / "space" / "landmarks" / "pretrained").exists()
    before = len(hub_server.requests)
    app = SpaceApp(folder, {**variables, "HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(tmp_path / "cache")})
    try:
        config = json.loads(urlopen(app.url + "config", timeout=30).read())
        notes = [c["props"]["value"] for c in config["components"] if c.get("props", {}).get("elem_id") == "model-note"]
        assert len(notes) == 1 and f"Hub repo {model_repo}" in notes[0] and "Fell back" not in notes[0]
        client = Client(app.url, verbose=False)
        _, result, message, *_ = client.predict(handle_file(str(portrait_path())), True, False, 40, api_name="/on_photo")
        assert result["faces"] >= 1, message
        assert all(len(face["points"]) == 68 for face in result["results"])
    finally:
        app.stop()
    pulled = {path for method, path in hub_server.requests[before:] if method == "GET"}
    assert f"/{model_repo}/resolve/main/{WEIGHTS}" in pulled  # the weights came from the (stand-in) Hub


def test_a_checkout_without_git_lfs_content_is_refused(tmp_path):
    """Where the weights are Git LFS pointers (a clone without git-lfs), uploading them would
    give the Space 133-byte files in place of its model."""
    for name in ("app.py", "requirements.txt", "README.md", "landmarks/__init__.py",
                 *(f"landmarks/{d}/{n}" for d in ("pretrained", "pretrained_lite") for n in ("config.json", "model.onnx", "reference.npz")),
                 "landmarks/pretrained_lite/model.safetensors"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    (tmp_path / "landmarks/pretrained/model.safetensors").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 22580928\n")
    assert set(dep.space_files(tmp_path, bundled=False)) == {"app.py", "requirements.txt", "landmarks/__init__.py"}
    with pytest.raises(dep.DeployError, match="^landmarks/pretrained/model.safetensors is a Git LFS pointer"):
        dep.space_files(tmp_path)


def test_a_space_installs_no_torch_and_serves_a_face(hub_server, api, tmp_path):
    """The Space installs requirements.txt, which has no torch; the app, run where torch cannot be
    imported (as in that Space), serves a face with the checked int8 twin."""
    space = "alice/light-landmarks"
    env = {**os.environ, "HF_ENDPOINT": hub_server.url, "HF_TOKEN": HubStandIn.TOKEN, "HF_HUB_DISABLE_TELEMETRY": "1"}
    p = subprocess.run([sys.executable, "-m", "landmarks", "deploy", space],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    folder = Path(snapshot_download(space, repo_type="space", endpoint=hub_server.url, token=HubStandIn.TOKEN,
                                    local_dir=tmp_path / "space"))
    assert (folder / "requirements.txt").read_bytes() == (ROOT / "requirements.txt").read_bytes()
    required = {line.split("#")[0].strip().split(">")[0].split("<")[0]
                for line in (folder / "requirements.txt").read_text().splitlines() if line.split("#")[0].strip()}
    assert not required & {"torch", "torchvision", "onnxscript", "safetensors", "matplotlib"}
    assert {"onnxruntime", "gradio", "opencv-python-headless", "huggingface_hub"} <= required
    app = SpaceApp(folder, {**without_training_packages(tmp_path / "no-train"), "HF_HUB_OFFLINE": "1"})
    try:
        config = json.loads(urlopen(app.url + "config", timeout=30).read())
        (note,) = [c["props"]["value"] for c in config["components"] if c.get("props", {}).get("elem_id") == "model-note"]
        assert "the bundled model" in note and "runtime: onnx-int8: checked on this CPU" in note, note
        assert "The Webcam tab runs the bundled lite model" in note, note  # without torch, too
        client = Client(app.url, verbose=False)
        _, result, message, *_ = client.predict(handle_file(str(portrait_path())), True, False, 40, api_name="/on_photo")
        assert result["faces"] == 1, message
        assert len(result["results"][0]["points"]) == 68
    finally:
        app.stop()


def test_a_model_without_an_onnx_model_cannot_serve_a_space(api, model_repo, at_standin, capsys, tmp_path):
    # weights alone need torch, which a Space does not install: refused before anything is created
    folder = tmp_path / "plain"
    folder.mkdir()
    for name in (CONFIG, WEIGHTS):
        (folder / name).write_bytes((BUNDLED / name).read_bytes())
    api.create_repo("bob/no-onnx", exist_ok=True)
    api.upload_folder(repo_id="bob/no-onnx", folder_path=folder)
    rc, out, err = cli(capsys, "alice/light", "--model", "bob/no-onnx")
    assert rc == 2 and err == ["error: model bob/no-onnx: a Space runs the model without PyTorch, and it has no "
                               f"{ONNX_FILE} or {EXACT_FILE} with {REFERENCE_FILE}: python -m landmarks export FOLDER OUT, "
                               "then push OUT"]
    assert not api.repo_exists("alice/light", repo_type="space")
