#!/usr/bin/env node
// The live page's own timing, measured in headless Chromium with a fake 640x480 camera made from
// real photos: model load time and per-frame stages (read = camera frame to RGBA in wasm memory,
// preprocess, inference, roundTrip = frame grabbed -> label back on the page, mainThread = page
// thread time per frame). Prints a table; --json FILE also writes the numbers. Not a test.
// --mirror on times the page with mirror averaging (?mirror=1: each frame and its mirror in one
// batch-2 run); --mirror both times it off and on, interleaved (off, on, off, on ... for --rounds
// rounds, each in a fresh tab), so a noisy machine weighs on both alike.
//
//   node tests/web/page-timing.mjs [--frames 300] [--loads 3] [--threads 1|2|auto] [--models id,id]
//        [--mirror off|on|both] [--rounds 1] [--json out.json]
//
// Needs build/wasm/site (cmake --preset wasm && ninja -C build/wasm site), ../shared/data, ffmpeg,
// chromium.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  requireSite, requireData, siteDir, startServer, launch, watchPage, pickPhotos, makeY4m, tmpDir,
} from './helpers.mjs';

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const frames = Number(arg('--frames', 300));
const loads = Number(arg('--loads', 3));
const threads = arg('--threads', '1');
const jsonOut = arg('--json', null);
const onlyModels = arg('--models', null)?.split(',').filter(Boolean);
const mirrorArg = arg('--mirror', 'off');
const rounds = Number(arg('--rounds', 1));
if (!['off', 'on', 'both'].includes(mirrorArg)) throw new Error(`--mirror '${mirrorArg}': must be off, on or both`);
if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`--rounds '${arg('--rounds')}': must be an integer >= 1`);
const mirrors = { off: [false], on: [true], both: [false, true] }[mirrorArg];

requireSite();
requireData();
const work = tmpDir('catdog-timing-');
const video = path.join(work, 'camera.y4m');
await makeY4m([...await pickPhotos('Cat', 2, 5), ...await pickPhotos('Dog', 2, 6)], video, { framesEach: 20 });
const index = JSON.parse(await fs.readFile(path.join(siteDir, 'models/index.json'), 'utf8'));
if (onlyModels) {
  const unknown = onlyModels.filter((id) => !index.models.some((m) => m.id === id));
  if (unknown.length) throw new Error(`--models: ${unknown.join(', ')} not in ${path.join(siteDir, 'models/index.json')}`);
  index.models = index.models.filter((m) => onlyModels.includes(m.id));
}
const server = await startServer(siteDir);
const browser = await launch({ fakeVideo: video });
const rows = [];
try {
  for (let round = 1; round <= rounds; round++) for (const m of index.models) for (const mirror of mirrors) {
    const page = await browser.context.newPage();
    const problems = watchPage(page, server.origin);
    const loadMs = [];
    for (let i = 0; i < loads; i++) {
      await page.goto(`${server.url}?model=${encodeURIComponent(m.id)}&threads=${threads}&mirror=${mirror ? 1 : 0}`);
      await page.waitForFunction(() => window.__catdog?.ready && window.__catdog.frames >= 3, null, { timeout: 120000 });
      loadMs.push(await page.evaluate(() => window.__catdog.loadMs));
    }
    await page.evaluate(() => window.__catdog.stress(20));  // warm-up
    const r = await page.evaluate((n) => window.__catdog.stress(n), frames);
    if (r.mirror !== mirror) throw new Error(`${m.id}: the page ran with mirror ${r.mirror}, asked ${mirror}`);
    loadMs.sort((a, b) => a - b);
    rows.push({ model: m.id, mirror, round, threads: r.threads, frames: r.frames, load_ms: loadMs[Math.floor(loadMs.length / 2)], ...r.stats,
      fps: (1000 * r.frames) / r.ms });
    if (problems.pageErrors.length || problems.consoleErrors.length) {
      console.error(`${m.id}: page problems: ${[...problems.pageErrors, ...problems.consoleErrors].join('; ')}`);
    }
    await page.close();
  }
} finally {
  await browser.close();
  await server.close();
  await fs.rm(work, { recursive: true, force: true });
}

const f = (x) => x.toFixed(2);
console.log(`catdog page timing — ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${new Date().toISOString()}, ` +
  `Chromium headless, fake camera 640x480, ${frames} frames back to back (median / p90 ms)`);
console.log('| model | mirror | round | threads | load ms | read | preprocess | inference | frame -> label | main thread | frames/s |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.model} | ${r.mirror ? 'on' : 'off'} | ${r.round} | ${r.threads} | ${r.load_ms.toFixed(0)} | ${f(r.read.median)} / ${f(r.read.p90)} | ` +
    `${f(r.preprocess.median)} / ${f(r.preprocess.p90)} | ${f(r.inference.median)} / ${f(r.inference.p90)} | ` +
    `${f(r.roundTrip.median)} / ${f(r.roundTrip.p90)} | ${f(r.mainThread.median)} / ${f(r.mainThread.p90)} | ${r.fps.toFixed(0)} |`);
}
if (jsonOut) {
  await fs.writeFile(jsonOut, JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0]?.model, cores: os.cpus().length, rows }, null, 2));
  console.log(`wrote ${jsonOut}`);
}
