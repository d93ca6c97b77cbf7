// The lockout counter of each account (B84). One of the repositories a
// StoreTx gives access to (storage.h).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "renkei/lockout_policy.h"

namespace renkei::server {

class LockRepository {
 public:
  // The account's counter, locked until the transaction ends when the
  // transaction is read-write: a second transaction that loads the same
  // counter waits, so read → core decides → save_lock is exact under any
  // number of parallel attempts on any number of instances. The lock is taken
  // even when the account never failed before (insert-or-lock: PostgreSQL
  // inserts a zero row if missing, then SELECT … FOR UPDATE; SQLite's single
  // writer excludes every other writer anyway). A zero row reads as LockState{}.
  virtual LockState load_lock(std::int64_t account_id) = 0;
  virtual void save_lock(std::int64_t account_id, const LockState& s) = 0;
  // Accounts with failures > 0 or a lock set.
  virtual std::vector<std::pair<std::int64_t, LockState>> list_locks() = 0;

 protected:
  ~LockRepository() = default;
};

}  // namespace renkei::server
