"""Command line: ``python -m landmarks evaluate|predict|relabel|refit|export|push|deploy …`` (``--help`` on each)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .core.errors import ArgumentError
from .core.image_io import ImageError
from .data.annotations import DatasetError
from .runtime.runners import RUNTIMES

MODEL_HELP = ("a bundled model by name (full, lite), a model folder, or a Hub repo id user/repo[@rev] "
              "(default: the bundled full model)")
# what the train extra adds to requirements.txt
TRAINING_MODULES = {"torch", "torchvision", "safetensors", "matplotlib", "onnxscript"}
RUNTIME_HELP = ("auto (default): on the CPU, the int8 ONNX twin when it passes its check here, else the exact ONNX model, "
                "else PyTorch; onnx: the twin (model.int8.onnx); onnx-fp32: the exact ONNX model (model.onnx); "
                "torch: PyTorch (the training install)")


def _evaluate(a) -> int:
    from .inference.landmarker import FaceLandmarker
    from .model.folder import ModelError, named
    from .training.evaluate import evaluate, save_report
    from .training.plots import plot_ced

    if a.save:
        if not a.model or not Path(named(a.model)).is_dir():
            raise ModelError("--save needs --model to be a local model folder or a bundled model's name")
        summary = save_report(named(a.model), a.labels, a.boxes, a.device, a.runtime, progress=not a.json)
        print(json.dumps(summary) if a.json else f"saved metrics.json, ced.png and README.md in {a.model}: {summary}")
        return 0
    crop_model = {None: None, "none": False}.get(a.crop_model, a.crop_model)
    fl = FaceLandmarker(a.model, device=a.device, runtime=a.runtime, detector=a.detector, refine=a.refine, crop_model=crop_model)
    nmes, summary = evaluate(a.labels, fl, boxes=a.boxes, progress=not a.json, flip=a.flip)
    if a.ced:
        plot_ced({f"{a.model or 'bundled'} ({a.boxes} boxes), NME {summary.get('nme')}%": nmes}, a.ced)
    if a.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k:>12}: {v}")
    return 0


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def _predict(a) -> int:
    import cv2
    from tqdm import tqdm

    from .core.image_io import to_rgb_array
    from .face.drawing import draw_faces
    from .face.records import face_record
    from .inference.landmarker import FaceLandmarker
    from .inference.video import VIDEO_SUFFIXES, VideoError, process_video

    files = []
    for item in map(Path, a.inputs):
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        elif item.is_file():
            files.append(item)
        else:
            raise ImageError(f"{item}: no such file or folder")
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    files = [p for p in files if p not in videos]
    fl = FaceLandmarker(a.model, device=a.device, min_face=a.min_face, runtime=a.runtime)
    if a.draw:
        Path(a.draw).mkdir(parents=True, exist_ok=True)
    results, failed = {}, 0
    for path in videos:  # frame by frame, tracked; the points go to CSV and JSON Lines beside --out
        beside = Path(a.out).parent
        try:
            r = process_video(path, fl, out_video=Path(a.draw) / f"{path.stem}.mp4" if a.draw else None,
                              out_csv=beside / f"{path.stem}.landmarks.csv", out_jsonl=beside / f"{path.stem}.landmarks.jsonl")
        except VideoError as e:
            results[str(path)] = {"error": str(e)}
            failed += 1
            continue
        results[str(path)] = {"frames": r.frames, "faces": r.rows, "csv": str(r.csv), "jsonl": str(r.jsonl),
                              "video": None if r.video is None else str(r.video)}
    for path in tqdm(files, desc="predicting", unit="img"):
        try:
            rgb = to_rgb_array(path)
        except ImageError as e:  # one bad file does not stop a batch
            results[str(path)] = {"error": str(e)}
            failed += 1
            continue
        faces = fl(rgb)
        size = (rgb.shape[1], rgb.shape[0])
        results[str(path)] = {"faces": [face_record(f, size, i) for i, f in enumerate(faces, 1)]}
        if a.draw:
            out = Path(a.draw) / f"{path.stem}.jpg"
            cv2.imwrite(str(out), cv2.cvtColor(draw_faces(rgb, faces), cv2.COLOR_RGB2BGR))
    Path(a.out).write_text(json.dumps(results, indent=1))
    found = sum(len(r["faces"]) for p, r in results.items() if "faces" in r and Path(p) in files)
    tracked = sum(r.get("faces", 0) for p, r in results.items() if Path(p) in videos)
    print(f"{len(files)} images, {found} faces; {len(videos)} videos, {tracked} faces over all frames; "
          f"{failed} unreadable: {a.out}", file=sys.stderr)
    return 0


def _relabel(a) -> int:
    import numpy as np

    from .data.annotations import read_annotations, write_xml
    from .inference.landmarker import FaceLandmarker
    from .training.relabel import relabel

    try:  # before the model loads and the faces are read: a bad --out must not cost an hour's work
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(f"--out {a.out}: cannot create its folder ({e.strerror})") from None
    fl = FaceLandmarker(a.model, device=a.device, runtime=a.runtime)
    records, nmes = relabel(read_annotations(a.labels), fl, refine=a.refine, flip=a.flip)
    write_xml(records, a.out, name=f"{a.labels}, points by {a.model or 'the bundled model'}")
    print(f"wrote {len(records)} faces to {a.out}; NME against the old points: median "
          f"{100 * np.median(nmes):.2f} %, mean {100 * nmes.mean():.2f} %")
    return 0


def _refit(a) -> int:
    from .training.refit import refit_folder

    print(f"wrote {refit_folder(a.model, a.labels, a.out)}; make it shippable with: python -m landmarks export {a.out} DEST --half --int8 {a.labels}")
    return 0


def _export(a) -> int:
    from .hub.publish import export

    print(f"wrote {export(a.model_dir, a.dest, half=a.half, int8_labels=a.int8, readout=a.readout)}")
    return 0


def _push(a) -> int:
    from .hub.publish import push

    url = push(a.model_dir, a.repo_id, private=a.private)
    print(f"pushed {a.model_dir} to {a.repo_id}: {url}")
    return 0


def _deploy(a) -> int:
    from .hub.deploy import deploy

    print("\n".join(deploy(a.space_id, model=a.model, private=a.private, token=a.token).lines()))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m landmarks")
    sub = p.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="NME / failure rate / AUC on an annotation file")
    ev.add_argument("labels", help="dlib XML file or folder of .pts files")
    ev.add_argument("--model", help=MODEL_HELP)
    ev.add_argument("--boxes", choices=["gt", "detector", "haar"], default="gt",
                    help="gt: each face's tight landmark box (the papers' protocol); detector: the faces --detector finds "
                    "(haar: the older name of detector)")
    ev.add_argument("--detector", choices=["blazeface", "fast", "haar"], default="blazeface",
                    help="with --boxes detector (default: blazeface)")
    ev.add_argument("--refine", type=int, help="with --boxes detector: passes re-cropped at the points found "
                    "(default: the detector's, 0 for blazeface, 2 for the cascades)")
    ev.add_argument("--crop-model", help="with --boxes detector: a lighter model whose passes find the crops before --model "
                    "reads the points (default: the model's own, lite for the bundled full; none: the model alone)")
    ev.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    ev.add_argument("--runtime", choices=RUNTIMES, default="auto", help=RUNTIME_HELP)
    ev.add_argument("--flip", action="store_true", help="average each face with its mirror image (test-time augmentation)")
    ev.add_argument("--json", action="store_true", help="print exactly one JSON line")
    ev.add_argument("--ced", help="write the CED plot to this PNG")
    ev.add_argument("--save", action="store_true", help="write metrics.json, ced.png and the model card into the --model folder")
    ev.set_defaults(run=_evaluate)
    pr = sub.add_parser("predict", help="landmarks of every face in images, videos and folders, to JSON (and CSV for videos)")
    pr.add_argument("inputs", nargs="+", help="image and video files and folders (searched recursively)")
    pr.add_argument("--out", required=True, help="JSON file: image path -> faces (box, 68 points, score, head pose); "
                    "a video's rows go to VIDEO.landmarks.csv and .jsonl beside it")
    pr.add_argument("--draw", help="also write annotated copies (images; videos as .mp4) into this folder")
    pr.add_argument("--model", help=MODEL_HELP)
    pr.add_argument("--device")
    pr.add_argument("--min-face", type=int, default=40, help="smallest face side in pixels")
    pr.add_argument("--runtime", choices=RUNTIMES, default="auto", help=RUNTIME_HELP)
    pr.set_defaults(run=_predict)
    rl = sub.add_parser("relabel", help="pseudo-labels: an annotation file's faces with a model's points, to a new dlib XML")
    rl.add_argument("labels", help="dlib XML file or folder of .pts files; each face is cropped at its labelled points")
    rl.add_argument("--out", required=True, help="the new XML file (image paths relative to it; no image is copied)")
    rl.add_argument("--model", help=MODEL_HELP)
    rl.add_argument("--device")
    rl.add_argument("--runtime", choices=RUNTIMES, default="auto", help=RUNTIME_HELP)
    rl.add_argument("--refine", type=int, default=1, help="passes re-cropped at the model's own points (default 1)")
    rl.add_argument("--flip", action="store_true", help="average with the mirror image: helps models trained on "
                    "mirrored faces and not refitted (python -m landmarks refit); costs the bundled model 0.04 of NME")
    rl.set_defaults(run=_relabel)
    rf = sub.add_parser("refit", help="refit a pip model's point offsets by least squares on its training faces, never mirrored")
    rf.add_argument("model", help="model folder, run folder (its best/) or bundled model (full, lite)")
    rf.add_argument("labels", help="the faces to fit on: dlib XML file or folder of .pts files (its training faces)")
    rf.add_argument("--out", required=True, help="the new model folder (weights and config, as training writes them)")
    rf.set_defaults(run=_refit)
    ex = sub.add_parser("export", help="a shippable model folder: weights, config, the exact ONNX model, figures and model card")
    ex.add_argument("model_dir", help="model folder, run folder (its best/) or bundled model (full, lite)")
    ex.add_argument("dest")
    ex.add_argument("--half", action="store_true", help="store the weights in fp16 (half the size)")
    ex.add_argument("--int8", metavar="LABELS",
                    help="also write model.int8.onnx, calibrated on faces of this annotation file (e.g. labels_train.xml)")
    ex.add_argument("--readout", choices=["cell", "neighbours"],
                    help="how a pip model reads each point: at its best cell, or the mean over that cell's "
                         "neighbourhood (default: the model's own; pip models before recipe v2 read at the cell)")
    ex.set_defaults(run=_export)
    pu = sub.add_parser("push", help="push a model folder (or a run folder's best/ and log) to the Hugging Face Hub")
    pu.add_argument("model_dir")
    pu.add_argument("repo_id", help="user/repo")
    pu.add_argument("--private", action="store_true")
    pu.set_defaults(run=_push)
    de = sub.add_parser("deploy", help="create or update a Hugging Face Space that serves the app")
    de.add_argument("space_id", help="USER/SPACE")
    de.add_argument("--model", help="Hub model repo USER/MODEL[@rev] the Space serves (set as its LANDMARKS_MODEL); "
                    "default: upload the bundled weights")
    de.add_argument("--private", action="store_true", help="make the Space private")
    de.add_argument("--token", help="a Hub token that can write (default: HF_TOKEN or `hf auth login`)")
    de.set_defaults(run=_deploy)
    a = p.parse_args(argv)  # before the heavy imports: --help and usage errors answer at once
    from .detection.base import DetectorError
    from .hub.deploy import DeployError
    from .hub.publish import PushError
    from .model.folder import ModelError

    try:
        return a.run(a)
    except (ArgumentError, DatasetError, DetectorError, ImageError, ModelError, PushError, DeployError) as e:
        print(f"error: {in_flag_words(e, p)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:  # the app's install (requirements.txt) runs predict, not evaluate or export
        package = missing_training_package(e)
        if package is None:
            raise
        print(f"error: {a.command} needs {package}, which the app's install leaves out: pip install '.[train]'",
              file=sys.stderr)
        return 2


def missing_training_package(e: ModuleNotFoundError) -> str | None:
    """The training-only package whose absence ``e`` reports (the app's install leaves them out), else None."""
    package = (e.name or "").partition(".")[0]  # safetensors.torch: the safetensors package
    return package if package in TRAINING_MODULES else None


def in_flag_words(e: Exception, parser: argparse.ArgumentParser) -> str:
    """A library error about an argument (``ArgumentError``, by its Python name) as the command line says it."""
    if isinstance(e, ArgumentError):
        for action in _all_actions(parser):
            if action.dest == e.argument and action.option_strings:
                return f"{action.option_strings[-1]}: {e.why}"
    return str(e)


def _all_actions(parser: argparse.ArgumentParser):
    for action in parser._actions:  # argparse has no public listing of a parser's arguments
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_actions(sub)


if __name__ == "__main__":
    sys.exit(main())
