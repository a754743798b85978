// catdog model report page: reads models/report.json (or ?report=URL) and draws the summary, the
// data card, the comparison table, training curves, confusion matrices, reliability plots and the
// worst mistakes. Plain ES module, no libraries, no network beyond the one JSON file, CSP-clean
// (no inline scripts or styles, no eval, no innerHTML with report text: everything from the JSON
// reaches the page through textContent or SVG attributes).
//
// It also runs under node (no DOM at import time): scripts/make-report.mjs and the tests import
// validateReport() from here so the page and the tool agree on one schema.
//
// ---- report.json (also in docs/REPORT_FORMAT.md) ------------------------------------------------
// {"generated": ISO-8601 date string, "title": string,
//  "chosen": {"id": model id, "why": string},
//  "data_card": {"source": string, "pack_hash": string, "seed": int, "val_fraction": number,
//     "test_fraction": number,
//     "per_class": {"cat": {"train": n, "val": n, "test": n}, "dog": {"train": n, "val": n, "test": n}},
//     "skipped": {reason: count, ...}, "duplicates": n, "notes": string (optional)},
//  "targets": [{"label": string, "model": model id, "metric": one of the METRICS keys below,
//     "min": number}]  (optional; e.g. the issue's "tutorial CNN with augmentation >= 0.88"),
//  "models": [{
//     "id": string (unique), "arch": string, "augment": bool,
//     "params": int, "size_bytes": int, "epochs": int (epochs run),
//     "train_seconds": number, "images_per_s": number, "device": string,
//     "best_epoch": int (optional; default: the epoch with the lowest val_loss),
//     "seed": int (optional; the training seed: initialisation, shuffling, augmentation),
//     "history": [{"epoch": n, "loss": x, "accuracy": x, "val_loss": x, "val_accuracy": x}, ...],
//     "val": {"loss": x, "accuracy": x, "auc": x, "n": n} (at the kept / best checkpoint; auc and n
//        optional, from `catdog evaluate --split val`),
//     "test": {"accuracy": x, "precision": {"cat": x, "dog": x}, "recall": {"cat": x, "dog": x},
//        "confusion": [[cat_as_cat, cat_as_dog], [dog_as_cat, dog_as_dog]],
//        "auc": x, "ece": x,
//        "calibration": [{"lo": x, "hi": x, "count": n, "mean_p": x, "frac_dog": x}, ...],
//        "calibration_after": [same as calibration] (optional, after temperature scaling),
//        "temperature": x (optional),
//        "threshold": x, "log_loss": x, "n": int (optional; as `catdog evaluate --json` writes them),
//        "worst": [{"path": string, "label": "cat"|"dog", "p_dog": x,
//                   "pixels_b64": base64 of 100*100 raw uint8 gray pixels, row-major}] (optional)},
//        A model with K > 2 classes has instead "labels": [K unique names], "confusion": K x K
//        (rows: true class, columns: predicted), "per_class": [{"label", "images", "precision",
//        "recall"}], "log_loss", "ece", "n", "temperature", "worst": [{"path", "label", "predicted",
//        "p_true", "pixels_b64"}], and no auc, threshold, calibration or cat/dog precision/recall.
//     "ms_per_frame_wasm": x (optional),
//     "pack_hash": string (optional; the pack whose val/test splits the numbers come from; default
//        data_card.pack_hash),
//     "corruptions": {...} (optional; `catdog evaluate --corruptions`, test split),
//     "ood": {"fpr": x, "tpr": x, "auroc": x, "ood_images": n, "ood_accepted": n, "split_images": n,
//        "split_accepted": n, "threshold": x, "method": string, "images": string} (optional;
//        `catdog evaluate --ood-images`: photos with no cat or dog taken for one, test split)}],
//  "data_cards": [data card, ...] (optional; the cards of the other packs named by models[].pack_hash)}
// Probabilities and accuracies are fractions in [0, 1]. Any number documented above may be null
// when it was not measured (the page shows "—"); "optional" fields may also be left out. Required
// and never null: title, chosen, models[].id/arch/augment/epochs/history, test.accuracy,
// test.confusion.

import { beatsChance } from './chance.js';
import { initLanguage, language, t, register, kindOf } from './i18n.js';
import REPORT_TEXT from './i18n/report.js';

register('report', REPORT_TEXT);

export const THUMB_SIZE = 100;  // worst-mistake thumbnails are THUMB_SIZE x THUMB_SIZE gray bytes

// The comparison table's columns. `get` reads the raw value (for sorting), `fmt` shows it,
// `better` is the direction the first click sorts by (and which value gets the "best" mark).
export const COLUMNS = [
  { key: 'id', label: 'model', get: (m) => m.id, fmt: (v) => v, better: 'asc', text: true,
    help: "the run's name" },
  { key: 'arch', label: 'arch', get: (m) => m.arch, fmt: (v) => v, better: 'asc', text: true,
    help: "architecture: dense | cnn | cnn-dropout (the tutorial's) or a new one" },
  { key: 'augment', label: 'augment', get: (m) => (m.augment ? 1 : 0), fmt: (v) => (v ? tr_('yes') : tr_('no')), better: 'desc', nobest: true,
    help: "trained with the tutorial's augmentation (rotation, shifts, shear, zoom, flips)" },
  { key: 'params', label: 'params', get: (m) => m.params, fmt: fmtCount, better: 'asc',
    help: 'number of weights in the exported model' },
  { key: 'size_bytes', label: 'size', get: (m) => m.size_bytes, fmt: fmtBytes, better: 'asc',
    help: 'model.json + weight files as shipped to the browser' },
  { key: 'epochs', label: 'epochs', get: (m) => m.epochs, fmt: (v) => String(v), better: 'asc', nobest: true,
    help: 'epochs run (early stopping may end a run before its limit); hover a cell for the training time' },
  { key: 'pack', label: 'pack', get: (m, r) => packOf(r, m), fmt: shortHash, better: 'asc', text: true,
    help: 'the dataset pack (content hash) whose validation and test splits these numbers come from' },
  { key: 'val_loss', label: 'best val_loss', get: (m) => m.val?.loss, fmt: (v) => v.toFixed(4), better: 'asc',
    help: 'binary cross-entropy on the validation split at the kept checkpoint (the lowest of the run); lower is better' },
  { key: 'val_accuracy', label: 'val_accuracy', get: (m) => m.val?.accuracy, fmt: fmtPct, better: 'desc',
    help: 'validation accuracy at the kept checkpoint' },
  { key: 'test_accuracy', label: 'test_accuracy', get: (m) => m.test.accuracy, fmt: fmtPct, better: 'desc',
    help: 'accuracy on the held-out test split, which training and model selection never saw' },
  { key: 'auc', label: 'AUC', get: (m) => m.test.auc, fmt: (v) => v.toFixed(4), better: 'desc',
    help: 'ROC AUC on the test split: the chance a random dog scores above a random cat' },
  { key: 'ece', label: 'ECE', get: (m) => m.test.ece, fmt: (v) => v.toFixed(4), better: 'asc',
    help: 'expected calibration error on the test split (10 bins; as trained, or temperature-scaled where Calibration says so); lower is better' },
  { key: 'ms_per_frame_wasm', label: 'ms/frame (wasm)', get: (m) => m.ms_per_frame_wasm, fmt: (v) => v.toFixed(2), better: 'asc',
    help: 'milliseconds per webcam frame in the WASM core (100x100 gray input)' },
];
// The pack a model's val/test numbers come from: its own "pack_hash", else the report's data card's.
export function packOf(r, m) {
  return m.pack_hash ?? r?.data_card?.pack_hash ?? null;
}
// The packs of a report's models, in model order: [{hash, ids}] (hash null: unknown).
export function packsOf(r) {
  const out = new Map();
  for (const m of r.models) {
    const h = packOf(r, m);
    if (!out.has(h)) out.set(h, []);
    out.get(h).push(m.id);
  }
  return [...out].map(([hash, ids]) => ({ hash, ids }));
}
function shortHash(h) {
  return h.length > 8 ? `${h.slice(0, 8)}…` : h;
}
// Metrics a target may name (same keys as the columns).
export const METRICS = Object.fromEntries(COLUMNS.filter((c) => !c.text).map((c) => [c.key, c]));

// ---- validation (shared with scripts/make-report.mjs) -------------------------------------------

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const isInt = (v) => Number.isInteger(v);
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function decodeBase64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// Decodes a worst-mistake thumbnail; throws with the reason when it is not 100x100 bytes.
export function decodeThumb(b64) {
  if (typeof b64 !== 'string') throw new Error('pixels_b64 is not a string');
  let bytes;
  try {
    bytes = decodeBase64(b64);
  } catch {
    throw new Error('pixels_b64 is not valid base64');
  }
  const want = THUMB_SIZE * THUMB_SIZE;
  if (bytes.length !== want) throw new Error(`pixels_b64 decodes to ${bytes.length} bytes, expected ${want}`);
  return bytes;
}

// Returns a list of problems ("models[2].history[5].val_loss: expected a number, got \"x\"");
// empty when the report can be drawn.
export function validateReport(r) {
  const problems = [];
  const bad = (where, what, v) => {
    let shown;
    try {
      shown = v === undefined ? 'nothing' : JSON.stringify(v);
    } catch {
      shown = String(v);
    }
    if (shown.length > 60) shown = shown.slice(0, 57) + '...';
    problems.push(`${where}: expected ${what}, got ${shown}`);
  };
  // kind: 'num' | 'int' | 'str' | 'bool' | 'frac' (number in [0,1]); req: required and non-null
  const check = (obj, key, where, kind, req) => {
    const v = obj?.[key];
    const at = `${where}${where ? '.' : ''}${key}`;
    if (v === undefined || v === null) {
      if (req) bad(at, kindName(kind), v);
      return;
    }
    const ok = kind === 'num' ? isNum(v) : kind === 'int' ? isInt(v) && v >= 0 : kind === 'str' ? typeof v === 'string'
      : kind === 'bool' ? typeof v === 'boolean' : isNum(v) && v >= 0 && v <= 1;
    if (!ok) bad(at, kindName(kind), v);
  };
  if (!isObj(r)) {
    bad('report', 'a JSON object', r);
    return problems;
  }
  check(r, 'generated', '', 'str', false);
  check(r, 'title', '', 'str', true);
  if (!isObj(r.chosen)) bad('chosen', 'an object {"id", "why"}', r.chosen);
  else {
    check(r.chosen, 'id', 'chosen', 'str', true);
    check(r.chosen, 'why', 'chosen', 'str', false);
  }
  const checkCard = (dc, dw) => {
    if (!isObj(dc)) return bad(dw, 'an object', dc);
    for (const k of ['source', 'pack_hash', 'notes']) check(dc, k, dw, 'str', false);
    check(dc, 'seed', dw, 'int', false);
    check(dc, 'val_fraction', dw, 'frac', false);
    check(dc, 'test_fraction', dw, 'frac', false);
    check(dc, 'duplicates', dw, 'int', false);
    if (dc.per_class !== undefined && dc.per_class !== null) {
      if (!isObj(dc.per_class)) bad(`${dw}.per_class`, 'an object {"cat": {...}, "dog": {...}}', dc.per_class);
      else for (const [cls, splits] of Object.entries(dc.per_class)) {
        if (!isObj(splits)) bad(`${dw}.per_class.${cls}`, 'an object {"train", "val", "test"}', splits);
        else for (const s of ['train', 'val', 'test']) check(splits, s, `${dw}.per_class.${cls}`, 'int', false);
      }
    }
    if (dc.skipped !== undefined && dc.skipped !== null) {
      if (!isObj(dc.skipped)) bad(`${dw}.skipped`, 'an object {reason: count}', dc.skipped);
      else for (const k of Object.keys(dc.skipped)) check(dc.skipped, k, `${dw}.skipped`, 'int', true);
    }
  };
  if (r.data_card !== undefined && r.data_card !== null) checkCard(r.data_card, 'data_card');
  // Optional: the cards of the other packs some models were measured on (models[].pack_hash).
  const packs = new Set(isObj(r.data_card) && typeof r.data_card.pack_hash === 'string' ? [r.data_card.pack_hash] : []);
  if (r.data_cards !== undefined && r.data_cards !== null) {
    if (!Array.isArray(r.data_cards)) bad('data_cards', 'an array of data cards', r.data_cards);
    else r.data_cards.forEach((dc, j) => {
      checkCard(dc, `data_cards[${j}]`);
      if (!isObj(dc)) return;
      if (typeof dc.pack_hash !== 'string' || !dc.pack_hash) bad(`data_cards[${j}].pack_hash`, 'a string', dc.pack_hash);
      else if (packs.has(dc.pack_hash)) problems.push(`data_cards[${j}].pack_hash: "${dc.pack_hash}" has two data cards`);
      else packs.add(dc.pack_hash);
    });
  }
  if (!Array.isArray(r.models) || r.models.length === 0) {
    bad('models', 'a non-empty array', r.models);
    return problems;
  }
  const ids = new Set();
  r.models.forEach((m, i) => {
    const w = `models[${i}]`;
    if (!isObj(m)) return bad(w, 'an object', m);
    check(m, 'id', w, 'str', true);
    if (typeof m.id === 'string') {
      if (ids.has(m.id)) problems.push(`${w}.id: "${m.id}" is used by two models`);
      ids.add(m.id);
    }
    check(m, 'arch', w, 'str', true);
    check(m, 'augment', w, 'bool', true);
    check(m, 'epochs', w, 'int', true);
    for (const k of ['params', 'size_bytes', 'best_epoch', 'seed']) check(m, k, w, 'int', false);
    for (const k of ['train_seconds', 'images_per_s', 'ms_per_frame_wasm']) check(m, k, w, 'num', false);
    check(m, 'device', w, 'str', false);
    check(m, 'pack_hash', w, 'str', false);
    if (typeof m.pack_hash === 'string' && packs.size && !packs.has(m.pack_hash)) {
      problems.push(`${w}.pack_hash: "${m.pack_hash}" has no data card (data_card or data_cards)`);
    }
    if (!Array.isArray(m.history) || m.history.length === 0) bad(`${w}.history`, 'a non-empty array', m.history);
    else m.history.forEach((h, j) => {
      const hw = `${w}.history[${j}]`;
      if (!isObj(h)) return bad(hw, 'an object', h);
      check(h, 'epoch', hw, 'int', true);
      for (const k of ['loss', 'accuracy', 'val_loss', 'val_accuracy']) check(h, k, hw, 'num', true);
    });
    if (m.val !== undefined && m.val !== null) {
      if (!isObj(m.val)) bad(`${w}.val`, 'an object {"loss", "accuracy"}', m.val);
      else {
        check(m.val, 'loss', `${w}.val`, 'num', false);
        check(m.val, 'accuracy', `${w}.val`, 'frac', false);
        check(m.val, 'auc', `${w}.val`, 'frac', false);
        check(m.val, 'n', `${w}.val`, 'int', false);
      }
    }
    const t = m.test;
    const tw = `${w}.test`;
    if (!isObj(t)) return bad(tw, 'an object', t);
    check(t, 'accuracy', tw, 'frac', true);
    for (const k of ['auc', 'ece']) check(t, k, tw, 'frac', false);
    check(t, 'temperature', tw, 'num', false);
    check(t, 'threshold', tw, 'frac', false);
    check(t, 'log_loss', tw, 'num', false);
    check(t, 'n', tw, 'int', false);
    if (t.labels !== undefined) {
      checkManyClassTest(t, tw, bad, problems);
      return;
    }
    for (const k of ['precision', 'recall']) {
      if (t[k] === undefined || t[k] === null) continue;
      if (!isObj(t[k])) bad(`${tw}.${k}`, 'an object {"cat", "dog"}', t[k]);
      else for (const c of ['cat', 'dog']) check(t[k], c, `${tw}.${k}`, 'frac', false);
    }
    const c = t.confusion;
    const okRow = (row) => Array.isArray(row) && row.length === 2 && row.every((v) => isInt(v) && v >= 0);
    if (!Array.isArray(c) || c.length !== 2 || !c.every(okRow)) {
      bad(`${tw}.confusion`, '[[cat_as_cat, cat_as_dog], [dog_as_cat, dog_as_dog]] of counts', c);
    }
    if (t.calibration_scaled !== undefined && typeof t.calibration_scaled !== 'boolean') bad(`${tw}.calibration_scaled`, 'true or false', t.calibration_scaled);
    for (const k of ['calibration', 'calibration_after']) {
      const bins = t[k];
      if (bins === undefined || bins === null) continue;
      if (!Array.isArray(bins)) { bad(`${tw}.${k}`, 'an array of bins', bins); continue; }
      bins.forEach((b, j) => {
        const bw = `${tw}.${k}[${j}]`;
        if (!isObj(b)) return bad(bw, 'an object', b);
        for (const f of ['lo', 'hi', 'mean_p', 'frac_dog']) check(b, f, bw, 'frac', true);
        check(b, 'count', bw, 'int', true);
      });
    }
    if (t.worst !== undefined && t.worst !== null) {
      if (!Array.isArray(t.worst)) bad(`${tw}.worst`, 'an array', t.worst);
      else t.worst.forEach((x, j) => {
        const xw = `${tw}.worst[${j}]`;
        if (!isObj(x)) return bad(xw, 'an object', x);
        check(x, 'path', xw, 'str', true);
        if (x.label !== 'cat' && x.label !== 'dog') bad(`${xw}.label`, '"cat" or "dog"', x.label);
        check(x, 'p_dog', xw, 'frac', true);
        try {
          decodeThumb(x.pixels_b64);
        } catch (e) {
          problems.push(`${xw}: ${e.message}`);
        }
      });
    }
  });
  if (isObj(r.chosen) && typeof r.chosen.id === 'string' && !ids.has(r.chosen.id)) {
    problems.push(`chosen.id: "${r.chosen.id}" is not one of the models (${[...ids].join(', ')})`);
  }
  check(r, 'protocol', '', 'str', false);
  // Optional per model: `catdog evaluate --corruptions` on the test split.
  (Array.isArray(r.models) ? r.models : []).forEach((m, i) => {
    const c = m?.corruptions;
    if (c === undefined || c === null) return;
    const cw = `models[${i}].corruptions`;
    if (!isObj(c) || !Array.isArray(c.results)) return bad(cw, 'an object {"results": [...]}', c);
    check(c, 'clean_accuracy', cw, 'frac', true);
    c.results.forEach((x, j) => {
      if (!isObj(x) || typeof x.corruption !== 'string') return bad(`${cw}.results[${j}]`, 'an object {"corruption", "severity", "accuracy"}', x);
      check(x, 'severity', `${cw}.results[${j}]`, 'int', true);
      check(x, 'accuracy', `${cw}.results[${j}]`, 'frac', true);
    });
  });
  // Optional per model: `catdog evaluate --ood-images` on the test split ("neither cat nor dog").
  (Array.isArray(r.models) ? r.models : []).forEach((m, i) => {
    const o = m?.ood;
    if (o === undefined || o === null) return;
    const ow = `models[${i}].ood`;
    if (!isObj(o)) return bad(ow, 'an object {"fpr", "tpr", "ood_images", ...}', o);
    for (const k of ['fpr', 'tpr']) check(o, k, ow, 'frac', true);
    check(o, 'auroc', ow, 'frac', false);
    check(o, 'ood_images', ow, 'int', true);
    check(o, 'ood_accepted', ow, 'int', true);
    for (const k of ['split_images', 'split_accepted']) check(o, k, ow, 'int', false);
    check(o, 'threshold', ow, 'num', false);
    for (const k of ['method', 'images']) check(o, k, ow, 'str', false);
    if (isInt(o.ood_images) && isInt(o.ood_accepted) && o.ood_accepted > o.ood_images) {
      problems.push(`${ow}.ood_accepted: ${o.ood_accepted} is more than ood_images (${o.ood_images})`);
    }
  });
  if (r.targets !== undefined && r.targets !== null) {
    if (!Array.isArray(r.targets)) bad('targets', 'an array', r.targets);
    else r.targets.forEach((g, j) => {
      const gw = `targets[${j}]`;
      if (!isObj(g)) return bad(gw, 'an object', g);
      check(g, 'label', gw, 'str', true);
      check(g, 'min', gw, 'num', true);
      if (!(g.metric in METRICS)) bad(`${gw}.metric`, `one of ${Object.keys(METRICS).join(', ')}`, g.metric);
      if (typeof g.model !== 'string' || !ids.has(g.model)) bad(`${gw}.model`, 'the id of one of the models', g.model);
    });
  }
  return problems;
}

// A K-class model's "test" (it has "labels"): K > 2 unique class names, a K x K confusion of counts
// (rows: true class, columns: predicted), per_class in label order; the two-class-only fields (AUC,
// threshold, P(dog) bins, cat/dog precision and recall) are refused rather than shown as if they
// meant something. accuracy, ece, log_loss, n, temperature are checked with the two-class ones.
function checkManyClassTest(t, tw, bad, problems) {
  const labels = t.labels;
  const okLabels = Array.isArray(labels) && labels.length > 2 && labels.every((l) => typeof l === 'string' && l.trim() !== '');
  if (!okLabels) return bad(`${tw}.labels`, 'more than two class names (non-empty strings)', labels);
  labels.forEach((l, j) => {
    if (labels.indexOf(l) !== j) problems.push(`${tw}.labels[${j}]: ${JSON.stringify(l)} is named twice`);
  });
  const k = labels.length;
  if (t.calibration_scaled !== undefined && typeof t.calibration_scaled !== 'boolean') bad(`${tw}.calibration_scaled`, 'true or false', t.calibration_scaled);
  const c = t.confusion;
  const okRow = (row) => Array.isArray(row) && row.length === k && row.every((v) => isInt(v) && v >= 0);
  if (!Array.isArray(c) || c.length !== k || !c.every(okRow)) bad(`${tw}.confusion`, `${k} x ${k} counts (rows: true class, columns: predicted)`, c);
  for (const key of ['auc', 'threshold', 'calibration', 'calibration_after', 'precision', 'recall']) {
    if (t[key] !== undefined && t[key] !== null) problems.push(`${tw}.${key}: a model with ${k} classes has no ${key} (two-class only)`);
  }
  if (t.per_class !== undefined && t.per_class !== null) checkPerClass(t.per_class, labels, `${tw}.per_class`, bad);
  if (t.worst !== undefined && t.worst !== null) checkManyClassWorst(t.worst, labels, `${tw}.worst`, bad, problems);
}

function checkPerClass(pc, labels, pw, bad) {
  if (!Array.isArray(pc) || pc.length !== labels.length) return bad(pw, `one entry per label (${labels.length})`, pc);
  const frac = (v) => v === null || (isNum(v) && v >= 0 && v <= 1);
  pc.forEach((x, j) => {
    const xw = `${pw}[${j}]`;
    if (!isObj(x)) return bad(xw, 'an object {"label", "images", "precision", "recall"}', x);
    if (x.label !== labels[j]) bad(`${xw}.label`, JSON.stringify(labels[j]), x.label);
    if (!(isInt(x.images) && x.images >= 0)) bad(`${xw}.images`, 'a non-negative integer', x.images);
    for (const f of ['precision', 'recall']) if (!frac(x[f])) bad(`${xw}.${f}`, 'a number in [0, 1] or null', x[f]);
  });
}

function checkManyClassWorst(worst, labels, ww, bad, problems) {
  if (!Array.isArray(worst)) return bad(ww, 'an array', worst);
  worst.forEach((x, j) => {
    const xw = `${ww}[${j}]`;
    if (!isObj(x)) return bad(xw, 'an object', x);
    if (typeof x.path !== 'string') bad(`${xw}.path`, 'a string', x.path);
    for (const f of ['label', 'predicted']) if (!labels.includes(x[f])) bad(`${xw}.${f}`, `one of ${JSON.stringify(labels)}`, x[f]);
    if (!(isNum(x.p_true) && x.p_true >= 0 && x.p_true <= 1)) bad(`${xw}.p_true`, 'a number in [0, 1]', x.p_true);
    try {
      decodeThumb(x.pixels_b64);
    } catch (e) {
      problems.push(`${xw}: ${e.message}`);
    }
  });
}

function kindName(kind) {
  return { num: 'a number', int: 'a non-negative integer', str: 'a string', bool: 'true or false', frac: 'a number in [0, 1]' }[kind];
}

// ---- formatting ---------------------------------------------------------------------------------

const has = (v) => v !== undefined && v !== null;
export function fmtPct(v) {
  return `${(v * 100).toFixed(1)}%`;
}
export function fmtCount(v) {
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(1)} k`;
  return v.toLocaleString('en-US');
}
export function fmtBytes(v) {
  if (v >= 1 << 20) return `${(v / (1 << 20)).toFixed(1)} MiB`;
  if (v >= 1 << 10) return `${(v / (1 << 10)).toFixed(0)} KiB`;
  return `${v} B`;
}
function fmtSeconds(s) {
  if (s >= 3600) return `${(s / 3600).toFixed(1)} h`;
  if (s >= 60) return `${(s / 60).toFixed(1)} min`;
  return `${s.toFixed(1)} s`;
}
const show = (v, f) => (has(v) ? f(v) : '—');

// Expected calibration error from reliability bins: sum over bins of count/N * |frac_dog - mean_p|.
export function eceFromBins(bins) {
  const n = bins.reduce((a, b) => a + b.count, 0);
  if (!n) return null;
  return bins.reduce((a, b) => a + (b.count / n) * Math.abs(b.frac_dog - b.mean_p), 0);
}

export function bestEpoch(m) {
  if (has(m.best_epoch)) return m.best_epoch;
  let best = m.history[0];
  for (const h of m.history) if (h.val_loss < best.val_loss) best = h;
  return best.epoch;
}

// "Nice" axis ticks covering [lo, hi].
export function niceTicks(lo, hi, want = 5) {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / want;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toFixed(10));
  return ticks;
}

// ---- DOM helpers --------------------------------------------------------------------------------

const SVG_NS = 'http://www.w3.org/2000/svg';

// el('div', {class: 'x', text: 'y', ...attrs}, ...children): text goes through textContent.
function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) e.append(k);
  return e;
}
function svg(tag, attrs = {}, ...kids) {
  const e = document.createElementNS(SVG_NS, tag);
  setAttrs(e, attrs);
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) e.append(k);
  return e;
}
function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = String(v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
}
const r2 = (v) => Math.round(v * 100) / 100;

function modelTitle(m, r) {
  return el('h3', {},
    el('span', { class: 'model-id', text: m.id }),
    el('span', { class: 'tag', text: m.arch }),
    m.augment ? el('span', { class: 'tag aug', text: tr_('augmented') }) : null,
    m.id === r.chosen.id ? el('span', { class: 'tag chosen', text: tr_('chosenTag') }) : null,
    packTag(r, m));
}

// Where the models of a report come from several packs, each model says which (its numbers are on
// that pack's val/test splits).
function packTag(r, m) {
  const h = packOf(r, m);
  if (packsOf(r).length < 2 || !h) return null;
  return el('span', { class: 'tag pack', 'data-pack': h, title: h, text: tr_('packTag', shortHash(h)) });
}

// ---- summary and data card ----------------------------------------------------------------------

function renderSummary(r, root) {
  const m = r.models.find((x) => x.id === r.chosen.id);
  const facts = [
    [tr_('factValAccuracy'), show(m.val?.accuracy, fmtPct)],
    [tr_('factTestAccuracy'), fmtPct(m.test.accuracy)],
    ['AUC', show(m.test.auc, (v) => v.toFixed(4))],
    ['ECE', show(m.test.ece, (v) => v.toFixed(4))],
    [tr_('factTemperature'), show(m.test.temperature, (v) => v.toFixed(3))],
    [tr_('col_ms_per_frame_wasm'), show(m.ms_per_frame_wasm, (v) => v.toFixed(2))],
    [tr_('col_size_bytes'), show(m.size_bytes, fmtBytes)],
    [tr_('col_params'), show(m.params, fmtCount)],
    ...(packsOf(r).length > 1 && packOf(r, m) ? [[tr_('col_pack'), shortHash(packOf(r, m))]] : []),
  ];
  root.append(
    el('p', { class: 'chosen-line' }, tr_('chosen'), el('strong', { id: 'chosen-id', text: m.id }),
      ` (${m.arch}${m.augment ? tr_('augmentedParen') : ''})`),
    el('p', { class: 'why', id: 'chosen-why', text: r.chosen.why || tr_('noReason') }),
    r.protocol ? el('p', { class: 'protocol', id: 'protocol' }, el('strong', { text: tr_('protocol') }), r.protocol) : null,
    el('dl', { class: 'facts' }, facts.map(([k, v]) => el('div', {}, el('dt', { text: k }), el('dd', { text: v })))));
  if (Array.isArray(r.targets) && r.targets.length) {
    const list = el('ul', { class: 'targets', id: 'targets' });
    for (const g of r.targets) {
      const tm = r.models.find((x) => x.id === g.model);
      const col = METRICS[g.metric];
      const v = col.get(tm);
      const higher = col.better === 'desc';
      const met = has(v) && (higher ? v >= g.min : v <= g.min);
      const fmt = (x) => col.fmt(x);
      let verdict;
      if (!has(v)) verdict = tr_('notMeasured');
      else if (met) verdict = tr_('met', fmt(v), higher ? '≥' : '≤', fmt(g.min));
      else {
        const gap = Math.abs(v - g.min);
        verdict = tr_('missed', col.fmt === fmtPct ? tr_('points', (gap * 100).toFixed(1)) : fmt(gap), fmt(v), fmt(g.min));
      }
      list.append(el('li', { class: met ? 'met' : 'missed' },
        el('span', { class: 'badge', text: met ? '✓' : '✗' }),
        el('span', { text: `${g.label} — ${g.model} ${colLabel(col)}: ${verdict}` })));
    }
    root.append(el('h3', { text: tr_('targets') }), list);
  }
}

function renderDataCard(r, root) {
  const cards = [r.data_card, ...(Array.isArray(r.data_cards) ? r.data_cards : [])].filter(Boolean);
  if (!cards.length) {
    root.append(el('p', { class: 'muted', text: tr_('noDataCard') }));
    return;
  }
  const packs = packsOf(r);
  cards.forEach((dc, i) => {
    const box = el('div', { class: 'data-card', 'data-pack': dc.pack_hash ?? '' });
    if (packs.length > 1) {
      const ids = packs.find((p) => p.hash === dc.pack_hash)?.ids ?? [];
      box.append(el('h3', { text: tr_('packHeading', dc.pack_hash ? shortHash(dc.pack_hash) : '?', ids.length ? ids.join(', ') : tr_('none')) }));
    }
    renderOneCard(dc, box, i === 0);
    root.append(box);
  });
}

// One pack's data card; the first one's tables keep their ids (#per-class, #skipped).
function renderOneCard(dc, root, first) {
  const items = [
    [tr_('source'), dc.source],
    [tr_('packHash'), dc.pack_hash, 'mono'],
    [tr_('splitSeed'), dc.seed],
    [tr_('valFraction'), show(dc.val_fraction, fmtPct)],
    [tr_('testFraction'), show(dc.test_fraction, fmtPct)],
    [tr_('duplicates'), dc.duplicates],
  ];
  root.append(el('dl', { class: 'facts wide' },
    items.filter(([, v]) => has(v)).map(([k, v, cls]) => el('div', {}, el('dt', { text: k }),
      el('dd', { class: cls ?? null, text: v })))));
  const grid = el('div', { class: 'dc-grid' });
  if (dc.per_class) {
    const splits = ['train', 'val', 'test'];
    const classes = Object.keys(dc.per_class);
    const tot = (c) => splits.reduce((a, s) => a + (dc.per_class[c][s] ?? 0), 0);
    const colTot = (s) => classes.reduce((a, c) => a + (dc.per_class[c][s] ?? 0), 0);
    const t = el('table', { class: 'counts per-class', id: first ? 'per-class' : null },
      el('caption', { text: tr_('perClassCaption') }),
      el('thead', {}, el('tr', {}, el('th', { text: tr_('class') }), splits.map((s) => el('th', { text: tr_(`split_${s}`) })), el('th', { text: tr_('total') }))),
      el('tbody', {}, classes.map((c) => el('tr', {}, el('th', { text: className(c) }),
        splits.map((s) => el('td', { text: show(dc.per_class[c][s], (v) => v.toLocaleString('en-US')) })),
        el('td', { text: tot(c).toLocaleString('en-US') })))),
      el('tfoot', {}, el('tr', {}, el('th', { text: tr_('total') }), splits.map((s) => el('td', { text: colTot(s).toLocaleString('en-US') })),
        el('td', { text: classes.reduce((a, c) => a + tot(c), 0).toLocaleString('en-US') }))));
    grid.append(t);
  }
  if (dc.skipped) {
    const entries = Object.entries(dc.skipped);
    const total = entries.reduce((a, [, n]) => a + n, 0);
    grid.append(el('table', { class: 'counts skipped', id: first ? 'skipped' : null },
      el('caption', { text: tr_('skippedCaption') }),
      el('thead', {}, el('tr', {}, el('th', { text: tr_('reason') }), el('th', { text: tr_('files') }))),
      el('tbody', {}, entries.length ? entries.map(([k, n]) => el('tr', {}, el('th', { text: k }), el('td', { text: n })))
        : el('tr', {}, el('td', { colspan: 2, text: tr_('none') }))),
      el('tfoot', {}, el('tr', {}, el('th', { text: tr_('total') }), el('td', { text: total })))));
  }
  root.append(grid);
  if (dc.notes) root.append(el('p', { class: 'notes', text: dc.notes }));
}

// ---- comparison table ---------------------------------------------------------------------------

// A model that does not beat chance (chance.js: the live page's rule too).
const atChance = (m) => !beatsChance({ accuracy: m.test.accuracy, auc: m.test.auc, n: m.test.n });

function renderTable(r, root) {
  const models = r.models;
  // the best value of each numeric column gets a mark; a model at chance is never "best" (a
  // constant P(dog) = 0.5 is well calibrated and fast for free)
  const best = {};
  for (const c of COLUMNS) {
    if (c.text || c.nobest) continue;
    const vals = models.filter((m) => !atChance(m)).map((m) => c.get(m, r)).filter(has);
    if (vals.length > 1) best[c.key] = c.better === 'asc' ? Math.min(...vals) : Math.max(...vals);
  }
  const table = el('table', { class: 'compare', id: 'compare' });
  const headRow = el('tr');
  const tbody = el('tbody');
  for (const c of COLUMNS) {
    const btn = el('button', { type: 'button', text: colLabel(c), title: tr_('clickToSort', colHelp(c)) });
    const th = el('th', { scope: 'col', 'data-key': c.key, 'aria-sort': 'none', class: c.text ? 'text' : 'num' }, btn);
    btn.addEventListener('click', () => sortBy(c, th));
    headRow.append(th);
  }
  table.append(el('thead', {}, headRow), tbody);
  const rows = models.map((m) => {
    const chance = atChance(m);
    const tr = el('tr', { 'data-id': m.id, 'data-chance': String(chance), class: m.id === r.chosen.id ? 'chosen' : chance ? 'chance' : null });
    for (const c of COLUMNS) {
      const v = c.get(m, r);
      const td = el(c.key === 'id' ? 'th' : 'td', { class: c.text ? 'text' : 'num', 'data-key': c.key, text: show(v, c.fmt) });
      if (c.key === 'pack' && has(v)) td.title = v;
      if (c.key === 'val_accuracy' && has(m.val?.n)) td.title = tr_('valEvaluated', m.val.n.toLocaleString('en-US'), show(m.val.auc, (x) => x.toFixed(4)));
      if (c.key === 'id') {
        td.setAttribute('scope', 'row');
        if (chance) td.append(' ', el('span', { class: 'tag chance', text: tr_('atChance') }));
      }
      if (has(v) && !chance && best[c.key] === v) td.classList.add('best');
      if (c.key === 'epochs' && has(m.train_seconds)) td.title = tr_('trainedOn', fmtSeconds(m.train_seconds), m.device || tr_('unknownDevice'));
      tr.append(td);
    }
    return { m, tr };
  });
  tbody.append(...rows.map((x) => x.tr));
  let current = null;
  function sortBy(c, th) {
    // first click sorts best-first; each further click on the same column flips the order
    const dir = current && current.key === c.key ? (current.dir === 'asc' ? 'desc' : 'asc') : c.better;
    current = { key: c.key, dir };
    const sign = dir === 'asc' ? 1 : -1;
    const sorted = rows.slice().sort((a, b) => {
      const va = c.get(a.m, r);
      const vb = c.get(b.m, r);
      if (!has(va) || !has(vb)) return has(va) ? -1 : has(vb) ? 1 : 0;  // missing values last
      return sign * (c.text ? String(va).localeCompare(String(vb)) : va - vb);
    });
    tbody.append(...sorted.map((x) => x.tr));
    for (const h of headRow.children) h.setAttribute('aria-sort', 'none');
    th.setAttribute('aria-sort', dir === 'asc' ? 'ascending' : 'descending');
  }
  // A phone shows part of the table: it scrolls in its own box (focusable, so arrow keys scroll it),
  // and a hint says so while there is more to the side.
  const wrap = el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': tr_('tableRegion') }, table);
  const hint = el('p', { class: 'scroll-hint small', text: tr_('scrollHint'), hidden: true });
  const updateHint = () => { hint.hidden = wrap.scrollWidth <= wrap.clientWidth + 1; };
  new ResizeObserver(updateHint).observe(wrap);
  const packs = packsOf(r);
  // models measured on different packs were compared across different val/test splits
  const packNote = packs.length > 1 ? el('p', { class: 'note packs', id: 'pack-note' },
    el('strong', { text: tr_('packNoteLead', packs.length) }), tr_('packNote'),
    el('ul', {}, packs.map((p) => el('li', { 'data-pack': p.hash ?? '' },
      el('span', { class: 'mono', title: p.hash ?? '', text: p.hash ? shortHash(p.hash) : '?' }), `: ${p.ids.join(', ')}`)))) : null;
  root.append(packNote ?? '', hint, wrap,
    el('p', { class: 'muted small', text: tr_('tableNote') }));
  renderOod(r, root);
}

// "Neither cat nor dog" (`catdog evaluate --ood-images`): how many photos with no cat or dog each
// model still took for one, at the share of the test split it accepts.
function renderOod(r, root) {
  const withOod = r.models.filter((m) => isObj(m.ood));
  if (!withOod.length) return;
  root.append(el('h3', { text: tr_('oodHeading') }), el('ul', { class: 'ood', id: 'ood' }, withOod.map((m) => {
    const o = m.ood;
    return el('li', { 'data-id': m.id }, el('strong', { text: m.id }), ': ', tr_('oodLine', fmtPct(o.fpr), o.ood_accepted, o.ood_images,
      fmtPct(o.tpr), has(o.split_images) ? o.split_images.toLocaleString('en-US') : '—', show(o.auroc, (v) => v.toFixed(3))));
  })), el('p', { class: 'muted small', text: tr_('oodNote') }));
}

// ---- line charts --------------------------------------------------------------------------------

const CHART = { w: 340, h: 190, l: 44, r: 10, t: 10, b: 30 };

// Draws one train-vs-validation chart. `series`: [{key, label, cls}], `yr`: [lo, hi].
function lineChart(m, { title, series, yr, fmtY, kind }) {
  const { w, h, l, r, t, b } = CHART;
  const hist = m.history;
  const e0 = hist[0].epoch;
  const e1 = Math.max(hist[hist.length - 1].epoch, e0 + 1);
  const x = (e) => l + ((e - e0) / (e1 - e0)) * (w - l - r);
  const y = (v) => t + (1 - (Math.min(Math.max(v, yr[0]), yr[1]) - yr[0]) / (yr[1] - yr[0])) * (h - t - b);
  const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, class: `chart ${kind}`, role: 'img', tabindex: 0,
    'aria-label': tr_('chartAria', title, m.id, hist.length) });
  const grid = svg('g', { class: 'grid' });
  const axes = svg('g', { class: 'axis' });
  for (const v of niceTicks(yr[0], yr[1], 4)) {
    grid.append(svg('line', { x1: l, x2: w - r, y1: r2(y(v)), y2: r2(y(v)) }));
    axes.append(svg('text', { x: l - 5, y: r2(y(v)) + 3, 'text-anchor': 'end', text: fmtY(v) }));
  }
  for (const e of niceTicks(e0, e1, 5).filter((e) => Number.isInteger(e))) {
    axes.append(svg('line', { x1: r2(x(e)), x2: r2(x(e)), y1: h - b, y2: h - b + 4 }),
      svg('text', { x: r2(x(e)), y: h - b + 15, 'text-anchor': 'middle', text: e }));
  }
  axes.append(svg('line', { x1: l, x2: w - r, y1: h - b, y2: h - b }), svg('line', { x1: l, x2: l, y1: t, y2: h - b }),
    svg('text', { x: (l + w - r) / 2, y: h - 2, 'text-anchor': 'middle', class: 'label', text: tr_('epochAxis') }));
  root.append(grid, axes);
  const be = bestEpoch(m);
  if (be >= e0 && be <= e1) {
    root.append(svg('line', { class: 'best-epoch', x1: r2(x(be)), x2: r2(x(be)), y1: t, y2: h - b },
      svg('title', { text: tr_('keptCheckpoint', be) })));
  }
  for (const s of series) {
    const pts = hist.map((p) => `${r2(x(p.epoch))},${r2(y(p[s.key]))}`).join(' ');
    root.append(svg('polyline', { class: `series ${s.cls}`, points: pts, 'data-series': s.key, 'data-count': hist.length }));
  }
  // hover: a guide line, one dot per series, and a tooltip with the epoch's values
  const guide = svg('line', { class: 'guide', y1: t, y2: h - b, visibility: 'hidden' });
  const dots = series.map((s) => svg('circle', { class: `dot ${s.cls}`, r: 3, visibility: 'hidden' }));
  const overlay = svg('rect', { class: 'overlay', x: l, y: t, width: w - l - r, height: h - t - b });
  root.append(guide, ...dots, overlay);
  const tip = el('div', { class: 'tooltip', role: 'status', hidden: true });
  let idx = -1;
  const showAt = (i) => {
    idx = Math.max(0, Math.min(hist.length - 1, i));
    const p = hist[idx];
    const px = r2(x(p.epoch));
    guide.setAttribute('x1', px);
    guide.setAttribute('x2', px);
    guide.setAttribute('visibility', 'visible');
    series.forEach((s, k) => {
      dots[k].setAttribute('cx', px);
      dots[k].setAttribute('cy', r2(y(p[s.key])));
      dots[k].setAttribute('visibility', 'visible');
    });
    tip.replaceChildren(el('strong', { text: tr_('tipEpoch', p.epoch) + (p.epoch === be ? tr_('kept') : '') }),
      ...series.map((s) => el('div', { class: s.cls }, el('span', { class: 'swatch' }), `${s.label}: ${fmtY(p[s.key], true)}`)));
    tip.hidden = false;
    // place the tooltip beside the guide, inside the card (CSSOM, allowed by the CSP)
    const box = root.getBoundingClientRect();
    const host = root.parentElement.getBoundingClientRect();
    const gx = box.left - host.left + (px / w) * box.width;
    const left = gx > host.width / 2 ? gx - tip.offsetWidth - 10 : gx + 10;
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${box.top - host.top + 8}px`;
  };
  const hide = () => {
    tip.hidden = true;
    guide.setAttribute('visibility', 'hidden');
    for (const d of dots) d.setAttribute('visibility', 'hidden');
  };
  const indexAt = (clientX) => {
    const box = root.getBoundingClientRect();
    const e = e0 + (((clientX - box.left) / box.width) * w - l) / (w - l - r) * (e1 - e0);
    let bi = 0;
    for (let i = 1; i < hist.length; i++) if (Math.abs(hist[i].epoch - e) < Math.abs(hist[bi].epoch - e)) bi = i;
    return bi;
  };
  overlay.addEventListener('pointermove', (ev) => showAt(indexAt(ev.clientX)));
  overlay.addEventListener('pointerleave', hide);
  root.addEventListener('blur', hide);
  root.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
      ev.preventDefault();
      showAt(idx < 0 ? hist.length - 1 : idx + (ev.key === 'ArrowRight' ? 1 : -1));
    } else if (ev.key === 'Escape') hide();
  });
  const legend = el('div', { class: 'legend' }, el('span', { class: 'chart-title', text: title }),
    series.map((s) => el('span', { class: `key ${s.cls}` }, el('span', { class: 'swatch' }), s.label)));
  return el('figure', { class: 'chart-box', 'data-chart': kind }, legend, root, tip);
}

function renderCurves(r, root) {
  const all = r.models.flatMap((m) => m.history);
  const lossMax = Math.max(...all.flatMap((h) => [h.loss, h.val_loss]));
  const accMin = Math.min(...all.flatMap((h) => [h.accuracy, h.val_accuracy]));
  const shared = { loss: [0, niceCeil(lossMax)], acc: [Math.max(0, Math.floor(accMin * 10) / 10), 1] };
  const toggle = el('input', { type: 'checkbox', id: 'shared-scale', checked: true });
  const grid = el('div', { class: 'cards curves' });
  const draw = () => {
    grid.replaceChildren(...r.models.map((m) => {
      let yl = shared.loss;
      let ya = shared.acc;
      if (!toggle.checked) {
        yl = [0, niceCeil(Math.max(...m.history.flatMap((h) => [h.loss, h.val_loss])))];
        ya = [Math.max(0, Math.floor(Math.min(...m.history.flatMap((h) => [h.accuracy, h.val_accuracy])) * 20) / 20), 1];
      }
      const fmtLoss = (v, tip) => (tip ? v.toFixed(4) : String(+v.toFixed(2)));
      const fmtAcc = (v, tip) => (tip ? fmtPct(v) : `${Math.round(v * 100)}%`);
      return el('article', { class: 'card', 'data-id': m.id }, modelTitle(m, r),
        el('p', { class: 'muted small', text: tr_('epochsLine', m.history.length, bestEpoch(m))
          + (has(m.train_seconds) ? `, ${fmtSeconds(m.train_seconds)}` : '') + (m.device ? ` ${tr_('on')} ${m.device}` : '')
          + (has(m.seed) ? `, ${tr_('seed')} ${m.seed}` : '') }),
        lineChart(m, { title: tr_('loss'), kind: 'loss', yr: yl, fmtY: fmtLoss,
          series: [{ key: 'loss', label: tr_('train'), cls: 'train' }, { key: 'val_loss', label: tr_('validation'), cls: 'val' }] }),
        lineChart(m, { title: tr_('accuracy'), kind: 'accuracy', yr: ya, fmtY: fmtAcc,
          series: [{ key: 'accuracy', label: tr_('train'), cls: 'train' }, { key: 'val_accuracy', label: tr_('validation'), cls: 'val' }] }));
    }));
  };
  toggle.addEventListener('change', draw);
  draw();
  root.append(el('label', { class: 'toggle' }, toggle, tr_('sameAxis')), grid);
}

function niceCeil(v) {
  if (!(v > 0)) return 1;
  const mag = 10 ** Math.floor(Math.log10(v));
  return [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((k) => k * mag).find((s) => s >= v - 1e-12);
}

// ---- confusion matrices -------------------------------------------------------------------------

function renderConfusion(r, root) {
  const grid = el('div', { class: 'cards confusion' });
  for (const m of r.models) {
    if (Array.isArray(m.test.labels)) {
      grid.append(manyClassConfusionCard(m, r));
      continue;
    }
    const names = ['cat', 'dog'];
    const c = m.test.confusion;
    const table = el('table', { class: 'cm' },
      el('thead', {}, el('tr', {}, el('th', { class: 'corner', text: tr_('corner') }),
        names.map((n) => el('th', { scope: 'col', text: tr_(n) })))),
      el('tbody', {}, c.map((row, i) => {
        const n = row[0] + row[1];
        return el('tr', {}, el('th', { scope: 'row', text: tr_(names[i]) }), row.map((v, j) => {
          const frac = n ? v / n : 0;
          const td = el('td', { class: i === j ? 'hit' : 'miss', 'data-row': i, 'data-col': j },
            el('span', { class: 'count', text: v.toLocaleString('en-US') }),
            el('span', { class: 'pct', text: n ? fmtPct(frac) : '—' }));
          // shade by the row percentage (CSSOM property, allowed by style-src 'self')
          td.style.setProperty('--shade', frac.toFixed(3));
          return td;
        }));
      })));
    const t = m.test;
    // precision is null when a class was never predicted, recall when it has no test images
    const pr = (k) => (t.precision || t.recall
      ? tr_('precisionRecall', tr_(k), show(t.precision?.[k], fmtPct), show(t.recall?.[k], fmtPct)) : null);
    const total = c[0][0] + c[0][1] + c[1][0] + c[1][1];
    grid.append(el('article', { class: 'card', 'data-id': m.id }, modelTitle(m, r), table,
      el('p', { class: 'small', text: tr_('testImages', total.toLocaleString('en-US'), fmtPct(t.accuracy))
        + (has(t.log_loss) ? tr_('logLoss', t.log_loss.toFixed(4)) : '') }),
      has(t.threshold) && t.threshold !== 0.5
        ? el('p', { class: 'small threshold', text: tr_('threshold', t.threshold) }) : null,
      ['cat', 'dog'].map(pr).filter(Boolean).map((s) => el('p', { class: 'small muted', text: s }))));
  }
  root.append(grid);
}

// A class name as the page shows it: cat, dog and "neither" (i18n.js kindOf) in the reader's
// language, any other label as the model names it (always as text).
function className(label) {
  const kind = kindOf(label);
  return kind ? tr_(kind) : label;
}

// One cell of a confusion grid: the count and its share of the row, shaded by that share.
function confusionCell(v, rowTotal, i, j) {
  const frac = rowTotal ? v / rowTotal : 0;
  const td = el('td', { class: i === j ? 'hit' : 'miss', 'data-row': i, 'data-col': j },
    el('span', { class: 'count', text: v.toLocaleString('en-US') }),
    el('span', { class: 'pct', text: rowTotal ? fmtPct(frac) : '—' }));
  td.style.setProperty('--shade', frac.toFixed(3));  // CSSOM property, allowed by style-src 'self'
  return td;
}

// A K-class model's card: the K x K grid in label order (rows: true class, columns: the class with
// the highest probability), then recall and precision per class.
function manyClassConfusionCard(m, r) {
  const t = m.test;
  const names = t.labels.map(className);
  const table = el('table', { class: 'cm many', 'data-classes': t.labels.length },
    el('thead', {}, el('tr', {}, el('th', { class: 'corner', text: tr_('corner') }),
      names.map((n) => el('th', { scope: 'col', text: n })))),
    el('tbody', {}, t.confusion.map((row, i) => {
      const n = row.reduce((a, b) => a + b, 0);
      return el('tr', {}, el('th', { scope: 'row', text: names[i] }), row.map((v, j) => confusionCell(v, n, i, j)));
    })));
  const total = t.confusion.flat().reduce((a, b) => a + b, 0);
  const perClass = Array.isArray(t.per_class) ? t.per_class : [];
  return el('article', { class: 'card', 'data-id': m.id, 'data-classes': t.labels.length }, modelTitle(m, r), table,
    el('p', { class: 'small', text: tr_('testImages', total.toLocaleString('en-US'), fmtPct(t.accuracy))
      + (has(t.log_loss) ? tr_('logLoss', t.log_loss.toFixed(4)) : '') }),
    el('p', { class: 'small argmax', text: tr_('argmax', t.labels.length) }),
    el('ul', { class: 'small muted per-class-recall' }, perClass.map((x, i) => el('li', { 'data-label': x.label },
      tr_('precisionRecall', names[i], show(x.precision, fmtPct), show(x.recall, fmtPct))))));
}

// ---- reliability plots --------------------------------------------------------------------------

const CAL = { w: 220, h: 250, l: 36, r: 8, t: 8, plot: 176, gap: 8, bars: 30 };

function reliability(bins, { title, cls }) {
  const { w, l, r, t, plot, gap, bars } = CAL;
  const h = t + plot + gap + bars + 26;
  const x = (v) => l + v * (w - l - r);
  const y = (v) => t + (1 - v) * plot;
  const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, class: `chart reliability ${cls}`, role: 'img',
    'aria-label': tr_('reliabilityAria', title) });
  const grid = svg('g', { class: 'grid' });
  const axes = svg('g', { class: 'axis' });
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    grid.append(svg('line', { x1: l, x2: w - r, y1: r2(y(v)), y2: r2(y(v)) }));
    axes.append(svg('text', { x: l - 4, y: r2(y(v)) + 3, 'text-anchor': 'end', text: v }));
    axes.append(svg('text', { x: r2(x(v)), y: h - 14, 'text-anchor': 'middle', text: v }));
  }
  axes.append(svg('line', { x1: l, x2: w - r, y1: t + plot, y2: t + plot }), svg('line', { x1: l, x2: l, y1: t, y2: t + plot }),
    svg('text', { x: (l + w - r) / 2, y: h - 2, 'text-anchor': 'middle', class: 'label', text: tr_('meanP') }),
    svg('text', { x: 9, y: t + plot / 2, 'text-anchor': 'middle', class: 'label', transform: `rotate(-90 9 ${t + plot / 2})`, text: tr_('fracDogs') }));
  root.append(grid, axes, svg('line', { class: 'diagonal', x1: x(0), y1: y(0), x2: x(1), y2: y(1) }));
  // bin counts as bars in a strip under the plot
  const maxCount = Math.max(1, ...bins.map((b) => b.count));
  const by = t + plot + gap;
  const barG = svg('g', { class: 'bars' });
  for (const b of bins) {
    const bh = Math.sqrt(b.count / maxCount) * bars;  // square-root scale: small bins stay visible
    barG.append(svg('rect', { x: r2(x(b.lo) + 0.5), width: r2(Math.max(0, x(b.hi) - x(b.lo) - 1)), y: r2(by + bars - bh), height: r2(bh),
      'data-count': b.count }, svg('title', { text: tr_('binImages', b.lo.toFixed(2), b.hi.toFixed(2), b.count) })));
  }
  barG.append(svg('line', { x1: l, x2: w - r, y1: by + bars, y2: by + bars }));
  root.append(barG);
  const used = bins.filter((b) => b.count > 0);
  root.append(svg('polyline', { class: `series ${cls}`, points: used.map((b) => `${r2(x(b.mean_p))},${r2(y(b.frac_dog))}`).join(' ') }));
  for (const b of used) {
    root.append(svg('circle', { class: `dot ${cls}`, cx: r2(x(b.mean_p)), cy: r2(y(b.frac_dog)), r: 3.2 },
      svg('title', { text: tr_('binDot', b.lo.toFixed(2), b.hi.toFixed(2), b.count, b.mean_p.toFixed(3), fmtPct(b.frac_dog)) })));
  }
  const ece = eceFromBins(bins);
  return el('figure', { class: 'cal-box' }, root,
    el('figcaption', { text: `${title}${has(ece) ? ` — ECE ${ece.toFixed(4)}` : ''}` }));
}

function renderCalibration(r, root) {
  const grid = el('div', { class: 'cards calibration' });
  let any = false;
  for (const m of r.models) {
    const t = m.test;
    if (!Array.isArray(t.calibration) || !t.calibration.length) continue;
    any = true;
    const scaledTitle = `${tr_('tempScaled')}${has(t.temperature) ? ` (T = ${t.temperature.toFixed(3)})` : ''}`;
    // calibration_scaled: the only evaluation is of the temperature-scaled model (no "as trained" one)
    const plots = el('div', { class: 'cal-pair' }, reliability(t.calibration,
      t.calibration_scaled === true ? { title: scaledTitle, cls: 'after' } : { title: tr_('asTrained'), cls: 'before' }));
    if (Array.isArray(t.calibration_after) && t.calibration_after.length) {
      plots.append(reliability(t.calibration_after, {
        title: scaledTitle, cls: 'after' }));
    }
    grid.append(el('article', { class: `card${plots.children.length > 1 ? ' wide' : ''}`, 'data-id': m.id }, modelTitle(m, r), plots));
  }
  if (!any) root.append(el('p', { class: 'muted', text: tr_('noCalibration') }));
  root.append(grid);
  root.append(el('p', { class: 'muted small', text: tr_('calibrationNote') }));
}

// ---- worst mistakes -----------------------------------------------------------------------------

function drawThumb(canvas, bytes) {
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(THUMB_SIZE, THUMB_SIZE);
  for (let i = 0; i < bytes.length; i++) {
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = bytes[i];
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

// A K-class model's mistake: the true class, the class it was taken for, P(true class).
function manyClassThumb(w, i) {
  const canvas = el('canvas', { width: THUMB_SIZE, height: THUMB_SIZE, 'data-index': i,
    'aria-label': tr_('thumbAriaMany', className(w.label), w.path, className(w.predicted), w.p_true.toFixed(3)) });
  drawThumb(canvas, decodeThumb(w.pixels_b64));  // validated on load
  const kind = kindOf(w.label);
  return el('figure', { class: `thumb${kind ? ` ${kind}` : ''}` }, canvas,
    el('figcaption', {},
      el('span', { class: 'truth' }, tr_('truth'), el('strong', { text: className(w.label) }), tr_('seenAs', className(w.predicted))),
      el('span', { class: 'p', text: tr_('pTrue', w.p_true.toFixed(3)) }),
      el('span', { class: 'path', title: w.path, text: w.path })));
}

function renderWorst(r, root) {
  const withWorst = r.models.filter((m) => Array.isArray(m.test.worst) && m.test.worst.length);
  if (!withWorst.length) {
    root.append(el('p', { class: 'muted', text: tr_('noWorst') }));
    return;
  }
  const select = el('select', { id: 'worst-model' },
    withWorst.map((m) => el('option', { value: m.id, text: `${m.id}${m.id === r.chosen.id ? tr_('chosenParen') : ''}` })));
  select.value = withWorst.some((m) => m.id === r.chosen.id) ? r.chosen.id : withWorst[0].id;
  const grid = el('div', { class: 'thumbs', id: 'worst-grid' });
  const draw = () => {
    const m = withWorst.find((x) => x.id === select.value);
    grid.dataset.model = m.id;
    grid.replaceChildren(...m.test.worst.map((w, i) => {
      if (Array.isArray(m.test.labels)) return manyClassThumb(w, i);
      const canvas = el('canvas', { width: THUMB_SIZE, height: THUMB_SIZE, 'data-index': i,
        'aria-label': tr_('thumbAria', tr_(w.label), w.path, w.p_dog.toFixed(3)) });
      drawThumb(canvas, decodeThumb(w.pixels_b64));  // validated on load
      const wrongAs = w.p_dog >= 0.5 ? 'dog' : 'cat';
      return el('figure', { class: `thumb ${w.label}` }, canvas,
        el('figcaption', {},
          el('span', { class: 'truth' }, tr_('truth'), el('strong', { text: tr_(w.label) }), tr_('seenAs', tr_(wrongAs))),
          el('span', { class: 'p', text: tr_('pDog', w.p_dog.toFixed(3)) }),
          el('span', { class: 'path', title: w.path, text: w.path })));
    }));
  };
  select.addEventListener('change', draw);
  draw();
  root.append(el('label', { class: 'toggle' }, tr_('modelLabel'), select), grid,
    el('p', { class: 'muted small', text: tr_('worstNote') }));
}

// ---- loading ------------------------------------------------------------------------------------

export class ReportError extends Error {}

export async function loadReport(url) {
  let res;
  try {
    res = await fetch(url, { cache: 'no-cache' });
  } catch (e) {
    throw new ReportError(`Could not fetch ${url}: ${e.message}`);
  }
  if (!res.ok) throw new ReportError(`Could not load ${url}: HTTP ${res.status} ${res.statusText}`.trim());
  const text = await res.text();
  let report;
  try {
    report = JSON.parse(text);
  } catch (e) {
    throw new ReportError(`${url} is not valid JSON: ${e.message}`);
  }
  const problems = validateReport(report);
  if (problems.length) {
    const more = problems.length > 12 ? [`... and ${problems.length - 12} more`] : [];
    throw new ReportError(`${url} does not match the report format:`, { cause: [...problems.slice(0, 12), ...more] });
  }
  return report;
}

function showError(err, url) {
  const box = document.getElementById('status');
  box.className = 'error';
  box.replaceChildren(el('h2', { text: tr_('cannotShow') }),
    el('p', { id: 'error-message', text: err instanceof ReportError ? err.message : `${url}: ${err.message}` }));
  if (Array.isArray(err.cause)) box.append(el('ul', { id: 'error-list' }, err.cause.map((p) => el('li', { text: p }))));
  box.append(el('p', { class: 'muted small' }, tr_('buildIt'), el('code', {
    text: 'node scripts/make-report.mjs --run ID=DIR,eval=FILE ... --data-card FILE --chosen ID --why TEXT --out web/models/report.json' }),
  tr_('orOpen'), el('code', { text: '?report=URL' }), '.'));
  document.body.dataset.state = 'error';
}

// ---- language: ?lang=, else the live page's choice (localStorage), else the browser's (i18n.js) --
// Every text of the page in the reader's language; the numbers, model ids and the report file's
// own texts (title, why, notes) stay as the file gives them.
const tr_ = (key, ...a) => t(`report.${key}`, a);
// The static page's texts (report.html marks them data-i18n="key"), in the language of i18n.js.
function chooseLanguage(params) {
  initLanguage(params);
  document.documentElement.lang = language();
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = tr_(e.dataset.i18n);
  for (const e of document.querySelectorAll('[data-i18n-label]')) e.setAttribute('aria-label', tr_(e.dataset.i18nLabel));
  document.title = tr_('docTitle');
}
// A column's name and help in the reader's language (COLUMNS keeps the English ones, which
// scripts/make-report.mjs and the report's targets use).
const colLabel = (c) => tr_(`col_${c.key}`);
const colHelp = (c) => tr_(`help_${c.key}`);

// Confusion cells are shaded by their share; their text is black or white, whichever reads better
// on the shade as drawn (the translucent colour over the card, light or dark theme): one of the
// two always reaches 4.5:1.
function inkConfusionCells() {
  const lum = ([r, g, b]) => {
    const f = (v) => { const c = v / 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const rgba = (css) => (css.match(/[\d.]+/g) ?? []).map(Number);
  for (const td of document.querySelectorAll('table.cm td')) {
    const [r, g, b, a = 1] = rgba(getComputedStyle(td).backgroundColor);
    const under = rgba(getComputedStyle(td.closest('.card, article, section') ?? document.body).backgroundColor);
    const base = under.length >= 3 && (under[3] ?? 1) > 0 ? under : rgba(getComputedStyle(document.body).backgroundColor);
    const mix = [r, g, b].map((v, i) => v * a + base[i] * (1 - a));
    td.classList.toggle('dark', lum(mix) <= 0.18);
  }
}

// Accuracy on corrupted copies of the test split, one bar chart per model that has them: a group of
// bars per corruption (severity 1-3), the clean accuracy as a dashed line.
function renderRobustness(r, root) {
  const withC = r.models.filter((m) => isObj(m.corruptions));
  if (!withC.length) {
    root.append(el('p', { text: tr_('noRobust') }));
    return;
  }
  for (const m of withC) {
    const c = m.corruptions;
    const kinds = [...new Set(c.results.map((x) => x.corruption))];
    const sevs = [...new Set(c.results.map((x) => x.severity))].sort((a, b) => a - b);
    const W = 640, H = 220, L = 40, B = 60, T = 10, gw = (W - L - 10) / kinds.length, bw = (gw - 8) / sevs.length;
    const y = (v) => T + (1 - v) * (H - T - B) / 0.5;  // 50%..100%
    const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'robustness', role: 'img',
      'aria-label': tr_('robustAria', m.id) });
    for (const t of [0.5, 0.6, 0.7, 0.8, 0.9, 1]) {
      g.append(svg('line', { x1: L, x2: W - 10, y1: y(t), y2: y(t), class: 'grid' }),
        svg('text', { x: L - 4, y: y(t) + 4, 'text-anchor': 'end', class: 'tick', text: `${Math.round(t * 100)}%` }));
    }
    kinds.forEach((k, i) => {
      sevs.forEach((sv, j) => {
        const row = c.results.find((x) => x.corruption === k && x.severity === sv);
        const v = Math.max(0.5, row.accuracy);
        g.append(svg('rect', { x: L + i * gw + 4 + j * bw, y: y(v), width: bw - 2, height: y(0.5) - y(v), class: `sev sev${sv}` },
          svg('title', { text: tr_('sevTitle', k, sv, fmtPct(row.accuracy)) })));
      });
      g.append(svg('text', { x: L + i * gw + gw / 2, y: H - B + 14, 'text-anchor': 'middle', class: 'tick', text: k.replace('_', ' ') }));
    });
    g.append(svg('line', { x1: L, x2: W - 10, y1: y(c.clean_accuracy), y2: y(c.clean_accuracy), class: 'clean' }));
    const means = sevs.map((sv) => tr_('sevMean', sv, fmtPct(c.mean_by_severity?.[String(sv)]))).join(', ');
    root.append(el('div', { class: 'robust', 'data-id': m.id },
      el('h3', {}, m.id, packTag(r, m) ? ' ' : null, packTag(r, m)),
      el('p', { text: tr_('robustLine', fmtPct(c.clean_accuracy), kinds.length, means, sevs.join(' / '), c.seed, c.images) }),
      g));
  }
}

function render(r) {
  // The tab says what the heading says.
  document.title = r.title;
  document.getElementById('title').textContent = r.title;
  const gen = document.getElementById('generated');
  if (r.generated) {
    const d = new Date(r.generated);
    gen.textContent = tr_('generated', Number.isNaN(d.getTime()) ? r.generated : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));
  }
  const sections = [
    ['summary', renderSummary], ['data-card', renderDataCard], ['comparison', renderTable], ['curves', renderCurves],
    ['confusion', renderConfusion], ['calibration', renderCalibration], ['robustness', renderRobustness],
    ['worst', renderWorst],
  ];
  for (const [id, fn] of sections) {
    const sec = document.getElementById(id);
    fn(r, sec.querySelector('.body'));
    sec.hidden = false;
  }
  inkConfusionCells();
  document.getElementById('status').hidden = true;
  document.body.dataset.state = 'ready';
}

async function main() {
  const params = new URLSearchParams(location.search);
  chooseLanguage(params);
  const url = params.get('report') || 'models/report.json';
  try {
    render(await loadReport(url));
  } catch (e) {
    showError(e, url);
  }
}

if (typeof document !== 'undefined' && typeof window !== 'undefined') main();
