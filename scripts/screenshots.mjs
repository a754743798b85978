#!/usr/bin/env node
// Screenshots of the live page for the README: desktop (1280x800) and phone (390x844, touch),
// light and dark, in headless Chromium with its built-in fake camera (a test pattern, so no photo
// of the data set ends up in the repository). Writes docs/screenshots/{desktop,phone}-{light,dark}.png.
//   node scripts/screenshots.mjs [--site build/wasm/site] [--out docs/screenshots] [--icons]
// --icons also renders web/icon.svg to web/icon-192.png and web/icon-512.png (the manifest's icons).
// Build the site first: cmake --preset wasm && cmake --build build/wasm --target site
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { parseArgs } from 'node:util';
import { repoRoot, requireSite, startServer, launch, PHONE } from '../tests/web/helpers.mjs';

const { values: opt } = parseArgs({ options: {
  site: { type: 'string' }, out: { type: 'string', default: path.join(repoRoot, 'docs/screenshots') },
  icons: { type: 'boolean', default: false }, lang: { type: 'string', default: 'en' },
} });
if (opt.site) process.env.CATDOG_SITE = opt.site;
const site = opt.site ? path.resolve(opt.site) : requireSite();

const VIEWS = {
  desktop: { viewport: { width: 1280, height: 800 } },
  phone: { ...PHONE, deviceScaleFactor: 1 },
};

const server = await startServer(site);
let browser = null;
try {
  await fs.mkdir(opt.out, { recursive: true });
  for (const [name, view] of Object.entries(VIEWS)) {
    for (const scheme of ['light', 'dark']) {
      browser = await launch({ contextOptions: { ...view, colorScheme: scheme } });
      const page = await browser.context.newPage();
      await page.goto(`${server.url}?lang=${opt.lang}&sw=off`);
      await page.waitForFunction(() => window.__catdog?.ready && window.__catdog.frames >= 5, null, { timeout: 60000 });
      await page.waitForTimeout(500);
      const file = path.join(opt.out, `${name}-${scheme}.png`);
      await page.screenshot({ path: file });  // the first screen (a full-page capture drops the touch emulation)
      console.log(`wrote ${path.relative(repoRoot, file)}`);
      await browser.close();
      browser = null;
    }
  }
  if (opt.icons) {
    browser = await launch();
    const svg = await fs.readFile(path.join(repoRoot, 'web/icon.svg'), 'utf8');
    const page = await browser.context.newPage();
    for (const n of [192, 512]) {
      await page.setViewportSize({ width: n, height: n });
      await page.setContent(`<style>html,body{margin:0;background:transparent}svg{width:${n}px;height:${n}px;display:block}</style>${svg}`);
      const file = path.join(repoRoot, `web/icon-${n}.png`);
      await page.screenshot({ path: file, omitBackground: true });
      console.log(`wrote ${path.relative(repoRoot, file)}`);
    }
    await page.close();
  }
} finally {
  await browser?.close();
  await server.close();
}
