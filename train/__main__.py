"""Train a landmark model: ``python -m train --data DIR --recipe tutorial --epochs N --out runs/NAME``."""
from __future__ import annotations

import argparse
import sys

from landmarks.data import DatasetError
from landmarks.recipes import RECIPES
from landmarks.trainer import TrainConfig, train


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    p.add_argument("--data", required=True, help="300-W folder with labels_train.xml, or an annotation XML / .pts folder")
    p.add_argument("--recipe", default="tutorial", choices=sorted(RECIPES))
    p.add_argument("--epochs", type=int, help="default: the recipe's")
    p.add_argument("--out", required=True, help="run folder: checkpoints, logs, curves, best/ model")
    p.add_argument("--device", help="cuda or cpu (default: cuda when present)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--input-size", type=int)
    p.add_argument("--limit", type=int, help="use only the first N faces (smoke tests)")
    p.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    cfg = TrainConfig(
        data=a.data,
        out=a.out,
        recipe=a.recipe,
        epochs=a.epochs,
        device=a.device,
        resume=a.resume,
        limit=a.limit,
        batch_size=a.batch_size,
        input_size=a.input_size,
        precision="fp32" if a.fp32 else "bf16",
        progress=not a.no_progress,
    )
    try:
        result = train(cfg)
    except (DatasetError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"best validation NME {result['best_val_nme']:.2f}%; model in {result['best_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
