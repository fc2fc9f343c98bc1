"""Round eight of benchmarks/experiments.md: the filter candidates for steady points (kept for the record; run from this folder)."""
from pathlib import Path
import evalf, itertools, json
from evalf import *
data = pickle.load(open("./raw_fit.pkl", "rb"))
evalf.SKIP = 0.5
rows = []
for rf, rb, sf, sb, sdc in itertools.product((0.1, 0.3), (30, 100, 300), (0.1, 0.3), (200, 500), (0.5, 1.0)):
    mk = lambda: C.RigidShape2(rf, rb, 1.0, sf, sb, sdc=sdc, groups="region", sk=2)
    r = evaluate(mk, data); m = mouth(mk, data)
    print(rf, rb, sf, sb, sdc, fmt(r), {k: round(v, 2) for k, v in m.items()}, flush=True)
