"""Round eight of benchmarks/experiments.md: the filter candidates for steady points (kept for the record; run from this folder)."""
from pathlib import Path
import evalf
from evalf import *
fit = pickle.load(open("./raw_fit_settle2.pkl", "rb"))
for grow in (True, False):
    C.GROW = grow
    for rf, rb, sf, sb in [(0.1, 300, 0.1, 1000), (0.3, 300, 0.3, 1000), (0.3, 1000, 0.3, 1000), (0.5, 1000, 0.5, 1000)]:
        mk = lambda: C.RigidShape2(rf, rb, 1.0, sf, sb, sdc=1.0, groups="big", sk=2)
        evalf.SKIP = 0; r = fmt(evaluate(mk, fit)); evalf.SKIP = 0.5; j = evaluate(mk, fit)
        print(grow, rf, rb, sf, sb, r, "skip j", round(j[30]["still"], 3), round(j[10]["still"], 3), {k: round(v, 2) for k, v in mouth(mk, fit).items()}, flush=True)
