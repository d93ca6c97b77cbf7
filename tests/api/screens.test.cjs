'use strict';
// One source for the screens (issue 11): the page (web/flow/index.html, as the
// server serves it) has a section for every screen of the core's table that a
// customer can be shown, the form each such screen submits, and a control for
// every field of that form; the server answers each screen's endpoint. The
// test fails when a screen or a field exists in the core but not on the page.
//
//   node --test tests/api/screens.test.cjs      (ctest: api.screens)

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const h = require('../browser/harness.cjs');

const CASES_BIN = process.env.RENKEI_CASES_BIN || path.join(h.REPO, 'build', 'native', 'tools', 'renkei-cases');
const catalog = JSON.parse(execFileSync(CASES_BIN, { input: '{"kind":"catalog"}\n' }).toString().split('\n')[0]);

// A screen's markup: from its <section class="screen" id=…> to the next
// screen's (screens hold notice sections of their own, so not to the first
// </section>).
function screenMarkup(html, wire) {
  const at = html.indexOf(`id="screen-${wire}"`);
  if (at < 0) return null;
  const start = html.lastIndexOf('<section', at);
  const next = html.indexOf('<section class="screen"', at);
  return html.slice(start, next < 0 ? html.length : next);
}

// A form's markup, from <form … id=…> to its </form> (forms do not nest).
function formMarkup(html, id) {
  const at = html.indexOf(`id="${id}"`);
  if (at < 0) return null;
  const end = html.indexOf('</form>', at);
  return end < 0 ? null : html.slice(html.lastIndexOf('<form', at), end);
}

test('the page has every screen, form and field of the core, and the server every endpoint', async () => {
  const srv = await h.startServer();
  try {
    const html = await (await fetch(`${srv.base}/flow/`)).text();
    const shown = catalog.screens.filter((s) => !s.terminal || s.screen === 'cancelled');
    assert.ok(shown.length >= 7);
    for (const s of shown) {
      const section = screenMarkup(html, s.screen);
      assert.ok(section, `the page has no section for the core's screen ${s.screen}`);
      assert.match(section, /<h1 [^>]*data-title/, `${s.screen}: its title comes from the core`);
      if (!s.form) continue;
      const form = formMarkup(section, `form-${s.form}`);
      assert.ok(form, `${s.screen}: the page has no form "${s.form}"`);
      assert.match(form, new RegExp(`data-form="${s.form}"`));
      for (const field of s.fields) {
        assert.match(form, new RegExp(`data-field="${field}"`), `${s.screen}: no control for the core's field ${field}`);
      }
    }
    // Every field the core labels is on the page (birth_date is the three parts).
    for (const f of catalog.fields) {
      if (f.field === 'birth_date') continue;
      assert.match(html, new RegExp(`data-field="${f.field}"`), `no control for ${f.field}`);
    }
    // The texts the page used to restate are filled from the core.
    assert.doesNotMatch(html, /120秒|普通預金|貯蓄預金|API連携認証を中止しました/, 'no restated text');
    assert.match(html, /data-call-window/);
    assert.match(html, /data-message="cancelled"/);
    // Each screen's endpoint is a route of the server (a POST without a
    // session answers session_expired, never not_found).
    for (const s of catalog.screens.filter((x) => x.endpoint)) {
      const res = await fetch(srv.base + s.endpoint, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
      });
      const body = await res.json();
      assert.equal(body.error.code, 'session_expired', `${s.endpoint}: ${JSON.stringify(body)}`);
    }
  } finally {
    await srv.stop();
  }
});
