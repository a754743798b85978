// sw.js — the offline page: a service worker that keeps one version of the site in one cache.
// Install: the page, its code, the wasm core(s) and the default model (models/index.json's
// "default", with its weight shards) go into `catdog-<VERSION>`. Other models and files are added
// the first time they are fetched. Activate: every other catdog-* cache is deleted, so a new
// deploy (a new VERSION, written by wasm/assemble_site.cmake from the site's files) never serves
// old wasm to new JS; the page reloads itself once when a new worker takes over (app.js).
// Responses are cached whole, headers included: COOP / COEP / CORP and the CSP come back with
// them, so the page stays cross-origin isolated when it is served from the cache.
const VERSION = /* @CATDOG_SITE_VERSION@ */ 'dev';
const CACHE = `catdog-${VERSION}`;
// The site's own files (written at assembly; 'dev' sites list the essentials).
const FILES = /* @CATDOG_SITE_FILES@ */ ['./', 'index.html', 'style.css', 'app.js', 'i18n.js', 'i18n/page.js', 'chance.js', 'catdog.js',
  'catdog-core.js', 'catdog-engine.js', 'catdog-worker.js', 'catdog_wasm.js', 'catdog_wasm.wasm', 'marks.js',
  'manifest.webmanifest', 'icon.svg'];

async function precache() {
  const cache = await caches.open(CACHE);
  const get = async (url) => {
    const res = await fetch(url, { cache: 'reload' });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    await cache.put(url, res.clone());
    return res;
  };
  await Promise.all(FILES.map(get));
  // The default model and its shards.
  const index = await (await get('models/index.json')).json();
  const entry = index.models.find((m) => m.id === index.default) ?? index.models[0];
  const modelUrl = new URL(`models/${entry.path}`, self.registration.scope);
  const model = await (await get(modelUrl.href)).json();
  const shards = (model.weightsManifest ?? []).flatMap((g) => g.paths);
  await Promise.all(shards.map((p) => get(new URL(p, modelUrl).href)));
}

self.addEventListener('install', (ev) => {
  ev.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (ev) => {
  ev.waitUntil((async () => {
    for (const key of await caches.keys()) if (key.startsWith('catdog-') && key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

// Same-origin GETs: the model list and the report go to the network first (they change with a
// new training run) and fall back to the cache offline; everything else comes from the cache
// first, and what the network gives is kept (other models on first use).
const NETWORK_FIRST = /\/models\/(index|report)\.json$/;
self.addEventListener('fetch', (ev) => {
  const req = ev.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin || url.pathname.endsWith('/sw.js')) return;
  ev.respondWith((async () => {
    const cache = await caches.open(CACHE);
    // A page is kept under its path (?lang=, ?model= ... do not make new entries).
    const key = req.mode === 'navigate' ? url.origin + url.pathname : url.href.split('#')[0];
    const keep = (res) => { if (res.ok && res.status === 200) cache.put(key, res.clone()); return res; };
    if (NETWORK_FIRST.test(url.pathname)) {
      try { return keep(await fetch(req)); } catch (e) { return (await cache.match(key)) ?? Promise.reject(e); }
    }
    const hit = await cache.match(key, { ignoreSearch: req.mode === 'navigate' });
    return hit ?? keep(await fetch(req));
  })());
});
