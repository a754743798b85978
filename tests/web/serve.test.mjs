// web/serve.mjs: only the site folder, path traversal safe, MIME types, COOP/COEP/CSP headers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startServer, tmpDir } from './helpers.mjs';

let root;
let outside;
let server;

before(async () => {
  const base = tmpDir('catdog-serve-');
  root = path.join(base, 'site');
  outside = path.join(base, 'secret.txt');
  await fs.mkdir(path.join(root, 'models/m'), { recursive: true });
  await fs.writeFile(path.join(root, 'index.html'), '<!doctype html><p>hi</p>');
  await fs.writeFile(path.join(root, 'app.js'), 'export {};');
  await fs.writeFile(path.join(root, 'core.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  await fs.writeFile(path.join(root, 'models/m/model.json'), '{}');
  await fs.writeFile(path.join(root, 'models/m/group1-shard1of1.bin'), Buffer.alloc(16));
  await fs.writeFile(path.join(root, 'style.css'), 'body{}');
  await fs.writeFile(outside, 'TOP SECRET');
  await fs.symlink(outside, path.join(root, 'link-out.txt'));
  server = await startServer(root);
});

after(async () => {
  await server?.close();
  await fs.rm(path.dirname(root), { recursive: true, force: true });
});

// Sends a raw request line so that '..' and odd escapes reach the server unnormalized.
function rawGet(target) {
  return rawGetFrom(server.url, target);
}
function rawGetFrom(url, target) {
  const { port, hostname } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname, () => {
      sock.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    });
    let data = '';
    sock.on('data', (d) => { data += d; });
    sock.on('end', () => resolve({ status: Number(data.split(' ')[1]), body: data.split('\r\n\r\n').slice(1).join('\r\n\r\n') }));
    sock.on('error', reject);
  });
}

test('serves index.html for / with security headers that make the page crossOriginIsolated', async () => {
  const res = await fetch(server.url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin');
  assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  const csp = res.headers.get('content-security-policy');
  assert.ok(csp, 'CSP header present');
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
  assert.doesNotMatch(csp, /'unsafe-inline'|'unsafe-eval'/);
  assert.match(await res.text(), /<p>hi<\/p>/);
});

test('MIME types: wasm, js, css, json, bin', async () => {
  const want = {
    'core.wasm': 'application/wasm',
    'app.js': 'text/javascript',
    'style.css': 'text/css',
    'models/m/model.json': 'application/json',
    'models/m/group1-shard1of1.bin': 'application/octet-stream',
  };
  for (const [file, type] of Object.entries(want)) {
    const res = await fetch(new URL(file, server.url));
    assert.equal(res.status, 200, file);
    assert.ok(res.headers.get('content-type').startsWith(type), `${file}: ${res.headers.get('content-type')}`);
    await res.arrayBuffer();
  }
});

test('path traversal and files outside the root are refused', async () => {
  const attempts = [
    '/../secret.txt', '/models/../../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E%2Fsecret.txt',
    '/..%2fsecret.txt', '/models%2f..%2f..%2fsecret.txt', '/..\\secret.txt', '/%5c..%5csecret.txt',
    '/index.html%00.js', '/link-out.txt', '//etc/passwd', '/%', '/secret.txt',
  ];
  for (const a of attempts) {
    const res = await rawGet(a);
    assert.notEqual(res.status, 200, `${a} must not be served`);
    assert.doesNotMatch(res.body, /TOP SECRET/, a);
  }
});

test('missing files are 404, other methods 405, HEAD has no body', async () => {
  assert.equal((await fetch(new URL('nope.js', server.url))).status, 404);
  const post = await fetch(server.url, { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  const head = await fetch(new URL('app.js', server.url), { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String('export {};'.length));
  assert.equal((await head.text()).length, 0);
});

test('--plain drops the isolation headers (plain static hosting)', async () => {
  const plain = await startServer(root, { plain: true });
  try {
    const res = await fetch(plain.url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cross-origin-embedder-policy'), null);
    assert.equal(res.headers.get('content-security-policy'), null);
    assert.equal((await rawGetFrom(plain.url, '/link-out.txt')).status, 404, 'still refuses links out of the root');
  } finally {
    await plain.close();
  }
});

test('a bad --root or port is a clear error, not a crash', async () => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const run = promisify(execFile);
  const serve = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../web/serve.mjs');
  await assert.rejects(run(process.execPath, [serve, '--root', path.join(root, 'no-such-dir')]),
    (e) => e.code === 2 && /no-such-dir/.test(e.stderr));
  await assert.rejects(run(process.execPath, [serve, '--root', root, '--port', 'abc']),
    (e) => e.code === 2 && /bad port 'abc'/.test(e.stderr));
});
