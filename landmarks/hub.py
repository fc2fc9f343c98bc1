"""Hugging Face Hub I/O: model specs, pushing a model with its card, pulling with fallbacks.

A model *spec* is a local ``save_pretrained`` folder or a Hub repo id with an optional
revision, ``user/repo@rev``.  Downloads go through ``huggingface_hub`` and its cache;
the token comes from the usual places (``HF_TOKEN``, ``hf auth login``), never from code.
"""
from __future__ import annotations

import json
import re
import shutil
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

from .models import BUNDLED, CONFIG, WEIGHTS, ModelError, load_folder
from .network import LandmarkNet
from .runtime import ONNX_FILE

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
METRICS, CED_PLOT = "metrics.json", "ced.png"
RUN_FILES = ("log.csv", "log.json", "curves.png")  # the training log travels with the model


def parse_spec(spec: str | Path) -> tuple[str, str | None] | None:
    """``None`` for a local folder (existing or not), else (repo_id, revision)."""
    repo, _, revision = str(spec).partition("@")
    if Path(spec).exists() or not _REPO_ID.match(repo):
        return None
    return repo, revision or None


def download(repo_id: str, revision: str | None = None, local_only: bool = False, endpoint: str | None = None) -> Path:
    """The folder (in the Hub cache) holding the repo's weights and config."""
    paths = [
        hf_hub_download(repo_id, name, revision=revision, local_files_only=local_only, endpoint=endpoint)
        for name in (CONFIG, WEIGHTS)
    ]
    try:  # optional: the fast CPU twin
        hf_hub_download(repo_id, ONNX_FILE, revision=revision, local_files_only=local_only, endpoint=endpoint)
    except (EntryNotFoundError, LocalEntryNotFoundError):
        pass
    return Path(paths[0]).parent


@dataclass
class Resolved:
    model: LandmarkNet
    source: str  # which model, from where: shown to people
    fell_back: str | None = None  # why the requested model was not used


def resolve(spec: str | Path | None, device="cpu", fallback: bool = True, endpoint: str | None = None) -> Resolved:
    """Load a model: local folder, or Hub repo -> local Hub cache -> bundled model.

    Without ``fallback`` a model that cannot be had raises :class:`ModelError`.
    """
    if spec is None:
        return Resolved(load_folder(BUNDLED, device), "the bundled model")
    try:
        parsed = parse_spec(spec)
        if parsed is None:
            return Resolved(load_folder(Path(spec), device), f"local folder {spec}")
        repo, revision = parsed
        name = f"{repo}@{revision}" if revision else repo
        try:
            HfApi(endpoint=endpoint).model_info(repo, revision=revision, timeout=10)
        except (RepositoryNotFoundError, RevisionNotFoundError):
            raise ModelError(f"model {name}: no such repository or revision on the Hub (or no access)") from None
        except Exception as e:
            # refused, timed out, HF_HUB_OFFLINE, server error -- whatever the client's HTTP stack
            # raises (httpx in huggingface_hub 1.x, httpx2 in 2.x), the Hub is not usable: use the cache
            why = "offline mode: HF_HUB_OFFLINE is set" if isinstance(e, OfflineModeIsEnabled) else "the Hub could not be reached"
            try:
                folder = download(repo, revision, local_only=True, endpoint=endpoint)
            except (LocalEntryNotFoundError, EntryNotFoundError):
                raise ModelError(f"model {name}: {why} ({_short(e)}) and the local cache has no copy") from None
            return Resolved(load_folder(folder, device), f"Hub repo {name}, from the local cache ({why})")
        try:
            folder = download(repo, revision, endpoint=endpoint)
        except EntryNotFoundError:
            raise ModelError(f"model {name}: the repository has no {WEIGHTS} and {CONFIG}") from None
        return Resolved(load_folder(folder, device), f"Hub repo {name}")
    except ModelError as e:
        if not fallback:
            raise
        return Resolved(load_folder(BUNDLED, device), "the bundled model", fell_back=str(e))


def load_model(spec: str | Path | None = None, device="cpu") -> LandmarkNet:
    """The model a spec names (default: the bundled one), or ModelError; no silent fallback."""
    return resolve(spec, device, fallback=False).model


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:120]}" if text else type(e).__name__


# ---- pushing ----------------------------------------------------------------


class PushError(RuntimeError):
    """The Hub refused or could not be reached; the local model is untouched."""


def model_card(folder: Path, repo_id: str | None = None) -> ModelCard:
    """The card for a model folder: metadata, figures from metrics.json, how to load it."""
    config = json.loads((folder / CONFIG).read_text())
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
        table = (
            "| set | faces | boxes | NME (%) | FR@8 (%) | FR@10 (%) | AUC@8 (%) | AUC@10 (%) | runtime |\n"
            "|---|---|---|---|---|---|---|---|---|\n"
            f"| {metrics.get('set', '300-W common')} | {metrics['n']} | {metrics.get('boxes', 'gt')} | {metrics['nme']} "
            f"| {metrics['fr8']} | {metrics['fr10']} | {metrics['auc8']} | {metrics['auc10']} | {metrics.get('runtime', 'torch')} |"
        )
        plot = f"\n\n![Cumulative error distribution]({CED_PLOT})" if (folder / CED_PLOT).is_file() else ""
        results = f"{table}{plot}\n\nNME: mean point error over the outer-eye-corner distance (points 36 and 45)."
    else:
        results = "Not evaluated yet: `python -m landmarks evaluate labels_test_common.xml --model FOLDER --save`."
    onnx_note = (
        f" `{ONNX_FILE}` is the same network quantized to int8 (one block kept in fp32) for"
        " ONNX Runtime, which `FaceLandmarker` uses on the CPU (about 4x faster than PyTorch there);"
        " `evaluate --runtime torch` scores the safetensors weights instead."
        if (folder / ONNX_FILE).is_file()
        else ""
    )
    body = f"""
# Face landmarks: {config['arch']}, recipe `{config['recipe']}` v{config['recipe_version']}

Finds the 68 iBUG/300-W points of a face: a {config['arch']} with a {config['in_channels']}-channel
{config['input_size']}x{config['input_size']} input and a `{config.get('head', 'regress')}` head, trained with the
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
    if not _REPO_ID.match(repo_id):
        raise ModelError(f"{repo_id}: not a Hub repo id (user/repo)")
    card = model_card(folder, repo_id)
    ops = [CommitOperationAdd("README.md", str(card).encode())]
    for name in (WEIGHTS, CONFIG, ONNX_FILE, METRICS, CED_PLOT):
        if (folder / name).is_file():
            ops.append(CommitOperationAdd(name, str(folder / name)))
    for name in RUN_FILES:
        if (path / name).is_file() and folder != path:
            ops.append(CommitOperationAdd(f"training/{name}", str(path / name)))
    api = HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if not (folder / ONNX_FILE).is_file() and api.file_exists(repo_id, ONNX_FILE):
            ops.append(CommitOperationDelete(ONNX_FILE))  # the twin of the weights being replaced
        info = api.create_commit(repo_id, ops, commit_message=f"Upload landmarks model ({folder.name})")
    except Exception as e:  # auth, network, quota: one line for the user, whatever the HTTP stack
        raise PushError(f"push to {repo_id} failed: {_short(e)}") from e
    return info.commit_url
