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
  'functional', 'functional_uint8', 'functional_uint16', 'functional_float16', 'functional_keras2', 'functional_keras3',
  // the other tools' spellings: functional graphs and nested models (not converted), and a custom
  // subclass that loads only with --layer-alias (convert takes none)
  'functional_converter_batchInputShape', 'input_inputShape', 'input_input_shape_batch_size', 'nested_scoped',
  'keras3_nested_subclass', 'shared_layers', 'shared_layers_keras3']);
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

// ---- activations and layouts the fixtures leave out: models made here with TF.js ----------------
// Sequential models through every activation the converter maps (the "activations" fixture is a
// functional model), softmax over the channels of an NCHW tensor (activation, layer and Softmax
// layer with axis 3), a depthwise convolution with stride 2 and multiplier 2; outputs
// from TF.js's own predict() on seeded inputs.
{
  const realLog = console.log, realWarn = console.warn;
  console.log = console.warn = () => {};
  const tf = await import('@tensorflow/tfjs');
  await tf.ready();
  await tf.setBackend('cpu');
  console.log = realLog;
  console.warn = realWarn;
  let seed = 77;
  const init = () => ({ kernelInitializer: tf.initializers.glorotUniform({ seed: ++seed }),
    biasInitializer: tf.initializers.randomUniform({ minval: -0.3, maxval: 0.3, seed: ++seed }) });
  const dense = (units, activation) => tf.layers.dense({ units, activation, ...init() });
  const acts = ['relu6', 'hardSigmoid', 'selu', 'swish', 'softplus', 'softsign', 'elu', 'tanh', 'linear', 'relu', 'sigmoid'];
  const models = {
    activations_seq: {
      shape: [2, 3, 1],
      layers: () => [tf.layers.flatten({ inputShape: [2, 3, 1] }), ...acts.map((a) => dense(8, a)),
        tf.layers.reLU({ maxValue: 6 }), dense(8, 'linear'), tf.layers.leakyReLU({ alpha: 0.2 }), dense(8, 'linear'),
        tf.layers.elu(), dense(4, 'linear'), tf.layers.softmax()],
    },
    channels_softmax: {
      shape: [7, 7, 2],
      layers: () => [
        tf.layers.conv2d({ inputShape: [7, 7, 2], filters: 3, kernelSize: 3, padding: 'same', activation: 'softmax', ...init() }),
        tf.layers.conv2d({ filters: 4, kernelSize: 2, activation: 'swish', ...init() }),
        tf.layers.softmax({ axis: 3 }),
        tf.layers.activation({ activation: 'softmax' }),
        tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, activation: 'hardSigmoid',
          depthwiseInitializer: tf.initializers.glorotUniform({ seed: ++seed }), biasInitializer: tf.initializers.randomUniform({ minval: -0.3, maxval: 0.3, seed: ++seed }) }),
        tf.layers.flatten(), dense(2, 'softmax')],
    },
  };
  for (const [name, spec] of Object.entries(models)) {
    const model = tf.sequential({ layers: spec.layers() });
    let art;
    await model.save(tf.io.withSaveHandler(async (a) => { art = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: art.modelTopology,
      weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: art.weightSpecs }] }));
    fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), new Uint8Array(art.weightData));
    const n = spec.shape.reduce((a, b) => a * b, 1);
    let s = 12345;
    const x = Float32Array.from({ length: 3 * n }, () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 * 4 - 2; });
    const want = await model.predict(tf.tensor(x, [3, ...spec.shape])).data();
    const out = path.join(tmp, `${name}.onnx`);
    const r = spawnSync(cli, ['convert', dir, '--to', 'onnx', '--out', out], { encoding: 'utf8' });
    if (r.status !== 0) { fail(`${name}: convert exit ${r.status}: ${r.stderr}`); continue; }
    ++converted;
    try {
      const session = await ort.InferenceSession.create(fs.readFileSync(out));
      const y = (await session.run({ input: new ort.Tensor('float32', x, [3, ...spec.shape]) })).output.data;
      if (y.length !== want.length) fail(`${name}: ${y.length} outputs, TF.js ${want.length}`);
      for (let i = 0; i < y.length; ++i) {
        const d = Math.abs(y[i] - want[i]);
        worst = Math.max(worst, d / Math.max(1, Math.abs(want[i])));
        if (d > 1e-4 * Math.max(1, Math.abs(want[i]))) { fail(`${name} [${i}]: ONNX ${y[i]} vs TF.js ${want[i]}`); break; }
      }
    } catch (e) {
      fail(`${name}: ONNX Runtime: ${String(e.message).slice(-400)}`);
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
