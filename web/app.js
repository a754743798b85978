// app.js — the live page: webcam -> worker (catdog wasm core) -> big label.
// Frames are offered at camera rate and DROPPED while the worker is busy (never queued).
// Test hooks: [data-testid=prediction][data-label][data-p-dog], [data-testid=fps],
// [data-testid=message][data-kind], window.__catdog (frames, heap, history, stages, mirror; labels,
// and per frame the core's index and probs), [data-testid=class-bar-KEY][data-p] (KEY: cat, dog,
// neither, else the class index).
// K classes: one bar per label of the loaded model (cat / dog / neither in the page's words, any
// other label as named); the decision of a frame is the core's (res.index, catdog_classify).
// Mirror averaging ([data-testid=mirror-avg], ?mirror=1|0 for one visit): every classify runs the
// frame and its left-right mirror in one batch-2 run and shows the mean P(dog) (catdog.js mirror).
// The compare view (compare.js), marked frames (marks.js, export in marks-export.js) and the
// diagnostics panel (diagnostics.js) are modules of their own, loaded when first used.
import { createClassifier } from './catdog.js';
import { beatsChance } from './chance.js';
import { parseJsonBounded } from './catdog-json.js';
import { initLanguage, setLanguage, language, scoped, table, register, kindOf } from './i18n.js';
import PAGE_TEXT from './i18n/page.js';

const $ = (id) => document.getElementById(id);

// ---- language (texts and the choice: i18n.js) ----------------------------------------------------
register('app', PAGE_TEXT.app);
const params = new URLSearchParams(location.search);
initLanguage(params);
function chooseLanguage(l) {
  setLanguage(l);  // kept for the next visit, of this page or the report
  renderLanguage();
}
const t = scoped('app');

function renderLanguage() {
  document.documentElement.lang = language();
  document.title = `${t('title')} — catdog`;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  $('lang-toggle').textContent = t('other');
  buildBars();
  for (const [kind, [key, args]] of messages) showMessage(kind, key, ...args);
  $('demo-note').textContent = t('demoNote');
  renderPlaceholder();
  renderModelOptions();
  if (classifier) { renderSelfCheck(); renderEngine(); }
  for (const tool of Object.values(tools)) tool?.render?.();
}

// ---- mirror averaging: off by default, the reader's choice kept like the language -----------------
const MIRROR_KEY = 'catdog-mirror';
function initialMirror() {
  const asked = params.get('mirror');  // this visit only (benchmarks, tests), like ?lang=
  if (asked !== null) return asked === '1' || asked === 'on' || asked === 'true';
  try { return globalThis.localStorage?.getItem(MIRROR_KEY) === '1'; } catch { return false; }
}
let mirrorOn = initialMirror();
function chooseMirror(on) {
  mirrorOn = on;
  debug.mirror = on;
  try { globalThis.localStorage?.setItem(MIRROR_KEY, on ? '1' : '0'); } catch { /* private mode: this visit only */ }
  renderEngine();
  tools.diag?.render();
  if (lastPhoto && !stream) classifyPhoto(lastPhoto);  // the photo shown gets the new answer
}

// ---- messages: one visible line per kind (camera-denied, no-camera, model-error, ...) -------------
const messages = new Map();  // kind -> [key, args]
function showMessage(kind, key, ...args) {
  messages.set(kind, [key, args]);
  let el = document.querySelector(`#messages [data-kind="${kind}"]`);
  if (!el) {
    el = document.createElement('p');
    el.className = 'message';
    el.dataset.kind = kind;
    el.dataset.testid = 'message';
    $('messages').append(el);
  }
  el.textContent = t(key, ...args);
}
function clearMessage(kind) {
  messages.delete(kind);
  document.querySelector(`#messages [data-kind="${kind}"]`)?.remove();
}

// ---- the model's classes -------------------------------------------------------------------------
// In label order: { label, kind: 'cat' | 'dog' | 'neither' | null (shown as named), key (its DOM ids:
// the kind, else the index) }. A second label of one kind is shown as named.
let classes;
function setClasses(labels) {
  const seen = new Set();
  classes = labels.map((label, i) => {
    let kind = kindOf(label);
    if (seen.has(kind)) kind = null;
    seen.add(kind);
    return { label, kind, key: kind ?? String(i) };
  });
}
const word = (c) => (c.kind ? t(c.kind) : c.label);                 // a bar's name
const big = (c) => (c.kind === 'neither' ? t('none') : word(c));    // the big label
const nameOf = (i) => classes[i].kind ?? classes[i].label;            // data-label, marks

// One bar per class, copies of the page's first row (the cat bar of index.html: a cat/dog model
// looks as before); rebuilt when the model or the language changes.
function buildBars() {
  const box = $('class-bars');
  const proto = box.firstElementChild;
  box.replaceChildren(...classes.map((c) => {
    const row = proto.cloneNode(true);
    const [name, bar, pct] = row.children;
    row.className = `class-row ${c.kind ?? ''}`;
    name.id = `name-${c.key}`;
    name.textContent = word(c);  // text, never HTML
    bar.id = `bar-${c.key}`;
    bar.dataset.testid = `class-bar-${c.key}`;
    bar.setAttribute('aria-labelledby', name.id);
    pct.id = `pct-${c.key}`;
    return row;
  }));
  $('p-name').textContent = classes.length === 2 ? t('dogLower') : classes.map(word).join(' / ');
  renderLabel();
}

// ---- prediction state: EMA + hysteresis so the label does not flicker ----------------------------
const SMOOTH = 0.35;          // EMA weight of the newest frame
const ENTER = 0.12;           // the lead needed to leave "unsure" (two classes: |p - threshold|)
const LEAVE = 0.06;           // the lead below which a label falls back to "unsure"
// cur: the class shown (index), -1 unsure, -2 none (the core's ood). ema: the K smoothed probabilities.
const state = { ema: null, oodEma: null, cur: -1, label: 'unsure', probs: null, index: -1, pDog: null, rawLabel: null, threshold: 0.5 };
setClasses(['cat', 'dog']);

// The class shown next, from the one shown (`cur`). Two classes: today's rule on the smoothed
// P(labels[1]) and the threshold. K classes: a class is entered when the core decides it for this
// frame (res.index) and its smoothed probability leads the runner-up by ENTER; it is kept while
// its lead is at least LEAVE.
function decide(cur) {
  const e = state.ema;
  if (e.length === 2) {
    const d = e[1] - state.threshold;
    if (cur === 1 && d >= LEAVE) return 1;
    if (cur === 0 && d <= -LEAVE) return 0;
    return d >= ENTER ? 1 : d <= -ENTER ? 0 : -1;
  }
  const lead = (i) => e[i] - Math.max(...e.filter((_, j) => j !== i));
  return cur >= 0 && lead(cur) >= LEAVE ? cur : state.index >= 0 && lead(state.index) >= ENTER ? state.index : -1;
}

// res: the core's answer (index, probs, pDog, ood: catdog-engine.js interpret). ood: the core's
// "neither cat nor dog" for this frame (catdog_ood; false for models without an ood threshold).
// Camera frames smooth it like the probabilities: 'none' while most recent frames say so.
function updatePrediction(res, { smooth }) {
  const { probs, index } = res;
  const s = smooth && state.ema;
  state.probs = probs;
  state.index = index;
  state.pDog = res.pDog;
  state.rawLabel = index >= 0 ? nameOf(index) : null;
  state.ema = s ? state.ema.map((e, i) => e + SMOOTH * (probs[i] - e)) : [...probs];
  state.oodEma = s ? state.oodEma + SMOOTH * (+res.ood - state.oodEma) : +res.ood;
  const before = state.cur;
  state.cur = state.oodEma > 0.5 ? -2 : decide(smooth && before !== -2 ? before : -1);
  state.label = state.cur >= 0 ? nameOf(state.cur) : state.cur === -2 ? 'none' : 'unsure';
  renderLabel();
  if (!smooth || (state.cur !== before && state.cur !== -1)) announce(labelText());
}

const labelText = () => (state.cur >= 0 ? big(classes[state.cur]) : t(state.label));

function renderLabel() {
  const el = $('prediction');
  const has = state.probs !== null;
  const e = state.ema;
  const two = classes.length === 2;
  el.dataset.label = state.label;
  el.dataset.pDog = has ? String(state.pDog) : '';
  el.dataset.pDogSmoothed = has && two ? String(e[1]) : '';
  el.dataset.rawLabel = state.rawLabel ?? '';
  el.hidden = !has;  // no result yet: no label at all (not a "…")
  $('label-text').textContent = has ? labelText() : '';
  classes.forEach((c, i) => {
    const pct = has ? Math.round(e[i] * 100) : null;
    const bar = $(`bar-${c.key}`);
    bar.setAttribute('aria-valuenow', String(pct ?? 0));
    bar.dataset.p = has ? String(e[i]) : '';
    bar.firstElementChild.style.width = `${pct ?? 0}%`;  // CSSOM, allowed by the CSP
    $(`pct-${c.key}`).textContent = pct === null ? '–' : `${pct}%`;
  });
  // Two classes: P(labels[1]) of this frame; smoothed. K: every class's, in label order.
  const f = (v) => (two ? [v[1]] : v).map((x) => x.toFixed(3)).join(' / ');
  $('p-value').textContent = has ? `${f(state.probs)}; ${f(e)}` : '–';
}

// Screen readers hear a result once: when the label changes, and for every photo (never per frame).
function announce(text) {
  const el = $('announce');
  el.textContent = '';
  requestAnimationFrame(() => { el.textContent = text; });
  debug.announced.push(text);
}

// ---- debug / test hook -----------------------------------------------------------------------------
const debug = {
  frames: 0, dropped: 0, errors: 0, heapUsed: 0, memoryBytes: 0, model: null, loadMs: null,
  history: [],               // last 500 {t, pDog, probs, index, rawLabel, label, source}
  labels: null,              // the loaded model's class labels (probs and index are in their order)
  last: null,
  ready: false,
  stress: null,              // set below
  stages: [],                // last 120 camera frames {capture, preprocess, inference, draw} ms
  announced: [],             // what the live region said, in order
  mirror: mirrorOn,          // mirror averaging on (2 images per frame)
};
window.__catdog = debug;

function record(res, source) {
  debug.frames++;
  // Threads 'auto': the thread chooser's (thread-chooser.js) count, which may change per frame.
  if (res.threadChoice) {
    const changed = res.threadChoice.chosen !== debug.threadChoice?.chosen || res.threadChoice.probes !== debug.threadChoice?.probes;
    debug.threadChoice = res.threadChoice;
    debug.threads = res.threadChoice.chosen;
    if (changed) { renderEngine(); tools.diag?.render(); }
  }
  debug.heapUsed = res.heapUsed;
  debug.memoryBytes = res.memoryBytes;
  debug.last = { pDog: res.pDog, probs: res.probs, index: res.index, smoothed: state.ema, ood: res.ood, label: state.label,
    rawLabel: state.rawLabel, timings: res.timings, source, capture: res.capture, batch: res.batch, output: res.output };
  if (res.input) debug.lastInput = res.input;  // the model input of that frame (8-bit gray)
  debug.history.push({ t: performance.now(), pDog: res.pDog, probs: res.probs, index: res.index, rawLabel: state.rawLabel, label: state.label,
    source, batch: res.batch });
  if (debug.history.length > 500) debug.history.splice(0, debug.history.length - 500);
}

// ---- timing display ------------------------------------------------------------------------------
const fpsWindow = [];
// One definition of each stage, shared with Diagnostics (diagnostics.js reads debug.stages):
// capture = grab + read (frame -> RGBA pixels), preprocess = the core's resize + gray, inference.
const stageTimes = (tm) => ({ capture: (tm.grab ?? 0) + tm.read, preprocess: tm.preprocess, inference: tm.inference });
function showTimings(res, source) {
  const now = performance.now();
  const ms = (v) => `${v.toFixed(2)} ${t('ms')}`;
  if (source === 'photo') {  // a photo has no frame rate
    fpsWindow.length = 0;
    $('fps').textContent = '–';
    $('fps').dataset.value = '';
  } else {
    fpsWindow.push(now);
    while (fpsWindow.length && now - fpsWindow[0] > 2000) fpsWindow.shift();
    const fps = fpsWindow.length > 1 ? ((fpsWindow.length - 1) * 1000) / (now - fpsWindow[0]) : 0;
    $('fps').textContent = fps.toFixed(1);
    $('fps').dataset.value = fps.toFixed(2);
  }
  const st = stageTimes(res.timings);
  for (const [id, k] of [['t-cap', 'capture'], ['t-pre', 'preprocess'], ['t-inf', 'inference']]) {
    $(id).textContent = ms(st[k]);
    $(id).dataset.value = String(st[k]);
  }
  // One run of both images with mirror averaging: the time is theirs together, and says so.
  if (res.batch > 1) $('t-inf').textContent += ` (${t('images', res.batch)})`;
  $('t-inf').dataset.batch = String(res.batch ?? 1);
  $('t-total').textContent = ms(res.timings.roundTrip ?? res.timings.total);
  $('dropped').textContent = String(debug.dropped);
}

function drawModelInput(res) {
  if (!res.input) return;
  const n = res.inputSize;
  const canvas = $('model-input');
  // Shown the way the preview is: mirrored for the front camera (the model's input itself is not).
  canvas.classList.toggle('mirror', res.source === 'camera' && $('video').classList.contains('mirror'));
  if (canvas.width !== n) { canvas.width = n; canvas.height = n; }
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    const g = res.input[i];
    img.data[4 * i] = g; img.data[4 * i + 1] = g; img.data[4 * i + 2] = g; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

// ---- model ---------------------------------------------------------------------------------------
let classifier = null;
let models = [];
let focusAfterLoad = false;

function modelErrorMessage(e) {
  if (e.code === 'model-fetch') return ['model-error', 'modelMissing', e.message];
  if (e.code === 'wasm') return ['model-error', 'wasmError', e.message];
  return ['model-error', 'modelCorrupt', e.message];
}

async function loadModel(entry) {
  const old = classifier;
  classifier = null;
  old?.dispose();
  debug.ready = false;
  debug.model = entry.id;
  clearMessage('model-error');
  clearMessage('model-check');
  $('selfcheck').hidden = true;
  $('engine').textContent = t('loading');
  try {
    const c = await createClassifier({ modelUrl: new URL(entry.path, new URL('models/', location.href)).href,
      grab: params.get('grab') || 'auto', backend: params.get('backend') || 'auto', threads: params.get('threads') || 'auto' });
    if (debug.model !== entry.id) { c.dispose(); return; }  // the user picked another meanwhile
    classifier = c;
  } catch (e) {
    console.warn(`catdog: model ${entry.id}: ${e.message}`);
    $('engine').textContent = '';
    showMessage(...modelErrorMessage(e));
    return;
  }
  const md = classifier.metadata;
  state.threshold = md.threshold;
  debug.labels = md.labels;
  setClasses(md.labels);
  state.ema = null;
  state.probs = null;
  state.cur = -1;
  state.label = 'unsure';
  buildBars();
  const demo = !!(md.catdog?.demo || md.catdog?.untrained || entry.demo);
  $('demo-badge').hidden = !demo;
  $('demo-note').hidden = !demo;
  debug.loadMs = md.loadMs;
  debug.ready = true;
  $('t-load').textContent = `${md.loadMs.toFixed(0)} ${t('ms')}`;
  debug.threads = md.threadChoice?.chosen ?? md.build.threads;
  debug.threadChoice = md.threadChoice;
  renderEngine();
  debug.core = md.build.core;  // which build of the wasm core runs (catdog_wasm_scalar without wasm SIMD)
  if (focusAfterLoad) {  // chosen from the picker: give the keys back to the page (C / D mark frames)
    focusAfterLoad = false;
    $('stage').focus({ preventScroll: true });
    announce(t('modelReady', modelName(entry)));
  }
  renderSelfCheck();
  for (const tool of Object.values(tools)) tool?.render?.();  // the marks' buttons: one per class
  if (lastPhoto && !stream) classifyPhoto(lastPhoto);
}

function renderEngine() {
  const md = classifier?.metadata;
  if (!md) return;
  const n = debug.threads ?? md.build.threads;
  // The backend in words (a build without SIMD names its own backend).
  const backend = md.backend === 'reference' ? t('backendReference') : md.build.simd ? t('backendSimd') : md.backend;
  $('engine').textContent = t('engine', backend,
    n > 1 ? t('nThreads', n) : t('oneThread'), md.layers.length) + (mirrorOn ? ` · ${t('mirrorEngine')}` : '');
}

// The core's self-check of the loaded model (golden images + weight-file SHA-256, run right after
// loading): a quiet "model verified (n/n)" line, or a visible warning naming the first mismatch.
function renderSelfCheck() {
  const sc = classifier?.selfCheck;
  const el = $('selfcheck');
  debug.selfCheck = sc ?? null;
  if (!sc) { el.hidden = true; return; }
  el.hidden = false;
  el.dataset.state = !sc.present ? 'absent' : sc.verified ? 'verified' : 'failed';
  el.textContent = !sc.present ? t('noSelfCheck') : t(sc.verified ? 'verified' : 'checkFailed', sc.passed, sc.total, sc.mismatch);
  if (sc.present && !sc.verified) showMessage('model-check', 'checkFailed', sc.passed, sc.total, sc.mismatch);
  else clearMessage('model-check');
}

// A model's name in the reader's language: its own short name when the page has one (several
// models share an architecture), else built from its architecture when the page knows it
// (index.json titles are English), else the title or id.
function modelName(m) {
  const own = table('app').models?.[m.id];
  if (own) return own;
  const arch = table('app').arch[m.arch];
  return arch ? `${arch}${m.augment ? t('augmented') : ''}` : (m.title || m.id);
}
// Short option texts (a long one made the picker, and so the page, wider than a phone).
function renderModelOptions() {
  const sel = $('model-select');
  if (!models.length) return;
  const value = sel.value;
  sel.replaceChildren(...models.map((m) => {
    const o = document.createElement('option');
    o.value = m.id;
    o.dataset.chance = String(!!m.atChance);
    const acc = Number.isFinite(m.test_accuracy) ? ` · ${(m.test_accuracy * 100).toFixed(0)}%` : '';
    o.textContent = `${modelName(m)}${acc}${m.atChance ? ` (${t('atChance')})` : ''}`;
    return o;
  }));
  if (value) sel.value = value;
}

async function loadIndex() {
  let index;
  try {
    const res = await fetch('models/index.json', { cache: 'no-cache' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    index = parseJsonBounded(await res.text(), 'models/index.json');
    if (!Array.isArray(index.models) || index.models.length === 0) throw new Error('no models listed');
  } catch (e) {
    showMessage('model-error', 'indexError', e.message);
    return;
  }
  models = index.models.filter((m) => m && typeof m.id === 'string' && typeof m.path === 'string');
  for (const m of models) m.atChance = !beatsChance({ accuracy: m.test_accuracy, auc: m.auc, n: m.test_n });
  const wanted = params.get('model') || index.default;
  const entry = models.find((m) => m.id === wanted) || models[0];
  renderModelOptions();
  const sel = $('model-select');
  sel.value = entry.id;
  sel.disabled = false;
  await loadModel(entry);
}

// ---- camera --------------------------------------------------------------------------------------
// What the empty stage says: waiting, no camera (denied / none / failed), or stopped.
let cameraState = 'waiting';
function renderPlaceholder() {
  $('placeholder').textContent = t({ waiting: 'placeholder', none: 'noCameraPlaceholder', stopped: 'cameraStopped' }[cameraState]);
}
function showEmptyStage(st) {
  cameraState = st;
  renderPlaceholder();
  $('video').hidden = true;
  $('photo').hidden = true;
  $('placeholder').hidden = false;
  state.probs = null;
  state.ema = null;
  state.cur = -1;
  state.label = 'unsure';
  renderLabel();
}

let stream = null;
let facing = 'user';
let busy = false;
let frameHandle = 0;

function stopCamera() {
  if (frameHandle && $('video').cancelVideoFrameCallback) $('video').cancelVideoFrameCallback(frameHandle);
  frameHandle = 0;
  stream?.getTracks().forEach((tr) => tr.stop());
  stream = null;
  $('camera-stop').hidden = true;
  $('flip').disabled = true;
}

async function startCamera({ deviceId } = {}) {
  if (!navigator.mediaDevices?.getUserMedia) {
    showMessage('no-camera', window.isSecureContext ? 'noCamera' : 'insecure');
    showEmptyStage('none');
    return;
  }
  stopCamera();
  const video = { width: { ideal: 640 }, height: { ideal: 480 } };
  if (deviceId) video.deviceId = { exact: deviceId };
  else video.facingMode = facing;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
  } catch (e) {
    stream = null;
    if (e.name === 'NotAllowedError' || e.name === 'SecurityError') showMessage('camera-denied', 'cameraDenied');
    else if (e.name === 'NotFoundError' || e.name === 'OverconstrainedError' || e.name === 'DevicesNotFoundError') showMessage('no-camera', 'noCamera');
    else showMessage('camera-error', 'cameraError', e.message || e.name);
    $('camera-start').hidden = false;
    if (!lastPhoto) showEmptyStage('none');
    return;
  }
  clearMessage('camera-denied');
  clearMessage('no-camera');
  clearMessage('camera-error');
  lastPhoto = null;
  const v = $('video');
  v.srcObject = stream;
  v.hidden = false;
  $('photo').hidden = true;
  $('placeholder').hidden = true;
  $('camera-start').hidden = true;
  $('camera-stop').hidden = false;
  const track = stream.getVideoTracks()[0];
  if (track) {
    track.addEventListener('ended', () => {  // unplugged, or taken by another app
      if (stream?.getVideoTracks()[0] !== track) return;
      stopCamera();
      showMessage('camera-error', 'cameraError', 'ended');
      $('camera-start').hidden = false;
    });
  }
  const settings = track?.getSettings() ?? {};
  if (settings.facingMode) facing = settings.facingMode;
  v.classList.toggle('mirror', facing === 'user');
  await v.play().catch(() => {});
  await listCameras(settings.deviceId);
  scheduleFrame();
}

async function listCameras(currentId) {
  let cams = [];
  try {
    cams = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
  } catch { /* keep empty */ }
  const sel = $('camera-select');
  sel.replaceChildren(...cams.map((d, i) => {
    const o = document.createElement('option');
    o.value = d.deviceId;
    o.textContent = d.label || `${t('camera')} ${i + 1}`;
    return o;
  }));
  if (currentId) sel.value = currentId;
  sel.disabled = cams.length < 2;
  $('flip').disabled = !stream || cams.length < 2;  // front / back needs two cameras
}

function scheduleFrame() {
  const v = $('video');
  if (!stream) return;
  if (v.requestVideoFrameCallback) frameHandle = v.requestVideoFrameCallback(onFrame);
  else requestAnimationFrame(onFrame);
}

// One camera frame: classify it if the worker is free, else drop it.
function onFrame() {
  if (!stream) return;
  scheduleFrame();
  if (busy || !classifier || stressing) {
    if (classifier && !stressing) debug.dropped++;
    return;
  }
  classifyFrame();
}

// Shows one camera result; returns the main-thread milliseconds it took.
function showFrameResult(res, source) {
  const t0 = performance.now();
  updatePrediction(res, { smooth: true });
  record(res, source);
  showTimings(res, source);
  drawModelInput({ ...res, source: 'camera' });
  return performance.now() - t0;
}

async function classifyFrame() {
  const c = classifier;
  busy = true;
  try {
    const res = await c.classify($('video'), { wantInput: true, mirror: mirrorOn });
    if (c !== classifier) return;
    res.timings.ui = showFrameResult(res, 'camera');
    res.timings.mainThread = res.timings.grab + res.timings.ui;
    const tm = res.timings;
    debug.stages.push({ ...stageTimes(tm), draw: tm.ui });
    if (debug.stages.length > 120) debug.stages.shift();
    if (compareOn) await tools.compare.run(res);  // still busy: camera frames drop meanwhile
  } catch (e) {
    if (e.code !== 'disposed') {
      debug.errors++;
      console.warn(`catdog: frame: ${e.message}`);
    }
  } finally {
    busy = false;
  }
}

// Test/benchmark hook: classify `n` consecutive camera frames as fast as the worker allows,
// through the same path as live frames (grab -> transfer -> worker -> display), and report the
// wasm heap before and after and per-stage timings (mean, median, p90; ms). mainThread = the
// grab (VideoFrame + postMessage) + showing the result.
let stressing = false;
debug.stress = async (n) => {
  if (!classifier || !stream) throw new Error('stress needs a loaded model and a running camera');
  while (busy) await new Promise((r) => setTimeout(r, 5));
  stressing = true;
  const c = classifier;
  const before = { heapUsed: debug.heapUsed, memoryBytes: debug.memoryBytes };
  const t0 = performance.now();
  // frameToLabel: the frame grabbed -> its label on screen (round trip to the worker + drawing).
  const keys = ['read', 'preprocess', 'inference', 'roundTrip', 'mainThread', 'frameToLabel'];
  const series = Object.fromEntries(keys.map((k) => [k, []]));
  series.threads = [];  // the thread count each frame ran on
  let first = null;
  try {
    for (let i = 0; i < n; i++) {
      const res = await c.classify($('video'), { wantInput: true, mirror: mirrorOn });
      if (i === 0) first = { heapUsed: res.heapUsed, memoryBytes: res.memoryBytes };
      const ui = showFrameResult(res, 'stress');
      res.timings.mainThread = res.timings.grab + ui;
      res.timings.frameToLabel = res.timings.roundTrip + ui;
      for (const k of keys) series[k].push(res.timings[k]);
      series.threads.push(res.threads);
    }
  } finally {
    stressing = false;
  }
  const ms = performance.now() - t0;
  const stat = (xs) => {
    const v = [...xs].sort((a, b) => a - b);
    const q = (p) => v[Math.min(v.length - 1, Math.floor(p * v.length))];
    return { mean: v.reduce((a, b) => a + b, 0) / v.length, median: q(0.5), p90: q(0.9) };
  };
  const stats = Object.fromEntries(keys.map((k) => [k, stat(series[k])]));
  const mean = Object.fromEntries(keys.map((k) => [k, stats[k].mean]));
  return { frames: n, ms, before, first, after: { heapUsed: debug.heapUsed, memoryBytes: debug.memoryBytes }, mean, stats,
    loadMs: debug.loadMs, threads: debug.threads, threadChoice: debug.threadChoice ?? null, mirror: mirrorOn,
    series: { inference: series.inference, frameToLabel: series.frameToLabel, threads: series.threads } };
};

// ---- photos (upload / drag-and-drop) ----------------------------------------------------------------
let lastPhoto = null;

async function classifyPhoto(file) {
  lastPhoto = file;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (e) {
    showMessage('image-error', 'imageError', `${file.name || 'image'}: ${e.message || e.name}`);
    return;
  }
  clearMessage('image-error');
  // A photo is a way past a missing camera: the camera's complaint has been answered.
  for (const k of ['camera-denied', 'no-camera', 'camera-error']) clearMessage(k);
  stopCamera();
  $('video').hidden = true;
  $('placeholder').hidden = true;
  const canvas = $('photo');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  canvas.getContext('2d').drawImage(bitmap, 0, 0);  // display only; the model gets the bitmap's own pixels
  canvas.hidden = false;
  $('camera-start').hidden = false;
  if (!classifier) { bitmap.close(); return; }
  try {
    const res = await classifier.classify(bitmap, { wantInput: true, mirror: mirrorOn });
    updatePrediction(res, { smooth: false });
    record(res, 'photo');
    showTimings(res, 'photo');
    drawModelInput({ ...res, source: 'photo' });
    if (compareOn) await tools.compare.run(res);
  } catch (e) {
    showMessage('image-error', 'imageError', e.message);
  } finally {
    bitmap.close();
  }
}

// ---- tools: compare view, marked frames, diagnostics ---------------------------------------------
// Each is a module loaded on first use; ctx is all they see of the page.
const tools = { compare: null, marks: null, diag: null };
let compareOn = false;
const ctx = {
  $, t, params, debug, createClassifier,
  lang: language,
  models: () => models,
  modelName: (m) => modelName(m),
  metadata: () => classifier?.metadata ?? null,
  mirror: () => mirrorOn,
  classes: () => classes,
  modelUrl: (entry) => new URL(entry.path, new URL('models/', location.href)).href,
};

async function toggleCompare() {
  const btn = $('compare-toggle');
  if (!tools.compare) tools.compare = (await import('./compare.js')).createCompare(ctx);
  compareOn = !compareOn;
  btn.setAttribute('aria-pressed', String(compareOn));
  tools.compare.show(compareOn);
  if (compareOn) {  // it opens where it can be seen, and a keyboard / screen reader user lands on it
    const view = $('compare');
    view.scrollIntoView({ block: 'start', behavior: 'instant' });
    view.focus({ preventScroll: true });
  }
}

async function openDiagnostics() {
  tools.diag ??= (await import('./diagnostics.js')).createDiagnostics(ctx);
  tools.diag.show($('diagnostics').open);
}

// ---- wiring --------------------------------------------------------------------------------------
function wire() {
  $('compare-toggle').addEventListener('click', () => toggleCompare().catch((e) => console.warn(`catdog: compare: ${e.message}`)));
  $('diagnostics').addEventListener('toggle', () => openDiagnostics().catch((e) => console.warn(`catdog: diagnostics: ${e.message}`)));
  import('./marks.js').then((m) => { tools.marks = m.createMarks(ctx); })
    .catch((e) => console.warn(`catdog: marked frames: ${e.message}`));
  $('lang-toggle').addEventListener('click', () => chooseLanguage(language() === 'es' ? 'en' : 'es'));
  $('mirror-avg').checked = mirrorOn;
  $('mirror-avg').addEventListener('change', (ev) => chooseMirror(ev.target.checked));
  $('model-select').addEventListener('change', (ev) => {
    const entry = models.find((m) => m.id === ev.target.value);
    // Focus leaves the picker once the model is in: typing C / D then marks a frame instead of
    // picking another model by its first letter.
    focusAfterLoad = document.activeElement === ev.target;
    if (entry) loadModel(entry);
  });
  $('camera-select').addEventListener('change', (ev) => startCamera({ deviceId: ev.target.value }));
  $('flip').addEventListener('click', () => { facing = facing === 'user' ? 'environment' : 'user'; startCamera(); });
  $('camera-start').addEventListener('click', () => startCamera());
  $('camera-stop').addEventListener('click', () => {
    stopCamera();
    showEmptyStage('stopped');
    $('camera-start').hidden = false;
    $('camera-start').focus();
  });
  $('file').addEventListener('change', (ev) => {
    const f = ev.target.files?.[0];
    if (f) classifyPhoto(f);
    ev.target.value = '';
  });
  const stage = $('stage');
  let depth = 0;
  document.addEventListener('dragenter', (ev) => { ev.preventDefault(); depth++; stage.classList.add('dragging'); });
  document.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; stage.classList.remove('dragging'); } });
  document.addEventListener('dragover', (ev) => ev.preventDefault());
  document.addEventListener('drop', (ev) => {
    ev.preventDefault();
    depth = 0;
    stage.classList.remove('dragging');
    const f = [...(ev.dataTransfer?.files ?? [])].find((x) => x.type.startsWith('image/'));
    if (f) classifyPhoto(f);
  });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) debug.hiddenAt = performance.now();
  });
}

// ---- offline: the service worker (sw.js) keeps the page, the core and the default model ----------
// A new deploy installs a new versioned cache; the page then reloads once so that JS and wasm
// always come from the same version.
function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || params.get('sw') === 'off') return;
  const hadController = !!navigator.serviceWorker.controller;
  navigator.serviceWorker.addEventListener('controllerchange', () => { if (hadController) location.reload(); });
  navigator.serviceWorker.register('sw.js').catch((e) => console.warn(`catdog: offline mode unavailable: ${e.message}`));
}

wire();
renderLanguage();
loadIndex();
if (params.get('camera') !== 'off') startCamera();
else showEmptyStage('stopped');
registerServiceWorker();
