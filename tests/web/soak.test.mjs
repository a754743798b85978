// Browser soak: 10,000 camera frames through the live page (fake camera fed by real photos,
// the same grab -> worker -> wasm -> display path as live frames, as fast as the worker allows).
// Checked per window of 1,000 frames: wasm heap (malloc in use, linear memory) and JS heap (the page's
// after a forced GC; page + workers after the first and last windows) grow by <= 1 MB from the end of the first window to the end of the last;
// the frame rate stays steady (the best late window within 30% of the best early one, so a busy
// machine's passing slowdowns don't count); no errors anywhere.
//   CATDOG_SOAK_FRAMES=N  overrides the 10,000 (a multiple of 1,000 is best)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  requireSite, requireData, requireTool, siteDir, startServer, launch, watchPage, pickPhotos, makeY4m, tmpDir,
} from './helpers.mjs';

const TOTAL = Number(process.env.CATDOG_SOAK_FRAMES || 10000);
const WINDOW = Math.min(1000, TOTAL);
const MB = 1024 * 1024;

let work;
let server;
let video;

before(async () => {
  requireSite();
  requireData();
  requireTool('/usr/bin/ffmpeg');
  work = tmpDir('catdog-soak-');
  video = path.join(work, 'camera.y4m');
  const photos = [...await pickPhotos('Cat', 2, 31), ...await pickPhotos('Dog', 2, 32)];
  await makeY4m(photos, video, { fps: 30, framesEach: 15 });
  server = await startServer(siteDir);
});

after(async () => {
  await server?.close();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

// JS heap of the page after a forced GC, through the DevTools protocol (fast: every window).
async function pageHeap(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  return (await cdp.send('Runtime.getHeapUsage')).usedSize;
}
// Page + workers (JS heaps and wasm memories), through performance.measureUserAgentSpecificMemory,
// which the page may call because it is crossOriginIsolated. Chromium answers at its next
// scheduled measurement (~60 s here), so it is taken after the first and the last window only.
async function totalMemory(page) {
  return page.evaluate(async () => {
    if (!self.crossOriginIsolated || !performance.measureUserAgentSpecificMemory) return null;
    return (await performance.measureUserAgentSpecificMemory()).bytes;
  });
}

test(`soak: ${TOTAL} camera frames, flat wasm and JS heaps, steady frame rate, no errors`, { timeout: 1800000 }, async () => {
  const browser = await launch({
    fakeVideo: video,
    extraArgs: ['--js-flags=--expose-gc'],
  });
  try {
    const page = await browser.context.newPage();
    const problems = watchPage(page, server.origin);
    await page.goto(`${server.url}?lang=en`);
    await page.waitForFunction(() => window.__catdog?.ready && window.__catdog.frames >= 3, null, { timeout: 60000 });
    const cdp = await page.context().newCDPSession(page);
    const errorsBefore = await page.evaluate(() => window.__catdog.errors ?? 0);
    const windows = [];
    for (let done = 0; done < TOTAL; done += WINDOW) {
      const n = Math.min(WINDOW, TOTAL - done);
      const r = await page.evaluate((k) => window.__catdog.stress(k), n);
      const last = done + n >= TOTAL;
      windows.push({ frames: r.frames, fps: r.frames / (r.ms / 1000), wasmHeap: r.after.heapUsed,
        wasmMemory: r.after.memoryBytes, jsPage: await pageHeap(cdp),
        jsTotal: done === 0 || last ? await totalMemory(page) : undefined, inference: r.stats.inference.median });
    }
    for (const [i, w] of windows.entries()) {
      console.log(`# window ${i + 1}: ${w.frames} frames, ${w.fps.toFixed(1)} fps, inference median ${w.inference.toFixed(2)} ms, ` +
        `wasm heap ${w.wasmHeap} B / memory ${w.wasmMemory} B, JS heap page ${w.jsPage} B` +
        (w.jsTotal === undefined ? '' : `, page+workers ${w.jsTotal} B`));
    }
    const first = windows[0];
    const last = windows[windows.length - 1];
    const frames = windows.reduce((a, w) => a + w.frames, 0);
    assert.equal(frames, TOTAL, 'every frame classified');
    assert.ok(last.wasmHeap - first.wasmHeap <= MB, `wasm malloc in use grew ${last.wasmHeap - first.wasmHeap} B (> 1 MB)`);
    assert.ok(last.wasmMemory - first.wasmMemory <= MB, `wasm linear memory grew ${last.wasmMemory - first.wasmMemory} B (> 1 MB)`);
    assert.ok(last.jsPage - first.jsPage <= MB, `page JS heap grew ${last.jsPage - first.jsPage} B (> 1 MB)`);
    assert.ok(first.jsTotal !== null, 'performance.measureUserAgentSpecificMemory is available (page isolated)');
    assert.ok(last.jsTotal - first.jsTotal <= MB, `page + worker JS memory grew ${last.jsTotal - first.jsTotal} B (> 1 MB)`);
    // Steady: the best window of the second half is within 30% of the best of the first half. A
    // busy machine only ever slows windows down, so the best ones show the page's own rate; a page
    // that degrades (work or garbage growing per frame) loses its best rate too.
    const half = Math.ceil(windows.length / 2);
    const best = (ws) => Math.max(...ws.map((w) => w.fps));
    const early = best(windows.slice(0, half));
    const late = best(windows.slice(half));
    assert.ok(late >= 0.7 * early, `frame rate not steady: best ${late.toFixed(1)} fps late vs ${early.toFixed(1)} fps early`);
    const errors = await page.evaluate(() => window.__catdog.errors ?? 0);
    assert.equal(errors - errorsBefore, 0, 'no frame errors');
    assert.deepEqual(problems.foreignRequests, [], 'no request leaves the page origin');
    assert.deepEqual(problems.pageErrors, [], 'no uncaught page errors');
    assert.deepEqual(problems.consoleErrors, [], 'no console errors');
    assert.deepEqual(problems.httpErrors, [], 'no HTTP errors');
  } finally {
    await browser.close();
  }
});
