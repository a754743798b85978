// marks-export.js — marked frames -> a zip of 8-bit gray PNGs, one folder per class: Cat/ and Dog/
// (the class folder names `catdog prepare --images` reads), neither/, and any other class under its
// own label (the core refuses a label that is no safe folder name; a stored mark is checked again).
// Each PNG holds the stored bytes exactly (no canvas, no color management): one filter-0 row after
// another, deflated by fflate. Loaded only when the user exports, so the zip library is not part of
// the live page's weight.
import { zipSync, zlibSync } from './vendor/fflate.js';

const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

// An 8-bit grayscale PNG of `gray` (width * height bytes, row-major).
export function grayPng(gray, width, height) {
  if (gray.length !== width * height) throw new Error(`grayPng: ${gray.length} bytes for ${width}x${height}`);
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8;   // bit depth
  ihdr[9] = 0;   // color type: grayscale
  const raw = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) raw.set(gray.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const parts = [Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), chunk('IHDR', ihdr),
    chunk('IDAT', zlibSync(raw, { level: 9 })), chunk('IEND', new Uint8Array(0))];
  const png = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { png.set(p, at); at += p.length; }
  return png;
}

// The zip folder of a mark's class: Cat, Dog, else the class itself ('neither', a model's label),
// or null when it is no safe folder name (empty, '.', '..', a '/' or '\\', a control character).
export function folderOf(cls) {
  const f = cls === 'cat' ? 'Cat' : cls === 'dog' ? 'Dog' : cls;
  return typeof f === 'string' && /^(?!\.\.?$)[^/\\\0-\x1f\x7f]+$/.test(f) ? f : null;
}

// records: [{id, cls: 'cat'|'dog'|'neither'|label, size, input: Uint8Array}] -> Blob (application/zip).
export function marksZip(records) {
  const files = {};
  for (const r of records) {
    const folder = folderOf(r.cls);
    if (!folder) throw new Error(`marked frame ${r.id}: class '${r.cls}' is no folder name`);
    const input = r.input instanceof Uint8Array ? r.input : Uint8Array.from(r.input);
    files[`${folder}/mark-${String(r.id).padStart(6, '0')}.png`] = [grayPng(input, r.size, r.size), { level: 0 }];
  }
  return new Blob([zipSync(files)], { type: 'application/zip' });
}

// Saves the zip of `records` as catdog-marks-<date>-<time>.zip (a download).
export function downloadZip(records) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(marksZip(records));
  a.download = `catdog-marks-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.zip`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}
