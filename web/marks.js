// marks.js — the correction loop's browser half: one button per class of the loaded model marks the
// current frame as that class; keys "c" / "d" for cat / dog, the digits 1..9 for the classes in
// label order (shown on the buttons). What is kept is the model's own input of that frame (the 8-bit
// gray bytes the core's preprocess produced; the model was fed exactly these / 255), with its class
// (cls: 'cat', 'dog', 'neither', else the label as named), in IndexedDB so marks survive a reload
// and a change of model. Export (marks-export.js, loaded on demand) writes a zip of gray PNGs, one
// folder per class (Cat/ Dog/ neither/ or the label), the layout `catdog prepare --images` reads.
// Test hook: window.__catdog.marks = { all() -> [{id, cls, size, input: number[], model, pDog, probs}], count() -> {cls: n} }.
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
  const counts = new Map();  // cls -> marks kept (of every model)
  let note = null;  // a one-off line instead of the count (no frame yet, storage error)
  let lastMark = null;  // the newest mark of this visit: shown as a thumbnail, with Undo
  let built = null;  // the classes and the language the buttons were made for
  let ready = false;
  const word = (cls) => (cls === 'cat' || cls === 'dog' || cls === 'neither' ? tx(cls) : cls);
  const touch = matchMedia('(hover: none) and (pointer: coarse)').matches;  // no keyboard hints on phones
  const dbp = openDb();
  const store = async (mode) => (await dbp).transaction(STORE, mode).objectStore(STORE);

  async function all() {
    return req((await store('readonly')).getAll());
  }
  async function recount() {
    const recs = await all();
    counts.clear();
    for (const r of recs) add(r.cls);
    render();
  }

  const add = (cls) => counts.set(cls, (counts.get(cls) ?? 0) + 1);

  async function mark(cls) {
    const d = ctx.debug;
    if (!d.lastInput) {
      note = tx('noFrame');
      render();
      return null;
    }
    const rec = { cls, size: Math.round(Math.sqrt(d.lastInput.length)), input: new Uint8Array(d.lastInput),
      model: d.model, pDog: d.last?.pDog ?? null, probs: d.last?.probs ?? null, t: Date.now() };
    try {
      rec.id = await req((await store('readwrite')).add(rec));
    } catch (e) {
      note = tx('error', e.message || e.name);
      render();
      return null;
    }
    note = null;
    add(cls);
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

  const total = () => [...counts.values()].reduce((a, b) => a + b, 0);
  async function clear() {
    const n = total();
    if (!n || !confirm(tx('confirm', n))) return;
    await req((await store('readwrite')).clear());
    lastMark = null;
    await recount();
  }

  // One button per class of the loaded model, copies of the page's first (its look, its key hint),
  // made again when the model or the language changes.
  function build(cls) {
    built = [cls, ctx.lang()];
    const box = $('mark-buttons');
    const proto = box.firstElementChild;
    box.replaceChildren(...cls.map((c, i) => {
      const b = proto.cloneNode(true);
      b.id = `mark-${c.key}`;
      b.dataset.testid = b.id;
      b.dataset.cls = c.kind ?? c.label;
      b.className = c.kind ? `mark-${c.kind}` : '';
      b.disabled = !ready;
      delete b.firstElementChild.dataset.i18n;
      b.firstElementChild.textContent = ctx.t({ cat: 'markCat', dog: 'markDog', neither: 'none' }[c.kind] ?? 'markAs', c.label);
      b.lastElementChild.textContent = { cat: 'C', dog: 'D' }[c.kind] ?? (i < 9 ? i + 1 : '');
      return b;
    }));
  }

  function render() {
    const cls = ctx.classes();
    if (cls !== built?.[0] || ctx.lang() !== built[1]) build(cls);
    const el = $('mark-count');
    const n = total();
    const cat = counts.get('cat') ?? 0, dog = counts.get('dog') ?? 0;
    el.dataset.cat = String(cat);
    el.dataset.dog = String(dog);
    // Only cats and dogs kept: the count as before; else every class kept, by name.
    // No marks: the C / D hint, else (a phone, or classes other than cat and dog) the buttons'.
    el.textContent = note ?? (!n ? tx(!touch && cls.every((c) => c.kind === 'cat' || c.kind === 'dog') ? 'none' : 'noneTouch')
      : cat + dog === n ? tx('count', cat, dog) : tx('counts', [...counts].filter((e) => e[1]).map(([c, k]) => `${word(c)}: ${k}`).join(', ')));
    $('export-marks').disabled = !n;
    $('clear-marks').disabled = !n;
    $('mark-last').hidden = !lastMark;
    if (lastMark) {
      $('mark-last-text').textContent = tx('last', word(lastMark.cls));
      drawThumb(lastMark);
    }
  }

  const warn = (what) => (e) => console.warn(`catdog: marked frames: ${what}: ${e.message || e}`);
  $('mark-buttons').addEventListener('click', (ev) => {
    const b = ev.target.closest('button');
    if (b) mark(b.dataset.cls).catch(warn('mark'));
  });
  $('export-marks').addEventListener('click', () => exportZip().catch(warn('export')));
  $('clear-marks').addEventListener('click', () => clear().catch(warn('clear')));
  $('undo-mark').addEventListener('click', () => undo().catch(warn('undo')));
  // C / D never fire into a form control (a picker's type-to-select, a text field) and never
  // take a key from one; app.js moves focus off the model picker once a model is chosen.
  document.addEventListener('keydown', (ev) => {
    if (ev.repeat || ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented ||
        ev.target.closest?.('input, select, textarea, [contenteditable]')) return;
    const k = ev.key.toLowerCase();
    const cls = ctx.classes();
    const c = cls.find((x) => x.kind === { c: 'cat', d: 'dog' }[k]) ?? (/^[1-9]$/.test(k) ? cls[k - 1] : null);
    if (c) mark(c.kind ?? c.label).catch(warn('mark'));
  });
  recount().then(() => {
    ready = true;
    for (const b of $('mark-buttons').children) b.disabled = false;
  }, (e) => {
    note = tx('error', e.message || e.name);
    render();
  });

  ctx.debug.marks = {
    all: async () => (await all()).map((r) => ({ ...r, input: Array.from(r.input) })),
    count: () => ({ cat: 0, dog: 0, ...Object.fromEntries(counts) }),
  };
  return { mark, undo, render };
}
