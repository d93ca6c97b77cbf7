// The result e-mail (SPEC §8): written to the outbox in the transaction that
// completes the flow, delivered by a background worker with retries.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ops/app.h"
#include "store/storage.h"

namespace renkei::server {

// Puts the result mail for a completed flow into the outbox (same tx).
void enqueue_result_mail(MailOutboxRepository& tx, const App& app, const FlowRecord& flow,
                         const std::string& client_display_name, UnixSeconds now);

// How a mail leaves the building.
class MailTransport {
 public:
  virtual ~MailTransport() = default;
  // Delivers one message; false with *error set on failure (retried later).
  virtual bool send(const MailRecord& mail, const std::string& from, std::string* error) = 0;
  // Makes what send() delivered survive a power loss; false with *error set
  // when it could not (the worker then counts the delivery as a failed
  // attempt and sends the mail again later). The worker calls it after each
  // delivery, before it records the mail as sent. SMTP needs nothing: a
  // server's 250 OK is its promise.
  virtual bool make_durable(std::string* /*error*/) { return true; }
};
// One RFC 5322 file per message in <dir>/new (maildir), written atomically via tmp/;
// make_durable() fsyncs new/, so that the rename is on disk.
std::unique_ptr<MailTransport> make_maildir_transport(const std::string& dir);
// SMTP through libcurl (smtp://host:port).
std::unique_ptr<MailTransport> make_smtp_transport(const std::string& url);
std::unique_ptr<MailTransport> make_transport(const ServerConfig& config);

// The RFC 5322 text of a mail (UTF-8 body, MIME-encoded subject).
std::string render_rfc5322(const MailRecord& mail, const std::string& from, UnixSeconds now);

// Background delivery with exponential backoff (30 s, doubling, capped at 1 h),
// giving up after mail_max_attempts (state failed, still listed for staff).
class MailWorker {
 public:
  MailWorker(App& app, std::unique_ptr<MailTransport> transport);
  ~MailWorker();  // stops and joins
  void start();
  void stop();
  void wake();
  // Delivers what is due now, once (tests). Returns how many were sent.
  int run_once();

 private:
  App& app_;
  std::unique_ptr<MailTransport> transport_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
};

}  // namespace renkei::server
