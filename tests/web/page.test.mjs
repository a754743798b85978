// The live page in headless Chromium (playwright-core + /usr/bin/chromium), against the native
// CLI as the oracle. A fake camera plays a .y4m made here from real photos (cat stretches, then
// dog stretches).
//
// Needs: build/wasm/site, build/native/catdog, ../shared/data (or CATDOG_DATA), ffmpeg, chromium.
// CATDOG_WEB_STRESS_FRAMES (default 5000): frames for the heap test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import {
  requireSite, requireCli, requireData, requireTool, siteDir, modelById, startServer, launch, watchPage,
  pickPhotos, makeY4m, extractFrame, nativePredict, nativeInfer, seededFloats, decodeRgba, tmpDir,
  loadWasmCore, loadWasmModel,
} from './helpers.mjs';

const run = promisify(execFile);
const FPS = 10;
const FRAMES_EACH = 30;           // 3 s per photo
const P_TOL = 0.01;               // camera YUV->RGB: Chromium vs ffmpeg (accurate flags) ~0.06 gray levels
const CONFIDENT = 0.2;            // |P - threshold| above which labels must agree
const INPUT_TOL = 0.5;            // mean |gray difference| (0..255) of the page's model input vs native

let work;
let server;
let model;                        // the site's default model
let video;                        // the .y4m
let stretches;                    // [{photo, frame, png, pNative, cls}]
let threshold = 0.5;
const PAGE_MODEL = 'catnet-s2';  // a shipped two-class model (P(dog), threshold)

function nativeLabel(p) { return p >= threshold ? 'dog' : 'cat'; }

before(async () => {
  requireSite();
  requireCli();
  requireData();
  requireTool('/usr/bin/ffmpeg');
  work = tmpDir('catdog-page-');
  model = await modelById(PAGE_MODEL);
  threshold = model.modelJson.userDefinedMetadata?.catdog?.threshold ?? 0.5;
  // Candidates from each class; keep the two cats the model finds most cat-like and the two
  // dogs it finds most dog-like, so a trained model gives confident frames.
  const cats = await pickPhotos('Cat', 8, 21);
  const dogs = await pickPhotos('Dog', 8, 22);
  const pc = await nativePredict(model.dir, cats);
  const pd = await nativePredict(model.dir, dogs);
  const best = (files, ps, sign) => files.map((f, i) => ({ f, p: ps[i] })).sort((a, b) => sign * (a.p - b.p)).slice(0, 2);
  const chosen = [...best(cats, pc, 1).map((x) => ({ ...x, cls: 'cat' })), ...best(dogs, pd, -1).map((x) => ({ ...x, cls: 'dog' }))];
  video = path.join(work, 'camera.y4m');
  const starts = await makeY4m(chosen.map((c) => c.f), video, { fps: FPS, framesEach: FRAMES_EACH });
  // The oracle: the frames the camera delivers, decoded back to RGB, through the native core.
  const pngs = [];
  for (const [i, s] of starts.entries()) pngs.push(await extractFrame(video, s + FRAMES_EACH / 2, path.join(work, `frame${i}.png`)));
  const pNative = await nativePredict(model.dir, pngs);
  stretches = chosen.map((c, i) => ({ photo: c.f, cls: c.cls, frame: starts[i], png: pngs[i], pNative: pNative[i] }));
  // The model input of each frame (the core's preprocess, as 8-bit gray like the page shows it).
  const core = await loadWasmCore();
  const m = await loadWasmModel(core, model.file);
  for (const st of stretches) {
    const img = await decodeRgba(st.png);
    m.preprocess(img.data, img.width, img.height, { format: 'rgba' });
    st.input = Uint8Array.from(m.inputView(), (v) => Math.round(v * 255));
  }
  m.dispose();
  console.log('# camera stretches (native P(dog) of the y4m frames):',
    stretches.map((s) => `${s.cls} ${path.basename(s.photo)} ${s.pNative.toFixed(4)}`).join(', '));
  server = await startServer(siteDir);
});

after(async () => {
  await server?.close();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

// The page on the binary catnet-s2 unless the query names a model: these tests compare P(dog) and
// its threshold with the native core (a two-class model's answer); the default's three classes are
// tested by tests/web/default-model.test.mjs and tests/web/classes.test.mjs.
async function openPage(browser, query = '') {
  const page = await browser.context.newPage();
  const problems = watchPage(page, server.origin);
  const q = query.includes('model=') ? query : `${query}${query.includes('?') ? '&' : '?'}model=${PAGE_MODEL}`;
  await page.goto(`${server.url}${q}`);
  return { page, problems };
}

function assertClean(problems, { allowConsole = [], allowHttp = [] } = {}) {
  assert.deepEqual(problems.foreignRequests, [], 'no request leaves the page origin');
  assert.deepEqual(problems.httpErrors.filter((e) => !allowHttp.some((re) => re.test(e))), [], 'no HTTP errors');
  assert.deepEqual(problems.pageErrors, [], 'no uncaught page errors');
  const errs = problems.consoleErrors.filter((e) => !allowConsole.some((re) => re.test(e)));
  assert.deepEqual(errs, [], 'no console errors');
}

// Page weight: the JS + WASM the live page loaded, gzip -9, <= 150 KB. Exactly one build
// of the core is loaded: `variant` (catdog_wasm, or catdog_wasm_mt whose pthread workers load
// catdog_wasm_mt.worker.js from inside the page's worker, so it is counted even if unseen here, and
// the thread chooser thread-chooser.js);
// never catdog_wasm_scalar, the build for browsers without wasm SIMD (tests/web/nosimd.test.mjs).
async function assertPageWeight(problems, variant) {
  const code = new Set([...problems.requests].filter((p) => /\.(m?js|wasm)$/.test(p)));
  assert.ok(code.has('/catdog-worker.js'), `loaded ${[...code]}`);
  const builds = ['catdog_wasm', 'catdog_wasm_mt', 'catdog_wasm_scalar'].filter((b) => code.has(`/${b}.wasm`));
  assert.deepEqual(builds, [variant], `the page loads one build of the core (${[...code]})`);
  if (variant === 'catdog_wasm_mt') code.add('/catdog_wasm_mt.worker.js');
  if (variant === 'catdog_wasm_mt') code.add('/thread-chooser.js');  // its run-time thread count (threads 'auto')
  else assert.ok(!code.has('/thread-chooser.js'), 'one thread: no thread chooser loaded');
  let gz = 0;
  for (const p of code) gz += gzipSync(await fs.readFile(path.join(siteDir, decodeURIComponent(p))), { level: 9 }).length;
  console.log(`# page weight (${variant}): ${code.size} JS/WASM files, ${(gz / 1024).toFixed(1)} KB gzip (${[...code].join(' ')})`);
  assert.ok(gz <= 150 * 1024, `JS + WASM of the live page (${variant}) is ${(gz / 1024).toFixed(1)} KB gzip (> 150 KB)`);
  return variant;
}

test('live camera: labels and P(dog) follow the native core on the same frames', async () => {
  const browser = await launch({ fakeVideo: video });
  try {
    const { page, problems } = await openPage(browser, '?lang=en');
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'served crossOriginIsolated');
    await page.waitForFunction(() => window.__catdog?.ready && window.__catdog.frames >= 3, null, { timeout: 60000 });
    // Watch a whole loop of the video (plus margin), sampling the page's history.
    const loopMs = (stretches.length * FRAMES_EACH * 1000) / FPS;
    const samples = [];
    const seen = new Set();
    const t0 = Date.now();
    while (Date.now() - t0 < loopMs * 1.6) {
      await page.waitForTimeout(250);
      const hist = await page.evaluate(() => window.__catdog.history.filter((h) => h.source === 'camera'));
      for (const h of hist) {
        const key = `${h.t}`;
        if (!seen.has(key)) { seen.add(key); samples.push(h); }
      }
    }
    assert.ok(samples.length >= 10, `the page classified ${samples.length} frames`);

    // What the model saw: each sampled frame's input matches one photo's input from the native
    // pipeline (ffmpeg decode of the same y4m frame -> core preprocess) within half a gray level
    // (Chromium and ffmpeg convert YUV to RGB nearly identically), and that photo's P(dog).
    const inputChecks = [];
    for (let i = 0; i < 12; i++) {
      await page.waitForTimeout((loopMs / 12) | 0);
      const got = await page.evaluate(() => ({ input: Array.from(window.__catdog.lastInput), p: window.__catdog.last.pDog }));
      const mad = stretches.map((st) => st.input.reduce((a, v, k) => a + Math.abs(v - got.input[k]), 0) / st.input.length);
      const best = mad.indexOf(Math.min(...mad));
      const second = Math.min(...mad.filter((_, k) => k !== best));
      assert.ok(mad[best] <= INPUT_TOL, `page model input differs from every native frame by >= ${mad[best].toFixed(2)} gray levels`);
      assert.ok(second > 3 * mad[best], `the input identifies one photo (${mad.map((v) => v.toFixed(2))})`);
      const st = stretches[best];
      assert.ok(Math.abs(got.p - st.pNative) <= P_TOL, `P(dog) ${got.p} vs native ${st.pNative} for ${path.basename(st.photo)}`);
      inputChecks.push({ photo: best, mad: mad[best], dp: Math.abs(got.p - st.pNative) });
    }
    const seenPhotos = new Set(inputChecks.map((c) => c.photo));
    assert.ok(seenPhotos.size >= 3, `the camera loop showed ${seenPhotos.size} of ${stretches.length} photos to the model`);
    const worst = inputChecks.reduce((a, c) => (c.mad > a.mad ? c : a));
    console.log(`# model input vs native on ${inputChecks.length} frames: worst mean |gray diff| ${worst.mad.toFixed(3)},` +
      ` max |dP| ${Math.max(...inputChecks.map((c) => c.dp)).toFixed(5)}, photos seen ${[...new Set(inputChecks.map((c) => c.photo))]}`);
    const dom = await page.evaluate(() => {
      const p = document.querySelector('[data-testid=prediction]');
      return { label: p.dataset.label, p: p.dataset.pDog, fps: document.querySelector('[data-testid=fps]').textContent,
        last: window.__catdog.last.pDog, dropped: window.__catdog.dropped };
    });
    assert.ok(['cat', 'dog', 'unsure', 'none'].includes(dom.label), `data-label ${dom.label}`);
    assert.ok(Math.abs(Number(dom.p) - dom.last) < 1e-6 || Number.isFinite(Number(dom.p)), 'data-p-dog is a number');
    assert.ok(Number(dom.fps) > 0, `fps ${dom.fps}`);

    // Each frame's P(dog) is one of the photos' native P(dog); each photo was seen.
    const hits = new Array(stretches.length).fill(0);
    let confidentChecked = 0;
    let run = { label: null, n: 0 };
    for (const s of samples) {
      const dists = stretches.map((st) => Math.abs(st.pNative - s.pDog));
      const idx = dists.indexOf(Math.min(...dists));
      assert.ok(dists[idx] <= P_TOL,
        `page P(dog) ${s.pDog} is not within ${P_TOL} of any native frame (${stretches.map((x) => x.pNative.toFixed(4))})`);
      hits[idx]++;
      const st = stretches[idx];
      // A trained model gives photos of one class nearly the same P(dog) (0.0000 for two cats), so
      // a frame may match several photos: its label is still checkable when every photo it could
      // be has the same confident native label.
      const cands = stretches.filter((o) => Math.abs(o.pNative - s.pDog) <= P_TOL);
      const candLabels = new Set(cands.map((o) => nativeLabel(o.pNative)));
      const want = nativeLabel(st.pNative);
      run = run.label === want ? { label: want, n: run.n + 1 } : { label: want, n: 1 };
      if (candLabels.size === 1 && cands.every((o) => Math.abs(o.pNative - threshold) > CONFIDENT)) {
        assert.equal(s.rawLabel, want, `frame label vs native for ${path.basename(st.photo)}`);
        // After 8 frames of the same class the smoothed label has settled on it.
        if (run.n >= 8) assert.equal(s.label, want, `smoothed label after ${run.n} frames`);
        confidentChecked++;
      }
    }
    const distinct = stretches.every((a, i) => stretches.every((b, j) => i === j || Math.abs(a.pNative - b.pNative) > 2 * P_TOL));
    if (distinct) {
      hits.forEach((n, i) => assert.ok(n > 0, `no classified frame matched ${path.basename(stretches[i].photo)}`));
    }
    const untrained = !!model.modelJson.userDefinedMetadata?.catdog?.untrained;
    if (!untrained) assert.ok(confidentChecked > 0, 'a trained model gives confident frames to compare labels on');
    console.log(`# ${samples.length} frames sampled, hits per photo ${hits}, ${confidentChecked} confident label checks,` +
      ` dropped ${dom.dropped}${untrained ? ' (untrained demo model: P(dog) compared, labels near 0.5)' : ''}`);
    assertClean(problems);

    // Isolated and 2+ cores: the pthreads build, its thread count chosen at run time (threads
    // 'auto': thread-chooser.js, up to 2), and only that variant is loaded (with the chooser).
    const hw = await page.evaluate(() => ({ cores: navigator.hardwareConcurrency, threads: window.__catdog.threads,
      choice: window.__catdog.threadChoice }));
    const variant = await assertPageWeight(problems, hw.cores > 1 ? 'catdog_wasm_mt' : 'catdog_wasm');
    if (hw.cores > 1) {
      assert.ok(problems.requests.includes('/thread-chooser.js'), 'the chooser is loaded with the pthreads core');
      assert.equal(hw.choice?.max, 2, `the chooser picks between 1 and 2 threads (${JSON.stringify(hw.choice)})`);
      assert.ok([1, 2].includes(hw.threads) && hw.threads === hw.choice.chosen, `threads ${hw.threads}, chooser ${JSON.stringify(hw.choice)}`);
      assert.ok(hw.choice.probes >= 1, `the chooser measured 1 and 2 threads (${JSON.stringify(hw.choice)})`);
    } else {
      assert.equal(hw.threads, 1, `threads on ${hw.cores} cores (${variant})`);
    }
  } finally {
    await browser.close();
  }
});

test('camera denied: a friendly message, and an uploaded photo is classified like the native core', async () => {
  const browser = await launch({ fakeUi: false });
  try {
    const { page, problems } = await openPage(browser, '?lang=en');
    const msg = page.locator('[data-testid=message][data-kind=camera-denied]');
    await msg.waitFor({ state: 'visible', timeout: 30000 });
    assert.match(await msg.textContent(), /camera/i);
    await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
    const photo = path.join(work, 'upload.png');
    await run('/usr/bin/ffmpeg', ['-v', 'error', '-y', '-i', stretches[stretches.length - 1].photo, '-pix_fmt', 'rgb24', photo]);
    const [pNative] = await nativePredict(model.dir, [photo]);
    await page.setInputFiles('[data-testid=upload]', photo);
    await page.waitForFunction(() => window.__catdog.history.some((h) => h.source === 'photo'), null, { timeout: 30000 });
    const res = await page.evaluate(() => {
      const p = document.querySelector('[data-testid=prediction]');
      return { label: p.dataset.label, p: Number(p.dataset.pDog), ood: window.__catdog.last.ood };
    });
    assert.ok(Math.abs(res.p - pNative) <= 1e-4, `uploaded photo: page P(dog) ${res.p} vs native ${pNative}`);
    const d = pNative - threshold;
    // "no cat or dog" (the core's out-of-distribution decision, tests/web/ood.test.mjs) comes first.
    const want = res.ood ? 'none' : d >= 0.12 ? 'dog' : d <= -0.12 ? 'cat' : 'unsure';
    assert.equal(res.label, want, `label for P(dog) ${pNative}`);
    // The model input is drawn from the core's preprocess output, not blank.
    const nonBlank = await page.evaluate(() => {
      const c = document.querySelector('[data-testid=model-input]');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let min = 255, max = 0;
      for (let i = 0; i < d.length; i += 4) { min = Math.min(min, d[i]); max = Math.max(max, d[i]); }
      return { w: c.width, spread: max - min };
    });
    assert.equal(nonBlank.w, 100);
    assert.ok(nonBlank.spread > 20, `model input canvas shows the photo (spread ${nonBlank.spread})`);
    assertClean(problems);
  } finally {
    await browser.close();
  }
});

test('no camera: a friendly message and the upload button', async () => {
  const browser = await launch({ fakeDevice: false });
  try {
    const { page, problems } = await openPage(browser, '?lang=es');
    const msg = page.locator('[data-testid=message][data-kind=no-camera]');
    await msg.waitFor({ state: 'visible', timeout: 30000 });
    assert.match(await msg.textContent(), /cámara/);
    assert.ok(await page.isVisible('[data-testid=upload]') || await page.isVisible('label.file-button'), 'upload offered');
    assert.equal(await page.isVisible('[data-testid=message][data-kind=camera-denied]'), false);
    assertClean(problems);
  } finally {
    await browser.close();
  }
});

test('drag-and-drop of a photo is classified; the language toggle switches the label text', async () => {
  const browser = await launch({ fakeUi: false });
  try {
    const { page, problems } = await openPage(browser, '?lang=es&camera=off');
    await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
    const photo = path.join(work, 'drop.png');
    await run('/usr/bin/ffmpeg', ['-v', 'error', '-y', '-i', stretches[0].photo, '-pix_fmt', 'rgb24', photo]);
    const [pNative] = await nativePredict(model.dir, [photo]);
    const bytes = [...await fs.readFile(photo)];
    await page.evaluate((b) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(b)], 'drop.png', { type: 'image/png' }));
      document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, bytes);
    await page.waitForFunction(() => window.__catdog.history.some((h) => h.source === 'photo'), null, { timeout: 30000 });
    const p = Number(await page.getAttribute('[data-testid=prediction]', 'data-p-dog'));
    assert.ok(Math.abs(p - pNative) <= 1e-4, `dropped photo: page ${p} vs native ${pNative}`);
    const es = await page.textContent('#label-text');
    await page.click('[data-testid=lang-toggle]');
    const en = await page.textContent('#label-text');
    const label = await page.getAttribute('[data-testid=prediction]', 'data-label');
    const words = { cat: ['Gato', 'Cat'], dog: ['Perro', 'Dog'], unsure: ['No sé', 'Not sure'], none: ['Ni gato ni perro', 'No cat or dog'] }[label];
    assert.deepEqual([es, en], words, `label text for ${label} in es, en`);
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
    assertClean(problems);
  } finally {
    await browser.close();
  }
});

test('model load failures (404, corrupt) show a friendly message; the demo model is marked', async () => {
  // A copy of the site with a missing and a corrupt model added to the picker.
  const site = path.join(work, 'site-broken');
  await fs.cp(siteDir, site, { recursive: true });
  const index = JSON.parse(await fs.readFile(path.join(site, 'models/index.json'), 'utf8'));
  await fs.mkdir(path.join(site, 'models/corrupt'), { recursive: true });
  const good = await fs.readFile(model.file, 'utf8');
  await fs.writeFile(path.join(site, 'models/corrupt/model.json'), good.slice(0, Math.floor(good.length / 2)));
  await fs.mkdir(path.join(site, 'models/short'), { recursive: true });
  await fs.writeFile(path.join(site, 'models/short/model.json'), good);
  for (const p of model.modelJson.weightsManifest[0].paths) {
    const b = await fs.readFile(path.join(model.dir, p));
    await fs.writeFile(path.join(site, 'models/short', p), b.subarray(0, b.length - 8));
  }
  index.models.push({ id: 'missing', path: 'missing/model.json' }, { id: 'corrupt', path: 'corrupt/model.json' },
    { id: 'short', path: 'short/model.json' });
  await fs.writeFile(path.join(site, 'models/index.json'), JSON.stringify(index));
  const srv = await startServer(site);
  const browser = await launch({ fakeUi: false });
  try {
    for (const [id, re] of [['missing', /404/], ['corrupt', /model\.json/], ['short', /shard|bytes/i]]) {
      const page = await browser.context.newPage();
      const problems = watchPage(page, srv.origin);
      await page.goto(`${srv.url}?lang=en&camera=off&model=${id}`);
      const msg = page.locator('[data-testid=message][data-kind=model-error]');
      await msg.waitFor({ state: 'visible', timeout: 30000 });
      const text = await msg.textContent();
      assert.match(text, re, `${id}: ${text}`);
      assert.match(text, /model/i);
      assertClean(problems, { allowConsole: [/Failed to load resource.*404/], allowHttp: [/^404 .*\/models\/missing\//] });
      if (id === 'short') {
        // Picking a good model from the picker recovers: the message goes, frames are classified.
        await page.selectOption('[data-testid=model-select]', model.id);
        await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
        await msg.waitFor({ state: 'detached', timeout: 10000 });
      }
      await page.close();
    }
    // The shipped default: the demo badge shows exactly when the metadata says demo/untrained.
    const page = await browser.context.newPage();
    await page.goto(`${srv.url}?lang=en&camera=off`);
    await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
    const demo = !!(model.modelJson.userDefinedMetadata?.catdog?.demo || model.modelJson.userDefinedMetadata?.catdog?.untrained);
    assert.equal(await page.isVisible('[data-testid=demo-badge]'), demo);
  } finally {
    await browser.close();
    await srv.close();
  }
});

test('embeddable API: createClassifier in a page matches the native core (worker and main thread)', async () => {
  const browser = await launch({ fakeUi: false });
  try {
    const { page, problems } = await openPage(browser, '?camera=off');
    const x = seededFloats(2 * 10000, 99);
    const native = await nativeInfer(model.dir, x, [2, 100, 100, 1]);
    const png = stretches[1].png;
    const [pNative] = await nativePredict(model.dir, [png]);
    const img = await decodeRgba(png);
    const out = await page.evaluate(async ({ xs, modelPath, rgba, w, h }) => {
      const { createClassifier } = await import('./catdog.js');
      const results = {};
      for (const worker of [true, false]) {
        const clf = await createClassifier({ modelUrl: `models/${modelPath}`, worker });
        const y = await clf.predictTensor(new Float32Array(xs), [2, 100, 100, 1]);
        const r = await clf.classify(new ImageData(new Uint8ClampedArray(rgba), w, h));
        const md = clf.metadata;
        clf.dispose();
        let disposed = '';
        try { await clf.classify(new ImageData(2, 2)); } catch (e) { disposed = e.code; }
        let badShape = '';
        const clf2 = await createClassifier({ modelUrl: `models/${modelPath}`, worker });
        try { await clf2.predictTensor(new Float32Array(5), [1, 5]); } catch (e) { badShape = e.message; }
        clf2.dispose();
        results[worker ? 'worker' : 'main'] = { y: [...y], p: r.pDog, label: r.label, shape: md.input_shape, disposed, badShape };
      }
      let missing = '';
      try { await createClassifier({ modelUrl: 'models/nope/model.json' }); } catch (e) { missing = `${e.code}: ${e.message}`; }
      return { ...results, missing };
    }, { xs: [...x], modelPath: model.entry.path, rgba: [...img.data], w: img.width, h: img.height });
    for (const k of ['worker', 'main']) {
      const r = out[k];
      r.y.forEach((v, i) => assert.ok(Math.abs(v - native.output[i]) <= 1e-6 + 1e-4 * Math.abs(native.output[i]),
        `${k}: predictTensor[${i}] ${v} vs native ${native.output[i]}`));
      assert.ok(Math.abs(r.p - pNative) <= 1e-4, `${k}: classify(ImageData) ${r.p} vs native ${pNative}`);
      assert.equal(r.label, nativeLabel(pNative));
      assert.deepEqual(r.shape, [100, 100, 1]);
      assert.equal(r.disposed, 'disposed');
      assert.match(r.badShape, /shape/);
    }
    assert.match(out.missing, /^model-fetch: .*404/);
    assertClean(problems, { allowConsole: [/Failed to load resource.*404/], allowHttp: [/^404 .*\/models\/nope\//] });
  } finally {
    await browser.close();
  }
});

// Camera frames arrive as I420 and are converted by the core (catdog::yuv_to_rgba), not by the
// browser: Chromium's VideoFrame.copyTo(RGBA) waits on the page's main thread, which made every
// frame tens of ms late on a slow (throttled) phone. Both conversions of the same VideoFrames must
// give the model the same picture.
test('camera frames: the core converts I420 like the browser does (same VideoFrame, both paths)', async () => {
  const browser = await launch({ fakeVideo: video });
  try {
    const { page, problems } = await openPage(browser, '?lang=en');
    await page.waitForFunction(() => window.__catdog?.ready && window.__catdog.frames >= 3, null, { timeout: 60000 });
    assert.match(await page.evaluate(() => window.__catdog.last.capture), /^I420 \(core converts\)$/, 'the live page uses the YUV path');
    const loopMs = (stretches.length * FRAMES_EACH * 1000) / FPS;
    const rows = [];
    for (let i = 0; i < 6; i++) {
      rows.push(await page.evaluate(async (modelPath) => {
        const { createClassifier } = await import('./catdog.js');
        window.__direct ??= await createClassifier({ modelUrl: `models/${modelPath}`, worker: false });
        const frame = new VideoFrame(document.getElementById('video'));
        try {
          const a = await window.__direct.classify(frame, { wantInput: true });
          const b = await window.__direct.classify(frame, { wantInput: true, read: 'rgba' });
          let maxd = 0, sum = 0;
          for (let k = 0; k < a.input.length; k++) { const d = Math.abs(a.input[k] - b.input[k]); maxd = Math.max(maxd, d); sum += d; }
          return { format: frame.format, matrix: frame.colorSpace.matrix, ca: a.capture, cb: b.capture, pa: a.pDog, pb: b.pDog, maxd, mean: sum / a.input.length };
        } finally {
          frame.close();
        }
      }, model.entry.path));
      await page.waitForTimeout((loopMs / 6) | 0);
    }
    console.log('# YUV (core) vs RGBA (browser) on the same frames:', rows.map((r) => `mean ${r.mean.toFixed(3)} max ${r.maxd} dP ${Math.abs(r.pa - r.pb).toExponential(1)}`).join('; '));
    for (const r of rows) {
      assert.equal(r.format, 'I420');
      assert.equal(r.ca, 'I420 (core converts)');
      assert.equal(r.cb, 'I420 -> RGBA (browser converts)');
      assert.ok(r.mean <= 0.25, `mean |gray difference| ${r.mean} > 0.25 of 255`);
      assert.ok(r.maxd <= 2, `max |gray difference| ${r.maxd} > 2 of 255`);
      assert.ok(Math.abs(r.pa - r.pb) <= 0.01, `P(dog) ${r.pa} (core) vs ${r.pb} (browser)`);
    }
    assertClean(problems);
  } finally {
    await browser.close();
  }
});

test('threads build: every shipped model gets 2 threads at once and computes what the single-thread build does, capped at 1 too', async () => {
  const index = JSON.parse(await fs.readFile(path.join(siteDir, 'models/index.json'), 'utf8'));
  const browser = await launch({ fakeDevice: false });
  try {
    const { page, problems } = await openPage(browser, '?lang=en');
    await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
    const r = await page.evaluate(async (urls) => {
      const { loadCore } = await import('/catdog-core.js');
      const mt = await loadCore({ threads: 2 });
      const st = await loadCore({ threads: 1 });
      const out = [];
      for (const url of urls) {  // all models stay loaded: the pools must fit the pre-spawned workers
        const a = await mt.loadModelFromUrl(url, { threads: 2 });
        const b = await st.loadModelFromUrl(url);
        const x = new Float32Array(a.inputSize);
        for (let i = 0; i < x.length; i++) x[i] = ((i * 7919) % 1000) / 1000;
        const shape = [1, ...a.inputShape];
        const pa = a.predictTensor(x, shape), pb = b.predictTensor(x, shape);
        // The run-time cap (catdog_set_thread_cap, what the page's thread chooser sets): one
        // thread on the pthreads core gives the same bits as its two.
        const capped = mt.setThreadCap(1);
        const pc = a.predictTensor(x, shape);
        mt.setThreadCap(0);
        out.push({ url, threads: a.metadata.threads, diff: Math.max(...Array.from(pa, (v, i) => Math.abs(v - pb[i]))),
          capped, cappedSame: pc.every((v, i) => v === pa[i]) });
      }
      let refused = '';
      try { mt.setThreadCap(65); } catch (e) { refused = `${e.code}: ${e.message}`; }
      return { mt: mt.buildFlags(), st: st.buildFlags(), out, refused };
    }, index.models.map((m) => `/models/${m.path}`));
    assert.deepEqual([r.mt.pthreads, r.st.pthreads], [true, false], 'threads 2 loads the pthreads build, threads 1 the other');
    for (const o of r.out) {
      assert.equal(o.threads, 2, `${o.url} runs with 2 threads`);
      assert.ok(o.diff <= 1e-5, `${o.url}: threads build differs from the single-thread build by ${o.diff}`);
      assert.equal(o.capped, 1, `${o.url}: the cap is 1`);
      assert.ok(o.cappedSame, `${o.url}: capped at 1 thread, the pthreads core gives other outputs than at 2`);
    }
    assert.match(r.refused, /^input: catdog_set_thread_cap: bad thread count 65/);
    console.log(`# threads build: ${r.out.length} models at 2 threads, max |diff| vs 1 thread ${Math.max(...r.out.map((o) => o.diff))}`);
    assertClean(problems, { allowConsole: [/camera/i] });
  } finally {
    await browser.close();
  }
});

test('plain static hosting (no COOP/COEP): not isolated, still classifies camera frames', async () => {
  const plain = await startServer(siteDir, { plain: true });
  const browser = await launch({ fakeVideo: video });
  try {
    const page = await browser.context.newPage();
    const problems = watchPage(page, plain.origin);
    await page.goto(`${plain.url}?lang=en`);
    await page.waitForFunction(() => window.__catdog?.ready && window.__catdog.frames >= 5, null, { timeout: 60000 });
    const r = await page.evaluate(() => ({ coi: crossOriginIsolated, threads: window.__catdog.threads, p: window.__catdog.last.pDog,
      label: window.__catdog.last.rawLabel }));
    assert.equal(r.coi, false);
    assert.equal(r.threads, 1, 'single-thread fallback');
    const dists = stretches.map((st) => Math.abs(st.pNative - r.p));
    const best = dists.indexOf(Math.min(...dists));
    assert.ok(dists[best] <= P_TOL, `P(dog) ${r.p} matches a native frame`);
    // Same label as the native core (and so as the threaded page, checked against it above).
    if (Math.abs(stretches[best].pNative - threshold) > CONFIDENT) assert.equal(r.label, nativeLabel(stretches[best].pNative));
    await assertPageWeight(problems, 'catdog_wasm');
    assertClean(problems);
  } finally {
    await browser.close();
    await plain.close();
  }
});
