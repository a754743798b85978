// catdog.js — embeddable cat/dog classifier on the catdog wasm core.
//
//   import { createClassifier } from './catdog.js';
//   const clf = await createClassifier({ modelUrl: 'models/demo-cnn/model.json' });
//   const r = await clf.classify(videoElement);   // or ImageData, ImageBitmap, canvas, <img>
//   r.label   // the class the core decided (one of metadata.labels: 'cat' | 'dog' for a two-class model),
//   r.index   // its index in metadata.labels; r.probs: the K calibrated probabilities, in label order;
//   r.pDog    // P(dog) in [0,1] (probs[1] of two classes, else the class named "dog"; NaN without one)
//   r.timings // {read, preprocess, inference, total} ms
//   r.ood     // true: the core calls it neither cat nor dog (only models with an ood threshold)
//   const out = await clf.predictTensor(new Float32Array(100 * 100), [1, 100, 100, 1]);
//   clf.metadata  // input/output shapes, userDefinedMetadata.catdog, labels, threshold, load time
//   clf.selfCheck // { present, verified, passed, total, source, mismatch, summary }: the model's
//                 //   golden images and weight-file SHA-256 checked by the core right after loading
//   clf.dispose();
//
// Options: modelUrl (required; model.json, shards resolved relative to it), wasmUrl (default: the
// catdog_wasm.wasm beside this file; browsers without wasm SIMD load catdog_wasm_scalar.wasm from
// beside this file instead), worker (default true: the core runs in a Web Worker and the pixels
// are transferred to it), backend ('auto' | 'simd' | 'reference'), threads (1 | n: fixed; 'auto': when
// the page is crossOriginIsolated on 2+ cores and the site has the pthreads build, up to 2 threads,
// chosen per frame from measured times by thread-chooser.js — 1 first, 2 only while faster;
// r.threads is what a frame ran on, r.threadChoice the chooser's state), grab ('auto': video frames
// travel as WebCodecs VideoFrames when the browser has them; 'bitmap': ImageBitmap), layerAliases
// ({CustomClass: 'KnownClass'}: a custom Keras subclass whose config is its base's, loaded as that
// base, as the CLI's --layer-alias; e.g. {Keras2toKeras3DepthwiseConv2D: 'DepthwiseConv2D'}).
// classify options: fit, wantInput, read ('rgba': no core YUV conversion); r.capture: the path;
// mirror (mirror averaging: the model also sees the left-right mirror, in one batch-2 run, and
// r.probs (and r.pDog) are the means of both images' calibrated probabilities, as `catdog evaluate
// --flip`; r.ood stays the image's own; r.batch is 2 and r.timings.inference the cost of both).
// Every failure rejects with an Error whose .code is 'model-fetch', 'model-format', 'wasm',
// 'input' or 'disposed'.
import { CatdogError } from './catdog-core.js';

export { CatdogError };

const isType = (v, name) => typeof globalThis[name] === 'function' && v instanceof globalThis[name];

// Turns any supported source into something the worker can take: an ImageBitmap (transferred) or
// raw RGBA pixels. Copies, so the caller's object stays usable.
async function toTransferable(source, grabMode = 'auto') {
  if (isType(source, 'ImageData')) {
    const pixels = source.data.slice().buffer;
    return { msg: { pixels, width: source.width, height: source.height, format: 'rgba' }, transfer: [pixels] };
  }
  if (isType(source, 'HTMLVideoElement')) {
    if (source.readyState < 2 || !source.videoWidth) throw new CatdogError('classify: the video has no frame yet', 'input');
    // The current camera frame without a copy on this thread; the worker converts it to RGBA.
    if (grabMode !== 'bitmap' && typeof VideoFrame === 'function') {
      try {
        const frame = new VideoFrame(source);
        return { msg: { frame }, transfer: [frame] };
      } catch { /* fall back to an ImageBitmap */ }
    }
  }
  if (isType(source, 'VideoFrame') && grabMode !== 'bitmap') {
    const frame = source.clone();
    return { msg: { frame }, transfer: [frame] };
  }
  if (isType(source, 'HTMLImageElement') && !(source.complete && source.naturalWidth)) {
    throw new CatdogError('classify: the image is not loaded', 'input');
  }
  if (isType(source, 'ImageBitmap') || isType(source, 'HTMLVideoElement') || isType(source, 'HTMLCanvasElement') ||
      isType(source, 'HTMLImageElement') || isType(source, 'OffscreenCanvas') || isType(source, 'VideoFrame') ||
      isType(source, 'Blob')) {
    const bitmap = await createImageBitmap(source);
    return { msg: { bitmap }, transfer: [bitmap] };
  }
  throw new CatdogError('classify: expected ImageData, ImageBitmap, HTMLVideoElement, HTMLCanvasElement, HTMLImageElement, OffscreenCanvas, VideoFrame or Blob', 'input');
}

class WorkerClassifier {
  constructor(worker, info, grab) {
    this.worker = worker;
    this.grab = grab;
    this.metadata = info;
    this.selfCheck = info.selfCheck;
    this.pending = new Map();
    this.nextId = 1;
    this.busy = false;
    worker.onmessage = (ev) => this.onMessage(ev.data);
    worker.onerror = (ev) => this.failAll(new CatdogError(`worker error: ${ev.message || 'unknown'}`, 'wasm'));
  }

  onMessage(msg) {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    this.busy = this.pending.size > 0;
    if (msg.type === 'error') p.reject(new CatdogError(msg.message, msg.code));
    else p.resolve(msg);
  }

  failAll(err) {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.busy = false;
  }

  call(msg, transfer = []) {
    if (!this.worker) return Promise.reject(new CatdogError('the classifier was disposed', 'disposed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.busy = true;
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  async classify(source, { fit, wantInput = false, read, mirror = false } = {}) {
    const t0 = performance.now();
    const { msg, transfer } = await toTransferable(source, this.grab);
    const t1 = performance.now();
    const res = await this.call({ type: 'classify', fit, wantInput, read, mirror, ...msg }, transfer);
    delete res.type;
    delete res.id;
    res.timings.grab = t1 - t0;
    res.timings.roundTrip = performance.now() - t0;
    return res;
  }

  async predictTensor(data, shape) {
    if (!(data instanceof Float32Array)) throw new CatdogError('predictTensor: data must be a Float32Array', 'input');
    const copy = data.slice();
    const res = await this.call({ type: 'tensor', data: copy, shape }, [copy.buffer]);
    return res.output;
  }

  dispose() {
    if (!this.worker) return;
    this.failAll(new CatdogError('the classifier was disposed', 'disposed'));
    this.worker.postMessage({ type: 'dispose' });
    const w = this.worker;
    this.worker = null;
    setTimeout(() => w.terminate(), 1000);
  }
}

class DirectClassifier {
  constructor(engine, grab = 'auto') {
    this.engine = engine;
    this.grab = grab;
    this.metadata = engine.describe();
    this.selfCheck = this.metadata.selfCheck;
    this.busy = false;
  }
  check() {
    if (!this.engine) throw new CatdogError('the classifier was disposed', 'disposed');
  }
  async classify(source, { fit, wantInput = false, read, mirror = false } = {}) {
    this.check();
    this.busy = true;
    try {
      if (isType(source, 'ImageData')) {
        return this.engine.classifyPixels(source.data, source.width, source.height, { fit, wantInput, mirror });
      }
      if (isType(source, 'VideoFrame') && this.grab !== 'bitmap') {
        const t0 = performance.now();
        const res = await this.engine.classifyVideoFrame(source, { fit, wantInput, read, mirror });
        res.timings.grab = performance.now() - t0 - res.timings.total;
        return res;
      }
      const t0 = performance.now();
      const { msg } = await toTransferable(source, 'bitmap');
      this.check();
      try {
        const res = this.engine.classifyBitmap(msg.bitmap, { fit, wantInput, mirror });
        res.timings.grab = performance.now() - t0 - res.timings.total;
        return res;
      } finally {
        msg.bitmap.close();
      }
    } finally {
      this.busy = false;
    }
  }
  async predictTensor(data, shape) {
    this.check();
    return this.engine.predictTensor(data, shape);
  }
  dispose() {
    this.engine?.dispose();
    this.engine = null;
  }
}

export async function createClassifier({ modelUrl, wasmUrl, worker = true, backend = 'auto', threads = 'auto', grab = 'auto',
  layerAliases = null } = {}) {
  if (!modelUrl) throw new CatdogError('createClassifier: modelUrl is required', 'input');
  const base = globalThis.location?.href;
  const abs = (u) => (u ? new URL(u, base).href : undefined);
  const opts = { modelUrl: abs(modelUrl), wasmUrl: abs(wasmUrl), backend, threads, layerAliases };
  if (!worker) {
    const { Engine } = await import('./catdog-engine.js');
    return new DirectClassifier(await Engine.create(opts), grab);
  }
  const w = new Worker(new URL('./catdog-worker.js', import.meta.url), { type: 'module', name: 'catdog' });
  const info = await new Promise((resolve, reject) => {
    w.onmessage = (ev) => {
      if (ev.data?.type === 'ready') resolve(ev.data.info);
      else if (ev.data?.type === 'error') reject(new CatdogError(ev.data.message, ev.data.code));
    };
    w.onerror = (ev) => {
      ev.preventDefault?.();
      reject(new CatdogError(`could not start the worker: ${ev.message || 'script error'}`, 'wasm'));
    };
    w.postMessage({ type: 'init', id: 0, ...opts });
  }).catch((e) => {
    w.terminate();
    throw e;
  });
  return new WorkerClassifier(w, info, grab);
}
