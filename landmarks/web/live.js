// The Live tab: the camera, the models and the drawing, all in the page (faces.js finds the
// faces). Settings come from #live-root's data-config (landmarks/webapp/live.py). Frames never leave
// the page: the server sends the models once and hears nothing more.
import { FaceTracker, Landmarker } from "./faces.js";
import { WorkerPool } from "./pool.js";
import { FaceFilter } from "./smoothing.js";

// a module that uses one SIMD instruction: validates only where WebAssembly has SIMD
const SIMD = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
const CACHE = "landmarks-live";
const WORKERS = 2;  // measured on 2 cores (benchmarks/experiments.md, round twelve); each holds its own runtime
// the latest frame, its faces and the tracker, for tests/test_live.py
const live = (window.landmarksLive = { faces: [], frames: 0, state: "idle", FaceFilter });

const $ = (root, sel) => root.querySelector(sel);
const say = (root, text) => { $(root, "#live-status").textContent = text; };

// a file's bytes, from the Cache API when a visit already fetched it, else fetched (with the
// CDN file's hash checked) and kept; `seen(bytes)` reports the download's progress
async function fetchKept(url, integrity, seen) {
  const cache = self.caches ? await caches.open(CACHE) : null;
  const hit = cache && (await cache.match(url));
  if (hit) { const b = await hit.arrayBuffer(); seen(b.byteLength); return b; }
  const response = await fetch(url, integrity ? { integrity } : {});
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const reader = response.body.getReader(), parts = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) { parts.push(r.value); seen(r.value.byteLength); }
  const blob = new Blob(parts);
  if (cache) await cache.put(url, new Response(blob));
  return blob.arrayBuffer();
}

async function load(root, cfg) {
  const files = Object.entries(cfg.ort.files).map(([name, f]) => ({ url: cfg.ort.base + name, name, ...f }));
  files.push(...Object.entries(cfg.models).map(([name, m]) => ({ name, ...m })));
  const total = files.reduce((s, f) => s + f.bytes, 0), bar = $(root, "#live-load progress");
  let done = 0;
  $(root, "#live-load span").textContent = `Loading the models and ONNX Runtime (${(total / 2 ** 20).toFixed(1)} MB, kept for later visits)`;
  bar.max = total;
  const got = await Promise.all(files.map((f) => fetchKept(f.url, f.integrity, (n) => { done += n; bar.value = done; })));
  if (self.caches) {  // drop what older versions left
    const cache = await caches.open(CACHE), keep = new Set(files.map((f) => new URL(f.url, location.href).href));
    for (const req of await cache.keys()) if (!keep.has(req.url)) await cache.delete(req);
  }
  // two workers where there are two cores: the page is not cross-origin isolated (a Space is
  // shown inside the Hub's page), so no WebAssembly threads, but workers side by side
  const pool = await WorkerPool.start(Math.min(navigator.hardwareConcurrency || 1, WORKERS),
    { module: got[0], glue: got[1], wasm: got[2] }, { landmarks: got[3], detector: got[4] });
  $(root, "#live-load").hidden = true;
  const sessions = { landmarks: pool.session("landmarks"), detector: pool.session("detector") };
  const landmarker = new Landmarker(sessions, cfg.preprocess, cfg.minScore, cfg.refine, cfg.boxFit);
  return { tracker: new FaceTracker(landmarker, { smoothing: cfg.smoothing }), pool };
}

function draw(ctx, video, faces, parts) {
  ctx.drawImage(video, 0, 0);
  ctx.lineWidth = Math.max(1.5, ctx.canvas.width / 400);
  for (const f of faces) {
    for (const part of parts) {
      ctx.strokeStyle = ctx.fillStyle = part.colour;
      ctx.beginPath();
      part.points.forEach((i, k) => ctx[k ? "lineTo" : "moveTo"](f.points[2 * i], f.points[2 * i + 1]));
      if (part.closed) ctx.closePath();
      ctx.stroke();
      for (const i of part.points) ctx.fillRect(f.points[2 * i] - ctx.lineWidth, f.points[2 * i + 1] - ctx.lineWidth, 2 * ctx.lineWidth, 2 * ctx.lineWidth);
    }
  }
}

async function run(root) {
  const cfg = JSON.parse(root.dataset.config);
  if (!WebAssembly.validate(SIMD)) {
    live.state = "fallback";
    return say(root, "This browser's WebAssembly has no SIMD, which the in-page models need: the Webcam tab runs them on the server instead.");
  }
  say(root, "Loading…");
  const opened = performance.now(), { tracker, pool } = await load(root, cfg);
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  const video = document.createElement("video");
  Object.assign(video, { srcObject: stream, muted: true, playsInline: true, className: "live-source" });
  root.append(video);  // in the page, so that it presents its frames (and calls onFrame for each)
  await video.play();
  const canvas = $(root, "#live-canvas"), ctx = canvas.getContext("2d");
  const work = new OffscreenCanvas(video.videoWidth, video.videoHeight).getContext("2d", { willReadFrequently: true });
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  Object.assign(live, { state: "running", tracker, pool });
  const times = [], stamps = [];
  const step = async (meta) => {
    const t0 = performance.now();
    work.drawImage(video, 0, 0);
    const image = work.getImageData(0, 0, video.videoWidth, video.videoHeight);
    const faces = await tracker.track({ data: image.data, width: image.width, height: image.height }, meta.mediaTime ?? t0 / 1000);
    draw(ctx, video, faces, cfg.parts);
    const t1 = performance.now();
    times.push(t1 - t0); stamps.push(t1);
    while (stamps[0] < t1 - 2000) { stamps.shift(); times.shift(); }
    Object.assign(live, { faces, image, frames: live.frames + 1, firstPoints: live.firstPoints ?? (faces.length ? t1 - opened : undefined) });
    const fps = stamps.length > 1 ? ((stamps.length - 1) * 1000) / (t1 - stamps[0]) : 0, ms = times.reduce((a, b) => a + b, 0) / times.length;
    say(root, `${fps.toFixed(1)} fps · ${faces.length} face${faces.length === 1 ? "" : "s"} · ${ms.toFixed(1)} ms`);
  };
  let stopped = false;
  const stop = (text, state = "idle") => {
    if (stopped) return;
    stopped = true;
    stream.getTracks().forEach((t) => t.stop());
    video.remove();
    pool.stop();
    live.state = state;
    say(root, text);
  };
  // A frame that comes while the last one is computed waits, and the newest waiting one is computed
  // as soon as that is done: a frame slower than the camera's interval does not also wait for the
  // next frame to arrive.
  let busy = false, waiting = null;
  const compute = async () => {
    busy = true;
    try {
      while (waiting) { const meta = waiting; waiting = null; await step(meta); }
      busy = false;
    } catch (e) {
      stop(`The Live tab stopped (${e.message || e}): the Webcam tab runs the models on the server instead.`, "failed");
    }
  };
  const onFrame = (now, meta) => {
    if (!root.isConnected || root.offsetParent === null) return stop("Camera off. Open the tab again to restart it.");
    waiting = meta || {};
    next();
    if (!busy) compute();
  };
  const next = () => (video.requestVideoFrameCallback ? video.requestVideoFrameCallback(onFrame) : requestAnimationFrame((t) => onFrame(t)));
  next();
}

// Gradio draws the tab when it is opened: start then, once for each opening
setInterval(() => {
  const root = document.querySelector("#live-root");
  if (root && root.offsetParent !== null && live.state === "idle") {
    live.state = "starting";
    run(root).catch((e) => {
      live.state = "failed";
      say(root, `The Live tab could not start (${e.message || e}): the Webcam tab runs the models on the server instead.`);
    });
  }
}, 300);
