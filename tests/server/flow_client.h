// A customer's browser for the flow API tests: a session cookie and the CSRF
// token, kept up to date from the server's answers (rotation after ②), and
// helpers that walk a flow to a given screen with the demo customer C0001.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ops/crypto.h"
#include "oauth/oauth.h"
#include "renkei/flow.h"
#include "store/storage.h"
#include "test_server.h"

namespace renkei::server::testing {

using nlohmann::json;

// C0001 ﾃﾞｰﾀ ｻﾄﾙ (server/src/records/records.h): 115 普通 1100026, PIN 1234.
inline constexpr const char* kPhone = "09011113333";
inline constexpr const char* kPin = "1234";
inline constexpr const char* kPoolNumber = "0120000001";  // test_config's only pool number

struct Answer {
  int status = 0;
  json body;
  httplib::Headers headers;
  std::string code() const {
    if (!body.is_object() || !body.contains("error")) return "";
    const json& e = body["error"];
    if (e.is_object() && e.contains("code") && e["code"].is_string()) {
      return e["code"].get<std::string>();
    }
    return "";
  }
  std::string screen() const {
    if (body.is_object() && body.contains("flow") && body["flow"].is_object()) {
      return body["flow"].value("screen", "");
    }
    return "";
  }
};

inline Answer to_answer(const httplib::Result& r) {
  Answer a;
  if (!r) {
    ADD_FAILURE() << "no HTTP answer: " << httplib::to_string(r.error());
    return a;
  }
  a.status = r->status;
  a.headers = r->headers;
  a.body = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  return a;
}

// ①'s body for C0001's account.
inline json demo_account_body() {
  return json{{"branch", "115"}, {"account_type", "ordinary"}, {"account_number", "1100026"}};
}

inline json demo_customer() {
  return json{{"name_kana", "ﾃﾞｰﾀ ｻﾄﾙ"},
              {"birth_year", "1985"},
              {"birth_month", "04"},
              {"birth_day", "12"},
              {"phone", kPhone},
              {"email", "satoru@example.jp"},
              {"email_confirm", "satoru@example.jp"}};
}

// A body for ② with one member replaced.
inline json customer_with(const std::string& key, const std::string& value) {
  json b = demo_customer();
  b[key] = value;
  return b;
}

class FlowClient {
 public:
  // Starts a flow the way /authorize does (oauth.h start_flow_record) and
  // reads its CSRF token from GET /api/flow.
  explicit FlowClient(TestServer& ts, const std::string& client_id = "demo-app") : ts_(ts) {
    FlowRecord f;
    f.client_id = client_id;
    f.redirect_uri = client_id == "demo-app" ? kDemoRedirect : "https://app.example/cb";
    f.oauth_state = "st-" + random_token(6);
    f.code_challenge = base64url_encode(std::string(32, 'x'));
    f.scope = "accounts.read";
    f.client_ip = "127.0.0.1";
    f.user_agent = "flow-test";
    auto tx = ts.app().store().begin();
    cookie_ = start_flow_record(*tx, ts.app(), f, &flow_id_);
    EXPECT_TRUE(tx->commit());
    tx.reset();
    state_ = f.oauth_state;
    Answer a = get();
    EXPECT_EQ(a.status, 200) << a.body.dump();
    if (a.body.contains("csrf_token")) csrf_ = a.body["csrf_token"].get<std::string>();
  }

  Answer get() {
    httplib::Client c = ts_.client();
    return to_answer(c.Get("/api/flow", {{"Cookie", "renkei_session=" + cookie_}}));
  }

  // A POST as the page sends it; the session and token follow the answer.
  Answer post(const std::string& path, const json& body = json::object()) {
    return post_raw(path, body.dump(), "application/json", {});
  }

  Answer post_raw(const std::string& path, const std::string& body, const std::string& content_type,
                  httplib::Headers extra, bool send_csrf = true) {
    httplib::Headers h = {{"Cookie", "renkei_session=" + cookie_}};
    if (send_csrf) h.emplace("X-CSRF-Token", csrf_);
    for (auto& kv : extra) h.insert(kv);
    httplib::Client c = ts_.client();
    Answer a = to_answer(c.Post(path.c_str(), h, body, content_type.c_str()));
    for (auto [it, end] = a.headers.equal_range("Set-Cookie"); it != end; ++it) {
      const std::string& v = it->second;
      const std::string prefix = "renkei_session=";
      if (v.rfind(prefix, 0) == 0) cookie_ = v.substr(prefix.size(), v.find(';') - prefix.size());
    }
    if (a.body.is_object() && a.body.contains("csrf_token") && a.body["csrf_token"].is_string()) {
      csrf_ = a.body["csrf_token"].get<std::string>();
    }
    return a;
  }

  // ---- walking the screens (each step is asserted) ----
  Answer account(const std::string& branch = "115", const std::string& type = "ordinary",
                 const std::string& number = "1100026") {
    return post("/api/flow/account",
                {{"branch", branch}, {"account_type", type}, {"account_number", number}});
  }
  Answer customer(const json& body = demo_customer()) { return post("/api/flow/customer", body); }
  Answer pin(const std::string& pin) { return post("/api/flow/pin", {{"pin", pin}}); }
  Answer simulate_call() { return post("/dev/simulate-call"); }

  void to_customer_entry() {
    Answer a = account();
    ASSERT_EQ(a.status, 200) << a.body.dump();
    ASSERT_EQ(a.screen(), "customer_entry");
  }
  void to_phone_confirm() {
    ASSERT_NO_FATAL_FAILURE(to_customer_entry());
    Answer a = customer();
    ASSERT_EQ(a.status, 200) << a.body.dump();
    ASSERT_EQ(a.screen(), "phone_confirm");
  }
  // ② 次へ from ② (the flow is already there).
  void to_phone_confirm_from_customer_entry() {
    Answer a = customer();
    ASSERT_EQ(a.status, 200) << a.body.dump();
    ASSERT_EQ(a.screen(), "phone_confirm");
  }
  void to_call_wait() {
    ASSERT_NO_FATAL_FAILURE(to_phone_confirm());
    Answer a = post("/api/flow/phone");
    ASSERT_EQ(a.status, 200) << a.body.dump();
    ASSERT_EQ(a.screen(), "call_wait");
  }
  void to_pin_entry() {
    ASSERT_NO_FATAL_FAILURE(to_call_wait());
    Answer call = simulate_call();
    ASSERT_EQ(call.status, 200) << call.body.dump();
    ASSERT_EQ(call.body.value("matched", false), true) << call.body.dump();
    Answer a = post("/api/flow/call/confirm");
    ASSERT_EQ(a.status, 200) << a.body.dump();
    ASSERT_EQ(a.screen(), "pin_entry");
  }
  void to_consent() {
    ASSERT_NO_FATAL_FAILURE(to_pin_entry());
    Answer a = pin(kPin);
    ASSERT_EQ(a.status, 200) << a.body.dump();
    ASSERT_EQ(a.screen(), "consent");
  }

  // The stored flow (by its id, whatever the session is now).
  FlowRecord stored() {
    auto tx = ts_.app().store().begin();
    std::optional<FlowRecord> f = tx->flow_by_id(flow_id_);
    EXPECT_TRUE(f.has_value());
    return f.value_or(FlowRecord{});
  }

  const std::string& cookie() const { return cookie_; }
  const std::string& csrf() const { return csrf_; }
  const std::string& flow_id() const { return flow_id_; }
  const std::string& oauth_state() const { return state_; }
  void set_cookie(std::string c) { cookie_ = std::move(c); }
  void set_csrf(std::string c) { csrf_ = std::move(c); }

 private:
  TestServer& ts_;
  std::string cookie_;
  std::string csrf_;
  std::string flow_id_;
  std::string state_;
};

// The stored lock state of an account. With the remote records source an
// account has a row (its local id) only once ② has reached its records; no
// row means nothing was ever counted.
inline LockState lock_of(TestServer& ts, const AccountRef& ref) {
  auto tx = ts.app().store().begin();
  std::optional<AccountRecord> a = tx->find_account(ref);
  if (!a && ts.app().records().kind() == "remote") return LockState{};
  EXPECT_TRUE(a.has_value());
  return a ? tx->load_lock(a->id) : LockState{};
}

inline AccountRef demo_account() {
  return AccountRef{"115", AccountType::ordinary, "1100026"};
}

inline std::vector<AuditRecord> all_audit(TestServer& ts) {
  auto tx = ts.app().store().begin();
  AuditQuery q;
  q.limit = 100000;
  return tx->query_audit(q);
}

// A signed telephony webhook (docs/http-api.md "Telephony").
inline Answer send_call(TestServer& ts, const json& body, std::optional<UnixSeconds> at = {},
                        const std::string& secret = kTestWebhookSecret) {
  const std::string text = body.dump();
  const std::string ts_text = std::to_string(at.value_or(ts.clock().now()));
  httplib::Headers h = {
      {"X-Renkei-Timestamp", ts_text},
      {"X-Renkei-Signature", "sha256=" + hmac_sha256_hex(secret, ts_text + "." + text)}};
  httplib::Client c = ts.client();
  return to_answer(c.Post("/telephony/calls", h, text, "application/json"));
}

inline json call_body(const std::string& call_id, const json& caller,
                      const std::string& dialled = kPoolNumber) {
  return json{{"call_id", call_id}, {"caller", caller}, {"dialled", dialled}};
}

}  // namespace renkei::server::testing
