// diagnostics.js — the diagnostics panel: is the page crossOriginIsolated, are SIMD and threads in
// use (and if not, why), per-stage timing of the last camera frames as a small stacked-bar chart
// (canvas, no library), and the live model's run card (userDefinedMetadata.catdog + models/report.json).
// Loaded the first time the panel is opened. Test hooks: [data-testid=diag-coi|diag-simd|diag-threads|diag-isa|diag-backend|diag-mirror]
// [data-value] [data-reason], diag-threads[data-choice] (the thread chooser's state: warm, probing, faster, notFaster), canvas[data-testid=stage-chart][data-frames], [data-testid=run-card] dd[data-key].
import { register, scoped, fmtPct, fmtNum, kindOf } from './i18n.js';
import DIAGNOSTICS_TEXT from './i18n/diagnostics.js';

register('diagnostics', DIAGNOSTICS_TEXT);
const STAGES = [['capture', '#8e6cd9'], ['preprocess', '#d9822b'], ['inference', '#2b6fd9'], ['draw', '#3aa55d']];

// A module whose one function returns a v128: validates only where the browser has wasm SIMD.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0,
  253, 12, ...new Array(16).fill(0), 11]);

const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'data') Object.assign(e.dataset, v);
    else e[k] = v;
  }
  e.append(...kids);
  return e;
};
// The report's kept epoch (report.js bestEpoch): best_epoch, else the lowest val_loss.
function keptEpoch(m) {
  if (Number.isFinite(m.best_epoch)) return m.best_epoch;
  const h = Array.isArray(m.history) ? m.history : [];
  return h.reduce((b, x) => (b === null || x.val_loss < b.val_loss ? x : b), null)?.epoch ?? '—';
}
const pct = (v) => fmtPct(v, 1);
const num = (v, d = 3) => fmtNum(v, d);

export function createDiagnostics(ctx) {
  const { $ } = ctx;
  const tx = scoped('diagnostics');
  let report;        // undefined: not fetched; null: failed (reportError set)
  let reportError = '';
  let timer = 0;
  let drawnFor = null;

  const chart = el('canvas', { width: 360, height: 110, className: 'stage-chart', data: { testid: 'stage-chart', frames: '0' } });
  const legend = el('dl', { className: 'stage-legend', data: { testid: 'stage-legend' } });
  const status = el('dl', { className: 'diag-status' });
  const card = el('dl', { className: 'run-card', data: { testid: 'run-card' } });
  const chartTitle = el('h3');
  const cardTitle = el('h3');
  $('diag-body').replaceChildren(status, chartTitle, chart, legend, cardTitle, card);

  function row(list, key, label, value, reason = '') {
    const dd = el('dd', { data: { testid: `diag-${key}`, key, value: String(value) } }, String(value));
    if (reason) {
      dd.dataset.reason = reason;
      dd.append(el('span', { className: 'why' }, ` — ${reason}`));
    }
    list.append(el('dt', {}, label), dd);
  }

  function whyNoThreads(md) {
    const asked = ctx.params.get('threads');
    if (!globalThis.crossOriginIsolated) return tx('notIsolated');
    if (typeof SharedArrayBuffer !== 'function') return tx('noSab');
    if ((navigator.hardwareConcurrency || 1) < 2) return tx('oneCore');
    if (asked === '1') return tx('asked');
    if (!md.build.pthreads) return tx('noMt');
    return tx('modelOne');
  }

  function renderStatus() {
    const md = ctx.metadata();
    status.replaceChildren();
    const coi = globalThis.crossOriginIsolated === true;
    row(status, 'coi', tx('coi'), tx(coi ? 'yes' : 'no'), coi ? '' : tx('noHeaders'));
    if (!md) {  // no model loaded (e.g. the wasm did not start): what the browser offers
      if (!WebAssembly.validate(SIMD_PROBE)) row(status, 'simd', tx('simd'), tx('no'), tx('noBrowserSimd'));
      return;
    }
    const simdUsed = md.build.simd && md.backend !== 'reference';
    const simdWhy = simdUsed ? '' : md.backend === 'reference' ? tx('reference')
      : !WebAssembly.validate(SIMD_PROBE) ? tx('noBrowserSimd') : tx('noBuildSimd');
    row(status, 'simd', tx('simd'), tx(simdUsed ? 'yes' : 'no'), simdWhy);
    // Threads 'auto' on the pthreads core: the thread chooser's count and its measurements
    // (thread-chooser.js); else the fixed count and, for one, why.
    const ch = ctx.debug.threadChoice;
    if (ch) {
      const ms = (v) => num(v, 2);
      const args = [ch.max, ms(ch.manyMs), ms(ch.oneMs), ch.everyMs / 1000, tx(ch.reason), ms(ch.manyP80), ms(ch.oneP80)];
      const why = ch.why === 'faster' ? tx('chosenMany', ...args) : ch.why === 'notFaster' ? tx('chosenOne', ...args) : tx('choosing', ch.max);
      row(status, 'threads', tx('threads'), ch.chosen, why);
      status.lastElementChild.dataset.choice = ch.why;
    } else {
      const n = md.build.threads;
      row(status, 'threads', tx('threads'), n, n > 1 ? '' : whyNoThreads(md));
    }
    // Which build of the core runs and why (catdog-core.js loadCore): catdog_wasm_scalar when the
    // browser cannot compile wasm SIMD.
    row(status, 'isa', tx('isa'), md.build.kernels, md.build.browserSimd ? (md.build.simd ? tx('browserSimd') : '') : tx('noBrowserSimd'));
    row(status, 'backend', tx('backend'), `${md.backend} · ${md.build.core}`);
    // Mirror averaging (the page's option): its cost in words; the chart's inference bars are the
    // batch-2 runs themselves.
    const mirror = ctx.mirror?.() === true;
    row(status, 'mirror', tx('mirror'), tx(mirror ? 'yes' : 'no'), mirror ? tx('mirrorCost') : '');
  }

  function drawChart() {
    const frames = ctx.debug.stages;
    const last = frames[frames.length - 1] ?? null;
    if (last === drawnFor) return;
    drawnFor = last;
    const g = chart.getContext('2d');
    const W = chart.width, H = chart.height, top = 12;
    g.clearRect(0, 0, W, H);
    chart.dataset.frames = String(frames.length);
    // The axis: the 90th percentile of the frame totals, rounded up to 1, 2, 4, 8 ... ms (stable,
    // and one slow frame, e.g. while other models load, does not flatten the rest; it is clipped).
    const totals = frames.map((f) => STAGES.reduce((a, [k]) => a + f[k], 0)).sort((a, b) => a - b);
    const p90 = totals[Math.floor(0.9 * (totals.length - 1))] ?? 1;
    const scale = 2 ** Math.ceil(Math.log2(Math.max(1, p90 * 1.1)));
    const bw = W / 120;
    frames.forEach((f, i) => {
      let y = H;
      for (const [k, color] of STAGES) {
        const h = Math.min(y - top, (f[k] / scale) * (H - top));
        g.fillStyle = color;
        g.fillRect(i * bw, y - h, Math.max(1, bw - 0.5), h);
        y -= h;
      }
    });
    g.fillStyle = getComputedStyle(chart).color;
    g.font = '10px system-ui, sans-serif';
    g.fillText(`${scale} ms`, 2, 10);
    legend.replaceChildren();
    for (const [k, color] of STAGES) {
      const mean = frames.length ? frames.reduce((a, f) => a + f[k], 0) / frames.length : NaN;
      const swatch = el('span', { className: 'swatch' });
      swatch.style.background = color;  // CSSOM, allowed by the CSP (no inline style attribute)
      legend.append(el('dt', {}, swatch, tx(k)),
        el('dd', { data: { stage: k, mean: String(mean), last: String(last?.[k] ?? NaN) } },
          frames.length ? `${num(last[k], 2)} (x̄ ${num(mean, 2)})` : tx('noFrames')));
    }
  }

  function renderCard() {
    const md = ctx.metadata();
    card.replaceChildren();
    if (!md) return;
    const c = md.catdog ?? {};
    const rc = typeof c.run_card === 'object' && c.run_card ? c.run_card : {};
    const entry = ctx.models().find((m) => m.id === ctx.debug.model) ?? {};
    const rep = report?.models?.find((m) => m.id === ctx.debug.model);
    const dc = report?.data_card;
    const item = (key, label, value) => card.append(el('dt', {}, label), el('dd', { data: { key } }, value));
    const pack = rc.pack ?? {};
    const dataParts = [];
    if (pack.content_hash || dc?.pack_hash) dataParts.push(`pack ${(pack.content_hash ?? dc.pack_hash).slice(0, 12)}`);
    if (dc?.source) dataParts.push(dc.source);
    if (Number.isFinite(pack.train_images)) dataParts.push(tx('images', pack.train_images, pack.val_images ?? '—'));
    if (dc?.per_class) {
      const pc = dc.per_class;
      const s = (k) => ['train', 'val', 'test'].map((sp) => pc[k]?.[sp] ?? '—').join('/');
      const names = Object.keys(pc);
      dataParts.push(names.length === 2 && pc.cat && pc.dog ? tx('perClass', s('cat'), s('dog'))
        : tx('perClassK', names.map((k) => `${k} ${s(k)}`).join(' / ')));
    }
    item('data', tx('data'), dataParts.join(' · ') || tx('none'));
    // The classes, in the order of the model's outputs, and how the core decides between them
    // (catdog::Decide): two classes by the threshold on P(labels[1]), K by the largest probability.
    const labels = md.labels ?? [];
    item('classes', tx('classes'), labels.length === 2 ? tx('twoClasses', labels.join(', '), labels[1], num(md.threshold, 2))
      : tx('kClasses', labels.join(', ')));
    const seeds = [];
    if (Number.isFinite(rc.seed ?? rep?.seed)) seeds.push(`${tx('train')} ${rc.seed ?? rep.seed}`);
    if (Number.isFinite(pack.seed ?? dc?.seed)) seeds.push(`${tx('splitSeed')} ${pack.seed ?? dc.seed}`);
    item('seed', tx('seed'), seeds.join(' · ') || tx('none'));
    // One definition, the report's: epochs = the epochs in the training history, kept = the
    // checkpoint the model was exported from (best_epoch, else the lowest val_loss).
    if (rc.epochs || rep?.epochs) {
      const epochs = rep?.history?.length || rep?.epochs || rc.epochs;
      const kept = rep ? keptEpoch(rep) : rc.best_epoch ?? '—';
      item('training', tx('training'), tx('epochs', epochs, kept,
        [rc.device ?? rep?.device, rc.libtorch && `libtorch ${rc.libtorch}`].filter(Boolean).join(', ') || '—'));
    }
    const test = rep?.test ?? {};
    const acc = test.accuracy ?? entry.test_accuracy, auc = test.auc ?? entry.auc, ece = test.ece ?? entry.ece;
    // AUC is a two-class model's number (P(dog) against the truth): a K-class model's line has none.
    const aucPart = labels.length > 2 ? '' : ` · AUC ${num(auc, 4)}`;
    item('metrics', tx('metrics'), `${tx('accuracy')} ${pct(acc)}${aucPart} · ECE ${num(ece, 4)}` +
      (report === null ? ` (${tx('reportError', reportError)})` : report && !rep ? ` (${tx('noReport')})` : ''));
    const cal = c.calibration;
    item('calibration', tx('calibration'), cal?.temperature ? tx('temp', num(cal.temperature, 4), cal.split ?? '—', cal.n ?? '—',
      num(cal.nll_before, 4), num(cal.nll_after, 4)) : tx('uncalibrated'));
    const ood = c.ood;
    const neither = labels.find((l) => kindOf(l) === 'neither');  // a K-class model's own "neither" class
    item('ood', tx('ood'), ood?.method ? tx('oodFit', ood.method, num(ood.threshold, 4), ood.split ?? '—', pct(ood.tpr_target),
      ood.choose ? `${ood.choose.accepted}/${ood.choose.images}` : '—') : neither ? tx('oodClass', neither) : tx('noOod'));
  }

  async function loadReport() {
    if (report !== undefined) return;
    report = false;  // in flight
    try {
      const res = await fetch('models/report.json');
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      report = await res.json();
    } catch (e) {
      report = null;
      reportError = e.message;
    }
    renderCard();
  }

  function render() {
    chartTitle.textContent = tx('stages');
    cardTitle.textContent = tx('card');
    renderStatus();
    renderCard();
    drawnFor = undefined;
    drawChart();
  }

  function show(open) {
    clearInterval(timer);
    timer = 0;
    if (!open) return;
    render();
    loadReport();
    timer = setInterval(drawChart, 250);
  }

  return { show, render };
}
