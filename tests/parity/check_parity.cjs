#!/usr/bin/env node
'use strict';
// Native/WASM parity: runs the same cases through the native CLI
// (build/native/tools/renkei-cases, started once, all lines on its stdin) and
// through the WASM module's runCase, and compares the two outputs byte for
// byte, line by line. Exits 1 on any difference and shows the first few.
//
//   node tests/parity/check_parity.cjs --native build/native/tools/renkei-cases \
//        --wasm-dir build/wasm --vectors tests/parity/vectors.jsonl
//   node tests/parity/check_parity.cjs --native … --wasm-dir … --random 5000 --seed 20261125
//   node tests/parity/check_parity.cjs --random 20 --seed 1 --emit   # print the cases only
//
// Options: --show N (differences to show, default 5), --save FILE (write the
// cases that were run, one per line, e.g. to turn a failing seed into vectors),
// --expected FILE (a reviewed golden file: both outputs must also equal it,
// line for line, so that "identical" cannot mean "identically wrong").
//
// runCase takes a line as bytes or as a JS string (what the web page passes).
// The byte form is compared above; the string form must give the same answer:
// every case that is valid UTF-8 is also run as a string, and so are the
// LONE_SURROGATE_LINES below, strings that no UTF-8 byte line can spell, whose
// native answer is that of the bytes a browser sends for them (TextEncoder,
// fetch: each lone surrogate becomes U+FFFD).

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const { loadCore } = require('../../wasm/load-core.cjs');
const { splitLines } = require('../../wasm/renkei-cases.cjs');
const { generateCases } = require('./random_cases.cjs');

function usage(msg) {
  if (msg) process.stderr.write(`check_parity: ${msg}\n`);
  process.stderr.write(
    'usage: check_parity.cjs [--native PATH] [--wasm-dir DIR] ' +
      '(--vectors FILE [--expected FILE] | --random N [--seed S]) [--show N] [--save FILE] [--emit]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { show: 5, seed: 1, emit: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--native': opts.native = next(); break;
      case '--wasm-dir': opts.wasmDir = next(); break;
      case '--vectors': opts.vectors = next(); break;
      case '--random': opts.random = Number(next()); break;
      case '--seed': opts.seed = Number(next()); break;
      case '--show': opts.show = Number(next()); break;
      case '--save': opts.save = next(); break;
      case '--expected': opts.expected = next(); break;
      case '--emit': opts.emit = true; break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if ((opts.vectors === undefined) === (opts.random === undefined)) {
    usage('give exactly one of --vectors and --random');
  }
  if (opts.random !== undefined && !(Number.isInteger(opts.random) && opts.random >= 0)) {
    usage('--random needs a count');
  }
  if (!Number.isInteger(opts.seed)) usage('--seed needs an integer');
  return opts;
}

// The cases as raw byte lines.
function loadCases(opts) {
  if (opts.vectors !== undefined) return splitLines(fs.readFileSync(opts.vectors));
  return generateCases(opts.random, opts.seed).map((line) => Buffer.from(line, 'utf8'));
}

// Raw lone surrogates (not JSON escapes) in values, keys, at the end, around
// ASCII and kana, and one outside a string.
const LONE_SURROGATE_LINES = [
  '{"kind":"field","field":"branch","value":"1\uD8002"}',
  '{"kind":"field","field":"branch","value":"\uDC00"}',
  '{"kind":"field","field":"name_kana","value":"やまだ\uD83D　たろう"}',
  '{"kind":"field","field":"name_kana","value":"\uDE00\uD83Dやまだ"}',
  '{"kind":"field","field":"email","value":"a\uD83D\uD83D\uDE00@example.com"}',
  '{"kind":"normalize","mode":"kana","value":"ｶﾞ\uDBFF"}',
  '{"kind":"form","screen":"account","form":{"branch\uD800":"115","account_type":"ordinary","account_number":"1"}}',
  '{"kind":"mask","phone":"090\uDFFF12345678","id":"\uD800"}',
  '{"kind":"field","field":"branch","value":"1"}\uD800',
  '\uD800{"kind":"field","field":"branch","value":"1"}',
];

const fatalDecoder = new TextDecoder('utf-8', { fatal: true });
function stringForm(bytes) {
  try {
    return fatalDecoder.decode(bytes);
  } catch (e) {
    return null;  // not UTF-8: only the byte form exists
  }
}

function defaultNative() {
  return path.resolve(__dirname, '..', '..', 'build', 'native', 'tools', 'renkei-cases');
}

// All lines through one native process; its output split into lines.
function runNative(exe, lines) {
  const input = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
  const r = spawnSync(exe, [], { input, maxBuffer: 1 << 30 });
  if (r.error) throw new Error(`cannot run ${exe}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${exe} exited with ${r.status ?? r.signal}: ${r.stderr.toString().slice(0, 2000)}`);
  }
  const out = r.stdout;
  const result = [];
  let start = 0;
  while (start < out.length) {
    let end = out.indexOf(0x0a, start);
    if (end < 0) end = out.length;
    result.push(out.subarray(start, end));
    start = end + 1;
  }
  return result;
}

function clip(s, n = 600) {
  return s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const cases = loadCases(opts);
  if (opts.save) fs.writeFileSync(opts.save, Buffer.concat(cases.flatMap((l) => [l, Buffer.from('\n')])));
  if (opts.emit) {
    process.stdout.write(Buffer.concat(cases.flatMap((l) => [l, Buffer.from('\n')])));
    return 0;
  }

  const surrogateBytes = LONE_SURROGATE_LINES.map((l) => Buffer.from(new TextEncoder().encode(l)));
  const nativeAll = runNative(opts.native || defaultNative(), cases.concat(surrogateBytes));
  const native = nativeAll.slice(0, cases.length);
  const nativeSurrogates = nativeAll.slice(cases.length);
  const core = await loadCore(opts.wasmDir);

  const expected = opts.expected !== undefined ? splitLines(fs.readFileSync(opts.expected)) : null;
  if (expected && expected.length !== cases.length) {
    process.stdout.write(`${opts.expected} has ${expected.length} lines for ${cases.length} cases\n`);
    return 1;
  }

  let identical = 0;
  const diffs = [];
  for (let i = 0; i < cases.length; i++) {
    const w = Buffer.from(core.runCase(cases[i]), 'utf8');
    const n = native[i];
    const e = expected ? expected[i] : undefined;
    if (n !== undefined && n.equals(w) && (!expected || n.equals(e))) {
      identical++;
    } else {
      diffs.push({ i, input: cases[i], native: n, wasm: w, expected: e });
    }
  }
  const what = opts.vectors !== undefined ? opts.vectors : `random, seed ${opts.seed}`;
  const against = expected ? ' to each other and to the golden file' : '';
  process.stdout.write(`parity: ${cases.length} cases, ${identical} identical${against} (${what})\n`);
  if (nativeAll.length !== cases.length + surrogateBytes.length) {
    process.stdout.write(`native printed ${nativeAll.length} lines for ${cases.length + surrogateBytes.length} cases\n`);
  }
  for (const d of diffs.slice(0, opts.show)) {
    process.stdout.write(
      `\n--- case ${d.i + 1}\ninput:  ${clip(d.input.toString('utf8'))}\n` +
        `native: ${d.native === undefined ? '(no line)' : clip(d.native.toString('utf8'))}\n` +
        `wasm:   ${clip(d.wasm.toString('utf8'))}\n` +
        (d.expected === undefined ? '' : `golden: ${clip(d.expected.toString('utf8'))}\n`));
  }
  if (diffs.length > opts.show) process.stdout.write(`\n… and ${diffs.length - opts.show} more\n`);

  // The same cases as JS strings, and the lone surrogates.
  const strings = [];
  for (let i = 0; i < cases.length; i++) {
    const s = stringForm(cases[i]);
    if (s !== null) strings.push({ input: s, native: native[i], what: `case ${i + 1}` });
  }
  LONE_SURROGATE_LINES.forEach((s, i) => strings.push({
    input: s, native: nativeSurrogates[i], what: `lone surrogate line ${i + 1}` }));
  const stringDiffs = [];
  for (const c of strings) {
    const w = Buffer.from(core.runCase(c.input), 'utf8');
    if (c.native === undefined || !c.native.equals(w)) stringDiffs.push({ ...c, wasm: w });
  }
  process.stdout.write(`parity: ${strings.length} cases as JS strings (${LONE_SURROGATE_LINES.length} ` +
    `with lone surrogates), ${strings.length - stringDiffs.length} identical to native\n`);
  for (const d of stringDiffs.slice(0, opts.show)) {
    process.stdout.write(
      `\n--- ${d.what} as a string\ninput:  ${clip(JSON.stringify(d.input))}\n` +
        `native: ${d.native === undefined ? '(no line)' : clip(d.native.toString('utf8'))}\n` +
        `wasm:   ${clip(d.wasm.toString('utf8'))}\n`);
  }
  return diffs.length === 0 && stringDiffs.length === 0 && nativeAll.length === cases.length + surrogateBytes.length
    ? 0 : 1;
}

// exitCode, not exit(): exit() can cut off output still queued for a pipe.
main().then(
  (code) => { process.exitCode = code; },
  (err) => {
    process.stderr.write(`check_parity: ${err && err.message ? err.message : err}\n`);
    process.exitCode = 2;
  });
