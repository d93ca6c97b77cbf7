// The outbox of result mails (written in the flow's transaction, delivered by
// MailWorker). One of the repositories a StoreTx gives access to (storage.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "renkei/time.h"

namespace renkei::server {

enum class MailState { pending, sent, failed };
struct MailRecord {
  std::int64_t id = 0;
  std::string to;
  std::string subject;
  std::string body;            // UTF-8 text
  std::string flow_id;
  UnixSeconds created_at = 0;
  UnixSeconds next_attempt_at = 0;
  int attempts = 0;
  MailState state = MailState::pending;
  std::string last_error;
  std::optional<UnixSeconds> sent_at;
};

class MailOutboxRepository {
 public:
  virtual std::int64_t enqueue_mail(const MailRecord& m) = 0;
  // Pending mails due at `now`. Read-write: claimed (PostgreSQL FOR UPDATE
  // SKIP LOCKED), so concurrent claimers on several instances get different ones.
  virtual std::vector<MailRecord> due_mails(UnixSeconds now, int limit) = 0;
  virtual void update_mail(const MailRecord& m) = 0;
  virtual std::vector<MailRecord> list_mails(int limit) = 0;
  // Read-write: locked until the transaction ends.
  virtual std::optional<MailRecord> mail_by_id(std::int64_t id) = 0;

 protected:
  ~MailOutboxRepository() = default;
};

}  // namespace renkei::server
