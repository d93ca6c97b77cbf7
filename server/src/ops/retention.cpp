// The purge job of retention.h.
#include "ops/retention.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>

#include "store/storage.h"

namespace renkei::server {
namespace {

constexpr std::int64_t kSecondsPerDay = 86400;
// Rows deleted per transaction: the single writer is held for milliseconds,
// never for the whole backlog (the first purge after an upgrade may find
// months of flows).
constexpr int kBatch = 500;

void log_line(const std::string& text) {
  std::string line = "renkei: retention: " + text + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

// Deletes in batches of kBatch, one transaction each, until a batch comes
// back short. Returns how many rows went.
int delete_in_batches(Store& store, const std::function<int(RetentionRepository&)>& one_batch) {
  int total = 0;
  for (;;) {
    const int n = with_transaction(store, TxMode::read_write,
                                   [&](RetentionRepository& tx) { return one_batch(tx); });
    total += n;
    if (n < kBatch) return total;
  }
}

std::string describe(const PurgeCounts& n) {
  return "flows=" + std::to_string(n.flows) + " call_events=" + std::to_string(n.call_events) +
         " audit=" + std::to_string(n.audit) + " mails=" + std::to_string(n.mails);
}

}  // namespace

PurgeCounts purge_expired(App& app) {
  const ServerConfig& c = app.config();
  const UnixSeconds now = app.now();
  Store& store = app.store();
  PurgeCounts n;
  const UnixSeconds flows_before = now - c.flow_retention_days * kSecondsPerDay;
  const UnixSeconds calls_before = now - c.call_event_retention_days * kSecondsPerDay;
  const UnixSeconds audit_before = now - c.audit_retention_days * kSecondsPerDay;
  const UnixSeconds mails_before = now - c.mail_retention_days * kSecondsPerDay;
  n.flows = delete_in_batches(store, [&](RetentionRepository& tx) {
    return tx.delete_flows_idle_since(flows_before, kBatch);
  });
  n.call_events = delete_in_batches(store, [&](RetentionRepository& tx) {
    return tx.delete_call_events_before(calls_before, kBatch);
  });
  n.audit = delete_in_batches(
      store, [&](RetentionRepository& tx) { return tx.delete_audit_before(audit_before, kBatch); });
  n.mails = delete_in_batches(store, [&](RetentionRepository& tx) {
    return tx.delete_finished_mails_before(mails_before, kBatch);
  });
  // Pushed requests and seen JWT ids (FAPI 2.0) are useless once expired: they
  // go without being counted or logged (they hold nothing personal).
  delete_in_batches(
      store, [&](RetentionRepository& tx) { return tx.delete_expired_fapi_rows(now, kBatch); });
  if (n.total() > 0) {
    {
      // The purge itself is on the record (and outlives what it deleted).
      AuditRecord a;
      a.at = now;
      a.step = "purge";
      a.outcome = "ok";
      a.actor = "system";
      a.detail = describe(n);
      // Only a log row (on PostgreSQL one round trip with its COMMIT):
      // idempotent by its once_key, so a lost connection runs it again.
      a.once_key = app.random().token();
      with_idempotent_transaction(store, [&](OperationLogRepository& log) { log.append_audit(a); });
    }
    store.checkpoint();  // the deleted rows leave the write-ahead log too
  }
  Metrics& m = app.metrics();
  m.count("renkei_purged_rows_total", "kind=\"flows\"", n.flows);
  m.count("renkei_purged_rows_total", "kind=\"call_events\"", n.call_events);
  m.count("renkei_purged_rows_total", "kind=\"audit\"", n.audit);
  m.count("renkei_purged_rows_total", "kind=\"mails\"", n.mails);
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
        if (n.total() > 0) log_line("purged " + describe(n));
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
