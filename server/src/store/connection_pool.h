// A bounded pool of database connections, shared by the two backends: the
// PostgreSQL store's connections (postgres_store.cpp) and the SQLite store's
// read-only connections (sqlite_store.cpp). At most `capacity` connections
// exist at once, idle or lent; a new one is opened only when none is idle
// and fewer than that exist, outside the pool's lock (opening takes a round
// trip or a file open), and a thread that finds the pool exhausted waits
// for a connection to come back.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace renkei::server {

template <class Connection>
class ConnectionPool {
 public:
  explicit ConnectionPool(std::size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

  std::size_t capacity() const { return capacity_; }

  // An idle connection (the one given back last), or a new one from
  // `open()` while fewer than capacity() exist; otherwise waits for one to be
  // given back or dropped. When open() throws, its place is freed and the
  // exception propagates.
  template <class Open>
  std::unique_ptr<Connection> acquire(Open&& open) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < capacity_; });
    if (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    ++open_;
    lock.unlock();
    try {
      return open();
    } catch (...) {
      forget();
      throw;
    }
  }

  // A connection opened without acquire() (the store's first, at start-up)
  // joins the pool as idle and counts towards capacity().
  void adopt(std::unique_ptr<Connection> conn) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++open_;
      idle_.push_back(std::move(conn));
    }
    cv_.notify_one();
  }

  // A lent connection comes back: idle again when `keep`, else closed
  // (outside the lock) before its place is freed, so that no more than
  // capacity() ever exist.
  void give_back(std::unique_ptr<Connection> conn, bool keep) {
    if (!keep) {
      conn.reset();
      forget();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      idle_.push_back(std::move(conn));
    }
    cv_.notify_one();
  }

 private:
  // One connection less exists (it failed to open, or was dropped).
  void forget() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --open_;
    }
    cv_.notify_one();
  }

  const std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;  // connections in existence: idle + lent
};

}  // namespace renkei::server
