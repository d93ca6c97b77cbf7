'use strict';
// wasm/renkei-cases.cjs, the node twin of the native renkei-cases CLI: one
// result line per non-empty input line, equal to runCase of that line.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const { loadCore } = require('../../wasm/load-core.cjs');

const TWIN = path.resolve(__dirname, '..', '..', 'wasm', 'renkei-cases.cjs');

test('the twin prints runCase of every non-empty line (LF, CRLF, no final newline)', async () => {
  const core = await loadCore();
  const lines = [
    '{"kind":"field","field":"branch","value":"１２３"}',
    '{"kind":"message","code":"locked"}',
    'not json',
  ];
  const input = `${lines[0]}\r\n\n${lines[1]}\n\r\n${lines[2]}`;
  const r = spawnSync(process.execPath, [TWIN], { input, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, lines.map((l) => `${core.runCase(l)}\n`).join(''));
});

test('the twin fails clearly when the module is missing', () => {
  const r = spawnSync(process.execPath, [TWIN], {
    input: '{}\n', encoding: 'utf8', env: { ...process.env, RENKEI_WASM_DIR: path.join(__dirname, 'no-such-dir') },
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /renkei_core\.js\/\.wasm not found/);
});
