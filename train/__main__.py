"""Train a landmark model: ``python -m train --data DIR --recipe tutorial --epochs N --out runs/NAME``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from landmarks.training.recipes import RECIPES  # plain data: --help answers before torch is imported


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    p.add_argument("--data", required=True, help="300-W folder with labels_train.xml, or an annotation XML / .pts folder")
    p.add_argument("--recipe", default="tutorial", choices=sorted(RECIPES))
    p.add_argument("--epochs", type=int, help="default: the recipe's")
    p.add_argument("--out", required=True, help="run folder: checkpoints, logs, curves, best/ model")
    p.add_argument("--device", help="cuda or cpu (default: cuda when present)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="peak learning rate (default: the recipe's)")
    p.add_argument("--input-size", type=int)
    p.add_argument("--init", metavar="MODEL_FOLDER", help="start from this model's weights (fine-tuning; same head and crop as the recipe)")
    p.add_argument("--teacher", metavar="MODEL_FOLDER",
                   help="distil this model's points: a model folder or full, the bundled model (recipes that distil: lite-distil)")
    p.add_argument("--extra", metavar="DATA", help="training-only faces: an annotation file or a folder with labels.xml (never validated on)")
    p.add_argument("--extra-ratio", type=float, default=1.0, help="extra faces drawn each epoch per main training face (default 1)")
    p.add_argument("--all-faces", action="store_true",
                   help="train on the validation split too and keep the last epoch (the final model, once "
                        "a run with validation has picked --epochs)")
    p.add_argument("--limit", type=int, help="use only the first N faces (smoke tests)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="auto (default): bf16 on GPUs and on CPUs with native bf16, else fp32")
    p.add_argument("--compile", action="store_true", help="torch.compile the training forward (for GPUs)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--push-to-hub", metavar="USER/REPO", help="when training ends, evaluate the best model and push it")
    p.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private")
    a = p.parse_args(argv)
    from landmarks.__main__ import in_flag_words, missing_training_package
    from landmarks.data.annotations import DatasetError
    from landmarks.hub.publish import PushError, push
    from landmarks.model.folder import ModelError

    try:
        from landmarks.training.evaluate import save_report  # matplotlib
        from landmarks.training.trainer import TrainConfig, train
    except ModuleNotFoundError as e:  # the app's install (requirements.txt) has no torch, no matplotlib
        package = missing_training_package(e)
        if package is None:
            raise
        print(f"error: training needs {package}, which the app's install leaves out: pip install '.[train]'", file=sys.stderr)
        return 2

    cfg = TrainConfig(
        data=a.data,
        out=a.out,
        recipe=a.recipe,
        epochs=a.epochs,
        device=a.device,
        resume=a.resume,
        limit=a.limit,
        batch_size=a.batch_size,
        lr=a.lr,
        input_size=a.input_size,
        precision=a.precision,
        compile=a.compile,
        progress=not a.no_progress,
        init=a.init,
        extra=a.extra,
        extra_ratio=a.extra_ratio,
        all_faces=a.all_faces,
        teacher=a.teacher,
    )
    try:
        result = train(cfg)
    except (DatasetError, FileNotFoundError, ValueError) as e:
        print(f"error: {in_flag_words(e, p)}", file=sys.stderr)
        return 2
    if not result["main"]:
        return 0
    if a.all_faces:  # the validation faces were trained on: their NME is no measure of the model
        print(f"last epoch kept (trained on the validation split too); model in {result['best_dir']}")
    else:
        print(f"best validation NME {result['best_val_nme']:.2f}%; model in {result['best_dir']}")
    if a.push_to_hub:
        test = Path(a.data) / "labels_test_common.xml"
        if test.is_file():  # reported in the model card; never used to choose anything
            print(f"test figures: {save_report(result['best_dir'], test, progress=not a.no_progress)}")
        try:
            print(f"pushed to {a.push_to_hub}: {push(a.out, a.push_to_hub, private=a.private)}")
        except (ModelError, PushError) as e:
            print(f"error: push failed ({e}); the run is intact in {a.out}: retry with "
                  f"python -m landmarks push {a.out} {a.push_to_hub}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
