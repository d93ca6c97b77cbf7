'use strict';
// The WASM core in node: validation answers through runCase, and the module's
// robustness (garbage in, raw bytes in, many calls). Run by ctest as
// wasm.node_tests, or by hand after the wasm preset's build:
//   RENKEI_WASM_DIR=build/wasm node --test tests/wasm/
const test = require('node:test');
const assert = require('node:assert/strict');

const { loadCore } = require('../../wasm/load-core.cjs');

let core;
test.before(async () => {
  core = await loadCore();
});

const run = (c) => JSON.parse(core.runCase(typeof c === 'string' ? c : JSON.stringify(c)));

test('version() is the project version', () => {
  assert.match(core.version(), /^\d+\.\d+\.\d+$/);
});

test('a full-width branch is normalized to half-width digits', () => {
  const r = run({ kind: 'field', field: 'branch', value: '１２３' });
  assert.equal(r.value, '123');
  assert.equal(r.ok, true);
  assert.deepEqual(r.errors, []);
});

test('an empty required field answers required with the manual text', () => {
  const r = run({ kind: 'field', field: 'branch', value: '' });
  assert.equal(r.ok, false);
  assert.deepEqual(r.errors, [{ code: 'required', field: 'branch', message: '必ず入力して下さい。' }]);
});

test('the name in hiragana becomes half-width katakana with split marks', () => {
  const r = run({ kind: 'field', field: 'name_kana', value: 'でーた　さとる' });
  assert.equal(r.value, 'ﾃﾞｰﾀ ｻﾄﾙ');
  assert.equal(r.ok, true);
});

test('the message for "locked" carries reason code B84', () => {
  const r = run({ kind: 'message', code: 'locked' });
  assert.ok(r.message.includes('理由コードはB84です。'), r.message);
  assert.equal(r.reason, 'B84');
  const catalog = run({ kind: 'catalog' });
  const locked = catalog.codes.find((c) => c.code === 'locked');
  assert.ok(locked && locked.message.includes('理由コードはB84です。'));
});

test('invalid UTF-8 given as value_hex answers invalid_utf8', () => {
  for (const bytes of ['31c032', 'c0af', 'eda080', 'f4908080', 'ff', 'e381']) {
    const r = run({ kind: 'field', field: 'branch', value_hex: bytes });
    assert.equal(r.ok, false, bytes);
    assert.equal(r.errors[0].code, 'invalid_utf8', bytes);
  }
});

test('a control character answers control_character', () => {
  const r = run({ kind: 'field', field: 'phone', value: '090\u00001234' });
  assert.equal(r.errors[0].code, 'control_character');
});

test('an empty customer form asks for the required dialog', () => {
  const r = run({ kind: 'form', screen: 'customer', form: {}, today: '2026-11-25' });
  assert.equal(r.ok, false);
  assert.equal(r.show_required_dialog, true);
  assert.equal(r.summary.error.dialog.message, '入力されていない項目があります。');
});

test('the service is closed just after midnight JST', () => {
  const r = run({ kind: 'calendar', at: '2026-11-25T00:00:30+09:00' });
  assert.equal(r.open, false);
  assert.equal(r.closure.kind, 'daily_midnight');
  assert.equal(r.next_open, '2026-11-25T00:01:00+09:00');
});

test('a flow step moves from ① to ② on a valid account form', () => {
  const r = run({
    kind: 'flow', now: '2026-11-25T12:00:00+09:00',
    event: { type: 'submit_account', form: { branch: '１１５', account_type: 'ordinary', account_number: '１１０００２６' } },
  });
  assert.equal(r.outcome.accepted, true);
  assert.equal(r.state.screen, 'customer_entry');
  assert.deepEqual(r.state.account, { branch: '115', type: 'ordinary', number: '1100026' });
});

test('garbage never throws: it answers bad_request', () => {
  const garbage = ['', 'not json', '[]', '"x"', '{"kind":1}', '{"kind":"nope"}', '{',
    '['.repeat(10000), `{"kind":"field","field":"branch","value":"${'9'.repeat(2 * 1024 * 1024)}"}`];
  for (const g of garbage) {
    const r = run(g);
    assert.equal(r.error && r.error.code, 'bad_request', g.slice(0, 40));
  }
});

test('raw bytes are passed through unchanged (Uint8Array in)', () => {
  const ok = Buffer.from('{"kind":"field","field":"branch","value":"１２３"}', 'utf8');
  assert.equal(run(ok.toString('utf8')).value, '123');
  assert.equal(JSON.parse(core.runCase(new Uint8Array(ok))).value, '123');
  // Invalid UTF-8 inside the JSON text itself: refused, never a crash.
  const bad = Buffer.concat([Buffer.from('{"kind":"field","field":"branch","value":"1'), Buffer.from([0xff]),
    Buffer.from('"}')]);
  assert.equal(JSON.parse(core.runCase(bad)).error.code, 'bad_request');
});

test('a string is sent as a browser sends it: a lone surrogate is U+FFFD, nothing swallowed', () => {
  // Raw lone surrogates (not JSON escapes) cannot come from JSON.stringify, but
  // a caller may pass any string. The answer is that of the UTF-8 bytes
  // TextEncoder (and fetch) make of it; parity.* compares those with native.
  const line = '{"kind":"field","field":"branch","value":"1\uD8002\uDC00"}';
  const bytes = Buffer.from('{"kind":"field","field":"branch","value":"1\u{FFFD}2\u{FFFD}"}', 'utf8');
  assert.deepEqual(Buffer.from(new TextEncoder().encode(line)), bytes);
  assert.equal(core.runCase(line), core.runCase(new Uint8Array(bytes)));
  const r = run(line);
  assert.equal(r.value, '1\u{FFFD}2\u{FFFD}');  // the "2" after the lone surrogate is kept
  assert.equal(r.errors[0].code, 'invalid_character');
  // Outside a string: refused as JSON, as natively.
  assert.equal(run('\uD800{"kind":"catalog"}').error.code, 'bad_request');
});

test('bytes may come as Uint8Array, Int8Array, Uint8ClampedArray or ArrayBuffer; nothing else', () => {
  const bytes = Buffer.from('{"kind":"field","field":"branch","value":"１２３"}', 'utf8');
  const copy = () => new Uint8Array(bytes).buffer;
  const answer = core.runCase(new Uint8Array(bytes));
  assert.equal(JSON.parse(answer).value, '123');
  assert.equal(core.runCase(new Int8Array(copy())), answer);
  assert.equal(core.runCase(new Uint8ClampedArray(copy())), answer);
  assert.equal(core.runCase(copy()), answer);
  // A view into part of a larger buffer: only its own bytes.
  const framed = Buffer.concat([Buffer.from('xx'), bytes, Buffer.from('yy')]);
  assert.equal(core.runCase(new Uint8Array(framed.buffer, framed.byteOffset + 2, bytes.length)), answer);
  assert.throws(() => core.runCase(123), TypeError);
  assert.throws(() => core.runCase({ kind: 'catalog' }), TypeError);
});

test('long lines, empty lines and an answer longer than the line', () => {
  assert.equal(run('').error.code, 'bad_request');
  // Over the direct-encoding limit of run_case.js (21845 UTF-16 units).
  const long = JSON.stringify({ kind: 'field', field: 'name_kana', value: 'や'.repeat(30000) });
  assert.equal(core.runCase(long), core.runCase(new Uint8Array(Buffer.from(long, 'utf8'))));
  assert.equal(run(long).errors[0].field, 'name_kana');
  const catalog = run('{"kind":"catalog"}');
  assert.ok(Array.isArray(catalog.codes) && catalog.codes.length > 10);
});

test('many calls do not grow the heap (no leak per call)', () => {
  // 200 calls with 128 KB in: leaking the input alone would need more than the
  // initial 16 MB heap. The valid case checks the core's own path as well.
  const big = 'x'.repeat(128 * 1024);
  const line = JSON.stringify({ kind: 'field', field: 'name_kana', value: 'やまだ　たろう'.repeat(40) });
  for (let i = 0; i < 20; i++) core.runCase(big), core.runCase(line);
  const before = core.module.HEAPU8.length;
  for (let i = 0; i < 200; i++) core.runCase(big), core.runCase(line);
  assert.equal(core.module.HEAPU8.length, before);
});
