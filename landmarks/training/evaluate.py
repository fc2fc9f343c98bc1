"""Evaluating a model on an annotation file with ground-truth or detector boxes."""
from __future__ import annotations

import json
import time
from itertools import groupby
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core.geometry import landmark_box
from ..core.image_io import to_rgb_array
from ..data.annotations import read_annotations
from ..detection.base import match_detections
from ..hub.publish import model_card
from ..inference.landmarker import FaceLandmarker
from ..model.folder import CED_PLOT, METRICS
from ..runtime.hardware import cpu_line
from .metrics import nme_per_face, summarize
from .plots import plot_ced


def evaluate(labels, landmarker: FaceLandmarker, boxes: str = "gt", progress: bool = True, flip: bool = False):
    """Per-face NMEs (fractions) and a summary dict (NME/FR/AUC in percent, ms_per_face).

    ``boxes="gt"`` crops each face at its tight landmark box (the papers' protocol);
    ``boxes="detector"`` runs the landmarker's detector first and scores the faces it found,
    each refined as ``FaceLandmarker`` does (``at_detections``; ``"haar"``: the older name of the same).  ``flip``: average with the mirrored crop (test-time augmentation).
    """
    if boxes not in ("gt", "detector", "haar"):
        raise ValueError(f"boxes must be 'gt' or 'detector', not {boxes!r}")
    records = read_annotations(labels)
    preds, gts = [], []
    net_seconds, detected, rejected = 0.0, 0, 0
    for image, group in tqdm(groupby(records, key=lambda r: r.image), desc="evaluating", disable=not progress, unit="img"):
        group = list(group)
        rgb = to_rgb_array(image)
        gt_boxes = [landmark_box(r.points) for r in group]
        if boxes == "gt":
            use = list(range(len(group)))
            face_boxes, read = gt_boxes, landmarker.predict_boxes
        else:
            det = landmarker.detect(rgb)
            match = match_detections(gt_boxes, det)
            use = [i for i, m in enumerate(match) if m is not None]
            face_boxes, read = landmarker.landmark_boxes([det[match[i]] for i in use]), landmarker.at_detections
            detected += len(use)
        if not use:
            continue
        t0 = time.perf_counter()
        faces = read(rgb, face_boxes, flip=flip)
        net_seconds += time.perf_counter() - t0
        rejected += len(faces) - len(landmarker.confident(faces))
        preds += [f.points for f in faces]
        gts += [group[i].points for i in use]
    nmes = nme_per_face(np.array(preds), np.array(gts)) if preds else np.zeros(0)
    summary = summarize(nmes) if len(nmes) else {"n": 0}
    summary["ms_per_face"] = round(1000 * net_seconds / max(len(nmes), 1), 2)
    summary["below_min_score"] = rejected  # scored all the same: NME stays comparable across thresholds
    # int8 kernels differ between CPUs: a figure names the runtime and the CPU it came from
    summary["runtime"] = landmarker.runner.name
    summary["cpu"] = cpu_line()
    if boxes != "gt":
        summary["detector"] = type(landmarker.detector).__name__
        summary["refine"] = landmarker.refine
        summary["crop_model"] = landmarker.cropper.source if landmarker.cropper else None
        summary["detected"] = detected
        summary["faces"] = len(records)
    return nmes, summary


def save_report(folder, labels, boxes: str = "gt", device=None, runtime: str = "auto", progress: bool = True) -> dict:
    """Evaluate the model in ``folder``; store ``metrics.json``, ``ced.png`` and the model card
    (``README.md``) that shows them beside it.  The figures are those of the runtime
    ``FaceLandmarker`` picks; a model with an int8 twin is scored in PyTorch too
    (``by_runtime``), each with the CPU it ran on."""
    folder = Path(folder)
    fl = FaceLandmarker(str(folder), device=device, runtime=runtime)
    nmes, summary = evaluate(labels, fl, boxes=boxes, progress=progress)
    summary = {**summary, "set": Path(labels).name, "boxes": boxes}
    runs = [summary]
    if fl.runner.name != "torch":
        _, exact = evaluate(labels, FaceLandmarker(str(folder), device=device, runtime="torch"), boxes=boxes, progress=progress)
        runs.append({**exact, "set": summary["set"], "boxes": boxes})
    summary["by_runtime"] = [{k: v for k, v in r.items() if k != "by_runtime"} for r in runs]
    (folder / METRICS).write_text(json.dumps(summary, indent=1))
    plot_ced({f"{Path(labels).name}, {boxes} boxes: NME {summary['nme']}% ({summary['runtime']})": nmes}, folder / CED_PLOT)
    model_card(folder).save(folder / "README.md")
    return summary
