// Loads models exported by `catdog export` with the real @tensorflow/tfjs 4.22 (loadLayersModel,
// through the same getModelArtifactsForJSON path the http/file loaders use: model.json's
// weightsManifest names the shard files, read from disk in order) and checks its predictions
// against libtorch's.
//
//   node tests/trainer/tfjs_load.mjs CASES_DIR
//
// CASES_DIR holds one folder per case with model.json + group1-shard*.bin + (optional) expected.json:
//   {"inputs": [[S*S floats], ...], "outputs": [P(dog), ...] (K values an input for a K-class model),
//    "tolerance": 1e-4}
// Each model's userDefinedMetadata.catdog.golden pairs are checked too. Prints one JSON line per
// case and exits 1 when any output differs by more than the tolerance (or a load fails).
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

async function loadModel(dir) {
  const modelJSON = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const handler = {
    load: () => tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
      const specs = [];
      const buffers = [];
      for (const group of manifest) {
        specs.push(...group.weights);
        for (const p of group.paths) {
          const b = fs.readFileSync(path.join(dir, p));
          buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
        }
      }
      const total = buffers.reduce((n, b) => n + b.byteLength, 0);
      const all = new Uint8Array(total);
      let off = 0;
      for (const b of buffers) { all.set(new Uint8Array(b), off); off += b.byteLength; }
      return [specs, all.buffer];
    }),
  };
  return tf.loadLayersModel(handler);
}

function predict(model, inputs, size) {
  return tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(inputs.flat()), [inputs.length, size, size, 1]);
    return Array.from(model.predict(x).dataSync());
  });
}

function decodeB64(s) { return Uint8Array.from(Buffer.from(s, 'base64')); }

async function main() {
  const root = process.argv[2];
  if (!root || !fs.existsSync(root)) {
    console.error(`usage: node tfjs_load.mjs CASES_DIR (got ${root})`);
    process.exit(2);
  }
  await tf.setBackend('cpu');
  let failed = 0;
  const cases = fs.readdirSync(root).filter((d) => fs.existsSync(path.join(root, d, 'model.json'))).sort();
  if (cases.length === 0) {
    console.error(`${root}: no case folders with a model.json`);
    process.exit(1);
  }
  for (const name of cases) {
    const dir = path.join(root, name);
    const result = { case: name, ok: true };
    try {
      const model = await loadModel(dir);
      const size = model.inputs[0].shape[1];
      // expected.json is optional: without it only the model's own goldens are checked.
      const expectedPath = path.join(dir, 'expected.json');
      if (fs.existsSync(expectedPath)) {
        const expected = JSON.parse(fs.readFileSync(expectedPath, 'utf8'));
        const tol = expected.tolerance ?? 1e-4;
        const got = predict(model, expected.inputs, size);
        result.max_abs_diff = Math.max(...got.map((v, i) => Math.abs(v - expected.outputs[i])));
        result.tfjs = got;
        result.libtorch = expected.outputs;
        if (!(result.max_abs_diff <= tol)) result.ok = false;
      }
      const meta = model.getUserDefinedMetadata()?.catdog;
      if (!meta || !Array.isArray(meta.golden) || meta.golden.length === 0) {
        result.ok = false;
        result.error = 'no userDefinedMetadata.catdog.golden';
      } else {
        // The one golden schema (docs/MODEL_FORMAT.md): gray8 stretch images of the input size.
        const inputs = meta.golden.map((g) => Array.from(decodeB64(g.pixels_base64), (v) => v / 255));
        const g = predict(model, inputs, size);
        // One value per golden for a sigmoid model, K (the softmax) for a K-class one, in order.
        const want = meta.golden.flatMap((x) => x.expected);
        if (want.length !== g.length) throw new Error(`golden: TF.js gave ${g.length} outputs, the metadata holds ${want.length}`);
        result.golden_max_abs_diff = Math.max(...g.map((v, i) => Math.abs(v - want[i])));
        if (!(result.golden_max_abs_diff <= (meta.golden_tolerance ?? 1e-4))) result.ok = false;
      }
      model.dispose();
    } catch (e) {
      result.ok = false;
      result.error = String(e && e.stack || e);
    }
    if (!result.ok) failed++;
    console.log(JSON.stringify(result));
  }
  process.exit(failed ? 1 : 0);
}

main();
