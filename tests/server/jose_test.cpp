// The JOSE checks of FAPI 2.0 (server/src/oauth/jose.h): client assertions
// (private_key_jwt) and DPoP proofs. The test signs with cjose itself, with
// keys made at test time; the thumbprint is checked against RFC 7638's own
// example, and base64url against RFC 4648's vectors.
#include <cjose/cjose.h>
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "jose_test_support.h"
#include "oauth/jose.h"
#include "ops/crypto.h"

namespace renkei::server {
namespace {

using nlohmann::json;

constexpr UnixSeconds kNow = 1'800'000'000;
const std::string kIssuer = "https://bank.example";

// Keys and signing: the shared test support (jose_test_support.h).
using Key = testing::TestKey;
const auto ec_key = testing::make_ec_key;
const auto rsa_key = [](std::size_t bits = 2048) { return testing::make_rsa_key(bits); };
const auto sign = testing::sign_jwt;
using testing::with_signature;
const auto unsigned_jwt = [](const json& header, const json& claims, const std::string& sig = "") {
  return testing::unsigned_jwt(header, claims, sig);
};

jose::PublicKeySet key_set(const json& keys) {
  std::string error;
  auto set = jose::PublicKeySet::parse(json{{"keys", keys}}.dump(), &error);
  EXPECT_TRUE(set.has_value()) << error;
  return *set;
}

json assertion_claims() {
  return json{{"iss", "budget-app"}, {"sub", "budget-app"}, {"aud", kIssuer},
              {"exp", kNow + 60},    {"iat", kNow},         {"jti", "a-unique-id"}};
}

jose::ClientAssertionRules assertion_rules() {
  jose::ClientAssertionRules r;
  r.client_id = "budget-app";
  r.issuer = kIssuer;
  r.now = kNow;
  return r;
}

TEST(Base64url, DecodesRfc4648VectorsAndRefusesNonCanonicalText) {
  EXPECT_EQ(base64url_decode(""), std::string());
  EXPECT_EQ(base64url_decode("Zg"), std::string("f"));
  EXPECT_EQ(base64url_decode("Zm8"), std::string("fo"));
  EXPECT_EQ(base64url_decode("Zm9vYmFy"), std::string("foobar"));
  EXPECT_EQ(base64url_decode("-_8"), std::string("\xfb\xff", 2));
  EXPECT_FALSE(base64url_decode("Zg=="));  // padding
  EXPECT_FALSE(base64url_decode("Z"));     // 4k+1 characters
  EXPECT_FALSE(base64url_decode("Zh"));    // non-zero leftover bits
  EXPECT_FALSE(base64url_decode("Zm9v YmFy"));
  EXPECT_FALSE(base64url_decode("+/8"));  // base64, not base64url
}

TEST(JwkThumbprint, MatchesTheExampleOfRfc7638) {
  const json jwk = {
      {"kty", "RSA"},
      {"n",
       "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
       "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
       "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
       "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"},
      {"e", "AQAB"},
      {"alg", "RS256"},
      {"kid", "2011-04-29"}};
  EXPECT_EQ(jose::jwk_thumbprint(jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  EXPECT_EQ(jose::jwk_thumbprint(json{{"kty", "oct"}, {"k", "c2VjcmV0"}}), "");
  EXPECT_EQ(jose::jwk_thumbprint(json{{"kty", "EC"}, {"crv", "P-256"}}), "");
}

TEST(PublicKeySet, AcceptsPublicRsaAndEcKeysAndRefusesEverythingElse) {
  auto ec = ec_key();
  auto rsa = rsa_key();
  std::string error;
  EXPECT_TRUE(jose::PublicKeySet::parse(
      json{{"keys", {ec->public_json("e1"), rsa->public_json("r1")}}}.dump(), &error))
      << error;
  auto refused = [&](const json& doc, const std::string& why) {
    std::string err;
    EXPECT_FALSE(jose::PublicKeySet::parse(doc.dump(), &err)) << why;
    EXPECT_FALSE(err.empty()) << why;
    // Each case is refused for its own reason, not for the set's shape.
    if (doc.is_object() && doc.contains("keys") && doc["keys"].is_array() && !doc["keys"].empty()) {
      EXPECT_EQ(err.find("keys array"), std::string::npos) << why << ": " << err;
    }
  };
  refused(json{{"keys", json::array({ec->private_json()})}}, "a private EC key");
  refused(json{{"keys", json::array({rsa->private_json()})}}, "a private RSA key");
  refused(json{{"keys", json::array({json{{"kty", "oct"}, {"k", "c2VjcmV0"}}})}},
          "a symmetric key");
  refused(json{{"keys", json::array({rsa_key(1024)->public_json()})}}, "RSA-1024");
  refused(json{{"keys", json::array()}}, "no keys");
  refused(json::array(), "not a set");
  refused(json{{"keys", {ec->public_json("same"), rsa->public_json("same")}}}, "duplicate kid");
  json enc = ec->public_json();
  enc["use"] = "enc";
  refused(json{{"keys", json::array({enc})}}, "an encryption key");
  EXPECT_FALSE(jose::PublicKeySet::parse("{not json", &error));
}

TEST(ClientAssertion, AcceptsAnEs256AndAPs256AssertionOfTheClient) {
  auto ec = ec_key();
  auto rsa = rsa_key();
  auto keys = key_set(json::array({ec->public_json("e1"), rsa->public_json("r1")}));
  std::string error;
  auto a = jose::verify_client_assertion(
      sign(*ec, {{"alg", "ES256"}, {"kid", "e1"}}, assertion_claims()), keys, assertion_rules(),
      &error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->jti, "a-unique-id");
  EXPECT_EQ(a->expires_at, kNow + 60);
  // Without a kid the keys of the alg's type are tried.
  EXPECT_TRUE(jose::verify_client_assertion(sign(*rsa, {{"alg", "PS256"}}, assertion_claims()),
                                            keys, assertion_rules(), &error))
      << error;
  // aud as a one-element array is the issuer too.
  json claims = assertion_claims();
  claims["aud"] = json::array({kIssuer});
  EXPECT_TRUE(jose::verify_client_assertion(sign(*ec, {{"alg", "ES256"}}, claims), keys,
                                            assertion_rules(), &error))
      << error;
}

TEST(ClientAssertion, RefusesEveryBrokenRule) {
  auto ec = ec_key();
  auto other = ec_key();
  auto rsa = rsa_key();
  auto keys = key_set(json::array({ec->public_json("e1")}));
  auto refused = [&](const std::string& jwt, const std::string& why) {
    std::string error;
    EXPECT_FALSE(jose::verify_client_assertion(jwt, keys, assertion_rules(), &error)) << why;
    EXPECT_FALSE(error.empty()) << why;
  };
  auto with = [&](const char* name, const json& value) {
    json c = assertion_claims();
    if (value.is_null()) {
      c.erase(name);
    } else {
      c[name] = value;
    }
    return sign(*ec, {{"alg", "ES256"}}, c);
  };
  refused(unsigned_jwt({{"alg", "none"}}, assertion_claims()), "alg none");
  refused(unsigned_jwt({{"alg", "HS256"}}, assertion_claims(),
                       base64url_encode(hmac_sha256_hex("k", "x"))),
          "alg HS256");
  refused(sign(*rsa, {{"alg", "RS256"}}, assertion_claims()), "RS256 is not FAPI");
  refused(sign(*other, {{"alg", "ES256"}}, assertion_claims()), "another key");
  refused(sign(*other, {{"alg", "ES256"}, {"kid", "e1"}}, assertion_claims()),
          "another key claiming a registered kid");
  refused(with("aud", "https://other.example"), "wrong aud");
  refused(with("aud", json::array({kIssuer, "https://other.example"})), "aud with a second party");
  refused(with("aud", kIssuer + "/token"), "the token endpoint as aud");
  refused(with("iss", "other-app"), "wrong iss");
  refused(with("sub", "other-app"), "wrong sub");
  refused(with("exp", kNow), "expired");
  refused(with("exp", nullptr), "no exp");
  refused(with("exp", kNow + 3600), "exp too far");
  refused(with("iat", kNow + 11), "iat more than 10 s ahead");
  refused(with("nbf", kNow + 11), "nbf more than 10 s ahead");
  refused(with("jti", nullptr), "no jti");
  refused(with("jti", ""), "empty jti");
  refused(sign(*ec, {{"alg", "ES256"}, {"typ", "dpop+jwt"}}, assertion_claims()),
          "a DPoP proof used as an assertion");
  refused(sign(*ec, {{"alg", "ES256"}, {"crit", json::array({"x"})}}, assertion_claims()), "crit");
  refused("a.b", "not three parts");
  refused(std::string(9000, 'a'), "oversized");
  refused("!!!.e30.", "header not base64url");
  // iat and nbf up to 10 s ahead are tolerated (clock skew, issue 13).
  std::string error;
  EXPECT_TRUE(
      jose::verify_client_assertion(with("iat", kNow + 10), keys, assertion_rules(), &error))
      << error;
  // A tampered payload does not verify.
  std::string good = with("iat", kNow);
  const auto dot = good.find('.');
  const auto dot2 = good.find('.', dot + 1);
  json evil = assertion_claims();
  evil["iss"] = evil["sub"] = "budget-app";
  evil["exp"] = kNow + 200;
  refused(good.substr(0, dot + 1) + base64url_encode(evil.dump()) + good.substr(dot2),
          "tampered claims");
}

json dpop_header(const Key& key, const char* alg = "ES256") {
  return json{{"typ", "dpop+jwt"}, {"alg", alg}, {"jwk", key.public_json()}};
}
json dpop_claims() {
  return json{
      {"htm", "POST"}, {"htu", "https://bank.example/token"}, {"iat", kNow}, {"jti", "proof-1"}};
}
jose::DpopRules dpop_rules() {
  jose::DpopRules r;
  r.method = "POST";
  r.url = "https://bank.example/token";
  r.now = kNow;
  return r;
}

TEST(DpopProof, AcceptsAProofAndGivesItsKeysThumbprint) {
  auto ec = ec_key();
  std::string error;
  auto p =
      jose::verify_dpop_proof(sign(*ec, dpop_header(*ec), dpop_claims()), dpop_rules(), &error);
  ASSERT_TRUE(p) << error;
  EXPECT_EQ(p->jkt, jose::jwk_thumbprint(ec->public_json()));
  EXPECT_EQ(p->jti, "proof-1");
  // The URL compares without query and fragment, with the default port and
  // case of scheme and host normalised.
  json c = dpop_claims();
  c["htu"] = "HTTPS://Bank.Example:443/token?x=1#f";
  EXPECT_TRUE(jose::verify_dpop_proof(sign(*ec, dpop_header(*ec), c), dpop_rules(), &error))
      << error;
  auto rsa = rsa_key();
  EXPECT_TRUE(jose::verify_dpop_proof(sign(*rsa, dpop_header(*rsa, "PS256"), dpop_claims()),
                                      dpop_rules(), &error))
      << error;
}

TEST(DpopProof, BindsToTheAccessTokenThroughAth) {
  auto ec = ec_key();
  jose::DpopRules rules = dpop_rules();
  rules.method = "GET";
  rules.url = "https://bank.example/api/v1/accounts";
  rules.access_token = "the-access-token";
  json c = dpop_claims();
  c["htm"] = "GET";
  c["htu"] = "https://bank.example/api/v1/accounts";
  std::string error;
  EXPECT_FALSE(jose::verify_dpop_proof(sign(*ec, dpop_header(*ec), c), rules, &error)) << "no ath";
  c["ath"] = base64url_encode(std::string(32, 'x'));
  EXPECT_FALSE(jose::verify_dpop_proof(sign(*ec, dpop_header(*ec), c), rules, &error))
      << "wrong ath";
  // ath = base64url(SHA-256(token)), computed here independently of jose.cpp.
  std::string digest;
  const std::string hex = sha256_hex("the-access-token");
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    digest += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  c["ath"] = base64url_encode(digest);
  EXPECT_TRUE(jose::verify_dpop_proof(sign(*ec, dpop_header(*ec), c), rules, &error)) << error;
}

TEST(DpopProof, RefusesEveryBrokenRule) {
  auto ec = ec_key();
  auto other = ec_key();
  auto refused = [&](const std::string& proof, const std::string& why) {
    std::string error;
    EXPECT_FALSE(jose::verify_dpop_proof(proof, dpop_rules(), &error)) << why;
    EXPECT_FALSE(error.empty()) << why;
  };
  auto with = [&](const char* name, const json& value) {
    json c = dpop_claims();
    if (value.is_null()) {
      c.erase(name);
    } else {
      c[name] = value;
    }
    return sign(*ec, dpop_header(*ec), c);
  };
  refused(with("htm", "GET"), "wrong htm");
  refused(with("htu", "https://bank.example/par"), "wrong htu");
  refused(with("htu", "https://evil.example/token"), "another host");
  refused(with("htu", "token"), "relative htu");
  refused(with("iat", kNow - 61), "stale iat");
  refused(with("iat", kNow + 11), "iat in the future");
  refused(with("iat", "now"), "iat not a number");
  refused(with("jti", nullptr), "no jti");
  refused(with("jti", std::string(300, 'j')), "oversized jti");
  json h = dpop_header(*ec);
  h["typ"] = "JWT";
  refused(sign(*ec, h, dpop_claims()), "typ not dpop+jwt");
  refused(sign(*other, dpop_header(*ec), dpop_claims()), "signed by another key than its jwk");
  json priv = dpop_header(*ec);
  priv["jwk"] = ec->private_json();
  refused(sign(*ec, priv, dpop_claims()), "a private key in the header");
  json nojwk = dpop_header(*ec);
  nojwk.erase("jwk");
  refused(sign(*ec, nojwk, dpop_claims()), "no jwk");
  refused(unsigned_jwt({{"typ", "dpop+jwt"}, {"alg", "none"}, {"jwk", ec->public_json()}},
                       dpop_claims()),
          "alg none");
  refused(unsigned_jwt({{"typ", "dpop+jwt"}, {"alg", "HS256"}, {"jwk", ec->public_json()}},
                       dpop_claims(), "c2ln"),
          "alg HS256");
  json mismatch = dpop_header(*ec);
  mismatch["alg"] = "PS256";
  refused(unsigned_jwt(mismatch, dpop_claims(), "c2ln"), "alg that does not fit the key");
}

// A member of the wrong JSON type (a number or an array where a string
// belongs) makes the proof, the assertion or the key invalid: refused with a
// reason, never an exception (json::value throws on a type mismatch; the
// hostile-input sweep found /token, /par and the account API answering 500).
TEST(DpopProof, RefusesMembersOfTheWrongJsonType) {
  auto ec = ec_key();
  jose::DpopRules rules = dpop_rules();
  rules.access_token = "the-access-token";
  auto refused = [&](const std::string& proof, const std::string& why) {
    std::string error;
    std::optional<jose::DpopProof> p;
    EXPECT_NO_THROW(p = jose::verify_dpop_proof(proof, rules, &error)) << why;
    EXPECT_FALSE(p) << why;
    EXPECT_FALSE(error.empty()) << why;
  };
  json claims = dpop_claims();
  claims["ath"] = base64url_encode(std::string(32, 'x'));
  for (const char* member : {"typ", "alg", "kid", "cty"}) {
    for (const json& bad : {json(1), json::array({"ES256"}), json::object(), json(true)}) {
      json h = dpop_header(*ec);
      h[member] = bad;
      refused(unsigned_jwt(h, claims, base64url_encode(std::string(64, 's'))),
              std::string("header ") + member + " = " + bad.dump());
    }
  }
  for (const char* member : {"kty", "crv", "x", "y", "alg", "use", "kid", "key_ops"}) {
    for (const json& bad : {json(1), json::array({"EC"}), json::object()}) {
      json h = dpop_header(*ec);
      h["jwk"][member] = bad;
      refused(unsigned_jwt(h, claims, base64url_encode(std::string(64, 's'))),
              std::string("jwk.") + member + " = " + bad.dump());
    }
  }
  for (const char* member : {"htm", "htu", "ath", "jti"}) {
    for (const json& bad : {json(1), json::array({"POST"}), json::object()}) {
      json c = claims;
      c[member] = bad;
      refused(sign(*ec, dpop_header(*ec), c), std::string("claim ") + member + " = " + bad.dump());
    }
  }
}

TEST(ClientAssertion, RefusesMembersOfTheWrongJsonType) {
  auto ec = ec_key();
  auto keys = key_set(json::array({ec->public_json("e1")}));
  auto refused = [&](const std::string& jwt, const std::string& why) {
    std::string error;
    std::optional<jose::ClientAssertion> a;
    EXPECT_NO_THROW(a = jose::verify_client_assertion(jwt, keys, assertion_rules(), &error)) << why;
    EXPECT_FALSE(a) << why;
    EXPECT_FALSE(error.empty()) << why;
  };
  // (cjose signs a header member that is an array or an object, not a number.)
  for (const char* member : {"typ", "alg", "kid"}) {
    for (const json& bad : {json::array({"ES256"}), json::object()}) {
      json h = {{"alg", "ES256"}, {"kid", "e1"}};
      h[member] = bad;
      // Signed where cjose can sign (alg a string), garbage otherwise: the
      // header alone must refuse it.
      const std::string jwt =
          std::string(member) == "alg"
              ? unsigned_jwt(h, assertion_claims(), base64url_encode(std::string(64, 's')))
              : sign(*ec, h, assertion_claims());
      refused(jwt, std::string("header ") + member + " = " + bad.dump());
    }
  }
  for (const char* member : {"iss", "sub", "aud", "jti", "exp"}) {
    for (const json& bad : {json::array({json(1)}), json::object(), json(true)}) {
      json c = assertion_claims();
      c[member] = bad;
      refused(sign(*ec, {{"alg", "ES256"}, {"kid", "e1"}}, c),
              std::string("claim ") + member + " = " + bad.dump());
    }
  }
  json c = assertion_claims();
  c["iss"] = 1;
  refused(sign(*ec, {{"alg", "ES256"}}, c), "iss a number");
}

TEST(PublicKeySet, RefusesAKeyWithAMemberOfTheWrongJsonType) {
  auto ec = ec_key();
  auto rsa = rsa_key();
  for (const char* member : {"kty", "crv", "alg", "use", "kid", "x5u", "x5t", "key_ops", "x5c"}) {
    for (const json& bad : {json(1), json::object(), json::array({json(1)})}) {
      for (const auto* key : {ec.get(), rsa.get()}) {
        json jwk = key->public_json();
        jwk[member] = bad;
        std::string error;
        std::optional<jose::PublicKeySet> set;
        EXPECT_NO_THROW(set = jose::PublicKeySet::parse(json{{"keys", {jwk}}}.dump(), &error))
            << member << " = " << bad.dump();
        EXPECT_FALSE(set) << member << " = " << bad.dump();
        EXPECT_FALSE(error.empty()) << member;
      }
    }
  }
  // The same members with their own types are accepted.
  json jwk = ec->public_json("e1");
  jwk["alg"] = "ES256";
  jwk["use"] = "sig";
  jwk["key_ops"] = json::array({"verify"});
  std::string error;
  EXPECT_TRUE(jose::PublicKeySet::parse(json{{"keys", {jwk}}}.dump(), &error)) << error;
  EXPECT_EQ(jose::jwk_thumbprint(json{{"kty", 1}}), "");
  EXPECT_EQ(jose::jwk_thumbprint(json::array()), "");
}

// RFC 7518 §3.4: an ES256 signature is exactly 64 octets (R and S); RFC 8017
// §8.1.2: an RSASSA-PSS signature has the modulus' length. cjose reads the
// first 64 bytes of an ES256 signature, so a longer one verified before.

TEST(DpopProof, RefusesASignatureOfAnyOtherLengthThanTheAlgorithmGives) {
  auto ec = ec_key();
  auto rsa = rsa_key();
  std::string error;
  const std::string es = sign(*ec, dpop_header(*ec), dpop_claims());
  const std::string ps = sign(*rsa, dpop_header(*rsa, "PS256"), dpop_claims());
  ASSERT_TRUE(jose::verify_dpop_proof(es, dpop_rules(), &error)) << error;
  ASSERT_TRUE(jose::verify_dpop_proof(ps, dpop_rules(), &error)) << error;
  EXPECT_EQ(base64url_decode(es.substr(es.rfind('.') + 1))->size(), 64u);
  for (const auto& [jwt, name] : {std::pair{es, "ES256"}, std::pair{ps, "PS256"}}) {
    const std::vector<std::pair<std::function<void(std::string&)>, const char*>> edits = {
        {[](std::string& s) { s.push_back('\0'); }, "a zero byte appended"},
        {[](std::string& s) { s.push_back('\x01'); }, "a byte appended"},
        {[](std::string& s) { s += s; }, "doubled"},
        {[](std::string& s) { s.pop_back(); }, "a byte short"},
        {[](std::string& s) { s.insert(s.begin(), '\0'); }, "a leading zero byte"},
    };
    for (const auto& [edit, what] : edits) {
      EXPECT_FALSE(jose::verify_dpop_proof(with_signature(jwt, edit), dpop_rules(), &error))
          << name << ": " << what;
    }
  }
}

TEST(ClientAssertion, RefusesASignatureOfAnyOtherLengthThanTheAlgorithmGives) {
  auto ec = ec_key();
  auto rsa = rsa_key();
  auto keys = key_set(json::array({ec->public_json("e1"), rsa->public_json("r1")}));
  std::string error;
  const std::string es = sign(*ec, {{"alg", "ES256"}, {"kid", "e1"}}, assertion_claims());
  const std::string ps = sign(*rsa, {{"alg", "PS256"}, {"kid", "r1"}}, assertion_claims());
  ASSERT_TRUE(jose::verify_client_assertion(es, keys, assertion_rules(), &error)) << error;
  ASSERT_TRUE(jose::verify_client_assertion(ps, keys, assertion_rules(), &error)) << error;
  for (const std::string& jwt : {es, ps}) {
    EXPECT_FALSE(jose::verify_client_assertion(
        with_signature(jwt, [](std::string& s) { s.push_back('\x01'); }), keys, assertion_rules(),
        &error));
    EXPECT_FALSE(jose::verify_client_assertion(
        with_signature(jwt, [](std::string& s) { s.insert(s.begin(), '\0'); }), keys,
        assertion_rules(), &error));
  }
}

TEST(NormalizedHtu, KeepsThePathAndDropsWhatRfc9449Ignores) {
  EXPECT_EQ(jose::normalized_htu("https://Bank.example:443/token?a#b"),
            "https://bank.example/token");
  EXPECT_EQ(jose::normalized_htu("http://127.0.0.1:8080/token"), "http://127.0.0.1:8080/token");
  EXPECT_EQ(jose::normalized_htu("https://bank.example"), "https://bank.example/");
  EXPECT_EQ(jose::normalized_htu("ftp://bank.example/x"), "");
  EXPECT_EQ(jose::normalized_htu("https://user@bank.example/x"), "");
  EXPECT_EQ(jose::normalized_htu("/token"), "");
}

}  // namespace
}  // namespace renkei::server
