#!/usr/bin/env node
// Tiny static server for the catdog site. No dependencies (node >= 18).
//
//   node web/serve.mjs [--root DIR] [--port N] [--host H] [--plain] [--header-timeout MS] [--idle-timeout MS]
//   PORT=8080 (default), HOST=127.0.0.1 (default)
//   --plain: no COOP/COEP/CORP/CSP headers, like plain static hosting (the page then runs without
//            crossOriginIsolated, i.e. single-threaded); for testing that fallback.
//
// Serves ONLY the regular files under the root folder (default: build/wasm/site when it exists,
// else the folder this script lives in; a root reached through a symlink is resolved first).
// Requests that would leave the root (.., encoded or double-encoded, backslashes, NUL, symlinks
// pointing outside), dotfiles and dot-folders (.env, .git/config, .stamp) and anything that is
// not a regular file (FIFOs, devices, sockets) get 404. A connection that sends no complete
// request header within --header-timeout ms, or stays silent for --idle-timeout ms, is closed
// (idle sockets would otherwise hold file descriptors forever); SIGTERM/SIGINT close every
// connection and exit within a bounded time. Every response carries COOP/COEP (so the page is
// crossOriginIsolated and may use wasm threads), CORP, nosniff and a Content-Security-Policy
// without 'unsafe-inline' / 'unsafe-eval' ('wasm-unsafe-eval' allows compiling WebAssembly).
import { createServer } from 'node:http';
import { promises as fs, createReadStream, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

export const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS_ISOLATED = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

// The headers every isolated response carries (tests and embedders reuse them).
export const SECURITY_HEADERS = SECURITY_HEADERS_ISOLATED;

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const take = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value after ${a}`);
      return argv[++i];
    };
    if (a === '--root') out.root = take();
    else if (a.startsWith('--root=')) out.root = a.slice(7);
    else if (a === '--port') out.port = take();
    else if (a.startsWith('--port=')) out.port = a.slice(7);
    else if (a === '--host') out.host = take();
    else if (a.startsWith('--host=')) out.host = a.slice(7);
    else if (a === '--plain') out.plain = true;
    else if (a === '--header-timeout') out.headerTimeout = take();
    else if (a.startsWith('--header-timeout=')) out.headerTimeout = a.slice(17);
    else if (a === '--idle-timeout') out.idleTimeout = take();
    else if (a.startsWith('--idle-timeout=')) out.idleTimeout = a.slice(15);
    else if (a === '-h' || a === '--help') out.help = true;
    else throw new Error(`unknown argument '${a}' (use --root DIR, --port N, --host H)`);
  }
  return out;
}

// Maps a URL path onto a file under root, or null when it must not be served.
export async function resolveFile(root, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;  // malformed %-escape
  }
  // '%' left after one decoding is a double-encoded path ('%252e%252e'): refused like the rest.
  if (decoded.includes('\0') || decoded.includes('\\') || decoded.includes('%')) return null;
  const segments = decoded.split('/');
  // '.' and '..' as well as every dotfile and dot-folder (.env, .git, .stamp).
  if (segments.some((s) => s.startsWith('.'))) return null;
  let file = path.resolve(root, '.' + path.posix.normalize('/' + decoded));
  if (file !== root && !file.startsWith(root + path.sep)) return null;
  let st;
  try {
    st = await fs.stat(file);
    if (st.isDirectory()) {
      file = path.join(file, 'index.html');
      st = await fs.stat(file);
    }
    if (!st.isFile()) return null;
    // Symlinks inside root must not lead outside it.
    const real = await fs.realpath(file);
    if (real !== root && !real.startsWith(root + path.sep)) return null;
    // ... nor at a dotfile inside it.
    if (path.relative(root, real).split(path.sep).some((s) => s.startsWith('.'))) return null;
  } catch {
    return null;
  }
  return { file, size: st.size, mtime: st.mtime };
}

export const DEFAULT_HEADER_TIMEOUT_MS = 10_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

// headerTimeoutMs: a connection must deliver a request's headers within this (slow or silent
// clients); idleTimeoutMs: a connection with no traffic for this long is closed.
export function createSiteServer(rootDir, { log = false, plain = false, headerTimeoutMs = DEFAULT_HEADER_TIMEOUT_MS,
  idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS } = {}) {
  // The real path: files are compared with realpath() results, so a root given through a
  // symlink must be resolved too (else every file would look outside it).
  const root = realpathSync(path.resolve(rootDir));
  const SECURITY_HEADERS = plain ? { 'X-Content-Type-Options': 'nosniff' } : SECURITY_HEADERS_ISOLATED;
  const server = createServer(async (req, res) => {
    const send = (code, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(405, 'method not allowed\n');
    }
    let pathname;
    try {
      pathname = new URL(req.url, 'http://localhost').pathname;
    } catch {
      return send(400, 'bad request\n');
    }
    const hit = await resolveFile(root, pathname);
    if (log) console.log(`${req.method} ${req.url} -> ${hit ? 200 : 404}`);
    if (!hit) return send(404, 'not found\n');
    const type = MIME[path.extname(hit.file).toLowerCase()] || 'application/octet-stream';
    const etag = `"${hit.size.toString(16)}-${Math.floor(hit.mtime.getTime()).toString(16)}"`;
    const headers = { ...SECURITY_HEADERS, 'Content-Type': type, 'Cache-Control': 'no-cache', ETag: etag };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      return res.end();
    }
    res.writeHead(200, { ...headers, 'Content-Length': hit.size });
    if (req.method === 'HEAD') return res.end();
    const stream = createReadStream(hit.file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  });
  // Node's own headersTimeout is only checked every connectionsCheckingInterval and not for a
  // socket that never sends a byte; a per-socket timer covers both, cleared by the first request.
  server.headersTimeout = headerTimeoutMs;
  server.requestTimeout = Math.max(headerTimeoutMs, idleTimeoutMs);
  server.keepAliveTimeout = Math.min(5000, idleTimeoutMs);
  server.on('connection', (socket) => {
    socket.setTimeout(idleTimeoutMs, () => socket.destroy());
    const timer = setTimeout(() => socket.destroy(), headerTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.catdogHeaderTimer = timer;
  });
  server.on('request', (req) => clearTimeout(req.socket.catdogHeaderTimer));
  return server;
}

// Stops accepting, closes every connection (idle or not) and resolves; used on SIGTERM/SIGINT.
export function shutdown(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`serve.mjs: ${e.message}`);
    process.exit(2);
  }
  if (args.help) {
    console.log('usage: node web/serve.mjs [--root DIR] [--port N] [--host H] [--plain] [--header-timeout MS] [--idle-timeout MS]   (env PORT, HOST)');
    return;
  }
  const here = path.dirname(fileURLToPath(import.meta.url));
  let root = args.root;
  if (!root) {
    const built = path.resolve(here, '../build/wasm/site');
    root = await fs.stat(path.join(built, 'index.html')).then(() => built, () => here);
  }
  root = path.resolve(root);
  try {
    if (!(await fs.stat(root)).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    console.error(`serve.mjs: --root '${root}': ${e.message}`);
    process.exit(2);
  }
  const portText = args.port ?? process.env.PORT ?? '8080';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve.mjs: bad port '${portText}' (0..65535)`);
    process.exit(2);
  }
  const host = args.host ?? process.env.HOST ?? '127.0.0.1';
  const ms = (text, name, def) => {
    if (text === undefined) return def;
    const v = Number(text);
    if (!Number.isInteger(v) || v < 1 || v > 3_600_000) {
      console.error(`serve.mjs: bad ${name} '${text}' (milliseconds, 1..3600000)`);
      process.exit(2);
    }
    return v;
  };
  const headerTimeoutMs = ms(args.headerTimeout, '--header-timeout', DEFAULT_HEADER_TIMEOUT_MS);
  const idleTimeoutMs = ms(args.idleTimeout, '--idle-timeout', DEFAULT_IDLE_TIMEOUT_MS);
  const server = createSiteServer(root, { log: !!process.env.CATDOG_SERVE_LOG, plain: !!args.plain, headerTimeoutMs,
    idleTimeoutMs });
  server.on('error', (e) => {
    console.error(`serve.mjs: cannot listen on ${host}:${port}: ${e.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    const addr = server.address();
    // Tests read this line to learn the port (PORT=0 picks a free one).
    console.log(`catdog site ${root}${args.plain ? ' (plain: no isolation headers)' : ''} at http://${host === '0.0.0.0' ? 'localhost' : host}:${addr.port}/`);
  });
  // Open connections (a client holding keep-alive, a stalled download) must not keep us alive:
  // every socket is closed, and a hard deadline covers anything that still lingers.
  const stop = () => {
    setTimeout(() => process.exit(0), 2000).unref();
    shutdown(server).then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main();
}
