// Accessibility: axe-core (npm, loaded into the page from node_modules, no network)
// on the live page (camera, camera denied, no camera, compare open, diagnostics open; light and
// dark) and on report.html (light and dark): no serious or critical violation.
//
// Needs: the site (CATDOG_SITE), node_modules/axe-core, chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import { requireSite, startServer, launch } from './helpers.mjs';

let server, axeSource;

before(async () => {
  requireSite();
  axeSource = await fs.readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  server = await startServer();
});
after(async () => { await server?.close(); });

// Runs axe on the page as it is now; returns the serious and critical violations, readable.
async function axe(page) {
  // Through the DevTools protocol, which the page's CSP (script-src 'self') does not govern.
  if (!await page.evaluate(() => typeof window.axe === 'object')) await page.evaluate(axeSource);
  const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')} (${n.failureSummary?.split('\n')[1]?.trim() ?? ''})`).join('; ')}${v.nodes.length > 4 ? ` … ${v.nodes.length} nodes` : ''}`);
}

for (const scheme of ['light', 'dark']) {
  test(`axe, ${scheme}: the live page with the camera, then compare open, then diagnostics open`, async () => {
    const browser = await launch({ contextOptions: { colorScheme: scheme } });
    try {
      const page = await browser.context.newPage();
      await page.goto(`${server.url}?lang=en&sw=off`);
      await page.waitForFunction(() => window.__catdog?.ready && window.__catdog.frames >= 3, null, { timeout: 60000 });
      await page.waitForSelector('[data-testid=selfcheck]:not([hidden])');
      assert.deepEqual(await axe(page), [], 'camera');
      await page.click('[data-testid=compare-toggle]');
      await page.waitForFunction(() => window.__catdog.compare?.rows.every((r) => r.label), null, { timeout: 90000 });
      assert.deepEqual(await axe(page), [], 'compare open');
      await page.click('[data-testid=compare-toggle]');
      await page.click('#tech summary');
      await page.click('#diagnostics summary');
      await page.waitForFunction(() => document.querySelector('[data-testid=run-card] [data-key=metrics]')?.textContent.includes('accuracy'), null, { timeout: 30000 });
      await page.waitForTimeout(300);
      assert.deepEqual(await axe(page), [], 'diagnostics and technical details open');
      // A marked frame shows its thumbnail and Undo.
      await page.click('[data-testid=mark-cat]');
      await page.waitForSelector('[data-testid=mark-last]:not([hidden])');
      assert.deepEqual(await axe(page), [], 'a frame marked');
    } finally {
      await browser.close();
    }
  });
}

for (const [what, opts] of [['camera denied', { fakeUi: false }], ['no camera', { fakeDevice: false }]]) {
  test(`axe: the live page, ${what}`, async () => {
    const browser = await launch(opts);
    try {
      const page = await browser.context.newPage();
      await page.goto(`${server.url}?lang=es&sw=off`);
      await page.waitForSelector('[data-testid=message]', { timeout: 30000 });
      await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
      assert.deepEqual(await axe(page), [], what);
    } finally {
      await browser.close();
    }
  });
}

for (const scheme of ['light', 'dark']) {
  test(`axe, ${scheme}: report.html`, async () => {
    const browser = await launch({ contextOptions: { colorScheme: scheme } });
    try {
      const page = await browser.context.newPage();
      await page.goto(`${server.url}report.html`);
      await page.waitForSelector('body[data-state=ready]', { timeout: 30000 });
      assert.deepEqual(await axe(page), [], `report.html (${scheme})`);
    } finally {
      await browser.close();
    }
  });
}
