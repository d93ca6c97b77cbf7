// The purge job of retention.h.
#include "retention.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

#include "storage.h"

namespace renkei::server {
namespace {

constexpr std::int64_t kSecondsPerDay = 86400;

void log_line(const std::string& text) {
  std::string line = "renkei: retention: " + text + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

PurgeCounts purge_expired(App& app) {
  const ServerConfig& c = app.config();
  const UnixSeconds now = app.now();
  PurgeCounts n;
  auto tx = app.store().begin();
  n.flows = tx->delete_flows_idle_since(now - c.flow_retention_days * kSecondsPerDay);
  n.call_events = tx->delete_call_events_before(now - c.call_event_retention_days * kSecondsPerDay);
  n.audit = tx->delete_audit_before(now - c.audit_retention_days * kSecondsPerDay);
  if (n.flows + n.call_events + n.audit > 0) {
    // The purge itself is on the record (and outlives what it deleted).
    AuditRecord a;
    a.at = now;
    a.step = "purge";
    a.outcome = "ok";
    a.actor = "system";
    a.detail = "flows=" + std::to_string(n.flows) +
               " call_events=" + std::to_string(n.call_events) +
               " audit=" + std::to_string(n.audit);
    tx->append_audit(a);
  }
  if (!tx->commit()) throw StorageError("storage: purge commit failed");
  Metrics& m = app.metrics();
  m.count("renkei_purged_rows_total", "kind=\"flows\"", n.flows);
  m.count("renkei_purged_rows_total", "kind=\"call_events\"", n.call_events);
  m.count("renkei_purged_rows_total", "kind=\"audit\"", n.audit);
  return n;
}

void RetentionWorker::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto interval = std::chrono::seconds(app_.config().purge_interval_seconds);
    while (!stopping_) {
      lock.unlock();
      try {
        PurgeCounts n = purge_expired(app_);
        if (n.flows + n.call_events + n.audit > 0) {
          log_line("purged flows=" + std::to_string(n.flows) + " call_events=" +
                   std::to_string(n.call_events) + " audit=" + std::to_string(n.audit));
        }
      } catch (const std::exception& e) {
        log_line(e.what());  // tried again at the next interval
      }
      lock.lock();
      cv_.wait_for(lock, interval, [this] { return stopping_; });
    }
  });
}

void RetentionWorker::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace renkei::server
