'use strict';
// docs/openapi.yaml checked against the real server, so that it cannot drift:
//   - the document is a valid OpenAPI 3.1 description;
//   - its ErrorCode list is exactly the core's catalog (native renkei-cases);
//   - a real renkei-server (dev config, as the browser tests start it) is
//     walked through every documented endpoint — a complete flow, its error
//     answers, the OAuth and account API answers — and each JSON answer must
//     validate against the schema documented for that path, method and status
//     (a status the document does not list fails too).
//
//   node --test tests/api/openapi.test.cjs      (ctest: api.openapi)
// Environment: RENKEI_SERVER_BIN, RENKEI_WASM_DIR (as tests/browser/harness.cjs),
// RENKEI_CASES_BIN (default build/native/tools/renkei-cases).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');
const YAML = require('yaml');
const Ajv2020 = require('ajv/dist/2020').default;
const { Validator } = require('@seriousme/openapi-schema-validator');
const h = require('../browser/harness.cjs');

const DOC_PATH = path.join(h.REPO, 'docs', 'openapi.yaml');
const CASES_BIN = process.env.RENKEI_CASES_BIN || path.join(h.REPO, 'build', 'native', 'tools', 'renkei-cases');

const doc = YAML.parse(fs.readFileSync(DOC_PATH, 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
// Formats the document names; checked loosely (the schema's patterns are strict).
ajv.addFormat('date', /^\d{4}-\d{2}-\d{2}$/);
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
ajv.addFormat('uri', /^[a-z][a-z0-9+.-]*:/i);
ajv.addSchema(doc, 'openapi.json');

const pointer = (...parts) => parts.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

// Validates one real answer against the document; returns the parsed body.
function expectDocumented(method, route, status, text, contentType) {
  const op = doc.paths[route] && doc.paths[route][method];
  assert.ok(op, `${method.toUpperCase()} ${route} is not in docs/openapi.yaml`);
  let response = op.responses[String(status)];
  assert.ok(response, `${method.toUpperCase()} ${route} answered ${status}, which the document does not list`);
  if (response.$ref) response = doc.components.responses[response.$ref.split('/').pop()];
  const json = response.content && response.content['application/json'];
  if (!json) {
    assert.ok(!text || !/application\/json/.test(contentType || ''),
      `${method.toUpperCase()} ${route} ${status}: a JSON body the document does not describe`);
    return null;
  }
  assert.match(contentType || '', /application\/json/, `${method.toUpperCase()} ${route} ${status}: content type`);
  const body = JSON.parse(text);
  // Resolve through the response's own location, so $refs inside it work.
  const ref = op.responses[String(status)].$ref;
  const schemaRef = ref
    ? `openapi.json#/components/responses/${pointer(ref.split('/').pop())}/content/${pointer('application/json')}/schema`
    : `openapi.json#/paths/${pointer(route)}/${method}/responses/${status}/content/${pointer('application/json')}/schema`;
  const validate = ajv.getSchema(schemaRef);
  assert.ok(validate, `no schema at ${schemaRef}`);
  const ok = validate(body);
  assert.ok(ok, `${method.toUpperCase()} ${route} ${status} does not match the document:\n` +
    `${JSON.stringify(validate.errors, null, 1)}\nbody: ${text.slice(0, 800)}`);
  return body;
}

test('docs/openapi.yaml is a valid OpenAPI 3.1 document', async () => {
  const validator = new Validator();
  const result = await validator.validate(doc);
  assert.ok(result.valid, JSON.stringify(result.errors, null, 1));
  assert.equal(doc.openapi, '3.1.0');
});

test('its error codes are exactly the core catalog', () => {
  const out = execFileSync(CASES_BIN, { input: '{"kind":"catalog"}\n' }).toString();
  const catalog = JSON.parse(out.split('\n')[0]);
  const codes = catalog.codes.map((c) => c.code);
  assert.deepEqual([...doc.components.schemas.ErrorCode.enum].sort(), [...codes].sort());
  const screens = catalog.screens.map((s) => s.screen);
  assert.deepEqual([...doc.components.schemas.Screen.enum].sort(), [...screens].sort());
});

test('a real server answers as documented, endpoint by endpoint', async () => {
  const srv = await h.startServer();
  try {
    const base = srv.base;
    const redirect = `${base}/demo/callback`;
    let cookie = '';
    let csrf = '';
    const call = async (method, route, { query = '', body, form, headers = {}, auth } = {}) => {
      const init = { method: method.toUpperCase(), redirect: 'manual', headers: { ...headers } };
      if (cookie) init.headers.cookie = cookie;
      if (auth) init.headers.authorization = auth;
      if (body !== undefined) {
        init.headers['content-type'] = 'application/json';
        if (csrf) init.headers['x-csrf-token'] = csrf;
        init.body = JSON.stringify(body);
      }
      if (form) {
        init.headers['content-type'] = 'application/x-www-form-urlencoded';
        init.body = new URLSearchParams(form).toString();
      }
      const res = await fetch(`${base}${route}${query}`, init);
      const setCookie = res.headers.get('set-cookie');
      if (setCookie && /renkei_session=/.test(setCookie)) cookie = setCookie.split(';')[0];
      const text = await res.text();
      const parsed = expectDocumented(method, route, res.status, text, res.headers.get('content-type'));
      if (parsed && typeof parsed.csrf_token === 'string') csrf = parsed.csrf_token;
      return { status: res.status, body: parsed, headers: res.headers };
    };
    const verifier = crypto.randomBytes(32).toString('base64url');
    const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
    const authorizeQuery = (extra = {}) => '?' + new URLSearchParams({
      response_type: 'code', client_id: 'demo-app', redirect_uri: redirect, state: 'st-openapi',
      code_challenge: challenge, code_challenge_method: 'S256', scope: 'accounts.read', ...extra,
    });

    // OAuth: errors first.
    let r = await call('get', '/authorize', { query: authorizeQuery({ client_id: 'nobody' }) });
    assert.equal(r.status, 400);
    r = await call('get', '/authorize', { query: authorizeQuery({ response_type: 'token' }) });
    assert.equal(r.status, 302);
    assert.match(r.headers.get('location'), /error=unsupported_response_type/);
    cookie = '';

    // The flow, with an error answer at each kind of step.
    r = await call('get', '/api/flow');
    assert.equal(r.status, 410);
    r = await call('get', '/authorize', { query: authorizeQuery() });
    assert.equal(r.status, 200);
    r = await call('get', '/api/flow');
    assert.equal(r.status, 200);
    r = await call('post', '/api/flow/account', { body: { branch: '', account_type: 'ordinary', account_number: '' } });
    assert.equal(r.status, 400);
    assert.ok(r.body.error.dialog);
    r = await call('post', '/api/flow/account', { body: { branch: '115', account_type: 'ordinary', account_number: '1100026' } });
    assert.equal(r.status, 200);
    const customer = {
      name_kana: 'ﾃﾞｰﾀ ｻﾄﾙ', birth_year: '1985', birth_month: '04', birth_day: '12',
      phone: '09011113333', email: 'openapi@example.jp', email_confirm: 'openapi@example.jp',
    };
    r = await call('post', '/api/flow/customer', { body: { ...customer, birth_day: '13' } });
    assert.equal(r.status, 403);
    r = await call('post', '/api/flow/customer', { body: customer });
    assert.equal(r.status, 200);
    r = await call('post', '/api/flow/phone', { body: {} });
    assert.equal(r.status, 200);
    r = await call('post', '/api/flow/call/confirm', { body: {} });
    assert.equal(r.status, 409);
    const sim = await fetch(`${base}/dev/simulate-call`, {
      method: 'POST', headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': csrf }, body: '{}',
    });
    assert.equal(sim.status, 200);
    r = await call('post', '/api/flow/call/confirm', { body: {} });
    assert.equal(r.status, 200);
    r = await call('post', '/api/flow/pin', { body: { pin: '9999' } });
    assert.equal(r.status, 403);
    r = await call('post', '/api/flow/pin', { body: { pin: '1234' } });
    assert.equal(r.status, 200);
    r = await call('post', '/api/flow/consent', { body: { consent: false } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'consent_required');
    r = await call('post', '/api/flow/consent', { body: { consent: true } });
    assert.equal(r.status, 200);
    const code = new URL(r.body.redirect_to).searchParams.get('code');
    r = await call('post', '/api/flow/cancel', { body: {} });  // the flow is over
    assert.equal(r.status, 409);

    // Tokens.
    r = await call('post', '/token', { form: { grant_type: 'authorization_code', code: 'x'.repeat(43), redirect_uri: redirect, client_id: 'demo-app', code_verifier: verifier } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
    r = await call('post', '/token', { form: { grant_type: 'authorization_code', code, redirect_uri: redirect, client_id: 'nobody', code_verifier: verifier } });
    assert.equal(r.status, 401);
    r = await call('post', '/token', { form: { grant_type: 'authorization_code', code, redirect_uri: redirect, client_id: 'demo-app', code_verifier: verifier } });
    assert.equal(r.status, 200);
    const tokens = r.body;
    r = await call('post', '/token', { form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'demo-app' } });
    assert.equal(r.status, 200);
    const bearer = `Bearer ${r.body.access_token}`;

    // The account API.
    for (const route of ['/api/v1/account', '/api/v1/account/balance', '/api/v1/account/transactions']) {
      r = await call('get', route, { auth: bearer, query: route.endsWith('transactions') ? '?limit=2' : '' });
      assert.equal(r.status, 200, route);
      r = await call('get', route, { auth: 'Bearer not-a-token' });
      assert.equal(r.status, 401, route);
    }
    r = await call('get', '/api/v1/account/transactions', { auth: bearer, query: '?from=2000-01-01' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'range_not_served');

    // The catalog for a page without WebAssembly, and its revalidation.
    r = await call('get', '/api/catalog');
    assert.equal(r.status, 200);
    const etag = r.headers.get('etag');
    assert.ok(etag);
    r = await call('get', '/api/catalog', { headers: { 'if-none-match': etag } });
    assert.equal(r.status, 304);

    // Metadata, revocation, health; the way back to the app from a new flow.
    r = await call('get', '/.well-known/oauth-authorization-server');
    assert.equal(r.status, 200);
    r = await call('post', '/revoke', { form: { token: r.body.issuer, client_id: 'demo-app' } });
    assert.equal(r.status, 200);
    r = await call('get', '/healthz');
    assert.equal(r.status, 200);

    // PAR (RFC 9126), here by the demo app (plain public clients may push too).
    const pushed = { response_type: 'code', client_id: 'demo-app', redirect_uri: redirect, state: 'st-par' };
    r = await call('post', '/par', { form: { ...pushed, code_challenge: challenge, code_challenge_method: 'S256' } });
    assert.equal(r.status, 201);
    const requestUri = r.body.request_uri;
    r = await call('post', '/par', { form: pushed });  // no PKCE
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_request');
    r = await call('post', '/par', { form: { ...pushed, client_id: 'nobody' } });
    assert.equal(r.status, 401);
    cookie = '';
    r = await call('get', '/authorize', { query: '?' + new URLSearchParams({ client_id: 'demo-app', request_uri: requestUri }) });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('location'), null);
    r = await call('get', '/authorize', { query: '?' + new URLSearchParams({ client_id: 'demo-app', request_uri: requestUri }) });
    assert.equal(r.status, 400);  // single use
    cookie = '';
    csrf = '';
    r = await call('get', '/authorize', { query: authorizeQuery() });
    r = await call('get', '/api/flow');
    r = await call('post', '/api/flow/leave', { body: { reason: 'nonsense' } });
    assert.equal(r.status, 400);
    r = await call('post', '/api/flow/leave', { body: { reason: 'busy' } });
    assert.equal(r.status, 200);
    assert.match(r.body.redirect_to, /error=temporarily_unavailable/);
  } finally {
    await srv.stop();
  }
});
