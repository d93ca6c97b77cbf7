// The operation log (SPEC §9). One of the repositories a StoreTx gives access
// to (storage.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "renkei/time.h"

namespace renkei::server {

// SPEC §9: one per step. Never the PIN, never the full phone number.
struct AuditRecord {
  std::int64_t id = 0;
  UnixSeconds at = 0;
  std::string flow_id;
  std::string step;            // event wire name, or "authorize", "token", "admin.lift_lock", …
  std::string outcome;         // "ok" or an ErrorCode wire name
  std::string account;         // "115-ordinary-1100026" or ""
  std::string name_kana;
  std::string masked_phone;
  std::string client_id;
  std::string ip;
  std::string user_agent;
  std::string actor;           // "customer", "app:<id>", "telephony", "staff:<name>", "system"
  std::string detail;          // short, non-secret note
  // Written only: "" for none, or a key chosen before the unit (a random
  // token) that makes the row's append idempotent: a second append with the
  // same key writes nothing, so a unit that only logs may run again after a
  // lost connection (with_idempotent_transaction, storage.h).
  std::string once_key;
};

struct AuditQuery {
  std::string account;         // exact, or empty
  std::string flow_id;         // exact, or empty
  std::string outcome;         // exact, or empty
  std::optional<UnixSeconds> from, to;
  int limit = 100;
  std::int64_t before_id = 0;  // paging: only ids < before_id (0 = newest)
};

class OperationLogRepository {
 public:
  // A failure fails the transaction, here or (PostgreSQL: sent with the
  // transaction's next statement or COMMIT) at that statement or commit().
  // A record with a once_key already in the log is not written again.
  virtual void append_audit(const AuditRecord& r) = 0;
  virtual std::vector<AuditRecord> query_audit(const AuditQuery& q) = 0;

 protected:
  ~OperationLogRepository() = default;
};

}  // namespace renkei::server
