"""Deploy the app to a Hugging Face Space: ``python -m landmarks deploy USER/SPACE [--model USER/MODEL[@rev]]``.

The Space gets what ``python app.py`` needs and nothing else: ``app.py``, ``requirements.txt``
(the app's install: no torch, ONNX Runtime runs the model), the library's modules and sample pictures, the README with the Space's front matter and, only when no Hub model is
named, the bundled weights.  With ``--model`` the Space variable ``LANDMARKS_MODEL`` names the
model repo and the app pulls the weights from the Hub when it starts.  Everything goes through
``huggingface_hub`` (large files through the Hub's LFS/Xet storage, as the client decides), so
no git and no git-lfs are needed.  Running it again updates the Space in one commit.

This module needs no torch: it only reads files and talks to the Hub.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, SpaceCard, get_token
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from ..model.folder import EXACT_FILE
from ..model.folder import INFERENCE_FILES as MODEL_FILES  # the folder module imports torch only to build a network
from ..model.folder import NAMED, ONNX_FILE, REFERENCE_FILE
from ..model.folder import REQUIRED_FILES as REQUIRED_MODEL_FILES
from .errors import REPO_ID, TOKEN_PLACES, http_status, refusal, short_error

ROOT = Path(__file__).resolve().parents[2]  # the checkout: app.py, requirements.txt, README.md, landmarks/
PACKAGE = "landmarks"
VARIABLE = "LANDMARKS_MODEL"  # read by app.py when no --model is given
TOP_FILES = ("app.py", "requirements.txt")  # plus README.md, rewritten by space_readme()
DEPLOY_TOKEN = f"--token, {TOKEN_PLACES}"  # where deploy's token comes from
LFS_POINTER = b"version https://git-lfs"  # what a checkout without git-lfs holds in place of an LFS file
SPACE_PYTHON = "3.11"  # the Python the tests and benchmarks run on


class DeployError(RuntimeError):
    """One line for the user: what went wrong and what to do."""


@dataclass
class Deployed:
    space: str
    url: str  # the Space's page on the Hub
    files: list[str]  # what the Space holds now (paths in the repo)
    model: str | None  # LANDMARKS_MODEL, or None for the bundled weights
    created: bool
    private_model: bool = False
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        weights = f"weights from the Hub repo {self.model}" if self.model else "the bundled weights"
        verb = "created" if self.created else "updated"
        return [f"{verb} the Space {self.space}: {len(self.files)} files, {weights}", *self.notes, f"Space: {self.url}"]


def unservable(names: set[str]) -> str | None:
    """Why a model folder with these files cannot serve a Space (its install has no torch:
    an ONNX model runs, checked against the reference), or None."""
    if REFERENCE_FILE not in names or not names & {ONNX_FILE, EXACT_FILE}:
        return (f"a Space runs the model without PyTorch, and it has no {ONNX_FILE} or {EXACT_FILE} with {REFERENCE_FILE}: "
                "python -m landmarks export FOLDER OUT, then push OUT")
    return None


def space_files(root: Path = ROOT, bundled: bool = True) -> dict[str, Path]:
    """Path in the Space -> local file, for everything the Space needs except README.md."""
    root = Path(root)
    missing = [name for name in (*TOP_FILES, "README.md") if not (root / name).is_file()]
    if missing:
        raise DeployError(f"{root} has no {', '.join(missing)}: deploy from a checkout of the repository")
    files = {name: root / name for name in TOP_FILES}
    # the library's modules (not web/node_modules: the page loads ONNX Runtime Web from its CDN)
    files.update({p.relative_to(root).as_posix(): p for p in sorted((root / PACKAGE).rglob("*.py")) if "node_modules" not in p.parts})
    # the public-domain pictures the app's examples are made from; the face detector's weights; the page's style
    # sheet; the Live tab's scripts and pins
    for folder in ("pictures", "detectors", "static", "web"):
        files.update({f"{PACKAGE}/{folder}/{p.name}": p for p in sorted((root / PACKAGE / folder).glob("*")) if p.is_file()})
    for name, folder in NAMED.items() if bundled else ():  # the bundled models, full and lite
        pretrained = root / PACKAGE / folder.name
        absent = [n for n in REQUIRED_MODEL_FILES if not (pretrained / n).is_file()]
        if absent:
            raise DeployError(f"{pretrained} (the bundled {name} model) has no {' and '.join(absent)}: nothing to serve without --model")
        why = unservable({p.name for p in pretrained.iterdir()})
        if why:
            raise DeployError(f"{pretrained} (the bundled {name} model): {why}")
        files.update({f"{PACKAGE}/{folder.name}/{n}": pretrained / n for n in MODEL_FILES if (pretrained / n).is_file()})
    for path, local in files.items():
        with open(local, "rb") as f:
            if f.read(len(LFS_POINTER)) == LFS_POINTER:
                raise DeployError(f"{path} is a Git LFS pointer, not the file itself: run `git lfs pull` first")
    return files


def space_readme(root: Path = ROOT, model: str | None = None) -> bytes:
    """The repository's README with the Space settings in its front matter: the Gradio and
    Python versions this was tested with, and the model repo it links to."""
    card = SpaceCard((Path(root) / "README.md").read_text(encoding="utf-8"))
    if card.data.sdk != "gradio" or card.data.app_file != "app.py":
        raise DeployError("README.md: the front matter must say `sdk: gradio` and `app_file: app.py`")
    try:
        import gradio

        card.data.sdk_version = gradio.__version__  # else the Space picks a Gradio of its own
    except ImportError:
        pass
    card.data.python_version = SPACE_PYTHON
    card.data.models = [model.partition("@")[0]] if model else None
    return str(card).encode("utf-8")


def _server_message(e: Exception) -> str:
    response = getattr(e, "response", None)
    message = response.headers.get("X-Error-Message") if response is not None else None
    return message or short_error(e)


def _check_model(api: HfApi, model: str) -> bool:
    """Whether the model repo is private; DeployError if it cannot serve the Space."""
    repo, _, revision = model.partition("@")
    if not REPO_ID.match(repo):
        raise DeployError(f"--model {model}: not a Hub repo id (USER/MODEL[@revision]); "
                          "push a local model first: python -m landmarks push FOLDER USER/MODEL")
    try:
        info = api.model_info(repo, revision=revision or None, timeout=30)
    except RevisionNotFoundError:
        raise DeployError(f"model {model}: the repository {repo} has no revision {revision}") from None
    except RepositoryNotFoundError:
        raise DeployError(f"model {repo}: no such model repository on the Hub (or this token cannot see it); "
                          f"push one first: python -m landmarks push FOLDER {repo}") from None
    except HfHubHTTPError as e:
        raise DeployError(refusal(e, f"model {model}", "read the repository", token_places=DEPLOY_TOKEN)
                          or f"model {model}: {short_error(e)}") from None
    names = {s.rfilename for s in info.siblings or []}
    absent = [n for n in REQUIRED_MODEL_FILES if n not in names]
    if absent:
        raise DeployError(f"model {model}: the repository has no {' and '.join(absent)}: not a landmarks model")
    why = unservable(names)
    if why:
        raise DeployError(f"model {model}: {why}")
    return bool(info.private)


def _create_space(api: HfApi, space: str, private: bool) -> bool:
    """Create the Space, or check that an existing one can be updated; True when created."""
    namespace = space.split("/")[0]
    try:
        api.create_repo(space, repo_type="space", space_sdk="gradio", private=private or None)
        return True
    except HfHubHTTPError as e:
        status = http_status(e)
        refused = refusal(e, space, f"create Spaces in the namespace {namespace!r}", "the name belongs to another user "
                          "or an organisation you are not in, or the token is read-only; use your own user name or a write "
                          "token", DEPLOY_TOKEN)
        if refused:
            raise DeployError(refused) from None
        if status == 402:
            raise DeployError(f"{space}: the Hub wants a subscription or billing before it runs a Gradio Space "
                              f"(402: {_server_message(e)})") from None
        if status != 409:  # 409: it exists already
            raise
    info = api.space_info(space, timeout=30)
    if info.sdk != "gradio":
        raise DeployError(f"{space} exists and is a {info.sdk} Space, not a Gradio one: pick another name") from None
    if private and not info.private:
        api.update_repo_settings(space, private=True, repo_type="space")
    return False


def deploy(space: str, model: str | None = None, private: bool = False, token: str | None = None,
           endpoint: str | None = None, root: Path = ROOT) -> Deployed:
    """Create or update the Space ``space`` (``user/name``) so that it serves the app.

    ``model`` (``user/repo[@rev]``) is set as the Space variable ``LANDMARKS_MODEL`` and the bundled
    weights stay home; without it they are uploaded and the variable is removed.
    """
    if not REPO_ID.match(space):
        raise DeployError(f"{space}: not a Space id (USER/SPACE)")
    if not (token or get_token()):
        raise DeployError("no Hub token: pass --token, set HF_TOKEN or run `hf auth login` (a token that can write)")
    api = HfApi(endpoint=endpoint, token=token)
    files = space_files(root, bundled=model is None)  # before any Hub call: a broken checkout changes nothing
    readme = space_readme(root, model)
    try:
        private_model = _check_model(api, model) if model else False
        created = _create_space(api, space, private)
        current = set() if created else set(api.list_repo_files(space, repo_type="space"))
        # set before the commit, so that the build the commit starts already sees it
        if model:
            api.add_space_variable(space, VARIABLE, model, description="the model repo the app serves (user/repo[@rev])")
        elif VARIABLE in api.get_space_variables(space):
            api.delete_space_variable(space, VARIABLE)
        ops = [CommitOperationAdd("README.md", readme), *(CommitOperationAdd(path, str(local)) for path, local in files.items())]
        # files of an earlier deploy that this one does not need (the weights, a module since removed);
        # what the user added elsewhere in the Space stays
        wanted = {"README.md", *files}
        ops += [CommitOperationDelete(p) for p in sorted(current)
                if p.startswith(f"{PACKAGE}/") and p not in wanted]
        what = f"model {model}" if model else "the bundled model"
        api.create_commit(space, ops, repo_type="space", commit_message=f"Deploy the landmarks app ({what})")
        listed = sorted(api.list_repo_files(space, repo_type="space"))
    except DeployError:
        raise
    except HfHubHTTPError as e:
        raise DeployError(refusal(e, space, "write to the Space", "it belongs to someone else, or the token is read-only",
                                  DEPLOY_TOKEN) or f"deploy to {space} failed: {short_error(e)}") from None
    except Exception as e:  # network, timeouts: whatever the client's HTTP stack raises
        raise DeployError(f"deploy to {space} failed: {short_error(e)}") from None

    notes = []
    if model and private_model:
        notes.append(f"the model repo {model.partition('@')[0]} is private: give the Space a read token for it as "
                     f"the secret HF_TOKEN (the Space's Settings, 'Variables and secrets', or "
                     f"`hf spaces secrets add {space} --secrets-file -` with the line HF_TOKEN=... on stdin); "
                     "use a read-only token, not this write token")
    url = f"{api.endpoint.rstrip('/')}/spaces/{space}"
    return Deployed(space, url, listed, model, created, private_model, notes)

