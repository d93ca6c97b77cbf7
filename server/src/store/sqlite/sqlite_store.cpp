// The SQLite backend of storage.h.
//
// One writer connection, one mutex: a read-write Store::begin() takes the
// mutex and runs BEGIN IMMEDIATE, so a read-write StoreTx is the only writer
// (and the only user of that connection) for its whole life; its destructor
// rolls back unless committed and then releases the mutex. That makes every
// read-write StoreTx serializable, which the lockout count relies on
// (storage.h). TOOLCHAIN.md measured that one writer behind a mutex keeps the
// worst-case latency low; several writing connections let single
// transactions starve in busy retries.
//
// Group commit (issue 10): synchronous = FULL makes every COMMIT wait for an
// fsync, and with one writer nothing else can write meanwhile, so the fsync
// bounds the writes per second. A read-write StoreTx is therefore a SAVEPOINT
// inside an outer SQLite transaction that several StoreTx share. Its commit()
// releases the savepoint and then, when other writers are queued for the
// mutex, hands the writer on and waits: the last writer of the queue (or the
// one that finds the group too old or too big) COMMITs the outer transaction
// for all of them with one fsync, and each commit() returns true only after
// that COMMIT succeeded. Nothing is answered before it is durable: if the
// outer COMMIT fails, every member's commit() returns false. A member sees
// the earlier members' changes (they are serialized by the mutex), exactly as
// if each had committed alone; a member that rolls back returns to its
// savepoint and leaves the others' changes in place. With no writer queued a
// commit COMMITs at once, so a lone request waits for nothing.
//
// Read-only transactions never take the writer: a small pool of connections
// opened SQLITE_OPEN_READONLY (so a write in them fails: "attempt to write a
// readonly database") runs BEGIN DEFERRED, and WAL lets them read the last
// committed state while the writer writes. An in-memory database has no
// second connection: there a read-only transaction uses the writer
// connection under its mutex, with PRAGMA query_only = ON for its life.
//
// SQL is kept portable: every statement is a constant text with `?`
// parameters, prepared once and cached (never built from values). Types are
// TEXT/BIGINT; booleans are 0/1 integers. The schema is the migration files
// in sqlite/migrations/ (the same versions as postgres/migrations/; see
// store_schema.h); postgres_store.cpp is the other backend. Wire names of the
// domain are not spelled here: they come from store_rows.h. The SQLite-only
// parts here are marked "PostgreSQL:":
//   - BEGIN IMMEDIATE to take the write lock up front, BEGIN DEFERRED on the
//     read-only connections;
//   - the PRAGMAs of open_sqlite_store.
// ON CONFLICT … DO UPDATE / DO NOTHING and RETURNING are spelled the same in
// PostgreSQL (SQLite ≥ 3.35 is required for RETURNING).
//
// Error messages are "storage: <operation>: <SQLite's message>". SQLite's
// messages name tables and columns, never bound values, so no secret (digest,
// PIN hash, e-mail, phone) can reach a log through them.
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "renkei/json.h"
#include "store/storage.h"
#include "store/store_rows.h"
#include "store/store_schema.h"

namespace renkei::server {

namespace {

using namespace store_rows;  // NOLINT: the shared readers and wire names

// The schema is the migration files in sqlite/migrations/ (store_schema.h).
const int kSchemaVersion = store_schema::version();
constexpr int kBusyTimeoutMs = 5000;
// Read-only connections of a file database, opened when first needed.
constexpr std::size_t kReaders = 4;
// A commit group is flushed when it has this many waiting members, or when it
// has been open this long, even if more writers are queued: bounds latency.
constexpr int kMaxGroupMembers = 64;
constexpr auto kMaxGroupAge = std::chrono::milliseconds(20);
constexpr std::int64_t kMinInt64 = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMaxInt64 = std::numeric_limits<std::int64_t>::max();

// SQLITE_BUSY (the busy timeout ran out: another process held the database)
// is a StorageConflict: the whole transaction may be tried again.
[[noreturn]] void fail(sqlite3* db, const char* what) {
  std::string msg = "storage: ";
  msg += what;
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : "out of memory";
  if (db && (sqlite3_extended_errcode(db) & 0xff) == SQLITE_BUSY) throw StorageConflict(msg);
  throw StorageError(msg);
}

// ---------- the connection and its statement cache ----------

class Connection {
 public:
  explicit Connection(const std::string& path, bool read_only = false) {
    // NOMUTEX: a connection is only ever used by one thread at a time (the
    // writer under SqliteStore's mutex, a reader while it is lent to one
    // transaction; the statement cache relies on that as well), so SQLite's
    // own per-call connection mutex only cost a lock and unlock per call.
    const int flags =
        (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
        SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      std::string msg = "storage: open: ";
      msg += db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      throw StorageError(msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  }
  ~Connection() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }

  // Runs constant SQL without parameters (PRAGMAs, DDL, BEGIN/COMMIT).
  void exec(const char* sql, const char* what) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(db_, what);
  }

  // Runs constant SQL without parameters through the statement cache and
  // answers SQLite's result code (SQLITE_OK on success; the error stays on
  // the connection for sqlite3_extended_errcode). For what every transaction
  // runs (BEGIN, SAVEPOINT, RELEASE, COMMIT, ROLLBACK, query_only):
  // sqlite3_exec parsed them again each time, about 5 % of the server's CPU
  // under load. `sql` must have static storage, as for statement().
  int run(std::string_view sql) {
    auto it = cache_.find(sql);
    sqlite3_stmt* stmt = nullptr;
    if (it != cache_.end()) {
      stmt = it->second;
    } else {
      const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                        SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
      if (rc != SQLITE_OK) return rc;
      cache_.emplace(sql, stmt);
    }
    const int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
  }
  // run(), and a StorageError naming `what` when it fails.
  void run_or_fail(std::string_view sql, const char* what) {
    if (run(sql) != SQLITE_OK) fail(db_, what);
  }

  // The prepared statement for `sql`, which must be a string with static
  // storage (it keys the cache).
  sqlite3_stmt* statement(std::string_view sql, const char* what) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                           &stmt, nullptr) != SQLITE_OK) {
      fail(db_, what);
    }
    cache_.emplace(sql, stmt);
    return stmt;
  }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string_view, sqlite3_stmt*> cache_;
};

// One execution of a cached statement: binds by position, steps, reads
// columns, and resets the statement when it goes out of scope.
class Query {
 public:
  Query(Connection& c, std::string_view sql, const char* what)
      : db_(c.db()), stmt_(c.statement(sql, what)), what_(what) {}
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(std::string_view v) {
    // A null data pointer would bind SQL NULL; an empty string must stay ''.
    const char* p = v.data() ? v.data() : "";
    check(sqlite3_bind_text(stmt_, ++index_, p, static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Query& bind(const std::string& v) { return bind(std::string_view(v)); }
  Query& bind(const char* v) { return bind(std::string_view(v)); }
  Query& bind(std::int64_t v) {
    check(sqlite3_bind_int64(stmt_, ++index_, v));
    return *this;
  }
  Query& bind(int v) { return bind(static_cast<std::int64_t>(v)); }
  Query& bind(bool v) { return bind(static_cast<std::int64_t>(v ? 1 : 0)); }
  Query& bind(const std::optional<std::int64_t>& v) {
    if (v) return bind(*v);
    check(sqlite3_bind_null(stmt_, ++index_));
    return *this;
  }
  Query& bind(const std::optional<std::string>& v) {
    if (v) return bind(std::string_view(*v));
    check(sqlite3_bind_null(stmt_, ++index_));
    return *this;
  }
  template <class... A>
  Query& binds(const A&... a) {
    (bind(a), ...);
    return *this;
  }

  // True when a row is available, false when done.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, what_);
  }
  // Runs a statement that returns no rows; returns the number of rows changed.
  int run() {
    while (step()) {
    }
    return sqlite3_changes(db_);
  }

  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    if (!p) return {};
    return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  std::optional<std::string> opt_text(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return text(col);
  }
  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::optional<std::int64_t> opt_int64(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return int64(col);
  }
  bool boolean(int col) const { return int64(col) != 0; }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) fail(db_, what_);
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  const char* what_;
  int index_ = 0;
};

// The filters shared by the three audit queries; the leading condition of
// each picks the index (account, flow_id or none).
#define RENKEI_AUDIT_FILTERS                                                         \
  " (? = '' OR account = ?) AND (? = '' OR flow_id = ?) AND (? = '' OR outcome = ?)" \
  " AND occurred_at >= ? AND occurred_at <= ? AND id < ?"                            \
  " ORDER BY id DESC LIMIT ?"

// ---------- the store ----------

class SqliteStore;

// The read-write transactions whose changes one outer SQLite transaction
// holds until its COMMIT (see group commit above).
// Why a COMMIT (or RELEASE) failed, for an error or log line: SQLite's
// message and extended code ("commit: database is locked (SQLite 5)"). SQLite
// names constraints by table and column, never by value.
std::string commit_failure_cause(sqlite3* db) {
  return std::string("commit: ") + sqlite3_errmsg(db) + " (SQLite " +
         std::to_string(sqlite3_extended_errcode(db)) + ")";
}

struct CommitGroup {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;        // the outer transaction ended
  bool durable = false;     // … with a successful COMMIT
  bool conflicted = false;  // … and its COMMIT failed with SQLITE_BUSY
  std::string cause;        // … why it failed (commit_failure_cause)
  int waiting = 0;          // members whose commit() waits for the COMMIT
  std::chrono::steady_clock::time_point opened = std::chrono::steady_clock::now();
};

class SqliteTx final : public StoreTx {
 public:
  // On the writer connection (`lock` holds the writer's mutex), or on a
  // read-only connection lent by the pool (`reader`).
  SqliteTx(SqliteStore& store, TxMode mode, std::unique_lock<std::mutex> lock,
           std::unique_ptr<Connection> reader);
  ~SqliteTx() override;

  [[nodiscard]] bool commit() override;
  TxMode mode() const override { return mode_; }
  bool conflicted() const override { return conflicted_; }
  std::string failure_cause() const override { return cause_; }

  std::optional<AccountRecord> find_account(const AccountRef& ref) override {
    Query q = query("SELECT " RENKEI_ACCOUNT_COLUMNS
                    " FROM accounts WHERE branch = ? AND account_type = ? AND account_number = ?",
                    "find_account");
    q.binds(ref.branch, account_type_wire_name(ref.type), ref.number);
    if (!q.step()) return std::nullopt;
    return read_account(q);
  }

  std::optional<AccountRecord> account_by_id(std::int64_t id) override {
    Query q =
        query("SELECT " RENKEI_ACCOUNT_COLUMNS " FROM accounts WHERE id = ?", "account_by_id");
    q.binds(id);
    if (!q.step()) return std::nullopt;
    return read_account(q);
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
    query(
        "INSERT INTO customers (id, name_kana, birth_date) VALUES (?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name_kana = excluded.name_kana,"
        " birth_date = excluded.birth_date",
        "upsert_customer")
        .binds(c.id, c.name_kana, c.birth_date)
        .run();
    query("DELETE FROM customer_phones WHERE customer_id = ?", "upsert_customer").binds(c.id).run();
    std::int64_t seq = 0;
    for (const auto& phone : c.phones) {
      query("INSERT INTO customer_phones (customer_id, seq, phone) VALUES (?, ?, ?)",
            "upsert_customer")
          .binds(c.id, seq++, phone)
          .run();
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
    if (!q.step()) throw StorageError("storage: upsert_account: no id returned");
    const std::int64_t id = q.int64(0);
    q.run();
    return id;
  }

  void add_ledger_entry(const LedgerEntry& e) override {
    query(
        "INSERT INTO ledger (account_id, entry_date, description, amount_yen, balance_after_yen)"
        " VALUES (?, ?, ?, ?, ?)",
        "add_ledger_entry")
        .binds(e.account_id, e.date, e.description, e.amount_yen, e.balance_after_yen)
        .run();
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
      while (q.step()) out.push_back(read_ledger(q));
    } else {
      Query q = query("SELECT " RENKEI_LEDGER_COLUMNS
                      " FROM ledger WHERE account_id = ? AND entry_date >= ? AND entry_date <= ?"
                      " AND id < ? ORDER BY entry_date DESC, id DESC LIMIT ?",
                      "ledger");
      q.binds(account_id, from, to, before_id != 0 ? before_id : kMaxInt64, limit);
      while (q.step()) out.push_back(read_ledger(q));
    }
    return out;
  }

  std::int64_t count_accounts() override {
    Query q = query("SELECT COUNT(*) FROM accounts", "count_accounts");
    q.step();
    return q.int64(0);
  }

  LockState load_lock(std::int64_t account_id) override {
    Query q = query("SELECT failures, locked_until FROM locks WHERE account_id = ?", "load_lock");
    q.binds(account_id);
    LockState s;
    if (q.step()) {
      s.failures = static_cast<int>(q.int64(0));
      s.locked_until = q.opt_int64(1);
    }
    return s;
  }

  void save_lock(std::int64_t account_id, const LockState& s) override {
    query(
        "INSERT INTO locks (account_id, failures, locked_until) VALUES (?, ?, ?)"
        " ON CONFLICT (account_id) DO UPDATE SET failures = excluded.failures,"
        " locked_until = excluded.locked_until",
        "save_lock")
        .binds(account_id, s.failures, s.locked_until)
        .run();
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

  void insert_flow(const FlowRecord& f) override {
    const FlowIndexColumns c = flow_index_columns(f);
    query(
        "INSERT INTO flows (flow_id, session_digest, csrf_token, client_id, redirect_uri,"
        " oauth_state, code_challenge, scope, state_json, screen, call_dialled, call_opened_at,"
        " call_expires_at, account_id, client_ip, user_agent, created_at, updated_at, dpop_jkt)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "insert_flow")
        .binds(f.flow_id, f.session_digest, f.csrf_token, f.client_id, f.redirect_uri,
               f.oauth_state, f.code_challenge, f.scope, c.state_json, c.screen, c.call_dialled,
               c.call_opened_at, c.call_expires_at, f.account_id, f.client_ip, f.user_agent,
               f.created_at, f.updated_at, f.dpop_jkt)
        .run();
  }

  std::optional<FlowRecord> flow_by_session(const std::string& session_digest) override {
    Query q = query("SELECT " RENKEI_FLOW_COLUMNS " FROM flows WHERE session_digest = ?",
                    "flow_by_session");
    q.binds(session_digest);
    if (!q.step()) return std::nullopt;
    return read_flow(q);
  }

  std::optional<FlowRecord> flow_by_id(const std::string& flow_id) override {
    Query q = query("SELECT " RENKEI_FLOW_COLUMNS " FROM flows WHERE flow_id = ?", "flow_by_id");
    q.binds(flow_id);
    if (!q.step()) return std::nullopt;
    return read_flow(q);
  }

  void update_flow(const FlowRecord& f) override {
    const FlowIndexColumns c = flow_index_columns(f);
    const int changed =
        query(
            "UPDATE flows SET session_digest = ?, csrf_token = ?, client_id = ?,"
            " redirect_uri = ?, oauth_state = ?, code_challenge = ?, scope = ?, state_json = ?,"
            " screen = ?, call_dialled = ?, call_opened_at = ?, call_expires_at = ?,"
            " account_id = ?, client_ip = ?, user_agent = ?, created_at = ?, updated_at = ?"
            " WHERE flow_id = ?",
            "update_flow")
            .binds(f.session_digest, f.csrf_token, f.client_id, f.redirect_uri, f.oauth_state,
                   f.code_challenge, f.scope, c.state_json, c.screen, c.call_dialled,
                   c.call_opened_at, c.call_expires_at, f.account_id, f.client_ip, f.user_agent,
                   f.created_at, f.updated_at, f.flow_id)
            .run();
    if (changed == 0) throw StorageError("storage: update_flow: no such flow");
  }

  std::vector<FlowRecord> flows_waiting_for_call(const std::string& dialled,
                                                 UnixSeconds now) override {
    Query q = query("SELECT " RENKEI_FLOW_COLUMNS
                    " FROM flows WHERE call_dialled = ? AND screen = ?"
                    " AND call_expires_at >= ? AND call_opened_at <= ?"
                    " ORDER BY call_opened_at DESC, flow_id",
                    "flows_waiting_for_call");
    q.binds(dialled, screen_wire_name(Screen::call_wait), now, now);
    std::vector<FlowRecord> out;
    while (q.step()) out.push_back(read_flow(q));
    return out;
  }

  std::vector<FlowRecord> flows_waiting_for_any_call(UnixSeconds now) override {
    Query q = query("SELECT " RENKEI_FLOW_COLUMNS
                    " FROM flows WHERE screen = ? AND call_expires_at >= ? AND call_opened_at <= ?",
                    "flows_waiting_for_any_call");
    q.binds(screen_wire_name(Screen::call_wait), now, now);
    std::vector<FlowRecord> out;
    while (q.step()) out.push_back(read_flow(q));
    return out;
  }
  // PostgreSQL: an advisory lock on the phone. Here the single writer holds
  // every other chooser off until commit already.
  void hold_phone_for_call_pick(const std::string&) override {}

  int delete_flows_idle_since(UnixSeconds before, int limit) override {
    return query(
               "DELETE FROM flows WHERE flow_id IN"
               " (SELECT flow_id FROM flows WHERE updated_at < ? LIMIT ?)",
               "delete_flows_idle_since")
        .binds(before, limit)
        .run();
  }

  std::vector<FlowRecord> recent_flows(UnixSeconds since, int limit) override {
    std::vector<FlowRecord> out;
    if (limit <= 0) return out;
    Query q = query("SELECT " RENKEI_FLOW_COLUMNS
                    " FROM flows WHERE updated_at >= ? ORDER BY updated_at DESC, flow_id"
                    " LIMIT ?",
                    "recent_flows");
    q.binds(since, limit);
    while (q.step()) out.push_back(read_flow(q));
    return out;
  }

  std::optional<ClientRecord> find_client(const std::string& id) override {
    ClientRecord c;
    {
      Query q = query(
          "SELECT id, display_name, secret_digest, enabled, profile, jwks FROM clients WHERE id = "
          "?",
          "find_client");
      q.binds(id);
      if (!q.step()) return std::nullopt;
      c = read_client(q);
    }
    c.redirect_uris = redirect_uris(c.id);
    return c;
  }

  void upsert_client(const ClientRecord& c) override {
    query(
        "INSERT INTO clients (id, display_name, secret_digest, enabled, profile, jwks)"
        " VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name,"
        " secret_digest = excluded.secret_digest, enabled = excluded.enabled,"
        " profile = excluded.profile, jwks = excluded.jwks",
        "upsert_client")
        .binds(c.id, c.display_name, c.secret_digest, c.enabled, c.profile, c.jwks)
        .run();
    query("DELETE FROM client_redirect_uris WHERE client_id = ?", "upsert_client")
        .binds(c.id)
        .run();
    std::int64_t seq = 0;
    for (const auto& uri : c.redirect_uris) {
      query("INSERT INTO client_redirect_uris (client_id, seq, uri) VALUES (?, ?, ?)",
            "upsert_client")
          .binds(c.id, seq++, uri)
          .run();
    }
  }

  std::vector<ClientRecord> list_clients() override {
    std::vector<ClientRecord> out;
    {
      Query q = query(
          "SELECT id, display_name, secret_digest, enabled, profile, jwks FROM clients ORDER BY id",
          "list_clients");
      while (q.step()) out.push_back(read_client(q));
    }
    for (auto& c : out) c.redirect_uris = redirect_uris(c.id);
    return out;
  }

  void insert_code(const AuthorizationCodeRecord& c) override {
    query(
        "INSERT INTO authorization_codes (code_digest, client_id, redirect_uri, code_challenge,"
        " grant_id, expires_at, used, dpop_jkt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        "insert_code")
        .binds(c.code_digest, c.client_id, c.redirect_uri, c.code_challenge, c.grant_id,
               c.expires_at, c.used, c.dpop_jkt)
        .run();
  }

  std::optional<AuthorizationCodeRecord> consume_code(const std::string& digest) override {
    // PostgreSQL: SELECT … FOR UPDATE. Here the transaction already holds the
    // only write lock, so the read and the update cannot interleave with another.
    AuthorizationCodeRecord c;
    {
      Query q = query(
          "SELECT code_digest, client_id, redirect_uri, code_challenge, grant_id, expires_at,"
          " used, dpop_jkt FROM authorization_codes WHERE code_digest = ?",
          "consume_code");
      q.binds(digest);
      if (!q.step()) return std::nullopt;
      c.code_digest = q.text(0);
      c.client_id = q.text(1);
      c.redirect_uri = q.text(2);
      c.code_challenge = q.text(3);
      c.grant_id = q.text(4);
      c.expires_at = q.int64(5);
      c.used = q.boolean(6);
      c.dpop_jkt = q.text(7);
    }
    if (!c.used) {
      query("UPDATE authorization_codes SET used = 1 WHERE code_digest = ?", "consume_code")
          .binds(digest)
          .run();
    }
    return c;
  }

  void insert_grant(const GrantRecord& g) override {
    query("INSERT INTO grants (" RENKEI_GRANT_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
          "insert_grant")
        .binds(g.id, g.client_id, g.account_id, g.scope, g.flow_id, g.created_at, g.expires_at,
               g.revoked_at, g.last_used_at, g.revoked_by)
        .run();
  }

  std::optional<GrantRecord> find_grant(const std::string& id) override {
    Query q = query("SELECT " RENKEI_GRANT_COLUMNS " FROM grants WHERE id = ?", "find_grant");
    q.binds(id);
    if (!q.step()) return std::nullopt;
    return read_grant(q);
  }

  void update_grant(const GrantRecord& g) override {
    const int changed =
        query(
            "UPDATE grants SET client_id = ?, account_id = ?, scope = ?, flow_id = ?,"
            " created_at = ?, expires_at = ?, revoked_at = ?, last_used_at = ?, revoked_by = ?"
            " WHERE id = ?",
            "update_grant")
            .binds(g.client_id, g.account_id, g.scope, g.flow_id, g.created_at, g.expires_at,
                   g.revoked_at, g.last_used_at, g.revoked_by, g.id)
            .run();
    if (changed == 0) throw StorageError("storage: update_grant: no such grant");
  }

  std::vector<GrantRecord> grants_for_account(std::int64_t account_id) override {
    Query q = query("SELECT " RENKEI_GRANT_COLUMNS
                    " FROM grants WHERE account_id = ? ORDER BY created_at DESC, id",
                    "grants_for_account");
    q.binds(account_id);
    std::vector<GrantRecord> out;
    while (q.step()) out.push_back(read_grant(q));
    return out;
  }

  void insert_token(const TokenRecord& t) override {
    query(
        "INSERT INTO tokens (token_digest, kind, grant_id, client_id, expires_at, revoked,"
        " dpop_jkt) VALUES (?, ?, ?, ?, ?, ?, ?)",
        "insert_token")
        .binds(t.token_digest, token_kind_wire_name(t.kind), t.grant_id, t.client_id, t.expires_at,
               t.revoked, t.dpop_jkt)
        .run();
  }

  std::optional<TokenRecord> find_token(const std::string& digest) override {
    Query q = query(
        "SELECT token_digest, kind, grant_id, client_id, expires_at, revoked, dpop_jkt"
        " FROM tokens WHERE token_digest = ?",
        "find_token");
    q.binds(digest);
    if (!q.step()) return std::nullopt;
    TokenRecord t;
    t.token_digest = q.text(0);
    t.kind = token_kind_from_wire(q.text(1));
    t.grant_id = q.text(2);
    t.client_id = q.text(3);
    t.expires_at = q.int64(4);
    t.revoked = q.boolean(5);
    t.dpop_jkt = q.text(6);
    return t;
  }

  void revoke_token(const std::string& digest) override {
    query("UPDATE tokens SET revoked = 1 WHERE token_digest = ?", "revoke_token")
        .binds(digest)
        .run();
  }

  // ----- FAPI 2.0 (issue 13) -----
  void insert_pushed_request(const PushedRequestRecord& r) override {
    query(
        "INSERT INTO pushed_requests (request_uri_digest, client_id, params_json, expires_at,"
        " used) VALUES (?, ?, ?, ?, ?)",
        "insert_pushed_request")
        .binds(r.request_uri_digest, r.client_id, r.params_json, r.expires_at, r.used)
        .run();
  }

  std::optional<PushedRequestRecord> consume_pushed_request(const std::string& digest) override {
    PushedRequestRecord r;
    {
      Query q = query(
          "SELECT request_uri_digest, client_id, params_json, expires_at, used"
          " FROM pushed_requests WHERE request_uri_digest = ?",
          "consume_pushed_request");
      q.binds(digest);
      if (!q.step()) return std::nullopt;
      r.request_uri_digest = q.text(0);
      r.client_id = q.text(1);
      r.params_json = q.text(2);
      r.expires_at = q.int64(3);
      r.used = q.boolean(4);
    }
    if (!r.used) {
      query("UPDATE pushed_requests SET used = 1 WHERE request_uri_digest = ?",
            "consume_pushed_request")
          .binds(digest)
          .run();
    }
    return r;
  }

  bool remember_jti(const std::string& kind, const std::string& owner,
                    const std::string& jti_digest, UnixSeconds expires_at) override {
    return query(
               "INSERT INTO seen_jtis (kind, owner, jti_digest, expires_at) VALUES (?, ?, ?, ?)"
               " ON CONFLICT (kind, owner, jti_digest) DO NOTHING",
               "remember_jti")
               .binds(kind, owner, jti_digest, expires_at)
               .run() == 1;
  }

  int delete_expired_fapi_rows(UnixSeconds before, int limit) override {
    int n = query(
                "DELETE FROM pushed_requests WHERE request_uri_digest IN (SELECT"
                " request_uri_digest FROM pushed_requests WHERE expires_at < ? LIMIT ?)",
                "delete_expired_fapi_rows")
                .binds(before, limit)
                .run();
    if (n >= limit) return n;
    n += query(
             "DELETE FROM seen_jtis WHERE (kind, owner, jti_digest) IN (SELECT kind, owner,"
             " jti_digest FROM seen_jtis WHERE expires_at < ? LIMIT ?)",
             "delete_expired_fapi_rows")
             .binds(before, limit - n)
             .run();
    return n;
  }

  void revoke_tokens_of_grant(const std::string& grant_id) override {
    query("UPDATE tokens SET revoked = 1 WHERE grant_id = ?", "revoke_tokens_of_grant")
        .binds(grant_id)
        .run();
  }

  std::int64_t enqueue_mail(const MailRecord& m) override {
    Query q = query(
        "INSERT INTO mails (to_addr, subject, body, flow_id, created_at, next_attempt_at,"
        " attempts, state, last_error, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " RETURNING id",
        "enqueue_mail");
    q.binds(m.to, m.subject, m.body, m.flow_id, m.created_at, m.next_attempt_at, m.attempts,
            mail_state_wire_name(m.state), m.last_error, m.sent_at);
    if (!q.step()) throw StorageError("storage: enqueue_mail: no id returned");
    const std::int64_t id = q.int64(0);
    q.run();
    return id;
  }

  std::vector<MailRecord> due_mails(UnixSeconds now, int limit) override {
    std::vector<MailRecord> out;
    if (limit <= 0) return out;
    Query q = query("SELECT " RENKEI_MAIL_COLUMNS
                    " FROM mails WHERE state = ? AND next_attempt_at <= ?"
                    " ORDER BY next_attempt_at, id LIMIT ?",
                    "due_mails");
    q.binds(mail_state_wire_name(MailState::pending), now, limit);
    while (q.step()) out.push_back(read_mail(q));
    return out;
  }

  void update_mail(const MailRecord& m) override {
    const int changed =
        query(
            "UPDATE mails SET to_addr = ?, subject = ?, body = ?, flow_id = ?, created_at = ?,"
            " next_attempt_at = ?, attempts = ?, state = ?, last_error = ?, sent_at = ?"
            " WHERE id = ?",
            "update_mail")
            .binds(m.to, m.subject, m.body, m.flow_id, m.created_at, m.next_attempt_at, m.attempts,
                   mail_state_wire_name(m.state), m.last_error, m.sent_at, m.id)
            .run();
    if (changed == 0) throw StorageError("storage: update_mail: no such mail");
  }

  std::vector<MailRecord> list_mails(int limit) override {
    std::vector<MailRecord> out;
    if (limit <= 0) return out;
    Query q =
        query("SELECT " RENKEI_MAIL_COLUMNS " FROM mails ORDER BY id DESC LIMIT ?", "list_mails");
    q.binds(limit);
    while (q.step()) out.push_back(read_mail(q));
    return out;
  }

  std::optional<MailRecord> mail_by_id(std::int64_t id) override {
    Query q = query("SELECT " RENKEI_MAIL_COLUMNS " FROM mails WHERE id = ?", "mail_by_id");
    q.binds(id);
    if (!q.step()) return std::nullopt;
    return read_mail(q);
  }

  void append_audit(const AuditRecord& r) override {
    query(
        "INSERT INTO audit (occurred_at, flow_id, step, outcome, account, name_kana,"
        " masked_phone, client_id, ip, user_agent, actor, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "append_audit")
        .binds(r.at, r.flow_id, r.step, r.outcome, r.account, r.name_kana, r.masked_phone,
               r.client_id, r.ip, r.user_agent, r.actor, r.detail)
        .run();
  }

  std::vector<AuditRecord> query_audit(const AuditQuery& aq) override {
    check_open();
    std::vector<AuditRecord> out;
    if (aq.limit <= 0) return out;
    // Three constant statements that differ only in their leading condition,
    // so that the account and flow filters use their index.
    std::optional<Query> q;
    if (!aq.account.empty()) {
      q.emplace(conn(),
                "SELECT " RENKEI_AUDIT_COLUMNS
                " FROM audit WHERE account = ? AND" RENKEI_AUDIT_FILTERS,
                "query_audit");
      q->binds(aq.account);
    } else if (!aq.flow_id.empty()) {
      q.emplace(conn(),
                "SELECT " RENKEI_AUDIT_COLUMNS
                " FROM audit WHERE flow_id = ? AND" RENKEI_AUDIT_FILTERS,
                "query_audit");
      q->binds(aq.flow_id);
    } else {
      q.emplace(conn(), "SELECT " RENKEI_AUDIT_COLUMNS " FROM audit WHERE" RENKEI_AUDIT_FILTERS,
                "query_audit");
    }
    q->binds(aq.account, aq.account, aq.flow_id, aq.flow_id, aq.outcome, aq.outcome,
             aq.from.value_or(kMinInt64), aq.to.value_or(kMaxInt64),
             aq.before_id != 0 ? aq.before_id : kMaxInt64, aq.limit);
    while (q->step()) out.push_back(read_audit(*q));
    return out;
  }

  bool insert_call_event(const CallEventRecord& e) override {
    return query(
               "INSERT INTO call_events (provider_call_id, caller_masked, dialled, received_at,"
               " flow_id, outcome) VALUES (?, ?, ?, ?, ?, ?)"
               " ON CONFLICT (provider_call_id) DO NOTHING",
               "insert_call_event")
               .binds(e.provider_call_id, e.caller_masked, e.dialled, e.received_at, e.flow_id,
                      e.outcome)
               .run() == 1;
  }

  int delete_call_events_before(UnixSeconds before, int limit) override {
    return query(
               "DELETE FROM call_events WHERE provider_call_id IN"
               " (SELECT provider_call_id FROM call_events WHERE received_at < ? LIMIT ?)",
               "delete_call_events_before")
        .binds(before, limit)
        .run();
  }

  int delete_audit_before(UnixSeconds before, int limit) override {
    return query(
               "DELETE FROM audit WHERE id IN"
               " (SELECT id FROM audit WHERE occurred_at < ? ORDER BY id LIMIT ?)",
               "delete_audit_before")
        .binds(before, limit)
        .run();
  }

  int delete_finished_mails_before(UnixSeconds before, int limit) override {
    return query(
               "DELETE FROM mails WHERE id IN (SELECT id FROM mails WHERE created_at < ?"
               " AND state <> ? ORDER BY id LIMIT ?)",
               "delete_finished_mails_before")
        .binds(before, mail_state_wire_name(MailState::pending), limit)
        .run();
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
    if (!q.step()) throw StorageError("storage: add_maintenance: no id returned");
    const std::int64_t id = q.int64(0);
    q.run();
    return id;
  }

  bool remove_maintenance(std::int64_t id) override {
    return query("DELETE FROM maintenance_windows WHERE id = ?", "remove_maintenance")
               .binds(id)
               .run() > 0;
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

 private:
  Connection& conn();
  void check_open() const {
    if (finished_) throw StorageError("storage: the transaction is already finished");
  }
  Query query(std::string_view sql, const char* what) {
    check_open();
    return Query(conn(), sql, what);
  }

  static ClientRecord read_client(const Query& q) {
    ClientRecord c;
    c.id = q.text(0);
    c.display_name = q.text(1);
    c.secret_digest = q.text(2);
    c.enabled = q.boolean(3);
    c.profile = q.text(4);
    c.jwks = q.text(5);
    return c;
  }
  std::vector<std::string> redirect_uris(const std::string& client_id) {
    Query q = query("SELECT uri FROM client_redirect_uris WHERE client_id = ? ORDER BY seq",
                    "redirect_uris");
    q.binds(client_id);
    std::vector<std::string> out;
    while (q.step()) out.push_back(q.text(0));
    return out;
  }

  SqliteStore& store_;
  const TxMode mode_;
  std::unique_lock<std::mutex> lock_;
  std::unique_ptr<Connection> reader_;
  const std::thread::id owner_ = std::this_thread::get_id();
  bool finished_ = false;
  bool conflicted_ = false;
  std::string cause_;  // why commit() failed
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const std::string& path)
      : path_(path), in_memory_(path.empty() || path == ":memory:"), conn_(path) {
    if (sqlite3_libversion_number() < 3035000) {
      throw StorageError("storage: SQLite 3.35 or later is required");
    }
    // PostgreSQL: none of these; durability and foreign keys are the server's defaults.
    if (!in_memory_) conn_.exec("PRAGMA journal_mode = WAL", "journal_mode");
    conn_.exec("PRAGMA synchronous = FULL", "synchronous");
    conn_.exec("PRAGMA foreign_keys = ON", "foreign_keys");
    // Purged rows (names, e-mail addresses, masked numbers) are overwritten
    // where that costs no extra I/O, rather than left in free pages.
    conn_.exec("PRAGMA secure_delete = FAST", "secure_delete");
    create_schema();
  }

  void checkpoint() override {
    if (holds_transaction()) throw StorageError("storage: checkpoint inside a transaction");
    std::lock_guard<std::mutex> lock(mutex_);
    flush_group_locked(nullptr);
    // TRUNCATE copies every committed page into the main file (where
    // secure_delete has zeroed the deleted rows) and empties the WAL, whose
    // frames would otherwise still hold the deleted rows' old pages.
    int log_frames = 0;
    int copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(conn_.db(), nullptr, SQLITE_CHECKPOINT_TRUNCATE,
                                             &log_frames, &copied);
    if (rc != SQLITE_OK) fail(conn_.db(), "wal_checkpoint");
  }

  Connection& connection() { return conn_; }

  // ----- group commit; every *_locked function runs with mutex_ held -----

  // Joins the open outer transaction, or opens one.
  void join_group_locked() {
    if (!group_) {
      // A transaction left open by a failed ROLLBACK would make BEGIN fail.
      if (!sqlite3_get_autocommit(conn_.db())) {
        conn_.run("ROLLBACK");
      }
      // PostgreSQL: BEGIN, and SELECT … FOR UPDATE on the rows to be changed.
      conn_.run_or_fail("BEGIN IMMEDIATE", "begin");
      group_ = std::make_shared<CommitGroup>();
    }
  }
  // True when a member that just released its savepoint should wait for a
  // later member to COMMIT for it: another writer is queued and the group is
  // neither full nor old.
  bool should_wait_locked() const {
    return group_ && queued_writers_.load() > 0 && group_->waiting + 1 < kMaxGroupMembers &&
           std::chrono::steady_clock::now() - group_->opened < kMaxGroupAge;
  }
  // COMMITs the outer transaction (one fsync for every member) and wakes the
  // members waiting for it. The result for the caller's own changes.
  bool flush_group_locked(bool* conflicted, std::string* cause = nullptr) {
    if (!group_) return true;
    auto group = std::move(group_);
    bool durable = false;
    bool busy = false;
    std::string why = "commit: SQLite had rolled the transaction back";
    if (!sqlite3_get_autocommit(conn_.db())) {
      durable = conn_.run("COMMIT") == SQLITE_OK;
      if (durable) ++commits_;
      if (!durable) {
        why = commit_failure_cause(conn_.db());
        busy = (sqlite3_extended_errcode(conn_.db()) & 0xff) == SQLITE_BUSY;
        if (!sqlite3_get_autocommit(conn_.db())) {
          conn_.run("ROLLBACK");
        }
      }
    }
    // Autocommit already on: SQLite rolled the outer transaction back by
    // itself (I/O error, disk full); nothing of the group is durable.
    if (durable) why.clear();
    end_group(*group, durable, busy, why);
    if (conflicted) *conflicted = busy;
    if (cause) *cause = why;
    return durable;
  }
  // The outer transaction is gone without a COMMIT (SQLite rolled it back).
  void abandon_group_locked() {
    if (!group_) return;
    auto group = std::move(group_);
    end_group(*group, false, false, "commit: SQLite had rolled the transaction back");
  }
  // Before the writer is released by a member that will not wait: COMMIT
  // unless another writer is queued to take the group on.
  void leave_writer_locked() {
    if (group_ && sqlite3_get_autocommit(conn_.db())) {
      abandon_group_locked();
    } else if (group_ && !should_wait_locked()) {
      flush_group_locked(nullptr);
    }
  }
  // A member's commit() after RELEASE: wait for the group's COMMIT (the
  // writer is handed on), or make it now. `lock` holds mutex_.
  bool commit_member(std::unique_lock<std::mutex>& lock, bool* conflicted, std::string* cause) {
    if (!group_) return false;
    if (!should_wait_locked()) return flush_group_locked(conflicted, cause);
    std::shared_ptr<CommitGroup> group = group_;
    {
      std::lock_guard<std::mutex> g(group->m);
      ++group->waiting;
    }
    ++members_waited_;
    lock.unlock();
    std::unique_lock<std::mutex> g(group->m);
    group->cv.wait(g, [&] { return group->done; });
    if (conflicted) *conflicted = group->conflicted;
    if (cause) *cause = group->cause;
    return group->durable;
  }
  SqliteCommitStats stats() const {
    SqliteCommitStats st;
    st.commits = commits_.load();
    st.members_waited = members_waited_.load();
    st.queued_writers = queued_writers_.load();
    return st;
  }
  void forget_owner(std::thread::id owner) {
    std::lock_guard<std::mutex> lock(owners_mutex_);
    owners_.erase(owner);
  }
  // Takes back a read-only connection (dropped when it is left in a transaction).
  void give_back(std::unique_ptr<Connection> reader) {
    {
      std::lock_guard<std::mutex> lock(readers_mutex_);
      if (sqlite3_get_autocommit(reader->db())) {
        idle_readers_.push_back(std::move(reader));
      } else {
        --open_readers_;
      }
    }
    readers_cv_.notify_one();
  }

 protected:
  std::unique_ptr<StoreTx> start(TxMode mode) override {
    // A second begin() on the thread that holds an open transaction could
    // wait for itself forever (the writer's mutex, or a reader while the
    // pool is lent out); make that programming error loud instead.
    const auto me = std::this_thread::get_id();
    {
      std::lock_guard<std::mutex> lock(owners_mutex_);
      if (!owners_.insert(me).second) {
        throw StorageError("storage: nested transaction on one thread");
      }
    }
    try {
      if (mode == TxMode::read_only && !in_memory_) {
        std::unique_ptr<Connection> reader = acquire_reader();
        if (reader->run("BEGIN DEFERRED") != SQLITE_OK) {
          const std::string msg = std::string("storage: begin: ") + sqlite3_errmsg(reader->db());
          give_back(std::move(reader));
          throw StorageError(msg);
        }
        return std::make_unique<SqliteTx>(*this, mode, std::unique_lock<std::mutex>(),
                                          std::move(reader));
      }
      ++queued_writers_;
      std::unique_lock<std::mutex> lock(mutex_);
      --queued_writers_;
      if (mode == TxMode::read_only) {
        // In memory: the one connection, so the open group is made durable
        // first (its members are waiting for it anyway).
        flush_group_locked(nullptr);
        if (!sqlite3_get_autocommit(conn_.db())) {
          conn_.run("ROLLBACK");
        }
        // In memory: the one connection, made read-only until the end.
        conn_.run_or_fail("PRAGMA query_only = ON", "begin");
        try {
          conn_.run_or_fail("BEGIN DEFERRED", "begin");
        } catch (...) {
          conn_.run("PRAGMA query_only = OFF");
          throw;
        }
      } else {
        try {
          join_group_locked();
          conn_.run_or_fail("SAVEPOINT renkei_tx", "begin");
        } catch (...) {
          leave_writer_locked();
          throw;
        }
      }
      return std::make_unique<SqliteTx>(*this, mode, std::move(lock), nullptr);
    } catch (...) {
      forget_owner(me);
      throw;
    }
  }

 private:
  bool holds_transaction() {
    std::lock_guard<std::mutex> lock(owners_mutex_);
    return owners_.count(std::this_thread::get_id()) > 0;
  }

  std::unique_ptr<Connection> acquire_reader() {
    std::unique_lock<std::mutex> lock(readers_mutex_);
    readers_cv_.wait(lock, [&] { return !idle_readers_.empty() || open_readers_ < kReaders; });
    if (!idle_readers_.empty()) {
      auto reader = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return reader;
    }
    ++open_readers_;
    lock.unlock();
    try {
      return std::make_unique<Connection>(path_, /*read_only=*/true);
    } catch (...) {
      lock.lock();
      --open_readers_;
      lock.unlock();
      readers_cv_.notify_one();
      throw;
    }
  }

  void create_schema() {
    conn_.exec("BEGIN IMMEDIATE", "schema");
    try {
      conn_.exec("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)", "schema");
      std::optional<std::int64_t> version;
      {
        Query q(conn_, "SELECT MAX(version) FROM schema_version", "schema");
        if (q.step()) version = q.opt_int64(0);
      }
      if (version && *version < 1) {
        throw StorageError("storage: the database has an unknown schema version " +
                           std::to_string(*version));
      }
      if (version && *version > kSchemaVersion) {
        throw StorageError("storage: the database has schema version " + std::to_string(*version) +
                           ", newer than this server's " + std::to_string(kSchemaVersion));
      }
      // Every migration above the database's version, in order (all of
      // them for a new database), in this one transaction.
      for (const auto& m : store_schema::migrations(store_schema::Dialect::sqlite)) {
        if (m.version > version.value_or(0)) conn_.exec(m.sql, "migration");
      }
      if (!version) {
        Query(conn_, "INSERT INTO schema_version (version) VALUES (?)", "schema")
            .binds(kSchemaVersion)
            .run();
      } else if (*version < kSchemaVersion) {
        Query(conn_, "UPDATE schema_version SET version = ?", "schema").binds(kSchemaVersion).run();
      }
      conn_.exec("COMMIT", "schema");
    } catch (...) {
      conn_.run("ROLLBACK");
      throw;
    }
  }

  const std::string path_;
  const bool in_memory_;
  Connection conn_;   // the writer
  std::mutex mutex_;  // held by the read-write transaction on conn_
  std::mutex owners_mutex_;
  std::unordered_set<std::thread::id> owners_;  // threads with an open transaction
  std::mutex readers_mutex_;
  std::condition_variable readers_cv_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;
  std::size_t open_readers_ = 0;        // idle + lent
  std::shared_ptr<CommitGroup> group_;  // the open outer transaction (mutex_)
  std::atomic<int> queued_writers_{0};  // threads waiting for mutex_
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> members_waited_{0};

  static void end_group(CommitGroup& group, bool durable, bool busy, const std::string& cause) {
    {
      std::lock_guard<std::mutex> g(group.m);
      group.done = true;
      group.durable = durable;
      group.conflicted = busy;
      group.cause = cause;
    }
    group.cv.notify_all();
  }
};

SqliteTx::SqliteTx(SqliteStore& store, TxMode mode, std::unique_lock<std::mutex> lock,
                   std::unique_ptr<Connection> reader)
    : store_(store), mode_(mode), lock_(std::move(lock)), reader_(std::move(reader)) {}

SqliteTx::~SqliteTx() {
  sqlite3* db = conn().db();
  const bool group_member = !reader_ && mode_ == TxMode::read_write;
  if (group_member && lock_.owns_lock()) {
    // Not committed (or commit() failed before handing on): back to the
    // savepoint, keeping the other members' changes, then COMMIT for them
    // unless a queued writer will. Errors are ignored: SQLite may already
    // have rolled the whole transaction back (e.g. after SQLITE_FULL), and a
    // destructor must not throw.
    if (!finished_ && !sqlite3_get_autocommit(db)) {
      conn().run("ROLLBACK TO SAVEPOINT renkei_tx");
      conn().run("RELEASE SAVEPOINT renkei_tx");
    }
    store_.leave_writer_locked();
  } else if (!group_member && !finished_ && !sqlite3_get_autocommit(db)) {
    conn().run("ROLLBACK");
  }
  if (!reader_ && mode_ == TxMode::read_only) {
    conn().run("PRAGMA query_only = OFF");
  }
  if (reader_) store_.give_back(std::move(reader_));
  store_.forget_owner(owner_);
  // lock_ is released after this body: the next transaction starts clean.
}

bool SqliteTx::commit() {
  if (finished_) return false;
  finished_ = true;
  sqlite3* db = conn().db();
  if (!reader_ && mode_ == TxMode::read_write) {
    if (sqlite3_get_autocommit(db)) {
      store_.abandon_group_locked();
      cause_ = "commit: SQLite had rolled the transaction back";
      return false;
    }
    if (conn().run("RELEASE SAVEPOINT renkei_tx") != SQLITE_OK) {
      cause_ = commit_failure_cause(db);
      finished_ = false;  // the destructor rolls back to the savepoint
      return false;
    }
    return store_.commit_member(lock_, &conflicted_, &cause_);
  }
  if (conn().run("COMMIT") == SQLITE_OK) return true;
  cause_ = commit_failure_cause(db);
  if ((sqlite3_extended_errcode(db) & 0xff) == SQLITE_BUSY) conflicted_ = true;
  if (!sqlite3_get_autocommit(db)) conn().run("ROLLBACK");
  return false;
}

Connection& SqliteTx::conn() {
  return reader_ ? *reader_ : store_.connection();
}

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::string& path) {
  // Before SQLite's first use in the process: no memory statistics. With
  // them every sqlite3_malloc and sqlite3_free takes one process-wide mutex
  // that all the server's threads contend for (about 3 % of the server's
  // samples under load, half of them thread switches). We read none of the
  // statistics. Once SQLite is initialized (a second store, or a test that
  // used SQLite first) the call is refused and changes nothing.
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  return std::make_unique<SqliteStore>(path);
}

SqliteCommitStats sqlite_commit_stats(const Store& store) {
  const auto* sqlite = dynamic_cast<const SqliteStore*>(&store);
  return sqlite ? sqlite->stats() : SqliteCommitStats{};
}

}  // namespace renkei::server
