#!/usr/bin/env node
// Writes the placeholder demo model (the tutorial's CNN with seeded random weights, NOT trained)
// into web/models/demo-cnn/ with @tensorflow/tfjs 4.22, and adds it to web/models/index.json
// (keeping any other entries). Used until `catdog train`/`export` ship real models.
//
//   node tests/web/make-demo-model.mjs [--out web/models] [--id demo-cnn] [--seed 7]
//
// Files: model.json + group1-shardKofN.bin (4 MB shards, like tensorflowjs_converter).
// userDefinedMetadata.catdog marks the model as demo/untrained so the page says so.
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const outRoot = path.resolve(arg('--out', path.join(repo, 'web/models')));
const id = arg('--id', 'demo-cnn');
const seed = Number(arg('--seed', '7'));
const SHARD_BYTES = 4 * 1024 * 1024;

export function buildTutorialCnn(seed) {
  let s = seed;
  const init = () => tf.initializers.glorotUniform({ seed: s++ });
  const model = tf.sequential({ name: 'demo_cnn' });
  model.add(tf.layers.conv2d({ inputShape: [100, 100, 1], filters: 32, kernelSize: 3, activation: 'relu', kernelInitializer: init(), name: 'conv2d' }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'max_pooling2d' }));
  model.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu', kernelInitializer: init(), name: 'conv2d_1' }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'max_pooling2d_1' }));
  model.add(tf.layers.conv2d({ filters: 128, kernelSize: 3, activation: 'relu', kernelInitializer: init(), name: 'conv2d_2' }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: 'max_pooling2d_2' }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ units: 100, activation: 'relu', kernelInitializer: init(), name: 'dense' }));
  model.add(tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init(), name: 'dense_1' }));
  return model;
}

async function writeAtomic(file, data) {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, file);
}

async function main() {
  await tf.setBackend('cpu');
  const model = buildTutorialCnn(seed);
  const dir = path.join(outRoot, id);
  await fs.mkdir(dir, { recursive: true });
  let artifacts;
  await model.save(tf.io.withSaveHandler(async (a) => { artifacts = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  const weightData = Buffer.from(tf.io.concatenateArrayBuffers(
    Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData]));
  const n = Math.max(1, Math.ceil(weightData.length / SHARD_BYTES));
  const paths = [];
  for (let k = 0; k < n; k++) {
    const name = `group1-shard${k + 1}of${n}.bin`;
    paths.push(name);
    await writeAtomic(path.join(dir, name), weightData.subarray(k * SHARD_BYTES, Math.min(weightData.length, (k + 1) * SHARD_BYTES)));
  }
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths, weights: artifacts.weightSpecs }],
    userDefinedMetadata: {
      catdog: {
        demo: true,
        untrained: true,
        arch: 'cnn',
        input_size: 100,
        fit: 'stretch',
        gray: 'bt601',
        labels: ['cat', 'dog'],
        threshold: 0.5,
        note: `tutorial CNN with seeded random weights (glorot_uniform, seed ${seed}); not trained — placeholder for the web page`,
      },
    },
  };
  await writeAtomic(path.join(dir, 'model.json'), JSON.stringify(modelJson));

  const indexFile = path.join(outRoot, 'index.json');
  let index = { default: id, models: [] };
  try { index = JSON.parse(await fs.readFile(indexFile, 'utf8')); } catch { /* new index */ }
  if (!Array.isArray(index.models)) index.models = [];
  const entry = { id, path: `${id}/model.json`, arch: 'cnn', augment: false, test_accuracy: null, demo: true,
    title: 'Demo CNN (untrained)' };
  const i = index.models.findIndex((m) => m.id === id);
  if (i >= 0) index.models[i] = entry; else index.models.push(entry);
  if (!index.default || !index.models.some((m) => m.id === index.default)) index.default = id;
  await writeAtomic(indexFile, JSON.stringify(index, null, 2) + '\n');
  console.log(`wrote ${dir} (${n} shard(s), ${weightData.length} bytes) and ${indexFile}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => { console.error(`make-demo-model: ${e.stack || e}`); process.exit(1); });
}
