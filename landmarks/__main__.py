"""``python -m landmarks evaluate LABELS.xml --model SPEC [--boxes gt|haar] [--json] [--ced PNG]``."""
from __future__ import annotations

import argparse
import json
import sys

from .data import DatasetError
from .images import ImageError
from .models import ModelError


def _evaluate(a) -> int:
    from .evaluate import evaluate
    from .plots import plot_ced
    from .predictor import FaceLandmarker

    fl = FaceLandmarker(a.model, device=a.device)
    nmes, summary = evaluate(a.labels, fl, boxes=a.boxes, progress=not a.json)
    if a.ced:
        plot_ced({f"{a.model or 'bundled'} ({a.boxes} boxes), NME {summary.get('nme')}%": nmes}, a.ced)
    if a.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k:>12}: {v}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m landmarks")
    sub = p.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="NME / failure rate / AUC on an annotation file")
    ev.add_argument("labels", help="dlib XML file or folder of .pts files")
    ev.add_argument("--model", help="save_pretrained folder (default: the bundled model)")
    ev.add_argument("--boxes", choices=["gt", "haar"], default="gt")
    ev.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    ev.add_argument("--json", action="store_true", help="print exactly one JSON line")
    ev.add_argument("--ced", help="write the CED plot to this PNG")
    ev.set_defaults(run=_evaluate)
    a = p.parse_args(argv)
    try:
        return a.run(a)
    except (DatasetError, ImageError, ModelError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
