// Where the server's "now" comes from. The core never reads a clock; the server
// reads this one, so tests and the development console can move time (the
// service calendar and the lock's lifting at 0:00 JST depend on it).
#pragma once

#include <atomic>
#include <chrono>

#include "renkei/time.h"

namespace renkei::server {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual UnixSeconds now() const = 0;
};

// The machine's clock.
class SystemClock final : public Clock {
 public:
  UnixSeconds now() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// The machine's clock plus an offset that can be changed at run time
// (development mode with --movable-clock, and tests). Thread-safe.
class MovableClock final : public Clock {
 public:
  UnixSeconds now() const override { return base_.now() + offset_.load(); }
  void set(UnixSeconds t) { offset_.store(t - base_.now()); }
  void advance(std::int64_t seconds) { offset_.fetch_add(seconds); }
  std::int64_t offset() const { return offset_.load(); }

 private:
  SystemClock base_;
  std::atomic<std::int64_t> offset_{0};
};

// A clock that only moves when told to (unit and integration tests).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(UnixSeconds t) : t_(t) {}
  UnixSeconds now() const override { return t_.load(); }
  void set(UnixSeconds t) { t_.store(t); }
  void advance(std::int64_t seconds) { t_.fetch_add(seconds); }

 private:
  std::atomic<UnixSeconds> t_;
};

}  // namespace renkei::server
