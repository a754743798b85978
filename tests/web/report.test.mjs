// Tests of the model report page (web/report.html + report.js) in headless Chromium, and of
// scripts/make-report.mjs on small fake training folders.
//
//   node --test tests/web/report.test.mjs
//   CATDOG_REPORT_SCREENSHOT=/tmp/report.png node --test tests/web/report.test.mjs   (full-page shot)
//
// The page is served from web/ by web/serve.mjs's server (same headers, CSP included); report
// files under test are served beside it at /__fixtures/ from a temp folder.
import test, { before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { promises as fs, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { createSiteServer, SECURITY_HEADERS } from '../../web/serve.mjs';
import { validateReport, eceFromBins, COLUMNS, packOf, packsOf } from '../../web/report.js';
import { mapEvaluation, mapDataCard, parseRunSpec } from '../../scripts/make-report.mjs';
import { table } from '../../web/i18n.js';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const webDir = path.join(repo, 'web');
const fixtureFile = path.join(repo, 'tests/web/fixtures/report.json');
const fixture = JSON.parse(readFileSync(fixtureFile, 'utf8'));
const chromiumPath = process.env.CATDOG_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const tmp = (prefix) => mkdtempSync(path.join(os.tmpdir(), prefix));
const b64bytes = (s) => Uint8Array.from(Buffer.from(s, 'base64'));

// ---- server + browser ---------------------------------------------------------------------------

let server; let origin; let fixturesDir; let context; let profile;

async function startServer() {
  fixturesDir = tmp('catdog-report-fixtures-');
  await fs.copyFile(fixtureFile, path.join(fixturesDir, 'report.json'));
  await fs.writeFile(path.join(fixturesDir, 'truncated.json'), readFileSync(fixtureFile, 'utf8').slice(0, 5000));
  const broken = structuredClone(fixture);
  broken.models[1].history[3].val_loss = 'NaN';
  delete broken.models[4].test.confusion;
  broken.models[6].test.worst[0].pixels_b64 = broken.models[6].test.worst[0].pixels_b64.slice(0, 400);
  await fs.writeFile(path.join(fixturesDir, 'bad-schema.json'), JSON.stringify(broken));
  // the hostile one: markup in every string must come out as text
  const hostile = structuredClone(fixture);
  hostile.title = '<img src=x onerror="window.__pwned=1">';
  hostile.chosen.why = '<script>window.__pwned=1</script>';
  hostile.models[0].test.worst = [{ ...fixture.models[6].test.worst[0], path: '<b>bold</b>.jpg' }];
  await fs.writeFile(path.join(fixturesDir, 'hostile.json'), JSON.stringify(hostile));
  const site = createSiteServer(webDir).listeners('request')[0];
  server = http.createServer(async (req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname.startsWith('/__fixtures/')) {
      const f = path.join(fixturesDir, path.basename(u.pathname));
      if (!existsSync(f)) {
        res.writeHead(404, SECURITY_HEADERS);
        return res.end('not found\n');
      }
      res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'application/json' });
      return res.end(await fs.readFile(f));
    }
    return site(req, res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
}

async function launch() {
  if (!existsSync(chromiumPath)) throw new Error(`missing ${chromiumPath} (Debian package chromium; run scripts/deps)`);
  const { chromium } = await import('playwright-core');
  profile = tmp('catdog-report-chromium-');
  context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 },
  });
}

// Opens the page on a report URL; returns the page and what went wrong on it.
async function open(reportUrl, extraQuery = '') {
  const page = await context.newPage();
  const problems = { console: [], pageErrors: [], foreign: [] };
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.console.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.pageErrors.push(e.message));
  page.on('request', (r) => {
    const u = r.url();
    if (u.startsWith('data:')) return;
    if (new URL(u).origin !== origin) problems.foreign.push(u);
  });
  const q = reportUrl === undefined ? '' : `?report=${encodeURIComponent(reportUrl)}`;
  await page.goto(`${origin}/report.html${q}${extraQuery}`);
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 20000 });
  return { page, problems };
}

const cellTexts = (page, sel) => page.$$eval(sel, (els) => els.map((e) => e.textContent.trim()));
const rowIds = (page) => page.$$eval('#compare tbody tr', (trs) => trs.map((t) => t.dataset.id));

describe('report page in Chromium', () => {
  before(async () => {
    await startServer();
    await launch();
  });
  after(async () => {
    await context?.close().catch(() => {});
    if (profile) await fs.rm(profile, { recursive: true, force: true });
    if (fixturesDir) await fs.rm(fixturesDir, { recursive: true, force: true });
    await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
  });

  test('renders the fixture: table, curves, confusion, calibration, thumbnails; clean console, same origin', async () => {
    const { page, problems } = await open('/__fixtures/report.json');
    assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#status'));
    const models = fixture.models;

    // summary and data card
    assert.equal(await page.textContent('#chosen-id'), fixture.chosen.id);
    assert.equal(await page.textContent('#chosen-why'), fixture.chosen.why);
    assert.equal(await page.textContent('#title'), fixture.title);
    const targets = await page.$$eval('#targets li', (lis) => lis.map((l) => ({ cls: l.className, text: l.textContent })));
    assert.equal(targets.length, fixture.targets.length);
    for (const [i, g] of fixture.targets.entries()) {
      const v = models.find((m) => m.id === g.model).test.accuracy;
      assert.equal(targets[i].cls, v >= g.min ? 'met' : 'missed', targets[i].text);
      assert.match(targets[i].text, new RegExp(`${(v * 100).toFixed(1)}%`));
    }
    const perClass = await page.$$eval('#per-class tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    for (const row of perClass) {
      const pc = fixture.data_card.per_class[row[0]];
      assert.deepEqual(row.slice(1).map((t) => Number(t.replace(/,/g, ''))), [pc.train, pc.val, pc.test, pc.train + pc.val + pc.test]);
    }
    assert.equal(perClass.length, 2);
    const skipped = await page.$$eval('#skipped tbody tr', (trs) => trs.map((tr) => [tr.children[0].textContent, Number(tr.children[1].textContent)]));
    assert.deepEqual(Object.fromEntries(skipped), fixture.data_card.skipped);
    assert.match(await page.textContent('#data-card'), new RegExp(fixture.data_card.pack_hash));

    // comparison table: one row per model, in the file's order, values formatted from the fixture
    assert.deepEqual(await rowIds(page), models.map((m) => m.id));
    const testAcc = await cellTexts(page, '#compare tbody td[data-key="test_accuracy"]');
    assert.deepEqual(testAcc, models.map((m) => `${(m.test.accuracy * 100).toFixed(1)}%`));
    assert.equal(await page.getAttribute('#compare tbody tr.chosen', 'data-id'), fixture.chosen.id);
    // a report of one pack (no models[].pack_hash, as before per-model packs): no pack note
    assert.deepEqual(await cellTexts(page, '#compare tbody td[data-key="pack"]'), models.map(() => `${fixture.data_card.pack_hash.slice(0, 8)}…`));
    assert.equal(await page.$$eval('#pack-note, .tag.pack', (e) => e.length), 0);

    // curves: a loss and an accuracy chart per model, train + validation, one point per epoch
    const cards = await page.$$('#curves article.card');
    assert.equal(cards.length, models.length);
    for (const [i, m] of models.entries()) {
      const card = cards[i];
      assert.equal(await card.getAttribute('data-id'), m.id);
      for (const kind of ['loss', 'accuracy']) {
        const series = await card.$$eval(`svg.chart.${kind} polyline.series`,
          (ps) => ps.map((p) => ({ key: p.dataset.series, n: p.getAttribute('points').trim().split(/\s+/).length })));
        const keys = kind === 'loss' ? ['loss', 'val_loss'] : ['accuracy', 'val_accuracy'];
        assert.deepEqual(series, keys.map((k) => ({ key: k, n: m.history.length })), `${m.id} ${kind}`);
      }
    }
    // the points follow the data: the validation loss line is highest where val_loss is
    const m0 = models[2];
    const ys = await page.$eval(`#curves article[data-id="${m0.id}"] svg.loss polyline[data-series="val_loss"]`,
      (p) => p.getAttribute('points').trim().split(/\s+/).map((xy) => Number(xy.split(',')[1])));
    const argmaxData = m0.history.reduce((b, h, i, a) => (h.val_loss > a[b].val_loss ? i : b), 0);
    const argminY = ys.reduce((b, y, i) => (y < ys[b] ? i : b), 0);  // SVG y grows downwards
    assert.equal(argminY, argmaxData);

    // tooltip: hover a chart and read the epoch's values
    const overlay = page.locator(`#curves article[data-id="${m0.id}"] svg.chart.loss rect.overlay`);
    await overlay.scrollIntoViewIfNeeded();
    const box = await overlay.boundingBox();
    await overlay.hover({ position: { x: box.width * 0.5, y: box.height / 2 } });
    const tip = page.locator(`#curves article[data-id="${m0.id}"] figure[data-chart="loss"] .tooltip`);
    await tip.waitFor({ state: 'visible' });
    const tipText = await tip.textContent();
    const ep = Number(/epoch (\d+)/.exec(tipText)[1]);
    const h = m0.history.find((x) => x.epoch === ep);
    assert.ok(h, tipText);
    assert.ok(Math.abs(ep - (m0.history[0].epoch + m0.history.at(-1).epoch) / 2) <= 2, `hovered the middle, got epoch ${ep}`);
    assert.match(tipText, new RegExp(`train: ${h.loss.toFixed(4)}`));
    assert.match(tipText, new RegExp(`validation: ${h.val_loss.toFixed(4)}`));

    // confusion matrices: counts and row percentages
    for (const m of models) {
      const cells = await page.$$eval(`#confusion article[data-id="${m.id}"] table.cm td`,
        (tds) => tds.map((td) => ({ r: +td.dataset.row, c: +td.dataset.col, count: td.querySelector('.count').textContent, pct: td.querySelector('.pct').textContent })));
      assert.equal(cells.length, 4, m.id);
      for (const cell of cells) {
        const row = m.test.confusion[cell.r];
        assert.equal(Number(cell.count.replace(/,/g, '')), row[cell.c], `${m.id} [${cell.r}][${cell.c}]`);
        assert.equal(cell.pct, `${((row[cell.c] / (row[0] + row[1])) * 100).toFixed(1)}%`);
      }
    }

    // calibration: a dot per non-empty bin, a bar per bin, "after" only where the fixture has it
    for (const m of models) {
      const art = `#calibration article[data-id="${m.id}"]`;
      assert.equal(await page.$$eval(`${art} svg.before circle.dot`, (c) => c.length), m.test.calibration.filter((b) => b.count > 0).length);
      assert.equal(await page.$$eval(`${art} svg.before .bars rect`, (c) => c.length), m.test.calibration.length);
      assert.equal(await page.$$eval(`${art} svg.after`, (c) => c.length), m.test.calibration_after ? 1 : 0);
      const caption = await page.textContent(`${art} figcaption`);
      assert.match(caption, new RegExp(`ECE ${eceFromBins(m.test.calibration).toFixed(4)}`));
    }

    // worst mistakes: the canvases hold exactly the fixture's bytes, for every model
    for (const m of models.filter((x) => x.test.worst?.length)) {
      await page.selectOption('#worst-model', m.id);
      await page.waitForSelector(`#worst-grid[data-model="${m.id}"]`);
      const drawn = await page.$$eval('#worst-grid canvas', (cs) => cs.map((c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const gray = []; let okGray = true;
        for (let i = 0; i < d.length; i += 4) {
          gray.push(d[i]);
          if (d[i + 1] !== d[i] || d[i + 2] !== d[i] || d[i + 3] !== 255) okGray = false;
        }
        return { w: c.width, h: c.height, gray, okGray };
      }));
      assert.equal(drawn.length, m.test.worst.length, m.id);
      for (const [i, w] of m.test.worst.entries()) {
        assert.equal(drawn[i].w, 100);
        assert.equal(drawn[i].h, 100);
        assert.ok(drawn[i].okGray, `${m.id} thumbnail ${i}: not opaque gray`);
        assert.deepEqual(Uint8Array.from(drawn[i].gray), b64bytes(w.pixels_b64), `${m.id} thumbnail ${i}`);
      }
      const captions = await cellTexts(page, '#worst-grid figcaption');
      for (const [i, w] of m.test.worst.entries()) {
        assert.ok(captions[i].includes(`true ${w.label}`) && captions[i].includes(w.p_dog.toFixed(3)) && captions[i].includes(w.path), captions[i]);
      }
    }

    if (process.env.CATDOG_REPORT_SCREENSHOT) {
      await page.selectOption('#worst-model', fixture.chosen.id);
      await page.screenshot({ path: process.env.CATDOG_REPORT_SCREENSHOT, fullPage: true });
    }
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.console, []);
    assert.deepEqual(problems.foreign, []);
    await page.close();
  });

  // The shipped report shows every shipped model (web/models/index.json), each with its
  // validation and test accuracy and the pack they were measured on, and a robustness chart for each
  // model with corruption numbers; catnet-robust (trained and measured on a newer pack) included.
  test('the shipped report: every model of index.json with val, test and its pack; catnet-robust\'s row, chart and OOD line', async () => {
    const shipped = JSON.parse(readFileSync(path.join(webDir, 'models/index.json'), 'utf8')).models.map((m) => m.id);
    const rep = JSON.parse(readFileSync(path.join(webDir, 'models/report.json'), 'utf8'));
    assert.deepEqual(validateReport(rep), []);
    assert.ok(shipped.includes('catnet-robust'), String(shipped));
    const { page, problems } = await open(undefined);  // models/report.json, as the page loads it
    assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#status'));
    assert.deepEqual(new Set(await rowIds(page)), new Set(rep.models.map((m) => m.id)));
    for (const id of shipped) assert.ok((await rowIds(page)).includes(id), `${id} is shipped but not in the report`);
    assert.match(await page.textContent('#protocol'), /validation split.*test split was evaluated once/);
    const pct = (v) => `${(v * 100).toFixed(1)}%`;
    for (const m of rep.models) {
      const row = `#compare tr[data-id="${m.id}"]`;
      assert.equal(await page.textContent(`${row} td[data-key="val_accuracy"]`), pct(m.val.accuracy), m.id);
      assert.equal(await page.textContent(`${row} td[data-key="test_accuracy"]`), pct(m.test.accuracy), m.id);
      assert.equal(await page.getAttribute(`${row} td[data-key="pack"]`, 'title'), packOf(rep, m), m.id);
    }
    const robust = rep.models.find((m) => m.id === 'catnet-robust');
    assert.match(robust.pack_hash, /^3060c007/);
    assert.equal(await page.textContent('#compare tr[data-id="catnet-robust"] td[data-key="pack"]'), '3060c007…');
    assert.notEqual(packOf(rep, robust), packOf(rep, rep.models.find((m) => m.id === 'catnet-v2')));
    // two packs: the note says so and lists each pack's models; one data card per pack
    const packs = packsOf(rep);
    assert.ok(packs.length >= 2);
    const noteItems = await page.$$eval('#pack-note li', (lis) => lis.map((l) => [l.dataset.pack, l.textContent]));
    assert.deepEqual(noteItems.map(([h]) => h), packs.map((p) => p.hash));
    for (const [i, p] of packs.entries()) for (const id of p.ids) assert.ok(noteItems[i][1].includes(id), `${id} in ${noteItems[i][1]}`);
    assert.match(await page.textContent('#pack-note'), /indicative only/);
    assert.deepEqual((await page.$$eval('#data-card .data-card', (ds) => ds.map((d) => d.dataset.pack))).sort(), packs.map((p) => p.hash).sort());
    assert.equal(await page.getAttribute('#curves article[data-id="catnet-robust"] .tag.pack', 'data-pack'), robust.pack_hash);
    // a robustness chart for every model with corruption numbers, one bar per corruption and severity
    const withC = rep.models.filter((m) => m.corruptions);
    assert.ok(withC.some((m) => m.id === 'catnet-robust'));
    assert.deepEqual(await page.$$eval('#robustness .robust', (ds) => ds.map((d) => d.dataset.id)), withC.map((m) => m.id));
    for (const m of withC) {
      assert.equal(await page.$$eval(`#robustness .robust[data-id="${m.id}"] svg.robustness rect`, (r) => r.length), m.corruptions.results.length, m.id);
    }
    // calibration plots of temperature-scaled evaluations are titled so, never "as trained" (a
    // reliability plot is a two-class model's: a K-class entry has labels and no plot)
    const scaled = rep.models.filter((m) => m.test.calibration_scaled === true && !m.test.labels);
    assert.ok(scaled.some((m) => m.id === 'catnet-robust'));
    for (const m of scaled) {
      const caps = await page.$$eval(`#calibration article[data-id="${m.id}"] figcaption`, (fs) => fs.map((f) => f.textContent));
      assert.equal(caps.length, 1, `${m.id}: ${caps}`);
      assert.match(caps[0], /temperature-scaled \(T = /, m.id);
    }
    // the OOD numbers, with the number of photos they come from
    const o = robust.ood;
    assert.ok(o && o.ood_images > 0);
    assert.match(await page.textContent('#ood li[data-id="catnet-robust"]'),
      new RegExp(`false positive rate ${pct(o.fpr)} \\(${o.ood_accepted} of ${o.ood_images} measuring photos.*true positive rate of ${pct(o.tpr)}`));
    assert.deepEqual([...problems.pageErrors, ...problems.console, ...problems.foreign], []);
    await page.close();
  });

  test('sorting by clicking a header: best first, then reversed; missing values last', async () => {
    const { page, problems } = await open('/__fixtures/report.json');
    const models = fixture.models;
    const byKey = (get, dir) => models.slice().sort((a, b) => dir * (get(a) - get(b))).map((m) => m.id);
    await page.click('#compare th[data-key="test_accuracy"] button');
    assert.deepEqual(await rowIds(page), byKey((m) => m.test.accuracy, -1));
    assert.equal(await page.getAttribute('#compare th[data-key="test_accuracy"]', 'aria-sort'), 'descending');
    await page.click('#compare th[data-key="test_accuracy"] button');
    assert.deepEqual(await rowIds(page), byKey((m) => m.test.accuracy, 1));
    assert.equal(await page.getAttribute('#compare th[data-key="test_accuracy"]', 'aria-sort'), 'ascending');
    await page.click('#compare th[data-key="val_loss"] button');
    assert.deepEqual(await rowIds(page), byKey((m) => m.val.loss, 1));
    assert.equal(await page.getAttribute('#compare th[data-key="test_accuracy"]', 'aria-sort'), 'none');
    await page.click('#compare th[data-key="id"] button');
    assert.deepEqual(await rowIds(page), models.map((m) => m.id).sort((a, b) => a.localeCompare(b)));
    // the rows move whole: each row still shows its own model's numbers
    const pairs = await page.$$eval('#compare tbody tr', (trs) => trs.map((tr) => [tr.dataset.id, tr.querySelector('[data-key="params"]').textContent]));
    for (const [id, params] of pairs) {
      const col = COLUMNS.find((c) => c.key === 'params');
      assert.equal(params, col.fmt(models.find((m) => m.id === id).params));
    }
    await page.close();

    // a report with some metrics missing: those rows sort last in both directions, shown as "—"
    const partial = structuredClone(fixture);
    partial.models[1].ms_per_frame_wasm = null;
    delete partial.models[3].ms_per_frame_wasm;
    await fs.writeFile(path.join(fixturesDir, 'partial.json'), JSON.stringify(partial));
    const p2 = await open('/__fixtures/partial.json');
    assert.equal(await p2.page.getAttribute('body', 'data-state'), 'ready');
    for (let k = 0; k < 2; k++) {
      await p2.page.click('#compare th[data-key="ms_per_frame_wasm"] button');
      const ids = await rowIds(p2.page);
      assert.deepEqual(new Set(ids.slice(-2)), new Set([partial.models[1].id, partial.models[3].id]), `click ${k + 1}: ${ids}`);
    }
    assert.equal(await p2.page.textContent(`#compare tr[data-id="${partial.models[1].id}"] td[data-key="ms_per_frame_wasm"]`), '—');
    assert.deepEqual([...problems.pageErrors, ...p2.problems.pageErrors, ...p2.problems.console], []);
    await p2.page.close();
  });

  test('charts: arrow keys step through epochs; the y-axis toggle switches to per-model scales', async () => {
    const { page, problems } = await open('/__fixtures/report.json');
    const m = fixture.models.at(-1);
    const chart = page.locator(`#curves article[data-id="${m.id}"] svg.chart.accuracy`);
    await chart.focus();
    await page.keyboard.press('ArrowRight');  // first press: the last epoch
    const tip = page.locator(`#curves article[data-id="${m.id}"] figure[data-chart="accuracy"] .tooltip`);
    assert.match(await tip.innerText(), new RegExp(`epoch ${m.history.at(-1).epoch}\\b`));
    await page.keyboard.press('ArrowLeft');
    const h = m.history.at(-2);
    assert.match(await tip.innerText(), new RegExp(`epoch ${h.epoch}\\b[\\s\\S]*train: ${(h.accuracy * 100).toFixed(1)}%[\\s\\S]*validation: ${(h.val_accuracy * 100).toFixed(1)}%`));
    await page.keyboard.press('Escape');
    assert.equal(await tip.isVisible(), false);

    // shared scale: every loss chart has the same top tick; per model: the top follows the model
    const tops = () => page.$$eval('#curves svg.chart.loss', (svgs) => svgs.map((s) => {
      const ticks = [...s.querySelectorAll('.axis text')].filter((t) => t.getAttribute('text-anchor') === 'end').map((t) => Number(t.textContent));
      return Math.max(...ticks);
    }));
    const shared = await tops();
    assert.equal(new Set(shared).size, 1, String(shared));
    await page.uncheck('#shared-scale');
    const own = await tops();
    assert.equal(own.length, fixture.models.length);
    for (const [i, mm] of fixture.models.entries()) {
      const max = Math.max(...mm.history.flatMap((x) => [x.loss, x.val_loss]));
      assert.ok(own[i] <= shared[0] && own[i] >= max * 0.5, `${mm.id}: top tick ${own[i]}, max loss ${max}`);
    }
    assert.ok(new Set(own).size > 1, String(own));
    assert.deepEqual([...problems.pageErrors, ...problems.console], []);
    await page.close();
  });

  test('a minimal report (only the required fields, nulls elsewhere) renders without errors', async () => {
    const minimal = {
      title: 'minimal', chosen: { id: 'b' },
      models: fixture.models.slice(0, 2).map((m, i) => ({
        id: i ? 'b' : 'a', arch: m.arch, augment: m.augment, epochs: 1, params: null, ms_per_frame_wasm: null,
        history: m.history.slice(0, 1), val: { loss: null, accuracy: null },
        test: { accuracy: m.test.accuracy, confusion: m.test.confusion, auc: null, calibration: [] },
      })),
    };
    assert.deepEqual(validateReport(minimal), []);
    await fs.writeFile(path.join(fixturesDir, 'minimal.json'), JSON.stringify(minimal));
    const { page, problems } = await open('/__fixtures/minimal.json');
    assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#status'));
    assert.deepEqual(await rowIds(page), ['a', 'b']);
    assert.equal(await page.textContent('#compare tr[data-id="a"] td[data-key="auc"]'), '—');
    assert.match(await page.textContent('#data-card'), /no data card/);
    assert.match(await page.textContent('#calibration'), /No model in this report has calibration bins/);
    assert.match(await page.textContent('#worst'), /No model in this report lists its worst mistakes/);
    assert.equal(await page.$$eval('#curves polyline.series', (ps) => ps.length), 8);
    await page.click('#compare th[data-key="auc"] button');
    assert.deepEqual([...problems.pageErrors, ...problems.console, ...problems.foreign], []);
    await page.close();
  });

  test('a missing report.json: friendly message naming the URL and the HTTP status', async () => {
    const { page, problems } = await open('/__fixtures/nope.json');
    assert.equal(await page.getAttribute('body', 'data-state'), 'error');
    const msg = await page.textContent('#error-message');
    assert.match(msg, /\/__fixtures\/nope\.json/);
    assert.match(msg, /404/);
    assert.equal(await page.isVisible('#comparison'), false);
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.foreign, []);
    await page.close();
  });

  test('the default URL is models/report.json', async () => {
    const { page } = await open(undefined);
    const state = await page.getAttribute('body', 'data-state');
    if (existsSync(path.join(webDir, 'models/report.json'))) {
      assert.equal(state, 'ready', await page.textContent('#status'));
    } else {
      assert.equal(state, 'error');
      assert.match(await page.textContent('#error-message'), /models\/report\.json.*404/);
    }
    await page.close();
  });

  test('truncated JSON: the message says it is not valid JSON', async () => {
    const { page, problems } = await open('/__fixtures/truncated.json');
    assert.equal(await page.getAttribute('body', 'data-state'), 'error');
    assert.match(await page.textContent('#error-message'), /truncated\.json is not valid JSON/);
    assert.deepEqual([...problems.pageErrors, ...problems.console], []);
    await page.close();
  });

  test('wrong fields: the message lists each problem with its path', async () => {
    const { page, problems } = await open('/__fixtures/bad-schema.json');
    assert.equal(await page.getAttribute('body', 'data-state'), 'error');
    assert.match(await page.textContent('#error-message'), /bad-schema\.json does not match the report format/);
    const items = await cellTexts(page, '#error-list li');
    assert.equal(items.length, 3, items.join('\n'));
    assert.match(items[0], /^models\[1\]\.history\[3\]\.val_loss: expected a number, got "NaN"/);
    assert.match(items[1], /^models\[4\]\.test\.confusion: expected/);
    assert.match(items[2], /^models\[6\]\.test\.worst\[0\]: pixels_b64 decodes to 300 bytes, expected 10000/);
    assert.deepEqual([...problems.pageErrors, ...problems.console], []);
    await page.close();
  });

  // The real tools end to end on a few real photos: catdog prepare -> train (2 epochs, CPU) ->
  // export -> evaluate --json -> make-report -> this page. Catches drift between the trainer's
  // outputs and the report format. Needs the native CLI (with OpenCV and libtorch) and the photos.
  test('real pipeline: prepare, train, export, evaluate, make-report, page', { timeout: 600000 }, async () => {
    const catdog = path.resolve(process.env.CATDOG_CLI || path.join(repo, 'build/native/catdog'));
    if (!existsSync(catdog)) {
      throw new Error(`missing native CLI ${catdog}: build it with \`cmake --preset native && cmake --build build/native\` (or set CATDOG_CLI)`);
    }
    const photos = path.join(path.resolve(process.env.CATDOG_DATA || path.join(repo, '../shared/data')), 'PetImages');
    if (!existsSync(path.join(photos, 'Cat')) || !existsSync(path.join(photos, 'Dog'))) {
      throw new Error(`missing real photos at ${photos}/{Cat,Dog}: put the shared data beside the repo (../shared/data) or set CATDOG_DATA`);
    }
    const work = tmp('catdog-report-e2e-');
    try {
      for (const cls of ['Cat', 'Dog']) {  // the first 30 photos of each class, linked, not copied
        await fs.mkdir(path.join(work, 'img', cls), { recursive: true });
        const names = (await fs.readdir(path.join(photos, cls))).filter((f) => /\.jpe?g$/i.test(f)).sort().slice(0, 30);
        for (const f of names) await fs.symlink(path.join(photos, cls, f), path.join(work, 'img', cls, f));
      }
      const sh = async (args) => {
        try {
          return (await run(catdog, args, { cwd: work, timeout: 300000, maxBuffer: 64 << 20 })).stdout;
        } catch (e) {
          throw new Error(`catdog ${args.join(' ')} failed (${e.code}): ${e.stderr}`);
        }
      };
      await sh(['prepare', '--images', 'img', '--out', 'pack', '--val-fraction', '0.25', '--test-fraction', '0.25', '--seed', '3', '--threads', '1']);
      await sh(['train', '--pack', 'pack', '--arch', 'dense', '--epochs', '2', '--device', 'cpu', '--threads', '1', '--no-progress', '--out', 'runs/dense']);
      // Two epochs on a few photos: the pipeline, not learning (the report marks a model at chance).
      await sh(['export', '--checkpoint', 'runs/dense', '--out', 'models/dense', '--allow-chance']);
      const evalText = await sh(['evaluate', '--model', 'models/dense', '--pack', 'pack', '--split', 'test', '--json', '--worst', '4']);
      await fs.writeFile(path.join(work, 'runs/dense/eval.json'), evalText);
      const ev = JSON.parse(evalText);
      const out = path.join(work, 'site/models/report.json');
      const r = await cli(['--run', `dense=${work}/runs/dense,model=${work}/models/dense,ms=0.5`, '--data-card', `${work}/pack/report.json`,
        '--why', 'the only one', '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      const rep = JSON.parse(await fs.readFile(out, 'utf8'));
      assert.deepEqual(validateReport(rep), []);
      const m = rep.models[0];
      assert.equal(m.arch, 'dense');
      assert.equal(m.augment, false);
      assert.equal(m.params, 100 * 100 * 150 + 150 + 150 * 150 + 150 + 150 + 1);  // the tutorial's dense model
      assert.deepEqual(m.history.map((h) => h.epoch), [1, 2]);
      assert.equal(m.epochs, 2);
      assert.deepEqual(m.test.confusion, ev.confusion);
      assert.equal(m.test.accuracy, ev.accuracy);
      const testImages = rep.data_card.per_class.cat.test + rep.data_card.per_class.dog.test;
      assert.equal(ev.confusion.flat().reduce((a, b) => a + b, 0), testImages);
      assert.equal(rep.data_card.per_class.cat.train + rep.data_card.per_class.cat.val + rep.data_card.per_class.cat.test, 30);
      assert.match(rep.data_card.pack_hash, /^[0-9a-f]{64}$/);

      await fs.copyFile(out, path.join(fixturesDir, 'e2e.json'));
      const { page, problems } = await open('/__fixtures/e2e.json');
      assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#status'));
      assert.deepEqual(await rowIds(page), ['dense']);
      assert.equal(await page.$$eval('#curves svg.chart.loss polyline.series', (ps) => ps.map((p) => p.getAttribute('points').trim().split(/\s+/).length).join()), '2,2');
      const drawn = await page.$$eval('#worst-grid canvas', (cs) => cs.map((c) => Array.from(c.getContext('2d').getImageData(0, 0, 100, 100).data.filter((_, i) => i % 4 === 0))));
      assert.equal(drawn.length, ev.worst.length);
      for (const [i, w] of ev.worst.entries()) assert.deepEqual(Uint8Array.from(drawn[i]), b64bytes(w.pixels_b64), `thumbnail ${i}`);
      assert.deepEqual([...problems.pageErrors, ...problems.console, ...problems.foreign], []);
      await page.close();
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  });

  // In Spanish the whole report page is Spanish. The English texts to look for are
  // i18n.js's English report table (each text cut at its {placeholders}, the pieces with 3+
  // letters), less the words Spanish shares (AUC, ECE, total ...); the report file's own strings
  // (title, why, notes, ids, paths) are taken out of the page text first.
  test('Spanish mode: no English text of the page is left (headings, columns, charts, legends, tooltips, labels)', async () => {
    const { page, problems } = await open('/__fixtures/report.json', '&lang=es');
    assert.equal(await page.getAttribute('body', 'data-state'), 'ready');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'es');
    // a chart's tooltip is drawn only on demand: show one
    await page.locator('#curves svg.chart.accuracy').first().focus();
    await page.keyboard.press('ArrowRight');
    const shown = await page.evaluate(() => {
      const parts = [document.title, document.body.textContent];
      for (const e of document.querySelectorAll('[aria-label], [title]')) {
        parts.push(e.getAttribute('aria-label') ?? '', e.getAttribute('title') ?? '');
      }
      return parts.join('\n');
    });
    const data = new Set();
    const collect = (v, k) => {
      if (typeof v === 'string' && k !== 'pixels_b64') data.add(v);
      else if (v && typeof v === 'object') for (const [kk, vv] of Object.entries(v)) collect(vv, kk);
    };
    collect(fixture);
    for (const reason of Object.keys(fixture.data_card.skipped ?? {})) data.add(reason);
    let text = shown;
    for (const d of [...data].filter((d) => d.length >= 3).sort((a, b) => b.length - a.length)) text = text.split(d).join(' ');
    const es = table('report', 'es');
    const pieces = new Set();
    for (const [key, en] of Object.entries(table('report', 'en'))) {
      if (typeof en !== 'string' || es[key] === en) continue;
      for (const piece of en.split(/\{\w+\}/)) {
        const p = piece.trim().replace(/^[\s,.:;·—(←]+|[\s,.:;·—)→]+$/g, '');
        if ((p.match(/\p{L}/gu) ?? []).length >= 3) pieces.add(p);
      }
    }
    assert.ok(pieces.size > 100, `${pieces.size} English texts to look for`);
    // a whole word: not part of an identifier or a file name (val_loss, test_*, model.json, --corruptions)
    const asWord = (x) => new RegExp(`(?<![\\p{L}_-])${esc(x)}(?![\\p{L}_*]|\\.\\p{L})`, 'u');
    const esc = (x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const left = [...pieces].filter((p) => asWord(p).test(text));
    const where = left.map((p) => { const i = text.search(asWord(p)); return `${p}: …${text.slice(Math.max(0, i - 60), i + 60)}…`; });
    assert.deepEqual(left, [], `English texts shown in Spanish mode:\n${where.join('\n')}`);
    assert.deepEqual([...problems.pageErrors, ...problems.console, ...problems.foreign], []);
    await page.close();
  });

  test('text from the report is shown as text, never as markup', async () => {
    const { page, problems } = await open('/__fixtures/hostile.json');
    assert.equal(await page.getAttribute('body', 'data-state'), 'ready');
    assert.equal(await page.textContent('#title'), '<img src=x onerror="window.__pwned=1">');
    assert.equal(await page.textContent('#chosen-why'), '<script>window.__pwned=1</script>');
    assert.equal(await page.$$eval('main img, main script, #title img', (e) => e.length), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.deepEqual([...problems.pageErrors, ...problems.console, ...problems.foreign], []);
    await page.close();
  });

  // A report with a two-class model and a three-class one (tests/web/fixtures/report-k3.json): the
  // two-class card keeps its 2x2 grid; the three-class one gets a 3x3 grid with its class names.
  const kFixture = JSON.parse(readFileSync(path.join(repo, 'tests/web/fixtures/report-k3.json'), 'utf8'));
  const gridOf = (page, id) => page.$$eval(`#confusion article[data-id="${id}"] table.cm`, ([t]) => ({
    cols: [...t.querySelectorAll('thead th[scope=col]')].map((th) => th.textContent),
    rows: [...t.querySelectorAll('tbody th[scope=row]')].map((th) => th.textContent),
    counts: [...t.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td .count')].map((s) => Number(s.textContent.replace(/,/g, '')))),
  }));

  test('a three-class model beside a two-class one: 3x3 grid with class names, per-class recall, "—" for AUC', async () => {
    await fs.copyFile(path.join(repo, 'tests/web/fixtures/report-k3.json'), path.join(fixturesDir, 'report-k3.json'));
    const { page, problems } = await open('/__fixtures/report-k3.json', '&lang=en');
    assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#status'));
    const [two, k3] = kFixture.models;
    const k = await gridOf(page, k3.id);
    assert.deepEqual(k.cols, ['cat', 'dog', 'no cat or dog']);
    assert.deepEqual(k.rows, ['cat', 'dog', 'no cat or dog']);
    assert.deepEqual(k.counts, k3.test.confusion);
    const twoGrid = await gridOf(page, two.id);
    assert.deepEqual(twoGrid.counts, two.test.confusion);
    assert.deepEqual(twoGrid.cols, ['cat', 'dog']);
    const recall = await cellTexts(page, `#confusion article[data-id="${k3.id}"] .per-class-recall li`);
    assert.equal(recall.length, 3);
    k3.test.per_class.forEach((x, i) => assert.match(recall[i], new RegExp(`recall ${(x.recall * 100).toFixed(1)}%`)));
    // the comparison table: accuracy and ECE shown, the two-class-only AUC as "—"
    const cell = (id, key) => page.textContent(`#compare tr[data-id="${id}"] [data-key="${key}"]`);
    assert.equal(await cell(k3.id, 'test_accuracy'), `${(k3.test.accuracy * 100).toFixed(1)}%`);
    assert.equal(await cell(k3.id, 'auc'), '—');
    assert.equal(await cell(k3.id, 'ece'), k3.test.ece.toFixed(4));
    assert.equal(await cell(two.id, 'auc'), two.test.auc.toFixed(4));
    // no reliability plot for the three-class model; its mistakes name the class it was taken for
    assert.equal(await page.$$eval(`#calibration article[data-id="${k3.id}"]`, (e) => e.length), 0);
    await page.selectOption('#worst-model', k3.id);
    const captions = await cellTexts(page, '#worst-grid figcaption .truth');
    assert.deepEqual(captions, k3.test.worst.map((w) => `true ${w.label === 'neither' ? 'no cat or dog' : w.label} · seen as ${w.predicted === 'neither' ? 'no cat or dog' : w.predicted}`));
    assert.deepEqual([...problems.pageErrors, ...problems.console, ...problems.foreign], []);
    await page.close();
  });

  test('a three-class model in Spanish, and a label of its own shown as text, never as markup', async () => {
    const hostile = structuredClone(kFixture);
    const k3 = hostile.models[1];
    k3.test.labels = ['Cat', '<b>Rabbit</b>', 'neither'];
    k3.test.per_class = k3.test.per_class.map((x, i) => ({ ...x, label: k3.test.labels[i] }));
    k3.test.worst = k3.test.worst.map((w) => ({ ...w, label: '<b>Rabbit</b>', predicted: 'Cat' }));
    await fs.writeFile(path.join(fixturesDir, 'report-k3-hostile.json'), JSON.stringify(hostile));
    const { page, problems } = await open('/__fixtures/report-k3-hostile.json', '&lang=es');
    assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#status'));
    const k = await gridOf(page, k3.id);
    assert.deepEqual(k.cols, ['gato', '<b>Rabbit</b>', 'ni gato ni perro']);
    assert.deepEqual(k.rows, ['gato', '<b>Rabbit</b>', 'ni gato ni perro']);
    assert.deepEqual(k.counts, k3.test.confusion);
    assert.deepEqual((await gridOf(page, hostile.models[0].id)).cols, ['gato', 'perro']);
    // the data card of the three-class pack names its third class in Spanish too
    assert.match(await page.textContent('#data-card'), /ni gato ni perro/);
    await page.selectOption('#worst-model', k3.id);
    assert.equal(await page.textContent('#worst-grid figcaption .truth strong'), '<b>Rabbit</b>');
    assert.equal(await page.$$eval('main b', (e) => e.length), 0);
    assert.deepEqual([...problems.pageErrors, ...problems.console, ...problems.foreign], []);
    await page.close();
  });
});

// ---- validator and make-report ------------------------------------------------------------------

describe('report format', () => {
  test('the fixture is valid and self-consistent', () => {
    assert.deepEqual(validateReport(fixture), []);
    for (const m of fixture.models) {
      const c = m.test.confusion;
      const n = c[0][0] + c[0][1] + c[1][0] + c[1][1];
      assert.ok(Math.abs((c[0][0] + c[1][1]) / n - m.test.accuracy) < 1e-4, m.id);
      assert.equal(m.test.calibration.reduce((a, b) => a + b.count, 0), n, m.id);
      assert.ok(Math.abs(eceFromBins(m.test.calibration) - m.test.ece) < 1e-3, m.id);
      assert.equal(m.history.length, m.epochs, m.id);
    }
  });
  test('problems name the path and the bad value', () => {
    const r = structuredClone(fixture);
    r.chosen.id = 'nobody';
    r.models[0].augment = 'yes';
    r.models[2].test.accuracy = 1.5;
    r.models[3].id = r.models[4].id;
    assert.deepEqual(validateReport(r), [
      'models[0].augment: expected true or false, got "yes"',
      'models[2].test.accuracy: expected a number in [0, 1], got 1.5',
      `models[4].id: "${r.models[4].id}" is used by two models`,
      'chosen.id: "nobody" is not one of the models (dense, dense-aug, cnn, cnn-dropout, cnn-dropout-aug, sepnet)',
      'targets[0].model: expected the id of one of the models, got "cnn-aug"',
    ]);
    assert.deepEqual(validateReport(null), ['report: expected a JSON object, got null']);
    assert.deepEqual(validateReport({ title: 't', chosen: { id: 'a' }, models: [] }), ['models: expected a non-empty array, got []']);
  });
});

const makeReport = path.join(repo, 'scripts/make-report.mjs');

// A fake training folder the way `catdog train` writes it, plus an evaluation and a model.json.
async function fakeRun(root, id, { arch, augment, epochs, valLoss, acc, conf, worst = 0, temperature = null, packHash = 'abc123' }) {
  const dir = path.join(root, id);
  await fs.mkdir(dir, { recursive: true });
  const hist = [];
  for (let e = 1; e <= epochs; e++) {
    hist.push({ epoch: e, loss: 0.7 / e, accuracy: 0.5 + 0.4 * (e / epochs), val_loss: valLoss + Math.abs(e - 3) * 0.01,
      val_accuracy: 0.5 + 0.3 * (e / epochs), lr: 0.001, seconds: 2.5, images_per_s: 900 });
  }
  await fs.writeFile(path.join(dir, 'history.jsonl'), hist.map((h) => JSON.stringify(h)).join('\n') + '\n');
  const best = hist[Math.min(2, epochs - 1)];
  await fs.writeFile(path.join(dir, 'run.json'), JSON.stringify({
    arch, augment, epochs, seed: 1, device: 'cpu', pack: { path: 'p', content_hash: packHash, seed: 7 },
    status: 'finished', epochs_run: epochs, stop_reason: 'epochs', best_epoch: best.epoch, best,
    final: hist.at(-1), timing: { train_seconds: 2.5 * epochs, mean_epoch_seconds: 2.5, images_per_s: 900 },
  }, null, 2));
  const n = conf[0][0] + conf[0][1] + conf[1][0] + conf[1][1];
  const px = Buffer.alloc(10000, 77);
  // what `catdog evaluate --json` prints (metrics.h ToJson + model, source, backend, worst, skipped)
  const evaluation = (meanLo, meanHi) => {
    const calibration = [{ lo: 0, hi: 0.5, count: conf[0][0] + conf[1][0], mean_p: meanLo, frac_dog: conf[1][0] / (conf[0][0] + conf[1][0]) },
      { lo: 0.5, hi: 1, count: conf[0][1] + conf[1][1], mean_p: meanHi, frac_dog: conf[1][1] / (conf[0][1] + conf[1][1]) }];
    return {
      n, threshold: 0.5, accuracy: acc,
      precision: { cat: conf[0][0] / (conf[0][0] + conf[1][0]), dog: conf[1][1] / (conf[1][1] + conf[0][1]) },
      recall: { cat: conf[0][0] / (conf[0][0] + conf[0][1]), dog: conf[1][1] / (conf[1][0] + conf[1][1]) },
      confusion: conf, auc: 0.91, ece: eceFromBins(calibration), log_loss: 0.35, calibration,
      model: path.join(dir, 'tfjs'), source: `pack /packs/pets split test (content hash ${packHash})`, backend: 'simd',
      worst: Array.from({ length: worst }, (_, i) => ({ path: `Cat/${i}.jpg`, label: 'cat', p_dog: 0.99, pixels_b64: px.toString('base64') })),
      skipped: [],
    };
  };
  await fs.writeFile(path.join(dir, 'eval.json'), JSON.stringify(evaluation(0.2, 0.8), null, 2));
  if (temperature) await fs.writeFile(path.join(dir, 'eval-uncalibrated.json'), JSON.stringify(evaluation(0.05, 0.97), null, 2));
  const mdir = path.join(dir, 'tfjs');
  await fs.mkdir(mdir);
  await fs.writeFile(path.join(mdir, 'group1-shard1of1.bin'), Buffer.alloc(4 * (10 * 3 + 3)));
  await fs.writeFile(path.join(mdir, 'model.json'), JSON.stringify({ format: 'layers-model', weightsManifest: [{
    paths: ['group1-shard1of1.bin'], weights: [{ name: 'd/kernel', shape: [10, 3], dtype: 'float32' }, { name: 'd/bias', shape: [3], dtype: 'float32' }] }],
    userDefinedMetadata: { catdog: { threshold: 0.5, ...(temperature ? { temperature } : {}) } } }));
  return dir;
}

async function prepareReport(file, hash = 'abc123') {
  await fs.writeFile(file, JSON.stringify({
    images_found: 130, images_used: 120, per_class: { cat: 60, dog: 60 },
    per_split: { train: { cat: 40, dog: 41 }, val: { cat: 10, dog: 9 }, test: { cat: 10, dog: 10 } },
    skipped: { 'not-an-image': 2, truncated: 0, empty: 1 }, skipped_total: 3, duplicates: 7,
    settings: { images: ['/data/PetImages'], size: 100, fit: 'stretch', gray: 'bt601', seed: 7, val_fraction: 0.15, test_fraction: 0.15 },
    pack: { dir: 'p', content_hash: hash, shards: [], bytes: 1 },
  }));
}

async function cli(args) {
  try {
    const { stdout, stderr } = await run(process.execPath, [makeReport, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('scripts/make-report.mjs', () => {
  let root;
  before(async () => {
    root = tmp('catdog-make-report-');
    await fakeRun(root, 'cnn', { arch: 'cnn', augment: false, epochs: 6, valLoss: 0.45, acc: 0.8, conf: [[8, 2], [2, 8]] });
    await fakeRun(root, 'cnn-aug', { arch: 'cnn', augment: true, epochs: 5, valLoss: 0.3, acc: 0.85, conf: [[9, 1], [2, 8]], worst: 2 });
    await fakeRun(root, 'sep', { arch: 'sepnet', augment: true, epochs: 4, valLoss: 0.2, acc: 0.9, conf: [[9, 1], [1, 9]], temperature: 1.7 });
    await prepareReport(path.join(root, 'prepare.json'));
  });
  after(async () => {
    if (root) await fs.rm(root, { recursive: true, force: true });
  });

  test('assembles a valid report from run folders, evaluations, models and the prepare report', async () => {
    const out = path.join(root, 'site/models/report.json');
    const r = await cli(['--run', `cnn=${root}/cnn,model=${root}/cnn/tfjs,ms=2.5`, '--run', `cnn-aug=${root}/cnn-aug,eval=${root}/cnn-aug/eval.json`,
      '--data-card', path.join(root, 'prepare.json'), '--generated', '2026-11-27T18:00:00Z', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(await fs.readFile(out, 'utf8'));
    assert.deepEqual(validateReport(rep), []);
    assert.equal(rep.generated, '2026-11-27T18:00:00Z');
    assert.deepEqual(rep.models.map((m) => m.id), ['cnn', 'cnn-aug']);
    // default choice: the lowest validation loss, and it says so
    assert.equal(rep.chosen.id, 'cnn-aug');
    assert.match(rep.chosen.why, /Lowest validation loss.*0\.3000 at epoch 3/);
    const [a, b] = rep.models;
    assert.equal(a.history.length, 6);
    assert.deepEqual(Object.keys(a.history[0]), ['epoch', 'loss', 'accuracy', 'val_loss', 'val_accuracy']);
    assert.equal(a.epochs, 6);
    assert.equal(a.best_epoch, 3);
    assert.deepEqual(a.val, { loss: 0.45, accuracy: a.history[2].val_accuracy });
    assert.equal(a.params, 33);
    assert.ok(a.size_bytes > 33 * 4, String(a.size_bytes));
    assert.equal(a.ms_per_frame_wasm, 2.5);
    assert.equal(b.params, null);
    assert.equal(b.ms_per_frame_wasm, null);
    assert.equal(a.train_seconds, 15);
    assert.equal(a.device, 'cpu');
    assert.equal(a.seed, 1);
    // the evaluation as `catdog evaluate --json` writes it
    const ev = JSON.parse(await fs.readFile(path.join(root, 'cnn-aug/eval.json'), 'utf8'));
    for (const k of ['accuracy', 'precision', 'recall', 'confusion', 'auc', 'ece', 'calibration', 'worst', 'n', 'threshold', 'log_loss']) {
      assert.deepEqual(b.test[k], ev[k], k);
    }
    assert.equal(b.test.calibration_after, undefined);
    assert.equal(b.test.temperature, undefined);
    // data card from the prepare report
    assert.deepEqual(rep.data_card.per_class, { cat: { train: 40, val: 10, test: 10 }, dog: { train: 41, val: 9, test: 10 } });
    assert.deepEqual(rep.data_card.skipped, { 'not-an-image': 2, empty: 1 });
    assert.equal(rep.data_card.pack_hash, 'abc123');
    assert.equal(rep.data_card.seed, 7);
    assert.equal(rep.data_card.duplicates, 7);
    // targets: the tutorial CNN with augmentation, and the chosen model
    assert.deepEqual(rep.targets.map((t) => [t.model, t.min]), [['cnn-aug', 0.88], ['cnn-aug', 0.96]]);
    // the selection protocol is stated
    assert.match(rep.protocol, /validation split.*test split was evaluated once/);
  });

  test('--keep keeps the other models of an earlier report; --corruptions attaches an evaluate --corruptions block', async () => {
    const first = path.join(root, 'keep1.json');
    let r = await cli(['--run', `cnn=${root}/cnn`, '--run', `cnn-aug=${root}/cnn-aug`, '--no-targets', '--out', first]);
    assert.equal(r.code, 0, r.stderr);
    const corr = path.join(root, 'corr.json');
    const block = { seed: 0, images: 20, clean_accuracy: 0.85, mean_by_severity: { 1: 0.8, 2: 0.7, 3: 0.6 },
      results: [{ corruption: 'jpeg', severity: 1, accuracy: 0.8 }, { corruption: 'jpeg', severity: 2, accuracy: 0.7 }] };
    await fs.writeFile(corr, JSON.stringify({ accuracy: 0.85, corruptions: block }));
    const out = path.join(root, 'keep2.json');
    r = await cli(['--run', `cnn-aug=${root}/cnn-aug`, '--keep', first, '--corruptions', `cnn=${corr}`, '--chosen', 'cnn-aug',
      '--no-targets', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(await fs.readFile(out, 'utf8'));
    assert.deepEqual(validateReport(rep), []);
    assert.deepEqual(rep.models.map((m) => m.id), ['cnn-aug', 'cnn']);
    const kept = JSON.parse(await fs.readFile(first, 'utf8')).models[0];
    assert.deepEqual({ ...rep.models[1], corruptions: undefined }, { ...kept, corruptions: undefined });
    assert.deepEqual(rep.models[1].corruptions, JSON.parse(JSON.stringify(block)));
    assert.equal(rep.models[0].corruptions, undefined);
    r = await cli(['--run', `cnn-aug=${root}/cnn-aug`, '--corruptions', `nope=${corr}`, '--out', path.join(root, 'never2.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--corruptions 'nope=.*': expected ID=FILE with ID one of the models/);
  });

  test('temperature scaling: uncalibrated= gives the "as trained" bins, eval= the "after" ones, T from the model', async () => {
    const out = path.join(root, 'r3.json');
    const r = await cli(['--run', `sep=${root}/sep,uncalibrated=${root}/sep/eval-uncalibrated.json,model=${root}/sep/tfjs`,
      '--data-card', path.join(root, 'prepare.json'), '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const t = JSON.parse(await fs.readFile(out, 'utf8')).models[0].test;
    const after = JSON.parse(await fs.readFile(path.join(root, 'sep/eval.json'), 'utf8'));
    const before = JSON.parse(await fs.readFile(path.join(root, 'sep/eval-uncalibrated.json'), 'utf8'));
    assert.deepEqual(t.calibration, before.calibration);
    assert.deepEqual(t.calibration_after, after.calibration);
    assert.equal(t.ece, before.ece);
    assert.equal(t.temperature, 1.7);
    const r2 = await cli(['--run', `sep=${root}/sep,uncalibrated=${root}/sep/eval-uncalibrated.json,T=1.25`, '--out', out]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(JSON.parse(await fs.readFile(out, 'utf8')).models[0].test.temperature, 1.25);
  });

  test('a temperature-scaled evaluation without uncalibrated= is marked calibration_scaled (never "as trained")', async () => {
    const ev = JSON.parse(await fs.readFile(path.join(root, 'sep/eval.json'), 'utf8'));
    const scaled = path.join(root, 'sep-eval-scaled.json');
    await fs.writeFile(scaled, JSON.stringify({ ...ev, calibrated: true }));
    const out = path.join(root, 'r-scaled.json');
    const r = await cli(['--run', `sep=${root}/sep,eval=${scaled}`, '--data-card', path.join(root, 'prepare.json'), '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const t = JSON.parse(await fs.readFile(out, 'utf8')).models[0].test;
    assert.equal(t.calibration_scaled, true);
    assert.deepEqual(t.calibration, ev.calibration);
    assert.deepEqual(validateReport(JSON.parse(await fs.readFile(out, 'utf8'))), []);
    // with its uncalibrated twin the bins are split as before, and the flag is not set
    const r2 = await cli(['--run', `sep=${root}/sep,eval=${scaled},uncalibrated=${root}/sep/eval-uncalibrated.json`,
      '--data-card', path.join(root, 'prepare.json'), '--out', out]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(JSON.parse(await fs.readFile(out, 'utf8')).models[0].test.calibration_scaled, undefined);
    // and an uncalibrated evaluation is "as trained"
    const r3 = await cli(['--run', `sep=${root}/sep`, '--data-card', path.join(root, 'prepare.json'), '--out', out]);
    assert.equal(r3.code, 0, r3.stderr);
    assert.equal(JSON.parse(await fs.readFile(out, 'utf8')).models[0].test.calibration_scaled, undefined);
  });

  test('--chosen and --why override the choice; --no-targets leaves targets out', async () => {
    const out = path.join(root, 'r2.json');
    const r = await cli(['--run', `cnn=${root}/cnn`, '--run', `cnn-aug=${root}/cnn-aug`, '--chosen', 'cnn', '--why', 'smaller',
      '--no-targets', '--title', 'T', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no --data-card/);
    const rep = JSON.parse(await fs.readFile(out, 'utf8'));
    assert.deepEqual(rep.chosen, { id: 'cnn', why: 'smaller' });
    assert.equal(rep.title, 'T');
    assert.equal(rep.targets, undefined);
    assert.deepEqual(validateReport(rep), []);
  });

  test('bad inputs: exit 2, a message naming the file and the field, and no output file', async () => {
    const out = path.join(root, 'never.json');
    const expectFail = async (args, re) => {
      const r = await cli([...args, '--out', out]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(existsSync(out), false);
      assert.deepEqual((await fs.readdir(root)).filter((f) => f.includes('.tmp')), []);
    };
    await expectFail(['--run', `x=${root}/missing`], /missing\/run\.json: cannot read the run card: no such file/);
    await expectFail(['--run', 'no-equals-sign'], /--run 'no-equals-sign': expected ID=DIR/);
    await expectFail(['--run', `cnn=${root}/cnn,ms=fast`], /ms=fast is not a positive number/);
    await expectFail(['--run', `cnn=${root}/cnn`, '--run', `cnn=${root}/cnn-aug`], /id 'cnn' is given twice/);
    await expectFail(['--run', `cnn=${root}/cnn`, '--chosen', 'other'], /--chosen 'other': not one of the runs \(cnn\)/);
    await expectFail(['--run', `cnn=${root}/cnn,model=${root}/nowhere`], /nowhere: no such model file or folder/);

    const broken = path.join(root, 'broken');
    await fs.cp(path.join(root, 'cnn'), broken, { recursive: true });
    const hist = (await fs.readFile(path.join(broken, 'history.jsonl'), 'utf8')).split('\n');
    hist[2] = JSON.stringify({ epoch: 3, loss: 0.2, accuracy: 0.7, val_accuracy: 0.6 });
    await fs.writeFile(path.join(broken, 'history.jsonl'), hist.join('\n'));
    await expectFail(['--run', `b=${broken}`], /broken\/history\.jsonl:3: field "val_loss" is missing/);
    hist[2] = '{not json';
    await fs.writeFile(path.join(broken, 'history.jsonl'), hist.join('\n'));
    await expectFail(['--run', `b=${broken}`], /broken\/history\.jsonl:3: not a JSON object/);
    await fs.writeFile(path.join(broken, 'history.jsonl'), '\n');
    await expectFail(['--run', `b=${broken}`], /broken\/history\.jsonl: the training history has no epochs/);
    await fs.copyFile(path.join(root, 'cnn/history.jsonl'), path.join(broken, 'history.jsonl'));
    const runCard = JSON.parse(await fs.readFile(path.join(broken, 'run.json'), 'utf8'));
    delete runCard.arch;
    await fs.writeFile(path.join(broken, 'run.json'), JSON.stringify(runCard));
    await expectFail(['--run', `b=${broken}`], /broken\/run\.json: field "arch" is missing/);
    runCard.arch = 'cnn';
    await fs.writeFile(path.join(broken, 'run.json'), JSON.stringify(runCard));
    const ev = JSON.parse(await fs.readFile(path.join(broken, 'eval.json'), 'utf8'));
    ev.accuracy = 0.5;
    await fs.writeFile(path.join(broken, 'eval.json'), JSON.stringify(ev));
    await expectFail(['--run', `b=${broken}`], /broken\/eval\.json: accuracy 0\.5 does not match the confusion matrix \(16\/20 = 0\.8000\)/);
    ev.accuracy = 0.8;
    ev.source = 'pack /packs/other split test (content hash fff999)';
    await fs.writeFile(path.join(broken, 'eval.json'), JSON.stringify(ev));
    await expectFail(['--run', `b=${broken}`], /broken\/eval\.json: evaluated on pack fff999, but 'b' belongs to pack abc123/);
    const small = { ...JSON.parse(await fs.readFile(path.join(root, 'sep/eval-uncalibrated.json'), 'utf8')), confusion: [[4, 1], [1, 4]], accuracy: 0.8 };
    await fs.writeFile(path.join(root, 'small.json'), JSON.stringify(small));
    await expectFail(['--run', `b=${root}/cnn,uncalibrated=${root}/small.json`], /small\.json: 10 images, but .*cnn\/eval\.json has 20: not the same evaluation set/);
    await fs.rm(path.join(broken, 'eval.json'));
    await expectFail(['--run', `b=${broken}`], /broken\/eval\.json: cannot read the evaluation of 'b'/);

    await prepareReport(path.join(root, 'other-pack.json'), 'fff999');
    await expectFail(['--run', `cnn=${root}/cnn`, '--data-card', path.join(root, 'other-pack.json')],
      /cnn\/run\.json: pack\.content_hash abc123 is not the data card's pack fff999 .*trained on another dataset/);
    const r = await cli(['--run', `cnn=${root}/cnn`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--out is required/);
  });

  // Models trained and measured on different packs (different val/test splits) each carry
  // their own pack; the other pack's card is kept beside the main one.
  test('runs on two packs: each model carries its own pack hash, the other pack\'s card goes into data_cards', async () => {
    await fakeRun(root, 'newpack', { arch: 'catnet', augment: true, epochs: 4, valLoss: 0.25, acc: 0.85, conf: [[9, 1], [2, 8]], packHash: 'def456' });
    await fs.mkdir(path.join(root, 'pack-def456'), { recursive: true });
    await prepareReport(path.join(root, 'pack-def456/report.json'), 'def456');
    const out = path.join(root, 'two-packs.json');
    let r = await cli(['--run', `cnn=${root}/cnn`, '--run', `newpack=${root}/newpack,pack=${root}/pack-def456`,
      '--data-card', path.join(root, 'prepare.json'), '--chosen', 'cnn', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    let rep = JSON.parse(await fs.readFile(out, 'utf8'));
    assert.deepEqual(validateReport(rep), []);
    assert.deepEqual(rep.models.map((m) => [m.id, m.pack_hash]), [['cnn', 'abc123'], ['newpack', 'def456']]);
    assert.equal(rep.data_card.pack_hash, 'abc123');
    assert.deepEqual(rep.data_cards.map((c) => c.pack_hash), ['def456']);
    assert.deepEqual(rep.data_cards[0].per_class.cat, { train: 40, val: 10, test: 10 });
    assert.deepEqual(packsOf(rep), [{ hash: 'abc123', ids: ['cnn'] }, { hash: 'def456', ids: ['newpack'] }]);

    // card=FILE is the same as pack=DIR; --keep of that report plus one more run keeps both packs
    const out2 = path.join(root, 'two-packs-kept.json');
    r = await cli(['--keep', out, '--run', `cnn-aug=${root}/cnn-aug`, '--out', out2]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /no --data-card/);
    rep = JSON.parse(await fs.readFile(out2, 'utf8'));
    assert.deepEqual(validateReport(rep), []);
    assert.deepEqual(rep.models.map((m) => [m.id, packOf(rep, m)]), [['cnn-aug', 'abc123'], ['cnn', 'abc123'], ['newpack', 'def456']]);
    assert.equal(rep.data_card.pack_hash, 'abc123');  // the kept report's card, with --keep and no --data-card
    assert.deepEqual(rep.data_cards.map((c) => c.pack_hash), ['def456']);
    assert.equal(rep.chosen.id, 'cnn');  // the kept report's choice

    // --keep of it with 'newpack' rerun on the main pack: no model names def456 any more, so its card goes
    r = await cli(['--keep', out, '--run', `newpack=${root}/cnn-aug`, '--out', out2]);
    assert.equal(r.code, 0, r.stderr);
    rep = JSON.parse(await fs.readFile(out2, 'utf8'));
    assert.deepEqual(validateReport(rep), []);
    assert.deepEqual(rep.models.map((m) => [m.id, packOf(rep, m)]), [['newpack', 'abc123'], ['cnn', 'abc123']]);
    assert.equal(rep.data_cards, undefined);

    // a kept report's models without "pack_hash" stay on their card when --data-card names another pack
    const old = path.join(root, 'one-pack.json');
    r = await cli(['--run', `cnn=${root}/cnn`, '--data-card', path.join(root, 'prepare.json'), '--out', old]);
    assert.equal(r.code, 0, r.stderr);
    const oldRep = JSON.parse(await fs.readFile(old, 'utf8'));
    delete oldRep.models[0].pack_hash;  // as every report before pack_hash
    await fs.writeFile(old, JSON.stringify(oldRep));
    r = await cli(['--keep', old, '--run', `newpack=${root}/newpack`, '--data-card', path.join(root, 'pack-def456/report.json'),
      '--chosen', 'newpack', '--out', out2]);
    assert.equal(r.code, 0, r.stderr);
    rep = JSON.parse(await fs.readFile(out2, 'utf8'));
    assert.deepEqual(validateReport(rep), []);
    assert.deepEqual(rep.models.map((m) => [m.id, packOf(rep, m)]), [['newpack', 'def456'], ['cnn', 'abc123']]);
    assert.deepEqual(rep.data_cards.map((c) => c.pack_hash), ['abc123']);

    // without its own card the run is refused, and the message says how to give one
    r = await cli(['--run', `newpack=${root}/newpack`, '--data-card', path.join(root, 'prepare.json'), '--out', path.join(root, 'never3.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /newpack\/run\.json: pack\.content_hash def456 is not the data card's pack abc123 .*pack=PACK or card=FILE/);
    assert.equal(existsSync(path.join(root, 'never3.json')), false);

    // a report left beside a pack whose pack.json a later (killed) prepare replaced is refused
    await fs.writeFile(path.join(root, 'pack-def456/pack.json'), JSON.stringify({ content_hash: 'def999' }));
    r = await cli(['--run', `cnn=${root}/cnn`, '--run', `newpack=${root}/newpack,pack=${root}/pack-def456`,
      '--data-card', path.join(root, 'prepare.json'), '--out', path.join(root, 'never5.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /pack-def456\/report\.json: describes the pack with content hash def456, but .*pack-def456\/pack\.json says def999 .*run catdog prepare again/);
    assert.equal(existsSync(path.join(root, 'never5.json')), false);
    await fs.writeFile(path.join(root, 'pack-def456/pack.json'), JSON.stringify({ content_hash: 'def456' }));
    r = await cli(['--run', `cnn=${root}/cnn`, '--run', `newpack=${root}/newpack,pack=${root}/pack-def456`,
      '--data-card', path.join(root, 'prepare.json'), '--out', path.join(root, 'two-packs-again.json')]);
    assert.equal(r.code, 0, r.stderr);
  });

  test('val=FILE: the validation evaluation gives val accuracy, AUC and n; a test evaluation fed as val is refused, and the reverse', async () => {
    const ev = JSON.parse(await fs.readFile(path.join(root, 'cnn-aug/eval.json'), 'utf8'));
    const valFile = path.join(root, 'cnn-aug/eval-val.json');
    await fs.writeFile(valFile, JSON.stringify({ ...ev, auc: 0.93, source: 'pack /packs/pets split val (content hash abc123)' }));
    const out = path.join(root, 'val.json');
    let r = await cli(['--run', `cnn-aug=${root}/cnn-aug,val=${valFile},eval=${root}/cnn-aug/eval.json`, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(await fs.readFile(out, 'utf8')).models[0];
    assert.deepEqual(m.val, { loss: 0.3, accuracy: ev.accuracy, auc: 0.93, n: 20 });
    assert.equal(m.test.auc, 0.91);
    const never = path.join(root, 'never4.json');
    // a test evaluation fed as val=
    r = await cli(['--run', `cnn-aug=${root}/cnn-aug,val=${root}/cnn-aug/eval.json`, '--out', never]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cnn-aug\/eval\.json: evaluates the 'test' split .*validation metrics \(val=\) need `catdog evaluate --split val`/);
    // a validation evaluation fed as the test column (eval=)
    r = await cli(['--run', `cnn-aug=${root}/cnn-aug,eval=${valFile}`, '--out', never]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cnn-aug\/eval-val\.json: evaluates the 'val' split .*test metrics \(eval=\) need `catdog evaluate --split test`/);
    // a validation evaluation of another pack
    await fs.writeFile(valFile, JSON.stringify({ ...ev, source: 'pack /packs/x split val (content hash fff999)' }));
    r = await cli(['--run', `cnn-aug=${root}/cnn-aug,val=${valFile}`, '--out', never]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /eval-val\.json: evaluated on pack fff999, but 'cnn-aug' belongs to pack abc123/);
    // ... named by the pack_hash field (over the prose source's hash)
    await fs.writeFile(valFile, JSON.stringify({ ...ev, split: 'val', pack_hash: 'eee888', source: 'pack /packs/pets split val (content hash abc123)' }));
    r = await cli(['--run', `cnn-aug=${root}/cnn-aug,val=${valFile}`, '--out', never]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /eval-val\.json: evaluated on pack eee888, but 'cnn-aug' belongs to pack abc123/);
    // missing and broken card files, and card= with pack=
    r = await cli(['--run', `cnn=${root}/cnn,card=${root}/no-card.json`, '--out', never]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no-card\.json: cannot read the data card: no such file/);
    await fs.writeFile(path.join(root, 'bad-card.json'), '{"per_split": ');
    r = await cli(['--run', `cnn=${root}/cnn,card=${root}/bad-card.json`, '--out', never]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad-card\.json: the data card is not valid JSON/);
    r = await cli(['--run', `cnn=${root}/cnn,card=a.json,pack=b`, '--out', never]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /give card=FILE or pack=DIR, not both/);
    assert.equal(existsSync(never), false);
  });

  test('an evaluation made with --ood-images carries its "ood" block (FPR on N photos, TPR on the split)', async () => {
    const ev = JSON.parse(await fs.readFile(path.join(root, 'cnn/eval.json'), 'utf8'));
    const file = path.join(root, 'cnn/eval-ood.json');
    const ood = { method: 'feature-distance', threshold: 1.75, fpr: 0.5, tpr: 0.95, auroc: 0.8, ood_images: 4, ood_accepted: 2,
      split_images: 20, split_accepted: 19, images: 'ood/measure', split: 'split test', skipped: [], accepted_as_cat_or_dog: [] };
    await fs.writeFile(file, JSON.stringify({ ...ev, ood }));
    const out = path.join(root, 'ood.json');
    let r = await cli(['--run', `cnn=${root}/cnn,eval=${file}`, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(await fs.readFile(out, 'utf8')).models[0];
    assert.deepEqual(m.ood, { method: 'feature-distance', threshold: 1.75, fpr: 0.5, tpr: 0.95, auroc: 0.8, ood_images: 4, ood_accepted: 2,
      split_images: 20, split_accepted: 19, images: 'ood/measure' });
    await fs.writeFile(file, JSON.stringify({ ...ev, ood: { ...ood, ood_images: 0 } }));
    r = await cli(['--run', `cnn=${root}/cnn,eval=${file}`, '--out', path.join(root, 'never5.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /eval-ood\.json: ood: field "ood_images" is 0 \(expected a positive count\)/);
    await fs.writeFile(file, JSON.stringify({ ...ev, ood: { ...ood, split: 'split val' } }));
    r = await cli(['--run', `cnn=${root}/cnn,eval=${file}`, '--out', path.join(root, 'never5.json')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /eval-ood\.json: ood: measured on the 'val' split/);
  });

  test('mapping helpers accept the documented variants', () => {
    const base = { accuracy: 0.75, confusion: [[3, 1], [1, 3]] };
    const v = mapEvaluation({ accuracy: 0.85, confusion: { tn: 9, fp: 1, fn: 2, tp: 8 }, roc_auc: 0.91,
      calibration: [{ lo: 0, hi: 0.5, count: 11, mean_p: 0.2, frac_dog: 2 / 11 }, { lo: 0.5, hi: 1, count: 9, mean_p: 0.8, frac_dog: 8 / 9 }],
      worst: [{ path: 'Dog/1.jpg', label: 1, p_dog: 0.1, pixels_b64: '' }] }, 'f');
    assert.deepEqual(v.confusion, [[9, 1], [2, 8]]);
    assert.equal(v.auc, 0.91);
    assert.ok(Math.abs(v.precision.cat - 9 / 11) < 1e-12 && Math.abs(v.recall.dog - 0.8) < 1e-12);
    assert.ok(Math.abs(v.ece - eceFromBins(v.calibration)) < 1e-12);
    assert.equal(v.worst[0].label, 'dog');
    assert.throws(() => mapEvaluation({ ...base, source: 'pack /p split val (content hash ab)' }, 'v.json'),
      /v\.json: evaluates the 'val' split .*--split test/);
    // `catdog evaluate --json` names the split in a field of its own: read before (and without) the prose
    assert.throws(() => mapEvaluation({ ...base, split: 'val', pack_hash: 'ab' }, 'v.json'),
      /v\.json: evaluates the 'val' split; the report's test metrics \(eval=\) need `catdog evaluate --split test`/);
    assert.throws(() => mapEvaluation({ ...base, split: 'val', source: 'pack /p split test (content hash ab)' }, 'v.json'),
      /v\.json: evaluates the 'val' split/);
    assert.equal(mapEvaluation({ ...base, split: 'test', source: 'images /some/split val/photos' }, 'f').accuracy, base.accuracy);
    assert.deepEqual(mapEvaluation({ test: base }, 'f').confusion, [[3, 1], [1, 3]]);
    assert.deepEqual(mapEvaluation({ splits: { test: { accuracy: 0.75, confusion: { cat_as_cat: 3, cat_as_dog: 1, dog_as_cat: 1, dog_as_dog: 3 } } } }, 'f').confusion,
      [[3, 1], [1, 3]]);
    assert.throws(() => mapEvaluation({ accuracy: 0.75 }, 'e.json'), /e\.json: field "confusion" is missing/);
    assert.throws(() => mapEvaluation({ ...base, worst: [{ path: 'a', label: 'horse', p_dog: 0.5, pixels_b64: '' }] }, 'e.json'),
      /e\.json: worst\[0\]: field "label" is "horse"/);
    assert.deepEqual(mapDataCard({ data_card: fixture.data_card }, 'f'), fixture.data_card);
    assert.deepEqual(parseRunSpec('a=b/c,eval=e.json,model=m,ms=1.5'), { id: 'a', dir: 'b/c', eval: 'e.json', model: 'm', ms: 1.5 });
    assert.throws(() => parseRunSpec('a b=dir'), /may only use letters/);
  });
});

// ---- models with K > 2 classes ----------------------------------------------------------------------

describe('K-class models (labels, K x K confusion)', () => {
  const labels = ['cat', 'dog', 'neither'];
  const confusion = [[1391, 31, 77], [52, 1364, 83], [20, 45, 1852]];
  const px = Buffer.alloc(10000, 77).toString('base64');
  // what `catdog evaluate --json` prints for a three-class model (no auc, threshold or P(dog) bins)
  const k3Eval = (split = 'test', over = {}) => ({
    accuracy: 4607 / 4915, n: 4915, labels, confusion, log_loss: 0.1891, ece: 0.0109, temperature: 1, calibrated: false,
    per_class: [], source: `pack packs/k3 split ${split} (content hash abc123)`, backend: 'simd', skipped: [],
    worst: [{ label: 'dog', predicted: 'cat', p_true: 0.0002, path: 'dog/6716.jpg', pixels_b64: px }], ...over,
  });
  const kFixture = JSON.parse(readFileSync(path.join(repo, 'tests/web/fixtures/report-k3.json'), 'utf8'));

  test('mapEvaluation: labels, the K x K confusion, per-class recall and precision, log loss, ECE; nothing two-class-only', () => {
    const t = mapEvaluation(k3Eval(), 'k3.json');
    assert.deepEqual(t.labels, labels);
    assert.deepEqual(t.confusion, confusion);
    assert.equal(t.n, 4915);
    assert.deepEqual(t.per_class.map((x) => [x.label, x.images]), [['cat', 1499], ['dog', 1499], ['neither', 1917]]);
    assert.ok(Math.abs(t.per_class[2].recall - 1852 / 1917) < 1e-12);
    assert.ok(Math.abs(t.per_class[0].precision - 1391 / 1463) < 1e-12);
    assert.equal(t.log_loss, 0.1891);
    assert.equal(t.ece, 0.0109);
    assert.deepEqual(t.worst, [{ path: 'dog/6716.jpg', label: 'dog', predicted: 'cat', p_true: 0.0002, pixels_b64: px }]);
    for (const k of ['auc', 'threshold', 'calibration', 'calibration_after', 'precision', 'recall']) assert.equal(k in t, false, k);
    // a validation evaluation maps the same way (and a val one fed as the test split is refused as before)
    assert.deepEqual(mapEvaluation(k3Eval('val'), 'v.json', 'val').labels, labels);
    assert.throws(() => mapEvaluation(k3Eval('val'), 'v.json'), /v\.json: evaluates the 'val' split/);
  });

  test('mapEvaluation refuses a malformed K-class evaluation, naming the file and the value', () => {
    const bad = (over, re) => assert.throws(() => mapEvaluation(k3Eval('test', over), 'k3.json'), re);
    bad({ confusion: [[1, 2, 3], [4, 5, 6]] }, /k3\.json: field "confusion" has 2 rows, but "labels" names 3 classes/);
    bad({ confusion: [[1, 2, 3], [4, 5], [7, 8, 9]] }, /k3\.json: field "confusion\[1\]" is \[4,5\] \(expected a row of 3 counts\)/);
    bad({ confusion: [[1, 2, 3], [4, -5, 6], [7, 8, 9]] }, /k3\.json: field "confusion\[1\]\[1\]" is -5 \(expected a non-negative integer count\)/);
    bad({ confusion: [[1, 2, 3], [4, 5.5, 6], [7, 8, 9]] }, /k3\.json: field "confusion\[1\]\[1\]" is 5\.5/);
    bad({ accuracy: 0.5 }, /k3\.json: accuracy 0\.5 does not match the confusion matrix \(4607\/4915 = 0\.9373\)/);
    bad({ labels: ['cat', 'dog', 'cat'] }, /k3\.json: field "labels" names "cat" twice \(labels\[0\] and labels\[2\]\)/);
    bad({ labels: ['cat', '', 'neither'] }, /k3\.json: field "labels\[1\]" is "" \(expected a non-empty class name\)/);
    bad({ labels: undefined }, /k3\.json: field "labels" is missing/);
    bad({ n: 5000 }, /k3\.json: field "n" is 5000, but the confusion matrix counts 4915 images/);
    bad({ worst: [{ label: 'horse', predicted: 'cat', p_true: 0.1, path: 'a', pixels_b64: px }] },
      /k3\.json: worst\[0\]: field "label" is "horse" \(expected one of \["cat","dog","neither"\]\)/);
  });

  test('make-report: a three-class run, its val and test labels checked against each other', async () => {
    const root = tmp('catdog-make-report-k-');
    try {
      await fakeRun(root, 'k3', { arch: 'sepnet', augment: true, epochs: 4, valLoss: 0.3, acc: 0.8, conf: [[8, 2], [2, 8]] });
      const evalFile = path.join(root, 'k3/eval.json');
      const valFile = path.join(root, 'k3/eval-val.json');
      await fs.writeFile(evalFile, JSON.stringify(k3Eval('test')));
      await fs.writeFile(valFile, JSON.stringify(k3Eval('val', {})));
      const out = path.join(root, 'report.json');
      let r = await cli(['--run', `k3=${root}/k3,val=${valFile},eval=${evalFile}`, '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      const m = JSON.parse(await fs.readFile(out, 'utf8')).models[0];
      assert.deepEqual(m.test.labels, labels);
      assert.deepEqual(m.test.confusion, confusion);
      assert.equal(m.val.n, 4915);
      assert.equal('auc' in m.val, false);
      for (const k of ['auc', 'threshold', 'calibration']) assert.equal(k in m.test, false, k);
      // the validation evaluation of another set of classes
      const never = path.join(root, 'never.json');
      await fs.writeFile(valFile, JSON.stringify(k3Eval('val', { labels: ['cat', 'dog', 'other'] })));
      r = await cli(['--run', `k3=${root}/k3,val=${valFile},eval=${evalFile}`, '--out', never]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /eval-val\.json: labels \["cat","dog","other"\] are not those of .*k3\/eval\.json \(\["cat","dog","neither"\]\)/);
      // a two-class validation evaluation for a three-class test one
      const twoClass = { ...k3Eval('val'), labels: undefined, confusion: [[8, 2], [2, 8]], accuracy: 0.8, n: 20, worst: [] };
      await fs.writeFile(valFile, JSON.stringify(twoClass));
      r = await cli(['--run', `k3=${root}/k3,val=${valFile},eval=${evalFile}`, '--out', never]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /eval-val\.json: labels \["cat","dog"\] are not those of/);
      // a non-square matrix from the command line: exit 2, the file and the value named
      await fs.writeFile(evalFile, JSON.stringify(k3Eval('test', { confusion: confusion.slice(0, 2) })));
      r = await cli(['--run', `k3=${root}/k3,eval=${evalFile}`, '--out', never]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /k3\/eval\.json: field "confusion" has 2 rows, but "labels" names 3 classes/);
      assert.equal(existsSync(never), false);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  test('validateReport: a three-class entry is valid; malformed ones are refused, naming the field', () => {
    assert.deepEqual(validateReport(kFixture), []);
    const k = kFixture.models.findIndex((m) => Array.isArray(m.test.labels));
    const problemsWith = (edit) => {
      const r = structuredClone(kFixture);
      edit(r.models[k].test);
      return validateReport(r);
    };
    const w = `models[${k}].test`;
    assert.deepEqual(problemsWith((t) => { t.confusion = t.confusion.slice(0, 2); }),
      [`${w}.confusion: expected 3 x 3 counts (rows: true class, columns: predicted), got [[1391,31,77],[52,1364,83]]`]);
    assert.deepEqual(problemsWith((t) => { t.confusion[2][1] = -1; }).map((p) => p.split(':')[0]), [`${w}.confusion`]);
    assert.deepEqual(problemsWith((t) => { t.labels = ['cat', 'dog', 'cat']; t.per_class = null; t.worst = null; }), [`${w}.labels[2]: "cat" is named twice`]);
    assert.deepEqual(problemsWith((t) => { t.labels = ['cat', 'dog']; }), [`${w}.labels: expected more than two class names (non-empty strings), got ["cat","dog"]`]);
    assert.deepEqual(problemsWith((t) => { t.auc = 0.9; }), [`${w}.auc: a model with 3 classes has no auc (two-class only)`]);
    assert.deepEqual(problemsWith((t) => { t.per_class[1].label = 'horse'; }), [`${w}.per_class[1].label: expected "dog", got "horse"`]);
    assert.deepEqual(problemsWith((t) => { t.worst[0].predicted = 'horse'; }),
      [`${w}.worst[0].predicted: expected one of ["cat","dog","neither"], got "horse"`]);
    assert.deepEqual(problemsWith((t) => { t.accuracy = 2; }), [`${w}.accuracy: expected a number in [0, 1], got 2`]);
  });
});
