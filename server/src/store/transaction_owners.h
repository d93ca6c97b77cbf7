// The threads that hold an open transaction of one store, for both backends:
// a second Store::begin() on such a thread could wait for itself forever
// (SQLite's writer mutex or a reader of its pool, a pooled PostgreSQL
// connection or a row lock it holds), so that programming error is made loud
// instead (storage.h: one transaction per thread at a time).
#pragma once

#include <mutex>
#include <thread>
#include <unordered_set>

#include "store/storage_error.h"

namespace renkei::server {

class TransactionOwners {
 public:
  // Registers the calling thread as holding a transaction (its id, for
  // leave()); StorageError when it holds one already.
  std::thread::id enter() {
    const auto me = std::this_thread::get_id();
    std::lock_guard<std::mutex> lock(mutex_);
    if (!owners_.insert(me).second) throw StorageError("storage: nested transaction on one thread");
    return me;
  }
  // The transaction of `owner` ended, or its begin() failed.
  void leave(std::thread::id owner) {
    std::lock_guard<std::mutex> lock(mutex_);
    owners_.erase(owner);
  }
  // True when the calling thread holds a transaction.
  bool held_here() {
    std::lock_guard<std::mutex> lock(mutex_);
    return owners_.count(std::this_thread::get_id()) > 0;
  }

 private:
  std::mutex mutex_;
  std::unordered_set<std::thread::id> owners_;
};

}  // namespace renkei::server
