'use strict';
// What one cold load of screen ① costs the server, in CPU (a benchmark, never
// a pass/fail test; driven by scripts/bench-page-load.sh, figures in
// docs/performance.md "Static files: compressed once").
//
// Each load launches headless chromium afresh (playwright gives every launch a
// new temporary --user-data-dir: no HTTP cache, no cookies), opens the demo
// app (/demo/), and only then starts counting: the click on 口座を連携する runs
// what a customer's browser runs when a real client app sends it to us —
// GET /authorize (which answers with the flow page, its CSS inline), the
// script (flow.js with the WASM glue), the WASM module, the flow's first API
// read — until screen ① (account_entry) is shown
// and no request is pending. The server's CPU is read from /proc/PID:
//   ticks   utime+stime of /proc/PID/stat (clock ticks, 10 ms each here), the
//           figure the brief names; coarse, so only the mean over many loads
//           means something;
//   exact   the sum over the server's threads of /proc/PID/task/*/schedstat
//           (nanoseconds on CPU); the same quantity at full resolution.
// "tail" adds the time until the server has closed the browser's idle
// keep-alive connections (2 s in server.cpp), which a real browser that stays
// on the page pays: httplib 0.11.4's own wait polled an idle connection every
// ~11 ms, server.cpp's KeepAliveServer every 500 ms. The browser's window also
// holds such waits (its connections idle while it parses and runs the page). "replay" separates the requests' own work: the
// same requests as one load (recorded from the warm-up), sent back to back
// from node over one keep-alive connection with the browser's
// Accept-Encoding, carrying the session cookie from /authorize. "one at a
// time" gives each request's own CPU as a browser spreads them: the same
// requests 30 ms apart (each wakes a worker thread that went idle), the
// median over the rounds per request.
//
//   node tests/perf/page_load.cjs --url http://127.0.0.1:PORT --pid PID [--loads 20]
//        [--tail-ms 2600] [--chromium /usr/bin/chromium] [--verbose]

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

function parseArgs(argv) {
  const o = { loads: 20, tailMs: 2600, chromium: process.env.RENKEI_CHROMIUM || '/usr/bin/chromium', verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--url') o.url = next();
    else if (a === '--pid') o.pid = Number(next());
    else if (a === '--loads') o.loads = Number(next());
    else if (a === '--tail-ms') o.tailMs = Number(next());
    else if (a === '--chromium') o.chromium = next();
    else if (a === '--verbose') o.verbose = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.url || !o.pid) throw new Error('--url and --pid are required');
  return o;
}

const CLK_TCK = 100;  // getconf CLK_TCK on Linux x86-64

// utime+stime in ticks, and the threads' summed on-CPU nanoseconds.
function serverCpu(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);  // fields 14 and 15 of stat
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch (e) { /* the thread ended meanwhile */ }
  }
  return { ticks, ns };
}
const diffMs = (a, b) => ({ ticks: ((b.ticks - a.ticks) * 1000) / CLK_TCK, exact: (b.ns - a.ns) / 1e6 });

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function oneLoad(chromium, o) {
  const browser = await chromium.launch({ executablePath: o.chromium, headless: true, args: CHROMIUM_ARGS });
  try {
    const context = await browser.newContext({ locale: 'ja-JP', timezoneId: 'Asia/Tokyo' });
    const page = await context.newPage();
    await page.goto(`${o.url}/demo/`, { waitUntil: 'networkidle' });
    const seen = [];
    const order = new Map();  // request → its position in start order
    const pending = new Set();
    page.on('request', (req) => { pending.add(req); order.set(req, order.size); });
    const done = async (req) => {
      pending.delete(req);
      const res = await req.response().catch(() => null);
      const headers = res ? await res.allHeaders().catch(() => ({})) : {};
      const sizes = await req.sizes().catch(() => ({ responseBodySize: -1 }));
      seen.push({
        at: order.get(req), url: req.url().replace(o.url, ''), status: res ? res.status() : 0,
        encoding: headers['content-encoding'] || '', bytes: sizes.responseBodySize,
        accept: (await req.allHeaders().catch(() => ({})))['accept-encoding'] || '',
      });
    };
    page.on('requestfinished', done);
    page.on('requestfailed', done);

    const before = serverCpu(o.pid);
    await page.click('#start');
    await page.waitForSelector('#screen-account_entry:not([hidden])', { timeout: 20000 });
    for (const start = Date.now(); pending.size > 0; await sleep(5)) {
      if (Date.now() - start > 20000) {
        throw new Error(`requests still pending after 20 s: ${[...pending].map((r) => r.url()).join(' ')}`);
      }
    }
    const shown = serverCpu(o.pid);
    await sleep(o.tailMs);
    const tail = serverCpu(o.pid);
    seen.sort((a, b) => a.at - b.at);
    return { load: diffMs(before, shown), tail: diffMs(before, tail), requests: seen };
  } finally {
    await browser.close();
  }
}

// A browser-like replayer on one keep-alive connection: each request with the
// load's Accept-Encoding and the cookies the earlier answers set (the session
// cookie from /authorize). ask(r) resolves with the answer once it is read.
function replayer(o) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let cookie = '';
  const ask = (r) => new Promise((resolve, reject) => {
    const headers = { 'Accept-Encoding': r.accept || 'gzip, deflate, br' };
    if (cookie) headers.Cookie = cookie;
    const req = http.get(`${o.url}${r.url}`, { agent, headers }, (res) => {
      for (const c of res.headers['set-cookie'] || []) cookie = (cookie ? `${cookie}; ` : '') + c.split(';')[0];
      res.on('data', () => {});
      res.on('end', () => resolve(res));
    });
    req.on('error', reject);
  });
  return { ask, close: () => agent.destroy() };
}

// The load's requests again, back to back on one keep-alive connection.
async function replay(o, requests) {
  const { ask, close } = replayer(o);
  const statuses = [];
  const before = serverCpu(o.pid);
  for (const r of requests) statuses.push((await ask(r)).statusCode);
  const after = serverCpu(o.pid);
  close();
  const wrong = requests.filter((r, i) => r.status !== statuses[i]);
  if (wrong.length) throw new Error(`replay: statuses ${statuses} differ from the browser's`);
  return diffMs(before, after);
}

// The load's requests again, one at a time with `gapMs` of silence before
// each (as a browser spreads them: each wakes a worker that has gone idle),
// on one keep-alive connection; the server's CPU for each request (schedstat,
// ns), in the load's order.
async function replaySpread(o, requests, gapMs) {
  const { ask, close } = replayer(o);
  const ns = [];
  for (const r of requests) {
    await sleep(gapMs);
    const before = serverCpu(o.pid);
    const res = await ask(r);
    await sleep(2);  // the server's access log line and metrics follow the answer
    ns.push(serverCpu(o.pid).ns - before.ns);
    if (res.statusCode !== r.status) throw new Error(`spread replay: ${r.url} answered ${res.statusCode}`);
  }
  close();
  return ns;
}

const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const { chromium } = require(path.join(__dirname, '..', '..', 'node_modules', 'playwright-core'));
  // One warm-up load: the server reads (and, after the change, compresses) its
  // files on first use; that is once per file version, not per page load.
  const warm = await oneLoad(chromium, o);
  console.log(`warm-up load (not counted): ${warm.load.exact.toFixed(2)} ms exact CPU`);
  console.log('requests of one load (url, status, content-encoding, body bytes on the wire):');
  for (const r of warm.requests) console.log(`  ${r.status} ${r.encoding || '-'} ${r.bytes} ${r.url.slice(0, 90)}`);
  const loads = [];
  for (let i = 0; i < o.loads; i++) {
    const r = await oneLoad(chromium, o);
    loads.push(r);
    if (o.verbose) {
      console.log(`load ${i + 1}: load ${r.load.exact.toFixed(2)} ms (ticks ${r.load.ticks}), ` +
                  `with tail ${r.tail.exact.toFixed(2)} ms (ticks ${r.tail.ticks})`);
    }
  }
  const replays = [];
  for (let i = 0; i < o.loads; i++) replays.push(await replay(o, warm.requests));
  // Per request, spread out (30 ms apart): the median of the rounds.
  const spread = [];
  for (let i = 0; i < o.loads; i++) spread.push(await replaySpread(o, warm.requests, 30));
  const perRequest = warm.requests.map((r, j) => ({ url: r.url, us: median(spread.map((s) => s[j])) / 1e3 }));
  const pick = (k, m) => loads.map((r) => r[k][m]);
  const summary = {
    loads: o.loads,
    requests_per_load: warm.requests.length,
    load_ms_ticks_mean: mean(pick('load', 'ticks')),
    load_ms_exact_mean: mean(pick('load', 'exact')),
    load_ms_exact_median: median(pick('load', 'exact')),
    with_tail_ms_ticks_mean: mean(pick('tail', 'ticks')),
    with_tail_ms_exact_mean: mean(pick('tail', 'exact')),
    with_tail_ms_exact_median: median(pick('tail', 'exact')),
    replay_ms_exact_mean: mean(replays.map((r) => r.exact)),
    replay_ms_exact_median: median(replays.map((r) => r.exact)),
    spread_ms_exact_sum_of_medians: perRequest.reduce((t, r) => t + r.us, 0) / 1e3,
  };
  const f = (x) => x.toFixed(2);
  console.log(`\nserver CPU per cold load of screen ① (${o.loads} loads):`);
  console.log(`  until shown:      ${f(summary.load_ms_ticks_mean)} ms (utime+stime ticks, mean)   ` +
              `${f(summary.load_ms_exact_mean)} ms mean / ${f(summary.load_ms_exact_median)} ms median (schedstat)`);
  console.log(`  with +${o.tailMs} ms tail: ${f(summary.with_tail_ms_ticks_mean)} ms (ticks, mean)   ` +
              `${f(summary.with_tail_ms_exact_mean)} ms mean / ${f(summary.with_tail_ms_exact_median)} ms median (schedstat)`);
  console.log(`  the requests alone (replayed from node, ${o.loads} times): ` +
              `${f(summary.replay_ms_exact_mean)} ms mean / ${f(summary.replay_ms_exact_median)} ms median (schedstat)`);
  console.log(`  one request at a time, 30 ms apart (schedstat, median of ${o.loads}; sum ` +
              `${f(summary.spread_ms_exact_sum_of_medians)} ms):`);
  for (const r of perRequest) console.log(`    ${r.us.toFixed(0).padStart(5)} µs  ${r.url.slice(0, 80)}`);
  console.log(`SUMMARY ${JSON.stringify(summary)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
