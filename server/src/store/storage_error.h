// The two errors of the store (storage.h).
#pragma once

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
// when the COMMIT may have happened) is a plain StorageError.
struct StorageConnectionLost : StorageError {
  using StorageError::StorageError;
};

}  // namespace renkei::server
