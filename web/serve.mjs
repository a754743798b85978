#!/usr/bin/env node
// Tiny static server for the catdog site. No dependencies (node >= 18).
//
//   node web/serve.mjs [--root DIR] [--port N] [--host H] [--plain]
//   PORT=8080 (default), HOST=127.0.0.1 (default)
//   --plain: no COOP/COEP/CORP/CSP headers, like plain static hosting (the page then runs without
//            crossOriginIsolated, i.e. single-threaded); for testing that fallback.
//
// Serves ONLY the files under the root folder (default: build/wasm/site when it exists, else the
// folder this script lives in). Requests that would leave the root (.., encoded slashes, NUL,
// symlinks pointing outside) get 404. Every response carries COOP/COEP (so the page is
// crossOriginIsolated and may use wasm threads), CORP, nosniff and a Content-Security-Policy
// without 'unsafe-inline' / 'unsafe-eval' ('wasm-unsafe-eval' allows compiling WebAssembly).
import { createServer } from 'node:http';
import { promises as fs, createReadStream } from 'node:fs';
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
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const segments = decoded.split('/');
  if (segments.some((s) => s === '..' || s === '.')) return null;
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
  } catch {
    return null;
  }
  return { file, size: st.size, mtime: st.mtime };
}

export function createSiteServer(rootDir, { log = false, plain = false } = {}) {
  const root = path.resolve(rootDir);
  const SECURITY_HEADERS = plain ? { 'X-Content-Type-Options': 'nosniff' } : SECURITY_HEADERS_ISOLATED;
  return createServer(async (req, res) => {
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
    console.log('usage: node web/serve.mjs [--root DIR] [--port N] [--host H] [--plain]   (env PORT, HOST)');
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
  const server = createSiteServer(root, { log: !!process.env.CATDOG_SERVE_LOG, plain: !!args.plain });
  server.on('error', (e) => {
    console.error(`serve.mjs: cannot listen on ${host}:${port}: ${e.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    const addr = server.address();
    // Tests read this line to learn the port (PORT=0 picks a free one).
    console.log(`catdog site ${root}${args.plain ? ' (plain: no isolation headers)' : ''} at http://${host === '0.0.0.0' ? 'localhost' : host}:${addr.port}/`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main();
}
