// The authorization server over real HTTP: /authorize validation, the
// metadata document, /token (codes, PKCE, refresh rotation, client
// authentication), /revoke, and the authorization period.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "oauth_test_support.h"

namespace renkei::server::testing {
namespace {

class OAuthTest : public ::testing::Test {
 protected:
  TestServer server_;
  httplib::Client http_ = server_.client();

  void expect_oauth_error(const httplib::Result& r, int status, const std::string& error) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    auto j = json_of(r);
    ASSERT_TRUE(j.is_object()) << r->body;
    EXPECT_EQ(j.value("error", ""), error) << r->body;
    EXPECT_TRUE(j.contains("error_description")) << r->body;
    EXPECT_TRUE(j.contains("code")) << r->body;
    EXPECT_TRUE(j.contains("message")) << r->body;
    EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
  }
};

// The account API at `path` answers `access` with `status`.
void expect_api_status(httplib::Client& http, const std::string& path, const std::string& access,
                       int status) {
  auto api = api_get(http, path, access);
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, status) << api->body;
}

// ---------- /authorize ----------

TEST_F(OAuthTest, AuthorizeStartsAFlowWithASessionCookie) {
  Pkce pkce = make_pkce();
  AuthorizeRequest req;
  req.challenge = pkce.challenge;
  req.scope = "accounts.read";
  auto r = http_.Get(authorize_path(req).c_str());
  ASSERT_TRUE(r);
  expect_flow_page(*r);
  std::string cookie = set_cookie_header(*r, "renkei_session");
  ASSERT_FALSE(cookie.empty());
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("SameSite=Lax"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("Path=/"), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find("Secure"), std::string::npos) << "no TLS configured: " << cookie;
  std::string session = cookie_value_of(*r, "renkei_session");
  EXPECT_GE(session.size(), 43u);

  auto tx = server_.app().store().begin();
  auto flow = tx->flow_by_session(secret_digest(session));
  ASSERT_TRUE(flow);
  EXPECT_EQ(flow->client_id, "demo-app");
  EXPECT_EQ(flow->redirect_uri, kDemoRedirect);
  EXPECT_EQ(flow->oauth_state, kDemoState);
  EXPECT_EQ(flow->code_challenge, pkce.challenge);
  EXPECT_EQ(flow->scope, "accounts.read");
  EXPECT_EQ(flow->state.screen, Screen::account_entry);
  EXPECT_FALSE(flow->csrf_token.empty());
  EXPECT_NE(flow->session_digest, session) << "only the digest is stored";

  AuditQuery q;
  q.flow_id = flow->flow_id;
  auto audit = tx->query_audit(q);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].step, "authorize");
  EXPECT_EQ(audit[0].outcome, "ok");
  EXPECT_EQ(audit[0].client_id, "demo-app");
}

// HEAD /authorize (which httplib hands to the GET handler) starts no flow:
// 405, no cookie, nothing counted; the same request as a GET then does.
TEST_F(OAuthTest, AHeadOfAuthorizeStartsNoFlow) {
  AuthorizeRequest req;
  req.challenge = make_pkce().challenge;
  auto head = http_.Head(authorize_path(req).c_str());
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 405);
  EXPECT_EQ(head->get_header_value("Allow"), "GET");
  EXPECT_FALSE(head->has_header("Set-Cookie"));
  EXPECT_EQ(head->get_header_value("Cache-Control"), "no-store");
  EXPECT_EQ(server_.app().metrics().render().find("renkei_authorize_total"), std::string::npos);
  auto get = http_.Get(authorize_path(req).c_str());
  ASSERT_TRUE(get);
  expect_flow_page(*get);
}

TEST_F(OAuthTest, AuthorizeWithoutScopeIsAccepted) {
  AuthorizeRequest req;
  req.challenge = make_pkce().challenge;
  auto r = http_.Get(authorize_path(req).c_str());
  ASSERT_TRUE(r);
  expect_flow_page(*r);
}

TEST_F(OAuthTest, UnknownClientOrRedirectUriIsNeverRedirected) {
  const std::string challenge = make_pkce().challenge;
  struct Case {
    std::string name, client_id, redirect_uri;
  };
  const std::vector<Case> cases = {
      {"unknown client", "evil-app", kDemoRedirect},
      {"missing client", "", kDemoRedirect},
      {"missing redirect", "demo-app", ""},
      {"trailing slash", "demo-app", std::string(kDemoRedirect) + "/"},
      {"prefix of registered", "demo-app", "http://127.0.0.1:9/call"},
      {"registered as prefix", "demo-app", std::string(kDemoRedirect) + "/extra"},
      {"extra query", "demo-app", std::string(kDemoRedirect) + "?x=1"},
      {"fragment", "demo-app", std::string(kDemoRedirect) + "#x"},
      {"scheme case", "demo-app", "HTTP://127.0.0.1:9/callback"},
      {"path case", "demo-app", "http://127.0.0.1:9/Callback"},
      {"other port", "demo-app", "http://127.0.0.1:90/callback"},
      {"another client's uri", "demo-app", kConfidentialRedirect},
      {"attacker", "demo-app", "https://attacker.example/callback"},
  };
  for (const auto& c : cases) {
    AuthorizeRequest req;
    req.client_id = c.client_id;
    req.redirect_uri = c.redirect_uri;
    req.challenge = challenge;
    auto r = http_.Get(authorize_path(req).c_str());
    ASSERT_TRUE(r) << c.name;
    EXPECT_EQ(r->status, 400) << c.name;
    EXPECT_FALSE(r->has_header("Location")) << c.name;
    EXPECT_TRUE(set_cookie_header(*r, "renkei_session").empty()) << c.name;
    auto j = json_of(r);
    ASSERT_TRUE(j.is_object()) << c.name << ": " << r->body;
    EXPECT_EQ(j["error"]["code"], "bad_request") << c.name;
  }
  // The same parameter twice cannot be trusted either.
  auto r = http_.Get(("/authorize?response_type=code&client_id=demo-app&client_id=demo-app"
                      "&redirect_uri=" +
                      url_encode(kDemoRedirect) + "&state=s&code_challenge=" + challenge +
                      "&code_challenge_method=S256")
                         .c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_FALSE(r->has_header("Location"));
}

// Audit finding A5: a browser (the customer's webview) sent with an unknown
// client or a redirect URI that is not registered saw raw JSON. It gets a
// plain page now: 400, the catalog's message, the institution's name, no
// redirect and no link to the URI it was given; programs keep the envelope.
TEST_F(OAuthTest, RefusedAuthorizeIsAPlainPageForABrowser) {
  const std::string challenge = make_pkce().challenge;
  for (const auto& [client_id, redirect] : std::vector<std::pair<std::string, std::string>>{
           {"evil-app", kDemoRedirect}, {"demo-app", "https://attacker.example/cb?<x>"}}) {
    AuthorizeRequest req;
    req.client_id = client_id;
    req.redirect_uri = redirect;
    req.challenge = challenge;
    auto r = http_.Get(authorize_path(req).c_str(),
                       {{"Accept", "text/html,application/xhtml+xml,*/*;q=0.8"}});
    ASSERT_TRUE(r) << client_id;
    EXPECT_EQ(r->status, 400) << client_id;
    EXPECT_FALSE(r->has_header("Location")) << client_id;
    EXPECT_TRUE(set_cookie_header(*r, "renkei_session").empty()) << client_id;
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8") << client_id;
    EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store") << client_id;
    EXPECT_NE(r->body.find(std::string(message_ja(ErrorCode::bad_request))), std::string::npos)
        << r->body;
    EXPECT_EQ(r->body.find("attacker"), std::string::npos) << r->body;
    EXPECT_EQ(r->body.find("<a "), std::string::npos) << r->body;
    EXPECT_NE(r->get_header_value("Content-Security-Policy").find("default-src 'self'"),
              std::string::npos);
    // A program asking for JSON keeps the envelope.
    auto j = http_.Get(authorize_path(req).c_str(), {{"Accept", "application/json"}});
    ASSERT_TRUE(j);
    EXPECT_EQ(j->status, 400);
    EXPECT_EQ(json_of(j)["error"]["code"], "bad_request");
  }
}

TEST_F(OAuthTest, OtherRequestErrorsGoBackToTheAppWithInvalidRequest) {
  const std::string challenge = make_pkce().challenge;
  struct Case {
    std::string name;
    AuthorizeRequest req;
  };
  std::vector<Case> cases;
  // A valid request with one change.
  auto add = [&](std::string name, const std::function<void(AuthorizeRequest&)>& change) {
    AuthorizeRequest r;
    r.challenge = challenge;
    change(r);
    cases.push_back({std::move(name), r});
  };
  add("missing code_challenge", [](AuthorizeRequest& r) { r.challenge = ""; });
  add("plain method", [](AuthorizeRequest& r) { r.method = "plain"; });
  add("missing method (defaults to plain)", [](AuthorizeRequest& r) { r.method = ""; });
  add("method case", [](AuthorizeRequest& r) { r.method = "s256"; });
  add("short challenge", [&](AuthorizeRequest& r) { r.challenge = challenge.substr(0, 42); });
  add("challenge with padding", [&](AuthorizeRequest& r) { r.challenge = challenge.substr(0, 42) + "="; });
  add("missing response_type", [](AuthorizeRequest& r) { r.response_type = ""; });
  for (const auto& c : cases) {
    auto r = http_.Get(authorize_path(c.req).c_str());
    ASSERT_TRUE(r) << c.name;
    EXPECT_EQ(r->status, 302) << c.name;
    std::string location = r->get_header_value("Location");
    EXPECT_EQ(without_query(location), kDemoRedirect) << c.name;
    auto q = query_of(location);
    EXPECT_EQ(q["error"], "invalid_request") << c.name;
    EXPECT_FALSE(q["error_description"].empty()) << c.name;
    EXPECT_EQ(q["state"], kDemoState) << c.name;
    EXPECT_EQ(q["iss"], server_.app().config().issuer) << c.name;
    EXPECT_EQ(q.count("code"), 0u) << c.name;
    EXPECT_TRUE(set_cookie_header(*r, "renkei_session").empty()) << c.name;
  }
}

// RFC 6749 §4.1.2.1: once client and redirect URI are valid, an unsupported
// response_type and an unknown scope have error codes of their own, and go
// back to the app with state and iss like every other request error.
TEST_F(OAuthTest, UnsupportedResponseTypeAndInvalidScopeHaveTheirOwnCodes) {
  const std::string challenge = make_pkce().challenge;
  struct Case {
    std::string name;
    std::string response_type;
    std::optional<std::string> scope;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"implicit grant", "token", std::nullopt, "unsupported_response_type"},
      {"hybrid", "code id_token", std::nullopt, "unsupported_response_type"},
      {"case", "Code", std::nullopt, "unsupported_response_type"},
      {"unknown scope", "code", "accounts.write", "invalid_scope"},
      {"extra scope", "code", "accounts.read openid", "invalid_scope"},
      {"scope with a trailing space", "code", "accounts.read ", "invalid_scope"},
  };
  for (const auto& c : cases) {
    AuthorizeRequest req;
    req.challenge = challenge;
    req.response_type = c.response_type;
    req.scope = c.scope;
    auto r = http_.Get(authorize_path(req).c_str());
    ASSERT_TRUE(r) << c.name;
    EXPECT_EQ(r->status, 302) << c.name;
    const std::string location = r->get_header_value("Location");
    EXPECT_EQ(without_query(location), kDemoRedirect) << c.name;
    auto q = query_of(location);
    EXPECT_EQ(q["error"], c.error) << c.name;
    EXPECT_FALSE(q["error_description"].empty()) << c.name;
    EXPECT_EQ(q["state"], kDemoState) << c.name;
    EXPECT_EQ(q["iss"], server_.app().config().issuer) << c.name;
    EXPECT_EQ(q.count("code"), 0u) << c.name;
    EXPECT_TRUE(set_cookie_header(*r, "renkei_session").empty()) << c.name;
  }
  // Still never redirected anywhere unless client and redirect URI are valid.
  AuthorizeRequest wrong;
  wrong.challenge = challenge;
  wrong.response_type = "token";
  wrong.redirect_uri = "https://attacker.example/cb";
  auto r = http_.Get(authorize_path(wrong).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_FALSE(r->has_header("Location"));
}

TEST_F(OAuthTest, StateIsRequired) {
  AuthorizeRequest req;
  req.challenge = make_pkce().challenge;
  req.state = "";
  auto r = http_.Get(authorize_path(req).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 302);
  auto q = query_of(r->get_header_value("Location"));
  EXPECT_EQ(q["error"], "invalid_request");
  EXPECT_EQ(q.count("state"), 0u);
  EXPECT_EQ(q["iss"], server_.app().config().issuer);
}

TEST_F(OAuthTest, RepeatedParameterIsInvalidRequest) {
  const std::string challenge = make_pkce().challenge;
  auto r = http_.Get(("/authorize?response_type=code&client_id=demo-app&redirect_uri=" +
                      url_encode(kDemoRedirect) + "&state=s1&code_challenge=" + challenge +
                      "&code_challenge=" + challenge + "&code_challenge_method=S256")
                         .c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 302);
  auto q = query_of(r->get_header_value("Location"));
  EXPECT_EQ(q["error"], "invalid_request");
  EXPECT_EQ(q["state"], "s1");
}

TEST_F(OAuthTest, DisabledClientGoesToOurPageWithServiceUnavailable) {
  ASSERT_TRUE(switch_off_client(server_.app().store()));
  AuthorizeRequest req;
  req.challenge = make_pkce().challenge;
  auto r = http_.Get(authorize_path(req).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(r->get_header_value("Location"), "/flow/?error=service_unavailable");
  // The flow is started so that the page can lead back to the app (SPEC §8a)…
  FlowBrowser customer(server_);
  ASSERT_TRUE(customer.authorize(authorize_path(req)));
  ASSERT_FALSE(customer.session().empty());
  auto view = customer.get_flow();
  EXPECT_EQ(view["flow"]["screen"], "account_entry");
  // …but none of its steps goes on while the app is switched off.
  auto [status, body] = customer.post("/api/flow/account", {{"branch", "115"},
                                                            {"account_type", "ordinary"},
                                                            {"account_number", "1100026"}});
  EXPECT_EQ(status, 503);
  EXPECT_EQ(body["error"]["code"], "service_unavailable");
  auto [left, answer] = customer.post("/api/flow/leave", {{"reason", "service_unavailable"}});
  EXPECT_EQ(left, 200) << answer.dump();
  const std::string to = answer.value("redirect_to", "");
  EXPECT_EQ(without_query(to), kDemoRedirect);
  EXPECT_EQ(query_of(to)["error"], "temporarily_unavailable");
  EXPECT_EQ(query_of(to)["state"], kDemoState);

  // An unregistered redirect URI is still a 400, disabled or not.
  req.redirect_uri = "https://attacker.example/cb";
  r = http_.Get(authorize_path(req).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_FALSE(r->has_header("Location"));
}

TEST_F(OAuthTest, OutOfHoursGoesToOurPage) {
  server_.clock().set(from_jst({2026, 11, 25}, 4, 2, 0));  // daily 04:00–04:05
  AuthorizeRequest req;
  req.challenge = make_pkce().challenge;
  auto r = http_.Get(authorize_path(req).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(r->get_header_value("Location"), "/flow/?error=out_of_hours");
  EXPECT_FALSE(set_cookie_header(*r, "renkei_session").empty());  // the way back (SPEC §8a)

  server_.clock().set(from_jst({2026, 11, 25}, 4, 5, 0));
  r = http_.Get(authorize_path(req).c_str());
  ASSERT_TRUE(r);
  expect_flow_page(*r);
}

// SPEC §8a: out of hours at /authorize, the page shows when the service opens
// again and 連携元画面へ takes the customer back to the app with
// error=temporarily_unavailable, state and iss — only to the flow's registered
// redirect URI, whatever the request to leave says.
TEST_F(OAuthTest, OutOfHoursPageLeadsBackToTheAppWithTemporarilyUnavailable) {
  server_.clock().set(from_jst({2026, 11, 25}, 4, 2, 0));  // daily 04:00–04:05
  AuthorizeRequest req;
  req.challenge = make_pkce().challenge;
  FlowBrowser customer(server_);
  auto r = customer.authorize(authorize_path(req));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Location"), "/flow/?error=out_of_hours");

  auto view = customer.get_flow();
  ASSERT_TRUE(view["service"].is_object()) << view.dump();
  EXPECT_EQ(view["service"]["at"], "2026-11-25T04:02:00+09:00");
  EXPECT_EQ(view["service"]["reopens_at"], "2026-11-25T04:05:00+09:00");
  EXPECT_EQ(view["service"]["reopening"], "4時05分から再開します。");

  // A step while closed answers out_of_hours with the reopening time too.
  auto [status, body] = customer.post("/api/flow/account", {{"branch", "115"},
                                                            {"account_type", "ordinary"},
                                                            {"account_number", "1100026"}});
  EXPECT_EQ(status, 503);
  EXPECT_EQ(body["error"]["code"], "out_of_hours");
  EXPECT_EQ(body["service"]["reopens_at"], "2026-11-25T04:05:00+09:00");

  // Extra members cannot steer the redirect: only reason is read.
  auto [left, answer] = customer.post(
      "/api/flow/leave", {{"reason", "out_of_hours"},
                          {"redirect_uri", "https://attacker.example/cb"},
                          {"state", "forged"}});
  ASSERT_EQ(left, 200) << answer.dump();
  EXPECT_EQ(answer["flow"]["screen"], "cancelled");
  const std::string to = answer.value("redirect_to", "");
  EXPECT_EQ(without_query(to), kDemoRedirect);
  auto q = query_of(to);
  EXPECT_EQ(q["error"], "temporarily_unavailable");
  EXPECT_EQ(q["state"], kDemoState);
  EXPECT_EQ(q["iss"], server_.app().config().issuer);
  EXPECT_EQ(q.count("code"), 0u);
  EXPECT_EQ(to.find("attacker"), std::string::npos);
  EXPECT_EQ(to.find("forged"), std::string::npos);

  // The flow is over: leaving twice gives the same way back (a reloaded page,
  // SPEC §8a), nothing else; going on is refused.
  auto [again_status, again] = customer.post("/api/flow/leave", {{"reason", "system_error"}});
  EXPECT_EQ(again_status, 200) << again.dump();
  EXPECT_EQ(again.value("redirect_to", ""), to);

  // Without a flow (no session) there is nothing to return to: no redirect.
  FlowBrowser stranger(server_);
  auto [s2, b2] = stranger.post("/api/flow/leave", {{"reason", "out_of_hours"}});
  EXPECT_EQ(s2, 410);
  EXPECT_FALSE(b2.contains("redirect_to"));
  // An unregistered redirect URI never starts a flow, closed or not.
  req.redirect_uri = "https://attacker.example/cb";
  FlowBrowser attacker(server_);
  r = attacker.authorize(authorize_path(req));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(attacker.session().empty());
}

TEST_F(OAuthTest, LeaveReasonsMapToTheAppsErrorCodes) {
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"out_of_hours", "temporarily_unavailable"},
      {"service_unavailable", "temporarily_unavailable"},
      {"busy", "temporarily_unavailable"},
      {"system_error", "server_error"},
  };
  for (const auto& [reason, error] : rows) {
    AuthorizeRequest req;
    req.challenge = make_pkce().challenge;
    req.state = "st-" + reason;
    FlowBrowser customer(server_);
    ASSERT_TRUE(customer.authorize(authorize_path(req)));
    customer.get_flow();
    auto [status, body] = customer.post("/api/flow/leave", {{"reason", reason}});
    ASSERT_EQ(status, 200) << reason << " " << body.dump();
    auto q = query_of(body.value("redirect_to", ""));
    EXPECT_EQ(q["error"], error) << reason;
    EXPECT_EQ(q["state"], "st-" + reason);
    EXPECT_EQ(q["iss"], server_.app().config().issuer);
  }
  // Any other reason (or none) is a bad request and ends nothing.
  AuthorizeRequest req;
  req.challenge = make_pkce().challenge;
  FlowBrowser customer(server_);
  ASSERT_TRUE(customer.authorize(authorize_path(req)));
  customer.get_flow();
  for (const nlohmann::json& body :
       {nlohmann::json{{"reason", "access_denied"}}, nlohmann::json{{"reason", 1}},
        nlohmann::json::object()}) {
    auto [status, answer] = customer.post("/api/flow/leave", body);
    EXPECT_EQ(status, 400) << body.dump();
    EXPECT_EQ(answer["error"]["code"], "bad_request");
  }
  EXPECT_EQ(customer.get_flow()["flow"]["screen"], "account_entry");
}

// ---------- metadata ----------

TEST_F(OAuthTest, MetadataDocument) {
  auto r = http_.Get("/.well-known/oauth-authorization-server");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto j = json_of(r);
  const std::string iss = server_.app().config().issuer;
  EXPECT_EQ(j["issuer"], iss);
  EXPECT_EQ(j["authorization_endpoint"], iss + "/authorize");
  EXPECT_EQ(j["token_endpoint"], iss + "/token");
  EXPECT_EQ(j["revocation_endpoint"], iss + "/revoke");
  EXPECT_EQ(j["response_types_supported"], nlohmann::json({"code"}));
  EXPECT_EQ(j["code_challenge_methods_supported"], nlohmann::json({"S256"}));
  EXPECT_EQ(j["grant_types_supported"], nlohmann::json({"authorization_code", "refresh_token"}));
  EXPECT_EQ(j["scopes_supported"], nlohmann::json({"accounts.read"}));
  EXPECT_EQ(j["authorization_response_iss_parameter_supported"], true);
  auto methods = j["token_endpoint_auth_methods_supported"];
  EXPECT_NE(std::find(methods.begin(), methods.end(), "client_secret_basic"), methods.end());
  EXPECT_NE(std::find(methods.begin(), methods.end(), "client_secret_post"), methods.end());
  EXPECT_NE(std::find(methods.begin(), methods.end(), "none"), methods.end());
  // The same for everyone and without personal data: cacheable for an hour
  // (the middleware's no-store for API answers overwrote this before).
  EXPECT_EQ(r->get_header_value("Cache-Control"), "public, max-age=3600");
}

// ---------- the code and its exchange ----------

TEST_F(OAuthTest, IssuedRedirectCarriesCodeStateAndIss) {
  Pkce pkce = make_pkce();
  std::string url = complete_flow_directly(server_, "demo-app", kDemoRedirect, pkce.challenge,
                                           "state with spaces&amp");
  EXPECT_EQ(without_query(url), kDemoRedirect);
  auto q = query_of(url);
  EXPECT_GE(q["code"].size(), 43u);
  EXPECT_EQ(q["state"], "state with spaces&amp");
  EXPECT_EQ(q["iss"], server_.app().config().issuer);
}

TEST_F(OAuthTest, CodeExchangeReturnsBearerTokens) {
  auto a = demo_authorization(server_);
  auto r = exchange_code(http_, a.code, a.pkce.verifier);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
  EXPECT_NE(r->get_header_value("Content-Type").find("application/json"), std::string::npos);
  auto j = json_of(r);
  EXPECT_EQ(j["token_type"], "Bearer");
  EXPECT_EQ(j["expires_in"], server_.app().config().access_token_seconds);
  EXPECT_EQ(j["scope"], "accounts.read");
  EXPECT_GE(j["access_token"].get<std::string>().size(), 43u);
  EXPECT_GE(j["refresh_token"].get<std::string>().size(), 43u);
  EXPECT_NE(j["access_token"], j["refresh_token"]);

  auto tx = server_.app().store().begin();
  auto access = tx->find_token(secret_digest(j["access_token"].get<std::string>()));
  ASSERT_TRUE(access);
  EXPECT_EQ(access->kind, TokenKind::access);
  EXPECT_EQ(access->client_id, "demo-app");
  auto grant = tx->find_grant(access->grant_id);
  ASSERT_TRUE(grant);
  EXPECT_EQ(grant->expires_at - grant->created_at,
            server_.app().config().authorization_days * kSecondsPerDay);
}

TEST_F(OAuthTest, WrongVerifierIsInvalidGrant) {
  auto a = demo_authorization(server_);
  auto r = exchange_code(http_, a.code, make_pkce().verifier);
  expect_oauth_error(r, 400, "invalid_grant");
  // A malformed verifier is a malformed request.
  a = demo_authorization(server_);
  r = exchange_code(http_, a.code, "short");
  expect_oauth_error(r, 400, "invalid_request");
}

TEST_F(OAuthTest, WrongRedirectUriIsInvalidGrant) {
  auto a = demo_authorization(server_);
  auto r =
      exchange_code(http_, a.code, a.pkce.verifier, "demo-app", std::string(kDemoRedirect) + "/");
  expect_oauth_error(r, 400, "invalid_grant");
}

TEST_F(OAuthTest, CodeOfAnotherClientIsInvalidGrant) {
  auto a = demo_authorization(server_);
  auto r = post_form(http_, "/token",
                     {{"grant_type", "authorization_code"},
                      {"code", a.code},
                      {"redirect_uri", kDemoRedirect},
                      {"code_verifier", a.pkce.verifier}},
                     {{"Authorization", "Basic " + base64url_encode("conf-app:") + "x"}});
  // A malformed Basic header is a failed client authentication…
  expect_oauth_error(r, 401, "invalid_client");
  httplib::Client conf = server_.client();
  conf.set_basic_auth("conf-app", kConfidentialSecret);
  r = post_form(conf, "/token",
                {{"grant_type", "authorization_code"},
                 {"code", a.code},
                 {"redirect_uri", kDemoRedirect},
                 {"code_verifier", a.pkce.verifier}});
  // …and a well-authenticated client cannot use another client's code.
  expect_oauth_error(r, 400, "invalid_grant");
}

TEST_F(OAuthTest, UnknownCodeIsInvalidGrant) {
  auto r = exchange_code(http_, random_token(), make_pkce().verifier);
  expect_oauth_error(r, 400, "invalid_grant");
}

TEST_F(OAuthTest, ExpiredCodeIsInvalidGrant) {
  auto a = demo_authorization(server_);
  server_.clock().advance(61);
  auto r = exchange_code(http_, a.code, a.pkce.verifier);
  expect_oauth_error(r, 400, "invalid_grant");
}

TEST_F(OAuthTest, CodeJustBeforeExpiryIsAccepted) {
  auto a = demo_authorization(server_);
  server_.clock().advance(59);
  auto r = exchange_code(http_, a.code, a.pkce.verifier);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(OAuthTest, ReplayedCodeRevokesTheGrantAndItsTokens) {
  auto a = demo_authorization(server_);
  auto first = exchange_code(http_, a.code, a.pkce.verifier);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200);
  auto tokens = json_of(first);
  const std::string access = tokens["access_token"];
  const std::string refresh = tokens["refresh_token"];
  ASSERT_NO_FATAL_FAILURE(expect_api_status(http_, "/api/v1/account/balance", access, 200));

  auto second = exchange_code(http_, a.code, a.pkce.verifier);
  expect_oauth_error(second, 400, "invalid_grant");

  ASSERT_NO_FATAL_FAILURE(expect_api_status(http_, "/api/v1/account/balance", access, 401));
  expect_oauth_error(refresh_tokens(http_, refresh), 400, "invalid_grant");

  auto tx = server_.app().store().begin();
  auto token = tx->find_token(secret_digest(access));
  ASSERT_TRUE(token);
  EXPECT_TRUE(token->revoked);
  auto grant = tx->find_grant(token->grant_id);
  ASSERT_TRUE(grant);
  EXPECT_TRUE(grant->revoked_at.has_value());
  EXPECT_EQ(grant->revoked_by, "code_replay");
  AuditQuery q;
  q.flow_id = grant->flow_id;
  q.outcome = "code_replay";
  EXPECT_EQ(tx->query_audit(q).size(), 1u);
}

TEST_F(OAuthTest, ParallelExchangesOfOneCodeYieldOneSuccessAndThenRevocation) {
  auto a = demo_authorization(server_);
  constexpr int kClients = 6;
  std::vector<int> statuses(kClients, 0);
  std::vector<std::string> bodies(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client c = server_.client();
      auto r = exchange_code(c, a.code, a.pkce.verifier);
      if (r) {
        statuses[i] = r->status;
        bodies[i] = r->body;
      }
    });
  }
  for (auto& t : threads) t.join();
  int ok = 0;
  std::string access;
  for (int i = 0; i < kClients; ++i) {
    if (statuses[i] == 200) {
      ++ok;
      access = nlohmann::json::parse(bodies[i])["access_token"];
    } else {
      EXPECT_EQ(statuses[i], 400) << bodies[i];
    }
  }
  EXPECT_EQ(ok, 1);
  // The losers were replays: the winner's token is withdrawn too.
  ASSERT_NO_FATAL_FAILURE(expect_api_status(http_, "/api/v1/account", access, 401));
}

TEST_F(OAuthTest, RefreshRotatesAndTheOldRefreshTokenIsRefused) {
  Tokens t = demo_tokens(server_);
  server_.clock().advance(600);
  auto r = refresh_tokens(http_, t.refresh);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json_of(r);
  EXPECT_EQ(j["token_type"], "Bearer");
  EXPECT_EQ(j["scope"], "accounts.read");
  const std::string new_access = j["access_token"];
  const std::string new_refresh = j["refresh_token"];
  EXPECT_NE(new_access, t.access);
  EXPECT_NE(new_refresh, t.refresh);
  ASSERT_NO_FATAL_FAILURE(expect_api_status(http_, "/api/v1/account", new_access, 200));

  // The old one is refused; as it can only come from a copy, the grant goes
  // with it (refresh token reuse detection) and the new tokens stop working.
  expect_oauth_error(refresh_tokens(http_, t.refresh), 400, "invalid_grant");
  expect_oauth_error(refresh_tokens(http_, new_refresh), 400, "invalid_grant");
  ASSERT_NO_FATAL_FAILURE(expect_api_status(http_, "/api/v1/account", new_access, 401));
}

TEST_F(OAuthTest, RefreshTokenOfAnotherClientOrAnAccessTokenIsRefused) {
  Tokens t = demo_tokens(server_);
  httplib::Client conf = server_.client();
  conf.set_basic_auth("conf-app", kConfidentialSecret);
  expect_oauth_error(
      post_form(conf, "/token", {{"grant_type", "refresh_token"}, {"refresh_token", t.refresh}}),
      400, "invalid_grant");
  expect_oauth_error(refresh_tokens(http_, t.access), 400, "invalid_grant");
  // Neither attempt touched the real refresh token.
  auto r = refresh_tokens(http_, t.refresh);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(OAuthTest, AuthorizationPeriodEndsAfterThirtyDays) {
  Tokens t = demo_tokens(server_);
  const std::int64_t period = 30 * kSecondsPerDay;
  // Ten seconds before the end, a refresh still works and its access token
  // does not outlive the grant.
  server_.clock().advance(period - 10);
  auto r = refresh_tokens(http_, t.refresh);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json_of(r);
  EXPECT_EQ(j["expires_in"], 10);
  const std::string access = j["access_token"];
  const std::string refresh = j["refresh_token"];
  ASSERT_NO_FATAL_FAILURE(expect_api_status(http_, "/api/v1/account", access, 200));

  server_.clock().advance(11);  // 30 days + 1 s after consent
  expect_oauth_error(refresh_tokens(http_, refresh), 400, "invalid_grant");
  ASSERT_NO_FATAL_FAILURE(expect_api_status(http_, "/api/v1/account", access, 401));
}

TEST_F(OAuthTest, RefreshAfterThirtyDaysAndOneSecondIsRefused) {
  Tokens t = demo_tokens(server_);
  server_.clock().advance(30 * kSecondsPerDay + 1);
  expect_oauth_error(refresh_tokens(http_, t.refresh), 400, "invalid_grant");
  ASSERT_NO_FATAL_FAILURE(expect_api_status(http_, "/api/v1/account/balance", t.access, 401));
}

// ---------- request form ----------

TEST_F(OAuthTest, TokenRequestShapeErrors) {
  auto a = demo_authorization(server_);
  // JSON is not a token request.
  auto r = http_.Post("/token", R"({"grant_type":"authorization_code"})", "application/json");
  expect_oauth_error(r, 400, "invalid_request");
  // Repeated parameters.
  r = http_.Post("/token",
                 "grant_type=authorization_code&code=" + a.code + "&code=" + a.code +
                     "&client_id=demo-app&redirect_uri=" + url_encode(kDemoRedirect) +
                     "&code_verifier=" + a.pkce.verifier,
                 "application/x-www-form-urlencoded");
  expect_oauth_error(r, 400, "invalid_request");
  // Unknown grant type.
  r = post_form(http_, "/token", {{"grant_type", "password"}, {"client_id", "demo-app"}});
  expect_oauth_error(r, 400, "unsupported_grant_type");
  // Missing grant type.
  r = post_form(http_, "/token", {{"client_id", "demo-app"}});
  expect_oauth_error(r, 400, "invalid_request");
  // Missing code verifier (PKCE is mandatory).
  r = post_form(http_, "/token",
                {{"grant_type", "authorization_code"},
                 {"code", a.code},
                 {"redirect_uri", kDemoRedirect},
                 {"client_id", "demo-app"}});
  expect_oauth_error(r, 400, "invalid_request");
  // None of this burnt the code.
  r = exchange_code(http_, a.code, a.pkce.verifier);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(OAuthTest, ErrorsCarryTheCatalogCodeAndMessage) {
  auto r = exchange_code(http_, random_token(), make_pkce().verifier);
  ASSERT_TRUE(r);
  auto j = json_of(r);
  EXPECT_EQ(j["code"], std::string(wire_name(ErrorCode::forbidden)));
  EXPECT_EQ(j["message"], std::string(message_ja(ErrorCode::forbidden)));
  // error_description is ASCII (RFC 6749 §5.2).
  for (char c : j["error_description"].get<std::string>()) {
    EXPECT_TRUE(c >= 0x20 && c <= 0x7e);
  }
}

// ---------- client authentication ----------

class ConfidentialClientTest : public OAuthTest {
 protected:
  Authorization conf_authorization() {
    Authorization a;
    a.pkce = make_pkce();
    std::string url =
        complete_flow_directly(server_, "conf-app", kConfidentialRedirect, a.pkce.challenge);
    a.code = query_of(url)["code"];
    return a;
  }
  std::vector<std::pair<std::string, std::string>> code_params(const Authorization& a) {
    return {{"grant_type", "authorization_code"},
            {"code", a.code},
            {"redirect_uri", kConfidentialRedirect},
            {"code_verifier", a.pkce.verifier}};
  }
};

TEST_F(ConfidentialClientTest, HttpBasic) {
  auto a = conf_authorization();
  httplib::Client conf = server_.client();
  conf.set_basic_auth("conf-app", kConfidentialSecret);
  auto r = post_form(conf, "/token", code_params(a));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(ConfidentialClientTest, ClientSecretPost) {
  auto a = conf_authorization();
  auto params = code_params(a);
  params.emplace_back("client_id", "conf-app");
  params.emplace_back("client_secret", kConfidentialSecret);
  auto r = post_form(http_, "/token", params);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(ConfidentialClientTest, WrongOrMissingSecretIsInvalidClient) {
  auto a = conf_authorization();
  httplib::Client basic = server_.client();
  basic.set_basic_auth("conf-app", "wrong-secret");
  auto r = post_form(basic, "/token", code_params(a));
  expect_oauth_error(r, 401, "invalid_client");
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Basic realm=\"renkei\"");
  EXPECT_EQ(json_of(r)["code"], "unauthorized");

  auto params = code_params(a);
  params.emplace_back("client_id", "conf-app");
  auto wrong_post = params;
  wrong_post.emplace_back("client_secret", std::string(kConfidentialSecret) + "x");
  expect_oauth_error(post_form(http_, "/token", wrong_post), 401, "invalid_client");
  // client_id alone: a confidential client must authenticate.
  expect_oauth_error(post_form(http_, "/token", params), 401, "invalid_client");
  // Unknown client.
  auto unknown = code_params(a);
  unknown.emplace_back("client_id", "nobody");
  expect_oauth_error(post_form(http_, "/token", unknown), 401, "invalid_client");
  // Two methods at once.
  httplib::Client both = server_.client();
  both.set_basic_auth("conf-app", kConfidentialSecret);
  auto with_secret = code_params(a);
  with_secret.emplace_back("client_secret", kConfidentialSecret);
  expect_oauth_error(post_form(both, "/token", with_secret), 400, "invalid_request");

  // The failed attempts did not consume the code.
  httplib::Client good = server_.client();
  good.set_basic_auth("conf-app", kConfidentialSecret);
  r = post_form(good, "/token", code_params(a));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

// Security finding (issue 12): /token said "unknown client" for an unknown
// client id and "client authentication failed" for a wrong secret, which let
// anyone enumerate the registered clients. Every way of failing answers alike.
TEST_F(ConfidentialClientTest, UnknownClientAndWrongSecretAnswerAlike) {
  auto a = conf_authorization();
  auto answer_for = [&](const std::string& id, const std::string& secret) {
    httplib::Client c = server_.client();
    c.set_basic_auth(id, secret);
    auto r = post_form(c, "/token", code_params(a));
    EXPECT_TRUE(r);
    return r ? std::make_pair(r->status, r->body) : std::make_pair(0, std::string());
  };
  const auto unknown = answer_for("nobody", "some-secret");
  const auto wrong = answer_for("conf-app", "wrong-secret");
  const auto public_with_secret = answer_for("demo-app", "some-secret");
  EXPECT_EQ(unknown.first, 401);
  EXPECT_EQ(unknown, wrong);
  EXPECT_EQ(unknown, public_with_secret);
  EXPECT_NE(unknown.second.find("client authentication failed"), std::string::npos)
      << unknown.second;
  EXPECT_EQ(unknown.second.find("unknown"), std::string::npos) << unknown.second;
}

TEST_F(ConfidentialClientTest, PublicClientMustNotSendASecret) {
  auto a = demo_authorization(server_);
  auto r = post_form(http_, "/token",
                     {{"grant_type", "authorization_code"},
                      {"code", a.code},
                      {"redirect_uri", kDemoRedirect},
                      {"client_id", "demo-app"},
                      {"client_secret", "anything"},
                      {"code_verifier", a.pkce.verifier}});
  expect_oauth_error(r, 401, "invalid_client");
}

TEST_F(ConfidentialClientTest, DisabledClientGetsNoTokens) {
  auto a = demo_authorization(server_);
  ASSERT_TRUE(switch_off_client(server_.app().store()));
  auto r = exchange_code(http_, a.code, a.pkce.verifier);
  expect_oauth_error(r, 400, "unauthorized_client");
  EXPECT_EQ(json_of(r)["code"], "service_unavailable");
}

// ---------- revocation ----------

// The demo app revokes `token` (with `hint`): 200, and the account API then
// refuses the access token `access` (401).
void expect_revoked(httplib::Client& http, const std::string& token, const std::string& hint,
                    const std::string& access) {
  auto r = post_form(http, "/revoke",
                     {{"token", token}, {"token_type_hint", hint}, {"client_id", "demo-app"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  ASSERT_NO_FATAL_FAILURE(expect_api_status(http, "/api/v1/account", access, 401));
}

TEST_F(OAuthTest, RevokingAnAccessTokenEndsOnlyThatToken) {
  Tokens t = demo_tokens(server_);
  ASSERT_NO_FATAL_FAILURE(expect_revoked(http_, t.access, "access_token", t.access));
  auto again = refresh_tokens(http_, t.refresh);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
}

TEST_F(OAuthTest, RevokingTheRefreshTokenEndsTheGrant) {
  Tokens t = demo_tokens(server_);
  // A wrong hint is only a hint (RFC 7009 §2.1).
  ASSERT_NO_FATAL_FAILURE(expect_revoked(http_, t.refresh, "access_token", t.access));
  expect_oauth_error(refresh_tokens(http_, t.refresh), 400, "invalid_grant");

  auto tx = server_.app().store().begin();
  auto token = tx->find_token(secret_digest(t.refresh));
  ASSERT_TRUE(token);
  auto grant = tx->find_grant(token->grant_id);
  ASSERT_TRUE(grant);
  EXPECT_TRUE(grant->revoked_at.has_value());
  EXPECT_EQ(grant->revoked_by, "app");
}

TEST_F(OAuthTest, RevokeAnswers200ForUnknownTokensAndIgnoresOtherClientsTokens) {
  auto r = post_form(http_, "/revoke", {{"token", "no-such-token"}, {"client_id", "demo-app"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  Tokens t = demo_tokens(server_);
  httplib::Client conf = server_.client();
  conf.set_basic_auth("conf-app", kConfidentialSecret);
  r = post_form(conf, "/revoke", {{"token", t.refresh}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto api = api_get(http_, "/api/v1/account", t.access);
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 200) << "another client cannot revoke demo-app's tokens";
}

TEST_F(OAuthTest, RevokeRequiresClientAuthentication) {
  Tokens t = demo_tokens(server_);
  httplib::Client conf = server_.client();
  conf.set_basic_auth("conf-app", "wrong");
  expect_oauth_error(post_form(conf, "/revoke", {{"token", t.refresh}}), 401, "invalid_client");
  expect_oauth_error(post_form(http_, "/revoke", {{"token", t.refresh}}), 401, "invalid_client");
  expect_oauth_error(post_form(http_, "/revoke", {{"client_id", "demo-app"}}), 400,
                     "invalid_request");
}

// An exception the OAuth endpoints catch themselves (to answer server_error in
// RFC 6749's form, not the envelope) is logged like one the server's handler
// catches: path and message, never the request's values. Provoked by renaming
// the clients table under the running server (a broken database).
TEST(OAuthUnexpectedFailure, IsAnsweredServerErrorAndLeavesALogLine) {
  if (test_backend() != "sqlite") GTEST_SKIP() << "renames a table in the SQLite file";
  BrokenDatabaseServer broken;
  httplib::Client http = broken.server().client();
  ASSERT_EQ(broken.break_clients_table(), "");
  ::testing::internal::CaptureStderr();
  auto r = post_form(http, "/token",
                     {{"grant_type", "refresh_token"},
                      {"refresh_token", "refresh-value-not-for-logs"},
                      {"client_id", "demo-app"}});
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500) << r->body;
  EXPECT_EQ(json_of(r).value("error", ""), "server_error") << r->body;
  EXPECT_NE(log.find(R"("event":"exception")"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("path":"/token")"), std::string::npos) << log;
  EXPECT_NE(log.find("clients"), std::string::npos) << "the cause is named: " << log;
  EXPECT_EQ(log.find("refresh-value-not-for-logs"), std::string::npos) << log;
}

}  // namespace
}  // namespace renkei::server::testing

namespace renkei::server::testing {
namespace {

// The six screens through the flow API, to 許可する; returns the consent's
// redirect (redirect_uri?code&state&iss).
std::string consent_through_the_pages(FlowBrowser& browser, const Pkce& pkce) {
  AuthorizeRequest request;
  request.challenge = pkce.challenge;
  auto r = browser.authorize(authorize_path(request));
  EXPECT_TRUE(r);
  browser.get_flow();
  const std::vector<std::pair<std::string, nlohmann::json>> steps = {
      {"/api/flow/account",
       {{"branch", "115"}, {"account_type", "ordinary"}, {"account_number", "1100026"}}},
      {"/api/flow/customer",
       {{"name_kana", "ﾃﾞｰﾀ ｻﾄﾙ"},
        {"birth_year", "1985"},
        {"birth_month", "04"},
        {"birth_day", "12"},
        {"phone", "09011113333"},
        {"email", "s@example.jp"},
        {"email_confirm", "s@example.jp"}}},
      {"/api/flow/phone", nlohmann::json::object()},
      {"/dev/simulate-call", nlohmann::json::object()},
      {"/api/flow/call/confirm", nlohmann::json::object()},
      {"/api/flow/pin", {{"pin", "1234"}}},
      {"/api/flow/consent", {{"consent", true}}}};
  nlohmann::json body;
  for (const auto& [path, input] : steps) {
    int status = 0;
    std::tie(status, body) = browser.post(path, input);
    EXPECT_EQ(status, 200) << path << ": " << body.dump();
    if (status != 200) return "";
  }
  return body.value("redirect_to", "");
}

// The operation log's rows of the flow named by `session` with `step`.
std::vector<AuditRecord> audit_rows(TestServer& server, const std::string& session,
                                    const std::string& step) {
  auto tx = server.app().store().begin();
  auto flow = tx->flow_by_session(secret_digest(session));
  std::vector<AuditRecord> out;
  if (!flow) return out;
  AuditQuery q;
  q.flow_id = flow->flow_id;
  q.limit = 1000;
  for (const AuditRecord& a : tx->query_audit(q)) {
    if (a.step == step) out.push_back(a);
  }
  return out;
}

// SPEC §8a: a webview that reloads between 許可する and following the redirect
// still leads the app to a code: a NEW one for the same grant (same state,
// iss, redirect URI and PKCE challenge), the old one withdrawn (at most one
// unexchanged code); once a code was exchanged a reload issues none.
TEST(CompletedFlowReload, IssuesANewCodeForTheGrantUntilOneWasExchanged) {
  TestServer server;
  FlowBrowser customer(server);
  const Pkce pkce = make_pkce();
  const std::string first = consent_through_the_pages(customer, pkce);
  ASSERT_FALSE(query_of(first)["code"].empty()) << first;

  nlohmann::json reload = customer.get_flow();
  EXPECT_EQ(reload["flow"]["screen"], "completed");
  const std::string second = reload.value("redirect_to", "");
  ASSERT_FALSE(second.empty()) << reload.dump();
  EXPECT_EQ(without_query(second), kDemoRedirect);
  EXPECT_EQ(query_of(second)["state"], kDemoState);
  EXPECT_EQ(query_of(second)["iss"], server.app().config().issuer);
  EXPECT_EQ(query_of(second).count("error"), 0u);
  ASSERT_FALSE(query_of(second)["code"].empty());
  EXPECT_NE(query_of(second)["code"], query_of(first)["code"]);

  auto app = server.client();
  // The first code no longer works (and withdrawing it revoked nothing).
  auto old = exchange_code(app, query_of(first)["code"], pkce.verifier);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->status, 400);
  EXPECT_EQ(json_of(old)["error"], "invalid_grant");

  // Long after the second code's 60 s, a reload still gives a fresh one.
  server.clock().advance(600);
  const std::string third = customer.get_flow().value("redirect_to", "");
  ASSERT_FALSE(query_of(third)["code"].empty());
  auto expired = exchange_code(app, query_of(second)["code"], pkce.verifier);
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->status, 400) << "withdrawn when the third was issued";
  auto wrong_verifier = exchange_code(app, query_of(third)["code"], make_pkce().verifier);
  ASSERT_TRUE(wrong_verifier);
  EXPECT_EQ(wrong_verifier->status, 400) << "bound to the same PKCE challenge";

  // The wrong verifier burnt the third: a reload issues none any more.
  nlohmann::json after_attempt = customer.get_flow();
  EXPECT_FALSE(after_attempt.contains("redirect_to")) << after_attempt.dump();

  // Every code issued again is in the operation log (SPEC §9); a reload that
  // gets none only reads.
  std::vector<AuditRecord> views = audit_rows(server, customer.session(), "view");
  int issued = 0;
  int refused = 0;
  for (const AuditRecord& a : views) {
    if (a.detail.find("no code issued again") != std::string::npos) {
      ++refused;
    } else if (a.detail.find("issued again") != std::string::npos) {
      ++issued;
    }
    EXPECT_EQ(a.client_id, "demo-app");
    EXPECT_FALSE(a.account.empty());
  }
  EXPECT_EQ(issued, 2);
  EXPECT_EQ(refused, 0);
}

TEST(CompletedFlowReload, NoCodeOnceExchangedOrRevoked) {
  TestServer server;
  auto app = server.client();
  {
    FlowBrowser customer(server);
    const Pkce pkce = make_pkce();
    const std::string code = query_of(consent_through_the_pages(customer, pkce))["code"];
    auto tokens = exchange_code(app, code, pkce.verifier);
    ASSERT_TRUE(tokens);
    ASSERT_EQ(tokens->status, 200) << tokens->body;
    for (int i = 0; i < 2; ++i) {
      nlohmann::json reload = customer.get_flow();
      EXPECT_EQ(reload["flow"]["screen"], "completed");
      EXPECT_FALSE(reload.contains("redirect_to")) << reload.dump();
    }
    // The tokens still work: a reload after the exchange withdraws nothing.
    auto balance = api_get(app, "/api/v1/account/balance", json_of(tokens)["access_token"]);
    ASSERT_TRUE(balance);
    EXPECT_EQ(balance->status, 200);
  }
  {
    FlowBrowser customer(server);
    const Pkce pkce = make_pkce();
    const std::string code = query_of(consent_through_the_pages(customer, pkce))["code"];
    {
      auto tx = server.app().store().begin();
      auto flow = tx->flow_by_session(secret_digest(customer.session()));
      ASSERT_TRUE(flow);
      auto grant = tx->grant_of_flow(flow->flow_id);
      ASSERT_TRUE(grant);
      grant->revoked_at = server.app().now();
      grant->revoked_by = "staff:test";
      tx->update_grant(*grant);
      ASSERT_TRUE(tx->commit());
    }
    nlohmann::json reload = customer.get_flow();
    EXPECT_FALSE(reload.contains("redirect_to")) << reload.dump();
    auto refused = exchange_code(app, code, pkce.verifier);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400);
  }
}

// Only within the time a flow may stay idle: a completed page reloaded later
// gets no code, and the reload withdraws nothing.
TEST(CompletedFlowReload, NoCodeAfterTheFlowsIdleTime) {
  TestServer server;
  FlowBrowser customer(server);
  const Pkce pkce = make_pkce();
  ASSERT_FALSE(query_of(consent_through_the_pages(customer, pkce))["code"].empty());
  const int idle = server.app().config().flow_idle_seconds;
  server.clock().advance(idle - 1);
  const std::string late = customer.get_flow().value("redirect_to", "");
  ASSERT_FALSE(query_of(late)["code"].empty()) << "still within the idle time";
  server.clock().advance(1);
  nlohmann::json reload = customer.get_flow();
  EXPECT_EQ(reload["flow"]["screen"], "completed");
  EXPECT_FALSE(reload.contains("redirect_to")) << reload.dump();
  // It only read: the one reload that got a code is all the log has.
  EXPECT_EQ(audit_rows(server, customer.session(), "view").size(), 1u);
}

// Only the page's own fetch issues a code again (it withdraws the app's
// pending one): not a navigation or prefetch another site can start with the
// customer's SameSite=Lax cookie, and not a HEAD, whose answer is thrown away.
// They read the completed flow and write nothing.
TEST(CompletedFlowReload, OnlyThePagesOwnFetchIssuesACodeAgain) {
  TestServer server;
  FlowBrowser customer(server);
  const Pkce pkce = make_pkce();
  const std::string code = query_of(consent_through_the_pages(customer, pkce))["code"];
  ASSERT_FALSE(code.empty());
  const std::size_t views_before = audit_rows(server, customer.session(), "view").size();
  const httplib::Headers cookie = {{"Cookie", "renkei_session=" + customer.session()}};
  const std::vector<httplib::Headers> not_the_page = {
      {{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Mode", "navigate"}},
      {{"Sec-Fetch-Site", "same-site"}, {"Sec-Fetch-Mode", "cors"}},
      {{"Sec-Fetch-Site", "same-origin"}, {"Sec-Fetch-Mode", "navigate"}},
      {{"Sec-Fetch-Site", "same-origin"}, {"Sec-Fetch-Mode", "cors"}, {"Sec-Purpose", "prefetch"}},
      {{"Purpose", "prefetch"}}};
  httplib::Client http = server.client();
  for (const httplib::Headers& extra : not_the_page) {
    httplib::Headers h = cookie;
    h.insert(extra.begin(), extra.end());
    auto r = http.Get("/api/flow", h);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(json_of(r)["flow"]["screen"], "completed");
    EXPECT_FALSE(json_of(r).contains("redirect_to")) << extra.begin()->second;
  }
  auto head = http.Head("/api/flow", cookie);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(audit_rows(server, customer.session(), "view").size(), views_before);
  // The app's code still works.
  auto app = server.client();
  auto tokens = exchange_code(app, code, pkce.verifier);
  ASSERT_TRUE(tokens);
  EXPECT_EQ(tokens->status, 200) << tokens->body;
}

// The page's fetch (Fetch Metadata of a same-origin fetch) does get one.
TEST(CompletedFlowReload, ThePagesFetchWithFetchMetadataGetsTheCode) {
  TestServer server;
  FlowBrowser customer(server);
  const Pkce pkce = make_pkce();
  ASSERT_FALSE(query_of(consent_through_the_pages(customer, pkce))["code"].empty());
  httplib::Client http = server.client();
  auto r = http.Get("/api/flow", {{"Cookie", "renkei_session=" + customer.session()},
                                  {"Sec-Fetch-Site", "same-origin"},
                                  {"Sec-Fetch-Mode", "cors"},
                                  {"Sec-Fetch-Dest", "empty"}});
  ASSERT_TRUE(r);
  EXPECT_FALSE(query_of(json_of(r).value("redirect_to", ""))["code"].empty()) << r->body;
}

// The code issued again is bound as the first (FAPI 2.0: the pushed dpop_jkt,
// RFC 9449 §10), and short-lived (60 s).
TEST(CompletedFlowReload, TheNewCodeKeepsTheFirstOnesBinding) {
  TestServer server;
  App& app = server.app();
  // The records first: the local source reads the same store.
  RecordsResult<std::optional<AccountInfo>> info = app.records().find_account(demo_account_ref());
  ASSERT_TRUE(info.ok() && info.value());
  auto tx = app.store().begin();
  const std::int64_t account_id = local_account_id(*tx, *info.value());
  FlowRecord flow;
  flow.client_id = "demo-app";
  flow.redirect_uri = kDemoRedirect;
  flow.oauth_state = kDemoState;
  flow.code_challenge = make_pkce().challenge;
  flow.scope = "accounts.read";
  flow.dpop_jkt = "jkt-of-the-pushed-request";
  std::string flow_id;
  start_flow_record(*tx, app, flow, &flow_id);
  std::optional<FlowRecord> stored = tx->flow_by_id(flow_id);
  ASSERT_TRUE(stored);
  // Not completed: nothing.
  CodeReissue none = reissue_authorization(*tx, app, *stored, app.now());
  EXPECT_TRUE(none.redirect_to.empty());
  stored->state.screen = Screen::completed;
  stored->account_id = account_id;
  tx->update_flow(*stored);
  const std::string first =
      query_of(issue_authorization(*tx, app, *stored, account_id, app.now()))["code"];
  CodeReissue again = reissue_authorization(*tx, app, *stored, app.now());
  EXPECT_EQ(again.replaced, 1);
  const std::string code = query_of(again.redirect_to)["code"];
  ASSERT_FALSE(code.empty());
  EXPECT_FALSE(tx->consume_code(secret_digest(first)).has_value()) << "the first is gone";
  std::optional<AuthorizationCodeRecord> record = tx->consume_code(secret_digest(code));
  ASSERT_TRUE(record);
  EXPECT_EQ(record->dpop_jkt, flow.dpop_jkt);
  EXPECT_EQ(record->code_challenge, flow.code_challenge);
  EXPECT_EQ(record->redirect_uri, flow.redirect_uri);
  EXPECT_EQ(record->client_id, flow.client_id);
  EXPECT_FALSE(record->used);
  EXPECT_LE(record->expires_at, app.now() + 60);
  EXPECT_GT(record->expires_at, app.now());
  // Presented once (used): no further code.
  CodeReissue after = reissue_authorization(*tx, app, *stored, app.now());
  EXPECT_TRUE(after.redirect_to.empty());
  EXPECT_FALSE(after.refusal.empty());
}

}  // namespace
}  // namespace renkei::server::testing
