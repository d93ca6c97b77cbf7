// API連携認証: the customer's screens ①–⑥ in the browser.
//
// This file only connects the DOM to the WASM core and to the server
// (docs/http-api.md). It spells no rule and no message: normalization, field
// checks and every message come from the core (renkei_core.js, a "catalog"
// case at start, "field"/"form" cases while typing and on 次へ); the server
// re-checks everything and answers with the same codes.
//
// Without WebAssembly (iOS Lockdown Mode; an older WebKit whose CSP parser
// refuses 'wasm-unsafe-eval', so instantiation throws) the page still works:
// the same catalog comes from the server (GET /api/catalog, the native core's
// bytes), the forms go to the server unchecked, and the server's answers carry
// what the core would have computed (field errors and messages, the reopening
// sentence, the grouped toll-free number, the masked phone). Nothing waits for
// the module: screen ① is drawn from GET /api/flow while it loads (the page
// preloads that answer beside the CSS and this file), and the module's bytes
// stream into the compiler. The page loads this file together with the
// module's glue, in one script (/static/flow-bundle.js, made by the server).
(function () {
  'use strict';

  const $ = (id) => document.getElementById(id);
  // The screens are the page's sections; which form each submits, to which
  // endpoint, the titles, the account types, the call window and the
  // cancellation message all come from the core (its screens table and
  // catalog, or the server's answers built from them): this file restates none.
  const SCREENS = Array.from(document.querySelectorAll('section.screen[data-screen]'),
    (el) => el.getAttribute('data-screen'));
  // Codes shown while the customer is still typing (a character that can never
  // be right); the rest wait for blur or 次へ so half-typed input is not nagged.
  const SHOW_WHILE_TYPING = new Set(['invalid_character', 'control_character', 'too_long',
    'invalid_utf8', 'invalid_mark_position']);
  // Each field's control (data-field), the form it sits in and the message
  // line under it (aria-describedby), read from the page.
  const FIELDS = {};
  for (const el of document.querySelectorAll('[data-field]')) {
    FIELDS[el.getAttribute('data-field')] = {
      form: el.closest('form[data-form]').getAttribute('data-form'),
      msg: (el.getAttribute('aria-describedby') || '').split(/\s+/).find((id) => id.endsWith('-msg')) || '',
    };
  }
  const BIRTH = ['birth_year', 'birth_month', 'birth_day'];
  // Where the customer cannot go on (SPEC §8a): the codes that show the panel
  // with the way back to the app, and those that also offer a retry.
  const WAY_BACK = new Set(['out_of_hours', 'service_unavailable', 'busy', 'system_error']);
  const RETRY = new Set(['busy', 'system_error']);
  // A lock: the form's inputs and 次へ are disabled, 中止する stays.
  const LOCKS = new Set(['locked', 'locked_now']);

  const state = {
    run: null,          // (case object) → result object, from the WASM core
    catalog: null,
    messages: new Map(),
    csrf: '',
    view: null,
    screen: '',
    devMode: false,
    busy: false,
    timer: 0,
    afterExpiry: null,  // the view to show when the customer goes back to ①
    lastRequest: null,  // { path, body } of the last POST, for 再試行する
    canLeave: false,    // a flow (session and CSRF token) exists to leave
    leaveReason: '',    // the code the customer leaves for the app with
    outcome: '',        // an ended flow's way back to the app (the server's redirect_to)
    dirty: new Set(),
    composing: new Set(),
  };

  // ----- the WASM core -----------------------------------------------------

  function metaContent(name, fallback) {
    const meta = document.querySelector(`meta[name="${name}"]`);
    return meta ? meta.content : fallback;
  }

  // The module's bytes, fetched and compiled as they arrive
  // (WebAssembly.compileStreaming). The glue's own fetch of the module (which
  // this replaces) carried no integrity either; the script that brings the
  // glue does (the page's <script integrity>).
  function compileModule() {
    const url = metaContent('renkei-wasm', '/static/wasm/renkei_core.wasm');
    const response = fetch(url, { credentials: 'same-origin' }).then((res) => {
      if (!res.ok) throw new Error('could not load ' + url);
      return res;
    });
    if (typeof WebAssembly.compileStreaming === 'function') return WebAssembly.compileStreaming(response);
    return response.then((res) => res.arrayBuffer()).then((bytes) => WebAssembly.compile(bytes));
  }

  async function loadCore() {
    if (typeof WebAssembly !== 'object' || WebAssembly === null) throw new Error('no WebAssembly');
    const compiled = compileModule();
    compiled.catch(() => {});  // its failure is handled below
    // The glue (renkei_core.js) comes in the same script as this file
    // (/static/flow-bundle.js); a server without the WASM build leaves it out.
    if (typeof window.createRenkeiCore !== 'function') throw new Error('renkei_core.js missing');
    // A refused compilation (a CSP without 'wasm-unsafe-eval') throws here,
    // and the page uses the server's catalog.
    const wasmModule = await compiled;
    let refused = null;
    const failed = new Promise((resolve, reject) => { refused = reject; });
    const module = await Promise.race([failed, window.createRenkeiCore({
      // The glue instantiates the module compiled above instead of fetching it again.
      instantiateWasm: (imports, receive) => {
        WebAssembly.instantiate(wasmModule, imports).then((instance) => receive(instance, wasmModule), refused);
        return {};
      },
      print: () => {},
      printErr: () => {},
    })]);
    const run = (c) => JSON.parse(module.runCase(JSON.stringify(c)));
    if (typeof run({ kind: 'catalog' }) !== 'object') throw new Error('the core does not answer');
    return run;
  }

  function useCatalog(catalog) {
    if (!catalog || typeof catalog !== 'object' || !Array.isArray(catalog.codes)) return false;
    state.catalog = catalog;
    state.messages = new Map();
    for (const c of catalog.codes) state.messages.set(c.code, c.message);
    applyLabels();
    if (Array.isArray(catalog.account_types)) fillAccountTypes(catalog.account_types);
    return true;
  }

  // The catalog from the server (GET /api/catalog: the native core's
  // "catalog" case, the same bytes as the WASM core's). Used when the module
  // cannot run, or when an answer must be shown before it has loaded.
  let catalogRequest = null;
  function ensureCatalog() {
    if (state.catalog) return Promise.resolve(true);
    if (!catalogRequest) {
      catalogRequest = (async () => {
        try {
          const res = await fetch('/api/catalog', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
          if (res.ok && !state.catalog) useCatalog(await res.json());
        } catch (e) {
          // No catalog: the server's own messages are shown (messageFor's fallback).
        }
        catalogRequest = null;
        return Boolean(state.catalog);
      })();
    }
    return catalogRequest;
  }

  // The WASM core, in the background; on failure the server's catalog.
  async function startCore() {
    try {
      const run = await loadCore();
      state.run = run;
      useCatalog(core({ kind: 'catalog' }));
    } catch (e) {
      state.run = null;  // the server still checks everything and sends its messages
      document.documentElement.setAttribute('data-core', 'server');
      await ensureCatalog();
      return;
    }
    document.documentElement.setAttribute('data-core', 'wasm');
    // What was typed while the module loaded is checked now, as on blur.
    for (const name of state.dirty) {
      if (!state.composing.has(name) && document.activeElement !== control(name)) checkField(name, 'blur');
    }
  }

  function core(c) {
    if (!state.run) return null;
    try {
      return state.run(c);
    } catch (e) {
      return null;
    }
  }

  function messageFor(code, fallback) {
    return state.messages.get(code) || fallback || '';
  }

  // Today in JST (UTC+9, no DST): the core's birth-date check needs it.
  function todayJst() {
    return new Date(Date.now() + 9 * 3600 * 1000).toISOString().slice(0, 10);
  }

  // ----- announcements and the dialog ---------------------------------------

  function announce(text) {
    const live = $('live');
    live.textContent = '';
    // A fresh text node so that the same message is announced again.
    window.setTimeout(() => { live.textContent = text; }, 50);
  }

  let dialogReturn = null;
  function openDialog(title, message, ok, returnTo) {
    const d = $('dialog');
    $('dialog-title').textContent = title || '';
    $('dialog-message').textContent = message || '';
    $('dialog-ok').textContent = ok || 'OK';
    dialogReturn = returnTo || document.activeElement;
    if (d.open) d.close();
    if (typeof d.showModal === 'function') {
      d.showModal();
    } else {
      d.setAttribute('open', '');
    }
    $('dialog-ok').focus();
  }

  function dialogTexts() {
    const r = state.catalog && state.catalog.required_dialog;
    return r || { title: '', message: '', ok: 'OK' };
  }

  // ----- field messages ------------------------------------------------------

  function control(name) {
    return $(name);
  }

  function setFieldErrors(names, errors) {
    // names: the fields this check covered; errors: the core's [{field, code, message}].
    const lines = new Map();
    for (const n of names) {
      const c = control(n);
      if (c) c.setAttribute('aria-invalid', 'false');
      if (FIELDS[n]) lines.set(FIELDS[n].msg, '');
    }
    for (const e of errors) {
      const targets = e.field === 'birth_date' ? BIRTH : [e.field];
      for (const t of targets) {
        const c = control(t);
        if (c) c.setAttribute('aria-invalid', 'true');
        const msgId = FIELDS[t] && FIELDS[t].msg;
        if (msgId && !lines.get(msgId)) lines.set(msgId, messageFor(e.code, e.message));
      }
    }
    for (const [id, text] of lines) $(id).textContent = text;
  }

  function clearForm(form) {
    for (const [name, f] of Object.entries(FIELDS)) {
      if (f.form !== form) continue;
      const c = control(name);
      if (!c) continue;
      if (c.type === 'checkbox') c.checked = false;
      else if (c.tagName === 'SELECT') c.selectedIndex = 0;
      else c.value = '';
      c.setAttribute('aria-invalid', 'false');
      $(f.msg).textContent = '';
      state.dirty.delete(name);
    }
  }

  // Writes the core's normalized value back, keeping the caret's distance from the end.
  function writeBack(input, value) {
    if (typeof value !== 'string' || input.value === value) return;
    if (value === '' && input.value !== '') return;
    const fromEnd = input.value.length - (input.selectionEnd == null ? input.value.length : input.selectionEnd);
    input.value = value;
    if (document.activeElement === input && input.setSelectionRange && input.type !== 'email') {
      const pos = Math.max(0, value.length - fromEnd);
      try { input.setSelectionRange(pos, pos); } catch (e) { /* not a text input */ }
    }
  }

  // Runs the core's check of one field (the birth date as a whole).
  // mode: 'typing' (show only hopeless characters), 'blur' or 'submit'.
  function checkField(name, mode) {
    if (!state.run || !FIELDS[name]) return;
    let names = [name];
    let c;
    if (BIRTH.includes(name)) {
      names = BIRTH;
      c = { kind: 'field', field: 'birth_date', year: $('birth_year').value,
        month: $('birth_month').value, day: $('birth_day').value, today: todayJst() };
      if (mode !== 'typing') {
        const n = core({ kind: 'normalize', mode: 'ascii', value: $('birth_year').value });
        if (n && !n.error) writeBack($('birth_year'), n.text);
      }
    } else if (name === 'consent') {
      c = { kind: 'field', field: 'consent', value: $('consent').checked };
    } else if (name === 'email_confirm') {
      c = { kind: 'field', field: 'email_confirm', email: $('email').value, value: $('email_confirm').value };
    } else {
      c = { kind: 'field', field: name, value: control(name).value };
    }
    const r = core(c);
    if (!r || !Array.isArray(r.errors)) return;
    const input = control(name);
    // 'typing': no write-back, hopeless characters only; 'compose': the IME
    // committed or text was pasted: write back, still only hopeless characters;
    // 'blur': write back, everything once the field was touched.
    if (mode !== 'typing' && r.value !== undefined && input.tagName === 'INPUT' &&
        input.type !== 'checkbox' && !BIRTH.includes(name)) {
      writeBack(input, r.value);
    }
    let errors = r.errors;
    const shown = names.some((n) => control(n) && control(n).getAttribute('aria-invalid') === 'true');
    if ((mode === 'typing' || mode === 'compose') && !shown) errors = errors.filter((e) => SHOW_WHILE_TYPING.has(e.code));
    if (mode === 'blur' && !shown && !state.dirty.has(name)) errors = [];
    setFieldErrors(names, errors);
    // The confirmation depends on the address: keep its message current.
    if (name === 'email' && $('email_confirm').value !== '') checkField('email_confirm', mode === 'blur' ? 'blur' : 'typing');
  }

  function wireField(name) {
    const el = control(name);
    if (!el) return;
    el.addEventListener('compositionstart', () => state.composing.add(name));
    el.addEventListener('compositionend', () => {
      state.composing.delete(name);
      state.dirty.add(name);
      // The IME has committed: now the text may be normalized and shown back.
      checkField(name, 'compose');
    });
    el.addEventListener('input', (ev) => {
      if (el.tagName === 'SELECT' || el.type === 'checkbox') return;  // see 'change'
      if (ev.isComposing || state.composing.has(name)) return;
      state.dirty.add(name);
      const t = ev.inputType || '';
      // Pasted or autofilled text is normalized at once; typed text on blur.
      const pasted = t.startsWith('insertFromPaste') || t === 'insertReplacementText' || t === '';
      checkField(name, pasted ? 'compose' : 'typing');
    });
    el.addEventListener('change', () => {
      state.dirty.add(name);
      if (el.tagName === 'SELECT' || el.type === 'checkbox') checkField(name, 'blur');
    });
    el.addEventListener('blur', () => {
      if (state.composing.has(name)) return;
      checkField(name, 'blur');
    });
  }

  // ----- talking to the server ---------------------------------------------

  function setBusy(busy) {
    state.busy = busy;
    $('main').setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  async function api(path, body) {
    const init = body === undefined
      ? { method: 'GET', credentials: 'same-origin', headers: { Accept: 'application/json' } }
      : {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': state.csrf },
        body: JSON.stringify(body),
      };
    let json = null;
    let status = 0;
    try {
      const res = await fetch(path, init);
      status = res.status;
      json = await res.json();
    } catch (e) {
      json = null;
    }
    if (!json || typeof json !== 'object') json = { error: { code: status === 503 ? 'busy' : 'system_error' } };
    if (typeof json.csrf_token === 'string' && json.csrf_token) {
      state.csrf = json.csrf_token;
      state.canLeave = true;
    }
    return json;
  }

  async function post(path, body) {
    if (state.busy) return null;
    state.lastRequest = { path, body };
    setBusy(true);
    try {
      return await api(path, body);
    } finally {
      setBusy(false);
    }
  }

  // ----- screens -------------------------------------------------------------

  function setAlert(screen, text) {
    const a = $('alert-' + screen);
    if (!a) return;
    a.textContent = text || '';
    a.hidden = !text;
  }

  function showScreen(name, title, screenId) {
    const changed = state.screen !== name;
    const heading = $('screen-' + name).querySelector('h1[data-title]');
    if (heading && title) heading.textContent = title;
    for (const s of SCREENS) $('screen-' + s).hidden = s !== name;
    state.screen = name;
    if (title) document.title = title;
    $('screen-id').textContent = screenId || '';
    $('screen-id-line').hidden = !screenId;
    $('main').setAttribute('aria-busy', 'false');
    if (changed) {
      hideTrouble();
      unlockForms();
      const h1 = $('screen-' + name).querySelector('h1');
      if (h1 && document.readyState !== 'loading' && state.started) h1.focus();
    }
    return changed;
  }

  function screenInfo(wire) {
    const list = state.catalog ? state.catalog.screens : [];
    return list.find((s) => s.screen === wire) || null;
  }

  // The POST of a screen's main button, from the core's screens table.
  async function endpointOf(screen) {
    await ensureCatalog();
    const info = screenInfo(screen);
    return info && info.endpoint ? info.endpoint : '';
  }

  // The message screen. Its title and text are the catalog's: every caller
  // has waited for it (ensureCatalog, or whenCatalog in render), else a page
  // answered before its core or /api/catalog loaded shows nothing (issue: a
  // reloaded expired flow came up blank).
  function showMessage(code, fallbackText, titleScreen) {
    const info = titleScreen ? screenInfo(titleScreen) : null;
    if (info) $('message-title').textContent = info.title;
    $('alert-message').textContent = messageFor(code, fallbackText);
    $('message-actions').hidden = true;
    showScreen('message', info ? info.title : document.title, '');
  }

  // Runs `draw` once the catalog is there (at once when it is), also when it
  // could not be had (then the server's texts are shown).
  function whenCatalog(draw) {
    if (state.catalog) draw();
    else ensureCatalog().then(draw);
  }

  // What an answer says about the way back of an ended flow (SPEC §8a): the
  // server gives redirect_to for a cancelled or expired flow, also on reload.
  function noteOutcome(json) {
    if (json && typeof json.redirect_to === 'string') state.outcome = json.redirect_to;
  }

  // 連携元画面へ on an ended flow: a link to the app with the outcome the
  // flow ended with (error, state, iss), hidden when the server gave none.
  function showReturn(link) {
    const back = state.outcome;
    link.href = back || '#';
    link.hidden = !back;
    return Boolean(back);
  }

  // A flow that is over: cancelled (API連携認証の中止), completed, expired.
  function renderEnded(view) {
    if (state.view !== view) return;  // a newer view was drawn meanwhile
    if (view.screen === 'cancelled') {
      showScreen('cancelled', view.title, view.screen_id);
      for (const el of document.querySelectorAll('[data-message]')) {
        el.textContent = messageFor(el.getAttribute('data-message'), '');
      }
      showReturn($('return-link'));
      return;
    }
    if (view.screen === 'completed') {
      showMessage('', '', 'completed');
      $('alert-message').hidden = true;
      // Reloaded before the app had its code: the server issued a new one
      // (the old one withdrawn); on to the app as after 許可する, with
      // 連携元画面へ in case the navigation does not happen. Once the app
      // exchanged its code there is none: the completion message only (a
      // redirect with neither code nor error tells the app nothing).
      // Replacing this page's history entry, and not going on by itself when
      // the customer came back to it (戻る from the app): the app's page
      // is not followed by this one again and again.
      if (showReturn($('message-return-link'))) {
        $('message-actions').hidden = false;
        const nav = performance.getEntriesByType?.('navigation')?.[0];
        if (nav?.type !== 'back_forward') window.location.replace(state.outcome);
      }
      return;
    }
    // expired: its message (start over from the app) and 連携元画面へ.
    showMessage('session_expired', '', 'expired');
    $('alert-message').hidden = false;
    $('message-actions').hidden = !showReturn($('message-return-link'));
  }

  // ----- no dead ends (SPEC §8a) ---------------------------------------------

  function label(name) {
    const l = state.catalog && state.catalog.labels;
    return (l && l[name]) || '';
  }

  function applyLabels() {
    for (const el of document.querySelectorAll('[data-label]')) {
      const text = label(el.getAttribute('data-label'));
      if (text) el.textContent = text;
    }
  }

  // "4時05分から再開します。" from the WASM core, or the server's (same core) text.
  function reopeningText(service) {
    if (!service || typeof service !== 'object') return '';
    const r = core({ kind: 'reopening', at: service.at, reopens_at: service.reopens_at });
    if (r && typeof r.text === 'string') return r.text;
    return typeof service.reopening === 'string' ? service.reopening : '';
  }

  function hideTrouble() {
    $('trouble').hidden = true;
    $('reopening').hidden = true;
    $('reopening').textContent = '';
    state.leaveReason = '';
  }

  // Shows, under the alert of the current screen, when the service opens again
  // (out_of_hours), a retry (busy, system_error) and 連携元画面へ (when a flow
  // exists to leave). retryAction: what 再試行する does (default: the last POST).
  function showTrouble(code, service, retryAction) {
    if (!WAY_BACK.has(code)) {
      hideTrouble();
      return;
    }
    const panel = $('trouble');
    const alert = $('alert-' + state.screen) || $('alert-message');
    alert.after(panel);
    const text = code === 'out_of_hours' ? reopeningText(service) : '';
    $('reopening').textContent = text;
    $('reopening').hidden = !text;
    state.retryAction = retryAction || null;
    $('trouble-retry').hidden = !RETRY.has(code);
    $('trouble-leave').hidden = !state.canLeave;
    panel.querySelector('.actions').hidden = $('trouble-retry').hidden && $('trouble-leave').hidden;
    state.leaveReason = code;
    panel.hidden = false;
  }

  async function retry() {
    const action = state.retryAction;
    const last = state.lastRequest;
    hideTrouble();
    setAlert(state.screen, '');
    if (action) {
      await action();
    } else if (last) {
      await handleAnswer(await post(last.path, last.body));
    }
  }

  async function leave() {
    const reason = state.leaveReason;
    if (!reason) return;
    const answer = await post('/api/flow/leave', { reason });
    if (answer && typeof answer.redirect_to === 'string' && answer.redirect_to) {
      window.location.assign(answer.redirect_to);
      return;
    }
    if (answer && answer.error) {
      await ensureCatalog();
      noteOutcome(answer);
      showError(answer.error, answer.flow || null, answer.service);
    }
  }

  // After locked / locked_now: no further input on this form (SPEC §8a); its
  // 中止する stays.
  function lockForm(screen) {
    const form = $('screen-' + screen).querySelector('form');
    if (!form) return;
    for (const el of form.querySelectorAll('input, select, button[type=submit]')) el.disabled = true;
    form.setAttribute('data-locked', 'true');
  }

  // ② or ⑤ of a locked account (B84), as the server says with `locked`: on
  // arriving there (① 次へ, ④ 確定する) and after a reload, the form is
  // disabled with its message at once, as after a refused attempt (SPEC §8a);
  // 中止する stays.
  async function showLockNotice(json) {
    const screen = json.flow && json.flow.screen;
    if (json.locked && typeof json.locked === 'object' && $('screen-' + screen) &&
        LOCKS.has(json.locked.code) && (screen === 'pin_entry' || screen === 'customer_entry')) {
      await ensureCatalog();
      if (state.screen !== screen) return;  // a newer answer moved the page on
      setAlert(screen, messageFor(json.locked.code, json.locked.message));
      lockForm(screen);
    }
  }

  function unlockForms() {
    for (const form of document.querySelectorAll('form[data-locked]')) {
      form.removeAttribute('data-locked');
      for (const el of form.querySelectorAll('input, select, button[type=submit]')) el.disabled = false;
    }
    $('consent-submit').disabled = !$('consent').checked;
  }

  function fillView(view) {
    const account = view.account || {};
    for (const el of document.querySelectorAll('[data-view]')) {
      const key = el.getAttribute('data-view');
      el.textContent = key === 'masked_phone' ? (view.masked_phone || '') : (account[key] || '');
    }
  }

  function stopCountdown() {
    if (state.timer) window.clearInterval(state.timer);
    state.timer = 0;
  }

  function startCountdown(secondsLeft) {
    stopCountdown();
    const end = Date.now() + Math.max(0, secondsLeft) * 1000;
    const out = $('seconds-left');
    const tick = () => {
      const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      if (out.textContent !== String(left)) out.textContent = String(left);
      if (left === 0) stopCountdown();
    };
    tick();
    state.timer = window.setInterval(tick, 250);
  }

  function render(view) {
    state.view = view;
    fillView(view);
    const screen = view.screen;
    if (screen !== 'call_wait') stopCountdown();
    switch (screen) {
      case 'account_entry':
      case 'customer_entry':
      case 'phone_confirm':
      case 'pin_entry':
      case 'consent': {
        if (showScreen(screen, view.title, view.screen_id)) setAlert(screen, '');
        if (screen === 'consent') $('consent-submit').disabled = !$('consent').checked;
        break;
      }
      case 'call_wait': {
        const changed = showScreen(screen, view.title, view.screen_id);
        const call = view.call || {};
        const link = $('dialled-link');
        const digits = call.dialled_number || '';
        // Grouped by the WASM core, else by the server's (same core): dialled_display.
        const grouped = digits ? core({ kind: 'tollfree', number: digits }) : null;
        link.textContent = grouped && typeof grouped.display === 'string' ? grouped.display
          : (typeof call.dialled_display === 'string' && call.dialled_display ? call.dialled_display : digits);
        link.href = 'tel:' + digits;
        if (changed) {
          setAlert(screen, '');
          $('call-status').hidden = true;
          $('call-actions').hidden = false;
          $('call-restart').hidden = true;
          const sim = document.querySelector('[data-action="simulate-call"]');
          if (sim) sim.disabled = false;
        }
        $('dev-tools').hidden = !state.devMode;
        if (typeof call.seconds_left === 'number') startCountdown(call.seconds_left);
        break;
      }
      default:  // cancelled, completed, expired: messages, drawn with the catalog
        whenCatalog(() => renderEnded(view));
        break;
    }
  }

  // A server's error answer on the current screen: field messages, the required
  // dialog, or the message at the top of the screen and in the dialog.
  function showError(err, view, service) {
    const code = err.code || 'system_error';
    const text = messageFor(code, err.message);
    const screen = state.screen;
    if (!WAY_BACK.has(code)) hideTrouble();  // shown again below for its codes
    // A wrong (or refused) PIN is never left in the field; after busy or a
    // system error it stays for 再試行する.
    if (screen === 'pin_entry' && !WAY_BACK.has(code)) $('pin').value = '';
    if (code === 'call_pending') {
      const s = $('call-status');
      s.textContent = text;
      s.hidden = false;
      setAlert(screen, '');
      announce(text);
      if (view) render(view);
      return;
    }
    if (code === 'call_expired') {
      stopCountdown();
      $('seconds-left').textContent = '0';
      $('call-status').hidden = true;
      setAlert('call_wait', text);
      $('call-actions').hidden = true;
      $('dev-tools').hidden = true;
      $('call-restart').hidden = false;
      hideTrouble();
      state.afterExpiry = view || null;
      $('call-restart').querySelector('button').focus();
      return;
    }
    if (view && view.screen && view.screen !== screen) {
      render(view);
      if (view.screen === 'expired' || view.screen === 'completed') {
        $('alert-message').textContent = text;
        $('alert-message').hidden = false;
        return;
      }
    } else if (!view && (code === 'session_expired' || code === 'forbidden')) {
      showMessage(code, err.message, 'expired');
      $('alert-message').hidden = false;
      return;
    }
    if (LOCKS.has(code) && (screen === 'pin_entry' || screen === 'customer_entry')) lockForm(screen);
    const fields = Array.isArray(err.fields) ? err.fields : (err.field ? [{ field: err.field, code, message: err.message }] : []);
    if (fields.length) {
      const names = Object.keys(FIELDS).filter((n) => FIELDS[n].form === formOf(state.screen));
      setFieldErrors(names, fields);
    }
    const dlg = dialogTexts();
    if (err.dialog) {
      openDialog(err.dialog.title, err.dialog.message, err.dialog.ok, firstInvalid());
      return;
    }
    // Only field errors (the server's invalid_input with its fields, as a page
    // without the WASM core receives it): shown as the core's own check shows
    // them, under the fields, without the dialog.
    const fieldCodes = FIELD_CODES();
    if (fields.length && (fieldCodes.has(code) || fields.every((f) => fieldCodes.has(f.code)))) {
      const f = firstInvalid();
      if (f) f.focus();
      announce(fieldCodes.has(code) ? text : messageFor(fields[0].code, fields[0].message));
      return;
    }
    setAlert(state.screen, text);
    showTrouble(code, service);
    openDialog(dlg.title, text, dlg.ok, firstInvalid() || $('alert-' + state.screen));
  }

  function FIELD_CODES() {
    const s = new Set();
    if (state.catalog) for (const c of state.catalog.codes) if (c.field_error) s.add(c.code);
    return s;
  }

  function formOf(screen) {
    const section = $('screen-' + screen);
    const form = section ? section.querySelector('form[data-form]') : null;
    return form ? form.getAttribute('data-form') : '';
  }

  function firstInvalid() {
    const section = $('screen-' + state.screen);
    return section ? section.querySelector('[aria-invalid="true"]') : null;
  }

  async function handleAnswer(json) {
    if (!json) return;
    if (json.error) {
      await ensureCatalog();
      noteOutcome(json);
      showError(json.error, json.flow || null, json.service);
      return;
    }
    state.lastRequest = null;  // nothing to retry (and no PIN kept in memory)
    if (json.redirect_to && json.flow && json.flow.screen === 'cancelled') {
      noteOutcome(json);
      render(json.flow);
      return;
    }
    if (json.redirect_to) {
      window.location.assign(json.redirect_to);
      return;
    }
    if (json.flow) {
      setAlert(state.screen, '');
      hideTrouble();
      render(json.flow);
      await showLockNotice(json);
    }
  }

  // ----- forms and buttons -------------------------------------------------

  function formValues(form) {
    switch (form) {
      case 'account':
        return { branch: $('branch').value, account_type: $('account_type').value, account_number: $('account_number').value };
      case 'customer':
        return {
          name_kana: $('name_kana').value, birth_year: $('birth_year').value, birth_month: $('birth_month').value,
          birth_day: $('birth_day').value, phone: $('phone').value, email: $('email').value, email_confirm: $('email_confirm').value,
        };
      case 'pin':
        return { pin: $('pin').value };
      default:
        return { consent: $('consent').checked };
    }
  }

  // The screen whose section holds `form`.
  function formScreen(form) {
    const el = document.querySelector(`form[data-form="${form}"]`);
    const section = el ? el.closest('section.screen[data-screen]') : null;
    return section ? section.getAttribute('data-screen') : '';
  }

  async function submitForm(form) {
    if (state.busy) return;
    const raw = formValues(form);
    let body = raw;
    if (state.run) {
      const c = { kind: 'form', screen: form, form: raw };
      if (form === 'customer') c.today = todayJst();
      const r = core(c);
      if (r && Array.isArray(r.errors)) {
        const names = Object.keys(FIELDS).filter((n) => FIELDS[n].form === form);
        for (const n of names) state.dirty.add(n);
        if (r.values) {
          for (const n of names) {
            const el = control(n);
            if (el && el.tagName === 'INPUT' && el.type !== 'checkbox' && typeof r.values[n] === 'string') writeBack(el, r.values[n]);
          }
        }
        setFieldErrors(names, r.errors);
        if (!r.ok) {
          const err = r.summary && r.summary.error;
          if (r.show_required_dialog && err && err.dialog) {
            openDialog(err.dialog.title, err.dialog.message, err.dialog.ok, firstInvalid());
          } else {
            const f = firstInvalid();
            if (f) f.focus();
            if (r.errors[0]) announce(messageFor(r.errors[0].code, r.errors[0].message));
          }
          return;
        }
        body = {};
        for (const k of Object.keys(raw)) body[k] = r.values && typeof r.values[k] === 'string' ? r.values[k] : raw[k];
        if (form === 'consent') body = { consent: raw.consent };
      }
    }
    const screen = formScreen(form);
    const endpoint = await endpointOf(screen);
    if (!endpoint) {
      showError({ code: 'system_error' }, null);
      return;
    }
    const answer = await post(endpoint, body);
    await handleAnswer(answer);
  }

  async function onAction(action, button) {
    switch (action) {
      case 'cancel':
        await handleAnswer(await post('/api/flow/cancel', {}));
        break;
      case 'phone':
        await handleAnswer(await post(await endpointOf('phone_confirm'), {}));
        break;
      case 'confirm-call':
        await handleAnswer(await post(await endpointOf('call_wait'), {}));
        break;
      case 'simulate-call': {
        const answer = await post('/dev/simulate-call', {});
        if (!answer) break;
        if (answer.error) {
          await ensureCatalog();
          showError(answer.error, answer.flow || null);
        } else if (answer.outcome && answer.outcome !== 'ok') {
          await ensureCatalog();
          setAlert('call_wait', messageFor(answer.outcome, ''));
        } else {
          button.disabled = true;
          $('call-actions').querySelector('[data-action="confirm-call"]').focus();
        }
        break;
      }
      case 'retry':
        await retry();
        break;
      case 'leave':
        await leave();
        break;
      case 'restart': {
        const view = state.afterExpiry;
        state.afterExpiry = null;
        for (const f of ['account', 'customer', 'pin', 'consent']) clearForm(f);
        if (view) render(view);
        else await start();
        break;
      }
      default:
        break;
    }
  }

  function fillSelect(id, last) {
    const sel = $(id);
    for (let i = 1; i <= last; i += 1) {
      const v = String(i).padStart(2, '0');
      const o = document.createElement('option');
      o.value = v;
      o.textContent = v;
      sel.appendChild(o);
    }
    sel.value = '01';
  }

  // ①'s 科目 from the core's account types (GET /api/flow, or the catalog).
  function fillAccountTypes(types) {
    const sel = $('account_type');
    if (sel.options.length === types.length) return;
    const chosen = sel.value;
    sel.textContent = '';
    for (const t of types) {
      const o = document.createElement('option');
      o.value = t.type;
      o.textContent = t.label;
      sel.appendChild(o);
    }
    if (chosen) sel.value = chosen;
  }

  function applyProfile(json) {
    const p = json.profile || {};
    $('institution-name').textContent = p.name || '';
    const link = (id, url) => {
      const a = $(id);
      if (url) a.href = url;
      a.parentElement.hidden = !url;
    };
    link('terms-link', p.terms_url);
    link('faq-link', p.faq_url);
    $('contact-phone').textContent = p.contact_phone || '';
    link('contact-link', p.contact_phone ? 'tel:' + p.contact_phone : '');
    $('copyright').textContent = p.copyright || '';
    const name = (json.client && json.client.display_name) || '';
    for (const el of document.querySelectorAll('.client-name')) el.textContent = name;
    if (json.authorization_days !== undefined) $('authorization-days').textContent = String(json.authorization_days);
    if (typeof json.call_window_seconds === 'number') {
      for (const el of document.querySelectorAll('[data-call-window]')) {
        el.textContent = String(json.call_window_seconds);
      }
    }
    if (Array.isArray(json.account_types)) fillAccountTypes(json.account_types);
    state.devMode = json.dev_mode === true;
  }

  async function start() {
    const json = await api('/api/flow');
    if (json.profile) applyProfile(json);
    noteOutcome(json);
    if (json.error) {
      await ensureCatalog();
      if (json.flow) {  // expired just now: its message and 連携元画面へ
        render(json.flow);
        return;
      }
      showMessage(json.error.code, json.error.message, 'expired');
      $('alert-message').hidden = false;
      showTrouble(json.error.code, json.service, start);
      return;
    }
    render(json.flow);
    await showLockNotice(json);
  }

  async function main() {
    // GET /authorize answers with this page itself (no redirect to /flow/,
    // one round trip fewer). The address bar then shows /flow/: a reload asks
    // for this flow's page, not for a new flow, and the OAuth request's
    // parameters do not stay in the history. Before anything reads the URL.
    if (window.location.pathname !== '/flow/') window.history.replaceState(null, '', '/flow/');
    fillSelect('birth_month', 12);
    fillSelect('birth_day', 31);
    for (const name of Object.keys(FIELDS)) wireField(name);
    for (const el of document.querySelectorAll('form[data-form]')) {
      const form = el.getAttribute('data-form');
      el.addEventListener('submit', (ev) => {
        ev.preventDefault();
        submitForm(form);
      });
    }
    $('consent').addEventListener('change', () => {
      $('consent-submit').disabled = !$('consent').checked;
    });
    document.addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-action]');
      if (!b) return;
      ev.preventDefault();
      onAction(b.getAttribute('data-action'), b);
    });
    $('dialog').addEventListener('close', () => {
      const back = dialogReturn;
      dialogReturn = null;
      if (back && typeof back.focus === 'function' && document.contains(back)) {
        if (back.classList.contains('alert')) back.setAttribute('tabindex', '-1');
        back.focus();
      }
    });

    // Not awaited: screen ① needs only the server's view; the checks while
    // typing start once the core is there.
    startCore();

    const params = new URLSearchParams(window.location.search);
    const errorCode = params.get('error');
    if (errorCode) {
      // /authorize sent the customer here: out of hours, or the service is off.
      // The flow /authorize started (if any) is what 連携元画面へ leaves.
      const [json] = await Promise.all([api('/api/flow'), ensureCatalog()]);
      const known = state.catalog && state.catalog.codes.find((c) => c.code === errorCode && !c.field_error);
      if (json.profile) applyProfile(json);
      const code = known ? errorCode : 'system_error';
      showMessage(code, '', '');
      $('alert-message').hidden = false;
      showTrouble(code, json.service, code === 'busy' || code === 'system_error'
        ? () => window.location.assign('/flow/') : null);
      state.started = true;
      return;
    }
    await start();
    state.started = true;
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', main);
  } else {
    main();
  }
}());
