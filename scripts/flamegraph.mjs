#!/usr/bin/env node
// `perf script` output → a flame graph (SVG), with no third-party code:
// folds the samples' call stacks (root first), merges them into a tree, drops
// frames narrower than --min-percent of all samples (so the SVG stays small),
// and draws one rectangle per remaining frame, width ∝ samples. Hovering a
// frame shows its name, samples and share (the SVG <title>).
//
//   perf script -i perf.data | node scripts/flamegraph.mjs --title "…" > out.svg
//   … | node scripts/flamegraph.mjs --folded > out.folded   (the folded stacks only)
//   … | node scripts/flamegraph.mjs --top 25                  (self time by function and by DSO, text)
//   … --top 25 --inclusive 'REGEX' …   (also: share of samples with a frame matching REGEX)
//
// Options: --title T, --min-percent P (default 0.1), --width W (default 1200),
// --max-depth D (default 80), --comm NAME (only samples of that command).
import { createInterface } from 'node:readline';

const args = process.argv.slice(2);
const opt = { title: 'Flame graph', minPercent: 0.1, width: 1200, maxDepth: 80, comm: '', folded: false, top: 0, inclusive: [] };
for (let i = 0; i < args.length; ++i) {
  const a = args[i];
  const v = () => { if (i + 1 >= args.length) throw new Error(`missing value for ${a}`); return args[++i]; };
  if (a === '--title') opt.title = v();
  else if (a === '--min-percent') opt.minPercent = Number(v());
  else if (a === '--width') opt.width = Number(v());
  else if (a === '--max-depth') opt.maxDepth = Number(v());
  else if (a === '--comm') opt.comm = v();
  else if (a === '--folded') opt.folded = true;
  else if (a === '--top') opt.top = Number(v());
  else if (a === '--inclusive') opt.inclusive.push(v());
  else { console.error(`flamegraph.mjs: unknown option ${a}`); process.exit(2); }
}

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// One frame line of `perf script`: "\t    7f1234 sym+0x12 (/usr/lib/x.so)".
function parseFrame(line) {
  const m = /^\s*([0-9a-f]+)\s+(.*?)\s+\(([^)]*)\)\s*$/.exec(line);
  if (!m) return null;
  return { addr: m[1], sym: m[2].replace(/\+0x[0-9a-f]+$/, ''), path: m[3] };
}

// perf (Debian 6.1) cannot read the symbols of some of our binaries
// ("symsrc__init: cannot get elf header") and prints [unknown] with the
// address inside the file; addr2line (binutils) names those.
const unresolved = new Map();  // path → Set of addresses
function noteUnknown(f) {
  if (f.sym !== '[unknown]' || !f.path.startsWith('/') || !existsSync(f.path)) return;
  if (!unresolved.has(f.path)) unresolved.set(f.path, new Set());
  unresolved.get(f.path).add(f.addr);
}
const resolved = new Map();  // "path@addr" → name
// Only files with a full symbol table (.symtab): in a stripped library
// addr2line would name the nearest exported symbol, often the wrong one.
function hasSymtab(path) {
  try { return execFileSync('readelf', ['-S', '-W', path]).toString().includes('.symtab'); } catch { return false; }
}
function resolveUnknown() {
  for (const [path, addrs] of unresolved) {
    if (!hasSymtab(path)) continue;
    const list = [...addrs];
    let text = '';
    try {
      text = execFileSync('addr2line', ['-f', '-C', '-e', path], { input: list.map((a) => `0x${a}`).join('\n'), maxBuffer: 1 << 28 }).toString();
    } catch { continue; }
    const lines = text.split('\n');
    list.forEach((a, i) => { const fn = lines[2 * i]; if (fn && fn !== '??') resolved.set(`${path}@${a}`, fn); });
  }
}

// A frame's name: the symbol without its offset and (for C++) without the
// argument list, so overloads of one function merge; the DSO when nothing
// could name it.
function frameName(f) {
  let sym = f.sym;
  const dso = f.path.split('/').pop() || f.path;
  if (sym === '[unknown]') sym = resolved.get(`${f.path}@${f.addr}`) || '';
  if (sym === '') return `[${dso}]`;
  // Strip a trailing C++ argument list: "ns::f(int, std::string const&)" → "ns::f".
  if (sym.endsWith(')')) {
    let depth = 0;
    for (let k = sym.length - 1; k >= 0; --k) {
      if (sym[k] === ')') ++depth;
      else if (sym[k] === '(' && --depth === 0) { if (k > 0) sym = sym.slice(0, k); break; }
    }
  }
  if (sym.length > 160) sym = `${sym.slice(0, 157)}…`;
  return dso.startsWith('[kernel') ? `${sym} [k]` : sym;
}

const samples = [];  // each: frames leaf first
let header = null;
let frames = [];
function flush() {
  if (header !== null && frames.length > 0) samples.push(frames);
  header = null;
  frames = [];
}
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (line.trim() === '') { flush(); continue; }
  if (!/^\s/.test(line)) {
    flush();
    const comm = line.trim().split(/\s+/)[0];
    header = !opt.comm || comm === opt.comm ? line : null;
    continue;
  }
  if (header === null) continue;
  const f = parseFrame(line);
  if (f !== null) { noteUnknown(f); frames.push(f); }
}
flush();
resolveUnknown();

const folded = new Map();
const selfByFn = new Map();
const selfByDso = new Map();
const total = samples.length;
for (const fr of samples) {
  const names = fr.map(frameName);
  const key = names.slice().reverse().join(';');
  folded.set(key, (folded.get(key) || 0) + 1);
  selfByFn.set(names[0], (selfByFn.get(names[0]) || 0) + 1);
  const dso = fr[0].path.split('/').pop() || fr[0].path;
  selfByDso.set(dso, (selfByDso.get(dso) || 0) + 1);
}

if (opt.folded) {
  for (const [k, n] of folded) process.stdout.write(`${k} ${n}\n`);
  process.exit(0);
}
if (opt.top > 0) {
  const pct = (n) => `${((100 * n) / total).toFixed(1).padStart(5)} %`;
  console.log(`${total} samples\n\nself time by DSO:`);
  for (const [k, n] of [...selfByDso].sort((a, b) => b[1] - a[1]).slice(0, opt.top)) console.log(`${pct(n)}  ${k}`);
  console.log('\nself time by function:');
  for (const [k, n] of [...selfByFn].sort((a, b) => b[1] - a[1]).slice(0, opt.top)) console.log(`${pct(n)}  ${k}`);
  if (opt.inclusive.length > 0) console.log('\ninclusive (samples with a frame matching):');
  for (const re of opt.inclusive) {
    const r = new RegExp(re);
    let n = 0;
    for (const [k, c] of folded) if (k.split(';').some((f) => r.test(f))) n += c;
    console.log(`${pct(n)}  /${re}/`);
  }
  process.exit(0);
}

// The tree: children by name, samples per node.
const root = { name: 'all', n: 0, kids: new Map() };
for (const [k, n] of folded) {
  let node = root;
  node.n += n;
  const parts = k.split(';');
  for (let d = 0; d < parts.length && d < opt.maxDepth; ++d) {
    let kid = node.kids.get(parts[d]);
    if (!kid) { kid = { name: parts[d], n: 0, kids: new Map() }; node.kids.set(parts[d], kid); }
    kid.n += n;
    node = kid;
  }
}

const minSamples = (total * opt.minPercent) / 100;
const rowH = 16;
const pad = 10;
const titleH = 28;
const width = opt.width;
const scale = total > 0 ? (width - 2 * pad) / total : 0;
const rects = [];
let maxDepth = 0;
function layout(node, x, depth) {
  if (depth > 0) rects.push({ node, x, depth });
  maxDepth = Math.max(maxDepth, depth);
  let cx = x;
  for (const kid of [...node.kids.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (kid.n >= minSamples) layout(kid, cx, depth + 1);
    cx += kid.n;
  }
}
layout(root, 0, 0);

const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
// Colours by kind: kernel, our code (renkei::), libraries; a stable hash
// varies the shade so neighbours differ.
function colour(name) {
  let h = 0;
  for (let i = 0; i < name.length; ++i) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  const v = h % 40;
  if (name.endsWith('[k]')) return `rgb(${200 + (v % 40)},${120 + v},${60})`;        // kernel: orange
  if (name.includes('renkei')) return `rgb(${80 + v},${170 + (v % 50)},${90})`;     // ours: green
  if (name.includes('httplib')) return `rgb(${90},${140 + v},${210})`;              // httplib: blue
  if (name.includes('sqlite') || name.startsWith('[libsqlite')) return `rgb(${170 + v},${110},${200})`;
  return `rgb(${215 + (v % 40)},${80 + 2 * v},${60})`;                                // other: red-yellow
}
const height = titleH + (maxDepth + 1) * rowH + pad;
const out = [];
out.push(`<?xml version="1.0" standalone="no"?>`);
out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Verdana, sans-serif" font-size="11">`);
out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#f8f8f0"/>`);
out.push(`<text x="${width / 2}" y="18" font-size="15" text-anchor="middle">${esc(opt.title)}</text>`);
out.push(`<text x="${width - pad}" y="18" font-size="10" text-anchor="end">${total} samples; frames under ${opt.minPercent} % omitted</text>`);
for (const { node, x, depth } of rects) {
  const rx = pad + x * scale;
  const rw = node.n * scale;
  const ry = height - pad - depth * rowH;  // root at the bottom
  const pctText = ((100 * node.n) / total).toFixed(2);
  const label = `${node.name} (${node.n} samples, ${pctText} %)`;
  const chars = Math.floor((rw - 6) / 6.5);
  let text = '';
  if (chars >= 3) text = node.name.length <= chars ? node.name : `${node.name.slice(0, chars - 2)}..`;
  out.push(`<g><title>${esc(label)}</title><rect x="${rx.toFixed(1)}" y="${ry - rowH + 1}" width="${Math.max(rw - 0.5, 0.5).toFixed(1)}" height="${rowH - 1}" fill="${colour(node.name)}" rx="2"/>` +
    (text ? `<text x="${(rx + 3).toFixed(1)}" y="${ry - 4}">${esc(text)}</text>` : '') + `</g>`);
}
out.push('</svg>');
process.stdout.write(`${out.join('\n')}\n`);
