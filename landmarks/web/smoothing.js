// The port of landmarks/smoothing.py: a face's similarity motion (shift, scale, roll) and its
// shape in its own frame, each through One-Euro filters whose cutoff grows with the square of
// the speed; the shape's cutoff per part of the face. Same parameters, in seconds and Hz.
const MOTION = [0.1, 100.0, 4.0], SHAPE = [0.1, 1000.0, 1.0];
const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
// jaw and lips, brows, nose, eyes (scheme.REGIONS)
const PARTS = [[...range(0, 17), ...range(48, 68)], range(17, 27), range(27, 36), range(36, 48)];

const alpha = (cutoff, dt) => 1 / (1 + 1 / (2 * Math.PI * cutoff * dt));

class OneEuro {  // rows x d values; the rows of a group share one cutoff from their mean's speed
  constructor([minCutoff, beta, dCutoff], groups = null) {
    Object.assign(this, { minCutoff, beta, dCutoff, groups, x: null, dx: null, n: 0 });
  }

  filter(value, d, dt, weights, frames = 1) {  // value: Float64Array of rows * d, standing for `frames` frames
    this.n += frames;
    if (!this.x) { this.x = Float64Array.from(value); this.dx = new Float64Array(value.length); return this.x; }
    const ad = alpha(this.dCutoff, dt), rows = value.length / d;
    for (let i = 0; i < value.length; i++) this.dx[i] += ad * ((value[i] - this.x[i]) / dt - this.dx[i]);
    const a = new Float64Array(rows);
    for (const g of this.groups || [range(0, rows)]) {
      let speed = 0;
      for (let k = 0; k < d; k++) {
        let m = 0;
        for (const r of g) m += this.dx[r * d + k];
        speed += ((m / g.length) * (weights ? weights[k] : 1)) ** 2;
      }
      // the first frames are averaged (1/n): calm from the start without keeping the first frame's error
      const v = Math.max(alpha(this.minCutoff + this.beta * speed, dt), 1 / this.n);
      for (const r of g) a[r] = v;
    }
    for (let i = 0; i < value.length; i++) this.x[i] += a[Math.floor(i / d)] * (value[i] - this.x[i]);
    return this.x;
  }
}

export class FaceFilter {  // filter(points: 136 values x, y, ..., t seconds, frames they stand for) -> smoothed points
  // motion, shape: [min cutoff, beta, speed cutoff] (the model's config.json "smoothing")
  constructor({ motion = MOTION, shape = SHAPE } = {}) { this.params = { motion, shape }; this.reset(); }

  reset() {
    this.motion = new OneEuro(this.params.motion);
    this.shape = new OneEuro(this.params.shape, PARTS);
    this.template = null;  // the first shape, centred, unit RMS size: [re, im] per point
    this.last = null;
    this.angle = 0;
  }

  filter(points, t, frames = 1) {
    if (this.last !== null && t <= this.last) this.reset();
    const dt = this.last === null ? 0 : t - this.last, n = points.length / 2;
    this.last = t;
    let mx = 0, my = 0;
    for (let i = 0; i < n; i++) { mx += points[2 * i]; my += points[2 * i + 1]; }
    mx /= n; my /= n;
    if (!this.template) {
      let rms = 0;
      for (let i = 0; i < n; i++) rms += (points[2 * i] - mx) ** 2 + (points[2 * i + 1] - my) ** 2;
      rms = Math.sqrt(rms / n);
      this.template = Float64Array.from(points, (v, j) => (v - (j % 2 ? my : mx)) / rms);
      this.angle = 0;
    }
    // the similarity z ~ a * template + centre (complex a, least squares): a = <T, z - c> / <T, T>
    const T = this.template;
    let re = 0, im = 0, tt = 0;
    for (let i = 0; i < n; i++) {
      const tr = T[2 * i], ti = T[2 * i + 1], zr = points[2 * i] - mx, zi = points[2 * i + 1] - my;
      re += tr * zr + ti * zi; im += tr * zi - ti * zr; tt += tr * tr + ti * ti;
    }
    re /= tt; im /= tt;
    const mag = Math.hypot(re, im), rot = Math.atan2(im, re);
    // unwrapped: no jump at +-180 degrees
    const angle = this.angle + Math.atan2(Math.sin(rot - this.angle), Math.cos(rot - this.angle));
    const shape = new Float64Array(2 * n), d2 = mag * mag;
    for (let i = 0; i < n; i++) {  // (z - c) / a
      const zr = points[2 * i] - mx, zi = points[2 * i + 1] - my;
      shape[2 * i] = (zr * re + zi * im) / d2; shape[2 * i + 1] = (zi * re - zr * im) / d2;
    }
    // speeds in face sizes per second: the shift divided by the face's size
    const m = this.motion.filter([mx, my, Math.log(mag), angle], 4, dt, [1 / mag, 1 / mag, 1, 1], frames);
    const s = this.shape.filter(shape, 2, dt, null, frames);
    this.angle = m[3];
    const k = Math.exp(m[2]), c = Math.cos(m[3]) * k, sn = Math.sin(m[3]) * k, out = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      out[2 * i] = c * s[2 * i] - sn * s[2 * i + 1] + m[0]; out[2 * i + 1] = sn * s[2 * i] + c * s[2 * i + 1] + m[1];
    }
    return out;
  }
}
