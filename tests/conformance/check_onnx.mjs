// `catdog convert --to onnx` against TF.js itself: every conformance fixture (real TF.js models and
// their outputs, gen_fixtures.mjs) that is a Sequential model of convertible layers is converted
// and run in ONNX Runtime (npm onnxruntime-web, wasm in node); its outputs must match TF.js's
// within 1e-4 (relative above 1, as check_infer.mjs). The fixtures it cannot convert (functional
// graphs, nested models, Conv2DTranspose) must be refused with exit 2 naming their model.json, and
// the converted set must cover every layer class and weight dtype the converter claims.
//
//   node tests/conformance/check_onnx.mjs path/to/catdog FIXTURE_DIR
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-web';

const [cli, fxDir] = process.argv.slice(2);
if (!cli || !fxDir) {
  console.error('usage: node check_onnx.mjs CATDOG_BINARY FIXTURE_DIR');
  process.exit(2);
}
ort.env.wasm.numThreads = 1;
const fixtures = JSON.parse(fs.readFileSync(path.join(fxDir, 'fixtures.json'), 'utf8')).fixtures;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'catdog-onnx-fx-'));
let failures = 0;
const fail = (msg) => { console.error(`FAIL: ${msg}`); failures++; };

// Refused on purpose (the converter takes Sequential models of the layers it lists).
const REFUSED = new Set(['activations', 'activations_keras3', 'conv_transpose', 'merge', 'nested', 'nested_keras2',
  'functional', 'functional_uint8', 'functional_uint16', 'functional_float16', 'functional_keras2', 'functional_keras3']);
const covered = new Set();
let worst = 0, converted = 0;

for (const fx of fixtures) {
  const dir = path.join(fxDir, fx.dir);
  const out = path.join(tmp, `${fx.name}.onnx`);
  const r = spawnSync(cli, ['convert', dir, '--to', 'onnx', '--out', out], { encoding: 'utf8' });
  if (REFUSED.has(fx.name)) {
    if (r.status !== 2) fail(`${fx.name}: exit ${r.status}, want 2 (not convertible): ${r.stderr}`);
    else if (!r.stderr.includes(path.join(dir, 'model.json'))) fail(`${fx.name}: message does not name model.json: ${r.stderr}`);
    if (fs.existsSync(out)) fail(`${fx.name}: refused but ${out} was written`);
    continue;
  }
  if (r.status !== 0) { fail(`${fx.name}: convert exit ${r.status}: ${r.stderr}`); continue; }
  ++converted;
  const mj = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const topo = mj.modelTopology.model_config ?? mj.modelTopology;
  const layers = Array.isArray(topo.config) ? topo.config : topo.config.layers;
  for (const l of layers) covered.add(l.class_name);
  for (const g of mj.weightsManifest) for (const w of g.weights) covered.add(w.quantization?.dtype ?? 'float32');

  let session;
  try {
    session = await ort.InferenceSession.create(fs.readFileSync(out));
  } catch (e) {
    fail(`${fx.name}: ONNX Runtime refuses the file: ${String(e.message).slice(-400)}`);
    continue;
  }
  for (const c of fx.cases) {
    const x = Float32Array.from(c.input);
    let y;
    try {
      y = (await session.run({ input: new ort.Tensor('float32', x, [c.batch, ...fx.input_shape]) })).output.data;
    } catch (e) {
      fail(`${fx.name} batch ${c.batch}: ONNX Runtime run failed: ${String(e.message).slice(-400)}`);
      continue;
    }
    if (y.length !== c.output.length) { fail(`${fx.name} batch ${c.batch}: ${y.length} outputs, TF.js ${c.output.length}`); continue; }
    for (let i = 0; i < y.length; ++i) {
      const d = Math.abs(y[i] - c.output[i]);
      worst = Math.max(worst, d / Math.max(1, Math.abs(c.output[i])));
      if (d > 1e-4 * Math.max(1, Math.abs(c.output[i]))) {
        fail(`${fx.name} batch ${c.batch} [${i}]: ONNX ${y[i]} vs TF.js ${c.output[i]}`);
        break;
      }
    }
  }
}

const claimed = ['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'BatchNormalization', 'MaxPooling2D', 'AveragePooling2D',
  'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'ZeroPadding2D', 'Flatten', 'Dense', 'Dropout', 'SpatialDropout2D',
  'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'Activation', 'float32', 'uint8', 'uint16', 'float16'];
for (const c of claimed) if (!covered.has(c)) fail(`no converted fixture has ${c}`);
fs.rmSync(tmp, { recursive: true, force: true });
console.log(`check_onnx: ${converted} fixtures converted and run in ONNX Runtime (largest relative difference ` +
  `from TF.js ${worst.toExponential(2)}), ${REFUSED.size} refused as expected; ${failures} failure(s)`);
process.exit(failures ? 1 : 0);
