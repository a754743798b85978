// The live page's tools: the compare view, the marked-frames correction loop (browser
// half) and the diagnostics panel, in headless Chromium with a fake camera playing real photos,
// against the native CLI as the oracle. One browser for the whole file; a short clip (a cat, then
// a dog, 2 s each).
//
// Needs: the site (CATDOG_SITE), build/native/catdog (CATDOG_CLI), ../shared/data, ffmpeg, chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { unzipSync } from 'fflate';
import {
  requireSite, requireCli, requireData, requireTool, siteDir, defaultModel, startServer, launch, watchPage,
  pickPhotos, makeY4m, extractFrame, nativePredict, decodeRgba, tmpDir, runCli, loadWasmCore, loadWasmModel,
} from './helpers.mjs';

const run = promisify(execFile);
const FPS = 10;
const FRAMES_EACH = 20;
const P_TOL = 1e-4;      // page P(dog) vs `catdog predict` on the same 100x100 gray bytes
const INPUT_TOL = 0.5;   // mean |gray diff| of a stored frame vs the native preprocess of a video frame

let work, server, plainServer, browser, model, index, video;
let frameInputs;         // native model input (100x100 gray) of each photo's video frames
let grayPng;             // the page's own PNG encoder (web/marks-export.js)

before(async () => {
  requireSite();
  requireCli();
  requireData();
  requireTool('/usr/bin/ffmpeg');
  work = tmpDir('catdog-tools-');
  model = await defaultModel();
  index = JSON.parse(await fs.readFile(path.join(siteDir, 'models/index.json'), 'utf8'));
  // A cat and a dog the live model is sure of, chosen (natively) so that the weak dense-u8 reads
  // at least one of them the other way: the compare view then has a disagreement among the models
  // that count (dense-aug, at chance, never counts). Of 12 cats and 12 dogs: the most confident
  // photo on which dense-u8 disagrees, else the most confident one.
  const cats = await pickPhotos('Cat', 12, 31);
  const dogs = await pickPhotos('Dog', 12, 32);
  const weakDir = path.join(siteDir, 'models', 'dense-u8');
  const pick = async (imgs, isDog) => {
    const live = await nativePredict(model.dir, imgs);
    const weak = await nativePredict(weakDir, imgs);
    const order = imgs.map((_, i) => i).sort((i, j) => (isDog ? live[j] - live[i] : live[i] - live[j]));
    const split = order.find((i) => (live[i] >= 0.5) === isDog && (weak[i] >= 0.5) !== isDog);
    return { img: imgs[split ?? order[0]], split: split !== undefined };
  };
  const cat = await pick(cats, false), dog = await pick(dogs, true);
  assert.ok(cat.split || dog.split, 'dense-u8 disagrees with the live model on one of 12 cats or 12 dogs');
  const photos = [cat.img, dog.img];
  video = path.join(work, 'camera.y4m');
  const starts = await makeY4m(photos, video, { width: 320, height: 240, fps: FPS, framesEach: FRAMES_EACH });
  const core = await loadWasmCore();
  const m = await loadWasmModel(core, model.file);
  frameInputs = [];
  for (const [i, start] of starts.entries()) {
    const png = await extractFrame(video, start + 2, path.join(work, `frame${i}.png`));
    const img = await decodeRgba(png);
    m.preprocess(img.data, img.width, img.height, { format: 'rgba' });
    frameInputs.push(Uint8Array.from(m.inputView(), (v) => Math.round(v * 255)));
  }
  m.dispose();
  ({ grayPng } = await import(path.join(siteDir, 'marks-export.js')));
  server = await startServer(siteDir);
  plainServer = await startServer(siteDir, { plain: true });
  browser = await launch({ fakeVideo: video });
});

after(async () => {
  await browser?.close();
  await server?.close();
  await plainServer?.close();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

async function openLive(srv = server, query = '?lang=en') {
  const page = await browser.context.newPage();
  const problems = watchPage(page, srv.origin);
  await page.goto(`${srv.url}${query}`);
  await page.waitForFunction(() => window.__catdog?.ready && window.__catdog.frames >= 3, null, { timeout: 60000 });
  return { page, problems };
}

function assertClean(problems) {
  assert.deepEqual(problems.foreignRequests, [], 'no request leaves the page origin');
  assert.deepEqual(problems.httpErrors, [], 'no HTTP errors');
  assert.deepEqual(problems.pageErrors, [], 'no uncaught page errors');
  assert.deepEqual(problems.consoleErrors, [], 'no console errors (CSP violations included)');
}

// Mean |a - b| over two gray images; the index of the nearest native frame input.
function nearestFrame(input) {
  const mad = frameInputs.map((f) => f.reduce((a, v, k) => a + Math.abs(v - input[k]), 0) / f.length);
  const best = mad.indexOf(Math.min(...mad));
  return { best, mad };
}

async function writeGrayPng(bytes, file) {
  await fs.writeFile(file, grayPng(Uint8Array.from(bytes), 100, 100));
  return file;
}

test('compare view: every model on the same frame, numbers like the native CLI, disagreement marked', async () => {
  const tOpen = Date.now();
  const { page, problems } = await openLive();
  const openMs = Date.now() - tOpen;
  try {
    const tStart = Date.now();
    await page.click('[data-testid=compare-toggle]');
    await page.waitForSelector('[data-testid=compare-toggle][aria-pressed=true]', { timeout: 10000 });  // compare.js loaded
    // All models load (lazily, once) and give a result on one round.
    await page.waitForFunction((n) => window.__catdog.compare?.rows.length === n &&
      window.__catdog.compare.rows.every((r) => r.label), index.models.length, { timeout: 90000 });
    // Sample rounds over a whole video loop: the DOM and the hook in one go (one task).
    const loadedMs = Date.now() - tStart;
    const rounds = [];
    const t0 = Date.now();
    const dropped0 = await page.evaluate(() => window.__catdog.dropped);
    while (Date.now() - t0 < 5000) {
      await page.waitForTimeout(400);
      rounds.push(await page.evaluate(() => {
        const view = document.querySelector('[data-testid=compare]');
        const rows = [...view.querySelectorAll('[data-testid=compare-row]')].map((tr) => ({
          id: tr.dataset.model, label: tr.dataset.label, pDog: Number(tr.dataset.pDog), ms: Number(tr.dataset.ms),
          agree: tr.dataset.agree, chance: tr.dataset.chance === 'true', cells: [...tr.children].map((c) => c.textContent),
        }));
        return { hook: window.__catdog.compare, rows, disagree: view.dataset.disagree, round: Number(view.dataset.round),
          summary: document.querySelector('[data-testid=compare-summary]').textContent, hidden: view.hidden };
      }));
    }
    const dropped = (await page.evaluate(() => window.__catdog.dropped)) - dropped0;
    const distinct = [...new Map(rounds.map((r) => [r.hook.round, r])).values()];
    assert.ok(distinct.length >= 3, `the compare view kept up: ${distinct.length} rounds in 5 s`);
    // Frames are dropped, not queued, while a round runs: when a round (the models one after the
    // other) lasts longer than a camera frame, frames must have been dropped. On a fast machine a
    // round can end before the next frame arrives, and then nothing is there to drop.
    const roundMs = distinct.map((r) => r.rows.reduce((a, x) => a + x.ms, 0)).sort((a, b) => a - b)[Math.floor(distinct.length / 2)];
    console.log(`# compare: ${distinct.length} rounds, median round ${roundMs.toFixed(1)} ms, ${dropped} frames dropped`);
    if (roundMs > 1000 / FPS) assert.ok(dropped > 0, `camera frames are dropped (not queued) while a round runs (${roundMs.toFixed(1)} ms rounds)`);
    let disagreeing = 0;
    for (const r of distinct) {
      assert.equal(r.hidden, false);
      assert.deepEqual(r.rows.map((x) => x.id), index.models.map((m) => m.id), 'one row per model, index order');
      const live = r.rows.find((x) => x.id === model.id);
      assert.match(live.cells[0], /live/, 'the live model is named');
      for (const x of r.rows) {
        assert.ok(['cat', 'dog'].includes(x.label), `${x.id}: label ${x.label}`);
        assert.ok(x.pDog >= 0 && x.pDog <= 1, `${x.id}: P(dog) ${x.pDog}`);
        assert.equal(x.cells[1], x.pDog.toFixed(3), `${x.id}: P(dog) shown`);
        assert.ok(Number.isFinite(x.ms) && x.ms > 0 && x.cells[3] === x.ms.toFixed(2), `${x.id}: latency ${x.cells[3]}`);
        // A model at chance is neither agreeing nor disagreeing.
        assert.equal(x.agree, x.chance ? undefined : String(x.label === live.label), `${x.id}: agreement mark`);
      }
      const counted = r.rows.filter((x) => !x.chance);
      const split = new Set(counted.map((x) => x.label)).size > 1;
      assert.equal(r.disagree, String(split), 'the view is marked when the models disagree');
      if (split) {
        disagreeing++;
        const n = counted.filter((x) => x.agree === 'true').length;
        assert.match(r.summary, new RegExp(`^${n} of ${counted.length} models agree`), r.summary);
      } else {
        assert.match(r.summary, /^All \d+ models agree/);
      }
    }
    assert.ok(disagreeing > 0, 'on a cat and a dog photo the weak (dense) models disagree with the live one somewhere');

    // Each model's P(dog) on one round's input equals `catdog predict` on those exact bytes.
    const last = distinct[distinct.length - 1].hook;
    const { best, mad } = nearestFrame(last.input);
    assert.ok(mad[best] <= INPUT_TOL, `the compared input is a camera frame's model input (${mad.map((v) => v.toFixed(2))})`);
    const png = await writeGrayPng(last.input, path.join(work, 'compare-input.png'));
    const tNative = Date.now();
    const native = await Promise.all(last.rows.map((row) => {
      const entry = index.models.find((m) => m.id === row.id);
      return nativePredict(path.dirname(path.join(siteDir, 'models', entry.path)), [png]);
    }));
    last.rows.forEach((row, i) => assert.ok(Math.abs(row.pDog - native[i][0]) <= P_TOL,
      `${row.id}: page ${row.pDog} vs native ${native[i][0]}`));
    console.log(`# compare: page ready in ${openMs} ms, all models loaded in ${loadedMs} ms, native checks ${Date.now() - tNative} ms; ${distinct.length} rounds in 5 s, ${disagreeing} with disagreement, ${dropped} frames dropped; ` +
      `ms: ${last.rows.map((r) => `${r.id} ${r.ms.toFixed(2)}`).join(', ')}`);

    // Off again: hidden, and the page goes back to the live model alone.
    await page.click('[data-testid=compare-toggle]');
    await page.waitForSelector('[data-testid=compare-toggle][aria-pressed=false]');
    assert.equal(await page.isVisible('[data-testid=compare]'), false);
    const r0 = await page.evaluate(() => window.__catdog.compare.round);
    const f0 = await page.evaluate(() => window.__catdog.frames);
    await page.waitForFunction((f) => window.__catdog.frames >= f + 3, f0, { timeout: 20000 });
    assert.equal(await page.evaluate(() => window.__catdog.compare.round), r0, 'no rounds while off');
    assertClean(problems);
  } finally {
    await page.close();
  }
});

test('marked frames: c/d keys and buttons, kept over a reload, exported as Cat/Dog gray PNGs of the model input', async () => {
  let { page, problems } = await openLive();
  try {
    const count = () => page.evaluate(() => {
      const el = document.querySelector('[data-testid=mark-count]');
      return { cat: Number(el.dataset.cat), dog: Number(el.dataset.dog), text: el.textContent };
    });
    // Waits until the camera has just turned to photo i (0: the cat, 1: the dog), so a mark made
    // right then is of that photo.
    const waitForPhoto = async (i) => {
      let prev = null;
      for (const t0 = Date.now(); Date.now() - t0 < 20000; await page.waitForTimeout(50)) {
        const input = await page.evaluate(() => (window.__catdog.lastInput ? Array.from(window.__catdog.lastInput) : null));
        const now = input && nearestFrame(input).best;
        if (now === i && prev !== null && prev !== i) return;
        prev = now;
      }
      throw new Error(`the camera never turned to photo ${i}`);
    };
    await page.waitForFunction(() => !document.querySelector('[data-testid=mark-cat]').disabled, null, { timeout: 10000 });
    assert.deepEqual((await count()).cat + (await count()).dog, 0, 'a fresh profile has no marks');
    await waitForPhoto(0);
    await page.keyboard.press('c');
    await page.click('[data-testid=mark-cat]');
    await waitForPhoto(1);
    await page.keyboard.press('d');
    await page.click('[data-testid=mark-dog]');
    await page.waitForFunction(() => document.querySelector('[data-testid=mark-count]').dataset.dog === '2' &&
      document.querySelector('[data-testid=mark-count]').dataset.cat === '2');
    // A key typed into a form control is not a mark.
    await page.focus('[data-testid=model-select]');
    await page.keyboard.press('d');
    await page.waitForTimeout(300);
    const c1 = await count();
    assert.deepEqual([c1.cat, c1.dog], [2, 2]);
    assert.match(c1.text, /cats: 2, dogs: 2/);

    // Reload: the marks are still there (IndexedDB).
    await page.reload();
    await page.waitForFunction(() => window.__catdog?.marks && document.querySelector('[data-testid=mark-count]').dataset.cat === '2',
      null, { timeout: 30000 });
    const marks = await page.evaluate(() => window.__catdog.marks.all());
    assert.equal(marks.length, 4);
    assert.deepEqual(marks.map((m) => m.cls).sort(), ['cat', 'cat', 'dog', 'dog']);
    for (const m of marks) {
      assert.equal(m.size, 100);
      assert.equal(m.input.length, 100 * 100);
      assert.equal(m.model, model.id);
      const { best, mad } = nearestFrame(m.input);
      assert.ok(mad[best] <= INPUT_TOL, `mark ${m.id} is the model input of a camera frame (mean |diff| ${mad.map((v) => v.toFixed(2))})`);
      assert.equal(best, m.cls === 'cat' ? 0 : 1, `mark ${m.id} (${m.cls}) holds the frame shown when it was made`);
    }

    // Export: a zip with Cat/ and Dog/ folders of 8-bit gray PNGs whose pixels are the stored bytes.
    // The zip library is loaded for the export only (not part of the live page's weight).
    const lazy = ['/vendor/fflate.js', '/marks-export.js'];
    assert.deepEqual(problems.requests.filter((r) => lazy.includes(r)), [], 'zip code not loaded before the export');
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30000 }), page.click('[data-testid=export-marks]')]);
    assert.match(download.suggestedFilename(), /^catdog-marks-.*\.zip$/);
    const zipFile = path.join(work, 'marks.zip');
    await download.saveAs(zipFile);
    const files = unzipSync(new Uint8Array(await fs.readFile(zipFile)));
    const names = Object.keys(files).sort();
    assert.equal(names.length, 4, `zip entries ${names}`);
    assert.deepEqual(lazy.filter((r) => !problems.requests.includes(r)), [], 'the export loaded the zip code');
    const dir = path.join(work, 'marks');
    const pngs = [];
    for (const name of names) {
      const m = /^(Cat|Dog)\/mark-(\d{6})\.png$/.exec(name);
      assert.ok(m, `zip entry ${name} is Cat/... or Dog/...png`);
      const rec = marks.find((r) => r.id === Number(m[2]));
      assert.ok(rec, `${name} names a stored mark`);
      assert.equal(m[1], rec.cls === 'cat' ? 'Cat' : 'Dog', `${name}: class folder`);
      const png = files[name];
      assert.deepEqual([...png.subarray(12, 16)].map((b) => String.fromCharCode(b)).join(''), 'IHDR');
      assert.deepEqual([png[24], png[25]], [8, 0], `${name}: 8-bit grayscale PNG`);
      const file = path.join(dir, name);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, png);
      const img = await decodeRgba(file);  // ffmpeg's PNG decoder, independent of the page
      assert.deepEqual([img.width, img.height], [100, 100]);
      const gray = new Uint8Array(100 * 100);
      for (let i = 0; i < gray.length; i++) {
        assert.ok(img.data[4 * i] === img.data[4 * i + 1] && img.data[4 * i] === img.data[4 * i + 2]);
        gray[i] = img.data[4 * i];
      }
      assert.deepEqual([...gray], rec.input, `${name}: PNG pixels are the stored model input`);
      pngs.push({ file, rec });
    }
    // The live model on those bytes natively gives what the page showed for that frame.
    const pNative = await nativePredict(model.dir, pngs.map((x) => x.file));
    pngs.forEach(({ file, rec }, i) => assert.ok(Math.abs(pNative[i] - rec.pDog) <= P_TOL,
      `${path.basename(file)}: native ${pNative[i]} vs page ${rec.pDog}`));
    // `catdog prepare` reads the layout (a still photo gives identical frames: prepare keeps one).
    const distinct = (cls) => new Set(marks.filter((r) => r.cls === cls).map((r) => r.input.join())).size;
    const pack = path.join(work, 'pack');
    await runCli(['prepare', '--images', dir, '--out', pack]);
    const report = JSON.parse(await fs.readFile(path.join(pack, 'report.json'), 'utf8'));
    assert.deepEqual(report.per_class, { cat: distinct('cat'), dog: distinct('dog') }, 'prepare read Cat/ and Dog/');

    // Clear (after a confirmation): nothing left, also after a reload.
    page.once('dialog', (d) => d.accept());
    await page.click('[data-testid=clear-marks]');
    await page.waitForFunction(() => document.querySelector('[data-testid=mark-count]').dataset.cat === '0');
    await page.reload();
    await page.waitForFunction(() => window.__catdog?.marks && document.querySelector('[data-testid=mark-count]').dataset.cat === '0',
      null, { timeout: 30000 });
    assert.equal((await page.evaluate(() => window.__catdog.marks.all())).length, 0);
    assert.equal(await page.isDisabled('[data-testid=export-marks]'), true);
    assertClean(problems);
  } finally {
    await page.close();
  }
});

async function readDiagnostics(page) {
  await page.click('[data-testid=diagnostics] summary');
  await page.waitForSelector('[data-testid=diag-threads]', { timeout: 20000 });
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=stage-chart]').dataset.frames) >= 5 &&
    document.querySelector('[data-testid=run-card] [data-key=metrics]')?.textContent.includes('accuracy') &&
    !/report/.test(document.querySelector('[data-testid=run-card] [data-key=metrics]').textContent), null, { timeout: 30000 });
  await page.waitForTimeout(600);  // a few more frames drawn
  return page.evaluate(() => {
    const dd = (id) => {
      const e = document.querySelector(`[data-testid=${id}]`);
      return { value: e.dataset.value, reason: e.dataset.reason ?? '' };
    };
    const chart = document.querySelector('[data-testid=stage-chart]');
    const px = chart.getContext('2d').getImageData(0, 0, chart.width, chart.height).data;
    let painted = 0;
    for (let i = 3; i < px.length; i += 4) painted += px[i] > 0 ? 1 : 0;
    const stages = Object.fromEntries([...document.querySelectorAll('[data-testid=stage-legend] dd')]
      .map((e) => [e.dataset.stage, Number(e.dataset.mean)]));
    const card = Object.fromEntries([...document.querySelectorAll('[data-testid=run-card] dd')].map((e) => [e.dataset.key, e.textContent]));
    return { coi: dd('diag-coi'), simd: dd('diag-simd'), threads: dd('diag-threads'), painted, frames: Number(chart.dataset.frames),
      stages, card, builtThreads: window.__catdog.threads };
  });
}

test('diagnostics: isolation, SIMD and threads with the reason, a live per-stage chart, the run card; --plain changes it', async () => {
  const meta = model.modelJson.userDefinedMetadata.catdog;
  const report = JSON.parse(await fs.readFile(path.join(siteDir, 'models/report.json'), 'utf8'));
  const rep = report.models.find((m) => m.id === model.id);
  for (const [srv, isolated] of [[server, true], [plainServer, false]]) {
    const { page, problems } = await openLive(srv);
    try {
      const d = await readDiagnostics(page);
      assert.equal(await page.evaluate(() => crossOriginIsolated), isolated);
      assert.equal(d.coi.value, isolated ? 'yes' : 'no');
      assert.equal(d.simd.value, 'yes', 'the site is built with -msimd128 and Chromium runs it');
      assert.equal(Number(d.threads.value), d.builtThreads);
      if (isolated) {
        assert.equal(d.coi.reason, '');
        if (d.builtThreads === 1) {
          assert.ok(d.threads.reason && !/COOP/.test(d.threads.reason), `isolated, one thread: why (${d.threads.reason})`);
        }
      } else {
        assert.match(d.coi.reason, /COOP\/COEP/);
        assert.equal(d.builtThreads, 1);
        assert.match(d.threads.reason, /COOP\/COEP/, 'one thread because the headers are missing');
      }
      // The chart: painted bars, per-stage means that are real times.
      assert.ok(d.frames >= 5 && d.painted > 100, `chart: ${d.frames} frames, ${d.painted} painted pixels`);
      assert.deepEqual(Object.keys(d.stages), ['capture', 'preprocess', 'inference', 'draw']);
      for (const [k, v] of Object.entries(d.stages)) assert.ok(Number.isFinite(v) && v >= 0, `${k} mean ${v}`);
      assert.ok(d.stages.inference > 0, 'inference takes time');
      // The run card: the model's own metadata and report.json.
      assert.match(d.card.seed, new RegExp(`train ${meta.run_card.seed}\\b`));
      assert.match(d.card.seed, new RegExp(`split ${meta.run_card.pack.seed}\\b`));
      assert.match(d.card.data, new RegExp(meta.run_card.pack.content_hash.slice(0, 12)));
      assert.match(d.card.data, new RegExp(`${meta.run_card.pack.train_images} training images`));
      assert.ok(d.card.metrics.includes(`accuracy ${(rep.test.accuracy * 100).toFixed(1)}%`), d.card.metrics);
      // AUC is a two-class model's number; a K-class model's card has none.
      if (Number.isFinite(rep.test.auc)) assert.ok(d.card.metrics.includes(`AUC ${rep.test.auc.toFixed(4)}`), d.card.metrics);
      else assert.ok(!d.card.metrics.includes('AUC'), d.card.metrics);
      if (meta.calibration) assert.ok(d.card.calibration.includes(`T = ${meta.calibration.temperature.toFixed(4)}`), d.card.calibration);
      console.log(`# diagnostics (${isolated ? 'isolated' : '--plain'}): threads ${d.threads.value}` +
        `${d.threads.reason ? ` (${d.threads.reason})` : ''}; stage means ms ` +
        Object.entries(d.stages).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', '));
      assertClean(problems);
    } finally {
      await page.close();
    }
  }
});

// The thread chooser in the diagnostics panel (web/thread-chooser.js decides, diagnostics.js shows):
// with no camera there are no frames, so the state shown is the one set here, as the worker reports
// it after a probe (the chooser's decisions themselves: tests/web/thread-chooser.test.mjs).
test('diagnostics: the run-time thread choice and the times behind it, in both languages', async () => {
  const page = await browser.context.newPage();
  const problems = watchPage(page, server.origin);
  try {
    await page.goto(`${server.url}?lang=en&camera=off`);
    await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
    const start = await page.evaluate(() => ({ cores: navigator.hardwareConcurrency, choice: window.__catdog.threadChoice,
      threads: window.__catdog.threads }));
    if (start.cores < 2) {
      assert.equal(start.choice, null, 'one core: no thread chooser');
      return;
    }
    assert.deepEqual([start.choice.max, start.choice.chosen, start.choice.why, start.threads], [2, 1, 'warm', 1],
      `starts on one thread (${JSON.stringify(start.choice)})`);
    await page.click('[data-testid=diagnostics] summary');
    await page.waitForSelector('[data-testid=diag-threads]', { timeout: 20000 });
    const dd = () => page.evaluate(() => {
      const e = document.querySelector('[data-testid=diag-threads]');
      return { value: e.dataset.value, choice: e.dataset.choice, reason: e.dataset.reason, engine: document.getElementById('engine').textContent };
    });
    let d = await dd();
    assert.deepEqual([d.value, d.choice], ['1', 'warm']);
    assert.match(d.reason, /^choosing: frames alternate 1 and 2 threads/);
    const decided = (why, chosen) => ({ threads: chosen, chosen, max: 2, why, reason: 'rise', oneMs: 3, manyMs: why === 'faster' ? 1.8 : 3.3,
      oneP80: 3.2, manyP80: why === 'faster' ? 2 : 5, probes: 2, decidedAt: 1000, everyMs: 10000 });
    // 2 threads chosen: the panel (re-rendered by the language switch) names both medians and p80s.
    await page.evaluate((c) => { window.__catdog.threadChoice = c; window.__catdog.threads = c.chosen; }, decided('faster', 2));
    await page.click('#lang-toggle');
    d = await dd();
    assert.deepEqual([d.value, d.choice], ['2', 'faster']);
    assert.equal(d.reason, 'elegido al ejecutar: 2 hilos tardan 1,80 ms por imagen (p80 2,00), 1 hilo 3,00 ms (p80 3,20); ' +
      'se mide de nuevo cada 10 s y cuando suben los tiempos (última medida: subieron los tiempos)');
    assert.match(d.engine, /2 hilos/);
    await page.click('#lang-toggle');
    d = await dd();
    assert.equal(d.reason, 'chosen at run time: 2 threads take 1.80 ms per image (p80 2.00), 1 thread 3.00 ms (p80 3.20); ' +
      'measured again every 10 s and when times rise (last check: times rose)');
    assert.match(d.engine, /2 threads/);
    // Back to one thread: why.
    await page.evaluate((c) => { window.__catdog.threadChoice = c; window.__catdog.threads = c.chosen; }, decided('notFaster', 1));
    await page.click('#lang-toggle');
    await page.click('#lang-toggle');
    d = await dd();
    assert.deepEqual([d.value, d.choice], ['1', 'notFaster']);
    assert.equal(d.reason, 'chosen at run time: 2 threads took 3.30 ms per image (p80 5.00), 1 thread 3.00 ms (p80 3.20); ' +
      'more threads must be 10% faster with no slower slow frames; measured again every 10 s (last check: times rose)');
    assert.match(d.engine, /1 thread/);
    console.log(`# diagnostics, thread chooser: ${d.value} thread (${d.reason})`);
    assertClean(problems);
  } finally {
    await page.close();
  }
});
