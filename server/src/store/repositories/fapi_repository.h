// FAPI 2.0 (issue 13): pushed authorization requests (RFC 9126) and the
// store-wide replay cache of JWT ids (client assertions, DPoP proofs). One of
// the repositories a StoreTx gives access to (storage.h). The client's
// profile and JWK Set and the DPoP key of codes and tokens are columns of
// OAuthRepository's records; the DPoP key of a flow is in FlowRecord.
#pragma once

#include <optional>
#include <string>

#include "renkei/time.h"

namespace renkei::server {

// RFC 9126: the request behind one request_uri (only its digest is stored).
struct PushedRequestRecord {
  std::string request_uri_digest;
  std::string client_id;
  std::string params_json;     // the pushed parameters: a JSON object of strings
  UnixSeconds expires_at = 0;
  bool used = false;
};

class FapiRepository {
 public:
  // A pushed request is single use: consume marks it used and returns it as
  // it was (used == true means a second use). A write: never in a read-only
  // transaction.
  virtual void insert_pushed_request(const PushedRequestRecord& r) = 0;
  virtual std::optional<PushedRequestRecord> consume_pushed_request(const std::string& digest) = 0;
  // The replay cache of JWT ids, shared by every instance: records the digest
  // of a jti of `kind` ("client_assertion", "dpop") for `owner` (a client id
  // or a DPoP key thumbprint) until expires_at. False when it was recorded
  // before (a replay); a concurrent second insert waits and then fails.
  virtual bool remember_jti(const std::string& kind, const std::string& owner,
                            const std::string& jti_digest, UnixSeconds expires_at) = 0;

 protected:
  ~FapiRepository() = default;
};

}  // namespace renkei::server
