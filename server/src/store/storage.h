// Storage behind one interface, with two backends: SQLite (the embedded
// default, one process) and PostgreSQL (several server instances on one
// database). The interface speaks the domain (accounts, flows, locks, grants,
// mails), never SQL.
//
// Repositories by concern, one header each under store/repositories/:
//   AccountRepository      customers, accounts, the passbook (the records)
//   LockRepository         the lockout counter of each account
//   FlowRepository         flows through the six screens and their sessions
//   OAuthRepository        clients, authorization codes, grants, tokens
//   FapiRepository         FAPI 2.0: pushed authorization requests, seen JWT ids
//   CallEventRepository    telephony: incoming calls
//   MailOutboxRepository   result mails waiting for delivery
//   OperationLogRepository the operation log (SPEC §9)
//   MaintenanceRepository  maintenance windows announced by staff
//   RetentionRepository    what the purge job deletes
// A StoreTx is one transaction and is all of them at once (it derives from
// each), so `tx->flow_by_id(…)` reads as before; a function that needs one
// concern takes that repository (`MailOutboxRepository&`) and is handed
// `*tx`.
//
// Every read and write happens inside a StoreTx, which says what it is:
//   TxMode::read_write  (the default) atomic, and every read of a row the
//       caller will write back locks that row until the transaction ends:
//       load_lock, flow_by_session/flow_by_id, flows_waiting_for_call,
//       consume_code, find_grant/find_token, due_mails, mail_by_id. That is
//       what makes the lockout count exact under parallel attempts on any
//       number of instances (load the LockState, let the core decide, save it
//       — one StoreTx). SQLite: the single writer (BEGIN IMMEDIATE);
//       PostgreSQL: READ COMMITTED plus those row locks (postgres_store.cpp).
//   TxMode::read_only  a consistent snapshot of committed data, taking no
//       lock and never waiting for a writer (SQLite: a pool of read-only
//       connections beside the writer, WAL; PostgreSQL: REPEATABLE READ READ
//       ONLY). Any write in it fails with StorageError.
// A transaction rolls back unless commit() returned true. A failure that is
// only about timing (a deadlock, a serialization failure) is a
// StorageConflict, and a connection lost before anything of the transaction
// reached the database a StorageConnectionLost: with_transaction runs the
// whole unit again after either.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "store/repositories/account_repository.h"
#include "store/repositories/call_event_repository.h"
#include "store/repositories/fapi_repository.h"
#include "store/repositories/flow_repository.h"
#include "store/repositories/lock_repository.h"
#include "store/repositories/mail_outbox_repository.h"
#include "store/repositories/maintenance_repository.h"
#include "store/repositories/oauth_repository.h"
#include "store/repositories/operation_log_repository.h"
#include "store/repositories/retention_repository.h"
#include "store/storage_error.h"

namespace renkei::server {

enum class TxMode { read_only, read_write };

// ---------- the transaction ----------

class StoreTx : public AccountRepository,
                public LockRepository,
                public FlowRepository,
                public OAuthRepository,
                public FapiRepository,
                public CallEventRepository,
                public MailOutboxRepository,
                public OperationLogRepository,
                public MaintenanceRepository,
                public RetentionRepository {
 public:
  virtual ~StoreTx() = default;  // rolls back unless committed
  // Makes every change of this transaction durable. False on failure, and then
  // nothing of the transaction happened: a caller must never answer as if it
  // had (hence [[nodiscard]]; the HTTP layer throws StorageError → system_error).
  [[nodiscard]] virtual bool commit() = 0;
  virtual TxMode mode() const = 0;
  // True once a statement of this transaction (or its COMMIT) failed with a
  // StorageConflict: a commit() that returned false may then be retried.
  virtual bool conflicted() const = 0;
  // True once a statement of this transaction or its commit() failed because
  // the connection to the database broke (PostgreSQL): a commit() that
  // returned false was then an outage (StorageUnavailable), not an error.
  virtual bool lost_connection() const { return false; }
  // Why a statement of this transaction or its commit() failed, for an error
  // or log line (with_transaction's "storage: commit failed: …"): the
  // operation, the database's error code (PostgreSQL's SQLSTATE) and its
  // primary message, never a bound value; empty when nothing failed or the
  // store knows no more.
  virtual std::string failure_cause() const { return {}; }
  // Serializes the one-time seeding of an empty database between processes
  // that share it (several instances starting at once): held until this
  // transaction ends, and taken before it reads whether the database is empty.
  // SQLite's transactions already exclude each other (BEGIN IMMEDIATE).
  virtual void lock_for_seeding() {}
};

class Store {
 public:
  virtual ~Store() = default;
  // Starts a transaction. read_write blocks while another writer holds the
  // database (SQLite) or a row it locks (PostgreSQL); read_only never waits
  // for a writer. One transaction per thread at a time: a second begin() on a
  // thread that holds one throws StorageError (it could wait for itself).
  // Never returns null: on a storage failure it throws StorageError, which the
  // HTTP layer answers with system_error.
  std::unique_ptr<StoreTx> begin(TxMode mode = TxMode::read_write) { return start(mode); }
  // After deletions of personal data: makes the deleted rows leave any
  // write-ahead file as well (SQLite: wal_checkpoint(TRUNCATE)). Outside any
  // transaction. Throws StorageError on failure.
  virtual void checkpoint() = 0;

 protected:
  virtual std::unique_ptr<StoreTx> start(TxMode mode) = 0;
};

// ---------- one unit of work, retried on conflicts ----------

// How many times with_transaction runs a unit in all, at most.
inline constexpr int kTransactionAttempts = 5;

// Units run again after a StorageConflict, since the process started (the
// server shows it in /metrics as renkei_storage_conflict_retries).
std::uint64_t storage_conflict_retries();
void count_storage_conflict_retry();
// Units run again after a StorageConnectionLost, since the process started
// (in /metrics as renkei_storage_connection_retries).
std::uint64_t storage_connection_retries();
void count_storage_connection_retry();

// The StorageError for a commit() that returned false, with the store's
// cause (StoreTx::failure_cause) when it has one: a StorageConflict when the
// transaction conflicted, a StorageOutcomeUnknown when its connection broke.
[[noreturn]] inline void throw_commit_failure(const StoreTx& tx) {
  const std::string cause = tx.failure_cause();
  if (tx.conflicted()) {
    throw StorageConflict(cause.empty() ? "storage: commit: conflict"
                                        : "storage: commit: conflict: " + cause);
  }
  if (tx.lost_connection()) {
    throw StorageOutcomeUnknown(cause.empty() ? "storage: commit failed: connection lost"
                                              : "storage: commit failed: " + cause);
  }
  throw StorageError(cause.empty() ? "storage: commit failed" : "storage: commit failed: " + cause);
}

// Runs fn(tx) in a transaction of `mode` and commits it; returns what fn
// returned. When fn or the commit fails with a StorageConflict (deadlock,
// serialization failure, SQLite busy), the transaction is rolled back and the
// whole unit runs again in a new one, after a short random pause (1 ms plus up to
// 2, 4, 8, 16 ms); when fn fails with a StorageConnectionLost (the connection
// broke before anything of the transaction reached the database), the unit
// runs again at once on another connection. At most kTransactionAttempts
// times in all; the last such error is then thrown. Any other exception is not
// retried and propagates as it is; a commit() that fails without a conflict
// throws StorageError naming the cause (throw_commit_failure). So fn must do
// nothing but store work, or work that may safely happen twice (no mail
// sent, no metric counted, no answer written inside it). To give up without
// committing, fn throws.
template <class Fn>
auto with_transaction(Store& store, TxMode mode, Fn&& fn) -> std::invoke_result_t<Fn&, StoreTx&>;

// with_transaction for a read-write unit whose writes take effect at most
// once however often it runs: each keyed so that a second run finds it done
// (an operation-log row with its once_key, chosen before the unit:
// operation_log_repository.h). It also runs again after a
// StorageOutcomeUnknown: a connection lost after something of it may have
// taken effect, or with its COMMIT under way. A unit that only writes such
// rows on PostgreSQL sends BEGIN, the write and COMMIT in one round trip, so
// without this no lost connection of it could ever be rerun.
template <class Fn>
auto with_idempotent_transaction(Store& store, Fn&& fn) -> std::invoke_result_t<Fn&, StoreTx&>;

namespace store_detail {

template <class Fn>
auto run_unit(Store& store, TxMode mode, bool idempotent, Fn& fn)
    -> std::invoke_result_t<Fn&, StoreTx&> {
  using Result = std::invoke_result_t<Fn&, StoreTx&>;
  thread_local std::minstd_rand jitter{std::random_device{}()};
  for (int attempt = 1;; ++attempt) {
    try {
      std::unique_ptr<StoreTx> tx = store.begin(mode);
      if constexpr (std::is_void_v<Result>) {
        fn(*tx);
        if (!tx->commit()) throw_commit_failure(*tx);
        return;
      } else {
        Result result = fn(*tx);
        if (!tx->commit()) throw_commit_failure(*tx);
        return result;
      }
    } catch (const StorageConflict&) {
      if (attempt >= kTransactionAttempts) throw;
    } catch (const StorageConnectionLost&) {
      if (attempt >= kTransactionAttempts) throw;
      count_storage_connection_retry();
      continue;  // no pause: another connection, not time, is what helps
    } catch (const StorageOutcomeUnknown&) {
      if (!idempotent || attempt >= kTransactionAttempts) throw;
      count_storage_connection_retry();
      continue;  // as above: the unit's writes cannot happen twice
    }
    count_storage_conflict_retry();
    const int ceiling_us = 1000 << attempt;
    std::this_thread::sleep_for(
        std::chrono::microseconds(1000 + static_cast<int>(jitter() % ceiling_us)));
  }
}

}  // namespace store_detail

template <class Fn>
auto with_transaction(Store& store, TxMode mode, Fn&& fn) -> std::invoke_result_t<Fn&, StoreTx&> {
  return store_detail::run_unit(store, mode, /*idempotent=*/false, fn);
}

template <class Fn>
auto with_idempotent_transaction(Store& store, Fn&& fn) -> std::invoke_result_t<Fn&, StoreTx&> {
  return store_detail::run_unit(store, TxMode::read_write, /*idempotent=*/true, fn);
}

// SQLite (WAL, synchronous=FULL for acknowledged durability, foreign keys on):
// one writer connection behind a mutex — a single writer keeps worst-case
// latency low (TOOLCHAIN.md) — and a small pool of read-only connections for
// TxMode::read_only. `path` may be ":memory:" (then read-only transactions use
// the one connection too, with PRAGMA query_only). Creates or upgrades the
// schema at open (the migrations in sqlite/migrations/).
std::unique_ptr<Store> open_sqlite_store(const std::string& path);

// Group commit of a SQLite store (sqlite_store.cpp): read-write transactions
// that meet at the writer share one COMMIT (one fsync). For tests and the
// performance notes; all zero for another backend.
struct SqliteCommitStats {
  std::uint64_t commits = 0;         // outer COMMITs that succeeded (fsyncs)
  std::uint64_t members_waited = 0;  // commit() calls that waited for another's COMMIT
  int queued_writers = 0;            // threads waiting for the writer now
};
SqliteCommitStats sqlite_commit_stats(const Store& store);

// PostgreSQL through libpq (postgres_store.cpp): `conninfo` is a libpq
// connection URI ("postgresql://user@host:5432/renkei") or key=value string.
// A pool of at most `pool_size` connections (the server passes its worker
// thread count), READ COMMITTED transactions with row locks where a caller
// reads what it writes back, REPEATABLE READ READ ONLY for read-only ones,
// synchronous_commit=on. Creates or upgrades the schema at open (the
// migrations in postgres/migrations/), under an advisory lock. Throws StorageError when the server
// cannot be reached; the message never contains the connection string.
std::unique_ptr<Store> open_postgres_store(const std::string& conninfo, int pool_size);

// The store a configuration's "database" names:
//   "postgresql://…" or "postgres://…"  PostgreSQL (pool of `pool_size`);
//   "sqlite:PATH", a plain PATH or ":memory:"  SQLite.
std::unique_ptr<Store> open_store(const std::string& database, int pool_size = 8);

// True when `database` names a PostgreSQL server (the URI forms above).
bool is_postgres_database(const std::string& database);
// The SQLite file of a "sqlite:PATH" or plain PATH ("" for PostgreSQL).
std::string sqlite_path_of(const std::string& database);
// `database` fit for a log line: a PostgreSQL URI's password is replaced by
// "***" (a key=value string is never logged: "(PostgreSQL)").
std::string database_for_log(const std::string& database);

}  // namespace renkei::server
