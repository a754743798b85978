// marks.js — the correction loop's browser half: "c" / "d" (or the buttons) mark the current frame
// as a cat / a dog. What is kept is the model's own input of that frame (the 8-bit gray bytes the
// core's preprocess produced; the model was fed exactly these / 255), in IndexedDB so marks
// survive a reload. Export (marks-export.js, loaded on demand) writes a zip of gray PNGs in the
// Cat/ Dog/ folder layout that `catdog prepare --images` reads.
// Test hook: window.__catdog.marks = { all() -> [{id, cls, size, input: number[], model, pDog}], count() }.
const DB = 'catdog-marks';
const STORE = 'frames';
const TEXT = {
  es: { count: 'Marcados — gatos: {0}, perros: {1}', none: 'Marca un fotograma con C (gato) o D (perro).',
    noFrame: 'Todavía no hay ningún fotograma que marcar.', confirm: '¿Borrar los {0} fotogramas marcados?',
    error: 'No se pudieron guardar las marcas: {0}' },
  en: { count: 'Marked — cats: {0}, dogs: {1}', none: 'Mark a frame with C (cat) or D (dog).',
    noFrame: 'There is no frame to mark yet.', confirm: 'Delete the {0} marked frames?',
    error: 'The marks could not be stored: {0}' },
};

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
  const tx = (key, ...a) => TEXT[ctx.lang()][key].replace(/\{(\d)\}/g, (_, i) => a[i] ?? '');
  const counts = { cat: 0, dog: 0 };
  let note = null;  // a one-off line instead of the count (no frame yet, storage error)
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
    render();
    return rec.id;
  }

  async function exportZip() {
    const recs = await all();
    if (recs.length) (await import('./marks-export.js')).downloadZip(recs);
  }

  async function clear() {
    const n = counts.cat + counts.dog;
    if (!n || !confirm(tx('confirm', n))) return;
    await req((await store('readwrite')).clear());
    await recount();
  }

  function render() {
    const el = $('mark-count');
    const n = counts.cat + counts.dog;
    el.dataset.cat = String(counts.cat);
    el.dataset.dog = String(counts.dog);
    el.textContent = note ?? (n ? tx('count', counts.cat, counts.dog) : tx('none'));
    $('export-marks').disabled = !n;
    $('clear-marks').disabled = !n;
  }

  const warn = (what) => (e) => console.warn(`catdog: marked frames: ${what}: ${e.message || e}`);
  $('mark-cat').addEventListener('click', () => mark('cat').catch(warn('mark')));
  $('mark-dog').addEventListener('click', () => mark('dog').catch(warn('mark')));
  $('export-marks').addEventListener('click', () => exportZip().catch(warn('export')));
  $('clear-marks').addEventListener('click', () => clear().catch(warn('clear')));
  document.addEventListener('keydown', (ev) => {
    if (ev.repeat || ev.ctrlKey || ev.metaKey || ev.altKey || ev.target.closest?.('input, select, textarea')) return;
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
  return { mark, render };
}
