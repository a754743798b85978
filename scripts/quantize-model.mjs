#!/usr/bin/env node
// Quantizes an exported TF.js layers model's float32 weights the way tensorflowjs_converter's
// --quantize_uint8 / --quantize_uint16 / --quantize_float16 do: per tensor, affine
// {dtype, min, scale} for integers (value = min + q * scale), IEEE half for float16. Writes a new
// model folder (temp folder + rename, so nothing half-written is left) with the same topology and
// userDefinedMetadata, noting the quantization there. Golden input->output pairs were computed
// with float32 weights, so they are kept with a tolerance suited to the quantization.
//
//   node scripts/quantize-model.mjs --in DIR --out DIR --dtype uint8|uint16|float16
import { readFileSync, writeFileSync, mkdirSync, renameSync, rmSync, existsSync } from 'node:fs';
import { join, dirname, basename } from 'node:path';

function die(msg) { console.error(`quantize-model: ${msg}`); process.exit(2); }
const args = process.argv.slice(2);
const opt = {};
for (let i = 0; i < args.length; i += 2) {
  if (!['--in', '--out', '--dtype'].includes(args[i])) die(`unknown argument '${args[i]}'`);
  opt[args[i].slice(2)] = args[i + 1];
}
if (!opt.in || !opt.out || !['uint8', 'uint16', 'float16'].includes(opt.dtype))
  die('usage: --in DIR --out DIR --dtype uint8|uint16|float16');

const jsonPath = join(opt.in, 'model.json');
let model;
try { model = JSON.parse(readFileSync(jsonPath, 'utf8')); } catch (e) { die(`${jsonPath}: ${e.message}`); }
if (!Array.isArray(model.weightsManifest)) die(`${jsonPath}: no weightsManifest`);

// Concatenate every shard in manifest order, then walk the weight specs.
const chunks = [];
for (const group of model.weightsManifest)
  for (const p of group.paths) {
    const f = join(opt.in, p);
    if (!existsSync(f)) die(`${jsonPath}: weight file ${f} is missing`);
    chunks.push(readFileSync(f));
  }
const all = Buffer.concat(chunks);
let offset = 0;
const specs = [];
const parts = [];
for (const group of model.weightsManifest) {
  for (const w of group.weights) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    if (w.dtype !== 'float32' || w.quantization) die(`${jsonPath}: weight ${w.name} is not plain float32`);
    if (offset + 4 * n > all.length) die(`${jsonPath}: weight files are shorter than the manifest (${w.name})`);
    const v = new Float32Array(all.buffer.slice(all.byteOffset + offset, all.byteOffset + offset + 4 * n));
    offset += 4 * n;
    const spec = { name: w.name, shape: w.shape, dtype: 'float32' };
    if (opt.dtype === 'float16') {
      const h = new Uint16Array(n);
      for (let i = 0; i < n; ++i) h[i] = toHalf(v[i]);
      spec.quantization = { dtype: 'float16', original_dtype: 'float32' };
      parts.push(Buffer.from(h.buffer));
    } else {
      let lo = Infinity, hi = -Infinity;
      for (const x of v) { if (x < lo) lo = x; if (x > hi) hi = x; }
      if (n === 0) { lo = 0; hi = 0; }
      const levels = opt.dtype === 'uint8' ? 255 : 65535;
      const scale = hi > lo ? (hi - lo) / levels : 1;
      const q = opt.dtype === 'uint8' ? new Uint8Array(n) : new Uint16Array(n);
      for (let i = 0; i < n; ++i) q[i] = Math.max(0, Math.min(levels, Math.round((v[i] - lo) / scale)));
      spec.quantization = { dtype: opt.dtype, min: lo, scale, original_dtype: 'float32' };
      parts.push(Buffer.from(q.buffer, q.byteOffset, q.byteLength));
    }
    specs.push(spec);
  }
}
if (offset !== all.length) die(`${jsonPath}: weight files hold ${all.length - offset} bytes more than the manifest names`);

// Shards of at most 4 MiB, named like the converter's.
const data = Buffer.concat(parts);
const shardSize = 4 << 20;
const count = Math.max(1, Math.ceil(data.length / shardSize));
const paths = [];
for (let k = 0; k < count; ++k) paths.push(`group1-shard${k + 1}of${count}.bin`);
model.weightsManifest = [{ paths, weights: specs }];
const meta = model.userDefinedMetadata?.catdog;
if (meta) {
  meta.quantization = opt.dtype;
  meta.golden_tolerance = opt.dtype === 'uint8' ? 0.05 : opt.dtype === 'uint16' ? 1e-3 : 1e-2;
  // The self-check block holds the old shards' SHA-256 and float32 outputs: it no longer applies.
  // `catdog seal --model OUT` computes a new one on the quantized weights.
  if (meta.selfcheck) {
    delete meta.selfcheck;
    console.log(`${opt.out}: selfcheck block dropped (it described the float32 weights); run: catdog seal --model ${opt.out}`);
  }
}
const tmp = join(dirname(opt.out), `.${basename(opt.out)}.tmp${process.pid}`);
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
for (let k = 0; k < count; ++k) writeFileSync(join(tmp, paths[k]), data.subarray(k * shardSize, (k + 1) * shardSize));
writeFileSync(join(tmp, 'model.json'), JSON.stringify(model));
rmSync(opt.out, { recursive: true, force: true });
renameSync(tmp, opt.out);
console.log(`${opt.out}: ${specs.length} weights, ${data.length} bytes (${opt.dtype}), ${count} shard(s)`);

function toHalf(f) {  // float32 -> IEEE 754 binary16, round to nearest even
  const b = new DataView(new ArrayBuffer(4)); b.setFloat32(0, f); const x = b.getUint32(0);
  const sign = (x >>> 16) & 0x8000; let exp = (x >>> 23) & 0xff; let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000; const shift = 14 - e; let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return h;
}
