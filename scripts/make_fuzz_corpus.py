#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ from the real forms and flows in
tests/parity/vectors.jsonl (and a few hand-written HTTP requests).

    python3 scripts/make_fuzz_corpus.py        # rewrites the seed files

Seed files are named seed-*; inputs the fuzzers found (crashes kept as
regression inputs) live next to them under other names and are left alone.
The targets read structured inputs with libFuzzer's FuzzedDataProvider:
strings from the front (a backslash followed by another character ends one,
"\\\\" is one backslash), integers and booleans from the back, most
significant byte first. Seed.string/int below write exactly that.
"""
import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def _load_vectors():
    out = []
    for line in (ROOT / "tests/parity/vectors.jsonl").read_text().splitlines():
        try:
            v = json.loads(line)
        except ValueError:
            continue  # the file has deliberately malformed lines
        if isinstance(v, dict):
            out.append(v)
    return out


VECTORS = _load_vectors()


class Seed:
    """Bytes for FuzzedDataProvider, written in the order the target reads."""

    def __init__(self):
        self.front = bytearray()
        self.back = bytearray()  # in the order consumed (last byte of the file first)

    def string(self, s):
        b = s.encode() if isinstance(s, str) else s
        self.front += b.replace(b"\\", b"\\\\") + b"\\\n"
        return self

    def int(self, value, lo, hi):
        span = hi - lo
        v = value - lo
        nbytes = max(1, (span.bit_length() + 7) // 8)
        self.back += v.to_bytes(nbytes, "big")
        return self

    def bool(self, b):
        return self.int(1 if b else 0, 0, 255)

    def bytes(self):
        return bytes(self.front) + bytes(reversed(self.back))


def write(target, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = "seed-" + hashlib.sha1(data).hexdigest()[:12]
    (folder / name).write_bytes(data)


def kind(k):
    return [v for v in VECTORS if v.get("kind") == k]


# ---- fuzz_normalize: field values as typed -------------------------------
values = []
for v in kind("field") + kind("normalize"):
    val = v.get("value")
    if isinstance(val, str) and val not in values:
        values.append(val)
for val in values[:48]:
    write("fuzz_normalize", val)

# ---- fuzz_forms: account, customer, PIN and consent forms ----------------
accounts = [v["form"] for v in kind("form") if v.get("screen") == "account"]
customers = [v["form"] for v in kind("form") if v.get("screen") == "customer"]
pins = [v["form"] for v in kind("form") if v.get("screen") == "pin"] or [{"pin": "1234"}]
demo_customer = {"name_kana": "ﾃﾞｰﾀ ｻﾄﾙ", "birth_year": "1980", "birth_month": "04",
                 "birth_day": "01", "phone": "09011113333", "email": "taro@example.jp",
                 "email_confirm": "taro@example.jp"}
customers.append(demo_customer)
customers.append({**demo_customer, "name_kana": "でーた さとる", "phone": "０９０−１１１１−３３３３"})
for i in range(max(len(accounts), len(customers))):
    a = accounts[i % len(accounts)]
    c = customers[i % len(customers)]
    s = Seed()
    for key in ("branch", "account_type", "account_number"):
        s.string(str(a.get(key, "")))
    for key in ("name_kana", "birth_year", "birth_month", "birth_day", "phone", "email"):
        s.string(str(c.get(key, "")))
    same = c.get("email_confirm", "") == c.get("email", "")
    s.bool(same)
    if not same:
        s.string(str(c.get("email_confirm", "")))
    s.string(str(pins[i % len(pins)].get("pin", "")))
    s.bool(i % 2 == 0)
    s.int(2026, 1900, 2200).int(11, 1, 12).int(25, 1, 28)
    write("fuzz_forms", s.bytes())

# ---- fuzz_flow_json / fuzz_run_case: the cases themselves ----------------
flows = kind("flow")
for v in flows[:: max(1, len(flows) // 40)]:
    write("fuzz_flow_json", json.dumps(v, ensure_ascii=False))
lines = [l for l in (ROOT / "tests/parity/vectors.jsonl").read_text().splitlines() if l.strip()]
for line in lines[:: max(1, len(lines) // 48)]:
    write("fuzz_run_case", line)

# ---- fuzz_http_handlers: requests on every route --------------------------
ROUTES = ["/api/flow", "/api/flow/account", "/api/flow/customer", "/api/flow/phone",
          "/api/flow/call/confirm", "/api/flow/pin", "/api/flow/consent", "/api/flow/cancel",
          "/dev/simulate-call", "/telephony/calls", "/authorize", "/token", "/revoke",
          "/.well-known/oauth-authorization-server", "/api/v1/account",
          "/api/v1/account/balance", "/api/v1/account/transactions", "/healthz", "/metrics",
          "/admin/api/status", "/admin/api/funnel", "/admin/api/accounts",
          "/admin/api/accounts/lock/lift", "/admin/api/grants", "/admin/api/grants/x/revoke",
          "/admin/api/clients", "/admin/api/clients/demo-app/disable",
          "/admin/api/clients/demo-app/enable", "/admin/api/audit",
          "/admin/api/calendar/windows", "/admin/api/calendar/windows/1", "/admin/api/outbox",
          "/admin/api/outbox/1/retry", "/admin/api/dev/calls", "/admin/api/dev/clock", "/flow/",
          "/flow/index.html", "/static/", "/static/wasm/renkei_core.js", "/demo/"]
HEADERS = ["Content-Type", "X-CSRF-Token", "Origin", "Cookie", "Authorization",
           "X-Renkei-Timestamp", "X-Renkei-Signature", "Range", "Accept-Encoding",
           "If-None-Match", "Content-Length", "Transfer-Encoding", "Expect", "Connection",
           "User-Agent", "Host"]
COOKIE, CSRF, JSON, SIGNED, ADMIN, FORM = 1, 2, 4, 8, 16, 32


def request(s, method, route, suffix="", flags=0, headers=(), body="", advance=0):
    s.int(1, 0, 7)
    if method in ("GET", "POST"):
        s.bool(True).int(0 if method == "GET" else 1, 0, 1)
    else:
        s.bool(False).int(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"].index(method), 0, 6)
    s.int(1, 0, 15).int(ROUTES.index(route), 0, len(ROUTES) - 1)
    s.string(suffix)
    s.int(flags, 0, 255)
    s.int(advance + 50, 0, 400)
    s.int(len(headers), 0, 3)
    for name, value in headers:
        s.int(HEADERS.index(name), 0, len(HEADERS) - 1)
        s.string(value)
    s.string(body)


def http_seed(open_flow, reqs):
    s = Seed()
    s.bool(open_flow)
    s.int(len(reqs), 1, 4)
    for r in reqs:
        request(s, *r[:2], **(r[2] if len(r) > 2 else {}))
    write("fuzz_http_handlers", s.bytes())


flowpost = COOKIE | CSRF | JSON
valid_account = json.dumps({"branch": "115", "account_type": "ordinary", "account_number": "1100026"})
for a in accounts[:10]:
    http_seed(True, [("POST", "/api/flow/account", {"flags": flowpost, "body": json.dumps(a, ensure_ascii=False)})])
for c in customers[:10]:
    http_seed(True, [("POST", "/api/flow/account", {"flags": flowpost, "body": valid_account}),
                     ("POST", "/api/flow/customer", {"flags": flowpost, "body": json.dumps(c, ensure_ascii=False)})])
http_seed(True, [("POST", "/api/flow/account", {"flags": flowpost, "body": valid_account}),
                 ("POST", "/api/flow/customer", {"flags": flowpost, "body": json.dumps(demo_customer, ensure_ascii=False)}),
                 ("POST", "/api/flow/phone", {"flags": flowpost, "body": "{}"}),
                 ("POST", "/dev/simulate-call", {"flags": flowpost, "body": "{}"})])
for path in ["/api/flow/cancel", "/api/flow/pin", "/api/flow/consent", "/api/flow/call/confirm"]:
    http_seed(True, [("POST", path, {"flags": flowpost, "body": '{"pin":"1234","consent":true}'})])
http_seed(True, [("GET", "/api/flow", {"flags": COOKIE})])
http_seed(False, [("GET", "/authorize", {"suffix": "?response_type=code&client_id=demo-app&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&state=%0d%0aX&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"})])
http_seed(False, [("GET", "/authorize", {"suffix": "?client_id=demo-app&client_id=x"})])
for body in ["grant_type=authorization_code&code=abc&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&client_id=demo-app&code_verifier=" + "a" * 43,
             "grant_type=refresh_token&refresh_token=x&client_id=demo-app",
             "grant_type=password&username=a", "grant_type=&grant_type=x", "%zz=1"]:
    http_seed(False, [("POST", "/token", {"flags": FORM, "body": body})])
http_seed(False, [("POST", "/revoke", {"flags": FORM, "body": "token=abc&token_type_hint=refresh_token"})])
for body in ['{"call_id":"c1","caller":"09011113333","dialled":"0120000001"}',
             '{"call_id":"c2","caller":null,"dialled":"0120000001"}', '{"call_id":1}']:
    http_seed(False, [("POST", "/telephony/calls", {"flags": SIGNED | JSON, "body": body})])
http_seed(False, [("POST", "/telephony/calls", {"flags": JSON, "headers": [("X-Renkei-Signature", "sha256=zz"), ("X-Renkei-Timestamp", "-1")], "body": "{}"})])
for route, suffix in [("/api/v1/account/transactions", "?from=2026-11-01&to=2026-11-25&limit=5&cursor=x"),
                      ("/api/v1/account", ""), ("/admin/api/audit", "?limit=5&outcome=ok"),
                      ("/admin/api/accounts", "?branch=115&type=ordinary&number=1100026"),
                      ("/admin/api/status", ""), ("/admin/api/outbox", ""), ("/metrics", ""),
                      ("/healthz", ""), ("/.well-known/oauth-authorization-server", "")]:
    http_seed(False, [("GET", route, {"suffix": suffix, "flags": ADMIN, "headers": [("Authorization", "Bearer abc")] if route.startswith("/api/v1") else []})])
for route, body in [("/admin/api/calendar/windows", '{"start":"2026-11-26T00:00:00+09:00","end":"2026-11-26T01:00:00+09:00","reason":"x"}'),
                    ("/admin/api/accounts/lock/lift", '{"branch":"115","account_type":"ordinary","account_number":"1100026"}'),
                    ("/admin/api/dev/clock", '{"advance_seconds":60}'),
                    ("/admin/api/dev/calls", '{"caller":"09011113333","dialled":"0120000001"}')]:
    http_seed(False, [("POST", route, {"flags": ADMIN | JSON, "body": body})])
for route, suffix in [("/static/", "../CMakeLists.txt"), ("/static/", "%2e%2e/%2e%2e/etc/passwd"),
                      ("/flow/", "..%5c..%5cREADME.md"), ("/flow/index.html", ""),
                      ("/static/wasm/renkei_core.js", ""), ("/static/", "%c0%af")]:
    http_seed(False, [("GET", route, {"suffix": suffix, "headers": [("Accept-Encoding", "gzip"), ("Range", "bytes=0-10")]})])
print("seeded", {p.name: len(list(p.iterdir())) for p in sorted(CORPUS.iterdir())})
