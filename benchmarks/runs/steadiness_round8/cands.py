"""Round eight of benchmarks/experiments.md: the filter candidates for steady points (kept for the record; run from this folder)."""
from pathlib import Path
SPEEDS = []
GROW = True
import math, numpy as np

def alpha(cutoff, dt):
    return 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff * dt))

class OneEuroPts:
    """per-point One-Euro, speed = norm of mean velocity, in face sizes/s"""
    def __init__(self, fmin, beta, dc=1.0):
        self.fmin, self.beta, self.dc = fmin, beta, dc; self.x = None
    def __call__(self, p, t):
        size = np.linalg.norm(p[36]-p[45])
        if self.x is None:
            self.x, self.dx, self.t = p.astype(np.float64), np.zeros_like(p, np.float64), t; return p
        dt = t - self.t; self.t = t
        dx = (p - self.x) / dt
        self.dx += alpha(self.dc, dt) * (dx - self.dx)
        speed = np.linalg.norm(self.dx.mean(0)) / size
        self.x = self.x + alpha(self.fmin + self.beta * speed, dt) * (p - self.x)
        return self.x

class KalmanCV:
    """constant velocity per coordinate; q: accel noise (face sizes/s^2)^2/Hz-ish, r: meas (face sizes)^2"""
    def __init__(self, q, r):
        self.q, self.r = q, r; self.x = None
    def __call__(self, p, t):
        size = np.linalg.norm(p[36]-p[45]); z = p.reshape(-1).astype(np.float64)
        if self.x is None:
            self.x = z.copy(); self.v = np.zeros_like(z); self.P = np.array([[self.r, 0], [0, 1.0]]) * size**2; self.t = t; return p
        dt = t - self.t; self.t = t
        F = np.array([[1, dt], [0, 1]]); Q = self.q * size**2 * np.array([[dt**3/3, dt**2/2], [dt**2/2, dt]])
        self.x = self.x + dt * self.v
        P = F @ self.P @ F.T + Q
        S = P[0, 0] + self.r * size**2
        K = P[:, 0] / S
        y = z - self.x
        self.x = self.x + K[0] * y; self.v = self.v + K[1] * y
        self.P = P - np.outer(K, P[0])
        return self.x.reshape(-1, 2)

def similarity(src, dst):
    """s, R, t with dst ~ s R src + t (Umeyama)"""
    ms, md = src.mean(0), dst.mean(0); a, b = src - ms, dst - md
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    sgn = np.sign(np.linalg.det(u @ vt)); D = np.diag([1, sgn])
    R = u @ D @ vt; s = (d * np.diag(D)).sum() / (a ** 2).sum() * len(src)
    return s, R, md - s * R @ ms

class OneEuroVec:
    def __init__(self, fmin, beta, dc, k=1):
        self.fmin, self.beta, self.dc, self.k = fmin, beta, dc, k; self.x = None
    def __call__(self, v, dt, speed_fn):
        if self.x is None:
            self.x, self.dx, self.n = v.copy(), np.zeros_like(v), 1; return v
        self.n += 1
        dx = (v - self.x) / dt
        self.dx = self.dx + alpha(self.dc, dt) * (dx - self.dx)
        sp = speed_fn(self.dx); SPEEDS.append(sp) if self is not None and getattr(self,'log',False) else None
        a = alpha(self.fmin + self.beta * sp ** self.k, dt)
        if GROW: a = max(a, 1 / self.n)
        self.x = self.x + a * (v - self.x)
        return self.x

class RigidShape:
    """rigid (tx, ty in face sizes; log scale; angle) One-Euro lightly; shape in template frame One-Euro strongly"""
    def __init__(self, rf, rb, rdc, sf, sb, sdc=1.0, k=1):
        self.rigid = OneEuroVec(rf, rb, rdc, k); self.rigid.log = True; self.shape = OneEuroVec(sf, sb, sdc)
        self.template = None
    def __call__(self, p, t):
        p = p.astype(np.float64)
        if self.template is None:
            c = p.mean(0); size = np.sqrt(((p - c) ** 2).sum(1).mean())
            self.template = (p - c) / size; self.t = t
        dt = t - self.t if t > self.t else 1.0; self.t = t
        s, R, tr = similarity(self.template, p)
        ang = math.atan2(R[1, 0], R[0, 0])
        shape = ((p - tr) @ R) / s  # inverse map: template frame
        rig = np.array([tr[0], tr[1], math.log(s), ang])
        # translation in face sizes: dividing by s makes it scale-invariant; but then tx/s changes when s changes
        w = np.array([1 / s, 1 / s, 1, 1])
        r = self.rigid(rig, dt, lambda d: np.linalg.norm(d * w))
        sh = self.shape(shape.reshape(-1), dt, lambda d: np.sqrt((d ** 2).mean() * 2)).reshape(-1, 2)
        s2, a2 = math.exp(r[2]), r[3]
        R2 = np.array([[math.cos(a2), -math.sin(a2)], [math.sin(a2), math.cos(a2)]])
        return s2 * sh @ R2.T + np.array([r[0], r[1]])

from landmarks.scheme import REGIONS
GROUPS = {"region": [list(r) for r in REGIONS.values()], "point": [[i] for i in range(68)], "face": [list(range(68))]}

class GroupEuro:
    """One-Euro on (68, 2) canonical shape; cutoff per group from the group's mean velocity (face units/s)"""
    def __init__(self, fmin, beta, dc, k, groups):
        self.fmin, self.beta, self.dc, self.k, self.groups = fmin, beta, dc, k, GROUPS[groups]; self.x = None
    def __call__(self, v, dt):
        if self.x is None:
            self.x, self.dx, self.n = v.copy(), np.zeros_like(v), 1; return v
        self.n += 1
        dx = (v - self.x) / dt
        self.dx = self.dx + alpha(self.dc, dt) * (dx - self.dx)
        a = np.empty(len(v))
        for g in self.groups:
            sp = np.linalg.norm(self.dx[g].mean(0))
            a[g] = alpha(self.fmin + self.beta * sp ** self.k, dt)
            if GROW: a[g] = np.maximum(a[g], 1 / self.n)
        self.x = self.x + a[:, None] * (v - self.x)
        return self.x

class RigidShape2(RigidShape):
    def __init__(self, rf, rb, rdc, sf, sb, sdc=1.0, k=2, groups="region", sk=2):
        self.rigid = OneEuroVec(rf, rb, rdc, k); self.shape = GroupEuro(sf, sb, sdc, sk, groups); self.template = None
    def __call__(self, p, t):
        p = p.astype(np.float64)
        if self.template is None:
            c = p.mean(0); size = np.sqrt(((p - c) ** 2).sum(1).mean())
            self.template = (p - c) / size; self.t = t
        dt = t - self.t if t > self.t else 1.0; self.t = t
        s, R, tr = similarity(self.template, p)
        ang = math.atan2(R[1, 0], R[0, 0])
        shape = ((p - tr) @ R) / s
        rig = np.array([tr[0], tr[1], math.log(s), ang])
        w = np.array([1 / s, 1 / s, 1, 1])
        r = self.rigid(rig, dt, lambda d: np.linalg.norm(d * w))
        sh = self.shape(shape, dt)
        s2, a2 = math.exp(r[2]), r[3]
        R2 = np.array([[math.cos(a2), -math.sin(a2)], [math.sin(a2), math.cos(a2)]])
        return s2 * sh @ R2.T + np.array([r[0], r[1]])
GROUPS["big"] = [list(range(0, 17)) + list(range(48, 68)), list(range(17, 27)), list(range(27, 36)), list(range(36, 48))]
GROUPS["mid"] = [list(range(0, 17)), list(range(17, 27)), list(range(27, 36)), list(range(36, 48)), list(range(48, 68))]
