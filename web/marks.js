// marks.js — the correction loop's browser half: "c" / "d" (or the buttons) mark the current frame
// as a cat / a dog. What is kept is the model's own input of that frame (the 8-bit gray bytes the
// core's preprocess produced; the model was fed exactly these / 255), in IndexedDB so marks
// survive a reload. Export (marks-export.js, loaded on demand) writes a zip of gray PNGs in the
// Cat/ Dog/ folder layout that `catdog prepare --images` reads.
// Test hook: window.__catdog.marks = { all() -> [{id, cls, size, input: number[], model, pDog}], count() }.
import { register, scoped } from './i18n.js';
import PAGE_TEXT from './i18n/page.js';

register('marks', PAGE_TEXT.marks);
const DB = 'catdog-marks';
const STORE = 'frames';

const req = (r) => new Promise((resolve, reject) => {
  r.onsuccess = () => resolve(r.result);
  r.onerror = () => reject(r.error);
});

function openDb() {
  const r = indexedDB.open(DB, 1);
  r.onupgradeneeded = () => r.result.createObjectStore(STORE, { keyPath: 'id', autoIncrement: true });
  return req(r);
}

export function createMarks(ctx) {
  const { $ } = ctx;
  const tx = scoped('marks');
  const counts = { cat: 0, dog: 0 };
  let note = null;  // a one-off line instead of the count (no frame yet, storage error)
  let lastMark = null;  // the newest mark of this visit: shown as a thumbnail, with Undo
  const touch = matchMedia('(hover: none) and (pointer: coarse)').matches;  // no keyboard hints on phones
  const dbp = openDb();
  const store = async (mode) => (await dbp).transaction(STORE, mode).objectStore(STORE);

  async function all() {
    return req((await store('readonly')).getAll());
  }
  async function recount() {
    const recs = await all();
    counts.cat = recs.filter((r) => r.cls === 'cat').length;
    counts.dog = recs.length - counts.cat;
    render();
  }

  async function mark(cls) {
    const d = ctx.debug;
    if (!d.lastInput) {
      note = tx('noFrame');
      render();
      return null;
    }
    const rec = { cls, size: Math.round(Math.sqrt(d.lastInput.length)), input: new Uint8Array(d.lastInput),
      model: d.model, pDog: d.last?.pDog ?? null, t: Date.now() };
    try {
      rec.id = await req((await store('readwrite')).add(rec));
    } catch (e) {
      note = tx('error', e.message || e.name);
      render();
      return null;
    }
    note = null;
    counts[cls]++;
    lastMark = rec;
    render();
    return rec.id;
  }

  // Removes the newest mark of this visit (the one the thumbnail shows).
  async function undo() {
    if (!lastMark) return;
    const rec = lastMark;
    lastMark = null;
    await req((await store('readwrite')).delete(rec.id));
    await recount();
  }

  function drawThumb(rec) {
    const c = $('mark-thumb');
    if (c.width !== rec.size) { c.width = rec.size; c.height = rec.size; }
    const img = new ImageData(rec.size, rec.size);
    rec.input.forEach((g, i) => { img.data[4 * i] = g; img.data[4 * i + 1] = g; img.data[4 * i + 2] = g; img.data[4 * i + 3] = 255; });
    c.getContext('2d').putImageData(img, 0, 0);
  }

  async function exportZip() {
    const recs = await all();
    if (recs.length) (await import('./marks-export.js')).downloadZip(recs);
  }

  async function clear() {
    const n = counts.cat + counts.dog;
    if (!n || !confirm(tx('confirm', n))) return;
    await req((await store('readwrite')).clear());
    lastMark = null;
    await recount();
  }

  function render() {
    const el = $('mark-count');
    const n = counts.cat + counts.dog;
    el.dataset.cat = String(counts.cat);
    el.dataset.dog = String(counts.dog);
    el.textContent = note ?? (n ? tx('count', counts.cat, counts.dog) : tx(touch ? 'noneTouch' : 'none'));
    $('export-marks').disabled = !n;
    $('clear-marks').disabled = !n;
    $('mark-last').hidden = !lastMark;
    if (lastMark) {
      $('mark-last-text').textContent = tx('last', tx(lastMark.cls));
      drawThumb(lastMark);
    }
  }

  const warn = (what) => (e) => console.warn(`catdog: marked frames: ${what}: ${e.message || e}`);
  $('mark-cat').addEventListener('click', () => mark('cat').catch(warn('mark')));
  $('mark-dog').addEventListener('click', () => mark('dog').catch(warn('mark')));
  $('export-marks').addEventListener('click', () => exportZip().catch(warn('export')));
  $('clear-marks').addEventListener('click', () => clear().catch(warn('clear')));
  $('undo-mark').addEventListener('click', () => undo().catch(warn('undo')));
  // C / D never fire into a form control (a picker's type-to-select, a text field) and never
  // take a key from one; app.js moves focus off the model picker once a model is chosen.
  document.addEventListener('keydown', (ev) => {
    if (ev.repeat || ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented ||
        ev.target.closest?.('input, select, textarea, [contenteditable]')) return;
    const cls = { c: 'cat', d: 'dog' }[ev.key.toLowerCase()];
    if (cls) mark(cls).catch(warn('mark'));
  });
  recount().then(() => {
    $('mark-cat').disabled = false;
    $('mark-dog').disabled = false;
  }, (e) => {
    note = tx('error', e.message || e.name);
    render();
  });

  ctx.debug.marks = {
    all: async () => (await all()).map((r) => ({ ...r, input: Array.from(r.input) })),
    count: () => ({ ...counts }),
  };
  return { mark, undo, render };
}
