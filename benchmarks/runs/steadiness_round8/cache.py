"""Round eight of benchmarks/experiments.md: the filter candidates for steady points (kept for the record; run from this folder)."""
from pathlib import Path
import sys, numpy as np, pickle
sys.path.insert(0, str(Path(__file__).resolve().parents[3])); sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import steadiness as S
from landmarks.predictor import FaceLandmarker
from landmarks.sample_pictures import second_portrait
from pathlib import Path
fl = FaceLandmarker(device="cpu")
which = sys.argv[1]; SUF = sys.argv[2] if len(sys.argv) > 2 else ""
if which == "fit":
    col = second_portrait(); pts = fl(col)[0].points
    scenes = [S.portrait_scene(), S.pasted_scene("collins", col, pts)] + S.labelled_scenes(Path("../shared/data/ibug300w/labels_train.xml"), 4, "train")
else:
    scenes = S.labelled_scenes(Path("../shared/data/ibug300w/labels_test_common.xml"), 6, "test")
out = {}
for s in scenes:
    for fps in (30, 10):
        for k, kind in enumerate(S.MOTIONS):
            frames, m = s.clip(kind, fps, seed=k)
            out[(s.name, fps, kind)] = (m, S.ours(fl, frames, fps, smooth=False))
    print(s.name, flush=True)
pickle.dump(out, open(f"./raw_{which}{SUF}.pkl", "wb"))
