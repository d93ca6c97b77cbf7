'use strict';
// The operator console (issue 5) in headless chromium against the real server:
// WebGL through SwiftShader (TOOLCHAIN.md), the Dear ImGui module
// renkei_console.js/.wasm served at /console/. The test logs in with the
// development admin token, opens every view and photographs it into
// test-artifacts/console/, lifts a lock and revokes a grant by clicking the
// console like staff would (then places a simulated call, switches a client
// off and on, registers a FAPI 2.0 and a confidential OAuth client and changes
// one, announces and removes a maintenance window and moves the clock), and
// checks each effect through the admin API (the FAPI client also through a
// pushed authorization request signed with its key).
//
// Clicks go to the rectangles the console reports through its read-only probe
// (window.renkeiConsoleProbe(): the view, the last action, where each named
// widget was drawn). The probe performs nothing; every action is a click.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness.cjs');

const ADMIN_TOKEN = 'renkei-development-admin-token';  // kDevAdminToken (server/src/ops/config.h)
const STAFF = 'console-test';
const ARTIFACTS = path.resolve(h.REPO, process.env.RENKEI_ARTIFACTS || 'test-artifacts', 'console');
// A weekday morning, clear of every closure of the service calendar: the
// server's movable clock is set here so the flows run whatever the real time.
const OPEN_TIME = '2026-11-26T10:00:00+09:00';

// The demo data set (server/src/records/records.h), as tests/browser/flow.test.cjs uses it.
const DEMO = {
  account: { branch: '115', type: 'ordinary', number: '1100026' },
  customer: { name: 'ﾃﾞｰﾀ ｻﾄﾙ', year: '1985', month: '04', day: '12', phone: '09011113333', email: 'satoru@example.com' },
  pin: '1234',
};
const LOCKABLE = {  // C0006: its ② answers always mismatch, so 5 attempts lock it
  account: { branch: '115', type: 'savings', number: '5000005' },
  customer: { name: 'ｺﾊﾞﾔｼ ｹﾝ', year: '1995', month: '05', day: '06', phone: '09055556666', email: 'ken@example.com' },
};

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
];

let server;
let browser;
let skipReason = null;
let oauth;

// ---------- HTTP helpers (the admin API and the customer's flow) ----------

async function admin(method, apiPath, body) {
  const headers = { Authorization: `Bearer ${ADMIN_TOKEN}`, 'X-Renkei-Staff': STAFF };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${server.base}/admin/api/${apiPath}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => null);
  return { status: res.status, json };
}

// One customer's browser session, driven over HTTP (cookies and CSRF by hand).
class FlowSession {
  constructor(base) {
    this.base = base;
    this.cookies = new Map();
    this.csrf = '';
  }

  keepCookies(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async start() {
    this.verifier = crypto.randomBytes(32).toString('base64url');
    const challenge = crypto.createHash('sha256').update(this.verifier).digest('base64url');
    this.redirectUri = `${this.base}/demo/callback`;
    const q = new URLSearchParams({
      response_type: 'code', client_id: 'demo-app', redirect_uri: this.redirectUri,
      state: crypto.randomBytes(8).toString('hex'), code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const res = await fetch(`${this.base}/authorize?${q}`, { redirect: 'manual' });
    assert.equal(res.status, 200, 'authorize answers with the flow page');
    this.keepCookies(res);
    const view = await this.call('GET', '/api/flow');
    assert.equal(view.status, 200, JSON.stringify(view.json));
    return view;
  }

  async call(method, apiPath, body) {
    const headers = { Cookie: this.cookieHeader(), Origin: this.base };
    if (method === 'POST') {
      headers['Content-Type'] = 'application/json';
      headers['X-CSRF-Token'] = this.csrf;
    }
    const res = await fetch(`${this.base}${apiPath}`, {
      method, headers, redirect: 'manual', body: method === 'POST' ? JSON.stringify(body || {}) : undefined,
    });
    this.keepCookies(res);
    const json = await res.json().catch(() => null);
    if (json && json.csrf_token) this.csrf = json.csrf_token;
    return { status: res.status, json };
  }

  async account(a) {
    return this.call('POST', '/api/flow/account', { branch: a.branch, account_type: a.type, account_number: a.number });
  }

  async customer(c) {
    return this.call('POST', '/api/flow/customer', {
      name_kana: c.name, birth_year: c.year, birth_month: c.month, birth_day: c.day,
      phone: c.phone, email: c.email, email_confirm: c.email,
    });
  }
}

const code = (r) => (r.json && r.json.error ? r.json.error.code : 'ok');

// Five wrong ② attempts: the fifth locks the account (locked_now).
async function lockAccount() {
  const s = new FlowSession(server.base);
  await s.start();
  assert.equal(code(await s.account(LOCKABLE.account)), 'ok');
  const codes = [];
  for (let i = 0; i < 5; i += 1) codes.push(code(await s.customer(LOCKABLE.customer)));
  assert.deepEqual(codes, ['auth_mismatch', 'auth_mismatch', 'auth_mismatch', 'auth_mismatch', 'locked_now']);
}

// A completed flow (simulated call in development mode) and the code
// exchanged at /token: the demo account then has one active grant.
async function completeFlow() {
  const s = new FlowSession(server.base);
  await s.start();
  const steps = [
    ['account', await s.account(DEMO.account)],
    ['customer', await s.customer(DEMO.customer)],
    ['phone', await s.call('POST', '/api/flow/phone', {})],
    ['simulate-call', await s.call('POST', '/dev/simulate-call', {})],
    ['confirm', await s.call('POST', '/api/flow/call/confirm', {})],
    ['pin', await s.call('POST', '/api/flow/pin', { pin: DEMO.pin })],
  ];
  for (const [name, r] of steps) assert.ok(r.status < 300, `${name}: ${r.status} ${JSON.stringify(r.json)}`);
  const consent = await s.call('POST', '/api/flow/consent', { consent: true });
  assert.equal(consent.status, 200, JSON.stringify(consent.json));
  const redirect = new URL(consent.json.redirect_to);
  const form = new URLSearchParams({
    grant_type: 'authorization_code', code: redirect.searchParams.get('code'),
    redirect_uri: s.redirectUri, client_id: 'demo-app', code_verifier: s.verifier,
  });
  const token = await fetch(`${server.base}/token`, { method: 'POST', body: form });
  assert.equal(token.status, 200, await token.text());
  // One flow that stops at ④ waiting for its call: the development view lists it.
  const waiting = new FlowSession(server.base);
  await waiting.start();
  await waiting.account(DEMO.account);
  await waiting.customer(DEMO.customer);
  await waiting.call('POST', '/api/flow/phone', {});
}

// ---------- the console ----------

async function probe(page) {
  return page.evaluate(() => window.renkeiConsoleProbe());
}

// Waits until the console's probe satisfies `pred` (evaluated in node).
async function waitProbe(page, pred, what, timeout = 15000) {
  const until = Date.now() + timeout;
  let last = null;
  while (Date.now() < until) {
    last = await probe(page);
    if (pred(last)) return last;
    await h.sleep(100);
  }
  throw new Error(`console: timed out waiting for ${what}; last probe: ${JSON.stringify(last)}`);
}

// Clicks the middle of a widget as drawn in the last frame. ImGui reads the
// mouse once per frame: move, press and release in separate frames.
// Waits for answers in flight first: one arriving between the probe and the
// click could move the widget (a table row growing).
async function clickItem(page, name) {
  await waitProbe(page, (s) => s.items && s.items[name] && s.in_flight === 0, `widget ${name}`);
  await h.sleep(80);  // a frame drawn with what arrived
  const p = await waitProbe(page, (s) => s.items && s.items[name], `widget ${name}`);
  const [x0, y0, x1, y1] = p.items[name];
  const x = (x0 + x1) / 2;
  const y = (y0 + y1) / 2;
  await page.mouse.move(x, y);
  await h.sleep(80);
  await page.mouse.down();
  await h.sleep(80);
  await page.mouse.up();
  await h.sleep(120);
}

// Clicks a text field (which selects its text) and types `text` over it.
// Characters are queued by ImGui; keys such as Backspace are read once per
// frame and could be missed, so none is used.
async function typeInto(page, name, text) {
  await clickItem(page, name);
  await waitProbe(page, (s) => s.typing, `typing into ${name}`);
  await page.keyboard.type(text, { delay: 20 });
  await h.sleep(100);
}

// Types lines into a multi-line field (redirect URIs). Enter is a key, read
// once per frame: it is held across frames like the mouse button.
async function pressKey(page, key) {
  await h.sleep(100);
  await page.keyboard.down(key);
  await h.sleep(80);
  await page.keyboard.up(key);
  await h.sleep(80);
}

async function typeLines(page, name, lines) {
  await clickItem(page, name);
  await waitProbe(page, (s) => s.typing, `typing into ${name}`);
  for (const [i, line] of lines.entries()) {
    if (i > 0) await pressKey(page, 'Enter');
    await page.keyboard.type(line, { delay: 20 });
  }
  await h.sleep(100);
}

// The action's outcome as the console shows it, whether accepted or refused.
async function actionFinished(page, before, name) {
  const p = await waitProbe(page, (s) => s.last_action.count > before && !s.last_action.pending, `action ${name}`);
  assert.equal(p.last_action.name, name);
  return p.last_action;
}

async function actionDone(page, before, name) {
  const p = await waitProbe(page, (s) => s.last_action.count > before && !s.last_action.pending, `action ${name}`);
  assert.equal(p.last_action.name, name);
  assert.ok(p.last_action.ok, `${name}: ${p.last_action.message}`);
}

async function shot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await h.sleep(300);  // a frame or two after the data arrived
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
}

async function openView(page, key) {
  await clickItem(page, `nav:${key}`);
  return waitProbe(page, (s) => s.view === key, `view ${key}`);
}

test.before(async () => {
  for (const f of ['renkei_console.js', 'renkei_console.wasm', 'renkei_console_font.ttf']) {
    if (!fs.existsSync(path.join(h.WASM_DIR, f))) {
      skipReason = `${f} not in ${h.WASM_DIR} (build the wasm preset with the imgui sources)`;
      return;
    }
  }
  oauth = await import('oauth4webapi');
  server = await h.startServer();
  const { chromium } = require('playwright-core');
  browser = await chromium.launch({ executablePath: h.CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});

test.after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('console: log in, every view, lift a lock, revoke a grant and the other actions by clicking', async (t) => {
  if (skipReason) {
    t.skip(skipReason);
    return;
  }
  // The service calendar must be open for the customers' flows.
  const clock = await admin('POST', 'dev/clock', { set: OPEN_TIME });
  assert.equal(clock.status, 200, JSON.stringify(clock.json));
  assert.equal(clock.json.open, true, 'the set time is inside service hours');
  await lockAccount();
  await completeFlow();

  const before = await admin('GET', `accounts?branch=115&type=savings&number=5000005`);
  assert.equal(before.json.lock.locked, true, 'the account is locked before the console lifts it');
  const grantsBefore = await admin('GET', `grants?branch=115&type=ordinary&number=1100026`);
  const active = grantsBefore.json.grants.filter((g) => g.status === 'active');
  assert.equal(active.length, 1, 'one active grant from the completed flow');

  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'ja-JP', timezoneId: 'Asia/Tokyo' });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of/.test(m.text())) {
      problems.push(`console: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  try {
    const res = await page.goto(`${server.base}/console/`);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-security-policy'], /script-src 'self' 'wasm-unsafe-eval'/);
    await page.waitForFunction(() => typeof window.renkeiConsoleProbe === 'function', null, { timeout: 20000 });
    await waitProbe(page, (s) => s.font === 'loaded' && s.items.login_button, 'the Japanese font and the login window');
    await shot(page, '00-login');

    // A wrong token is refused and nothing opens.
    await typeInto(page, 'login_token', 'not-the-token');
    await typeInto(page, 'login_staff', STAFF);
    await clickItem(page, 'login_button');
    const refused = await waitProbe(page, (s) => s.login_error !== '', 'the refusal');
    assert.equal(refused.logged_in, false);
    assert.match(refused.login_error, /unauthorized/);

    await typeInto(page, 'login_token', ADMIN_TOKEN);
    await clickItem(page, 'login_button');
    await waitProbe(page, (s) => s.logged_in && s.view === 'funnel' && s.loaded.funnel, 'login and the funnel');
    await shot(page, '01-funnel');

    // Accounts and locks: look up the locked account, lift with a reason.
    await openView(page, 'accounts');
    await typeInto(page, 'acct_branch', LOCKABLE.account.branch);
    await clickItem(page, 'acct_savings');
    await typeInto(page, 'acct_number', LOCKABLE.account.number);
    await clickItem(page, 'acct_lookup');
    await waitProbe(page, (s) => s.loaded.account && s.items.lift_button, 'the account');
    await shot(page, '02-accounts-locked');
    await typeInto(page, 'lift_reason', 'customer called the branch');
    let count = (await probe(page)).last_action.count;
    await clickItem(page, 'lift_button');
    await actionDone(page, count, 'lift_lock');
    await shot(page, '03-accounts-lifted');
    const after = await admin('GET', `accounts?branch=115&type=savings&number=5000005`);
    assert.equal(after.json.lock.locked, false, 'the console lifted the lock');
    assert.equal(after.json.lock.failures, 0);

    // Grants: the demo account's grant, revoked with a reason.
    await openView(page, 'grants');
    await clickItem(page, 'grant_ordinary');
    await typeInto(page, 'grant_number', DEMO.account.number);
    await clickItem(page, 'grant_lookup');
    await waitProbe(page, (s) => s.loaded.grants && s.items['revoke:0'], 'the grants');
    await typeInto(page, 'grant_reason', 'customer asked to end the link');
    await shot(page, '04-grants');
    count = (await probe(page)).last_action.count;
    await clickItem(page, 'revoke:0');
    await actionDone(page, count, 'revoke_grant');
    await shot(page, '05-grants-revoked');
    const grantsAfter = await admin('GET', `grants?branch=115&type=ordinary&number=1100026`);
    const revoked = grantsAfter.json.grants.find((g) => g.id === active[0].id);
    assert.equal(revoked.status, 'revoked', 'the console revoked the grant');
    assert.equal(revoked.revoked_by, `staff:${STAFF}`);

    // The remaining views, each photographed once its data is in.
    const views = [['clients', '06-clients'], ['audit', '07-audit'], ['calendar', '08-calendar'],
      ['outbox', '09-outbox'], ['dev', '10-dev']];
    for (const [key, file] of views) {
      await openView(page, key);
      await waitProbe(page, (s) => s.loaded[key], `${key} data`);
      await shot(page, file);
    }
    const dev = await probe(page);
    assert.ok(dev.dev_mode, 'the server runs in development mode');
    assert.ok(dev.items['dev_call_row:0'], 'the flow waiting at ④ is listed');
    assert.ok(dev.items['clock:3600'], 'the movable clock can be moved');

    // Development: the waiting flow gets its simulated call.
    count = (await probe(page)).last_action.count;
    await clickItem(page, 'dev_call_row:0');
    await actionDone(page, count, 'dev_call');

    // Clients: switch the demo app off and on again, each with a reason.
    await openView(page, 'clients');
    const clients0 = (await admin('GET', 'clients')).json.clients;
    await waitProbe(page, (s) => s.loaded.clients && s.items['client_toggle:demo-app'], 'the clients');
    for (const [name, enabled] of [['disable_client', false], ['enable_client', true]]) {
      await typeInto(page, 'client_reason', `${name} by the console test`);
      count = (await probe(page)).last_action.count;
      await clickItem(page, 'client_toggle:demo-app');
      await actionDone(page, count, name);
      const clients = await admin('GET', 'clients');
      assert.equal(clients.json.clients.find((c) => c.id === 'demo-app').enabled, enabled, name);
      if (!enabled) await shot(page, '11-clients-disabled');
    }

    // Clients (issue 13): register a FAPI 2.0 client with its public key.
    // First with a symmetric key, which the server refuses: the console shows why.
    const clientKeys = await oauth.generateKeyPair('ES256', { extractable: true });
    const pub = await crypto.webcrypto.subtle.exportKey('jwk', clientKeys.publicKey);
    const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: pub.x, y: pub.y, kid: 'console-key-1' }] };
    const FAPI_ID = 'console-fapi';
    const redirect1 = `${server.base}/rp/callback`;
    const redirect2 = `${server.base}/rp/second`;
    const fillFapiForm = async (keySet) => {
      await typeInto(page, 'client_new_id', FAPI_ID);
      await typeInto(page, 'client_new_name', 'Console FAPI app');
      await typeLines(page, 'client_new_uris', [redirect1]);
      await clickItem(page, 'client_profile_fapi2');
      await typeLines(page, 'client_new_jwks', [JSON.stringify(keySet)]);
    };
    await fillFapiForm({ keys: [{ kty: 'oct', k: 'c2VjcmV0LWtleS1ieXRlcw', kid: 'shared' }] });
    count = (await probe(page)).last_action.count;
    await clickItem(page, 'client_register');
    const refusedKeys = await actionFinished(page, count, 'register_client');
    assert.equal(refusedKeys.ok, false, 'a symmetric key is refused');
    assert.match(refusedKeys.message, /bad_request.*jwks/);
    await shot(page, '13-clients-register-refused');
    assert.ok(!(await admin('GET', 'clients')).json.clients.some((c) => c.id === FAPI_ID), 'nothing registered');

    await clickItem(page, 'client_form_clear');
    await fillFapiForm(jwks);
    await typeInto(page, 'client_reason', 'new FAPI app');
    count = (await probe(page)).last_action.count;
    await clickItem(page, 'client_register');
    await actionDone(page, count, 'register_client');
    await waitProbe(page, (s) => s.items[`client_edit:${FAPI_ID}`], 'the new client listed');
    assert.equal((await probe(page)).client_secret_shown, false, 'a FAPI client has no secret');
    await shot(page, '14-clients-registered');
    let listed = (await admin('GET', 'clients')).json.clients.find((c) => c.id === FAPI_ID);
    assert.ok(listed, 'the console registered the client');
    assert.equal(listed.profile, 'fapi2');
    assert.equal(listed.enabled, true);
    assert.deepEqual(listed.redirect_uris, [redirect1]);
    assert.equal(listed.display_name, 'Console FAPI app');
    assert.equal(listed.jwks.keys.length, 1);
    assert.equal(listed.jwks.keys[0].kid, 'console-key-1');
    assert.equal(listed.jwks.keys[0].x, pub.x);

    // Change it: a new name and a second redirect URI (End, Enter, the URI).
    await clickItem(page, `client_edit:${FAPI_ID}`);
    await waitProbe(page, (s) => s.client_editing === FAPI_ID && s.items.client_edit_name, 'the change form');
    await typeInto(page, 'client_edit_name', 'Console FAPI app v2');
    await clickItem(page, 'client_edit_uris');
    await waitProbe(page, (s) => s.typing, 'typing into the URIs');
    await pressKey(page, 'End');
    await pressKey(page, 'Enter');
    await page.keyboard.type(redirect2, { delay: 20 });
    await h.sleep(100);
    count = (await probe(page)).last_action.count;
    await clickItem(page, 'client_update');
    await actionDone(page, count, 'update_client');
    listed = (await admin('GET', 'clients')).json.clients.find((c) => c.id === FAPI_ID);
    assert.equal(listed.display_name, 'Console FAPI app v2');
    assert.deepEqual(listed.redirect_uris, [redirect1, redirect2]);
    assert.equal(listed.jwks.keys[0].kid, 'console-key-1', 'the keys were not sent, so kept');

    // The demo app comes from the configuration file: its name is refused there.
    await clickItem(page, 'client_edit:demo-app');
    await waitProbe(page, (s) => s.client_editing === 'demo-app', 'the change form of demo-app');
    await typeInto(page, 'client_edit_name', 'Renamed demo');
    count = (await probe(page)).last_action.count;
    await clickItem(page, 'client_update');
    const inConfig = await actionFinished(page, count, 'update_client');
    assert.equal(inConfig.ok, false);
    assert.match(inConfig.message, /client_in_config/);
    await clickItem(page, 'client_edit_cancel');
    assert.equal((await admin('GET', 'clients')).json.clients.find((c) => c.id === 'demo-app').display_name,
      clients0.find((c) => c.id === 'demo-app').display_name);

    // The registered client is usable at once: a pushed authorization request
    // with private_key_jwt (its registered key) and DPoP, to the new URI.
    const insecure = { [oauth.allowInsecureRequests]: true };
    const issuer = new URL(server.base);
    const as = await oauth.processDiscoveryResponse(
      issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
    const status = await admin('GET', 'status');
    const rp = { client_id: FAPI_ID, [oauth.clockSkew]: status.json.now_unix - Math.floor(Date.now() / 1000) };
    const parResponse = await oauth.pushedAuthorizationRequest(as, rp,
      oauth.PrivateKeyJwt({ key: clientKeys.privateKey, kid: 'console-key-1' }), {
        response_type: 'code', redirect_uri: redirect2, scope: 'accounts.read',
        state: oauth.generateRandomState(),
        code_challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()),
        code_challenge_method: 'S256',
      }, { DPoP: oauth.DPoP(rp, await oauth.generateKeyPair('ES256')), ...insecure });
    const pushed = await oauth.processPushedAuthorizationResponse(as, rp, parResponse);
    assert.match(pushed.request_uri, /^urn:ietf:params:oauth:request_uri:/);

    // A confidential OAuth client: its secret is shown once, then closed.
    await typeInto(page, 'client_new_id', 'console-oauth');
    await typeInto(page, 'client_new_name', 'Console OAuth app');
    await typeLines(page, 'client_new_uris', [redirect1]);
    await clickItem(page, 'client_profile_oauth');
    await clickItem(page, 'client_new_confidential');
    count = (await probe(page)).last_action.count;
    await clickItem(page, 'client_register');
    await actionDone(page, count, 'register_client');
    await waitProbe(page, (s) => s.client_secret_shown && s.items.client_secret_close, 'the secret shown once');
    await shot(page, '15-clients-secret');
    const oauthClient = (await admin('GET', 'clients')).json.clients.find((c) => c.id === 'console-oauth');
    assert.equal(oauthClient.profile, 'oauth');
    assert.equal(oauthClient.confidential, true);
    assert.ok(!('client_secret' in oauthClient) && !('secret_digest' in oauthClient), 'the list has no secret');
    await clickItem(page, 'client_secret_close');
    await waitProbe(page, (s) => !s.client_secret_shown && !s.items.client_secret, 'the secret gone');

    // Calendar: announce a maintenance window, then remove it.
    await openView(page, 'calendar');
    await waitProbe(page, (s) => s.loaded.calendar, 'the windows');
    await typeInto(page, 'window_start', '2026-12-10T01:00:00+09:00');
    await typeInto(page, 'window_end', '2026-12-10T03:00:00+09:00');
    await typeInto(page, 'window_label', 'console test window');
    count = (await probe(page)).last_action.count;
    await clickItem(page, 'window_add');
    await actionDone(page, count, 'add_window');
    const added = (await admin('GET', 'calendar/windows')).json.windows.find((w) => w.label === 'console test window');
    assert.ok(added, 'the window was announced');
    await waitProbe(page, (s) => s.items[`window_remove:${added.id}`], 'the new window listed');
    await shot(page, '12-calendar-window');
    count = (await probe(page)).last_action.count;
    await clickItem(page, `window_remove:${added.id}`);
    await actionDone(page, count, 'remove_window');
    const windows = (await admin('GET', 'calendar/windows')).json.windows;
    assert.ok(!windows.some((w) => w.id === added.id), 'the window was removed');

    // Development: move the clock an hour ahead.
    await openView(page, 'dev');
    const offsetBefore = (await admin('GET', 'status')).json.clock_offset_seconds;
    count = (await probe(page)).last_action.count;
    await clickItem(page, 'clock:3600');
    await actionDone(page, count, 'advance_clock');
    const offsetAfter = (await admin('GET', 'status')).json.clock_offset_seconds;
    assert.equal(offsetAfter - offsetBefore, 3600, 'the clock moved one hour');

    // Both actions are in the operation log with the staff member's name.
    const audit = await admin('GET', 'audit?limit=300');
    const steps = audit.json.records.filter((r) => r.actor === `staff:${STAFF}`).map((r) => r.step);
    assert.ok(steps.includes('admin.lift_lock'), JSON.stringify(steps));
    for (const step of ['admin.revoke_grant', 'admin.simulate_call', 'admin.disable_client', 'admin.enable_client',
      'admin.add_window', 'admin.remove_window', 'admin.advance_clock', 'admin.register_client',
      'admin.update_client']) {
      assert.ok(steps.includes(step), `${step} in ${JSON.stringify(steps)}`);
    }
    const lift = audit.json.records.find((r) => r.step === 'admin.lift_lock');
    assert.match(lift.detail, /customer called the branch/);

    assert.deepEqual(problems, [], 'the page logged no errors (CSP, WebGL, scripts)');
  } catch (e) {
    e.message += `\n--- page problems ---\n${problems.join('\n')}\n--- server log tail ---\n${server.log().slice(-3000)}`;
    throw e;
  } finally {
    await context.close();
  }
});

test('console: served at /console/ in every mode, module and font from the wasm folder', async (t) => {
  if (skipReason) {
    t.skip(skipReason);
    return;
  }
  const folder = await fetch(`${server.base}/console`, { redirect: 'manual' });
  assert.equal(folder.status, 301);
  assert.equal(new URL(folder.headers.get('location'), server.base).pathname, '/console/');
  const page = await fetch(`${server.base}/console/`);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.doesNotMatch(html, /<script>|<style>|style=/, 'no inline script or style (CSP)');
  assert.match(html, /\/static\/wasm\/renkei_console\.[0-9a-f]{16}\.js/, 'the module is named with its content hash');
  for (const [file, type] of [['renkei_console.wasm', 'application/wasm'], ['renkei_console_font.ttf', 'font/ttf']]) {
    const res = await fetch(`${server.base}/static/wasm/${file}`, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(res.status, 200, file);
    assert.equal(res.headers.get('content-type'), type);
    assert.equal(res.headers.get('content-encoding'), 'gzip', `${file} is sent gzipped`);
    assert.equal((await res.arrayBuffer()).byteLength, fs.statSync(path.join(h.WASM_DIR, file)).size);
  }
  // Nothing else of the wasm folder is served.
  const other = await fetch(`${server.base}/static/wasm/CMakeCache.txt`);
  assert.equal(other.status, 404);
  // The page is harmless without the token; the API it calls is not open.
  const api = await fetch(`${server.base}/admin/api/status`);
  assert.equal(api.status, 401);
});
