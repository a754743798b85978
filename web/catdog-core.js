// catdog-core.js — the one JS wrapper around the wasm C ABI (wasm/catdog_abi.inc, declared by
// wasm/catdog_wasm.h).
// Runs wherever the wasm runs: in the page's worker, on the main thread, or in node (tests).
// Each export is wrapped once here and its result checked; only numbers cross the boundary.
// Up to three builds of the module sit beside this file: catdog_wasm (one thread, wasm SIMD);
// catdog_wasm_mt (pthreads + SIMD; needs crossOriginIsolated) when the site was built with
// CATDOG_WASM_THREADS; catdog_wasm_scalar (one thread, no SIMD: for browsers without wasm SIMD)
// with CATDOG_WASM_SCALAR. The site assembly (wasm/assemble_site.cmake) sets these flags when it
// copies the builds.
import { shardUrlInside } from './catdog-json.js';

const SITE_HAS_THREADS_BUILD = /* @CATDOG_SITE_THREADS@ */ false;
const SITE_HAS_SCALAR_BUILD = /* @CATDOG_SITE_SCALAR@ */ false;

// createClassifier's layerAliases ({CustomClass: 'KnownClass'}) as the ABI's "NAME=CLASS" lines.
function aliasLines(aliases) {
  if (aliases == null) return '';
  if (typeof aliases !== 'object' || Array.isArray(aliases))
    throw new CatdogError('layerAliases: expected an object {CustomClass: "KnownClass"}', 'input');
  return Object.entries(aliases).map(([k, v]) => {
    if (typeof v !== 'string' || /[\n=]/.test(k) || /[\n=]/.test(v))
      throw new CatdogError(`layerAliases: '${k}': expected a class name string, got ${JSON.stringify(v)}`, 'input');
    return `${k}=${v}`;
  }).join('\n');
}

// The wasm C ABI: name -> argument count, as wasm/catdog_abi.inc lists it (tests/web/wasm-abi.test.mjs).
export const ABI = Object.freeze({
  catdog_last_error: 0,
  catdog_create: 6,
  catdog_destroy: 1,
  catdog_shard_count: 1,
  catdog_shard_path: 2,
  catdog_shard_buffer: 3,
  catdog_finish: 1,
  catdog_input_size: 1,
  catdog_output_size: 1,
  catdog_input: 2,
  catdog_run: 2,
  catdog_output: 1,
  catdog_classify: 3,
  catdog_probs: 1,
  catdog_ood: 2,
  catdog_mirror_input: 1,
  catdog_image_buffer: 2,
  catdog_preprocess: 7,
  catdog_preprocess_yuv: 8,
  catdog_metadata: 1,
  catdog_heap_used: 0,
  catdog_build_flags: 0,
  catdog_set_thread_cap: 1,
});

// The module's functions of the ABI table, by their C names.
function bindAbi(mod) {
  const missing = Object.keys(ABI).filter((n) => typeof mod[`_${n}`] !== 'function');
  if (missing.length) {
    throw new CatdogError(`the wasm core lacks ${missing} (a stale build: rebuild the site)`, 'wasm');
  }
  return Object.fromEntries(Object.keys(ABI).map((n) => [n, mod[`_${n}`]]));
}

const FORMAT = { gray: 1, rgb: 3, rgba: 4 };
const YUV = { i420: 0, nv12: 1 };
const YUV_MATRIX = { bt601: 0, bt709: 1 };
const FIT = { stretch: 0, crop: 1 };
const BACKEND = { reference: 0, simd: 1, auto: 3 };

export class CatdogError extends Error {
  constructor(message, code = 'catdog') {
    super(message);
    this.name = 'CatdogError';
    this.code = code;  // 'model-fetch' | 'model-format' | 'wasm' | 'input' | 'catdog'
  }
}

// A module whose one function returns a v128 constant: it validates only where the browser has
// WebAssembly SIMD (the catdog_wasm / catdog_wasm_mt modules need it even to compile).
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0,
  253, 12, ...new Array(16).fill(0), 11]);
export function browserHasWasmSimd() {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

// How many threads a model may use: 'auto' = 2 when the page may share memory between threads
// (crossOriginIsolated) and the machine has 2+ cores, else 1. The module may lower it per model
// (metadata.threads says what a model got).
export function resolveThreads(threads) {
  const canShare = globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';
  if (threads === 'auto' || threads === undefined) {
    return canShare ? Math.max(1, Math.min(2, globalThis.navigator?.hardwareConcurrency || 1)) : 1;
  }
  const n = Number(threads);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new CatdogError(`threads must be 'auto' or 1..64, got '${threads}'`, 'input');
  return canShare ? n : 1;
}

// Loads and instantiates the wasm module once per call. Browsers without wasm SIMD get the
// scalar build (or a clear 'wasm' error when the site has none); else the pthreads build when
// threads > 1 (and it exists), else the single-thread one. `wasmUrl` overrides the location of
// catdog_wasm.wasm (the other builds sit beside this file); `wasmBinary` (bytes of the build
// chosen) skips fetching (node). `simd`: 'auto' (what the
// browser has), or false to load the scalar build anyway (tests).
export async function loadCore({ wasmUrl, wasmBinary, threads = 1, fetchFn = globalThis.fetch, simd = 'auto' } = {}) {
  const hasSimd = browserHasWasmSimd();
  const useScalar = simd === false || !hasSimd;
  if (useScalar && !SITE_HAS_SCALAR_BUILD && !wasmBinary) {
    throw new CatdogError('this browser has no WebAssembly SIMD, and this site was built without the core that runs ' +
      'without it (CATDOG_WASM_SCALAR): use a browser with WebAssembly SIMD (Chrome 91+, Firefox 89+, Safari 16.4+)', 'wasm');
  }
  const nThreads = useScalar ? 1 : resolveThreads(threads);
  let name = useScalar ? 'catdog_wasm_scalar' : 'catdog_wasm';
  let factory;
  if (useScalar) {
    factory = (await import('./catdog_wasm_scalar.js')).default;
  } else if (nThreads > 1 && !wasmBinary && SITE_HAS_THREADS_BUILD) {
    try {
      factory = (await import('./catdog_wasm_mt.js')).default;
      name = 'catdog_wasm_mt';
    } catch {
      factory = undefined;  // no threads build on this site: one thread
    }
  }
  factory ??= (await import('./catdog_wasm.js')).default;
  const url = wasmUrl && name === 'catdog_wasm' ? String(wasmUrl) : new URL(`./${name}.wasm`, import.meta.url).href;
  const opts = {
    printErr: (t) => console.warn(`catdog wasm: ${t}`),
    print: (t) => console.log(`catdog wasm: ${t}`),
  };
  if (wasmBinary) {
    opts.wasmBinary = wasmBinary;
  } else {
    opts.instantiateWasm = (imports, receive) => {
      (async () => {
        const res = await fetchFn(url, { credentials: 'same-origin' });
        if (!res.ok) throw new CatdogError(`could not load ${url}: HTTP ${res.status}`, 'wasm');
        const { instance, module } = typeof WebAssembly.instantiateStreaming === 'function' &&
            (res.headers.get('Content-Type') || '').startsWith('application/wasm')
          ? await WebAssembly.instantiateStreaming(res, imports)
          : await WebAssembly.instantiate(await res.arrayBuffer(), imports);
        receive(instance, module);  // the module also goes to the pthread workers
      })().catch((e) => rejectInit(e));
      return {};
    };
  }
  let rejectInit;
  const failed = new Promise((_, reject) => { rejectInit = reject; });
  const mod = await Promise.race([factory(opts), failed]).catch((e) => {
    throw e instanceof CatdogError ? e : new CatdogError(`could not start the wasm core: ${e.message || e}`, 'wasm');
  });
  // Which build runs and why (diagnostics panel): the kernel table is "wasm" (simd128) in the SIMD
  // builds and "scalar" (1 float per vector) in catdog_wasm_scalar.
  const why = !useScalar ? 'browser-simd' : hasSimd ? 'asked' : 'no-browser-simd';
  return new Core(mod, name === 'catdog_wasm_mt' ? nThreads : 1, { name, why, browserSimd: hasSimd });
}

class Core {
  constructor(mod, threads, build = { name: 'catdog_wasm', why: 'browser-simd', browserSimd: true }) {
    this.mod = mod;
    this.abi = bindAbi(mod);
    this.threads = threads;
    this.build = build;
    this.decoder = new TextDecoder();
    this.encoder = new TextEncoder();
  }
  // Re-read every time: memory growth replaces the view (with threads, another thread may
  // have grown the shared memory, so compare against the memory itself).
  get u8() {
    const mem = this.mod.wasmMemory;
    if (mem && this.mod.HEAPU8.buffer !== mem.buffer) return new Uint8Array(mem.buffer);
    return this.mod.HEAPU8;
  }
  get f32() { return new Float32Array(this.u8.buffer); }
  str(ptr) {
    if (!ptr) return '';
    const heap = this.u8;
    let end = ptr;
    while (heap[end]) end++;
    return this.decoder.decode(heap.slice(ptr, end));  // a copy: TextDecoder refuses shared memory
  }
  lastError() { return this.str(this.abi.catdog_last_error()); }
  heapUsed() { return this.abi.catdog_heap_used(); }
  memoryBytes() { return this.u8.buffer.byteLength; }
  // Caps the threads every model of this core runs on (catdog_set_thread_cap; 0 = no cap), between
  // runs: the page's thread chooser (thread-chooser.js) switches 1 <-> N without reloading.
  setThreadCap(n) {
    const r = this.abi.catdog_set_thread_cap(n);
    if (r < 0) throw new CatdogError(this.lastError(), 'input');
    return r;
  }
  buildFlags() {
    const f = this.abi.catdog_build_flags();
    return { simd: !!(f & 1), pthreads: !!(f & 2), threads: this.threads, core: this.build.name,
      kernels: f & 1 ? 'wasm simd128' : 'scalar', why: this.build.why, browserSimd: this.build.browserSimd };
  }

  // Parses model.json text and loads its shards through `getShard(path) -> Promise<Uint8Array>`.
  // layerAliases: {CustomClass: 'KnownClass'}, custom Keras classes loaded as a class the core runs
  // (the CLI's --layer-alias; the core checks each, catdog::ParseLayerAlias).
  async createModel(modelJsonText, getShard, { backend = 'auto', threads = this.threads, name = 'model.json', layerAliases = null } = {}) {
    const m = this.mod, a = this.abi;
    const b = BACKEND[backend];
    if (b === undefined) throw new CatdogError(`unknown backend '${backend}' (reference, simd, auto)`, 'input');
    const aliasText = aliasLines(layerAliases);
    const bytes = this.encoder.encode(modelJsonText), aliasBytes = this.encoder.encode(aliasText);
    const p = m._malloc(Math.max(1, bytes.length + aliasBytes.length));
    if (!p) throw new CatdogError(`out of wasm memory for ${name} (${bytes.length} bytes)`, 'wasm');
    this.u8.set(bytes, p);
    this.u8.set(aliasBytes, p + bytes.length);
    const h = a.catdog_create(p, bytes.length, b, threads, p + bytes.length, aliasBytes.length);
    m._free(p);
    if (!h) throw new CatdogError(`${name}: ${this.lastError()}`, 'model-format');
    try {
      const n = a.catdog_shard_count(h);
      const paths = [];
      for (let i = 0; i < n; i++) paths.push(this.str(a.catdog_shard_path(h, i)));
      const shards = await Promise.all(paths.map((path) => getShard(path)));
      shards.forEach((data, i) => {
        const dst = a.catdog_shard_buffer(h, i, data.byteLength);
        if (!dst) throw new CatdogError(`${paths[i]}: ${this.lastError()}`, 'wasm');
        this.u8.set(data instanceof Uint8Array ? data : new Uint8Array(data), dst);
      });
      if (a.catdog_finish(h) !== 0) throw new CatdogError(`${name}: ${this.lastError()}`, 'model-format');
      return new CoreModel(this, h, paths);
    } catch (e) {
      a.catdog_destroy(h);
      throw e;
    }
  }

  // Fetches model.json and its shards (paths relative to it) and loads them.
  async loadModelFromUrl(modelUrl, { fetchFn = globalThis.fetch, ...opts } = {}) {
    const url = new URL(modelUrl, globalThis.location?.href ?? 'file:///');
    const get = async (u, what) => {
      let res;
      try {
        res = await fetchFn(u.href, { credentials: 'same-origin' });
      } catch (e) {
        throw new CatdogError(`could not fetch ${what} ${u.pathname}: ${e.message || e}`, 'model-fetch');
      }
      if (!res.ok) throw new CatdogError(`could not fetch ${what} ${u.pathname}: HTTP ${res.status}`, 'model-fetch');
      return res;
    };
    const text = await (await get(url, 'model')).text();
    const name = url.pathname.split('/').pop() || 'model.json';
    return this.createModel(text, async (path) => {
      const shardUrl = shardUrlInside(url.href, path);
      if (shardUrl instanceof Error) throw new CatdogError(`${name}: ${shardUrl.message}`, 'model-format');
      return new Uint8Array(await (await get(shardUrl, 'weights')).arrayBuffer());
    }, { name, ...opts });
  }
}

export class CoreModel {
  constructor(core, handle, shardPaths) {
    this.core = core;
    this.h = handle;
    this.shardPaths = shardPaths;
    const a = core.abi;
    this.inputSize = a.catdog_input_size(handle);
    this.outputSize = a.catdog_output_size(handle);
    this.metadata = JSON.parse(core.str(a.catdog_metadata(handle)));
    const c = this.metadata.user?.catdog ?? {};
    this.catdog = c;
    this.inputShape = this.metadata.input_shape;
    this.imageSize = this.inputShape.length === 3 && this.inputShape[2] === 1 ? this.inputShape[0] : 0;
    // The input contract and decision as the core parsed them (ModelInfo's facts; a bad value was
    // refused by the load): one reader for the CLI and the page.
    this.fit = this.metadata.fit;
    this.threshold = this.metadata.threshold;
    this.labels = this.metadata.labels;
    // The core's self-check, run right after loading (catdog_finish): golden images through
    // preprocess + run, and the SHA-256 of every weight file, against userDefinedMetadata.catdog.selfcheck.
    const sc = this.metadata.selfcheck ?? {};
    this.selfCheck = {
      present: sc.present === true, verified: sc.verified === true, passed: sc.passed ?? 0, total: sc.total ?? 0,
      source: sc.source ?? '', mismatch: sc.first_mismatch ?? '', summary: sc.summary ?? 'model has no self-check block',
    };
  }
  check() {
    if (!this.h) throw new CatdogError('the model was disposed', 'input');
  }

  // The module-owned staging buffer for an image of `bytes` bytes, as a view into wasm memory
  // (valid until the next call into the module). Fill it, then call preprocessStaged().
  imageBuffer(bytes) {
    this.check();
    const ptr = this.core.abi.catdog_image_buffer(this.h, bytes);
    if (!ptr) throw new CatdogError(this.core.lastError(), 'input');
    this.stagedPtr = ptr;
    return new Uint8Array(this.core.u8.buffer, ptr, bytes);
  }

  // The core's preprocess of the image in the staging buffer into the model input.
  // format 'i420'/'nv12': YUV planes packed as catdog_wasm.h says, with matrix and fullRange.
  preprocessStaged(width, height, { stride, format = 'rgba', fit = this.fit, matrix = 'bt601', fullRange = false } = {}) {
    this.check();
    if (YUV[format] !== undefined) {
      const ft = FIT[fit], mx = YUV_MATRIX[matrix];
      if (ft === undefined) throw new CatdogError(`unknown fit '${fit}' (stretch, crop)`, 'input');
      if (mx === undefined) throw new CatdogError(`unknown YUV matrix '${matrix}' (bt601, bt709)`, 'input');
      if (!this.stagedPtr) throw new CatdogError('preprocess: no image staged', 'input');
      if (this.core.abi.catdog_preprocess_yuv(this.h, this.stagedPtr, width, height, YUV[format], mx, fullRange ? 1 : 0, ft) !== 0) {
        throw new CatdogError(this.core.lastError(), 'input');
      }
      return;
    }
    const f = FORMAT[format];
    const ft = FIT[fit];
    if (!f) throw new CatdogError(`unknown pixel format '${format}' (gray, rgb, rgba)`, 'input');
    if (ft === undefined) throw new CatdogError(`unknown fit '${fit}' (stretch, crop)`, 'input');
    if (!this.stagedPtr) throw new CatdogError('preprocess: no image staged', 'input');
    const s = stride ?? width * f;
    if (this.core.abi.catdog_preprocess(this.h, this.stagedPtr, width, height, s, f, ft) !== 0) {
      throw new CatdogError(this.core.lastError(), 'input');
    }
  }

  // Runs the core's preprocess on 8-bit pixels (Uint8Array / Uint8ClampedArray) into the input.
  preprocess(pixels, width, height, opts = {}) {
    if (!(pixels?.byteLength > 0)) throw new CatdogError('preprocess: no pixels', 'input');
    const dst = this.imageBuffer(pixels.byteLength);
    dst.set(pixels instanceof Uint8Array ? pixels : new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength));
    this.preprocessStaged(width, height, opts);
  }

  // A view of sample 0 of the input (what preprocess wrote). Valid until the next call.
  inputView() {
    this.check();
    const p = this.core.abi.catdog_input(this.h, 1);
    return new Float32Array(this.core.u8.buffer, p, this.inputSize);
  }

  // Runs the model on what is in the input buffer; returns a copy of the output.
  run(batch = 1) {
    this.check();
    const a = this.core.abi;
    if (a.catdog_run(this.h, batch) !== 0) throw new CatdogError(this.core.lastError(), 'input');
    const p = a.catdog_output(this.h);
    return new Float32Array(this.core.u8.buffer, p, batch * this.outputSize).slice();
  }

  // Whether sample `sample` of the last run is "neither cat nor dog" (catdog::IsOutOfDistribution,
  // the model's ood threshold); always false for a model without one.
  ood(sample = 0) {
    this.check();
    const r = this.core.abi.catdog_ood(this.h, sample);
    if (r === -1) throw new CatdogError(this.core.lastError(), 'input');
    return r === 1;
  }

  // Mirror averaging: sample 1 of the input := the left-right mirror of sample 0 (the core copies
  // it), for one run(2) over the image and its mirror.
  mirrorInput() {
    this.check();
    if (this.core.abi.catdog_mirror_input(this.h) !== 0) throw new CatdogError(this.core.lastError(), 'input');
  }

  // The answer for sample `sample` of the last run, by the core (catdog::Classify: calibration and
  // decision, DESIGN contract 2): { index (into labels; -1 for a NaN output), probs (the K
  // calibrated probabilities) }. mirrored: samples `sample` and `sample` + 1 are an image and its
  // mirror (after mirrorInput and run(2)): the mean of their calibrated probabilities, as
  // `catdog evaluate --flip` computes it.
  classify(sample = 0, mirrored = false) {
    this.check();
    const a = this.core.abi;
    const index = a.catdog_classify(this.h, sample, mirrored ? 1 : 0);
    if (index === -2) throw new CatdogError(this.core.lastError(), 'input');
    return { index, probs: new Float32Array(this.core.u8.buffer, a.catdog_probs(this.h), this.labels.length).slice() };
  }

  // Runs `data` (NHWC floats, batch = shape[0]) through the model.
  predictTensor(data, shape) {
    this.check();
    if (!(data instanceof Float32Array)) throw new CatdogError('predictTensor: data must be a Float32Array', 'input');
    if (!Array.isArray(shape) || shape.length !== this.inputShape.length + 1 ||
        !shape.every((d) => Number.isInteger(d) && d > 0) ||
        shape.slice(1).some((d, i) => d !== this.inputShape[i])) {
      throw new CatdogError(`predictTensor: shape [${shape}] does not match the model input [N,${this.inputShape}]`, 'input');
    }
    const batch = shape[0];
    if (data.length !== batch * this.inputSize) {
      throw new CatdogError(`predictTensor: ${data.length} floats for shape [${shape}] (want ${batch * this.inputSize})`, 'input');
    }
    const a = this.core.abi;
    const p = a.catdog_input(this.h, batch);
    if (!p) throw new CatdogError(this.core.lastError(), 'input');
    new Float32Array(this.core.u8.buffer, p, data.length).set(data);
    return this.run(batch);
  }

  dispose() {
    if (this.h) this.core.abi.catdog_destroy(this.h);
    this.h = 0;
  }
}
