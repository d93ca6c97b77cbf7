// Retention: what the purge job deletes (ops/retention.cpp). One of the
// repositories a StoreTx gives access to (storage.h).
#pragma once

#include "renkei/time.h"

namespace renkei::server {

class RetentionRepository {
 public:
  // Each deletes at most `limit` rows older than `before` and returns how
  // many (the job deletes in batches, so that one purge never holds the
  // writer for long). Flows count from their last step, mails from when they
  // were written; a mail still pending is never deleted.
  virtual int delete_flows_idle_since(UnixSeconds before, int limit) = 0;
  virtual int delete_call_events_before(UnixSeconds before, int limit) = 0;
  virtual int delete_audit_before(UnixSeconds before, int limit) = 0;
  virtual int delete_finished_mails_before(UnixSeconds before, int limit) = 0;
  // FAPI 2.0: pushed requests and seen JWT ids that expired before `before`.
  virtual int delete_expired_fapi_rows(UnixSeconds before, int limit) = 0;

 protected:
  ~RetentionRepository() = default;
};

}  // namespace renkei::server
