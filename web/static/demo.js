// デモ家計簿アプリ: a stand-in for the fintech app (development mode only).
// A public OAuth 2.0 client: authorization code with PKCE (S256), a random
// state kept in sessionStorage, the RFC 9207 iss check on the way back, the
// token exchange (form-urlencoded) and the account API with the bearer token.
// The token stays in memory: this page shows the data once and forgets it.
(function () {
  'use strict';

  const CLIENT_ID = 'demo-app';
  const STORE_KEY = 'renkei-demo-oauth';
  const $ = (id) => document.getElementById(id);

  function base64url(bytes) {
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function randomString(n) {
    const bytes = new Uint8Array(n);
    crypto.getRandomValues(bytes);
    return base64url(bytes);
  }

  async function s256(verifier) {
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
    return base64url(new Uint8Array(digest));
  }

  function redirectUri() {
    return window.location.origin + '/demo/callback';
  }

  async function metadata() {
    const res = await fetch('/.well-known/oauth-authorization-server', { headers: { Accept: 'application/json' } });
    if (!res.ok) throw new Error('認可サーバーの情報を取得できませんでした。');
    return res.json();
  }

  // Discovery before the click, as a client app does it ahead of time (the
  // metadata changes rarely; a real app reads it on its own server): the
  // click then goes straight to /authorize. A failure is asked again on click.
  let discovery = null;
  function discover() {
    if (!discovery) {
      discovery = metadata().catch((e) => {
        discovery = null;
        throw e;
      });
    }
    return discovery;
  }

  function showError(text) {
    const e = $('error');
    e.textContent = text;
    e.hidden = false;
    const s = $('status');
    if (s) s.hidden = true;
    const m = $('main');
    if (m) m.setAttribute('aria-busy', 'false');
  }

  async function startLink() {
    const button = $('start');
    button.disabled = true;
    try {
      const meta = await discover();
      const verifier = randomString(32);
      const state = randomString(16);
      sessionStorage.setItem(STORE_KEY, JSON.stringify({
        state, verifier, issuer: meta.issuer, token_endpoint: meta.token_endpoint, redirect_uri: redirectUri(),
      }));
      const q = new URLSearchParams({
        response_type: 'code',
        client_id: CLIENT_ID,
        redirect_uri: redirectUri(),
        state,
        code_challenge: await s256(verifier),
        code_challenge_method: 'S256',
        scope: 'accounts.read',
      });
      window.location.assign(meta.authorization_endpoint + '?' + q.toString());
    } catch (e) {
      button.disabled = false;
      showError(e.message || String(e));
    }
  }

  const yen = (n) => (typeof n === 'number' ? n.toLocaleString('ja-JP') + '円' : '');

  async function getJson(path, token) {
    const res = await fetch(path, { headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((body.error && body.error.message) || ('HTTP ' + res.status));
    return body;
  }

  async function finishLink() {
    const params = new URLSearchParams(window.location.search);
    // The code must not stay in the address bar or the history.
    window.history.replaceState(null, '', window.location.pathname);
    let saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null'); } catch (e) { saved = null; }
    sessionStorage.removeItem(STORE_KEY);

    if (!saved || !params.get('state') || params.get('state') !== saved.state) {
      showError('連携の要求を確認できませんでした（state が一致しません）。最初からやり直してください。');
      return;
    }
    if (params.get('iss') !== saved.issuer) {
      showError('応答の発行元（iss）が一致しません。最初からやり直してください。');
      return;
    }
    const error = params.get('error');
    if (error === 'access_denied') {
      $('title').textContent = '連携は中止されました';
      showError('口座の連携はキャンセルされました。口座の情報は取得していません。');
      return;
    }
    if (error || !params.get('code')) {
      showError('口座を連携できませんでした（' + (error || 'no code') + '）。');
      return;
    }
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code'),
      redirect_uri: saved.redirect_uri,
      client_id: CLIENT_ID,
      code_verifier: saved.verifier,
    });
    let token;
    try {
      const res = await fetch(saved.token_endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: form.toString(),
      });
      const body = await res.json();
      if (!res.ok || !body.access_token) throw new Error(body.message || body.error_description || body.error || ('HTTP ' + res.status));
      token = body.access_token;
    } catch (e) {
      showError('トークンを取得できませんでした: ' + (e.message || e));
      return;
    }
    try {
      const [account, balance, txs] = await Promise.all([
        getJson('/api/v1/account', token),
        getJson('/api/v1/account/balance', token),
        getJson('/api/v1/account/transactions?limit=10', token),
      ]);
      const a = account.account || {};
      $('account').textContent = '店番 ' + a.branch + ' ' + (a.account_type_label || a.account_type) + ' ' + a.account_number;
      $('balance').textContent = yen(balance.balance_yen);
      $('expires').textContent = (account.authorization && account.authorization.expires_at) || '';
      const body = $('tx-body');
      for (const t of txs.transactions || []) {
        const tr = document.createElement('tr');
        const cells = [t.date, t.description, yen(t.amount_yen), yen(t.balance_after_yen)];
        cells.forEach((text, i) => {
          const td = document.createElement('td');
          td.textContent = text;
          if (i >= 2) td.className = 'num' + (i === 2 && t.amount_yen < 0 ? ' minus' : '');
          tr.appendChild(td);
        });
        body.appendChild(tr);
      }
      $('title').textContent = '口座を連携しました';
      $('status').hidden = true;
      $('account-section').hidden = false;
      $('tx-section').hidden = false;
      $('main').setAttribute('aria-busy', 'false');
      $('title').focus();
    } catch (e) {
      showError('口座の情報を取得できませんでした: ' + (e.message || e));
    }
  }

  function main() {
    const page = document.body.getAttribute('data-page');
    if (page === 'start') {
      discover().catch(() => {});  // told on click, if it still fails then
      $('start').addEventListener('click', startLink);
    }
    if (page === 'callback') finishLink();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
  else main();
}());
