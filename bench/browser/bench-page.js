// One engine per page (bench.html?engine=catdog|catdog-mt|tfjs-wasm|tfjs-cpu|ort-wasm&threads=N), driven by
// run.mjs through window.bench: init(models) loads every model, run(id) times one batch-1 inference
// of the shared input, peak() measures this core's SIMD128 mul+add rate. Served by run.mjs's server:
// /site/ = the built site (catdog-core.js, the wasm builds, web/models), /tfjs/ = node_modules/@tensorflow,
// /ort/ = node_modules/onnxruntime-web/dist, /onnx/ = the models converted by `catdog convert --to onnx`.
const params = new URLSearchParams(location.search);
const engine = params.get('engine');
const threads = Number(params.get('threads') || 1);
const now = () => performance.now();

// The same input for every engine: floats in [0, 1) from a fixed LCG (seeded per model).
export function seededInput(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s >>> 8) / 16777216;
  }
  return a;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const el = document.createElement('script');
    el.src = src;
    el.onload = resolve;
    el.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(el);
  });
}

// FLOPs of one inference, 2 x multiply-adds of the convolutions and dense layers (as
// ../shared/docs/PERFORMANCE.md counts them), from the TF.js layers' shapes and configs.
function countFlops(model) {
  let flops = 0;
  const layers = [];
  for (const l of model.layers) {
    const cls = l.getClassName();
    const c = l.getConfig();
    const inShape = l.inputSpec?.[0]?.shape ?? l.input?.shape;
    const out = l.outputShape;
    const spatial = (s) => s.slice(1, -1).reduce((a, b) => a * b, 1);
    let f = 0;
    if (cls === 'Conv2D') {
      const inC = l.input.shape[l.input.shape.length - 1];
      f = 2 * spatial(out) * out[out.length - 1] * c.kernelSize[0] * c.kernelSize[1] * inC / (c.groups || 1);
    } else if (cls === 'DepthwiseConv2D') {
      f = 2 * spatial(out) * out[out.length - 1] * c.kernelSize[0] * c.kernelSize[1];
    } else if (cls === 'SeparableConv2D') {
      const inC = l.input.shape[l.input.shape.length - 1];
      const dm = c.depthMultiplier || 1;
      f = 2 * spatial(out) * (inC * dm * c.kernelSize[0] * c.kernelSize[1] + inC * dm * out[out.length - 1]);
    } else if (cls === 'Dense') {
      const inC = l.input.shape[l.input.shape.length - 1];
      f = 2 * spatial(out) * inC * c.units;
    }
    void inShape;
    if (f) layers.push({ layer: l.name, cls, mflop: f / 1e6 });
    flops += f;
  }
  return { flops, layers };
}

let hcOverride;  // see engines.tfjs
const loaded = new Map();  // id -> { run(), input, shape }

const engines = {
  // capped: the pthreads core with models of 2 threads, capped at `threads` at run time
  // (catdog_set_thread_cap): what the page's threads 'auto' runs (catdog-mt:1 against catdog:1 is
  // the price of being able to switch).
  async catdog(models, capped = false) {
    const { loadCore } = await import('/site/catdog-core.js');
    const core = await loadCore({ threads: capped ? 2 : threads });
    if (capped && !core.buildFlags().pthreads) throw new Error('catdog-mt: the pthreads core did not load');
    const info = { build: core.buildFlags(), models: {} };
    for (const { id, url, seed } of models) {
      const m = await core.loadModelFromUrl(url, { threads: capped ? 2 : threads });
      const shape = [1, ...m.inputShape];
      const input = seededInput(m.inputSize, seed);
      loaded.set(id, { run: () => m.predictTensor(input, shape) });
      info.models[id] = { threads: capped ? Math.min(threads, m.metadata.threads ?? 1) : m.metadata.threads ?? 1, backend: m.metadata.backend };
    }
    if (capped) info.build.cap = core.setThreadCap(threads);
    return info;
  },
  async tfjs(models, backend) {
    await loadScript('/tfjs/tfjs/dist/tf.min.js');
    const tf = globalThis.tf;
    if (backend === 'wasm') {
      await loadScript('/tfjs/tfjs-backend-wasm/dist/tf-backend-wasm.min.js');
      tf.wasm.setWasmPaths('/tfjs/tfjs-backend-wasm/dist/');
      // One thread: the SIMD build without threads (what TF.js uses on a page that is not
      // crossOriginIsolated); 2+: the threaded SIMD build with that many XNNPACK threads.
      if (threads === 1) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      tf.wasm.setThreadsCount(threads);
      // TF.js 4.22 gives XNNPACK at most hardwareConcurrency / 2 threads whatever setThreadsCount
      // says (1 on this 2-core machine): report a larger count to this page so it gets `threads`.
      if (threads > 1 && navigator.hardwareConcurrency < 2 * threads) {
        hcOverride = 2 * threads;
        Object.defineProperty(navigator, 'hardwareConcurrency', { get: () => hcOverride });
      }
    }
    if (!(await tf.setBackend(backend))) throw new Error(`TF.js backend ${backend} did not start`);
    await tf.ready();
    const info = {
      build: {
        tfjs: tf.version.tfjs, backend: tf.getBackend(),
        simd: backend === 'wasm' ? await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') : false,
        multithread: backend === 'wasm' ? await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT') : false,
        threads: backend === 'wasm' ? tf.wasm.getThreadsCount() : 1,
        hardwareConcurrency_reported: hcOverride,
      },
      models: {},
    };
    for (const { id, url, seed } of models) {
      const model = await tf.loadLayersModel(url);
      const shape = [1, ...model.inputs[0].shape.slice(1)];
      const input = seededInput(shape.reduce((a, b) => a * b, 1), seed);
      loaded.set(id, {
        run: () => {
          const y = tf.tidy(() => model.predict(tf.tensor(input, shape)));
          const out = y.dataSync();  // waits for the result, like catdog's copy of its output
          y.dispose();
          return out;
        },
      });
      const { flops, layers } = countFlops(model);
      info.models[id] = { flops, layers };
    }
    return info;
  },
};

// ONNX Runtime Web, its wasm execution provider (SIMD; the threaded build, numThreads = threads:
// 1 runs no worker threads), on the same models converted to ONNX (NHWC float input, as catdog's).
// Its run is asynchronous: the time is until its promise resolves, as a page would await it.
engines.ort = async (models) => {
  const ort = await import('/ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  const info = { build: { ort: ort.env.versions?.web ?? ort.env.versions?.common, numThreads: threads }, models: {} };
  for (const { id, onnx, seed } of models) {
    const session = await ort.InferenceSession.create(onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const [inName] = session.inputNames;
    const [outName] = session.outputNames;
    const meta = session.inputMetadata?.[0];
    const dims = meta?.shape ?? null;
    if (!dims) throw new Error(`${id}: ONNX Runtime gives no input shape`);
    const shape = [1, ...dims.slice(1).map(Number)];
    const input = seededInput(shape.reduce((a, b) => a * b, 1), seed);
    const feeds = { [inName]: new ort.Tensor('float32', input, shape) };
    loaded.set(id, { run: async () => (await session.run(feeds))[outName].data });
    info.models[id] = {};
  }
  info.build.threads = ort.env.wasm.numThreads;  // what ONNX Runtime kept (1 where threads cannot run)
  info.build.crossOriginIsolated = crossOriginIsolated;
  return info;
};

// A hand-assembled wasm function: `iters` times, 12 independent chains of v = v * m + a on f32x4
// (f32x4.mul then f32x4.add: 8 flops per chain per iteration; simd128 has no FMA). 12 chains hide
// the mul and add latencies, so this is the core's peak for the instructions the catdog kernels use.
function peakModule() {
  const chains = 12;
  const leb = (n) => { const b = []; do { let x = n & 0x7f; n >>>= 7; if (n) x |= 0x80; b.push(x); } while (n); return b; };
  const simd = (op) => [0xfd, ...leb(op)];
  const F32X4_SPLAT = 0x13, F32X4_EXTRACT = 0x1f, F32X4_ADD = 0xe4, F32X4_MUL = 0xe6;
  // locals: 0 = iters (param i32), 1 = m (v128), 2 = a (v128), 3.. = chains (v128)
  const body = [];
  body.push(0x43, ...new Uint8Array(new Float32Array([0.999]).buffer), ...simd(F32X4_SPLAT), 0x21, 1);
  body.push(0x43, ...new Uint8Array(new Float32Array([0.001]).buffer), ...simd(F32X4_SPLAT), 0x21, 2);
  for (let c = 0; c < chains; c++) body.push(0x43, ...new Uint8Array(new Float32Array([c + 1]).buffer), ...simd(F32X4_SPLAT), 0x21, 3 + c);
  body.push(0x03, 0x40);  // loop
  for (let c = 0; c < chains; c++) body.push(0x20, 3 + c, 0x20, 1, ...simd(F32X4_MUL), 0x20, 2, ...simd(F32X4_ADD), 0x21, 3 + c);
  body.push(0x20, 0, 0x41, 1, 0x6b, 0x22, 0, 0x0d, 0);  // iters -= 1; br_if iters != 0
  body.push(0x0b);  // end loop
  body.push(0x20, 3, ...simd(F32X4_EXTRACT), 0);
  for (let c = 1; c < chains; c++) body.push(0x20, 3 + c, ...simd(F32X4_EXTRACT), 0, 0x92);  // f32.add
  body.push(0x0b);
  const locals = [1, ...leb(2 + chains), 0x7b];
  const func = [...locals, ...body];
  const section = (id, bytes) => [id, ...leb(bytes.length), ...bytes];
  const bytes = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 1, 0x7f, 1, 0x7d]),  // type: (i32) -> f32
    ...section(3, [1, 0]),
    ...section(7, [1, 4, ...new TextEncoder().encode('peak'), 0x00, 0]),
    ...section(10, [1, ...leb(func.length), ...func])];
  return { bytes: new Uint8Array(bytes), flopsPerIter: chains * 4 * 2 };
}

window.bench = {
  engine,
  threads,
  async init(models) {
    if (!crossOriginIsolated) throw new Error('the bench page is not crossOriginIsolated (COOP/COEP missing)');
    if (engine === 'catdog') return engines.catdog(models);
    if (engine === 'catdog-mt') return engines.catdog(models, true);
    if (engine === 'tfjs-wasm') return engines.tfjs(models, 'wasm');
    if (engine === 'tfjs-cpu') return engines.tfjs(models, 'cpu');
    if (engine === 'ort-wasm') return engines.ort(models);
    throw new Error(`unknown engine '${engine}'`);
  },
  // One timed batch-1 inference; returns ms (an engine whose run is a promise: until it resolves).
  async run(id) {
    const m = loaded.get(id);
    const t0 = now();
    const r = m.run();
    if (r && typeof r.then === 'function') await r;
    return now() - t0;
  },
  async output(id) { return Array.from(await loaded.get(id).run()); },
  // Best of `reps` timings (the machine is shared: the best is the one least disturbed). The first
  // calls warm up V8's optimizing tier (its baseline compiler's SIMD code is slower).
  async peak(iters = 5e5, reps = 60) {
    const { bytes, flopsPerIter } = peakModule();
    const { instance } = await WebAssembly.instantiate(bytes);
    for (let i = 0; i < 20; i++) instance.exports.peak(iters);
    let best = 0;
    for (let r = 0; r < reps; r++) {
      const t0 = now();
      const v = instance.exports.peak(iters);
      const ms = now() - t0;
      if (!Number.isFinite(v)) throw new Error('peak loop gave a non-finite value');
      best = Math.max(best, (iters * flopsPerIter) / (ms * 1e6));
    }
    return { gflops: best, iters, reps, flopsPerIter };
  },
};
window.benchReady = true;
