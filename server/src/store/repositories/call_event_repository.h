// Telephony: the incoming calls as the provider reported them. One of the
// repositories a StoreTx gives access to (storage.h).
#pragma once

#include <optional>
#include <string>

#include "renkei/time.h"

namespace renkei::server {

// An incoming call as the telephony provider reported it (idempotency key:
// provider_call_id). The caller's number itself is never kept: matching is
// done before the call is recorded, and the log needs only the masked form.
struct CallEventRecord {
  std::string provider_call_id;
  std::optional<std::string> caller_masked;  // "*****3333"; nullopt = withheld
  std::string dialled;
  UnixSeconds received_at = 0;
  std::string flow_id;         // the flow it was matched to, or ""
  std::string outcome;
};

class CallEventRepository {
 public:
  // False when provider_call_id was seen before (idempotency).
  virtual bool insert_call_event(const CallEventRecord& e) = 0;
  virtual std::optional<CallEventRecord> find_call_event(const std::string& provider_call_id) = 0;

 protected:
  ~CallEventRepository() = default;
};

}  // namespace renkei::server
