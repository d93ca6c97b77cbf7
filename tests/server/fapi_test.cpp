// The FAPI 2.0 Security Profile over real HTTP (issue 13, docs/fapi.md): a
// client registered in the store with profile "fapi2" and a public key pushes
// its request (PAR), authenticates with private_key_jwt, and gets DPoP-bound
// tokens it uses at the account API with a proof. Each rule is then broken
// once: the server must refuse. The client's side (keys, signing) is cjose in
// the test; the server only verifies.
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "jose_test_support.h"
#include "oauth/jose.h"
#include "oauth_test_support.h"
#include "records/records_source.h"

namespace renkei::server::testing {
namespace {

using nlohmann::json;
using Params = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kFapiClient = "fapi-app";
constexpr const char* kFapiRedirect = "https://fapi.example/cb";
constexpr const char* kJwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

std::string sha256_b64url(const std::string& s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(d), sizeof d));
}

class FapiTest : public ::testing::Test {
 protected:
  FapiTest() : FapiTest(std::make_unique<TestServer>()) {}
  explicit FapiTest(std::unique_ptr<TestServer> server)
      : owned_(std::move(server)), server_(*owned_) {}

  std::unique_ptr<TestServer> owned_;
  TestServer& server_;
  httplib::Client http_ = server_.client();
  std::unique_ptr<TestKey> client_key_ = make_ec_key();
  std::unique_ptr<TestKey> dpop_key_ = make_ec_key();
  std::unique_ptr<TestKey> other_key_ = make_ec_key();

  void SetUp() override {
    ClientRecord c;
    c.id = kFapiClient;
    c.display_name = "FAPIアプリ";
    c.redirect_uris = {kFapiRedirect};
    c.profile = kProfileFapi2;
    c.jwks = json{{"keys", json::array({client_key_->public_json("k1")})}}.dump();
    auto tx = server_.app().store().begin();
    tx->upsert_client(c);  // registered in the store: usable at once, no restart
    ASSERT_TRUE(tx->commit());
  }

  std::string issuer() { return server_.app().config().issuer; }
  UnixSeconds now() { return server_.app().now(); }
  std::string jkt(const TestKey& k) { return jose::jwk_thumbprint(k.public_json()); }

  json assertion_claims() {
    return {{"iss", kFapiClient}, {"sub", kFapiClient},    {"aud", issuer()},
            {"jti", random_token(16)}, {"iat", now()}, {"exp", now() + 60}};
  }
  std::string assertion(const json& claims) {
    return sign_jwt(*client_key_, {{"alg", "ES256"}, {"kid", "k1"}}, claims);
  }
  Params client_auth(const std::string& jwt) {
    return {{"client_id", kFapiClient}, {"client_assertion_type", kJwtBearer},
            {"client_assertion", jwt}};
  }
  Params client_auth() { return client_auth(assertion(assertion_claims())); }

  json proof_claims(const std::string& method, const std::string& path,
                    const std::string& token = "") {
    json c = {{"jti", random_token(16)}, {"htm", method}, {"htu", issuer() + path},
              {"iat", now()}};
    if (!token.empty()) c["ath"] = sha256_b64url(token);
    return c;
  }
  std::string proof(const json& claims, const TestKey* key = nullptr) {
    const TestKey& k = key ? *key : *dpop_key_;
    return sign_jwt(k, {{"typ", "dpop+jwt"}, {"alg", "ES256"}, {"jwk", k.public_json()}}, claims);
  }
  std::string proof(const std::string& method, const std::string& path,
                    const std::string& token = "") {
    return proof(proof_claims(method, path, token));
  }

  Params push_params(const Pkce& pkce) {
    return {{"response_type", "code"},        {"redirect_uri", kFapiRedirect},
            {"state", kDemoState},            {"code_challenge", pkce.challenge},
            {"code_challenge_method", "S256"}, {"scope", "accounts.read"}};
  }
  httplib::Result par(Params params, const httplib::Headers& headers = {}) {
    return post_form(http_, "/par", params, headers);
  }
  // PAR with a DPoP proof (binds the code to dpop_key_); the request_uri.
  std::string push(const Pkce& pkce) {
    Params p = push_params(pkce);
    for (auto& a : client_auth()) p.push_back(a);
    auto r = par(p, {{"DPoP", proof("POST", "/par")}});
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, 201) << r->body;
    return json_of(r).value("request_uri", "");
  }
  httplib::Result authorize(const std::string& request_uri, const std::string& extra = "") {
    std::string path = "/authorize?client_id=" + std::string(kFapiClient) +
                       "&request_uri=" + url_encode(request_uri) + extra;
    return http_.Get(path.c_str());
  }
  // The customer's 許可する, done in storage for the flow /authorize started.
  std::string complete(const httplib::Result& authorized) {
    EXPECT_TRUE(authorized);
    if (!authorized) return "";
    const std::string session = cookie_value_of(*authorized, "renkei_session");
    App& app = server_.app();
    // The account as the configured records source knows it (local, or the
    // simulated core-banking gateway under server.suite_remote_records),
    // asked before any store transaction opens, as the flow does.
    auto info = app.records().find_account(demo_account_ref());
    EXPECT_TRUE(info.ok() && info.value());
    if (!info.ok() || !info.value()) return "";
    auto tx = app.store().begin();
    auto flow = tx->flow_by_session(secret_digest(session));
    EXPECT_TRUE(flow);
    if (!flow) return "";
    const std::int64_t account_id = local_account_id(*tx, *info.value());
    flow->state.screen = Screen::completed;
    flow->account_id = account_id;
    tx->update_flow(*flow);
    std::string url = issue_authorization(*tx, app, *flow, account_id, app.now());
    EXPECT_TRUE(tx->commit());
    return url;
  }
  std::string code_for(const Pkce& pkce) {
    return query_of(complete(authorize(push(pkce))))["code"];
  }
  httplib::Result token(const std::string& code, const Pkce& pkce,
                        std::optional<std::string> dpop_proof = std::nullopt) {
    Params p = {{"grant_type", "authorization_code"},
                {"code", code},
                {"redirect_uri", kFapiRedirect},
                {"code_verifier", pkce.verifier}};
    for (auto& a : client_auth()) p.push_back(a);
    httplib::Headers h;
    if (!dpop_proof) dpop_proof = proof("POST", "/token");
    if (!dpop_proof->empty()) h.emplace("DPoP", *dpop_proof);
    return post_form(http_, "/token", p, h);
  }
  // Tokens from the whole flow; the body of /token.
  json tokens() {
    Pkce pkce = make_pkce();
    auto r = token(code_for(pkce), pkce);
    EXPECT_TRUE(r);
    if (!r) return json();
    EXPECT_EQ(r->status, 200) << r->body;
    return json_of(r);
  }
  httplib::Result api(const std::string& path, const std::string& authorization,
                      const std::string& dpop_proof) {
    httplib::Headers h = {{"Authorization", authorization}};
    if (!dpop_proof.empty()) h.emplace("DPoP", dpop_proof);
    return http_.Get(path.c_str(), h);
  }

  // The error, and when `why` is given, that its description says so (the
  // refusal is for the rule under test, not for something else).
  void expect_error(const httplib::Result& r, int status, const std::string& error,
                    const std::string& why = "") {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    json j = json_of(r);
    EXPECT_EQ(j.value("error", ""), error) << r->body;
    EXPECT_NE(j.value("error_description", "").find(why), std::string::npos) << r->body;
  }
  void expect_refused_page(const httplib::Result& r) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_TRUE(r->get_header_value("Location").empty()) << "nothing is redirected";
  }
};

// ---------- the whole flow ----------

TEST_F(FapiTest, ParPrivateKeyJwtAndDpopGiveBoundTokensThatReadTheAccount) {
  Pkce pkce = make_pkce();
  Params p = push_params(pkce);
  for (auto& a : client_auth()) p.push_back(a);
  auto pushed = par(p, {{"DPoP", proof("POST", "/par")}});
  ASSERT_TRUE(pushed);
  ASSERT_EQ(pushed->status, 201) << pushed->body;
  json pj = json_of(pushed);
  const std::string request_uri = pj.value("request_uri", "");
  EXPECT_EQ(request_uri.rfind("urn:ietf:params:oauth:request_uri:", 0), 0u) << request_uri;
  EXPECT_GT(pj.value("expires_in", 0), 0);
  EXPECT_LE(pj.value("expires_in", 0), 60);
  EXPECT_EQ(pushed->get_header_value("Cache-Control"), "no-store");

  auto authorized = authorize(request_uri);
  ASSERT_TRUE(authorized);
  expect_flow_page(*authorized);  // the page itself: no redirect at all
  {
    auto tx = server_.app().store().begin();
    auto flow = tx->flow_by_session(
        secret_digest(cookie_value_of(*authorized, "renkei_session")));
    ASSERT_TRUE(flow);
    EXPECT_EQ(flow->redirect_uri, kFapiRedirect);
    EXPECT_EQ(flow->code_challenge, pkce.challenge);
    EXPECT_EQ(flow->dpop_jkt, jkt(*dpop_key_));
  }
  const std::string url = complete(authorized);
  auto q = query_of(url);
  EXPECT_EQ(without_query(url), kFapiRedirect);
  EXPECT_EQ(q["iss"], issuer());  // RFC 9207
  EXPECT_EQ(q["state"], kDemoState);

  auto r = token(q["code"], pkce);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json t = json_of(r);
  EXPECT_EQ(t.value("token_type", ""), "DPoP");
  const std::string access = t.value("access_token", "");
  ASSERT_FALSE(access.empty());
  EXPECT_FALSE(t.value("refresh_token", "").empty());
  {
    auto tx = server_.app().store().begin();
    EXPECT_EQ(tx->find_token(secret_digest(access))->dpop_jkt, jkt(*dpop_key_));  // cnf.jkt
  }

  auto read = api("/api/v1/account", "DPoP " + access, proof("GET", "/api/v1/account", access));
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200) << read->body;
}

TEST_F(FapiTest, APlainOAuthClientIsUnchangedAndMayStillUseBearerTokens) {
  auto t = demo_tokens(server_);
  EXPECT_EQ(t.body.value("token_type", ""), "Bearer");
  auto r = api_get(http_, "/api/v1/account", t.access);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(FapiTest, MetadataAdvertisesParDpopAndPrivateKeyJwt) {
  auto r = http_.Get("/.well-known/oauth-authorization-server");
  ASSERT_TRUE(r);
  json m = json_of(r);
  EXPECT_EQ(m.value("pushed_authorization_request_endpoint", ""), issuer() + "/par");
  EXPECT_TRUE(m.contains("require_pushed_authorization_requests"));
  const json algs = jose::accepted_algs();
  EXPECT_EQ(m["dpop_signing_alg_values_supported"], algs);
  EXPECT_EQ(m["token_endpoint_auth_signing_alg_values_supported"], algs);
  const auto methods = m["token_endpoint_auth_methods_supported"];
  EXPECT_NE(std::find(methods.begin(), methods.end(), "private_key_jwt"), methods.end());
}

// ---------- PAR and /authorize ----------

TEST_F(FapiTest, AFapiClientCannotAuthorizeWithoutPushing) {
  Pkce pkce = make_pkce();
  AuthorizeRequest req;
  req.client_id = kFapiClient;
  req.redirect_uri = kFapiRedirect;
  req.challenge = pkce.challenge;
  expect_refused_page(http_.Get(authorize_path(req).c_str()));
  expect_refused_page(http_.Get("/authorize?client_id=fapi-app"));  // request_uri missing
}

TEST_F(FapiTest, ARequestUriIsSingleUse) {
  Pkce pkce = make_pkce();
  const std::string uri = push(pkce);
  auto first = authorize(uri);
  ASSERT_TRUE(first);
  expect_flow_page(*first);
  expect_refused_page(authorize(uri));
}

// HEAD is a safe method (RFC 9110 §9.2.1), and httplib routes it to the GET
// handler: a link checker's or a prefetcher's HEAD must not use up the
// single-use request_uri that the customer's browser is about to bring.
TEST_F(FapiTest, AHeadOfAuthorizeDoesNotUseTheRequestUri) {
  Pkce pkce = make_pkce();
  const std::string uri = push(pkce);
  auto head = http_.Head(
      ("/authorize?client_id=" + std::string(kFapiClient) + "&request_uri=" + url_encode(uri))
          .c_str());
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 405);
  EXPECT_EQ(head->get_header_value("Allow"), "GET");
  EXPECT_FALSE(head->has_header("Set-Cookie"));
  auto first = authorize(uri);
  ASSERT_TRUE(first);
  expect_flow_page(*first);
}

// FAPI 2.0 §5.3.2.2: a redirect is a 303, never a 307 (here out of hours, to
// our own page; the started flow's page itself is a 200, no redirect at all).
TEST_F(FapiTest, AFapiClientsRedirectIsA303) {
  server_.clock().set(from_jst({2026, 11, 25}, 3, 59, 30));
  Pkce pkce = make_pkce();
  const std::string uri = push(pkce);
  server_.clock().advance(40);  // 04:00:10, in the daily 04:00–04:05 window
  auto r = authorize(uri);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  EXPECT_EQ(r->get_header_value("Location"), "/flow/?error=out_of_hours");
}

TEST_F(FapiTest, AnExpiredRequestUriIsRefused) {
  Pkce pkce = make_pkce();
  const std::string uri = push(pkce);
  server_.clock().advance(61);
  expect_refused_page(authorize(uri));
}

TEST_F(FapiTest, AnUnknownOrForeignRequestUriIsRefused) {
  expect_refused_page(authorize("urn:ietf:params:oauth:request_uri:nope"));
  expect_refused_page(authorize("https://attacker.example/request"));
  Pkce pkce = make_pkce();
  const std::string uri = push(pkce);
  // Another client presenting it (the demo app) is refused too.
  expect_refused_page(http_.Get(("/authorize?client_id=demo-app&request_uri=" + url_encode(uri)).c_str()));
}

TEST_F(FapiTest, ParametersOutsideThePushedRequestAreRefused) {
  Pkce pkce = make_pkce();
  const std::string uri = push(pkce);
  expect_refused_page(authorize(uri, "&redirect_uri=" + url_encode("https://attacker.example/cb")));
  expect_refused_page(authorize(uri, "&state=other"));
  expect_refused_page(authorize(uri, "&scope=accounts.read"));
  // Refused before it was used: the pushed request itself still works once.
  auto ok = authorize(uri);
  ASSERT_TRUE(ok);
  expect_flow_page(*ok);
}

TEST_F(FapiTest, ThePushMustCarryPkceS256AndARegisteredRedirectUri) {
  Pkce pkce = make_pkce();
  auto without = [&](const std::string& key) {
    Params p;
    for (auto& kv : push_params(pkce)) {
      if (kv.first != key) p.push_back(kv);
    }
    for (auto& a : client_auth()) p.push_back(a);
    return par(p);
  };
  expect_error(without("code_challenge"), 400, "invalid_request");
  expect_error(without("code_challenge_method"), 400, "invalid_request");
  expect_error(without("redirect_uri"), 400, "invalid_request");
  Params plain = push_params(pkce);
  plain[4].second = "plain";
  for (auto& a : client_auth()) plain.push_back(a);
  expect_error(par(plain), 400, "invalid_request");
  Params other = push_params(pkce);
  other[1].second = "https://attacker.example/cb";
  for (auto& a : client_auth()) other.push_back(a);
  expect_error(par(other), 400, "invalid_request");
  Params with_uri = push_params(pkce);
  with_uri.emplace_back("request_uri", "urn:ietf:params:oauth:request_uri:x");
  for (auto& a : client_auth()) with_uri.push_back(a);
  expect_error(par(with_uri), 400, "invalid_request");
}

// ---------- private_key_jwt ----------

TEST_F(FapiTest, AReplayedClientAssertionIsRefused) {
  Pkce pkce = make_pkce();
  const std::string jwt = assertion(assertion_claims());
  Params p = push_params(pkce);
  for (auto& a : client_auth(jwt)) p.push_back(a);
  auto first = par(p);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 201) << first->body;
  expect_error(par(p), 401, "invalid_client", "jti was already used");
}

TEST_F(FapiTest, AnAssertionForAnotherAudienceIsRefused) {
  Pkce pkce = make_pkce();
  for (const json& aud : {json(issuer() + "/token"), json("https://other.example"),
                          json::array({"https://other.example"})}) {
    json claims = assertion_claims();
    claims["aud"] = aud;
    Params p = push_params(pkce);
    for (auto& a : client_auth(assertion(claims))) p.push_back(a);
    expect_error(par(p), 401, "invalid_client", "aud is not the issuer");
  }
}

TEST_F(FapiTest, AssertionsWithAlgNoneOrHs256OrAnotherKeyAreRefused) {
  Pkce pkce = make_pkce();
  const std::vector<std::pair<std::string, std::string>> jwts = {
      {unsigned_jwt({{"alg", "none"}}, assertion_claims()), "alg is not accepted"},
      {unsigned_jwt({{"alg", "HS256"}}, assertion_claims(), "c2lnbmF0dXJl"), "alg is not accepted"},
      {sign_jwt(*other_key_, {{"alg", "ES256"}}, assertion_claims()), "signature"},
  };
  for (const auto& [jwt, why] : jwts) {
    Params p = push_params(pkce);
    for (auto& a : client_auth(jwt)) p.push_back(a);
    expect_error(par(p), 401, "invalid_client", why);
  }
}

TEST_F(FapiTest, AnExpiredOrFutureAssertionIsRefused) {
  Pkce pkce = make_pkce();
  json expired = assertion_claims();
  expired["exp"] = now() - 1;
  json future = assertion_claims();
  future["iat"] = now() + 30;
  future["exp"] = now() + 90;
  for (const auto& [c, why] : {std::pair{expired, "expired"}, std::pair{future, "future"}}) {
    Params p = push_params(pkce);
    for (auto& a : client_auth(assertion(c))) p.push_back(a);
    expect_error(par(p), 401, "invalid_client", why);
  }
}

TEST_F(FapiTest, AFapiClientCannotUseASecretOrNoAuthentication) {
  Pkce pkce = make_pkce();
  Params none = push_params(pkce);
  none.emplace_back("client_id", kFapiClient);
  expect_error(par(none), 401, "invalid_client");
  Params secret = push_params(pkce);
  secret.emplace_back("client_id", kFapiClient);
  secret.emplace_back("client_secret", "guess");
  expect_error(par(secret), 401, "invalid_client");
  // At /token and /revoke as well.
  expect_error(post_form(http_, "/token",
                         {{"grant_type", "refresh_token"}, {"refresh_token", "x"},
                          {"client_id", kFapiClient}}),
               401, "invalid_client");
  expect_error(post_form(http_, "/revoke", {{"token", "x"}, {"client_id", kFapiClient}}), 401,
               "invalid_client");
}

// ---------- DPoP at /token ----------

TEST_F(FapiTest, TheTokenEndpointRefusesBadDpopProofs) {
  struct Case {
    const char* name;
    std::function<std::string()> make;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"no proof", [&] { return std::string(); }, "must send a DPoP proof"},
      {"wrong htm", [&] { return proof("GET", "/token"); }, "htm"},
      {"wrong htu", [&] { return proof("POST", "/par"); }, "htu"},
      {"other host", [&] {
         json c = proof_claims("POST", "/token");
         c["htu"] = "https://attacker.example/token";
         return proof(c);
       }, "htu"},
      {"stale iat", [&] {
         json c = proof_claims("POST", "/token");
         c["iat"] = now() - 120;
         return proof(c);
       }, "iat"},
      {"future iat", [&] {
         json c = proof_claims("POST", "/token");
         c["iat"] = now() + 60;
         return proof(c);
       }, "iat"},
      {"alg none", [&] {
         return unsigned_jwt({{"typ", "dpop+jwt"}, {"alg", "none"}, {"jwk", dpop_key_->public_json()}},
                             proof_claims("POST", "/token"));
       }, "alg"},
      {"another key than the pushed dpop_jkt",
       [&] { return proof(proof_claims("POST", "/token"), other_key_.get()); }, "dpop_jkt"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Pkce pkce = make_pkce();
    const std::string code = code_for(pkce);
    expect_error(token(code, pkce, c.make()), 400, "invalid_dpop_proof", c.why);
  }
}

// A proof with a member of the wrong JSON type is an invalid proof like any
// other (the hostile-input sweep got 500 server_error, unauthenticated and
// with a garbage signature).
TEST_F(FapiTest, ProofsWithMembersOfTheWrongJsonTypeAreInvalidProofs) {
  const std::string garbage = base64url_encode(std::string(64, 's'));
  json header = {{"typ", "dpop+jwt"}, {"alg", "ES256"}, {"jwk", dpop_key_->public_json()}};
  std::vector<std::pair<std::string, std::string>> proofs;
  for (const char* member : {"typ", "alg"}) {
    for (const json& bad : {json(1), json::array({"ES256"})}) {
      json h = header;
      h[member] = bad;
      proofs.emplace_back(unsigned_jwt(h, proof_claims("POST", "/token"), garbage),
                          std::string(member) + " " + bad.dump());
    }
  }
  for (const char* member : {"kty", "crv"}) {
    json h = header;
    h["jwk"][member] = 1;
    proofs.emplace_back(unsigned_jwt(h, proof_claims("POST", "/token"), garbage),
                        std::string("jwk.") + member);
  }
  for (const char* member : {"htm", "htu", "jti"}) {
    json c = proof_claims("POST", "/token");
    c[member] = 1;
    proofs.emplace_back(proof(c), std::string(member) + " a number");
  }
  // One byte too many in an ES256 signature (RFC 7518 §3.4: exactly 64).
  proofs.emplace_back(with_signature(proof("POST", "/token"), [](std::string& s) { s += 'x'; }),
                      "a 65-byte signature");
  for (const auto& [p, name] : proofs) {
    SCOPED_TRACE(name);
    // No client, token or code needed to reach the proof's check.
    expect_error(
        post_form(
            http_, "/token",
            {{"grant_type", "refresh_token"}, {"refresh_token", "x"}, {"client_id", "demo-app"}},
            {{"DPoP", p}}),
        400, "invalid_dpop_proof");
    Pkce pkce = make_pkce();
    Params pushed = push_params(pkce);
    for (auto& a : client_auth()) pushed.push_back(a);
    auto r = par(pushed, {{"DPoP", p}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_EQ(json_of(r).value("error", ""), "invalid_dpop_proof") << r->body;
  }
}

// The same for a client assertion: invalid_client, never 500.
TEST_F(FapiTest, AssertionsWithMembersOfTheWrongJsonTypeAreInvalidClients) {
  Pkce pkce = make_pkce();
  std::vector<std::pair<std::string, std::string>> jwts;
  for (const char* member : {"iss", "aud", "jti", "exp"}) {
    json c = assertion_claims();
    c[member] = json::array({1});
    jwts.emplace_back(assertion(c), std::string(member) + " an array");
  }
  json iss = assertion_claims();
  iss["iss"] = 1;
  jwts.emplace_back(assertion(iss), "iss a number");
  jwts.emplace_back(
      sign_jwt(*client_key_, {{"alg", "ES256"}, {"kid", "k1"}, {"typ", {1}}}, assertion_claims()),
      "typ an array");
  jwts.emplace_back(unsigned_jwt({{"alg", json::array({"ES256"})}, {"kid", "k1"}},
                                 assertion_claims(), base64url_encode(std::string(64, 's'))),
                    "alg an array");
  jwts.emplace_back(with_signature(assertion(assertion_claims()), [](std::string& s) { s += 'x'; }),
                    "a 65-byte signature");
  for (const auto& [jwt, name] : jwts) {
    SCOPED_TRACE(name);
    Params p = push_params(pkce);
    for (auto& a : client_auth(jwt)) p.push_back(a);
    expect_error(par(p, {{"DPoP", proof("POST", "/par")}}), 401, "invalid_client");
  }
}

TEST_F(FapiTest, AReplayedDpopProofIsRefused) {
  Pkce pkce = make_pkce();
  const std::string p = proof("POST", "/token");
  auto first = token(code_for(pkce), pkce, p);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200) << first->body;
  Pkce pkce2 = make_pkce();
  expect_error(token(code_for(pkce2), pkce2, p), 400, "invalid_dpop_proof", "already used");
}

TEST_F(FapiTest, RefreshTokensAreNotRotatedAndNeedAProof) {
  json t = tokens();
  const std::string refresh = t.value("refresh_token", "");
  ASSERT_FALSE(refresh.empty());
  auto refresh_with = [&](const std::string& p) {
    Params f = {{"grant_type", "refresh_token"}, {"refresh_token", refresh}};
    for (auto& a : client_auth()) f.push_back(a);
    httplib::Headers h;
    if (!p.empty()) h.emplace("DPoP", p);
    return post_form(http_, "/token", f, h);
  };
  for (int i = 0; i < 2; ++i) {  // the same refresh token, twice: not rotated
    auto r = refresh_with(proof("POST", "/token"));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    json j = json_of(r);
    EXPECT_EQ(j.value("token_type", ""), "DPoP");
    EXPECT_FALSE(j.contains("refresh_token"));
    const std::string access = j.value("access_token", "");
    auto read = api("/api/v1/account", "DPoP " + access, proof("GET", "/api/v1/account", access));
    ASSERT_TRUE(read);
    EXPECT_EQ(read->status, 200) << read->body;
  }
  expect_error(refresh_with(""), 400, "invalid_dpop_proof");
}

TEST_F(FapiTest, RevocationAcceptsPrivateKeyJwt) {
  json t = tokens();
  const std::string access = t.value("access_token", "");
  Params f = {{"token", access}};
  for (auto& a : client_auth()) f.push_back(a);
  auto r = post_form(http_, "/revoke", f);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  auto read = api("/api/v1/account", "DPoP " + access, proof("GET", "/api/v1/account", access));
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 401);
}

// ---------- DPoP at the account API ----------

TEST_F(FapiTest, TheAccountApiRefusesADpopBoundTokenWithoutItsProof) {
  json t = tokens();
  const std::string access = t.value("access_token", "");
  ASSERT_FALSE(access.empty());
  const std::string path = "/api/v1/account";
  struct Case {
    const char* name;
    std::string authorization;
    std::string proof;
    const char* why;  // in the challenge's error_description
  };
  json no_ath = proof_claims("GET", path);
  json wrong_ath = proof_claims("GET", path, "another-token");
  const std::vector<Case> cases = {
      {"bearer use", "Bearer " + access, "", "DPoP-bound"},
      {"bearer use with a proof", "Bearer " + access, proof("GET", path, access), "DPoP-bound"},
      {"no proof", "DPoP " + access, "", "proof is required"},
      {"another key's proof", "DPoP " + access,
       proof(proof_claims("GET", path, access), other_key_.get()), "not by the token's key"},
      {"no ath", "DPoP " + access, proof(no_ath), "ath"},
      {"wrong ath", "DPoP " + access, proof(wrong_ath), "ath"},
      {"wrong htm", "DPoP " + access, proof("POST", path, access), "htm"},
      {"wrong htu", "DPoP " + access, proof("GET", "/api/v1/account/balance", access), "htu"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = api(path, c.authorization, c.proof);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << r->body;
    const std::string challenge = r->get_header_value("WWW-Authenticate");
    EXPECT_EQ(challenge.rfind("DPoP ", 0), 0u) << challenge;
    EXPECT_NE(challenge.find(c.why), std::string::npos) << challenge;
  }
  // Members of the wrong JSON type and an overlong signature: the same
  // challenge as any other invalid proof (the sweep got 500 system_error).
  {
    std::vector<std::pair<std::string, std::string>> bad;
    json alg_array = {
        {"typ", "dpop+jwt"}, {"alg", json::array({"ES256"})}, {"jwk", dpop_key_->public_json()}};
    bad.emplace_back(unsigned_jwt(alg_array, proof_claims("GET", path, access),
                                  base64url_encode(std::string(64, 's'))),
                     "alg an array");
    for (const char* member : {"htm", "htu", "ath"}) {
      json c = proof_claims("GET", path, access);
      c[member] = 1;
      bad.emplace_back(proof(c), std::string(member) + " a number");
    }
    bad.emplace_back(with_signature(proof("GET", path, access), [](std::string& s) { s += 'x'; }),
                     "a 65-byte signature");
    for (const auto& [p, name] : bad) {
      SCOPED_TRACE(name);
      auto r = api(path, "DPoP " + access, p);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 401) << r->body;
      EXPECT_NE(r->get_header_value("WWW-Authenticate").find("error=\"invalid_dpop_proof\""),
                std::string::npos)
          << r->get_header_value("WWW-Authenticate");
    }
  }
  // A replayed proof (already accepted once) is refused.
  const std::string once = proof("GET", path, access);
  auto first = api(path, "DPoP " + access, once);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200) << first->body;
  auto again = api(path, "DPoP " + access, once);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 401);
  EXPECT_NE(again->get_header_value("WWW-Authenticate").find("already used"), std::string::npos);
}

// FAPI 2.0 §5.3.2.1: a code lives at most 60 s, even when the configuration
// allows more (for every client: the cap costs plain clients nothing).
TEST(FapiCodeLifetime, ACodeLivesAtMost60SecondsWhateverTheConfigurationSays) {
  ServerConfig config = test_config();
  config.code_ttl_seconds = 600;
  TestServer server(config);
  auto http = server.client();
  auto in_time = demo_authorization(server);
  server.clock().advance(59);
  auto ok = exchange_code(http, in_time.code, in_time.pkce.verifier);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  auto late = demo_authorization(server);
  server.clock().advance(60);
  auto r = exchange_code(http, late.code, late.pkce.verifier);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(json_of(r).value("error_description", ""), "authorization code expired");
}

// A proof refused after its jti was remembered (here: the app is switched
// off, which is checked after the proof) leaves nothing behind: the token
// check's unit is left by the refusal without a commit, so the same proof is
// accepted once the app is on again, and only then remembered.
TEST_F(FapiTest, AProofRefusedAfterItsJtiWasCheckedIsNotRemembered) {
  json t = tokens();
  const std::string access = t.value("access_token", "");
  ASSERT_FALSE(access.empty());
  const std::string path = "/api/v1/account";
  const std::string once = proof("GET", path, access);
  ASSERT_TRUE(switch_off_client(server_.app().store(), kFapiClient));
  auto off = api(path, "DPoP " + access, once);
  ASSERT_TRUE(off);
  EXPECT_EQ(off->status, http_status(ErrorCode::service_unavailable)) << off->body;
  {
    auto tx = server_.app().store().begin();
    std::optional<ClientRecord> c = tx->find_client(kFapiClient);
    ASSERT_TRUE(c);
    c->enabled = true;
    tx->upsert_client(*c);
    ASSERT_TRUE(tx->commit());
  }
  auto on = api(path, "DPoP " + access, once);
  ASSERT_TRUE(on);
  EXPECT_EQ(on->status, 200) << on->body;
  auto again = api(path, "DPoP " + access, once);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 401);
  EXPECT_NE(again->get_header_value("WWW-Authenticate").find("already used"), std::string::npos);
}

// On PostgreSQL (server.suite_postgres.*), with every store transaction's
// first attempt losing its pooled connection (losing_store.h).
class FapiLosingConnectionsTest : public FapiTest {
 protected:
  FapiLosingConnectionsTest()
      : FapiTest(test_backend() == "postgres" ? TestServer::losing_connections()
                                              : std::make_unique<TestServer>()) {}
};

// A DPoP read whose token check (read-write: the proof's jti is remembered),
// records lookups and closing write each lost their first connection answers
// as usual, and the proof's jti was remembered once: the rerun did not find
// it used, and a replay is refused.
TEST_F(FapiLosingConnectionsTest, ADpopReadAnswersWhenEachFirstConnectionIsLost) {
  if (test_backend() != "postgres") GTEST_SKIP() << "PostgreSQL only (server.suite_postgres.*)";
  if (test_records() != "local") GTEST_SKIP() << "the local records source reads the store";
  json t = tokens();
  const std::string access = t.value("access_token", "");
  ASSERT_FALSE(access.empty());
  const std::string path = "/api/v1/account/balance";
  auto expected = api(path, "DPoP " + access, proof("GET", path, access));
  ASSERT_TRUE(expected);
  ASSERT_EQ(expected->status, 200) << expected->body;
  const std::string once = proof("GET", path, access);
  const int lost_before = server_.losing_store().lost();
  const std::uint64_t reruns_before = storage_connection_retries();
  server_.losing_store().lose_first_connections(true);
  auto r = api(path, "DPoP " + access, once);
  server_.losing_store().lose_first_connections(false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json_of(r), json_of(expected));
  const int losses = server_.losing_store().lost() - lost_before;
  EXPECT_EQ(losses, 4);  // the token check, the standing, the balance, the closing write
  EXPECT_EQ(storage_connection_retries() - reruns_before, static_cast<std::uint64_t>(losses));
  auto again = api(path, "DPoP " + access, once);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 401);
  EXPECT_NE(again->get_header_value("WWW-Authenticate").find("already used"), std::string::npos);
}

}  // namespace
}  // namespace renkei::server::testing
