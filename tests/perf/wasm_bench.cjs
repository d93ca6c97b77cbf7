#!/usr/bin/env node
'use strict';
// The WASM twin of core_bench.cpp: times runCase in node on the same JSON lines
// (read from core_bench.cpp itself, so the two cannot drift apart) and prints
// ns/op, to compare with build/native/tests/renkei_core_bench's BM_RunCase*.
//
//   node tests/perf/wasm_bench.cjs [--wasm-dir build/wasm] [--min-time 0.5]

const fs = require('node:fs');
const path = require('node:path');
const { loadCore } = require('../../wasm/load-core.cjs');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

// kFieldLine, kFormLine, … from core_bench.cpp.
function benchLines() {
  const src = fs.readFileSync(path.join(__dirname, 'core_bench.cpp'), 'utf8');
  const lines = {};
  for (const m of src.matchAll(/const char\* const k(\w+)Line =\s*R"\((.*?)\)";/gs)) lines[m[1]] = m[2];
  for (const name of ['Field', 'Form', 'Flow', 'Calendar']) {
    if (!lines[name]) throw new Error(`k${name}Line not found in core_bench.cpp`);
  }
  return lines;
}

// Like BM_CalendarIsOpen: instants across 1990–2100 that visit every time of day.
function variedCalendarLines() {
  const jst = 9 * 3600;
  const first = Date.UTC(1990, 0, 1) / 1000 - jst;
  const last = Date.UTC(2100, 11, 31) / 1000 - jst;
  const stride = Math.floor((last - first) / 1021) + 7;
  const out = [];
  for (let t = first; t < last; t += stride) out.push(JSON.stringify({ kind: 'calendar', at: t }));
  return out;
}

// Runs fn(i) in growing batches until minTime seconds have passed; ns per call.
function time(fn, minTime) {
  for (let i = 0; i < 200; i++) fn(i);  // warm up
  let n = 100;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    const ns = Number(process.hrtime.bigint() - start);
    if (ns >= minTime * 1e9) return { nsPerOp: ns / n, iterations: n };
    n = Math.min(n * 10, Math.max(n * 2, Math.ceil((n * minTime * 1e9 * 1.2) / Math.max(ns, 1))));
  }
}

async function main() {
  const core = await loadCore(arg('--wasm-dir'));
  const minTime = Number(arg('--min-time', '0.5'));
  const lines = benchLines();
  const varied = variedCalendarLines();
  const benches = [
    ['BM_RunCaseField', () => core.runCase(lines.Field)],
    ['BM_RunCaseForm', () => core.runCase(lines.Form)],
    ['BM_RunCaseFlow', () => core.runCase(lines.Flow)],
    ['BM_RunCaseCalendar', () => core.runCase(lines.Calendar)],
    ['BM_RunCaseCalendarVaried', (i) => core.runCase(varied[i % varied.length])],
  ];
  process.stdout.write(`WASM core ${core.version()} in node ${process.version} (${core.dir})\n`);
  process.stdout.write(`${'Benchmark'.padEnd(28)}${'ns/op'.padStart(12)}${'Iterations'.padStart(14)}\n`);
  for (const [name, fn] of benches) {
    const r = time(fn, minTime);
    process.stdout.write(`${name.padEnd(28)}${r.nsPerOp.toFixed(0).padStart(12)}${String(r.iterations).padStart(14)}\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`wasm_bench: ${err && err.message ? err.message : err}\n`);
  process.exitCode = 1;
});
