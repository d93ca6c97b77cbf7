#!/usr/bin/env node
'use strict';
// The WASM twin of core_bench.cpp: times runCase in node on the same JSON lines
// (read from core_bench.cpp itself, so the two cannot drift apart) and prints
// ns/op, to compare with build/native/tests/renkei_core_bench's BM_RunCase*.
// With --native, it also runs that program (BM_RunCase* only, CPU time) right
// after the WASM runs and prints the ratio WASM / native per case class (field,
// form, flow, calendar): the figure of issue 10's "at most 2x" goal. Both come
// from the same minute on the same machine, so a busy machine slows both.
//
//   node tests/perf/wasm_bench.cjs [--wasm-dir build/wasm] [--min-time 0.5]
//        [--native build/native/tests/renkei_core_bench]

const { execFileSync } = require('node:child_process');
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

// Runs fn(i) in growing batches until minTime seconds of CPU have passed; ns
// per call, of CPU time (process.cpuUsage: this process's user + system time,
// as Google Benchmark's CPU column, so that other work on a shared machine
// counts less) and of wall time.
function time(fn, minTime) {
  for (let i = 0; i < 200; i++) fn(i);  // warm up
  let n = 100;
  for (;;) {
    const start = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn(i);
    const cpu = process.cpuUsage(cpu0);
    const ns = Number(process.hrtime.bigint() - start);
    const cpuNs = (cpu.user + cpu.system) * 1000;
    if (cpuNs >= minTime * 1e9) return { nsPerOp: cpuNs / n, wallNsPerOp: ns / n, iterations: n };
    n = Math.min(n * 10, Math.max(n * 2, Math.ceil((n * minTime * 1e9 * 1.2) / Math.max(cpuNs, 1))));
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
  process.stdout.write(`${'Benchmark'.padEnd(28)}${'CPU ns/op'.padStart(12)}${'wall ns/op'.padStart(12)}${'Iterations'.padStart(14)}\n`);
  const wasm = {};
  for (const [name, fn] of benches) {
    const r = time(fn, minTime);
    wasm[name] = r.nsPerOp;
    process.stdout.write(`${name.padEnd(28)}${r.nsPerOp.toFixed(0).padStart(12)}${r.wallNsPerOp.toFixed(0).padStart(12)}` +
                         `${String(r.iterations).padStart(14)}\n`);
  }
  const nativeBin = arg('--native');
  if (!nativeBin) return;
  // The native twin, CPU time per iteration (ns), from its JSON report.
  const report = JSON.parse(execFileSync(nativeBin, [
    '--benchmark_filter=BM_RunCase', '--benchmark_format=json', `--benchmark_min_time=${minTime}`,
  ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 16 << 20 }));
  const native = {};
  for (const b of report.benchmarks) {
    const scale = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 }[b.time_unit || 'ns'];
    native[b.name] = b.cpu_time * scale;
  }
  process.stdout.write(`\nWASM / native (${nativeBin}, CPU time):\n`);
  process.stdout.write(`${'case class'.padEnd(12)}${'native ns'.padStart(12)}${'WASM ns'.padStart(12)}${'ratio'.padStart(9)}\n`);
  const ratios = {};
  for (const cls of ['Field', 'Form', 'Flow', 'Calendar']) {
    const name = `BM_RunCase${cls}`;
    if (!(name in native)) continue;
    ratios[cls.toLowerCase()] = wasm[name] / native[name];
    process.stdout.write(`${cls.toLowerCase().padEnd(12)}${native[name].toFixed(0).padStart(12)}` +
      `${wasm[name].toFixed(0).padStart(12)}${(wasm[name] / native[name]).toFixed(2).padStart(8)}x\n`);
  }
  process.stdout.write(`RATIOS ${JSON.stringify(ratios)}\n`);
}

main().catch((err) => {
  process.stderr.write(`wasm_bench: ${err && err.message ? err.message : err}\n`);
  process.exitCode = 1;
});
