// Conformance fixtures made with real TensorFlow.js (@tensorflow/tfjs 4.22, cpu backend, node).
//
//   node tests/conformance/gen_fixtures.mjs OUT_DIR
//
// For each model: OUT_DIR/<name>/model.json + weight shard(s), and OUT_DIR/fixtures.json listing
// every fixture with seeded inputs (batch 1 and 3) and TF.js's outputs for them. Besides what
// tfjs-layers' model.save writes, it derives:
//   - quantized copies (uint8 / uint16 / float16 manifests, written here as tfjs has no quantizing
//     saver; the expected outputs come from TF.js loading those quantized files),
//   - Keras-2 + tensorflowjs_converter 3.x style files (model_config wrapper, list-form BN axis),
//   - Keras-3 + converter 4.x style files (batch_shape, module/registered_name, DTypePolicy dtype,
//     weight names prefixed by the model name, args/kwargs inbound nodes),
//   - an old-style file (no format/generatedBy, shards without .bin, weights straddling shards).
// Deterministic: every initializer and input is seeded.
import fs from 'node:fs';
import path from 'node:path';

// Silence the "install tfjs-node" banner: it is noise in build logs.
const realLog = console.log, realWarn = console.warn;
console.log = console.warn = () => {};
const tf = await import('@tensorflow/tfjs');
await tf.ready();
console.log = realLog;
console.warn = realWarn;
await tf.setBackend('cpu');

const outDir = process.argv[2];
if (!outDir) {
  console.error('usage: node gen_fixtures.mjs OUT_DIR');
  process.exit(2);
}
fs.mkdirSync(outDir, {recursive: true});

// ---- seeded initializers ------------------------------------------------------------------------
let seed = 1000;
const nextSeed = () => ++seed;
const glorot = () => tf.initializers.glorotUniform({seed: nextSeed()});
const unif = (lo, hi) => tf.initializers.randomUniform({minval: lo, maxval: hi, seed: nextSeed()});
// Weights for a layer: glorot kernels, small random biases (zero biases would hide bias bugs).
const W = () => ({kernelInitializer: glorot(), biasInitializer: unif(-0.3, 0.3)});

// ---- models -------------------------------------------------------------------------------------
const models = {};

// The tutorial's three architectures, input 100x100x1.
models.tutorial_dense = () => tf.sequential({layers: [
  tf.layers.flatten({inputShape: [100, 100, 1]}),
  tf.layers.dense({units: 150, activation: 'relu', ...W()}),
  tf.layers.dense({units: 150, activation: 'relu', ...W()}),
  tf.layers.dense({units: 1, activation: 'sigmoid', ...W()}),
]});
const tutorialConvs = () => [
  tf.layers.conv2d({inputShape: [100, 100, 1], filters: 32, kernelSize: 3, activation: 'relu', ...W()}),
  tf.layers.maxPooling2d({poolSize: 2}),
  tf.layers.conv2d({filters: 64, kernelSize: 3, activation: 'relu', ...W()}),
  tf.layers.maxPooling2d({poolSize: 2}),
  tf.layers.conv2d({filters: 128, kernelSize: 3, activation: 'relu', ...W()}),
  tf.layers.maxPooling2d({poolSize: 2}),
];
models.tutorial_cnn = () => tf.sequential({layers: [
  ...tutorialConvs(),
  tf.layers.flatten(),
  tf.layers.dense({units: 100, activation: 'relu', ...W()}),
  tf.layers.dense({units: 1, activation: 'sigmoid', ...W()}),
]});
models.tutorial_cnn_dropout = () => tf.sequential({layers: [
  ...tutorialConvs(),
  tf.layers.dropout({rate: 0.5}),
  tf.layers.flatten(),
  tf.layers.dense({units: 250, activation: 'relu', ...W()}),
  tf.layers.dense({units: 1, activation: 'sigmoid', ...W()}),
]});

// A functional graph: branches, Add, Concatenate, strided 'same' conv, non-fusable conv+pool.
models.functional = () => {
  const inp = tf.input({shape: [12, 12, 3], name: 'image'});
  const a = tf.layers.conv2d({filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'branch_a', ...W()}).apply(inp);
  const b = tf.layers.conv2d({filters: 6, kernelSize: 3, padding: 'same', name: 'branch_b', ...W()}).apply(inp);
  const sum = tf.layers.add({name: 'sum'}).apply([a, b]);
  const c = tf.layers.conv2d({filters: 2, kernelSize: 1, activation: 'tanh', name: 'branch_c', ...W()}).apply(inp);
  const cat = tf.layers.concatenate({name: 'cat'}).apply([sum, c]);
  const s2 = tf.layers.conv2d({filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu6', name: 'strided', ...W()}).apply(cat);
  const p = tf.layers.maxPooling2d({poolSize: 2, name: 'pool'}).apply(s2);
  const sub = tf.layers.conv2d({filters: 5, kernelSize: 1, name: 'side', ...W()}).apply(p);
  const mul = tf.layers.multiply({name: 'mul'}).apply([p, sub]);
  const avg = tf.layers.average({name: 'avg'}).apply([p, mul]);
  const g = tf.layers.globalAveragePooling2d({name: 'gap'}).apply(avg);
  const out = tf.layers.dense({units: 4, activation: 'softmax', name: 'probs', ...W()}).apply(g);
  return tf.model({inputs: inp, outputs: out});
};

models.batchnorm = () => tf.sequential({layers: [
  tf.layers.conv2d({inputShape: [10, 10, 3], filters: 8, kernelSize: 3, ...W()}),
  tf.layers.batchNormalization({gammaInitializer: unif(0.5, 1.5), betaInitializer: unif(-0.5, 0.5),
    movingMeanInitializer: unif(-0.5, 0.5), movingVarianceInitializer: unif(0.3, 2.0), epsilon: 0.01}),
  tf.layers.activation({activation: 'relu'}),
  tf.layers.batchNormalization({center: false, scale: false, movingMeanInitializer: unif(-0.2, 0.2),
    movingVarianceInitializer: unif(0.5, 1.5)}),
  tf.layers.flatten(),
  tf.layers.dense({units: 3, ...W()}),
  tf.layers.batchNormalization({gammaInitializer: unif(0.5, 1.5), movingMeanInitializer: unif(-0.5, 0.5),
    movingVarianceInitializer: unif(0.3, 2.0), center: false}),
]});

models.depthwise = () => tf.sequential({layers: [
  tf.layers.depthwiseConv2d({inputShape: [11, 11, 4], kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same',
    activation: 'relu6', depthwiseInitializer: glorot(), biasInitializer: unif(-0.3, 0.3)}),
  tf.layers.depthwiseConv2d({kernelSize: [3, 2], depthwiseInitializer: glorot(), biasInitializer: unif(-0.3, 0.3)}),
  tf.layers.depthwiseConv2d({kernelSize: 2, useBias: false, activation: 'elu', depthwiseInitializer: glorot()}),
  tf.layers.flatten(),
  tf.layers.dense({units: 2, ...W()}),
]});

models.separable = () => tf.sequential({layers: [
  tf.layers.separableConv2d({inputShape: [10, 10, 3], filters: 8, kernelSize: 3, padding: 'same', depthMultiplier: 2,
    activation: 'relu', depthwiseInitializer: glorot(), pointwiseInitializer: glorot(), biasInitializer: unif(-0.3, 0.3)}),
  tf.layers.separableConv2d({filters: 4, kernelSize: 3, strides: 2, activation: 'sigmoid',
    depthwiseInitializer: glorot(), pointwiseInitializer: glorot(), biasInitializer: unif(-0.3, 0.3)}),
  tf.layers.globalAveragePooling2d({}),
  tf.layers.dense({units: 2, ...W()}),
]});

models.conv_transpose = () => tf.sequential({layers: [
  tf.layers.conv2dTranspose({inputShape: [5, 5, 3], filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', ...W()}),
  tf.layers.conv2dTranspose({filters: 3, kernelSize: 3, strides: 2, ...W()}),
  tf.layers.conv2dTranspose({filters: 2, kernelSize: 2, strides: 3, activation: 'tanh', ...W()}),
  tf.layers.conv2dTranspose({filters: 2, kernelSize: 4, strides: 1, padding: 'same', useBias: false, kernelInitializer: glorot()}),
  tf.layers.flatten(),
  tf.layers.dense({units: 3, ...W()}),
]});

models.pooling = () => tf.sequential({layers: [
  tf.layers.conv2d({inputShape: [13, 13, 3], filters: 4, kernelSize: 2, activation: 'tanh', ...W()}),  // tanh: not fused
  tf.layers.maxPooling2d({poolSize: 2}),
  tf.layers.zeroPadding2d({padding: [[1, 2], [0, 1]]}),
  tf.layers.maxPooling2d({poolSize: 3, strides: 2, padding: 'same'}),
  tf.layers.averagePooling2d({poolSize: 2, strides: 1}),
  tf.layers.zeroPadding2d({padding: 1}),
  tf.layers.averagePooling2d({poolSize: 3, strides: 2, padding: 'same'}),
  tf.layers.conv2d({filters: 3, kernelSize: 1, activation: 'relu', ...W()}),
  tf.layers.maxPooling2d({poolSize: [2, 2], strides: [2, 2]}),  // conv(relu)+pool: fusable
  tf.layers.globalMaxPooling2d({}),
  tf.layers.dense({units: 2, ...W()}),
]});

// Every activation the core registers (the CATDOG_ACTIVATION lines of shared/src/layers/registry.inc,
// read here so that a new one gets its fixture), as Activation layers on one Dense, concatenated;
// plus the activation layers.
const registry = fs.readFileSync(new URL('../../shared/src/layers/registry.inc', import.meta.url), 'utf8');
const ACTIVATIONS = [...registry.matchAll(/^CATDOG_ACTIVATION\(\w+, "(\w+)"\)$/gm)].map((m) => m[1]);
if (ACTIVATIONS.length < 10) throw new Error(`registry.inc: only ${ACTIVATIONS.length} CATDOG_ACTIVATION lines parsed`);
// TF.js knows some by their camelCase class name (hardSigmoid), others as Keras spells them (gelu_new).
const tfjsActivations = tf.serialization.SerializationMap.getMap().classNameMap;
const tfjsActivation = (a) => (a in tfjsActivations ? a : a.replace(/_([a-z])/g, (_, c) => c.toUpperCase()));
models.activations = () => {
  const inp = tf.input({shape: [6], name: 'x'});
  const h = tf.layers.dense({units: 8, name: 'pre', kernelInitializer: unif(-1.5, 1.5), biasInitializer: unif(-1, 1)}).apply(inp);
  const outs = ACTIVATIONS.map((a) => tf.layers.activation({activation: tfjsActivation(a), name: `act_${a}`}).apply(h));
  outs.push(tf.layers.reLU({maxValue: 0.7, name: 'relu_max'}).apply(h));
  outs.push(tf.layers.leakyReLU({alpha: 0.2, name: 'leaky'}).apply(h));
  outs.push(tf.layers.elu({name: 'elu_layer'}).apply(h));
  outs.push(tf.layers.softmax({name: 'softmax_layer'}).apply(h));
  outs.push(tf.layers.dense({units: 3, activation: 'selu', name: 'dense_selu', ...W()}).apply(h));
  outs.push(tf.layers.dense({units: 3, activation: 'hardSigmoid', name: 'dense_hsig', ...W()}).apply(h));
  return tf.model({inputs: inp, outputs: tf.layers.concatenate({name: 'all'}).apply(outs)});
};

// Keras layers TF.js 4.22 does not have, written as Keras does: a tf.layers.Layer subclass with the
// Keras class name and config, computed with TF.js ops (tf.sub), so TF.js still makes the outputs.
class Subtract extends tf.layers.Layer {
  static className = 'Subtract';
  computeOutputShape(inputShape) { return inputShape[0]; }
  call(inputs) { return tf.tidy(() => tf.sub(inputs[0], inputs[1])); }
}
tf.serialization.registerClass(Subtract);
// Keras' SpatialDropout2D drops whole channels in training only; at inference (TF.js predicts
// with training off, as for its own Dropout) the output is the input.
class SpatialDropout2D extends tf.layers.Layer {
  static className = 'SpatialDropout2D';
  constructor(args) { super(args); this.rate = args.rate; }
  call(inputs) { return Array.isArray(inputs) ? inputs[0] : inputs; }
  getConfig() { return {...super.getConfig(), rate: this.rate, noise_shape: null, seed: null, data_format: 'channels_last'}; }
}
tf.serialization.registerClass(SpatialDropout2D);

// Subtract and Minimum on conv branches (the other merge layers are in 'functional' and 'nested').
models.merge = () => {
  const inp = tf.input({shape: [7, 7, 2], name: 'image'});
  const a = tf.layers.conv2d({filters: 4, kernelSize: 3, activation: 'relu', name: 'a', ...W()}).apply(inp);
  const b = tf.layers.conv2d({filters: 4, kernelSize: 3, name: 'b', ...W()}).apply(inp);
  const c = tf.layers.conv2d({filters: 4, kernelSize: 3, activation: 'tanh', name: 'c', ...W()}).apply(inp);
  const diff = new Subtract({name: 'diff'}).apply([a, b]);
  const low = tf.layers.minimum({name: 'low'}).apply([diff, c, b]);
  const f = tf.layers.flatten({name: 'flat'}).apply(low);
  return tf.model({inputs: inp, outputs: tf.layers.dense({units: 3, name: 'out', ...W()}).apply(f)});
};

// Dropout and noise layers: identity at inference in TF.js as in the core.
models.dropout_noise = () => tf.sequential({layers: [
  tf.layers.conv2d({inputShape: [6, 6, 3], filters: 5, kernelSize: 3, activation: 'relu', ...W()}),
  new SpatialDropout2D({rate: 0.4}),
  tf.layers.gaussianNoise({stddev: 0.5}),
  tf.layers.gaussianDropout({rate: 0.3}),
  tf.layers.alphaDropout({rate: 0.2}),
  tf.layers.flatten(),
  tf.layers.dense({units: 2, ...W()}),
]});

// Models nested in a Sequential, Dense on rank-3 inputs, Reshape.
models.nested = () => {
  const inner = tf.sequential({name: 'features', layers: [
    tf.layers.conv2d({inputShape: [8, 8, 2], filters: 4, kernelSize: 3, activation: 'relu', ...W()}),
    tf.layers.maxPooling2d({poolSize: 2}),
  ]});
  // A functional block inside the Sequential: Dense on the last axis of a rank-3 input, two branches.
  const hin = tf.input({shape: [3, 3, 4], name: 'head_in'});
  const h1 = tf.layers.dense({units: 5, activation: 'tanh', name: 'head_tanh', ...W()}).apply(hin);
  const h2 = tf.layers.dense({units: 5, name: 'head_lin', ...W()}).apply(hin);
  const head = tf.model({name: 'head', inputs: hin, outputs: tf.layers.maximum({name: 'head_max'}).apply([h1, h2])});
  return tf.sequential({name: 'outer', layers: [
    inner, head,
    tf.layers.reshape({targetShape: [9, 5]}),
    tf.layers.dense({units: 2, ...W()}),
    tf.layers.flatten(),
    tf.layers.dense({units: 3, ...W()}),
    tf.layers.reshape({targetShape: [3, 1]}),
  ]});
};

// ---- saving -------------------------------------------------------------------------------------

async function artifactsOf(model) {
  let art;
  await model.save(tf.io.withSaveHandler(async (a) => {
    art = a;
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  let data = art.weightData;
  if (Array.isArray(data)) {
    const total = data.reduce((n, b) => n + b.byteLength, 0);
    const joined = new Uint8Array(total);
    let o = 0;
    for (const b of data) { joined.set(new Uint8Array(b), o); o += b.byteLength; }
    data = joined.buffer;
  }
  return {topology: art.modelTopology, specs: art.weightSpecs, data: new Uint8Array(data)};
}

// Writes model.json + shards. `split` = byte sizes of all shards but the last.
function writeModel(name, topology, specs, bytes, {format = 'layers-model', generatedBy, convertedBy = null,
  shardNames = ['group1-shard1of1.bin'], split = [], extra = {}} = {}) {
  const dir = path.join(outDir, name);
  fs.mkdirSync(dir, {recursive: true});
  const doc = {};
  if (format !== null) doc.format = format;
  if (generatedBy !== null) doc.generatedBy = generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`;
  if (convertedBy !== undefined && format !== null) doc.convertedBy = convertedBy;
  doc.modelTopology = topology;
  doc.weightsManifest = [{paths: shardNames, weights: specs}];
  Object.assign(doc, extra);
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(doc));
  let off = 0;
  shardNames.forEach((s, i) => {
    const end = i < split.length ? off + split[i] : bytes.length;
    fs.writeFileSync(path.join(dir, s), bytes.subarray(off, end));
    off = end;
  });
  return dir;
}

// ---- quantization (TF.js manifest format) -------------------------------------------------------

function floatToHalf(f) {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setFloat32(0, f);
  const x = buf.getUint32(0);
  const sign = (x >>> 16) & 0x8000;
  let exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = sign | (exp << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return h;
}

function quantize(specs, bytes, dtype, withOriginal) {
  const f32 = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const outSpecs = [], parts = [];
  let off = 0;
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const w = f32.subarray(off, off + n);
    off += n;
    if (dtype === 'float16') {
      const q = new Uint16Array(n);
      for (let i = 0; i < n; ++i) q[i] = floatToHalf(w[i]);
      parts.push(new Uint8Array(q.buffer));
      outSpecs.push({...s, quantization: {dtype: 'float16'}});
      continue;
    }
    const levels = dtype === 'uint8' ? 255 : 65535;
    let mn = Infinity, mx = -Infinity;
    for (const v of w) { mn = Math.min(mn, v); mx = Math.max(mx, v); }
    const scale = mx > mn ? (mx - mn) / levels : 1;
    const q = dtype === 'uint8' ? new Uint8Array(n) : new Uint16Array(n);
    for (let i = 0; i < n; ++i) q[i] = Math.round((w[i] - mn) / scale);
    parts.push(new Uint8Array(q.buffer));
    const quant = {dtype, min: mn, scale};
    if (withOriginal) quant.original_dtype = 'float32';
    outSpecs.push({...s, quantization: quant});
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const all = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { all.set(p, o); o += p.length; }
  return {specs: outSpecs, bytes: all};
}

// ---- dialects -----------------------------------------------------------------------------------

const clone = (x) => JSON.parse(JSON.stringify(x));
const dtypePolicy = {module: 'keras', class_name: 'DTypePolicy', config: {name: 'float32'}, registered_name: null};

// Keras 2 + tensorflowjs_converter 3.x: the h5 model_config wrapper, BN axis as a list.
function toKeras2(topology) {
  const t = clone(topology);
  const visit = (m) => {
    const layers = m.config.layers;
    for (const l of layers) {
      // Keras 2 writes the axis as a positive list; [3] = channels of an NHWC image.
      if (l.class_name === 'BatchNormalization' && l.config.axis === -1 && l === layers[1]) l.config.axis = [3];
      if (l.config.layers) visit(l);
    }
  };
  visit(t);
  return {keras_version: '2.13.1', backend: 'tensorflow', model_config: t};
}

// Keras 3 + converter 4.x.
function toKeras3(topology, specs) {
  const t = clone(topology);
  const layerK3 = (l) => {
    l.module = 'keras.layers';
    l.registered_name = null;
    if (l.config.dtype !== undefined || l.class_name !== 'InputLayer') l.config.dtype = clone(dtypePolicy);
  };
  const shapeToK3 = (cfg) => {
    if (cfg.batch_input_shape) { cfg.batch_shape = cfg.batch_input_shape; delete cfg.batch_input_shape; }
  };
  let modelName;
  if (t.class_name === 'Sequential') {
    modelName = t.config.name = 'sequential';
    const first = t.config.layers[0];
    const batchShape = first.config.batch_input_shape;
    delete first.config.batch_input_shape;
    delete first.config.dtype;
    t.config.layers.forEach(layerK3);
    t.config.layers.unshift({module: 'keras.layers', class_name: 'InputLayer',
      config: {batch_shape: batchShape, dtype: 'float32', sparse: false, name: 'input_layer'}, registered_name: null});
    t.build_config = {input_shape: batchShape};
  } else {
    modelName = t.config.name = 'functional';
    t.class_name = 'Functional';
    const tensor = (ref) => ({class_name: '__keras_tensor__', config: {shape: null, dtype: 'float32', keras_history: [ref[0], ref[1], ref[2]]}});
    for (const l of t.config.layers) {
      layerK3(l);
      if (l.class_name === 'InputLayer') {
        shapeToK3(l.config);
        l.config.dtype = 'float32';
        l.inbound_nodes = [];
        continue;
      }
      l.inbound_nodes = l.inbound_nodes.map((node) => ({
        args: node.length === 1 ? [tensor(node[0])] : [node.map(tensor)],
        kwargs: l.class_name === 'Dense' ? {} : {training: false},
      }));
    }
    t.config.input_layers = t.config.input_layers[0];     // Keras 3 writes one tensor unwrapped
    t.config.output_layers = t.config.output_layers[0];
  }
  t.module = 'keras';
  t.registered_name = null;
  return {topology: {...t, keras_version: '3.5.0', backend: 'tensorflow'},
    specs: specs.map((s) => ({...s, name: `${modelName}/${s.name}`}))};
}

// ---- run ----------------------------------------------------------------------------------------

const fixtures = [];

async function predictFromFiles(topology, specs, bytes, x) {
  const m = await tf.loadLayersModel(tf.io.fromMemory({modelTopology: topology, weightSpecs: specs,
    weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)}));
  const y = m.predict(x);
  const out = Array.from(await y.data());
  y.dispose();
  m.dispose();
  return out;
}

function inputsFor(shape, seedBase, lo, hi) {
  return [1, 3].map((batch, i) => tf.randomUniform([batch, ...shape], lo, hi, 'float32', seedBase + i));
}

// Expected outputs: from `model` itself when given (float weights), else from TF.js loading the
// written files (quantized weights: TF.js dequantizes them its own way).
async function addFixture(name, dir, inputShape, topology, specs, bytes, xs, model = null) {
  const cases = [];
  for (const x of xs) {
    let output;
    if (model) {
      const y = model.predict(x);
      output = Array.from(await y.data());
      y.dispose();
    } else {
      output = await predictFromFiles(topology, specs, bytes, x);
    }
    cases.push({batch: x.shape[0], input: Array.from(await x.data()), output});
  }
  fixtures.push({name, dir: path.relative(outDir, dir), input_shape: inputShape, cases});
}

const t0 = Date.now();
for (const [name, make] of Object.entries(models)) {
  const model = make();
  const inputShape = model.inputs[0].shape.slice(1);
  const tutorial = name.startsWith('tutorial');
  const xs = inputsFor(inputShape, 7 + fixtures.length, tutorial ? 0 : -1, 1);
  const {topology, specs, data} = await artifactsOf(model);
  // tfjs-layers 4.22's SeparableConv2D.getConfig drops depth_multiplier (so TF.js cannot reload its
  // own file); write it as Keras does so the file describes the model that made the outputs.
  model.layers.forEach((l, i) => {
    if (l.getClassName() === 'SeparableConv2D') topology.config.layers[i].config.depth_multiplier = l.depthMultiplier;
  });
  // What model.save wrote; expected outputs from the model in memory. (TF.js 4.22 cannot reload
  // its own SeparableConv2D with depth_multiplier > 1: the reloaded layer ignores it.)
  let dir = writeModel(name, topology, specs, data);
  await addFixture(name, dir, inputShape, topology, specs, data, xs, model);

  if (name === 'tutorial_cnn' || name === 'functional') {
    for (const [q, withOrig] of [['uint8', false], ['uint16', true], ['float16', false]]) {
      const qz = quantize(specs, data, q, withOrig);
      dir = writeModel(`${name}_${q}`, topology, qz.specs, qz.bytes,
        {generatedBy: 'keras v2.13.1', convertedBy: 'TensorFlow.js Converter v3.21.0'});
      await addFixture(`${name}_${q}`, dir, inputShape, topology, qz.specs, qz.bytes, xs);
    }
  }
  if (['tutorial_cnn', 'tutorial_dense', 'functional', 'batchnorm', 'nested', 'separable'].includes(name)) {
    const k2 = toKeras2(topology);
    dir = writeModel(`${name}_keras2`, k2, specs, data,
      {generatedBy: 'keras v2.13.1', convertedBy: 'TensorFlow.js Converter v3.21.0'});
    fixtures.push({...fixtures.find((f) => f.name === name), name: `${name}_keras2`, dir: path.relative(outDir, dir)});
  }
  if (['tutorial_cnn_dropout', 'functional', 'batchnorm', 'depthwise', 'activations'].includes(name)) {
    const k3 = toKeras3(topology, specs);
    dir = writeModel(`${name}_keras3`, k3.topology, k3.specs, data,
      {generatedBy: 'keras v3.5.0', convertedBy: 'TensorFlow.js Converter v4.22.0'});
    fixtures.push({...fixtures.find((f) => f.name === name), name: `${name}_keras3`, dir: path.relative(outDir, dir)});
  }
  if (name === 'tutorial_cnn') {
    // Old files: no format/generatedBy/convertedBy, shards without '.bin', a weight straddling shards.
    dir = writeModel(`${name}_old`, topology, specs, data, {format: null, generatedBy: null,
      shardNames: ['group1-shard1of3', 'group1-shard2of3', 'group1-shard3of3'], split: [1001, 150003]});
    fixtures.push({...fixtures.find((f) => f.name === name), name: `${name}_old`, dir: path.relative(outDir, dir)});
  }
  xs.forEach((x) => x.dispose());
  model.dispose();
}

// ---- what other people's tools write -----------------------------------------------------------
// Files as other Keras / converter versions spell them, each with the reference it can have:
// TF.js's outputs for the written file where TF.js loads it ("reference": "tfjs-file"; those are
// also checked here against the model they were written from), else TF.js's outputs for the model
// the file was written from ("tfjs-source-model", with the reason TF.js refuses the file): the file
// holds that model's weights and graph under other names or syntax, so its outputs are the same.

async function addDialectFixture(name, source, topology, specs, bytes, extra = {}) {
  const dir = writeModel(name, topology, specs, bytes, {generatedBy: extra.generatedBy ?? 'keras v3.8.0',
    convertedBy: extra.convertedBy ?? 'TensorFlow.js Converter v4.22.0'});
  const {model, xs, inputShape} = source;
  let reference = 'tfjs-file', note;
  try {
    for (const x of xs) {
      const fromFile = await predictFromFiles(topology, specs, bytes, x);
      const y = model.predict(x);
      const want = await y.data();
      y.dispose();
      const off = fromFile.findIndex((v, i) => !(Math.abs(v - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i]))));
      if (fromFile.length !== want.length || off >= 0)
        throw new Error(`gen_fixtures: ${name}: TF.js reads the written file differently from its source model (output ${off})`);
    }
  } catch (e) {
    if (String(e.message).startsWith('gen_fixtures:')) throw e;
    reference = 'tfjs-source-model';
    note = String(e.message).slice(0, 240);
  }
  await addFixture(name, dir, inputShape, topology, specs, bytes, xs, reference === 'tfjs-file' ? null : model);
  Object.assign(fixtures[fixtures.length - 1], {reference}, note ? {reference_note: note} : {},
    extra.layerAliases ? {layer_aliases: extra.layerAliases} : {});
}

// A model, its inputs and its saved artifacts.
async function sourceOf(model, seedBase) {
  const inputShape = model.inputs[0].shape.slice(1);
  const xs = inputsFor(inputShape, seedBase, -1, 1);
  return {model, xs, inputShape, ...(await artifactsOf(model))};
}
const disposeSource = (src) => { src.xs.forEach((x) => x.dispose()); src.model.dispose(); };

// Keras' own snake_case of a class name (keras.utils.to_snake_case): Conv2D -> conv2d.
const kerasSnake = (cls) => cls.replace(/(.)([A-Z][a-z]+)/g, '$1_$2').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();

// Renames a Sequential's layers as Keras names them: counted per class from 0 (Keras >= 2.1:
// conv2d, conv2d_1, ...) or from 1 (Keras 2.0: conv2d_1, conv2d_2, ...). Returns old -> new.
function kerasNames(topology, fromOne) {
  const count = {}, map = {};
  for (const l of topology.config.layers) {
    const base = kerasSnake(l.class_name), n = count[base] ?? (fromOne ? 1 : 0);
    count[base] = n + 1;
    map[l.config.name] = n === 0 ? base : `${base}_${n}`;
    l.config.name = map[l.config.name];
  }
  return map;
}
const renameSpecs = (specs, fn) => specs.map((s) => {
  const cut = s.name.lastIndexOf('/');
  return {...s, name: fn(s.name.slice(0, cut), s.name.slice(cut + 1))};
});

// Keras 3 spelling of a whole topology, nested models included: Functional for Model, args/kwargs
// inbound nodes, batch_shape, module/registered_name, DTypePolicy dtypes; `custom` renames classes
// (a Keras subclass: {DepthwiseConv2D: 'Keras2toKeras3DepthwiseConv2D'}).
function keras3Deep(model, custom = {}) {
  const tensor = (ref) => ({class_name: '__keras_tensor__', config: {shape: null, dtype: 'float32', keras_history: [ref[0], ref[1], ref[2]]}});
  const visit = (m) => {
    m.module = 'keras';
    m.registered_name = null;
    if (m.class_name === 'Model') m.class_name = 'Functional';
    const functional = m.class_name === 'Functional';
    for (const l of m.config.layers) {
      if (l.inbound_nodes) {
        l.inbound_nodes = l.inbound_nodes.map((node) => ({args: node.length === 1 ? [tensor(node[0])] : [node.map(tensor)], kwargs: {}}));
      }
      if (l.config.layers) { visit(l); continue; }
      l.module = 'keras.layers';
      l.registered_name = null;
      if (l.config.batch_input_shape) { l.config.batch_shape = l.config.batch_input_shape; delete l.config.batch_input_shape; }
      l.config.dtype = l.class_name === 'InputLayer' ? 'float32' : clone(dtypePolicy);
      if (custom[l.class_name]) {
        l.class_name = custom[l.class_name];
        l.module = null;
        l.registered_name = l.class_name;
      }
    }
    if (functional) {
      m.config.input_layers = m.config.input_layers[0];
      m.config.output_layers = m.config.output_layers[0];
    }
  };
  const t = clone(model);
  visit(t);
  return {...t, keras_version: '3.10.0', backend: 'tensorflow'};
}

const dialectSeed = 500;

// Every InputLayer spelling (DESIGN contract 3: the core loads what Keras + the converters write).
{
  const src = await sourceOf(models.functional(), dialectSeed);
  const inputCfg = (t) => t.config.layers.find((l) => l.class_name === 'InputLayer').config;
  const variants = {
    // Keras 3.8 + converter 4.22: tfjs-layers' camelCase batchInputShape, DTypePolicy objects and
    // module/registered_name on every layer, Keras 2 style inbound nodes (TF.js loads it).
    functional_converter_batchInputShape: () => {
      const t = clone(src.topology);
      for (const l of t.config.layers) {
        l.module = 'keras.layers';
        l.registered_name = null;
        l.config.dtype = clone(dtypePolicy);
      }
      const c = inputCfg(t);
      c.batchInputShape = c.batch_input_shape;
      delete c.batch_input_shape;
      c.dtype = 'float32';  // Keras 3 writes the InputLayer's as a string (TF.js 4.22 refuses a policy there)
      return {topology: {...t, module: 'keras', registered_name: null, keras_version: '3.8.0', backend: 'tensorflow'}, specs: src.specs};
    },
    input_inputShape: () => {
      const t = clone(src.topology), c = inputCfg(t);
      c.inputShape = c.batch_input_shape.slice(1);
      delete c.batch_input_shape;
      return {topology: t, specs: src.specs};
    },
    input_input_shape_batch_size: () => {
      const t = clone(src.topology), c = inputCfg(t);
      c.input_shape = c.batch_input_shape.slice(1);
      c.batch_size = 3;
      delete c.batch_input_shape;
      return {topology: t, specs: src.specs};
    },
  };
  for (const [name, make] of Object.entries(variants)) {
    const {topology, specs} = make();
    await addDialectFixture(name, src, topology, specs, src.data);
  }
  disposeSource(src);
}
{
  // A Sequential whose first layer carries the shape as tfjs-layers' inputShape.
  const src = await sourceOf(models.tutorial_dense(), dialectSeed + 2);
  const t = clone(src.topology), c = t.config.layers[0].config;
  c.inputShape = c.batch_input_shape.slice(1);
  delete c.batch_input_shape;
  await addDialectFixture('tutorial_dense_inputShape', src, t, src.specs, src.data);
  disposeSource(src);
}

// Weight names a converter renamed. Keras 2.0 named layers from 1 (batch_normalization_1) and
// tensorflowjs_converter 3.x added "_1" to every weight's layer name (batch_normalization_1_1/gamma);
// with Keras >= 2.1's names (batch_normalization, batch_normalization_1) the same suffix makes
// "batch_normalization_1/gamma" the weight of the layer batch_normalization, not of the layer
// named so: the core works it out by elimination.
{
  const src = await sourceOf(models.batchnorm(), dialectSeed + 4);
  for (const [name, fromOne] of [['batchnorm_converter_suffix_keras20', true], ['batchnorm_converter_suffix', false]]) {
    const t = clone(src.topology);
    const map = kerasNames(t, fromOne);
    const specs = renameSpecs(src.specs, (layer, kind) => `${map[layer]}_1/${kind}`);
    await addDialectFixture(name, src, toKeras2(t), specs, src.data, {generatedBy: 'keras v2.0.5', convertedBy: 'TensorFlow.js Converter v3.18.0'});
  }
  disposeSource(src);
}
{
  // Nested-model scopes in front of the names (and one suffix): features/<conv>, head/<dense>, outer/<dense>_1.
  const src = await sourceOf(models.nested(), dialectSeed + 6);
  const scope = {};
  for (const l of src.topology.config.layers) {
    if (l.config.layers) for (const inner of l.config.layers) scope[inner.config.name ?? inner.name] = l.config.name;
  }
  let n = 0;
  const specs = renameSpecs(src.specs, (layer, kind) => (scope[layer] ? `outer/${scope[layer]}/${layer}/${kind}` : `outer/${layer}${n++ < 2 ? '_1' : ''}/${kind}`));
  await addDialectFixture('nested_scoped', src, src.topology, specs, src.data);
  disposeSource(src);
}

// A subclass of a layer the core runs, inside models nested three deep, Keras 3 throughout: what
// Teachable Machine's image models look like re-saved with Keras 3 (a Functional MobileNet-style
// backbone inside a Sequential, DepthwiseConv2D as the Keras2toKeras3DepthwiseConv2D subclass).
// Loads with the alias the fixture names (layer_aliases); refused without it.
{
  const dwArgs = () => ({depthwiseInitializer: glorot(), biasInitializer: unif(-0.3, 0.3)});
  const bin = tf.input({shape: [6, 6, 4], name: 'block_in'});
  const d1 = tf.layers.depthwiseConv2d({kernelSize: 3, padding: 'same', activation: 'relu6', name: 'block_dw', ...dwArgs()}).apply(bin);
  const b1 = tf.layers.batchNormalization({name: 'block_bn', gammaInitializer: unif(0.5, 1.5), betaInitializer: unif(-0.5, 0.5),
    movingMeanInitializer: unif(-0.5, 0.5), movingVarianceInitializer: unif(0.3, 2.0)}).apply(d1);
  const p1 = tf.layers.conv2d({filters: 4, kernelSize: 1, name: 'block_project', ...W()}).apply(b1);
  const block = tf.model({name: 'block', inputs: bin, outputs: tf.layers.add({name: 'block_add'}).apply([bin, p1])});
  const kin = tf.input({shape: [8, 8, 3], name: 'backbone_in'});
  const k1 = tf.layers.conv2d({filters: 4, kernelSize: 3, activation: 'relu', name: 'stem', ...W()}).apply(kin);
  const k2 = block.apply(k1);
  const k3 = tf.layers.depthwiseConv2d({kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, name: 'backbone_dw', ...dwArgs()}).apply(k2);
  const backbone = tf.model({name: 'backbone', inputs: kin, outputs: k3});
  const outer = tf.sequential({name: 'sequential', layers: [backbone, tf.layers.globalAveragePooling2d({name: 'pool'}),
    tf.layers.dense({units: 2, activation: 'softmax', name: 'probs', ...W()})]});
  const src = await sourceOf(outer, dialectSeed + 8);
  // TF.js may load the subclass when it knows it: registered under the custom name.
  const Depthwise = Object.getPrototypeOf(tf.layers.depthwiseConv2d({kernelSize: 1})).constructor;
  class Keras2toKeras3DepthwiseConv2D extends Depthwise { static className = 'Keras2toKeras3DepthwiseConv2D'; }
  tf.serialization.registerClass(Keras2toKeras3DepthwiseConv2D);
  const topology = keras3Deep(src.topology, {DepthwiseConv2D: 'Keras2toKeras3DepthwiseConv2D'});
  const paths = {};
  const walk = (m, prefix) => {
    for (const l of m.config.layers) {
      if (l.config.layers) walk(l, `${prefix}${l.config.name}/`);
      else paths[l.config.name ?? l.name] = prefix;
    }
  };
  walk(src.topology, 'sequential/');
  const specs = renameSpecs(src.specs, (layer, kind) => `${paths[layer] ?? ''}${layer}/${kind}`);
  await addDialectFixture('keras3_nested_subclass', src, topology, specs, src.data, {generatedBy: 'keras v3.10.0',
    layerAliases: {Keras2toKeras3DepthwiseConv2D: 'DepthwiseConv2D'}});
  disposeSource(src);
}

// Shared layers: one conv and one dense each called twice (two inbound nodes), tfjs-layers' own
// file and its Keras 3 spelling.
{
  const inp = tf.input({shape: [6, 6, 2], name: 'image'});
  const conv = tf.layers.conv2d({filters: 2, kernelSize: 3, padding: 'same', name: 'shared_conv', ...W()});
  const c1 = conv.apply(inp);
  const r1 = tf.layers.reLU({name: 'relu'}).apply(c1);
  const c2 = conv.apply(r1);
  const sum = tf.layers.add({name: 'sum'}).apply([c1, c2]);
  const f = tf.layers.flatten({name: 'flat'}).apply(sum);
  const proj = tf.layers.dense({units: 8, name: 'proj', ...W()}).apply(f);
  const dense = tf.layers.dense({units: 8, activation: 'tanh', name: 'shared_dense', ...W()});
  const out = tf.layers.dense({units: 3, name: 'out', ...W()}).apply(dense.apply(dense.apply(proj)));
  const src = await sourceOf(tf.model({inputs: inp, outputs: out}), dialectSeed + 10);
  await addDialectFixture('shared_layers', src, src.topology, src.specs, src.data, {generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`, convertedBy: null});
  const k3 = toKeras3(src.topology, src.specs);
  await addDialectFixture('shared_layers_keras3', src, k3.topology, k3.specs, src.data);
  disposeSource(src);
}

fs.writeFileSync(path.join(outDir, 'fixtures.json'), JSON.stringify({tfjs: tf.version.tfjs, fixtures}));
console.error(`gen_fixtures: ${fixtures.length} fixtures in ${((Date.now() - t0) / 1000).toFixed(1)} s -> ${outDir}`);
