#!/usr/bin/env node
'use strict';
// renkei-cases over the WASM module: the node twin of the native CLI
// (tools/renkei_cases.cpp). Reads JSON cases on stdin, one per line, and prints
// runCase(line) for each, one per line. Lines are handed to the module as raw
// bytes, so both tools see exactly the same input.
//
//   node wasm/renkei-cases.cjs < tests/parity/demo.jsonl
//   RENKEI_WASM_DIR=build/wasm node wasm/renkei-cases.cjs < cases.jsonl

const { loadCore } = require('./load-core.cjs');

// Splits a buffer into lines on "\n", dropping one "\r" before it and the empty
// piece after a final newline. Empty lines are skipped, like the native CLI.
function splitLines(buf) {
  const lines = [];
  let start = 0;
  while (start < buf.length) {
    let end = buf.indexOf(0x0a, start);
    if (end < 0) end = buf.length;
    let stop = end;
    if (stop > start && buf[stop - 1] === 0x0d) stop -= 1;
    if (stop > start) lines.push(buf.subarray(start, stop));
    start = end + 1;
  }
  return lines;
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.on('error', reject);
  });
}

async function main() {
  const core = await loadCore();
  const input = await readStdin();
  const out = [];
  for (const line of splitLines(input)) out.push(core.runCase(line), '\n');
  process.stdout.write(out.join(''));
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`renkei-cases.cjs: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  });
}

module.exports = { splitLines };
