// The wasm module loaded directly in node (no browser), through the same catdog-core.js the page
// uses, checked against the native CLI (the oracle) on the same inputs, plus its error paths.
// Most tests load the binary catnet-s2 (one sigmoid: P(dog), its threshold, its ood block); the
// default model's three classes (cat, dog, neither, with class offsets) are checked at the end.
//
// Needs: build/wasm/site (cmake --preset wasm && ninja -C build/wasm site),
//        build/native/catdog (cmake --preset native && ninja -C build/native catdog),
//        ../shared/data (or CATDOG_DATA), ffmpeg.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  requireSite, requireCli, requireData, defaultModel, modelById, loadWasmCore, loadWasmModel, nativeInfer, nativePredict, nativeResults,
  pickPhotos, decodeRgba, seededFloats, tmpDir, siteDir,
} from './helpers.mjs';

const run = promisify(execFile);
let core;
let model;
let info;
let work;

before(async () => {
  requireSite();
  requireCli();
  info = await modelById('catnet-s2');
  core = await loadWasmCore();
  model = await loadWasmModel(core, info.file);
  work = tmpDir('catdog-wasm-node-');
});

after(async () => {
  model?.dispose();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

function assertClose(actual, expected, what, rel = 1e-4, abs = 1e-6) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const tol = abs + rel * Math.abs(expected[i]);
    assert.ok(Number.isFinite(actual[i]), `${what}[${i}] = ${actual[i]} is not finite`);
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol,
      `${what}[${i}]: wasm ${actual[i]} vs native ${expected[i]} (tolerance ${tol})`);
  }
}

test('a two-class model loads in wasm and describes itself', () => {
  assert.deepEqual(model.inputShape, [100, 100, 1]);
  assert.equal(model.inputSize, 10000);
  assert.equal(model.outputSize, 1);
  assert.ok(model.metadata.num_weights > 0, 'weights counted');
  assert.ok(model.metadata.layers.length >= 3, 'layer summary present');
  assert.deepEqual(model.labels, ['cat', 'dog']);
  assert.equal(typeof model.metadata.backend, 'string');
  assert.ok(core.buildFlags().simd, 'the site module is the SIMD build');
});

test('predictTensor matches `catdog infer` on seeded tensors (batch 3)', async () => {
  const shape = [3, 100, 100, 1];
  const x = seededFloats(3 * 10000, 1234);
  const wasm = model.predictTensor(x, shape);
  const native = await nativeInfer(info.dir, x, shape);
  assert.deepEqual(native.shape, [3, 1]);
  assertClose(wasm, native.output, 'output');
  // The three samples differ, so a batch mix-up would show.
  const single = model.predictTensor(x.subarray(10000, 20000), [1, 100, 100, 1]);
  assertClose(single, [wasm[1]], 'sample 1 alone vs in the batch', 1e-6, 1e-7);
});

test('preprocess + run on real photos matches `catdog predict` (same PNG pixels)', async () => {
  const photos = [...await pickPhotos('Cat', 3, 11), ...await pickPhotos('Dog', 3, 12)];
  // Decode each JPEG once to a lossless PNG so both sides see identical pixels.
  const pngs = [];
  for (const [i, p] of photos.entries()) {
    const png = path.join(work, `photo${i}.png`);
    await run('/usr/bin/ffmpeg', ['-v', 'error', '-y', '-i', p, '-pix_fmt', 'rgb24', png]);
    pngs.push(png);
  }
  const native = await nativePredict(info.dir, pngs);
  // P(dog) as the page shows it: calibrated by the core (catdog_classify -> catdog::Classify
  // with the model's temperature), as `catdog predict` does; the page has no copy of the formula.
  const T = info.modelJson.userDefinedMetadata?.catdog?.calibration?.temperature ?? 1;
  assert.equal(model.metadata.temperature, T, 'the core reports the stored temperature');
  assert.notEqual(T, 1, 'the model is calibrated, so this checks the calibration');
  const wasm = [];
  const raw = [];
  for (const png of pngs) {
    const img = await decodeRgba(png);
    model.preprocess(img.data, img.width, img.height, { format: 'rgba' });
    raw.push(model.run(1)[0]);
    wasm.push(model.classify(0).probs[1]);
  }
  assertClose(wasm, native, 'P(dog)');
  assert.ok(wasm.some((p, i) => Math.abs(p - raw[i]) > 1e-3), `calibration moved P(dog): raw ${raw} -> ${wasm}`);
  // The page's path (Engine, as in the worker) shows the same calibrated value.
  const { Engine } = await import(path.join(siteDir, 'catdog-engine.js'));
  assert.equal(new Engine(core, model, 0).interpret().pDog, wasm.at(-1));
  assert.throws(() => model.classify(1), /sample 1 not in the last run \(1 samples\)/);
  assert.ok(new Set(wasm.map((v) => v.toFixed(7))).size > 1, 'different photos give different outputs');
});

// Mirror averaging (the page's option): one batch-2 run of the image and its mirror,
// filled by the core (catdog_mirror_input), P(dog) = the mean of the two calibrated P(dog)
// (catdog_classify(h, 0, 1)), as `catdog predict --flip` / `evaluate --flip` compute it; the ood
// decision stays the image's own (sample 0).
test('mirror averaging on real photos: the mean of the photo and its mirror run apart, and `catdog predict --flip`', async () => {
  const photos = [...await pickPhotos('Cat', 3, 21), ...await pickPhotos('Dog', 3, 22)];
  const pngs = [];
  for (const [i, p] of photos.entries()) {
    const png = path.join(work, `mirror${i}.png`);
    await run('/usr/bin/ffmpeg', ['-v', 'error', '-y', '-i', p, '-pix_fmt', 'rgb24', png]);
    pngs.push(png);
  }
  const native = await nativePredict(info.dir, pngs, { flip: true });
  const plainNative = await nativePredict(info.dir, pngs);
  const { Engine } = await import(path.join(siteDir, 'catdog-engine.js'));
  const engine = new Engine(core, model, 0);
  const S = model.imageSize;
  const mirrored = [], plain = [];
  for (const png of pngs) {
    const img = await decodeRgba(png);
    // The page's path (the worker's Engine): batch 2, P(dog) from the core.
    const res = engine.classifyPixels(img.data, img.width, img.height, { format: 'rgba', mirror: true });
    assert.equal(res.batch, 2, 'one run of two samples');
    assert.equal(res.output.length, 2 * model.outputSize);
    // The same photo and its mirror, each run alone (the mirror made here, from the input).
    const x = model.inputView().slice();
    const xm = new Float32Array(x.length);
    for (let y = 0; y < S; y++) for (let c = 0; c < S; c++) xm[y * S + c] = x[y * S + (S - 1 - c)];
    model.predictTensor(x, [1, S, S, 1]);
    const a = model.classify(0).probs[1], oodAlone = model.ood(0);
    model.predictTensor(xm, [1, S, S, 1]);
    const b = model.classify(0).probs[1];
    assertClose([res.pDog], [Math.fround(0.5 * (a + b))], 'mirrored P(dog) vs the mean of the two runs', 0, 1e-6);
    assert.equal(res.ood, oodAlone, 'ood is the photo\'s own decision');
    mirrored.push(res.pDog);
    plain.push(a);
  }
  assertClose(mirrored, native, 'P(dog) with mirror averaging vs `catdog predict --flip`', 0, 1e-5);
  assertClose(plain, plainNative, 'P(dog) without it vs `catdog predict`', 0, 1e-5);
  assert.ok(mirrored.some((p, i) => Math.abs(p - plain[i]) > 1e-4), `the mirror changed something: ${plain} -> ${mirrored}`);
  // Without a batch-2 run there is nothing to average.
  model.predictTensor(new Float32Array(S * S), [1, S, S, 1]);
  assert.throws(() => model.classify(0, true), /not in the last run \(1 samples\)/);
  assert.equal(engine.classifyPixels(new Uint8Array(4 * 9).fill(200), 3, 3).batch, 1, 'off by default');
  // A stale handle is refused with a message; mirrored frames do not grow the heap after the first.
  assert.equal(core.mod._catdog_mirror_input(9999), -1);
  assert.match(core.lastError(), /catdog_mirror_input: invalid handle/);
  const img = new Uint8Array(640 * 480 * 4).map((_, i) => (i * 7) % 256);
  engine.classifyPixels(img, 640, 480, { mirror: true });
  const heap0 = core.heapUsed(), mem0 = core.memoryBytes();
  for (let i = 0; i < 50; i++) engine.classifyPixels(img, 640, 480, { mirror: true });
  assert.equal(core.heapUsed(), heap0, 'malloc in use is unchanged over 50 mirrored frames');
  assert.equal(core.memoryBytes(), mem0);
});

test('preprocess: RGB, RGBA, gray and row stride give the same model input for the same image', () => {
  const w = 37, h = 23;
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    const v = (i * 37) % 251;
    rgba.set([v, v, v, 255], i * 4);
  }
  const gray = new Uint8Array(w * h).map((_, i) => rgba[i * 4]);
  const rgb = new Uint8Array(w * h * 3).map((_, i) => rgba[Math.floor(i / 3) * 4]);
  const stride = w * 4 + 12;
  const padded = new Uint8Array(stride * h).fill(99);
  for (let y = 0; y < h; y++) padded.set(rgba.subarray(y * w * 4, (y + 1) * w * 4), y * stride);
  const inputs = [];
  model.preprocess(rgba, w, h, { format: 'rgba' }); inputs.push(model.inputView().slice());
  model.preprocess(rgb, w, h, { format: 'rgb' }); inputs.push(model.inputView().slice());
  model.preprocess(gray, w, h, { format: 'gray' }); inputs.push(model.inputView().slice());
  model.preprocess(padded, w, h, { format: 'rgba', stride }); inputs.push(model.inputView().slice());
  for (const x of inputs.slice(1)) assertClose(x, inputs[0], 'input', 0, 1.5 / 255);
  assert.ok(inputs[0].every((v) => v >= 0 && v <= 1), 'inputs in [0,1]');
});

test('errors come back as messages, not crashes', async () => {
  const json = await fs.readFile(info.file, 'utf8');
  const noShard = async () => { throw new Error('no shard expected'); };
  await assert.rejects(core.createModel('{not json', noShard), (e) => e.code === 'model-format' && /model\.json/.test(e.message));
  const bad = JSON.parse(json);
  (bad.modelTopology.model_config ?? bad.modelTopology).config.layers[0].class_name = 'FancyConv';  // keras or tfjs layout
  await assert.rejects(core.createModel(JSON.stringify(bad), noShard), (e) => /FancyConv/.test(e.message));
  const dir = info.dir;
  // A shard one byte short: the message names the shard.
  let first = true;
  await assert.rejects(core.createModel(json, async (p) => {
    const b = await fs.readFile(path.join(dir, p));
    if (first) { first = false; return b.subarray(0, b.length - 1); }
    return b;
  }), (e) => e.code === 'model-format' && /shard/i.test(e.message));
  // Bad preprocess arguments.
  assert.throws(() => model.preprocess(new Uint8Array(16), 2, 2, { format: 'bgr' }), /unknown pixel format 'bgr'/);
  assert.throws(() => model.preprocess(new Uint8Array(16), 0, 2, { format: 'rgba' }), (e) => e.code === 'input');
  assert.throws(() => model.preprocess(new Uint8Array(16), 2, 2, { format: 'rgba', stride: 4 }), (e) => e.code === 'input');
  assert.throws(() => model.predictTensor(new Float32Array(10), [1, 100, 100, 1]), /10 floats/);
  assert.throws(() => model.predictTensor(new Float32Array(10000), [1, 10, 1000, 1]), /does not match/);
  // A disposed model refuses politely; raw ABI calls with a stale handle set an error.
  const m2 = await loadWasmModel(core, info.file);
  const h = m2.h;
  m2.dispose();
  assert.throws(() => m2.run(), /disposed/);
  assert.equal(core.mod._catdog_run(h, 1), -1);
  assert.match(core.lastError(), /invalid handle/);
});

test('the model facts are the core\'s: threshold, fit and labels as Model::Parse read them, a bad value refused at load', async () => {
  const json = JSON.parse(await fs.readFile(info.file, 'utf8'));
  const c = json.userDefinedMetadata.catdog;
  assert.equal(model.metadata.fit, c.fit ?? 'stretch');
  assert.equal(model.fit, model.metadata.fit);
  assert.equal(model.threshold, c.threshold ?? 0.5);
  assert.deepEqual(model.labels, c.labels ?? ['cat', 'dog']);
  const shards = async (p) => fs.readFile(path.join(info.dir, p));
  // Given values are taken as they are.
  const given = structuredClone(json);
  Object.assign(given.userDefinedMetadata.catdog, { fit: 'crop', threshold: 0.625, labels: ['gato', 'perro'] });
  delete given.userDefinedMetadata.catdog.selfcheck;  // the goldens were made with the shipped fit
  delete given.userDefinedMetadata.catdog.golden;
  const m = await core.createModel(JSON.stringify(given), shards);
  try {
    assert.deepEqual([m.fit, m.threshold, m.labels], ['crop', 0.625, ['gato', 'perro']]);
  } finally {
    m.dispose();
  }
  // The spelling the page used to accept alone (and `evaluate` silently stretched) is refused by
  // every reader alike, naming the key and the value.
  for (const [key, value, message] of [['fit', 'center_crop', /catdog\.fit "center_crop" is not "stretch" or "crop"/],
    ['threshold', 1.5, /catdog\.threshold 1\.5 is not a number in \(0, 1\)/],
    ['labels', ['cat', 'dog', 'neither'], /catdog\.labels has 3 names/]]) {
    const bad = structuredClone(json);
    bad.userDefinedMetadata.catdog[key] = value;
    await assert.rejects(core.createModel(JSON.stringify(bad), shards), (e) => e.code === 'model-format' && message.test(e.message),
      `${key} = ${JSON.stringify(value)}`);
  }
});

test('no wasm heap growth over 300 preprocess + run calls', () => {
  const img = new Uint8Array(640 * 480 * 4).map((_, i) => (i * 13) % 256);
  for (let i = 0; i < 10; i++) { model.preprocess(img, 640, 480); model.run(1); }
  const heap0 = core.heapUsed();
  const mem0 = core.memoryBytes();
  for (let i = 0; i < 300; i++) {
    model.preprocess(img, 640, 480);
    model.run(1);
  }
  assert.equal(core.heapUsed(), heap0, 'malloc in use is unchanged');
  assert.equal(core.memoryBytes(), mem0, 'linear memory did not grow');
});

// The default model: three softmax classes with a temperature and class offsets
// (calibration.class_bias, `catdog calibrate --keep-recall`), all applied by the core's Classify in
// wasm as natively: the K calibrated probabilities and the class of `catdog predict` on the same pixels.
test('the default three-class model: labels, and the core\'s probabilities and class match `catdog predict`', async () => {
  const def = await defaultModel();
  const c = def.modelJson.userDefinedMetadata.catdog;
  assert.deepEqual(c.labels, ['cat', 'dog', 'neither']);
  assert.ok(Array.isArray(c.calibration?.class_bias) && c.calibration.class_bias.some((b) => b !== 0),
    'the default carries class offsets, so this checks them');
  const m = await loadWasmModel(core, def.file);
  try {
    assert.equal(m.outputSize, 3);
    assert.deepEqual(m.labels, c.labels);
    const photos = [...await pickPhotos('Cat', 2, 31), ...await pickPhotos('Dog', 2, 32)];
    const faces = path.join(path.dirname(requireData()), 'Other/faces-nomask');
    photos.push(...(await fs.readdir(faces)).filter((f) => /\.jpe?g$/i.test(f)).sort().slice(0, 2).map((f) => path.join(faces, f)));
    const pngs = [];
    for (const [i, p] of photos.entries()) {
      const png = path.join(work, `k3-${i}.png`);
      await run('/usr/bin/ffmpeg', ['-v', 'error', '-y', '-i', p, '-pix_fmt', 'rgb24', png]);
      pngs.push(png);
    }
    const native = await nativeResults(def.dir, pngs);
    const classes = new Set();
    for (const [i, png] of pngs.entries()) {
      const img = await decodeRgba(png);
      m.preprocess(img.data, img.width, img.height, { format: 'rgba' });
      m.run(1);
      const r = m.classify(0);
      assertClose(Array.from(r.probs), c.labels.map((l) => native[i].probs[l]), `probabilities of ${path.basename(photos[i])}`, 0, 1e-5);
      assert.equal(c.labels[r.index], native[i].label, path.basename(photos[i]));
      classes.add(native[i].label);
    }
    assert.ok(classes.has('neither') && classes.size >= 2, `the photos give several classes: ${[...classes]}`);
  } finally {
    m.dispose();
  }
});
