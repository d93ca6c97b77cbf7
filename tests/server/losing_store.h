// A PostgreSQL store for server tests whose transactions lose their pooled
// connection on cue, at the one moment the store cannot see: after begin()
// (the pool's poll found the connection open, the BEGIN is only queued) and
// before the transaction's first round trip. The backend is ended with
// pg_terminate_backend(pid, 5000), which returns once it is gone, so the loss
// happens every time, without sleeps: the first statement then throws
// StorageConnectionLost (storage_error.h), and only a unit that
// with_transaction (storage.h) runs again can still succeed.
// TestServer::losing_connections (test_server.h) serves over one.
#pragma once

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "postgres_test_database.h"
#include "store/storage.h"

namespace renkei::server::testing {

class ConnectionLosingStore : public Store {
 public:
  ConnectionLosingStore(std::unique_ptr<Store> inner, std::string conninfo)
      : inner_(std::move(inner)), conninfo_(std::move(conninfo)) {}

  // While on, every other transaction begun, starting with the next one,
  // loses its connection; the one begun after a lost one keeps it. A request
  // whose units run one after another on one thread (with_transaction reruns
  // a lost unit at once) so has the first attempt of each of its units lost.
  void lose_first_connections(bool on) {
    std::lock_guard<std::mutex> lock(mutex_);
    losing_ = on;
    spare_next_ = false;
  }
  // Connections ended so far.
  int lost() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lost_;
  }

  void checkpoint() override { inner_->checkpoint(); }

 protected:
  std::unique_ptr<StoreTx> start(TxMode mode) override {
    std::unique_ptr<StoreTx> tx = inner_->begin(mode);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!losing_) return tx;
    if (spare_next_) {
      spare_next_ = false;
      return tx;
    }
    // Every backend of the test database but the asking one: the pool's
    // other idle connections go too, and the pool's poll drops them later.
    const std::string error =
        postgres_exec(conninfo_,
                      "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                      " WHERE datname = current_database() AND pid <> pg_backend_pid()");
    if (!error.empty()) throw std::runtime_error("pg_terminate_backend: " + error);
    ++lost_;
    spare_next_ = true;
    return tx;
  }

 private:
  std::unique_ptr<Store> inner_;
  std::string conninfo_;
  mutable std::mutex mutex_;
  bool losing_ = false;
  bool spare_next_ = false;
  int lost_ = 0;
};

}  // namespace renkei::server::testing
