"""The real huggingface_hub client pushing to and pulling from the local Hub stand-in over HTTP."""

import json
import os

# Read by huggingface_hub at import time; the endpoint itself is always passed explicitly.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402
from hub_standin import HubStandIn  # noqa: E402
from huggingface_hub import HfApi, hf_hub_download, snapshot_download  # noqa: E402
from huggingface_hub.errors import (  # noqa: E402
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

TOKEN = HubStandIn.TOKEN
REPO = "standin/landmarks-model"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    (folder / "config.json").write_text(json.dumps({"points": 68, "size": 256}))
    (folder / "weights.bin").write_bytes(os.urandom(20 * 2**20))
    return folder


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with HubStandIn(tmp_path_factory.mktemp("hub")) as hub:
        yield hub


def download(hub, filename, cache, repo=REPO, **kwargs):
    kwargs.setdefault("token", TOKEN)
    return hf_hub_download(repo, filename, endpoint=hub.url, cache_dir=cache, **kwargs)


def test_push_and_pull(tmp_path, model_dir):
    # Its own stand-in, since this test stops it.
    hub = HubStandIn(tmp_path / "hub").start()
    try:
        api = HfApi(endpoint=hub.url, token=TOKEN)
        api.create_repo(REPO, private=False, exist_ok=True)
        api.create_repo(REPO, private=False, exist_ok=True)  # exists already: fine with exist_ok
        first = api.upload_folder(repo_id=REPO, folder_path=model_dir, commit_message="first")
        assert len(first.oid) == 40 and first.commit_url == f"{hub.url}/{REPO}/commit/{first.oid}"
        assert sorted(api.list_repo_files(REPO)) == [".gitattributes", "config.json", "weights.bin"]
        info = api.model_info(REPO, revision=first.oid)
        assert info.sha == first.oid and not info.private
        assert {s.rfilename: s.size for s in info.siblings}["weights.bin"] == 20 * 2**20

        cache = tmp_path / "cache"
        for name in ("config.json", "weights.bin"):
            path = download(hub, name, cache)
            assert open(path, "rb").read() == (model_dir / name).read_bytes()

        # A second commit; the first one's sha still resolves to the old content.
        second = api.upload_file(path_or_fileobj=b'{"points": 98}', path_in_repo="config.json", repo_id=REPO)
        assert second.oid != first.oid and api.model_info(REPO).sha == second.oid
        old = download(hub, "config.json", tmp_path / "cache-by-sha", revision=first.oid)
        assert open(old, "rb").read() == (model_dir / "config.json").read_bytes()
        assert open(download(hub, "config.json", cache), "rb").read() == b'{"points": 98}'
        # Unchanged content makes no new commit.
        same = api.upload_file(path_or_fileobj=b'{"points": 98}', path_in_repo="config.json", repo_id=REPO)
        assert same.oid == second.oid

        snapshot = snapshot_download(REPO, endpoint=hub.url, cache_dir=tmp_path / "snap", token=TOKEN)
        assert sorted(os.listdir(snapshot)) == [".gitattributes", "config.json", "weights.bin"]
        # Everything went through regular (inline) uploads: the client never reached for LFS or Xet.
        assert not [p for _, p in hub.requests if "lfs" in p or "xet" in p]

        hub.stop()  # the Hub is now unreachable: the cache still answers
        # (weights.bin was cached at the first commit; "main" now names the second one)
        cached = download(hub, "weights.bin", cache, revision=first.oid, local_files_only=True)
        assert open(cached, "rb").read() == (model_dir / "weights.bin").read_bytes()
        assert open(download(hub, "config.json", cache, local_files_only=True), "rb").read() == b'{"points": 98}'
        # Without local_files_only the refused connection also falls back to the cache.
        assert open(download(hub, "config.json", cache), "rb").read() == b'{"points": 98}'

        hub.start()  # same port, same repos
        assert api.model_info(REPO).sha == second.oid
    finally:
        hub.stop()


def test_errors(hub, tmp_path):
    api = HfApi(endpoint=hub.url, token=TOKEN)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("standin/missing")
    with pytest.raises(RepositoryNotFoundError):
        download(hub, "config.json", tmp_path, repo="standin/missing")

    api.create_repo("standin/secret", private=True, exist_ok=True)
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id="standin/secret")
    assert api.model_info("standin/secret").private
    with pytest.raises(RepositoryNotFoundError):
        download(hub, "config.json", tmp_path, repo="standin/secret", token=False)
    anonymous = HfApi(endpoint=hub.url, token=False)
    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info("standin/secret")
    assert open(download(hub, "config.json", tmp_path, repo="standin/secret"), "rb").read() == b"{}"

    with pytest.raises(EntryNotFoundError):
        download(hub, "nothing.bin", tmp_path, repo="standin/secret")
    with pytest.raises(RevisionNotFoundError):
        download(hub, "config.json", tmp_path, repo="standin/secret", revision="0" * 40)
    api.create_repo("standin/public", exist_ok=True)
    with pytest.raises(HfHubHTTPError):  # writes need the token, and the right one
        anonymous.upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id="standin/public")
    with pytest.raises(HfHubHTTPError):
        HfApi(endpoint=hub.url, token="hf_wrong").create_repo("standin/other")
