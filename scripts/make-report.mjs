#!/usr/bin/env node
// Assembles the report page's data (web/models/report.json, format in docs/REPORT_FORMAT.md) from
// training output folders, evaluation JSON files and the dataset's data card. Node >= 18, no deps.
//
//   node scripts/make-report.mjs \
//     --run cnn-aug=runs/cnn-aug,eval=runs/cnn-aug/eval.json[,model=web/models/cnn-aug][,ms=2.3] \
//     --run sepnet=runs/sepnet,eval=E.json,uncalibrated=U.json,model=web/models/sepnet,ms=1.6 \
//     --run robust=runs/robust,val=runs/robust/eval.json,eval=TEST.json,model=web/models/robust,pack=packs/new \
//     --run ... \
//     --data-card packs/pets/report.json \
//     [--chosen ID --why TEXT] [--title TEXT] [--no-targets] [--generated ISO-DATE] \
//     [--keep web/models/report.json] [--protocol TEXT] [--corruptions ID=FILE ...] \
//     --out web/models/report.json
//
// Per --run ID=DIR[,key=value...]:
//   DIR/history.jsonl  one JSON object per epoch: epoch, loss, accuracy, val_loss, val_accuracy
//   DIR/run.json       the trainer's run card: arch, augment, device, epochs_run, best_epoch,
//                      best {val_loss, val_accuracy}, timing {train_seconds, images_per_s}
//   eval=FILE          `catdog evaluate --json` output for the test split (default DIR/eval.json)
//   val=FILE           `catdog evaluate --split val --json` output: the exported model's validation
//                      accuracy, AUC and n (else the trainer's val_accuracy at the kept epoch)
//   card=FILE          this run's own data card (as --data-card), for a run on another pack than
//                      --data-card's: its val/test splits differ, and the page says so per model
//   pack=DIR           the same as card=DIR/report.json (the report `catdog prepare` writes)
//   model=PATH         the exported TF.js model (model.json or its folder): params and size_bytes
//   ms=NUMBER          measured WASM milliseconds per frame (else the evaluation's, if any)
//   uncalibrated=FILE  the evaluation of the same model before temperature scaling: its bins and
//                      ECE become the "as trained" calibration, eval=FILE's bins the "after" ones
//   T=NUMBER           the temperature (else the evaluation's "temperature", else the model's
//                      userDefinedMetadata.catdog.calibration.temperature written by `catdog calibrate`)
// --data-card: either a data card object as in the report format, or the report that
//   `catdog prepare` writes beside a pack (PACK/report.json), which is converted. It is the card of
//   every run without its own card=/pack=; with --keep and no --data-card, the kept report's card.
// Each model carries "pack_hash" (the pack its val/test numbers come from); the cards of packs other
//   than --data-card's go into "data_cards". Every eval/val/run.json hash must match the run's pack.
// --chosen: default the kept report's choice with --keep, else the model with the lowest
//   validation loss (the reason then says so). It may name a kept model.
// --keep FILE: the models of an earlier report whose ids are not among the --run ids are kept
//   unchanged after the new ones (their run folders need not exist any more), with the report's
//   data card(s), title and protocol unless given again.
// --protocol: the selection protocol stated on the page (default: DEVELOPERS.md's).
// An evaluation made with `catdog evaluate --corruptions` carries its "corruptions" block into the
//   model's entry (accuracy per corruption and severity on the test split, and the means); one made
//   with --ood-images its "ood" block (neither cat nor dog: FPR on N photos at the split's TPR);
//   --corruptions ID=FILE takes that block from FILE for model ID (e.g. a kept one).
// A K-class evaluation (labels of K > 2 classes, a K x K confusion) gives the model a K-class "test"
//   (labels, confusion, per_class, log_loss, ece; no AUC, threshold or P(dog) bins); its val= and
//   eval= labels must agree.
// Targets (the issue's): the tutorial CNN with augmentation >= 88% test accuracy, the chosen
//   model >= 94%; --no-targets leaves them out.
//
// Every input is checked; a problem exits with status 2 and a message naming the file and the
// field. The output is validated with the page's own validator (web/report.js) and written
// atomically (temp file + rename), so a failed run never leaves a half-written report.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { validateReport, eceFromBins } from '../web/report.js';

export class InputError extends Error {}

const DEFAULT_PROTOCOL = 'Every choice (architecture, recipe, epochs, seed, kept checkpoint, temperature, threshold, '
  + 'which model ships) was made on the validation split; the test split was evaluated once per shipped model, after '
  + 'the choice. Models shipped before 2026-12-04 were partly compared on the test split (see BENCHMARKS.md).';

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const has = (v) => v !== undefined && v !== null;

async function readText(file, what) {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new InputError(`${file}: cannot read ${what}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
}

async function readJson(file, what) {
  const text = await readText(file, what);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file}: ${what} is not valid JSON: ${e.message}`);
  }
}

function need(obj, key, file, check = isNum, want = 'a number') {
  const v = key.split('.').reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
  if (!check(v)) throw new InputError(`${file}: field "${key}" ${v === undefined ? 'is missing' : `is ${JSON.stringify(v)}`} (expected ${want})`);
  return v;
}

// ---- inputs ---------------------------------------------------------------------------------------

const RUN_KEYS = 'eval=FILE, val=FILE, model=PATH, ms=NUMBER, uncalibrated=FILE, T=NUMBER, card=FILE, pack=DIR';

// One --run value: "ID=DIR[,eval=FILE][,val=FILE][,model=PATH][,ms=NUMBER][,uncalibrated=FILE][,T=NUMBER]
// [,card=FILE|,pack=DIR]".
export function parseRunSpec(spec) {
  const m = /^([^=,]+)=([^,]+)((?:,[A-Za-z]+=[^,]*)*)$/.exec(spec);
  if (!m) throw new InputError(`--run '${spec}': expected ID=DIR[,key=value...] with keys ${RUN_KEYS}`);
  const out = { id: m[1].trim(), dir: m[2] };
  const given = new Set();
  for (const kv of m[3].split(',').filter(Boolean)) {
    const [k, v] = [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)];
    if (given.has(k)) throw new InputError(`--run '${spec}': key '${k}' is given twice`);
    given.add(k);
    if (['eval', 'val', 'model', 'uncalibrated', 'card', 'pack'].includes(k)) {
      if (!v) throw new InputError(`--run '${spec}': ${k}= needs a path`);
      out[k] = v;
    } else if (k === 'ms' || k === 'T') {
      out[k] = Number(v);
      if (!v || !Number.isFinite(out[k]) || out[k] <= 0) throw new InputError(`--run '${spec}': ${k}=${v} is not a positive number`);
    } else throw new InputError(`--run '${spec}': unknown key '${k}' (keys: ${RUN_KEYS})`);
  }
  if (out.card && out.pack) throw new InputError(`--run '${spec}': give card=FILE or pack=DIR, not both`);
  if (out.pack) {
    out.card = path.join(out.pack, 'report.json');
    delete out.pack;
  }
  if (!/^[A-Za-z0-9._-]+$/.test(out.id)) throw new InputError(`--run '${spec}': id '${out.id}' may only use letters, digits, '.', '_' and '-'`);
  return out;
}

export async function readHistory(file) {
  const text = await readText(file, 'the training history');
  const rows = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    let o;
    try {
      o = JSON.parse(lines[i]);
    } catch (e) {
      throw new InputError(`${file}:${i + 1}: not a JSON object: ${e.message}`);
    }
    const at = `${file}:${i + 1}`;
    const row = { epoch: need(o, 'epoch', at, Number.isInteger, 'an integer') };
    for (const k of ['loss', 'accuracy', 'val_loss', 'val_accuracy']) row[k] = need(o, k, at);
    if (rows.length && row.epoch <= rows[rows.length - 1].epoch) {
      throw new InputError(`${at}: epoch ${row.epoch} does not follow epoch ${rows[rows.length - 1].epoch}`);
    }
    rows.push(row);
  }
  if (!rows.length) throw new InputError(`${file}: the training history has no epochs`);
  return rows;
}

// params and size of an exported TF.js layers model (model.json + its weight files).
export async function modelStats(p) {
  let file = p;
  try {
    if ((await fs.stat(p)).isDirectory()) file = path.join(p, 'model.json');
  } catch {
    throw new InputError(`${p}: no such model file or folder`);
  }
  const mj = await readJson(file, 'the model');
  const temperature = mj.userDefinedMetadata?.catdog?.calibration?.temperature ?? mj.userDefinedMetadata?.catdog?.temperature;
  const groups = mj.weightsManifest;
  if (!Array.isArray(groups)) throw new InputError(`${file}: field "weightsManifest" is missing (not a TF.js layers model?)`);
  let params = 0;
  let bytes = (await fs.stat(file)).size;
  for (const g of groups) {
    for (const w of g.weights ?? []) {
      if (!Array.isArray(w.shape)) throw new InputError(`${file}: weight "${w.name}" has no shape`);
      params += w.shape.reduce((a, b) => a * b, 1);
    }
    for (const shard of g.paths ?? []) {
      try {
        bytes += (await fs.stat(path.join(path.dirname(file), shard))).size;
      } catch {
        throw new InputError(`${file}: weight file "${shard}" is missing`);
      }
    }
  }
  return { params, size_bytes: bytes, temperature: isNum(temperature) ? temperature : null };
}

// ---- the evaluation mapping (the one place that knows `catdog evaluate --json`) ---------------------
//
// Maps an evaluation JSON onto the report's "test" object (or, with split 'val', the metrics of a
// validation evaluation). `catdog evaluate --json` writes the
// report's field names (metrics.h ToJson: n, threshold, accuracy, precision, recall, confusion, auc,
// ece, log_loss, calibration; plus model, source, backend, worst, skipped). Its "source" names the
// pack split and content hash, which are checked (the split asked for; the run's pack): a test
// column fed with a validation evaluation is refused, and the reverse. Also accepted: the metrics nested under "test" or "splits.test"; "roc_auc"; confusion as
// {"tn","fp","fn","tp"} (dog = positive) or {"cat_as_cat",...}; worst-mistake labels as 0/1;
// precision/recall/ECE computed from the confusion matrix / calibration bins when absent.
export function mapEvaluation(ev, file, split = 'test') {
  if (ev === null || typeof ev !== 'object' || Array.isArray(ev)) throw new InputError(`${file}: the evaluation is not a JSON object`);
  const src = evaluatedSplit(ev);
  if (src && src !== split) {
    const what = split === 'test' ? "the report's test metrics (eval=)" : "the report's validation metrics (val=)";
    throw new InputError(`${file}: evaluates the '${src}' split${sourceNote(ev)}; ${what} need \`catdog evaluate --split ${split}\``);
  }
  let e = ev;
  if (ev[split] && typeof ev[split] === 'object') e = ev[split];
  else if (ev.splits?.[split] && typeof ev.splits[split] === 'object') e = ev.splits[split];
  if (isManyClass(e)) return mapManyClassEvaluation(e, ev, file);
  const accuracy = need(e, 'accuracy', file, (v) => isNum(v) && v >= 0 && v <= 1, 'a fraction in [0, 1]');
  const confusion = mapConfusion(e.confusion ?? e.confusion_matrix, file);
  const [[cc, cd], [dc, dd]] = confusion;
  const div = (a, b) => (b > 0 ? a / b : null);
  const pr = (k) => (e[k] && typeof e[k] === 'object' && isNum(e[k].cat) && isNum(e[k].dog) ? { cat: e[k].cat, dog: e[k].dog } : null);
  const test = {
    accuracy,
    precision: pr('precision') ?? { cat: div(cc, cc + dc), dog: div(dd, dd + cd) },
    recall: pr('recall') ?? { cat: div(cc, cc + cd), dog: div(dd, dd + dc) },
    confusion,
    auc: e.auc ?? e.roc_auc ?? null,
    ece: null,
    calibration: mapBins(e.calibration ?? e.reliability, file, 'calibration'),
  };
  test.ece = e.ece ?? (test.calibration ? eceFromBins(test.calibration) : null);
  for (const k of ['n', 'threshold', 'log_loss']) if (isNum(e[k])) test[k] = e[k];
  const after = mapBins(e.calibration_after, file, 'calibration_after');
  if (after) test.calibration_after = after;
  const temperature = e.temperature ?? ev.temperature;
  if (has(temperature)) test.temperature = need({ temperature }, 'temperature', file);
  const worst = e.worst ?? e.mistakes ?? ev.worst;
  if (has(worst)) {
    if (!Array.isArray(worst)) throw new InputError(`${file}: field "worst" is not an array`);
    test.worst = worst.map((w, i) => {
      const at = `${file}: worst[${i}]`;
      const label = w.label === 1 || w.label === 'dog' ? 'dog' : w.label === 0 || w.label === 'cat' ? 'cat' : null;
      if (!label) throw new InputError(`${at}: field "label" is ${JSON.stringify(w.label)} (expected "cat" or "dog")`);
      return {
        path: need(w, 'path', at, (v) => typeof v === 'string', 'a string'),
        label,
        p_dog: need(w, 'p_dog', at, (v) => isNum(v) && v >= 0 && v <= 1, 'a probability'),
        pixels_b64: need(w, 'pixels_b64', at, (v) => typeof v === 'string', 'base64 of 100x100 gray bytes'),
      };
    });
  }
  const n = cc + cd + dc + dd;
  if (n > 0 && Math.abs((cc + dd) / n - accuracy) > 1e-3) {
    throw new InputError(`${file}: accuracy ${accuracy} does not match the confusion matrix (${cc + dd}/${n} = ${((cc + dd) / n).toFixed(4)})`);
  }
  return test;
}

// ---- K-class evaluations (labels ["cat", "dog", "neither"] or a user's own, K > 2) ------------------
//
// `catdog evaluate --json` on a K-class model writes labels, a K x K confusion (rows: true class,
// columns: predicted, in label order), per_class, log_loss, ece, temperature and worst; there is no
// AUC, threshold or P(dog) calibration, and the report gets none (never faked from the matrix).

// An evaluation of a model with more than two classes: more than two labels, or a confusion matrix
// with more than two rows (then the labels must be given).
function isManyClass(e) {
  return (Array.isArray(e.labels) && e.labels.length > 2) || (Array.isArray(e.confusion) && e.confusion.length > 2);
}

// The class names: unique non-empty strings, more than two.
function checkLabels(labels, file) {
  if (!Array.isArray(labels)) {
    throw new InputError(`${file}: field "labels" ${labels === undefined ? 'is missing' : `is ${JSON.stringify(labels)}`} `
      + '(expected the class names, one per row of "confusion")');
  }
  if (labels.length < 3) throw new InputError(`${file}: field "labels" is ${JSON.stringify(labels)} but "confusion" has more than two rows`);
  labels.forEach((l, i) => {
    if (typeof l !== 'string' || !l.trim()) throw new InputError(`${file}: field "labels[${i}]" is ${JSON.stringify(l)} (expected a non-empty class name)`);
    if (labels.indexOf(l) !== i) throw new InputError(`${file}: field "labels" names ${JSON.stringify(l)} twice (labels[${labels.indexOf(l)}] and labels[${i}])`);
  });
  return labels;
}

// A K x K matrix of counts, K = the number of labels.
function checkSquareConfusion(c, k, file) {
  if (!Array.isArray(c)) throw new InputError(`${file}: field "confusion" ${c === undefined ? 'is missing' : `is ${JSON.stringify(c).slice(0, 80)}`} (expected ${k} x ${k} counts)`);
  if (c.length !== k) throw new InputError(`${file}: field "confusion" has ${c.length} rows, but "labels" names ${k} classes (expected ${k} x ${k})`);
  c.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== k) {
      throw new InputError(`${file}: field "confusion[${i}]" is ${JSON.stringify(row).slice(0, 80)} (expected a row of ${k} counts)`);
    }
    row.forEach((v, j) => {
      if (!Number.isInteger(v) || v < 0) throw new InputError(`${file}: field "confusion[${i}][${j}]" is ${JSON.stringify(v)} (expected a non-negative integer count)`);
    });
  });
  return c;
}

// Per class (label order): test images, recall (of the row) and precision (of the column), from the
// matrix itself; null where there is nothing to divide by.
function perClassFromConfusion(labels, c) {
  return labels.map((label, i) => {
    const images = c[i].reduce((a, b) => a + b, 0);
    const predicted = c.reduce((a, row) => a + row[i], 0);
    return { label, images, precision: predicted ? c[i][i] / predicted : null, recall: images ? c[i][i] / images : null };
  });
}

// A K-class worst mistake: the true label and the prediction (both one of the labels), P(true class).
function mapManyClassWorst(worst, labels, file) {
  if (!Array.isArray(worst)) throw new InputError(`${file}: field "worst" is not an array`);
  return worst.map((w, i) => {
    const at = `${file}: worst[${i}]`;
    const oneOf = (v) => labels.includes(v);
    return {
      path: need(w, 'path', at, (v) => typeof v === 'string', 'a string'),
      label: need(w, 'label', at, oneOf, `one of ${JSON.stringify(labels)}`),
      predicted: need(w, 'predicted', at, oneOf, `one of ${JSON.stringify(labels)}`),
      p_true: need(w, 'p_true', at, (v) => isNum(v) && v >= 0 && v <= 1, 'a probability'),
      pixels_b64: need(w, 'pixels_b64', at, (v) => typeof v === 'string', 'base64 of 100x100 gray bytes'),
    };
  });
}

function mapManyClassEvaluation(e, ev, file) {
  const labels = checkLabels(e.labels, file);
  const confusion = checkSquareConfusion(e.confusion, labels.length, file);
  const accuracy = need(e, 'accuracy', file, (v) => isNum(v) && v >= 0 && v <= 1, 'a fraction in [0, 1]');
  const n = confusion.flat().reduce((a, b) => a + b, 0);
  const right = confusion.reduce((a, row, i) => a + row[i], 0);
  if (n > 0 && Math.abs(right / n - accuracy) > 1e-3) {
    throw new InputError(`${file}: accuracy ${accuracy} does not match the confusion matrix (${right}/${n} = ${(right / n).toFixed(4)})`);
  }
  if (has(e.n) && e.n !== n) throw new InputError(`${file}: field "n" is ${JSON.stringify(e.n)}, but the confusion matrix counts ${n} images`);
  const test = { accuracy, labels, confusion, per_class: perClassFromConfusion(labels, confusion), n };
  const frac = (v) => isNum(v) && v >= 0 && v <= 1;
  test.ece = has(e.ece) ? need(e, 'ece', file, frac, 'a fraction in [0, 1]') : null;
  if (has(e.log_loss)) test.log_loss = need(e, 'log_loss', file, (v) => isNum(v) && v >= 0, 'a non-negative number');
  const temperature = e.temperature ?? ev.temperature;
  if (has(temperature)) test.temperature = need({ temperature }, 'temperature', file);
  const worst = e.worst ?? ev.worst;
  if (has(worst)) test.worst = mapManyClassWorst(worst, labels, file);
  return test;
}

// The class names of a mapped evaluation (a two-class one has none written: cat, dog).
export const labelsOf = (t) => t.labels ?? ['cat', 'dog'];

// The split a text names ("pack P split val (content hash H)", an ood block's "split test"), or null.
const splitNamedIn = (text) => (typeof text === 'string' ? /\bsplit (\w+)/.exec(text)?.[1] ?? null : null);
// The split of an evaluation: its "split" field (`catdog evaluate --json` writes it), else the split its
// prose "source" names (files written before the field), or null.
export function evaluatedSplit(ev) {
  return typeof ev?.split === 'string' ? ev.split : splitNamedIn(ev?.source);
}
// The number of images a mapped evaluation counted (its confusion matrix).
const imagesIn = (t) => t.confusion.flat().reduce((x, y) => x + y, 0);
// ' ("SOURCE")' for a message about an evaluation that has a prose source, else ''.
const sourceNote = (ev) => (typeof ev?.source === 'string' ? ` ("${ev.source}")` : '');
// The pack content hash of an evaluation: its "pack_hash" field, else the one its "source" names, or null.
const evaluatedPack = (ev) => (typeof ev?.pack_hash === 'string' ? ev.pack_hash
  : typeof ev?.source === 'string' ? /content hash ([0-9a-f]+)/.exec(ev.source)?.[1] ?? null : null);

// `catdog evaluate --ood-images DIR` ("neither cat nor dog"): of ood_images photos with no cat or dog,
// ood_accepted were taken for one (fpr), while tpr of the split's photos were accepted.
function mapOod(o, file) {
  if (!has(o)) return null;
  if (!isObj(o)) throw new InputError(`${file}: field "ood" is not an object`);
  const split = splitNamedIn(o.split);
  if (split && split !== 'test') throw new InputError(`${file}: ood: measured on the '${split}' split ("${o.split}"); the report's OOD line is of the test split`);
  const frac = (v) => isNum(v) && v >= 0 && v <= 1;
  const count = (v) => Number.isInteger(v) && v >= 0;
  const out = {
    method: typeof o.method === 'string' ? o.method : null,
    threshold: isNum(o.threshold) ? o.threshold : null,
    fpr: need(o, 'fpr', `${file}: ood`, frac, 'a fraction in [0, 1]'),
    tpr: need(o, 'tpr', `${file}: ood`, frac, 'a fraction in [0, 1]'),
    auroc: frac(o.auroc) ? o.auroc : null,
    ood_images: need(o, 'ood_images', `${file}: ood`, (v) => count(v) && v > 0, 'a positive count'),
    ood_accepted: need(o, 'ood_accepted', `${file}: ood`, count, 'a count'),
    split_images: count(o.split_images) ? o.split_images : null,
    split_accepted: count(o.split_accepted) ? o.split_accepted : null,
    images: typeof o.images === 'string' ? o.images : null,
  };
  if (out.ood_accepted > out.ood_images) throw new InputError(`${file}: ood: ood_accepted ${out.ood_accepted} > ood_images ${out.ood_images}`);
  return out;
}

function mapConfusion(c, file) {
  const int = (v) => Number.isInteger(v) && v >= 0;
  if (Array.isArray(c) && c.length === 2 && c.every((r) => Array.isArray(r) && r.length === 2 && r.every(int))) return c;
  if (c && typeof c === 'object' && ['tn', 'fp', 'fn', 'tp'].every((k) => int(c[k]))) return [[c.tn, c.fp], [c.fn, c.tp]];
  if (c && typeof c === 'object' && ['cat_as_cat', 'cat_as_dog', 'dog_as_cat', 'dog_as_dog'].every((k) => int(c[k]))) {
    return [[c.cat_as_cat, c.cat_as_dog], [c.dog_as_cat, c.dog_as_dog]];
  }
  throw new InputError(`${file}: field "confusion" ${c === undefined ? 'is missing' : `is ${JSON.stringify(c).slice(0, 80)}`}`
    + ' (expected [[cat_as_cat, cat_as_dog], [dog_as_cat, dog_as_dog]] or {tn, fp, fn, tp})');
}

function mapBins(bins, file, key) {
  if (!has(bins)) return null;
  if (!Array.isArray(bins)) throw new InputError(`${file}: field "${key}" is not an array of bins`);
  return bins.map((b, i) => {
    const at = `${file}: ${key}[${i}]`;
    const o = {
      lo: need(b, 'lo', at), hi: need(b, 'hi', at),
      count: need(b, 'count', at, (v) => Number.isInteger(v) && v >= 0, 'a count'),
    };
    // an empty bin has no mean; the report stores 0 there
    o.mean_p = o.count ? need(b, 'mean_p', at) : (b.mean_p ?? 0);
    o.frac_dog = o.count ? need(b, 'frac_dog', at) : (b.frac_dog ?? 0);
    return o;
  });
}

// ---- data card ------------------------------------------------------------------------------------

// The classes of a prepare report's per_split: cat and dog, then any other class a K-class pack
// has ("neither", a user's own), in the order the report lists them.
function packClasses(perSplit) {
  const names = new Set(['cat', 'dog']);
  for (const sp of ['train', 'val', 'test']) if (isObj(perSplit?.[sp])) for (const k of Object.keys(perSplit[sp])) names.add(k);
  return [...names];
}

// A data card as in the report format, or the `catdog prepare` report converted into one.
export function mapDataCard(j, file) {
  if (!j || typeof j !== 'object') throw new InputError(`${file}: the data card is not a JSON object`);
  if (j.data_card && typeof j.data_card === 'object') j = j.data_card;
  if (!j.per_split) return j;  // already a data card
  const per_class = {};
  for (const cls of packClasses(j.per_split)) {
    per_class[cls] = {};
    for (const sp of ['train', 'val', 'test']) per_class[cls][sp] = need(j, `per_split.${sp}.${cls}`, file, Number.isInteger, 'a count');
  }
  const s = j.settings ?? {};
  const skipped = {};
  for (const [reason, n] of Object.entries(j.skipped ?? {})) if (n > 0) skipped[reason] = n;
  const images = Array.isArray(s.images) ? s.images.join(', ') : 'unknown';
  return {
    source: images,
    pack_hash: need(j, 'pack.content_hash', file, (v) => typeof v === 'string' && v.length > 0, 'the pack content hash'),
    seed: need(j, 'settings.seed', file, Number.isInteger, 'an integer'),
    val_fraction: need(j, 'settings.val_fraction', file),
    test_fraction: need(j, 'settings.test_fraction', file),
    per_class,
    skipped,
    duplicates: Number.isInteger(j.duplicates) ? j.duplicates : 0,
    notes: `${j.images_found ?? '?'} files found, ${j.images_used ?? '?'} used. Exact duplicates (same file bytes) `
      + 'are dropped before the split, keeping the first; the split is stratified per class by a seeded shuffle. '
      + `Images are ${s.size ?? 100}x${s.size ?? 100} gray (${s.fit ?? 'stretch'}, ${s.gray ?? 'bt601'}), `
      + 'made by the same core function the browser uses.',
  };
}

// ---- assembly -------------------------------------------------------------------------------------

function corruptionsBlock(c) {
  return { seed: c.seed, images: c.images, clean_accuracy: c.clean_accuracy, mean_by_severity: c.mean_by_severity,
    results: c.results };
}

export async function buildModel(spec) {
  const runFile = path.join(spec.dir, 'run.json');
  const run = await readJson(runFile, 'the run card');
  const history = await readHistory(path.join(spec.dir, 'history.jsonl'));
  const evalFile = spec.eval ?? path.join(spec.dir, 'eval.json');
  const ev = await readJson(evalFile, `the evaluation of '${spec.id}' (pass --run ${spec.id}=DIR,eval=FILE from \`catdog evaluate --json\`)`);
  const test = mapEvaluation(ev, evalFile);
  const arch = need(run, 'arch', runFile, (v) => typeof v === 'string' && v.length > 0, 'a string');
  const augment = need(run, 'augment', runFile, (v) => typeof v === 'boolean', 'true or false');
  const bestEpoch = Number.isInteger(run.best_epoch) && run.best_epoch > 0 ? run.best_epoch
    : history.reduce((b, h) => (h.val_loss < b.val_loss ? h : b)).epoch;
  const bestRow = history.find((h) => h.epoch === bestEpoch);
  const val = isNum(run.best?.val_loss) ? { loss: run.best.val_loss, accuracy: run.best.val_accuracy ?? bestRow?.val_accuracy ?? null }
    : bestRow ? { loss: bestRow.val_loss, accuracy: bestRow.val_accuracy } : { loss: null, accuracy: null };
  // val=: the exported model through the core on the validation split (what the choice was made on)
  const evals = [{ file: evalFile, hash: evaluatedPack(ev) }];
  if (spec.val) {
    const vev = await readJson(spec.val, `the validation evaluation of '${spec.id}' (val=, from \`catdog evaluate --split val --json\`)`);
    const v = mapEvaluation(vev, spec.val, 'val');
    // one model, one set of classes: the validation and test evaluations must name the same labels
    if (JSON.stringify(labelsOf(v)) !== JSON.stringify(labelsOf(test))) {
      throw new InputError(`${spec.val}: labels ${JSON.stringify(labelsOf(v))} are not those of ${evalFile} `
        + `(${JSON.stringify(labelsOf(test))}): not evaluations of the same model`);
    }
    val.accuracy = v.accuracy;
    if (has(v.auc)) val.auc = v.auc;
    const n = imagesIn(v);
    if (n > 0) val.n = n;
    evals.push({ file: spec.val, hash: evaluatedPack(vev) });
  }
  let stats = { params: ev.params ?? null, size_bytes: ev.size_bytes ?? null, temperature: null };
  if (spec.model) stats = await modelStats(spec.model);
  if (spec.uncalibrated) {
    // eval= is the model as shipped (temperature-scaled), uncalibrated= the same model before
    const uev = await readJson(spec.uncalibrated, `the uncalibrated evaluation of '${spec.id}'`);
    const unc = mapEvaluation(uev, spec.uncalibrated);
    evals.push({ file: spec.uncalibrated, hash: evaluatedPack(uev) });
    if (!test.calibration || !unc.calibration) {
      throw new InputError(`${test.calibration ? spec.uncalibrated : evalFile}: field "calibration" is missing (needed with uncalibrated=)`);
    }
    if (imagesIn(unc) !== imagesIn(test)) {
      throw new InputError(`${spec.uncalibrated}: ${imagesIn(unc)} images, but ${evalFile} has ${imagesIn(test)}: not the same evaluation set`);
    }
    test.calibration_after = test.calibration;
    test.calibration = unc.calibration;
    test.ece = unc.ece;
  }
  // A temperature-scaled evaluation without its uncalibrated twin: its bins and ECE are after scaling,
  // and the page must not call them "as trained".
  if (!spec.uncalibrated && ev.calibrated === true) test.calibration_scaled = true;
  const temperature = spec.T ?? (isNum(ev.temperature) ? ev.temperature : null) ?? stats.temperature;
  if (isNum(temperature)) test.temperature = temperature;
  const ood = mapOod(ev.ood, evalFile);
  return {
    id: spec.id,
    arch,
    augment,
    params: stats.params,
    size_bytes: stats.size_bytes,
    epochs: Number.isInteger(run.epochs_run) && run.epochs_run > 0 ? run.epochs_run : history.length,
    // the trainer's run.json said train_seconds, now epochs_seconds (the epochs' time, no start-up)
    train_seconds: run.timing?.train_seconds ?? run.timing?.epochs_seconds ?? null,
    images_per_s: run.timing?.images_per_s ?? null,
    device: typeof run.device === 'string' ? run.device : null,
    best_epoch: bestEpoch,
    seed: Number.isInteger(run.seed) && run.seed >= 0 ? run.seed : null,
    history,
    val,
    test,
    ms_per_frame_wasm: spec.ms ?? ev.ms_per_frame_wasm ?? null,
    ...(isObj(ev.corruptions) ? { corruptions: corruptionsBlock(ev.corruptions) } : {}),
    ...(ood ? { ood } : {}),
    pack_hash: null,  // set by buildReport from the run's data card
    run_hash: typeof run.pack?.content_hash === 'string' ? run.pack.content_hash : null,  // checked, then dropped
    evals,  // the evaluations' pack hashes, checked, then dropped
  };
}

// A data card file (--data-card, card=, pack=), read once per path.
async function loadCard(file, cache) {
  if (!cache.has(file)) {
    const card = mapDataCard(await readJson(file, 'the data card'), file);
    if (!isObj(card)) throw new InputError(`${file}: the data card is not a JSON object`);
    // The report `catdog prepare` writes beside its pack describes that pack only while their hashes
    // agree: a prepare killed between its pack.json and its report leaves the old report behind.
    const manifest = path.join(path.dirname(file), 'pack.json');
    if (path.basename(file) === 'report.json' && await fs.access(manifest).then(() => true, () => false)) {
      const packHash = (await readJson(manifest, 'the pack manifest'))?.content_hash;
      if (typeof packHash === 'string' && packHash !== card.pack_hash)
        throw new InputError(`${file}: describes the pack with content hash ${card.pack_hash}, but ${manifest} `
          + `says ${packHash} (a prepare was stopped before it rewrote its report): run catdog prepare again`);
    }
    cache.set(file, card);
  }
  return cache.get(file);
}

export async function buildReport(opts) {
  if (!opts.runs?.length) throw new InputError('at least one --run ID=DIR is required');
  const specs = opts.runs.map(parseRunSpec);
  const seen = new Set();
  for (const s of specs) {
    if (seen.has(s.id)) throw new InputError(`--run: id '${s.id}' is given twice`);
    seen.add(s.id);
  }
  const old = opts.keep ? await readJson(opts.keep, 'the report to keep models from') : null;
  if (old && !isObj(old)) throw new InputError(`${opts.keep}: the report to keep models from is not a JSON object`);
  if (old) {
    const problems = validateReport(old);
    if (problems.length) throw new InputError(`${opts.keep}: the report to keep models from is not valid:\n  ${problems.slice(0, 8).join('\n  ')}`);
  }
  const cards = new Map();  // file -> data card
  let dataCard = null;
  let dataCardFrom = null;
  if (opts.dataCard) {
    dataCard = await loadCard(opts.dataCard, cards);
    dataCardFrom = opts.dataCard;
  } else if (old && isObj(old.data_card)) {
    dataCard = old.data_card;
    dataCardFrom = `${opts.keep} (data_card)`;
  }
  const models = [];
  const extraCards = new Map();  // pack hash -> card, packs other than dataCard's
  for (const s of specs) {
    const m = await buildModel(s);
    const card = s.card ? await loadCard(s.card, cards) : dataCard;
    const cardFrom = s.card ?? dataCardFrom;
    const cardHash = typeof card?.pack_hash === 'string' && card.pack_hash ? card.pack_hash : null;
    const runFile = path.join(s.dir, 'run.json');
    if (s.card && !cardHash) throw new InputError(`${s.card}: the data card of '${s.id}' has no "pack_hash"`);
    if (cardHash && m.run_hash && m.run_hash !== cardHash) {
      throw new InputError(`${runFile}: pack.content_hash ${m.run_hash} is not the data card's pack ${cardHash} (${cardFrom}): '${m.id}' `
        + `was trained on another dataset${s.card ? '' : ` (give the run its own card: --run ${s.id}=DIR,pack=PACK or card=FILE)`}`);
    }
    const packHash = cardHash || m.run_hash;
    for (const e of m.evals) {
      if (packHash && e.hash && e.hash !== packHash) {
        throw new InputError(`${e.file}: evaluated on pack ${e.hash}, but '${m.id}' belongs to pack ${packHash}`);
      }
    }
    m.pack_hash = packHash ?? m.evals.find((e) => e.hash)?.hash ?? null;
    if (m.pack_hash === null) delete m.pack_hash;
    if (s.card && cardHash !== dataCard?.pack_hash) extraCards.set(cardHash, card);
    delete m.run_hash;
    delete m.evals;
    models.push(m);
  }
  if (old) {
    const oldHash = isObj(old.data_card) ? old.data_card.pack_hash : null;
    for (const c of Array.isArray(old.data_cards) ? old.data_cards : []) {
      if (isObj(c) && c.pack_hash && c.pack_hash !== dataCard?.pack_hash && !extraCards.has(c.pack_hash)) extraCards.set(c.pack_hash, c);
    }
    for (const m of Array.isArray(old.models) ? old.models : []) {
      if (seen.has(m.id)) continue;
      // a kept model without "pack_hash" is on the kept report's data card: say so if that is no
      // longer the report's main card, and keep that card
      if (!has(m.pack_hash) && oldHash && oldHash !== dataCard?.pack_hash) {
        models.push({ ...m, pack_hash: oldHash });
        if (!extraCards.has(oldHash)) extraCards.set(oldHash, old.data_card);
      } else models.push(m);
    }
  }
  // A kept card that no model names any more (its models were all rerun on another pack) goes.
  const named = new Set(models.map((m) => m.pack_hash).filter(Boolean));
  for (const h of [...extraCards.keys()]) if (!named.has(h)) extraCards.delete(h);
  const ids = new Set(models.map((m) => m.id));
  let chosen;
  if (opts.chosen) {
    if (!ids.has(opts.chosen)) throw new InputError(`--chosen '${opts.chosen}': not one of the runs (${[...ids].join(', ')})`);
    const why = opts.why ?? (old?.chosen?.id === opts.chosen ? old.chosen.why : undefined);
    chosen = { id: opts.chosen, why: why ?? '' };
  } else if (old && isObj(old.chosen) && ids.has(old.chosen.id)) {
    chosen = { ...old.chosen, ...(opts.why ? { why: opts.why } : {}) };
  } else {
    const withVal = models.filter((m) => isNum(m.val?.loss));
    if (!withVal.length) throw new InputError('--chosen is required: no run has a validation loss to choose by');
    const best = withVal.reduce((b, m) => (m.val.loss < b.val.loss ? m : b));
    chosen = { id: best.id, why: opts.why ?? `Lowest validation loss of the ${models.length} models (${best.val.loss.toFixed(4)} at epoch ${best.best_epoch}).` };
  }
  for (const spec of opts.corruptions ?? []) {
    const eq = spec.indexOf('=');
    const id = spec.slice(0, eq), file = spec.slice(eq + 1);
    const m = models.find((x) => x.id === id);
    if (eq < 1 || !m) throw new InputError(`--corruptions '${spec}': expected ID=FILE with ID one of the models`);
    const ev = await readJson(file, `the --corruptions evaluation of '${id}'`);
    if (!isObj(ev.corruptions)) throw new InputError(`${file}: no "corruptions" block (run catdog evaluate --corruptions --json)`);
    const split = evaluatedSplit(ev);
    if (split && split !== 'test') throw new InputError(`${file}: evaluates the '${split}' split${sourceNote(ev)}; the report's robustness chart is of the test split`);
    m.corruptions = corruptionsBlock(ev.corruptions);
  }
  const report = {
    generated: opts.generated ?? new Date().toISOString(),
    title: opts.title ?? (typeof old?.title === 'string' ? old.title : 'catdog model comparison'),
    protocol: opts.protocol ?? (typeof old?.protocol === 'string' ? old.protocol : DEFAULT_PROTOCOL),
    chosen,
    data_card: dataCard,
    ...(extraCards.size ? { data_cards: [...extraCards.values()] } : {}),
    models,
  };
  if (!opts.noTargets) {
    const targets = [];
    const tutorial = models.find((m) => m.arch === 'cnn' && m.augment);
    if (tutorial) {
      targets.push({ label: 'Tutorial CNN with augmentation (the tutorial reached about 86% on validation)', model: tutorial.id, metric: 'test_accuracy', min: 0.88 });
    }
    targets.push({ label: 'Best model (goal: 96%)', model: chosen.id, metric: 'test_accuracy', min: 0.96 });
    report.targets = targets;
  }
  const problems = validateReport(report);
  if (problems.length) throw new InputError(`the assembled report is not valid:\n  ${problems.join('\n  ')}`);
  return report;
}

export async function writeAtomic(file, text) {
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await fs.writeFile(tmp, text);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

const USAGE = `usage: node scripts/make-report.mjs --run ID=DIR[,eval=FILE][,val=FILE][,model=PATH][,ms=N][,pack=DIR|,card=FILE] ... \\
         [--data-card FILE] [--keep OLD.json] [--chosen ID] [--why TEXT] [--title TEXT] [--no-targets] [--generated DATE] \\
         [--corruptions ID=FILE ...] [--protocol TEXT] --out web/models/report.json
  (the header of scripts/make-report.mjs and docs/REPORT_FORMAT.md describe every key)`;

export async function main(argv) {
  let a;
  try {
    a = parseArgs({
      args: argv,
      options: {
        run: { type: 'string', multiple: true }, 'data-card': { type: 'string' }, chosen: { type: 'string' },
        why: { type: 'string' }, title: { type: 'string' }, 'no-targets': { type: 'boolean' },
        keep: { type: 'string' }, protocol: { type: 'string' }, corruptions: { type: 'string', multiple: true },
        generated: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    console.error(`make-report: ${e.message}\n${USAGE}`);
    return 2;
  }
  if (a.help) {
    console.log(USAGE);
    return 0;
  }
  if (!a.out) {
    console.error(`make-report: --out is required\n${USAGE}`);
    return 2;
  }
  if (!a['data-card'] && !a.keep) console.error('make-report: warning: no --data-card; the report will have no data card');
  try {
    const report = await buildReport({
      runs: a.run, dataCard: a['data-card'], chosen: a.chosen, why: a.why, title: a.title, keep: a.keep, protocol: a.protocol, corruptions: a.corruptions,
      noTargets: a['no-targets'], generated: a.generated,
    });
    await writeAtomic(a.out, JSON.stringify(report) + '\n');
    console.log(`make-report: wrote ${a.out}: ${report.models.length} models, chosen ${report.chosen.id}`);
    return 0;
  } catch (e) {
    if (e instanceof InputError) {
      console.error(`make-report: ${e.message}`);
      return 2;
    }
    console.error(`make-report: ${e.stack || e.message}`);
    return 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
