// Integration tests of screen ④'s inbound call (SPEC §7, docs/http-api.md
// "Telephony"): the signed webhook, its replay protection and idempotency, the
// 120-second window, and the development simulator.
#include <gtest/gtest.h>

#include "flow_client.h"

namespace renkei::server::testing {
namespace {

class Telephony : public ::testing::Test {
 protected:
  Telephony() : fc(ts) {}
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(fc.to_call_wait()); }
  Answer confirm() { return fc.post("/api/flow/call/confirm"); }
  TestServer ts;
  FlowClient fc;
};

TEST_F(Telephony, MatchingSignedCallVerifiesTheStep) {
  Answer call = send_call(ts, call_body("c-1", kPhone));
  ASSERT_EQ(call.status, 200) << call.body.dump();
  EXPECT_EQ(call.body, (json{{"matched", true}, {"outcome", "ok"}, {"action", "reject"}}));
  EXPECT_EQ(fc.get().body["flow"]["call"]["verified"], true);
  Answer a = confirm();
  EXPECT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.screen(), "pin_entry");
}

TEST_F(Telephony, E164CallerIsTheSameNumber) {
  Answer call = send_call(ts, call_body("c-e164", "+819011113333"));
  EXPECT_EQ(call.body["matched"], true) << call.body.dump();
}

TEST_F(Telephony, ConfirmBeforeTheCallIsPending) {
  Answer a = confirm();
  EXPECT_EQ(a.status, 409);
  EXPECT_EQ(a.code(), "call_pending");
  EXPECT_EQ(a.body["error"]["message"], "認証中（認証着信待ち）");
  EXPECT_EQ(a.screen(), "call_wait");
  ts.clock().advance(60);
  ASSERT_EQ(send_call(ts, call_body("c-2", kPhone)).body["matched"], true);
  EXPECT_EQ(confirm().screen(), "pin_entry");
}

TEST_F(Telephony, ConfirmAfterTheWindowIsExpiredAndBackToTheStart) {
  ts.clock().advance(121);
  Answer a = confirm();
  EXPECT_EQ(a.status, 409);
  EXPECT_EQ(a.code(), "call_expired");
  EXPECT_EQ(a.body["error"]["message"],
            "120秒経過後の「確定する」ボタン選択は無効となります。 "
            "API連携認証の最初に戻って操作してください。");
  EXPECT_EQ(a.screen(), "account_entry");
  EXPECT_FALSE(fc.stored().account_id.has_value());
  // Starting again from ① works with the same session.
  ASSERT_NO_FATAL_FAILURE(fc.to_call_wait());
}

TEST_F(Telephony, CallAfterTheWindowDoesNotVerify) {
  ts.clock().advance(121);
  Answer call = send_call(ts, call_body("c-late", kPhone));
  ASSERT_EQ(call.status, 200);
  EXPECT_EQ(call.body["matched"], false);
  EXPECT_EQ(confirm().code(), "call_expired");
}

TEST_F(Telephony, CallAtTheLastSecondCounts) {
  ts.clock().advance(120);
  EXPECT_EQ(send_call(ts, call_body("c-edge", kPhone)).body["matched"], true);
  EXPECT_EQ(confirm().screen(), "pin_entry");
}

TEST_F(Telephony, WithheldCallerNeverVerifies) {
  Answer null_caller = send_call(ts, call_body("c-w1", nullptr));
  ASSERT_EQ(null_caller.status, 200) << null_caller.body.dump();
  EXPECT_EQ(null_caller.body["matched"], false);
  EXPECT_EQ(null_caller.body["outcome"], "call_withheld");
  Answer word = send_call(ts, call_body("c-w2", "withheld"));
  EXPECT_EQ(word.body["outcome"], "call_withheld");
  Answer missing = send_call(ts, json{{"call_id", "c-w3"}, {"dialled", kPoolNumber}});
  EXPECT_EQ(missing.body["outcome"], "call_withheld");
  Answer anonymous = send_call(ts, call_body("c-w4", "anonymous"));
  EXPECT_EQ(anonymous.body["matched"], false);
  EXPECT_EQ(confirm().code(), "call_pending");
}

TEST_F(Telephony, WrongDialledNumberOrCallerIsNotMatched) {
  Answer wrong_dialled = send_call(ts, call_body("c-d", kPhone, "0120000002"));
  ASSERT_EQ(wrong_dialled.status, 200);
  EXPECT_EQ(wrong_dialled.body["matched"], false);
  EXPECT_EQ(wrong_dialled.body["outcome"], "call_not_matched");
  Answer wrong_caller = send_call(ts, call_body("c-c", "09099998888"));
  EXPECT_EQ(wrong_caller.body["matched"], false);
  EXPECT_EQ(wrong_caller.body["outcome"], "call_not_matched");
  EXPECT_EQ(confirm().code(), "call_pending");
}

TEST_F(Telephony, DuplicateCallIdIsIdempotent) {
  Answer first = send_call(ts, call_body("dup-1", nullptr));
  EXPECT_EQ(first.body["outcome"], "call_withheld");
  // The same id again, even with other data, gets the first answer and does nothing.
  Answer again = send_call(ts, call_body("dup-1", kPhone));
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(confirm().code(), "call_pending");

  Answer ok = send_call(ts, call_body("dup-2", kPhone));
  EXPECT_EQ(ok.body["matched"], true);
  Answer replay = send_call(ts, call_body("dup-2", kPhone));
  EXPECT_EQ(replay.body, ok.body);
  int rows = 0;
  for (const AuditRecord& r : all_audit(ts)) rows += r.step == "incoming_call" ? 1 : 0;
  EXPECT_EQ(rows, 2);  // one per distinct call
}

TEST_F(Telephony, ForgedOrMissingSignatureIsRefused) {
  const std::string body = call_body("c-f", kPhone).dump();
  const std::string t = std::to_string(ts.clock().now());
  httplib::Client c = ts.client();
  auto post = [&](httplib::Headers h, const std::string& b) {
    return to_answer(c.Post("/telephony/calls", h, b, "application/json"));
  };
  Answer wrong_key = send_call(ts, call_body("c-f", kPhone), std::nullopt, "not-the-secret");
  EXPECT_EQ(wrong_key.status, 401);
  EXPECT_EQ(wrong_key.code(), "unauthorized");
  // Signed for another body.
  const std::string sig = "sha256=" + hmac_sha256_hex(kTestWebhookSecret, t + "." + body);
  Answer tampered = post({{"X-Renkei-Timestamp", t}, {"X-Renkei-Signature", sig}},
                         call_body("c-f", "09099998888").dump());
  EXPECT_EQ(tampered.status, 401);
  // Signed for another timestamp.
  Answer moved = post(
      {{"X-Renkei-Timestamp", std::to_string(ts.clock().now() - 1)}, {"X-Renkei-Signature", sig}},
      body);
  EXPECT_EQ(moved.status, 401);
  EXPECT_EQ(post({{"X-Renkei-Timestamp", t}}, body).status, 401);
  EXPECT_EQ(post({{"X-Renkei-Signature", sig}}, body).status, 401);
  EXPECT_EQ(post({{"X-Renkei-Timestamp", t}, {"X-Renkei-Signature", sig.substr(7)}}, body).status,
            401);
  EXPECT_EQ(post({{"X-Renkei-Timestamp", "-" + t}, {"X-Renkei-Signature", sig}}, body).status, 401);
  EXPECT_EQ(confirm().code(), "call_pending");
  // The genuine one still goes through (it was never recorded).
  Answer genuine = post({{"X-Renkei-Timestamp", t}, {"X-Renkei-Signature", sig}}, body);
  EXPECT_EQ(genuine.status, 200);
  EXPECT_EQ(genuine.body["matched"], true);
}

TEST_F(Telephony, StaleOrFutureTimestampIsRefused) {
  const UnixSeconds now = ts.clock().now();
  Answer stale = send_call(ts, call_body("c-s1", kPhone), now - 301);
  EXPECT_EQ(stale.status, 401);
  EXPECT_EQ(stale.code(), "unauthorized");
  Answer future = send_call(ts, call_body("c-s2", kPhone), now + 301);
  EXPECT_EQ(future.status, 401);
  EXPECT_EQ(confirm().code(), "call_pending");
  Answer edge = send_call(ts, call_body("c-s3", kPhone), now - 300);
  EXPECT_EQ(edge.status, 200);
  EXPECT_EQ(edge.body["matched"], true);
}

TEST_F(Telephony, MalformedSignedBodiesAreBadRequest) {
  for (const json& body :
       {json{{"caller", kPhone}, {"dialled", kPoolNumber}},
        json{{"call_id", ""}, {"caller", kPhone}, {"dialled", kPoolNumber}},
        json{{"call_id", "bad id with spaces"}, {"caller", kPhone}, {"dialled", kPoolNumber}},
        json{{"call_id", std::string(200, 'a')}, {"caller", kPhone}, {"dialled", kPoolNumber}},
        json{{"call_id", "c-m"}, {"caller", 9011113333LL}, {"dialled", kPoolNumber}},
        json{{"call_id", "c-m"}, {"caller", kPhone}},
        json{{"call_id", "c-m"}, {"caller", kPhone}, {"dialled", "toll-free"}}, json::array()}) {
    Answer a = send_call(ts, body);
    EXPECT_EQ(a.status, 400) << body.dump();
    EXPECT_EQ(a.code(), "bad_request") << body.dump();
  }
  EXPECT_EQ(confirm().code(), "call_pending");
}

TEST_F(Telephony, AuditLogsTheCallWithMaskedNumbersOnly) {
  ASSERT_EQ(send_call(ts, call_body("c-audit", kPhone)).body["matched"], true);
  ASSERT_EQ(send_call(ts, call_body("c-audit-2", "08055554444", "0120000009")).status, 200);
  int calls = 0;
  for (const AuditRecord& r : all_audit(ts)) {
    for (const std::string* s :
         {&r.masked_phone, &r.detail, &r.name_kana, &r.user_agent, &r.account, &r.outcome}) {
      EXPECT_EQ(s->find(kPhone), std::string::npos) << *s;
      EXPECT_EQ(s->find("08055554444"), std::string::npos) << *s;
    }
    if (r.step != "incoming_call") continue;
    ++calls;
    EXPECT_EQ(r.actor, "telephony");
    if (r.outcome == "ok") {
      EXPECT_EQ(r.masked_phone, "*****3333");
      EXPECT_EQ(r.flow_id, fc.flow_id());
      EXPECT_EQ(r.account, "115-ordinary-1100026");
      EXPECT_EQ(r.client_id, "demo-app");
    } else {
      EXPECT_EQ(r.masked_phone, "*****4444");
      EXPECT_TRUE(r.flow_id.empty());
    }
  }
  EXPECT_EQ(calls, 2);
}

// A server whose pool has `numbers` toll-free numbers (0120000001, …).
ServerConfig config_with_pool(int numbers) {
  ServerConfig c = test_config();
  c.call_pool.clear();
  for (int i = 1; i <= numbers; ++i) c.call_pool.push_back("012000000" + std::to_string(i));
  return c;
}

std::string assigned_number(FlowClient& fc) {
  FlowRecord f = fc.stored();
  return f.state.call ? f.state.call->dialled_number : std::string();
}

// Puts `fc`'s flow, waiting on ④, on `number` behind the server's back: what
// pick_call_number never does, but a pool shrunk under waiting flows can leave.
void force_onto_number(TestServer& ts, FlowClient& fc, const std::string& number) {
  FlowRecord f = fc.stored();
  ASSERT_TRUE(f.state.call);
  f.state.call->dialled_number = number;
  auto tx = ts.app().store().begin();
  tx->update_flow(f);
  ASSERT_TRUE(tx->commit());
}

// Security finding (issue 12): a victim's flow and, pressed later, an
// attacker's flow for the same registered phone waited on the same pool
// number, and the victim's call verified the attacker's (newest) flow. At ③ a
// flow is never given a number another flow for its phone waits on.
TEST(TelephonyPool, ASecondFlowForTheSamePhoneNeverGetsTheNumberTheFirstWaitsOn) {
  TestServer ts(config_with_pool(3));
  for (int round = 0; round < 10; ++round) {  // the pick is random: try it often
    SCOPED_TRACE(round);
    FlowClient victim(ts);
    ASSERT_NO_FATAL_FAILURE(victim.to_call_wait());
    FlowClient attacker(ts);
    ASSERT_NO_FATAL_FAILURE(attacker.to_call_wait());
    const std::string victims = assigned_number(victim);
    ASSERT_NE(victims, assigned_number(attacker));
    // The victim's call verifies the victim's flow, and only that.
    Answer call =
        send_call(ts, call_body("c-" + std::to_string(round), kPhone, victims));
    EXPECT_EQ(call.body["matched"], true);
    EXPECT_EQ(victim.get().body["flow"]["call"]["verified"], true);
    EXPECT_EQ(attacker.get().body["flow"]["call"]["verified"], false);
    ASSERT_EQ(victim.post("/api/flow/cancel").status, 200);
    ASSERT_EQ(attacker.post("/api/flow/cancel").status, 200);
  }
}

TEST(TelephonyPool, WhenEveryNumberWaitsForThisPhoneConfirmPhoneIsBusy) {
  TestServer ts(config_with_pool(1));
  FlowClient first(ts);
  ASSERT_NO_FATAL_FAILURE(first.to_call_wait());
  FlowClient second(ts);
  ASSERT_NO_FATAL_FAILURE(second.to_phone_confirm());
  Answer busy = second.post("/api/flow/phone");
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.code(), "busy");
  EXPECT_EQ(second.get().screen(), "phone_confirm");  // nothing lost: try again later
  // Told apart from load shedding in the operation log and the metrics.
  bool logged = false;
  for (const AuditRecord& r : all_audit(ts)) {
    logged |= r.flow_id == second.flow_id() && r.outcome == "busy" &&
              r.detail.find("every pool number") != std::string::npos;
  }
  EXPECT_TRUE(logged);
  EXPECT_NE(ts.app().metrics().render().find("renkei_call_pool_exhausted_total 1"),
            std::string::npos);
  // Once the first flow's window has closed, the number is free again.
  ts.clock().advance(121);
  Answer again = second.post("/api/flow/phone");
  EXPECT_EQ(again.status, 200) << again.body.dump();
  EXPECT_EQ(again.screen(), "call_wait");
}

// If a call could still verify two flows (a pool shrunk under waiting flows),
// it verifies neither, and the operation log says so.
TEST(TelephonyPool, AnAmbiguousCallVerifiesNeitherFlowAndIsLogged) {
  TestServer ts(config_with_pool(2));
  FlowClient a(ts);
  ASSERT_NO_FATAL_FAILURE(a.to_call_wait());
  FlowClient b(ts);
  ASSERT_NO_FATAL_FAILURE(b.to_call_wait());
  const std::string number = assigned_number(a);
  ASSERT_NO_FATAL_FAILURE(force_onto_number(ts, b, number));
  Answer call = send_call(ts, call_body("c-ambiguous", kPhone, number));
  EXPECT_EQ(call.status, 200);
  EXPECT_EQ(call.body["matched"], false);
  EXPECT_EQ(call.body["outcome"], "call_not_matched");
  EXPECT_EQ(a.get().body["flow"]["call"]["verified"], false);
  EXPECT_EQ(b.get().body["flow"]["call"]["verified"], false);
  bool logged = false;
  for (const AuditRecord& r : all_audit(ts)) {
    if (r.step == "incoming_call" && r.detail.find("ambiguous") != std::string::npos) {
      logged = r.detail.find(a.flow_id()) != std::string::npos &&
               r.detail.find(b.flow_id()) != std::string::npos && r.flow_id.empty();
    }
  }
  EXPECT_TRUE(logged);
}

// Found by the crash-safety test: with several flows on one phone waiting on
// one number, a simulated call could verify another session's flow. The
// simulator stands in for its own session's call, so it is never ambiguous.
TEST(TelephonyPool, SimulatedCallVerifiesTheCallersOwnFlow) {
  TestServer ts(config_with_pool(3));
  FlowClient first(ts);
  ASSERT_NO_FATAL_FAILURE(first.to_call_wait());
  FlowClient second(ts);
  ASSERT_NO_FATAL_FAILURE(second.to_call_wait());
  FlowClient third(ts);
  ASSERT_NO_FATAL_FAILURE(third.to_call_wait());
  const std::string number = assigned_number(first);
  ASSERT_NO_FATAL_FAILURE(force_onto_number(ts, second, number));
  ASSERT_NO_FATAL_FAILURE(force_onto_number(ts, third, number));
  EXPECT_EQ(third.simulate_call().body["matched"], true);
  EXPECT_EQ(third.get().body["flow"]["call"]["verified"], true);
  EXPECT_EQ(second.simulate_call().body["matched"], true);
  EXPECT_EQ(second.get().body["flow"]["call"]["verified"], true);
  EXPECT_EQ(first.get().body["flow"]["call"]["verified"], false);
}

TEST_F(Telephony, SimulatorNeedsSessionAndCsrf) {
  Answer no_csrf = fc.post_raw("/dev/simulate-call", "{}", "application/json", {}, false);
  EXPECT_EQ(no_csrf.status, 403);
  EXPECT_EQ(no_csrf.code(), "forbidden");
  httplib::Client c = ts.client();
  Answer no_session = to_answer(c.Post("/dev/simulate-call", "{}", "application/json"));
  EXPECT_EQ(no_session.code(), "session_expired");
  EXPECT_EQ(confirm().code(), "call_pending");
  Answer sim = fc.simulate_call();
  EXPECT_EQ(sim.body["matched"], true);
  EXPECT_EQ(confirm().screen(), "pin_entry");
  EXPECT_EQ(fc.simulate_call().code(), "invalid_step");  // not on ④ any more
}

TEST(TelephonyRoutes, SimulatorIsNotRegisteredOutsideDevMode) {
  ServerConfig cfg = test_config();
  cfg.dev_mode = false;
  TestServer ts(cfg);
  FlowClient fc(ts);
  Answer a = fc.post("/dev/simulate-call");
  EXPECT_EQ(a.status, 404);
  // The webhook is there in production.
  Answer call = send_call(ts, call_body("c-prod", kPhone));
  EXPECT_EQ(call.status, 200);
  EXPECT_EQ(call.body["matched"], false);
}

}  // namespace
}  // namespace renkei::server::testing
