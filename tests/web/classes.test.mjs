// The page for models of K classes (DESIGN contract 2): real TF.js (node) writes small softmax models at test
// time (Conv2D 3x3 mean filter -> GlobalAveragePooling2D -> Dense(3, softmax)): a gray image of
// brightness m in [0, 1] gets the logits (6 - 20m, 20m - 14, 0), so dark reads as class 0, mid gray
// as class 2 and bright as class 1. Served from a copy of the site (no other models), in headless
// Chromium with a fake camera and uploads:
//  - labels ["cat", "dog", "neither"]: three bars named in English and Spanish, the bars and the
//    debug hook hold the core's probabilities (= TF.js's on the same input), the big label follows
//    res.index through the hysteresis (replayed here from the page's own history), "No cat or dog"
//    when the neither class leads, a keep-examples button and key per class, a zip with a
//    neither/ folder; the compare view and the diagnostics name the classes;
//  - labels ["Cat", "Dog", "Rabbit"]: "Rabbit" shown as named, its marks under Rabbit/, the
//    earlier model's marks still under their own folders;
//  - a label that looks like HTML is shown as text.
//
// Needs: the site (CATDOG_SITE), chromium, npm @tensorflow/tfjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { requireSite, siteDir, startServer, launch, watchPage, tmpDir } from './helpers.mjs';

// The page's smoothing (web/app.js): EMA weight of the newest frame, the lead that enters a class,
// the lead below which it is left.
const SMOOTH = 0.35, ENTER = 0.12, LEAVE = 0.06;
const P_TOL = 1e-4;  // page (wasm core) vs TF.js probabilities on the same gray input
// Uniform gray levels and the class each reads as: 79 is between cat and neither (P 0.45 / 0.55).
const GRAY = { cat: 26, neither: 128, dog: 230, between: 79 };
const INDEX = { cat: 0, dog: 1, neither: 2, between: 2 };
const HTML_LABEL = '<img src=x onerror="window.__xss=1">';

let work, site, server, tf;
const MODELS = {
  k3: ['cat', 'dog', 'neither'],
  rabbit: ['Cat', 'Dog', 'Rabbit'],
  html: ['cat', 'dog', HTML_LABEL],
};
const photos = {};   // name -> PNG file of a uniform gray
let kModel;          // the TF.js model (the same weights for every label set)

async function loadTf() {
  // Silence the "install tfjs-node" banner (as tests/conformance/gen_fixtures.mjs does).
  const log = console.log, warn = console.warn;
  console.log = console.warn = () => {};
  try {
    const t = await import('@tensorflow/tfjs');
    await t.setBackend('cpu');
    await t.ready();
    return t;
  } finally {
    console.log = log;
    console.warn = warn;
  }
}

function buildModel() {
  const m = tf.sequential({ name: 'k3' });
  m.add(tf.layers.conv2d({ inputShape: [100, 100, 1], filters: 1, kernelSize: 3, activation: 'linear', name: 'conv2d' }));
  m.add(tf.layers.globalAveragePooling2d({ name: 'gap' }));
  m.add(tf.layers.dense({ units: 3, activation: 'softmax', name: 'dense' }));
  m.setWeights([tf.fill([3, 3, 1, 1], 1 / 9), tf.zeros([1]), tf.tensor2d([[-20, 20, 0]]), tf.tensor1d([6, -14, 0])]);
  return m;
}

// model.json (+ shard) as tensorflowjs writes it, with the labels in userDefinedMetadata.catdog.
async function writeModel(dir, labels) {
  let art;
  await kModel.save(tf.io.withSaveHandler(async (a) => {
    art = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const data = Buffer.from(tf.io.concatenateArrayBuffers(Array.isArray(art.weightData) ? art.weightData : [art.weightData]));
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'group1-shard1of1.bin'), data);
  await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify({
    format: 'layers-model', generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`, convertedBy: null,
    modelTopology: art.modelTopology, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: art.weightSpecs }],
    userDefinedMetadata: { catdog: { labels, input_size: 100 } },
  }));
}

// TF.js's probabilities for a uniform gray image (what the core's preprocess makes of it: g / 255).
function tfProbs(g) {
  return tf.tidy(() => Array.from(kModel.predict(tf.fill([1, 100, 100, 1], g / 255)).dataSync()));
}

before(async () => {
  requireSite();
  tf = await loadTf();
  kModel = buildModel();
  work = tmpDir('catdog-classes-');
  site = path.join(work, 'site');
  const models = path.join(siteDir, 'models');
  await fs.cp(siteDir, site, { recursive: true, filter: (src) => src !== models && !src.startsWith(models + path.sep) });
  for (const [id, labels] of Object.entries(MODELS)) await writeModel(path.join(site, 'models', id), labels);
  await fs.writeFile(path.join(site, 'models/index.json'), JSON.stringify({ default: 'k3',
    models: Object.keys(MODELS).map((id) => ({ id, path: `${id}/model.json`, title: id })) }));
  await fs.writeFile(path.join(site, 'models/report.json'), JSON.stringify({ models: [] }));  // read by diagnostics
  // Exact gray PNGs, written by the page's own encoder (web/marks-export.js).
  const { grayPng } = await import(path.join(site, 'marks-export.js'));
  for (const [name, g] of Object.entries(GRAY)) {
    photos[name] = path.join(work, `${name}.png`);
    await fs.writeFile(photos[name], grayPng(new Uint8Array(160 * 120).fill(g), 160, 120));
  }
  server = await startServer(site);
});

after(async () => {
  await server?.close();
  kModel?.dispose();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

function assertClean(problems) {
  assert.deepEqual(problems.foreignRequests, [], 'no request leaves the page origin');
  assert.deepEqual(problems.httpErrors, [], 'no HTTP errors');
  assert.deepEqual(problems.pageErrors, [], 'no uncaught page errors');
  assert.deepEqual(problems.consoleErrors, [], 'no console errors');
}

async function open(browser, query) {
  const page = await browser.context.newPage();
  const problems = watchPage(page, server.origin);
  await page.goto(`${server.url}?sw=off${query}`);
  await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
  return { page, problems };
}

// What the page shows: the big label, the bars (name, value, percent) and the debug hook's frame.
const shown = (page) => page.evaluate(() => {
  const p = document.querySelector('[data-testid=prediction]');
  return {
    label: p.dataset.label, text: document.querySelector('#label-text').textContent,
    bars: [...document.querySelectorAll('[data-testid=class-bars] .class-row')].map((r) => {
      const bar = r.querySelector('[role=meter]');
      return { testid: bar.dataset.testid, name: r.firstElementChild.textContent, p: bar.dataset.p,
        now: Number(bar.getAttribute('aria-valuenow')), pct: r.lastElementChild.textContent, htmlKids: r.firstElementChild.children.length };
    }),
    last: window.__catdog.last, labels: window.__catdog.labels, frames: window.__catdog.frames,
    input: [...new Set(window.__catdog.lastInput)],
    said: window.__catdog.announced.at(-1),
  };
});

// Uploads a gray photo and waits for its result (every model here has the same weights, so the
// class index of each photo is known; a model change re-classifies the last photo meanwhile).
async function upload(page, name) {
  const n = await page.evaluate(() => window.__catdog.history.length);
  await page.setInputFiles('[data-testid=upload]', photos[name]);
  await page.waitForFunction(([k, i]) => window.__catdog.history.length > k && window.__catdog.last.index === i, [n, INDEX[name]],
    { timeout: 30000 });
  return shown(page);
}

test('K = 3 (cat, dog, neither), uploads: bars in en and es hold the core\'s probabilities, TF.js\'s; the label; keep examples; zip', async () => {
  const browser = await launch({ fakeDevice: false });
  try {
    const { page, problems } = await open(browser, '&lang=en&camera=off&model=k3');
    const want = { cat: ['Cat', 'Cat', 'Gato', 'Gato'], neither: ['No cat or dog', 'Neither', 'Ni gato ni perro', 'Ninguno'],
      dog: ['Dog', 'Dog', 'Perro', 'Perro'] };
    for (const cls of ['cat', 'neither', 'dog']) {
      const s = await upload(page, cls);
      assert.deepEqual(s.labels, MODELS.k3, 'debug hook: the model\'s labels');
      assert.deepEqual(s.input, [GRAY[cls]], 'the model input is the photo\'s gray');
      const ref = tfProbs(GRAY[cls]);
      assert.equal(s.last.probs.length, 3);
      s.last.probs.forEach((p, i) => assert.ok(Math.abs(p - ref[i]) <= P_TOL, `${cls}: page P(${MODELS.k3[i]}) ${p} vs TF.js ${ref[i]}`));
      assert.equal(s.last.index, MODELS.k3.indexOf(cls), `${cls}: the core's index (probs ${s.last.probs})`);
      assert.equal(ref.indexOf(Math.max(...ref)), s.last.index, 'TF.js agrees on the class');
      assert.deepEqual(s.bars.map((b) => b.testid), ['class-bar-cat', 'class-bar-dog', 'class-bar-neither']);
      assert.deepEqual(s.bars.map((b) => b.name), ['Cat', 'Dog', 'Neither']);
      // A photo is not smoothed: each bar is the core's probability of that class for this image.
      s.bars.forEach((b, i) => {
        assert.equal(b.p, String(s.last.probs[i]), `bar ${b.testid}: data-p vs the hook's probs`);
        assert.equal(b.now, Math.round(s.last.probs[i] * 100));
        assert.equal(b.pct, `${Math.round(s.last.probs[i] * 100)}%`);
      });
      assert.equal(s.label, cls);
      assert.equal(s.text, want[cls][0]);
      assert.equal(s.said, want[cls][0], 'announced');
      await page.click('[data-testid=lang-toggle]');
      const es = await shown(page);
      assert.deepEqual(es.bars.map((b) => b.name), ['Gato', 'Perro', 'Ninguno']);
      assert.equal(es.text, want[cls][2]);
      assert.deepEqual(es.bars.map((b) => b.p), s.bars.map((b) => b.p), 'the language does not change the bars');
      await page.click('[data-testid=lang-toggle]');
    }
    // Between cat and neither: the core decides neither, by less than ENTER: the page says "Not sure".
    const tie = await upload(page, 'between');
    assert.ok(tie.last.probs[2] - tie.last.probs[0] < ENTER, `probs ${tie.last.probs}`);
    assert.equal(tie.label, 'unsure');
    assert.equal(tie.text, 'Not sure');

    // Technical details: P of every class; diagnostics: the classes and the decision.
    assert.match(await page.textContent('[data-testid=p-dog]'), /^0\.\d{3} \/ 0\.\d{3} \/ 0\.\d{3}; /);
    await page.click('[data-testid=diagnostics] summary');
    await page.waitForSelector('[data-testid=run-card] [data-key=classes]', { timeout: 30000 });
    assert.equal(await page.textContent('[data-testid=run-card] [data-key=classes]'), 'cat, dog, neither (the most probable one)');
    assert.equal(await page.textContent('[data-testid=run-card] [data-key=ood]'), 'a class of the model: "neither"');

    // Keep examples: one button per class (keys C, D, 3), marks stored with their class.
    await page.waitForFunction(() => !document.querySelector('[data-testid=mark-neither]')?.disabled, null, { timeout: 10000 });
    const buttons = await page.$$eval('#mark-buttons button', (bs) => bs.map((b) => ({ id: b.dataset.testid,
      text: b.firstElementChild.textContent, key: b.lastElementChild.textContent })));
    assert.deepEqual(buttons, [{ id: 'mark-cat', text: 'It is a cat', key: 'C' }, { id: 'mark-dog', text: 'It is a dog', key: 'D' },
      { id: 'mark-neither', text: 'No cat or dog', key: '3' }]);
    await page.keyboard.press('c');
    await page.keyboard.press('d');
    await page.keyboard.press('3');
    await page.click('[data-testid=mark-neither]');
    await page.waitForFunction(() => Object.values(window.__catdog.marks.count()).reduce((a, b) => a + b, 0) === 4, null, { timeout: 10000 });
    assert.deepEqual(await page.evaluate(() => window.__catdog.marks.count()), { cat: 1, dog: 1, neither: 2 });
    assert.equal(await page.textContent('[data-testid=mark-count]'), 'Kept — cat: 1, dog: 1, no cat or dog: 2');
    assert.equal(await page.textContent('#mark-last-text'), 'Last: no cat or dog');
    const zip = await exportZip(page);
    assert.deepEqual(folders(zip), { Cat: 1, Dog: 1, neither: 2 });
    assertClean(problems);
  } finally {
    await browser.close();
  }
});

async function exportZip(page) {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30000 }), page.click('[data-testid=export-marks]')]);
  const file = path.join(work, `${Date.now()}.zip`);
  await download.saveAs(file);
  return unzipSync(new Uint8Array(await fs.readFile(file)));
}
function folders(zip) {
  const n = {};
  for (const name of Object.keys(zip)) {
    const m = /^(.+)\/mark-\d{6}\.png$/.exec(name);
    assert.ok(m, `zip entry ${name}`);
    n[m[1]] = (n[m[1]] ?? 0) + 1;
  }
  return n;
}

// The page's rule, replayed from its own history: the EMA of the K probabilities; a class is entered
// when the core decides it for the frame (index) and its smoothed probability leads the runner-up
// by ENTER, kept while its lead is at least LEAVE; "unsure" otherwise.
function replay(frames) {
  let ema = null, cur = -1;
  return frames.map((f) => {
    ema = ema ? ema.map((e, i) => e + SMOOTH * (f.probs[i] - e)) : [...f.probs];
    const lead = (i) => ema[i] - Math.max(...ema.filter((_, j) => j !== i));
    const top = ema.indexOf(Math.max(...ema));
    // The smoothed leader could be entered, but the core decided another class for this frame.
    const held = !(cur >= 0 && lead(cur) >= LEAVE) && top !== f.index && lead(top) >= ENTER;
    cur = cur >= 0 && lead(cur) >= LEAVE ? cur : f.index >= 0 && lead(f.index) >= ENTER ? f.index : -1;
    return { cur, ema, held };
  });
}

// A fake-camera video (.y4m, 4:2:0, 10 fps) of uniform gray frames: Y = 16 + 219 g / 255, no chroma.
async function writeY4m(file, grays, w = 160, h = 120) {
  const head = Buffer.from(`YUV4MPEG2 W${w} H${h} F10:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n`);
  const frames = grays.map((g) => Buffer.concat([Buffer.from('FRAME\n'), Buffer.alloc(w * h, Math.round(16 + (219 * g) / 255)),
    Buffer.alloc(w * h / 2, 128)]));
  await fs.writeFile(file, Buffer.concat([head, ...frames]));
}

test('K = 3, live camera: the big label follows the core\'s index through the hysteresis; "No cat or dog" when neither leads', async () => {
  // Stretches of 20 frames: cat, between, neither, between, dog, then frames alternating between a
  // gray the core calls cat (P 0.55 / 0.45 neither) and one it calls neither (0.93): coming from
  // dog, the smoothed leader and the frame's class often differ there, and only the frame's class
  // (res.index) may be entered. Twice per loop (16 s).
  const video = path.join(work, 'camera.y4m');
  const stretch = (g) => new Array(20).fill(g);
  const alt = Array.from({ length: 20 }, (_, k) => (k % 2 ? 104 : 74));
  await writeY4m(video, [...stretch(GRAY.cat), ...stretch(GRAY.between), ...stretch(GRAY.neither), ...stretch(GRAY.between),
    ...stretch(GRAY.dog), ...alt, ...stretch(GRAY.dog), ...alt]);
  const browser = await launch({ fakeVideo: video });
  try {
    const { page, problems } = await open(browser, '&lang=en&model=k3');
    // Until the page has shown every class and "Not sure", over about two loops of the video.
    await page.waitForFunction(() => window.__catdog.history.length >= 280 &&
      ['cat', 'dog', 'neither', 'unsure'].every((l) => window.__catdog.history.some((h) => h.label === l)),
      null, { timeout: 150000, polling: 500 });
    const noneSeen = await page.waitForFunction(() => {
      const p = document.querySelector('[data-testid=prediction]');
      return p.dataset.label === 'neither' && { text: document.querySelector('#label-text').textContent, last: window.__catdog.last };
    }, null, { timeout: 30000, polling: 'raf' });
    const atNeither = await noneSeen.jsonValue();
    assert.equal(atNeither.text, 'No cat or dog');
    const e = atNeither.last.smoothed;
    assert.ok(e[2] - Math.max(e[0], e[1]) >= LEAVE, `neither leads the smoothed probabilities (${e})`);
    // The history and the bars in one task: the bars show the newest frame's smoothed probabilities.
    const { hist, bars } = await page.evaluate(() => ({ hist: window.__catdog.history,
      bars: [...document.querySelectorAll('[data-testid=class-bars] [role=meter]')].map((b) => Number(b.dataset.p)) }));
    assert.ok(hist.length < 500, 'the whole history is kept');
    assert.ok(hist.every((h) => h.source === 'camera' && h.probs.length === 3));
    const names = ['cat', 'dog', 'neither'];
    const want = replay(hist);
    hist.forEach((h, k) => {
      assert.equal(h.rawLabel, names[h.index], `frame ${k}: the frame's label is the core's index`);
      assert.equal(h.label, want[k].cur >= 0 ? names[want[k].cur] : 'unsure',
        `frame ${k}: page ${h.label}, rule ${want[k].cur} (index ${h.index}, smoothed ${want[k].ema.map((v) => v.toFixed(3))})`);
      // A class is only ever entered on a frame the core decided it.
      if (k > 0 && h.label !== hist[k - 1].label && h.label !== 'unsure') assert.equal(h.rawLabel, h.label, `frame ${k}: entered ${h.label}`);
    });
    // The hysteresis at work: "Cat" held on frames the core already calls neither (the gray between).
    assert.ok(hist.some((h) => h.label === 'cat' && h.rawLabel === 'neither'), 'a label is held while its lead lasts');
    console.log(`# ${hist.length} camera frames; ${want.filter((w) => w.held).length} where the smoothed leader was not the core's class`);
    bars.forEach((v, i) => assert.ok(Math.abs(v - want.at(-1).ema[i]) < 1e-9, `bar ${i}: ${v} vs smoothed ${want.at(-1).ema[i]}`));
    const said = await page.evaluate(() => window.__catdog.announced);
    for (const w of ['Cat', 'Dog', 'No cat or dog']) assert.ok(said.includes(w), `announced ${w}: ${said.join(' | ')}`);
    assertClean(problems);
  } finally {
    await browser.close();
  }
});

test('labels Cat, Dog, Rabbit: "Rabbit" as named, its marks under Rabbit/; a label like HTML stays text', async () => {
  const browser = await launch({ fakeDevice: false });
  try {
    const { page, problems } = await open(browser, '&lang=es&camera=off&model=k3');
    await upload(page, 'neither');
    await page.waitForFunction(() => !document.querySelector('[data-testid=mark-neither]')?.disabled, null, { timeout: 10000 });
    await page.keyboard.press('3');
    await page.waitForFunction(() => window.__catdog.marks.count().neither === 1, null, { timeout: 10000 });
    // Another model from the picker: bars, buttons and keys follow its labels.
    await page.selectOption('[data-testid=model-select]', 'rabbit');
    await page.waitForFunction(() => window.__catdog.ready && window.__catdog.labels?.[2] === 'Rabbit', null, { timeout: 60000 });
    const s = await upload(page, 'neither');
    assert.deepEqual(s.bars.map((b) => [b.testid, b.name]), [['class-bar-cat', 'Gato'], ['class-bar-dog', 'Perro'], ['class-bar-2', 'Rabbit']]);
    assert.equal(s.label, 'Rabbit');
    assert.equal(s.text, 'Rabbit');
    assert.equal(s.said, 'Rabbit');
    const cat = await upload(page, 'cat');
    assert.equal(cat.text, 'Gato', '"Cat" is the cat class, in the reader\'s words');
    assert.equal(cat.label, 'cat');
    await upload(page, 'neither');
    const buttons = await page.$$eval('#mark-buttons button', (bs) => bs.map((b) => [b.dataset.testid, b.firstElementChild.textContent,
      b.lastElementChild.textContent]));
    assert.deepEqual(buttons, [['mark-cat', 'Es un gato', 'C'], ['mark-dog', 'Es un perro', 'D'], ['mark-2', 'Es: Rabbit', '3']]);
    await page.keyboard.press('3');
    await page.click('[data-testid=mark-2]');
    await page.keyboard.press('c');
    await page.waitForFunction(() => window.__catdog.marks.count().Rabbit === 2 && window.__catdog.marks.count().cat === 1, null, { timeout: 10000 });
    assert.equal(await page.textContent('[data-testid=mark-count]'), 'Guardados — ni gato ni perro: 1, Rabbit: 2, gato: 1');
    assert.deepEqual(folders(await exportZip(page)), { neither: 1, Rabbit: 2, Cat: 1 }, 'the earlier model\'s mark keeps its folder');

    // Compare: every model on the same photo, each in its own labels. The other models load on the
    // first round; a round runs per classified photo.
    await page.click('[data-testid=compare-toggle]');
    for (let i = 0; i < 200 && !await page.evaluate(() => window.__catdog.compare?.rows.every((r) => r.label)); i++) await upload(page, 'neither');
    const rows = await page.$$eval('[data-testid=compare-row]', (trs) => trs.map((tr) => [tr.dataset.model, tr.dataset.label, tr.children[2].textContent, tr.children[1].textContent]));
    const hook = await page.evaluate(() => window.__catdog.compare.rows);
    assert.deepEqual(hook.map((r) => r.probs.length), [3, 3, 3]);
    const pct = (r) => `${Math.round(r.probs[r.index] * 100)} %`;
    rows.forEach((r) => { r[2] = r[2].replace(/\s/g, ' '); });
    assert.deepEqual(rows, [['k3', 'neither', `ni gato ni perro (${pct(hook[0])})`, hook[0].pDog.toFixed(3)],
      ['rabbit', 'Rabbit', `Rabbit (${pct(hook[1])})`, hook[1].pDog.toFixed(3)], ['html', HTML_LABEL, `${HTML_LABEL} (${pct(hook[2])})`, hook[2].pDog.toFixed(3)]]);
    assert.equal(hook[1].pDog, hook[1].probs[1], 'a class named "Dog" (any case) is the dog class: P(dog) is its probability');
    assert.deepEqual(hook.map((r) => r.agree), [false, true, false], 'rows agree when they name the same class');

    // A label that looks like HTML is shown as text.
    await page.click('[data-testid=compare-toggle]');
    await page.selectOption('[data-testid=model-select]', 'html');
    await page.waitForFunction(() => window.__catdog.ready && window.__catdog.model === 'html' && window.__catdog.labels?.length === 3, null, { timeout: 60000 });
    const h = await upload(page, 'neither');
    assert.equal(h.text, HTML_LABEL);
    assert.equal(h.bars[2].name, HTML_LABEL);
    assert.ok(h.bars.every((b) => b.htmlKids === 0), 'no element made from a label');
    assert.equal(await page.evaluate(() => window.__xss ?? null), null);
    assertClean(problems);
  } finally {
    await browser.close();
  }
});
