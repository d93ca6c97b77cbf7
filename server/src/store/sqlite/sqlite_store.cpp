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
// store_schema.h); postgres_store.cpp is the other backend. The repositories'
// SQL is written once for both, in sql_repositories.h (SqliteTx derives from
// SqlRepositories), with the wire names and row readers of store_rows.h.
// The SQLite-only parts here are marked "PostgreSQL:":
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
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/connection_pool.h"
#include "store/sql_repositories.h"
#include "store/storage.h"
#include "store/store_schema.h"
#include "store/transaction_owners.h"

namespace renkei::server {

namespace {

constexpr int kBusyTimeoutMs = 5000;
// Read-only connections of a file database, opened when first needed.
constexpr std::size_t kReaders = 4;
// A commit group is flushed when it has this many waiting members, or when it
// has been open this long, even if more writers are queued: bounds latency.
constexpr int kMaxGroupMembers = 64;
constexpr auto kMaxGroupAge = std::chrono::milliseconds(20);

// SQLITE_BUSY (the busy timeout ran out: another process held the database)
// is a StorageConflict: the whole transaction may be tried again (and one
// that outlasts with_transaction's reruns is an outage, is_storage_outage).
// SQLITE_CANTOPEN (the file or its journal cannot be opened) is a
// StorageUnavailable: an outage of the database, not an error of the unit.
[[noreturn]] void fail(sqlite3* db, const char* what) {
  std::string msg = "storage: ";
  msg += what;
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : "out of memory";
  const int primary = db ? (sqlite3_extended_errcode(db) & 0xff) : SQLITE_NOMEM;
  if (primary == SQLITE_BUSY) throw StorageConflict(msg);
  if (primary == SQLITE_CANTOPEN) throw StorageUnavailable(msg);
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
    if (const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr); rc != SQLITE_OK) {
      std::string msg = "storage: open: ";
      msg += db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      if ((rc & 0xff) == SQLITE_CANTOPEN) throw StorageUnavailable(msg);
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

class SqliteTx final : public SqlRepositories<SqliteTx, Query> {
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

  // PostgreSQL: an advisory lock on the phone. Here the single writer holds
  // every other chooser off until commit already.
  void hold_phone_for_call_pick(const std::string&) override {}

 private:
  friend class SqlRepositories<SqliteTx, Query>;
  // SqlRepositories' hooks (sql_repositories.h): no row locks (the single
  // writer), and every statement runs at once.
  static constexpr bool kRowLocks = false;
  static constexpr bool kGuardedWrites = false;
  void write(Query& q, const char* if_unchanged) {
    if (q.run() == 0 && if_unchanged) throw StorageError(std::string("storage: ") + if_unchanged);
  }

  Connection& conn();
  void check_open() const {
    if (finished_) throw StorageError("storage: the transaction is already finished");
  }
  Query query(std::string_view sql, const char* what) {
    check_open();
    return Query(conn(), sql, what);
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
    if (owners_.held_here()) throw StorageError("storage: checkpoint inside a transaction");
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
  void forget_owner(std::thread::id owner) { owners_.leave(owner); }
  // Takes back a read-only connection (dropped when it is left in a transaction).
  void give_back(std::unique_ptr<Connection> reader) {
    const bool idle = sqlite3_get_autocommit(reader->db()) != 0;
    readers_.give_back(std::move(reader), idle);
  }

 protected:
  std::unique_ptr<StoreTx> start(TxMode mode) override {
    const auto me = owners_.enter();  // refuses a nested transaction
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
  std::unique_ptr<Connection> acquire_reader() {
    return readers_.acquire(
        [&] { return std::make_unique<Connection>(path_, /*read_only=*/true); });
  }

  void create_schema() {
    conn_.exec("BEGIN IMMEDIATE", "schema");
    try {
      store_schema::migrate(
          store_schema::Dialect::sqlite,
          [&](const char* sql, const char* what) { conn_.exec(sql, what); },
          [&](std::string_view sql) { return Query(conn_, sql, "schema"); });
      conn_.exec("COMMIT", "schema");
    } catch (...) {
      conn_.run("ROLLBACK");
      throw;
    }
  }

  const std::string path_;
  const bool in_memory_;
  Connection conn_;                               // the writer
  std::mutex mutex_;                              // held by the read-write transaction on conn_
  TransactionOwners owners_;                      // threads with an open transaction
  ConnectionPool<Connection> readers_{kReaders};  // read-only, opened when first needed
  std::shared_ptr<CommitGroup> group_;            // the open outer transaction (mutex_)
  std::atomic<int> queued_writers_{0};            // threads waiting for mutex_
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
