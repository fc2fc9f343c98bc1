"""A small local stand-in for the Hugging Face Hub HTTP API, for tests.

It serves just enough of the Hub's REST API for the real, unmodified ``huggingface_hub`` client
to create model repos and Spaces, commit files, read repo info and file listings, download files
through ``/resolve``, change a repo's visibility and set a Space's variables and secrets, over real
HTTP on 127.0.0.1. Every file is uploaded in "regular" mode (base64 inline in the commit payload),
so the client never goes through LFS or Xet storage. Spaces are stored, never run.

Repos live on disk, so a stand-in restarted on the same folder sees them again::

    <root>/<namespace>/<name>/repo.json    private flag, "main" head and every commit's file list
    <root>/<namespace>/<name>/blobs/<id>   file contents, keyed by their git blob id
    <root>/_spaces/<namespace>/<name>/...  the same for Spaces, whose repo.json also holds the SDK,
                                           variables and secrets
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
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
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

# What the Hub puts in a new repo's first commit; mirrored so listings look like the Hub's.
GITATTRIBUTES = b"*.bin filter=lfs diff=lfs merge=lfs -text\n*.pt filter=lfs diff=lfs merge=lfs -text\n"
KINDS = ("models", "spaces")  # the repo types served, as the client names them in /api/<kind>/...
SPACE_SDKS = ("gradio", "docker", "static", "streamlit")


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


def make_app(root: Path, token: str, log: list, faults: dict | None = None,
             users: dict[str, set[str] | None] | None = None) -> FastAPI:
    """``faults`` (read at each request): ``{"stall": seconds}`` makes file downloads send
    their first bytes, then hang that long, as a Hub stalling mid-download does.

    ``users`` maps each accepted token to the namespaces it may create repos in and write to
    (``None``: all of them); default ``{token: None}``.  A token limited to its own namespace is
    a second user, for whom the others' names are taken."""
    app = FastAPI()
    faults = {} if faults is None else faults
    users = {token: None} if users is None else users

    @app.middleware("http")
    async def record(request: Request, call_next):
        log.append((request.method, request.url.path))  # lets tests check which endpoints the client used
        return await call_next(request)

    @app.exception_handler(HubError)
    async def hub_error(request: Request, exc: HubError):
        return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)

    def caller(request: Request):
        """False for an anonymous request, else the namespaces the token may write (None: all)."""
        header = request.headers.get("authorization")
        if header is None:
            return False
        sent = header.removeprefix("Bearer ")
        if not header.startswith("Bearer ") or sent not in users:
            raise HubError(401, "Invalid credentials in Authorization header")
        return users[sent]

    def kind_of(kind: str) -> str:
        if kind not in KINDS:
            raise HubError(404, f"The hub stand-in has no /api/{kind}")
        return kind

    def folder(kind: str, repo_id: str) -> Path:
        # model repos where they always were; Spaces apart, as a model and a Space may share a name
        return root / repo_id if kind == "models" else root / "_spaces" / repo_id

    def load(kind: str, repo_id: str) -> dict | None:
        path = folder(kind, repo_id) / "repo.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def save(kind: str, repo_id: str, repo: dict) -> None:
        (folder(kind, repo_id) / "repo.json").write_text(json.dumps(repo))

    def open_repo(request: Request, kind: str, repo_id: str, write: bool = False) -> dict:
        who = caller(request)
        repo = load(kind, repo_id)
        if repo is None or (repo["private"] and who is False):
            # Like the Hub, a private repo looks missing: 401 to anonymous callers, 404 otherwise.
            raise HubError(404 if who is not False else 401, "Repository not found", "RepoNotFound")
        if write and who is False:
            raise HubError(401, "You must be authenticated to write to this repo")
        if write and who is not None and repo_id.split("/")[0] not in who:
            raise HubError(403, "You don't have the rights to write to this repo")
        return repo

    def resolve(repo: dict, revision: str) -> str:
        sha = repo["main"] if revision == "main" else revision
        if sha not in repo["commits"]:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return sha

    def size(kind: str, repo_id: str, oid: str) -> int:
        return (folder(kind, repo_id) / "blobs" / oid).stat().st_size

    def commit(kind: str, repo_id: str, repo: dict, added: dict[str, bytes], deleted: list[str], message: str) -> str:
        parent = repo.get("main")
        files = dict(repo["commits"][parent]["files"]) if parent else {}
        for path in (p.rstrip("/") for p in deleted):  # a file, or a folder with everything under it
            files = {p: o for p, o in files.items() if p != path and not p.startswith(path + "/")}
        blobs = folder(kind, repo_id) / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        for path, data in added.items():
            files[path] = oid = git_blob_id(data)
            if not (blobs / oid).exists():
                (blobs / oid).write_bytes(data)
        sha = secrets.token_hex(20)  # any fresh 40-hex id will do; old ones stay in history
        repo["commits"][sha] = {"parent": parent, "message": message, "date": _now(), "files": files}
        repo["main"] = sha
        save(kind, repo_id, repo)
        return sha

    @app.post("/api/repos/create")
    async def create_repo(request: Request):
        body = await request.json()
        who = caller(request)
        if who is False:
            raise HubError(401, "Invalid username or password.")
        repo_type = body.get("type", "model")
        if repo_type not in ("model", "space"):
            raise HubError(400, "The hub stand-in only hosts model repos and Spaces")
        ns = body.get("organization") or "user"
        if who is not None and ns not in who:
            raise HubError(403, f'You don\'t have the rights to create a {repo_type} under the namespace "{ns}"')
        kind = repo_type + "s"
        repo_id = f"{ns}/{body['name']}"
        prefix = "spaces/" if kind == "spaces" else ""
        url = f"{str(request.base_url).rstrip('/')}/{prefix}{repo_id}"
        if load(kind, repo_id) is not None:
            return JSONResponse({"error": f"You already created this {repo_type} repo", "url": url}, 409)
        # Newer clients send "visibility", older ones "private".
        private = body.get("visibility", "private" if body.get("private") else "public") == "private"
        repo = {"private": private, "created": _now(), "main": None, "commits": {}}
        initial = {".gitattributes": GITATTRIBUTES}
        if kind == "spaces":
            sdk = body.get("sdk")
            if sdk not in SPACE_SDKS:
                raise HubError(400, f"Invalid sdk {sdk!r}: one of {', '.join(SPACE_SDKS)}")
            repo.update(sdk=sdk, variables={}, secrets={})
            for key in ("variables", "secrets"):
                for item in body.get(key) or []:
                    repo[key][item["key"]] = {"value": item["value"], "description": item.get("description"),
                                              "updatedAt": _now()}
            # like the Hub, a new Space starts with a README whose front matter names its SDK
            initial["README.md"] = (f"---\ntitle: {body['name']}\nemoji: 🚀\ncolorFrom: blue\ncolorTo: red\n"
                                    f"sdk: {sdk}\npinned: false\n---\n\nA new Space.\n").encode()
        commit(kind, repo_id, repo, initial, [], "initial commit")
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

    @app.get("/api/{kind}/{ns}/{name}")
    @app.get("/api/{kind}/{ns}/{name}/revision/{revision}")
    async def repo_info(request: Request, kind: str, ns: str, name: str, revision: str = "main"):
        repo_id = f"{ns}/{name}"
        repo = open_repo(request, kind_of(kind), repo_id)
        sha = resolve(repo, revision)
        c = repo["commits"][sha]
        siblings = [{"rfilename": p, "blobId": o, "size": size(kind, repo_id, o)} for p, o in sorted(c["files"].items())]
        info = {"id": repo_id, "author": ns, "sha": sha, "private": repo["private"],
                "gated": False, "disabled": False, "createdAt": repo["created"], "lastModified": c["date"],
                "tags": [], "likes": 0, "siblings": siblings}
        if kind == "models":
            info.update(modelId=repo_id, downloads=0)
        else:
            info.update(sdk=repo["sdk"])
        return info

    @app.put("/api/{kind}/{ns}/{name}/settings")
    async def settings(request: Request, kind: str, ns: str, name: str):
        repo_id = f"{ns}/{name}"
        repo = open_repo(request, kind_of(kind), repo_id, write=True)
        body = await request.json()
        if "visibility" in body or "private" in body:
            repo["private"] = body.get("visibility", "private" if body.get("private") else "public") == "private"
        save(kind, repo_id, repo)
        return {}

    @app.get("/api/{kind}/{ns}/{name}/tree/{revision}")
    @app.get("/api/{kind}/{ns}/{name}/tree/{revision}/{path:path}")
    async def tree(request: Request, kind: str, ns: str, name: str, revision: str, path: str = ""):
        repo_id = f"{ns}/{name}"
        repo = open_repo(request, kind_of(kind), repo_id)
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
                sub = prefix + "/".join(parts[:depth])
                entries.setdefault(sub, {"type": "directory", "path": sub,
                                         "oid": hashlib.sha1(sub.encode()).hexdigest()})
            if recursive or len(parts) == 1:
                entries[p] = {"type": "file", "path": p, "size": size(kind, repo_id, oid), "oid": oid}
        if prefix and not entries:
            raise HubError(404, f"{path} does not exist on {revision}", "EntryNotFound")
        return list(entries.values())  # one page: no Link header, so the client stops here

    @app.post("/api/{kind}/{ns}/{name}/preupload/{revision}")
    async def preupload(request: Request, kind: str, ns: str, name: str, revision: str):
        repo = open_repo(request, kind_of(kind), f"{ns}/{name}", write=True)
        files = repo["commits"][resolve(repo, revision)]["files"]
        # "regular" for every file => contents come base64 inline in the commit; no LFS, no Xet.
        # "oid" is the current blob id, which the client uses to drop unchanged files from the commit.
        wanted = (await request.json())["files"]
        return {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                           "oid": files.get(f["path"])} for f in wanted]}

    @app.post("/api/{kind}/{ns}/{name}/commit/{revision}")
    async def create_commit(request: Request, kind: str, ns: str, name: str, revision: str):
        # Read the body before loading the repo: handlers run on one event loop and nothing awaits
        # between load and save below, so concurrent commits cannot overwrite each other.
        payload = await request.body()
        repo_id = f"{ns}/{name}"
        repo = open_repo(request, kind_of(kind), repo_id, write=True)
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
        sha = commit(kind, repo_id, repo, added, deleted, message)
        base = str(request.base_url).rstrip("/")
        prefix = "spaces/" if kind == "spaces" else ""
        return {"commitUrl": f"{base}/{prefix}{repo_id}/commit/{sha}", "commitOid": sha, "success": True,
                "pullRequestUrl": None}

    # ---- Space settings: variables (readable) and secrets (write-only) -------------------------

    def space_repo(request: Request, ns: str, name: str) -> tuple[str, dict]:
        repo_id = f"{ns}/{name}"
        return repo_id, open_repo(request, "spaces", repo_id, write=True)  # reading them too is for its owners

    def listing(entries: dict, with_values: bool) -> dict:
        return {k: {**({"value": v["value"]} if with_values else {}), "description": v.get("description"),
                    "updatedAt": v["updatedAt"]} for k, v in entries.items()}

    for key, with_values in (("variables", True), ("secrets", False)):
        def handlers(key=key, with_values=with_values):
            @app.get(f"/api/spaces/{{ns}}/{{name}}/{key}")
            async def get_entries(request: Request, ns: str, name: str):
                _, repo = space_repo(request, ns, name)
                return listing(repo[key], with_values)

            @app.post(f"/api/spaces/{{ns}}/{{name}}/{key}")
            async def add_entry(request: Request, ns: str, name: str):
                body = await request.json()
                repo_id, repo = space_repo(request, ns, name)
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", body.get("key") or ""):
                    raise HubError(400, f"Invalid {key[:-1]} key {body.get('key')!r}")
                repo[key][body["key"]] = {"value": str(body["value"]), "description": body.get("description"),
                                          "updatedAt": _now()}
                save("spaces", repo_id, repo)
                return listing(repo[key], with_values) if with_values else None

            @app.delete(f"/api/spaces/{{ns}}/{{name}}/{key}")
            async def delete_entry(request: Request, ns: str, name: str):
                body = await request.json()
                repo_id, repo = space_repo(request, ns, name)
                repo[key].pop(body.get("key"), None)
                save("spaces", repo_id, repo)
                return listing(repo[key], with_values) if with_values else None

        handlers()

    async def serve_file(request: Request, kind: str, ns: str, name: str, revision: str, path: str):
        repo_id = f"{ns}/{name}"
        repo = open_repo(request, kind, repo_id)
        sha = resolve(repo, revision)
        oid = repo["commits"][sha]["files"].get(path)
        if oid is None:
            # X-Repo-Commit lets the client cache the file's absence for that commit.
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
        headers = {"ETag": f'"{oid}"', "X-Repo-Commit": sha}
        blob = folder(kind, repo_id) / "blobs" / oid
        if faults.get("stall") and request.method == "GET":
            async def stalling():
                yield blob.read_bytes()[:1024]
                await asyncio.sleep(faults["stall"])

            return StreamingResponse(stalling(), media_type="application/octet-stream",
                                     headers={**headers, "Content-Length": str(blob.stat().st_size)})
        # The client needs ETag (cache key), X-Repo-Commit and Content-Length (FileResponse sets it,
        # answers HEAD without a body and serves Range requests for resumed downloads).
        return FileResponse(blob, media_type="application/octet-stream", headers=headers)

    @app.api_route("/spaces/{ns}/{name}/resolve/{revision}/{path:path}", methods=["GET", "HEAD"])
    async def resolve_space_file(request: Request, ns: str, name: str, revision: str, path: str):
        return await serve_file(request, "spaces", ns, name, revision, path)

    @app.api_route("/{ns}/{name}/resolve/{revision}/{path:path}", methods=["GET", "HEAD"])
    async def resolve_file(request: Request, ns: str, name: str, revision: str, path: str):
        return await serve_file(request, "models", ns, name, revision, path)

    return app


class HubStandIn:
    """The stand-in Hub served by uvicorn in a background thread; ``with HubStandIn() as hub: hub.url``.

    ``root`` is where repos are stored (a temporary folder, removed with the object, if not given).
    ``port`` 0 picks a free port; after ``stop()``, ``start()`` serves again on the same port.
    ``requests`` records (method, path) of every request received.
    """

    TOKEN = "hf_standin_token"  # may create and write in every namespace
    OTHER_TOKEN = "hf_standin_mallory"  # another user: only the namespace "mallory" is theirs

    def __init__(self, root: str | Path | None = None, port: int = 0):
        self._tmp = None if root is not None else tempfile.TemporaryDirectory(prefix="hub-standin-")
        self.root = Path(root if root is not None else self._tmp.name)
        self.port = port
        self.requests: list[tuple[str, str]] = []
        self.faults: dict = {}  # see make_app
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
        app = make_app(self.root, self.TOKEN, self.requests, self.faults,
                       users={self.TOKEN: None, self.OTHER_TOKEN: {"mallory"}})
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
