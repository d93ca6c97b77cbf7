'use strict';
// FAPI 2.0 with an independent relying party (issue 13): oauth4webapi (npm,
// not our code) plays a FAPI 2.0 client registered at runtime through the
// admin API: it pushes its request (PAR) with private_key_jwt and a DPoP
// proof, the customer goes through ①–⑥ in headless chromium from
// /authorize?client_id&request_uri, and the library validates the answer
// (state, iss), exchanges the code with private_key_jwt and DPoP, and reads
// the account API with the DPoP-bound token. The same token without its
// proof is refused.

const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness.cjs');

const ADMIN_TOKEN = process.env.RENKEI_ADMIN_TOKEN || h.DEV_ADMIN_TOKEN;

let server;
let browser;
let oauth;

test.before(async () => {
  oauth = await import('oauth4webapi');
  server = await h.startServer();
  browser = await h.launchBrowser();
});

test.after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

// POST to the admin API as staff.
async function admin(path, body) {
  const res = await fetch(`${server.base}${path}`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${ADMIN_TOKEN}`,
      'X-Renkei-Staff': 'browser-tests',
      'Content-Type': 'application/json',
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

// The customer's six screens (the demo customer), from /authorize to 許可する.
async function consentAsTheCustomer(page, authorizeUrl) {
  await page.goto(authorizeUrl);
  await page.waitForSelector(h.visible('account_entry'));
  await h.submitAccount(page, h.DEMO.account);
  await h.walkScreens(page);
}

test('oauth4webapi as a FAPI 2.0 client: PAR, private_key_jwt, DPoP, the account API', async () => {
  const insecure = { [oauth.allowInsecureRequests]: true };  // the test server is http on 127.0.0.1
  const issuer = new URL(server.base);
  const as = await oauth.processDiscoveryResponse(
    issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  assert.equal(as.pushed_authorization_request_endpoint, `${server.base}/par`);
  assert.ok(as.dpop_signing_alg_values_supported.includes('ES256'));

  // The client's key pair; the public half registered through the admin API.
  const clientKeys = await oauth.generateKeyPair('ES256', { extractable: true });
  const publicJwk = await crypto.subtle.exportKey('jwk', clientKeys.publicKey);
  const redirectUri = `${server.base}/rp/callback`;
  const registered = await admin('/admin/api/clients', {
    id: 'rp-fapi',
    display_name: 'FAPIテストアプリ',
    redirect_uris: [redirectUri],
    profile: 'fapi2',
    jwks: { keys: [{ kty: publicJwk.kty, crv: publicJwk.crv, x: publicJwk.x, y: publicJwk.y, kid: 'rp-key-1' }] },
    reason: 'browser test',
  });
  assert.equal(registered.status, 201, JSON.stringify(registered.body));

  // The dev server's clock may have been moved into service hours: the
  // client signs with the server's time (oauth4webapi's clockSkew).
  const clock = await admin('/admin/api/dev/clock', { advance_seconds: 0 });
  assert.equal(clock.status, 200, JSON.stringify(clock.body));
  const client = {
    client_id: 'rp-fapi',
    [oauth.clockSkew]: clock.body.now_unix - Math.floor(Date.now() / 1000),
  };
  const clientAuth = oauth.PrivateKeyJwt({ key: clientKeys.privateKey, kid: 'rp-key-1' });
  const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();

  // PAR.
  const parResponse = await oauth.pushedAuthorizationRequest(as, client, clientAuth, {
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'accounts.read',
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  }, { DPoP, ...insecure });
  const pushed = await oauth.processPushedAuthorizationResponse(as, client, parResponse);
  assert.match(pushed.request_uri, /^urn:ietf:params:oauth:request_uri:/);
  assert.ok(pushed.expires_in <= 60);

  // The customer in chromium.
  const { context, page } = await h.newPage(browser, 375);
  let callback;
  try {
    const authorize = new URL(as.authorization_endpoint);
    authorize.searchParams.set('client_id', client.client_id);
    authorize.searchParams.set('request_uri', pushed.request_uri);
    await consentAsTheCustomer(page, authorize.href);
    await page.waitForURL((u) => u.href.startsWith(redirectUri));
    callback = new URL(page.url());
  } catch (e) {
    e.message += `\n--- server log tail ---\n${server.log().slice(-3000)}`;
    throw e;
  } finally {
    await context.close();
  }

  // The library checks state and iss (RFC 9207), then exchanges the code.
  const params = oauth.validateAuthResponse(as, client, callback, state);
  const tokenResponse = await oauth.authorizationCodeGrantRequest(
    as, client, clientAuth, params, redirectUri, codeVerifier, { DPoP, ...insecure });
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, tokenResponse);
  assert.equal(tokens.token_type, 'dpop');
  assert.ok(tokens.refresh_token);

  // The account API with the DPoP-bound token and a proof.
  const api = new URL(`${server.base}/api/v1/account/balance`);
  const read = await oauth.protectedResourceRequest(tokens.access_token, 'GET', api, new Headers(), null, { DPoP, ...insecure });
  assert.equal(read.status, 200, await read.clone().text());
  const balance = await read.json();
  assert.equal(typeof balance.balance_yen, 'number');

  // Copied without the key, the token is useless.
  const stolen = await fetch(api, { headers: { Authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(stolen.status, 401);
  assert.match(stolen.headers.get('www-authenticate') || '', /^DPoP /);

  // Refresh: a new DPoP-bound access token; the refresh token is not rotated.
  const refreshed = await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, { DPoP, ...insecure }));
  assert.equal(refreshed.token_type, 'dpop');
  assert.equal(refreshed.refresh_token, undefined);
});
