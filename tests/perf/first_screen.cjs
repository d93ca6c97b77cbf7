'use strict';
// How soon a customer on a phone can use screen ① (a benchmark, never a
// pass/fail test; driven by scripts/bench-first-screen.sh, figures in
// docs/performance.md "First screen on a phone").
//
// Each load launches headless chromium afresh (playwright gives every launch a
// new temporary profile: no HTTP cache, no cookies, no compiled-WASM cache),
// applies the phone profile through the DevTools protocol before anything is
// requested —
//   Network.emulateNetworkConditions  latency 150 ms, 1.6 Mbit/s down,
//                                     750 kbit/s up ("Slow 4G")
//   Emulation.setCPUThrottlingRate    4 (the page's CPU four times slower)
// — and navigates straight to GET /authorize?… as a client app's link would
// (PKCE S256, a fresh state each time). The clock is the page's own
// performance.now(), whose zero is the start of that navigation (/authorize
// answers with the page itself).
//
// "Usable" (the figure): the first animation frame in which
//   - #screen-account_entry is shown (not hidden, laid out, the stylesheet
//     applied: its computed display is not "none" and it has a height),
//   - ①'s first field (#branch) is focusable: enabled, in the tab order,
//     laid out and visible, not inert (checked without moving the focus, whose
//     handlers would run the page's checks),
//   - its 科目 list is filled (the core's account types),
// as seen by a script playwright adds to every document before the page's
// own. After that frame the load is checked for real: playwright types "123"
// into #branch with keyboard events, and the field must read "123". A load
// where typing does not work counts as failed.
// Also reported: when the WASM core was ready (<html data-core="wasm">, the
// checks while typing), and for the first counted load the page's requests
// (Resource Timing: start and end in ms, bytes on the wire).
//
//   node tests/perf/first_screen.cjs --url http://127.0.0.1:PORT [--loads 10]
//        [--latency 150] [--down-kbit 1600] [--up-kbit 750] [--cpu 4]   (0 kbit: no limit)
//        [--chromium /usr/bin/chromium] [--verbose]

const crypto = require('node:crypto');
const path = require('node:path');

function parseArgs(argv) {
  const o = {
    loads: 10, latency: 150, downKbit: 1600, upKbit: 750, cpu: 4,
    chromium: process.env.RENKEI_CHROMIUM || '/usr/bin/chromium', verbose: false,
    clientId: 'demo-app',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--url') o.url = next();
    else if (a === '--loads') o.loads = Number(next());
    else if (a === '--latency') o.latency = Number(next());
    else if (a === '--down-kbit') o.downKbit = Number(next());
    else if (a === '--up-kbit') o.upKbit = Number(next());
    else if (a === '--cpu') o.cpu = Number(next());
    else if (a === '--chromium') o.chromium = next();
    else if (a === '--client-id') o.clientId = next();
    else if (a === '--verbose') o.verbose = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.url) throw new Error('--url is required');
  if (!(o.loads >= 1)) throw new Error('--loads must be at least 1');
  return o;
}

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// Runs in every document before its own scripts; on the flow page (the
// answer of /authorize, or /flow/) it watches for the moment screen ① becomes
// usable, and for the WASM core.
function watcher() {
  if (!location.pathname.startsWith('/flow/') && location.pathname !== '/authorize') return;
  const marks = { usable: -1, wasm: -1, dcl: -1, shown: -1, longtasks: [] };
  window.__firstScreen = marks;
  document.addEventListener('DOMContentLoaded', () => {
    marks.dcl = performance.now();
    // When flow.js unhides ①, before the frame that shows it.
    const s = document.getElementById('screen-account_entry');
    if (s) {
      new MutationObserver(() => {
        if (marks.shown < 0 && !s.hidden) marks.shown = performance.now();
      }).observe(s, { attributes: true, attributeFilter: ['hidden'] });
    }
  });
  // Main-thread tasks over 50 ms (parsing, script, layout), for --verbose.
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) marks.longtasks.push([Math.round(e.startTime), Math.round(e.duration)]);
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) { /* no longtask timing */ }
  const usableNow = () => {
    const s = document.getElementById('screen-account_entry');
    const f = document.getElementById('branch');
    const t = document.getElementById('account_type');
    if (!s || !f || !t || s.hidden || f.disabled || t.options.length === 0) return false;
    const style = getComputedStyle(s);
    if (style.display === 'none' || style.visibility === 'hidden' || s.getBoundingClientRect().height <= 0) {
      return false;
    }
    // Focusable without touching the focus (the page's focus and blur
    // handlers run checks): enabled, in the tab order, laid out, not inert.
    return f.tabIndex >= 0 && !f.closest('[inert]') && f.getClientRects().length > 0 &&
      getComputedStyle(f).visibility !== 'hidden';
  };
  const frame = () => {
    if (marks.wasm < 0 && document.documentElement.getAttribute('data-core') === 'wasm') {
      marks.wasm = performance.now();
    }
    if (marks.usable < 0 && usableNow()) marks.usable = performance.now();
    if (marks.usable < 0 || marks.wasm < 0) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

function authorizeUrl(o) {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: o.clientId,
    redirect_uri: `${o.url}/demo/callback`,
    scope: 'accounts.read',
    state: crypto.randomBytes(12).toString('base64url'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  return `${o.url}/authorize?${q}`;
}

async function oneLoad(chromium, o) {
  const browser = await chromium.launch({ executablePath: o.chromium, headless: true, args: CHROMIUM_ARGS });
  try {
    const context = await browser.newContext({ locale: 'ja-JP', timezoneId: 'Asia/Tokyo' });
    await context.addInitScript(watcher);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: o.latency,
      // 0 on the command line: no limit (-1 for the protocol).
      downloadThroughput: o.downKbit > 0 ? (o.downKbit * 1000) / 8 : -1,
      uploadThroughput: o.upKbit > 0 ? (o.upKbit * 1000) / 8 : -1,
      connectionType: 'cellular4g',
    });
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: o.cpu });
    await page.goto(authorizeUrl(o), { waitUntil: 'commit', timeout: 30000 });
    await page.waitForFunction(() => window.__firstScreen && window.__firstScreen.usable >= 0,
      null, { timeout: 30000, polling: 50 });
    // flow.js put /flow/ in the address bar.
    if (new URL(page.url()).pathname !== '/flow/') throw new Error(`landed on ${page.url()}`);
    // Typing works: real key events into ①'s first field.
    await page.focus('#branch');
    await page.keyboard.type('123');
    const typed = await page.inputValue('#branch');
    if (typed !== '123') throw new Error(`typing into #branch gave "${typed}"`);
    await page.waitForFunction(() => window.__firstScreen.wasm >= 0, null, { timeout: 30000, polling: 100 })
      .catch(() => {});
    const r = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const res = performance.getEntriesByType('resource').map((e) => ({
        url: e.name.replace(location.origin, ''), start: e.startTime, end: e.responseEnd,
        bytes: e.transferSize, type: e.initiatorType,
      }));
      return {
        marks: { ...window.__firstScreen },
        nav: nav ? { responseStart: nav.responseStart, responseEnd: nav.responseEnd,
          bytes: nav.transferSize } : null,
        res,
      };
    });
    return r;
  } finally {
    await browser.close();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const { chromium } = require(path.join(__dirname, '..', '..', 'node_modules', 'playwright-core'));
  console.log(`phone profile: ${o.latency} ms latency, ${o.downKbit} kbit/s down, ${o.upKbit} kbit/s up, ` +
              `CPU slowed ${o.cpu}x; ${o.loads} cold loads of /authorize?… (+ 1 warm-up for the server)`);
  await oneLoad(chromium, o);  // the server compresses each file once, on first use
  const usable = [];
  const wasm = [];
  let failed = 0;
  for (let i = 0; i < o.loads; i++) {
    let r;
    try {
      r = await oneLoad(chromium, o);
    } catch (e) {
      failed++;
      console.log(`load ${i + 1}: FAILED: ${e.message.split('\n')[0]}`);
      continue;
    }
    usable.push(r.marks.usable);
    if (r.marks.wasm >= 0) wasm.push(r.marks.wasm);
    if (i === 0 || o.verbose) {
      console.log(`load ${i + 1}: requests (ms from the start of the navigation; bytes on the wire):`);
      if (r.nav) {
        console.log(`  ${'GET /authorize: the page'.padEnd(58)} ` +
                    `page ${r.nav.responseStart.toFixed(0)}–${r.nav.responseEnd.toFixed(0)} (${r.nav.bytes} B)`);
      }
      for (const e of r.res) {
        console.log(`  ${e.url.slice(0, 58).padEnd(58)} ${e.start.toFixed(0).padStart(5)}–${e.end.toFixed(0).padEnd(5)} ` +
                    `(${e.bytes} B, ${e.type})`);
      }
      const total = (r.nav ? r.nav.bytes : 0) + r.res.reduce((sum, e) => sum + e.bytes, 0);
      console.log(`  transferred in all (page, assets, WASM, /api/flow; headers included): ${total} B`);
      console.log(`  DOMContentLoaded ${r.marks.dcl.toFixed(0)} ms; ① unhidden ${r.marks.shown.toFixed(0)} ms; ` +
                  `usable ${r.marks.usable.toFixed(0)} ms; ` +
                  `WASM core ready ${r.marks.wasm >= 0 ? r.marks.wasm.toFixed(0) + ' ms' : 'never'}`);
      console.log(`  main-thread tasks over 50 ms [start, ms]: ${JSON.stringify(r.marks.longtasks)}`);
    }
  }
  const stat = (xs) => (xs.length
    ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length } : null);
  const summary = { loads: o.loads, failed, usable_ms: stat(usable), wasm_ready_ms: stat(wasm),
    profile: { latency_ms: o.latency, down_kbit: o.downKbit, up_kbit: o.upKbit, cpu_slowdown: o.cpu } };
  const f = (s) => (s ? `median ${s.median.toFixed(0)} ms, min ${s.min.toFixed(0)}, max ${s.max.toFixed(0)} (n=${s.n})` : '-');
  console.log(`\nscreen ① usable (shown, #branch focusable, typing works): ${f(summary.usable_ms)}`);
  console.log(`WASM core ready (checks while typing):                      ${f(summary.wasm_ready_ms)}`);
  if (failed) console.log(`failed loads: ${failed}`);
  console.log(`SUMMARY ${JSON.stringify(summary)}`);
  if (failed) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
