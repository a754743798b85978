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
  // Dotfiles a copy of a project may hold: never served, even through a link.
  await fs.writeFile(path.join(root, '.stamp'), 'STAMP SECRET');
  await fs.writeFile(path.join(root, '.env'), 'TOKEN=SECRET');
  await fs.mkdir(path.join(root, '.git'));
  await fs.writeFile(path.join(root, '.git/config'), '[remote] SECRET');
  await fs.mkdir(path.join(root, 'models/.hidden'));
  await fs.writeFile(path.join(root, 'models/.hidden/w.bin'), 'SECRET');
  await fs.symlink('.env', path.join(root, 'env-link.txt'));
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
    // double-encoded, mixed, backslashes in every spelling
    '/%252e%252e/secret.txt', '/%252e%252e%252fsecret.txt', '/models/%252e%252e/%252e%252e/secret.txt',
    '/%2e%2e%5csecret.txt', '/models\\..\\..\\secret.txt', '/%255c..%255csecret.txt', '/.%2e/secret.txt',
    '/%2e./secret.txt', '/app.js%00', '/app.js%2500',
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

// Resolves with what happened to a socket within `ms` (never hangs the suite).
function watchSocket(sock, ms) {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve('still open'), ms);
    sock.on('close', () => { clearTimeout(t); resolve('closed'); });
    sock.on('error', () => {});
    sock.resume();  // read whatever comes, so the server's FIN is seen
  });
}
function connect(url) {
  const { port, hostname } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname, () => resolve(sock));
    sock.on('error', reject);
  });
}

test('dotfiles and dot-folders are never served (.stamp, .env, .git/config, through links or escapes)', async () => {
  for (const a of ['/.stamp', '/.env', '/.git/config', '/.git/', '/%2eenv', '/%2Egit/config', '/models/.hidden/w.bin',
    '/env-link.txt', '/models/%2ehidden/w.bin']) {
    const res = await rawGet(a);
    assert.equal(res.status, 404, `${a} must be 404, got ${res.status}`);
    assert.doesNotMatch(res.body, /SECRET/, a);
  }
  assert.equal((await rawGet('/app.js')).status, 200, 'ordinary files still served');
});

test('special files (a FIFO) are refused without blocking the server', async () => {
  const { execFileSync } = await import('node:child_process');
  const fifo = path.join(root, 'models/m/pipe.bin');
  execFileSync('mkfifo', [fifo]);
  try {
    const res = await Promise.race([rawGet('/models/m/pipe.bin'),
      new Promise((resolve) => setTimeout(() => resolve({ status: 'timeout' }), 3000))]);
    assert.equal(res.status, 404);
    assert.equal((await rawGet('/app.js')).status, 200, 'the server still answers');
  } finally {
    await fs.rm(fifo, { force: true });
  }
});

test('--root through a symlink serves the site', async () => {
  const link = path.join(path.dirname(root), 'site-link');
  await fs.symlink(root, link);
  const viaLink = await startServer(link);
  try {
    const res = await fetch(new URL('app.js', viaLink.url));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'export {};');
    assert.equal((await rawGetFrom(viaLink.url, '/link-out.txt')).status, 404, 'still refuses links out of the root');
    assert.equal((await rawGetFrom(viaLink.url, '/.env')).status, 404);
  } finally {
    await viaLink.close();
  }
});

test('silent and slow connections are closed by the header / idle timeouts; real clients still get through', async () => {
  const srv = await startServer(root, { extraArgs: ['--header-timeout', '300', '--idle-timeout', '600'] });
  try {
    // 40 sockets that never send a byte, one that sends half a request line and stops.
    const silent = await Promise.all(Array.from({ length: 40 }, () => connect(srv.url)));
    const slow = await connect(srv.url);
    slow.write('GET /app.js HTTP/1.1\r\nHost: loc');
    const fates = await Promise.all([...silent, slow].map((s) => watchSocket(s, 4000)));
    assert.deepEqual([...new Set(fates)], ['closed'], 'every silent or slow socket is closed by the server');
    const res = await fetch(new URL('app.js', srv.url));
    assert.equal(res.status, 200);
    // A keep-alive connection that went quiet after a request is closed too.
    const kept = await connect(srv.url);
    kept.write('GET /app.js HTTP/1.1\r\nHost: localhost\r\n\r\n');
    assert.equal(await watchSocket(kept, 4000), 'closed');
  } finally {
    await srv.close();
  }
  await assert.rejects(
    (await import('node:util')).promisify((await import('node:child_process')).execFile)(process.execPath,
      [path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../web/serve.mjs'), '--root', root,
        '--idle-timeout', '0']),
    (e) => e.code === 2 && /bad --idle-timeout '0'/.test(e.stderr));
});

test('SIGTERM stops the server within 3 s while clients hold connections open', async () => {
  const srv = await startServer(root);
  const kept = await connect(srv.url);
  kept.write('GET /app.js HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n');
  await new Promise((resolve) => kept.once('data', resolve));
  const silent = await connect(srv.url);
  const t0 = Date.now();
  const exited = new Promise((resolve) => srv.proc.once('exit', (code, signal) => resolve({ code, signal })));
  srv.proc.kill('SIGTERM');
  const result = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 3000))]);
  if (result === 'still running') srv.proc.kill('SIGKILL');
  assert.deepEqual(result, { code: 0, signal: null }, 'exits 0 on SIGTERM');
  assert.ok(Date.now() - t0 < 3000);
  kept.destroy();
  silent.destroy();
});
