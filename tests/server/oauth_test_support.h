// Helpers for the OAuth, account API and end-to-end tests: PKCE pairs, query
// and cookie parsing, a completed authorization built directly in storage
// (no UI), the customer's flow driven over HTTP, and token requests.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/sha.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ops/crypto.h"
#include "records/records_source.h"
#include "http/http_util.h"
#include "oauth/oauth.h"
#include "store/storage.h"
#include "test_server.h"

namespace renkei::server::testing {

inline constexpr const char* kConfidentialRedirect = "https://app.example/cb";
inline constexpr const char* kDemoState = "st-0123456789";

struct Pkce {
  std::string verifier;
  std::string challenge;
};
inline Pkce make_pkce() {
  Pkce p;
  p.verifier = random_token(32);  // 43 base64url characters
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(p.verifier.data()), p.verifier.size(), digest);
  p.challenge =
      base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
  return p;
}

// Percent-decoding of a query component ('+' is a space).
inline std::string decode_component(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The query parameters of a URL (the last value wins).
inline std::map<std::string, std::string> query_of(const std::string& url) {
  std::map<std::string, std::string> out;
  auto q = url.find('?');
  if (q == std::string::npos) return out;
  std::string_view rest(url);
  rest.remove_prefix(q + 1);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    std::string key = decode_component(pair.substr(0, eq));
    out[key] = eq == std::string_view::npos ? "" : decode_component(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

// The part of a URL before its query.
inline std::string without_query(const std::string& url) {
  return url.substr(0, url.find('?'));
}

// The Set-Cookie header for `name`, whole ("" when absent).
inline std::string set_cookie_header(const httplib::Response& res, const std::string& name) {
  for (std::size_t i = 0; i < res.get_header_value_count("Set-Cookie"); ++i) {
    std::string h = res.get_header_value("Set-Cookie", i);
    if (h.rfind(name + "=", 0) == 0) return h;
  }
  return "";
}
inline std::string cookie_value_of(const httplib::Response& res, const std::string& name) {
  std::string h = set_cookie_header(res, name);
  if (h.empty()) return "";
  h = h.substr(name.size() + 1);
  return h.substr(0, h.find(';'));
}

// An application/x-www-form-urlencoded body.
inline std::string form_body(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += url_encode(k) + "=" + url_encode(v);
  }
  return out;
}

struct AuthorizeRequest {
  std::string client_id = "demo-app";
  std::string redirect_uri = kDemoRedirect;
  std::string state = kDemoState;
  std::string challenge;
  std::string method = "S256";
  std::string response_type = "code";
  std::optional<std::string> scope;
};
// /authorize?… with the given parameters (empty ones are left out).
inline std::string authorize_path(const AuthorizeRequest& r) {
  std::vector<std::pair<std::string, std::string>> q;
  auto add = [&](const char* k, const std::string& v) {
    if (!v.empty()) q.emplace_back(k, v);
  };
  add("response_type", r.response_type);
  add("client_id", r.client_id);
  add("redirect_uri", r.redirect_uri);
  add("state", r.state);
  add("code_challenge", r.challenge);
  add("code_challenge_method", r.method);
  if (r.scope) q.emplace_back("scope", *r.scope);
  return "/authorize?" + form_body(q);
}

// A GET /authorize that started a flow answers with screen ①'s page itself
// (no redirect to /flow/; issue 10): 200, HTML, never stored, no Location.
inline void expect_flow_page(const httplib::Response& r) {
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.get_header_value("Location"), "");
  EXPECT_EQ(r.get_header_value("Content-Type").rfind("text/html", 0), 0u)
      << r.get_header_value("Content-Type");
  EXPECT_EQ(r.get_header_value("Cache-Control"), "no-store");
  EXPECT_FALSE(r.has_header("ETag"));
  EXPECT_NE(r.body.find("<title>API連携認証</title>"), std::string::npos) << r.body.substr(0, 200);
}

inline AccountRef demo_account_ref() {
  return AccountRef{"115", AccountType::ordinary, "1100026"};
}

// A flow the customer completed, built directly in storage: what the flow API
// does at 許可する, without the six screens. Returns the redirect URL.
inline std::string complete_flow_directly(TestServer& server, const std::string& client_id,
                                          const std::string& redirect_uri,
                                          const std::string& challenge,
                                          const std::string& state = kDemoState,
                                          AccountRef account = demo_account_ref()) {
  App& app = server.app();
  // The account as the records know it, and Renkei's id for it (with the
  // remote source the mapping row is made here, as ② would make it). Asked
  // before the transaction: the local source reads the same store.
  RecordsResult<std::optional<AccountInfo>> info = app.records().find_account(account);
  EXPECT_TRUE(info.ok() && info.value().has_value());
  if (!info.ok() || !info.value()) return "";
  auto tx = app.store().begin();
  const std::int64_t account_id = local_account_id(*tx, *info.value());
  FlowRecord flow;
  flow.client_id = client_id;
  flow.redirect_uri = redirect_uri;
  flow.oauth_state = state;
  flow.code_challenge = challenge;
  flow.scope = "accounts.read";
  std::string flow_id;
  start_flow_record(*tx, app, flow, &flow_id);
  auto stored = tx->flow_by_id(flow_id);
  EXPECT_TRUE(stored.has_value());
  if (!stored) return "";
  stored->state.screen = Screen::completed;
  stored->account_id = account_id;
  tx->update_flow(*stored);
  std::string url = issue_authorization(*tx, app, *stored, account_id, app.now());
  EXPECT_TRUE(tx->commit());
  return url;
}

// The code of a completed authorization for the public demo app.
struct Authorization {
  Pkce pkce;
  std::string code;
};
inline Authorization demo_authorization(TestServer& server) {
  Authorization a;
  a.pkce = make_pkce();
  std::string url = complete_flow_directly(server, "demo-app", kDemoRedirect, a.pkce.challenge);
  a.code = query_of(url)["code"];
  return a;
}

// POST /token or /revoke with a form body; extra headers optional.
inline httplib::Result post_form(httplib::Client& http, const std::string& path,
                                 const std::vector<std::pair<std::string, std::string>>& params,
                                 const httplib::Headers& headers = {}) {
  return http.Post(path.c_str(), headers, form_body(params), "application/x-www-form-urlencoded");
}

inline httplib::Result exchange_code(httplib::Client& http, const std::string& code,
                                     const std::string& verifier,
                                     const std::string& client_id = "demo-app",
                                     const std::string& redirect_uri = kDemoRedirect) {
  return post_form(http, "/token",
                   {{"grant_type", "authorization_code"},
                    {"code", code},
                    {"redirect_uri", redirect_uri},
                    {"client_id", client_id},
                    {"code_verifier", verifier}});
}

inline httplib::Result refresh_tokens(httplib::Client& http, const std::string& refresh_token,
                                      const std::string& client_id = "demo-app") {
  return post_form(http, "/token",
                   {{"grant_type", "refresh_token"},
                    {"refresh_token", refresh_token},
                    {"client_id", client_id}});
}

inline nlohmann::json json_of(const httplib::Result& r) {
  if (!r) return nlohmann::json();
  return nlohmann::json::parse(r->body, nullptr, false);
}

// GET with a bearer token.
inline httplib::Result api_get(httplib::Client& http, const std::string& path,
                               const std::string& access_token) {
  return http.Get(path.c_str(), {{"Authorization", "Bearer " + access_token}});
}

// Tokens for the demo app from a directly completed flow.
struct Tokens {
  std::string access;
  std::string refresh;
  nlohmann::json body;
};
inline Tokens demo_tokens(TestServer& server) {
  auto a = demo_authorization(server);
  auto http = server.client();
  auto r = exchange_code(http, a.code, a.pkce.verifier);
  Tokens t;
  EXPECT_TRUE(r);
  if (!r) return t;
  EXPECT_EQ(r->status, 200) << r->body;
  t.body = json_of(r);
  t.access = t.body.value("access_token", "");
  t.refresh = t.body.value("refresh_token", "");
  return t;
}

// The customer's browser on the flow API: keeps the session cookie and the
// CSRF token as the page would.
class FlowBrowser {
 public:
  explicit FlowBrowser(TestServer& server) : http_(server.client()) {}

  // GET /authorize; remembers the session cookie. Returns the response.
  httplib::Result authorize(const std::string& path) {
    auto r = http_.Get(path.c_str());
    if (r) take_cookie(*r);
    return r;
  }
  nlohmann::json get_flow() {
    auto r = http_.Get("/api/flow", headers(false));
    EXPECT_TRUE(r);
    if (!r) return nlohmann::json();
    take_cookie(*r);
    auto j = json_of(r);
    if (j.is_object() && j.contains("csrf_token") && j["csrf_token"].is_string()) {
      csrf_ = j["csrf_token"];
    }
    return j;
  }
  // POST path with a JSON body; returns status and body.
  std::pair<int, nlohmann::json> post(const std::string& path, const nlohmann::json& body) {
    auto r = http_.Post(path.c_str(), headers(true), body.dump(), "application/json");
    EXPECT_TRUE(r) << path;
    if (!r) return {0, nlohmann::json()};
    take_cookie(*r);
    auto j = json_of(r);
    if (j.is_object() && j.contains("csrf_token") && j["csrf_token"].is_string()) {
      csrf_ = j["csrf_token"];
    }
    return {r->status, j};
  }
  const std::string& session() const { return session_; }

 private:
  httplib::Headers headers(bool with_csrf) const {
    httplib::Headers h;
    if (!session_.empty()) h.emplace("Cookie", "renkei_session=" + session_);
    if (with_csrf && !csrf_.empty()) h.emplace("X-CSRF-Token", csrf_);
    return h;
  }
  void take_cookie(const httplib::Response& r) {
    std::string v = cookie_value_of(r, "renkei_session");
    if (!v.empty()) session_ = v;
  }
  httplib::Client http_;
  std::string session_;
  std::string csrf_;
};

}  // namespace renkei::server::testing
