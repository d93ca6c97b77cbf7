// The whole journey over HTTP, as the app and the customer's browser see it:
// /authorize → the six screens through the flow API (the call from the
// development simulator) → the code → tokens → balance and transactions.
// Then the side effects: the result mail in the outbox and one audit record
// per step, none holding the PIN or the full phone number.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>

#include "oauth_test_support.h"

namespace renkei::server::testing {
namespace {

constexpr const char* kPin = "1234";
constexpr const char* kPhone = "09011113333";
constexpr const char* kEmail = "satoru.data@example.jp";

TEST(EndToEndTest, FromAuthorizeToTransactions) {
  TestServer server;
  FlowBrowser browser(server);
  Pkce pkce = make_pkce();

  // The app sends the customer to /authorize.
  AuthorizeRequest request;
  request.challenge = pkce.challenge;
  request.scope = "accounts.read";
  auto r = browser.authorize(authorize_path(request));
  ASSERT_TRUE(r);
  ASSERT_NO_FATAL_FAILURE(expect_flow_page(*r));
  ASSERT_FALSE(browser.session().empty());
  std::string flow_id;
  {
    auto tx = server.app().store().begin();
    auto flow = tx->flow_by_session(secret_digest(browser.session()));
    ASSERT_TRUE(flow);
    flow_id = flow->flow_id;
  }

  // The page loads the flow.
  auto view = browser.get_flow();
  ASSERT_TRUE(view.is_object());
  EXPECT_EQ(view["flow"]["screen"], "account_entry");
  EXPECT_EQ(view["client"]["display_name"], "デモ家計簿アプリ");
  EXPECT_TRUE(view["csrf_token"].is_string());

  // ① ご利用口座情報入力
  auto [status, body] = browser.post(
      "/api/flow/account",
      {{"branch", "115"}, {"account_type", "ordinary"}, {"account_number", "1100026"}});
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["flow"]["screen"], "customer_entry");

  // ② お客様情報入力: the session id is rotated.
  const std::string session_before = browser.session();
  std::tie(status, body) = browser.post("/api/flow/customer", {{"name_kana", "ﾃﾞｰﾀ ｻﾄﾙ"},
                                                               {"birth_year", "1985"},
                                                               {"birth_month", "04"},
                                                               {"birth_day", "12"},
                                                               {"phone", kPhone},
                                                               {"email", kEmail},
                                                               {"email_confirm", kEmail}});
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["flow"]["screen"], "phone_confirm");
  EXPECT_EQ(body["flow"]["masked_phone"], "*****3333");
  EXPECT_NE(browser.session(), session_before);

  // ③ 電話番号の決定
  std::tie(status, body) = browser.post("/api/flow/phone", nlohmann::json::object());
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["flow"]["screen"], "call_wait");
  EXPECT_EQ(body["flow"]["call"]["dialled_number"], "0120000001");

  // ④ the customer calls (simulated), then 確定する
  std::tie(status, body) = browser.post("/dev/simulate-call", nlohmann::json::object());
  ASSERT_EQ(status, 200) << body.dump();
  std::tie(status, body) = browser.post("/api/flow/call/confirm", nlohmann::json::object());
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["flow"]["screen"], "pin_entry");

  // ⑤ キャッシュカード暗証番号認証
  std::tie(status, body) = browser.post("/api/flow/pin", {{"pin", kPin}});
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["flow"]["screen"], "consent");

  // ⑥ 許可する
  std::tie(status, body) = browser.post("/api/flow/consent", {{"consent", true}});
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["flow"]["screen"], "completed");
  ASSERT_TRUE(body["redirect_to"].is_string()) << body.dump();
  const std::string redirect = body["redirect_to"];
  EXPECT_EQ(without_query(redirect), kDemoRedirect);
  auto q = query_of(redirect);
  EXPECT_EQ(q["state"], kDemoState);
  EXPECT_EQ(q["iss"], server.app().config().issuer);
  ASSERT_FALSE(q["code"].empty());

  // The app exchanges the code and reads the account.
  auto app_http = server.client();
  auto token = exchange_code(app_http, q["code"], pkce.verifier);
  ASSERT_TRUE(token);
  ASSERT_EQ(token->status, 200) << token->body;
  const std::string access = json_of(token)["access_token"];

  auto balance = api_get(app_http, "/api/v1/account/balance", access);
  ASSERT_TRUE(balance);
  ASSERT_EQ(balance->status, 200) << balance->body;
  std::int64_t stored_balance = 0;
  {
    auto b = server.app().records().balance(demo_account_ref());
    ASSERT_TRUE(b.ok());
    stored_balance = b.value();
  }
  EXPECT_EQ(json_of(balance)["balance_yen"], stored_balance);
  EXPECT_EQ(json_of(balance)["account"]["account_number"], "1100026");

  auto transactions = api_get(app_http, "/api/v1/account/transactions", access);
  ASSERT_TRUE(transactions);
  ASSERT_EQ(transactions->status, 200) << transactions->body;
  EXPECT_FALSE(json_of(transactions)["transactions"].empty());

  auto tx = server.app().store().begin();

  // The result mail waits in the outbox, addressed as entered on ②.
  int mails = 0;
  for (const MailRecord& m : tx->list_mails(100)) {
    if (m.flow_id != flow_id) continue;
    ++mails;
    EXPECT_EQ(m.to, kEmail);
    EXPECT_FALSE(m.subject.empty());
    EXPECT_EQ(m.body.find(kPin), std::string::npos);
    EXPECT_EQ(m.body.find(kPhone), std::string::npos);
  }
  EXPECT_EQ(mails, 1);

  // One audit record per step of the flow; never the PIN or the full phone.
  AuditQuery audit_query;
  audit_query.flow_id = flow_id;
  audit_query.limit = 1000;
  auto records = tx->query_audit(audit_query);
  std::map<std::string, int> steps;
  for (const AuditRecord& rec : records) {
    ++steps[rec.step];
    for (const std::string* field :
         {&rec.step, &rec.outcome, &rec.account, &rec.name_kana, &rec.masked_phone, &rec.client_id,
          &rec.ip, &rec.user_agent, &rec.actor, &rec.detail}) {
      EXPECT_EQ(field->find(kPhone), std::string::npos) << rec.step << ": " << *field;
      EXPECT_EQ(field->find(kPin), std::string::npos) << rec.step << ": " << *field;
    }
  }
  for (const char* step : {"authorize", "submit_account", "submit_customer", "confirm_phone",
                           "incoming_call", "confirm_call", "submit_pin", "submit_consent"}) {
    EXPECT_EQ(steps[step], 1) << step;
  }
  EXPECT_EQ(steps["token"], 1);
  EXPECT_EQ(steps["api.read"], 2);
  for (const AuditRecord& rec : records) {
    if (rec.step == "submit_customer") {
      EXPECT_EQ(rec.account, "115-ordinary-1100026");
      EXPECT_EQ(rec.name_kana, "ﾃﾞｰﾀ ｻﾄﾙ");
      EXPECT_EQ(rec.masked_phone, "*****3333");
      EXPECT_EQ(rec.outcome, "ok");
    }
  }
}

TEST(EndToEndTest, CancelSendsTheCustomerBackWithAccessDenied) {
  TestServer server;
  FlowBrowser browser(server);
  AuthorizeRequest request;
  request.challenge = make_pkce().challenge;
  auto r = browser.authorize(authorize_path(request));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  browser.get_flow();
  auto [status, body] = browser.post("/api/flow/cancel", nlohmann::json::object());
  ASSERT_EQ(status, 200) << body.dump();
  ASSERT_TRUE(body["redirect_to"].is_string()) << body.dump();
  const std::string redirect = body["redirect_to"];
  EXPECT_EQ(without_query(redirect), kDemoRedirect);
  auto q = query_of(redirect);
  EXPECT_EQ(q["error"], "access_denied");
  EXPECT_EQ(q["state"], kDemoState);
  EXPECT_EQ(q["iss"], server.app().config().issuer);
  EXPECT_EQ(q.count("code"), 0u);
}

}  // namespace
}  // namespace renkei::server::testing
