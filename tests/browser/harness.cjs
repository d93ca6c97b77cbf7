'use strict';
// Shared by the browser tests: starts the real server binary on a free port
// with a temp database and tests/browser/test-config.json, launches Debian's
// chromium through playwright-core (TOOLCHAIN.md), and offers the helpers the
// scenarios share (screenshots at 375 and 1280 px, the axe-core scan, a page
// that must log no errors) and the customer's screens: the demo customer,
// ① sent, the walk through ②–⑥ (walkScreens), the way back to the app.
// tests/cluster and tests/api use it too.
//
// Environment:
//   RENKEI_SERVER_BIN   the server binary (default build/native/server/renkei-server)
//   RENKEI_WASM_DIR     renkei_core.js/.wasm (default build/wasm)
//   RENKEI_CHROMIUM     the browser (default /usr/bin/chromium)
//   RENKEI_ARTIFACTS    screenshots go to <this>/screenshots (default test-artifacts)

const fs = require('node:fs');
const os = require('node:os');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const assert = require('node:assert/strict');

const REPO = path.resolve(__dirname, '..', '..');
const SERVER_BIN = process.env.RENKEI_SERVER_BIN || path.join(REPO, 'build', 'native', 'server', 'renkei-server');
const WASM_DIR = process.env.RENKEI_WASM_DIR || path.join(REPO, 'build', 'wasm');
const CHROMIUM = process.env.RENKEI_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.resolve(REPO, process.env.RENKEI_ARTIFACTS || 'test-artifacts');
const SCREENSHOTS = path.join(ARTIFACTS, 'screenshots');

// The headless flags that work on our machines (TOOLCHAIN.md "Browser tests").
// playwright adds --headless itself and gives every launch a fresh temporary
// --user-data-dir (it refuses one in args; launchPersistentContext is the
// other way), so no profile, cookie or cache survives between runs.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// The admin token a dev-mode server uses when RENKEI_ADMIN_TOKEN is unset
// (kDevAdminToken in server/src/ops/config.h).
const DEV_ADMIN_TOKEN = 'renkei-development-admin-token';

// Starts renkei-server with the test config plus `overrides` (and extra
// environment variables `env`); resolves to { base, port, dir, stop(), log() }.
async function startServer(overrides = {}, env = {}) {
  if (!fs.existsSync(SERVER_BIN)) {
    throw new Error(`server binary not found: ${SERVER_BIN} (build the native preset or set RENKEI_SERVER_BIN)`);
  }
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'renkei-browser-'));
  const config = JSON.parse(fs.readFileSync(path.join(__dirname, 'test-config.json'), 'utf8'));
  Object.assign(config, {
    port,
    issuer: base,
    database: path.join(dir, 'renkei.db'),
    maildir: path.join(dir, 'mail'),
    web_root: path.join(REPO, 'web'),
  });
  config.clients = config.clients.map((c) => ({ ...c, redirect_uris: [`${base}/demo/callback`] }));
  Object.assign(config, overrides);
  const configPath = path.join(dir, 'config.json');
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2));

  let output = '';
  const child = spawn(SERVER_BIN, ['--config', configPath], {
    cwd: dir,
    env: { ...process.env, RENKEI_WASM_DIR: WASM_DIR, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk) => {
    output += chunk.toString();
    if (output.length > 200000) output = output.slice(-100000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });

  const deadline = Date.now() + 20000;
  for (;;) {
    if (exited) throw new Error(`renkei-server exited (${JSON.stringify(exited)}):\n${output}`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) break;
    } catch (e) { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`renkei-server did not answer /healthz within 20 s:\n${output}`);
    }
    await sleep(100);
  }

  // Every closure of the service calendar (SPEC §6) lies between 23:50 and
  // 08:00 JST, so 10:00 JST is open on every day of the year. Near those hours
  // a dev server's movable clock is set to 10:00 JST of the same day, so that
  // the flows run whatever the real time (CI may run at night in Japan).
  const jstNow = new Date(Date.now() + 9 * 3600 * 1000);
  const minuteOfDay = jstNow.getUTCHours() * 60 + jstNow.getUTCMinutes();
  let clockMoved = false;
  if (config.dev_mode && config.movable_clock && (minuteOfDay >= 23 * 60 + 30 || minuteOfDay < 8 * 60 + 30)) {
    const day = jstNow.toISOString().slice(0, 10);
    const res = await fetch(`${base}/admin/api/dev/clock`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${env.RENKEI_ADMIN_TOKEN || process.env.RENKEI_ADMIN_TOKEN || DEV_ADMIN_TOKEN}`,
        'X-Renkei-Staff': 'browser-tests',
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ set: `${day}T10:00:00+09:00` }),
    });
    if (!res.ok) {
      child.kill('SIGKILL');
      throw new Error(`could not move the server's clock into service hours: ${res.status} ${await res.text()}`);
    }
    clockMoved = true;
  }

  return {
    base,
    port,
    dir,
    clockMoved,
    log: () => output,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const until = Date.now() + 5000;
        while (!exited && Date.now() < until) await sleep(50);
        if (!exited) child.kill('SIGKILL');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// options.noWasm: V8 without the WebAssembly global, as in iOS Lockdown Mode
// (which also turns the JIT off), so that the page must do without its WASM
// core. Debian's chromium 156 still exposes WebAssembly with --noexpose_wasm
// alone (and with "--noexpose_wasm --jitless"); "--jitless --noexpose_wasm"
// removes it (checked here: typeof WebAssembly is "undefined"; the tests
// assert it too).
async function launchBrowser(options = {}) {
  const { chromium } = require('playwright-core');
  const args = [...CHROMIUM_ARGS];
  if (options.noWasm) args.push('--js-flags=--jitless --noexpose_wasm');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

// A fresh context and page; console errors and page errors are collected so
// that a test can assert the page ran clean (CSP refusals show up there).
// options: height, and playwright context options for a phone or a webview
// (isMobile, hasTouch, userAgent, deviceScaleFactor).
async function newPage(browser, width = 375, options = {}) {
  const { height = 900, ...contextOptions } = options;
  const context = await browser.newContext({
    viewport: { width, height },
    locale: 'ja-JP',
    timezoneId: 'Asia/Tokyo',
    ...contextOptions,
  });
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (m) => {
    // An API's error status (403, 409, 410 …) is logged by chromium too: expected.
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of/.test(m.text())) {
      page.problems.push(`console: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.setDefaultTimeout(15000);
  return { context, page };
}

// Runs fn(page) in a page of newPage ({ context, page }) and then asserts
// that the page logged no errors; a failure carries the tail of the server
// `srv`'s log. The context is closed in any case.
async function runInPage({ context, page }, srv, fn) {
  try {
    await fn(page);
    assert.deepEqual(page.problems, [], 'the page logged no errors (CSP, scripts)');
  } catch (e) {
    e.message += `\n--- server log tail ---\n${srv.log().slice(-3000)}`;
    throw e;
  } finally {
    await context.close();
  }
}

// Out of hours (SPEC §6) every screen answers out_of_hours. startServer moves
// a dev server's clock into service hours near the night windows; should the
// real time still be closed (a window announced in the config), the tests
// skip rather than fail. Returns why (by the service calendar of the WASM
// core `core`, now and in 10 minutes), or null when open.
function closedReason(srv, core) {
  if (srv.clockMoved) return null;
  const at = Math.floor(Date.now() / 1000);
  const now = JSON.parse(core.runCase(JSON.stringify({ kind: 'calendar', at })));
  const soon = JSON.parse(core.runCase(JSON.stringify({ kind: 'calendar', at: at + 600 })));
  return !now.open || !soon.open ? `service closed now (${JSON.stringify(now.closure || soon.closure)})` : null;
}

// Skips the test `t` when there is a `reason`: true when it did.
function skipFor(t, reason) {
  if (!reason) return false;
  t.skip(reason);
  return true;
}

let axeSource = null;
// Runs axe-core in the page (WCAG 2.x A/AA and best practices). The source is
// evaluated through the devtools protocol, which the page's CSP does not
// govern, so the page keeps its real CSP while it is scanned.
async function axeViolations(page) {
  if (!axeSource) axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  const loaded = await page.evaluate(() => typeof window.axe === 'object');
  if (!loaded) await page.evaluate(`${axeSource};void 0`);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5),
    }));
  });
  return result;
}

// Screenshots of the current screen at 375 and 1280 px (or the given widths;
// full page), then back to the size the page had.
async function screenshots(page, name, widths = [375, 1280]) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const before = page.viewportSize();
  for (const width of widths) {
    await page.setViewportSize({ width, height: width === before.width ? before.height : 900 });
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize(before);
}

// A server of the test's own (startServer(overrides): its clock, its locks)
// for fn(own): `use(srv)` makes srv the test file's current server and
// returns the one it replaced, which is put back afterwards; own is stopped.
async function withOwnServer(overrides, use, fn) {
  const own = await startServer(overrides);
  const saved = use(own);
  try {
    await fn(own);
  } finally {
    use(saved);
    await own.stop();
  }
}

// Sets a dev server's movable clock (docs/admin-api.md) to an ISO 8601 instant.
async function setClock(srv, iso) {
  const res = await fetch(`${srv.base}/admin/api/dev/clock`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${process.env.RENKEI_ADMIN_TOKEN || DEV_ADMIN_TOKEN}`,
      'X-Renkei-Staff': 'browser-tests',
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({ set: iso }),
  });
  if (!res.ok) throw new Error(`could not set the server's clock: ${res.status} ${await res.text()}`);
}

// ---------------------------------------------------------------------------
// The customer's screens, shared by the browser tests and the cluster test.

// The demo data set (server/src/records/records.h): C0001, whose flows the
// tests complete.
const DEMO = {
  account: { branch: '115', type: 'ordinary', number: '1100026' },
  customer: { name: 'ﾃﾞｰﾀ ｻﾄﾙ', year: '1985', month: '04', day: '12', phone: '09011113333', email: 'satoru@example.com' },
  pin: '1234',
};

// The selector of a screen while it is shown.
const visible = (screen) => `#screen-${screen}:not([hidden])`;

// The demo app's start page, then 連携する: resolves once ① is shown.
async function openDemo(page, base) {
  await page.goto(`${base}/demo/`);
  await page.click('#start');
  await page.waitForSelector(visible('account_entry'));
}

// Today's date in Japan, YYYY-MM-DD (to set a dev server's clock to an hour of it).
const jstDay = () => new Date(Date.now() + 9 * 3600 * 1000).toISOString().slice(0, 10);

// The demo app's 連携する when /authorize refuses with `code`: the flow page
// shows ?error=<code> with `message` (the catalog's text).
async function openDemoRefused(page, base, code, message) {
  await page.goto(`${base}/demo/`);
  await page.click('#start');
  await page.waitForSelector(visible('message'));
  assert.match(page.url(), new RegExp(`/flow/\\?error=${code}$`));
  assert.equal((await page.textContent('#alert-message')).trim(), message);
}

// 連携元画面へ (#trouble-leave): resolves to the URL of the app's callback
// the page then requests (the request's: the demo page takes the query out
// of the address bar).
async function leaveForTheApp(page) {
  const request = page.waitForRequest((r) => r.url().includes('/demo/callback'), { timeout: 15000 });
  await page.click('#trouble-leave');
  return new URL((await request).url());
}

// ① filled and sent (the caller waits for what comes next).
async function submitAccount(page, a) {
  await page.fill('#branch', a.branch);
  await page.selectOption('#account_type', a.type);
  await page.fill('#account_number', a.number);
  await page.click('#form-account button[type=submit]');
}

// ② filled (not sent). `type(selector, value)` enters a text field (default
// page.fill).
async function fillCustomer(page, c, type = (sel, value) => page.fill(sel, value)) {
  await type('#name_kana', c.name);
  await type('#birth_year', c.year);
  await page.selectOption('#birth_month', c.month);
  await page.selectOption('#birth_day', c.day);
  await type('#phone', c.phone);
  await type('#email', c.email);
  await type('#email_confirm', c.email);
}

// The screens ②–⑥ in order, each with what the customer does there: fill ②
// and send it, choose the number (③), have the dev server simulate the call
// and confirm it (④), the PIN (⑤), check the box and 許可する (⑥).
const WALK = [
  ['customer_entry', async (page, o) => {
    await fillCustomer(page, o.who.customer, o.type);
    if (o.at.customer_filled) await o.at.customer_filled(page);
    await o.press('#form-customer button[type=submit]');
  }],
  ['phone_confirm', async (page, o) => {
    await o.press('[data-action="phone"]');
  }],
  ['call_wait', async (page, o) => {
    await o.press('[data-action="simulate-call"]');
    await page.waitForSelector('[data-action="simulate-call"]:disabled');
    await o.press('[data-action="confirm-call"]');
  }],
  ['pin_entry', async (page, o) => {
    await o.type('#pin', o.who.pin);
    await o.press('#form-pin button[type=submit]');
  }],
  ['consent', async (page, o) => {
    await o.check('#consent');
    await o.press('#consent-submit');
  }],
];

// Walks the customer's screens from `from` (default ②) on: waits for each
// screen, runs the test's `at[screen](page)` there, then does what the
// customer does on it. Stops once `until` is shown (before its action), or,
// without `until`, after 許可する on ⑥ (the page is then on its way to the
// app). Options:
//   who    { customer, pin } (default DEMO)
//   from   the first screen of the walk (its predecessor has been sent)
//   until  the screen to stop on
//   at     { screen: async (page) => … } checks on arrival; `customer_filled`
//          runs once ② is filled, before it is sent
//   press  (selector) => clicks or taps (default page.click)
//   type   (selector, value) => enters a text field (default page.fill)
//   check  (selector) => checks the box of ⑥ (default page.check)
async function walkScreens(page, options = {}) {
  const o = {
    who: DEMO,
    from: 'customer_entry',
    until: null,
    at: {},
    press: (sel) => page.click(sel),
    type: (sel, value) => page.fill(sel, value),
    check: (sel) => page.check(sel),
    ...options,
  };
  const first = WALK.findIndex(([screen]) => screen === o.from);
  if (first < 0) throw new Error(`walkScreens: no screen ${o.from}`);
  if (o.until && !WALK.slice(first).some(([screen]) => screen === o.until)) {
    throw new Error(`walkScreens: ${o.until} does not come after ${o.from}`);
  }
  for (const [screen, act] of WALK.slice(first)) {
    await page.waitForSelector(visible(screen));
    if (o.at[screen]) await o.at[screen](page);
    if (screen === o.until) return;
    await act(page, o);
  }
}

module.exports = {
  REPO, SERVER_BIN, WASM_DIR, CHROMIUM, SCREENSHOTS, DEV_ADMIN_TOKEN,
  startServer, withOwnServer, launchBrowser, newPage, runInPage, closedReason, skipFor, axeViolations, screenshots, setClock, sleep,
  freePort,
  DEMO, visible, jstDay, openDemo, openDemoRefused, leaveForTheApp, submitAccount, fillCustomer, walkScreens,
};
