#!/usr/bin/env node
// Side-by-side browser benchmark: batch-1 inference of the same model.json files on the
// catdog wasm core (1 and 2 threads), TF.js 4.22 wasm backend (XNNPACK + SIMD; 1 and 2 threads),
// ONNX Runtime Web wasm (1 and 2 threads; the same models converted by `catdog convert --to onnx`)
// and TF.js cpu, in headless Chromium (playwright-core + /usr/bin/chromium), all offline: the
// site, TF.js and ONNX Runtime (from node_modules) and the bench page come from one local
// crossOriginIsolated server.
//
//   node bench/browser/run.mjs [--runs 200] [--warmup 20] [--models dense-u8,cnn-u8,...]
//        [--engines catdog:1,catdog:2,tfjs-wasm:1,tfjs-wasm:2,ort-wasm:1,ort-wasm:2,tfjs-cpu:1]
//        [--out bench/results/latest.json] [--cli build/native/catdog (converts to ONNX)]
//   catdog-mt:N = the pthreads core, models loaded with 2 threads, capped at N at run time
//   (catdog_set_thread_cap): what the live page's threads 'auto' runs; not in the defaults.
//        [--timing-frames 200 | --timing-frames 0 (skip the live-page timing)]
//
// One page per engine; every timed round runs each engine once on the same model (A B C A B C ...,
// the starting engine rotating), so the machine's drift hits all engines alike. Warm-up rounds are
// not timed. Outputs are checked first, in the same run: every engine's output must agree with
// catdog's (the first engine's when catdog is not run) within 1e-4 (relative above 1).
// Writes --out (the comparison list) and, beside it, <name>-details.json (machine, load,
// FLOPs, GFLOP/s, SIMD128 peak, per-layer FLOPs, the live page's frame-to-label timing).
import { createServer } from 'node:http';
import { createReadStream, existsSync, promises as fs } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveFile } from '../../web/serve.mjs';

const execFileP = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const chromiumPath = process.env.CATDOG_CHROMIUM || '/usr/bin/chromium';

function parseArgs(argv) {
  const o = {
    runs: 200, warmup: 20,
    models: ['dense-u8', 'cnn-u8', 'cnn-dropout-u8', 'catnet-aug', 'catnet-s2'],
    engines: ['catdog:1', 'catdog:2', 'tfjs-wasm:1', 'tfjs-wasm:2', 'ort-wasm:1', 'ort-wasm:2', 'tfjs-cpu:1'],
    cli: process.env.CATDOG_CLI || path.join(repo, 'build/native/catdog'),
    out: path.join(repo, 'bench/results/latest.json'),
    site: process.env.CATDOG_SITE || path.join(repo, 'build/wasm/site'),
    timingFrames: 200,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const take = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value after ${a}`);
      return argv[++i];
    };
    const int = (v, min) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) throw new Error(`${a}: '${v}' is not an integer >= ${min}`);
      return n;
    };
    if (a === '--runs') o.runs = int(take(), 1);
    else if (a === '--warmup') o.warmup = int(take(), 0);
    else if (a === '--models') o.models = take().split(',').filter(Boolean);
    else if (a === '--engines') o.engines = take().split(',').filter(Boolean);
    else if (a === '--out') o.out = path.resolve(take());
    else if (a === '--site') o.site = path.resolve(take());
    else if (a === '--timing-frames') o.timingFrames = int(take(), 0);
    else if (a === '--cli') o.cli = path.resolve(take());
    else if (a === '-h' || a === '--help') o.help = true;
    else throw new Error(`unknown argument '${a}'`);
  }
  o.engines = o.engines.map((e) => {
    const [engine, t = '1'] = e.split(':');
    const threads = Number(t);
    if (!['catdog', 'catdog-mt', 'tfjs-wasm', 'tfjs-cpu', 'ort-wasm'].includes(engine) || !Number.isInteger(threads) || threads < 1 ||
        (engine === 'tfjs-cpu' && threads !== 1)) {
      throw new Error(`--engines: bad entry '${e}' (catdog:N, catdog-mt:N, tfjs-wasm:N, ort-wasm:N, tfjs-cpu:1)`);
    }
    return { engine, threads, key: `${engine}:${threads}` };
  });
  return o;
}

// ---- server: /site/ -> the built site, /tfjs/ -> node_modules/@tensorflow, /bench/ -> this folder.
const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};
const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json', '.wasm': 'application/wasm', '.bin': 'application/octet-stream', '.map': 'application/json',
  '.onnx': 'application/octet-stream' };

function startServer(mounts) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const mount = Object.keys(mounts).find((m) => url.pathname.startsWith(m));
    const hit = mount && await resolveFile(mounts[mount], url.pathname.slice(mount.length - 1));
    if (!hit) {
      res.writeHead(404, { ...ISOLATION, 'Content-Type': 'text/plain' });
      return res.end('not found\n');
    }
    res.writeHead(200, { ...ISOLATION, 'Content-Type': MIME[path.extname(hit.file)] || 'application/octet-stream',
      'Content-Length': hit.size, 'Cache-Control': 'no-cache' });
    createReadStream(hit.file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// The models in ONNX for ONNX Runtime Web: `catdog convert MODEL --to onnx` into build/bench-onnx/.
async function convertToOnnx(cli, site, ids) {
  if (!existsSync(cli)) throw new Error(`missing ${cli}: the ort-wasm engine needs the catdog CLI to convert the models to ONNX (cmake --preset native && cmake --build build/native --target catdog, or --cli / CATDOG_CLI)`);
  const dir = path.join(repo, 'build/bench-onnx');
  await fs.mkdir(dir, { recursive: true });
  for (const id of ids) {
    await execFileP(cli, ['convert', path.join(site, 'models', id), '--to', 'onnx', '--out', path.join(dir, `${id}.onnx`), '--force']);
  }
  return dir;
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`bench/browser/run.mjs: ${e.message}`);
    process.exit(2);
  }
  if (o.help) {
    console.log('usage: node bench/browser/run.mjs [--runs N] [--warmup N] [--models a,b] [--engines catdog:1,tfjs-wasm:2,...] [--out FILE] [--site DIR] [--timing-frames N]');
    return;
  }
  const tfjsDir = path.join(repo, 'node_modules/@tensorflow');
  for (const [what, p] of [['site (cmake --preset wasm && cmake --build build/wasm --target site)', path.join(o.site, 'catdog-core.js')],
    ['TF.js (scripts/deps: npm ci)', path.join(tfjsDir, 'tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm')],
    ['chromium (apt install chromium)', chromiumPath]]) {
    if (!existsSync(p)) throw new Error(`missing ${p}: ${what}`);
  }
  const site = await fs.realpath(o.site);
  const models = [];
  for (const [i, id] of o.models.entries()) {
    const file = path.join(site, 'models', id, 'model.json');
    if (!existsSync(file)) throw new Error(`--models: no ${file}`);
    models.push({ id, url: `/site/models/${id}/model.json`, onnx: `/onnx/${id}.onnx`, seed: 1000 + i });
  }
  const onnxDir = o.engines.some((e) => e.engine === 'ort-wasm') ? await convertToOnnx(o.cli, site, o.models) : null;
  const ortDir = path.join(repo, 'node_modules/onnxruntime-web/dist');
  if (onnxDir && !existsSync(path.join(ortDir, 'ort.wasm.min.mjs'))) throw new Error(`missing ${ortDir}/ort.wasm.min.mjs: ONNX Runtime Web (scripts/deps: npm ci)`);
  if (o.engines.some((e) => e.engine === 'catdog' && e.threads > 1) && !existsSync(path.join(site, 'catdog_wasm_mt.wasm'))) {
    throw new Error(`${site} has no threads build (catdog_wasm_mt.wasm): configure with CATDOG_WASM_THREADS=ON (the wasm preset does)`);
  }

  const mounts = { '/site/': site, '/tfjs/': await fs.realpath(tfjsDir), '/bench/': path.join(repo, 'bench/browser') };
  if (onnxDir) Object.assign(mounts, { '/ort/': await fs.realpath(ortDir), '/onnx/': onnxDir });
  const server = await startServer(mounts);
  const origin = `http://127.0.0.1:${server.address().port}`;
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: chromiumPath, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows', '--disable-background-networking', '--no-first-run'],
  });
  const load0 = os.loadavg();
  const started = new Date();
  const pages = [];
  const details = {
    date: started.toISOString(), cpu: os.cpus()[0]?.model, cores: os.cpus().length, chromium: browser.version(),
    command: `node bench/browser/run.mjs ${process.argv.slice(2).join(' ')}`.trim(), runs: o.runs, warmup: o.warmup,
    engines: {}, models: {}, results: [],
  };
  try {
    for (const e of o.engines) {
      const page = await browser.newPage();
      const errors = [];
      page.on('pageerror', (err) => errors.push(err.message));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.goto(`${origin}/bench/bench.html?engine=${e.engine}&threads=${e.threads}`);
      await page.waitForFunction(() => window.benchReady === true, null, { timeout: 60000 });
      let info;
      try {
        info = await page.evaluate((m) => window.bench.init(m), models);
      } catch (err) {
        throw new Error(`${e.key}: init failed: ${err.message}${errors.length ? ` (page: ${errors.join('; ')})` : ''}`);
      }
      for (const m of models) {
        const got = e.engine.startsWith('catdog') ? info.models[m.id].threads : info.build.threads;
        if (got !== e.threads) throw new Error(`${e.key}: ${m.id} runs with ${got} threads, not ${e.threads} (${JSON.stringify(info.build)})`);
      }
      details.engines[e.key] = info.build;
      if (info.models[models[0].id]?.flops !== undefined) {
        for (const m of models) details.models[m.id] ??= { mflop: info.models[m.id].flops / 1e6, layers: info.models[m.id].layers };
      }
      pages.push({ ...e, page, errors });
      console.error(`# ${e.key}: ${JSON.stringify(info.build)}`);
    }
    // SIMD128 peak of one core, measured in the page (see bench-page.js peak()).
    details.simd128_peak = await pages[0].page.evaluate(() => window.bench.peak());
    console.error(`# SIMD128 mul+add peak (one core): ${details.simd128_peak.gflops.toFixed(1)} GFLOP/s`);

    for (const m of models) {
      // Same input, same answer, checked in this run: every engine's output against catdog's (the
      // first engine's when catdog is not run), within 1e-4 (relative above 1).
      const outs = [];
      for (const p of pages) outs.push(await p.page.evaluate((id) => window.bench.output(id), m.id));
      const ref = Math.max(0, pages.findIndex((p) => p.engine === 'catdog'));
      const diffs = outs.map((out) => (out.length !== outs[ref].length ? Infinity
        : Math.max(...out.map((v, i) => Math.abs(v - outs[ref][i]) / Math.max(1, Math.abs(outs[ref][i]))))));
      details.models[m.id] = { ...details.models[m.id], output: outs[ref], reference: pages[ref].key,
        max_abs_diff: Object.fromEntries(pages.map((p, i) => [p.key, diffs[i]])) };
      const bad = pages.filter((p, i) => !(diffs[i] <= 1e-4));
      if (bad.length) throw new Error(`${m.id}: outputs differ from ${pages[ref].key} by more than 1e-4: ${pages.map((p, i) => `${p.key} ${outs[i]}`).join(', ')}`);
      console.error(`# ${m.id}: outputs agree with ${pages[ref].key}, max |diff| ${Math.max(...diffs).toExponential(1)}`);

      const times = pages.map(() => []);
      const t0 = Date.now();
      for (let r = 0; r < o.warmup + o.runs; r++) {
        for (let k = 0; k < pages.length; k++) {
          const j = (r + k) % pages.length;
          const ms = await pages[j].page.evaluate((id) => window.bench.run(id), m.id);
          if (r >= o.warmup) times[j].push(ms);
        }
      }
      const mflop = details.models[m.id].mflop;
      for (const [j, p] of pages.entries()) {
        const s = [...times[j]].sort((a, b) => a - b);
        const rec = { model: m.id, engine: p.engine, threads: p.threads, median_ms: quantile(s, 0.5), p90_ms: quantile(s, 0.9), runs: s.length };
        details.results.push({ ...rec, min_ms: s[0], gflop_s: mflop ? mflop / rec.median_ms : null });
      }
      // The SIMD128 peak again after each model (the best of all measurements is reported).
      const pk = await pages[0].page.evaluate(() => window.bench.peak());
      if (pk.gflops > details.simd128_peak.gflops) details.simd128_peak = pk;
      console.error(`# ${m.id}: ${o.runs} rounds in ${((Date.now() - t0) / 1000).toFixed(0)} s, load ${os.loadavg()[0].toFixed(1)}`);
    }
    for (const p of pages) {
      if (p.errors.length) throw new Error(`${p.key}: page errors: ${p.errors.join('; ')}`);
    }
  } finally {
    await browser.close();
    server.close();
  }
  details.load_avg = { start: load0.map((x) => +x.toFixed(2)), end: os.loadavg().map((x) => +x.toFixed(2)) };

  // The live page: camera 640x480 -> label, and main-thread ms per frame (tests/web/page-timing.mjs).
  if (o.timingFrames > 0) {
    details.page_timing = {};
    for (const t of ['1', '2']) {
      const tmp = path.join(os.tmpdir(), `catdog-bench-timing-${process.pid}-${t}.json`);
      const args = [path.join(repo, 'tests/web/page-timing.mjs'), '--frames', String(o.timingFrames), '--loads', '1',
        '--threads', t, '--models', o.models.join(','), '--json', tmp];
      await execFileP(process.execPath, args, { env: { ...process.env, CATDOG_SITE: site }, maxBuffer: 1 << 24 });
      details.page_timing[`threads_${t}`] = JSON.parse(await fs.readFile(tmp, 'utf8')).rows;
      await fs.rm(tmp, { force: true });
    }
  }

  // ---- report
  const f = (x, d = 2) => (x === null || x === undefined ? '-' : x.toFixed(d));
  const peak = details.simd128_peak.gflops;
  console.log(`catdog browser benchmark — ${details.cpu} x${details.cores}, Chromium ${details.chromium}, ${details.date}, ` +
    `load avg ${details.load_avg.start[0]} -> ${details.load_avg.end[0]}; ${o.runs} timed runs each (+${o.warmup} warm-up), interleaved`);
  console.log(`SIMD128 peak, one core (f32x4.mul + f32x4.add, 12 chains, measured in the page): ${f(peak, 1)} GFLOP/s`);
  console.log('GFLOP/s = the model\'s direct-convolution FLOPs / median time (Winograd does fewer multiplies, so it can pass the peak)');
  console.log('| model | MFLOP | engine | threads | median ms | p90 ms | GFLOP/s | % of peak x threads | catdog / tfjs-wasm | catdog / ort-wasm |');
  console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|');
  const ratioTo = (r, engine) => {
    const o = details.results.find((x) => x.model === r.model && x.engine === engine && x.threads === r.threads);
    return r.engine === 'catdog' && o ? `${f(r.median_ms / o.median_ms)}x` : '';
  };
  for (const r of details.results) {
    const pct = r.gflop_s ? `${f((100 * r.gflop_s) / (peak * r.threads), 0)}%` : '-';
    console.log(`| ${r.model} | ${f(details.models[r.model]?.mflop, 1)} | ${r.engine} | ${r.threads} | ${f(r.median_ms, 3)} | ${f(r.p90_ms, 3)} | ` +
      `${f(r.gflop_s, 1)} | ${pct} | ${ratioTo(r, 'tfjs-wasm')} | ${ratioTo(r, 'ort-wasm')} |`);
  }
  // The engines side by side, one row per model and thread count: median / p90 ms, and catdog's
  // median and p90 over the faster of TF.js wasm and ONNX Runtime Web.
  const engs = [...new Set(details.results.map((r) => r.engine))];
  const thr = [...new Set(details.results.map((r) => r.threads))].sort();
  console.log(`\n| model | threads | ${engs.map((e) => `${e} median / p90 ms`).join(' | ')} | catdog / best other, median | p90 |`);
  console.log(`|---|---:|${engs.map(() => '---:').join('|')}|---:|---:|`);
  for (const id of o.models) {
    for (const t of thr) {
      const row = engs.map((e) => details.results.find((r) => r.model === id && r.engine === e && r.threads === t));
      if (!row.some(Boolean)) continue;
      const cd = row[engs.indexOf('catdog')];
      const others = row.filter((r) => r && !r.engine.startsWith('catdog') && r.engine !== 'tfjs-cpu');
      const best = (k) => Math.min(...others.map((r) => r[k]));
      const rat = (k) => (cd && others.length ? `${f(cd[k] / best(k))}x` : '-');
      console.log(`| ${id} | ${t} | ${row.map((r) => (r ? `${f(r.median_ms, 2)} / ${f(r.p90_ms, 2)}` : '-')).join(' | ')} | ${rat('median_ms')} | ${rat('p90_ms')} |`);
    }
  }
  if (details.page_timing) {
    console.log('\nlive page (tests/web/page-timing.mjs, fake camera 640x480): median / p90 ms');
    console.log('| model | threads | inference | frame -> label | main thread |');
    console.log('|---|---:|---:|---:|---:|');
    for (const rows of Object.values(details.page_timing)) {
      for (const r of rows) {
        console.log(`| ${r.model} | ${r.threads} | ${f(r.inference.median)} / ${f(r.inference.p90)} | ` +
          `${f(r.roundTrip.median)} / ${f(r.roundTrip.p90)} | ${f(r.mainThread.median)} / ${f(r.mainThread.p90)} |`);
      }
    }
  }
  const list = details.results.map(({ model, engine, threads, median_ms, p90_ms, runs }) => ({ model, engine, threads, median_ms, p90_ms, runs }));
  await fs.mkdir(path.dirname(o.out), { recursive: true });
  await fs.writeFile(o.out, `${JSON.stringify(list, null, 1)}\n`);
  const detailsOut = o.out.replace(/\.json$/, '') + '-details.json';
  await fs.writeFile(detailsOut, `${JSON.stringify(details, null, 1)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), o.out)} and ${path.relative(process.cwd(), detailsOut)}`);
}

main().catch((e) => {
  console.error(`bench/browser/run.mjs: ${e.message}`);
  process.exit(1);
});
