// One ONNX Runtime Web instance on one WebAssembly thread, in a worker of its own (pool.js runs
// several side by side: threads inside one instance would need a cross-origin-isolated page).
// Messages: {id, ort: {module, glue, wasm}} once, the runtime's bytes; {id, models: {name: bytes}};
// {id, run: name, feeds: {input: {data, dims}}}. Each answer is {id, outputs?} or {id, error}.
const OPTIONS = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
let ort;
const sessions = {};

const url = (bytes, type) => URL.createObjectURL(new Blob([bytes], { type }));

async function answer(m) {
  if (m.ort) {
    ort = await import(url(m.ort.module, "text/javascript"));
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = { mjs: url(m.ort.glue, "text/javascript"), wasm: url(m.ort.wasm, "application/wasm") };
  }
  for (const [name, bytes] of Object.entries(m.models || {})) sessions[name] = await ort.InferenceSession.create(new Uint8Array(bytes), OPTIONS);
  if (!m.run) return [{ id: m.id }, []];
  const feeds = Object.fromEntries(Object.entries(m.feeds).map(([k, t]) => [k, new ort.Tensor("float32", t.data, t.dims)]));
  const out = await sessions[m.run].run(feeds), outputs = {};
  for (const [k, t] of Object.entries(out)) outputs[k] = { data: t.data, dims: t.dims };
  return [{ id: m.id, outputs }, Object.values(outputs).map((t) => t.data.buffer)];
}

// one message at a time: a session is never run twice at once
let queue = Promise.resolve();
self.onmessage = ({ data: m }) => {
  queue = queue.then(() => answer(m)).then(
    ([reply, transfer]) => self.postMessage(reply, transfer),
    (e) => self.postMessage({ id: m.id, error: String((e && e.message) || e) }),
  );
};
