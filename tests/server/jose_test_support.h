// Signing for tests of the FAPI 2.0 checks: keys made at test time with
// cjose and compact JWS over chosen headers and claims (the server only ever
// verifies; the client's side lives here).
#pragma once

#include <cjose/cjose.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "ops/crypto.h"

namespace renkei::server::testing {

struct TestKey {
  cjose_jwk_t* jwk = nullptr;
  explicit TestKey(cjose_jwk_t* k) : jwk(k) {}
  TestKey(const TestKey&) = delete;
  TestKey& operator=(const TestKey&) = delete;
  ~TestKey() { cjose_jwk_release(jwk); }
  nlohmann::json public_json(const std::string& kid = "") const {
    cjose_err err{};
    char* text = cjose_jwk_to_json(jwk, false, &err);
    nlohmann::json j = nlohmann::json::parse(text);
    std::free(text);
    if (!kid.empty()) j["kid"] = kid;
    return j;
  }
  nlohmann::json private_json() const {
    cjose_err err{};
    char* text = cjose_jwk_to_json(jwk, true, &err);
    nlohmann::json j = nlohmann::json::parse(text);
    std::free(text);
    return j;
  }
};

inline std::unique_ptr<TestKey> make_ec_key() {
  cjose_err err{};
  return std::make_unique<TestKey>(cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err));
}
inline std::unique_ptr<TestKey> make_rsa_key(std::size_t bits = 2048) {
  cjose_err err{};
  static const uint8_t e[] = {0x01, 0x00, 0x01};
  return std::make_unique<TestKey>(cjose_jwk_create_RSA_random(bits, e, sizeof e, &err));
}

// A compact JWS of `claims` signed by `key` with `header` (alg included).
inline std::string sign_jwt(const TestKey& key, const nlohmann::json& header,
                            const nlohmann::json& claims) {
  cjose_err err{};
  cjose_header_t* hdr = cjose_header_new(&err);
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it->is_string()) {
      cjose_header_set(hdr, it.key().c_str(), it->get<std::string>().c_str(), &err);
    } else {
      // cjose takes only objects and arrays raw: a number here would be
      // dropped silently, and the test would sign another header than it says.
      EXPECT_TRUE(cjose_header_set_raw(hdr, it.key().c_str(), it->dump().c_str(), &err))
          << it.key() << " = " << it->dump() << ": cjose cannot sign it";
    }
  }
  const std::string payload = claims.dump();
  cjose_jws_t* jws = cjose_jws_sign(key.jwk, hdr, reinterpret_cast<const uint8_t*>(payload.data()),
                                    payload.size(), &err);
  EXPECT_NE(jws, nullptr) << (err.message ? err.message : "");
  const char* compact = nullptr;
  if (jws) cjose_jws_export(jws, &compact, &err);
  std::string out = compact ? compact : "";
  if (jws) cjose_jws_release(jws);
  cjose_header_release(hdr);
  return out;
}

// `jwt` with its signature's bytes changed by `edit` (a byte appended, one
// short …), everything else as signed.
inline std::string with_signature(const std::string& jwt,
                                  const std::function<void(std::string&)>& edit) {
  const auto dot = jwt.rfind('.');
  std::string sig = *base64url_decode(jwt.substr(dot + 1));
  edit(sig);
  return jwt.substr(0, dot + 1) + base64url_encode(sig);
}

// A JWT with a chosen header and no valid signature (alg none, HS256 …).
inline std::string unsigned_jwt(const nlohmann::json& header, const nlohmann::json& claims,
                                const std::string& sig = "") {
  return base64url_encode(header.dump()) + "." + base64url_encode(claims.dump()) + "." + sig;
}

}  // namespace renkei::server::testing
