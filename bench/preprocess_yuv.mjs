#!/usr/bin/env node
// A camera frame (640x480) into the model input through the wasm core, two ways: I420 planes
// converted by the core (catdog_preprocess_yuv: yuv_to_rgba + preprocess, what the page does with
// camera VideoFrames) and RGBA (catdog_preprocess, what the browser's copyTo(RGBA) fed before).
// Median of 40 calls, 3 rounds. A benchmark: it prints numbers, it never fails on a time.
//   node --no-experimental-fetch bench/preprocess_yuv.mjs      (needs build/wasm/site)
import { loadWasmCore, loadWasmModel, defaultModel } from '../tests/web/helpers.mjs';

const core = await loadWasmCore();
const { file } = await defaultModel();
const m = await loadWasmModel(core, file);
const w = 640, h = 480, n = (w * h * 3) / 2;
const yuv = new Uint8Array(n).map((_, i) => (Math.imul(i, 2654435761) >>> 24) & 255);
const rgba = new Uint8Array(w * h * 4).map((_, i) => (Math.imul(i, 40503) >>> 8) & 255);
const median = (f) => {
  const t = [];
  for (let r = 0; r < 40; r++) { const a = performance.now(); f(); t.push(performance.now() - a); }
  return t.sort((a, b) => a - b)[20];
};
for (let round = 0; round < 3; round++) {
  const ty = median(() => { m.imageBuffer(n).set(yuv); m.preprocessStaged(w, h, { format: 'i420' }); });
  const tr = median(() => { m.imageBuffer(rgba.length).set(rgba); m.preprocessStaged(w, h, { format: 'rgba' }); });
  console.log(`640x480: I420 -> model input ${ty.toFixed(2)} ms, RGBA -> model input ${tr.toFixed(2)} ms`);
}
m.dispose();
