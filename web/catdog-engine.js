// catdog-engine.js — image in, prediction out, on top of catdog-core.js. Shared by the worker
// (the page's path) and createClassifier({ worker: false }). Pixels reach the model only through
// the core's preprocess (DESIGN contract 1); canvases here only read an image at its own size.
import { loadCore, CatdogError } from './catdog-core.js';

const now = () => performance.now();

// A VideoFrame's YUV layout and matrix as the core names them, or null (the browser converts).
function yuvLayoutOf(frame) {
  const format = { I420: 'i420', NV12: 'nv12' }[frame.format];
  if (!format) return null;
  const cs = frame.colorSpace ?? {};
  const matrix = cs.matrix == null || cs.matrix === 'smpte170m' || cs.matrix === 'bt470bg' ? 'bt601' : cs.matrix === 'bt709' ? 'bt709' : null;
  if (!matrix) return null;
  return { format, matrix, fullRange: cs.fullRange === true };
}

export class Engine {
  constructor(core, model, loadMs) {
    this.core = core;
    this.model = model;
    this.loadMs = loadMs;
    this.canvas = null;
    this.ctx = null;
  }

  // threads: a number = that many, fixed; 'auto' = the pthreads core when the page may use it,
  // its thread count chosen per frame by thread-chooser.js (loaded only then), starting at 1.
  static async create({ modelUrl, wasmUrl, backend = 'auto', threads = 1, core = null, layerAliases = null }) {
    if (!modelUrl) throw new CatdogError('createClassifier: modelUrl is required', 'input');
    const t0 = now();
    const c = core ?? await loadCore({ wasmUrl, threads });
    const model = await c.loadModelFromUrl(modelUrl, { backend, layerAliases });
    const engine = new Engine(c, model, now() - t0);
    if (threads === 'auto' && !core && (model.metadata.threads ?? 1) > 1) {
      const { ThreadChooser } = await import('./thread-chooser.js');
      engine.chooser = new ThreadChooser(model.metadata.threads);
      engine.setCap(engine.chooser.next());
    }
    return engine;
  }

  setCap(n) {
    if (n !== this.cap) this.cap = this.core.setThreadCap(n);
  }

  describe() {
    const m = this.model;
    return {
      ...m.metadata,
      catdog: m.catdog,
      selfCheck: m.selfCheck,
      labels: m.labels,
      threshold: m.threshold,
      fit: m.fit,
      imageSize: m.imageSize,
      loadMs: this.loadMs,
      build: { ...this.core.buildFlags(), threads: m.metadata.threads ?? 1 },
      threadChoice: this.chooser?.state() ?? null,
    };
  }

  // RGBA pixels of a bitmap-like source, read at the source's own size (no resampling).
  readPixels(source) {
    const w = source.width ?? source.displayWidth;
    const h = source.height ?? source.displayHeight;
    if (!(w > 0 && h > 0)) throw new CatdogError(`classify: the image has no pixels (${w}x${h})`, 'input');
    if (!this.canvas || this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas = new OffscreenCanvas(w, h);
      this.ctx = this.canvas.getContext('2d', { willReadFrequently: true, alpha: false });
    }
    this.ctx.drawImage(source, 0, 0);
    return { pixels: this.ctx.getImageData(0, 0, w, h).data, width: w, height: h };
  }

  // The last run's answer from the core (catdog::Classify, DESIGN contract 2: the page has no copy
  // of the calibration or the decision): the class index and label, the K calibrated probabilities
  // (probs, in the order of labels), pDog (probs[1] of a two-class model, else the probability of a
  // class named dog or dogs in any case, NaN without one), and whether the core calls it neither cat nor dog (ood;
  // always false for a model without an ood threshold).
  // mirrored: the run was the image and its mirror (batch 2): the probabilities are the core's mean
  // of their calibrated probabilities (as `catdog evaluate --flip`). The ood decision stays the
  // image's own (sample 0): its threshold was chosen on unmirrored validation images (catdog
  // ood-fit, 95% of them kept), and a mean of two scores would have another distribution.
  interpret({ mirrored = false } = {}) {
    const m = this.model;
    const { index, probs } = m.classify(0, mirrored);
    const dog = m.labels.length === 2 ? 1 : m.labels.findIndex((l) => /^dogs?$/i.test(l));
    return { index, probs: Array.from(probs), label: index >= 0 ? m.labels[index] : null, pDog: dog >= 0 ? probs[dog] : NaN, ood: m.ood(0) };
  }

  // Classifies RGBA/RGB/gray pixels. Returns output, pDog, label, timings and (wantInput) the
  // model input as 8-bit gray for display.
  classifyPixels(pixels, width, height, { format = 'rgba', stride, fit, wantInput = false, readMs = 0, mirror = false } = {}) {
    const t0 = now();
    if (!(pixels?.byteLength > 0)) throw new CatdogError('classify: no pixels', 'input');
    this.model.imageBuffer(pixels.byteLength).set(pixels instanceof Uint8Array ? pixels : new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength));
    return this.classifyStaged(width, height, { format, stride, fit, wantInput, mirror, readMs: readMs + (now() - t0) });
  }

  // Preprocess + run on the image already in the model's staging buffer. mirror: mirror
  // averaging, one run of batch 2 (the image and its left-right mirror); the timings are of that
  // run, so they show its cost.
  classifyStaged(width, height, { format = 'rgba', stride, fit, wantInput = false, readMs = 0, matrix, fullRange, mirror = false } = {}) {
    const m = this.model;
    if (!m.imageSize) throw new CatdogError('classify: this model does not take S x S x 1 images; use predictTensor', 'input');
    const t0 = now();
    m.preprocessStaged(width, height, { format, stride, fit: fit ?? m.fit, matrix, fullRange });
    if (mirror) m.mirrorInput();
    const batch = mirror ? 2 : 1;
    const ch = this.chooser;
    const threads = ch ? ch.next() : 0;
    if (ch) this.setCap(threads);
    const t1 = now();
    const output = m.run(batch);
    const t2 = now();
    ch?.record(threads, (t2 - t1) / batch, t2);
    const res = {
      output: Array.from(output),
      ...this.interpret({ mirrored: mirror }),
      batch,
      width,
      height,
      timings: { read: readMs, preprocess: t1 - t0, inference: t2 - t1, total: readMs + (t2 - t0) },
      heapUsed: this.core.heapUsed(),
      memoryBytes: this.core.memoryBytes(),
      threads: ch ? threads : m.metadata.threads ?? 1,  // what this frame ran on
      threadChoice: ch ? ch.state() : null,
    };
    if (wantInput) {
      const x = m.inputView();
      const g = new Uint8ClampedArray(x.length);
      for (let i = 0; i < x.length; i++) g[i] = Math.round(x[i] * 255);
      res.input = g;
      res.inputSize = m.imageSize;
    }
    return res;
  }

  classifyBitmap(source, opts = {}) {
    const t0 = now();
    const { pixels, width, height } = this.readPixels(source);
    return this.classifyPixels(pixels, width, height, { ...opts, format: 'rgba', stride: undefined, readMs: now() - t0 });
  }

  // A WebCodecs VideoFrame (a camera frame): converted to RGBA by the browser straight into
  // wasm memory (VideoFrame.copyTo), falling back to a canvas read at the frame's own size.
  // I420/NV12 frames are copied as they are and converted by the core: Chromium's copyTo(RGBA)
  // waits on the main thread (docs/DESIGN.md, "camera frames"). opts.read 'rgba' skips that.
  async classifyVideoFrame(frame, opts = {}) {
    const t0 = now();
    const r = frame.visibleRect;
    const read = opts.read ?? 'auto';
    const yuv = read === 'auto' && r && this.yuvWorks !== false ? yuvLayoutOf(frame) : null;
    if (yuv) {
      const w = r.width, h = r.height, cw = (w + 1) >> 1, ch = (h + 1) >> 1;
      try {
        const dst = this.model.imageBuffer(w * h + 2 * cw * ch);
        const planes = yuv.format === 'nv12' ? [{ offset: 0, stride: w }, { offset: w * h, stride: 2 * cw }]
          : [{ offset: 0, stride: w }, { offset: w * h, stride: cw }, { offset: w * h + cw * ch, stride: cw }];
        await frame.copyTo(dst, { rect: { x: r.x, y: r.y, width: w, height: h }, layout: planes });
        this.yuvWorks = true;
        const res = this.classifyStaged(w, h, { ...opts, ...yuv, readMs: now() - t0 });
        res.capture = `${frame.format} (core converts)`;
        return res;
      } catch (e) {
        if (this.yuvWorks === true || e?.code === 'input') throw e;
        this.yuvWorks = false;
      }
    }
    if (this.copyToWorks !== false && r) {
      const w = r.width, h = r.height;
      try {
        const dst = this.model.imageBuffer(w * h * 4);
        await frame.copyTo(dst, { rect: { x: r.x, y: r.y, width: w, height: h }, layout: [{ offset: 0, stride: w * 4 }],
          format: 'RGBA', colorSpace: 'srgb' });
        this.copyToWorks = true;
        const res = this.classifyStaged(w, h, { ...opts, format: 'rgba', stride: w * 4, readMs: now() - t0 });
        res.capture = `${frame.format ?? 'frame'} -> RGBA (browser converts)`;
        return res;
      } catch (e) {
        if (this.copyToWorks === true) throw e;  // it worked before: a real error
        this.copyToWorks = false;                // no RGBA conversion here: use the canvas path
      }
    }
    const res = this.classifyBitmap(frame, opts);
    res.capture = 'canvas';
    return res;
  }

  predictTensor(data, shape) {
    return this.model.predictTensor(data, shape);
  }

  dispose() {
    this.model?.dispose();
    this.model = null;
  }
}
