// The page's thread chooser (web/thread-chooser.js) driven with made-up inference times and a
// made-up clock: what it runs, what it keeps, when it measures again. Nothing here is timed, so it
// passes or fails the same on any machine. The page-level numbers under a CPU hog are a benchmark
// (bench/browser/threads-load.mjs), not a test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ThreadChooser, CHOOSER_DEFAULTS } from '../../web/thread-chooser.js';

// Runs `frames` frames, each `step` ms after the last, with times from timeOf(threads, now).
function drive(ch, frames, timeOf, { start = 0, step = 33 } = {}) {
  const ran = [];
  let now = start;
  for (let i = 0; i < frames; i++) {
    now += step;
    const n = ch.next();
    const ms = timeOf(n, now);
    ch.record(n, ms, now);
    ran.push({ n, ms, now });
  }
  return { ran, now };
}
const quiet = (n) => (n === 1 ? 3.0 : 1.8);   // 2 threads: 0.6x of one
const loaded = (n) => (n === 1 ? 3.2 : 5.5);  // a CPU hog takes the second core: threads cost
const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(p * xs.length) - 1)];

test('starts on one thread, then measures 1 and max alternately', () => {
  const ch = new ThreadChooser(2);
  const { ran } = drive(ch, CHOOSER_DEFAULTS.warm + 2 * CHOOSER_DEFAULTS.probe, quiet);
  const warm = ran.slice(0, CHOOSER_DEFAULTS.warm);
  assert.deepEqual(warm.map((r) => r.n), Array(CHOOSER_DEFAULTS.warm).fill(1), 'warm frames on one thread');
  const probe = ran.slice(CHOOSER_DEFAULTS.warm);
  assert.deepEqual(probe.map((r) => r.n), Array.from({ length: 2 * CHOOSER_DEFAULTS.probe }, (_, i) => (i % 2 ? 2 : 1)));
  assert.equal(ch.state().probes, 1);
  assert.equal(ch.state().reason, 'first');
});

test('a quiet machine: keeps max threads when they are faster, and says why', () => {
  const ch = new ThreadChooser(2);
  drive(ch, 40, quiet);
  const s = ch.state();
  assert.equal(s.chosen, 2);
  assert.equal(s.why, 'faster');
  assert.equal(s.oneMs, 3.0);
  assert.equal(s.manyMs, 1.8);
  assert.equal(ch.next(), 2);
});

test('a loaded machine: stays on one thread when more threads are slower', () => {
  const ch = new ThreadChooser(2);
  drive(ch, 40, loaded);
  assert.equal(ch.state().chosen, 1);
  assert.equal(ch.state().why, 'notFaster');
});

test('more threads must win by the margin: 0.95x of one thread keeps one', () => {
  const ch = new ThreadChooser(2);
  drive(ch, 40, (n) => (n === 1 ? 3.0 : 2.85));
  assert.equal(ch.state().chosen, 1);
  const ch2 = new ThreadChooser(2);
  drive(ch2, 40, (n) => (n === 1 ? 3.0 : 2.7));  // exactly the 0.9 margin
  assert.equal(ch2.state().chosen, 2);
});

test('a slower tail on max threads keeps one thread, even with a faster median', () => {
  // 2 threads: 1.8 ms most of the time, 9 ms in 3 of 8 frames (a second thread waiting for a core).
  const ch = new ThreadChooser(2);
  let k = 0;
  drive(ch, 40, (n) => (n === 1 ? 3.0 : k++ % 8 < 3 ? 9 : 1.8));
  const s = ch.state();
  assert.equal(s.chosen, 1);
  assert.equal(s.why, 'notFaster');
  assert.ok(s.manyMs < s.oneMs && s.manyP80 > s.oneP80, JSON.stringify(s));
});

test('a tail that grows on max threads starts a probe, even with the median unchanged', () => {
  const ch = new ThreadChooser(2, { everyMs: 1e9 });
  let { now } = drive(ch, 40, quiet);
  assert.equal(ch.state().chosen, 2);
  let k = 0;
  drive(ch, 3 * CHOOSER_DEFAULTS.recent, (n) => (n === 1 ? 3.0 : k++ % 4 === 0 ? 9 : 1.8), { start: now + CHOOSER_DEFAULTS.gapMs });
  assert.equal(ch.state().reason, 'rise');
  assert.equal(ch.state().probes, 2);
});

test('medians, not means: one slow frame in a probe does not decide it', () => {
  const ch = new ThreadChooser(2);
  let k = 0;
  drive(ch, 40, (n) => (n === 2 && k++ === 1 ? 50 : quiet(n)));
  assert.equal(ch.state().chosen, 2);
});

test('falls back to one thread soon after the machine gets busy (rising times start a probe)', () => {
  const ch = new ThreadChooser(2);
  let { now } = drive(ch, 40, quiet);  // settled on 2 at about 1.3 s
  assert.equal(ch.state().chosen, 2);
  now += CHOOSER_DEFAULTS.gapMs;      // past the minimum gap between probes
  const { ran } = drive(ch, 40, loaded, { start: now });
  assert.equal(ch.state().chosen, 1, 'back on one thread');
  assert.equal(ch.state().reason, 'rise');
  // It took the `recent` frames that showed the rise plus one probe, not a periodic wait.
  const firstOne = ran.findIndex((r, i) => i > CHOOSER_DEFAULTS.recent && ran.slice(i).every((x) => x.n === 1));
  assert.ok(firstOne >= 0 && firstOne <= CHOOSER_DEFAULTS.recent + 2 * CHOOSER_DEFAULTS.probe,
    `on one thread for good from frame ${firstOne}`);
});

test('rising times probe at most once per gap', () => {
  const ch = new ThreadChooser(2, { everyMs: 1e9 });
  let { now } = drive(ch, 40, quiet);
  const probes = ch.state().probes;
  // Times at 2 threads double but stay faster than one thread's 6.2 ms: each probe keeps 2.
  ({ now } = drive(ch, 200, (n) => (n === 1 ? 6.2 : 3.6), { start: now + 1, step: 10 }));  // 2 s of frames
  assert.ok(ch.state().probes - probes <= 1, `${ch.state().probes - probes} probes within 2 s`);
  assert.equal(ch.state().chosen, 2);
});

test('measures again every everyMs: a machine that went quiet gets its threads back', () => {
  const ch = new ThreadChooser(2);
  let { now } = drive(ch, 40, loaded);
  assert.equal(ch.state().chosen, 1);
  ({ now } = drive(ch, 100, quiet, { start: now }));  // 3.3 s: no new probe yet
  assert.equal(ch.state().chosen, 1);
  assert.equal(ch.state().probes, 1);
  drive(ch, 300, quiet, { start: now });  // past 10 s since the last probe
  assert.equal(ch.state().chosen, 2);
  assert.equal(ch.state().reason, 'periodic');
});

test('a loaded machine: median and p90 within 2% of one thread (simulated minute, load on and off)', () => {
  // A machine whose second core is taken from 20 s to 40 s; frame i gets jitter j[i] from a fixed
  // LCG, the same for the chooser and for a page fixed on one thread.
  let s = 12345;
  const j = Array.from({ length: 1800 }, () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return 0.9 + 0.2 * (s / 2 ** 32); });
  const busy = (now) => now >= 20000 && now < 40000;
  let i = 0;
  const ch = new ThreadChooser(2);
  const { ran } = drive(ch, 1800, (n, now) => (busy(now) ? loaded(n) : quiet(n)) * j[i++]);  // 60 s at 30 frames/s
  const loadedAuto = ran.filter((r) => busy(r.now)).map((r) => r.ms);
  const loadedOne = ran.map((r, k) => ({ r, k })).filter(({ r }) => busy(r.now)).map(({ k }) => loaded(1) * j[k]);
  // The price of watching: the frames that show the rise, then half of each probe (the one it
  // starts, and one per 10 s) run on 2 threads (18 of the 600 loaded frames here), which moves the
  // median by 0.2% and the p90 by 0.6%; a chooser that kept 2 threads would be 70% slower.
  assert.ok(q(loadedAuto, 0.5) <= 1.02 * q(loadedOne, 0.5), `loaded median ${q(loadedAuto, 0.5)} vs one thread ${q(loadedOne, 0.5)}`);
  assert.ok(q(loadedAuto, 0.9) <= 1.02 * q(loadedOne, 0.9), `loaded p90 ${q(loadedAuto, 0.9)} vs one thread ${q(loadedOne, 0.9)}`);
  // And the quiet stretches use the threads: most quiet frames after the first probe ran on 2.
  const quietRuns = ran.filter((r) => !busy(r.now) && r.now > 2000);
  assert.ok(quietRuns.filter((r) => r.n === 2).length > 0.9 * quietRuns.length, 'quiet frames on 2 threads');
  const loadedRuns = ran.filter((r) => busy(r.now));
  assert.ok(loadedRuns.filter((r) => r.n === 2).length < 0.05 * loadedRuns.length, 'loaded frames on 2 threads: under 5%');
});

test('refuses a max below 2 (one thread needs no chooser)', () => {
  assert.throws(() => new ThreadChooser(1), /max must be an integer >= 2/);
});
