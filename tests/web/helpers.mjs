// Shared helpers for the web tests (node --test tests/web/): locating the builds and the data,
// the static server, Chromium (playwright-core + Debian chromium), fake-camera videos made with
// ffmpeg from real photos, and the native CLI as the oracle.
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { promises as fs, existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const siteDir = path.resolve(process.env.CATDOG_SITE || path.join(repoRoot, 'build/wasm/site'));
export const nativeCli = path.resolve(process.env.CATDOG_CLI || path.join(repoRoot, 'build/native/catdog'));
export const dataDir = path.resolve(process.env.CATDOG_DATA || path.join(repoRoot, '../shared/data'));
export const chromiumPath = process.env.CATDOG_CHROMIUM || '/usr/bin/chromium';

// Fails (never skips) when something the tests need is missing, saying how to make it.
export function requireSite() {
  for (const f of ['index.html', 'catdog_wasm.js', 'catdog_wasm.wasm', 'models/index.json']) {
    if (!existsSync(path.join(siteDir, f))) {
      throw new Error(`missing ${path.join(siteDir, f)}: build the site first with ` +
        '`cmake --preset wasm && ninja -C build/wasm site` (or set CATDOG_SITE)');
    }
  }
  return siteDir;
}
export function requireCli() {
  if (!existsSync(nativeCli)) {
    throw new Error(`missing native CLI ${nativeCli}: build it with ` +
      '`cmake --preset native && ninja -C build/native catdog` (or set CATDOG_CLI)');
  }
  return nativeCli;
}
export function requireData() {
  const d = path.join(dataDir, 'PetImages');
  if (!existsSync(path.join(d, 'Cat')) || !existsSync(path.join(d, 'Dog'))) {
    throw new Error(`missing real photos at ${d}/{Cat,Dog}: put the shared data beside the repo ` +
      '(../shared/data) or set CATDOG_DATA');
  }
  return d;
}
export function requireTool(bin) {
  if (!existsSync(bin)) throw new Error(`missing ${bin} (Debian package; run scripts/deps)`);
  return bin;
}

export function tmpDir(prefix = 'catdog-web-') {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

// The default model of a site folder: { id, dir, modelJson }.
export async function defaultModel(site = siteDir) {
  const index = JSON.parse(await fs.readFile(path.join(site, 'models/index.json'), 'utf8'));
  const entry = index.models.find((m) => m.id === index.default) ?? index.models[0];
  const file = path.join(site, 'models', entry.path);
  return { id: entry.id, entry, file, dir: path.dirname(file), modelJson: JSON.parse(await fs.readFile(file, 'utf8')) };
}

// A model of a site folder by its id in models/index.json: { id, dir, modelJson }. The tests of
// what only a two-class model has (P(dog) against a threshold, the max-prob "neither" block) name
// the binary catnet-s2 this way since the default has a third class.
export async function modelById(id, site = siteDir) {
  const index = JSON.parse(await fs.readFile(path.join(site, 'models/index.json'), 'utf8'));
  const entry = index.models.find((m) => m.id === id);
  if (!entry) throw new Error(`${path.join(site, 'models/index.json')} lists no model '${id}'`);
  const file = path.join(site, 'models', entry.path);
  return { id: entry.id, entry, file, dir: path.dirname(file), modelJson: JSON.parse(await fs.readFile(file, 'utf8')) };
}

// ---- server ------------------------------------------------------------------------------------
export async function startServer(root = siteDir, { plain = false, extraArgs = [] } = {}) {
  const proc = spawn(process.execPath, [path.join(repoRoot, 'web/serve.mjs'), '--root', root, '--port', '0',
    ...(plain ? ['--plain'] : []), ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /at (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve(m[1]);
    });
    proc.on('exit', (code) => reject(new Error(`serve.mjs exited (${code}): ${err}`)));
  });
  return {
    url,
    origin: new URL(url).origin,
    proc,
    close: () => new Promise((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', resolve);
      proc.kill('SIGTERM');
    }),
  };
}

// ---- browser -----------------------------------------------------------------------------------
export const BASE_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// A fresh Chromium profile. fakeVideo: a .y4m fed to the fake camera; fakeUi: auto-accept the
// camera prompt (false: the prompt is denied); fakeDevice false: no camera at all. contextOptions:
// Playwright context options (PHONE below: 390x844, touch, mobile; colorScheme).
export async function launch({ fakeVideo, fakeUi = true, fakeDevice = true, extraArgs = [], contextOptions = {} } = {}) {
  requireTool(chromiumPath);
  const { chromium } = await import('playwright-core');
  const args = [...BASE_ARGS, ...(fakeDevice ? ['--use-fake-device-for-media-stream'] : []), ...extraArgs];
  if (fakeUi) args.push('--use-fake-ui-for-media-stream');
  if (fakeVideo) args.push(`--use-file-for-fake-video-capture=${fakeVideo}`);
  const profile = tmpDir('catdog-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath, headless: true, args, viewport: { width: 1280, height: 800 }, ...contextOptions,
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      await fs.rm(profile, { recursive: true, force: true });
    },
  };
}

// A phone-class screen: 390x844 CSS pixels, touch, mobile viewport (the phone budget of bench/browser/phone.mjs).
export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

// Watches a page: console errors, page errors, requests that leave `origin`.
export function watchPage(page, origin) {
  const problems = { consoleErrors: [], pageErrors: [], foreignRequests: [], failedRequests: [], httpErrors: [], requests: [] };
  page.on('console', (m) => { if (m.type() === 'error') problems.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => problems.pageErrors.push(e.message));
  page.on('request', (r) => {
    const u = r.url();
    if (u.startsWith('data:') || u.startsWith('blob:')) return;
    if (new URL(u).origin !== origin) problems.foreignRequests.push(u);
    else problems.requests.push(new URL(u).pathname);
  });
  page.on('requestfailed', (r) => problems.failedRequests.push(`${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.httpErrors.push(`${r.status()} ${r.url()}`); });
  return problems;
}

// The page (`server`, a startServer result) in front of a fake camera that shows one `photo` (a
// .y4m made in `dir`), opened with `query` (after "?sw=off"); once `frames` frames are classified,
// `look(tab, problems)` reads what it needs. No uncaught page errors or console errors allowed.
export async function cameraPage(server, photo, dir, query, frames, look) {
  const video = path.join(dir, `${path.basename(photo)}.y4m`);
  await makeY4m([photo], video, { framesEach: 30 });
  const browser = await launch({ fakeVideo: video });
  try {
    const tab = await browser.context.newPage();
    const problems = watchPage(tab, server.origin);
    await tab.goto(`${server.url}?sw=off${query}`);
    await tab.waitForFunction((n) => window.__catdog?.ready && window.__catdog.frames >= n, frames, { timeout: 90000 });
    const r = await look(tab, problems);
    if (problems.pageErrors.length || problems.consoleErrors.length) {
      throw new Error(`the page logged errors: ${[...problems.pageErrors, ...problems.consoleErrors].join(' | ')}`);
    }
    return r;
  } finally {
    await browser.close();
  }
}

// ---- photos and videos --------------------------------------------------------------------------
// `n` photos of a class, in a fixed pseudo-random order (seeded), skipping files that ffmpeg
// cannot decode.
export async function pickPhotos(cls, n, seed = 1) {
  const dir = path.join(requireData(), cls);
  const names = (await fs.readdir(dir)).filter((f) => /\.jpe?g$/i.test(f)).sort();
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const out = [];
  const used = new Set();
  while (out.length < n && used.size < names.length) {
    const i = Math.floor(rand() * names.length);
    if (used.has(i)) continue;
    used.add(i);
    const f = path.join(dir, names[i]);
    const st = await fs.stat(f);
    if (st.size > 1000) out.push(f);
  }
  return out;
}

// A .y4m (yuv420p) video: each photo stretched to width x height and held for `framesEach`
// frames at `fps`. Returns the frame index where each photo starts.
export async function makeY4m(photos, out, { width = 640, height = 480, fps = 10, framesEach = 20 } = {}) {
  requireTool('/usr/bin/ffmpeg');
  const inputs = [];
  const filters = [];
  photos.forEach((p, i) => {
    inputs.push('-loop', '1', '-framerate', String(fps), '-t', String(framesEach / fps), '-i', p);
    filters.push(`[${i}:v]scale=${width}:${height}:flags=bicubic,setsar=1,format=yuv420p,trim=end_frame=${framesEach}[v${i}]`);
  });
  const concat = `${photos.map((_, i) => `[v${i}]`).join('')}concat=n=${photos.length}:v=1:a=0[out]`;
  await run('/usr/bin/ffmpeg', ['-v', 'error', '-y', ...inputs, '-filter_complex', `${filters.join(';')};${concat}`,
    '-map', '[out]', '-r', String(fps), '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', out], { maxBuffer: 1 << 20 });
  return photos.map((_, i) => i * framesEach);
}

// Decodes frame `index` of a video to a PNG (what the camera shows, converted back to RGB).
// accurate_rnd + full_chroma_int + bitexact make ffmpeg's YUV->RGB match Chromium's fake camera
// to ~0.06 gray levels on the model input (the default flags differ by ~1.2).
export async function extractFrame(video, index, outPng) {
  await run('/usr/bin/ffmpeg', ['-v', 'error', '-y', '-i', video, '-vf',
    `select=eq(n\\,${index}),scale=flags=accurate_rnd+full_chroma_int+bitexact`, '-vsync', '0',
    '-frames:v', '1', '-pix_fmt', 'rgb24', outPng]);
  return outPng;
}

// Decodes any image to raw RGBA bytes with ffmpeg: { width, height, data }.
export async function decodeRgba(file) {
  const probe = await run('/usr/bin/ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries',
    'stream=width,height', '-of', 'json', file]);
  const { width, height } = JSON.parse(probe.stdout).streams[0];
  const { stdout } = await run('/usr/bin/ffmpeg', ['-v', 'error', '-i', file, '-frames:v', '1', '-f', 'rawvideo',
    '-pix_fmt', 'rgba', '-'], { encoding: 'buffer', maxBuffer: 64 << 20 });
  if (stdout.length !== width * height * 4) throw new Error(`${file}: decoded ${stdout.length} bytes for ${width}x${height}`);
  return { width, height, data: new Uint8Array(stdout.buffer, stdout.byteOffset, stdout.length) };
}

// ---- native oracle -------------------------------------------------------------------------------
export async function runCli(args) {
  try {
    return await run(requireCli(), args, { maxBuffer: 64 << 20 });
  } catch (e) {
    throw new Error(`${nativeCli} ${args.join(' ')} failed (${e.code}): ${e.stderr || e.message}`);
  }
}

// P(dog) per image from `catdog predict --json` (model dir = the folder of model.json); flip:
// mirror averaging (`predict --flip`, what the page's option computes).
export async function nativePredict(modelDir, images, { flip = false } = {}) {
  return (await nativeResults(modelDir, images, { flip })).map((r) => r.pDog);
}

// The whole result per image: { pDog, label, probs, ... } as `catdog predict --json` gives it.
export async function nativeResults(modelDir, images, { flip = false } = {}) {
  const { stdout } = await runCli(['predict', '--model', modelDir, '--json', ...(flip ? ['--flip'] : []), ...images]);
  return parsePredictJson(stdout, images, { whole: true });
}

// Accepts one JSON document (array, or object with "results"/"predictions") or JSON lines;
// each result names its image ("image"|"path"|"file") and has "p_dog" (or "pDog"/"prob"), or a
// K-class model's "probs" with a class named dog.
export function parsePredictJson(text, images, { whole = false } = {}) {
  let items;
  const trimmed = text.trim();
  try {
    const doc = JSON.parse(trimmed);
    items = Array.isArray(doc) ? doc : doc.results ?? doc.predictions ?? doc.images ?? [doc];
  } catch {
    items = trimmed.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l));
  }
  const byName = new Map();
  for (const it of items) {
    const name = it.image ?? it.path ?? it.file ?? it.input;
    // A K-class model's result has no p_dog: its class named dog (any case) gives P(dog).
    const dogKey = it.probs && typeof it.probs === 'object' ? Object.keys(it.probs).find((k) => k.toLowerCase() === 'dog') : undefined;
    const p = it.p_dog ?? it.pDog ?? it.prob_dog ?? it.probability ?? it.p ?? (dogKey === undefined ? undefined : it.probs[dogKey]);
    if (typeof name === 'string' && typeof p === 'number') byName.set(path.resolve(name), { ...it, pDog: p });
  }
  return images.map((img) => {
    const r = byName.get(path.resolve(img));
    if (!r) throw new Error(`catdog predict --json gave no P(dog) for ${img}; output was: ${text.slice(0, 500)}`);
    return whole ? r : r.pDog;
  });
}

// Output floats from `catdog infer` for a float32 tensor.
export async function nativeInfer(modelDir, data, shape) {
  const dir = tmpDir('catdog-infer-');
  const f = path.join(dir, 'input.f32');
  try {
    await fs.writeFile(f, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    const { stdout } = await runCli(['infer', '--model', modelDir, '--input', f, '--shape', shape.join(',')]);
    const doc = JSON.parse(stdout);
    return { shape: doc.shape, output: Float32Array.from(doc.output) };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

// Loads the site's wasm core in node (no browser): the same catdog-core.js the page uses.
export async function loadWasmCore(site = siteDir) {
  requireSite();
  const { createRequire } = await import('node:module');
  // Emscripten 3.1.6's node path in an ES module still reaches for require/__dirname.
  globalThis.require ??= createRequire(path.join(site, 'catdog_wasm.js'));
  globalThis.__dirname ??= site;
  const { loadCore } = await import(path.join(site, 'catdog-core.js'));
  return loadCore({ wasmBinary: await fs.readFile(path.join(site, 'catdog_wasm.wasm')) });
}

export async function loadWasmModel(core, modelFile) {
  const dir = path.dirname(modelFile);
  return core.createModel(await fs.readFile(modelFile, 'utf8'), (p) => fs.readFile(path.join(dir, p)),
    { name: path.basename(modelFile) });
}

// Seeded floats in [0,1).
export function seededFloats(n, seed = 42) {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 8) / 2 ** 24;
  return a;
}
