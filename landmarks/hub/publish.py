"""Publishing a model: a self-contained folder (``export``), its model card, and ``push`` to the Hub.

Training and the command line use this; inference never imports it.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, ModelCard, ModelCardData

from ..model.folder import (
    CED_PLOT,
    CONFIG,
    EXACT_FILE,
    METRICS,
    NAMED,
    ONNX_FILE,
    REFERENCE_FILE,
    WEIGHTS,
    ModelError,
    load_network,
    named,
    read_config,
    upgrade_config,
)
from ..model.preprocess import Preprocess
from ..runtime.runners import write_reference
from .errors import REPO_ID, refusal, short_error

RUN_FILES = ("log.csv", "log.json", "curves.png")  # the training log travels with the model


class PushError(RuntimeError):
    """The Hub refused or could not be reached; the local model is untouched."""


# Sources a model may be trained on besides 300-W, by the folder name training records
# (trainer.Trainer.sources), with what a user of the weights must know about them.
KNOWN_SOURCES = {
    "youtube68": "youtube68: 4232 video frames of 347 people from the YouTube Faces Database (Wolf, Hassner"
                 " and Maoz, CVPR 2011; non-commercial research use) with 68 points of unknown, probably"
                 " automatic origin (via udacity/P1_Facial_Keypoints, MIT); used for training only, never"
                 " for the figures above",
    # youtube68's faces with the points of a model trained on the 300-W training split
    # (python -m landmarks relabel ... --out youtube68-relabelled/labels.xml)
    "youtube68-relabelled": "youtube68's 4232 video frames (YouTube Faces Database, Wolf, Hassner and Maoz,"
                            " CVPR 2011; non-commercial research use; via udacity/P1_Facial_Keypoints, MIT)"
                            " with their points replaced by those of a model trained on the 300-W training"
                            " split (`python -m landmarks relabel`); used for training only, never for the"
                            " figures above",
}


# Roles of the sources a model was trained on (``Trainer.sources`` writes them into
# config.json; the card reads them back).  EARLIER prefixes the sources of the ``--init``
# weights, so a chain of runs keeps its whole story.
TRAINED_ON = "training and validation"
TRAINED_ON_ALL = "training (all faces, the validation split included)"
INITIAL_WEIGHTS = "initial weights"
TEACHER = "teacher: its points on every augmented view were the targets (distillation)"
EARLIER = "before fine-tuning: "
REFIT = "point offsets refitted by least squares on unmirrored crops (refit.py)"


def source_name(path: str | Path) -> str:
    """A data source or model by folder name (no local paths), for a config and its card."""
    p = Path(path).resolve()
    # a run's model folder is always "best": its run names it
    return p.name if p.is_dir() and p.name != "best" else f"{p.parent.name}/{p.name}"


def model_name(spec: str | Path) -> str:
    """A model as its config and card name it: a bundled model by its name (``full``), any
    other folder by its recipe and backbone -- run folders are local names nobody else knows."""
    folder = Path(named(spec)).resolve()
    for name, bundled in NAMED.items():
        if folder == bundled.resolve():
            return name
    config = read_config(model_dir(folder))
    return f"a {config.get('recipe', 'custom')} v{config.get('recipe_version', 1)} model ({config.get('arch', 'resnet18')})"


def _said(model: str) -> str:
    return f"the bundled `{model}` model" if model in NAMED else model


def _extra_data(config: dict) -> str:
    lines = []
    for i, source in enumerate(config.get("training_data") or []):
        role, name = source.get("role", "extra"), source.get("name", "?")
        if i == 0 and role in (TRAINED_ON, TRAINED_ON_ALL):
            continue  # the run's own data: the paragraph above
        earlier = role.startswith(EARLIER)
        if role.removeprefix(EARLIER) == INITIAL_WEIGHTS:
            lines.append(f"- {'before that, ' if earlier else ''}fine-tuned from the weights of {_said(name)}")
        elif role.removeprefix(EARLIER) == TEACHER:
            lines.append(f"- {'before that, ' if earlier else ''}distilled from {_said(name)}: its points on "
                         "every augmented view were targets beside the ground truth")
        else:
            # an annotation file is recorded as folder/file: the folder names the dataset
            known = KNOWN_SOURCES.get(name.split("/")[0], f"`{name}`")
            lines.append(f"- {known} ({'pre-training, before the fine-tuning above' if earlier else role})")
    return "\n\nAlso:\n\n" + "\n".join(lines) if lines else ""


def _selection(config: dict) -> str:
    own = (config.get("training_data") or [{}])[0]
    if own.get("role") == TRAINED_ON_ALL:
        return ("trained on all of them for the number of epochs that an earlier run's fixed 10 % "
                "validation split picked")
    return "model selection on a fixed 10 % validation split of them"


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
    twin, exact = (folder / ONNX_FILE).is_file(), (folder / EXACT_FILE).is_file()
    onnx_note = "".join([
        f" `{ONNX_FILE}` is the same network quantized to int8 (7-bit weights, so that CPUs without"
        f" VNNI do not saturate{'; one block kept in fp32' if config.get('arch', 'resnet18') == 'resnet18' else ''})"
        " for ONNX Runtime, which `FaceLandmarker` uses on the CPU after checking it there against"
        f" `{REFERENCE_FILE}` (the fp32 weights' outputs on reference crops)." if twin else "",
        f" `{EXACT_FILE}` is the network in fp32 for ONNX Runtime (weights stored as in `{WEIGHTS}`), checked"
        f" against `{REFERENCE_FILE}` as well: it runs without PyTorch." if exact else "",
        f" A twin that disagrees on some CPU is replaced by {'the fp32 model' if exact else 'PyTorch'}, with a warning." if twin else "",
        " `evaluate --runtime torch` scores the safetensors weights." if twin or exact else "",
    ])
    readout = {"neighbours": " (each point read as the mean of what its best cell and that cell's neighbours give)",
               "cell": " (each point read at its best cell)"}.get(config.get("readout") or "", "")
    body = f"""
# Face landmarks: {config['arch']}, recipe `{config['recipe']}` v{config['recipe_version']}

Finds the 68 iBUG/300-W points of a face: a {config['arch']} with a {pre['channels']}-channel
{pre['size']}x{pre['size']} input and a `{config.get('head', 'regress')}` head{readout}, trained with the
`landmarks` toolkit.{onnx_note}

## Results

{results}

## Training data

300-W (Sagonas et al., 2013): 2014 training faces (AFW, HELEN train, LFPW train); {_selection(config)};
the common test set (HELEN test + LFPW test, 554 faces) only for the figures above.{_extra_data(config)}

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


def model_dir(path: str | Path) -> Path:
    """A run folder stands for its ``best/`` model; a model folder for itself; a bundled model's
    name (``full``, ``lite``) for its folder."""
    path = Path(named(path))
    return path / "best" if (path / "best" / CONFIG).is_file() else path


def export(src: str | Path, dest: str | Path, half: bool = False, int8_labels: str | Path | None = None,
           readout: str | None = None) -> Path:
    """A self-contained model folder: weights (fp16 with ``half``), config, the exact ONNX model,
    figures, card; with ``int8_labels`` also the int8 ONNX twin, calibrated on that annotation
    file's faces; ``readout`` sets how a pip model reads its points (heads.py)."""
    src, dest = model_dir(src), Path(dest)
    if readout is not None and not int8_labels and (src / ONNX_FILE).is_file():
        raise ModelError(f"export --readout {readout}: {src}'s int8 twin reads points its own way; give --int8 LABELS to make a new one")
    model = load_network(src, readout=readout)
    if half:  # the weights as they will be stored: the twin and the reference are made from them
        model = model.half().float()
    dest.mkdir(parents=True, exist_ok=True)
    from ..runtime.export import export_exact

    export_exact(model, dest)  # what runs without torch where the twin fails its check
    if int8_labels:
        from ..runtime.quantize import export_int8, face_crops

        export_int8(model, dest, face_crops(model, int8_labels))
    elif src.resolve() != dest.resolve():
        if (src / ONNX_FILE).is_file():
            shutil.copy2(src / ONNX_FILE, dest / ONNX_FILE)
        else:
            (dest / ONNX_FILE).unlink(missing_ok=True)  # a twin of other weights would be used instead of these
    write_reference(model, dest)  # computed in fp32: what the int8 twin is checked against
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
    path = Path(named(path))
    folder = model_dir(path)
    load_network(folder)  # raises ModelError with the reason
    if not REPO_ID.match(repo_id):
        raise ModelError(f"{repo_id}: not a Hub repo id (user/repo)")
    card = model_card(folder, repo_id)
    ops = [CommitOperationAdd("README.md", str(card).encode())]
    for name in (WEIGHTS, CONFIG, ONNX_FILE, EXACT_FILE, REFERENCE_FILE, METRICS, CED_PLOT):
        if (folder / name).is_file():
            ops.append(CommitOperationAdd(name, str(folder / name)))
    for name in RUN_FILES:
        if (path / name).is_file() and folder != path:
            ops.append(CommitOperationAdd(f"training/{name}", str(path / name)))
    api = HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        for name in (ONNX_FILE, EXACT_FILE, REFERENCE_FILE):  # the ONNX models and reference of the weights being replaced
            if not (folder / name).is_file() and api.file_exists(repo_id, name):
                ops.append(CommitOperationDelete(name))
        info = api.create_commit(repo_id, ops, commit_message=f"Upload landmarks model ({folder.name})")
    except Exception as e:  # auth, network, quota: one line for the user, whatever the HTTP stack
        raise PushError(f"push to {repo_id} failed: {refusal(e, repo_id, 'write to it') or short_error(e)}") from e
    return info.commit_url
