// "Neither cat nor dog" on the page, both ways a model can say it (DESIGN contract 2): a non-animal
// photo of data/ood/manifest.tsv (a wall clock with motion blur, scikit-image's clock_motion.png,
// Debian package python3-skimage) in front of the fake camera and as an upload reads "No cat or dog" /
// "Ni gato ni perro", in the label and in the live region; a real cat photo still reads "Cat".
// - The binary catnet-s2 (the default until the three-class model) reads the clock at P(dog) 0.41,
//   inside its max-prob band 0.21–0.79: its ood block (catdog ood-fit) flags it, the decision the
//   core's (wasm export catdog_ood). If it stops flagging it, `catdog evaluate --ood-images` lists the
//   photos it accepts: pick another.
// - The default model has a class of its own for "neither" (labels cat, dog, neither): the clock is
//   that class, shown with the same words.
// The photo comes from scripts/ood-photos (scripts/deps runs it); it fails, never skips, without it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { requireSite, requireData, siteDir, repoRoot, startServer, launch, watchPage, pickPhotos,
  tmpDir, nativePredict, modelById, cameraPage } from './helpers.mjs';

const BINARY = 'catnet-s2';  // the shipped two-class model with an ood block

const photoDir = path.resolve(process.env.CATDOG_OOD_PHOTOS || path.join(repoRoot, 'build/ood-photos'));
let server, clock, cat, tmp;

before(async () => {
  requireSite();
  requireData();
  clock = path.join(photoDir, 'measure/clock-motion.png');
  if (!existsSync(clock)) {
    throw new Error(`missing ${clock}: run scripts/ood-photos --package python3-skimage ` +
      '(scripts/deps does), or set CATDOG_OOD_PHOTOS');
  }
  const model = await modelById(BINARY);
  assert.ok(model.modelJson.userDefinedMetadata?.catdog?.ood, `${model.file} has no ood block (catdog ood-fit)`);
  // A cat the model is sure of (calibrated P(dog) < 0.1 by the native CLI), so "Cat" is the answer.
  const cats = await pickPhotos('Cat', 12, 41);
  const p = await nativePredict(model.dir, cats);
  cat = cats.find((f, i) => p[i] < 0.1);
  assert.ok(cat, `none of ${cats.length} cat photos has P(dog) < 0.1 with ${model.id}`);
  tmp = tmpDir('catdog-ood-');
  server = await startServer(siteDir);
});
after(async () => {
  await server?.close();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

// The page in front of a fake camera showing `photo`; returns what it shows after `frames` frames.
async function cameraSees(photo, lang = 'en', frames = 12, query = `&model=${BINARY}`) {
  return cameraPage(server, photo, tmp, `&lang=${lang}${query}`, frames, (tab) => tab.evaluate(() => ({
    label: document.querySelector('[data-testid=prediction]').dataset.label,
    text: document.querySelector('#label-text').textContent,
    said: window.__catdog.announced,
    ood: window.__catdog.history.map((h) => h.label),
    batches: window.__catdog.history.map((h) => h.batch),
  })));
}

test('camera on a blurred wall clock: "No cat or dog", and the live region says so', async () => {
  const r = await cameraSees(clock);
  assert.equal(r.label, 'none', `labels over the frames: ${r.ood.join(' ')}`);
  assert.equal(r.text, 'No cat or dog');
  assert.equal(r.said.at(-1), 'No cat or dog', `announced: ${r.said.join(' | ')}`);
});

test('camera on a real cat: still "Cat"', async () => {
  const r = await cameraSees(cat);
  assert.equal(r.label, 'cat', `labels over the frames: ${r.ood.join(' ')}`);
  assert.equal(r.text, 'Cat');
});

// With mirror averaging on, the decision stays the frame's own (catdog_ood of sample 0, the threshold
// chosen on unmirrored images): the clock is still "No cat or dog", the cat still "Cat".
test('mirror averaging on: the clock is still "No cat or dog", the cat still "Cat"', async () => {
  const r = await cameraSees(clock, 'en', 12, `&model=${BINARY}&mirror=1`);
  assert.ok(r.batches.every((b) => b === 2), `every frame ran with its mirror: ${r.batches.join(' ')}`);
  assert.equal(r.label, 'none', `labels over the frames: ${r.ood.join(' ')}`);
  const c = await cameraSees(cat, 'en', 12, `&model=${BINARY}&mirror=1`);
  assert.equal(c.label, 'cat', `labels over the frames: ${c.ood.join(' ')}`);
});

test('Spanish, uploaded photo: "Ni gato ni perro" in the label and the live region', async () => {
  const browser = await launch();
  try {
    const tab = await browser.context.newPage();
    const problems = watchPage(tab, server.origin);
    await tab.goto(`${server.url}?lang=es&camera=off&sw=off&model=${BINARY}`);
    await tab.waitForFunction(() => window.__catdog?.ready, null, { timeout: 90000 });
    await tab.setInputFiles('[data-testid=upload]', clock);
    await tab.waitForFunction(() => window.__catdog.history.some((h) => h.source === 'photo'), null, { timeout: 30000 });
    await tab.waitForFunction(() => document.querySelector('[data-testid=announce]').textContent !== '', null, { timeout: 5000 });
    const r = await tab.evaluate(() => ({
      label: document.querySelector('[data-testid=prediction]').dataset.label,
      text: document.querySelector('#label-text').textContent,
      announce: document.querySelector('[data-testid=announce]').textContent,
      ood: window.__catdog.last.ood,
    }));
    assert.equal(r.ood, true, 'the core flagged the photo');
    assert.equal(r.label, 'none');
    assert.equal(r.text, 'Ni gato ni perro');
    assert.equal(r.announce, 'Ni gato ni perro');
    // The technical details say which score and threshold decided (the model's ood block).
    await tab.click('[data-testid=diagnostics] summary');
    await tab.waitForSelector('[data-testid=run-card] [data-key=ood]', { timeout: 30000 });
    const line = await tab.textContent('[data-testid=run-card] [data-key=ood]');
    const ood = (await modelById(BINARY)).modelJson.userDefinedMetadata.catdog.ood;
    assert.ok(line.startsWith(`${ood.method} > `) && line.includes('«val»'), `diagnostics: ${line}`);
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.consoleErrors, []);
  } finally {
    await browser.close();
  }
});
