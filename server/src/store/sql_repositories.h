// The repositories of storage.h, written once for both SQL backends.
//
// SqlRepositories<Tx, Query> is the base of SqliteTx (sqlite_store.cpp) and
// PostgresTx (postgres_store.cpp), over the backend's transaction type (CRTP:
// every call to the backend is resolved at compile time, no virtual call
// beyond StoreTx's own). Its SQL is the text both backends run: constant
// strings with `?` parameters (PostgreSQL's PgQuery numbers them), with the
// row readers and wire names of store_rows.h. What only one backend does is
// in its own file: PostgreSQL's row and advisory locks and deferred writes
// (which it adds by overriding a method and then calling this one, or through
// the hooks below), SQLite's group commit, each one's BEGIN/COMMIT.
//
// Tx provides (befriending this class):
//   Query query(std::string_view sql, const char* what)
//       A statement of the transaction, with binds(…), step(), run() (the
//       rows changed) and text/opt_text/int64/opt_int64/boolean(column);
//       run(sql, what, args…) below binds and runs one.
//       `sql` must have static storage (it keys the statement cache).
//   void check_open() const          throws once the transaction finished
//   void write(Query& q, const char* if_unchanged)
//       Sends a write whose answer nobody reads: SQLite runs it at once,
//       PostgreSQL defers it (postgres_store.cpp). `if_unchanged` (or
//       nullptr): the failure's message when the write changes no row.
//   static constexpr bool kRowLocks  the backend takes row locks (SELECT …
//       FOR UPDATE) where a caller reads what it writes back (then also
//       bool read_only() const); SQLite's single writer already excludes
//       every other transaction.
//   static constexpr bool kGuardedWrites  write() may send a statement later,
//       with the COMMIT, so a write that must change a row has to fail by
//       itself when it changes none (see update_flow).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/storage.h"
#include "store/store_rows.h"

namespace renkei::server {

// The filters shared by the three audit queries; the leading condition of
// each picks the index (account, flow_id or none). The casts give PostgreSQL
// the parameters' type, which it cannot infer from `? = ''` (a no-op on
// SQLite, where the parameters are text already).
#define RENKEI_AUDIT_FILTERS                                                         \
  " (CAST(? AS TEXT) = '' OR account = ?) AND (CAST(? AS TEXT) = '' OR flow_id = ?)" \
  " AND (CAST(? AS TEXT) = '' OR outcome = ?)"                                       \
  " AND occurred_at >= ? AND occurred_at <= ? AND id < ?"                            \
  " ORDER BY id DESC LIMIT ?"

// The flow's UPDATE (update_flow).
#define RENKEI_FLOW_UPDATE                                                             \
  "UPDATE flows SET session_digest = ?, csrf_token = ?, client_id = ?,"                \
  " redirect_uri = ?, oauth_state = ?, code_challenge = ?, scope = ?, state_json = ?," \
  " screen = ?, call_dialled = ?, call_opened_at = ?, call_expires_at = ?,"            \
  " account_id = ?, client_ip = ?, user_agent = ?, created_at = ?, updated_at = ?,"    \
  " app_error = ? WHERE flow_id = ?"

// Inside SqlRepositories: a read whose rows the caller writes back, with
// " FOR UPDATE" appended where the backend takes row locks (locking() and
// consuming() below). Both texts are string literals, as the statement cache
// needs.
#define RENKEI_LOCKING(sql) locking(sql, sql " FOR UPDATE")
#define RENKEI_CONSUMING(sql) consuming(sql, sql " FOR UPDATE")

template <class Tx, class Query>
class SqlRepositories : public StoreTx {
 public:
  // ----- AccountRepository -----

  std::optional<AccountRecord> find_account(const AccountRef& ref) override {
    Query q = query("SELECT " RENKEI_ACCOUNT_COLUMNS
                    " FROM accounts WHERE branch = ? AND account_type = ? AND account_number = ?",
                    "find_account");
    q.binds(ref.branch, account_type_wire_name(ref.type), ref.number);
    if (!q.step()) return std::nullopt;
    return store_rows::read_account(q);
  }

  std::optional<AccountRecord> account_by_id(std::int64_t id) override {
    Query q =
        query("SELECT " RENKEI_ACCOUNT_COLUMNS " FROM accounts WHERE id = ?", "account_by_id");
    q.binds(id);
    if (!q.step()) return std::nullopt;
    return store_rows::read_account(q);
  }

  std::optional<CustomerRecord> find_customer(const std::string& customer_id) override {
    CustomerRecord c;
    {
      Query q =
          query("SELECT id, name_kana, birth_date FROM customers WHERE id = ?", "find_customer");
      q.binds(customer_id);
      if (!q.step()) return std::nullopt;
      c.id = q.text(0);
      c.name_kana = q.text(1);
      c.birth_date = q.text(2);
    }
    Query q = query("SELECT phone FROM customer_phones WHERE customer_id = ? ORDER BY seq",
                    "find_customer");
    q.binds(customer_id);
    while (q.step()) c.phones.push_back(q.text(0));
    return c;
  }

  void upsert_customer(const CustomerRecord& c) override {
    run("INSERT INTO customers (id, name_kana, birth_date) VALUES (?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name_kana = excluded.name_kana,"
        " birth_date = excluded.birth_date",
        "upsert_customer", c.id, c.name_kana, c.birth_date);
    run("DELETE FROM customer_phones WHERE customer_id = ?", "upsert_customer", c.id);
    std::int64_t seq = 0;
    for (const auto& phone : c.phones) {
      run("INSERT INTO customer_phones (customer_id, seq, phone) VALUES (?, ?, ?)",
          "upsert_customer", c.id, seq++, phone);
    }
  }

  std::int64_t upsert_account(const AccountRecord& a) override {
    // Replacing by ref keeps the id, so the ledger, locks and grants stay attached.
    Query q = query(
        "INSERT INTO accounts (customer_id, branch, account_type, account_number, status,"
        " cash_card_issued, balance_yen, pin_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (branch, account_type, account_number) DO UPDATE SET"
        " customer_id = excluded.customer_id, status = excluded.status,"
        " cash_card_issued = excluded.cash_card_issued, balance_yen = excluded.balance_yen,"
        " pin_digest = excluded.pin_digest"
        " RETURNING id",
        "upsert_account");
    q.binds(a.customer_id, a.ref.branch, account_type_wire_name(a.ref.type), a.ref.number,
            account_status_wire_name(a.status), a.cash_card_issued, a.balance_yen, a.pin_digest);
    return returned_id(q, "storage: upsert_account: no id returned");
  }

  void add_ledger_entry(const LedgerEntry& e) override {
    run("INSERT INTO ledger (account_id, entry_date, description, amount_yen, balance_after_yen)"
        " VALUES (?, ?, ?, ?, ?)",
        "add_ledger_entry", e.account_id, e.date, e.description, e.amount_yen, e.balance_after_yen);
  }

  std::vector<LedgerEntry> ledger(std::int64_t account_id, const std::string& from,
                                  const std::string& to, int limit,
                                  std::int64_t before_id) override {
    std::vector<LedgerEntry> out;
    if (limit <= 0) return out;
    // The order is (date, id) descending; the cursor continues after the
    // entry `before_id` in that order (which is "ids < before_id" whenever
    // entries were added in date order, as the seed and imports do).
    std::optional<std::string> cursor_date;
    if (before_id != 0) {
      Query c = query("SELECT entry_date FROM ledger WHERE id = ? AND account_id = ?", "ledger");
      c.binds(before_id, account_id);
      if (c.step()) cursor_date = c.text(0);
    }
    if (cursor_date) {
      Query q = query("SELECT " RENKEI_LEDGER_COLUMNS
                      " FROM ledger WHERE account_id = ? AND entry_date >= ? AND entry_date <= ?"
                      " AND (entry_date < ? OR (entry_date = ? AND id < ?))"
                      " ORDER BY entry_date DESC, id DESC LIMIT ?",
                      "ledger");
      q.binds(account_id, from, to, *cursor_date, *cursor_date, before_id, limit);
      while (q.step()) out.push_back(store_rows::read_ledger(q));
    } else {
      Query q = query("SELECT " RENKEI_LEDGER_COLUMNS
                      " FROM ledger WHERE account_id = ? AND entry_date >= ? AND entry_date <= ?"
                      " AND id < ? ORDER BY entry_date DESC, id DESC LIMIT ?",
                      "ledger");
      q.binds(account_id, from, to, before_id != 0 ? before_id : kMaxInt64, limit);
      while (q.step()) out.push_back(store_rows::read_ledger(q));
    }
    return out;
  }

  std::int64_t count_accounts() override {
    Query q = query("SELECT COUNT(*) FROM accounts", "count_accounts");
    q.step();
    return q.int64(0);
  }

  // ----- LockRepository -----

  // PostgreSQL first makes sure the counter row exists (postgres_store.cpp),
  // so that it is locked here even for an account that never failed.
  LockState load_lock(std::int64_t account_id) override {
    Query q = query(RENKEI_LOCKING("SELECT failures, locked_until FROM locks WHERE account_id = ?"),
                    "load_lock");
    q.binds(account_id);
    LockState s;
    if (q.step()) {
      s.failures = static_cast<int>(q.int64(0));
      s.locked_until = q.opt_int64(1);
    }
    return s;
  }

  void save_lock(std::int64_t account_id, const LockState& s) override {
    run("INSERT INTO locks (account_id, failures, locked_until) VALUES (?, ?, ?)"
        " ON CONFLICT (account_id) DO UPDATE SET failures = excluded.failures,"
        " locked_until = excluded.locked_until",
        "save_lock", account_id, s.failures, s.locked_until);
  }

  std::vector<std::pair<std::int64_t, LockState>> list_locks() override {
    Query q = query(
        "SELECT account_id, failures, locked_until FROM locks"
        " WHERE failures > 0 OR locked_until IS NOT NULL ORDER BY account_id",
        "list_locks");
    std::vector<std::pair<std::int64_t, LockState>> out;
    while (q.step()) {
      LockState s;
      s.failures = static_cast<int>(q.int64(1));
      s.locked_until = q.opt_int64(2);
      out.emplace_back(q.int64(0), s);
    }
    return out;
  }

  // ----- FlowRepository -----

  void insert_flow(const FlowRecord& f) override {
    const store_rows::FlowIndexColumns c = store_rows::flow_index_columns(f);
    run("INSERT INTO flows (flow_id, session_digest, csrf_token, client_id, redirect_uri,"
        " oauth_state, code_challenge, scope, state_json, screen, call_dialled, call_opened_at,"
        " call_expires_at, account_id, client_ip, user_agent, created_at, updated_at, dpop_jkt,"
        " app_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "insert_flow", f.flow_id, f.session_digest, f.csrf_token, f.client_id, f.redirect_uri,
        f.oauth_state, f.code_challenge, f.scope, c.state_json, c.screen, c.call_dialled,
        c.call_opened_at, c.call_expires_at, f.account_id, f.client_ip, f.user_agent, f.created_at,
        f.updated_at, f.dpop_jkt, f.app_error);
  }

  std::optional<FlowRecord> flow_by_session(const std::string& session_digest) override {
    Query q =
        query(RENKEI_LOCKING("SELECT " RENKEI_FLOW_COLUMNS " FROM flows WHERE session_digest = ?"),
              "flow_by_session");
    q.binds(session_digest);
    if (!q.step()) return std::nullopt;
    return store_rows::read_flow(q);
  }

  std::optional<FlowRecord> flow_by_id(const std::string& flow_id) override {
    Query q = query(RENKEI_LOCKING("SELECT " RENKEI_FLOW_COLUMNS " FROM flows WHERE flow_id = ?"),
                    "flow_by_id");
    q.binds(flow_id);
    if (!q.step()) return std::nullopt;
    return store_rows::read_flow(q);
  }

  // A write whose answer nobody reads (Tx::write: PostgreSQL defers it). A
  // flow that is not there fails it ("update_flow: no such flow"). Where the
  // write may go later, in the round trip of the COMMIT, the statement fails
  // by itself when it changes no row (1 / COUNT(*) of the changed rows:
  // division by zero, SQLSTATE 22012): a statement that merely changed
  // nothing would let that COMMIT keep the transaction's other changes.
  void update_flow(const FlowRecord& f) override {
    const store_rows::FlowIndexColumns c = store_rows::flow_index_columns(f);
    Query q = query(Tx::kGuardedWrites
                        ? std::string_view("WITH changed AS (" RENKEI_FLOW_UPDATE " RETURNING 1)"
                                           " SELECT 1 / COUNT(*) FROM changed")
                        : std::string_view(RENKEI_FLOW_UPDATE),
                    "update_flow");
    q.binds(f.session_digest, f.csrf_token, f.client_id, f.redirect_uri, f.oauth_state,
            f.code_challenge, f.scope, c.state_json, c.screen, c.call_dialled, c.call_opened_at,
            c.call_expires_at, f.account_id, f.client_ip, f.user_agent, f.created_at, f.updated_at,
            f.app_error, f.flow_id);
    tx().write(q, "update_flow: no such flow");
  }

  // PostgreSQL first holds the dialled number (postgres_store.cpp).
  std::vector<FlowRecord> flows_waiting_for_call(const std::string& dialled,
                                                 UnixSeconds now) override {
    Query q = query(RENKEI_LOCKING("SELECT " RENKEI_FLOW_COLUMNS
                                   " FROM flows WHERE call_dialled = ? AND screen = ?"
                                   " AND call_expires_at >= ? AND call_opened_at <= ?"
                                   " ORDER BY call_opened_at DESC, flow_id"),
                    "flows_waiting_for_call");
    q.binds(dialled, screen_wire_name(Screen::call_wait), now, now);
    std::vector<FlowRecord> out;
    while (q.step()) out.push_back(store_rows::read_flow(q));
    return out;
  }

  std::vector<FlowRecord> flows_waiting_for_any_call(UnixSeconds now) override {
    // No row lock: the choice reads the waiting flows and changes none of them.
    Query q = query("SELECT " RENKEI_FLOW_COLUMNS
                    " FROM flows WHERE screen = ? AND call_expires_at >= ? AND call_opened_at <= ?",
                    "flows_waiting_for_any_call");
    q.binds(screen_wire_name(Screen::call_wait), now, now);
    std::vector<FlowRecord> out;
    while (q.step()) out.push_back(store_rows::read_flow(q));
    return out;
  }

  std::vector<FlowRecord> recent_flows(UnixSeconds since, int limit) override {
    std::vector<FlowRecord> out;
    if (limit <= 0) return out;
    Query q = query("SELECT " RENKEI_FLOW_COLUMNS
                    " FROM flows WHERE updated_at >= ? ORDER BY updated_at DESC, flow_id"
                    " LIMIT ?",
                    "recent_flows");
    q.binds(since, limit);
    while (q.step()) out.push_back(store_rows::read_flow(q));
    return out;
  }

  // ----- OAuthRepository -----

  std::optional<ClientRecord> find_client(const std::string& id) override {
    ClientRecord c;
    {
      Query q = query("SELECT " RENKEI_CLIENT_COLUMNS " FROM clients WHERE id = ?", "find_client");
      q.binds(id);
      if (!q.step()) return std::nullopt;
      c = store_rows::read_client(q);
    }
    c.redirect_uris = redirect_uris(c.id);
    return c;
  }

  void upsert_client(const ClientRecord& c) override {
    run("INSERT INTO clients (" RENKEI_CLIENT_COLUMNS
        ") VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name,"
        " secret_digest = excluded.secret_digest, enabled = excluded.enabled,"
        " profile = excluded.profile, jwks = excluded.jwks",
        "upsert_client", c.id, c.display_name, c.secret_digest, c.enabled, c.profile, c.jwks);
    run("DELETE FROM client_redirect_uris WHERE client_id = ?", "upsert_client", c.id);
    std::int64_t seq = 0;
    for (const auto& uri : c.redirect_uris) {
      run("INSERT INTO client_redirect_uris (client_id, seq, uri) VALUES (?, ?, ?)",
          "upsert_client", c.id, seq++, uri);
    }
  }

  std::vector<ClientRecord> list_clients() override {
    std::vector<ClientRecord> out;
    {
      Query q = query("SELECT " RENKEI_CLIENT_COLUMNS " FROM clients ORDER BY id", "list_clients");
      while (q.step()) out.push_back(store_rows::read_client(q));
    }
    for (auto& c : out) c.redirect_uris = redirect_uris(c.id);
    return out;
  }

  void insert_code(const AuthorizationCodeRecord& c) override {
    run("INSERT INTO authorization_codes (code_digest, client_id, redirect_uri, code_challenge,"
        " grant_id, expires_at, used, dpop_jkt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        "insert_code", c.code_digest, c.client_id, c.redirect_uri, c.code_challenge, c.grant_id,
        c.expires_at, c.used, c.dpop_jkt);
  }

  std::optional<AuthorizationCodeRecord> consume_code(const std::string& digest) override {
    return consume_once<AuthorizationCodeRecord>(
        RENKEI_CONSUMING(
            "SELECT code_digest, client_id, redirect_uri, code_challenge, grant_id,"
            " expires_at, used, dpop_jkt FROM authorization_codes WHERE code_digest = ?"),
        "UPDATE authorization_codes SET used = TRUE WHERE code_digest = ?", "consume_code", digest,
        [](const Query& q) {
          AuthorizationCodeRecord c;
          c.code_digest = q.text(0);
          c.client_id = q.text(1);
          c.redirect_uri = q.text(2);
          c.code_challenge = q.text(3);
          c.grant_id = q.text(4);
          c.expires_at = q.int64(5);
          c.used = q.boolean(6);
          c.dpop_jkt = q.text(7);
          return c;
        });
  }

  int delete_unused_codes(const std::string& grant_id) override {
    return run("DELETE FROM authorization_codes WHERE grant_id = ? AND used = FALSE",
               "delete_unused_codes", grant_id);
  }

  bool grant_code_used(const std::string& grant_id) override {
    Query q = query("SELECT 1 FROM authorization_codes WHERE grant_id = ? AND used = TRUE LIMIT 1",
                    "grant_code_used");
    q.binds(grant_id);
    return q.step();
  }

  std::optional<GrantRecord> grant_of_flow(const std::string& flow_id) override {
    Query q = query("SELECT " RENKEI_GRANT_COLUMNS
                    " FROM grants WHERE flow_id = ? ORDER BY created_at, id",
                    "grant_of_flow");
    q.binds(flow_id);
    if (!q.step()) return std::nullopt;
    return store_rows::read_grant(q);
  }

  void insert_grant(const GrantRecord& g) override {
    run("INSERT INTO grants (" RENKEI_GRANT_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "insert_grant", g.id, g.client_id, g.account_id, g.scope, g.flow_id, g.created_at,
        g.expires_at, g.revoked_at, g.last_used_at, g.revoked_by);
  }

  std::optional<GrantRecord> find_grant(const std::string& id) override {
    Query q = query(RENKEI_LOCKING("SELECT " RENKEI_GRANT_COLUMNS " FROM grants WHERE id = ?"),
                    "find_grant");
    q.binds(id);
    if (!q.step()) return std::nullopt;
    return store_rows::read_grant(q);
  }

  void update_grant(const GrantRecord& g) override {
    const int changed =
        run("UPDATE grants SET client_id = ?, account_id = ?, scope = ?, flow_id = ?,"
            " created_at = ?, expires_at = ?, revoked_at = ?, last_used_at = ?, revoked_by = ?"
            " WHERE id = ?",
            "update_grant", g.client_id, g.account_id, g.scope, g.flow_id, g.created_at,
            g.expires_at, g.revoked_at, g.last_used_at, g.revoked_by, g.id);
    if (changed == 0) throw StorageError("storage: update_grant: no such grant");
  }

  std::vector<GrantRecord> grants_for_account(std::int64_t account_id) override {
    Query q = query("SELECT " RENKEI_GRANT_COLUMNS
                    " FROM grants WHERE account_id = ? ORDER BY created_at DESC, id",
                    "grants_for_account");
    q.binds(account_id);
    std::vector<GrantRecord> out;
    while (q.step()) out.push_back(store_rows::read_grant(q));
    return out;
  }

  void insert_token(const TokenRecord& t) override {
    run("INSERT INTO tokens (token_digest, kind, grant_id, client_id, expires_at, revoked,"
        " dpop_jkt) VALUES (?, ?, ?, ?, ?, ?, ?)",
        "insert_token", t.token_digest, store_rows::token_kind_wire_name(t.kind), t.grant_id,
        t.client_id, t.expires_at, t.revoked, t.dpop_jkt);
  }

  // PostgreSQL first locks the token's grant (postgres_store.cpp).
  std::optional<TokenRecord> find_token(const std::string& digest) override {
    Query q = query(
        "SELECT token_digest, kind, grant_id, client_id, expires_at, revoked, dpop_jkt"
        " FROM tokens WHERE token_digest = ?",
        "find_token");
    q.binds(digest);
    if (!q.step()) return std::nullopt;
    TokenRecord t;
    t.token_digest = q.text(0);
    t.kind = store_rows::token_kind_from_wire(q.text(1));
    t.grant_id = q.text(2);
    t.client_id = q.text(3);
    t.expires_at = q.int64(4);
    t.revoked = q.boolean(5);
    t.dpop_jkt = q.text(6);
    return t;
  }

  void revoke_token(const std::string& digest) override {
    run("UPDATE tokens SET revoked = TRUE WHERE token_digest = ?", "revoke_token", digest);
  }

  void revoke_tokens_of_grant(const std::string& grant_id) override {
    run("UPDATE tokens SET revoked = TRUE WHERE grant_id = ?", "revoke_tokens_of_grant", grant_id);
  }

  // ----- FapiRepository (issue 13) -----

  void insert_pushed_request(const PushedRequestRecord& r) override {
    run("INSERT INTO pushed_requests (request_uri_digest, client_id, params_json, expires_at,"
        " used) VALUES (?, ?, ?, ?, ?)",
        "insert_pushed_request", r.request_uri_digest, r.client_id, r.params_json, r.expires_at,
        r.used);
  }

  std::optional<PushedRequestRecord> consume_pushed_request(const std::string& digest) override {
    return consume_once<PushedRequestRecord>(
        RENKEI_CONSUMING("SELECT request_uri_digest, client_id, params_json, expires_at, used"
                         " FROM pushed_requests WHERE request_uri_digest = ?"),
        "UPDATE pushed_requests SET used = TRUE WHERE request_uri_digest = ?",
        "consume_pushed_request", digest, [](const Query& q) {
          PushedRequestRecord r;
          r.request_uri_digest = q.text(0);
          r.client_id = q.text(1);
          r.params_json = q.text(2);
          r.expires_at = q.int64(3);
          r.used = q.boolean(4);
          return r;
        });
  }

  bool remember_jti(const std::string& kind, const std::string& owner,
                    const std::string& jti_digest, UnixSeconds expires_at) override {
    return run("INSERT INTO seen_jtis (kind, owner, jti_digest, expires_at) VALUES (?, ?, ?, ?)"
               " ON CONFLICT (kind, owner, jti_digest) DO NOTHING",
               "remember_jti", kind, owner, jti_digest, expires_at) == 1;
  }

  int delete_expired_fapi_rows(UnixSeconds before, int limit) override {
    int n =
        run("DELETE FROM pushed_requests WHERE request_uri_digest IN (SELECT"
            " request_uri_digest FROM pushed_requests WHERE expires_at < ? LIMIT ?)",
            "delete_expired_fapi_rows", before, limit);
    if (n >= limit) return n;
    n +=
        run("DELETE FROM seen_jtis WHERE (kind, owner, jti_digest) IN (SELECT kind, owner,"
            " jti_digest FROM seen_jtis WHERE expires_at < ? LIMIT ?)",
            "delete_expired_fapi_rows", before, limit - n);
    return n;
  }

  // ----- MailOutboxRepository -----

  std::int64_t enqueue_mail(const MailRecord& m) override {
    Query q = query(
        "INSERT INTO mails (to_addr, subject, body, flow_id, created_at, next_attempt_at,"
        " attempts, state, last_error, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " RETURNING id",
        "enqueue_mail");
    q.binds(m.to, m.subject, m.body, m.flow_id, m.created_at, m.next_attempt_at, m.attempts,
            store_rows::mail_state_wire_name(m.state), m.last_error, m.sent_at);
    return returned_id(q, "storage: enqueue_mail: no id returned");
  }

  std::vector<MailRecord> due_mails(UnixSeconds now, int limit) override {
    std::vector<MailRecord> out;
    if (limit <= 0) return out;
    // SKIP LOCKED: mails another instance is claiming right now are left to
    // it; this one claims the next ones instead of waiting.
    Query q = query(locking("SELECT " RENKEI_MAIL_COLUMNS " FROM mails WHERE state = ? AND"
                            " next_attempt_at <= ?"
                            " ORDER BY next_attempt_at, id LIMIT ?",
                            "SELECT " RENKEI_MAIL_COLUMNS " FROM mails WHERE state = ? AND"
                            " next_attempt_at <= ?"
                            " ORDER BY next_attempt_at, id LIMIT ?"
                            " FOR UPDATE SKIP LOCKED"),
                    "due_mails");
    q.binds(store_rows::mail_state_wire_name(MailState::pending), now, limit);
    while (q.step()) out.push_back(store_rows::read_mail(q));
    return out;
  }

  void update_mail(const MailRecord& m) override {
    const int changed =
        run("UPDATE mails SET to_addr = ?, subject = ?, body = ?, flow_id = ?, created_at = ?,"
            " next_attempt_at = ?, attempts = ?, state = ?, last_error = ?, sent_at = ?"
            " WHERE id = ?",
            "update_mail", m.to, m.subject, m.body, m.flow_id, m.created_at, m.next_attempt_at,
            m.attempts, store_rows::mail_state_wire_name(m.state), m.last_error, m.sent_at, m.id);
    if (changed == 0) throw StorageError("storage: update_mail: no such mail");
  }

  std::vector<MailRecord> list_mails(int limit) override {
    std::vector<MailRecord> out;
    if (limit <= 0) return out;
    Query q =
        query("SELECT " RENKEI_MAIL_COLUMNS " FROM mails ORDER BY id DESC LIMIT ?", "list_mails");
    q.binds(limit);
    while (q.step()) out.push_back(store_rows::read_mail(q));
    return out;
  }

  std::optional<MailRecord> mail_by_id(std::int64_t id) override {
    Query q = query(RENKEI_LOCKING("SELECT " RENKEI_MAIL_COLUMNS " FROM mails WHERE id = ?"),
                    "mail_by_id");
    q.binds(id);
    if (!q.step()) return std::nullopt;
    return store_rows::read_mail(q);
  }

  // ----- OperationLogRepository -----

  // A write whose answer nobody reads (Tx::write: PostgreSQL defers it).
  void append_audit(const AuditRecord& r) override {
    if (!r.once_key.empty()) {
      // Idempotent: nothing when a row with this key is there (the partial
      // unique index audit_once_key, migration 0005).
      Query q = query(
          "INSERT INTO audit (occurred_at, flow_id, step, outcome, account, name_kana,"
          " masked_phone, client_id, ip, user_agent, actor, detail, once_key)"
          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
          " ON CONFLICT (once_key) WHERE once_key IS NOT NULL DO NOTHING",
          "append_audit");
      q.binds(r.at, r.flow_id, r.step, r.outcome, r.account, r.name_kana, r.masked_phone,
              r.client_id, r.ip, r.user_agent, r.actor, r.detail, r.once_key);
      tx().write(q, nullptr);
      return;
    }
    Query q = query(
        "INSERT INTO audit (occurred_at, flow_id, step, outcome, account, name_kana,"
        " masked_phone, client_id, ip, user_agent, actor, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "append_audit");
    q.binds(r.at, r.flow_id, r.step, r.outcome, r.account, r.name_kana, r.masked_phone, r.client_id,
            r.ip, r.user_agent, r.actor, r.detail);
    tx().write(q, nullptr);
  }

  std::vector<AuditRecord> query_audit(const AuditQuery& aq) override {
    tx().check_open();
    std::vector<AuditRecord> out;
    if (aq.limit <= 0) return out;
    // Three constant statements that differ only in their leading condition,
    // so that the account and flow filters use their index.
    std::string_view sql = "SELECT " RENKEI_AUDIT_COLUMNS " FROM audit WHERE" RENKEI_AUDIT_FILTERS;
    if (!aq.account.empty()) {
      sql = "SELECT " RENKEI_AUDIT_COLUMNS " FROM audit WHERE account = ? AND" RENKEI_AUDIT_FILTERS;
    } else if (!aq.flow_id.empty()) {
      sql = "SELECT " RENKEI_AUDIT_COLUMNS " FROM audit WHERE flow_id = ? AND" RENKEI_AUDIT_FILTERS;
    }
    Query q = query(sql, "query_audit");
    if (!aq.account.empty()) {
      q.binds(aq.account);
    } else if (!aq.flow_id.empty()) {
      q.binds(aq.flow_id);
    }
    q.binds(aq.account, aq.account, aq.flow_id, aq.flow_id, aq.outcome, aq.outcome,
            aq.from.value_or(kMinInt64), aq.to.value_or(kMaxInt64),
            aq.before_id != 0 ? aq.before_id : kMaxInt64, aq.limit);
    while (q.step()) out.push_back(store_rows::read_audit(q));
    return out;
  }

  // ----- CallEventRepository -----

  bool insert_call_event(const CallEventRecord& e) override {
    return run("INSERT INTO call_events (provider_call_id, caller_masked, dialled, received_at,"
               " flow_id, outcome) VALUES (?, ?, ?, ?, ?, ?)"
               " ON CONFLICT (provider_call_id) DO NOTHING",
               "insert_call_event", e.provider_call_id, e.caller_masked, e.dialled, e.received_at,
               e.flow_id, e.outcome) == 1;
  }

  std::optional<CallEventRecord> find_call_event(const std::string& provider_call_id) override {
    Query q = query(
        "SELECT provider_call_id, caller_masked, dialled, received_at, flow_id, outcome"
        " FROM call_events WHERE provider_call_id = ?",
        "find_call_event");
    q.binds(provider_call_id);
    if (!q.step()) return std::nullopt;
    CallEventRecord e;
    e.provider_call_id = q.text(0);
    e.caller_masked = q.opt_text(1);
    e.dialled = q.text(2);
    e.received_at = q.int64(3);
    e.flow_id = q.text(4);
    e.outcome = q.text(5);
    return e;
  }

  // ----- RetentionRepository -----

  int delete_flows_idle_since(UnixSeconds before, int limit) override {
    return run(
        "DELETE FROM flows WHERE flow_id IN"
        " (SELECT flow_id FROM flows WHERE updated_at < ? LIMIT ?)",
        "delete_flows_idle_since", before, limit);
  }

  int delete_call_events_before(UnixSeconds before, int limit) override {
    return run(
        "DELETE FROM call_events WHERE provider_call_id IN"
        " (SELECT provider_call_id FROM call_events WHERE received_at < ? LIMIT ?)",
        "delete_call_events_before", before, limit);
  }

  int delete_audit_before(UnixSeconds before, int limit) override {
    return run(
        "DELETE FROM audit WHERE id IN"
        " (SELECT id FROM audit WHERE occurred_at < ? ORDER BY id LIMIT ?)",
        "delete_audit_before", before, limit);
  }

  int delete_finished_mails_before(UnixSeconds before, int limit) override {
    return run(
        "DELETE FROM mails WHERE id IN (SELECT id FROM mails WHERE created_at < ?"
        " AND state <> ? ORDER BY id LIMIT ?)",
        "delete_finished_mails_before", before,
        store_rows::mail_state_wire_name(MailState::pending), limit);
  }

  // ----- MaintenanceRepository -----

  std::vector<MaintenanceWindow> list_maintenance() override {
    std::vector<MaintenanceWindow> out;
    for (auto& [id, w] : list_maintenance_with_ids()) out.push_back(std::move(w));
    return out;
  }

  std::int64_t add_maintenance(const MaintenanceWindow& w) override {
    Query q = query(
        "INSERT INTO maintenance_windows (start_at, end_at, label) VALUES (?, ?, ?)"
        " RETURNING id",
        "add_maintenance");
    q.binds(w.start, w.end, w.label);
    return returned_id(q, "storage: add_maintenance: no id returned");
  }

  bool remove_maintenance(std::int64_t id) override {
    return run("DELETE FROM maintenance_windows WHERE id = ?", "remove_maintenance", id) > 0;
  }

  std::vector<std::pair<std::int64_t, MaintenanceWindow>> list_maintenance_with_ids() override {
    Query q =
        query("SELECT id, start_at, end_at, label FROM maintenance_windows ORDER BY start_at, id",
              "list_maintenance");
    std::vector<std::pair<std::int64_t, MaintenanceWindow>> out;
    while (q.step()) {
      MaintenanceWindow w;
      w.start = q.int64(1);
      w.end = q.int64(2);
      w.label = q.text(3);
      out.emplace_back(q.int64(0), std::move(w));
    }
    return out;
  }

 protected:
  static constexpr std::int64_t kMinInt64 = std::numeric_limits<std::int64_t>::min();
  static constexpr std::int64_t kMaxInt64 = std::numeric_limits<std::int64_t>::max();

  Tx& tx() { return static_cast<Tx&>(*this); }
  Query query(std::string_view sql, const char* what) { return tx().query(sql, what); }
  // Runs a statement that returns no rows, with `args` bound in order; the
  // number of rows it changed.
  template <class... A>
  int run(std::string_view sql, const char* what, const A&... args) {
    return query(sql, what).binds(args...).run();
  }

  // The statement of a read whose rows the caller will write back: with the
  // row lock (`locked`, the same text with FOR UPDATE appended) in a
  // read-write transaction of a backend that takes row locks. Both are
  // string literals, as the statement cache needs.
  std::string_view locking(std::string_view plain, std::string_view locked) {
    if constexpr (Tx::kRowLocks) {
      return tx().read_only() ? plain : locked;
    } else {
      return plain;
    }
  }
  // As locking(), for a read that is always followed by its write (a
  // single-use row): with the row lock in any transaction of such a backend
  // (PostgreSQL then refuses it in a read-only one).
  static std::string_view consuming(std::string_view plain, std::string_view locked) {
    return Tx::kRowLocks ? locked : plain;
  }

 private:
  // A single-use row (an authorization code, a pushed request), read by
  // `select` (with RENKEI_CONSUMING's row lock) and, unless it was used
  // already, marked used by `mark_used`, both with `digest` bound. On
  // PostgreSQL the row lock makes a second, concurrent consumer wait for this
  // transaction and then read the row used (a replay); on SQLite the
  // transaction already holds the only write lock.
  template <class Record, class Read>
  std::optional<Record> consume_once(std::string_view select, std::string_view mark_used,
                                     const char* what, const std::string& digest, Read read) {
    std::optional<Record> r;
    {
      Query q = query(select, what);
      q.binds(digest);
      if (!q.step()) return std::nullopt;
      r = read(q);
    }
    if (!r->used) run(mark_used, what, digest);
    return r;
  }

  // The id of an INSERT … RETURNING id.
  static std::int64_t returned_id(Query& q, const char* if_none) {
    if (!q.step()) throw StorageError(if_none);
    const std::int64_t id = q.int64(0);
    q.run();  // SQLite: steps the statement to its end (PostgreSQL has the whole result)
    return id;
  }

  std::vector<std::string> redirect_uris(const std::string& client_id) {
    Query q = query("SELECT uri FROM client_redirect_uris WHERE client_id = ? ORDER BY seq",
                    "redirect_uris");
    q.binds(client_id);
    std::vector<std::string> out;
    while (q.step()) out.push_back(q.text(0));
    return out;
  }
};

}  // namespace renkei::server
