#!/usr/bin/env python3
"""Crash safety: kill -9 the real renkei-server under load, restart it on the
same database, and check that everything it acknowledged survived.

    python3 tests/server/crash_safety_test.py --server build/native/server/renkei-server
    scripts/with-postgres.sh python3 tests/server/crash_safety_test.py --postgres --kill-postgres

The database is a SQLite file by default. With --database postgresql://… (a
server where the role may create databases) or --postgres (the same with
$RENKEI_TEST_POSTGRES_URI, exported by scripts/with-postgres.sh) the test
creates a new PostgreSQL database for the run, drops it at the end, and
PostgreSQL keeps running while the server is killed.

--kill-postgres (PostgreSQL only, under scripts/with-postgres.sh, which
exports RENKEI_TEST_POSTGRES_CTL) adds a second phase: under the same kind of
load PostgreSQL itself is stopped with an immediate shutdown (pg_ctl stop -m
immediate: no checkpoint, as a crash) while the server stays up. While it is
down every request must be answered (within 10 s) with system_error (500;
/healthz 503), never a hang, never a wrong "unknown token/code" answer; after PostgreSQL is
started again the same server must answer again by itself and the same
checks as after the server kill must hold.

Load: --threads clients (default 4) run complete authorization-code flows
(/authorize, ①–⑥ with the dev call simulator, /token, one account API read),
each flow with its own e-mail address; one more client submits wrong ② data
for account 115 普通 → savings 5000005 (C0006) until it is locked. After
--load-seconds the server gets SIGKILL while the clients are mid-request.

Checks after the restart (the clock is set again: it is not persisted):
  - every access token a client received answers GET /api/v1/account (200);
  - every authorization code received but not yet exchanged still exchanges;
  - every acknowledged lockout failure count and the lock are still stored;
  - every acknowledged completion (⑥ answered 200) has its result mail in
    the outbox (read from the database file itself);
  - every flow in progress either continues (GET /api/flow 200 on the screen
    acknowledged last or the next one) or fails cleanly with a 4xx code.
  - (PostgreSQL) a new complete flow works after the restart.
Exit status 0 when all hold; a summary line either way.
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADMIN_TOKEN = "crash-safety-admin-token"
OPEN_INSTANT = "2026-11-25T10:00:00+09:00"  # a Wednesday, service open
SCREENS = ["account_entry", "customer_entry", "phone_confirm", "call_wait", "pin_entry",
           "consent", "completed"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


PSQL = next((p for p in (os.path.join(os.environ.get("RENKEI_PG_BIN", "/usr/lib/postgresql/15/bin"), "psql"),
                          shutil.which("psql") or "") if p and os.access(p, os.X_OK)), "psql")


def psql(uri, sql):
    """Rows of one query (tab-separated fields), through the psql client."""
    out = subprocess.run([PSQL, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                          "-d", uri, "-c", sql], check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def with_dbname(uri, name):
    """The same server URI with another database name."""
    parts = urllib.parse.urlsplit(uri)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


class Server:
    def __init__(self, binary, workdir, port, database=None):
        self.binary, self.workdir, self.port = binary, workdir, port
        self.base = f"http://127.0.0.1:{port}"
        with open(os.path.join(REPO, "tests/browser/test-config.json")) as f:
            config = json.load(f)
        # Every client uses one demo customer (one phone), and a flow is never
        # given a pool number another flow of the same phone waits on: flows
        # left waiting on ④ at each kill must not use up the pool.
        self.database = database or os.path.join(workdir, "renkei.db")
        config.update(port=port, issuer=self.base, database=self.database,
                      maildir=os.path.join(workdir, "mail"), web_root=os.path.join(REPO, "web"),
                      call_pool=[f"0120{i:06d}" for i in range(1, 65)])
        for c in config["clients"]:
            c["redirect_uris"] = [f"{self.base}/demo/callback"]
        self.redirect = f"{self.base}/demo/callback"
        self.config_path = os.path.join(workdir, "config.json")
        with open(self.config_path, "w") as f:
            json.dump(config, f)
        self.proc = None
        self.log = open(os.path.join(workdir, "server.log"), "ab")

    def start(self):
        env = dict(os.environ, RENKEI_ADMIN_TOKEN=ADMIN_TOKEN)
        self.proc = subprocess.Popen([self.binary, "--config", self.config_path], cwd=self.workdir,
                                     env=env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"renkei-server exited with {self.proc.returncode}")
            try:
                if call(self.port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError("renkei-server did not become healthy")
        st, body, _ = call(self.port, "POST", "/admin/api/dev/clock", {"set": OPEN_INSTANT},
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                                    "X-Renkei-Staff": "crash-safety-test"})
        if st != 200:
            raise RuntimeError(f"setting the clock failed: {st} {body}")

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def call(port, method, path, body=None, headers=None, form=False, timeout=10):
    """One request; (status, parsed JSON or text, response headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    data = None
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return r.status, parsed, r.getheaders()
    finally:
        conn.close()


def set_cookie(headers):
    for k, v in headers:
        if k.lower() == "set-cookie" and v.startswith("renkei_session="):
            return v[len("renkei_session="):].split(";")[0]
    return None


class Ledger:
    """What the server acknowledged, shared by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = []          # access tokens received
        self.codes = []           # (code, verifier) received, not exchanged yet
        self.completions = []     # e-mail addresses of flows ⑥ answered 200
        self.in_flight = {}       # thread -> (cookie, last acknowledged screen)
        self.csrf = {}            # cookie -> its flow's CSRF token (as the page keeps it)
        self.lock_failures = 0    # acknowledged auth_mismatch / locked_now on C0006
        self.locked = False
        self.flows_done = 0
        self.errors = []


def run_flow(port, redirect, tid, n, ledger, stop):
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q = urllib.parse.urlencode({"response_type": "code", "client_id": "demo-app", "redirect_uri": redirect,
                                "state": f"s{tid}-{n}", "code_challenge": challenge,
                                "code_challenge_method": "S256"})
    st, _, h = call(port, "GET", "/authorize?" + q)
    if st != 200:  # the flow page itself (no redirect)
        raise RuntimeError(f"authorize {st}")
    cookie = set_cookie(h)
    st, body, _ = call(port, "GET", "/api/flow", headers={"Cookie": f"renkei_session={cookie}"})
    csrf = body["csrf_token"]
    email = f"crash-{tid}-{n}@example.jp"
    with ledger.lock:
        ledger.in_flight[tid] = (cookie, "account_entry")
        ledger.csrf[cookie] = csrf
    steps = [("/api/flow/account", {"branch": "115", "account_type": "ordinary", "account_number": "1100026"}),
             ("/api/flow/customer", {"name_kana": "ﾃﾞｰﾀ ｻﾄﾙ", "birth_year": "1985", "birth_month": "04",
                                     "birth_day": "12", "phone": "09011113333", "email": email,
                                     "email_confirm": email}),
             ("/api/flow/phone", {}), ("/dev/simulate-call", {}), ("/api/flow/call/confirm", {}),
             ("/api/flow/pin", {"pin": "1234"}), ("/api/flow/consent", {"consent": True})]
    redirect_to = None
    for path, payload in steps:
        if stop.is_set() and random.random() < 0.5:
            return  # leave this flow in flight
        st, body, h = call(port, "POST", path, payload,
                           headers={"Cookie": f"renkei_session={cookie}", "X-CSRF-Token": csrf})
        # The simulator verifies this session's own flow; should a call still
        # not register, call again, as a customer would.
        for _ in range(5):
            if not (st == 409 and isinstance(body, dict) and
                    body.get("error", {}).get("code") == "call_pending"):
                break
            hdr = {"Cookie": f"renkei_session={cookie}", "X-CSRF-Token": csrf}
            call(port, "POST", "/dev/simulate-call", {}, headers=hdr)
            st, body, h = call(port, "POST", path, payload, headers=hdr)
        if st != 200:
            raise RuntimeError(f"{path} {st} {body}")
        cookie = set_cookie(h) or cookie
        csrf = body.get("csrf_token", csrf)
        screen = body.get("flow", {}).get("screen")
        with ledger.lock:
            if screen:
                ledger.in_flight[tid] = (cookie, screen)
                ledger.csrf[cookie] = csrf
            if screen == "completed":
                ledger.completions.append(email)
                del ledger.in_flight[tid]
        redirect_to = body.get("redirect_to", redirect_to)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(redirect_to).query)["code"][0]
    with ledger.lock:
        ledger.codes.append((code, verifier))
    st, tokens, _ = call(port, "POST", "/token", {"grant_type": "authorization_code", "code": code,
                                                  "redirect_uri": redirect, "client_id": "demo-app",
                                                  "code_verifier": verifier}, form=True)
    if st != 200:
        raise RuntimeError(f"token {st} {tokens}")
    with ledger.lock:
        ledger.codes.remove((code, verifier))
        ledger.tokens.append(tokens["access_token"])
    st, _, _ = call(port, "GET", "/api/v1/account",
                    headers={"Authorization": f"Bearer {tokens['access_token']}"})
    if st != 200:
        raise RuntimeError(f"account {st}")
    with ledger.lock:
        ledger.flows_done += 1


def flow_client(port, redirect, tid, ledger, stop, killed):
    n = 0
    while not killed.is_set():
        n += 1
        try:
            run_flow(port, redirect, tid, n, ledger, stop)
        except TimeoutError:  # no answer within 10 s: a hang, whatever died
            with ledger.lock:
                ledger.errors.append(f"thread {tid}: no answer within 10 s")
            return
        except (OSError, http.client.HTTPException):
            return  # the server died mid-request: that answer was never acknowledged
        except Exception as e:  # a wrong answer while the server was up
            if not killed.is_set():
                with ledger.lock:
                    ledger.errors.append(f"thread {tid}: {e}")
            return


def lock_client(port, ledger, killed):
    """Wrong ② data for C0006 (115 savings 5000005) until it locks."""
    try:
        while not killed.is_set() and not ledger.locked:
            q = urllib.parse.urlencode({"response_type": "code", "client_id": "demo-app",
                                        "redirect_uri": ledger.redirect, "state": "lock",
                                        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                                        "code_challenge_method": "S256"})
            st, _, h = call(port, "GET", "/authorize?" + q)
            cookie = set_cookie(h)
            hdr = {"Cookie": f"renkei_session={cookie}"}
            _, body, _ = call(port, "GET", "/api/flow", headers=hdr)
            if not isinstance(body, dict) or "csrf_token" not in body:
                if killed.is_set():
                    return  # the database went away mid-attempt
                raise RuntimeError(f"lock client: GET /api/flow {body}")
            hdr["X-CSRF-Token"] = body["csrf_token"]
            call(port, "POST", "/api/flow/account",
                 {"branch": "115", "account_type": "savings", "account_number": "5000005"}, headers=hdr)
            st, body, _ = call(port, "POST", "/api/flow/customer",
                               {"name_kana": "ｺﾊﾞﾔｼ ｹﾝ", "birth_year": "1995", "birth_month": "05",
                                "birth_day": "05", "phone": "09000000000", "email": "lock@example.jp",
                                "email_confirm": "lock@example.jp"}, headers=hdr)
            code = (body or {}).get("error", {}).get("code") if isinstance(body, dict) else None
            with ledger.lock:
                if code in ("auth_mismatch", "locked_now"):
                    ledger.lock_failures += 1
                if code in ("locked_now", "locked"):
                    ledger.locked = True
            time.sleep(0.2)
    except TimeoutError:
        with ledger.lock:
            ledger.errors.append("lock client: no answer within 10 s")
    except (OSError, http.client.HTTPException):
        return
    except Exception as e:  # a wrong answer while the server and its database were up
        if not killed.is_set():
            with ledger.lock:
                ledger.errors.append(f"lock client: {e}")


def start_load(port, server, ledger, threads):
    stop, killed = threading.Event(), threading.Event()
    workers = [threading.Thread(target=flow_client, args=(port, server.redirect, t, ledger, stop, killed))
               for t in range(threads)]
    workers.append(threading.Thread(target=lock_client, args=(port, ledger, killed)))
    for t in workers:
        t.start()
    return stop, killed, workers


def mailed_addresses(database):
    """Recipients of the outbox, straight from the database (not the server)."""
    if database.startswith(("postgresql://", "postgres://")):
        return {row[0] for row in psql(database, "SELECT to_addr FROM mails")}
    db = sqlite3.connect(database)
    try:
        return {row[0] for row in db.execute("SELECT to_addr FROM mails")}
    finally:
        db.close()


def check_acknowledged(port, server, ledger, problems, what):
    """Everything `ledger` says the server acknowledged is still there."""
    mailed = mailed_addresses(server.database)
    missing_mail = [e for e in ledger.completions if e not in mailed]
    if missing_mail:
        problems.append(f"{what}: {len(missing_mail)} acknowledged completions without a mail: "
                        f"{missing_mail[:3]}")
    bad_tokens = 0
    for tok in ledger.tokens:
        st, _, _ = call(port, "GET", "/api/v1/account", headers={"Authorization": f"Bearer {tok}"})
        if st != 200:
            bad_tokens += 1
    if bad_tokens:
        problems.append(f"{what}: {bad_tokens} of {len(ledger.tokens)} acknowledged access tokens refused")
    bad_codes = 0
    for code, verifier in ledger.codes:
        st, body, _ = call(port, "POST", "/token", {"grant_type": "authorization_code", "code": code,
                                                    "redirect_uri": server.redirect,
                                                    "client_id": "demo-app", "code_verifier": verifier},
                           form=True)
        # The exchange may have committed just before the kill (client never
        # heard): then the code is "already used" — never an unknown code.
        if st != 200 and not (st == 400 and "already used" in json.dumps(body, ensure_ascii=False)):
            bad_codes += 1
    if bad_codes:
        problems.append(f"{what}: {bad_codes} of {len(ledger.codes)} acknowledged codes lost")
    codes_checked = len(ledger.codes)
    ledger.codes = []  # exchanged now (or already used): not checked again
    st, acct, _ = call(port, "GET", "/admin/api/accounts?branch=115&type=savings&number=5000005",
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    lock = (acct or {}).get("lock", {}) if isinstance(acct, dict) else {}
    if ledger.locked and not lock.get("locked"):
        problems.append(f"{what}: acknowledged lock lost: {acct}")
    if not ledger.locked and lock.get("failures", 0) < ledger.lock_failures:
        problems.append(f"{what}: acknowledged failures lost: {ledger.lock_failures} > {lock}")
    continued = failed_cleanly = 0
    for tid, (cookie, screen) in ledger.in_flight.items():
        st, body, _ = call(port, "GET", "/api/flow", headers={"Cookie": f"renkei_session={cookie}"})
        if st == 200:
            now = body.get("flow", {}).get("screen")
            i = SCREENS.index(screen)
            if now not in SCREENS[i:i + 2] and now not in ("account_entry",):
                problems.append(f"{what}: flow of thread {tid}: acknowledged {screen}, now {now}")
            continued += 1
        elif 400 <= st < 500 and isinstance(body, dict) and "error" in body:
            failed_cleanly += 1
        else:
            problems.append(f"{what}: flow of thread {tid}: GET /api/flow answered {st}")
    st, _, _ = call(port, "GET", "/healthz")
    if st != 200:
        problems.append(f"{what}: healthz {st} after the restart")
    if ledger.flows_done == 0:
        problems.append(f"{what}: no flow completed before the kill: the load did not run")
    return (f"{ledger.flows_done} flows completed before the kill; "
            f"{len(ledger.tokens)} tokens, {codes_checked} unexchanged codes, "
            f"{len(ledger.completions)} completions with mail checked; "
            f"lock acknowledged: {ledger.locked} ({ledger.lock_failures} failures); in-flight flows: "
            f"{continued} continue, {failed_cleanly} failed cleanly")


def pg_ctl(action):
    ctl = os.environ.get("RENKEI_TEST_POSTGRES_CTL")
    subprocess.run([ctl, action], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def system_error_probe(port, ledger, token, problems):
    """With PostgreSQL down: every kind of request answers system_error in
    time, as an outage (503 with Retry-After); none hangs, none says a token
    or a code is unknown."""
    cookie = next(iter(ledger.in_flight.values()), ("no-such-session", None))[0]
    step = {"Cookie": f"renkei_session={cookie}", "X-CSRF-Token": ledger.csrf.get(cookie, "none")}
    probes = [
        ("GET", "/healthz", None, {}, False),
        ("GET", "/api/flow", None, {"Cookie": f"renkei_session={cookie}"}, False),
        # Flow steps as the page sends them, with the flow's CSRF token (the
        # flow may be on another screen: a step reads the flow first, and
        # that read is what fails).
        ("POST", "/api/flow/account", {"branch": "115", "account_type": "ordinary",
                                       "account_number": "1100026"}, step, False),
        ("POST", "/api/flow/pin", {"pin": "1234"}, step, False),
        ("POST", "/api/flow/cancel", {}, step, False),
        ("GET", "/api/v1/account", None, {"Authorization": f"Bearer {token}"}, False),
        ("POST", "/token", {"grant_type": "authorization_code", "code": "x" * 43,
                            "redirect_uri": "http://127.0.0.1/", "client_id": "demo-app",
                            "code_verifier": "y" * 43}, {}, True),
        ("GET", "/admin/api/accounts?branch=115&type=savings&number=5000005", None,
         {"Authorization": f"Bearer {ADMIN_TOKEN}"}, False),
    ]
    answered = 0
    slowest = 0.0
    for _ in range(3):
        for method, path, body, headers, form in probes:
            t0 = time.time()
            try:
                st, resp, got = call(port, method, path, body, headers=headers, form=form, timeout=10)
            except (OSError, http.client.HTTPException) as e:
                problems.append(f"database down: {method} {path}: no answer within 10 s ({e})")
                continue
            slowest = max(slowest, time.time() - t0)
            err = resp.get("error") if isinstance(resp, dict) else None
            # An outage of the store, not an internal error: every route says
            # 503 Service Unavailable with Retry-After (RFC 9110 §15.6.4;
            # /healthz so takes the instance out of HAProxy) and the catalog's
            # system_error; /token in RFC 6749's form, temporarily_unavailable,
            # with the catalog code beside it.
            retry_after = next((v for k, v in got if k.lower() == "retry-after"), None)
            if form:
                ok = err == "temporarily_unavailable" and resp.get("code") == "system_error"
            else:
                ok = isinstance(err, dict) and err.get("code") == "system_error"
            if st != 503 or not ok or not (retry_after or "").isdigit():
                problems.append(f"database down: {method} {path} answered {st} "
                                f"(Retry-After {retry_after}) {resp}")
            answered += 1
        time.sleep(0.3)
    return f"{answered} requests answered 503 system_error, slowest {slowest * 1000:.0f} ms"


def kill_postgres_phase(port, server, args, first, problems):
    """PostgreSQL stopped (immediate shutdown) under load and started again;
    the server stays up throughout."""
    ledger = Ledger()
    ledger.redirect = server.redirect
    # The lock of the first phase is lifted, so that failures are counted again.
    st, body, _ = call(port, "POST", "/admin/api/accounts/lock/lift",
                       {"branch": "115", "type": "savings", "number": "5000005",
                        "reason": "crash safety test: second phase"},
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                                "X-Renkei-Staff": "crash-safety-test"})
    if st != 200:
        problems.append(f"lifting the lock: {st} {body}")
    stop, killed, workers = start_load(port, server, ledger, args.threads)
    time.sleep(args.load_seconds)
    stop.set()
    time.sleep(0.3)
    killed.set()
    pg_ctl("stop")
    for t in workers:
        t.join(30)
        if t.is_alive():
            problems.append("database down: a client is still waiting for an answer after 30 s")
    problems.extend(ledger.errors)
    if server.proc.poll() is not None:
        problems.append(f"the server exited ({server.proc.returncode}) when PostgreSQL went down")
        return "server exited"
    token = (ledger.tokens or first.tokens or ["no-token"])[-1]
    down = system_error_probe(port, ledger, token, problems)
    pg_ctl("start")
    t0 = time.time()
    while True:
        try:
            if call(port, "GET", "/healthz", timeout=10)[0] == 200:
                break
        except (OSError, http.client.HTTPException):
            pass
        if time.time() - t0 > 30:
            problems.append("the server did not answer /healthz 200 within 30 s of PostgreSQL's restart")
            return down
        time.sleep(0.1)
    back = time.time() - t0
    if server.proc.poll() is not None:
        problems.append("the server exited while PostgreSQL was down")
    summary = check_acknowledged(port, server, ledger, problems, "after PostgreSQL's restart")
    # What the first phase acknowledged, once more, after PostgreSQL's crash.
    bad = sum(1 for tok in first.tokens
              if call(port, "GET", "/api/v1/account", headers={"Authorization": f"Bearer {tok}"})[0] != 200)
    if bad:
        problems.append(f"after PostgreSQL's restart: {bad} tokens of the first phase refused")
    mailed = mailed_addresses(server.database)
    missing = [e for e in first.completions if e not in mailed]
    if missing:
        problems.append(f"after PostgreSQL's restart: {len(missing)} mails of the first phase lost")
    # A new flow, start to end, on the same server process.
    fresh = Ledger()
    try:
        run_flow(port, server.redirect, 99, 1, fresh, threading.Event())
    except Exception as e:
        problems.append(f"after PostgreSQL's restart: a new flow failed: {e}")
    return (f"{summary}; while down: {down}; healthy again {back:.1f} s after the start; "
            f"new flow after it: {'ok' if fresh.flows_done == 1 else 'FAILED'}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default=os.path.join(REPO, "build/native/server/renkei-server"))
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--load-seconds", type=float, default=4.0)
    ap.add_argument("--database", help="a PostgreSQL server URI (postgresql://…): the test creates "
                    "a new database there for the run (default: a SQLite file)")
    ap.add_argument("--postgres", action="store_true",
                    help="--database $RENKEI_TEST_POSTGRES_URI (scripts/with-postgres.sh)")
    ap.add_argument("--kill-postgres", action="store_true",
                    help="then stop PostgreSQL (immediate) under load and start it again "
                         "(needs RENKEI_TEST_POSTGRES_CTL from scripts/with-postgres.sh)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (and database)")
    args = ap.parse_args()
    if args.postgres:
        args.database = os.environ.get("RENKEI_TEST_POSTGRES_URI")
        if not args.database:
            ap.error("--postgres needs RENKEI_TEST_POSTGRES_URI (run under scripts/with-postgres.sh)")
    if args.database and not args.database.startswith(("postgresql://", "postgres://")):
        ap.error("--database takes a postgresql:// URI")
    if args.kill_postgres and not (args.database and os.environ.get("RENKEI_TEST_POSTGRES_CTL")):
        ap.error("--kill-postgres needs PostgreSQL and RENKEI_TEST_POSTGRES_CTL (scripts/with-postgres.sh)")

    workdir = tempfile.mkdtemp(prefix="renkei-crash-")
    database = None
    if args.database:
        name = f"renkei_crash_{secrets.token_hex(4)}"
        psql(args.database, f"CREATE DATABASE {name}")
        database = with_dbname(args.database, name)
    port = free_port()
    server = Server(os.path.abspath(args.server), workdir, port, database)
    backend = "PostgreSQL" if database else "SQLite"
    ledger = Ledger()
    ledger.redirect = server.redirect
    problems = []
    try:
        server.start()
        stop, killed, workers = start_load(port, server, ledger, args.threads)
        time.sleep(args.load_seconds)
        stop.set()  # from now on some flows are left in flight on purpose
        time.sleep(0.3)
        server.kill9()
        killed.set()
        for t in workers:
            t.join(30)
        problems += ledger.errors
        # The outbox is read before the restart, from what the killed process left.
        mailed = mailed_addresses(server.database)
        missing_mail = [e for e in ledger.completions if e not in mailed]
        if missing_mail:
            problems.append(f"{len(missing_mail)} acknowledged completions without a mail: {missing_mail[:3]}")
        server.start()
        summary = check_acknowledged(port, server, ledger, problems, "after the server's restart")
        print(f"crash safety ({backend}), server killed: {summary}")
        if args.kill_postgres:
            summary = kill_postgres_phase(port, server, args, ledger, problems)
            print(f"crash safety ({backend}), PostgreSQL killed: {summary}")
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
            if database:
                try:
                    psql(args.database, f"DROP DATABASE IF EXISTS {urllib.parse.urlsplit(database).path[1:]}")
                except subprocess.CalledProcessError as e:
                    print("could not drop the test database:", e.stderr.strip())
        else:
            print("work folder:", workdir, "database:", server.database)
    for p in problems:
        print("PROBLEM:", p)
    print("crash safety:", "FAILED" if problems else "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
