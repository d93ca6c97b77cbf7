'use strict';
// No dead ends after a reload (SPEC §8a; the spec-conformance audit's D1–D3):
// a webview may reload or restore the page at any time, and what the customer
// sees then must still lead on. A flow that timed out shows its message and
// 連携元画面へ (the app learns access_denied, state and iss), also when the
// page is drawn before its core and catalog have loaded; a cancelled flow keeps
// 連携元画面へ; a locked account's ⑤ and ② stay disabled with the B84 message.

const test = require('node:test');
const assert = require('node:assert/strict');
const { loadCore } = require('../../wasm/load-core.cjs');
const h = require('./harness.cjs');

const { DEMO, visible, submitAccount } = h;

let server;
let browser;
let messages;  // code → the catalog's text
let labels;    // the catalog's button labels
let closedReason = null;

test.before(async () => {
  const core = await loadCore();
  const catalog = JSON.parse(core.runCase('{"kind":"catalog"}'));
  messages = new Map(catalog.codes.map((c) => [c.code, c.message]));
  labels = catalog.labels;
  server = await h.startServer();
  closedReason = h.closedReason(server, core);
  browser = await h.launchBrowser();
});

test.after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

const skipIfClosed = (t) => h.skipFor(t, closedReason);

async function withPage(fn) {
  await h.runInPage(await h.newPage(browser, 375), server, fn);
}

// Moves the dev server's movable clock on (docs/admin-api.md).
async function advanceClock(seconds) {
  const res = await fetch(`${server.base}/admin/api/dev/clock`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${process.env.RENKEI_ADMIN_TOKEN || h.DEV_ADMIN_TOKEN}`,
      'X-Renkei-Staff': 'browser-tests',
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({ advance_seconds: seconds }),
  });
  assert.ok(res.ok, `the clock moves: ${res.status}`);
}

async function toCustomer(page) {
  await h.openDemo(page, server.base);
  await submitAccount(page, DEMO.account);
  await page.waitForSelector(visible('customer_entry'));
}

// Reloads the page with its WASM module held back for `ms`: the server's
// answer arrives long before the core, as on a slow phone (the audit's blank
// screen came from drawing a message before any catalog was there).
async function reloadWithSlowCore(page, ms = 1500) {
  await page.route('**/renkei_core.wasm', async (route) => {
    await h.sleep(ms);
    await route.continue();
  });
  await page.reload();
}

// Follows the link `selector` and resolves to the app's callback URL as
// requested (the demo page takes the query out of the address bar).
async function follow(page, selector) {
  const request = page.waitForRequest((r) => r.url().includes('/demo/callback'), { timeout: 15000 });
  request.catch(() => {});  // when the click fails, its error is the one reported
  await page.click(selector);
  return new URL((await request).url());
}

test('a timed-out flow: its message and 連携元画面へ (access_denied) on every reload, before the core has loaded', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(async (page) => {
    await toCustomer(page);
    await advanceClock(901);  // flow_idle_seconds is 900
    // The first reload expires the flow (410), the next ones find it expired (200).
    for (let i = 0; i < 3; i += 1) {
      await reloadWithSlowCore(page);
      await page.waitForSelector(visible('message'));
      await page.waitForSelector('#message-return-link:not([hidden])');
      assert.equal((await page.textContent('#alert-message')).trim(), messages.get('session_expired'), `reload ${i}`);
      assert.equal((await page.textContent('#message-return-link')).trim(), labels.back_to_app, `reload ${i}`);
      await page.unroute('**/renkei_core.wasm');
    }
    await h.screenshots(page, 'expired-reloaded');
    assert.deepEqual(await h.axeViolations(page), []);
    const back = await follow(page, '#message-return-link');
    assert.equal(back.origin + back.pathname, `${server.base}/demo/callback`);
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.ok(back.searchParams.get('state'), 'state');
    assert.equal(back.searchParams.get('iss'), server.base);
    assert.equal(back.searchParams.get('code'), null);
  });
});

test('a flow idle too long met by 中止する: the message and 連携元画面へ', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(async (page) => {
    await toCustomer(page);
    await advanceClock(901);
    await page.click('#screen-customer_entry [data-action="cancel"]');
    await page.waitForSelector(visible('message'));
    assert.equal((await page.textContent('#alert-message')).trim(), messages.get('session_expired'));
    const back = await follow(page, '#message-return-link');
    assert.equal(back.searchParams.get('error'), 'access_denied');
  });
});

test('中止する, then a reload: 連携元画面へ is still there (access_denied)', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(async (page) => {
    await toCustomer(page);
    await page.click('#screen-customer_entry [data-action="cancel"]');
    await page.waitForSelector(visible('cancelled'));
    await page.waitForSelector('#return-link:not([hidden])');
    await reloadWithSlowCore(page);
    await page.waitForSelector(visible('cancelled'));
    await page.waitForSelector('#return-link:not([hidden])');
    assert.match(await page.textContent('#screen-cancelled'), /API連携認証を中止しました。/);
    const back = await follow(page, '#return-link');
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.ok(back.searchParams.get('state'), 'state');
    assert.equal(back.searchParams.get('iss'), server.base);
  });
});

test('/authorize for an unknown app: a page with the catalog\'s message, no way to anywhere', async () => {
  await withPage(async (page) => {
    const target = encodeURIComponent('https://attacker.example/cb');
    const answer = await page.goto(`${server.base}/authorize?response_type=code&client_id=nobody&redirect_uri=${target}&state=s`);
    assert.equal(answer.status(), 400);
    assert.match(answer.headers()['content-type'], /^text\/html/);
    assert.equal((await page.textContent('h1')).trim(), messages.get('bad_request'));
    assert.equal(await page.locator('a').count(), 0, 'no link: the redirect URI is not known to be the app\'s');
    assert.equal(page.url().startsWith(server.base), true);
    await h.screenshots(page, 'authorize-refused');
    assert.deepEqual(await h.axeViolations(page), []);
  });
});

test('許可する, then a reload before the app had its code: on to the app with a new code; once exchanged, the completion only', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(async (page) => {
    await toCustomer(page);
    // The first navigation to the app is lost (the webview reloaded instead).
    let first = null;
    await page.route('**/demo/callback**', async (route) => {
      first = new URL(route.request().url());
      await route.abort();
    });
    await h.walkScreens(page);
    for (let i = 0; i < 100 && !first; i += 1) await h.sleep(50);
    assert.ok(first && first.searchParams.get('code'), 'the consent\'s code');
    await page.unroute('**/demo/callback**');
    const exchanged = page.waitForResponse((r) => r.url().endsWith('/token'), { timeout: 15000 });
    const request = page.waitForRequest((r) => r.url().includes('/demo/callback'), { timeout: 15000 });
    await page.goto(`${server.base}/flow/`);
    const again = new URL((await request).url());
    assert.equal(again.origin + again.pathname, `${server.base}/demo/callback`);
    assert.ok(again.searchParams.get('code'));
    assert.notEqual(again.searchParams.get('code'), first.searchParams.get('code'), 'a new code');
    assert.equal(again.searchParams.get('state'), first.searchParams.get('state'));
    assert.equal(again.searchParams.get('iss'), server.base);
    assert.equal((await exchanged).status(), 200, 'the app exchanged the new code');
    // Exchanged: a reload stays on the completion screen, with no way to send
    // the app anything.
    await page.goto(`${server.base}/flow/`);
    await page.waitForSelector(visible('message'));
    await h.sleep(300);
    assert.ok(page.url().startsWith(`${server.base}/flow/`), page.url());
    assert.equal(await page.isHidden('#message-return-link'), true);
    await h.screenshots(page, 'completed-reloaded');
  });
});

// Last in this file: the demo customer stays locked on this server.
test('a locked account: ② is disabled on arrival from ①, and ⑤ and ② stay disabled with the B84 message after a reload', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(async (page) => {
    await toCustomer(page);
    await h.walkScreens(page, { until: 'pin_entry' });
    for (let i = 1; i <= 5; i += 1) {
      await page.fill('#pin', '9999');
      await page.click('#form-pin button[type=submit]');
      await page.waitForSelector('#dialog[open]');
      await page.click('#dialog-ok');
      await page.waitForSelector('#dialog:not([open])', { state: 'attached' });
    }
    assert.ok(await page.isDisabled('#pin'), 'locked before the reload');
    await reloadWithSlowCore(page);
    await page.waitForSelector(visible('pin_entry'));
    await page.waitForSelector('#alert-pin_entry:not([hidden])');
    assert.equal((await page.textContent('#alert-pin_entry')).trim(), messages.get('locked'));
    assert.ok(await page.isDisabled('#pin'), 'no further PIN can be typed after the reload');
    assert.ok(await page.isDisabled('#form-pin button[type=submit]'));
    assert.ok(await page.isEnabled('#screen-pin_entry [data-action="cancel"]'));
    await h.screenshots(page, 'pin-locked-reloaded');
  });
  await withPage(async (page) => {
    // ① 次へ onto ② of the locked account: ② is disabled at once, with no
    // attempt and no reload (SPEC §8a; ① itself checks only its form, as the
    // manual's ① shows no account error).
    await toCustomer(page);
    await page.waitForSelector('#alert-customer_entry:not([hidden])');
    assert.equal((await page.textContent('#alert-customer_entry')).trim(), messages.get('locked'));
    assert.ok(await page.isDisabled('#name_kana'), 'disabled on arrival');
    assert.ok(await page.isDisabled('#form-customer button[type=submit]'));
    assert.ok(await page.isEnabled('#screen-customer_entry [data-action="cancel"]'));
    await h.screenshots(page, 'customer-locked-on-arrival');
    await page.reload();
    await page.waitForSelector(visible('customer_entry'));
    await page.waitForSelector('#alert-customer_entry:not([hidden])');
    assert.equal((await page.textContent('#alert-customer_entry')).trim(), messages.get('locked'));
    assert.ok(await page.isDisabled('#name_kana'));
    assert.ok(await page.isDisabled('#form-customer button[type=submit]'));
    await page.click('#screen-customer_entry [data-action="cancel"]');
    await page.waitForSelector(visible('cancelled'));
  });
});
