// Retention of personal data (issue 12): flows hold the customer's name,
// e-mail address and phone number; call events the masked caller; result
// mails the address and name; the operation log everything staff need. Each
// is kept only as long as the configuration says (ServerConfig::*_retention_days),
// then purged. (Mail already handed to the maildir or SMTP transport is that
// system's to keep.)
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "ops/app.h"

namespace renkei::server {

// How many rows one purge deleted.
struct PurgeCounts {
  int flows = 0;
  int call_events = 0;
  int audit = 0;
  int mails = 0;
  int total() const { return flows + call_events + audit + mails; }
  friend bool operator==(const PurgeCounts&, const PurgeCounts&) = default;
};

// Deletes the flows whose last step is older than flow_retention_days, the
// call events older than call_event_retention_days, the operation-log rows
// older than audit_retention_days and the sent or failed mails older than
// mail_retention_days (all relative to the app's clock), in batches of a few
// hundred rows per transaction; then writes one operation-log row saying how
// many went (actor "system", step "purge") and checkpoints the store so the
// deleted rows leave its write-ahead log. Throws StorageError on failure.
PurgeCounts purge_expired(App& app);

// Runs purge_expired every purge_interval_seconds on its own thread.
class RetentionWorker {
 public:
  explicit RetentionWorker(App& app) : app_(app) {}
  ~RetentionWorker() { stop(); }
  RetentionWorker(const RetentionWorker&) = delete;
  RetentionWorker& operator=(const RetentionWorker&) = delete;
  void start();
  void stop();

 private:
  App& app_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace renkei::server
