'use strict';
// The customer's screens in an app's webview (issue 11):
// - without WebAssembly (chromium with --js-flags=--noexpose_wasm, as iOS
//   Lockdown Mode does; and a module whose instantiation throws, as an older
//   WebKit refusing 'wasm-unsafe-eval' does): the whole flow ① → ⑥ to the
//   app's callback with the server's catalog (GET /api/catalog) and the
//   server's checks, the same texts as the core's catalog, and no request for
//   the module;
// - phones of 320, 360 and 414 px with touch and an Android WebView user
//   agent: the flow walked with taps, the inputs' keyboard and autofill hints,
//   no hover-only affordance, no sideways scrolling, axe-core at 320 px, and
//   screenshots at every width.

const test = require('node:test');
const assert = require('node:assert/strict');
const { loadCore } = require('../../wasm/load-core.cjs');
const h = require('./harness.cjs');

const { DEMO, visible, fillCustomer } = h;
const ANDROID_WEBVIEW_UA = 'Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A; wv) AppleWebKit/537.36 '
  + '(KHTML, like Gecko) Version/4.0 Chrome/125.0.0.0 Mobile Safari/537.36';

let server;
let core;
let catalogText;  // the WASM core's catalog case, byte for byte
let catalog;
let messages;     // code → the catalog's text
let closedReason = null;

const core1 = (c) => JSON.parse(core.runCase(JSON.stringify(c)));

test.before(async () => {
  core = await loadCore();
  catalogText = core.runCase('{"kind":"catalog"}');
  catalog = JSON.parse(catalogText);
  messages = new Map(catalog.codes.map((c) => [c.code, c.message]));
  server = await h.startServer();
  closedReason = h.closedReason(server, core);  // out of hours: the flow tests skip
});

test.after(async () => {
  if (server) await server.stop();
});

const skipIfClosed = (t) => h.skipFor(t, closedReason);

// fn(page) in a page in `browser`, which must log no errors (harness
// runInPage); every request's URL and every answered one are kept.
async function withPage(browser, fn, width = 375, options = {}) {
  const opened = await h.newPage(browser, width, options);
  const { page } = opened;
  page.requested = [];
  page.answered = [];
  page.on('request', (r) => page.requested.push(r.url()));
  page.on('response', (r) => page.answered.push({ url: r.url(), status: r.status() }));
  await h.runInPage(opened, server, fn);
}

// A server of the test's own, swapped in for `server` (harness).
const useServer = (srv) => {
  const was = server;
  server = srv;
  return was;
};
const withOwnServer = (overrides, fn) => h.withOwnServer(overrides, useServer, fn);

async function dialogText(page) {
  await page.waitForSelector('#dialog[open]');
  return {
    title: (await page.textContent('#dialog-title')).trim(),
    message: (await page.textContent('#dialog-message')).trim(),
    ok: (await page.textContent('#dialog-ok')).trim(),
  };
}

// `press` is page.click or page.tap (bound).
async function closeDialog(page, press) {
  await press('#dialog-ok');
  await page.waitForSelector('#dialog:not([open])', { state: 'attached' });
}

function assertNoModule(page) {
  const module = page.requested.filter((u) => /renkei_core\.([0-9a-f]{16}\.)?(wasm|js)/.test(u));
  assert.deepEqual(module, [], 'no module and no separate glue script (the glue comes inside flow-bundle.js, unused)');
  assert.ok(page.answered.some((r) => new URL(r.url).pathname === '/api/catalog' && r.status === 200),
    'the catalog came from the server');
}

// ---------------------------------------------------------------------------
// Without WebAssembly.

test('GET /api/catalog: the same bytes as the WASM core, cacheable, 304 on its ETag', async () => {
  const res = await fetch(`${server.base}/api/catalog`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), catalogText, 'one source: the native core answers what the WASM core does');
  assert.equal(res.headers.get('cache-control'), 'public, no-cache');
  assert.match(res.headers.get('content-type'), /^application\/json/);
  const etag = res.headers.get('etag');
  assert.ok(etag);
  const again = await fetch(`${server.base}/api/catalog`, { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
});

test('no WebAssembly: ① → ⑥ to the app with the server\'s catalog and checks, no module requested', async (t) => {
  if (skipIfClosed(t)) return;
  const browser = await h.launchBrowser({ noWasm: true });
  try {
    await withPage(browser, async (page) => {
      const press = page.click.bind(page);
      await page.goto(`${server.base}/demo/`);
      assert.equal(await page.evaluate(() => typeof WebAssembly), 'undefined', 'the browser has no WebAssembly');
      await page.click('#start');
      await page.waitForSelector(visible('account_entry'));
      await page.waitForSelector('html[data-core="server"]', { state: 'attached' });
      assert.equal((await page.textContent('#screen-id')).trim(), 'SOA201');

      // ①: nothing typed: the server's required errors and the エラー dialog.
      await press('#form-account button[type=submit]');
      const d = await dialogText(page);
      assert.deepEqual(d, { title: catalog.required_dialog.title, message: catalog.required_dialog.message,
        ok: catalog.required_dialog.ok });
      assert.deepEqual(d, { title: 'エラー', message: '入力されていない項目があります。', ok: 'OK' });
      await closeDialog(page, press);
      assert.equal((await page.textContent('#branch-msg')).trim(), messages.get('required'));
      assert.equal((await page.textContent('#account_number-msg')).trim(), messages.get('required'));
      assert.equal(messages.get('required'), '必ず入力して下さい。');
      assert.equal(await page.getAttribute('#branch', 'aria-invalid'), 'true');
      await h.screenshots(page, 'nowasm-1-SOA201-error', [320]);

      // A filled but wrong field: its own message, from the server (no dialog).
      await page.fill('#branch', '12a');
      await page.fill('#account_number', DEMO.account.number);
      await press('#form-account button[type=submit]');
      await page.waitForFunction((m) => document.getElementById('branch-msg').textContent.trim() === m,
        messages.get('invalid_character'));
      assert.equal((await page.textContent('#account_number-msg')).trim(), '');
      assert.ok(await page.isHidden('#dialog[open]'));

      await page.fill('#branch', DEMO.account.branch);
      await page.selectOption('#account_type', DEMO.account.type);
      await press('#form-account button[type=submit]');

      // ②: mismatched e-mail addresses (a field error), then wrong data (auth_mismatch).
      await page.waitForSelector(visible('customer_entry'));
      const summary = (await page.textContent('.account-summary')).replace(/\s+/g, ' ').trim();
      assert.equal(summary, '店番 115 普通預金 1100026');
      await fillCustomer(page, { ...DEMO.customer });
      await page.fill('#email_confirm', 'other@example.com');
      await press('#form-customer button[type=submit]');
      await page.waitForFunction((m) => document.getElementById('email_confirm-msg').textContent.trim() === m,
        messages.get('email_mismatch'));
      await page.fill('#email_confirm', DEMO.customer.email);
      await page.fill('#phone', '09099998888');
      await press('#form-customer button[type=submit]');
      const mismatch = await dialogText(page);
      assert.equal(mismatch.message, messages.get('auth_mismatch'));
      assert.equal(mismatch.message, '本人認証情報が誤っています。本人認証項目をご確認のうえ、再度入力して下さい。');
      assert.equal(mismatch.title, catalog.required_dialog.title);
      await closeDialog(page, press);
      assert.equal((await page.textContent('#alert-customer_entry')).trim(), messages.get('auth_mismatch'));
      await h.screenshots(page, 'nowasm-2-SOA202-mismatch', [320]);
      await page.fill('#phone', DEMO.customer.phone);
      await press('#form-customer button[type=submit]');

      // ③–⑥ walked (harness): the PIN, consent, back to the app.
      await h.walkScreens(page, {
        from: 'phone_confirm',
        press,
        at: {
          // ③: the masked number from the server's view.
          phone_confirm: async () => {
            assert.equal((await page.textContent('#screen-phone_confirm [data-view="masked_phone"]')).trim(),
              core1({ kind: 'mask', phone: DEMO.customer.phone }).masked);
          },
          // ④: the toll-free number grouped by the server's (native) core.
          call_wait: async () => {
            const digits = (await page.getAttribute('#dialled-link', 'href')).replace(/^tel:/, '');
            assert.match(digits, /^0120\d{6}$/);
            assert.equal((await page.textContent('#dialled-link')).trim(), core1({ kind: 'tollfree', number: digits }).display);
            assert.match((await page.textContent('#dialled-link')).trim(), /^0120-\d{3}-\d{3}$/);
            await h.screenshots(page, 'nowasm-4-SOA209', [320]);
            await press('[data-action="confirm-call"]');
            await page.waitForSelector('#call-status:not([hidden])');
            assert.equal((await page.textContent('#call-status')).trim(), messages.get('call_pending'));
          },
          consent: async () => {
            assert.equal((await page.textContent('.period')).trim(), '30日');
          },
        },
      });
      await page.waitForURL(/\/demo\/callback/);
      await page.waitForSelector('#account-section:not([hidden])');
      assert.equal((await page.textContent('#account')).trim(), '店番 115 普通預金 1100026');
      assertNoModule(page);
    });
  } finally {
    await browser.close();
  }
});

test('no WebAssembly: out of hours at /authorize and during the flow, with the reopening time', async () => {
  const browser = await h.launchBrowser({ noWasm: true });
  try {
    await withOwnServer({}, async (own) => {
      const day = h.jstDay();
      // At /authorize: the page for ?error=out_of_hours.
      await h.setClock(own, `${day}T04:02:00+09:00`);  // daily 04:00–04:05 (SPEC §6)
      const expected = core1({ kind: 'reopening', at: `${day}T04:02:00+09:00`, reopens_at: `${day}T04:05:00+09:00` }).text;
      assert.equal(expected, '4時05分から再開します。');
      await withPage(browser, async (page) => {
        await h.openDemoRefused(page, own.base, 'out_of_hours', messages.get('out_of_hours'));
        await page.waitForSelector('#reopening:not([hidden])');
        assert.equal((await page.textContent('#reopening')).trim(), expected);
        assert.equal((await page.textContent('#trouble-leave')).trim(), catalog.labels.back_to_app);
        assert.ok(await page.isHidden('#trouble-retry'));
        await h.screenshots(page, 'nowasm-out_of_hours-authorize', [320]);
        const url = await h.leaveForTheApp(page);
        assert.equal(url.searchParams.get('error'), 'temporarily_unavailable');
        assert.equal(url.searchParams.get('iss'), own.base);
        await page.waitForSelector('#error:not([hidden])');
        assertNoModule(page);
      });
      // During the flow: ② answered out_of_hours.
      await h.setClock(own, `${day}T10:00:00+09:00`);
      await withPage(browser, async (page) => {
        await h.openDemo(page, own.base);
        await page.fill('#branch', DEMO.account.branch);
        await page.fill('#account_number', DEMO.account.number);
        await page.click('#form-account button[type=submit]');
        await page.waitForSelector(visible('customer_entry'));
        await h.setClock(own, `${day}T04:01:00+09:00`);
        await fillCustomer(page, DEMO.customer);
        await page.click('#form-customer button[type=submit]');
        assert.equal((await dialogText(page)).message, messages.get('out_of_hours'));
        await closeDialog(page, page.click.bind(page));
        assert.equal((await page.textContent('#alert-customer_entry')).trim(), messages.get('out_of_hours'));
        assert.equal((await page.textContent('#screen-customer_entry #reopening')).trim(), expected);
        assert.equal((await h.leaveForTheApp(page)).searchParams.get('error'), 'temporarily_unavailable');
        assertNoModule(page);
      });
    });
  } finally {
    await browser.close();
  }
});

test('a module whose instantiation throws: the page falls back to the server\'s catalog', async (t) => {
  if (skipIfClosed(t)) return;
  const browser = await h.launchBrowser();
  try {
    await withPage(browser, async (page) => {
      // What an older WebKit does with a CSP it cannot parse: compiling refused.
      await page.route(/\/static\/wasm\/renkei_core\.([0-9a-f]{16}\.)?wasm/, (route) => route.fulfill({
        status: 200, contentType: 'application/wasm', body: Buffer.from('not a wasm module'),
      }));
      await h.openDemo(page, server.base);
      await page.waitForSelector('html[data-core="server"]', { state: 'attached' });
      await page.click('#form-account button[type=submit]');
      assert.equal((await dialogText(page)).message, catalog.required_dialog.message);
      await closeDialog(page, page.click.bind(page));
      assert.equal((await page.textContent('#branch-msg')).trim(), messages.get('required'));
      await page.fill('#branch', DEMO.account.branch);
      await page.fill('#account_number', DEMO.account.number);
      await page.click('#form-account button[type=submit]');
      await page.waitForSelector(visible('customer_entry'));
    });
  } finally {
    await browser.close();
  }
});

test('screen ① is drawn while the module is still loading', async (t) => {
  if (skipIfClosed(t)) return;
  const browser = await h.launchBrowser();
  try {
    await withPage(browser, async (page) => {
      let release;
      const held = new Promise((r) => { release = r; });
      await page.route(/\/static\/wasm\/renkei_core\.([0-9a-f]{16}\.)?wasm/, async (route) => {
        await held;
        await route.continue();
      });
      await h.openDemo(page, server.base);
      assert.equal(await page.getAttribute('html', 'data-core'), null, 'the module has not loaded yet');
      assert.equal((await page.textContent('#screen-id')).trim(), 'SOA201');
      release();
      await page.waitForSelector('html[data-core="wasm"]', { state: 'attached' });
      // Now the core checks while typing.
      await page.fill('#branch', '12a');
      await page.waitForFunction((m) => document.getElementById('branch-msg').textContent.trim() === m,
        messages.get('invalid_character'));
    });
  } finally {
    await browser.close();
  }
});

// ---------------------------------------------------------------------------
// Phones and webviews: 320, 360 and 414 px, touch, an Android WebView.

// What each input must tell the on-screen keyboard and autofill.
const HINTS = {
  branch: { inputmode: 'numeric' },
  account_number: { inputmode: 'numeric', autocomplete: 'off' },
  birth_year: { inputmode: 'numeric', autocomplete: 'bday-year' },
  birth_month: { autocomplete: 'bday-month' },
  birth_day: { autocomplete: 'bday-day' },
  phone: { inputmode: 'numeric', autocomplete: 'tel-national', type: 'tel' },
  email: { autocomplete: 'email', type: 'email' },
  email_confirm: { autocomplete: 'email', type: 'email' },
  // "off" (the cash-card PIN is a lasting secret, not an SMS code: see the
  // comment in web/flow/index.html).
  pin: { inputmode: 'numeric', autocomplete: 'off', type: 'password' },
};

async function assertHints(page) {
  for (const [id, want] of Object.entries(HINTS)) {
    for (const [attr, value] of Object.entries(want)) {
      assert.equal(await page.getAttribute(`#${id}`, attr), value, `#${id} ${attr}`);
    }
  }
}

// Every :hover rule sits in @media (hover: hover) and has an :active twin with
// the same declarations, so a touch screen loses nothing.
async function assertNoHoverOnly(page) {
  const found = await page.evaluate(() => {
    const out = [];
    const walk = (rules, media) => {
      for (const r of rules) {
        if (r.cssRules && r.media) walk(r.cssRules, r.media.mediaText);
        else if (r.cssRules) walk(r.cssRules, media);
        if (r.selectorText && r.selectorText.includes(':hover')) {
          out.push({ selector: r.selectorText, media, style: r.style.cssText });
        }
      }
    };
    const actives = [];
    for (const sheet of document.styleSheets) {
      walk(sheet.cssRules, '');
      for (const r of sheet.cssRules) {
        if (r.selectorText && r.selectorText.includes(':active')) actives.push({ selector: r.selectorText, style: r.style.cssText });
      }
    }
    return { hovers: out, actives };
  });
  for (const hv of found.hovers) {
    assert.match(hv.media, /\(hover:\s*hover\)/, `${hv.selector} only where a pointer hovers`);
    const twin = found.actives.find((a) => a.selector === hv.selector.replace(/:hover/g, ':active'));
    assert.ok(twin && twin.style === hv.style, `${hv.selector} has an :active twin with the same look`);
  }
}

// The visible screen fits the width, and every button is a comfortable tap
// target (44 px; links at least WCAG 2.2's 24 px).
async function assertFitsAndTappable(page, width, where) {
  const r = await page.evaluate(() => {
    const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    const small = [];
    for (const el of document.querySelectorAll('button, a[href], input, select')) {
      if (!shown(el)) continue;
      const b = el.getBoundingClientRect();
      const min = el.tagName === 'BUTTON' || el.classList.contains('button') ? 44 : 24;
      if (el.type !== 'checkbox' && b.height < min) small.push(`${el.id || el.tagName} ${Math.round(b.height)}px`);
    }
    return { scrollWidth: document.documentElement.scrollWidth, small };
  });
  assert.ok(r.scrollWidth <= width, `${where} at ${width}px: no sideways scrolling (${r.scrollWidth})`);
  assert.deepEqual(r.small, [], `${where} at ${width}px: tap targets`);
}

for (const width of [320, 360, 414]) {
  test(`Android WebView ${width} px, touch: ① → ⑥ by taps, keyboard and autofill hints, no hover`, async (t) => {
    if (skipIfClosed(t)) return;
    const browser = await h.launchBrowser();
    try {
      await withPage(browser, async (page) => {
        const tap = page.tap.bind(page);
        const shot = async (name) => {
          await h.screenshots(page, `webview-${name}`, [width]);
          if (width === 320) {
            assert.deepEqual(await h.axeViolations(page), [], `axe-core at 320 px: ${name}`);
          }
        };
        assert.match(await page.evaluate(() => navigator.userAgent), /; wv\)/);
        assert.equal(await page.evaluate(() => navigator.maxTouchPoints > 0), true, 'a touch screen');
        await page.goto(`${server.base}/demo/`);
        await tap('#start');
        await page.waitForSelector(visible('account_entry'));
        await assertHints(page);
        await assertNoHoverOnly(page);
        await assertFitsAndTappable(page, width, '①');
        await shot('1-SOA201');

        // ① empty: the required messages and the dialog, closed by a tap.
        await tap('#form-account button[type=submit]');
        assert.equal((await dialogText(page)).message, catalog.required_dialog.message);
        await shot('1-SOA201-dialog');
        await closeDialog(page, tap);
        assert.equal((await page.textContent('#branch-msg')).trim(), messages.get('required'));
        await assertFitsAndTappable(page, width, '① with messages');
        await shot('1-SOA201-error');
        await tap('#branch');
        await page.keyboard.type(DEMO.account.branch);
        await tap('#account_number');
        await page.keyboard.type(DEMO.account.number);
        await tap('#form-account button[type=submit]');

        // ②–⑥ walked (harness) by taps and the on-screen keyboard (the
        // kana inserted as an IME commits it; the month and day by the
        // system's picker), each screen checked and photographed.
        const at = {};
        for (const [screen, mark, name] of [['customer_entry', '②', '2-SOA202'], ['phone_confirm', '③', '3-SOA208'],
          ['call_wait', '④', '4-SOA209'], ['pin_entry', '⑤', '5-SOA211'], ['consent', '⑥', '6-SOA206']]) {
          at[screen] = async () => {
            await assertFitsAndTappable(page, width, mark);
            await shot(name);
          };
        }
        await h.walkScreens(page, {
          at,
          press: tap,
          type: async (sel, value) => {
            await tap(sel);
            if (sel === '#name_kana') await page.keyboard.insertText(value);
            else await page.keyboard.type(value);
          },
          check: async (sel) => {
            await tap(sel);
            assert.ok(await page.isChecked(sel));
          },
        });
        await page.waitForURL(/\/demo\/callback/);
        await page.waitForSelector('#account-section:not([hidden])');
        assert.equal((await page.textContent('#account')).trim(), '店番 115 普通預金 1100026');
      }, width, { height: 740, isMobile: true, hasTouch: true, deviceScaleFactor: 2, userAgent: ANDROID_WEBVIEW_UA });
    } finally {
      await browser.close();
    }
  });
}
