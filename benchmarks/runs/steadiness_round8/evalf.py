"""Round eight of benchmarks/experiments.md: the filter candidates for steady points (kept for the record; run from this folder)."""
from pathlib import Path
SKIP = 0
import sys, pickle, numpy as np, itertools
sys.path.insert(0, str(Path(__file__).resolve().parents[3])); sys.path.insert(0, str(Path(__file__).resolve().parents[2])); sys.path.insert(0, ".")
import steadiness as S, cands as C

def run(make, raw, fps):
    f = make(); return np.array([f(p, i / fps) for i, p in enumerate(raw)])

def evaluate(make, data, fps_list=(30, 10)):
    """mean over scenes of measures, per fps"""
    names = sorted({k[0] for k in data})
    res = {}
    for fps in fps_list:
        rows = []
        for n in names:
            per = {kind: (data[(n, fps, kind)][0], run(make, data[(n, fps, kind)][1], fps) if make else data[(n, fps, kind)][1]) for kind in S.MOTIONS}
            rows.append(S.measures(per, (36, 45), fps))
            if SKIP: m, p = per['still']; rows[-1]['still'] = S.measures({"still": (m[int(SKIP*fps):], p[int(SKIP*fps):])}, (36, 45), fps)['still']
        res[fps] = {k: np.mean([r[k] for r in rows]) for k in S.MOTIONS}
    return res

def fmt(r):
    return "  ".join(f"{fps}: j {v['still']:.3f} sl {v['slide']:.2f} tu {v['turn']:.2f} cl {v['closer']:.2f}" for fps, v in r.items())

if __name__ == "__main__":
    data = pickle.load(open(f"./raw_{sys.argv[1]}.pkl", "rb"))
    print("raw      ", fmt(evaluate(None, data)))
    print("oldOE    ", fmt(evaluate(lambda: C.OneEuroPts(0.3, 0.1 * 139), data)))

MOUTH = list(range(5, 12)) + list(range(55, 60)) + list(range(65, 68))  # jaw and lower lip move when the mouth opens

def mouth(make, data, fps_list=(30, 10)):
    """still clips with a synthetic mouth opening (0.2 IOD down over 0.15 s at t=1 s): mean error of
    the moved points over 1..2 s, % IOD, vs truth = still mean + the opening"""
    names = sorted({k[0] for k in data}); out = {}
    for fps in fps_list:
        errs = []
        for n in names:
            p = data[(n, fps, "still")][1].astype(np.float64).copy(); mean = p.mean(0); iod = np.linalg.norm(mean[36] - mean[45])
            t = np.arange(len(p)) / fps
            open_ = np.clip((t - 1) / 0.15, 0, 1)[:, None] * 0.2 * iod
            p[:, MOUTH, 1] += open_; truth = np.repeat(mean[None], len(p), 0); truth[:, MOUTH, 1] += open_
            q = run(make, p, fps) if make else p
            sel = (t >= 1) & (t < 2)
            errs.append(np.linalg.norm(q[sel][:, MOUTH] - truth[sel][:, MOUTH], axis=2).mean() / iod * 100)
        out[fps] = np.mean(errs)
    return out
