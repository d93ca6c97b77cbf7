'use strict';
// The customer's screens in headless chromium against the real server (issue 4):
// the demo app through ①–⑥ and back with the account shown; required fields
// and the dialog; normalization shown back (also across IME composition); a
// wrong identity; a lock with B84; cancel on every screen; the call window
// (pending, expired); consent denied; the ?error= page. Every screen is
// photographed at 375 and 1280 px and scanned by axe-core.

const test = require('node:test');
const assert = require('node:assert/strict');
const { loadCore } = require('../../wasm/load-core.cjs');
const h = require('./harness.cjs');

// More of the demo data set (server/src/records/records.h); DEMO (C0001) is the harness's.
const { DEMO, visible, submitAccount, fillCustomer } = h;
const OTHER = {  // C0002: used for the wrong identity, so C0001's count stays clean
  account: { branch: '001', type: 'savings', number: '0000123' },
  customer: { name: 'ﾔﾏﾀﾞ ﾊﾅｺ', year: '1990', month: '12', day: '02', phone: '08022224444', email: 'hanako@example.com' },
};
const LOCKABLE = {  // C0006: locked by this test run's own temp database only
  account: { branch: '115', type: 'savings', number: '5000005' },
  customer: { name: 'ｺﾊﾞﾔｼ ｹﾝ', year: '1995', month: '05', day: '06', phone: '09055556666', email: 'ken@example.com' },
};

let server;
let browser;
let core;
let messages;  // code → the catalog's text
let closedReason = null;

test.before(async () => {
  core = await loadCore();
  const catalog = JSON.parse(core.runCase('{"kind":"catalog"}'));
  messages = new Map(catalog.codes.map((c) => [c.code, c.message]));
  messages.set('required_dialog', catalog.required_dialog.message);
  server = await h.startServer();
  closedReason = h.closedReason(server, core);  // out of hours: the flow tests skip
  browser = await h.launchBrowser();
});

test.after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

const skipIfClosed = (t) => h.skipFor(t, closedReason);

// A server of the test's own (its clock, its locks), swapped in for `server`.
const useServer = (srv) => {
  const was = server;
  server = srv;
  return was;
};
const withOwnServer = (overrides, fn) => h.withOwnServer(overrides, useServer, fn);

// fn(page) in a new page, which must log no errors (harness runInPage).
async function withPage(t, fn, width = 375) {
  await h.runInPage(await h.newPage(browser, width), server, fn);
}

// Screenshots at both widths (or the given ones) and an axe scan with no violations.
const scanned = new Set();
const PHONE_AND_DESKTOP = [320, 375, 1280];
async function record(page, name, widths) {
  await h.screenshots(page, name, widths);
  const key = name.replace(/-(error|dialog|pending|expired)$/, '');
  if (scanned.has(name)) return;
  scanned.add(name);
  scanned.add(key);
  const violations = await h.axeViolations(page);
  assert.deepEqual(violations, [], `axe-core: no violations on ${name}`);
}

async function startFlow(page) {
  await h.openDemo(page, server.base);
  // Screen ① is drawn before the WASM core has loaded; these tests check
  // what the core does while typing, so they wait for it.
  await page.waitForSelector('html[data-core="wasm"]', { state: 'attached' });
}

async function toCustomer(page, who = DEMO) {
  await startFlow(page);
  await submitAccount(page, who.account);
  await page.waitForSelector(visible('customer_entry'));
}

// The demo customer's flow, walked from ① up to `screen` (shown).
async function toScreen(page, screen) {
  await toCustomer(page);
  await h.walkScreens(page, { until: screen });
}
const toPhone = (page) => toScreen(page, 'phone_confirm');
const toCall = (page) => toScreen(page, 'call_wait');
const toPin = (page) => toScreen(page, 'pin_entry');
const toConsent = (page) => toScreen(page, 'consent');

async function dialogText(page) {
  await page.waitForSelector('#dialog[open]');
  return {
    title: (await page.textContent('#dialog-title')).trim(),
    message: (await page.textContent('#dialog-message')).trim(),
  };
}

async function closeDialog(page) {
  await page.click('#dialog-ok');
  await page.waitForSelector('#dialog:not([open])', { state: 'attached' });
}

// The id of the focused element once focus has settled on `expected` (focus
// moves in the dialog's asynchronous close event), or what is focused after
// the wait so that the assertion shows it.
async function focusedId(page, expected) {
  try {
    await page.waitForFunction((id) => document.activeElement && document.activeElement.id === id,
      expected, { timeout: 5000 });
  } catch (e) { /* fall through: the caller's assertion reports what is focused */ }
  return page.evaluate(() => document.activeElement && document.activeElement.id);
}

test('happy path: demo app → ①–⑥ → back to the app with the account shown', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(t, async (page) => {
    await page.goto(`${server.base}/demo/`);
    await record(page, 'demo-start');
    await page.click('#start');
    await page.waitForSelector(visible('account_entry'));
    await page.waitForSelector('html[data-core="wasm"]', { state: 'attached' });
    // flow.css is inline, allowed by its hash in the CSP: its rules apply (a
    // blocked <style> has no sheet, and logs a CSP error: withPage).
    const sheets = await page.evaluate(() => ({
      links: document.querySelectorAll('link[rel="stylesheet"]').length,
      styles: [...document.querySelectorAll('style')].map((s) => (s.sheet ? s.sheet.cssRules.length : -1)),
    }));
    assert.equal(sheets.links, 0, 'no stylesheet link');
    assert.equal(sheets.styles.length, 1, 'one <style>');
    assert.ok(sheets.styles[0] > 20, `the inline style applies (${sheets.styles[0]} rules)`);

    // ①: footer and app name from the server's configuration.
    assert.equal((await page.textContent('#screen-id')).trim(), 'SOA201');
    assert.equal((await page.textContent('#institution-name')).trim(), 'テスト信用組合');
    assert.match(await page.textContent('#contact-link'), /お問い合わせ先 06-0000-0000/);
    assert.equal(await page.getAttribute('#contact-link', 'href'), 'tel:06-0000-0000');
    assert.match(await page.textContent('#copyright'), /Renkei test/);
    assert.match(await page.textContent('#screen-account_entry'), /本機能はお客様の金融情報をデモ家計簿アプリに提供するものです。/);
    await record(page, '1-SOA201');

    // Full-width digits are shown back half-width.
    await page.fill('#branch', '１１５');
    await page.fill('#account_number', '１１０００２６');
    await page.locator('#account_number').blur();
    assert.equal(await page.inputValue('#branch'), '115');
    assert.equal(await page.inputValue('#account_number'), '1100026');
    await page.click('#form-account button[type=submit]');

    // ②–⑤ walked (harness), with these checks on each screen.
    await h.walkScreens(page, {
      // ② is typed full-width and with separators: the walk sends it as shown back.
      who: { customer: { ...DEMO.customer, name: 'データ　サトル', phone: '090-1111-3333' }, pin: DEMO.pin },
      until: 'consent',
      at: {
        // ②: the account summary from the flow view; kana and phone normalized.
        customer_entry: async () => {
          assert.equal((await page.textContent('#screen-id')).trim(), 'SOA202');
          const summary = (await page.textContent('.account-summary')).replace(/\s+/g, ' ').trim();
          assert.equal(summary, '店番 115 普通預金 1100026');
          assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.tagName), 'H1');
          await record(page, '2-SOA202');
        },
        customer_filled: async () => {
          await page.locator('#phone').blur();
          await page.locator('#name_kana').focus();
          await page.locator('#name_kana').blur();
          assert.equal(await page.inputValue('#name_kana'), 'ﾃﾞｰﾀ ｻﾄﾙ');
          assert.equal(await page.inputValue('#phone'), '09011113333');
        },
        // ③: the masked registered number.
        phone_confirm: async () => {
          assert.equal((await page.textContent('#screen-id')).trim(), 'SOA208');
          assert.equal((await page.textContent('#screen-phone_confirm [data-view="masked_phone"]')).trim(), '*****3333');
          await record(page, '3-SOA208');
        },
        // ④: masked caller, tel: link to the assigned number, countdown, dev control.
        call_wait: async () => {
          assert.equal((await page.textContent('#screen-id')).trim(), 'SOA209');
          const dialled = (await page.textContent('#dialled-link')).trim();
          assert.match(dialled, /^0120-\d{3}-\d{3}$/, 'grouped as read in Japan');
          assert.equal(await page.getAttribute('#dialled-link', 'href'), `tel:${dialled.replace(/-/g, '')}`);
          const left = Number(await page.textContent('#seconds-left'));
          assert.ok(left > 100 && left <= 120, `countdown starts near 120 (${left})`);
          assert.ok(await page.isVisible('[data-action="simulate-call"]'), 'dev mode shows the simulator');
          assert.match(await page.textContent('#screen-call_wait'), /本画面が表示されてから120秒以内に、お電話ください。/);
          await record(page, '4-SOA209');
        },
        // ⑤: the PIN, masked.
        pin_entry: async () => {
          assert.equal((await page.textContent('#screen-id')).trim(), 'SOA211');
          assert.equal(await page.getAttribute('#pin', 'type'), 'password');
          await record(page, '5-SOA211');
        },
      },
    });

    // ⑥: the app's name, scope, 30 days; 許可する only with the box checked.
    assert.equal((await page.textContent('#screen-id')).trim(), 'SOA206');
    const consentText = await page.textContent('#screen-consent');
    assert.match(consentText, /デモ家計簿アプリが以下の許可を求めています。/);
    assert.match(consentText, /口座情報・明細情報へのアクセス/);
    assert.match(consentText, /お客様の口座の資産情報へのアクセスを許可します。/);
    assert.equal((await page.textContent('.period')).trim(), '30日');
    assert.ok(await page.isDisabled('#consent-submit'));
    await record(page, '6-SOA206');
    await page.check('#consent');
    assert.ok(await page.isEnabled('#consent-submit'));
    await page.click('#consent-submit');

    // Back in the app: the account, balance and transactions.
    await page.waitForURL(/\/demo\/callback/);
    await page.waitForSelector('#account-section:not([hidden])');
    assert.equal((await page.textContent('#account')).trim(), '店番 115 普通預金 1100026');
    assert.match(await page.textContent('#balance'), /^[\d,-]+円$/);
    assert.ok((await page.locator('#tx-body tr').count()) > 0, 'transactions are listed');
    assert.doesNotMatch(page.url(), /code=/, 'the code left the address bar');
    await record(page, 'demo-callback');
  });
});

test('required fields: messages under the fields, the dialog, no layout shift', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(t, async (page) => {
    await startFlow(page);
    const button = page.locator('#form-account button[type=submit]');
    // The button's place in the document (not the viewport: focus may scroll).
    const top = () => page.evaluate(() => {
      const b = document.querySelector('#form-account button[type=submit]');
      return b.getBoundingClientRect().top + window.scrollY;
    });
    const before = await top();
    await button.click();
    const d = await dialogText(page);
    assert.deepEqual(d, { title: 'エラー', message: messages.get('required_dialog') });
    assert.equal(d.message, '入力されていない項目があります。');
    assert.equal(await page.getAttribute('#dialog', 'aria-modal'), 'true');
    assert.equal(await focusedId(page, 'dialog-ok'), 'dialog-ok');
    await record(page, '1-SOA201-dialog');
    await closeDialog(page);
    assert.equal(await focusedId(page, 'branch'), 'branch', 'focus returns to the first empty field');
    assert.equal((await page.textContent('#branch-msg')).trim(), '必ず入力して下さい。');
    assert.equal((await page.textContent('#account_number-msg')).trim(), '必ず入力して下さい。');
    assert.equal(await page.getAttribute('#branch', 'aria-invalid'), 'true');
    assert.equal(await page.getAttribute('#branch', 'aria-describedby'), 'branch-msg');
    assert.equal(await top(), before, 'the button did not move when the messages appeared');
    await record(page, '1-SOA201-error');

    // A filled but wrong field gets its own message while typing / on blur.
    await page.fill('#branch', '12a');
    assert.equal((await page.textContent('#branch-msg')).trim(), messages.get('invalid_character'));
    await page.fill('#branch', '115');
    assert.equal((await page.textContent('#branch-msg')).trim(), '');
    assert.equal(await page.getAttribute('#branch', 'aria-invalid'), 'false');
    await page.fill('#account_number', '1100026');
    await button.click();

    // ②: every empty field.
    await page.waitForSelector(visible('customer_entry'));
    await page.click('#form-customer button[type=submit]');
    assert.equal((await dialogText(page)).message, '入力されていない項目があります。');
    await closeDialog(page);
    for (const id of ['name_kana-msg', 'birth-msg', 'phone-msg', 'email-msg', 'email_confirm-msg']) {
      assert.equal((await page.textContent(`#${id}`)).trim(), '必ず入力して下さい。', id);
    }
    await record(page, '2-SOA202-error');

    // Mismatched e-mail addresses, an impossible date: their own messages.
    await fillCustomer(page, { ...DEMO.customer, month: '02', day: '30' });
    await page.fill('#email_confirm', 'other@example.com');
    await page.locator('#email_confirm').blur();
    assert.equal((await page.textContent('#email_confirm-msg')).trim(), messages.get('email_mismatch'));
    assert.equal((await page.textContent('#birth-msg')).trim(), messages.get('invalid_date'));
  });
});

test('IME: no normalization mid-composition, normalized once committed', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(t, async (page) => {
    await toCustomer(page);
    const cdp = await page.context().newCDPSession(page);
    await page.focus('#name_kana');
    await cdp.send('Input.imeSetComposition', { text: 'でーた', selectionStart: 3, selectionEnd: 3 });
    assert.equal(await page.inputValue('#name_kana'), 'でーた', 'untouched while composing');
    await cdp.send('Input.insertText', { text: 'データ' });
    await page.waitForFunction(() => document.getElementById('name_kana').value === 'ﾃﾞｰﾀ');
    assert.equal(await page.getAttribute('#name_kana', 'aria-invalid'), 'false');
  });
});

test('keyboard only: ① filled and sent without a mouse', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(t, async (page) => {
    await startFlow(page);
    await page.focus('#branch');
    await page.keyboard.type('115');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'account_type');
    await page.keyboard.press('Tab');
    await page.keyboard.type('1100026');
    await page.keyboard.press('Enter');
    await page.waitForSelector(visible('customer_entry'));
    assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
  });
});

test('wrong identity: auth_mismatch in the alert and the dialog', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(t, async (page) => {
    await toCustomer(page, OTHER);
    await fillCustomer(page, OTHER.customer);
    await page.click('#form-customer button[type=submit]');
    const d = await dialogText(page);
    assert.equal(d.message, messages.get('auth_mismatch'));
    assert.equal(d.message, '本人認証情報が誤っています。本人認証項目をご確認のうえ、再度入力して下さい。');
    await closeDialog(page);
    assert.equal((await page.textContent('#alert-customer_entry')).trim(), messages.get('auth_mismatch'));
    assert.ok(await page.isVisible(visible('customer_entry')), 'stays on ②');
    await record(page, '2-SOA202-mismatch');
  });
});

test('lock: the 5th wrong attempt locks, the next flow shows ② disabled with B84 on arrival', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(t, async (page) => {
    await toCustomer(page, LOCKABLE);
    await fillCustomer(page, LOCKABLE.customer);
    const expected = ['auth_mismatch', 'auth_mismatch', 'auth_mismatch', 'auth_mismatch', 'locked_now'];
    for (const [i, code] of expected.entries()) {
      await page.click('#form-customer button[type=submit]');
      const d = await dialogText(page);
      assert.equal(d.message, messages.get(code), `attempt ${i + 1}: ${code}`);
      await closeDialog(page);
    }
    // No further attempt from this screen (SPEC §8a); 中止する stays.
    assert.ok(await page.isDisabled('#form-customer button[type=submit]'));
    assert.ok(await page.isDisabled('#name_kana'));
    assert.ok(await page.isEnabled('#screen-customer_entry [data-action="cancel"]'));
  });
  await withPage(t, async (page) => {
    // ① 次へ onto ② of the locked account: no attempt is possible any more
    // (SPEC §8a); the server answers B84 to any that came (FlowApi tests).
    await toCustomer(page, LOCKABLE);
    await page.waitForSelector('#alert-customer_entry:not([hidden])');
    const alert = (await page.textContent('#alert-customer_entry')).trim();
    assert.equal(alert, 'ただ今お取扱いできません。詳しくは本サービスのお問合せ窓口へご照会下さい。 理由コードはB84です。');
    assert.ok(await page.isDisabled('#form-customer button[type=submit]'));
    assert.ok(await page.isDisabled('#birth_day'));
    await record(page, '2-SOA202-locked');
  });
});

for (const [screen, go] of [['customer_entry', toCustomer], ['phone_confirm', toPhone], ['call_wait', toCall], ['pin_entry', toPin]]) {
  test(`cancel on ${screen}: 中止 screen, then back to the app with access_denied`, async (t) => {
    if (skipIfClosed(t)) return;
    await withPage(t, async (page) => {
      await go(page);
      await page.click(`#screen-${screen} [data-action="cancel"]`);
      await page.waitForSelector(visible('cancelled'));
      assert.match(await page.textContent('#screen-cancelled'), /API連携認証を中止しました。/);
      assert.equal((await page.textContent('#screen-cancelled h1')).trim(), 'API連携認証の中止');
      if (screen === 'customer_entry') await record(page, 'cancelled');
      await page.click('#return-link');
      await page.waitForURL(/\/demo\/callback/);
      await page.waitForSelector('#error:not([hidden])');
      assert.match(await page.textContent('#error'), /キャンセル/);
    });
  });
}

test('consent denied (拒否する): 中止 screen and access_denied at the app', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(t, async (page) => {
    await toConsent(page);
    await page.click('#screen-consent [data-action="cancel"]');
    await page.waitForSelector(visible('cancelled'));
    await page.click('#return-link');
    await page.waitForURL(/\/demo\/callback/);
    await page.waitForSelector('#error:not([hidden])');
    assert.match(await page.textContent('#error'), /キャンセル/);
    await record(page, 'demo-callback-denied');
  });
});

test('call window: 確定する early is pending, after the window expired, back to ①', async (t) => {
  if (skipIfClosed(t)) return;
  // A server of its own with a short window: no clock API exists to move time.
  await withOwnServer({ call_window_seconds: 6 }, async () => {
    await withPage(t, async (page) => {
      await toCall(page);
      assert.ok(Number(await page.textContent('#seconds-left')) <= 6);
      await page.click('[data-action="confirm-call"]');
      await page.waitForSelector('#call-status:not([hidden])');
      assert.equal((await page.textContent('#call-status')).trim(), '認証中（認証着信待ち）');
      await record(page, '4-SOA209-pending');
      await page.waitForFunction(() => document.getElementById('seconds-left').textContent === '0', null, { timeout: 10000 });
      await h.sleep(1200);
      await page.click('[data-action="confirm-call"]');
      await page.waitForSelector('#call-restart:not([hidden])');
      assert.equal((await page.textContent('#alert-call_wait')).trim(), messages.get('call_expired'));
      assert.ok(await page.isHidden('#call-actions'));
      await record(page, '4-SOA209-expired');
      await page.click('[data-action="restart"]');
      await page.waitForSelector(visible('account_entry'));
      assert.equal(await page.inputValue('#branch'), '');
      assert.equal((await page.textContent('#screen-id')).trim(), 'SOA201');
      // ① again works: the flow restarted on the server too.
      await submitAccount(page, DEMO.account);
      await page.waitForSelector(visible('customer_entry'));
    });
  });
});

for (const code of ['out_of_hours', 'service_unavailable']) {
  test(`/flow/?error=${code} shows the catalog's message`, async (t) => {
    await withPage(t, async (page) => {
      await page.goto(`${server.base}/flow/?error=${code}`);
      await page.waitForSelector(visible('message'));
      assert.equal((await page.textContent('#alert-message')).trim(), messages.get(code));
      await record(page, `error-${code}`);
    });
  });
}

// ---------------------------------------------------------------------------
// No dead ends (SPEC §8a) and the screens on a phone (issue 11).

function core1(c) {
  return JSON.parse(core.runCase(JSON.stringify(c)));
}

test('out of hours at /authorize: the reopening time and 連携元画面へ → temporarily_unavailable', async (t) => {
  await withOwnServer({}, async (own) => {
    const day = h.jstDay();
    await h.setClock(own, `${day}T04:02:00+09:00`);  // daily 04:00–04:05 (SPEC §6)
    const expected = core1({ kind: 'reopening', at: `${day}T04:02:00+09:00`, reopens_at: `${day}T04:05:00+09:00` }).text;
    assert.equal(expected, '4時05分から再開します。');
    await withPage(t, async (page) => {
      await h.openDemoRefused(page, server.base, 'out_of_hours', messages.get('out_of_hours'));
      await page.waitForSelector('#reopening:not([hidden])');
      assert.equal((await page.textContent('#reopening')).trim(), expected);
      assert.ok(await page.isVisible('#trouble-leave'));
      assert.equal((await page.textContent('#trouble-leave')).trim(), '連携元画面へ');
      assert.ok(await page.isHidden('#trouble-retry'), 'no retry while closed');
      await record(page, 'out_of_hours-authorize', PHONE_AND_DESKTOP);
      const url = await h.leaveForTheApp(page);
      assert.equal(url.searchParams.get('error'), 'temporarily_unavailable');
      assert.equal(url.searchParams.get('iss'), server.base);
      assert.ok(url.searchParams.get('state'));
      // The demo app checked state and iss before showing the error.
      await page.waitForSelector('#error:not([hidden])');
      assert.match(await page.textContent('#error'), /temporarily_unavailable/);
    });
  });
});

test('out of hours during the flow: the message, the reopening time and the way back', async (t) => {
  await withOwnServer({}, async (own) => {
    const day = h.jstDay();
    await h.setClock(own, `${day}T10:00:00+09:00`);
    await withPage(t, async (page) => {
      await toCustomer(page);
      await h.setClock(own, `${day}T04:01:00+09:00`);
      await fillCustomer(page, DEMO.customer);
      await page.click('#form-customer button[type=submit]');
      assert.equal((await dialogText(page)).message, messages.get('out_of_hours'));
      await closeDialog(page);
      assert.equal((await page.textContent('#alert-customer_entry')).trim(), messages.get('out_of_hours'));
      assert.equal((await page.textContent('#screen-customer_entry #reopening')).trim(), '4時05分から再開します。');
      await record(page, '2-SOA202-out_of_hours', PHONE_AND_DESKTOP);
      const url = await h.leaveForTheApp(page);
      assert.equal(url.searchParams.get('error'), 'temporarily_unavailable');
      await page.waitForSelector('#error:not([hidden])');
      assert.match(await page.textContent('#error'), /temporarily_unavailable/);
    });
  });
});

test('call_expired on ④: 最初に戻る and 中止する (access_denied)', async (t) => {
  if (skipIfClosed(t)) return;
  await withOwnServer({ call_window_seconds: 3 }, async () => {
    await withPage(t, async (page) => {
      await toCall(page);
      await page.waitForFunction(() => document.getElementById('seconds-left').textContent === '0', null, { timeout: 10000 });
      await h.sleep(1200);
      await page.click('[data-action="confirm-call"]');
      await page.waitForSelector('#call-restart:not([hidden])');
      assert.equal((await page.textContent('#alert-call_wait')).trim(), messages.get('call_expired'));
      assert.equal((await page.textContent('#call-expired-cancel')).trim(), '中止する');
      assert.ok(await page.isVisible('#call-restart [data-action="restart"]'));
      await record(page, '4-SOA209-expired-cancel', PHONE_AND_DESKTOP);
      await page.click('#call-expired-cancel');
      await page.waitForSelector(visible('cancelled'));
      await page.click('#return-link');
      await page.waitForURL(/\/demo\/callback/);
      await page.waitForSelector('#error:not([hidden])');
      assert.match(await page.textContent('#error'), /キャンセル/);
    });
  });
});

test('⑤: a wrong PIN empties the field; locked_now and locked disable the PIN and 次へ, 中止する works', async (t) => {
  if (skipIfClosed(t)) return;
  // Its own server: the demo customer's lock must not reach the other tests.
  await withOwnServer({}, async () => {
    const second = await h.newPage(browser, 375);  // a parallel flow, at ⑤ before the lock
    try {
      await toPin(second.page);
      await withPage(t, async (page) => {
        await toPin(page);
        for (let i = 1; i <= 5; i += 1) {
          await page.fill('#pin', '9999');
          await page.click('#form-pin button[type=submit]');
          const code = i < 5 ? 'auth_mismatch' : 'locked_now';
          assert.equal((await dialogText(page)).message, messages.get(code), `attempt ${i}`);
          await closeDialog(page);
          assert.equal(await page.inputValue('#pin'), '', `attempt ${i}: the rejected PIN is gone`);
          if (i === 1) await record(page, '5-SOA211-mismatch', PHONE_AND_DESKTOP);
        }
        assert.ok(await page.isDisabled('#pin'), 'no further PIN can be typed');
        assert.ok(await page.isDisabled('#form-pin button[type=submit]'));
        assert.ok(await page.isEnabled('#screen-pin_entry [data-action="cancel"]'));
        await record(page, '5-SOA211-locked_now', PHONE_AND_DESKTOP);
        await page.click('#screen-pin_entry [data-action="cancel"]');
        await page.waitForSelector(visible('cancelled'));
        await page.click('#return-link');
        await page.waitForURL(/\/demo\/callback/);
        await page.waitForSelector('#error:not([hidden])');
        assert.match(await page.textContent('#error'), /キャンセル/);
      });
      // The other flow, still on ⑤: the right PIN now answers B84 and locks the form too.
      const p2 = second.page;
      await p2.fill('#pin', DEMO.pin);
      await p2.click('#form-pin button[type=submit]');
      assert.equal((await dialogText(p2)).message, messages.get('locked'));
      await closeDialog(p2);
      assert.equal(await p2.inputValue('#pin'), '');
      assert.ok(await p2.isDisabled('#pin'));
      assert.ok(await p2.isDisabled('#form-pin button[type=submit]'));
      await record(p2, '5-SOA211-locked', PHONE_AND_DESKTOP);
      await p2.click('#screen-pin_entry [data-action="cancel"]');
      await p2.waitForSelector(visible('cancelled'));
      assert.deepEqual(p2.problems, []);
    } finally {
      await second.context.close();
    }
  });
});

test('busy: 再試行する sends the request again; system_error: 連携元画面へ → server_error', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(t, async (page) => {
    await startFlow(page);
    // The server sheds the first request of ① (as its in-flight limit does).
    let shed = 0;
    await page.route('**/api/flow/account', async (route) => {
      if (shed === 0) {
        shed += 1;
        await route.fulfill({ status: 503, contentType: 'application/json', headers: { 'Retry-After': '1' },
          body: JSON.stringify({ error: { code: 'busy', message: messages.get('busy') } }) });
      } else {
        await route.continue();
      }
    });
    await submitAccount(page, DEMO.account);
    assert.equal((await dialogText(page)).message, messages.get('busy'));
    await closeDialog(page);
    assert.equal((await page.textContent('#alert-account_entry')).trim(), messages.get('busy'));
    assert.ok(await page.isVisible('#trouble-retry'));
    assert.ok(await page.isVisible('#trouble-leave'));
    assert.equal((await page.textContent('#trouble-retry')).trim(), core1({ kind: 'catalog' }).labels.retry);
    await record(page, '1-SOA201-busy', PHONE_AND_DESKTOP);
    await page.click('#trouble-retry');
    await page.waitForSelector(visible('customer_entry'));
    assert.equal(shed, 1);
    assert.ok(await page.isHidden('#trouble'));

    // ② → ③, then an internal failure at 電話番号の決定.
    await h.walkScreens(page, { until: 'phone_confirm' });
    await page.route('**/api/flow/phone', (route) => route.fulfill({ status: 500, contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'system_error', message: messages.get('system_error') } }) }));
    await page.click('[data-action="phone"]');
    assert.equal((await dialogText(page)).message, messages.get('system_error'));
    await closeDialog(page);
    assert.ok(await page.isVisible('#screen-phone_confirm #trouble-retry'));
    await record(page, '3-SOA208-system_error', PHONE_AND_DESKTOP);
    const url = await h.leaveForTheApp(page);
    assert.equal(url.searchParams.get('error'), 'server_error');
    await page.waitForSelector('#error:not([hidden])');
    assert.match(await page.textContent('#error'), /server_error/);
  });
});

test('②: 西暦 [年] [月] [日] stay on one line at 320 and 375 px', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(t, async (page) => {
    await toCustomer(page);
    for (const width of [320, 375]) {
      await page.setViewportSize({ width, height: 800 });
      const boxes = await page.evaluate(() => [...document.querySelectorAll('.date-row > *')].map((el) => {
        const r = el.getBoundingClientRect();
        return { text: el.textContent.trim() || el.id, top: r.top, bottom: r.bottom, right: r.right };
      }));
      assert.equal(boxes.length, 7);
      const boxTops = boxes.map((b) => b.top);
      const control = boxes.find((b) => b.text === 'birth_year');
      // One line: every item starts above the bottom of the year box (a wrapped
      // 「日」 or select would start below it).
      for (const b of boxes) assert.ok(b.top < control.bottom && b.bottom > control.top, `${width}px: ${b.text} on the line (${JSON.stringify(boxTops)})`);
      const row = await page.evaluate(() => document.querySelector('.date-row').getBoundingClientRect().right);
      for (const b of boxes) assert.ok(b.right <= row + 0.5, `${width}px: ${b.text} inside the row`);
      // The selects still show their two digits whole.
      const clipped = await page.evaluate(() => [...document.querySelectorAll('.date-row select, .date-row input')]
        .filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.id));
      assert.deepEqual(clipped, [], `${width}px: nothing clipped`);
    }
    await page.fill('#birth_year', '1985');
    await record(page, '2-SOA202-birth-row', PHONE_AND_DESKTOP);
  }, 320);
});

test('④ on a 375×667 phone: 0120-000-00x with a plain-digit tel: link, 確定する in view', async (t) => {
  if (skipIfClosed(t)) return;
  await withPage(t, async (page) => {
    await page.setViewportSize({ width: 375, height: 667 });
    await toCall(page);
    const digits = (await page.getAttribute('#dialled-link', 'href')).replace(/^tel:/, '');
    assert.match(digits, /^0120\d{6}$/, 'the tel: link keeps the plain digits');
    assert.equal((await page.textContent('#dialled-link')).trim(), core1({ kind: 'tollfree', number: digits }).display);
    assert.match((await page.textContent('#dialled-link')).trim(), /^0120-000-00[1-3]$/);
    assert.equal(await page.evaluate(() => window.scrollY), 0, 'nothing scrolled');
    const box = await page.locator('#call-actions [data-action="confirm-call"]').boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= 667, `確定する in the 667 px viewport (${JSON.stringify(box)})`);
    await record(page, '4-SOA209-phone', PHONE_AND_DESKTOP);
    // Still reachable and in view after scrolling to the notes.
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    const after = await page.locator('#call-actions [data-action="confirm-call"]').boundingBox();
    assert.ok(after.y >= 0 && after.y + after.height <= 667);
  }, 375);
});

test('a switched-off app: the message and 連携元画面へ (temporarily_unavailable), in the flow and at /authorize', async (t) => {
  if (skipIfClosed(t)) return;
  await withOwnServer({}, async (own) => {
    const admin = (action) => fetch(`${own.base}/admin/api/clients/demo-app/${action}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${process.env.RENKEI_ADMIN_TOKEN || h.DEV_ADMIN_TOKEN}`,
        'X-Renkei-Staff': 'browser-tests', 'Content-Type': 'application/json' },
      body: JSON.stringify({ reason: 'browser test' }),
    });
    await withPage(t, async (page) => {
      await toCustomer(page);
      assert.equal((await admin('disable')).status, 200);
      await fillCustomer(page, DEMO.customer);
      await page.click('#form-customer button[type=submit]');
      assert.equal((await dialogText(page)).message, messages.get('service_unavailable'));
      await closeDialog(page);
      assert.ok(await page.isVisible('#screen-customer_entry #trouble-leave'));
      assert.ok(await page.isHidden('#trouble-retry'));
      assert.ok(await page.isHidden('#reopening'));
      await record(page, '2-SOA202-service_unavailable', PHONE_AND_DESKTOP);
      assert.equal((await h.leaveForTheApp(page)).searchParams.get('error'), 'temporarily_unavailable');
      await page.waitForSelector('#error:not([hidden])');
      assert.match(await page.textContent('#error'), /temporarily_unavailable/);
    });
    await withPage(t, async (page) => {
      await h.openDemoRefused(page, server.base, 'service_unavailable', messages.get('service_unavailable'));
      await record(page, 'service_unavailable-authorize', PHONE_AND_DESKTOP);
      assert.equal((await h.leaveForTheApp(page)).searchParams.get('error'), 'temporarily_unavailable');
      await page.waitForSelector('#error:not([hidden])');
      assert.match(await page.textContent('#error'), /temporarily_unavailable/);
    });
  });
});

// Issue 11: assets have content-hashed names and are immutable, so a second
// flow in the same browser fetches neither the WASM module nor the scripts
// again (counted in the server's own access log), and the page still works.
test('a second flow in the same browser downloads no WASM module and no script again', async (t) => {
  if (skipIfClosed(t)) return;
  await withOwnServer({}, async (own) => {
    const count = (re) => (own.log().match(re) || []).length;
    const WASM = /"path":"\/static\/wasm\/renkei_core\.[0-9a-f]{16}\.wasm"/g;
    const SCRIPTS = /"path":"\/static\/(wasm\/renkei_core|flow|flow-bundle)\.[0-9a-f]{16}\.js"/g;
    await withPage(t, async (page) => {
      await startFlow(page);
      const wasmFirst = count(WASM);
      const scriptsFirst = count(SCRIPTS);
      assert.equal(wasmFirst, 1, 'the first flow fetched the module once');
      assert.equal(scriptsFirst, 1, 'the first flow fetched one script: flow.js with the core glue');
      await startFlow(page);  // the demo app again: a new flow, the same browser
      await submitAccount(page, DEMO.account);  // the core works from the cached module
      await page.waitForSelector(visible('customer_entry'));
      assert.equal(count(WASM), wasmFirst, 'no second download of the WASM module');
      assert.equal(count(SCRIPTS), scriptsFirst, 'no second download of the scripts');
    });
  });
});

// Issue 10: GET /authorize answers with the flow page itself. flow.js then
// puts /flow/ in the address bar, so that the OAuth request's query (state,
// code_challenge, client_id) neither stays in the session history nor goes
// out as a Referer (the page's and the server's no-referrer), and a reload,
// 戻る then 進む, go on with this flow instead of asking /authorize for a new
// one (a FAPI client's request_uri would be refused the second time).
test('/authorize answers with the page: /flow/ in the address bar, no Referer, reload and 進む keep the flow', async (t) => {
  if (skipIfClosed(t)) return;
  await withOwnServer({}, async (own) => {
    const authorizes = () => (own.log().match(/"path":"\/authorize"/g) || []).length;
    await withPage(t, async (page) => {
      const requests = [];
      page.on('request', (r) => requests.push(r));
      const answered = page.waitForResponse((r) => new URL(r.url()).pathname === '/authorize');
      await startFlow(page);
      const res = await answered;
      assert.equal(res.status(), 200, 'the page itself, no redirect');
      assert.equal(res.headers()['referrer-policy'], 'no-referrer');
      assert.equal(res.headers()['cache-control'], 'no-store');
      assert.match(res.headers()['content-security-policy'], /style-src 'self' 'sha256-[A-Za-z0-9+/]{43}='/);
      assert.equal(res.request().redirectedFrom(), null);
      assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, '/flow/',
        'the address bar shows /flow/ without the OAuth query');
      assert.equal(authorizes(), 1);
      // Every request the page made (the preload of /api/flow and the script
      // start while its URL is still /authorize?…) carries no Referer.
      const fromPage = requests.filter((r) => new URL(r.url()).origin === own.base &&
        !/^\/(demo\/|authorize$)/.test(new URL(r.url()).pathname));
      assert.ok(fromPage.some((r) => /^\/static\/flow-bundle\.[0-9a-f]{16}\.js$/.test(new URL(r.url()).pathname)));
      for (const r of fromPage) {
        assert.equal((await r.allHeaders()).referer, undefined, `no Referer on ${r.url()}`);
      }

      await submitAccount(page, DEMO.account);
      await page.waitForSelector(visible('customer_entry'));
      await page.reload();
      await page.waitForSelector(visible('customer_entry'));
      assert.equal(new URL(page.url()).pathname, '/flow/');
      await page.goBack();
      await page.waitForURL(/\/demo\//);
      await page.goForward();
      await page.waitForSelector(visible('customer_entry'));
      assert.equal(authorizes(), 1, 'reload, 戻る and 進む asked /authorize for no new flow');
    });
  });
});
