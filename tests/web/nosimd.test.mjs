// Browsers without WebAssembly SIMD: the site's catdog_wasm_scalar build (the core
// compiled without -msimd128, kernel table "scalar") is what such a browser runs, and only it.
//   - node: with V8's SSE4.1 support off (--no-enable-sse4-1), V8 reports wasm SIMD unsupported:
//     the SIMD builds then fail WebAssembly.validate and the scalar build passes (it holds no SIMD
//     instruction); the scalar core gives every shipped model the SIMD core's outputs.
//   - Chromium started with --js-flags=--no-enable-sse4-1: the page checks that SIMD really is
//     unavailable, loads the scalar build (and not the SIMD one), classifies uploaded real photos
//     with the labels and P(dog) of the same page in a normal Chromium, and the diagnostics panel
//     says "scalar" and why. The normal Chromium never downloads the scalar build.
//
// Needs: build/wasm/site (with catdog_wasm_scalar), ../shared/data (or CATDOG_DATA), chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import {
  requireSite, requireData, siteDir, startServer, launch, watchPage, pickPhotos, seededFloats, loadWasmModel,
} from './helpers.mjs';

const run = promisify(execFile);
const NO_SIMD_FLAG = '--no-enable-sse4-1';
const P_TOL = 1e-4;  // scalar vs simd128 kernels: the same float ops in another order

// A module whose one function returns a v128 constant, written out here (not taken from the page).
const PROBE = [0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12,
  ...new Array(16).fill(0), 11];

let server;
let photos;  // real photos, cats then dogs

before(async () => {
  requireSite();
  requireData();
  for (const f of ['catdog_wasm_scalar.js', 'catdog_wasm_scalar.wasm']) {
    await fs.access(path.join(siteDir, f)).catch(() => {
      throw new Error(`missing ${path.join(siteDir, f)}: the site was built without CATDOG_WASM_SCALAR`);
    });
  }
  photos = [...await pickPhotos('Cat', 3, 141), ...await pickPhotos('Dog', 3, 142)];
  server = await startServer(siteDir);
});

after(async () => {
  await server?.close();
});

test('node without wasm SIMD: the SIMD builds do not validate, the scalar build does', async () => {
  const files = ['catdog_wasm.wasm', 'catdog_wasm_scalar.wasm', 'catdog_wasm_mt.wasm'];  // mt: when built
  const script = `const fs = require('fs');
    const out = { probe: WebAssembly.validate(new Uint8Array(${JSON.stringify(PROBE)})) };
    for (const f of ${JSON.stringify(files)}) {
      const p = require('path').join(${JSON.stringify(siteDir)}, f);
      out[f] = fs.existsSync(p) ? WebAssembly.validate(fs.readFileSync(p)) : 'missing';
    }
    console.log(JSON.stringify(out));`;
  const plain = JSON.parse((await run(process.execPath, ['-e', script])).stdout);
  const noSimd = JSON.parse((await run(process.execPath, [NO_SIMD_FLAG, '-e', script])).stdout);
  assert.equal(plain.probe, true, 'this node has wasm SIMD');
  assert.equal(noSimd.probe, false, `node ${NO_SIMD_FLAG} still validates a SIMD module`);
  assert.equal(plain['catdog_wasm.wasm'], true);
  assert.equal(plain['catdog_wasm_scalar.wasm'], true);
  assert.equal(noSimd['catdog_wasm.wasm'], false, 'catdog_wasm.wasm validates without SIMD: it has no SIMD?');
  assert.equal(noSimd['catdog_wasm_scalar.wasm'], true, 'catdog_wasm_scalar.wasm needs wasm SIMD');
  if (noSimd['catdog_wasm_mt.wasm'] !== 'missing') assert.equal(noSimd['catdog_wasm_mt.wasm'], false);
});

test('node: the scalar core gives every shipped model the outputs of the SIMD core, with its own kernels', async () => {
  globalThis.require ??= createRequire(path.join(siteDir, 'catdog_wasm.js'));
  globalThis.__dirname ??= siteDir;
  const { loadCore } = await import(path.join(siteDir, 'catdog-core.js'));
  const simdCore = await loadCore({ wasmBinary: await fs.readFile(path.join(siteDir, 'catdog_wasm.wasm')) });
  const scalarCore = await loadCore({ simd: false, wasmBinary: await fs.readFile(path.join(siteDir, 'catdog_wasm_scalar.wasm')) });
  assert.deepEqual(simdCore.buildFlags().simd, true);
  const sb = scalarCore.buildFlags();
  assert.equal(sb.simd, false);
  assert.equal(sb.core, 'catdog_wasm_scalar');
  assert.equal(sb.kernels, 'scalar');
  const index = JSON.parse(await fs.readFile(path.join(siteDir, 'models/index.json'), 'utf8'));
  assert.ok(index.models.length >= 1);
  for (const entry of index.models) {
    const file = path.join(siteDir, 'models', entry.path);
    const a = await loadWasmModel(simdCore, file);
    const b = await loadWasmModel(scalarCore, file);
    try {
      // The core's self-check (golden images + weight hashes) passes on the scalar kernels too.
      assert.ok(b.selfCheck.present && b.selfCheck.verified, `${entry.id} (scalar): ${b.selfCheck.summary}`);
      assert.equal(b.metadata.backend, 'simd', `${entry.id}: the scalar build runs the kernel tables, not the reference`);
      const kernelsOf = (m) => m.metadata.layers.join('\n');
      assert.match(kernelsOf(a), /__wasm_/, `${entry.id}: SIMD core layers ${kernelsOf(a)}`);
      assert.match(kernelsOf(b), /__scalar_/, `${entry.id}: scalar core layers ${kernelsOf(b)}`);
      assert.doesNotMatch(kernelsOf(b), /__wasm_/);
      const batch = 3;
      const x = seededFloats(batch * a.inputSize, 14);
      const ya = a.predictTensor(x, [batch, ...a.inputShape]);
      const yb = b.predictTensor(x, [batch, ...b.inputShape]);
      assert.equal(yb.length, ya.length);
      let worst = 0;
      for (let i = 0; i < ya.length; i++) worst = Math.max(worst, Math.abs(ya[i] - yb[i]));
      assert.ok(worst <= P_TOL, `${entry.id}: scalar vs SIMD outputs differ by ${worst}`);
      console.log(`# ${entry.id}: scalar vs simd128 core, max |diff| ${worst.toExponential(2)} over outputs ${Array.from(ya, (v) => v.toFixed(5))}`);
    } finally {
      a.dispose();
      b.dispose();
    }
  }
});

// Opens the page (no camera: the upload path), uploads each photo, returns what the page said.
async function classifyUploads(extraArgs) {
  const browser = await launch({ fakeDevice: false, extraArgs });
  try {
    const page = await browser.context.newPage();
    const problems = watchPage(page, server.origin);
    await page.goto(`${server.url}?lang=en`);
    const simd = await page.evaluate((bytes) => WebAssembly.validate(new Uint8Array(bytes)), PROBE);
    await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 120000 });
    const results = [];
    for (const photo of photos) {
      const n0 = await page.evaluate(() => window.__catdog.history.filter((h) => h.source === 'photo').length);
      await page.setInputFiles('[data-testid=upload]', photo);
      await page.waitForFunction((n) => window.__catdog.history.filter((h) => h.source === 'photo').length > n, n0,
        { timeout: 60000 });
      results.push(await page.evaluate(() => {
        const h = window.__catdog.history.filter((e) => e.source === 'photo').at(-1);
        const p = document.querySelector('[data-testid=prediction]');
        return { pDog: h.pDog, rawLabel: h.rawLabel, shown: p.dataset.label };
      }));
    }
    await page.click('[data-testid=diagnostics] summary');
    await page.waitForSelector('[data-testid=diag-isa]', { timeout: 20000 });
    const diag = await page.evaluate(() => Object.fromEntries(['diag-isa', 'diag-simd', 'diag-backend'].map((id) => {
      const e = document.querySelector(`[data-testid=${id}]`);
      return [id, { value: e.dataset.value, reason: e.dataset.reason ?? '', text: e.textContent }];
    })));
    const core = await page.evaluate(() => window.__catdog.core);
    return { simd, results, diag, core, problems };
  } finally {
    await browser.close();
  }
}

const codeRequests = (problems) => new Set(problems.requests.filter((p) => /\.(m?js|wasm)$/.test(p)));

test(`Chromium ${NO_SIMD_FLAG}: the page runs the scalar core, labels as with SIMD, and diagnostics says why`, async () => {
  const withSimd = await classifyUploads([]);
  const noSimd = await classifyUploads([`--js-flags=${NO_SIMD_FLAG}`]);

  assert.equal(withSimd.simd, true, 'the normal Chromium has wasm SIMD');
  assert.equal(noSimd.simd, false, `Chromium --js-flags=${NO_SIMD_FLAG} still validates a wasm SIMD module`);
  for (const r of [withSimd, noSimd]) {
    assert.deepEqual(r.problems.pageErrors, [], 'no uncaught page errors');
    assert.deepEqual(r.problems.consoleErrors, [], 'no console errors');
    assert.deepEqual(r.problems.httpErrors, [], 'no HTTP errors');
    assert.deepEqual(r.problems.foreignRequests, [], 'no request leaves the page origin');
  }

  // Which build each browser downloaded: the fallback only where it is needed.
  const simdCode = codeRequests(withSimd.problems);
  const scalarCode = codeRequests(noSimd.problems);
  assert.ok(![...simdCode].some((p) => p.includes('catdog_wasm_scalar')), `the SIMD browser loaded the scalar build (${[...simdCode]})`);
  assert.ok(scalarCode.has('/catdog_wasm_scalar.wasm') && scalarCode.has('/catdog_wasm_scalar.js'), `loaded ${[...scalarCode]}`);
  assert.ok(!scalarCode.has('/catdog_wasm.wasm') && !scalarCode.has('/catdog_wasm_mt.wasm'), `loaded ${[...scalarCode]}`);
  assert.equal(noSimd.core, 'catdog_wasm_scalar');
  assert.notEqual(withSimd.core, 'catdog_wasm_scalar');
  // Page weight of the scalar variant: its JS + WASM <= 150 KB gzip.
  let gz = 0;
  for (const p of scalarCode) gz += gzipSync(await fs.readFile(path.join(siteDir, decodeURIComponent(p))), { level: 9 }).length;
  console.log(`# page weight (catdog_wasm_scalar): ${scalarCode.size} JS/WASM files, ${(gz / 1024).toFixed(1)} KB gzip`);
  assert.ok(gz <= 150 * 1024, `JS + WASM of the page without SIMD is ${(gz / 1024).toFixed(1)} KB gzip (> 150 KB)`);

  // The same photos, the same labels and P(dog).
  const labels = new Set();
  photos.forEach((photo, i) => {
    const a = withSimd.results[i], b = noSimd.results[i];
    const what = path.basename(photo);
    assert.ok(Number.isFinite(a.pDog) && Number.isFinite(b.pDog), `${what}: P(dog) ${a.pDog} / ${b.pDog}`);
    assert.ok(Math.abs(a.pDog - b.pDog) <= P_TOL, `${what}: P(dog) with SIMD ${a.pDog}, without ${b.pDog}`);
    assert.equal(b.rawLabel, a.rawLabel, `${what}: label`);
    assert.equal(b.shown, a.shown, `${what}: label shown`);
    labels.add(a.rawLabel);
  });
  assert.equal(labels.size, 2, `3 cats and 3 dogs got one label only (${[...labels]}): a label check that cannot fail`);
  console.log(`# uploads, P(dog) with / without SIMD: ${photos.map((p, i) =>
    `${path.basename(p)} ${withSimd.results[i].pDog.toFixed(4)}/${noSimd.results[i].pDog.toFixed(4)}`).join(', ')}`);

  // Diagnostics: which kernels and why.
  assert.equal(noSimd.diag['diag-isa'].value, 'scalar');
  assert.match(noSimd.diag['diag-isa'].reason, /this browser has no WebAssembly SIMD/);
  assert.equal(noSimd.diag['diag-simd'].value, 'no');
  assert.match(noSimd.diag['diag-simd'].reason, /this browser has no WebAssembly SIMD/);
  assert.match(noSimd.diag['diag-backend'].value, /catdog_wasm_scalar/);
  assert.equal(withSimd.diag['diag-isa'].value, 'wasm simd128');
  assert.match(withSimd.diag['diag-isa'].reason, /this browser has WebAssembly SIMD/);
  assert.equal(withSimd.diag['diag-simd'].value, 'yes');
});
