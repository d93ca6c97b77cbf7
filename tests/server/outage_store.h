// A store for server tests that fails on cue the way a database outage does:
// while armed, begin() throws the chosen error (StorageUnavailable: the
// database cannot be reached; StorageConflict: a lock held elsewhere beyond
// every rerun, as SQLite busy beyond its busy timeout; a plain StorageError:
// a true internal failure), for every transaction or only read-write ones
// (so that a request's reads succeed and its write is what fails).
// TestServer::with_store (test_server.h) serves over one.
#pragma once

#include <atomic>
#include <memory>
#include <utility>

#include "store/storage.h"

namespace renkei::server::testing {

class OutageStore : public Store {
 public:
  enum class Failure { none, unavailable, conflict, internal, outcome_unknown };

  explicit OutageStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

  void fail(Failure failure, bool read_write_only = false) {
    read_write_only_ = read_write_only;
    failure_ = failure;
  }
  // Transactions refused so far.
  int refused() const { return refused_; }

  void checkpoint() override { inner_->checkpoint(); }

 protected:
  std::unique_ptr<StoreTx> start(TxMode mode) override {
    const Failure f = failure_;
    if (f != Failure::none && (!read_write_only_ || mode == TxMode::read_write)) {
      ++refused_;
      switch (f) {
        case Failure::unavailable:
          throw StorageUnavailable("storage: test outage: cannot connect");
        case Failure::conflict:
          throw StorageConflict("storage: test outage: database is locked");
        case Failure::outcome_unknown:
          throw StorageOutcomeUnknown("storage: test outage: connection lost with the COMMIT");
        default:
          throw StorageError("storage: test failure: no such table");
      }
    }
    return inner_->begin(mode);
  }

 private:
  std::unique_ptr<Store> inner_;
  std::atomic<Failure> failure_{Failure::none};
  std::atomic<bool> read_write_only_{false};
  std::atomic<int> refused_{0};
};

}  // namespace renkei::server::testing
