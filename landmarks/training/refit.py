"""Refit a pip model's point offsets by least squares on its training faces, without the mirror images.

The pip recipes mirror half the training crops (with the 68-point permutation), so the head
learns, for each point, the average of its own labelling convention and its mirror twin's;
300-W's manual points are not mirror-symmetric. The offsets are the output of one 1x1
convolution, linear in the backbone's features, so they can be solved for exactly, in a
minute, on crops that are not mirrored: on the validation split that took the error from 3.60
to 3.47 % at labelled boxes and from 3.78 to 3.64 % at the detector's (``benchmarks/
experiments.md``, round seven). The backbone and the cell scores (hence the confidence) are
left alone.
"""
from __future__ import annotations

from pathlib import Path

import torch
from tqdm import tqdm

from ..core.errors import ArgumentError
from ..data import augment as A
from ..data.annotations import DatasetError, LabelledFace, read_annotations
from ..data.training_faces import load_faces
from ..hub.publish import REFIT, model_dir, source_name
from ..model.folder import ModelError, load_network, read_config
from ..model.heads import PipHead
from ..model.network import LandmarkNet

# keeps the normal equations well posed: in round seven's first probe 0 to 1e-4 gave the same
# validation NME within 0.002, and 1e-3 and more shrank the fit
RIDGE = 1e-4
# The pip recipes' geometric augmentation without the flip. Fitted on unaugmented crops alone,
# the offsets were best at labelled boxes (3.45 %) and worse than before at the detector's (3.83).
JITTER = A.Augment(rotate=15, box_scale=0.1, box_shift=0.05)


@torch.no_grad()
def refit_offsets(model: LandmarkNet, records: list[LabelledFace], jitter: A.Augment = JITTER, passes: int = 3,
                  batch_size: int = 64, progress: bool = True, seed: int = 0) -> None:
    """Replace ``model``'s offset weights (in place) by the least-squares fit to ``records``.

    Each face is cropped once at its labelled points' box, as ``evaluate --boxes gt`` and the
    refining pass crop, and ``passes - 1`` more times with ``jitter``'s geometry (rotation, box
    scale and shift; never mirrored). As in training, every point's offsets are fitted at its
    cell and the (up to) eight neighbours that the readout averages."""
    head = model.head
    if not isinstance(head, PipHead):
        raise ModelError(f"only pip models have offsets to refit (this one has a {head.name} head)")
    if len(records) < 2:
        raise DatasetError(f"{len(records)} faces are too few to refit on")
    model = model.float().eval()
    faces = load_faces(records, progress)
    features, targets = [], []
    gen = torch.Generator().manual_seed(seed)
    batches = [(k, start) for k in range(passes) for start in range(0, len(faces), batch_size)]
    for k, start in tqdm(batches, desc="features", unit="batch", disable=not progress):
        idx = torch.arange(start, min(start + batch_size, len(faces)))
        x, t, _, _ = A.network_batch(faces.images[idx], faces.points[idx], model.preprocess, A.NO_AUGMENT if k == 0 else jitter, gen)
        features.append(model.features(x).float())
        targets.append(t)
    f, t = torch.cat(features), torch.cat(targets)  # (S, C, G, G), (S, N, 2)
    _, c, g, _ = f.shape
    u, cell = head.cells(t, g)
    conv = head.conv
    weight, bias = conv.weight.view(3, head.num_points, c), conv.bias.view(3, head.num_points)
    for i in range(head.num_points):
        rows, goals = [], []
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                col, row = cell[:, i, 0] + dx, cell[:, i, 1] + dy
                inside = (col >= 0) & (col < g) & (row >= 0) & (row < g)
                col, row = col[inside].long(), row[inside].long()
                rows.append(f[inside.nonzero()[:, 0], :, row, col])
                goals.append(u[inside, i] - torch.stack([col, row], 1))  # the offset from that cell's corner
        x, y = torch.cat(rows).double(), torch.cat(goals).double()
        x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
        gram = x.T @ x
        gram[:c, :c] += RIDGE * len(x) * torch.eye(c, dtype=x.dtype)  # the bias is not shrunk
        solution = torch.linalg.solve(gram, x.T @ y).float()  # (C + 1, 2): x and y offsets
        weight[1:, i], bias[1:, i] = solution[:c].T, solution[c]


def refit_folder(src: str | Path, labels: str | Path, out: str | Path, progress: bool = True) -> Path:
    """``src``'s model (a model or run folder) with its offsets refitted on ``labels``' faces,
    saved to ``out`` as training saves a model (``export`` then makes it shippable)."""
    src, out = model_dir(src), Path(out)
    try:  # before the work: a bad folder must not cost the fit
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ArgumentError("out", f"{out}: cannot create it ({e.strerror})") from None
    records = read_annotations(labels)  # a bad file fails before the model loads
    sources = [*(read_config(src).get("training_data") or []), {"name": source_name(labels), "role": REFIT}]
    model = load_network(src, training_data=sources)
    refit_offsets(model, records, progress=progress)
    model.save_pretrained(out)
    return out
