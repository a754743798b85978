// Models written by other tools, through the wasm core and catdog-core.js (what createClassifier
// uses): the conformance fixtures of the dialects (Keras 3 nested models with a custom subclass,
// converter-renamed weights, shared layers, input spellings) against TF.js's outputs, and
// createModel's layerAliases (createClassifier's option) against its refusals.
//
// Needs: build/wasm/site (cmake --preset wasm && ninja -C build/wasm site) and the conformance
// fixtures of the native build (ninja -C build/native catdog_conformance_fixtures, or
// CATDOG_CONFORMANCE_DIR).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { loadWasmCore, repoRoot } from './helpers.mjs';

const fxDir = path.resolve(process.env.CATDOG_CONFORMANCE_DIR || path.join(repoRoot, 'build/native/tests/conformance/fixtures'));
let core;
let fixtures;

before(async () => {
  if (!existsSync(path.join(fxDir, 'fixtures.json'))) {
    throw new Error(`missing ${path.join(fxDir, 'fixtures.json')}: build the conformance fixtures first with ` +
      '`ninja -C build/native catdog_conformance_fixtures` (or set CATDOG_CONFORMANCE_DIR)');
  }
  fixtures = JSON.parse(await fs.readFile(path.join(fxDir, 'fixtures.json'), 'utf8')).fixtures;
  core = await loadWasmCore();
});


function fixture(name) {
  const fx = fixtures.find((f) => f.name === name);
  assert.ok(fx, `fixture ${name} is not in ${fxDir}/fixtures.json`);
  return fx;
}

async function load(fx, opts = {}) {
  const dir = path.join(fxDir, fx.dir);
  return core.createModel(await fs.readFile(path.join(dir, 'model.json'), 'utf8'), (p) => fs.readFile(path.join(dir, p)),
    { name: `${fx.dir}/model.json`, ...opts });
}

const DIALECTS = ['keras3_nested_subclass', 'batchnorm_converter_suffix', 'batchnorm_converter_suffix_keras20', 'nested_scoped',
  'shared_layers', 'shared_layers_keras3', 'functional_converter_batchInputShape', 'input_inputShape', 'tutorial_dense_inputShape'];

test('the dialect fixtures load in wasm and match TF.js within 1e-4', async () => {
  for (const name of DIALECTS) {
    const fx = fixture(name);
    const m = await load(fx, { layerAliases: fx.layer_aliases ?? null });
    try {
      assert.deepEqual(m.inputShape, fx.input_shape, `${name}: input shape`);
      for (const c of fx.cases) {
        const y = m.predictTensor(Float32Array.from(c.input), [c.batch, ...fx.input_shape]);
        assert.equal(y.length, c.output.length, `${name} batch ${c.batch}: output size`);
        for (let i = 0; i < y.length; i++) {
          assert.ok(Math.abs(y[i] - c.output[i]) <= 1e-4 * Math.max(1, Math.abs(c.output[i])),
            `${name} batch ${c.batch} [${i}]: wasm ${y[i]} vs TF.js ${c.output[i]} (${fx.reference})`);
        }
      }
    } finally {
      m.dispose();
    }
  }
});

test('a custom subclass is refused without layerAliases, naming the option; bad aliases are refused by name', async () => {
  const fx = fixture('keras3_nested_subclass');
  await assert.rejects(load(fx), (e) => e.code === 'model-format' &&
    /unsupported class 'Keras2toKeras3DepthwiseConv2D'/.test(e.message) &&
    /layerAliases: \{Keras2toKeras3DepthwiseConv2D: 'DepthwiseConv2D'\}/.test(e.message));
  await assert.rejects(load(fx, { layerAliases: ['DepthwiseConv2D'] }), (e) => e.code === 'input' && /layerAliases: expected an object/.test(e.message));
  await assert.rejects(load(fx, { layerAliases: { Keras2toKeras3DepthwiseConv2D: 3 } }),
    (e) => e.code === 'input' && /'Keras2toKeras3DepthwiseConv2D': expected a class name string, got 3/.test(e.message));
  await assert.rejects(load(fx, { layerAliases: { Keras2toKeras3DepthwiseConv2D: 'LSTM' } }),
    (e) => e.code === 'model-format' && /'LSTM' is not a layer class catdog runs/.test(e.message));
  await assert.rejects(load(fx, { layerAliases: { Dense: 'Conv2D' } }),
    (e) => e.code === 'model-format' && /'Dense' is a class catdog knows itself/.test(e.message));
});
