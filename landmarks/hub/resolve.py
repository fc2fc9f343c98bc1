"""A model by its spec: a bundled model's name (``full``, ``lite``), a local ``save_pretrained``
folder or a Hub repo id with an optional revision, ``user/repo@rev``.  Downloads go through
``huggingface_hub`` and its cache; the token comes from the usual places (``HF_TOKEN``,
``hf auth login``), never from code.  Publishing (export, card, push) is ``publish.py``."""
from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from ..model.folder import (
    BUNDLED,
    CONFIG,
    EXACT_FILE,
    NAMED,
    ONNX_FILE,
    REFERENCE_FILE,
    WEIGHTS,
    LoadedModel,
    ModelError,
    load_folder,
)
from .errors import REPO_ID, refusal, short_error


def parse_spec(spec: str | Path) -> tuple[str, str | None] | None:
    """``None`` for a local folder (existing or not), else (repo_id, revision)."""
    repo, _, revision = str(spec).partition("@")
    if Path(spec).exists() or not REPO_ID.match(repo):
        return None
    return repo, revision or None


def download(repo_id: str, revision: str | None = None, local_only: bool = False, endpoint: str | None = None) -> Path:
    """The folder (in the Hub cache) holding the repo's weights and config."""
    paths = [
        hf_hub_download(repo_id, name, revision=revision, local_files_only=local_only, endpoint=endpoint)
        for name in (CONFIG, WEIGHTS)
    ]
    # optional: the fast CPU twin, the exact ONNX model, and what both are checked against
    for name in (ONNX_FILE, EXACT_FILE, REFERENCE_FILE):
        try:
            hf_hub_download(repo_id, name, revision=revision, local_files_only=local_only, endpoint=endpoint)
        except (EntryNotFoundError, LocalEntryNotFoundError):
            pass
    return Path(paths[0]).parent


def _fetch(repo: str, revision: str | None, endpoint: str | None) -> Path:
    HfApi(endpoint=endpoint).model_info(repo, revision=revision, timeout=10)
    return download(repo, revision, endpoint=endpoint)


def _within(deadline: float, fn, *args):
    """``fn(*args)`` in a daemon thread, given up on after ``deadline`` seconds (TimeoutError):
    a Hub that stalls mid-download must not hold the app's start for minutes.  The thread
    may finish later; nothing waits for it."""
    box: dict = {}

    def work():
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # handed to the caller
            box["error"] = e

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(deadline)
    if t.is_alive():
        raise TimeoutError(f"no complete answer within {deadline:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def resolve(spec: str | Path | None = None, device="cpu", fallback: bool = True, endpoint: str | None = None,
            deadline: float | None = None) -> LoadedModel:
    """Load a model: local folder, or Hub repo -> local Hub cache -> bundled model.

    The Hub gets ``deadline`` seconds (default ``$LANDMARKS_HUB_DEADLINE``, else 60) for the
    whole download.  Without ``fallback`` a model that cannot be had raises :class:`ModelError`.
    """
    if spec is None:
        return load_folder(BUNDLED, device, "the bundled model")
    if isinstance(spec, str) and spec in NAMED:
        return load_folder(NAMED[spec], device, f"the bundled {spec} model")
    deadline = float(os.environ.get("LANDMARKS_HUB_DEADLINE", 60)) if deadline is None else deadline
    try:
        parsed = parse_spec(spec)
        if parsed is None:
            return load_folder(Path(spec), device)
        repo, revision = parsed
        name = f"{repo}@{revision}" if revision else repo
        try:
            folder = _within(deadline, _fetch, repo, revision, endpoint)
            return load_folder(folder, device, f"Hub repo {name}")
        except (RepositoryNotFoundError, RevisionNotFoundError):
            raise ModelError(f"model {name}: no such repository or revision on the Hub (or no access)") from None
        except EntryNotFoundError:
            raise ModelError(f"model {name}: the repository has no {WEIGHTS} and {CONFIG}") from None
        except ModelError:
            raise
        except Exception as e:
            refused = refusal(e, f"model {name}", "read the repository")
            if refused:  # the cache would hide a real mistake
                raise ModelError(refused) from None
            # refused, timed out, stalled, HF_HUB_OFFLINE, server error -- whatever the client's HTTP
            # stack raises (httpx in huggingface_hub 1.x, httpx2 in 2.x), the Hub is not usable: use the cache
            if isinstance(e, OfflineModeIsEnabled):
                why = "offline mode: HF_HUB_OFFLINE is set"
            elif isinstance(e, TimeoutError):
                why = f"the Hub stalled: {e}"
            else:
                why = "the Hub could not be reached"
            try:
                folder = download(repo, revision, local_only=True, endpoint=endpoint)
            except (LocalEntryNotFoundError, EntryNotFoundError):
                raise ModelError(f"model {name}: {why} ({short_error(e)}) and the local cache has no copy") from None
            return load_folder(folder, device, f"Hub repo {name}, from the local cache ({why})")
    except ModelError as e:
        if not fallback or not (BUNDLED / WEIGHTS).is_file():  # a Space deployed with --model ships no bundled weights
            raise
        return replace(load_folder(BUNDLED, device, "the bundled model"), fell_back=str(e))
