// thread-chooser.js — the page's thread count, chosen at run time from measured inference times
// (docs/DESIGN.md, "Threads at run time"). Loaded by catdog-engine.js only when the pthreads core
// runs with threads 'auto'. Pure logic: every time and clock reading is passed in, so
// tests/web/thread-chooser.test.mjs drives it with made-up times.
//
// Start on 1 thread (warm frames), then probe: frames alternate 1 and max threads (so drift hits
// both alike), and max is kept only when its median is at most `gain` x the 1-thread median and
// its slow frames (the 80th percentile) are no slower than 1 thread's: on a busy machine a second
// thread that waits for a core shows up first in the tail. Probe again every `everyMs`, and early
// (at most every `gapMs`) when the last `recent` frames on max threads have a median above `rise` x
// the one that chose it, or an 80th percentile above 1 thread's: a machine that got busy falls
// back to 1 thread within a probe.
export const CHOOSER_DEFAULTS = Object.freeze({ warm: 5, probe: 8, everyMs: 10000, gapMs: 3000, rise: 1.3, gain: 0.9, recent: 8 });

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
};
const p80 = (xs) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(0.8 * xs.length) - 1)];

export class ThreadChooser {
  constructor(max, opts = {}) {
    if (!(Number.isInteger(max) && max >= 2)) throw new Error(`ThreadChooser: max must be an integer >= 2, got ${max}`);
    Object.assign(this, CHOOSER_DEFAULTS, opts);
    this.max = max;
    this.threads = 1;      // what runs outside probes
    this.why = 'warm';     // warm | faster | notFaster
    this.reason = null;    // what started the last probe: first | periodic | rise
    this.plan = [];        // thread counts of the probe frames still to run
    this.samples = null;   // {1: [ms], max: [ms]} of the running probe
    this.recentMs = [];
    this.settledMs = NaN;  // the median that made the current choice
    this.measured = null;  // {one, many, oneHi, manyHi}: medians and 80th percentiles (ms) of the last probe
    this.probes = 0;
    this.frames = 0;
    this.lastProbe = -Infinity;
    this.decidedAt = NaN;
  }

  // The thread count to run the next frame with.
  next() { return this.plan.length ? this.plan[0] : this.threads; }

  // A frame ran on `threads` threads in `ms` (per image), ending at `now` (ms, any monotonic clock).
  record(threads, ms, now) {
    this.frames++;
    if (this.plan.length) {
      if (threads === this.plan[0]) {
        this.plan.shift();
        this.samples[threads === 1 ? 'one' : 'many'].push(ms);
        if (!this.plan.length) this.decide(now);
      }
      return;
    }
    if (this.why === 'warm') {
      if (this.frames >= this.warm) this.start('first', now);
      return;
    }
    if (threads !== this.threads) return;  // a frame of a choice since replaced
    this.recentMs.push(ms);
    if (this.recentMs.length > this.recent) this.recentMs.shift();
    const rose = this.threads > 1 && this.recentMs.length === this.recent &&
      (median(this.recentMs) > this.rise * this.settledMs || p80(this.recentMs) > this.measured.oneHi);
    if (rose && now - this.lastProbe >= this.gapMs) this.start('rise', now);
    else if (now - this.lastProbe >= this.everyMs) this.start('periodic', now);
  }

  start(reason, now) {
    this.reason = reason;
    this.lastProbe = now;
    this.samples = { one: [], many: [] };
    // 1, max, 1, max, ...: the two counts see the same moments of the machine.
    this.plan = Array.from({ length: 2 * this.probe }, (_, i) => (i % 2 ? this.max : 1));
  }

  decide(now) {
    const { one: o, many: m } = this.samples;
    const one = median(o), many = median(m);
    this.measured = { one, many, oneHi: p80(o), manyHi: p80(m) };
    const faster = many <= this.gain * one && this.measured.manyHi <= this.measured.oneHi;
    this.threads = faster ? this.max : 1;
    this.why = faster ? 'faster' : 'notFaster';
    this.settledMs = faster ? many : one;
    this.recentMs = [];
    this.samples = null;
    this.probes++;
    this.lastProbe = now;
    this.decidedAt = now;
  }

  // What the diagnostics panel shows.
  state() {
    return { threads: this.next(), chosen: this.threads, max: this.max, why: this.plan.length ? 'probing' : this.why,
      reason: this.reason, oneMs: this.measured?.one ?? null, manyMs: this.measured?.many ?? null,
      oneP80: this.measured?.oneHi ?? null, manyP80: this.measured?.manyHi ?? null, probes: this.probes,
      decidedAt: this.decidedAt, everyMs: this.everyMs };
  }
}
