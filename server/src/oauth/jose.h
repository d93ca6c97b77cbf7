// The JOSE checks FAPI 2.0 needs (issue 13), over a kept library: cjose
// (Debian's libcjose-dev, the JOSE library of mod_auth_openidc) verifies every
// signature; this file only decides which keys and algorithms are acceptable
// and what the claims must say. Nothing here signs or fetches anything.
//
//  - a client's registered public keys (a JWK Set given to the admin API);
//  - client authentication with private_key_jwt (RFC 7523, FAPI 2.0 §5.3.2.1);
//  - DPoP proofs (RFC 9449 §4.3) and the key thumbprint tokens are bound to
//    (RFC 7638).
//
// Replay of a `jti` is not decided here: the caller records the returned jti
// in the store (shared by every instance) and refuses one seen before.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "renkei/time.h"

namespace renkei::server::jose {

// FAPI 2.0 §5.4: PS256, ES256 or EdDSA (Ed25519). cjose 0.6 offers no EdDSA,
// so Renkei accepts PS256 and ES256. `none`, HS*, RS* and anything unknown are
// refused before cjose is asked.
bool is_accepted_alg(std::string_view alg);
// The algorithms in metadata (token_endpoint_auth_signing_alg_values_supported,
// dpop_signing_alg_values_supported).
const std::vector<std::string>& accepted_algs();

// RFC 7638 thumbprint: base64url(SHA-256) of the key's required members in
// lexicographic order (RSA: e, kty, n; EC: crv, kty, x, y). Empty when the
// JWK lacks them or has another kty.
std::string jwk_thumbprint(const nlohmann::json& jwk);

// One public key of a set, checked and ready for cjose.
struct PublicKey;

// A client's public keys. Only asymmetric public keys are accepted (RSA of at
// least 2048 bits, EC P-256); a private or symmetric member refuses the set.
class PublicKeySet {
 public:
  // The set from its JSON text ({"keys": [...]}); nullopt and *error otherwise.
  static std::optional<PublicKeySet> parse(std::string_view jwks_json, std::string* error);
  PublicKeySet(const PublicKeySet&) = default;
  PublicKeySet& operator=(const PublicKeySet&) = default;
  std::size_t size() const { return keys_.size(); }
  // The set as stored and shown again: the public members only.
  const std::string& json() const { return json_; }

 private:
  friend struct Verifier;
  PublicKeySet() = default;
  std::vector<std::shared_ptr<const PublicKey>> keys_;
  std::string json_;
};

// A verified compact JWS: its protected header and its claims.
struct VerifiedJwt {
  nlohmann::json header;
  nlohmann::json claims;
};

// private_key_jwt (RFC 7523 §3, FAPI 2.0 §5.3.2.1): iss = sub = client_id,
// aud = the issuer identifier (FAPI 2.0 asks the AS to accept only that), an
// exp in the future and at most `max_lifetime` away, iat/nbf at most
// `future_skew` seconds ahead, a jti. `kid` picks the key when given.
struct ClientAssertionRules {
  std::string client_id;
  std::string issuer;
  UnixSeconds now = 0;
  std::int64_t max_lifetime = 300;
  std::int64_t future_skew = 10;
};
struct ClientAssertion {
  std::string jti;
  UnixSeconds expires_at = 0;
};
std::optional<ClientAssertion> verify_client_assertion(std::string_view jwt,
                                                       const PublicKeySet& keys,
                                                       const ClientAssertionRules& rules,
                                                       std::string* error);

// A DPoP proof (RFC 9449 §4.3): typ dpop+jwt, an accepted alg, a public jwk
// in the header that verifies it, htm = the method, htu = the URL without
// query and fragment, iat within [now - max_age, now + future_skew], a jti,
// and when an access token is presented, ath = base64url(SHA-256(token)).
struct DpopRules {
  std::string method;  // "POST"
  std::string url;     // "https://bank.example/token" (no query)
  UnixSeconds now = 0;
  std::int64_t max_age = 60;
  std::int64_t future_skew = 10;
  std::optional<std::string> access_token;  // the token it must be bound to (ath)
};
struct DpopProof {
  std::string jkt;  // the key's thumbprint (cnf.jkt of tokens bound to it)
  std::string jti;
  UnixSeconds iat = 0;
};
std::optional<DpopProof> verify_dpop_proof(std::string_view proof, const DpopRules& rules,
                                           std::string* error);

// The htu a request is compared with: scheme and authority lowercased, default
// port removed, query and fragment removed (RFC 9449 §4.3 point 9, RFC 3986
// §6.2.2/6.2.3). Empty when `url` is not an absolute http(s) URL.
std::string normalized_htu(std::string_view url);

}  // namespace renkei::server::jose
