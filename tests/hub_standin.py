"""A small local stand-in for the Hugging Face Hub HTTP API, for tests.

It serves just enough of the Hub's REST API for the real, unmodified ``huggingface_hub`` client
to create model repos, commit files, read repo info and file listings, and download files through
``/resolve``, over real HTTP on 127.0.0.1. Every file is uploaded in "regular" mode (base64 inline
in the commit payload), so the client never goes through LFS or Xet storage.

Repos live on disk, so a stand-in restarted on the same folder sees them again::

    <root>/<namespace>/<name>/repo.json    private flag, "main" head and every commit's file list
    <root>/<namespace>/<name>/blobs/<id>   file contents, keyed by their git blob id
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import uvicorn
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse

# What the Hub puts in a new repo's first commit; mirrored so listings look like the Hub's.
GITATTRIBUTES = b"*.bin filter=lfs diff=lfs merge=lfs -text\n*.pt filter=lfs diff=lfs merge=lfs -text\n"


class HubError(Exception):
    """An error answered as the Hub answers it: the client maps X-Error-Code to its exception types."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message = status, message
        self.headers = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {}), **(headers or {})}


def git_blob_id(data: bytes) -> str:
    # The id git (and the Hub) gives a blob; the client compares it with its own to skip unchanged files.
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    # The one date format huggingface_hub's parse_datetime accepts.
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_app(root: Path, token: str, log: list) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def record(request: Request, call_next):
        log.append((request.method, request.url.path))  # lets tests check which endpoints the client used
        return await call_next(request)

    @app.exception_handler(HubError)
    async def hub_error(request: Request, exc: HubError):
        return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)

    def authenticated(request: Request) -> bool:
        header = request.headers.get("authorization")
        if header is None:
            return False
        if header != f"Bearer {token}":
            raise HubError(401, "Invalid credentials in Authorization header")
        return True

    def load(repo_id: str) -> dict | None:
        path = root / repo_id / "repo.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def open_repo(request: Request, repo_id: str, write: bool = False) -> dict:
        authed = authenticated(request)
        repo = load(repo_id)
        if repo is None or (repo["private"] and not authed):
            # Like the Hub, a private repo looks missing: 401 to anonymous callers, 404 otherwise.
            raise HubError(404 if authed else 401, "Repository not found", "RepoNotFound")
        if write and not authed:
            raise HubError(401, "You must be authenticated to write to this repo")
        return repo

    def resolve(repo: dict, revision: str) -> str:
        sha = repo["main"] if revision == "main" else revision
        if sha not in repo["commits"]:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return sha

    def size(repo_id: str, oid: str) -> int:
        return (root / repo_id / "blobs" / oid).stat().st_size

    def commit(repo_id: str, repo: dict, added: dict[str, bytes], deleted: list[str], message: str) -> str:
        parent = repo.get("main")
        files = dict(repo["commits"][parent]["files"]) if parent else {}
        for path in (p.rstrip("/") for p in deleted):  # a file, or a folder with everything under it
            files = {p: o for p, o in files.items() if p != path and not p.startswith(path + "/")}
        (root / repo_id / "blobs").mkdir(parents=True, exist_ok=True)
        for path, data in added.items():
            files[path] = oid = git_blob_id(data)
            blob = root / repo_id / "blobs" / oid
            if not blob.exists():
                blob.write_bytes(data)
        sha = secrets.token_hex(20)  # any fresh 40-hex id will do; old ones stay in history
        repo["commits"][sha] = {"parent": parent, "message": message, "date": _now(), "files": files}
        repo["main"] = sha
        (root / repo_id / "repo.json").write_text(json.dumps(repo))
        return sha

    @app.post("/api/repos/create")
    async def create_repo(request: Request):
        body = await request.json()
        if not authenticated(request):
            raise HubError(401, "Invalid username or password.")
        if body.get("type", "model") != "model":
            raise HubError(400, "The hub stand-in only hosts model repos")
        repo_id = f"{body.get('organization') or 'user'}/{body['name']}"
        url = f"{str(request.base_url).rstrip('/')}/{repo_id}"
        if load(repo_id) is not None:
            return JSONResponse({"error": "You already created this model repo", "url": url}, 409)
        # Newer clients send "visibility", older ones "private".
        private = body.get("visibility", "private" if body.get("private") else "public") == "private"
        repo = {"private": private, "created": _now(), "main": None, "commits": {}}
        commit(repo_id, repo, {".gitattributes": GITATTRIBUTES}, [], "initial commit")
        return {"url": url, "name": repo_id, "id": repo_id}

    @app.post("/api/validate-yaml")
    async def validate_yaml(request: Request):
        # the client checks a README's front matter here before committing it
        content = (await request.json()).get("content", "")
        if content.startswith("---"):
            try:
                yaml.safe_load(content.split("---", 2)[1])
            except yaml.YAMLError as e:
                raise HubError(400, f"Invalid metadata in README.md: {e}")
        return {"errors": [], "warnings": []}

    @app.get("/api/models/{ns}/{name}")
    @app.get("/api/models/{ns}/{name}/revision/{revision}")
    async def model_info(request: Request, ns: str, name: str, revision: str = "main"):
        repo_id = f"{ns}/{name}"
        repo = open_repo(request, repo_id)
        sha = resolve(repo, revision)
        c = repo["commits"][sha]
        siblings = [{"rfilename": p, "blobId": o, "size": size(repo_id, o)} for p, o in sorted(c["files"].items())]
        return {"id": repo_id, "modelId": repo_id, "author": ns, "sha": sha, "private": repo["private"],
                "gated": False, "disabled": False, "createdAt": repo["created"], "lastModified": c["date"],
                "tags": [], "downloads": 0, "likes": 0, "siblings": siblings}

    @app.get("/api/models/{ns}/{name}/tree/{revision}")
    @app.get("/api/models/{ns}/{name}/tree/{revision}/{path:path}")
    async def tree(request: Request, ns: str, name: str, revision: str, path: str = ""):
        repo_id = f"{ns}/{name}"
        repo = open_repo(request, repo_id)
        files = repo["commits"][resolve(repo, revision)]["files"]
        recursive = request.query_params.get("recursive", "false").lower() in ("1", "true")
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        entries: dict[str, dict] = {}
        for p, oid in sorted(files.items()):
            if not p.startswith(prefix):
                continue
            parts = p[len(prefix):].split("/")
            # Folders between `prefix` and the file: all of them when recursive, else only the first.
            for depth in range(1, len(parts) if recursive else min(len(parts), 2)):
                folder = prefix + "/".join(parts[:depth])
                entries.setdefault(folder, {"type": "directory", "path": folder,
                                            "oid": hashlib.sha1(folder.encode()).hexdigest()})
            if recursive or len(parts) == 1:
                entries[p] = {"type": "file", "path": p, "size": size(repo_id, oid), "oid": oid}
        if prefix and not entries:
            raise HubError(404, f"{path} does not exist on {revision}", "EntryNotFound")
        return list(entries.values())  # one page: no Link header, so the client stops here

    @app.post("/api/models/{ns}/{name}/preupload/{revision}")
    async def preupload(request: Request, ns: str, name: str, revision: str):
        repo = open_repo(request, f"{ns}/{name}", write=True)
        files = repo["commits"][resolve(repo, revision)]["files"]
        # "regular" for every file => contents come base64 inline in the commit; no LFS, no Xet.
        # "oid" is the current blob id, which the client uses to drop unchanged files from the commit.
        wanted = (await request.json())["files"]
        return {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                           "oid": files.get(f["path"])} for f in wanted]}

    @app.post("/api/models/{ns}/{name}/commit/{revision}")
    async def create_commit(request: Request, ns: str, name: str, revision: str):
        # Read the body before loading the repo: handlers run on one event loop and nothing awaits
        # between load and save below, so concurrent commits cannot overwrite each other.
        payload = await request.body()
        repo_id = f"{ns}/{name}"
        repo = open_repo(request, repo_id, write=True)
        head = resolve(repo, revision)
        if revision != "main" or request.query_params.get("create_pr"):
            raise HubError(400, "The hub stand-in only commits to main (no branches, no pull requests)")
        added: dict[str, bytes] = {}
        deleted: list[str] = []
        message = ""
        for line in payload.splitlines():  # ndjson: one operation per line
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                message = value.get("summary", "")
                if value.get("parentCommit") not in (None, head):
                    raise HubError(412, "A commit has happened since. Please refresh and try again.")
            elif key == "file" and value.get("encoding") == "base64":
                added[value["path"]] = base64.b64decode(value["content"])
            elif key in ("deletedFile", "deletedFolder"):
                deleted.append(value["path"])
            else:  # e.g. "lfsFile": we never ask for LFS uploads, so there is no object to point to
                raise HubError(400, f"The hub stand-in does not support commit operation {key!r}")
        sha = commit(repo_id, repo, added, deleted, message)
        base = str(request.base_url).rstrip("/")
        return {"commitUrl": f"{base}/{repo_id}/commit/{sha}", "commitOid": sha, "success": True,
                "pullRequestUrl": None}

    @app.api_route("/{ns}/{name}/resolve/{revision}/{path:path}", methods=["GET", "HEAD"])
    async def resolve_file(request: Request, ns: str, name: str, revision: str, path: str):
        repo_id = f"{ns}/{name}"
        repo = open_repo(request, repo_id)
        sha = resolve(repo, revision)
        oid = repo["commits"][sha]["files"].get(path)
        if oid is None:
            # X-Repo-Commit lets the client cache the file's absence for that commit.
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
        # The client needs ETag (cache key), X-Repo-Commit and Content-Length (FileResponse sets it,
        # answers HEAD without a body and serves Range requests for resumed downloads).
        return FileResponse(root / repo_id / "blobs" / oid, media_type="application/octet-stream",
                            headers={"ETag": f'"{oid}"', "X-Repo-Commit": sha})

    return app


class HubStandIn:
    """The stand-in Hub served by uvicorn in a background thread; ``with HubStandIn() as hub: hub.url``.

    ``root`` is where repos are stored (a temporary folder, removed with the object, if not given).
    ``port`` 0 picks a free port; after ``stop()``, ``start()`` serves again on the same port.
    ``requests`` records (method, path) of every request received.
    """

    TOKEN = "hf_standin_token"

    def __init__(self, root: str | Path | None = None, port: int = 0):
        self._tmp = None if root is not None else tempfile.TemporaryDirectory(prefix="hub-standin-")
        self.root = Path(root if root is not None else self._tmp.name)
        self.port = port
        self.requests: list[tuple[str, str]] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "HubStandIn":
        if self._thread is not None:
            return self
        # Bind the socket ourselves: the port is known before serving and no other process can take it.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        app = make_app(self.root, self.TOKEN, self.requests)
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._sock = sock
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("hub stand-in did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()
        self._server = self._thread = None

    def __enter__(self) -> "HubStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
