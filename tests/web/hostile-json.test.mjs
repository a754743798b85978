// The page's side of hostile input: JSON it reads (models/index.json, report.json) has the same
// nesting limit as the C++ side, and a model's shard paths may not lead out of its folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonBounded, shardUrlInside, MAX_JSON_DEPTH } from '../../web/catdog-json.js';

const deep = (n) => '['.repeat(n) + ']'.repeat(n);

test('index.json nested 100,000 deep is refused with the file and the depth; 128 levels pass', () => {
  assert.equal(MAX_JSON_DEPTH, 128);
  assert.throws(() => parseJsonBounded(`{"models":${deep(100000)}}`, 'models/index.json'),
    /^Error: models\/index\.json: JSON nested deeper than 128 levels$/);
  let objects = '';
  for (let i = 0; i < 100000; i++) objects += '{"a":';
  assert.throws(() => parseJsonBounded(objects + '1' + '}'.repeat(100000), 'x.json'), /nested deeper than 128/);
  assert.deepEqual(parseJsonBounded(`{"models":${deep(127)}}`, 'ok.json').models.length, 1);
  assert.throws(() => parseJsonBounded(`{"models":${deep(128)}}`, 'ok.json'), /deeper than 128/);
  assert.throws(() => parseJsonBounded('{"a":', 'bad.json'), /^Error: bad\.json: invalid JSON/);
  assert.deepEqual(parseJsonBounded('{"models":[{"id":"a","path":"a/model.json"}]}', 'i'), { models: [{ id: 'a', path: 'a/model.json' }] });
});

test('shard URLs must stay inside the model folder (traversal, encodings, other origins)', () => {
  const model = 'http://localhost:8080/models/catnet/model.json';
  for (const p of ['../x.bin', '../../etc/passwd', '%2e%2e/x.bin', '.%2e/x.bin', '%2E%2E/%2E%2E/x.bin', '..\\x.bin',
    '\\..\\x.bin', 'sub/../../x.bin', '/abs.bin', '//evil.example/x.bin', 'http://evil.example/x.bin',
    'https://localhost:8080/models/catnet/w.bin', 'file:///etc/passwd', 'data:application/octet-stream,AAAA']) {
    const r = shardUrlInside(model, p);
    assert.ok(r instanceof Error, `${p} must be refused, got ${r}`);
    assert.match(r.message, /leaves the model's folder \/models\/catnet\/|not a valid URL/, p);
  }
  for (const p of ['w.bin', './w.bin', 'sub/w.bin', 'sub/../w.bin']) {
    const r = shardUrlInside(model, p);
    assert.ok(r instanceof URL, `${p}: ${r.message}`);
    assert.ok(r.pathname.startsWith('/models/catnet/'));
  }
});
