// The model self-check in the live page (headless Chromium): the shipped default model shows
// "model verified (n/n)" with the same n as `catdog predict`; a tampered copy of it (one weight
// byte flipped, or one golden's expected output changed) shows a visible warning naming the
// mismatch — the same one the native CLI names.
//
// Needs: build/wasm/site (or CATDOG_SITE), build/native/catdog (or CATDOG_CLI), chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { requireSite, requireCli, siteDir, defaultModel, startServer, launch, watchPage, runCli, tmpDir } from './helpers.mjs';

let work;
let model;

// `catdog predict --json --selfcheck warn` on one image: the native self-check report.
async function nativeCheck(dir) {
  const img = path.join(work, 'gray.bmp');
  const { stdout } = await runCli(['predict', '--json', '--selfcheck', 'warn', '--model', dir, img]);
  return JSON.parse(stdout).selfcheck;
}

before(async () => {
  requireSite();
  requireCli();
  work = tmpDir('catdog-selfcheck-');
  model = await defaultModel();
  // An 8x8 24-bit BMP (any image will do: predict needs one; the check does not look at it).
  const bmp = Buffer.alloc(54 + 8 * 8 * 3, 90);
  bmp.write('BM', 0);
  bmp.writeUInt32LE(bmp.length, 2); bmp.writeUInt32LE(0, 6); bmp.writeUInt32LE(54, 10); bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(8, 18); bmp.writeInt32LE(8, 22); bmp.writeUInt16LE(1, 26); bmp.writeUInt16LE(24, 28);
  bmp.writeUInt32LE(0, 30); bmp.writeUInt32LE(8 * 8 * 3, 34); bmp.fill(0, 38, 54);
  await fs.writeFile(path.join(work, 'gray.bmp'), bmp);
});

after(async () => { if (work) await fs.rm(work, { recursive: true, force: true }); });

async function openModel(browser, srv, id) {
  const page = await browser.context.newPage();
  const problems = watchPage(page, srv.origin);
  await page.goto(`${srv.url}?lang=en&camera=off${id ? `&model=${id}` : ''}`);
  await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
  const el = page.locator('[data-testid=selfcheck]');
  await el.waitFor({ state: 'visible', timeout: 10000 });
  return { page, problems, text: await el.textContent(), state: await el.getAttribute('data-state') };
}

test('the shipped default model shows "model verified (n/n)", n as in catdog predict', async () => {
  assert.ok(model.modelJson.userDefinedMetadata?.catdog?.selfcheck, `${model.file} has no selfcheck block (catdog seal)`);
  const native = await nativeCheck(model.dir);
  assert.equal(native.verified, true, native.summary);
  const srv = await startServer();
  const browser = await launch({ fakeUi: false });
  try {
    const { page, problems, text, state } = await openModel(browser, srv);
    assert.equal(state, 'verified', text);
    assert.equal(text, `model verified (${native.total}/${native.total})`);
    assert.equal(await page.locator('[data-testid=message][data-kind=model-check]').count(), 0);
    assert.deepEqual(problems.pageErrors, []);
  } finally {
    await browser.close();
    await srv.close();
  }
});

test('a tampered copy of the site model shows a warning naming the mismatch', async () => {
  const site = path.join(work, 'site');
  await fs.cp(siteDir, site, { recursive: true });
  const index = JSON.parse(await fs.readFile(path.join(site, 'models/index.json'), 'utf8'));
  const shard = model.modelJson.weightsManifest[0].paths[0];
  // 1. One weight byte changed: the lowest bits of one float, so outputs barely move and only the
  //    weight file's SHA-256 can tell.
  const bytes = path.join(site, 'models/tampered-weights');
  await fs.cp(model.dir, bytes, { recursive: true });
  const b = await fs.readFile(path.join(bytes, shard));
  b[Math.floor(b.length / 8) * 4] ^= 1;
  await fs.writeFile(path.join(bytes, shard), b);
  // 2. One golden's expected output changed in model.json.
  const golden = path.join(site, 'models/tampered-golden');
  await fs.cp(model.dir, golden, { recursive: true });
  const mj = structuredClone(model.modelJson);
  const g = mj.userDefinedMetadata.catdog.selfcheck.goldens[0];
  g.expected[0] = g.expected[0] > 0.5 ? g.expected[0] - 0.25 : g.expected[0] + 0.25;
  await fs.writeFile(path.join(golden, 'model.json'), JSON.stringify(mj));
  index.models.push({ id: 'tampered-weights', path: 'tampered-weights/model.json' },
    { id: 'tampered-golden', path: 'tampered-golden/model.json' });
  await fs.writeFile(path.join(site, 'models/index.json'), JSON.stringify(index));

  const srv = await startServer(site);
  const browser = await launch({ fakeUi: false });
  try {
    for (const [id, dir, re] of [['tampered-weights', bytes, new RegExp(`shard ${shard}: sha256 [0-9a-f]{64}, expected`)],
      ['tampered-golden', golden, new RegExp(`golden '${g.name.replace(/[()[\]{}.*+?^$|\\]/g, '\\$&')}': output\\[0\\] expected`)]]) {
      const native = await nativeCheck(dir);
      assert.equal(native.verified, false, `${id}: native ${native.summary}`);
      assert.match(native.first_mismatch, re, `${id}: native`);
      const { page, text, state } = await openModel(browser, srv, id);
      assert.equal(state, 'failed', `${id}: ${text}`);
      assert.match(text, /self-check failed \(\d+\/\d+\)/, `${id}: ${text}`);
      const msg = page.locator('[data-testid=message][data-kind=model-check]');
      await msg.waitFor({ state: 'visible', timeout: 10000 });
      const warning = await msg.textContent();
      assert.match(warning, re, `${id}: ${warning}`);
      // The page names the same first mismatch as the native CLI (same core, same check).
      assert.ok(warning.includes(native.first_mismatch.split(', got')[0]), `${id}: page "${warning}" vs native "${native.first_mismatch}"`);
      assert.ok(warning.includes(`(${native.passed}/${native.total})`), `${id}: ${warning} vs native ${native.passed}/${native.total}`);
      await page.close();
    }
  } finally {
    await browser.close();
    await srv.close();
  }
});
