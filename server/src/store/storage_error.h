// The errors of the store (storage.h).
#pragma once

#include <exception>
#include <stdexcept>

namespace renkei::server {

// Any failure of the store: the database cannot be reached, a statement
// failed, a constraint was violated, a write was attempted in a read-only
// transaction. The transaction it happened in is lost (commit() returns
// false); the HTTP layer answers system_error. The message never holds a
// bound value or the connection string.
struct StorageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A failure that says nothing about the unit of work itself, only about its
// timing: it met another transaction (PostgreSQL SQLSTATE 40001
// serialization_failure or 40P01 deadlock_detected; SQLite SQLITE_BUSY once
// the busy timeout ran out). Running the whole transaction again is correct
// and usually succeeds: with_transaction (storage.h) does exactly that.
struct StorageConflict : StorageError {
  using StorageError::StorageError;
};

// The database cannot serve the unit now, for a reason that is the
// database's and not the unit's: it cannot be reached (PostgreSQL down,
// refusing connections, no working connection in the pool; a SQLite file
// that cannot be opened), or the connection broke in the middle of the
// transaction (PostgreSQL: after a statement was answered, or with the COMMIT
// under way, so the unit is not run again: it may have taken effect). The
// HTTP layer answers system_error with 503 Service Unavailable and a
// Retry-After (is_storage_outage), not 500: the same request may succeed once
// the database is back.
struct StorageUnavailable : StorageError {
  using StorageError::StorageError;
};

// The connection to the database broke before anything of the transaction
// could have taken effect: PostgreSQL closed a pooled connection after the
// store's check that it was open, and the transaction's first round trip
// (its queued BEGIN, any queued writes and its first statement, never a
// COMMIT) failed because the connection was gone, not because of a
// statement. No statement of it was acknowledged and no COMMIT was sent, so
// PostgreSQL can have kept nothing of it; the broken connection is dropped
// from the pool, and running the whole transaction again on another one is
// correct: with_transaction (storage.h) does exactly that. A connection lost
// later (after a statement was acknowledged, or with the COMMIT under way,
// when the COMMIT may have happened) is a StorageOutcomeUnknown.
// Left over from with_transaction's last attempt, it is an outage like any
// StorageUnavailable.
struct StorageConnectionLost : StorageUnavailable {
  using StorageUnavailable::StorageUnavailable;
};

// The connection to the database broke after something of the transaction
// may have taken effect: a statement of it was already answered, or the
// round trip that held its COMMIT got no answer (PostgreSQL may have
// committed). An outage (StorageUnavailable) whose unit with_transaction
// never runs again; with_idempotent_transaction (storage.h) does, for a unit
// whose writes take effect at most once however often it runs (an operation
// log row with its once_key: operation_log_repository.h).
struct StorageOutcomeUnknown : StorageUnavailable {
  using StorageUnavailable::StorageUnavailable;
};

// True for a failure of the store that is an outage, not an error in the
// request or the program: a StorageUnavailable (StorageConnectionLost
// included), or a StorageConflict that outlasted with_transaction's reruns
// (SQLite: another process held the database beyond the busy timeout each
// time; PostgreSQL: deadlocks or serialization failures over and over).
// Trying again later is what helps: HTTP 503 with Retry-After. Not a
// StorageOutcomeUnknown: its unit may have taken effect, and a client told
// to try again would repeat it (a code exchange that committed would come back
// as a replay and revoke the grant); it stays a 500 without Retry-After.
inline bool is_storage_outage(const std::exception& e) {
  if (dynamic_cast<const StorageOutcomeUnknown*>(&e) != nullptr) return false;
  return dynamic_cast<const StorageUnavailable*>(&e) != nullptr ||
         dynamic_cast<const StorageConflict*>(&e) != nullptr;
}

}  // namespace renkei::server
