'use strict';
// Several instances behind a real load balancer (issue 9): scripts/start-cluster.sh
// on a free port (a private PostgreSQL 15, three renkei-server instances,
// HAProxy with balance roundrobin and no stickiness), then
//   - a complete flow in chromium through HAProxy, answered by several instances;
//   - a call posted to instance B verifies a flow started on instance A;
//   - 100 parallel wrong ② attempts on one account over all instances count
//     exactly the lockout limit, and every instance sees the lock (B84);
//   - the same for 100 parallel wrong PINs at ⑤ (flows of one other account);
//   - result mails written on three instances are delivered exactly once;
//   - a FAPI 2.0 client registered on A is used at once on B and C, and a
//     client assertion seen on B is refused as a replay on C (issue 13);
//   - a content-hashed static name an instance answers 404 (a rolling
//     deployment's other build) is asked of the other instances; nothing
//     else is retried;
//   - one instance killed with kill -9 in the middle of a flow: the flow
//     finishes on the others and what was acknowledged is there.
// The kill comes last: the tests before it need all three instances.
//
// Environment: RENKEI_SERVER_BIN, RENKEI_WASM_DIR (as the browser tests).

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const h = require('../browser/harness.cjs');

const REPO = path.resolve(__dirname, '..', '..');
const SCRIPT = path.join(REPO, 'scripts', 'start-cluster.sh');
const ADMIN_TOKEN = 'renkei-development-admin-token';      // kDevAdminToken
const WEBHOOK_SECRET = 'renkei-development-webhook-secret'; // kDevWebhookSecret
const LOCKOUT_LIMIT = 5;                                    // config/dev.json

// The demo data set (server/src/records/records.cpp) in the API's member names;
// h.DEMO (tests/browser/harness.cjs) is the same customer as the screens take it.
const DEMO = {
  account: { branch: '115', account_type: 'ordinary', account_number: '1100026' },
  customer: {
    name_kana: 'ﾃﾞｰﾀ ｻﾄﾙ', birth_year: '1985', birth_month: '04', birth_day: '12',
    phone: '09011113333', email: 'satoru@example.com', email_confirm: 'satoru@example.com',
  },
  pin: '1234',
};
const LOCKABLE = {
  account: { branch: '115', account_type: 'savings', account_number: '5000005' },
  customer: {
    name_kana: 'ｺﾊﾞﾔｼ ｹﾝ', birth_year: '1995', birth_month: '05', birth_day: '06',
    phone: '09055556666', email: 'ken@example.com', email_confirm: 'ken@example.com',
  },
};

// A second account for the PIN lockout (⑤): C0002, 001 貯蓄 0000123, PIN 4321.
const PIN_LOCKABLE = {
  account: { branch: '001', account_type: 'savings', account_number: '0000123' },
  customer: {
    name_kana: 'ﾔﾏﾀﾞ ﾊﾅｺ', birth_year: '1990', birth_month: '12', birth_day: '01',
    phone: '08022224444', email: 'hanako@example.com', email_confirm: 'hanako@example.com',
  },
  pin: '4321',
};

// ---------- the cluster ----------

async function startCluster() {
  const port = await h.freePort();
  const child = spawn('bash', [SCRIPT, '--port', String(port), '--no-build'], {
    cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: process.env,
  });
  let out = '';
  let exited = false;
  child.on('exit', () => { exited = true; });
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const deadline = Date.now() + 90000;
  while (!/cluster ready: /.test(out)) {
    if (exited || Date.now() > deadline) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch (e) { /* gone */ }
      throw new Error(`start-cluster.sh did not get ready:\n${out}`);
    }
    await h.sleep(100);
  }
  const instances = {};
  for (const m of out.matchAll(/^instance (\w+) (\S+) pid (\d+) maildir (\S+)$/gm)) {
    instances[m[1]] = { name: m[1], url: m[2], pid: Number(m[3]), maildir: m[4] };
  }
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (exited) return;
    try { process.kill(-child.pid, 'SIGTERM'); } catch (e) { return; }
    const until = Date.now() + 30000;
    while (!exited && Date.now() < until) await h.sleep(100);
    if (!exited) { try { process.kill(-child.pid, 'SIGKILL'); } catch (e) { /* gone */ } }
  };
  process.on('exit', () => { if (!exited) { try { process.kill(-child.pid, 'SIGTERM'); } catch (e) { /* gone */ } } });
  return { base, port, instances, stop, log: () => out, exited: () => exited };
}

async function admin(url, method, p, body) {
  const res = await fetch(url + p, {
    method,
    headers: {
      Authorization: `Bearer ${ADMIN_TOKEN}`,
      'X-Renkei-Staff': 'cluster-tests',
      ...(body ? { 'Content-Type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

// Near the night windows (SPEC §6) every instance's movable clock goes to
// 10:00 JST, as the browser harness does for one server.
async function intoServiceHours(cluster) {
  const jstNow = new Date(Date.now() + 9 * 3600 * 1000);
  const minute = jstNow.getUTCHours() * 60 + jstNow.getUTCMinutes();
  if (minute < 23 * 60 + 30 && minute >= 8 * 60 + 30) return;
  const day = jstNow.toISOString().slice(0, 10);
  // One offset for every instance, computed once: `set` would make each
  // offset from that instance's own second, and a second boundary between
  // two calls left one clock a second behind the others (a call posted to B
  // then fell before the window A had opened: call_not_matched).
  const target = Date.parse(`${day}T10:00:00+09:00`) / 1000;
  const advance = target - Math.floor(Date.now() / 1000);
  for (const i of Object.values(cluster.instances)) {
    await admin(i.url, 'POST', '/admin/api/dev/clock', { advance_seconds: advance });
  }
}

// ---------- a flow over fetch (its own cookie jar of one cookie) ----------

const b64url = (buf) => buf.toString('base64url');

class Flow {
  // `redirectBase`: the address of the registered redirect (HAProxy's) when
  // the requests go to one instance.
  constructor(base, redirectBase = undefined) {
    this.base = base;       // where the requests go (HAProxy or one instance)
    this.redirectBase = redirectBase;
    this.cookie = '';
    this.csrf = null;
    this.answeredBy = [];   // X-Renkei-Instance of every answer
    this.verifier = b64url(crypto.randomBytes(32));
    this.state = b64url(crypto.randomBytes(12));
  }

  async req(method, p, body, base = this.base) {
    const headers = {};
    if (this.cookie) headers.Cookie = this.cookie;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['X-CSRF-Token'] = this.csrf;
    }
    const res = await fetch(base + p, {
      method, headers, redirect: 'manual',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0];
      if (/session=/.test(pair)) this.cookie = pair;
    }
    this.answeredBy.push(res.headers.get('x-renkei-instance'));
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
    if (json && json.csrf_token) this.csrf = json.csrf_token;
    return { status: res.status, json, text, headers: res.headers };
  }

  async start() {
    const q = new URLSearchParams({
      response_type: 'code', client_id: 'demo-app', redirect_uri: `${this.redirectBase || this.base}/demo/callback`,
      state: this.state, scope: 'accounts.read',
      code_challenge: b64url(crypto.createHash('sha256').update(this.verifier).digest()),
      code_challenge_method: 'S256',
    });
    const r = await this.req('GET', `/authorize?${q}`);
    assert.equal(r.status, 200, `authorize: ${r.text.slice(0, 200)}`);  // the flow page itself
    assert.ok(this.cookie, 'a session cookie');
    const f = await this.req('GET', '/api/flow');
    assert.equal(f.status, 200, f.text);
    assert.ok(this.csrf);
    return f;
  }

  async ok(p, body) {
    const r = await this.req('POST', p, body);
    assert.equal(r.status, 200, `${p}: ${r.status} ${r.text}`);
    return r.json;
  }

  // ① and ② (right identity) and ③: the flow waits for the call.
  async toCall(who = DEMO) {
    await this.start();
    await this.ok('/api/flow/account', who.account);
    await this.ok('/api/flow/customer', who.customer);
    const r = await this.ok('/api/flow/phone', {});
    this.dialled = r.flow.call.dialled_number;
    return r;
  }

  async consent() {
    const r = await this.ok('/api/flow/consent', { consent: true });
    const to = new URL(r.redirect_to);
    assert.equal(to.searchParams.get('state'), this.state);
    this.code = to.searchParams.get('code');
    assert.ok(this.code, r.redirect_to);
    return r;
  }

  async token() {
    const res = await fetch(`${this.base}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code: this.code, client_id: 'demo-app',
        redirect_uri: `${this.redirectBase || this.base}/demo/callback`, code_verifier: this.verifier,
      }),
    });
    const json = await res.json();
    assert.equal(res.status, 200, JSON.stringify(json));
    this.accessToken = json.access_token;
    return json;
  }

  // The whole flow with the simulated call (dev mode), through `base`.
  async complete() {
    await this.toCall();
    await this.ok('/dev/simulate-call', {});
    await this.ok('/api/flow/call/confirm', {});
    await this.ok('/api/flow/pin', { pin: DEMO.pin });
    await this.consent();
  }
}

// `nowUnix`: the receiving instance's clock, which the tests move into
// service hours at night; the webhook's replay window compares the timestamp
// with that clock (a timestamp of the real time would be "stale" then).
function signedCall(body, nowUnix = Math.floor(Date.now() / 1000)) {
  const ts = String(nowUnix);
  const text = JSON.stringify(body);
  const sig = crypto.createHmac('sha256', WEBHOOK_SECRET).update(`${ts}.${text}`).digest('hex');
  return {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Renkei-Timestamp': ts, 'X-Renkei-Signature': `sha256=${sig}` },
    body: text,
  };
}

function mailFiles(dir) {
  const files = [];
  for (const sub of ['new', 'cur']) {
    const d = path.join(dir, sub);
    if (fs.existsSync(d)) for (const f of fs.readdirSync(d)) files.push(path.join(d, f));
  }
  return files;
}

// ---------- the tests ----------

let cluster;
const lockedBefore = [];  // accounts (admin query) the lockout tests locked

test.before(async () => {
  cluster = await startCluster();
  assert.deepEqual(Object.keys(cluster.instances).sort(), ['a', 'b', 'c'], cluster.log());
  await intoServiceHours(cluster);
});

test.after(async () => {
  if (cluster) await cluster.stop();
});

test('the demo data was seeded once although three instances started at once', async () => {
  // Every instance sees the same demo account; a second seed would have
  // doubled its history (and the balance it ends at stays the seeded one).
  const seen = [];
  for (const i of Object.values(cluster.instances)) {
    const r = await admin(i.url, 'GET', '/admin/api/accounts?branch=115&type=ordinary&number=1100026');
    seen.push(r.account.key);
  }
  assert.equal(new Set(seen).size, 1);
  const flow = new Flow(cluster.base);
  await flow.complete();
  await flow.token();
  const res = await fetch(`${cluster.base}/api/v1/account/transactions?limit=50`, {
    headers: { Authorization: `Bearer ${flow.accessToken}` },
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  // A second seed adds the same history again: equal entries under new ids.
  const keys = body.transactions.map((t) => `${t.date} ${t.description} ${t.amount_yen} ${t.balance_after_yen}`);
  assert.ok(keys.length > 0);
  assert.equal(new Set(keys).size, keys.length, 'no transaction appears twice');
});

test('chromium: a complete flow through HAProxy, answered by several instances', async (t) => {
  const browser = await h.launchBrowser();
  try {
    const { context, page } = await h.newPage(browser, 1280);
    const apiAnswers = [];
    page.on('response', (res) => {
      if (new URL(res.url()).pathname.startsWith('/api/')) apiAnswers.push(res.headers()['x-renkei-instance']);
    });
    // The demo customer (h.DEMO): ① sent, then ②–⑥ walked (harness).
    await h.openDemo(page, cluster.base);
    await h.submitAccount(page, h.DEMO.account);
    await h.walkScreens(page);
    await page.waitForURL(/\/demo\/callback/);
    await page.waitForSelector('#account-section:not([hidden])');
    assert.deepEqual(page.problems, [], 'the page logged no errors');
    const names = apiAnswers.filter(Boolean);
    t.diagnostic(`API answers by instance: ${names.join(' ')}`);
    assert.ok(names.length >= 6, `API answers: ${JSON.stringify(apiAnswers)}`);
    assert.ok(new Set(names).size >= 2, `at least two instances answered: ${JSON.stringify(names)}`);
    await context.close();
  } finally {
    await browser.close();
  }
});

test('a call posted to instance B verifies a flow started on instance A', async () => {
  const { a, b, c } = cluster.instances;
  const flow = new Flow(a.url, cluster.base);  // the registered redirect is HAProxy's address
  await flow.toCall();
  assert.ok(flow.answeredBy.every((n) => n === 'a'), JSON.stringify(flow.answeredBy));
  const clock = await admin(b.url, 'POST', '/admin/api/dev/clock', { advance_seconds: 0 });
  const res = await fetch(`${b.url}/telephony/calls`, signedCall({
    call_id: `cluster-${crypto.randomUUID()}`, caller: DEMO.customer.phone, dialled: flow.dialled,
  }, clock.now_unix));
  const answer = await res.json();
  assert.equal(res.headers.get('x-renkei-instance'), 'b');
  assert.equal(res.status, 200, JSON.stringify(answer));
  assert.equal(answer.matched, true, JSON.stringify(answer));
  // Instance C sees the call verified and takes the flow on to ⑤.
  const r = await flow.req('POST', '/api/flow/call/confirm', {}, c.url);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.flow.screen, 'pin_entry');
  assert.equal(r.headers.get('x-renkei-instance'), 'c');
});

// N flows of one account through HAProxy, each brought to the screen of the
// attack by `prepare(f)` (`batch` flows at a time), then every flow sends the
// same wrong `body` to `path`, all at once. The instances share one count:
// every attempt is refused, exactly the lockout limit is counted (the last
// one as locked_now), and every instance sees the account (admin `query`)
// locked. Resolves to the flows and their answers (in the same order).
async function parallelWrongAttempts(t, { N, batch, prepare, path, body, query }) {
  const flows = Array.from({ length: N }, () => new Flow(cluster.base));
  for (let i = 0; i < N; i += batch) {
    await Promise.all(flows.slice(i, i + batch).map(prepare));
  }
  const answers = await Promise.all(flows.map((f) => f.req('POST', path, body)));
  const tally = {};
  for (const r of answers) {
    const code = r.json && r.json.error ? r.json.error.code : `status ${r.status}`;
    tally[code] = (tally[code] || 0) + 1;
  }
  const instances = new Set(answers.map((r) => r.headers.get('x-renkei-instance')));
  t.diagnostic(`answers: ${JSON.stringify(tally)}; instances: ${[...instances].sort()}`);
  assert.equal(instances.size, 3, `every instance answered some: ${[...instances]}`);
  // Every attempt was refused; those after the limit as locked.
  assert.equal(answers.filter((r) => r.status === 200).length, 0, JSON.stringify(tally));
  assert.equal(tally.auth_mismatch || 0, LOCKOUT_LIMIT - 1, JSON.stringify(tally));
  assert.equal(tally.locked_now || 0, 1, JSON.stringify(tally));
  // The rest: locked, or busy (503: more than an instance's max_in_flight at
  // once, refused before anything was read or counted).
  assert.equal((tally.locked || 0) + (tally.busy || 0), N - LOCKOUT_LIMIT, JSON.stringify(tally));
  for (const i of Object.values(cluster.instances)) {
    const r = await admin(i.url, 'GET', `/admin/api/accounts?${query}`);
    assert.equal(r.lock.failures, LOCKOUT_LIMIT, `instance ${i.name}: ${JSON.stringify(r.lock)}`);
    assert.equal(r.lock.locked, true, `instance ${i.name}`);
  }
  return { flows, answers };
}

// A new flow of `who` on instance `i`, its ① sent: the answer of its ②.
async function secondAttempt(i, who) {
  const f = new Flow(i.url, cluster.base);
  await f.start();
  await f.ok('/api/flow/account', who.account);
  return f.req('POST', '/api/flow/customer', who.customer);
}

test('100 parallel wrong ② attempts over all instances count exactly the lockout limit', async (t) => {
  const query = 'branch=115&type=savings&number=5000005';
  // Every attempt has its own flow, at ② (10 at a time to build them).
  await parallelWrongAttempts(t, {
    N: 100,
    batch: 10,
    prepare: async (f) => {
      await f.start();
      await f.ok('/api/flow/account', LOCKABLE.account);
    },
    path: '/api/flow/customer',
    body: { ...LOCKABLE.customer, birth_day: '07' },
    query,
  });
  // A new flow on every instance is told the account is locked (B84).
  for (const i of Object.values(cluster.instances)) {
    const r = await secondAttempt(i, LOCKABLE);
    assert.notEqual(r.status, 200, r.text);
    assert.equal(r.json.error.reason, 'B84', `instance ${i.name}: ${r.text}`);
  }
  lockedBefore.push(query);
});

test('100 parallel wrong ⑤ PINs over all instances count exactly the lockout limit', async (t) => {
  const query = 'branch=001&type=savings&number=0000123';
  // Every attempt has its own flow of the same account, taken to ⑤ (right
  // ②, the simulated call). The flows of one phone wait for a call on
  // different numbers of the pool of three, so three are built at a time.
  const { flows, answers } = await parallelWrongAttempts(t, {
    N: 100,
    batch: 3,
    prepare: async (f) => {
      await f.toCall(PIN_LOCKABLE);
      await f.ok('/dev/simulate-call', {});
      const r = await f.ok('/api/flow/call/confirm', {});
      assert.equal(r.flow.screen, 'pin_entry');
    },
    path: '/api/flow/pin',
    body: { pin: PIN_LOCKABLE.pin === '9999' ? '9998' : '9999' },
    query,
  });
  // On every instance: a flow still at ⑤ (its wrong PIN was only counted)
  // now brings the right PIN and is refused as locked (B84), and a new flow
  // of the account is refused at ② (B84).
  const atPin = flows.filter((f, k) => answers[k].json && answers[k].json.error &&
                                        answers[k].json.error.code === 'auth_mismatch');
  assert.ok(atPin.length >= 3, `${atPin.length} flows still at ⑤`);
  for (const [k, i] of Object.values(cluster.instances).entries()) {
    const r = await atPin[k].req('POST', '/api/flow/pin', { pin: PIN_LOCKABLE.pin }, i.url);
    assert.equal(r.headers.get('x-renkei-instance'), i.name);
    assert.equal(r.status, 403, `instance ${i.name}: ${r.text}`);
    assert.equal(r.json.error.reason, 'B84', `instance ${i.name}: ${r.text}`);
    const second = await secondAttempt(i, PIN_LOCKABLE);
    assert.equal(second.status, 403, second.text);
    assert.equal(second.json.error.reason, 'B84', `instance ${i.name}: ${second.text}`);
  }
  lockedBefore.push(query);
});

test('result mails written on three instances are each delivered exactly once', async (t) => {
  const before = Object.values(cluster.instances).reduce((n, i) => n + mailFiles(i.maildir).length, 0);
  const N = 9;
  // Consents go round the instances; each flow of the demo phone needs a free
  // number of the pool of three, so three flows run at a time.
  for (let i = 0; i < N; i += 3) {
    await Promise.all([0, 1, 2].map(async () => {
      const f = new Flow(cluster.base);
      await f.complete();
    }));
  }
  // Every mail of the outbox is sent once (attempts 1) and the maildirs hold
  // exactly one file per mail, whichever instance claimed it.
  const deadline = Date.now() + 30000;
  let mails;
  for (;;) {
    mails = (await admin(cluster.base, 'GET', '/admin/api/outbox?limit=200')).mails;
    const total = Object.values(cluster.instances).reduce((n, i) => n + mailFiles(i.maildir).length, 0);
    if (mails.every((m) => m.state === 'sent') && total - before >= N) break;
    if (Date.now() > deadline) break;
    await h.sleep(300);
  }
  const perInstance = Object.fromEntries(Object.values(cluster.instances).map((i) => [i.name, mailFiles(i.maildir).length]));
  const total = Object.values(perInstance).reduce((a, b) => a + b, 0);
  t.diagnostic(`mail files per instance: ${JSON.stringify(perInstance)}; outbox: ${mails.length}`);
  assert.ok(mails.every((m) => m.state === 'sent'), JSON.stringify(mails.map((m) => m.state)));
  assert.ok(mails.every((m) => m.attempts === 1), JSON.stringify(mails.map((m) => m.attempts)));
  assert.equal(total, mails.length, `one file per mail: ${JSON.stringify(perInstance)}, ${mails.length} mails`);
  assert.ok(total - before >= N);
  // The Message-Ids (or whole files) are all different: no mail twice.
  const bodies = Object.values(cluster.instances).flatMap((i) => mailFiles(i.maildir)).map((f) => fs.readFileSync(f, 'utf8'));
  const ids = bodies.map((b) => (b.match(/^Message-I[dD]: *(.*)$/m) || [null, b])[1]);
  assert.equal(new Set(ids).size, ids.length, 'no mail delivered twice');
});

// FAPI 2.0 (issue 13): a client registered through the admin API of one
// instance is used at once on the others (it is in the shared store), and the
// replay cache of client assertions is shared too. oauth4webapi signs.
test('a FAPI client registered on A pushes on B and authorizes on C; a replayed assertion is refused on C', async () => {
  const oauth = await import('oauth4webapi');
  const { a, b, c } = cluster.instances;
  const keys = await oauth.generateKeyPair('ES256', { extractable: true });
  const jwk = await crypto.webcrypto.subtle.exportKey('jwk', keys.publicKey);
  const id = `cluster-fapi-${crypto.randomUUID().slice(0, 8)}`;
  const redirectUri = `${cluster.base}/rp/callback`;
  await admin(a.url, 'POST', '/admin/api/clients', {
    id, display_name: 'FAPI cluster', redirect_uris: [redirectUri], profile: 'fapi2',
    jwks: { keys: [{ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid: 'k1' }] },
  });
  const insecure = { [oauth.allowInsecureRequests]: true };
  const issuer = new URL(cluster.base);
  const as = await oauth.processDiscoveryResponse(
    issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  const clock = await admin(a.url, 'POST', '/admin/api/dev/clock', { advance_seconds: 0 });
  const client = { client_id: id, [oauth.clockSkew]: clock.now_unix - Math.floor(Date.now() / 1000) };
  let sentBody = '';
  const capture = {
    [oauth.customFetch]: (url, init) => { sentBody = init.body.toString(); return fetch(url, init); },
  };
  const verifier = oauth.generateRandomCodeVerifier();
  const res = await oauth.pushedAuthorizationRequest(
    { ...as, pushed_authorization_request_endpoint: `${b.url}/par` }, client,
    oauth.PrivateKeyJwt({ key: keys.privateKey, kid: 'k1' }),
    {
      response_type: 'code', redirect_uri: redirectUri, state: 'st-cluster',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }, { ...insecure, ...capture });
  assert.equal(res.headers.get('x-renkei-instance'), 'b');
  const pushed = await oauth.processPushedAuthorizationResponse(as, client, res);

  // The same request, assertion and all, sent again to C: its jti was seen on B.
  const replay = await fetch(`${c.url}/par`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: sentBody,
  });
  assert.equal(replay.status, 401);
  assert.match((await replay.json()).error_description, /jti was already used/);

  // C takes the pushed request into a flow (the flow page); A refuses it a second time.
  const q = '?' + new URLSearchParams({ client_id: id, request_uri: pushed.request_uri });
  const first = await fetch(`${c.url}/authorize${q}`, { redirect: 'manual' });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('location'), null);
  assert.match(await first.text(), /<title>API連携認証<\/title>/);
  const again = await fetch(`${a.url}/authorize${q}`, { redirect: 'manual' });
  assert.equal(again.status, 400);
});

// Rolling deployments (docs/deployment.md): the page of one build names
// content-hashed files (flow-bundle.<hash>.js: the core's glue and flow.js)
// that an instance of the other build answers 404. HAProxy then asks the
// other instances for such a name; nothing else is ever sent twice. Here no
// instance has the name, so every attempt is seen in the instances' logs.
test('a content-hashed static file one instance lacks is asked of the others; nothing else is retried', async () => {
  const tmp = path.dirname(cluster.instances.a.maildir);
  const attempts = (p) => Object.keys(cluster.instances).map((n) => {
    const log = fs.readFileSync(path.join(tmp, `${n}.log`), 'utf8');
    return log.split(`"path":"${p}"`).length - 1;
  });
  const total = (p) => attempts(p).reduce((a, b) => a + b, 0);
  const settled = async (p, want) => {
    for (let i = 0; i < 50 && total(p) < want; i++) await h.sleep(20);
    await h.sleep(100);  // a late, unexpected attempt would show up too
    return attempts(p);
  };
  const hex = () => crypto.randomBytes(8).toString('hex');

  const hashed = `/static/flow-bundle.${hex()}.js`;
  const res = await fetch(cluster.base + hashed);
  assert.equal(res.status, 404);
  const each = await settled(hashed, 3);
  assert.equal(each.reduce((a, b) => a + b, 0), 3, `one attempt and two retries: ${each}`);
  assert.ok(each.filter((n) => n > 0).length >= 2, `on other instances: ${each}`);

  for (const [method, p] of [['POST', `/static/flow-bundle.${hex()}.js`],
    ['GET', `/static/unhashed-${hex()}.js`], ['GET', `/api/nothing.${hex()}.js`]]) {
    const r = await fetch(cluster.base + p, { method });
    assert.ok(r.status >= 400, `${method} ${p}: ${r.status}`);
    await r.arrayBuffer();
    assert.equal((await settled(p, 1)).reduce((a, b) => a + b, 0), 1, `${method} ${p} was sent once`);
  }
});

test('kill -9 of one instance in the middle of a flow: the flow finishes on the others', async (t) => {
  const flow = new Flow(cluster.base);
  await flow.toCall();
  await flow.ok('/dev/simulate-call', {});
  // The instance that answered last dies; before that it acknowledges one
  // more thing: a code, issued (committed) by it alone.
  const victim = Object.values(cluster.instances).find((i) => i.name === flow.answeredBy.at(-1));
  const onVictim = new Flow(victim.url, cluster.base);
  await onVictim.complete();
  assert.ok(onVictim.answeredBy.every((n) => n === victim.name));
  // Reads in flight through HAProxy while it dies: each one is answered by
  // an instance (200) or, if the dead one had it, fails: 502 from HAProxy,
  // or the connection cut when the answer had already begun. Nothing else.
  const reads = Array.from({ length: 30 }, () => fetch(`${cluster.base}/healthz`)
    .then((r) => r.status, () => 'network error'));
  process.kill(victim.pid, 'SIGKILL');
  const statuses = await Promise.all(reads);
  t.diagnostic(`in-flight reads at the kill: ${JSON.stringify(statuses)}`);
  assert.ok(statuses.every((st) => [200, 502, 503, 'network error'].includes(st)), JSON.stringify(statuses));
  assert.ok(statuses.filter((st) => st === 200).length >= 15, JSON.stringify(statuses));
  const after = flow.answeredBy.length;
  await flow.ok('/api/flow/call/confirm', {});
  await flow.ok('/api/flow/pin', { pin: DEMO.pin });
  await flow.consent();
  await flow.token();
  const answered = flow.answeredBy.slice(after);
  t.diagnostic(`killed ${victim.name}; before: ${flow.answeredBy.slice(0, after)}; after: ${answered}`);
  assert.ok(!answered.includes(victim.name), `the dead instance answered nothing: ${answered}`);
  // What the dead instance acknowledged is there: its code exchanges on the others.
  onVictim.base = cluster.base;
  await onVictim.token();
  // The tokens work on every survivor, and requests through HAProxy all succeed.
  for (const i of Object.values(cluster.instances).filter((x) => x !== victim)) {
    for (const token of [flow.accessToken, onVictim.accessToken]) {
      const res = await fetch(`${i.url}/api/v1/account`, { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200, `instance ${i.name}: ${await res.text()}`);
    }
  }
  // The lockouts counted before the kill (the ② and ⑤ tests, partly by the
  // dead instance) are still exact and in force on every survivor.
  for (const i of Object.values(cluster.instances).filter((x) => x !== victim)) {
    for (const q of lockedBefore) {
      const r = await admin(i.url, 'GET', `/admin/api/accounts?${q}`);
      assert.equal(r.lock.failures, LOCKOUT_LIMIT, `instance ${i.name}, ${q}: ${JSON.stringify(r.lock)}`);
      assert.equal(r.lock.locked, true, `instance ${i.name}, ${q}`);
    }
  }
  for (let k = 0; k < 6; k++) {
    const res = await fetch(`${cluster.base}/api/v1/account/balance`, { headers: { Authorization: `Bearer ${flow.accessToken}` } });
    assert.equal(res.status, 200);
    assert.notEqual(res.headers.get('x-renkei-instance'), victim.name);
  }
});
