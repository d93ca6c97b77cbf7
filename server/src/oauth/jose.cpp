// JOSE checks for FAPI 2.0 (jose.h). cjose verifies the signatures; the
// choices of key, algorithm and claims are made here, before and after it.
#include "oauth/jose.h"

#include <cjose/cjose.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>

#include "ops/crypto.h"

namespace renkei::server::jose {

namespace {

// A compact JWS longer than this is refused before any parsing: an assertion
// or a proof with an RSA-4096 key in its header is about 2 KB.
constexpr std::size_t kMaxCompactBytes = 8192;
constexpr std::size_t kMaxKeysPerSet = 10;
constexpr std::size_t kMaxJtiBytes = 256;

struct JwkDeleter {
  void operator()(cjose_jwk_t* k) const { cjose_jwk_release(k); }
};
struct JwsDeleter {
  void operator()(cjose_jws_t* j) const { cjose_jws_release(j); }
};
using JwkPtr = std::unique_ptr<cjose_jwk_t, JwkDeleter>;
using JwsPtr = std::unique_ptr<cjose_jws_t, JwsDeleter>;

bool fail(std::string* error, std::string why) {
  if (error) *error = std::move(why);
  return false;
}

std::string sha256_base64url(std::string_view data) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return base64url_encode(
      std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

// The kty a JWS alg needs.
std::string_view kty_for_alg(std::string_view alg) {
  if (alg == "PS256") return "RSA";
  if (alg == "ES256") return "EC";
  return "";
}

// Members that only a private or a symmetric key has.
bool has_private_members(const nlohmann::json& jwk) {
  for (const char* m : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    if (jwk.contains(m)) return true;
  }
  return false;
}

// Member `key` of `obj` when it is a string; nullopt when it is absent or of
// another JSON type. Every string member of a JOSE header, JWK or claim set is
// read through this: a member of the wrong type makes the key, proof or
// assertion invalid, never an exception (json::value throws on a type mismatch).
std::optional<std::string> string_member(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// The JWK members of RFC 7517 §4 besides the key material: their JSON types.
// A key with one of them of another type is refused (it would be stored and
// shown again as given).
bool jwk_members_well_typed(const nlohmann::json& jwk) {
  for (const char* m : {"kty", "use", "alg", "kid", "x5u", "x5t", "x5t#S256", "crv"}) {
    if (jwk.contains(m) && !jwk[m].is_string()) return false;
  }
  for (const char* m : {"key_ops", "x5c"}) {
    if (!jwk.contains(m)) continue;
    const auto& v = jwk[m];
    if (!v.is_array() ||
        !std::all_of(v.begin(), v.end(), [](const auto& e) { return e.is_string(); }))
      return false;
  }
  return true;
}

bool is_b64url_string(const nlohmann::json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return !s.empty() && base64url_decode(s).has_value();
}

// A public signing key fit for FAPI: RSA ≥ 2048 bits or EC P-256, no private
// or symmetric member, `use` (if any) "sig", the members of RFC 7517 §4 of
// their types. The key imported into cjose; *signature_bytes is the length
// every signature under it has (RFC 7518 §3.4: 64 for ES256; RFC 8017 §8.1.2:
// the modulus' length for PS256).
JwkPtr import_public_key(const nlohmann::json& jwk, std::string* error,
                         std::size_t* signature_bytes) {
  if (!jwk.is_object()) return fail(error, "a key is not a JSON object"), nullptr;
  if (has_private_members(jwk)) return fail(error, "a key has private or symmetric members"), nullptr;
  if (!jwk_members_well_typed(jwk)) {
    return fail(error,
                "a key has a member of the wrong JSON type (kty, use, alg, kid, crv, "
                "key_ops, x5u, x5c, x5t)"),
           nullptr;
  }
  const std::string kty = string_member(jwk, "kty").value_or("");
  if (jwk.contains("use") && jwk["use"] != "sig") return fail(error, "a key's use is not sig"), nullptr;
  if (kty == "RSA") {
    if (!is_b64url_string(jwk.value("n", nlohmann::json())) ||
        !is_b64url_string(jwk.value("e", nlohmann::json()))) {
      return fail(error, "an RSA key lacks n or e"), nullptr;
    }
    auto n = base64url_decode(jwk["n"].get<std::string>());
    // Leading zero bytes do not count toward the modulus size.
    std::size_t bits = 0;
    if (n) {
      std::size_t i = 0;
      while (i < n->size() && (*n)[i] == '\0') ++i;
      bits = (n->size() - i) * 8;
    }
    if (bits < 2048) return fail(error, "an RSA key is shorter than 2048 bits"), nullptr;
    *signature_bytes = bits / 8;
  } else if (kty == "EC") {
    if (string_member(jwk, "crv") != "P-256") {
      return fail(error, "an EC key is not on P-256"), nullptr;
    }
    if (!is_b64url_string(jwk.value("x", nlohmann::json())) ||
        !is_b64url_string(jwk.value("y", nlohmann::json()))) {
      return fail(error, "an EC key lacks x or y"), nullptr;
    }
    *signature_bytes = 64;
  } else {
    return fail(error, "a key's kty is not RSA or EC"), nullptr;
  }
  const std::string text = jwk.dump();
  cjose_err err{};
  JwkPtr key(cjose_jwk_import(text.c_str(), text.size(), &err));
  if (!key) return fail(error, "a key is not a valid public key"), nullptr;
  return key;
}

struct Compact {
  nlohmann::json header;
  std::string alg;
  std::size_t signature_bytes = 0;  // the decoded length of the third part
};

// Splits and reads the protected header of a compact JWS without trusting it.
std::optional<Compact> read_header(std::string_view compact, std::string* error) {
  if (compact.empty() || compact.size() > kMaxCompactBytes) {
    fail(error, "the JWT is empty or too long");
    return std::nullopt;
  }
  const std::size_t a = compact.find('.');
  const std::size_t b = a == std::string_view::npos ? a : compact.find('.', a + 1);
  if (a == std::string_view::npos || b == std::string_view::npos ||
      compact.find('.', b + 1) != std::string_view::npos) {
    fail(error, "the JWT is not a compact JWS");
    return std::nullopt;
  }
  auto raw = base64url_decode(compact.substr(0, a));
  if (!raw) {
    fail(error, "the JWT's header is not base64url");
    return std::nullopt;
  }
  auto signature = base64url_decode(compact.substr(b + 1));
  if (!signature) {
    fail(error, "the JWT's signature is not base64url");
    return std::nullopt;
  }
  Compact c;
  c.signature_bytes = signature->size();
  c.header = nlohmann::json::parse(*raw, nullptr, false);
  if (!c.header.is_object()) {
    fail(error, "the JWT's header is not a JSON object");
    return std::nullopt;
  }
  c.alg = string_member(c.header, "alg").value_or("");
  if (!is_accepted_alg(c.alg)) {
    fail(error, "the JWT's alg is not accepted (PS256 or ES256)");
    return std::nullopt;
  }
  // A critical extension Renkei does not understand must be refused (RFC 7515 §4.1.11).
  if (c.header.contains("crit")) {
    fail(error, "the JWT has a crit header");
    return std::nullopt;
  }
  // Header members of RFC 7515 §4.1 that are strings (the jwk is checked as a key).
  for (const char* m : {"typ", "cty", "kid", "jku", "x5u", "x5t", "x5t#S256"}) {
    if (c.header.contains(m) && !c.header[m].is_string()) {
      fail(error, std::string("the JWT's ") + m + " header is not a string");
      return std::nullopt;
    }
  }
  return c;
}

// The verified claims of `compact` under `key`, or nullopt. The signature
// must have exactly the length the key's algorithm gives (`signature_bytes`):
// cjose reads the first 64 bytes of an ES256 signature and ignores the rest.
std::optional<nlohmann::json> verified_claims(std::string_view compact, const Compact& c,
                                              const cjose_jwk_t* key, std::size_t signature_bytes) {
  if (c.signature_bytes != signature_bytes) return std::nullopt;
  cjose_err err{};
  const std::string text(compact);
  JwsPtr jws(cjose_jws_import(text.c_str(), text.size(), &err));
  if (!jws) return std::nullopt;
  if (!cjose_jws_verify(jws.get(), key, &err)) return std::nullopt;
  uint8_t* plain = nullptr;
  size_t plain_len = 0;
  if (!cjose_jws_get_plaintext(jws.get(), &plain, &plain_len, &err)) return std::nullopt;
  auto claims = nlohmann::json::parse(
      std::string_view(reinterpret_cast<const char*>(plain), plain_len), nullptr, false);
  if (!claims.is_object()) return std::nullopt;
  return claims;
}

// An integer NumericDate claim, or nullopt.
std::optional<std::int64_t> numeric_date(const nlohmann::json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(v);
  }
  if (it->is_number_float()) {
    const double d = it->get<double>();
    if (!(d > -1e15 && d < 1e15)) return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

bool jti_ok(const nlohmann::json& claims) {
  auto it = claims.find("jti");
  return it != claims.end() && it->is_string() && !it->get_ref<const std::string&>().empty() &&
         it->get_ref<const std::string&>().size() <= kMaxJtiBytes;
}

}  // namespace

struct PublicKey {
  JwkPtr key;
  std::string kid;
  std::string kty;
  std::size_t signature_bytes = 0;
};

bool is_accepted_alg(std::string_view alg) { return alg == "PS256" || alg == "ES256"; }

const std::vector<std::string>& accepted_algs() {
  static const std::vector<std::string> algs{"PS256", "ES256"};
  return algs;
}

std::string jwk_thumbprint(const nlohmann::json& jwk) {
  const std::string kty = string_member(jwk, "kty").value_or("");
  std::vector<const char*> members;
  if (kty == "RSA") {
    members = {"e", "kty", "n"};
  } else if (kty == "EC") {
    members = {"crv", "kty", "x", "y"};
  } else {
    return "";
  }
  std::string canonical = "{";
  for (const char* m : members) {
    auto it = jwk.find(m);
    if (it == jwk.end() || !it->is_string()) return "";
    if (canonical.size() > 1) canonical += ',';
    canonical += nlohmann::json(m).dump();
    canonical += ':';
    canonical += it->dump();
  }
  canonical += '}';
  return sha256_base64url(canonical);
}

std::optional<PublicKeySet> PublicKeySet::parse(std::string_view jwks_json, std::string* error) {
  auto doc = nlohmann::json::parse(jwks_json, nullptr, false);
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    fail(error, "the JWK Set is not a JSON object with a keys array");
    return std::nullopt;
  }
  const auto& keys = doc["keys"];
  if (keys.empty() || keys.size() > kMaxKeysPerSet) {
    fail(error, "the JWK Set must hold 1 to 10 keys");
    return std::nullopt;
  }
  PublicKeySet set;
  nlohmann::json shown = nlohmann::json::array();
  for (const auto& jwk : keys) {
    std::size_t signature_bytes = 0;
    auto key = import_public_key(jwk, error, &signature_bytes);
    if (!key) return std::nullopt;
    auto pk = std::make_shared<PublicKey>();
    pk->kty = jwk["kty"].get<std::string>();
    pk->signature_bytes = signature_bytes;
    if (jwk.contains("kid")) {
      if (jwk["kid"].get_ref<const std::string&>().empty()) {
        fail(error, "a key's kid is not a non-empty string");
        return std::nullopt;
      }
      pk->kid = jwk["kid"].get<std::string>();
      for (const auto& other : set.keys_) {
        if (other->kid == pk->kid) {
          fail(error, "two keys share the kid " + pk->kid);
          return std::nullopt;
        }
      }
    }
    pk->key = std::move(key);
    set.keys_.push_back(std::move(pk));
    shown.push_back(jwk);
  }
  set.json_ = nlohmann::json{{"keys", shown}}.dump();
  return set;
}

// Picks and tries the keys of a set (a friend of PublicKeySet).
struct Verifier {
  static std::optional<nlohmann::json> verify(const PublicKeySet& set, const Compact& c,
                                              std::string_view compact) {
    const std::string kid = string_member(c.header, "kid").value_or("");
    const std::string_view kty = kty_for_alg(c.alg);
    for (const auto& pk : set.keys_) {
      if (pk->kty != kty) continue;
      if (!kid.empty() && pk->kid != kid) continue;
      if (auto claims = verified_claims(compact, c, pk->key.get(), pk->signature_bytes)) {
        return claims;
      }
    }
    return std::nullopt;
  }
};

std::optional<ClientAssertion> verify_client_assertion(std::string_view jwt,
                                                       const PublicKeySet& keys,
                                                       const ClientAssertionRules& rules,
                                                       std::string* error) {
  auto c = read_header(jwt, error);
  if (!c) return std::nullopt;
  if (string_member(c->header, "typ") == "dpop+jwt") {
    fail(error, "a DPoP proof is not a client assertion");
    return std::nullopt;
  }
  auto claims = Verifier::verify(keys, *c, jwt);
  if (!claims) {
    fail(error, "the assertion's signature does not verify with the client's keys");
    return std::nullopt;
  }
  if (string_member(*claims, "iss") != rules.client_id ||
      string_member(*claims, "sub") != rules.client_id) {
    fail(error, "the assertion's iss and sub are not the client_id");
    return std::nullopt;
  }
  // aud: the issuer identifier, as a string or as the only member of an array
  // (FAPI 2.0 §5.3.2.1: the AS accepts its issuer identifier only).
  const auto aud = claims->find("aud");
  const bool aud_ok =
      aud != claims->end() &&
      ((aud->is_string() && *aud == rules.issuer) ||
       (aud->is_array() && aud->size() == 1 && (*aud)[0].is_string() && (*aud)[0] == rules.issuer));
  if (!aud_ok) {
    fail(error, "the assertion's aud is not the issuer");
    return std::nullopt;
  }
  auto exp = numeric_date(*claims, "exp");
  if (!exp || *exp <= rules.now) {
    fail(error, "the assertion has expired or has no exp");
    return std::nullopt;
  }
  if (*exp > rules.now + rules.max_lifetime + rules.future_skew) {
    fail(error, "the assertion's exp is too far in the future");
    return std::nullopt;
  }
  for (const char* name : {"iat", "nbf"}) {
    if (!claims->contains(name)) continue;
    auto t = numeric_date(*claims, name);
    if (!t || *t > rules.now + rules.future_skew) {
      fail(error, std::string("the assertion's ") + name + " is in the future");
      return std::nullopt;
    }
  }
  if (!jti_ok(*claims)) {
    fail(error, "the assertion has no jti");
    return std::nullopt;
  }
  return ClientAssertion{(*claims)["jti"].get<std::string>(), *exp};
}

std::string normalized_htu(std::string_view url) {
  const std::size_t sep = url.find("://");
  if (sep == std::string_view::npos) return "";
  std::string scheme(url.substr(0, sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (scheme != "http" && scheme != "https") return "";
  std::string_view rest = url.substr(sep + 3);
  rest = rest.substr(0, rest.find_first_of("?#"));
  const std::size_t slash = rest.find('/');
  std::string authority(rest.substr(0, slash));
  std::string path(slash == std::string_view::npos ? "/" : rest.substr(slash));
  if (authority.empty() || authority.find('@') != std::string::npos) return "";
  std::transform(authority.begin(), authority.end(), authority.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  const std::string default_port = scheme == "https" ? ":443" : ":80";
  if (authority.size() > default_port.size() && authority.ends_with(default_port)) {
    authority.resize(authority.size() - default_port.size());
  }
  return scheme + "://" + authority + path;
}

std::optional<DpopProof> verify_dpop_proof(std::string_view proof, const DpopRules& rules,
                                           std::string* error) {
  auto c = read_header(proof, error);
  if (!c) return std::nullopt;
  if (string_member(c->header, "typ") != "dpop+jwt") {
    fail(error, "the DPoP proof's typ is not dpop+jwt");
    return std::nullopt;
  }
  auto jwk_it = c->header.find("jwk");
  if (jwk_it == c->header.end() || !jwk_it->is_object()) {
    fail(error, "the DPoP proof has no jwk header");
    return std::nullopt;
  }
  std::size_t signature_bytes = 0;
  auto key = import_public_key(*jwk_it, error, &signature_bytes);
  if (!key) return std::nullopt;
  if (string_member(*jwk_it, "kty") != kty_for_alg(c->alg)) {
    fail(error, "the DPoP proof's alg does not fit its key");
    return std::nullopt;
  }
  auto claims = verified_claims(proof, *c, key.get(), signature_bytes);
  if (!claims) {
    fail(error, "the DPoP proof's signature does not verify with its jwk");
    return std::nullopt;
  }
  if (string_member(*claims, "htm") != rules.method) {
    fail(error, "the DPoP proof's htm is not the request's method");
    return std::nullopt;
  }
  const std::string want = normalized_htu(rules.url);
  const std::string given = normalized_htu(string_member(*claims, "htu").value_or(""));
  if (want.empty() || given != want) {
    fail(error, "the DPoP proof's htu is not the request's URL");
    return std::nullopt;
  }
  auto iat = numeric_date(*claims, "iat");
  if (!iat || *iat > rules.now + rules.future_skew || *iat < rules.now - rules.max_age) {
    fail(error, "the DPoP proof's iat is outside the accepted window");
    return std::nullopt;
  }
  if (!jti_ok(*claims)) {
    fail(error, "the DPoP proof has no jti");
    return std::nullopt;
  }
  if (rules.access_token) {
    const std::string ath = string_member(*claims, "ath").value_or("");
    if (ath.empty() || !constant_time_equal(ath, sha256_base64url(*rules.access_token))) {
      fail(error, "the DPoP proof's ath does not match the access token");
      return std::nullopt;
    }
  }
  DpopProof out;
  out.jkt = jwk_thumbprint(*jwk_it);
  out.jti = (*claims)["jti"].get<std::string>();
  out.iat = *iat;
  if (out.jkt.empty()) {
    fail(error, "the DPoP proof's key has no thumbprint");
    return std::nullopt;
  }
  return out;
}

}  // namespace renkei::server::jose
