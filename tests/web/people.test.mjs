// The page for real people: a phone (390x844, touch), keyboard only, screen readers,
// plain words, the language kept over a reload. One numbered test (or more) per item of the
// issue's list. Chromium's own fake camera (a moving test pattern) stands in for the camera,
// uploads are real photos of the data set.
//
// Needs: the site (CATDOG_SITE), ../shared/data (CATDOG_DATA), chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { requireSite, requireData, siteDir, startServer, launch, watchPage, pickPhotos, PHONE } from './helpers.mjs';

let server, index, report, catPhoto;

before(async () => {
  requireSite();
  requireData();
  index = JSON.parse(await fs.readFile(path.join(siteDir, 'models/index.json'), 'utf8'));
  report = JSON.parse(await fs.readFile(path.join(siteDir, 'models/report.json'), 'utf8'));
  [catPhoto] = await pickPhotos('Cat', 1, 41);
  server = await startServer(siteDir);
});
after(async () => { await server?.close(); });

// A fresh browser (own profile) with one page on `query`; sw=off keeps the service worker out of
// these tests (offline.test.mjs has it).
async function open(query = '?lang=en', opts = {}) {
  const browser = await launch(opts);
  const page = await browser.context.newPage();
  const problems = watchPage(page, server.origin);
  await page.goto(`${server.url}${query}${query.includes('sw=') ? '' : '&sw=off'}`);
  return { browser, page, problems };
}
const live = (page, frames = 3) => page.waitForFunction((n) => window.__catdog?.ready && window.__catdog.frames >= n,
  frames, { timeout: 60000 });
function clean(problems) {
  assert.deepEqual(problems.pageErrors, [], 'no uncaught page errors');
  assert.deepEqual(problems.consoleErrors, [], 'no console errors');
}

test('1. phone: the page fits 390 px (no sideways scroll), the header is whole', async () => {
  const { browser, page, problems } = await open('?lang=en', { contextOptions: PHONE });
  try {
    await live(page);
    const m = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      header: [...document.querySelectorAll('.bar h1, .bar select, .bar button')].map((e) => {
        const r = e.getBoundingClientRect();
        return { id: e.id || e.tagName, left: r.left, right: r.right };
      }),
    }));
    assert.ok(m.scroll <= 390, `page width ${m.scroll} px on a 390 px screen`);
    for (const h of m.header) assert.ok(h.left >= 0 && h.right <= 390, `${h.id} inside the screen: ${h.left}..${h.right}`);
    clean(problems);
  } finally {
    await browser.close();
  }
});

test('1. phone: the report fits 390 px; its wide tables scroll in a box that says so', async () => {
  const { browser, page, problems } = await open('report.html?lang=en', { contextOptions: PHONE });
  try {
    await page.waitForSelector('body[data-state=ready]', { timeout: 30000 });
    const m = await page.evaluate(() => {
      const box = document.querySelector('#comparison .table-wrap');
      const hint = document.querySelector('#comparison .scroll-hint');
      return { scroll: document.documentElement.scrollWidth, box: !!box, overflows: box && box.scrollWidth > box.clientWidth,
        focusable: box?.tabIndex === 0, hint: hint && getComputedStyle(hint).display !== 'none' && hint.textContent };
    });
    assert.ok(m.scroll <= 390, `report width ${m.scroll} px on a 390 px screen`);
    assert.ok(m.box && m.overflows, 'the comparison table scrolls inside its own box');
    assert.ok(m.focusable, 'the scrolling box takes keyboard focus (arrow keys scroll it)');
    assert.match(m.hint || '', /scroll/i, 'a visible hint says the table scrolls sideways');
    clean(problems);
  } finally {
    await browser.close();
  }
});

for (const [name, opts] of [['desktop', {}], ['phone', { contextOptions: PHONE }]]) {
  test(`2. ${name}: "Compare models" opens the view where it is seen, with focus on it`, async () => {
    const { browser, page, problems } = await open('?lang=en', opts);
    try {
      await live(page);
      await page.click('[data-testid=compare-toggle]');
      await page.waitForSelector('[data-testid=compare]:not([hidden])');
      await page.waitForTimeout(300);
      const m = await page.evaluate(() => {
        const r = document.querySelector('[data-testid=compare]').getBoundingClientRect();
        const rows = [...document.querySelectorAll('[data-testid=compare-row]')].map((tr) => tr.getBoundingClientRect());
        return { top: r.top, bottom: r.bottom, h: innerHeight, rows: rows.length, seen: rows.filter((b) => b.top >= 0 && b.bottom <= innerHeight).length,
          focused: document.activeElement?.dataset.testid };
      });
      // Every row in sight; a view taller than the window starts at its top.
      if (m.bottom - m.top <= m.h) assert.equal(m.seen, m.rows, `${m.seen} of ${m.rows} rows in sight (view at y=${m.top.toFixed(0)}..${m.bottom.toFixed(0)} of ${m.h})`);
      else assert.ok(m.top > -1 && m.top < 50, `the compare view starts at y=${m.top.toFixed(2)} of a ${m.h} px window`);  // -1: sub-pixel scroll positions
      assert.ok(m.rows >= 2);
      assert.equal(m.focused, 'compare');
      clean(problems);
    } finally {
      await browser.close();
    }
  });
}

test('3. keyboard only: a model chosen with the arrow key, then D marks a dog and leaves the picker alone', async () => {
  const { browser, page, problems } = await open('?lang=en');
  try {
    await live(page);
    await page.waitForFunction(() => !document.querySelector('[data-testid=mark-dog]').disabled);
    for (let i = 0; i < 30 && await page.evaluate(() => document.activeElement?.id !== 'model-select'); i++) await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'model-select', 'Tab reaches the model picker');
    await page.keyboard.press('ArrowDown');  // the next model
    const chosen = index.models[1].id;
    await page.waitForFunction((id) => window.__catdog.model === id && window.__catdog.ready, chosen, { timeout: 60000 });
    await page.waitForFunction(() => document.activeElement?.id === 'stage', null, { timeout: 5000 });
    await live(page, (await page.evaluate(() => window.__catdog.frames)) + 2);
    await page.keyboard.press('d');
    await page.waitForFunction(() => document.querySelector('[data-testid=mark-count]').dataset.dog === '1', null, { timeout: 5000 });
    assert.equal(await page.inputValue('[data-testid=model-select]'), chosen, 'D did not switch the model');
    assert.equal(await page.evaluate(() => window.__catdog.model), chosen);
    // Marks never fire into a form control: C typed into the model picker is the picker's.
    await page.focus('[data-testid=model-select]');
    await page.keyboard.press('c');
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => document.querySelector('[data-testid=mark-count]').dataset.cat), '0');
    clean(problems);
  } finally {
    await browser.close();
  }
});

test('4. the camera can be stopped and started again', async () => {
  const { browser, page, problems } = await open('?lang=en');
  try {
    await live(page);
    await page.click('[data-testid=camera-stop]');
    const stopped = await page.evaluate(() => window.__catdog.frames);
    await page.waitForTimeout(800);
    const m = await page.evaluate(() => ({ frames: window.__catdog.frames, video: document.querySelector('#video').hidden,
      tracks: document.querySelector('#video').srcObject?.getTracks().map((t) => t.readyState) ?? [],
      start: !document.querySelector('[data-testid=camera-start]').hidden, placeholder: document.querySelector('#placeholder').textContent,
      focus: document.activeElement?.dataset.testid }));
    assert.ok(m.frames - stopped <= 1, `no frames after stop (${m.frames - stopped})`);
    assert.ok(m.video && m.tracks.every((s) => s === 'ended'), `the video is off (${m.tracks})`);
    assert.ok(m.start, '"Use the camera" is offered');
    assert.equal(m.focus, 'camera-start', 'focus moves to the start button');
    assert.match(m.placeholder, /stopped/i);
    await page.click('[data-testid=camera-start]');
    await live(page, m.frames + 3);
    clean(problems);
  } finally {
    await browser.close();
  }
});

test('5 + 8. camera denied: the stage says so (no "Waiting…", no "…"); an upload clears the message and is announced', async () => {
  const { browser, page, problems } = await open('?lang=en', { fakeUi: false });
  try {
    await page.locator('[data-testid=message][data-kind=camera-denied]').waitFor({ state: 'visible', timeout: 30000 });
    await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
    const m = await page.evaluate(() => ({ placeholder: document.querySelector('#placeholder').textContent,
      label: document.querySelector('[data-testid=prediction]').hidden, text: document.querySelector('#label-text').textContent,
      alert: document.querySelector('#messages').getAttribute('role'), live: document.querySelector('#messages').getAttribute('aria-live') }));
    assert.doesNotMatch(m.placeholder, /waiting/i);
    assert.match(m.placeholder, /upload/i);
    assert.ok(m.label, 'no label is shown before any result');
    assert.notEqual(m.text, '…');
    assert.equal(m.alert, 'alert');
    assert.notEqual(m.live, 'polite', 'role=alert is not turned down to polite');
    await page.setInputFiles('[data-testid=upload]', catPhoto);
    await page.waitForFunction(() => window.__catdog.history.some((h) => h.source === 'photo'), null, { timeout: 30000 });
    assert.equal(await page.locator('[data-testid=message]').count(), 0, 'the camera message is gone after a photo');
    // 8: the result reaches a polite live region, in words.
    await page.waitForFunction(() => document.querySelector('[data-testid=announce]').textContent !== '', null, { timeout: 5000 });
    const a = await page.evaluate(() => {
      const el = document.querySelector('[data-testid=announce]');
      return { text: el.textContent, live: el.getAttribute('aria-live'), label: document.querySelector('#label-text').textContent };
    });
    assert.equal(a.live, 'polite');
    assert.equal(a.text, a.label);
    assert.match(a.text, /^(Cat|Dog|Not sure|No cat or dog)$/);
    clean(problems);
  } finally {
    await browser.close();
  }
});

test('8. live camera: the live region speaks when the label changes, not every frame', async () => {
  const { browser, page, problems } = await open('?lang=en');
  try {
    await live(page, 40);
    const m = await page.evaluate(() => ({ said: window.__catdog.announced, frames: window.__catdog.frames,
      labels: window.__catdog.history.map((h) => h.label) }));
    const changes = m.labels.filter((l, i) => l !== 'unsure' && l !== m.labels.slice(0, i).filter((x) => x !== 'unsure').at(-1)).length;
    assert.ok(m.said.length >= 1, 'the first label was announced');
    assert.ok(m.said.length <= changes + 1, `${m.said.length} announcements for ${changes} label changes in ${m.frames} frames`);
    clean(problems);
  } finally {
    await browser.close();
  }
});

test('6. keyboard focus is visible on "Upload a photo"', async () => {
  const { browser, page } = await open('?lang=en&camera=off');
  try {
    await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
    for (let i = 0; i < 30 && await page.evaluate(() => document.activeElement?.id !== 'file'); i++) await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'file', 'Tab reaches the upload');
    const outline = await page.evaluate(() => {
      const s = getComputedStyle(document.querySelector('label.file-button'));
      return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
    });
    assert.ok(outline.style !== 'none' && outline.width >= 2, `focus ring on the upload button: ${JSON.stringify(outline)}`);
  } finally {
    await browser.close();
  }
});

test('9. a model at chance is marked and left out of agreement counts', async () => {
  const chance = index.models.filter((m) => m.auc <= 0.55 || m.test_accuracy <= 0.52).map((m) => m.id);
  assert.ok(chance.length >= 1, 'the shipped models include one at chance (dense-aug)');
  const { browser, page, problems } = await open('?lang=en');
  try {
    await live(page);
    const opts = await page.$$eval('[data-testid=model-select] option', (os) => os.map((o) => ({ id: o.value, chance: o.dataset.chance, text: o.textContent })));
    for (const o of opts) assert.equal(o.chance, String(chance.includes(o.id)), `${o.id}: ${o.text}`);
    await page.click('[data-testid=compare-toggle]');
    await page.waitForFunction((n) => window.__catdog.compare?.rows.filter((r) => r.label).length === n, index.models.length, { timeout: 90000 });
    await page.waitForTimeout(300);
    const v = await page.evaluate(() => ({
      rows: [...document.querySelectorAll('[data-testid=compare-row]')].map((tr) => ({ id: tr.dataset.model, chance: tr.dataset.chance, agree: tr.dataset.agree, label: tr.dataset.label })),
      summary: document.querySelector('[data-testid=compare-summary]').textContent }));
    for (const r of v.rows.filter((x) => chance.includes(x.id))) {
      assert.equal(r.chance, 'true');
      assert.equal(r.agree, undefined, `${r.id} neither agrees nor disagrees`);
    }
    const counted = v.rows.filter((x) => !chance.includes(x.id));
    const m = /^(\d+) of (\d+) models agree|^All (\d+) models agree/.exec(v.summary);
    assert.ok(m, v.summary);
    assert.equal(Number(m[2] ?? m[3]), counted.length, `the count leaves the chance models out: ${v.summary}`);
    assert.match(v.summary, /chance/);
    clean(problems);
  } finally {
    await browser.close();
  }
});

test('9. the picker names every model differently, in each language (three catnets share an architecture)', async () => {
  const english = new Set(index.models.map((m) => m.title));
  for (const lang of ['en', 'es']) {
    const { browser, page, problems } = await open(`?lang=${lang}&camera=off`);
    try {
      await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
      const texts = await page.$$eval('[data-testid=model-select] option', (os) => os.map((o) => o.textContent.replace(/ · \d+%.*$/, '')));
      assert.equal(texts.length, index.models.length);
      assert.equal(new Set(texts).size, texts.length, `${lang}: two models read the same: ${texts.join(' | ')}`);
      // Not index.json's English title (the page's own name in Spanish), unless that is the same in both ("CNN + dropout").
      if (lang === 'es') for (const t of texts) assert.ok(!english.has(t) || !/[a-z]{4,}/.test(t.replace(/dropout/g, '')), `es: "${t}" is index.json's English title`);
      clean(problems);
    } finally {
      await browser.close();
    }
  }
});

test('9. the report marks models at chance and never gives them a "best" mark', async () => {
  const { browser, page, problems } = await open('report.html?lang=en');
  try {
    await page.waitForSelector('body[data-state=ready]', { timeout: 30000 });
    const rows = await page.$$eval('#compare tbody tr', (trs) => trs.map((tr) => ({ id: tr.dataset.id, chance: tr.dataset.chance,
      best: tr.querySelectorAll('td.best').length, text: tr.children[0].textContent })));
    const chance = report.models.filter((m) => m.test.auc <= 0.55).map((m) => m.id);
    assert.ok(chance.length >= 1);
    for (const r of rows.filter((x) => chance.includes(x.id))) {
      assert.equal(r.chance, 'true', r.id);
      assert.equal(r.best, 0, `${r.id} has no best-in-column mark`);
      assert.match(r.text, /chance/);
    }
    clean(problems);
  } finally {
    await browser.close();
  }
});

test('10. one definition of each number: epochs as in the report; Preprocess the same in both panels', async () => {
  const { browser, page, problems } = await open('?lang=en');
  try {
    await live(page, 5);
    await page.click('[data-testid=camera-stop]');  // the last frame stays the last one
    await page.click('#tech summary');
    await page.click('#diagnostics summary');
    await page.waitForFunction(() => document.querySelector('[data-testid=run-card] [data-key=training]') &&
      document.querySelector('[data-testid=run-card] [data-key=metrics]')?.textContent.includes('accuracy'), null, { timeout: 30000 });
    await page.waitForTimeout(400);
    const m = await page.evaluate(() => ({ training: document.querySelector('[data-testid=run-card] [data-key=training]').textContent,
      pre: Number(document.querySelector('[data-testid=t-preprocess]').dataset.value),
      cap: Number(document.querySelector('[data-testid=t-capture]').dataset.value),
      diagPre: Number(document.querySelector('[data-testid=stage-legend] [data-stage=preprocess]').dataset.last),
      diagCap: Number(document.querySelector('[data-testid=stage-legend] [data-stage=capture]').dataset.last) }));
    const rep = report.models.find((x) => x.id === index.default);
    const kept = rep.best_epoch ?? rep.history.reduce((b, h) => (h.val_loss < b.val_loss ? h : b)).epoch;
    assert.match(m.training, new RegExp(`^${rep.history.length} epochs, kept epoch ${kept}\\b`), m.training);
    assert.ok(Math.abs(m.pre - m.diagPre) < 1e-9, `Preprocess: main ${m.pre} vs diagnostics ${m.diagPre}`);
    assert.ok(Math.abs(m.cap - m.diagCap) < 1e-9, `Capture: main ${m.cap} vs diagnostics ${m.diagCap}`);
    clean(problems);
  } finally {
    await browser.close();
  }
});

test('11. Spanish is Spanish everywhere, and the language choice survives a reload (page and report)', async () => {
  const { browser, page, problems } = await open('?camera=off');
  try {
    await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
    if (await page.evaluate(() => document.documentElement.lang) !== 'es') await page.click('[data-testid=lang-toggle]');
    await page.reload();
    await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
    await page.click('#tech summary');
    await page.click('#diagnostics summary');
    await page.waitForFunction(() => document.querySelector('[data-testid=run-card] [data-key=metrics]')?.textContent.includes('acierto'), null, { timeout: 30000 });
    const m = await page.evaluate(() => ({ lang: document.documentElement.lang,
      options: [...document.querySelectorAll('[data-testid=model-select] option')].map((o) => o.textContent),
      engine: document.querySelector('[data-testid=engine]').textContent,
      card: document.querySelector('[data-testid=run-card]').textContent }));
    assert.equal(m.lang, 'es', 'the choice survived the reload');
    for (const o of m.options) assert.doesNotMatch(o, /augmentation|separable CNN|\bDense\b/, o);
    assert.doesNotMatch(m.engine, /thread|layers/, m.engine);
    assert.doesNotMatch(m.card, /epochs|kept epoch|training images|accuracy/, m.card);
    await page.goto(`${server.url}report.html`);
    await page.waitForSelector('body[data-state=ready]', { timeout: 30000 });
    const r = await page.evaluate(() => ({ lang: document.documentElement.lang,
      headings: [...document.querySelectorAll('h1, h2, nav a')].map((e) => e.textContent).join(' | ') }));
    assert.equal(r.lang, 'es');
    assert.match(r.headings, /Comparación/);
    const notes = await page.evaluate(() => [...document.querySelectorAll('#curves .card p.muted, #calibration .muted, #worst .muted, .tag')].map((e) => e.textContent).join(' | '));
    assert.match(notes, /épocas, se guardó la época/);
    assert.doesNotMatch(notes, /epochs, kept epoch|augmented|Each dot is a bin|got wrong/, notes);
    assert.doesNotMatch(r.headings, /Which model|Training curves|Worst mistakes|Data card/, r.headings);
    clean(problems);
  } finally {
    await browser.close();
  }
});

test('12. plain words first: one bar per class, technical lines one click away, no FPS for a photo', async () => {
  const { browser, page, problems } = await open('?lang=en&camera=off');
  try {
    await page.waitForFunction(() => window.__catdog?.ready, null, { timeout: 60000 });
    assert.equal(await page.isVisible('[data-testid=p-dog]'), false, 'P(dog) is behind "Technical details"');
    await page.setInputFiles('[data-testid=upload]', catPhoto);
    await page.waitForFunction(() => window.__catdog.history.some((h) => h.source === 'photo'), null, { timeout: 30000 });
    const m = await page.evaluate(() => ({
      cat: Number(document.querySelector('[data-testid=class-bar-cat]').getAttribute('aria-valuenow')),
      dog: Number(document.querySelector('[data-testid=class-bar-dog]').getAttribute('aria-valuenow')),
      pDog: Number(document.querySelector('[data-testid=prediction]').dataset.pDog),
      fps: document.querySelector('[data-testid=fps]').textContent,
      engine: document.querySelector('[data-testid=engine]').textContent }));
    assert.equal(m.cat + m.dog, 100);
    assert.equal(m.dog, Math.round(m.pDog * 100));
    assert.equal(m.fps, '–', 'a photo has no frame rate');
    assert.ok((m.engine.match(/simd/gi) ?? []).length <= 1, `engine line: ${m.engine}`);
    clean(problems);
  } finally {
    await browser.close();
  }
});

test('13. "keep examples": says the model does not learn here; thumbnail and undo; no key hints on a phone', async () => {
  const { browser, page, problems } = await open('?lang=en', { contextOptions: PHONE });
  try {
    await live(page);
    await page.waitForFunction(() => !document.querySelector('[data-testid=mark-cat]').disabled);
    const title = await page.textContent('#marks-title');
    assert.doesNotMatch(title, /correct/i);
    assert.match(await page.textContent('.marks'), /does not learn/);
    assert.equal(await page.isVisible('kbd.key-hint'), false, 'no C / D hints on a touch screen');
    assert.doesNotMatch(await page.textContent('[data-testid=mark-count]'), /\bC\b|\bD\b/);
    await page.tap('[data-testid=mark-cat]');
    await page.waitForSelector('[data-testid=mark-last]:not([hidden])');
    const spread = await page.evaluate(() => {
      const c = document.querySelector('[data-testid=mark-thumb]');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let lo = 255, hi = 0;
      for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
      return hi - lo;
    });
    assert.ok(spread > 20, `the thumbnail shows the marked frame (spread ${spread})`);
    await page.tap('[data-testid=undo-mark]');
    await page.waitForFunction(() => document.querySelector('[data-testid=mark-count]').dataset.cat === '0');
    assert.equal((await page.evaluate(() => window.__catdog.marks.all())).length, 0, 'undo removed it from storage');
    clean(problems);
  } finally {
    await browser.close();
  }
});

test('14. the model input is mirrored like the preview; one camera: no front/back; self-check aligned; diagnostics above the fold', async () => {
  const { browser, page, problems } = await open('?lang=en');
  try {
    await live(page, 3);
    await page.waitForSelector('[data-testid=selfcheck]:not([hidden])');
    const m = await page.evaluate(() => ({
      video: document.querySelector('#video').classList.contains('mirror'),
      input: getComputedStyle(document.querySelector('[data-testid=model-input]')).transform,
      flip: document.querySelector('[data-testid=flip]').disabled,
      cams: document.querySelectorAll('[data-testid=camera-select] option').length,
      check: document.querySelector('[data-testid=selfcheck]').getBoundingClientRect().left,
      side: document.querySelector('.side').getBoundingClientRect().left,
      diag: document.querySelector('#diagnostics summary').getBoundingClientRect().bottom, h: innerHeight }));
    assert.equal(m.video, true, 'the front camera preview is mirrored');
    assert.match(m.input, /^matrix\(-1, 0, 0, 1/, `what the model sees is shown mirrored too (${m.input})`);
    assert.equal(m.cams, 1);
    assert.equal(m.flip, true, 'front / back is off with one camera');
    assert.ok(Math.abs(m.check - m.side) < 1, `"model verified" starts where the column does (${m.check} vs ${m.side})`);
    assert.ok(m.diag <= m.h, `Diagnostics at y=${m.diag} of ${m.h}`);
    clean(problems);
  } finally {
    await browser.close();
  }
});

test('14. the report heading matches its title', async () => {
  const { browser, page } = await open('report.html?lang=en');
  try {
    await page.waitForSelector('body[data-state=ready]', { timeout: 30000 });
    const m = await page.evaluate(() => ({ h1: document.querySelector('h1').textContent, title: document.title }));
    assert.equal(m.title, m.h1, 'the tab says what the heading says');
  } finally {
    await browser.close();
  }
});
