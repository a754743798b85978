// Mirror averaging on the page: a checkbox, off by default, that makes every frame
// one batch-2 run (the frame and its left-right mirror; P(dog) their mean, as `catdog predict
// --flip`); the choice survives a reload (localStorage, like the language), the timing says that
// the inference line covers two images, and the fake camera still reads "Cat". The exact numbers
// (page core vs the native CLI) are checked in wasm-node.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { requireSite, requireData, siteDir, startServer, launch, watchPage, pickPhotos, makeY4m, tmpDir,
  nativeResults, defaultModel } from './helpers.mjs';

let server, tmp, video;
let units;  // output units per sample: 1 sigmoid for two classes, K softmax for K > 2

before(async () => {
  requireSite();
  requireData();
  // A cat the default model is sure of (calibrated P(dog) < 0.1 with and without the mirror).
  const model = await defaultModel();
  const labels = model.modelJson.userDefinedMetadata?.catdog?.labels ?? ['cat', 'dog'];
  units = labels.length > 2 ? labels.length : 1;
  const cats = await pickPhotos('Cat', 12, 41);
  // (For a model with more classes, also called "cat" both ways.)
  const p = await nativeResults(model.dir, cats);
  const pf = await nativeResults(model.dir, cats, { flip: true });
  const cat = cats.find((f, i) => p[i].pDog < 0.1 && pf[i].pDog < 0.1 && (p[i].label ?? 'cat') === 'cat' && (pf[i].label ?? 'cat') === 'cat');
  assert.ok(cat, `none of ${cats.length} cat photos has P(dog) < 0.1 and the label cat with ${model.id}`);
  tmp = tmpDir('catdog-mirror-');
  video = path.join(tmp, 'cat.y4m');
  await makeY4m([cat], video, { framesEach: 30 });
  server = await startServer(siteDir);
});
after(async () => {
  await server?.close();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

// What the page shows once `n` more camera frames with batch `batch` have been classified.
async function framesWith(tab, batch, n = 8) {
  await tab.waitForFunction(({ b, k }) => window.__catdog?.ready &&
    window.__catdog.history.filter((h) => h.source === 'camera' && h.batch === b).length >= k,
  { b: batch, k: n }, { timeout: 90000 });
  return tab.evaluate(() => ({
    checked: document.querySelector('[data-testid=mirror-avg]').checked,
    mirror: window.__catdog.mirror,
    last: window.__catdog.last,
    label: document.querySelector('[data-testid=prediction]').dataset.label,
    text: document.querySelector('#label-text').textContent,
    inference: document.querySelector('[data-testid=t-inference]').textContent,
    inferenceBatch: document.querySelector('[data-testid=t-inference]').dataset.batch,
    engine: document.querySelector('[data-testid=engine]').textContent,
    optionText: document.querySelector('[data-testid=mirror-avg]').closest('label').textContent.trim(),
  }));
}

test('mirror averaging: off by default, batch 2 when on, kept across a reload, the camera still reads "Cat"', async () => {
  const browser = await launch({ fakeVideo: video });
  try {
    const tab = await browser.context.newPage();
    const problems = watchPage(tab, server.origin);
    await tab.goto(`${server.url}?lang=en&sw=off`);
    const off = await framesWith(tab, 1);
    assert.equal(off.checked, false, 'off by default');
    assert.equal(off.mirror, false);
    assert.equal(off.last.batch, 1);
    assert.equal(off.last.output.length, units, 'one sample per frame');
    assert.equal(off.label, 'cat');
    assert.equal(off.inferenceBatch, '1');
    assert.ok(!off.engine.includes('mirror'), off.engine);
    assert.equal(off.optionText, 'Mirror averaging (2× slower, a little more accurate)');

    await tab.click('[data-testid=mirror-avg]');
    const on = await framesWith(tab, 2);
    assert.equal(on.checked, true);
    assert.equal(on.mirror, true);
    assert.equal(on.last.batch, 2, 'the frame and its mirror in one run');
    assert.equal(on.last.output.length, 2 * units, 'two samples per frame');
    assert.notEqual(on.last.output[0], on.last.output[units], 'the mirror is another input');
    assert.equal(on.label, 'cat');
    assert.equal(on.text, 'Cat');
    assert.equal(on.inferenceBatch, '2');
    assert.match(on.inference, /\(2 images\)$/, 'the inference time says it covers both images');
    assert.match(on.engine, /mirror averaging: 2 images per frame/);
    // The diagnostics panel names it and its cost.
    await tab.click('[data-testid=diagnostics] summary');
    await tab.waitForSelector('[data-testid=diag-mirror]', { timeout: 30000 });
    const diag = await tab.evaluate(() => document.querySelector('[data-testid=diag-mirror]').dataset);
    assert.equal(diag.value, 'yes');
    assert.match(diag.reason, /batch of 2/);

    // Kept for the next visit (the Spanish page, the same choice).
    await tab.goto(`${server.url}?lang=es&sw=off`);
    const again = await framesWith(tab, 2);
    assert.equal(again.checked, true, 'remembered across a reload');
    assert.equal(again.last.batch, 2);
    assert.equal(again.label, 'cat');
    assert.equal(again.text, 'Gato');
    assert.equal(again.optionText, 'Promediar con el espejo (2× más lento, algo más preciso)');
    assert.match(again.inference, /\(2 imágenes\)$/);
    // Switched off again: one sample per frame, and that is remembered too.
    await tab.click('[data-testid=mirror-avg]');
    await framesWith(tab, 1);
    await tab.reload();
    const offAgain = await framesWith(tab, 1);
    assert.equal(offAgain.checked, false);
    assert.equal(offAgain.last.batch, 1);
    assert.deepEqual(problems.pageErrors, [], 'no uncaught page errors');
    assert.deepEqual(problems.consoleErrors, [], 'no console errors');
  } finally {
    await browser.close();
  }
});

test('?mirror=1 turns it on for one visit without changing the kept choice', async () => {
  const browser = await launch({ fakeVideo: video });
  try {
    const tab = await browser.context.newPage();
    await tab.goto(`${server.url}?lang=en&sw=off&mirror=1`);
    const on = await framesWith(tab, 2, 3);
    assert.equal(on.checked, true);
    await tab.goto(`${server.url}?lang=en&sw=off`);
    const off = await framesWith(tab, 1, 3);
    assert.equal(off.checked, false, 'the URL did not change the kept choice');
  } finally {
    await browser.close();
  }
});
