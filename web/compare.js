// compare.js — the compare view: every model of models/index.json on the same live frame.
// The live model's result (camera frame -> core preprocess -> 100x100 gray) is shown as is; the
// other models get exactly that 100x100 gray input (as ImageData, gray in R=G=B, so the core's
// BT.601 luma and the 100->100 resize give back the same bytes), one after the other in their own
// worker, so each latency is that model's alone. The page stays busy (drops camera frames) until
// the round ends. Models load once, lazily, when the view is first shown.
// Models of K classes: each row shows its own label (cat / dog / neither in words, any other label as
// named) and, for K > 2, that class's probability; rows agree when their labels name the same class
// (case-insensitive kinds: 'Cat' agrees with 'cat'). P(dog) is '–' for a model without a dog class.
// Test hook: window.__catdog.compare = { round, input (100x100 gray), live, rows: [{id, pDog, probs, index, label, ms, agree}] }.
import { register, scoped, kindOf, fmtPct } from './i18n.js';
import COMPARE_TEXT from './i18n/compare.js';

register('compare', COMPARE_TEXT);

// What a label names, for agreement: its kind (cat, dog, neither), else the label itself.
const same = (label) => (label == null ? label : kindOf(label) ?? label);

export function createCompare(ctx) {
  const { $ } = ctx;
  const tx = scoped('compare');
  const slots = new Map();  // id -> { entry, clf, loading, error, row, result }
  let image = null;         // RGBA ImageData rebuilt from the gray input
  let round = 0;
  let last = null;
  let shown = false;

  function slotFor(entry) {
    let s = slots.get(entry.id);
    if (!s) {
      const row = document.createElement('tr');
      row.dataset.model = entry.id;
      row.dataset.testid = 'compare-row';
      for (let i = 0; i < 4; i++) row.append(document.createElement(i ? 'td' : 'th'));
      s = { entry, clf: null, loading: null, error: null, row, result: null };
      slots.set(entry.id, s);
    }
    return s;
  }

  // Starts loading a model's classifier once; never throws (a failure shows in its row).
  function load(s) {
    s.loading ??= ctx.createClassifier({ modelUrl: ctx.modelUrl(s.entry), grab: 'bitmap', threads: 1 })
      .then((c) => { s.clf = c; }, (e) => { s.error = e.message; });
    return s.loading;
  }

  function show(on) {
    $('compare').hidden = !on;
    shown = on;
    if (!on) return;
    for (const entry of ctx.models()) {
      const s = slotFor(entry);
      if (entry.id !== ctx.debug.model) load(s);
    }
    render();
  }

  // One round: the live result plus every other loaded model on the same input. A round cut short
  // by hiding the view is dropped.
  async function run(res) {
    if (!res.input || !shown) return;
    const n = res.inputSize;
    const input = new Uint8ClampedArray(res.input);  // res.input may be transferred later
    if (!image || image.width !== n) image = new ImageData(n, n);
    for (let i = 0; i < n * n; i++) {
      const g = input[i];
      image.data[4 * i] = g; image.data[4 * i + 1] = g; image.data[4 * i + 2] = g; image.data[4 * i + 3] = 255;
    }
    const liveId = ctx.debug.model;
    for (const entry of ctx.models()) {
      const s = slotFor(entry);
      s.result = null;
      if (entry.id === liveId) {
        s.result = { pDog: res.pDog, probs: res.probs, index: res.index, label: res.label, ms: res.timings.inference };
        continue;
      }
      load(s);
      if (!s.clf) continue;
      try {
        const r = await s.clf.classify(image, { mirror: ctx.mirror?.() ?? false });
        s.result = { pDog: r.pDog, probs: r.probs, index: r.index, label: r.label, ms: r.timings.inference };
      } catch (e) {
        s.error = e.message;
      }
      if (!shown) return;
    }
    round++;
    const ref = same(slots.get(liveId)?.result?.label);
    const rows = ctx.models().map((entry) => {
      const r = slots.get(entry.id).result;
      // A model that does not beat chance neither agrees nor disagrees: it is left out of the count.
      if (r && entry.atChance) return { id: entry.id, ...r, agree: null, chance: true };
      return r ? { id: entry.id, ...r, agree: same(r.label) === ref } : { id: entry.id, pDog: null, label: null, ms: null, agree: null };
    });
    last = { round, input: Array.from(input), live: liveId, rows };
    ctx.debug.compare = last;
    render();
  }

  function render() {
    $('cmp-h-model').textContent = tx('model');
    $('cmp-h-p').textContent = tx('p');
    $('cmp-h-label').textContent = tx('label');
    $('cmp-h-ms').textContent = tx('ms');
    const liveId = ctx.debug.model;
    const byId = new Map((last?.rows ?? []).map((r) => [r.id, r]));
    const body = $('compare-rows');
    const entries = ctx.models();
    const labels = new Set();
    for (const entry of entries) {
      const s = slotFor(entry);
      const r = byId.get(entry.id);
      const [name, p, label, ms] = s.row.children;
      name.textContent = `${ctx.modelName(entry)}${entry.atChance ? ` (${tx('chance')})` : ''}${entry.id === liveId ? ` · ${tx('live')}` : ''}`;
      s.row.classList.toggle('live', entry.id === liveId);
      s.row.dataset.chance = String(!!entry.atChance);
      if (r?.label) {
        const k = kindOf(r.label);
        p.textContent = Number.isFinite(r.pDog) ? r.pDog.toFixed(3) : '–';
        label.textContent = (k ? tx(k) : r.label) + (r.probs?.length > 2 ? ` (${fmtPct(r.probs[r.index], 0)})` : '');
        ms.textContent = r.ms.toFixed(2);
        s.row.dataset.label = k ?? r.label;
        s.row.dataset.pDog = String(r.pDog);
        s.row.dataset.ms = String(r.ms);
        if (r.agree === null) delete s.row.dataset.agree;
        else s.row.dataset.agree = String(r.agree);
      } else {
        p.textContent = '–';
        label.textContent = s.error ? tx('failed', s.error) : s.loading && !s.clf ? tx('loading') : '–';
        ms.textContent = '–';
        for (const k of ['label', 'pDog', 'ms', 'agree']) delete s.row.dataset[k];
      }
      body.append(s.row);  // keeps index order; moves existing rows
    }
    const done = last?.rows.filter((r) => r.label && !r.chance) ?? [];
    const agreeing = done.filter((r) => r.agree).length;
    for (const r of done) labels.add(same(r.label));
    const view = $('compare');
    view.dataset.disagree = String(labels.size > 1);
    view.dataset.round = String(round);
    const live = entries.find((e) => e.id === liveId);
    const chance = entries.some((e) => e.atChance) ? `\n${tx('chanceNote')}` : '';
    $('compare-summary').textContent = (!done.length ? tx('waiting')
      : labels.size > 1 ? tx('agree', agreeing, done.length, live ? ctx.modelName(live) : liveId) : tx('all', done.length)) + chance;
  }

  return { show, run, render };
}
