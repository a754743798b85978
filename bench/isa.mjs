// Per-ISA timing of the native core against XNNPACK on this machine, interleaved:
// each round runs every configuration once, in turn, so a busy spell hits all of them alike.
//   node bench/isa.mjs [--catdog build/native/catdog] [--rounds 7] [--runs 50]
//                      [--models web/models/cnn-aug-u8,web/models/catnet-aug]
// Configurations: `catdog bench --backend simd` with CATDOG_ISA=avx512|avx2|sse2 (those this CPU
// runs; --version says which), --backend reference, --backend xnnpack; batch 1, one thread.
// Prints a table: median over rounds of each run's median ms, and the ratio to XNNPACK.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const catdog = args.catdog ?? 'build/native/catdog';
const rounds = Number(args.rounds ?? 7);
const runs = Number(args.runs ?? 50);
const models = (args.models ?? 'web/models/cnn-aug-u8,web/models/catnet-aug').split(',');

const version = execFileSync(catdog, ['--version'], { encoding: 'utf8', env: { ...process.env, CATDOG_ISA: '' } });
const runnable = ['avx512', 'avx2', 'sse2', 'neon'].filter(
  (isa) => new RegExp(`compiled:.*\\b${isa}\\b(?! \\(CPU lacks)`).test(version));
const configs = [...runnable.map((isa) => ({ name: `simd ${isa}`, backend: 'simd', isa })),
  { name: 'reference', backend: 'reference' }, { name: 'xnnpack', backend: 'xnnpack' }];

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
const times = {};
for (let r = 0; r < rounds; ++r) {
  for (const model of models) {
    for (const c of configs) {
      const out = execFileSync(catdog, ['bench', '--model', model, '--backend', c.backend, '--batch', '1',
        '--threads', '1', '--runs', String(c.backend === 'reference' ? Math.max(5, runs / 10) : runs),
        '--warmup', '5', '--json'], { encoding: 'utf8', env: { ...process.env, CATDOG_ISA: c.isa ?? '' } });
      const j = JSON.parse(out);
      if (c.isa && !j.kernels.startsWith(`simd kernels: ${c.isa} `)) throw new Error(`asked ${c.isa}, ran: ${j.kernels}`);
      (times[`${model}|${c.name}`] ??= []).push(j.median_ms);
    }
  }
}
const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? os.arch();
console.log(`# ${new Date().toISOString()} ${cpu}, ${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log(`# ${version.trim().split('\n').pop()}`);
console.log(`# ${rounds} interleaved rounds x ${runs} runs (reference: ${Math.max(5, runs / 10)}), batch 1, 1 thread`);
console.log('| model | configuration | median ms | vs XNNPACK |');
console.log('|---|---|---|---|');
for (const model of models) {
  const x = median(times[`${model}|xnnpack`]);
  for (const c of configs) {
    const m = median(times[`${model}|${c.name}`]);
    console.log(`| ${model.split('/').pop()} | ${c.name} | ${m.toFixed(3)} | ${(m / x).toFixed(2)}x |`);
  }
}
