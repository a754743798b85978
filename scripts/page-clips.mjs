#!/usr/bin/env node
// What the live page shows on webcam-like clips (the page goals of BENCHMARKS.md, "the default with a third class"): Chromium's fake camera plays a
// clip made of photos, each held for one second (10 frames at 10 fps, 640x480), and every frame the
// page classifies is counted by the label it shows (window.__catdog.history: after the page's
// smoothing, "unsure" included). Three clips:
//   other  non-animal photos of the measuring sources (data/other/manifest.tsv role "measure",
//          rebuilt by scripts/other-photos), the same number from each kind: the page must show
//          "No cat or dog" (label "neither"); a two-class model's ood block may show "none"
//   cat    cat photos, and dog: dog photos, each clip must show its own label
// Pet photos come from --pets DIR/{cat,dog} (say the test split written by `catdog unpack` and
// turned into PNGs) or, when not given, from $CATDOG_DATA/PetImages.
//   node scripts/page-clips.mjs [--model ID] [--site DIR] [--photos DIR] [--pets DIR] [--per-kind N]
//        [--pets-n N] [--seed S] [--json FILE]
//     --site DIR    the built page (default build/wasm/site); --model ID one of its models/index.json
//                   (default: its default model)
//     --photos DIR  where scripts/other-photos wrote the measuring photos (default build/other-photos)
//     --per-kind N  non-animal photos per kind (default 15); --pets-n N photos per pet clip (default 30)
// Prints, per clip, the frames counted and the share of each label shown. Exit 2 on bad arguments
// or missing photos (named), 1 when the page fails.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
function fail(code, message) {
  console.error(`page-clips: ${message}`);
  process.exit(code);
}

let args;
try {
  args = parseArgs({
    options: {
      model: { type: 'string' }, site: { type: 'string' }, photos: { type: 'string' }, pets: { type: 'string' },
      'per-kind': { type: 'string', default: '15' }, 'pets-n': { type: 'string', default: '30' },
      seed: { type: 'string', default: '1' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
} catch (e) {
  fail(2, `${e.message} (see --help)`);
}
if (args.values.help) {
  console.log((await fs.readFile(fileURLToPath(import.meta.url), 'utf8')).split('\n').slice(1, 19).map((l) => l.slice(3)).join('\n'));
  process.exit(0);
}
const int = (name, lo, hi) => {
  const v = Number(args.values[name]);
  if (!Number.isInteger(v) || v < lo || v > hi) fail(2, `--${name} '${args.values[name]}': must be an integer ${lo}..${hi}`);
  return v;
};
const perKind = int('per-kind', 1, 200), petsN = int('pets-n', 1, 500), seed = int('seed', 0, 2 ** 31);
if (args.values.site) process.env.CATDOG_SITE = path.resolve(args.values.site);
const h = await import(path.join(root, 'tests/web/helpers.mjs'));
h.requireSite();
const index = JSON.parse(await fs.readFile(path.join(h.siteDir, 'models/index.json'), 'utf8'));
const modelId = args.values.model ?? index.default;
if (!index.models.some((m) => m.id === modelId)) fail(2, `--model '${modelId}': not in ${path.join(h.siteDir, 'models/index.json')}`);

// A seeded shuffle (the same photos every run).
function pick(list, n, s) {
  const a = [...list];
  let x = (s * 2654435761 + 1) >>> 0;
  for (let i = a.length - 1; i > 0; i--) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const j = Math.floor((x / 2 ** 32) * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, n);
}

const photosDir = path.resolve(args.values.photos ?? path.join(root, 'build/other-photos'));
const rows = (await fs.readFile(path.join(root, 'data/other/manifest.tsv'), 'utf8')).split('\n')
  .filter((l) => l && !l.startsWith('#')).map((l) => l.split('\t'));
const head = rows.shift();
const [cRole, cKind, cFolder, cName] = ['role', 'kind', 'folder', 'name'].map((c) => head.indexOf(c));
const kinds = new Map();
for (const r of rows.filter((r) => r[cRole] === 'measure')) {
  if (!kinds.has(r[cKind])) kinds.set(r[cKind], []);
  kinds.get(r[cKind]).push(path.join(photosDir, r[cFolder], r[cName]));
}
const other = [];
[...kinds.keys()].sort().forEach((k, i) => other.push(...pick(kinds.get(k), perKind, seed + i)));
const petFiles = async (cls) => {
  if (args.values.pets) {
    const d = path.join(path.resolve(args.values.pets), cls);
    const names = (await fs.readdir(d).catch(() => fail(2, `${d}: not a folder of ${cls} photos`))).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
    return pick(names.map((f) => path.join(d, f)), petsN, seed);
  }
  return h.pickPhotos(cls === 'cat' ? 'Cat' : 'Dog', petsN, seed);
};
const clips = { other, cat: await petFiles('cat'), dog: await petFiles('dog') };
for (const [name, files] of Object.entries(clips)) {
  for (const f of files) await fs.access(f).catch(() => fail(2, `${name} clip: ${f} is missing`));
}

const work = h.tmpDir('catdog-clips-');
const server = await h.startServer(h.siteDir);
const results = {};
try {
  for (const [name, files] of Object.entries(clips)) {
    const video = path.join(work, `${name}.y4m`);
    await h.makeY4m(files, video, { framesEach: 10 });
    const seconds = files.length;  // one second a photo
    const browser = await h.launch({ fakeVideo: video });
    try {
      const page = await browser.context.newPage();
      await page.goto(`${server.url}?sw=off&lang=en&model=${encodeURIComponent(modelId)}`);
      await page.waitForFunction(() => window.__catdog?.ready && window.__catdog.history.length > 0, null, { timeout: 120000 });
      // Every camera frame the page classified during one pass of the clip, by its time stamp.
      const counts = await page.evaluate(async (ms) => {
        const seen = new Map();
        const t0 = performance.now();
        while (performance.now() - t0 < ms) {
          for (const e of window.__catdog.history) if (e.source === 'camera' && e.t >= t0) seen.set(e.t, e.label);
          await new Promise((r) => setTimeout(r, 200));
        }
        const c = {};
        for (const l of seen.values()) c[l] = (c[l] ?? 0) + 1;
        return c;
      }, seconds * 1000);
      const n = Object.values(counts).reduce((a, b) => a + b, 0);
      if (n === 0) throw new Error(`${name}: the page classified no camera frame in ${seconds} s`);
      results[name] = { photos: files.length, frames: n, labels: counts };
      const share = Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([l, c]) => `${l} ${c} (${(100 * c / n).toFixed(1)}%)`).join(', ');
      console.log(`${modelId}: ${name} clip (${files.length} photos, ${seconds} s): ${n} frames: ${share}`);
    } finally {
      await browser.close();
    }
  }
} finally {
  server.proc.kill();
  await fs.rm(work, { recursive: true, force: true });
}
if (args.values.json) await fs.writeFile(args.values.json, JSON.stringify({ model: modelId, clips: results }, null, 1) + '\n');
