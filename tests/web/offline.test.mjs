// The installable, offline page: a web app manifest, and a service worker (web/sw.js)
// that keeps the page, the wasm core and the default model in a versioned cache. After one visit
// the page opens and classifies with the network off, still cross-origin isolated; a new deploy
// (a new version) replaces the cache whole.
//
// Needs: the site (CATDOG_SITE), ../shared/data (CATDOG_DATA), chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { requireSite, requireData, siteDir, defaultModel, startServer, launch, watchPage, pickPhotos, tmpDir } from './helpers.mjs';

let work, site, server, model, dogPhoto;

before(async () => {
  requireSite();
  requireData();
  work = tmpDir('catdog-offline-');
  // A copy of the site, so the version test can change its sw.js.
  site = path.join(work, 'site');
  await fs.cp(siteDir, site, { recursive: true });
  model = await defaultModel(site);
  [dogPhoto] = await pickPhotos('Dog', 1, 51);
  server = await startServer(site);
});
after(async () => {
  await server?.close();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

// Waits until the service worker controls the page and its cache holds what it must.
async function waitForOffline(page) {
  await page.waitForFunction(() => navigator.serviceWorker?.controller, null, { timeout: 60000 });
  return page.evaluate(async () => {
    const keys = (await caches.keys()).filter((k) => k.startsWith('catdog-'));
    const urls = keys.length === 1 ? (await (await caches.open(keys[0])).keys()).map((r) => new URL(r.url).pathname) : [];
    return { keys, urls };
  });
}

test('manifest: installable (name, start_url, standalone, icons that load)', async () => {
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    await page.goto(`${server.url}?lang=en&camera=off`);
    const href = await page.getAttribute('link[rel=manifest]', 'href');
    assert.ok(href, 'the page links a manifest');
    const res = await page.request.get(new URL(href, server.url).href);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type'], /manifest\+json/);
    const mf = await res.json();
    assert.ok(mf.name && mf.short_name, 'names');
    assert.equal(mf.display, 'standalone');
    assert.ok(mf.start_url);
    const sizes = mf.icons.map((i) => i.sizes);
    assert.ok(sizes.includes('192x192') && sizes.includes('512x512'), `icons ${sizes}`);
    for (const icon of mf.icons) {
      const r = await page.request.get(new URL(icon.src, new URL(href, server.url)).href);
      assert.equal(r.status(), 200, icon.src);
      if (icon.type === 'image/png') {
        const b = await r.body();
        const [w, h] = [b.readUInt32BE(16), b.readUInt32BE(20)];
        assert.equal(`${w}x${h}`, icon.sizes, `${icon.src} is ${w}x${h}`);
      }
    }
  } finally {
    await browser.close();
  }
});

test('offline: after one visit the page opens, stays isolated and classifies the camera and a photo with the network off', async () => {
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    const problems = watchPage(page, server.origin);
    await page.goto(`${server.url}?lang=en`);
    await page.waitForFunction(() => window.__catdog?.ready && window.__catdog.frames >= 2, null, { timeout: 60000 });
    const c = await waitForOffline(page);
    assert.equal(c.keys.length, 1, `one catdog cache: ${c.keys}`);
    const shard = model.modelJson.weightsManifest[0].paths[0];
    for (const p of ['/', '/app.js', '/catdog_wasm.wasm', '/catdog-worker.js', `/models/${model.entry.path}`,
      `/models/${path.dirname(model.entry.path)}/${shard}`]) {
      assert.ok(c.urls.includes(p), `precached ${p} (cache has ${c.urls.length} entries)`);
    }
    const other = (await JSON.parse(await fs.readFile(path.join(site, 'models/index.json'), 'utf8'))).models.find((m) => m.id !== model.id);
    assert.ok(!c.urls.includes(`/models/${other.path}`), 'other models are not precached (first use only)');

    // The report, once visited, is kept too (report.json on first use, like the other models).
    await page.goto(`${server.url}report.html`);
    await page.waitForSelector('body[data-state=ready]', { timeout: 30000 });
    await page.goto(`${server.url}?lang=en`);
    await browser.context.setOffline(true);
    await page.reload();
    await page.waitForFunction(() => window.__catdog?.ready && window.__catdog.frames >= 3, null, { timeout: 60000 });
    const m = await page.evaluate(() => ({ online: navigator.onLine, coi: crossOriginIsolated, label: document.querySelector('[data-testid=prediction]').dataset.label,
      messages: [...document.querySelectorAll('[data-testid=message]')].map((e) => e.textContent) }));
    assert.equal(m.online, false, 'the browser is offline');
    assert.equal(m.coi, true, 'still cross-origin isolated when served from the cache');
    assert.deepEqual(m.messages, []);
    await page.setInputFiles('[data-testid=upload]', dogPhoto);
    await page.waitForFunction(() => window.__catdog.history.some((h) => h.source === 'photo'), null, { timeout: 30000 });
    const p = Number(await page.getAttribute('[data-testid=prediction]', 'data-p-dog'));
    assert.ok(p >= 0 && p <= 1, `offline photo P(dog) ${p}`);
    // Offline, report.html is the report (its own cached page, not the live page).
    await page.goto(`${server.url}report.html`);
    await page.waitForSelector('body[data-state=ready]', { timeout: 30000 });
    assert.ok(await page.isVisible('#comparison'), 'report.html offline');
    assert.deepEqual(problems.pageErrors, []);
  } finally {
    await browser.close();
  }
});

test('a new deploy: a new version replaces the cache whole and the page reloads onto it', async () => {
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    await page.goto(`${server.url}?lang=en&camera=off`);
    await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
    const first = await waitForOffline(page);
    assert.equal(first.keys.length, 1);
    // Deploy: the same site with another version in sw.js (as a rebuild with any changed file gives).
    const swFile = path.join(site, 'sw.js');
    const sw = await fs.readFile(swFile, 'utf8');
    const version = /const VERSION = '([^']+)'/.exec(sw)?.[1];
    assert.ok(version && version !== 'dev', 'the built sw.js carries a version from the build');
    assert.equal(first.keys[0], `catdog-${version}`);
    await fs.writeFile(swFile, sw.replace(`const VERSION = '${version}'`, "const VERSION = 'next-deploy'"));
    try {
      const reloaded = page.waitForEvent('load', { timeout: 60000 });  // the page reloads itself onto the new version
      await page.reload();
      await reloaded;
      await page.waitForFunction(async () => {
        const keys = (await caches.keys()).filter((k) => k.startsWith('catdog-'));
        return keys.length === 1 && keys[0] === 'catdog-next-deploy';
      }, null, { timeout: 60000, polling: 250 });
      await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
    } finally {
      await fs.writeFile(swFile, sw);
    }
  } finally {
    await browser.close();
  }
});

test('the built sw.js carries a content-hash version and lists the site files', async () => {
  const sw = await fs.readFile(path.join(siteDir, 'sw.js'), 'utf8');
  assert.match(sw, /const VERSION = '[0-9a-f]{16}'/, 'a content hash, not "dev"');
  const files = /const FILES = \[([^\]]*)\]/.exec(sw)[1];
  for (const f of ['index.html', 'app.js', 'i18n.js', 'i18n/page.js', 'catdog_wasm.wasm', 'catdog_wasm.js', 'manifest.webmanifest']) {
    assert.ok(files.includes(`'${f}'`), `sw.js precaches ${f}`);
  }
  assert.ok(!files.includes("'models/"), 'models are not in the static list (the default is added at install)');
});
