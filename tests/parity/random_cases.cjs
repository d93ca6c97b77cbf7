'use strict';
// Deterministic random cases for the native/WASM parity check, in the case
// format of core/src/case_runner.cpp. The same (count, seed) always gives the
// same lines, on any machine and node version: the generator uses its own PRNG
// (mulberry32) and never Math.random, Date.now or locale-dependent calls.
//
// The mix: field cases with random Unicode (hiragana, katakana, full- and
// half-width forms, combining marks, emoji, control characters) and random
// bytes through "*_hex" (invalid UTF-8 too); whole forms; normalization;
// calendar instants across 1990–2100, biased towards closure boundaries;
// lockout steps; flow steps from a few state templates with random events and
// times; masks, messages, the catalog; and some malformed cases.

// ---------- PRNG ----------

function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  constructor(seed) { this.next = mulberry32(seed); }
  int(lo, hi) { return lo + Math.floor(this.next() * (hi - lo + 1)); }  // inclusive
  chance(p) { return this.next() < p; }
  pick(list) { return list[this.int(0, list.length - 1)]; }
  // Picks by weight: [[weight, value], ...].
  weighted(pairs) {
    let total = 0;
    for (const [w] of pairs) total += w;
    let r = this.next() * total;
    for (const [w, v] of pairs) {
      if ((r -= w) < 0) return v;
    }
    return pairs[pairs.length - 1][1];
  }
}

// ---------- text ----------

const range = (lo, hi) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
const cps = (s) => Array.from(s, (c) => c.codePointAt(0));

const POOLS = {
  digit: range(0x30, 0x39),
  upper: range(0x41, 0x5a),
  lower: range(0x61, 0x7a),
  asciiSymbol: [...range(0x21, 0x2f), ...range(0x3a, 0x40), ...range(0x5b, 0x60), ...range(0x7b, 0x7e)],
  space: [0x20, 0x20, 0x3000, 0x09, 0xa0, 0x2003],
  fullwidthDigit: range(0xff10, 0xff19),
  fullwidthAscii: range(0xff01, 0xff5e),
  hiragana: range(0x3041, 0x3096),
  katakana: range(0x30a1, 0x30fa),
  kanaMarks: [0x3099, 0x309a, 0x309b, 0x309c, 0x30fc, 0x30fb, 0x3001, 0x3002, 0x300c, 0x300d],
  halfwidthKana: range(0xff61, 0xff9f),
  combining: [...range(0x0300, 0x036f), 0x3099, 0x309a, 0x20dd, 0xfe0f],
  emoji: [...range(0x1f300, 0x1f64f), ...range(0x1f900, 0x1f9ff), 0x2764, 0x200d, 0xfe0f, 0x1f1ef, 0x1f1f5],
  control: [...range(0x00, 0x1f), 0x7f, ...range(0x80, 0x9f)],
  hyphen: [0x2d, 0x2010, 0x2011, 0x2013, 0x2014, 0x2015, 0x2212, 0x30fc, 0xff0d, 0xff70],
  cjk: [...range(0x4e00, 0x4e50), 0x6f22, 0x5b57, 0x9ad9, 0xfa11],
  other: [0xa5, 0xffe5, 0xff5e, 0x301c, 0xfffd, 0xfeff, 0x200b, 0x10ffff, 0xe000, 0x1d400],
};
const POOL_WEIGHTS = [
  [6, 'digit'], [3, 'upper'], [3, 'lower'], [2, 'asciiSymbol'], [2, 'space'],
  [4, 'fullwidthDigit'], [2, 'fullwidthAscii'], [5, 'hiragana'], [5, 'katakana'],
  [2, 'kanaMarks'], [4, 'halfwidthKana'], [2, 'combining'], [2, 'emoji'], [1, 'control'],
  [2, 'hyphen'], [1, 'cjk'], [1, 'other'],
];

function randomText(rng, maxLen = 12, pools = null) {
  const n = rng.int(0, maxLen);
  let s = '';
  for (let i = 0; i < n; i++) {
    const pool = POOLS[pools ? rng.pick(pools) : rng.weighted(POOL_WEIGHTS)];
    s += String.fromCodePoint(rng.pick(pool));
  }
  return s;
}

const toFullwidth = (s) =>
  Array.from(s, (c) => {
    const cp = c.codePointAt(0);
    if (cp === 0x20) return '\u3000';
    return cp > 0x20 && cp < 0x7f ? String.fromCodePoint(cp + 0xfee0) : c;
  }).join('');

const hex = (bytes) => Buffer.from(bytes).toString('hex');

// Bytes: valid UTF-8 of random text, damaged UTF-8, or plain random bytes.
function randomBytes(rng, text) {
  const valid = [...Buffer.from(text, 'utf8')];
  const bad = [
    [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf],
    [0xf4, 0x90, 0x80, 0x80], [0xf5], [0xff], [0xfe], [0x80], [0xbf], [0xe3, 0x81],
    [0xf0, 0x9f, 0x98], [0xc3], [0x00], [0x1b], [0x7f], [0xc2, 0x85], [0xef, 0xbb, 0xbf],
  ];
  switch (rng.int(0, 3)) {
    case 0:
      return valid;
    case 1: {  // insert a bad sequence somewhere
      const at = rng.int(0, valid.length);
      return [...valid.slice(0, at), ...rng.pick(bad), ...valid.slice(at)];
    }
    case 2:  // cut inside a multi-byte sequence
      return valid.slice(0, rng.int(0, valid.length));
    default:
      return Array.from({ length: rng.int(0, 10) }, () => rng.int(0, 255));
  }
}

// ---------- field values ----------

const HIRAGANA_NAMES = ['でーた さとる', 'やまだ たろう', 'すずき はなこ', 'ぱぴぷぺぽ', 'ゔぁいおりん',
  'きゃっしゅ かーど', 'ゐゑゕゖゎ', 'さとう　じろう', 'がぎぐげご'];
const KATAKANA_NAMES = ['データ サトル', 'ヤマダ タロウ', 'ヴァイオリン', 'ヰヱヵヶヮ', 'ガ\u3099', 'ハ\u309a',
  'カ゛', 'ﾃﾞｰﾀ ｻﾄﾙ', 'ｶﾞｷﾞ', 'ﾞｱ', 'ｱﾟ', ' ｱｲｳ  ｴｵ ', 'ﾃ\u3099'];
const EMAILS = ['satoru.data@example.co.jp', 'a@b', 'user+tag@sub.example.com', 'x@-bad.example',
  'no-at-sign', '@example.com', 'a@b..c', "o'brien@example.jp", 'a@' + 'x'.repeat(63) + '.jp',
  'x'.repeat(60) + '@e.jp', '  spaced@example.jp  ', 'テスト@example.jp', 'a@b_c.jp'];
const PHONES = ['09012345678', '0312345678', '060-1234-5678', '090 1234 5678', '(03)1234-5678',
  '123456789', '090123456789', '0', '08012345678', '＋８１９０１２３４５６７８'];

function nearMiss(rng, s) {
  switch (rng.int(0, 5)) {
    case 0: return s;
    case 1: return toFullwidth(s);
    case 2: return s + randomText(rng, 2);
    case 3: return s.slice(0, rng.int(0, s.length));
    case 4: return ` ${s} `;
    default: return randomText(rng, 3) + s;
  }
}

function plausibleValue(rng, field) {
  const digits = (lo, hi) => Array.from({ length: rng.int(lo, hi) }, () => rng.int(0, 9)).join('');
  switch (field) {
    case 'branch': return nearMiss(rng, digits(1, 4));
    case 'account_type': return rng.pick(['ordinary', 'savings', 'current', '普通預金', '', 'ORDINARY']);
    case 'account_number': return nearMiss(rng, digits(0, 9));
    case 'name_kana': return nearMiss(rng, rng.pick(rng.chance(0.5) ? HIRAGANA_NAMES : KATAKANA_NAMES));
    case 'phone': return nearMiss(rng, rng.pick(PHONES));
    case 'email': case 'email_confirm': return nearMiss(rng, rng.pick(EMAILS));
    case 'pin': return nearMiss(rng, digits(0, 6));
    default: return randomText(rng);
  }
}

function fieldValue(rng, field) {
  return rng.weighted([
    [5, () => plausibleValue(rng, field)],
    [4, () => randomText(rng)],
    [1, () => randomText(rng, 40)],
    [1, () => ''],
  ])();
}

// Sets `key` or `key_hex` on obj.
function putText(rng, obj, key, text) {
  if (rng.chance(0.15)) obj[`${key}_hex`] = hex(randomBytes(rng, text));
  else obj[key] = text;
}

// ---------- time ----------

const DAY = 86400;
const JST = 9 * 3600;
const T1990 = Date.UTC(1990, 0, 1) / 1000;
const T2101 = Date.UTC(2101, 0, 1) / 1000;

function pad(n, w = 2) { return String(n).padStart(w, '0'); }

// ISO 8601 for instant t at a given offset (minutes east of UTC).
function iso(t, offsetMin) {
  const d = new Date((t + offsetMin * 60) * 1000);
  const base = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  if (offsetMin === 0) return `${base}Z`;
  const sign = offsetMin < 0 ? '-' : '+';
  const m = Math.abs(offsetMin);
  return `${base}${sign}${pad(Math.floor(m / 60))}:${pad(m % 60)}`;
}

function dateString(t) {
  const d = new Date((t + JST) * 1000);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

// An instant in 1990–2100; often near a closure boundary (JST wall clock).
function randomInstant(rng) {
  if (rng.chance(0.3)) return rng.int(T1990, T2101 - 1);
  const day = rng.int(0, (T2101 - T1990) / DAY - 1);
  const midnightJst = T1990 + day * DAY - JST;
  const hour = rng.pick([0, 0, 1, 2, 4, 4, 5, 6, 7, 8, 12, 18, 19, 23, 23]);
  const minute = rng.pick([0, 0, 1, 4, 5, 6, 30, 49, 50, 59]);
  const second = rng.pick([0, 0, 1, 30, 59]);
  return midnightJst + hour * 3600 + minute * 60 + second;
}

// New Year, Mondays and Sundays are where the rules are; aim at them too.
function specialInstant(rng) {
  const year = rng.int(1990, 2100);
  const month = rng.int(0, 11);
  const dayOfMonth = rng.chance(0.3) ? rng.int(1, 3) : rng.int(1, 28);
  const midnightJst = Date.UTC(year, rng.chance(0.3) ? 0 : month, dayOfMonth) / 1000 - JST;
  return midnightJst + rng.int(0, 24 * 3600 - 1) - (rng.chance(0.1) ? DAY : 0);
}

// Far from 1990–2100, where a 32-bit long or size_t in the WASM build would
// show: the wire's limits (1900, 9999), 2^31 and 2^32 seconds, before 1970.
function extremeInstant(rng) {
  const base = rng.pick([-2208988800, 253402300799, 2 ** 31, 2 ** 32, -(2 ** 31), 0, -1, 1e11]);
  return base + rng.int(-2 * DAY, 2 * DAY);
}

function instantValue(rng, t) {
  return rng.weighted([
    [4, () => iso(t, 540)],
    [2, () => t],
    [1, () => iso(t, 0)],
    [1, () => iso(t, rng.pick([-300, 330, 600, -720, 840]))],
    [0.3, () => rng.pick(['2026-02-30T00:00:00+09:00', '2026-11-25 09:00:00', 'now', '', -1e15,
      1.5, '2026-11-25T24:00:00Z', '1899-12-31T23:59:59Z', '10000-01-01T00:00:00Z', null])],
  ])();
}

function extraWindows(rng, around) {
  const n = rng.weighted([[6, 0], [3, 1], [1, rng.int(2, 4)]]);
  const list = [];
  for (let i = 0; i < n; i++) {
    const start = around + rng.int(-2 * DAY, 2 * DAY);
    const w = { start: instantValue(rng, start), end: instantValue(rng, start + rng.int(-60, DAY)) };
    if (rng.chance(0.7)) putText(rng, w, 'label', rng.pick(['臨時メンテナンス', 'system upgrade', randomText(rng, 8)]));
    list.push(w);
  }
  return list;
}

// ---------- case builders ----------

const FIELDS = ['branch', 'account_type', 'account_number', 'name_kana', 'birth_year', 'birth_month',
  'birth_day', 'birth_date', 'phone', 'email', 'email_confirm', 'pin', 'consent'];

function birthParts(rng) {
  const y = rng.weighted([[5, () => String(rng.int(1900, 2030))], [1, () => String(rng.int(1800, 1899))],
    [1, () => toFullwidth(String(rng.int(1940, 2010)))], [1, () => randomText(rng, 5)], [1, () => '']])();
  const m = rng.weighted([[5, () => pad(rng.int(1, 12))], [1, () => String(rng.int(0, 13))],
    [1, () => toFullwidth(pad(rng.int(1, 12)))], [1, () => ''], [1, () => randomText(rng, 3)]])();
  const d = rng.weighted([[5, () => pad(rng.int(1, 31))], [1, () => String(rng.int(0, 32))],
    [1, () => ''], [1, () => randomText(rng, 3)]])();
  return { year: y, month: m, day: d };
}

function fieldCase(rng) {
  const field = rng.chance(0.03) ? rng.pick(['Branch', 'unknown', '']) : rng.pick(FIELDS);
  const c = { kind: 'field', field };
  if (field.startsWith('birth_')) {
    const p = birthParts(rng);
    for (const k of ['year', 'month', 'day']) if (!rng.chance(0.05)) putText(rng, c, k, p[k]);
    c.today = dateString(randomInstant(rng));
  } else if (field === 'consent') {
    c.value = rng.chance(0.9) ? rng.chance(0.5) : rng.pick(['true', 1, null]);
  } else if (field === 'email_confirm') {
    const email = fieldValue(rng, 'email');
    putText(rng, c, 'email', email);
    putText(rng, c, 'value', rng.chance(0.5) ? nearMiss(rng, email) : fieldValue(rng, 'email'));
  } else {
    putText(rng, c, 'value', fieldValue(rng, field));
  }
  return c;
}

function accountForm(rng) {
  const f = {};
  putText(rng, f, 'branch', fieldValue(rng, 'branch'));
  f.account_type = fieldValue(rng, 'account_type');
  putText(rng, f, 'account_number', fieldValue(rng, 'account_number'));
  return f;
}

function customerForm(rng) {
  const f = {};
  const p = birthParts(rng);
  putText(rng, f, 'name_kana', fieldValue(rng, 'name_kana'));
  putText(rng, f, 'birth_year', p.year);
  f.birth_month = p.month;
  f.birth_day = p.day;
  putText(rng, f, 'phone', fieldValue(rng, 'phone'));
  const email = fieldValue(rng, 'email');
  putText(rng, f, 'email', email);
  putText(rng, f, 'email_confirm', rng.chance(0.6) ? email : nearMiss(rng, email));
  return f;
}

function dropSome(rng, obj) {
  for (const k of Object.keys(obj)) if (rng.chance(0.08)) delete obj[k];
  return obj;
}

function formCase(rng) {
  const screen = rng.weighted([[3, 'account'], [5, 'customer'], [2, 'pin'], [1, 'consent'], [0.2, 'other']]);
  const c = { kind: 'form', screen };
  if (screen === 'account') c.form = dropSome(rng, accountForm(rng));
  else if (screen === 'customer') {
    c.form = dropSome(rng, customerForm(rng));
    c.today = dateString(randomInstant(rng));
  } else if (screen === 'pin') {
    c.form = {};
    putText(rng, c.form, 'pin', fieldValue(rng, 'pin'));
  } else {
    c.form = rng.chance(0.9) ? { consent: rng.chance(0.5) } : {};
  }
  return c;
}

function normalizeCase(rng) {
  const c = { kind: 'normalize', mode: rng.weighted([[5, 'kana'], [4, 'ascii'], [0.3, 'nfkc']]) };
  putText(rng, c, 'value', randomText(rng, 16));
  return c;
}

function calendarCase(rng) {
  const t = rng.weighted([[60, () => randomInstant(rng)], [35, () => specialInstant(rng)],
    [5, () => extremeInstant(rng)]])();
  const c = { kind: 'calendar', at: instantValue(rng, t) };
  if (rng.chance(0.2)) c.until = instantValue(rng, t + rng.int(-DAY, 40 * DAY));
  if (rng.chance(0.2)) c.extra = extraWindows(rng, t);
  return c;
}

function lockState(rng, now) {
  return rng.weighted([
    [3, () => ({ failures: rng.int(0, 6), locked_until: null })],
    [2, () => ({ failures: rng.int(0, 6), locked_until: instantValue(rng, now + rng.int(-DAY, DAY)) })],
    [1, () => ({})],
    [0.2, () => ({ failures: rng.pick([-1, 1e7, '2', 2.5]), locked_until: null })],
  ])();
}

function lockoutCase(rng) {
  const now = rng.chance(0.95) ? randomInstant(rng) : extremeInstant(rng);
  const c = { kind: 'lockout', now: instantValue(rng, now),
    action: rng.weighted([[5, 'failure'], [2, 'success'], [3, 'check'], [0.2, 'reset']]) };
  if (!rng.chance(0.1)) c.state = lockState(rng, now);
  if (rng.chance(0.3)) c.limit = rng.weighted([[5, rng.int(1, 10)], [1, rng.pick([0, -3, 1001, '5'])]]);
  return c;
}

// ----- flow -----

const SCREENS = ['account_entry', 'customer_entry', 'phone_confirm', 'call_wait', 'pin_entry',
  'consent', 'completed', 'cancelled', 'expired'];
const TOLL_FREE = ['0120111222', '0120333444', '0800555666'];
const REGISTERED = ['09012343333', '0312345678', '06012345678'];

// A state on `screen` as the machine would have left it, started before now.
function flowState(rng, screen, now) {
  const started = now - rng.weighted([[5, rng.int(0, 600)], [2, rng.int(600, 1200)], [1, rng.int(0, 3 * DAY)]]);
  const idle = rng.weighted([[6, rng.int(0, 890)], [2, rng.int(895, 905)], [1, rng.int(900, DAY)]]);
  const order = SCREENS.indexOf(screen);
  const phone = rng.pick(REGISTERED);
  const s = {
    screen,
    started_at: instantValue(rng, started),
    last_activity: instantValue(rng, Math.max(started, now - idle)),
    account: order >= 1 && order <= 7 ? { branch: rng.pick(['115', '001', '006']),
      type: rng.pick(['ordinary', 'savings']), number: rng.pick(['1100026', '0000123']) } : null,
    identity_verified: order >= 2 && order <= 7,
    call_verified: order >= 4 && order <= 7,
    pin_verified: order >= 5 && order <= 7,
    consent_given: screen === 'completed',
    name_kana: order >= 2 ? 'ﾃﾞｰﾀ ｻﾄﾙ' : '',
    email: order >= 2 ? 'satoru.data@example.co.jp' : '',
    phone: order >= 2 ? phone : '',
    call: null,
  };
  if (screen === 'call_wait' || (order > 3 && rng.chance(0.3))) {
    const opened = now - rng.weighted([[5, rng.int(0, 120)], [2, rng.int(118, 122)], [1, rng.int(120, 2000)]]);
    const verified = rng.chance(0.4) ? opened + rng.int(0, 130) : null;
    s.call = { dialled_number: rng.pick(TOLL_FREE), opened_at: instantValue(rng, opened),
      expires_at: instantValue(rng, opened + 120),
      verified_at: verified === null ? null : instantValue(rng, verified) };
    if (screen === 'call_wait') s.call_verified = verified !== null;
  }
  // Now and then, something the machine would never write.
  if (rng.chance(0.05)) {
    const k = rng.pick(Object.keys(s));
    s[k] = rng.pick([null, true, 0, 'x', {}, [], randomText(rng, 4), rng.pick(SCREENS)]);
  }
  return { state: s, phone };
}

function flowEvent(rng, screen, phone, now, dialled) {
  const types = ['submit_account', 'submit_customer', 'confirm_phone', 'incoming_call', 'confirm_call',
    'submit_pin', 'submit_consent', 'cancel'];
  // Mostly the event the screen expects.
  const expected = {
    account_entry: 'submit_account', customer_entry: 'submit_customer', phone_confirm: 'confirm_phone',
    call_wait: rng.chance(0.5) ? 'incoming_call' : 'confirm_call', pin_entry: 'submit_pin',
    consent: 'submit_consent',
  }[screen];
  const type = expected && rng.chance(0.7) ? expected
    : rng.chance(0.97) ? rng.pick(types) : rng.pick(['submit', '', 'SUBMIT_PIN']);
  const e = { type };
  switch (type) {
    case 'submit_account':
      e.form = dropSome(rng, accountForm(rng));
      break;
    case 'submit_customer': {
      const f = customerForm(rng);
      if (rng.chance(0.5)) {  // a valid typed form, so the record check decides
        Object.assign(f, { name_kana: rng.pick(HIRAGANA_NAMES), birth_year: '１９８５', birth_month: '04',
          birth_day: '12', phone: phone.replace(/^(\d{3})(\d{4})/, '$1-$2-'), email: 'a@example.jp',
          email_confirm: 'ａ＠ｅｘａｍｐｌｅ．ｊｐ' });
        delete f.name_kana_hex; delete f.birth_year_hex; delete f.phone_hex; delete f.email_hex; delete f.email_confirm_hex;
      }
      e.form = f;
      e.check = rng.weighted([[4, 'match'], [4, 'mismatch'], [2, 'account_not_eligible'], [0.2, 'maybe']]);
      if (rng.chance(0.8)) e.lock = lockState(rng, now);
      break;
    }
    case 'confirm_phone':
      e.dialled_number = dialled;
      break;
    case 'incoming_call':
      e.caller = rng.weighted([[5, phone], [1, null], [1, rng.pick(REGISTERED)], [0.5, nearMiss(rng, phone)]]);
      e.dialled = rng.chance(0.8) ? dialled : rng.pick(TOLL_FREE);
      break;
    case 'submit_pin':
      e.form = {};
      putText(rng, e.form, 'pin', rng.chance(0.6) ? rng.pick(['1234', '１２３４', '0000']) : fieldValue(rng, 'pin'));
      e.check = rng.weighted([[5, 'match'], [5, 'mismatch'], [0.2, 'account_not_eligible']]);
      if (rng.chance(0.8)) e.lock = lockState(rng, now);
      break;
    case 'submit_consent':
      e.form = rng.chance(0.9) ? { consent: rng.chance(0.6) } : rng.pick([{}, { consent: 'yes' }, null]);
      break;
    default:
      break;
  }
  return e;
}

function flowCase(rng) {
  // Mostly open hours (so the screens' own rules run), sometimes any instant.
  const now = rng.chance(0.75)
    ? Date.UTC(rng.int(1995, 2090), rng.int(0, 11), rng.int(1, 28)) / 1000 - JST + rng.int(9, 17) * 3600 + rng.int(0, 3599)
    : rng.chance(0.9) ? randomInstant(rng) : extremeInstant(rng);
  const screen = rng.weighted([[2, 'account_entry'], [4, 'customer_entry'], [2, 'phone_confirm'],
    [5, 'call_wait'], [3, 'pin_entry'], [2, 'consent'], [0.5, 'completed'], [0.5, 'cancelled'], [0.5, 'expired']]);
  const c = { kind: 'flow', now: instantValue(rng, now) };
  let phone = rng.pick(REGISTERED);
  let dialled = rng.pick(TOLL_FREE);
  if (!rng.chance(0.05)) {
    const fs = flowState(rng, screen, now);
    c.state = fs.state;
    phone = fs.phone;
    if (fs.state.call && fs.state.call.dialled_number) dialled = fs.state.call.dialled_number;
  }
  if (!rng.chance(0.03)) c.event = flowEvent(rng, screen, phone, now, dialled);
  if (rng.chance(0.25)) {
    c.config = {};
    if (rng.chance(0.5)) c.config.call_window_seconds = rng.pick([60, 120, 180, 0, 86401]);
    if (rng.chance(0.5)) c.config.idle_timeout_seconds = rng.pick([300, 900, 1800, -1]);
    if (rng.chance(0.5)) c.config.lockout_limit = rng.pick([1, 3, 5, 10]);
    if (rng.chance(0.4)) c.config.extra_windows = extraWindows(rng, now);
  }
  return c;
}

// ----- the rest -----

function maskCase(rng) {
  const c = { kind: 'mask' };
  putText(rng, c, 'phone', rng.chance(0.5) ? rng.pick(PHONES) : randomText(rng, 14));
  return c;
}

const CODES = ['required', 'invalid_utf8', 'control_character', 'invalid_character', 'too_long',
  'invalid_format', 'invalid_mark_position', 'invalid_date', 'date_out_of_range', 'date_in_future',
  'email_mismatch', 'consent_required', 'invalid_input', 'account_not_eligible', 'auth_mismatch',
  'locked_now', 'locked', 'out_of_hours', 'busy', 'system_error', 'service_unavailable',
  'call_pending', 'call_expired', 'cancelled', 'invalid_step', 'session_expired', 'call_withheld',
  'call_not_matched', 'bad_request', 'not_found', 'unauthorized', 'forbidden', 'range_not_served',
  'method_not_allowed'];

function messageCase(rng) {
  return { kind: 'message', code: rng.chance(0.9) ? rng.pick(CODES) : rng.pick(['LOCKED', 'nope', 3, null]) };
}

// Malformed lines: returned as text, not objects.
function malformedLine(rng) {
  return rng.pick([
    () => '{"kind":"field","field":"branch","value":"12',
    () => '[1,2,3]',
    () => '"just a string"',
    () => '{"kind":42}',
    () => '{}',
    () => '{"kind":"field","field":"branch","value":"\\ud800"}',
    () => '{"kind":"field","field":"branch","value":"１２３","value":"456"}',
    () => `${'['.repeat(rng.int(30, 40))}${']'.repeat(rng.int(0, 40))}`,
    () => `{"kind":"calendar","at":${rng.int(-1e9, 1e9)}.5}`,
    () => '{"kind":"lockout","action":"check","now":18446744073709551615}',
    () => '{"kind":"field","field":"pin","value_hex":"3g"}',
    () => `{"kind":"${randomText(rng, 6).replace(/["\\\u0000-\u001f]/g, '')}"}`,
    () => JSON.stringify({ kind: 'normalize', mode: 'kana', value: randomText(rng, 8) }).slice(0, rng.int(1, 30)),
  ])();
}

// Some cases carry an "id", which comes back unchanged.
function withId(rng, c, i) {
  if (rng.chance(0.1)) c.id = rng.chance(0.5) ? i : `case-${i}`;
  return c;
}

// `count` lines of JSON text for `seed`.
function generateCases(count, seed) {
  const rng = new Rng(seed);
  const builders = [
    [30, fieldCase], [12, formCase], [8, normalizeCase], [14, calendarCase], [10, lockoutCase],
    [20, flowCase], [2, maskCase], [2, messageCase], [0.3, () => ({ kind: 'catalog' })],
  ];
  const lines = [];
  for (let i = 0; i < count; i++) {
    if (rng.chance(0.02)) {
      lines.push(malformedLine(rng));
    } else {
      lines.push(JSON.stringify(withId(rng, rng.weighted(builders)(rng), i)));
    }
  }
  return lines;
}

module.exports = { generateCases, mulberry32, Rng };
