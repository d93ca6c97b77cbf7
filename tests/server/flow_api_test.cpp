// Integration tests of the customer flow API (docs/http-api.md "Customer
// flow") against a real server: the manual's error tables (SPEC §4), the
// lockout (SPEC §5) including parallel attempts, session and CSRF handling,
// malformed requests, the operation log (SPEC §9) and the static pages.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "flow_client.h"
#include "renkei/case_runner.h"
#include "renkei/error.h"
#include "renkei/forms.h"

namespace renkei::server::testing {
namespace {

bool has_field_error(const Answer& a, const std::string& field, const std::string& code) {
  const json& fields = a.body["error"]["fields"];
  if (!fields.is_array()) return false;
  return std::any_of(fields.begin(), fields.end(), [&](const json& f) {
    return f.value("field", "") == field && f.value("code", "") == code;
  });
}

// ---------------------------------------------------------------- GET

TEST(FlowApi, GetFlowGivesViewTokenClientProfileAndSecurityHeaders) {
  TestServer ts;
  FlowClient fc(ts);
  Answer a = fc.get();
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.screen(), "account_entry");
  EXPECT_EQ(a.body["flow"]["screen_id"], "SOA201");
  EXPECT_FALSE(fc.csrf().empty());
  EXPECT_EQ(a.body["client"]["id"], "demo-app");
  EXPECT_EQ(a.body["client"]["display_name"], "デモ家計簿アプリ");
  EXPECT_EQ(a.body["profile"]["name"], "ミレ信用組合");
  EXPECT_EQ(a.body["authorization_days"], 30);
  EXPECT_EQ(a.body["dev_mode"], true);
  auto header = [&](const char* name) {
    auto it = a.headers.find(name);
    return it == a.headers.end() ? std::string() : it->second;
  };
  EXPECT_EQ(header("Content-Security-Policy"),
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
            "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
  EXPECT_EQ(header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(header("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(header("X-Frame-Options"), "DENY");
  EXPECT_EQ(header("Cache-Control"), "no-store");
  EXPECT_EQ(a.headers.count("Content-Security-Policy"), 1u);
  EXPECT_NE(header("Content-Type").find("application/json"), std::string::npos);
}

// The page without WebAssembly (iOS Lockdown Mode) reads the catalog here:
// the native core's run_case bytes, cacheable and revalidated by its ETag.
TEST(FlowApi, CatalogIsTheCoresCatalogCaseWithAnEtagAndA304) {
  TestServer ts;
  httplib::Client c = ts.client();
  auto first = c.Get("/api/catalog");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200);
  EXPECT_EQ(first->body, run_case(R"({"kind":"catalog"})"));
  EXPECT_EQ(first->get_header_value("Cache-Control"), "public, no-cache");
  EXPECT_NE(first->get_header_value("Content-Type").find("application/json"), std::string::npos);
  EXPECT_EQ(first->get_header_value("X-Content-Type-Options"), "nosniff");
  const std::string etag = first->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  const json catalog = json::parse(first->body);
  EXPECT_EQ(catalog["required_dialog"]["title"], "エラー");
  EXPECT_EQ(catalog["labels"]["back_to_app"], "連携元画面へ");
  EXPECT_TRUE(std::any_of(catalog["codes"].begin(), catalog["codes"].end(), [](const json& code) {
    return code["code"] == "auth_mismatch" && code["message"] == message_ja(ErrorCode::auth_mismatch);
  }));

  auto again = c.Get("/api/catalog", {{"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  EXPECT_EQ(again->get_header_value("ETag"), etag);
  auto other = c.Get("/api/catalog", {{"If-None-Match", "\"0000\""}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  // No session needed, and none is created.
  EXPECT_FALSE(first->has_header("Set-Cookie"));
}

TEST(FlowApi, UnknownOrMissingSessionIsSessionExpired) {
  TestServer ts;
  httplib::Client c = ts.client();
  Answer none = to_answer(c.Get("/api/flow"));
  EXPECT_EQ(none.status, 410);
  EXPECT_EQ(none.code(), "session_expired");

  FlowClient fc(ts);
  fc.set_cookie("not-a-session");
  Answer bogus = fc.account();
  EXPECT_EQ(bogus.status, 410);
  EXPECT_EQ(bogus.code(), "session_expired");

  Answer garbage = to_answer(c.Get(
      "/api/flow", {{"Cookie", "a=b; ;;; =; renkei_session; renkei_session=\"x\\y\"; \x01=\x02"}}));
  EXPECT_EQ(garbage.status, 410);
}

TEST(FlowApi, ManyCookiesAreToleratedAndTheSessionIsFound) {
  TestServer ts;
  FlowClient fc(ts);
  std::string header;
  for (int i = 0; i < 300; ++i) header += "c" + std::to_string(i) + "=v; ";
  header += "renkei_session=" + fc.cookie();
  httplib::Client c = ts.client();
  Answer a = to_answer(c.Get("/api/flow", {{"Cookie", header}}));
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.screen(), "account_entry");
}

TEST(FlowApi, IdleFlowExpires) {
  TestServer ts;
  FlowClient fc(ts);
  ts.clock().advance(901);
  Answer a = fc.account();
  EXPECT_EQ(a.status, 410);
  EXPECT_EQ(a.code(), "session_expired");
  EXPECT_EQ(a.screen(), "expired");
  Answer again = fc.get();
  EXPECT_EQ(again.screen(), "expired");
}

// SPEC §8a, no dead ends: a flow idle past flow_idle_seconds is over, and its
// page leads back to the app, which learns access_denied (the customer did not
// finish; not temporarily_unavailable, which would tell the app the server is
// overloaded or closed) with state and iss, on every reload, and through
// cancel and leave too. Audit finding D1: 410 with no way back, cancel 409,
// leave 400/409.
TEST(FlowApi, ExpiredFlowKeepsOfferingTheAppAccessDenied) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
  ts.clock().advance(901);
  Answer first = fc.get();
  EXPECT_EQ(first.status, 410);
  EXPECT_EQ(first.code(), "session_expired");
  EXPECT_EQ(first.screen(), "expired");
  const std::string to = first.body.value("redirect_to", "");
  EXPECT_EQ(to.rfind(std::string(kDemoRedirect) + "?", 0), 0u) << first.body.dump();
  EXPECT_NE(to.find("error=access_denied"), std::string::npos) << to;
  EXPECT_NE(to.find("state=" + fc.oauth_state()), std::string::npos) << to;
  EXPECT_NE(to.find("iss="), std::string::npos) << to;
  EXPECT_EQ(to.find("code="), std::string::npos) << to;
  // Reloaded: the same way back.
  Answer again = fc.get();
  EXPECT_EQ(again.screen(), "expired");
  EXPECT_EQ(again.body.value("redirect_to", ""), to);
  // Cancel and leave give it too (the flow's outcome, whatever the reason).
  Answer cancel = fc.post("/api/flow/cancel");
  EXPECT_EQ(cancel.status, 200) << cancel.body.dump();
  EXPECT_EQ(cancel.screen(), "expired");
  EXPECT_EQ(cancel.body.value("redirect_to", ""), to);
  Answer leave = fc.post("/api/flow/leave", {{"reason", "out_of_hours"}});
  EXPECT_EQ(leave.status, 200) << leave.body.dump();
  EXPECT_EQ(leave.body.value("redirect_to", ""), to);
  // A step is refused, with the way back.
  Answer step = fc.customer();
  EXPECT_EQ(step.code(), "invalid_step");
  EXPECT_EQ(step.body.value("redirect_to", ""), to);
}

// The step that finds the flow idle answers session_expired with the way back.
TEST(FlowApi, StepOnAnIdleFlowAnswersSessionExpiredWithTheWayBack) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_phone_confirm());
  ts.clock().advance(901);
  Answer a = fc.post("/api/flow/phone");
  EXPECT_EQ(a.status, 410);
  EXPECT_EQ(a.screen(), "expired");
  const std::string to = a.body.value("redirect_to", "");
  EXPECT_NE(to.find("error=access_denied"), std::string::npos) << a.body.dump();
  EXPECT_NE(to.find("state=" + fc.oauth_state()), std::string::npos) << to;
}

// Audit finding D2: after 中止する a reload lost 連携元画面へ (GET gave no
// redirect_to, cancel and leave answered 409), so a webview that reloaded the
// page before the tap never told the app. The cancelled flow keeps its
// outcome; one left for the app keeps its own error, not access_denied.
TEST(FlowApi, CancelledOrLeftFlowKeepsItsWayBackOnReload) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
  Answer cancel = fc.post("/api/flow/cancel");
  ASSERT_EQ(cancel.status, 200) << cancel.body.dump();
  const std::string to = cancel.body.value("redirect_to", "");
  ASSERT_NE(to.find("error=access_denied"), std::string::npos) << to;
  Answer reload = fc.get();
  EXPECT_EQ(reload.status, 200);
  EXPECT_EQ(reload.screen(), "cancelled");
  EXPECT_EQ(reload.body.value("redirect_to", ""), to);
  // 連携元画面へ of a closed service after the cancel: still access_denied.
  Answer leave = fc.post("/api/flow/leave", {{"reason", "out_of_hours"}});
  EXPECT_EQ(leave.status, 200) << leave.body.dump();
  EXPECT_EQ(leave.body.value("redirect_to", ""), to);

  FlowClient left(ts);
  ASSERT_NO_FATAL_FAILURE(left.to_customer_entry());
  Answer out = left.post("/api/flow/leave", {{"reason", "busy"}});
  ASSERT_EQ(out.status, 200) << out.body.dump();
  const std::string left_to = out.body.value("redirect_to", "");
  ASSERT_NE(left_to.find("error=temporarily_unavailable"), std::string::npos) << left_to;
  EXPECT_NE(left_to.find("state=" + left.oauth_state()), std::string::npos) << left_to;
  EXPECT_EQ(left.get().body.value("redirect_to", ""), left_to);
  EXPECT_EQ(left.post("/api/flow/cancel").body.value("redirect_to", ""), left_to);
  EXPECT_EQ(left.stored().app_error, "temporarily_unavailable");
}

// A completed flow repeats nothing: its code went out once, in the consent
// answer (single use, kept as a digest only) and is never issued again.
// A reload of a completed flow whose code was not exchanged gets a new code
// (oauth_test.cpp CompletedFlowReload has the exchange), never an error that
// would contradict the consent; a step on it repeats nothing.
TEST(FlowApi, CompletedFlowOnReloadGetsANewCodeAndNoError) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_consent());
  Answer done = fc.post("/api/flow/consent", {{"consent", true}});
  ASSERT_EQ(done.status, 200) << done.body.dump();
  const std::string first = done.body.value("redirect_to", "");
  ASSERT_NE(first.find("code="), std::string::npos);
  Answer reload = fc.get();
  EXPECT_EQ(reload.screen(), "completed");
  const std::string again = reload.body.value("redirect_to", "");
  EXPECT_NE(again.find("code="), std::string::npos) << reload.body.dump();
  EXPECT_EQ(again.find("error="), std::string::npos);
  EXPECT_NE(again, first);
  Answer cancel = fc.post("/api/flow/cancel");
  EXPECT_EQ(cancel.code(), "invalid_step");
  EXPECT_FALSE(cancel.body.contains("redirect_to")) << cancel.body.dump();
}

// Audit finding D3: after the lock a reload showed ⑤ (and ②) with an enabled
// form and no message. GET /api/flow says the account is locked (B84), so the
// page draws the same locked state (SPEC §8a).
TEST(FlowApi, GetFlowTellsALockedAccountOnThePinAndCustomerScreens) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_pin_entry());
  EXPECT_FALSE(fc.get().body.contains("locked"));
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(fc.pin("9876").code(), "auth_mismatch") << i;
  EXPECT_FALSE(fc.get().body.contains("locked"));  // not yet
  ASSERT_EQ(fc.pin("9876").code(), "locked_now");
  Answer reload = fc.get();
  EXPECT_EQ(reload.status, 200);
  EXPECT_EQ(reload.screen(), "pin_entry");
  ASSERT_TRUE(reload.body.contains("locked")) << reload.body.dump();
  EXPECT_EQ(reload.body["locked"]["code"], "locked");
  EXPECT_EQ(reload.body["locked"]["reason"], "B84");
  EXPECT_EQ(reload.body["locked"]["message"], std::string(message_ja(ErrorCode::locked)));
  // ② of another flow on the same account.
  FlowClient other(ts);
  ASSERT_NO_FATAL_FAILURE(other.to_customer_entry());
  EXPECT_EQ(other.get().body["locked"]["code"], "locked");
  // ① names no account yet; another account on ② is not locked.
  FlowClient fresh(ts);
  EXPECT_FALSE(fresh.get().body.contains("locked"));
  // The lock lifts at 0:00 JST: the form is open again.
  ts.clock().set(from_jst({2026, 11, 26}, 0, 2, 0));
  FlowClient next_day(ts);
  ASSERT_NO_FATAL_FAILURE(next_day.to_customer_entry());
  EXPECT_FALSE(next_day.get().body.contains("locked"));
}

// SPEC §8a: ① 次へ onto ② of a locked account answers `locked` with the view,
// so the page disables ② at once (the manual tells B84 on ②, never on ①:
// ① checks the form only), and ④ 確定する onto ⑤ of an account locked meanwhile.
TEST(FlowApi, StepOntoTheCustomerOrPinScreenOfALockedAccountSaysLocked) {
  TestServer ts;
  FlowClient waiting(ts);  // past ② before the lock
  ASSERT_NO_FATAL_FAILURE(waiting.to_phone_confirm());
  FlowClient fc(ts);
  Answer first = fc.account();
  ASSERT_EQ(first.status, 200);
  EXPECT_FALSE(first.body.contains("locked"));
  ASSERT_NO_FATAL_FAILURE(fc.to_phone_confirm_from_customer_entry());
  ASSERT_EQ(fc.post("/api/flow/phone").status, 200);
  ASSERT_EQ(fc.simulate_call().status, 200);
  Answer pin_screen = fc.post("/api/flow/call/confirm");
  ASSERT_EQ(pin_screen.screen(), "pin_entry");
  EXPECT_FALSE(pin_screen.body.contains("locked"));
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(fc.pin("9876").code(), "auth_mismatch") << i;
  ASSERT_EQ(fc.pin("9876").code(), "locked_now");

  FlowClient other(ts);
  // ① itself tells nothing about the account (only its form is checked there).
  Answer on_one = other.get();
  EXPECT_FALSE(on_one.body.contains("locked"));
  Answer a = other.account();
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.screen(), "customer_entry");
  ASSERT_TRUE(a.body.contains("locked")) << a.body.dump();
  EXPECT_EQ(a.body["locked"], other.get().body["locked"]);  // as on reload
  EXPECT_EQ(a.body["locked"]["code"], "locked");
  EXPECT_EQ(a.body["locked"]["reason"], "B84");
  EXPECT_EQ(a.body["locked"]["message"], std::string(message_ja(ErrorCode::locked)));
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 5);  // arriving is no attempt

  // ④ 確定する of the flow that passed ② before the lock: ⑤ disabled at once.
  ASSERT_EQ(waiting.post("/api/flow/phone").status, 200);
  ASSERT_EQ(waiting.simulate_call().status, 200);
  Answer confirm = waiting.post("/api/flow/call/confirm");
  ASSERT_EQ(confirm.status, 200) << confirm.body.dump();
  EXPECT_EQ(confirm.screen(), "pin_entry");
  EXPECT_EQ(confirm.body["locked"]["code"], "locked");
}

// ------------------------------------------------ manual tables: required

TEST(FlowApi, AccountScreenRequiredFieldsShowTheDialog) {
  TestServer ts;
  FlowClient fc(ts);
  Answer a = fc.post("/api/flow/account", json::object());
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.code(), "required");
  EXPECT_EQ(a.body["error"]["message"], "必ず入力して下さい。");
  EXPECT_EQ(a.body["error"]["dialog"]["title"], "エラー");
  EXPECT_EQ(a.body["error"]["dialog"]["message"], "入力されていない項目があります。");
  EXPECT_TRUE(has_field_error(a, "branch", "required"));
  EXPECT_TRUE(has_field_error(a, "account_number", "required"));
  EXPECT_EQ(a.screen(), "account_entry");
}

TEST(FlowApi, CustomerScreenRequiredFieldsShowTheDialog) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
  Answer a = fc.customer(json::object());
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.code(), "required");
  EXPECT_TRUE(a.body["error"].contains("dialog"));
  for (const char* f : {"name_kana", "phone", "email", "email_confirm"}) {
    EXPECT_TRUE(has_field_error(a, f, "required")) << f;
  }
  EXPECT_EQ(a.screen(), "customer_entry");
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 0);  // a form error is not a failure
}

TEST(FlowApi, PinScreenRequiredShowsTheDialog) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_pin_entry());
  Answer a = fc.pin("");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.code(), "required");
  EXPECT_TRUE(has_field_error(a, "pin", "required"));
  EXPECT_TRUE(a.body["error"].contains("dialog"));
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 0);
}

TEST(FlowApi, FilledButWrongFieldsAreInvalidInputWithoutDialog) {
  TestServer ts;
  FlowClient fc(ts);
  Answer a = fc.account("11", "ordinary", "12345678");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.code(), "invalid_input");
  EXPECT_FALSE(a.body["error"].contains("dialog"));
  EXPECT_TRUE(has_field_error(a, "branch", "invalid_format"));
}

TEST(FlowApi, FullWidthInputIsNormalized) {
  TestServer ts;
  FlowClient fc(ts);
  Answer a = fc.account("１１５", "ordinary", "１１０００２６");
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["flow"]["account"]["branch"], "115");
  EXPECT_EQ(a.body["flow"]["account"]["number"], "1100026");
  Answer b = fc.customer(customer_with("name_kana", "データ　サトル"));
  EXPECT_EQ(b.status, 200) << b.body.dump();
}

// ------------------------------------ manual table ② No.1: not eligible

struct IneligibleCase {
  const char* label;
  const char* branch;
  const char* type;
  const char* number;
  json customer;
};

class NotEligible : public ::testing::TestWithParam<IneligibleCase> {};

TEST_P(NotEligible, IsAccountNotEligibleAndCountsNoFailure) {
  const IneligibleCase& c = GetParam();
  TestServer ts;
  FlowClient fc(ts);
  Answer first = fc.account(c.branch, c.type, c.number);
  ASSERT_EQ(first.status, 200) << first.body.dump();
  Answer a = fc.customer(c.customer);
  EXPECT_EQ(a.status, 403) << c.label;
  EXPECT_EQ(a.code(), "account_not_eligible") << c.label;
  EXPECT_EQ(a.body["error"]["message"], "ご指定の口座は、本サービスではお取り扱いできません。");
  EXPECT_EQ(a.screen(), "customer_entry");
  // Not an identity failure: five more of these never lock anything.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(fc.customer(c.customer).code(), "account_not_eligible");
}

json person(const char* kana, const char* y, const char* m, const char* d, const char* phone) {
  return json{{"name_kana", kana},
              {"birth_year", y},
              {"birth_month", m},
              {"birth_day", d},
              {"phone", phone},
              {"email", "a@example.jp"},
              {"email_confirm", "a@example.jp"}};
}

INSTANTIATE_TEST_SUITE_P(
    ManualTable, NotEligible,
    ::testing::Values(IneligibleCase{"unknown", "115", "ordinary", "9999999", demo_customer()},
                      IneligibleCase{"wrong_type", "115", "savings", "1100026", demo_customer()},
                      IneligibleCase{"closed", "006", "ordinary", "1234567",
                                     person("ﾀﾅｶ ｼﾞﾛｳ", "1960", "02", "29", "0312345678")},
                      IneligibleCase{"moved", "011", "ordinary", "1111111",
                                     person("ｽｽﾞｷ ｲﾁﾛｳ", "1972", "07", "07", "07033335555")},
                      IneligibleCase{"no_cash_card", "115", "ordinary", "3000001",
                                     person("ｻﾄｳ ﾐｷ", "2000", "01", "01", "06012345678")}),
    [](const ::testing::TestParamInfo<IneligibleCase>& info) { return info.param.label; });

TEST(FlowApi, MovedAccountsNewNumberWorks) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_EQ(fc.account("022", "ordinary", "2222222").status, 200);
  Answer a = fc.customer(person("ｽｽﾞｷ ｲﾁﾛｳ", "1972", "07", "07", "07033335555"));
  EXPECT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.screen(), "phone_confirm");
}

// ------------------------------------ manual table ② No.2: mismatch

TEST(FlowApi, WrongBirthDateOrPhoneIsAuthMismatch) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
  Answer a = fc.customer(customer_with("birth_day", "13"));
  EXPECT_EQ(a.status, 403);
  EXPECT_EQ(a.code(), "auth_mismatch");
  EXPECT_EQ(a.body["error"]["message"],
            "本人認証情報が誤っています。本人認証項目をご確認のうえ、再度入力して下さい。");
  EXPECT_EQ(a.screen(), "customer_entry");
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 1);
  Answer b = fc.customer(customer_with("phone", "09099998888"));
  EXPECT_EQ(b.code(), "auth_mismatch");
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 2);
  // The name is not matched (FAQ 2-Q4) and the second registered number works;
  // a correct ② does not reset the count (SPEC §5 amended: only a correct PIN).
  json other = customer_with("phone", "0612345678");
  other["name_kana"] = "ﾍﾞﾂ ﾅﾏｴ";
  Answer ok = fc.customer(other);
  EXPECT_EQ(ok.status, 200) << ok.body.dump();
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 2);
}

TEST(FlowApi, WrongPinIsAuthMismatch) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_pin_entry());
  Answer a = fc.pin("9876");
  EXPECT_EQ(a.status, 403);
  EXPECT_EQ(a.code(), "auth_mismatch");
  EXPECT_EQ(a.screen(), "pin_entry");
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 1);
  Answer ok = fc.pin("１２３４");  // full width is normalized
  EXPECT_EQ(ok.status, 200) << ok.body.dump();
  EXPECT_EQ(ok.screen(), "consent");
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 0);
}

// ------------------------------ manual table ② No.3/No.4: the lockout

TEST(FlowApi, FifthFailureIsLockedNowThenB84EvenWithTheRightData) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
  const json wrong = customer_with("birth_year", "1986");
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(fc.customer(wrong).code(), "auth_mismatch") << i;
  Answer fifth = fc.customer(wrong);
  EXPECT_EQ(fifth.status, 403);
  EXPECT_EQ(fifth.code(), "locked_now");
  EXPECT_EQ(fifth.body["error"]["message"],
            "お取扱いができなくなりました。詳しくは本サービスのお問合せ窓口へご照会下さい。");
  Answer right = fc.customer(demo_customer());
  EXPECT_EQ(right.status, 403);
  EXPECT_EQ(right.code(), "locked");
  EXPECT_EQ(right.body["error"]["reason"], "B84");
  EXPECT_NE(right.body["error"]["message"].get<std::string>().find("理由コードはB84です。"),
            std::string::npos);
  // Another session (another browser) is locked out too.
  FlowClient other(ts);
  ASSERT_NO_FATAL_FAILURE(other.to_customer_entry());
  EXPECT_EQ(other.customer().code(), "locked");
  LockState lock = lock_of(ts, demo_account());
  ASSERT_TRUE(lock.locked_until.has_value());
  EXPECT_EQ(*lock.locked_until, from_jst({2026, 11, 26}));
  EXPECT_NE(ts.app().metrics().render().find("renkei_lockouts_total"), std::string::npos);
}

// Security finding (issue 12, SPEC §5 amended): a correct ② reset the count,
// so four wrong PINs, a new flow, a correct ② and four more wrong PINs never
// locked the account (the admin API showed failures: 4 after 8 wrong PINs).
// Only a correct PIN resets it now.
TEST(FlowApi, AlternatingFlowsWithWrongPinsLockAtTheLimit) {
  TestServer ts;
  FlowClient first(ts);
  ASSERT_NO_FATAL_FAILURE(first.to_pin_entry());
  for (const char* guess : {"0000", "1111", "2222", "3333"}) {
    EXPECT_EQ(first.pin(guess).code(), "auth_mismatch") << guess;
  }
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 4);
  // A new flow: a correct ② and ④ leave the four failures standing.
  FlowClient second(ts);
  ASSERT_NO_FATAL_FAILURE(second.to_pin_entry());
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 4);
  Answer fifth = second.pin("4444");
  EXPECT_EQ(fifth.code(), "locked_now");
  LockState lock = lock_of(ts, demo_account());
  EXPECT_EQ(lock.failures, 5);
  ASSERT_TRUE(lock.locked_until.has_value());
  // And a third flow is refused at ②, the right PIN included.
  FlowClient third(ts);
  ASSERT_NO_FATAL_FAILURE(third.to_customer_entry());
  EXPECT_EQ(third.customer().code(), "locked");
  EXPECT_EQ(second.pin(kPin).code(), "locked");
}

TEST(FlowApi, IdentityAndPinFailuresCountTogether) {
  TestServer ts;
  FlowClient at_pin(ts);
  ASSERT_NO_FATAL_FAILURE(at_pin.to_pin_entry());
  FlowClient at_customer(ts);
  ASSERT_NO_FATAL_FAILURE(at_customer.to_customer_entry());
  const json wrong = customer_with("birth_month", "05");
  EXPECT_EQ(at_customer.customer(wrong).code(), "auth_mismatch");
  EXPECT_EQ(at_customer.customer(wrong).code(), "auth_mismatch");
  EXPECT_EQ(at_pin.pin("0000").code(), "auth_mismatch");
  EXPECT_EQ(at_pin.pin("1111").code(), "auth_mismatch");
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 4);
  Answer fifth = at_pin.pin("2222");
  EXPECT_EQ(fifth.code(), "locked_now");
  EXPECT_EQ(at_pin.pin(kPin).code(), "locked");
  EXPECT_EQ(at_customer.customer().code(), "locked");
}

TEST(FlowApi, LockLiftsAtMidnightJst) {
  TestServer ts;
  {
    FlowClient fc(ts);
    ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
    for (int i = 0; i < 5; ++i) fc.customer(customer_with("birth_day", "01"));
  }
  ts.clock().set(from_jst({2026, 11, 25}, 23, 59, 0));
  {
    FlowClient fc(ts);
    ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
    EXPECT_EQ(fc.customer().code(), "locked");
  }
  ts.clock().set(from_jst({2026, 11, 26}, 0, 2, 0));  // 0:00–0:01 is a service window
  {
    FlowClient fc(ts);
    ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
    Answer a = fc.customer();
    EXPECT_EQ(a.status, 200) << a.body.dump();
    EXPECT_EQ(a.screen(), "phone_confirm");
  }
  EXPECT_EQ(lock_of(ts, demo_account()), LockState{});
}

TEST(FlowApi, ParallelWrongAttemptsCountExactlyTheLimit) {
  constexpr int kThreads = 12;
  TestServer ts;
  std::vector<std::unique_ptr<FlowClient>> clients;
  for (int i = 0; i < kThreads; ++i) {
    clients.push_back(std::make_unique<FlowClient>(ts));
    ASSERT_NO_FATAL_FAILURE(clients.back()->to_customer_entry());
  }
  std::mutex m;
  std::map<std::string, int> codes;
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      Answer a = clients[static_cast<std::size_t>(i)]->customer(customer_with("birth_day", "11"));
      std::lock_guard<std::mutex> lock(m);
      ++codes[a.code()];
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(codes["auth_mismatch"], 4);
  EXPECT_EQ(codes["locked_now"], 1);
  EXPECT_EQ(codes["locked"], kThreads - 5);
  EXPECT_EQ(codes.size(), 3u);
  LockState lock = lock_of(ts, demo_account());
  EXPECT_EQ(lock.failures, 5);
  EXPECT_TRUE(lock.locked_until.has_value());
}

// ② and ⑤ share one count per account (SPEC §5): wrong PINs and wrong identity
// data sent at the same moment from twelve sessions still lock at exactly the
// limit, and nothing slips through.
TEST(FlowApi, ParallelWrongPinsAndIdentitiesShareOneExactCount) {
  constexpr int kEach = 6;
  TestServer ts;
  std::vector<std::unique_ptr<FlowClient>> at_pin, at_customer;
  for (int i = 0; i < kEach; ++i) {
    at_pin.push_back(std::make_unique<FlowClient>(ts));
    ASSERT_NO_FATAL_FAILURE(at_pin.back()->to_pin_entry());
    at_customer.push_back(std::make_unique<FlowClient>(ts));
    ASSERT_NO_FATAL_FAILURE(at_customer.back()->to_customer_entry());
  }
  ASSERT_EQ(lock_of(ts, demo_account()), LockState{});  // the passed ② checks reset it
  std::mutex m;
  std::map<std::string, int> codes;
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2 * kEach; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < 2 * kEach) std::this_thread::yield();
      const auto k = static_cast<std::size_t>(i / 2);
      Answer a = i % 2 == 0 ? at_pin[k]->pin("9999")
                            : at_customer[k]->customer(customer_with("birth_day", "11"));
      std::lock_guard<std::mutex> lock(m);
      ++codes[a.code()];
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(codes["auth_mismatch"], 4);
  EXPECT_EQ(codes["locked_now"], 1);
  EXPECT_EQ(codes["locked"], 2 * kEach - 5);
  EXPECT_EQ(codes.size(), 3u);
  LockState lock = lock_of(ts, demo_account());
  EXPECT_EQ(lock.failures, 5);
  EXPECT_TRUE(lock.locked_until.has_value());
  // The right PIN on a session at ⑤ is refused too while the lock holds.
  EXPECT_EQ(at_pin[0]->pin(kPin).code(), "locked");
}

// ------------------------------------ manual table ② その他: hours

TEST(FlowApi, OutOfHoursAt0402Jst) {
  TestServer ts(test_config(), from_jst({2026, 11, 25}, 4, 2, 0));
  FlowClient fc(ts);
  Answer a = fc.account();
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.code(), "out_of_hours");
  EXPECT_EQ(a.body["error"]["message"], "ただ今の時間はサービスを行っていません。 ご了承下さい。");
  EXPECT_EQ(a.screen(), "account_entry");
  // When the service opens again (SPEC §8a): the instants and the core's text.
  EXPECT_EQ(a.body["service"]["at"], "2026-11-25T04:02:00+09:00");
  EXPECT_EQ(a.body["service"]["reopens_at"], "2026-11-25T04:05:00+09:00");
  EXPECT_EQ(a.body["service"]["reopening"], "4時05分から再開します。");
  ts.clock().set(from_jst({2026, 11, 25}, 4, 6, 0));
  Answer open = fc.account();
  EXPECT_EQ(open.status, 200);
  EXPECT_TRUE(fc.get().body["service"].is_null());
}

TEST(FlowApi, EveryStepOfASwitchedOffAppIsServiceUnavailableButLeaveWorks) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_phone_confirm());
  ASSERT_TRUE(switch_off_client(ts.app().store()));
  Answer a = fc.post("/api/flow/phone");
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.code(), "service_unavailable");
  EXPECT_EQ(a.screen(), "phone_confirm");
  Answer left = fc.post("/api/flow/leave", {{"reason", "service_unavailable"}});
  ASSERT_EQ(left.status, 200) << left.body.dump();
  EXPECT_EQ(left.screen(), "cancelled");
  const std::string to = left.body.value("redirect_to", "");
  EXPECT_EQ(to.rfind(std::string(kDemoRedirect) + "?", 0), 0u) << to;
  EXPECT_NE(to.find("error=temporarily_unavailable"), std::string::npos) << to;
  EXPECT_NE(to.find("state=" + fc.oauth_state()), std::string::npos) << to;
  // The operation log says why the customer left.
  bool logged = false;
  for (const AuditRecord& r : all_audit(ts)) {
    if (r.step == "leave" && r.flow_id == fc.flow_id()) {
      logged = true;
      EXPECT_EQ(r.outcome, "ok");
      EXPECT_NE(r.detail.find("reason=service_unavailable"), std::string::npos) << r.detail;
    }
  }
  EXPECT_TRUE(logged);
}

TEST(FlowApi, LeaveAfterASystemErrorGivesTheAppServerError) {
  ServerConfig cfg = test_config();
  cfg.call_pool.clear();  // ③ cannot pick a number: an internal failure
  TestServer ts(cfg);
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_phone_confirm());
  ASSERT_EQ(fc.post("/api/flow/phone").code(), "system_error");
  Answer left = fc.post("/api/flow/leave", {{"reason", "system_error"}});
  ASSERT_EQ(left.status, 200) << left.body.dump();
  EXPECT_NE(left.body.value("redirect_to", "").find("error=server_error"), std::string::npos);
  // Leave needs the CSRF token like every other step.
  FlowClient other(ts);
  other.set_csrf("wrong");
  EXPECT_EQ(other.post("/api/flow/leave", {{"reason", "busy"}}).code(), "forbidden");
}

TEST(FlowApi, CancelWorksOutOfHours) {
  TestServer ts(test_config(), from_jst({2026, 11, 25}, 4, 1, 0));
  FlowClient fc(ts);
  Answer a = fc.post("/api/flow/cancel");
  EXPECT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.screen(), "cancelled");
}

// ------------------------- manual table ② その他: system error, switched off

TEST(FlowApi, InternalFailureIsSystemErrorWithoutDetails) {
  ServerConfig cfg = test_config();
  cfg.call_pool.clear();  // ③ cannot pick a number: an internal failure
  TestServer ts(cfg);
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_phone_confirm());
  Answer a = fc.post("/api/flow/phone");
  EXPECT_EQ(a.status, 500);
  EXPECT_EQ(a.code(), "system_error");
  EXPECT_EQ(a.body["error"]["message"],
            "調整のため連絡ができなくなりました。 "
            "なお、お急ぎの場合は本サービスのお問合せ窓口へご照会下さい。");
  EXPECT_EQ(a.body.dump().find("pool"), std::string::npos);
  EXPECT_EQ(fc.get().screen(), "phone_confirm");  // rolled back
}

TEST(FlowApi, ConsentForASwitchedOffAppIsServiceUnavailable) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_consent());
  ASSERT_TRUE(switch_off_client(ts.app().store()));
  Answer a = fc.post("/api/flow/consent", {{"consent", true}});
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.code(), "service_unavailable");
  EXPECT_EQ(a.screen(), "consent");
  EXPECT_FALSE(a.body.contains("redirect_to"));
}

// ---------------------------------------------------------- cancel

class CancelAt : public ::testing::TestWithParam<const char*> {};

TEST_P(CancelAt, RedirectsWithAccessDenied) {
  const std::string screen = GetParam();
  TestServer ts;
  FlowClient fc(ts);
  if (screen == "customer_entry") {
    ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
  }
  if (screen == "phone_confirm") {
    ASSERT_NO_FATAL_FAILURE(fc.to_phone_confirm());
  }
  if (screen == "call_wait") {
    ASSERT_NO_FATAL_FAILURE(fc.to_call_wait());
  }
  if (screen == "pin_entry") {
    ASSERT_NO_FATAL_FAILURE(fc.to_pin_entry());
  }
  if (screen == "consent") {
    ASSERT_NO_FATAL_FAILURE(fc.to_consent());
  }
  ASSERT_EQ(fc.get().screen(), screen);
  Answer a = fc.post("/api/flow/cancel");
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.screen(), "cancelled");
  const std::string to = a.body.value("redirect_to", "");
  EXPECT_EQ(to.rfind(kDemoRedirect, 0), 0u) << to;
  EXPECT_NE(to.find("error=access_denied"), std::string::npos) << to;
  EXPECT_NE(to.find("state=" + fc.oauth_state()), std::string::npos) << to;
  EXPECT_EQ(to.find("code="), std::string::npos) << to;
  // A cancelled flow takes nothing more, but every answer about it keeps its
  // way back to the app (SPEC §8a): 中止する again gives the same redirect.
  Answer again = fc.post("/api/flow/cancel");
  EXPECT_EQ(again.status, 200) << again.body.dump();
  EXPECT_EQ(again.body.value("redirect_to", ""), to);
  Answer refused = fc.pin(kPin);
  EXPECT_EQ(refused.code(), "invalid_step");
  EXPECT_EQ(refused.body.value("redirect_to", ""), to);
}

INSTANTIATE_TEST_SUITE_P(EveryScreen, CancelAt,
                         ::testing::Values("account_entry", "customer_entry", "phone_confirm",
                                           "call_wait", "pin_entry", "consent"));

// ------------------------------------------------------ CSRF, Origin

TEST(FlowApi, MissingOrWrongCsrfIsForbiddenAndChangesNothing) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
  const json wrong = customer_with("birth_day", "02");
  Answer missing = fc.post_raw("/api/flow/customer", wrong.dump(), "application/json", {},
                               /*send_csrf=*/false);
  EXPECT_EQ(missing.status, 403);
  EXPECT_EQ(missing.code(), "forbidden");
  const std::string good = fc.csrf();
  fc.set_csrf(good.substr(0, good.size() - 1) + (good.back() == 'A' ? "B" : "A"));
  EXPECT_EQ(fc.customer(wrong).code(), "forbidden");
  fc.set_csrf("");
  EXPECT_EQ(fc.customer(wrong).code(), "forbidden");
  fc.set_csrf(good);
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 0);
  EXPECT_EQ(fc.get().screen(), "customer_entry");
  EXPECT_EQ(fc.post_raw("/api/flow/cancel", "{}", "application/json", {}, false).code(),
            "forbidden");
  EXPECT_EQ(fc.get().screen(), "customer_entry");
}

TEST(FlowApi, ForeignOriginIsForbiddenOwnOriginIsFine) {
  TestServer ts;
  FlowClient fc(ts);
  const std::string body = demo_account_body().dump();
  Answer evil = fc.post_raw("/api/flow/account", body, "application/json",
                            {{"Origin", "https://evil.example"}});
  EXPECT_EQ(evil.status, 403);
  EXPECT_EQ(evil.code(), "forbidden");
  Answer null_origin =
      fc.post_raw("/api/flow/account", body, "application/json", {{"Origin", "null"}});
  EXPECT_EQ(null_origin.code(), "forbidden");
  EXPECT_EQ(fc.get().screen(), "account_entry");
  // The configured issuer's origin (not the address the test dialled).
  Answer own = fc.post_raw("/api/flow/account", body, "application/json",
                           {{"Origin", ts.app().config().issuer}});
  EXPECT_EQ(own.status, 200) << own.body.dump();
}

// Security finding (issue 12): the Origin was compared with the Host header,
// so a DNS-rebinding page, whose Origin and Host name the attacker's domain
// resolving to this server, passed. Only the issuer's origin passes now.
TEST(FlowApi, DnsRebindingOriginMatchingOnlyTheHostIsForbidden) {
  TestServer ts;
  FlowClient fc(ts);
  const std::string body = demo_account_body().dump();
  Answer rebound = fc.post_raw("/api/flow/account", body, "application/json",
                               {{"Origin", "http://rebind.example:" + std::to_string(ts.port())},
                                {"Host", "rebind.example:" + std::to_string(ts.port())}});
  EXPECT_EQ(rebound.status, 403);
  EXPECT_EQ(rebound.code(), "forbidden");
  // The address the server was reached at is not its issuer either.
  ASSERT_NE(ts.base_url(), ts.app().config().issuer);
  Answer dialled =
      fc.post_raw("/api/flow/account", body, "application/json", {{"Origin", ts.base_url()}});
  EXPECT_EQ(dialled.code(), "forbidden");
  EXPECT_EQ(fc.get().screen(), "account_entry");
}

TEST(FlowApi, SessionIdAndCsrfRotateAfterCustomerScreen) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
  const std::string old_cookie = fc.cookie();
  const std::string old_csrf = fc.csrf();
  Answer a = fc.customer();
  ASSERT_EQ(a.status, 200);
  EXPECT_TRUE(a.body.contains("csrf_token"));
  EXPECT_NE(fc.cookie(), old_cookie);
  EXPECT_NE(fc.csrf(), old_csrf);
  bool http_only = false;
  for (auto [it, end] = a.headers.equal_range("Set-Cookie"); it != end; ++it) {
    if (it->second.rfind("renkei_session=", 0) == 0) {
      http_only = it->second.find("HttpOnly") != std::string::npos &&
                  it->second.find("SameSite=Lax") != std::string::npos &&
                  it->second.find("Path=/") != std::string::npos;
    }
  }
  EXPECT_TRUE(http_only);
  EXPECT_EQ(fc.stored().session_digest, secret_digest(fc.cookie()));

  // The old session id is dead.
  FlowClient thief = fc;
  thief.set_cookie(old_cookie);
  thief.set_csrf(old_csrf);
  EXPECT_EQ(thief.get().code(), "session_expired");
  EXPECT_EQ(thief.post("/api/flow/phone").code(), "session_expired");
  // The new cookie with the old token is not enough either.
  thief.set_cookie(fc.cookie());
  EXPECT_EQ(thief.post("/api/flow/phone").code(), "forbidden");
  // The rotated session carries on.
  EXPECT_EQ(fc.post("/api/flow/phone").screen(), "call_wait");
}

// ------------------------------------------------- malformed requests

TEST(FlowApi, MalformedRequestsAreBadRequestNever500) {
  TestServer ts;
  FlowClient fc(ts);
  struct Case {
    const char* label;
    std::string body;
    std::string type;
  };
  const std::vector<Case> cases = {
      {"malformed", "{\"branch\":", "application/json"},
      {"not_json", "branch=115", "application/json"},
      {"text_plain", "{}", "text/plain"},
      {"form_type", "{}", "application/x-www-form-urlencoded"},
      {"wrong_charset", "{}", "application/json; charset=shift_jis"},
      {"invalid_utf8", "{\"branch\":\"\xff\xfe\",\"account_number\":\"1\"}", "application/json"},
      {"overlong_utf8", "{\"branch\":\"\xc0\xaf\"}", "application/json"},
      {"surrogate_utf8", "{\"branch\":\"\xed\xa0\x80\"}", "application/json"},
      {"array", "[1,2,3]", "application/json"},
      {"string", "\"hello\"", "application/json"},
      {"null", "null", "application/json"},
      {"empty", "", "application/json"},
      {"deep", std::string(200, '[') + std::string(200, ']'), "application/json"},
      {"wrong_types", "{\"branch\":115,\"account_type\":\"ordinary\"}", "application/json"},
      {"nul_inside", std::string("{\"branch\":\"1\0\"}", 15), "application/json"},
  };
  for (const auto& c : cases) {
    Answer a = fc.post_raw("/api/flow/account", c.body, c.type, {});
    EXPECT_EQ(a.status, 400) << c.label << " " << a.body.dump();
    EXPECT_EQ(a.code(), "bad_request") << c.label;
  }
  EXPECT_EQ(fc.get().screen(), "account_entry");
  // Types of the other screens' members.
  EXPECT_EQ(
      fc.post_raw("/api/flow/consent", "{\"consent\":\"yes\"}", "application/json", {}).code(),
      "bad_request");
  EXPECT_EQ(fc.post_raw("/api/flow/pin", "{\"pin\":1234}", "application/json", {}).code(),
            "bad_request");
  EXPECT_EQ(fc.get().screen(), "account_entry");
}

TEST(FlowApi, CharsetUtf8IsAccepted) {
  TestServer ts;
  FlowClient fc(ts);
  const std::string body = demo_account_body().dump();
  Answer a = fc.post_raw("/api/flow/account", body, "Application/JSON; Charset=\"UTF-8\"", {});
  EXPECT_EQ(a.status, 200) << a.body.dump();
}

TEST(FlowApi, OversizedBodyIsBadRequest) {
  {
    // Above our own 64 KiB cap with the server's limit set higher.
    ServerConfig cfg = test_config();
    cfg.max_body_bytes = 1024 * 1024;
    TestServer ts(cfg);
    FlowClient fc(ts);
    json big = {{"branch", std::string(70 * 1024, '1')},
                {"account_type", "ordinary"},
                {"account_number", "1"}};
    Answer a = fc.post_raw("/api/flow/account", big.dump(), "application/json", {});
    EXPECT_EQ(a.status, 400);
    EXPECT_EQ(a.code(), "bad_request");
    EXPECT_EQ(fc.get().screen(), "account_entry");
  }
  {
    // Above the server's configured limit (16 KiB): refused before the handler.
    TestServer ts;
    FlowClient fc(ts);
    json big = {{"branch", std::string(20 * 1024, '1')}};
    Answer a = fc.post_raw("/api/flow/account", big.dump(), "application/json", {});
    EXPECT_TRUE(a.status == 400 || a.status == 413) << a.status;
    EXPECT_EQ(a.code(), "bad_request");
    EXPECT_EQ(fc.get().screen(), "account_entry");
  }
}

// ---------------------------------------------------- step order

TEST(FlowApi, StepsOutOfOrderAreInvalidStep) {
  TestServer ts;
  FlowClient fc(ts);
  for (const char* path : {"/api/flow/customer", "/api/flow/phone", "/api/flow/call/confirm",
                           "/api/flow/pin", "/api/flow/consent"}) {
    json body = std::string(path) == "/api/flow/consent"    ? json{{"consent", true}}
                : std::string(path) == "/api/flow/pin"      ? json{{"pin", kPin}}
                : std::string(path) == "/api/flow/customer" ? demo_customer()
                                                            : json::object();
    Answer a = fc.post(path, body);
    EXPECT_EQ(a.status, 409) << path;
    EXPECT_EQ(a.code(), "invalid_step") << path;
    EXPECT_EQ(a.screen(), "account_entry") << path;
  }
  ASSERT_NO_FATAL_FAILURE(fc.to_phone_confirm());
  EXPECT_EQ(fc.pin(kPin).code(), "invalid_step");
  EXPECT_EQ(fc.post("/api/flow/consent", {{"consent", true}}).code(), "invalid_step");
  EXPECT_EQ(fc.account().code(), "invalid_step");
  EXPECT_EQ(fc.get().screen(), "phone_confirm");
}

// ------------------------------------------------- the whole way

TEST(FlowApi, HappyPathThroughConsentRedirectsWithCodeAndQueuesTheMail) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_phone_confirm());
  EXPECT_EQ(fc.get().body["flow"]["masked_phone"], "*****3333");
  Answer phone = fc.post("/api/flow/phone");
  ASSERT_EQ(phone.status, 200);
  EXPECT_EQ(phone.body["flow"]["call"]["dialled_number"], kPoolNumber);
  // Grouped by the native core for a page without its WASM core.
  EXPECT_EQ(phone.body["flow"]["call"]["dialled_display"], group_tollfree(kPoolNumber));
  EXPECT_EQ(phone.body["flow"]["call"]["dialled_display"], "0120-000-001");
  EXPECT_EQ(phone.body["flow"]["call"]["seconds_left"], 120);
  ASSERT_EQ(fc.simulate_call().body.value("matched", false), true);
  ASSERT_EQ(fc.post("/api/flow/call/confirm").screen(), "pin_entry");
  ASSERT_EQ(fc.pin(kPin).screen(), "consent");

  Answer unchecked = fc.post("/api/flow/consent", {{"consent", false}});
  EXPECT_EQ(unchecked.status, 400);
  EXPECT_EQ(unchecked.code(), "consent_required");
  EXPECT_EQ(unchecked.screen(), "consent");

  Answer done = fc.post("/api/flow/consent", {{"consent", true}});
  ASSERT_EQ(done.status, 200) << done.body.dump();
  EXPECT_EQ(done.screen(), "completed");
  const std::string to = done.body.value("redirect_to", "");
  EXPECT_EQ(to.rfind(kDemoRedirect, 0), 0u) << to;
  EXPECT_NE(to.find("code="), std::string::npos) << to;
  EXPECT_NE(to.find("state=" + fc.oauth_state()), std::string::npos) << to;
  EXPECT_NE(to.find("iss="), std::string::npos) << to;
  EXPECT_EQ(to.find("error="), std::string::npos) << to;

  auto tx = ts.app().store().begin();
  std::vector<MailRecord> mails = tx->list_mails(10);
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(mails[0].to, "satoru@example.jp");
  EXPECT_EQ(mails[0].flow_id, fc.flow_id());
  std::optional<AccountRecord> account = tx->find_account(demo_account());
  ASSERT_TRUE(account.has_value());
  EXPECT_EQ(tx->grants_for_account(account->id).size(), 1u);
  tx.reset();
  // Completed: nothing more.
  EXPECT_EQ(fc.post("/api/flow/consent", {{"consent", true}}).code(), "invalid_step");
  EXPECT_NE(ts.app().metrics().render().find("renkei_flow_steps_total"), std::string::npos);
}

// ------------------------------------------------- operation log

TEST(FlowApi, AuditHasEveryStepButNeverThePinOrTheFullPhone) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
  fc.customer(customer_with("birth_day", "30"));  // a failure is logged too
  ASSERT_NO_FATAL_FAILURE([&] {
    ASSERT_EQ(fc.customer().status, 200);
    ASSERT_EQ(fc.post("/api/flow/phone").status, 200);
    ASSERT_EQ(fc.simulate_call().status, 200);
    ASSERT_EQ(fc.post("/api/flow/call/confirm").status, 200);
    ASSERT_EQ(fc.pin("9876").code(), "auth_mismatch");
    ASSERT_EQ(fc.pin(kPin).status, 200);
    ASSERT_EQ(fc.post("/api/flow/consent", {{"consent", true}}).status, 200);
  }());
  std::vector<AuditRecord> rows = all_audit(ts);
  std::map<std::string, int> steps;
  for (const AuditRecord& r : rows) {
    ++steps[r.step];
    for (const std::string* s :
         {&r.flow_id, &r.step, &r.outcome, &r.account, &r.name_kana, &r.masked_phone, &r.client_id,
          &r.ip, &r.user_agent, &r.actor, &r.detail}) {
      EXPECT_EQ(s->find(kPhone), std::string::npos) << r.step << ": " << *s;
      EXPECT_EQ(s->find("9011113333"), std::string::npos) << r.step << ": " << *s;
      EXPECT_EQ(s->find(kPin), std::string::npos) << r.step << ": " << *s;
      EXPECT_EQ(s->find("9876"), std::string::npos) << r.step << ": " << *s;
    }
  }
  for (const char* s : {"submit_account", "submit_customer", "confirm_phone", "incoming_call",
                        "confirm_call", "submit_pin", "submit_consent"}) {
    EXPECT_GE(steps[s], 1) << s;
  }
  EXPECT_EQ(steps["submit_customer"], 2);
  EXPECT_EQ(steps["submit_pin"], 2);
  bool found = false;
  for (const AuditRecord& r : rows) {
    if (r.step == "submit_customer" && r.outcome == "auth_mismatch") {
      found = true;
      EXPECT_EQ(r.account, "115-ordinary-1100026");
      EXPECT_EQ(r.name_kana, "ﾃﾞｰﾀ ｻﾄﾙ");
      EXPECT_EQ(r.masked_phone, "*****3333");
      EXPECT_EQ(r.client_id, "demo-app");
      EXPECT_EQ(r.flow_id, fc.flow_id());
      EXPECT_EQ(r.ip, "127.0.0.1");
      EXPECT_FALSE(r.user_agent.empty());
      EXPECT_EQ(r.actor, "customer");
    }
  }
  EXPECT_TRUE(found);
}

// ------------------------------------------------- static pages

class StaticFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/renkei-web-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    std::filesystem::create_directories(root_ / "site" / "flow");
    std::filesystem::create_directories(root_ / "site" / "static");
    std::ofstream(root_ / "site" / "flow" / "index.html") << "<!doctype html><p>flow page</p>";
    std::ofstream(root_ / "site" / "static" / "app.js") << "console.log('ok');";
    std::ofstream(root_ / "site" / "config.json") << "top secret inside web root";
    std::ofstream(root_ / "secret.txt") << "top secret outside web root";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::filesystem::path root_;
};

TEST_F(StaticFiles, ServesPagesRefusesTraversalAndKeepsApiRoutes) {
  ServerConfig cfg = test_config();
  cfg.web_root = (root_ / "site").string();
  TestServer ts(cfg);
  httplib::Client c = ts.client();
  auto page = c.Get("/flow/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("flow page"), std::string::npos);
  EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_FALSE(page->get_header_value("Content-Security-Policy").empty());
  auto js = c.Get("/static/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_NE(js->get_header_value("Content-Type").find("javascript"), std::string::npos);
  for (const char* path :
       {"/flow/../secret.txt", "/flow/../../secret.txt", "/static/..%2f..%2fsecret.txt",
        "/flow/%2e%2e/%2e%2e/secret.txt", "/static/../config.json", "/config.json", "/secret.txt",
        "/flow/..%5c..%5csecret.txt"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_NE(r->status, 200) << path;
    EXPECT_LT(r->status, 500) << path;
    EXPECT_EQ(r->body.find("top secret"), std::string::npos) << path;
  }
  // The API is not shadowed by the files.
  Answer api = to_answer(c.Get("/api/flow"));
  EXPECT_EQ(api.code(), "session_expired");
}

// ---------- a pooled PostgreSQL connection lost (docs/reliability.md) ----------

// The customer's steps ① to ③ on PostgreSQL, with the first attempt of every
// store transaction losing its pooled connection before anything reached the
// database (losing_store.h): the local records' lookups (the account, the
// identity, the PIN) and the flow's own units run again on another
// connection, so every step answers as usual, and a wrong PIN counts one
// failure, not two.
TEST(FlowApiPostgres, StepsAndRecordsLookupsAnswerWhenEachFirstConnectionIsLost) {
  if (test_backend() != "postgres") GTEST_SKIP() << "PostgreSQL only (server.suite_postgres.*)";
  if (test_records() != "local") GTEST_SKIP() << "the local records source reads the store";
  auto ts = TestServer::losing_connections();
  FlowClient fc(*ts);
  const int lost_before = ts->losing_store().lost();
  const std::uint64_t reruns_before = storage_connection_retries();
  ts->losing_store().lose_first_connections(true);
  ASSERT_NO_FATAL_FAILURE(fc.to_pin_entry());
  Answer wrong = fc.pin("9876");
  EXPECT_EQ(wrong.status, 403) << wrong.body.dump();
  EXPECT_EQ(wrong.code(), "auth_mismatch");
  Answer ok = fc.pin(kPin);
  ts->losing_store().lose_first_connections(false);
  EXPECT_EQ(ok.status, 200) << ok.body.dump();
  EXPECT_EQ(ok.screen(), "consent");
  const int losses = ts->losing_store().lost() - lost_before;
  EXPECT_GE(losses, 7);  // at least one per step
  EXPECT_EQ(storage_connection_retries() - reruns_before, static_cast<std::uint64_t>(losses));
  // The wrong PIN was counted once (the correct one then reset the count).
  AuditQuery q;
  q.flow_id = fc.flow_id();
  q.from = 0;
  q.to = ts->app().now() + 1;
  q.limit = 100;
  int pin_mismatches = 0;
  auto tx = ts->app().store().begin(TxMode::read_only);
  for (const AuditRecord& r : tx->query_audit(q)) {
    if (r.outcome == "auth_mismatch") ++pin_mismatches;
  }
  EXPECT_EQ(pin_mismatches, 1);
}

}  // namespace
}  // namespace renkei::server::testing
