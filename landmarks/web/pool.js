// The page's models in a few workers (worker.js), each with its own single-threaded ONNX Runtime:
// a batch of face crops is split between them and run side by side, which WebAssembly threads
// would do only in a cross-origin-isolated page. Five faces ran 1.6 times as fast on two workers
// as on one; one face runs on the first worker alone (benchmarks/experiments.md, round twelve).
// `session(name)` has ONNX Runtime's `run(feeds)`, with tensors as plain {data, dims}.
export class WorkerPool {
  // count workers, each loading the runtime ({module, glue, wasm}: bytes) and the models ({name: bytes})
  static async start(count, ort, models) {
    const pool = new WorkerPool(count);
    await Promise.all(pool.workers.map((w, i) => pool.ask(i, { ort, models })));
    return pool;
  }

  constructor(count) {
    this.pending = new Map();
    this.next = 0;
    this.workers = Array.from({ length: count }, () => {
      const w = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
      w.onmessage = ({ data }) => {
        const [resolve, reject] = this.pending.get(data.id);
        this.pending.delete(data.id);
        data.error ? reject(new Error(data.error)) : resolve(data.outputs);
      };
      w.onerror = (e) => this.fail(new Error(e.message || "a model worker failed to start"));
      return w;
    });
  }

  ask(i, message, transfer = []) {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, [resolve, reject]);
      this.workers[i].postMessage({ id, ...message }, transfer);
    });
  }

  fail(error) {
    for (const [, reject] of this.pending.values()) reject(error);
    this.pending.clear();
  }

  stop() {
    this.workers.forEach((w) => w.terminate());
    this.fail(new Error("the models were stopped"));
  }

  // a model (re)loaded in every worker
  load(name, bytes) {
    return Promise.all(this.workers.map((w, i) => this.ask(i, { models: { [name]: bytes } })));
  }

  session(name) {
    return { run: (feeds) => this.run(name, feeds) };
  }

  // the one input's batch cut into a part for each worker, as even as may be (one item goes to the
  // first worker alone), the outputs joined again in order
  async run(name, feeds) {
    const [[input, t]] = Object.entries(feeds), n = t.dims[0], per = t.data.length / n;
    const size = Math.ceil(n / this.workers.length), parts = [];
    for (let a = 0; a < n; a += size) {
      const b = Math.min(n, a + size), data = t.data.slice(a * per, b * per);
      parts.push(this.ask(parts.length, { run: name, feeds: { [input]: { data, dims: [b - a, ...t.dims.slice(1)] } } }, [data.buffer]));
    }
    const done = await Promise.all(parts), outputs = {};
    for (const key of Object.keys(done[0])) {
      const pieces = done.map((o) => o[key]), data = new pieces[0].data.constructor(pieces.reduce((s, p) => s + p.data.length, 0));
      pieces.reduce((at, p) => (data.set(p.data, at), at + p.data.length), 0);
      outputs[key] = { data, dims: [pieces.reduce((s, p) => s + p.dims[0], 0), ...pieces[0].dims.slice(1)] };
    }
    return outputs;
  }
}
