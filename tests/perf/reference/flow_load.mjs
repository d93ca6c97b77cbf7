// The node load client of scripts/bench-reference.sh: N concurrent "users",
// each with its own keep-alive connection (http.Agent, maxSockets 1) and
// cookie jar, running complete authorization-code + PKCE flows back to back
// for a fixed time, against either server:
//
//   --target oidc    panva's oidc-provider (tests/perf/reference/oidc_server.mjs):
//                    /auth → interaction → login → /auth/<uid> → interaction →
//                    consent → /auth/<uid> → redirect with code → /token → /me
//   --target renkei  renkei-server in dev mode (docs/http-api.md): /authorize →
//                    /api/flow → ① ② ③ → /dev/simulate-call → ④ ⑤ ⑥ → /token →
//                    /api/v1/account/balance
//
//   node tests/perf/reference/flow_load.mjs --target oidc|renkei --url http://127.0.0.1:PORT
//        [--clients 8] [--seconds 15] [--client-id ID] [--redirect-uri URI]
//
// Prints per-step latency (p50/p90/p99/max ms), flows/s, errors by
// "step status code", and one line "SUMMARY {json}". Loopback URLs only.
import http from 'node:http';
import crypto from 'node:crypto';

function parseArgs(argv) {
  const o = { target: 'renkei', url: '', clients: 8, seconds: 15, clientId: '', redirectUri: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => { if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`); return argv[++i]; };
    if (a === '--target') o.target = v();
    else if (a === '--url') o.url = v();
    else if (a === '--clients') o.clients = Number(v());
    else if (a === '--seconds') o.seconds = Number(v());
    else if (a === '--client-id') o.clientId = v();
    else if (a === '--redirect-uri') o.redirectUri = v();
    else throw new Error(`unknown option ${a}`);
  }
  const u = new URL(o.url);
  if (u.protocol !== 'http:' || !['127.0.0.1', 'localhost'].includes(u.hostname)) {
    throw new Error('--url must be http://127.0.0.1:PORT');
  }
  if (!['oidc', 'renkei'].includes(o.target)) throw new Error('--target oidc|renkei');
  if (!(o.clients >= 1 && o.clients <= 512) || !(o.seconds > 0 && o.seconds <= 120)) {
    throw new Error('--clients 1..512, --seconds 0..120');
  }
  o.base = `${u.protocol}//${u.host}`;
  o.clientId ||= o.target === 'oidc' ? 'bench-app' : 'demo-app';
  o.redirectUri ||= o.target === 'oidc' ? `${o.base}/cb` : `${o.base}/demo/callback`;
  return o;
}

const b64url = (buf) => buf.toString('base64url');
function pkce() {
  const verifier = b64url(crypto.randomBytes(32));
  return { verifier, challenge: b64url(crypto.createHash('sha256').update(verifier).digest()) };
}

class StepError extends Error {
  constructor(step, status, code) { super(`${step} ${status} ${code}`); this.key = `${step} ${status} ${code}`; }
}

// One user: a keep-alive connection, a cookie jar, timings.
class User {
  constructor(o, stats) {
    this.o = o;
    this.stats = stats;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    this.jar = new Map();
  }

  cookieHeader() { return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '); }
  takeCookies(headers) {
    for (const c of headers['set-cookie'] || []) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) ||
        attrs.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now());
      if (expired || value === '') this.jar.delete(name); else this.jar.set(name, value);
    }
  }

  // One timed request; resolves {status, headers, body}.
  request(step, method, path, { headers = {}, body } = {}) {
    const h = { ...headers };
    if (this.jar.size) h.Cookie = this.cookieHeader();
    if (body !== undefined) h['Content-Length'] = Buffer.byteLength(body);
    const t0 = process.hrtime.bigint();
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.o.base}${path}`, { method, headers: h, agent: this.agent, timeout: 15000 }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          this.stats.record(step, Number(process.hrtime.bigint() - t0) / 1e6);
          this.stats.requests++;
          this.stats.statuses[res.statusCode] = (this.stats.statuses[res.statusCode] || 0) + 1;
          this.takeCookies(res.headers);
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (e) => reject(new StepError(step, 'transport', e.code || e.message)));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => reject(new StepError(step, 'transport', e.code || e.message)));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  async expect(step, method, path, status, opts) {
    const r = await this.request(step, method, path, opts);
    if (r.status !== status) {
      let code = '-';
      try { const j = JSON.parse(r.body); code = typeof j.error === 'object' ? j.error.code : (j.code || j.error || '-'); } catch { /* not JSON */ }
      throw new StepError(step, r.status, code);
    }
    return r;
  }

  pathOf(location) {
    const u = new URL(location, this.o.base);
    return { path: u.pathname + u.search, url: u };
  }

  // ---------------------------------------------------------------- oidc-provider
  async oidcFlow() {
    const o = this.o;
    this.jar.clear();
    const { verifier, challenge } = pkce();
    const state = b64url(crypto.randomBytes(9));
    const q = new URLSearchParams({
      client_id: o.clientId, response_type: 'code', scope: 'openid', redirect_uri: o.redirectUri,
      state, code_challenge: challenge, code_challenge_method: 'S256',
    });
    let r = await this.expect('authorize', 'GET', `/auth?${q}`, 303);
    let loc = this.pathOf(r.headers.location).path;
    r = await this.expect('interaction_login', 'GET', loc, 200);
    if (JSON.parse(r.body).prompt !== 'login') throw new StepError('interaction_login', 200, 'not_login');
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    r = await this.expect('login', 'POST', `${loc}/login`, 303, { headers: form, body: 'login=C0001' });
    r = await this.expect('resume_login', 'GET', this.pathOf(r.headers.location).path, 303);
    loc = this.pathOf(r.headers.location).path;
    r = await this.expect('interaction_consent', 'GET', loc, 200);
    if (JSON.parse(r.body).prompt !== 'consent') throw new StepError('interaction_consent', 200, 'not_consent');
    r = await this.expect('consent', 'POST', `${loc}/consent`, 303, { headers: form, body: '' });
    r = await this.expect('resume_consent', 'GET', this.pathOf(r.headers.location).path, 303);
    const cb = new URL(r.headers.location);
    const code = cb.searchParams.get('code');
    if (!code || cb.searchParams.get('state') !== state) throw new StepError('resume_consent', 303, 'no_code');
    const tokenBody = new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: o.redirectUri, client_id: o.clientId, code_verifier: verifier,
    }).toString();
    r = await this.expect('token', 'POST', '/token', 200, { headers: form, body: tokenBody });
    const { access_token: access } = JSON.parse(r.body);
    if (!access) throw new StepError('token', 200, 'no_access_token');
    r = await this.expect('userinfo', 'GET', '/me', 200, { headers: { Authorization: `Bearer ${access}` } });
    if (JSON.parse(r.body).sub !== 'C0001') throw new StepError('userinfo', 200, 'wrong_sub');
  }

  // ---------------------------------------------------------------- renkei
  async renkeiFlow(index) {
    const o = this.o;
    const acc = ACCOUNTS[index % ACCOUNTS.length];
    this.jar.clear();
    const { verifier, challenge } = pkce();
    const state = `st-${b64url(crypto.randomBytes(9))}`;
    const q = new URLSearchParams({
      response_type: 'code', client_id: o.clientId, redirect_uri: o.redirectUri, state,
      code_challenge: challenge, code_challenge_method: 'S256', scope: 'accounts.read',
    });
    // A started flow answers with screen ①'s page itself (no redirect).
    let r = await this.expect('authorize', 'GET', `/authorize?${q}`, 200);
    if (!r.body.includes('<title>API連携認証</title>')) throw new StepError('authorize', 200, 'not the flow page');
    r = await this.expect('flow', 'GET', '/api/flow', 200);
    let csrf = JSON.parse(r.body).csrf_token;
    const post = async (step, path, body, screen) => {
      const res = await this.request(step, 'POST', path, {
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify(body),
      });
      let j = {};
      try { j = JSON.parse(res.body); } catch { /* not JSON */ }
      if (j.csrf_token) csrf = j.csrf_token;
      if (res.status !== 200 && !(step === 'confirm' && res.status === 409)) {
        throw new StepError(step, res.status, (j.error && j.error.code) || '-');
      }
      if (screen && j.flow?.screen !== screen) throw new StepError(step, 200, `screen ${j.flow?.screen}`);
      return { status: res.status, j };
    };
    await post('account', '/api/flow/account', { branch: acc[0], account_type: acc[1], account_number: acc[2] }, 'customer_entry');
    const email = `load${index % 1000}@example.jp`;
    await post('customer', '/api/flow/customer', {
      name_kana: acc[3], birth_year: acc[4], birth_month: acc[5], birth_day: acc[6], phone: acc[7], email, email_confirm: email,
    }, 'phone_confirm');
    await post('phone', '/api/flow/phone', {}, 'call_wait');
    // As renkei_load_bench: another user's flow of the same demo phone may take the call; call again.
    for (let attempt = 0; ; attempt++) {
      if (attempt >= 50) throw new StepError('confirm', 409, 'call_pending_after_retries');
      await post('simulate', '/dev/simulate-call', {});
      const c = await post('confirm', '/api/flow/call/confirm', {});
      if (c.status === 200) {
        if (c.j.flow?.screen !== 'pin_entry') throw new StepError('confirm', 200, `screen ${c.j.flow?.screen}`);
        break;
      }
      if (c.j.error?.code !== 'call_pending') throw new StepError('confirm', 409, c.j.error?.code || '-');
      this.stats.rematches++;
    }
    await post('pin', '/api/flow/pin', { pin: acc[8] }, 'consent');
    const done = (await post('consent', '/api/flow/consent', { consent: true })).j;
    const cb = new URL(done.redirect_to || '', o.base);
    const code = cb.searchParams.get('code');
    if (!code || cb.searchParams.get('state') !== state) throw new StepError('consent', 200, 'bad_redirect');
    const tokenBody = new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: o.redirectUri, client_id: o.clientId, code_verifier: verifier,
    }).toString();
    r = await this.expect('token', 'POST', '/token', 200, {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: tokenBody,
    });
    const { access_token: access } = JSON.parse(r.body);
    r = await this.expect('balance', 'GET', '/api/v1/account/balance', 200, { headers: { Authorization: `Bearer ${access}` } });
    if (!('balance_yen' in JSON.parse(r.body))) throw new StepError('balance', 200, 'no_balance_yen');
  }
}

// Eligible demo accounts (server/src/records/records.h), as in tests/perf/load_flows.cpp.
const ACCOUNTS = [
  ['115', 'ordinary', '1100026', 'ﾃﾞｰﾀ ｻﾄﾙ', '1985', '04', '12', '09011113333', '1234'],
  ['001', 'savings', '0000123', 'ﾔﾏﾀﾞ ﾊﾅｺ', '1990', '12', '01', '08022224444', '4321'],
  ['022', 'ordinary', '2222222', 'ｽｽﾞｷ ｲﾁﾛｳ', '1972', '07', '07', '07033335555', '5555'],
  ['115', 'savings', '5000005', 'ｺﾊﾞﾔｼ ｹﾝ', '1995', '05', '05', '09055556666', '0000'],
];

class Stats {
  constructor() { this.steps = new Map(); this.errors = {}; this.statuses = {}; this.ok = 0; this.failed = 0; this.requests = 0; this.rematches = 0; }
  record(step, ms) { if (!this.steps.has(step)) this.steps.set(step, []); this.steps.get(step).push(ms); }
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.round((p / 100) * (sorted.length - 1)))];

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const stats = new Stats();
  const start = Date.now();
  const stopAt = start + o.seconds * 1000;
  let next = 0;
  const users = Array.from({ length: o.clients }, () => new User(o, stats));
  await Promise.all(users.map(async (u) => {
    while (Date.now() < stopAt) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      try {
        if (o.target === 'oidc') await u.oidcFlow(); else await u.renkeiFlow(i);
        stats.ok++;
        stats.record('whole_flow', Number(process.hrtime.bigint() - t0) / 1e6);
      } catch (e) {
        stats.failed++;
        const key = e instanceof StepError ? e.key : `exception ${e.message}`;
        stats.errors[key] = (stats.errors[key] || 0) + 1;
      }
    }
    u.agent.destroy();
  }));
  const seconds = (Date.now() - start) / 1000;
  const perS = stats.ok / seconds;
  console.log(`\n== flow_load.mjs: ${o.target} at ${o.base}, ${o.clients} users, node ${process.version} ==`);
  console.log(`${stats.ok} flows ok, ${stats.failed} failed, in ${seconds.toFixed(2)} s: ${perS.toFixed(1)} flows/s, ` +
              `${(stats.requests / seconds).toFixed(0)} requests/s (${(stats.requests / Math.max(1, stats.ok + stats.failed)).toFixed(1)} per flow)`);
  console.log(`${'step'.padEnd(20)} ${'count'.padStart(7)} ${'p50 ms'.padStart(9)} ${'p90 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'max ms'.padStart(9)}`);
  const steps = {};
  for (const [name, v] of stats.steps) {
    v.sort((a, b) => a - b);
    const s = { n: v.length, p50: pct(v, 50), p90: pct(v, 90), p99: pct(v, 99), max: v[v.length - 1] };
    steps[name] = s;
    console.log(`${name.padEnd(20)} ${String(s.n).padStart(7)} ${s.p50.toFixed(2).padStart(9)} ${s.p90.toFixed(2).padStart(9)} ` +
                `${s.p99.toFixed(2).padStart(9)} ${s.max.toFixed(2).padStart(9)}`);
  }
  if (o.target === 'renkei') console.log(`call re-matches: ${stats.rematches}`);
  console.log(Object.keys(stats.errors).length ? `errors: ${JSON.stringify(stats.errors)}` : 'errors: none');
  console.log(`statuses: ${JSON.stringify(stats.statuses)}`);
  console.log(`SUMMARY ${JSON.stringify({ target: o.target, clients: o.clients, ok: stats.ok, failed: stats.failed, seconds, per_s: perS,
    req_per_s: stats.requests / seconds, rematches: stats.rematches, errors: stats.errors, statuses: stats.statuses, steps })}`);
  process.exitCode = stats.failed ? 1 : 0;
}

main().catch((e) => { console.error(`flow_load.mjs: ${e.message}`); process.exit(2); });
