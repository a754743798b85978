// Model load time in the wasm core (node, no browser) with and without the self-check block:
// the same model.json with userDefinedMetadata.catdog.selfcheck removed is the baseline.
//   CATDOG_SITE=build/wasm/site node --no-experimental-fetch bench/selfcheck_load.mjs
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
const site = path.resolve(process.env.CATDOG_SITE || 'build/wasm/site');
globalThis.require ??= createRequire(path.join(site, 'catdog_wasm.js'));
globalThis.__dirname ??= site;
const { loadCore } = await import(path.join(site, 'catdog-core.js'));
const core = await loadCore({ wasmBinary: await fs.readFile(path.join(site, 'catdog_wasm.wasm')) });
for (const id of ['catnet-aug', 'cnn-dropout-u8']) {
  const dir = path.join(site, 'models', id);
  const text = await fs.readFile(path.join(dir, 'model.json'), 'utf8');
  const j = JSON.parse(text); delete j.userDefinedMetadata.catdog.selfcheck; const plain = JSON.stringify(j);
  const shards = {};
  for (const p of j.weightsManifest[0].paths) shards[p] = await fs.readFile(path.join(dir, p));
  const time = async (t) => { const ms = []; for (let i = 0; i < 7; i++) { const t0 = performance.now();
    const m = await core.createModel(t, async (p) => shards[p], { name: 'model.json' }); ms.push(performance.now() - t0);
    if (i === 0) console.log(id, m.selfCheck.summary); m.dispose(); } ms.sort((a, b) => a - b); return ms[3]; };
  const a = await time(text), b = await time(plain);
  console.log(`${id}: load median ${a.toFixed(1)} ms with the self-check, ${b.toFixed(1)} ms without (n=7)`);
}
