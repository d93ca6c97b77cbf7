// The customer's screens when the core-banking gateway fails (issue 14): a
// real server with the remote records source against renkei-core-sim
// (tests/server/with-core-sim.sh; skipped without it). The gateway down →
// system_error, nothing counted, the step can be retried; in maintenance →
// out_of_hours with the gateway's reopening time; hanging past the timeout →
// busy while other customers' steps still answer; the breaker in /metrics.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core_sim.h"
#include "flow_client.h"
#include "oauth_test_support.h"
#include "renkei/json.h"
#include "test_server.h"

namespace renkei::server::testing {
namespace {

ServerConfig remote_config(int timeout_ms = 5000) {
  ServerConfig c = test_config();
  c.records = CoreSim::records_config();
  c.records.timeout_ms = timeout_ms;
  c.records.read_retries = 0;
  c.seed_demo_data = false;
  return c;
}

class RecordsFaults : public CoreSimTest {};

std::string last_audit_detail(TestServer& ts, const std::string& step) {
  std::string detail;
  for (const AuditRecord& r : all_audit(ts)) {
    if (r.step == step) detail = r.detail;
  }
  return detail;
}

TEST_F(RecordsFaults, GatewayDownIsASystemErrorNothingCountedAndTheStepCanBeRetried) {
  TestServer ts(remote_config());
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
  CoreSim::control({{"error", "unavailable"}});
  Answer down = fc.customer();
  EXPECT_EQ(down.code(), "system_error") << down.body.dump();
  EXPECT_EQ(down.screen(), "customer_entry");
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 0);
  EXPECT_NE(last_audit_detail(ts, "submit_customer").find("records unavailable"),
            std::string::npos);
  CoreSim::control({{"error", "none"}});
  Answer again = fc.customer();
  ASSERT_EQ(again.status, 200) << again.body.dump();
  EXPECT_EQ(again.screen(), "phone_confirm");
}

TEST_F(RecordsFaults, GatewayDownAtThePinCountsNothingAndTheRightPinThenPasses) {
  ServerConfig config = remote_config();
  config.records.breaker.failure_threshold = 100;  // this test is not about the breaker
  TestServer ts(config);
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_pin_entry());
  CoreSim::control({{"error", "internal"}});
  for (int i = 0; i < 6; ++i) {  // more than the lockout limit
    Answer a = fc.pin("9999");
    EXPECT_EQ(a.code(), "system_error") << a.body.dump();
    EXPECT_EQ(a.screen(), "pin_entry");
  }
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 0);
  CoreSim::control({{"error", "none"}});
  Answer wrong = fc.pin("9999");
  EXPECT_EQ(wrong.code(), "auth_mismatch");
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 1);  // a real answer counts
  Answer right = fc.pin(kPin);
  ASSERT_EQ(right.status, 200) << right.body.dump();
  EXPECT_EQ(right.screen(), "consent");
  // The PINs tried are in no log row and not in the stored flow.
  for (const AuditRecord& r : all_audit(ts)) {
    for (const char* pin : {"9999", kPin}) {
      EXPECT_EQ(r.detail.find(pin), std::string::npos) << r.detail;
    }
  }
  const json stored = renkei::to_json(fc.stored().state);
  EXPECT_EQ(stored.dump().find("9999"), std::string::npos);
}

TEST_F(RecordsFaults, MaintenanceIsOutOfHoursWithTheGatewaysReopeningTime) {
  TestServer ts(remote_config());  // 2026-11-25 10:00 JST: our own calendar is open
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
  CoreSim::control({{"maintenance_until", "2026-11-25T12:30:00+09:00"}});
  Answer a = fc.customer();
  EXPECT_EQ(a.code(), "out_of_hours") << a.body.dump();
  EXPECT_EQ(a.screen(), "customer_entry");
  ASSERT_TRUE(a.body.contains("service") && a.body["service"].is_object()) << a.body.dump();
  EXPECT_EQ(a.body["service"]["reopens_at"], "2026-11-25T12:30:00+09:00");
  EXPECT_NE(a.body["service"]["reopening"].get<std::string>().find("12時30分"), std::string::npos)
      << a.body["service"].dump();
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 0);
  CoreSim::control({{"maintenance_until", nullptr}});
  EXPECT_EQ(fc.customer().screen(), "phone_confirm");
}

TEST_F(RecordsFaults, AHangingGatewayIsBusyAndOtherCustomersStepsStillAnswer) {
  // Fewer workers than waiting customers would show it at once if a wait
  // held a worker's store transaction.
  ServerConfig config = remote_config(/*timeout_ms=*/4000);
  config.worker_threads = 8;
  TestServer ts(config);
  constexpr int kWaiting = 4;
  std::vector<std::unique_ptr<FlowClient>> waiting;
  for (int i = 0; i < kWaiting; ++i) {
    waiting.push_back(std::make_unique<FlowClient>(ts));
    ASSERT_NO_FATAL_FAILURE(waiting.back()->to_customer_entry());
  }
  CoreSim::control({{"hang", true}});
  const long calls_before = CoreSim::state()["calls"].get<long>();
  std::atomic<int> answered{0};
  std::vector<Answer> answers(kWaiting);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiting; ++i) {
    threads.emplace_back([&, i] {
      answers[i] = waiting[i]->customer();
      ++answered;
    });
  }
  // Every waiting customer's step has reached the gateway, which holds it.
  while (CoreSim::state()["calls"].get<long>() < calls_before + kWaiting) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Meanwhile other customers go on: a new flow's ① and its page.
  for (int i = 0; i < 3; ++i) {
    FlowClient other(ts);
    Answer a = other.account();
    EXPECT_EQ(a.status, 200) << a.body.dump();
    EXPECT_EQ(a.screen(), "customer_entry");
    EXPECT_EQ(other.get().status, 200);
  }
  EXPECT_EQ(answered.load(), 0) << "the waiting steps should still be held by the gateway";
  for (auto& t : threads) t.join();
  for (const Answer& a : answers) {
    EXPECT_EQ(a.code(), "busy") << a.body.dump();
    EXPECT_EQ(a.screen(), "customer_entry");
  }
  EXPECT_EQ(lock_of(ts, demo_account()).failures, 0);
}

TEST_F(RecordsFaults, TheBreakerOpensAndItsStateIsInTheMetrics) {
  ServerConfig config = remote_config();
  config.records.breaker.failure_threshold = 2;
  config.records.breaker.open_ms = 600000;
  TestServer ts(config);
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
  CoreSim::control({{"error", "unavailable"}});
  EXPECT_EQ(fc.customer().code(), "system_error");
  EXPECT_EQ(fc.customer().code(), "system_error");
  const long calls = CoreSim::state()["calls"].get<long>();
  CoreSim::control({{"error", "none"}});
  // Open: the gateway is not asked, the step answers at once.
  EXPECT_EQ(fc.customer().code(), "system_error");
  EXPECT_EQ(CoreSim::state()["calls"].get<long>(), calls);
  auto http = ts.client();
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("renkei_records_breaker_state 1"), std::string::npos)
      << metrics->body;
  EXPECT_NE(
      metrics->body.find(
          "renkei_records_calls_total{operation=\"find_account\",outcome=\"breaker_open\"} 1"),
      std::string::npos)
      << metrics->body;
  // The gateway's error answers were complete answers: the server's pool
  // opened one connection and reused it (http/gateway_transport.cpp).
  EXPECT_NE(metrics->body.find("renkei_records_connections_total{how=\"opened\"} 1"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("renkei_records_connections_total{how=\"reused\"} 1"),
            std::string::npos)
      << metrics->body;
}

TEST_F(RecordsFaults, TheAccountApiReadsThroughTheGatewayAndSaysWhenItCannot) {
  TestServer ts(remote_config());
  Tokens t = demo_tokens(ts);
  auto http = ts.client();
  auto ok = api_get(http, "/api/v1/account/balance", t.access);
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_GT(json_of(ok)["balance_yen"].get<std::int64_t>(), 0);
  auto page = api_get(http, "/api/v1/account/transactions?limit=5", t.access);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200) << page->body;
  ASSERT_TRUE(json_of(page)["next_cursor"].is_string());
  auto next = api_get(http,
                      "/api/v1/account/transactions?limit=5&cursor=" +
                          json_of(page)["next_cursor"].get<std::string>(),
                      t.access);
  ASSERT_TRUE(next);
  ASSERT_EQ(next->status, 200) << next->body;
  EXPECT_NE(json_of(next)["transactions"][0]["id"], json_of(page)["transactions"][0]["id"]);

  CoreSim::control({{"error", "unavailable"}});
  auto down = api_get(http, "/api/v1/account/balance", t.access);
  ASSERT_TRUE(down);
  EXPECT_EQ(json_of(down)["error"]["code"], "system_error") << down->body;
  CoreSim::control({{"error", "none"}, {"maintenance_until", "2026-11-25T12:30:00+09:00"}});
  auto closed = api_get(http, "/api/v1/account/transactions", t.access);
  ASSERT_TRUE(closed);
  EXPECT_EQ(json_of(closed)["error"]["code"], "out_of_hours") << closed->body;
  bool audited = false;
  for (const AuditRecord& r : all_audit(ts)) {
    audited |= r.step == "api.read" && r.outcome == "system_error";
  }
  EXPECT_TRUE(audited);
}

}  // namespace
}  // namespace renkei::server::testing
