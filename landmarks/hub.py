"""Hugging Face Hub I/O: model specs, pushing a model with its card, pulling with fallbacks.

A model *spec* is a local ``save_pretrained`` folder or a Hub repo id with an optional
revision, ``user/repo@rev``.  Downloads go through ``huggingface_hub`` and its cache;
the token comes from the usual places (``HF_TOKEN``, ``hf auth login``), never from code.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, ModelCard, ModelCardData, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .hub_errors import REPO_ID, http_status, short_error
from .models import BUNDLED, CONFIG, WEIGHTS, ModelError, load_folder, upgrade_config
from .preprocess import Preprocess
from .network import LandmarkNet
from .runtime import ONNX_FILE, REFERENCE_FILE, write_reference

METRICS, CED_PLOT = "metrics.json", "ced.png"
RUN_FILES = ("log.csv", "log.json", "curves.png")  # the training log travels with the model


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
    for name in (ONNX_FILE, REFERENCE_FILE):  # optional: the fast CPU twin and what it is checked against
        try:
            hf_hub_download(repo_id, name, revision=revision, local_files_only=local_only, endpoint=endpoint)
        except (EntryNotFoundError, LocalEntryNotFoundError):
            pass
    return Path(paths[0]).parent


@dataclass
class Resolved:
    model: LandmarkNet
    source: str  # which model, from where: shown to people
    fell_back: str | None = None  # why the requested model was not used


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



def resolve(spec: str | Path | None, device="cpu", fallback: bool = True, endpoint: str | None = None,
            deadline: float | None = None) -> Resolved:
    """Load a model: local folder, or Hub repo -> local Hub cache -> bundled model.

    The Hub gets ``deadline`` seconds (default ``$LANDMARKS_HUB_DEADLINE``, else 60) for the
    whole download.  Without ``fallback`` a model that cannot be had raises :class:`ModelError`.
    """
    if spec is None:
        return Resolved(load_folder(BUNDLED, device), "the bundled model")
    deadline = float(os.environ.get("LANDMARKS_HUB_DEADLINE", 60)) if deadline is None else deadline
    try:
        parsed = parse_spec(spec)
        if parsed is None:
            return Resolved(load_folder(Path(spec), device), f"local folder {spec}")
        repo, revision = parsed
        name = f"{repo}@{revision}" if revision else repo
        try:
            folder = _within(deadline, _fetch, repo, revision, endpoint)
            return Resolved(load_folder(folder, device), f"Hub repo {name}")
        except (RepositoryNotFoundError, RevisionNotFoundError):
            raise ModelError(f"model {name}: no such repository or revision on the Hub (or no access)") from None
        except EntryNotFoundError:
            raise ModelError(f"model {name}: the repository has no {WEIGHTS} and {CONFIG}") from None
        except ModelError:
            raise
        except Exception as e:
            status = http_status(e)
            if status == 401:  # a token was sent and refused: the cache would hide a real mistake
                raise ModelError(f"model {name}: unauthorised: the Hub refused the token (401); "
                                 "check HF_TOKEN or `hf auth login`") from None
            if status == 403:
                raise ModelError(f"model {name}: forbidden: this token has no access to the repository (403)") from None
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
            return Resolved(load_folder(folder, device), f"Hub repo {name}, from the local cache ({why})")
    except ModelError as e:
        if not fallback or not (BUNDLED / WEIGHTS).is_file():  # a Space deployed with --model ships no bundled weights
            raise
        return Resolved(load_folder(BUNDLED, device), "the bundled model", fell_back=str(e))


def load_model(spec: str | Path | None = None, device="cpu") -> LandmarkNet:
    """The model a spec names (default: the bundled one), or ModelError; no silent fallback."""
    return resolve(spec, device, fallback=False).model



# ---- pushing ----------------------------------------------------------------


class PushError(RuntimeError):
    """The Hub refused or could not be reached; the local model is untouched."""


def model_card(folder: Path, repo_id: str | None = None) -> ModelCard:
    """The card for a model folder: metadata, figures from metrics.json, how to load it."""
    config = upgrade_config(json.loads((folder / CONFIG).read_text()))
    pre = Preprocess(**config.get("preprocess", {})).to_dict()
    metrics = json.loads((folder / METRICS).read_text()) if (folder / METRICS).is_file() else None
    data = ModelCardData(
        library_name="landmarks",
        license="other",
        license_name="300w-research-only",
        license_link="https://ibug.doc.ic.ac.uk/resources/300-W/",
        tags=["face-landmarks", "face-alignment", "68-points", "300-W", "pytorch_model_hub_mixin"],
        pipeline_tag="keypoint-detection",
    )
    if metrics:
        rows = [
            f"| {m.get('set', '300-W common')} | {m['n']} | {m.get('boxes', 'gt')} | {m['nme']} | {m['fr8']} | {m['fr10']} "
            f"| {m['auc8']} | {m['auc10']} | {m.get('runtime', 'torch')} | {m.get('cpu', 'not recorded')} |"
            for m in metrics.get("by_runtime", [metrics])
        ]
        table = (
            "| set | faces | boxes | NME (%) | FR@8 (%) | FR@10 (%) | AUC@8 (%) | AUC@10 (%) | runtime | measured on |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
        )
        plot = f"\n\n![Cumulative error distribution]({CED_PLOT})" if (folder / CED_PLOT).is_file() else ""
        results = f"{table}{plot}\n\nNME: mean point error over the outer-eye-corner distance (points 36 and 45)."
    else:
        results = "Not evaluated yet: `python -m landmarks evaluate labels_test_common.xml --model FOLDER --save`."
    onnx_note = (
        f" `{ONNX_FILE}` is the same network quantized to int8 (7-bit weights, so that CPUs without"
        " VNNI do not saturate; one block kept in fp32) for ONNX Runtime, which `FaceLandmarker` uses"
        f" on the CPU after checking it there against `{REFERENCE_FILE}` (the fp32 weights' outputs on"
        " reference crops): a twin that disagrees on some CPU is replaced by PyTorch, with a warning."
        " `evaluate --runtime torch` scores the safetensors weights."
        if (folder / ONNX_FILE).is_file()
        else ""
    )
    body = f"""
# Face landmarks: {config['arch']}, recipe `{config['recipe']}` v{config['recipe_version']}

Finds the 68 iBUG/300-W points of a face: a {config['arch']} with a {pre['channels']}-channel
{pre['size']}x{pre['size']} input and a `{config.get('head', 'regress')}` head, trained with the
`landmarks` toolkit.{onnx_note}

## Results

{results}

## Training data

300-W (Sagonas et al., 2013): 2014 training faces (AFW, HELEN train, LFPW train); model selection
on a fixed 10 % validation split of them; the common test set (HELEN test + LFPW test, 554 faces)
only for the figures above.

## Use

```python
from landmarks import FaceLandmarker

fl = FaceLandmarker({f'"{repo_id}"' if repo_id else ""})
for face in fl("photo.jpg"):
    print(face.box, face.points)   # (x, y, w, h) and (68, 2) pixel coordinates
```

## Licence

The 300-W images and annotations are provided by iBUG / Imperial College London
**for research purposes only**; commercial use is not allowed, and the same restriction
applies to these weights.
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


def _model_folder(path: Path) -> Path:
    """A run folder stands for its ``best/`` model; a model folder for itself."""
    return path / "best" if (path / "best" / CONFIG).is_file() else path


def export(src: str | Path, dest: str | Path, half: bool = False, int8_labels: str | Path | None = None) -> Path:
    """A self-contained model folder: weights (fp16 with ``half``), config, figures, card;
    with ``int8_labels`` also the int8 ONNX twin, calibrated on that annotation file's faces."""
    src, dest = _model_folder(Path(src)), Path(dest)
    model = load_folder(src)
    dest.mkdir(parents=True, exist_ok=True)
    if int8_labels:
        from .quantize import export_int8, face_crops

        export_int8(model, dest, face_crops(model, int8_labels))  # from the fp32 weights
    elif src.resolve() != dest.resolve():
        if (src / ONNX_FILE).is_file():
            shutil.copy2(src / ONNX_FILE, dest / ONNX_FILE)
        else:
            (dest / ONNX_FILE).unlink(missing_ok=True)  # a twin of other weights would be used instead of these
    write_reference(model, dest)  # from the fp32 weights: what the int8 twin is checked against
    (model.half() if half else model).save_pretrained(dest)
    for name in (METRICS, CED_PLOT):
        if (src / name).is_file() and src.resolve() != dest.resolve():
            shutil.copy2(src / name, dest / name)
    model_card(dest).save(dest / "README.md")  # replaces the mixin's generic card
    return dest


def push(path: str | Path, repo_id: str, private: bool = False, endpoint: str | None = None, token: str | None = None) -> str:
    """Push a model folder (or a run folder's ``best/`` with its training log) to ``repo_id``.

    Returns the commit URL.  The folder must hold a loadable model: nothing broken is published.
    """
    path = Path(path)
    folder = _model_folder(path)
    load_folder(folder)  # raises ModelError with the reason
    if not REPO_ID.match(repo_id):
        raise ModelError(f"{repo_id}: not a Hub repo id (user/repo)")
    card = model_card(folder, repo_id)
    ops = [CommitOperationAdd("README.md", str(card).encode())]
    for name in (WEIGHTS, CONFIG, ONNX_FILE, REFERENCE_FILE, METRICS, CED_PLOT):
        if (folder / name).is_file():
            ops.append(CommitOperationAdd(name, str(folder / name)))
    for name in RUN_FILES:
        if (path / name).is_file() and folder != path:
            ops.append(CommitOperationAdd(f"training/{name}", str(path / name)))
    api = HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        for name in (ONNX_FILE, REFERENCE_FILE):  # the twin and reference of the weights being replaced
            if not (folder / name).is_file() and api.file_exists(repo_id, name):
                ops.append(CommitOperationDelete(name))
        info = api.create_commit(repo_id, ops, commit_message=f"Upload landmarks model ({folder.name})")
    except Exception as e:  # auth, network, quota: one line for the user, whatever the HTTP stack
        raise PushError(f"push to {repo_id} failed: {short_error(e)}") from e
    return info.commit_url
