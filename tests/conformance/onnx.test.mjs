// `catdog convert MODEL --to onnx`: every model in web/models/index.json is
// converted by the native binary and run in ONNX Runtime (npm onnxruntime-web, its wasm backend in
// node). Its outputs must agree within 1e-4 with
//  * each self-check golden whose image is the model input itself (gray8, stretch, input size:
//    pixels / 255, docs/MODEL_FORMAT.md), against the golden's recorded `expected`, and
//  * the core (`catdog infer`, reference backend) on the same goldens plus seeded random inputs,
//    run as one batch (the ONNX batch dimension is free).
// The file's metadata_props are read back with a small protobuf reader (independent of the C++
// writer) and checked against model.json. Fails (never skips) when the binary is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.resolve(process.env.CATDOG_CLI || path.join(repoRoot, 'build/native/catdog'));
const modelsDir = path.join(repoRoot, 'web/models');
const TOL = 1e-4;
const RANDOM_INPUTS = 3;

ort.env.wasm.numThreads = 1;

function requireCli() {
  if (!existsSync(cli)) {
    throw new Error(`missing native CLI ${cli}: build it with ` +
      '`cmake --preset native && ninja -C build/native catdog` (or set CATDOG_CLI)');
  }
}

// ---- a minimal protobuf reader: just enough to walk ModelProto's top-level fields ----
function readVarint(buf, pos) {
  let v = 0n, shift = 0n;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw new Error('truncated varint');
    v |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return [v, pos];
    shift += 7n;
  }
}
function fields(buf) {
  const out = [];
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Number(key >> 3n), wire = Number(key & 7n);
    if (wire === 0) { let v; [v, pos] = readVarint(buf, pos); out.push({ field, value: v }); }
    else if (wire === 2) {
      let n; [n, pos] = readVarint(buf, pos);
      const end = pos + Number(n);
      if (end > buf.length) throw new Error(`field ${field}: length ${n} past the end`);
      out.push({ field, bytes: buf.subarray(pos, end) });
      pos = end;
    } else if (wire === 5) { out.push({ field, bytes: buf.subarray(pos, pos + 4) }); pos += 4; }
    else if (wire === 1) { out.push({ field, bytes: buf.subarray(pos, pos + 8) }); pos += 8; }
    else throw new Error(`wire type ${wire} at ${pos}`);
  }
  if (pos !== buf.length) throw new Error('trailing bytes');
  return out;
}
function modelHeader(bytes) {
  const top = fields(bytes);
  const text = (f) => Buffer.from(f.bytes).toString('utf8');
  const meta = {};
  for (const f of top.filter((x) => x.field === 14)) {  // metadata_props
    const kv = fields(f.bytes);
    meta[text(kv.find((x) => x.field === 1))] = text(kv.find((x) => x.field === 2));
  }
  const opsets = top.filter((x) => x.field === 8).map((f) => {
    const o = fields(f.bytes);
    const d = o.find((x) => x.field === 1);
    return { domain: d ? text(d) : '', version: Number(o.find((x) => x.field === 2).value) };
  });
  return {
    ir: Number(top.find((x) => x.field === 1).value),
    producer: text(top.find((x) => x.field === 2)),
    opsets, meta,
  };
}

// The raw pixels of a golden that is the model input itself, / 255; null for the others.
function directInput(g, size) {
  if (g.format !== 'gray8' || g.fit !== 'stretch' || g.width !== size || g.height !== size) return null;
  const px = Buffer.from(g.pixels_base64, 'base64');
  assert.equal(px.length, size * size, `${g.name}: pixel count`);
  return Float32Array.from(px, (v) => v / 255);
}

function seededInputs(n, count, seed) {
  let s = seed >>> 0 || 1;
  const out = [];
  for (let k = 0; k < count; ++k) {
    const a = new Float32Array(n);
    for (let i = 0; i < n; ++i) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; a[i] = (s % 256) / 255; }
    out.push(a);
  }
  return out;
}

const index = JSON.parse(await fs.readFile(path.join(modelsDir, 'index.json'), 'utf8'));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'catdog-onnx-'));
const worst = { diff: 0, where: '' };

test('index.json lists the shipped models', () => {
  assert.ok(index.models.length >= 1);
});

for (const entry of index.models) {
  test(`ONNX of ${entry.id} agrees with the goldens and the core within ${TOL}`, async () => {
    requireCli();
    const dir = path.dirname(path.join(modelsDir, entry.path));
    const jsonText = await fs.readFile(path.join(dir, 'model.json'));
    const mj = JSON.parse(jsonText);
    const cd = mj.userDefinedMetadata.catdog;
    const size = cd.input_size;
    const out = path.join(tmp, `${entry.id}.onnx`);
    await run(cli, ['convert', dir, '--to', 'onnx', '--out', out, '--force']);

    const bytes = await fs.readFile(out);
    const h = modelHeader(bytes);
    assert.equal(h.producer, 'catdog');
    assert.ok(h.ir >= 7, `ir_version ${h.ir}`);
    assert.deepEqual(h.opsets, [{ domain: '', version: 13 }]);
    assert.equal(h.meta['catdog.source_model_json_sha256'], createHash('sha256').update(jsonText).digest('hex'));
    assert.deepEqual(JSON.parse(h.meta['catdog.labels']), cd.labels);
    assert.equal(Number(h.meta['catdog.input_size']), size);
    assert.equal(h.meta['catdog.fit'], cd.fit);
    assert.equal(h.meta['catdog.gray'], cd.gray);
    assert.equal(h.meta['catdog.input_scale'], cd.input_scale);
    if (cd.threshold === undefined) assert.equal(h.meta['catdog.threshold'], undefined, 'a K-class model has no threshold');
    else assert.equal(Number(h.meta['catdog.threshold']), cd.threshold);
    // K classes: the class offsets beside the temperature (catdog::Classify's formula).
    if (cd.calibration?.class_bias) assert.deepEqual(JSON.parse(h.meta['catdog.calibration_class_bias']), cd.calibration.class_bias);
    else assert.equal(h.meta['catdog.calibration_class_bias'], undefined);
    if (cd.calibration) assert.equal(Number(h.meta['catdog.calibration_temperature']), cd.calibration.temperature);
    else assert.equal(h.meta['catdog.calibration_temperature'], undefined);
    assert.deepEqual(JSON.parse(h.meta['catdog.preprocess']), cd.selfcheck.preprocess);

    const session = await ort.InferenceSession.create(bytes);
    assert.deepEqual(session.inputNames, ['input']);
    assert.deepEqual(session.outputNames, ['output']);

    const n = size * size * cd.channels;
    const goldens = cd.selfcheck.goldens.map((g) => ({ g, x: directInput(g, size) })).filter((v) => v.x);
    assert.ok(goldens.length >= 1, `${entry.id}: no golden is a ${size}x${size} gray8 stretch image`);
    const inputs = [...goldens.map((v) => v.x), ...seededInputs(n, RANDOM_INPUTS, 0x5eed + entry.id.length)];
    const batch = new Float32Array(inputs.length * n);
    inputs.forEach((x, i) => batch.set(x, i * n));

    const res = await session.run({ input: new ort.Tensor('float32', batch, [inputs.length, size, size, cd.channels]) });
    const y = res.output.data;
    const per = y.length / inputs.length;
    const units = cd.labels.length > 2 ? cd.labels.length : 1;  // one sigmoid, or K softmax units
    assert.equal(per, units, `${entry.id}: ${units} output(s) per sample`);

    // The core on the same batch.
    const inFile = path.join(tmp, `${entry.id}.f32`);
    await fs.writeFile(inFile, Buffer.from(batch.buffer));
    const { stdout } = await run(cli, ['infer', '--model', dir, '--input', inFile, '--backend', 'reference',
      '--shape', `${inputs.length},${size},${size},${cd.channels}`], { maxBuffer: 1 << 24 });
    const core = JSON.parse(stdout).output;
    assert.equal(core.length, y.length);

    let maxDiff = 0;
    goldens.forEach(({ g }, i) => {
      for (let u = 0; u < units; ++u) {
        const d = Math.abs(y[i * units + u] - g.expected[u]);
        maxDiff = Math.max(maxDiff, d);
        assert.ok(d <= TOL, `${entry.id} golden '${g.name}' output ${u}: ONNX ${y[i * units + u]} vs expected ${g.expected[u]} (|d| = ${d})`);
      }
    });
    for (let i = 0; i < y.length; ++i) {
      const d = Math.abs(y[i] - core[i]);
      maxDiff = Math.max(maxDiff, d);
      assert.ok(d <= TOL, `${entry.id} sample ${i}: ONNX ${y[i]} vs core ${core[i]} (|d| = ${d})`);
    }
    if (maxDiff > worst.diff) Object.assign(worst, { diff: maxDiff, where: entry.id });
    console.log(`onnx ${entry.id}: ${goldens.length} goldens + ${RANDOM_INPUTS} random inputs, ` +
      `max |ONNX - (expected, core)| = ${maxDiff.toExponential(2)}, ${bytes.length} bytes`);
  });
}

test('largest difference over all models', () => {
  console.log(`onnx: largest |ONNX Runtime - (golden expected, core)| = ${worst.diff.toExponential(2)} (${worst.where})`);
  assert.ok(worst.diff <= TOL);
});

test.after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});
