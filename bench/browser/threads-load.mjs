#!/usr/bin/env node
// The live page's threads under load: the page with ?threads=1 (the single-thread core),
// ?threads=2 (the pthreads core, 2 threads fixed) and ?threads=auto (the pthreads core, its thread
// count chosen at run time from measured inference times: web/thread-chooser.js), beside N CPU hogs
// (busy loops in node processes, started here and stopped at the end of each level), in headless
// Chromium with a fake 640x480 camera. Each page classifies --frames camera frames back to back
// through the page's own path (window.__catdog.stress), from right after the model is ready: the
// chooser's warm-up and probes are inside the window. Modes run interleaved (the starting mode
// rotating per round), every round in a fresh tab; the frames of all rounds are pooled per
// (hogs, model, mode): median and p90 of inference and frame -> label, and their ratio to
// threads=1. Prints a table, --json FILE writes the numbers. A benchmark, not a test.
//
//   node bench/browser/threads-load.mjs [--models catnet-s2,cnn-u8] [--modes 1,2,auto] [--hogs 0,1]
//        [--rounds 2] [--frames 1500] [--json out.json]
//
// Needs build/wasm/site (cmake --preset wasm && cmake --build build/wasm --target site),
// ../shared/data (or CATDOG_DATA), ffmpeg, chromium.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireSite, requireData, siteDir, startServer, launch, watchPage, pickPhotos, makeY4m, tmpDir } from '../../tests/web/helpers.mjs';

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const list = (v) => v.split(',').filter(Boolean);
const models = list(arg('--models', 'catnet-s2,cnn-u8'));
const modes = list(arg('--modes', '1,2,auto'));
const hogLevels = list(arg('--hogs', '0,1')).map(Number);
const rounds = Number(arg('--rounds', 2));
const frames = Number(arg('--frames', 1500));
const jsonOut = arg('--json', null);
for (const m of modes) if (!['1', '2', 'auto'].includes(m)) throw new Error(`--modes: '${m}' is not 1, 2 or auto`);
if (!hogLevels.every((h) => Number.isInteger(h) && h >= 0)) throw new Error(`--hogs: '${arg('--hogs')}' must be integers >= 0`);
if (!(Number.isInteger(rounds) && rounds >= 1 && Number.isInteger(frames) && frames >= 20)) throw new Error('--rounds >= 1, --frames >= 20');

requireSite();
requireData();
const work = tmpDir('catdog-threads-load-');
const video = path.join(work, 'camera.y4m');
await makeY4m([...await pickPhotos('Cat', 2, 5), ...await pickPhotos('Dog', 2, 6)], video, { framesEach: 20 });

// A CPU hog: a node process spinning until killed.
function startHogs(n) {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}
function stopHogs(hogs) {
  for (const h of hogs) h.kill('SIGKILL');
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};

const server = await startServer(siteDir);
const browser = await launch({ fakeVideo: video });
const pooled = new Map();  // `${hogs}|${model}|${mode}` -> { inference: [], frameToLabel: [], threads: [], choices: [] }
const loadAvg = [];
const t0 = new Date();
let hogs = [];
try {
  for (const h of hogLevels) {
    hogs = startHogs(h);
    await new Promise((r) => setTimeout(r, 1000));
    for (let round = 0; round < rounds; round++) {
      for (const model of models) {
        for (let k = 0; k < modes.length; k++) {
          const mode = modes[(k + round) % modes.length];
          const page = await browser.context.newPage();
          const problems = watchPage(page, server.origin);
          await page.goto(`${server.url}?model=${encodeURIComponent(model)}&threads=${mode}&mirror=0&sw=off&lang=en`);
          await page.waitForFunction(() => window.__catdog?.ready && window.__catdog.frames >= 1, null, { timeout: 120000 });
          const r = await page.evaluate((n) => window.__catdog.stress(n), frames);
          const key = `${h}|${model}|${mode}`;
          if (!pooled.has(key)) pooled.set(key, { inference: [], frameToLabel: [], threads: [], choices: [] });
          const p = pooled.get(key);
          p.inference.push(...r.series.inference);
          p.frameToLabel.push(...r.series.frameToLabel);
          p.threads.push(...r.series.threads);
          p.choices.push(r.threadChoice);
          const errs = [...problems.pageErrors, ...problems.consoleErrors];
          if (errs.length) console.error(`# ${key}: page problems: ${errs.join('; ')}`);
          console.error(`# hogs ${h}, round ${round + 1}, ${model}, threads=${mode}: inference median ${quantile(r.series.inference, 0.5).toFixed(2)} ms` +
            `${r.threadChoice ? `, chooser ${r.threadChoice.why} (${r.threadChoice.probes} probes, kept ${r.threadChoice.chosen})` : ''}, load ${os.loadavg()[0].toFixed(1)}`);
          await page.close();
        }
      }
    }
    loadAvg.push({ hogs: h, load1: +os.loadavg()[0].toFixed(2) });
    stopHogs(hogs);
    hogs = [];
  }
} finally {
  stopHogs(hogs);
  await browser.close();
  await server.close();
  await fs.rm(work, { recursive: true, force: true });
}

const rows = [];
for (const [key, p] of pooled) {
  const [h, model, mode] = key.split('|');
  rows.push({ hogs: Number(h), model, mode, frames: p.inference.length,
    inference: { median: quantile(p.inference, 0.5), p90: quantile(p.inference, 0.9) },
    frameToLabel: { median: quantile(p.frameToLabel, 0.5), p90: quantile(p.frameToLabel, 0.9) },
    share_multi: p.threads.filter((t) => t > 1).length / p.threads.length,
    choices: p.choices.filter(Boolean).map((c) => ({ kept: c.chosen, why: c.why, probes: c.probes, oneMs: c.oneMs, manyMs: c.manyMs })) });
}
const f = (x) => x.toFixed(2);
console.log(`catdog page threads under load — ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${t0.toISOString()}, Chromium headless, ` +
  `fake camera 640x480, ${frames} frames back to back per tab, ${rounds} rounds interleaved; load average at the end of each level: ` +
  loadAvg.map((l) => `${l.hogs} hogs ${l.load1}`).join(', '));
console.log('| hogs | model | threads | frames | inference median / p90 ms | x threads=1 | frame -> label median / p90 ms | x threads=1 | frames on 2 threads |');
console.log('|---:|---|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const one = rows.find((x) => x.hogs === r.hogs && x.model === r.model && x.mode === '1');
  const x = (k) => (one ? `${f(r[k].median / one[k].median)} / ${f(r[k].p90 / one[k].p90)}` : '-');
  console.log(`| ${r.hogs} | ${r.model} | ${r.mode} | ${r.frames} | ${f(r.inference.median)} / ${f(r.inference.p90)} | ${x('inference')} | ` +
    `${f(r.frameToLabel.median)} / ${f(r.frameToLabel.p90)} | ${x('frameToLabel')} | ${(100 * r.share_multi).toFixed(0)}% |`);
}
if (jsonOut) {
  await fs.writeFile(jsonOut, JSON.stringify({ date: t0.toISOString(), cpu: os.cpus()[0]?.model, cores: os.cpus().length, frames, rounds, loadAvg, rows }, null, 1));
  console.log(`wrote ${jsonOut}`);
}
