#!/usr/bin/env node
// How often a model calls a photo that is neither a cat nor a dog "cat" or "dog": the real
// non-animal photos of data/other/manifest.tsv (rebuilt by scripts/other-photos), by kind and in
// all, through `catdog predict --json` (the page's decision: the model's "neither" block when it
// has one, else every photo gets cat or dog). By default only the measuring sources (role
// "measure": never trained or chosen on), so the number can be reported.
//   node scripts/neither-rate.mjs MODEL_DIR [--photos DIR] [--role measure|train|all] [--json FILE]
//     --photos DIR  where scripts/other-photos wrote them (default $CATDOG_DATA/Other, else
//                   ../shared/data/Other)
//     --catdog BIN  the CLI (default build/native/catdog)
// Prints one line per kind (photos, called cat or dog, %), then the total. Exit 2 on bad
// arguments or missing photos (named), 1 when predict fails.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function fail(code, message) {
  console.error(`neither-rate: ${message}`);
  process.exit(code);
}

let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: {
      photos: { type: 'string' }, role: { type: 'string', default: 'measure' }, json: { type: 'string' },
      catdog: { type: 'string', default: path.join(root, 'build/native/catdog') }, help: { type: 'boolean', short: 'h' },
    },
  });
} catch (e) {
  fail(2, `${e.message} (see --help)`);
}
if (args.values.help) {
  console.log((await fs.readFile(fileURLToPath(import.meta.url), 'utf8')).split('\n').slice(1, 12).map((l) => l.slice(3)).join('\n'));
  process.exit(0);
}
if (args.positionals.length !== 1) fail(2, 'give one MODEL_DIR (see --help)');
const role = args.values.role;
if (!['measure', 'train', 'all'].includes(role)) fail(2, `--role '${role}': must be measure, train or all`);
const photos = args.values.photos
  ?? path.join(process.env.CATDOG_DATA ?? path.join(root, '../shared/data'), 'Other');

const rows = (await fs.readFile(path.join(root, 'data/other/manifest.tsv'), 'utf8')).split('\n')
  .filter((l) => l && !l.startsWith('#')).map((l) => l.split('\t'));
const head = rows.shift();
const col = (name) => head.indexOf(name);
const [cRole, cKind, cFolder, cName] = ['role', 'kind', 'folder', 'name'].map(col);
if ([cRole, cKind, cFolder, cName].some((c) => c < 0)) fail(2, 'data/other/manifest.tsv: expected the columns role, kind, folder, name');
const chosen = rows.filter((r) => role === 'all' || r[cRole] === role);
if (!chosen.length) fail(2, `no photos with role '${role}' in data/other/manifest.tsv`);
const files = chosen.map((r) => path.join(photos, r[cFolder], r[cName]));
const missing = [];
for (const f of files) await fs.access(f).catch(() => missing.push(f));
if (missing.length)
  fail(2, `${missing.length} of ${files.length} photos are missing (first: ${missing[0]}): run scripts/other-photos --out ${photos}`);

// predict in chunks (the command line has a limit), in manifest order.
const results = [];
let model = null;
for (let i = 0; i < files.length; i += 400) {
  let out;
  try {
    ({ stdout: out } = await run(args.values.catdog, ['predict', '--json', '--selfcheck', 'off', '--model', args.positionals[0], ...files.slice(i, i + 400)],
      { maxBuffer: 256 << 20, env: { ...process.env, CI: 'true' } }));
  } catch (e) {
    fail(e.code === 2 ? 2 : 1, `catdog predict failed: ${(e.stderr || e.message).trim().split('\n').slice(-3).join(' | ')}`);
  }
  const doc = JSON.parse(out);
  model ??= doc;
  results.push(...doc.results);
  if (doc.errors.length) fail(1, `predict: ${doc.errors.length} photos failed (first: ${doc.errors[0].message})`);
}
if (results.length !== files.length) fail(1, `predict returned ${results.length} results for ${files.length} photos`);

const byKind = new Map();
const total = { n: 0, animal: 0 };
chosen.forEach((r, i) => {
  const k = byKind.get(r[cKind]) ?? { n: 0, animal: 0 };
  // A cat or a dog: the label (a two-class model's, or a K-class model's cat/dog class) unless the
  // model's ood block says neither.
  const animal = results[i].neither !== true && /^(cat|dog)s?$/i.test(results[i].label) ? 1 : 0;
  k.n += 1; k.animal += animal; total.n += 1; total.animal += animal;
  byKind.set(r[cKind], k);
});
const pct = (a, n) => (100 * a / n).toFixed(1);
console.log(`${args.positionals[0]}: ${role} photos of data/other/manifest.tsv called cat or dog `
  + `(ood: ${model.ood ? `${model.ood.method} > ${model.ood.threshold}` : 'none'})`);
for (const [kind, k] of [...byKind].sort()) console.log(`  ${kind.padEnd(22)} ${String(k.n).padStart(6)}  ${String(k.animal).padStart(6)}  ${pct(k.animal, k.n).padStart(5)}%`);
console.log(`  ${'all'.padEnd(22)} ${String(total.n).padStart(6)}  ${String(total.animal).padStart(6)}  ${pct(total.animal, total.n).padStart(5)}%`);
if (args.values.json)
  await fs.writeFile(args.values.json, JSON.stringify({ model: args.positionals[0], role, ood: model.ood,
    kinds: Object.fromEntries(byKind), all: total }, null, 1) + '\n');
