'use strict';
// The static side of the server (server/src/http/static_routes.cpp) over plain HTTP:
// the WASM module's type, compression and caching, the HTML's versioned asset
// URLs, refused traversal in every spelling, and no demo app outside dev mode.
// Bodies are compressed once per file version (br, gzip) and the ETag names
// the representation sent, so a 304 is asked for with the same Accept-Encoding.

const test = require('node:test');
const assert = require('node:assert/strict');
const zlib = require('node:zlib');
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const h = require('./harness.cjs');

let server;

test.before(async () => {
  server = await h.startServer();
});

test.after(async () => {
  if (server) await server.stop();
});

// node's fetch decompresses by itself; undici exposes the raw encoding header.
async function get(p, headers = {}) {
  const res = await fetch(server.base + p, { headers, redirect: 'manual' });
  const body = Buffer.from(await res.arrayBuffer());
  return { res, body };
}

test('the WASM module: application/wasm, br and gzip, ETag per encoding, 304, immutable only when versioned', async () => {
  const onDisk = fs.readFileSync(path.join(h.WASM_DIR, 'renkei_core.wasm'));
  const plain = await get('/static/wasm/renkei_core.wasm', { 'Accept-Encoding': 'identity' });
  assert.equal(plain.res.status, 200);
  assert.equal(plain.res.headers.get('content-type'), 'application/wasm');
  assert.ok(plain.body.equals(onDisk), 'identity body is the file');
  assert.equal(plain.res.headers.get('cache-control'), 'no-cache');
  const etag = plain.res.headers.get('etag');
  assert.match(etag, /^W\/"[0-9a-f]{16}"$/);

  // Ask for gzip explicitly and look at the bytes undici hands back decoded.
  const gz = await fetch(`${server.base}/static/wasm/renkei_core.wasm?v=abc`, { headers: { 'Accept-Encoding': 'gzip' } });
  assert.equal(gz.headers.get('content-encoding'), 'gzip');
  assert.equal(gz.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.match(gz.headers.get('vary') || '', /Accept-Encoding/);
  const decoded = Buffer.from(await gz.arrayBuffer());
  assert.ok(decoded.equals(onDisk), 'gzip decodes to the file');
  assert.ok(Number(gz.headers.get('content-length')) < onDisk.length / 1.5, 'compressed on the wire');
  assert.ok(zlib.gzipSync(onDisk).length > 0);
  assert.equal(gz.headers.get('etag'), etag.replace(/"$/, '-gz"'), 'the gzip representation has its own tag');

  // Brotli, raw bytes through node's http (fetch would not decode br for us here).
  const br = await rawGet('/static/wasm/renkei_core.wasm', { 'Accept-Encoding': 'gzip, deflate, br' });
  assert.equal(br.status, 200);
  assert.equal(br.headers['content-encoding'], 'br');
  assert.equal(br.headers.etag, etag.replace(/"$/, '-br"'));
  assert.ok(zlib.brotliDecompressSync(br.body).equals(onDisk), 'br decodes to the file');
  assert.ok(br.body.length < Number(gz.headers.get('content-length')), 'br smaller than gzip');

  const again = await get('/static/wasm/renkei_core.wasm', { 'If-None-Match': etag, 'Accept-Encoding': 'identity' });
  assert.equal(again.res.status, 304);
  assert.equal(again.body.length, 0);
  const againBr = await rawGet('/static/wasm/renkei_core.wasm', { 'Accept-Encoding': 'br', 'If-None-Match': br.headers.etag });
  assert.equal(againBr.status, 304);
  // The placeholder version of an unrewritten page is no version at all.
  const dev = await get('/static/wasm/renkei_core.wasm?v=dev');
  assert.equal(dev.res.headers.get('cache-control'), 'no-cache');
});

test('renkei_core.js and only the two module files come from the WASM folder', async () => {
  const js = await get('/static/wasm/renkei_core.js');
  assert.equal(js.res.status, 200);
  assert.match(js.res.headers.get('content-type'), /^text\/javascript/);
  const other = await get('/static/wasm/CMakeCache.txt');
  assert.equal(other.res.status, 404);
  assert.equal(JSON.parse(other.body).error.code, 'not_found');
});

test('the flow page: no-cache HTML whose assets have content-hashed names and integrity', async () => {
  const { res, body } = await get('/flow/');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  assert.match(res.headers.get('content-security-policy'), /script-src 'self' 'wasm-unsafe-eval'/);
  const html = body.toString('utf8');
  assert.doesNotMatch(html, /\?v=dev/, 'every placeholder was replaced');
  const crypto = require('node:crypto');
  // flow.css is written into the page (issue 10: one request fewer per cold
  // load), allowed by its SHA-256 in the page's CSP; never 'unsafe-inline'.
  const css = fs.readFileSync(path.join(h.REPO, 'web', 'static', 'flow.css'), 'utf8');
  assert.ok(html.includes(`<style>${css}</style>`), 'flow.css is inline in the page');
  assert.doesNotMatch(html, /<link rel="stylesheet"/, 'and not linked');
  const csp = res.headers.get('content-security-policy');
  const styleHash = crypto.createHash('sha256').update(css, 'utf8').digest('base64');
  assert.ok(csp.includes(`style-src 'self' 'sha256-${styleHash}';`), csp);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(res.headers.get('x-renkei-inline-style-hashes'), null);
  const again = await get('/flow/', { 'If-None-Match': res.headers.get('etag') });
  assert.equal(again.res.status, 304);
  assert.equal(again.res.headers.get('content-security-policy'), csp, 'the 304 carries the same policy');
  // The other pages still link it, under its content-hashed name.
  const faq = (await get('/static/faq.html')).body.toString('utf8');
  assert.match(faq, /<link rel="stylesheet" href="\/static\/flow\.[0-9a-f]{16}\.css">/);
  // flow-bundle.js: the core's glue and flow.js in one script (issue 10: one
  // request fewer per cold load), ";" between them.
  const flowJs = path.join(h.REPO, 'web', 'static', 'flow.js');
  const glueJs = path.join(h.WASM_DIR, 'renkei_core.js');
  const bundle = Buffer.concat([fs.readFileSync(glueJs), Buffer.from('\n;\n'), fs.readFileSync(flowJs)]);
  for (const [asset, bytes, page] of [['/static/flow.css', fs.readFileSync(path.join(h.REPO, 'web', 'static', 'flow.css')), faq],
    ['/static/flow-bundle.js', bundle],
    ['/static/wasm/renkei_core.wasm', fs.readFileSync(path.join(h.WASM_DIR, 'renkei_core.wasm'))]]) {
    const dot = asset.lastIndexOf('.');
    const named = new RegExp(`${asset.slice(0, dot).replace(/\./g, '\\.')}\\.([0-9a-f]{16})${asset.slice(dot).replace(/\./g, '\\.')}`);
    const m = (page || html).match(named);
    assert.ok(m, `${asset} has a content-hashed name`);
    const url = m[0];
    const res = await fetch(server.base + url);
    assert.equal(res.status, 200, url);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable', url);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes, url);
    // Another hash is not this file (it named a version that is gone).
    const stale = await fetch(server.base + url.replace(m[1], '0'.repeat(16)));
    assert.equal(stale.status, 404, url);
  }
  // Subresource Integrity on the script: the page names no other script.
  const script = html.match(/<script src="(\/static\/flow-bundle\.[0-9a-f]{16}\.js)" integrity="([^"]+)"/);
  assert.ok(script, 'the flow script carries its integrity');
  assert.equal(script[2], 'sha384-' + crypto.createHash('sha384').update(bundle).digest('base64'));
  assert.equal((html.match(/<script /g) || []).length, 1, 'one script');
  const redirect = await get('/flow?error=out_of_hours');
  assert.equal(redirect.res.status, 301);
  assert.equal(redirect.res.headers.get('location'), '/flow/?error=out_of_hours');
});

// The path exactly as written: fetch() would resolve "%2e%2e" segments itself.
function rawGet(p, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: server.port, path: p, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
  });
}

test('traversal in any spelling is refused with the JSON envelope', async () => {
  const attempts = [
    '/static/../config/dev.json',
    '/static/%2e%2e/%2e%2e/config/dev.json',
    '/static/%2E%2E%2Fconfig%2Fdev.json',
    '/static/wasm/..%2f..%2fCMakeCache.txt',
    '/flow/%2e%2e/%2e%2e/server/src/ops/config.cpp',
    '/flow/..%5c..%5cconfig%5cdev.json',
    '/static/flow.css%00.html',
    '/static/.hidden',
    '/demo/%2e%2e/flow/index.html',
    '/static//etc/passwd',
  ];
  for (const p of attempts) {
    const { status, headers, body } = await rawGet(p);
    assert.ok([400, 404].includes(status), `${p}: ${status}`);
    assert.match(headers['content-type'] || '', /application\/json/, p);
    const j = JSON.parse(body.toString('utf8'));
    assert.ok(['bad_request', 'not_found'].includes(j.error.code), `${p}: ${j.error.code}`);
    assert.doesNotMatch(body.toString('utf8'), /dev_mode|#include|root:/, p);
  }
});

test('the demo app exists in dev mode only', async () => {
  const dev = await get('/demo/callback');
  assert.equal(dev.res.status, 200);
  // Production: no demo data either (a config asking for it is refused).
  const prod = await h.startServer({ dev_mode: false, movable_clock: false, seed_demo_data: false }, {
    RENKEI_PIN_KEY: 'browser-test-pin-key-0123456789abcdef',
    RENKEI_WEBHOOK_SECRET: 'browser-test-webhook-secret-0123456789',
    RENKEI_ADMIN_TOKEN: 'browser-test-admin-token-0123456789',
  });
  try {
    const res = await fetch(`${prod.base}/demo/`);
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error.code, 'not_found');
    const flow = await fetch(`${prod.base}/flow/`);
    assert.equal(flow.status, 200);
  } finally {
    await prod.stop();
  }
});
