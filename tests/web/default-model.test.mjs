// The page's default model has a class of its own for "neither cat nor dog" (labels cat, dog,
// neither): what a person sees first when the camera shows them, and what it shows for a pet.
// A face photo the native CLI calls "neither" (of ../shared/data/Other/faces-nomask), held in front
// of Chromium's fake camera, reads "No cat or dog" / "Ni gato ni perro" in the label and the live
// region, with one bar per class; a cat photo the CLI calls "cat" reads "Cat". The frame's class is
// the core's (catdog_classify, DESIGN contract 2), checked against `catdog predict` on the same photo.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { requireSite, requireCli, requireData, siteDir, dataDir, startServer, pickPhotos, tmpDir, nativeResults,
  defaultModel, cameraPage } from './helpers.mjs';

let server, tmp, model, face, cat;

// The first of `files` whose native answer is `label` with a probability of at least `p`.
async function sure(files, label, p) {
  const res = await nativeResults(model.dir, files);
  const i = res.findIndex((r) => r.label === label && r.probs[label] >= p);
  assert.ok(i >= 0, `none of ${files.length} photos is "${label}" at ${p} or more with ${model.id}: ` +
    res.map((r) => `${r.label} ${r.probs[r.label].toFixed(3)}`).join(', '));
  return files[i];
}

before(async () => {
  requireSite();
  requireCli();
  requireData();
  model = await defaultModel();
  const labels = model.modelJson.userDefinedMetadata?.catdog?.labels;
  assert.deepEqual(labels, ['cat', 'dog', 'neither'], `${model.file}: the default's labels`);
  const faces = path.join(dataDir, 'Other/faces-nomask');
  const names = (await fs.readdir(faces)).filter((f) => /\.jpe?g$/i.test(f)).sort().slice(0, 12);
  face = await sure(names.map((f) => path.join(faces, f)), 'neither', 0.9);
  cat = await sure(await pickPhotos('Cat', 12, 41), 'cat', 0.9);
  tmp = tmpDir('catdog-default-');
  server = await startServer(siteDir);
});
after(async () => {
  await server?.close();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

// The default page in front of a fake camera showing `photo`, after `frames` frames.
async function cameraSees(photo, lang, frames = 12) {
  return cameraPage(server, photo, tmp, `&lang=${lang}`, frames, async (tab, problems) => {
    await tab.waitForFunction(() => document.querySelector('[data-testid=announce]').textContent !== '', null, { timeout: 10000 });
    assert.deepEqual(problems.foreignRequests, [], 'nothing leaves the page origin');
    return tab.evaluate(() => ({
      label: document.querySelector('[data-testid=prediction]').dataset.label,
      text: document.querySelector('#label-text').textContent,
      announce: document.querySelector('[data-testid=announce]').textContent,
      labels: window.__catdog.labels,
      bars: [...document.querySelectorAll('[data-testid=class-bars] .class-row')].map((row) => row.firstElementChild.textContent),
      frames: window.__catdog.history.filter((h) => h.source === 'camera').map((h) => h.rawLabel),
    }));
  });
}

test('default model, camera on a face: "No cat or dog", one bar per class', async () => {
  const r = await cameraSees(face, 'en');
  assert.deepEqual(r.labels, ['cat', 'dog', 'neither']);
  assert.deepEqual(r.bars, ['Cat', 'Dog', 'Neither']);
  assert.equal(r.label, 'neither', `frames: ${r.frames.join(' ')}`);
  assert.equal(r.text, 'No cat or dog');
  assert.equal(r.announce, 'No cat or dog');
  // Every frame's own class (the core's index) is the native answer for the photo.
  assert.ok(r.frames.length >= 12 && r.frames.every((l) => l === 'neither'), `frames: ${r.frames.join(' ')}`);
});

test('default model, Spanish, camera on a face: "Ni gato ni perro"', async () => {
  const r = await cameraSees(face, 'es');
  assert.equal(r.label, 'neither');
  assert.equal(r.text, 'Ni gato ni perro');
  assert.equal(r.announce, 'Ni gato ni perro');
});

test('default model, camera on a cat: "Cat"', async () => {
  const r = await cameraSees(cat, 'en');
  assert.equal(r.label, 'cat', `frames: ${r.frames.join(' ')}`);
  assert.equal(r.text, 'Cat');
  assert.ok(r.frames.every((l) => l === 'cat'), `frames: ${r.frames.join(' ')}`);
});
