// The wasm C ABI has one list, wasm/catdog_abi.inc; everything else that names an ABI function must
// agree with it: catdog_wasm.h's declarations (made from the list), catdog_wasm.cpp's definitions,
// the exports of every built module (wasm/CMakeLists.txt makes -sEXPORTED_FUNCTIONS from the list),
// web/catdog-core.js's ABI table (names, order, argument counts) and every call in web/ and
// tests/web/. Any side that drifts fails here, naming the function.
//
// Needs: build/wasm/site (cmake --preset wasm && ninja -C build/wasm site) for the built exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, requireSite } from './helpers.mjs';

const read = (p) => readFileSync(path.join(repoRoot, p), 'utf8');
const noComments = (src) => src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');

// [{ ret, name, args }] from the `CATDOG_ABI(ret, name, (params))` lines of the list.
function abiList() {
  const entries = [];
  for (const line of read('wasm/catdog_abi.inc').split('\n')) {
    if (!line.startsWith('CATDOG_ABI(')) continue;
    const m = /^CATDOG_ABI\(([^,]+), *(catdog_[a-z0-9_]+), *\((.*)\)\)\s*$/.exec(line);
    assert.ok(m, `wasm/catdog_abi.inc: unreadable entry '${line}'`);
    const params = m[3].trim();
    entries.push({ ret: m[1].trim(), name: m[2], args: params === 'void' ? 0 : params.split(',').length });
  }
  assert.ok(entries.length >= 10, `wasm/catdog_abi.inc lists ${entries.length} functions`);
  return entries;
}
const list = abiList();
const names = list.map((e) => e.name);

test('catdog_wasm.h declares exactly the list (through the X-macro, nothing by hand)', () => {
  const h = noComments(read('wasm/catdog_wasm.h'));
  assert.match(h, /#define CATDOG_ABI\(ret, name, params\) ret name params;\s*#include "catdog_abi\.inc"/);
  const byHand = [...h.matchAll(/\b(catdog_[a-z0-9_]+)\s*\(/g)].map((m) => m[1]);
  assert.deepEqual(byHand, [], 'functions declared in catdog_wasm.h outside catdog_abi.inc');
});

test('catdog_wasm.cpp defines every listed function and no other C function', () => {
  const src = noComments(read('wasm/catdog_wasm.cpp'));
  const defined = [...src.matchAll(/^[A-Za-z_][\w ]*?[\s*]+(catdog_[a-z0-9_]+)\(/gm)].map((m) => m[1]);
  assert.deepEqual(defined.filter((n) => !names.includes(n)), [], 'defined in catdog_wasm.cpp but not in catdog_abi.inc');
  assert.deepEqual(names.filter((n) => !defined.includes(n)), [], 'in catdog_abi.inc but not defined in catdog_wasm.cpp');
});

test("web/catdog-core.js's ABI table is the list: same names, order and argument counts", async () => {
  const { ABI } = await import(path.join(repoRoot, 'web/catdog-core.js'));
  assert.deepEqual(Object.entries(ABI), list.map((e) => [e.name, e.args]));
});

test('every ABI call in web/ and tests/web/ is on the list', () => {
  const files = [
    ...readdirSync(path.join(repoRoot, 'web')).filter((f) => f.endsWith('.js')).map((f) => `web/${f}`),
    ...readdirSync(path.join(repoRoot, 'tests/web')).filter((f) => f.endsWith('.mjs') && f !== 'wasm-abi.test.mjs')
      .map((f) => `tests/web/${f}`),
  ];
  const unknown = [];
  for (const f of files) {
    // `_catdog_x` (the module's export) or `abi.catdog_x` / `a.catdog_x` (catdog-core.js's table)
    for (const m of noComments(read(f)).matchAll(/(?:\b_|\ba\.|\babi\.)(catdog_[a-z0-9_]+)\b/g)) {
      if (!names.includes(m[1])) unknown.push(`${f}: ${m[1]}`);
    }
  }
  assert.deepEqual(unknown, [], 'ABI functions called from JS that wasm/catdog_abi.inc does not list');
});

test('each built module exports exactly the list (-sEXPORTED_FUNCTIONS comes from it)', () => {
  const site = requireSite();
  const builds = ['catdog_wasm', 'catdog_wasm_mt', 'catdog_wasm_scalar'].filter((b) => existsSync(path.join(site, `${b}.js`)));
  assert.ok(builds.includes('catdog_wasm'), `builds in ${site}: ${builds}`);
  for (const b of builds) {
    const glue = readFileSync(path.join(site, `${b}.js`), 'utf8');
    const exported = [...new Set([...glue.matchAll(/Module\["_(catdog_[a-z0-9_]+)"\]/g)].map((m) => m[1]))];
    assert.deepEqual(exported.sort(), [...names].sort(), `${b}.js exports`);
  }
});
