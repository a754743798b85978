// `catdog infer` against TF.js: runs the CLI on conformance fixtures (raw float32 files written
// here from fixtures.json) with every backend, compares its JSON with TF.js's outputs (1e-4
// relative), and checks that bad input exits 2 with a message naming the problem.
//
//   node tests/conformance/check_infer.mjs path/to/catdog FIXTURE_DIR
import {spawnSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [cli, fxDir] = process.argv.slice(2);
if (!cli || !fxDir) {
  console.error('usage: node check_infer.mjs CATDOG_BINARY FIXTURE_DIR');
  process.exit(2);
}
const fixtures = JSON.parse(fs.readFileSync(path.join(fxDir, 'fixtures.json'), 'utf8')).fixtures;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'catdog-infer-'));
let failures = 0;
const fail = (msg) => { console.error(`FAIL: ${msg}`); failures++; };

function run(args) {
  const r = spawnSync(cli, ['infer', ...args], {encoding: 'utf8'});
  return {code: r.status, out: r.stdout, err: r.stderr};
}

function writeRaw(file, values) {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  fs.writeFileSync(file, buf);
}

// ---- outputs match TF.js -------------------------------------------------------------------------
// A fixture with layer_aliases runs with them as --layer-alias flags (a custom Keras subclass).
for (const name of ['tutorial_cnn', 'tutorial_cnn_uint8', 'functional_keras3', 'keras3_nested_subclass']) {
  const fx = fixtures.find((f) => f.name === name);
  if (!fx) { fail(`fixture ${name} missing`); continue; }
  const aliases = Object.entries(fx.layer_aliases ?? {}).flatMap(([k, v]) => ['--layer-alias', `${k}=${v}`]);
  for (const c of fx.cases) {
    const input = path.join(tmp, `${name}_${c.batch}.f32`);
    writeRaw(input, c.input);
    const shape = [c.batch, ...fx.input_shape].join(',');
    for (const backend of ['reference', 'simd', 'xnnpack', 'auto']) {
      const r = run(['--model', path.join(fxDir, fx.dir), '--input', input, '--shape', shape, '--backend', backend, ...aliases]);
      if (r.code !== 0) {
        // A backend this build lacks is refused with a clear message: that is fine, nothing else is.
        if (!/not available in this build/.test(r.err)) fail(`${name} ${backend}: exit ${r.code}: ${r.err}`);
        continue;
      }
      let got;
      try { got = JSON.parse(r.out); } catch (e) { fail(`${name} ${backend}: stdout is not JSON: ${r.out.slice(0, 200)}`); continue; }
      if (got.shape[0] !== c.batch || got.output.length !== c.output.length) {
        fail(`${name} ${backend}: shape ${JSON.stringify(got.shape)} / ${got.output.length} values, want ${c.output.length}`);
        continue;
      }
      const bad = got.output.findIndex((v, i) => !(Math.abs(v - c.output[i]) <= 1e-4 * Math.max(1, Math.abs(c.output[i]))));
      if (bad >= 0) fail(`${name} ${backend} batch ${c.batch}: output[${bad}] = ${got.output[bad]}, TF.js ${c.output[bad]}`);
    }
  }
}

// ---- bad input: exit 2 and a message naming the problem -------------------------------------------
const cnn = path.join(fxDir, 'tutorial_cnn');
const one = path.join(tmp, 'one.f32');
writeRaw(one, new Array(100 * 100).fill(0.5));
const badJsonDir = path.join(tmp, 'badjson');
fs.mkdirSync(badJsonDir);
fs.writeFileSync(path.join(badJsonDir, 'model.json'), '{"modelTopology": ');
const noShardDir = path.join(tmp, 'noshard');
fs.mkdirSync(noShardDir);
fs.copyFileSync(path.join(cnn, 'model.json'), path.join(noShardDir, 'model.json'));

const subclass = path.join(fxDir, 'keras3_nested_subclass');
const sub = path.join(tmp, 'sub.f32');
writeRaw(sub, new Array(8 * 8 * 3).fill(0.25));
const cases = [
  // The custom subclass without its alias: refused, naming the layer's class and the flag that loads it.
  [['--model', subclass, '--input', sub, '--shape', '1,8,8,3'],
    /unsupported class 'Keras2toKeras3DepthwiseConv2D'.*--layer-alias Keras2toKeras3DepthwiseConv2D=DepthwiseConv2D/],
  [['--model', subclass, '--input', sub, '--shape', '1,8,8,3', '--layer-alias', 'Keras2toKeras3DepthwiseConv2D'], /--layer-alias.*expected NAME=CLASS/],
  [['--model', subclass, '--input', sub, '--shape', '1,8,8,3', '--layer-alias', 'Keras2toKeras3DepthwiseConv2D=LSTM'],
    /'LSTM' is not a layer class catdog runs/],
  [['--model', cnn, '--input', one, '--shape', '2,100,100,1'], /one\.f32: holds 40000 bytes.*needs 20000 float32/],
  [['--model', cnn, '--input', one, '--shape', '1,100,1,100'], /input shape \[1,100,1,100\] does not match the model's input \[N,100,100,1\]/],
  [['--model', cnn, '--input', one, '--shape', '1,100,100,x'], /--shape '1,100,100,x': 'x' is not a positive integer/],
  [['--model', cnn, '--input', path.join(tmp, 'missing.f32'), '--shape', '1,100,100,1'], /missing\.f32: cannot open/],
  [['--model', path.join(tmp, 'nowhere'), '--input', one, '--shape', '1,100,100,1'], /nowhere/],
  [['--model', badJsonDir, '--input', one, '--shape', '1,100,100,1'], /badjson.model\.json: invalid JSON/],
  [['--model', noShardDir, '--input', one, '--shape', '1,100,100,1'], /group1-shard1of1\.bin/],
  [['--model', cnn, '--input', one, '--shape', '1,100,100,1', '--backend', 'gpu'], /backend/],
];
for (const [args, re] of cases) {
  const r = run(args);
  if (r.code !== 2) fail(`${args.join(' ')}: exit ${r.code}, want 2 (stderr: ${r.err.trim()})`);
  else if (!re.test(r.err)) fail(`${args.join(' ')}: stderr lacks ${re}: ${r.err.trim()}`);
  if (r.out.trim() !== '') fail(`${args.join(' ')}: printed to stdout on error: ${r.out.slice(0, 100)}`);
}

fs.rmSync(tmp, {recursive: true, force: true});
if (failures) {
  console.error(`check_infer: ${failures} failure(s)`);
  process.exit(1);
}
console.log('check_infer: all outputs match TF.js; bad input exits 2 with a message');
