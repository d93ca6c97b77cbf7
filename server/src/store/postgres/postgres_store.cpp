// The PostgreSQL backend of storage.h (issue 9: several server instances on
// one database).
//
// A small pool of libpq connections (sized to the server's worker threads):
// Store::begin() lends one connection to the StoreTx for its whole life and
// starts it with BEGIN ISOLATION LEVEL READ COMMITTED (read-write) or BEGIN
// ISOLATION LEVEL REPEATABLE READ READ ONLY (read-only: one snapshot for all
// its reads, no row lock, and PostgreSQL refuses any write in it), queued and
// sent with the transaction's first statement (below); the StoreTx's
// destructor rolls back unless committed and gives the connection back. A connection that
// broke is dropped and a new one is opened the next time one is needed.
//
// A pooled connection the server closed while it was idle is found before
// the BEGIN is queued, by a poll() of its socket (closed_by_server). The
// server may still close it after that poll and before the first round trip
// (a race the poll cannot see): that round trip (the BEGIN, any queued
// writes, the first statement; never a COMMIT) then fails on the broken
// connection, or the PREPARE before it does. No statement of the transaction
// was acknowledged and no COMMIT sent, so nothing of it can have taken
// effect: the statement throws StorageConnectionLost (storage_error.h), the
// connection is dropped, and with_transaction runs the unit again on another
// one. A connection lost later in the transaction is a StorageOutcomeUnknown
// (the caller has seen answers), and so is one lost in a round trip that held
// the COMMIT, which PostgreSQL may have carried out without its answer
// arriving: such a transaction is never run twice, unless its unit is
// idempotent (with_idempotent_transaction, storage.h). A server that cannot be
// reached at all (connect fails) is a StorageUnavailable too: the HTTP layer
// answers 503 with Retry-After for it, not 500 (storage_error.h).
//
// Concurrency. SQLite's single writer makes every StoreTx serializable; here
// the same guarantees for the callers come from READ COMMITTED plus row locks
// taken by the methods that read what the caller will write back (never from
// retrying serialization failures):
//   - load_lock: INSERT … ON CONFLICT DO NOTHING, then SELECT … FOR UPDATE, so
//     the counter row is locked even when it did not exist yet;
//   - flow_by_session, flow_by_id, flows_waiting_for_call: FOR UPDATE (the
//     flow API and the telephony webhook read a flow, let the core decide and
//     update it); flows_waiting_for_call also holds the dialled number (an
//     advisory lock) so that a flow newly waiting on it is seen in turn;
//   - consume_code: SELECT … FOR UPDATE, then UPDATE (single use);
//   - find_grant, mail_by_id: FOR UPDATE; find_token reads the token under its
//     grant's row lock (refresh rotation, grant bookkeeping and a staff resend
//     are read-modify-write; grants are always locked before their tokens);
//   - due_mails: FOR UPDATE SKIP LOCKED, so several instances claim
//     different mails;
//   - insert_call_event: ON CONFLICT DO NOTHING (idempotency).
// A read-only transaction reads the same rows without FOR UPDATE (PostgreSQL
// refuses row locks there) and load_lock inserts nothing.
// Two transactions can still meet in a cycle of row locks (a deadlock,
// SQLSTATE 40P01) or, under a stricter isolation, a serialization failure
// (40001): those throw StorageConflict, and with_transaction (storage.h) runs
// the unit again.
// synchronous_commit is set to `on` for every session: a commit that returned
// is durable.
//
// Every statement is a constant text, prepared once per connection
// (PQprepare) and run with PQexecPrepared and text-format parameters. The
// repositories' SQL is the SQLite backend's, written once in
// sql_repositories.h (PostgresTx derives from SqlRepositories, adding the
// locks and deferred writes below): `?` placeholders, numbered ($1, $2, …)
// once, when the statement is prepared.
//
// Writes whose answer nobody reads (the operation-log row, the flow's
// update) are deferred (issue 10): they are sent with the transaction's next
// statement, or with its COMMIT, in one round trip (libpq's pipeline mode),
// instead of one round trip each. Their order is kept, a later statement of
// the transaction still sees them, and a failure of one fails the
// transaction as before: the next statement throws, or commit() returns
// false. A flow step makes two round trips fewer (BEGIN, reads, the locks,
// then update + log + COMMIT together).
//
// Error messages are "storage: <operation>: <SQLSTATE> <PostgreSQL's primary
// message>" (error_cause); a commit() that failed keeps the same cause for
// with_transaction's "storage: commit failed: …" (StoreTx::failure_cause).
// Only the primary message is used: its DETAIL may quote key values (a
// session digest, say), which must not reach a log; nor does a data
// exception's primary message, which may quote the refused value. The
// connection string is never part of a message (it may hold a password).
#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
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

// pg_advisory_xact_lock key of the schema creation ("RENKEI" in ASCII).
constexpr const char* kSchemaLockKey = "90475533370697";

// `?` → `$1`, `$2`, … (the SQL below has no `?` inside literals).
std::string numbered(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  for (char c : sql) {
    if (c == '?') {
      out += '$';
      out += std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

// SQLSTATE 40001 serialization_failure and 40P01 deadlock_detected: the
// transaction met another one, and running it again is correct.
bool is_conflict(const PGresult* res) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  return state && (std::strcmp(state, "40001") == 0 || std::strcmp(state, "40P01") == 0);
}

// The SQLSTATE of a failed result ("" when there is none: no result, or
// one libpq made itself because the connection broke).
std::string sqlstate(const PGresult* res) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  return state ? state : "";
}

// Class 22 (data exception) primary messages may quote the value that was
// refused ('invalid input syntax for type bigint: "…"', 'value "…" is out of
// range for type integer', 'invalid byte sequence for encoding "UTF8": 0x…'):
// all but the two known not to (division by zero, the failing-update guard of
// update_flow; value too long, which names only the type).
bool message_may_quote_a_value(std::string_view state) {
  return state.substr(0, 2) == "22" && state != "22012" && state != "22001";
}

// Why a statement failed, fit for an error or log line: "<SQLSTATE> <primary
// message>" ("23505 duplicate key value violates unique constraint
// "flows_session_digest_key"", "22012 division by zero"). Never the DETAIL
// (it may quote key values: a session digest, say), and for a message that
// may quote the refused value only its SQLSTATE.
std::string error_cause(const PGresult* res, PGconn* conn) {
  const std::string state = sqlstate(res);
  const char* primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  if (!state.empty() && message_may_quote_a_value(state)) {
    return state + " (a data exception; PostgreSQL's message is left out: it may quote the value)";
  }
  std::string msg;
  if (primary && *primary) {
    msg = primary;
  } else {
    // No result (e.g. the connection broke): libpq's own message, first line.
    msg = conn ? PQerrorMessage(conn) : "no connection";
    const auto nl = msg.find('\n');
    if (nl != std::string::npos) msg.resize(nl);
    if (msg.empty()) msg = "unknown error";
  }
  return state.empty() ? msg : state + " " + msg;
}

// True when a failure means that the connection is gone, not that a
// statement failed: libpq lost it (CONNECTION_BAD), and the first failure was
// libpq's own (`state` empty: a send or read that failed) or PostgreSQL
// ending the session (57P01 admin_shutdown, from pg_terminate_backend or a
// fast shutdown; 57P02 crash_shutdown; 57P05 idle_session_timeout; …; class
// 08, connection exception). An SQL error (a constraint, 40001/40P01) is not.
bool connection_gone(PGconn* conn, std::string_view state) {
  if (PQstatus(conn) != CONNECTION_BAD) return false;
  return state.empty() || state.substr(0, 3) == "57P" || state.substr(0, 2) == "08";
}

// ---------- one connection and its prepared statements ----------

// Seconds libpq may take to connect when the conninfo says nothing.
constexpr int kDefaultConnectTimeoutSeconds = 5;

class PgConnection {
 public:
  explicit PgConnection(const std::string& conninfo) : conn_(connect(conninfo)) {
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = "storage: cannot connect to PostgreSQL: ";
      msg += error_cause(nullptr, conn_);
      PQfinish(conn_);
      conn_ = nullptr;
      throw StorageUnavailable(msg);
    }
    // Notices ("relation … already exists, skipping") are not errors: keep
    // them off stderr.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    exec("SET synchronous_commit = on", "session");
    exec("SET client_encoding = 'UTF8'", "session");
    exec("SET client_min_messages = warning", "session");
    // Assert, not only set: a server-side override would surface here.
    PGresult* res = PQexec(conn_, "SHOW synchronous_commit");
    const bool on = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
                    std::string_view(PQgetvalue(res, 0, 0)) == "on";
    PQclear(res);
    if (!on) {
      PQfinish(conn_);
      conn_ = nullptr;
      throw StorageError("storage: synchronous_commit could not be set to on");
    }
  }
  ~PgConnection() {
    if (conn_) PQfinish(conn_);
  }
  // libpq waits for an unreachable host (no answer at all) as long as the
  // system's TCP timeout, minutes, with a worker thread held per attempt. A
  // connect_timeout of kDefaultConnectTimeout seconds applies unless the
  // conninfo sets its own: keywords are read in order, and the conninfo
  // (expanded from `dbname`) comes after the default.
  static PGconn* connect(const std::string& conninfo) {
    const std::string timeout = std::to_string(kDefaultConnectTimeoutSeconds);
    const char* const keys[] = {"connect_timeout", "dbname", nullptr};
    const char* const values[] = {timeout.c_str(), conninfo.c_str(), nullptr};
    return PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  }
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  PGconn* raw() const { return conn_; }
  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }

  // Constant SQL without parameters (BEGIN, COMMIT, DDL).
  void exec(const char* sql, const char* what) {
    PGresult* res = PQexec(conn_, sql);
    const auto st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      const std::string msg = error_cause(res, conn_);
      PQclear(res);
      throw StorageError(std::string("storage: ") + what + ": " + msg);
    }
    PQclear(res);
  }
  // As exec, but returns false instead of throwing (destructors, commit).
  bool try_exec(const char* sql, std::string* command_status = nullptr, bool* conflict = nullptr) {
    PGresult* res = PQexec(conn_, sql);
    const bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (ok && command_status) *command_status = PQcmdStatus(res);
    if (!ok && conflict && is_conflict(res)) *conflict = true;
    PQclear(res);
    return ok;
  }

  // A prepared statement sent later (PostgresTx::defer): its name (owned by
  // the cache, whose elements never move), its parameters, and whether it
  // must change a row: the failure's message when it changes none. Such a
  // statement must fail by itself then (SQLSTATE 22012, see update_flow),
  // because the COMMIT sent in the same round trip would otherwise keep the
  // transaction's other changes.
  struct Deferred {
    const std::string* name = nullptr;  // a prepared statement, or
    const char* sql = nullptr;          // constant SQL (BEGIN, COMMIT)
    std::vector<std::optional<std::string>> params;
    const char* what = "";
    const char* if_unchanged = nullptr;
    bool opens = false;   // the transaction's BEGIN
    bool closes = false;  // its COMMIT
  };
  // Statements queued on this connection (the transaction's BEGIN, deferred
  // writes): sent with the next statement, in its round trip.
  void queue(Deferred d) { pending_.push_back(std::move(d)); }
  bool has_pending() const { return !pending_.empty(); }
  // Only the BEGIN is queued: the transaction has done nothing yet.
  bool only_begin_pending() const { return pending_.size() == 1 && pending_[0].opens; }
  // The BEGIN is still queued: nothing of the transaction was sent yet.
  bool begin_queued() const { return !pending_.empty() && pending_.front().opens; }
  void discard_pending() { pending_.clear(); }

  struct PipelineResult {
    bool ok = true;
    std::string message;    // the first failure's: "<what>: <SQLSTATE> <message>"
    bool conflict = false;  // … a deadlock or serialization failure
    // … the connection broke (connection_gone) in the transaction's first
    // round trip (its BEGIN went in it), which held no COMMIT: nothing of the
    // transaction can have taken effect (StorageConnectionLost).
    bool lost_before_anything_ran = false;
    // … the connection broke (connection_gone), whenever: an outage
    // (StorageUnavailable) unless lost_before_anything_ran.
    bool connection_lost = false;
    PGresult* last = nullptr;  // `last`'s result when ok (the caller clears it)
  };
  // Sends the queued statements and then `last` in one round trip (libpq's
  // pipeline mode) and reads every answer. After a failure PostgreSQL skips
  // the rest (PGRES_PIPELINE_ABORTED) and the transaction is aborted.
  PipelineResult run_pipeline(Deferred last) {
    std::vector<Deferred> batch;
    batch.swap(pending_);
    batch.push_back(std::move(last));
    PipelineResult out;
    std::string first_state;  // the first failed result's SQLSTATE
    if (PQenterPipelineMode(conn_) != 1) {
      out.ok = false;
      out.message = std::string(batch.back().what) + ": " + error_cause(nullptr, conn_);
      return out;
    }
    std::size_t sent = 0;
    for (const Deferred& d : batch) {
      int rc = 0;
      if (d.sql) {
        rc = PQsendQueryParams(conn_, d.sql, 0, nullptr, nullptr, nullptr, nullptr, 0);
      } else {
        std::vector<const char*> values;
        values.reserve(d.params.size());
        for (const auto& p : d.params) values.push_back(p ? p->c_str() : nullptr);
        rc = PQsendQueryPrepared(conn_, d.name->c_str(), static_cast<int>(values.size()),
                                 values.data(), nullptr, nullptr, 0);
      }
      if (rc != 1) break;
      ++sent;
    }
    const bool synced = PQpipelineSync(conn_) == 1;
    if (sent < batch.size() || !synced) {
      out.ok = false;
      out.message = std::string(batch[std::min(sent, batch.size() - 1)].what) + ": " +
                    error_cause(nullptr, conn_);
    }
    // Every answer: each statement's result (then a null), then the sync's.
    for (std::size_t i = 0; i < sent; ++i) {
      PGresult* res = PQgetResult(conn_);
      if (!res) {  // the connection broke
        if (out.ok) out.message = std::string(batch[i].what) + ": " + error_cause(nullptr, conn_);
        out.ok = false;
        break;
      }
      const auto st = PQresultStatus(res);
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        // PGRES_PIPELINE_ABORTED: skipped after an earlier failure.
        if (out.ok) {
          first_state = sqlstate(res);
          if (batch[i].if_unchanged && first_state == "22012") {
            out.message = std::string(batch[i].if_unchanged) + " (" + error_cause(res, conn_) + ")";
          } else {
            out.message = std::string(batch[i].what) + ": " + error_cause(res, conn_);
          }
          out.conflict = is_conflict(res);
        }
        out.ok = false;
        PQclear(res);
      } else if (i + 1 == batch.size() && out.ok) {
        out.last = res;  // kept for the caller
      } else {
        PQclear(res);
      }
      while ((res = PQgetResult(conn_)) != nullptr) PQclear(res);  // the null after it
    }
    // The sync's own result, then back to normal mode.
    for (int guard = 0; guard < 4; ++guard) {
      PGresult* res = PQgetResult(conn_);
      if (!res) break;
      const bool sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
      PQclear(res);
      if (sync) break;
    }
    if (PQexitPipelineMode(conn_) != 1 && out.ok) {
      out.ok = false;
      out.message = std::string(batch.back().what) + ": " + error_cause(nullptr, conn_);
    }
    if (!out.ok && out.last) {
      PQclear(out.last);
      out.last = nullptr;
    }
    if (!out.ok && connection_gone(conn_, first_state)) {
      out.connection_lost = true;
      out.lost_before_anything_ran =
          batch.front().opens &&
          std::none_of(batch.begin(), batch.end(), [](const Deferred& d) { return d.closes; });
    }
    return out;
  }

  // True when an idle connection has something to read: the server closed it
  // (a restart, pg_terminate_backend, an idle timeout sends a FATAL and EOF).
  // Checked without a round trip before a transaction's BEGIN is queued.
  bool closed_by_server() const {
    pollfd p{PQsocket(conn_), POLLIN, 0};
    return p.fd < 0 || ::poll(&p, 1, 0) != 0;
  }

  // The name of the prepared statement for `sql`, which must have static
  // storage (it keys the cache); prepared on first use.
  const std::string& statement(std::string_view sql, const char* what) {
    auto it = prepared_.find(sql);
    if (it != prepared_.end()) return it->second;
    std::string name = "r" + std::to_string(prepared_.size() + 1);
    const std::string text = numbered(sql);
    PGresult* res = PQprepare(conn_, name.c_str(), text.c_str(), 0, nullptr);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
      const std::string msg = std::string("storage: ") + what + ": " + error_cause(res, conn_);
      const std::string state = sqlstate(res);
      PQclear(res);
      // Prepared outside the transaction, whose BEGIN is still queued: a
      // connection lost here lost nothing of it. Lost later, it is an outage.
      if (connection_gone(conn_, state)) {
        if (begin_queued()) throw StorageConnectionLost(msg);
        throw StorageOutcomeUnknown(msg);
      }
      throw StorageError(msg);
    }
    PQclear(res);
    return prepared_.emplace(sql, std::move(name)).first->second;
  }

 private:
  PGconn* conn_ = nullptr;
  std::unordered_map<std::string_view, std::string> prepared_;
  std::vector<Deferred> pending_;
};

// One execution of a prepared statement: collects text parameters, executes
// on the first step()/run(), reads columns of the current row.
// PostgreSQL's text refuses bytes that are not UTF-8 ("invalid byte sequence
// for encoding UTF8") and aborts the transaction; SQLite stores and compares
// any bytes. Request bytes reach the store unchecked in places (a client_id
// looked up from /authorize's query, a User-Agent written to the operation
// log), so a text parameter that is not valid UTF-8 has each offending byte
// replaced by U+FFFD: a lookup then finds nothing (as SQLite finds nothing for
// those bytes) and a write keeps a readable, marked value instead of failing
// the request. Valid UTF-8 passes unchanged. Strict as PostgreSQL is: no
// overlong forms, no surrogates, nothing above U+10FFFF. A NUL byte (a
// percent-decoded %00) is replaced too: PostgreSQL's text cannot hold it and
// libpq sends a text parameter NUL-terminated, so it would cut the value
// there ("flow-1\0…" would find flow "flow-1", where SQLite finds nothing).
std::string utf8_or_replaced(std::string_view in) {
  auto cont = [&](std::size_t i) {
    return i < in.size() && (static_cast<unsigned char>(in[i]) & 0xC0) == 0x80;
  };
  // Length of the valid sequence at i, or 0.
  auto valid_at = [&](std::size_t i) -> std::size_t {
    const auto b0 = static_cast<unsigned char>(in[i]);
    if (b0 == 0) return 0;  // NUL: see above
    if (b0 < 0x80) return 1;
    if (b0 >= 0xC2 && b0 <= 0xDF) return cont(i + 1) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
      if (!cont(i + 1) || !cont(i + 2)) return 0;
      const auto b1 = static_cast<unsigned char>(in[i + 1]);
      if (b0 == 0xE0 && b1 < 0xA0) return 0;   // overlong
      if (b0 == 0xED && b1 >= 0xA0) return 0;  // surrogate
      return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
      if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
      const auto b1 = static_cast<unsigned char>(in[i + 1]);
      if (b0 == 0xF0 && b1 < 0x90) return 0;   // overlong
      if (b0 == 0xF4 && b1 >= 0x90) return 0;  // above U+10FFFF
      return 4;
    }
    return 0;
  };
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size();) {
    const std::size_t n = valid_at(i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      out.append(in.substr(i, n));
      i += n;
    }
  }
  return out;
}

// What the statements of a transaction tell it about their failures.
struct TxStatus {
  bool failed = false;           // a statement failed: PostgreSQL aborted the transaction
  bool conflicted = false;       // … with a deadlock or serialization failure
  bool lost_connection = false;  // … because the connection broke
  std::string cause;             // the first failure: "<operation>: <SQLSTATE> <message>"

  // `message` is the thrown one, "storage: <cause>".
  void note(const std::string& message, bool conflict, bool connection_lost = false) {
    failed = true;
    if (conflict) conflicted = true;
    if (connection_lost) lost_connection = true;
    if (cause.empty()) cause = message.rfind("storage: ", 0) == 0 ? message.substr(9) : message;
  }
};

class PgQuery {
 public:
  // `status` (when given) is told when the statement fails: PostgreSQL has
  // then aborted the transaction.
  PgQuery(PgConnection& c, std::string_view sql, const char* what, TxStatus* status)
      : conn_(c), name_(prepared(c, sql, what, status)), what_(what), status_(status) {}
  ~PgQuery() { PQclear(res_); }
  PgQuery(const PgQuery&) = delete;
  PgQuery& operator=(const PgQuery&) = delete;

  PgQuery& bind(std::string_view v) {
    params_.emplace_back(utf8_or_replaced(v));
    return *this;
  }
  PgQuery& bind(const std::string& v) { return bind(std::string_view(v)); }
  PgQuery& bind(const char* v) { return bind(std::string_view(v)); }
  PgQuery& bind(std::int64_t v) {
    params_.emplace_back(std::to_string(v));
    return *this;
  }
  PgQuery& bind(int v) { return bind(static_cast<std::int64_t>(v)); }
  PgQuery& bind(bool v) {
    params_.emplace_back(v ? "true" : "false");
    return *this;
  }
  PgQuery& bind(const std::optional<std::int64_t>& v) {
    if (v) return bind(*v);
    params_.emplace_back(std::nullopt);
    return *this;
  }
  PgQuery& bind(const std::optional<std::string>& v) {
    if (v) return bind(std::string_view(*v));
    params_.emplace_back(std::nullopt);
    return *this;
  }
  template <class... A>
  PgQuery& binds(const A&... a) {
    (bind(a), ...);
    return *this;
  }

  // The statement and its parameters, to be sent later (PostgresTx::defer).
  PgConnection::Deferred take_deferred(const char* if_unchanged) {
    PgConnection::Deferred d;
    d.name = &name_;
    d.params = std::move(params_);
    d.what = what_;
    d.if_unchanged = if_unchanged;
    return d;
  }

  // True when a row is available, false when done.
  bool step() {
    execute();
    if (row_ + 1 >= PQntuples(res_)) {
      row_ = PQntuples(res_);
      return false;
    }
    ++row_;
    return true;
  }
  // Runs the statement; returns the number of rows changed (or returned).
  int run() {
    execute();
    const char* n = PQcmdTuples(res_);
    return (n && *n) ? std::atoi(n) : 0;
  }

  std::string text(int col) const {
    if (PQgetisnull(res_, row_, col)) return {};
    return std::string(PQgetvalue(res_, row_, col),
                       static_cast<std::size_t>(PQgetlength(res_, row_, col)));
  }
  std::optional<std::string> opt_text(int col) const {
    if (PQgetisnull(res_, row_, col)) return std::nullopt;
    return text(col);
  }
  std::int64_t int64(int col) const {
    if (PQgetisnull(res_, row_, col)) return 0;
    return std::strtoll(PQgetvalue(res_, row_, col), nullptr, 10);
  }
  std::optional<std::int64_t> opt_int64(int col) const {
    if (PQgetisnull(res_, row_, col)) return std::nullopt;
    return int64(col);
  }
  bool boolean(int col) const {
    const char* v = PQgetvalue(res_, row_, col);
    return v && (v[0] == 't' || v[0] == '1');
  }

 private:
  static const std::string& prepared(PgConnection& c, std::string_view sql, const char* what,
                                     TxStatus* status) {
    try {
      return c.statement(sql, what);
    } catch (const StorageError& e) {
      // A failed PREPARE aborts the transaction too (or, with the BEGIN
      // still queued, leaves nothing to send on that connection).
      if (status) {
        status->note(e.what(), false, dynamic_cast<const StorageUnavailable*>(&e) != nullptr);
      }
      throw;
    }
  }
  void execute() {
    if (res_) return;
    // After a failure nothing more is sent: PostgreSQL refuses it anyway in
    // an aborted transaction, and had the failure lost the queued BEGIN, a
    // statement sent now would commit on its own (autocommit).
    if (status_ && status_->failed) {
      throw StorageError(std::string("storage: ") + what_ + ": the transaction has already failed");
    }
    std::string msg;
    bool conflict = false;
    bool lost_before_anything_ran = false;
    bool connection_lost = false;
    if (conn_.has_pending()) {
      // The queued statements (BEGIN, deferred writes) go first, in the same
      // round trip; a failure of theirs fails this statement.
      PgConnection::Deferred me;
      me.name = &name_;
      me.params = params_;
      me.what = what_;
      PgConnection::PipelineResult r = conn_.run_pipeline(std::move(me));
      if (r.ok) {
        res_ = r.last;
        return;
      }
      msg = "storage: " + r.message;
      conflict = r.conflict;
      lost_before_anything_ran = r.lost_before_anything_ran;
      connection_lost = r.connection_lost;
    } else {
      std::vector<const char*> values;
      values.reserve(params_.size());
      for (const auto& p : params_) values.push_back(p ? p->c_str() : nullptr);
      res_ = PQexecPrepared(conn_.raw(), name_.c_str(), static_cast<int>(values.size()),
                            values.data(), nullptr, nullptr, 0);
      const auto st = res_ ? PQresultStatus(res_) : PGRES_FATAL_ERROR;
      if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return;
      msg = std::string("storage: ") + what_ + ": " + error_cause(res_, conn_.raw());
      conflict = is_conflict(res_);
      connection_lost = connection_gone(conn_.raw(), sqlstate(res_));
      PQclear(res_);
      res_ = nullptr;
    }
    // PostgreSQL aborts the whole transaction on an error: commit() must fail.
    if (status_) status_->note(msg, conflict, connection_lost);
    if (conflict) throw StorageConflict(msg);
    if (lost_before_anything_ran) throw StorageConnectionLost(msg);
    if (connection_lost) throw StorageOutcomeUnknown(msg);
    throw StorageError(msg);
  }

  PgConnection& conn_;
  const std::string& name_;
  const char* what_;
  TxStatus* status_;
  std::vector<std::optional<std::string>> params_;
  PGresult* res_ = nullptr;
  int row_ = -1;
};

// ---------- the store ----------

class PostgresStore;

class PostgresTx final : public SqlRepositories<PostgresTx, PgQuery> {
 public:
  PostgresTx(PostgresStore& store, std::unique_ptr<PgConnection> conn, TxMode mode);
  ~PostgresTx() override;

  [[nodiscard]] bool commit() override;
  TxMode mode() const override { return mode_; }
  bool conflicted() const override { return status_.conflicted; }
  bool lost_connection() const override { return status_.lost_connection; }
  std::string failure_cause() const override { return status_.cause; }

  void lock_for_seeding() override {
    // READ COMMITTED: the count after this lock sees what an instance that
    // seeded before us committed, so only the first one seeds.
    run("SELECT pg_advisory_xact_lock(hashtext('renkei.seed'))", "lock_for_seeding");
  }

  LockState load_lock(std::int64_t account_id) override {
    // The counter row is created (zero failures, no lock) if missing and then
    // locked (SELECT … FOR UPDATE, sql_repositories.h), so that two attempts
    // in two transactions are serialized even on an account that never
    // failed before. A zero row reads as LockState{} and is not listed by
    // list_locks.
    if (!read_only()) {
      run("INSERT INTO locks (account_id, failures, locked_until)"
          " SELECT id, 0, NULL FROM accounts WHERE id = ?"
          " ON CONFLICT (account_id) DO NOTHING",
          "load_lock", account_id);
    }
    return SqlRepositories::load_lock(account_id);
  }

  std::vector<FlowRecord> flows_waiting_for_call(const std::string& dialled,
                                                 UnixSeconds now) override {
    // Two locks. The matched flow's row (FOR UPDATE, sql_repositories.h): the
    // webhook moves it on in the same transaction. And the dialled number
    // itself (a transaction advisory lock): the waiting list of a number is
    // also read to choose a free number (pick_call_number), and a flow that
    // starts waiting is a new row no row lock can cover; so whoever reads a
    // number's waiting list holds the number until commit, as SQLite's single
    // writer did, and two flows of one phone cannot pick the same number at
    // once.
    if (!read_only()) {
      run("SELECT pg_advisory_xact_lock(hashtext('renkei.dialled'), hashtext(?))",
          "flows_waiting_for_call", dialled);
    }
    return SqlRepositories::flows_waiting_for_call(dialled, now);
  }

  void hold_phone_for_call_pick(const std::string& phone) override {
    if (read_only())
      throw StorageError("storage: hold_phone_for_call_pick in a read-only transaction");
    run("SELECT pg_advisory_xact_lock(hashtext('renkei.phone'), hashtext(?))",
        "hold_phone_for_call_pick", phone);
  }

  std::optional<TokenRecord> find_token(const std::string& digest) override {
    // The token is read under its grant's row lock: refresh rotation (read,
    // revoke, replace) and the account API's bookkeeping are serialized per
    // grant, and every path locks grant before tokens (the staff's revoke and
    // a code replay lock the grant, then update its tokens), so no two
    // transactions wait for each other in a cycle. The token is read again
    // once the lock is held: READ COMMITTED gives that statement the state
    // the previous holder committed (a rotated-out token reads revoked).
    std::string grant_id;
    {
      PgQuery q = query("SELECT grant_id FROM tokens WHERE token_digest = ?", "find_token");
      q.binds(digest);
      if (!q.step()) return std::nullopt;
      grant_id = q.text(0);
    }
    if (!read_only()) {
      run("SELECT id FROM grants WHERE id = ? FOR UPDATE", "find_token", grant_id);
    }
    return SqlRepositories::find_token(digest);
  }

 private:
  friend class SqlRepositories<PostgresTx, PgQuery>;
  // SqlRepositories' hooks (sql_repositories.h): row locks where a caller
  // reads what it writes back, and writes whose answer nobody reads deferred.
  static constexpr bool kRowLocks = true;
  static constexpr bool kGuardedWrites = true;
  void write(PgQuery& q, const char* if_unchanged) { defer(q, if_unchanged); }
  void check_open() const {
    if (finished_) throw StorageError("storage: the transaction is already finished");
  }
  // A statement of this transaction (queued ones go with it when it runs).
  PgQuery query(std::string_view sql, const char* what) {
    check_open();
    return PgQuery(*conn_, sql, what, &status_);
  }
  // In a read-only transaction the statement runs at once, so that the
  // refusal of a write comes where it is made, as on SQLite.
  // `if_unchanged`: the failure's message when the statement changes no row
  // (nullptr: no check).
  void defer(PgQuery& q, const char* if_unchanged) {
    if (read_only()) {
      q.run();  // PostgreSQL refuses the write here
      return;
    }
    conn_->queue(q.take_deferred(if_unchanged));
  }
  bool read_only() const { return mode_ == TxMode::read_only; }

  PostgresStore& store_;
  std::unique_ptr<PgConnection> conn_;
  const TxMode mode_;
  const std::thread::id owner_ = std::this_thread::get_id();
  bool finished_ = false;
  TxStatus status_;  // failures of its statements and of its COMMIT
};

class PostgresStore final : public Store {
 public:
  PostgresStore(std::string conninfo, int pool_size)
      : conninfo_(std::move(conninfo)), pool_(static_cast<std::size_t>(std::max(1, pool_size))) {
    auto conn = std::make_unique<PgConnection>(conninfo_);
    create_schema(*conn);
    pool_.adopt(std::move(conn));
  }

  void checkpoint() override {
    // PostgreSQL recycles WAL segments itself; a CHECKPOINT needs superuser
    // (or pg_checkpoint) rights, which the server's role should not have.
    // Deleted rows leave the heap at the next VACUUM (autovacuum).
  }

  // Gives a connection back to the pool (or drops it when it broke).
  void release(std::unique_ptr<PgConnection> conn) {
    conn->discard_pending();
    // Dropped when broken or left in a transaction; a new one is opened when needed.
    const bool keep = !conn->broken() && PQtransactionStatus(conn->raw()) == PQTRANS_IDLE;
    pool_.give_back(std::move(conn), keep);
  }
  void forget_owner(std::thread::id owner) { owners_.leave(owner); }
  // A pooled connection that cannot be used: closed, and its place freed.
  void drop(std::unique_ptr<PgConnection> conn) { pool_.give_back(std::move(conn), false); }

 protected:
  std::unique_ptr<StoreTx> start(TxMode mode) override {
    const auto me = owners_.enter();  // refuses a nested transaction
    try {
      return start_owned(mode);
    } catch (...) {
      owners_.leave(me);
      throw;
    }
  }

 private:
  std::unique_ptr<StoreTx> start_owned(TxMode mode) {
    // Pooled connections may have broken since their last use (a server
    // restart, a network cut, an idle timeout): one the server has closed
    // has something to read (its FATAL, then EOF) and is dropped, in turn,
    // and at worst the last attempt gets a newly opened one. The BEGIN is
    // queued, not run: it goes with the transaction's first statement, in
    // its round trip (top of this file). Closed after this check, the
    // connection fails that round trip with StorageConnectionLost.
    std::unique_ptr<PgConnection> conn;
    for (int attempt = 0;; ++attempt) {
      conn = acquire();
      if (!conn->broken() && !conn->closed_by_server()) break;
      drop(std::move(conn));
      if (attempt >= static_cast<int>(pool_.capacity())) {
        throw StorageUnavailable("storage: begin: no working connection");
      }
    }
    PgConnection::Deferred begin;
    begin.sql = mode == TxMode::read_only ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                                          : "BEGIN ISOLATION LEVEL READ COMMITTED";
    begin.what = "begin";
    begin.opens = true;
    conn->queue(std::move(begin));
    return std::make_unique<PostgresTx>(*this, std::move(conn), mode);
  }

  std::unique_ptr<PgConnection> acquire() {
    return pool_.acquire([&] { return std::make_unique<PgConnection>(conninfo_); });
  }

  // The schema in one transaction, under an advisory lock so that several
  // instances starting at once create it once (the second waits, then finds it).
  static void create_schema(PgConnection& c) {
    c.exec("BEGIN ISOLATION LEVEL READ COMMITTED", "schema");
    try {
      c.exec((std::string("SELECT pg_advisory_xact_lock(") + kSchemaLockKey + ")").c_str(),
             "schema lock");
      store_schema::migrate(
          store_schema::Dialect::postgres,
          [&](const char* sql, const char* what) { c.exec(sql, what); },
          [&](std::string_view sql) { return PgQuery(c, sql, "schema", nullptr); });
      std::string status;
      if (!c.try_exec("COMMIT", &status) || status != "COMMIT") {
        throw StorageError("storage: schema: commit failed");
      }
    } catch (...) {
      c.try_exec("ROLLBACK");
      throw;
    }
  }

  const std::string conninfo_;
  ConnectionPool<PgConnection> pool_;  // at most pool_size connections, idle + lent
  TransactionOwners owners_;           // threads with an open transaction
};

PostgresTx::PostgresTx(PostgresStore& store, std::unique_ptr<PgConnection> conn, TxMode mode)
    : store_(store), conn_(std::move(conn)), mode_(mode) {}

PostgresTx::~PostgresTx() {
  conn_->discard_pending();  // never sent: nothing to undo on the server
  if (!finished_ && !conn_->broken() && PQtransactionStatus(conn_->raw()) != PQTRANS_IDLE) {
    // Errors are ignored (a destructor must not throw); a connection left in
    // a transaction is dropped by release().
    conn_->try_exec("ROLLBACK");
  }
  store_.forget_owner(owner_);
  store_.release(std::move(conn_));
}

bool PostgresTx::commit() {
  if (finished_) return false;
  finished_ = true;
  if (status_.failed) {
    conn_->discard_pending();
    if (PQtransactionStatus(conn_->raw()) != PQTRANS_IDLE) conn_->try_exec("ROLLBACK");
    return false;
  }
  // Nothing ran: the BEGIN was never sent, so there is nothing to commit.
  if (conn_->only_begin_pending()) {
    conn_->discard_pending();
    return true;
  }
  // The queued statements (deferred writes) and COMMIT in one round trip.
  // COMMIT of a transaction PostgreSQL had aborted "succeeds" as ROLLBACK:
  // only the command tag COMMIT means the changes are durable.
  PgConnection::Deferred commit_statement;
  commit_statement.sql = "COMMIT";
  commit_statement.what = "commit";
  commit_statement.closes = true;
  PgConnection::PipelineResult r = conn_->run_pipeline(std::move(commit_statement));
  const std::string tag = r.ok && r.last ? PQcmdStatus(r.last) : "";
  PQclear(r.last);
  if (tag == "COMMIT") return true;
  // Never a StorageConnectionLost: the COMMIT was sent, and may have
  // happened although its answer was lost (a StorageUnavailable then:
  // throw_commit_failure asks lost_connection()).
  status_.note(r.ok ? "commit: answered " + tag : r.message, r.conflict, r.connection_lost);
  if (!conn_->broken() && PQtransactionStatus(conn_->raw()) != PQTRANS_IDLE) {
    conn_->try_exec("ROLLBACK");
  }
  return false;
}

}  // namespace

std::unique_ptr<Store> open_postgres_store(const std::string& conninfo, int pool_size) {
  return std::make_unique<PostgresStore>(conninfo, pool_size);
}

}  // namespace renkei::server
