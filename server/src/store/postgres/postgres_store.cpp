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
// one. A connection lost later in the transaction is a plain StorageError
// (the caller has seen answers), and so is one lost in a round trip that held
// the COMMIT, which PostgreSQL may have carried out without its answer
// arriving: such a transaction is never run twice.
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
// (PQprepare) and run with PQexecPrepared and text-format parameters. The SQL
// below is written with `?` placeholders like the SQLite backend's; they are
// numbered ($1, $2, …) once, when the statement is prepared.
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
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
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

constexpr std::int64_t kMinInt64 = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMaxInt64 = std::numeric_limits<std::int64_t>::max();
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
      throw StorageError(msg);
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
    if (!out.ok && batch.front().opens &&
        std::none_of(batch.begin(), batch.end(), [](const Deferred& d) { return d.closes; }) &&
        connection_gone(conn_, first_state)) {
      out.lost_before_anything_ran = true;
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
      // connection lost here lost nothing of it.
      if (begin_queued() && connection_gone(conn_, state)) throw StorageConnectionLost(msg);
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
  bool failed = false;      // a statement failed: PostgreSQL aborted the transaction
  bool conflicted = false;  // … with a deadlock or serialization failure
  std::string cause;        // the first failure: "<operation>: <SQLSTATE> <message>"

  // `message` is the thrown one, "storage: <cause>".
  void note(const std::string& message, bool conflict) {
    failed = true;
    if (conflict) conflicted = true;
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
      if (status) status->note(e.what(), false);
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
      PQclear(res_);
      res_ = nullptr;
    }
    // PostgreSQL aborts the whole transaction on an error: commit() must fail.
    if (status_) status_->note(msg, conflict);
    if (conflict) throw StorageConflict(msg);
    if (lost_before_anything_ran) throw StorageConnectionLost(msg);
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

// The filters shared by the three audit queries (the casts give the
// parameters a type where PostgreSQL cannot infer one from `? = ''`).
#define RENKEI_PG_AUDIT_FILTERS                                      \
  " (?::text = '' OR account = ?) AND (?::text = '' OR flow_id = ?)" \
  " AND (?::text = '' OR outcome = ?)"                               \
  " AND occurred_at >= ? AND occurred_at <= ? AND id < ?"            \
  " ORDER BY id DESC LIMIT ?"

// The statement as it is in a read-only transaction (where PostgreSQL
// refuses row locks), with " FOR UPDATE" appended in a read-write one. Both
// are string literals, as the prepared-statement cache needs.
#define RENKEI_PG_LOCKING(sql) \
  (read_only() ? std::string_view(sql) : std::string_view(sql " FOR UPDATE"))

// ---------- the store ----------

class PostgresStore;

class PostgresTx final : public StoreTx {
 public:
  PostgresTx(PostgresStore& store, std::unique_ptr<PgConnection> conn, TxMode mode);
  ~PostgresTx() override;

  [[nodiscard]] bool commit() override;
  TxMode mode() const override { return mode_; }
  bool conflicted() const override { return status_.conflicted; }
  std::string failure_cause() const override { return status_.cause; }

  std::optional<AccountRecord> find_account(const AccountRef& ref) override {
    PgQuery q = query("SELECT " RENKEI_ACCOUNT_COLUMNS
                      " FROM accounts WHERE branch = ? AND account_type = ? AND account_number = ?",
                      "find_account");
    q.binds(ref.branch, account_type_wire_name(ref.type), ref.number);
    if (!q.step()) return std::nullopt;
    return read_account(q);
  }

  std::optional<AccountRecord> account_by_id(std::int64_t id) override {
    PgQuery q =
        query("SELECT " RENKEI_ACCOUNT_COLUMNS " FROM accounts WHERE id = ?", "account_by_id");
    q.binds(id);
    if (!q.step()) return std::nullopt;
    return read_account(q);
  }

  std::optional<CustomerRecord> find_customer(const std::string& customer_id) override {
    CustomerRecord c;
    {
      PgQuery q =
          query("SELECT id, name_kana, birth_date FROM customers WHERE id = ?", "find_customer");
      q.binds(customer_id);
      if (!q.step()) return std::nullopt;
      c.id = q.text(0);
      c.name_kana = q.text(1);
      c.birth_date = q.text(2);
    }
    PgQuery q = query("SELECT phone FROM customer_phones WHERE customer_id = ? ORDER BY seq",
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
    PgQuery q = query(
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
    return q.int64(0);
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
    std::optional<std::string> cursor_date;
    if (before_id != 0) {
      PgQuery c = query("SELECT entry_date FROM ledger WHERE id = ? AND account_id = ?", "ledger");
      c.binds(before_id, account_id);
      if (c.step()) cursor_date = c.text(0);
    }
    if (cursor_date) {
      PgQuery q = query("SELECT " RENKEI_LEDGER_COLUMNS
                        " FROM ledger WHERE account_id = ? AND entry_date >= ? AND entry_date <= ?"
                        " AND (entry_date < ? OR (entry_date = ? AND id < ?))"
                        " ORDER BY entry_date DESC, id DESC LIMIT ?",
                        "ledger");
      q.binds(account_id, from, to, *cursor_date, *cursor_date, before_id, limit);
      while (q.step()) out.push_back(read_ledger(q));
    } else {
      PgQuery q = query("SELECT " RENKEI_LEDGER_COLUMNS
                        " FROM ledger WHERE account_id = ? AND entry_date >= ? AND entry_date <= ?"
                        " AND id < ? ORDER BY entry_date DESC, id DESC LIMIT ?",
                        "ledger");
      q.binds(account_id, from, to, before_id != 0 ? before_id : kMaxInt64, limit);
      while (q.step()) out.push_back(read_ledger(q));
    }
    return out;
  }

  void lock_for_seeding() override {
    // READ COMMITTED: the count after this lock sees what an instance that
    // seeded before us committed, so only the first one seeds.
    query("SELECT pg_advisory_xact_lock(hashtext('renkei.seed'))", "lock_for_seeding").run();
  }

  std::int64_t count_accounts() override {
    PgQuery q = query("SELECT COUNT(*) FROM accounts", "count_accounts");
    q.step();
    return q.int64(0);
  }

  LockState load_lock(std::int64_t account_id) override {
    if (read_only()) {
      PgQuery q =
          query("SELECT failures, locked_until FROM locks WHERE account_id = ?", "load_lock");
      q.binds(account_id);
      LockState s;
      if (q.step()) {
        s.failures = static_cast<int>(q.int64(0));
        s.locked_until = q.opt_int64(1);
      }
      return s;
    }
    // The counter row is created (zero failures, no lock) if missing and then
    // locked, so that two attempts in two transactions are serialized even on
    // an account that never failed before. A zero row reads as LockState{}
    // and is not listed by list_locks.
    query(
        "INSERT INTO locks (account_id, failures, locked_until)"
        " SELECT id, 0, NULL FROM accounts WHERE id = ?"
        " ON CONFLICT (account_id) DO NOTHING",
        "load_lock")
        .binds(account_id)
        .run();
    PgQuery q = query("SELECT failures, locked_until FROM locks WHERE account_id = ? FOR UPDATE",
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
    query(
        "INSERT INTO locks (account_id, failures, locked_until) VALUES (?, ?, ?)"
        " ON CONFLICT (account_id) DO UPDATE SET failures = excluded.failures,"
        " locked_until = excluded.locked_until",
        "save_lock")
        .binds(account_id, s.failures, s.locked_until)
        .run();
  }

  std::vector<std::pair<std::int64_t, LockState>> list_locks() override {
    PgQuery q = query(
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
    PgQuery q = query(
        RENKEI_PG_LOCKING("SELECT " RENKEI_FLOW_COLUMNS " FROM flows WHERE session_digest = ?"),
        "flow_by_session");
    q.binds(session_digest);
    if (!q.step()) return std::nullopt;
    return read_flow(q);
  }

  std::optional<FlowRecord> flow_by_id(const std::string& flow_id) override {
    PgQuery q =
        query(RENKEI_PG_LOCKING("SELECT " RENKEI_FLOW_COLUMNS " FROM flows WHERE flow_id = ?"),
              "flow_by_id");
    q.binds(flow_id);
    if (!q.step()) return std::nullopt;
    return read_flow(q);
  }

  // Deferred (top of this file): a flow that is not there fails the
  // transaction at its next statement or COMMIT ("update_flow: no such flow").
  // The statement fails by itself when it changes no row (1 / COUNT(*) of
  // the changed rows: division by zero, SQLSTATE 22012): its COMMIT may be in
  // the same round trip, and a statement that merely changed nothing would
  // let that COMMIT keep the transaction's other changes.
  void update_flow(const FlowRecord& f) override {
    const FlowIndexColumns c = flow_index_columns(f);
    PgQuery q = query(
        "WITH changed AS (UPDATE flows SET session_digest = ?, csrf_token = ?, client_id = ?,"
        " redirect_uri = ?, oauth_state = ?, code_challenge = ?, scope = ?, state_json = ?,"
        " screen = ?, call_dialled = ?, call_opened_at = ?, call_expires_at = ?,"
        " account_id = ?, client_ip = ?, user_agent = ?, created_at = ?, updated_at = ?"
        " WHERE flow_id = ? RETURNING 1)"
        " SELECT 1 / COUNT(*) FROM changed",
        "update_flow");
    q.binds(f.session_digest, f.csrf_token, f.client_id, f.redirect_uri, f.oauth_state,
            f.code_challenge, f.scope, c.state_json, c.screen, c.call_dialled, c.call_opened_at,
            c.call_expires_at, f.account_id, f.client_ip, f.user_agent, f.created_at, f.updated_at,
            f.flow_id);
    defer(q, "update_flow: no such flow");
  }

  std::vector<FlowRecord> flows_waiting_for_call(const std::string& dialled,
                                                 UnixSeconds now) override {
    // Two locks. The matched flow's row (FOR UPDATE): the webhook moves it on
    // in the same transaction. And the dialled number itself (a transaction
    // advisory lock): the waiting list of a number is also read to choose a
    // free number (pick_call_number), and a flow that starts waiting is a new
    // row no row lock can cover; so whoever reads a number's waiting list
    // holds the number until commit, as SQLite's single writer did, and two
    // flows of one phone cannot pick the same number at once.
    if (!read_only()) {
      query("SELECT pg_advisory_xact_lock(hashtext('renkei.dialled'), hashtext(?))",
            "flows_waiting_for_call")
          .binds(dialled)
          .run();
    }
    PgQuery q = query(RENKEI_PG_LOCKING("SELECT " RENKEI_FLOW_COLUMNS
                                        " FROM flows WHERE call_dialled = ? AND screen = ?"
                                        " AND call_expires_at >= ? AND call_opened_at <= ?"
                                        " ORDER BY call_opened_at DESC, flow_id"),
                      "flows_waiting_for_call");
    q.binds(dialled, screen_wire_name(Screen::call_wait), now, now);
    std::vector<FlowRecord> out;
    while (q.step()) out.push_back(read_flow(q));
    return out;
  }

  std::vector<FlowRecord> flows_waiting_for_any_call(UnixSeconds now) override {
    // No row lock: the choice reads the waiting flows and changes none of them.
    PgQuery q =
        query("SELECT " RENKEI_FLOW_COLUMNS
              " FROM flows WHERE screen = ? AND call_expires_at >= ? AND call_opened_at <= ?",
              "flows_waiting_for_any_call");
    q.binds(screen_wire_name(Screen::call_wait), now, now);
    std::vector<FlowRecord> out;
    while (q.step()) out.push_back(read_flow(q));
    return out;
  }
  void hold_phone_for_call_pick(const std::string& phone) override {
    if (read_only())
      throw StorageError("storage: hold_phone_for_call_pick in a read-only transaction");
    query("SELECT pg_advisory_xact_lock(hashtext('renkei.phone'), hashtext(?))",
          "hold_phone_for_call_pick")
        .binds(phone)
        .run();
  }

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
    PgQuery q = query("SELECT " RENKEI_FLOW_COLUMNS
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
      PgQuery q = query(
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
      PgQuery q = query(
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
    // The row lock makes a second, concurrent exchange of the same code wait
    // for this transaction and then read used = true (a replay).
    AuthorizationCodeRecord c;
    {
      PgQuery q = query(
          "SELECT code_digest, client_id, redirect_uri, code_challenge, grant_id, expires_at,"
          " used, dpop_jkt FROM authorization_codes WHERE code_digest = ? FOR UPDATE",
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
      query("UPDATE authorization_codes SET used = true WHERE code_digest = ?", "consume_code")
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
    PgQuery q = query(RENKEI_PG_LOCKING("SELECT " RENKEI_GRANT_COLUMNS " FROM grants WHERE id = ?"),
                      "find_grant");
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
    PgQuery q = query("SELECT " RENKEI_GRANT_COLUMNS
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
      query("SELECT id FROM grants WHERE id = ? FOR UPDATE", "find_token").binds(grant_id).run();
    }
    PgQuery q = query(
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
    query("UPDATE tokens SET revoked = true WHERE token_digest = ?", "revoke_token")
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
      PgQuery q = query(
          "SELECT request_uri_digest, client_id, params_json, expires_at, used"
          " FROM pushed_requests WHERE request_uri_digest = ? FOR UPDATE",
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
      query("UPDATE pushed_requests SET used = true WHERE request_uri_digest = ?",
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
    query("UPDATE tokens SET revoked = true WHERE grant_id = ?", "revoke_tokens_of_grant")
        .binds(grant_id)
        .run();
  }

  std::int64_t enqueue_mail(const MailRecord& m) override {
    PgQuery q = query(
        "INSERT INTO mails (to_addr, subject, body, flow_id, created_at, next_attempt_at,"
        " attempts, state, last_error, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " RETURNING id",
        "enqueue_mail");
    q.binds(m.to, m.subject, m.body, m.flow_id, m.created_at, m.next_attempt_at, m.attempts,
            mail_state_wire_name(m.state), m.last_error, m.sent_at);
    if (!q.step()) throw StorageError("storage: enqueue_mail: no id returned");
    return q.int64(0);
  }

  std::vector<MailRecord> due_mails(UnixSeconds now, int limit) override {
    std::vector<MailRecord> out;
    if (limit <= 0) return out;
    // SKIP LOCKED: mails another instance is claiming right now are left to
    // it; this one claims the next ones instead of waiting.
    PgQuery q =
        query(read_only()
                  ? std::string_view("SELECT " RENKEI_MAIL_COLUMNS " FROM mails WHERE state = ? AND"
                                     " next_attempt_at <= ?"
                                     " ORDER BY next_attempt_at, id LIMIT ?")
                  : std::string_view("SELECT " RENKEI_MAIL_COLUMNS " FROM mails WHERE state = ? AND"
                                     " next_attempt_at <= ?"
                                     " ORDER BY next_attempt_at, id LIMIT ?"
                                     " FOR UPDATE SKIP LOCKED"),
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
    PgQuery q =
        query("SELECT " RENKEI_MAIL_COLUMNS " FROM mails ORDER BY id DESC LIMIT ?", "list_mails");
    q.binds(limit);
    while (q.step()) out.push_back(read_mail(q));
    return out;
  }

  std::optional<MailRecord> mail_by_id(std::int64_t id) override {
    PgQuery q = query(RENKEI_PG_LOCKING("SELECT " RENKEI_MAIL_COLUMNS " FROM mails WHERE id = ?"),
                      "mail_by_id");
    q.binds(id);
    if (!q.step()) return std::nullopt;
    return read_mail(q);
  }

  // Deferred (top of this file).
  void append_audit(const AuditRecord& r) override {
    PgQuery q = query(
        "INSERT INTO audit (occurred_at, flow_id, step, outcome, account, name_kana,"
        " masked_phone, client_id, ip, user_agent, actor, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "append_audit");
    q.binds(r.at, r.flow_id, r.step, r.outcome, r.account, r.name_kana, r.masked_phone, r.client_id,
            r.ip, r.user_agent, r.actor, r.detail);
    defer(q, nullptr);
  }

  std::vector<AuditRecord> query_audit(const AuditQuery& aq) override {
    check_open();
    std::vector<AuditRecord> out;
    if (aq.limit <= 0) return out;
    std::optional<PgQuery> q;
    if (!aq.account.empty()) {
      q.emplace(*conn_,
                "SELECT " RENKEI_AUDIT_COLUMNS
                " FROM audit WHERE account = ? AND" RENKEI_PG_AUDIT_FILTERS,
                "query_audit", &status_);
      q->binds(aq.account);
    } else if (!aq.flow_id.empty()) {
      q.emplace(*conn_,
                "SELECT " RENKEI_AUDIT_COLUMNS
                " FROM audit WHERE flow_id = ? AND" RENKEI_PG_AUDIT_FILTERS,
                "query_audit", &status_);
      q->binds(aq.flow_id);
    } else {
      q.emplace(*conn_, "SELECT " RENKEI_AUDIT_COLUMNS " FROM audit WHERE" RENKEI_PG_AUDIT_FILTERS,
                "query_audit", &status_);
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

  std::optional<CallEventRecord> find_call_event(const std::string& provider_call_id) override {
    PgQuery q = query(
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

  std::vector<MaintenanceWindow> list_maintenance() override {
    std::vector<MaintenanceWindow> out;
    for (auto& [id, w] : list_maintenance_with_ids()) out.push_back(std::move(w));
    return out;
  }

  std::int64_t add_maintenance(const MaintenanceWindow& w) override {
    PgQuery q = query(
        "INSERT INTO maintenance_windows (start_at, end_at, label) VALUES (?, ?, ?)"
        " RETURNING id",
        "add_maintenance");
    q.binds(w.start, w.end, w.label);
    if (!q.step()) throw StorageError("storage: add_maintenance: no id returned");
    return q.int64(0);
  }

  bool remove_maintenance(std::int64_t id) override {
    return query("DELETE FROM maintenance_windows WHERE id = ?", "remove_maintenance")
               .binds(id)
               .run() > 0;
  }

  std::vector<std::pair<std::int64_t, MaintenanceWindow>> list_maintenance_with_ids() override {
    PgQuery q =
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

  static ClientRecord read_client(const PgQuery& q) {
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
    PgQuery q = query("SELECT uri FROM client_redirect_uris WHERE client_id = ? ORDER BY seq",
                      "redirect_uris");
    q.binds(client_id);
    std::vector<std::string> out;
    while (q.step()) out.push_back(q.text(0));
    return out;
  }

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
      : conninfo_(std::move(conninfo)), pool_size_(std::max(1, pool_size)) {
    auto conn = std::make_unique<PgConnection>(conninfo_);
    create_schema(*conn);
    idle_.push_back(std::move(conn));
    open_ = 1;
  }

  void checkpoint() override {
    // PostgreSQL recycles WAL segments itself; a CHECKPOINT needs superuser
    // (or pg_checkpoint) rights, which the server's role should not have.
    // Deleted rows leave the heap at the next VACUUM (autovacuum).
  }

  // Gives a connection back to the pool (or drops it when it broke).
  void release(std::unique_ptr<PgConnection> conn) {
    conn->discard_pending();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (conn->broken() || PQtransactionStatus(conn->raw()) != PQTRANS_IDLE) {
        --open_;  // dropped; a new one is opened when needed
      } else {
        idle_.push_back(std::move(conn));
      }
    }
    cv_.notify_one();
  }
  void forget_owner(std::thread::id owner) {
    std::lock_guard<std::mutex> lock(owners_mutex_);
    owners_.erase(owner);
  }
  // A pooled connection that cannot be used: closed, and its place freed.
  void drop(std::unique_ptr<PgConnection> conn) {
    conn.reset();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --open_;
    }
    cv_.notify_one();
  }

 protected:
  std::unique_ptr<StoreTx> start(TxMode mode) override {
    // A second begin() on the thread that holds an open transaction could
    // wait for a connection (or a row lock) held by itself: make that
    // programming error loud, as the SQLite store does.
    const auto me = std::this_thread::get_id();
    {
      std::lock_guard<std::mutex> lock(owners_mutex_);
      if (owners_.count(me)) throw StorageError("storage: nested transaction on one thread");
    }
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
      if (attempt >= pool_size_) throw StorageError("storage: begin: no working connection");
    }
    PgConnection::Deferred begin;
    begin.sql = mode == TxMode::read_only ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                                          : "BEGIN ISOLATION LEVEL READ COMMITTED";
    begin.what = "begin";
    begin.opens = true;
    conn->queue(std::move(begin));
    {
      std::lock_guard<std::mutex> lock(owners_mutex_);
      owners_.insert(me);
    }
    return std::make_unique<PostgresTx>(*this, std::move(conn), mode);
  }

 private:
  std::unique_ptr<PgConnection> acquire() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < pool_size_; });
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    ++open_;
    lock.unlock();
    try {
      return std::make_unique<PgConnection>(conninfo_);
    } catch (...) {
      lock.lock();
      --open_;
      lock.unlock();
      cv_.notify_one();
      throw;
    }
  }

  // The schema in one transaction, under an advisory lock so that several
  // instances starting at once create it once (the second waits, then finds it).
  static void create_schema(PgConnection& c) {
    const int current = store_schema::version();
    c.exec("BEGIN ISOLATION LEVEL READ COMMITTED", "schema");
    try {
      c.exec((std::string("SELECT pg_advisory_xact_lock(") + kSchemaLockKey + ")").c_str(),
             "schema lock");
      c.exec("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)", "schema");
      std::optional<std::int64_t> version;
      {
        PgQuery q(c, "SELECT MAX(version) FROM schema_version", "schema", nullptr);
        if (q.step()) version = q.opt_int64(0);
      }
      if (version && *version < 1) {
        throw StorageError("storage: the database has an unknown schema version " +
                           std::to_string(*version));
      }
      if (version && *version > current) {
        throw StorageError("storage: the database has schema version " + std::to_string(*version) +
                           ", newer than this server's " + std::to_string(current));
      }
      // Every migration above the database's version, in order (all of
      // them for a new database), in this one transaction.
      for (const auto& m : store_schema::migrations(store_schema::Dialect::postgres)) {
        if (m.version > version.value_or(0)) c.exec(m.sql, "migration");
      }
      if (!version) {
        PgQuery(c, "INSERT INTO schema_version (version) VALUES (?)", "schema", nullptr)
            .binds(current)
            .run();
      } else if (*version < current) {
        PgQuery(c, "UPDATE schema_version SET version = ?", "schema", nullptr).binds(current).run();
      }
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
  const int pool_size_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<PgConnection>> idle_;
  int open_ = 0;  // connections in existence: idle + lent to transactions
  std::mutex owners_mutex_;
  std::unordered_set<std::thread::id> owners_;
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
  // happened although its answer was lost.
  status_.note(r.ok ? "commit: answered " + tag : r.message, r.conflict);
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
