"""Evaluating a model on an annotation file with ground-truth or detector boxes."""
from __future__ import annotations

import json
import time
from itertools import groupby
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .data import landmark_box, read_annotations
from .detect import to_landmark_boxes
from .hub import CED_PLOT, METRICS, model_card
from .images import to_rgb_array
from .metrics import nme_per_face, summarize
from .plots import plot_ced
from .predictor import FaceLandmarker


def _iou(a, b) -> float:
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    iw = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    ih = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter + 1e-9)


def match_detections(gt_boxes, det_boxes, min_iou: float = 0.3) -> list[int | None]:
    """For each ground-truth face, the index of its best detection (IoU >= min_iou), each used once."""
    used, out = set(), []
    for g in gt_boxes:
        ious = [(_iou(g, d), j) for j, d in enumerate(det_boxes) if j not in used]
        best = max(ious, default=(0.0, None))
        if best[0] >= min_iou:
            used.add(best[1])
            out.append(best[1])
        else:
            out.append(None)
    return out


def evaluate(labels, landmarker: FaceLandmarker, boxes: str = "gt", progress: bool = True):
    """Per-face NMEs (fractions) and a summary dict (NME/FR/AUC in percent, ms_per_face).

    ``boxes="gt"`` crops each face at its tight landmark box (the papers' protocol);
    ``boxes="haar"`` runs the detector first and scores the faces it found.
    """
    if boxes not in ("gt", "haar"):
        raise ValueError(f"boxes must be 'gt' or 'haar', not {boxes!r}")
    records = read_annotations(labels)
    preds, gts = [], []
    net_seconds, detected = 0.0, 0
    for image, group in tqdm(groupby(records, key=lambda r: r.image), desc="evaluating", disable=not progress, unit="img"):
        group = list(group)
        rgb = to_rgb_array(image)
        gt_boxes = [landmark_box(r.points) for r in group]
        if boxes == "gt":
            use = list(range(len(group)))
            face_boxes = gt_boxes
        else:
            det, _ = landmarker.detector(rgb)
            match = match_detections(gt_boxes, det)
            use = [i for i, m in enumerate(match) if m is not None]
            face_boxes = to_landmark_boxes([det[match[i]] for i in use])
            detected += len(use)
        if not use:
            continue
        t0 = time.perf_counter()
        faces = landmarker.predict_boxes(rgb, face_boxes)
        net_seconds += time.perf_counter() - t0
        preds += [f.points for f in faces]
        gts += [group[i].points for i in use]
    nmes = nme_per_face(np.array(preds), np.array(gts)) if preds else np.zeros(0)
    summary = summarize(nmes) if len(nmes) else {"n": 0}
    summary["ms_per_face"] = round(1000 * net_seconds / max(len(nmes), 1), 2)
    if boxes == "haar":
        summary["detected"] = detected
        summary["faces"] = len(records)
    return nmes, summary


def save_report(folder, labels, boxes: str = "gt", device=None, progress: bool = True) -> dict:
    """Evaluate the model in ``folder``; store ``metrics.json``, ``ced.png`` and the model card
    (``README.md``) that shows them beside it."""
    folder = Path(folder)
    nmes, summary = evaluate(labels, FaceLandmarker(str(folder), device=device), boxes=boxes, progress=progress)
    summary = {**summary, "set": Path(labels).name, "boxes": boxes}
    (folder / METRICS).write_text(json.dumps(summary, indent=1))
    plot_ced({f"{Path(labels).name}, {boxes} boxes: NME {summary['nme']}%": nmes}, folder / CED_PLOT)
    model_card(folder).save(folder / "README.md")
    return summary
