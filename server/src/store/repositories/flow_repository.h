// The flow of one customer through the six screens, and the session that
// holds it. One of the repositories a StoreTx gives access to (storage.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "renkei/flow.h"
#include "renkei/time.h"

namespace renkei::server {

struct FlowRecord {
  std::string flow_id;         // public random id (logs, admin); not a credential
  std::string session_digest;  // secret_digest(session cookie value); the cookie is the credential
  std::string csrf_token;      // echoed by the page in X-CSRF-Token
  // the OAuth request that started it
  std::string client_id;
  std::string redirect_uri;
  std::string oauth_state;
  std::string code_challenge;  // PKCE S256
  std::string scope;
  std::string dpop_jkt;        // FAPI 2.0: the DPoP key the code will be bound to, or ""
  FlowState state;             // the core's state
  std::optional<std::int64_t> account_id;  // once ② matched
  std::string client_ip;
  std::string user_agent;
  UnixSeconds created_at = 0;
  UnixSeconds updated_at = 0;
  // The RFC 6749 §4.1.2.1 error the app is sent for a flow that ended
  // without consent (SPEC §8a): "access_denied" (中止する / 拒否する),
  // "temporarily_unavailable" or "server_error" (連携元画面へ); "" while the
  // flow runs, after consent, and for an idle-expired flow (its error is
  // implied: oauth.h outcome_redirect).
  std::string app_error;
};

class FlowRepository {
 public:
  virtual void insert_flow(const FlowRecord& f) = 0;
  // In a read-write transaction the flow read by these three is locked until
  // the transaction ends (the caller lets the core decide and updates it).
  virtual std::optional<FlowRecord> flow_by_session(const std::string& session_digest) = 0;
  virtual std::optional<FlowRecord> flow_by_id(const std::string& flow_id) = 0;
  // Replaces the stored flow with the same flow_id (session_digest may change: rotation).
  // No such flow: StorageError, thrown here or (PostgreSQL, where the write is
  // sent with the transaction's next statement or COMMIT) by that statement,
  // or commit() returns false. Either way nothing of the transaction happens.
  virtual void update_flow(const FlowRecord& f) = 0;
  // Flows on ④ waiting for a call to `dialled` whose window covers `now`.
  // Read-write: the number's waiting list is held until commit, so that two
  // choosers of a free number see each other's choice.
  virtual std::vector<FlowRecord> flows_waiting_for_call(const std::string& dialled,
                                                         UnixSeconds now) = 0;
  // ③'s choice of a free number: every flow on ④ whose window covers `now`,
  // on any number, read without locking them (the choice changes none of
  // them). Before it, hold_phone_for_call_pick(phone) in the same read-write
  // transaction makes two flows of one phone choose one after the other, so
  // they never wait on the same number (PostgreSQL: an advisory lock on the
  // phone until commit; SQLite: the single writer already does).
  virtual std::vector<FlowRecord> flows_waiting_for_any_call(UnixSeconds now) = 0;
  virtual void hold_phone_for_call_pick(const std::string& phone) = 0;
  virtual std::vector<FlowRecord> recent_flows(UnixSeconds since, int limit) = 0;

 protected:
  ~FlowRepository() = default;
};

}  // namespace renkei::server
