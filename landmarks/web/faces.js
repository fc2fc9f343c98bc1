// Faces in a camera frame, in the page: the ports of landmarks/model/preprocess.py +
// core/geometry.crop (crop), detection/blazeface.py (detector), inference/landmarker.py (points
// from boxes) and inference/tracking.py (FaceTracker). Same constants, same order of steps:
// tests/test_live.py compares the points with Python's. A frame is {data: RGBA bytes, width,
// height}; a box is [x, y, w, h].
import { FaceFilter } from "./smoothing.js";

const STRIDE = 4, ALIGN = 32, SMALLEST = 20, LARGEST = 128, STEP = 4;  // blazeface.py

export function landmarkBox(p) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < p.length; i += 2) {
    x0 = Math.min(x0, p[i]); x1 = Math.max(x1, p[i]); y0 = Math.min(y0, p[i + 1]); y1 = Math.max(y1, p[i + 1]);
  }
  return [x0, y0, x1 - x0, y1 - y0];
}

export function iou(a, b) {
  const iw = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  return inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-9);
}

// OpenCV's RGB2GRAY on uint8 (fixed point, ITU-R 601)
function grey(frame) {
  const { data, width, height } = frame, out = new Uint8Array(width * height);
  for (let i = 0, j = 0; j < out.length; i += 4, j++) out[j] = (data[i] * 4899 + data[i + 1] * 9617 + data[i + 2] * 1868 + 8192) >> 14;
  return { data: out, width, height, channels: 1 };
}

function rgb(frame) {
  const { data, width, height } = frame, out = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < out.length; i += 4, j += 3) { out[j] = data[i]; out[j + 1] = data[i + 1]; out[j + 2] = data[i + 2]; }
  return { data: out, width, height, channels: 3 };
}

// cv2.resize INTER_AREA, shrinking only: each output pixel the area-weighted mean of the input it covers
function areaResize(img, nw, nh) {
  const { data, width, height, channels: c } = img, out = new Uint8Array(nw * nh * c);
  const spans = (n, m) => {  // per output index: [first input, weights...]
    const f = n / m, s = [];
    for (let o = 0; o < m; o++) {
      const a = o * f, b = a + f, w = [];
      for (let i = Math.floor(a); i < Math.min(Math.ceil(b), n); i++) w.push(Math.min(b, i + 1) - Math.max(a, i));
      s.push([Math.floor(a), w.map((v) => v / f)]);
    }
    return s;
  };
  const xs = spans(width, nw), ys = spans(height, nh), acc = new Float64Array(c);
  for (let oy = 0; oy < nh; oy++) {
    const [y0, wy] = ys[oy];
    for (let ox = 0; ox < nw; ox++) {
      const [x0, wx] = xs[ox];
      acc.fill(0);
      for (let j = 0; j < wy.length; j++) for (let i = 0; i < wx.length; i++) {
        const w = wy[j] * wx[i], k = ((y0 + j) * width + x0 + i) * c;
        for (let ch = 0; ch < c; ch++) acc[ch] += w * data[k + ch];
      }
      for (let ch = 0; ch < c; ch++) out[(oy * nw + ox) * c + ch] = Math.round(acc[ch]);
    }
  }
  return { data: out, width: nw, height: nh, channels: c };
}

// geometry.region_from_box
export function region(box, pre) {
  let [x, y, w, h] = box;
  const cx = x + w / 2, cy = y + h / 2;
  if (pre.square) w = h = Math.max(w, h);
  return [cx, cy, w * (1 + pre.margin), h * (1 + pre.margin)];
}

// geometry.crop: the region resampled to size x size, bilinear, black outside; a region much
// larger than the output is first shrunk by an integer factor with area averaging
function crop(img, reg, size, out, offset) {
  let [cx, cy, sw, sh] = reg;
  const shrink = Math.floor(Math.min(sw, sh) / size / 1.5);
  if (shrink >= 2) {
    const x0 = Math.floor(cx - sw / 2) - shrink, y0 = Math.floor(cy - sh / 2) - shrink;
    const x1 = Math.ceil(cx + sw / 2) + shrink, y1 = Math.ceil(cy + sh / 2) + shrink;
    const ox = Math.max(x0, 0), oy = Math.max(y0, 0), wx = Math.min(x1, img.width) - ox, wy = Math.min(y1, img.height) - oy;
    if (wx <= 0 || wy <= 0) return;  // all black: out is zeros there
    const c = img.channels, win = new Uint8Array(wx * wy * c);
    for (let j = 0; j < wy; j++) win.set(img.data.subarray(((oy + j) * img.width + ox) * c, ((oy + j) * img.width + ox + wx) * c), j * wx * c);
    const small = areaResize({ data: win, width: wx, height: wy, channels: c }, Math.max(Math.floor(wx / shrink), 1), Math.max(Math.floor(wy / shrink), 1));
    const fx = wx / small.width, fy = wy / small.height;
    [cx, cy, sw, sh] = [(cx - ox + 0.5) / fx - 0.5, (cy - oy + 0.5) / fy - 0.5, sw / fx, sh / fy];
    img = small;
  }
  const { data, width, height, channels: c } = img, ax = sw / size, ay = sh / size;
  const bx = cx + 0.5 * ax - sw / 2, by = cy + 0.5 * ay - sh / 2, plane = size * size;
  const at = (x, y, ch) => (x < 0 || y < 0 || x >= width || y >= height ? 0 : data[(y * width + x) * c + ch]);
  for (let v = 0; v < size; v++) {
    // OpenCV's warpAffine samples at 1/32 pixel steps (INTER_BITS = 5)
    const y = Math.round((by + v * ay) * 32) / 32, y0 = Math.floor(y), fy = y - y0;
    for (let u = 0; u < size; u++) {
      const x = Math.round((bx + u * ax) * 32) / 32, x0 = Math.floor(x), fx = x - x0;
      for (let ch = 0; ch < c; ch++) {
        const top = at(x0, y0, ch) * (1 - fx) + at(x0 + 1, y0, ch) * fx;
        const bottom = at(x0, y0 + 1, ch) * (1 - fx) + at(x0 + 1, y0 + 1, ch) * fx;
        out[offset + ch * plane + v * size + u] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
}

export class Landmarker {
  // sessions: {landmarks, detector}, each with ONNX Runtime's run(feeds) on plain {data, dims}
  // tensors (pool.js); pre: config.json's "preprocess"; minScore, refine: FaceLandmarker's;
  // boxFit: blazeface_box_fit.json's 9 x 4 "fit" (1, then four keypoints' x and y)
  constructor(sessions, pre, minScore, refine, boxFit, minFace = 40) {
    Object.assign(this, { sessions, pre, minScore, refine, boxFit, minFace, minConfidence: 0.5, nmsIou: 0.3, maxSide: 1280 });
  }

  // Faces (boxes the points' own) for tight landmark boxes, all in one batch; `refine` more passes
  async predictBoxes(frame, boxes, refine = 0) {
    if (!boxes.length) return [];
    const { size, channels, mean, std } = this.pre, img = channels === 1 ? (frame.grey ||= grey(frame)) : (frame.rgb ||= rgb(frame));
    let points, confidence, used;
    for (let pass = 0; pass <= refine; pass++) {
      const regions = boxes.map((b) => region(b, this.pre)), n = regions.length, per = channels * size * size;
      const bytes = new Uint8Array(n * per);
      regions.forEach((r, i) => crop(img, r, size, bytes, i * per));
      const x = new Float32Array(bytes.length);
      for (let i = 0; i < x.length; i++) x[i] = (bytes[i] / 255 - mean) / std;
      const out = await this.sessions.landmarks.run({ crops: { data: x, dims: [n, channels, size, size] } });
      const t = out.points.data, k = t.length / n;
      points = regions.map(([cx, cy, sw, sh], i) => Float32Array.from(t.subarray(i * k, (i + 1) * k), (v, j) => (j % 2 ? v * sh + cy : v * sw + cx)));
      confidence = out.confidence.data;
      used = boxes;
      boxes = points.map(landmarkBox);
    }
    const m = confidence.length / points.length;
    return points.map((p, i) => {
      let s = 0;
      for (let j = 0; j < m; j++) s += confidence[i * m + j];
      return { box: used[i], points: p, score: s / m };
    });
  }

  // BlazeFaceDetector.__call__: boxes of all passes, small ones dropped, suppressed, mapped to
  // landmark boxes by their keypoints, largest first
  async detect(frame) {
    const img = (frame.rgb ||= rgb(frame)), { width: w, height: h } = img;
    const scales = [Math.min(1, SMALLEST / this.minFace, this.maxSide / Math.max(h, w))];
    while (LARGEST / scales[scales.length - 1] < Math.min(h, w)) scales.push(scales[scales.length - 1] / STEP);
    const cands = [];
    for (const scale of scales) {
      const nh = Math.max(1, Math.round(h * scale)), nw = Math.max(1, Math.round(w * scale));
      const small = scale < 1 ? areaResize(img, nw, nh) : img;
      const ph = Math.ceil(nh / ALIGN) * ALIGN, pw = Math.ceil(nw / ALIGN) * ALIGN, x = new Float32Array(3 * ph * pw);
      for (let y = 0; y < nh; y++) for (let xx = 0; xx < nw; xx++) for (let c = 0; c < 3; c++)
        x[c * ph * pw + y * pw + xx] = small.data[(y * nw + xx) * 3 + c] * (2 / 255) - 1;
      const out = await this.sessions.detector.run({ input: { data: x, dims: [1, 3, ph, pw] } });
      const [reg, logit] = Object.values(out).sort((a, b) => b.dims[2] - a.dims[2]).map((t) => t.data);
      const gw = pw / STRIDE;
      for (let k = 0; k < logit.length; k++) {
        const conf = 1 / (1 + Math.exp(-Math.max(-80, Math.min(80, logit[k]))));
        if (conf < this.minConfidence) continue;
        const ax = ((k % gw) + 0.5) * STRIDE, ay = (Math.floor(k / gw) + 0.5) * STRIDE, r = reg.subarray(k * 16, k * 16 + 16);
        const box = [(r[0] + ax - r[2] / 2) / scale, (r[1] + ay - r[3] / 2) / scale, r[2] / scale, r[3] / scale];
        const keypoints = Array.from({ length: this.boxFit.length - 1 }, (_, j) => (r[4 + j] + (j % 2 ? ay : ax)) / scale);
        if (box[2] >= this.minFace) cands.push({ box, conf, keypoints });
      }
    }
    // cv2.dnn.NMSBoxes: by confidence, each kept unless it overlaps a kept one by more than nmsIou
    const kept = [];
    for (const c of cands.sort((a, b) => b.conf - a.conf)) if (kept.every((k) => iou(k.box, c.box) <= this.nmsIou)) kept.push(c);
    return kept.map((c) => this.keypointBox(c)).sort((a, b) => b[2] * b[3] - a[2] * a[3]);
  }

  // blazeface.keypoint_boxes: 1 and the eyes', nose tip's and mouth's x, y relative to the box's
  // centre, in box widths, times the fit: the landmark box's centre offset and size, in box widths
  keypointBox({ box: [x, y, w, h], keypoints }) {
    const cx = x + w / 2, cy = y + h / 2, features = [1, ...keypoints.map((v, j) => (v - (j % 2 ? cy : cx)) / w)];
    const [dx, dy, bw, bh] = [0, 1, 2, 3].map((c) => w * features.reduce((s, f, i) => s + f * this.boxFit[i][c], 0));
    return [cx + dx - bw / 2, cy + dy - bh / 2, bw, bh];
  }

  confident(face) {  // FaceLandmarker.confident
    return face.score >= this.minScore;
  }

  // FaceLandmarker.from_detections
  async fromDetections(frame, boxes) {
    const faces = (await this.predictBoxes(frame, boxes, this.refine)).map((f, i) => ({ ...f, box: boxes[i] })).filter((f) => this.confident(f));
    return distinct(faces, (f) => -f.score).sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]);
  }
}

// landmarker.distinct: in rank order, each dropped whose points' box overlaps a kept one (IoU >= 0.5)
function distinct(faces, rank) {
  const kept = [];
  for (const f of [...faces].sort((a, b) => rank(a) - rank(b)))
    if (kept.every((k) => iou(landmarkBox(f.points), landmarkBox(k.points)) < 0.5)) kept.push(f);
  return kept;
}

// detection/base.match_detections
function matchDetections(gt, det, minIou = 0.3) {
  const used = new Set();
  return gt.map((g) => {
    let best = [0, null];
    det.forEach((d, j) => { if (!used.has(j)) { const v = iou(g, d); if (v > best[0]) best = [v, j]; } });
    if (best[0] >= minIou) { used.add(best[1]); return best[1]; }
    return null;
  });
}

function moved(a, b) {  // tracking._moved
  const size = (a[2] + a[3]) / 2, shift = Math.hypot(b[0] + b[2] / 2 - a[0] - a[2] / 2, b[1] + b[3] / 2 - a[1] - a[3] / 2);
  return Math.max(shift, Math.abs(b[2] + b[3] - a[2] - a[3]) / 2) / size;
}

// tracking.START_SHIFTS, START_FRAMES: a new face's start
const START_SHIFTS = [[0.003, 0], [-0.003, 0], [0, 0.003], [0, -0.003]], START_FRAMES = 3;

// tracking.FaceTracker: the detector now and then, the previous points' box in between
export class FaceTracker {
  // smoothing: the model's FaceFilter parameters ({} : the defaults)
  constructor(landmarker, { smooth = true, detectEvery = 15, settle = 3, recrop = 0.05, start = 4, smoothing = {} } = {}) {
    Object.assign(this, { fl: landmarker, smooth, detectEvery, settle, recrop, start, smoothing, faces: [], filters: [], sinceDetection: 0, detections: 0, frames: 0 });
  }

  // faces of this frame, largest first: {box, points (smoothed), raw, score}; t in seconds
  async track(frame, t) {
    this.frames++;
    let tracks = await this.follow(frame);
    this.sinceDetection++;
    if (!tracks.length || tracks.length < this.faces.length || this.sinceDetection >= this.detectEvery) {
      tracks = await this.addDetections(frame, tracks);
      this.sinceDetection = 0;
      this.detections++;
    }
    tracks = distinct(tracks.map((tr) => ({ ...tr, box: landmarkBox(tr.points) })), (f) => -f.box[2] * f.box[3]);
    this.faces = tracks;
    const starts = this.smooth ? await this.starts(frame, tracks.filter((tr) => !tr.filter)) : [];
    this.filters = tracks.map((tr) => tr.filter || new FaceFilter(this.smoothing));
    let fresh = 0;
    return tracks.map((tr, i) => {
      const points = !this.smooth ? tr.points
        : tr.filter ? this.filters[i].filter(tr.points, t) : this.filters[i].filter(starts[fresh++], t, START_FRAMES);
      return { box: landmarkBox(points), points, raw: tr.points, score: tr.score };
    });
  }

  async starts(frame, faces) {  // tracking.FaceTracker.starts: points averaged with those of crops moved by a hair
    const k = Math.min(this.start, START_SHIFTS.length);
    if (!faces.length || !k) return faces.map((f) => f.points);
    const boxes = faces.flatMap((f) => {
      const [x, y, w, h] = landmarkBox(f.points);
      return START_SHIFTS.slice(0, k).map(([dx, dy]) => [x + dx * w, y + dy * w, w, h]);
    });
    const found = await this.fl.predictBoxes(frame, boxes);
    return faces.map((f, i) => {
      const sum = Float64Array.from(f.points);
      for (const g of found.slice(i * k, (i + 1) * k)) g.points.forEach((v, j) => { sum[j] += v; });
      return Float32Array.from(sum, (v) => v / (k + 1));
    });
  }

  async follow(frame) {
    if (!this.faces.length) return [];
    const boxes = this.faces.map((f) => landmarkBox(f.points)), found = await this.fl.predictBoxes(frame, boxes);
    const again = found.map((f, i) => i).filter((i) => moved(boxes[i], landmarkBox(found[i].points)) > this.recrop);
    const redone = await this.fl.predictBoxes(frame, again.map((i) => landmarkBox(found[i].points)));
    again.forEach((i, k) => { found[i] = redone[k]; });
    return found.map((f, i) => ({ ...f, filter: this.filters[i] })).filter((f) => this.fl.confident(f));
  }

  async addDetections(frame, tracked) {  // a detection of a tracked face costs no network pass
    const boxes = await this.fl.detect(frame);
    const match = matchDetections(tracked.map((f) => landmarkBox(f.points)), boxes);
    const taken = new Set(match.filter((m) => m !== null)), untracked = boxes.filter((b, i) => !taken.has(i));
    let fresh = untracked.length ? await this.fl.fromDetections(frame, untracked) : [];
    if (fresh.length && this.settle) fresh = await this.fl.predictBoxes(frame, fresh.map((f) => landmarkBox(f.points)), this.settle - 1);
    return [...tracked, ...fresh.map((f) => ({ ...f, filter: null }))];
  }
}
