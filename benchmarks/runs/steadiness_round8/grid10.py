"""Round eight of benchmarks/experiments.md: the filter candidates for steady points (kept for the record; run from this folder)."""
from pathlib import Path
import evalf, itertools
from evalf import *
data = pickle.load(open("./raw_fit.pkl", "rb"))
evalf.SKIP = 0.5
for rf, rb, sf, sb, g in [(0.1, 1000, 0.1, 500, "region"), (0.1, 3000, 0.1, 500, "region"), (0.1, 300, 0.1, 500, "mid"), (0.1, 300, 0.1, 1000, "mid"), (0.1, 300, 0.1, 500, "big"), (0.1, 300, 0.1, 1000, "big")]:
    mk = lambda: C.RigidShape2(rf, rb, 1.0, sf, sb, sdc=1.0, groups=g, sk=2)
    r = evaluate(mk, data); m = mouth(mk, data)
    print(rf, rb, sf, sb, g, fmt(r), {k: round(v, 2) for k, v in m.items()}, flush=True)
