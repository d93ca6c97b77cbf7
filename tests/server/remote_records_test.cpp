// The remote records adapter without a network (remote_records_source.h):
// a scripted transport and a manual clock for the breaker. Error mapping,
// retries for reads only, the breaker's states, broken answers, and the PIN
// body wiped.
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "ops/config.h"
#include "ops/metrics.h"
#include "records/remote_records_source.h"

namespace renkei::server {
namespace {

const AccountRef kSatoru{"115", AccountType::ordinary, "1100026"};

struct Scripted final : GatewayTransport {
  std::deque<GatewayReply> replies;
  std::vector<std::string> paths;
  std::vector<std::string> bodies;  // what was sent (a copy made by the test double only)
  GatewayReply post(const std::string& path, const std::string& body, int) override {
    paths.push_back(path);
    bodies.push_back(body);
    if (replies.empty()) return GatewayReply{GatewayReply::Status::connect_failed, 0, ""};
    GatewayReply r = replies.front();
    replies.pop_front();
    return r;
  }
};

GatewayReply ok(const std::string& body) { return {GatewayReply::Status::ok, 200, body}; }
GatewayReply error(int status, const std::string& code) {
  return {GatewayReply::Status::ok, status, R"({"error":{"code":")" + code + R"("}})"};
}
GatewayReply timeout() { return {GatewayReply::Status::timeout, 0, ""}; }

struct Rig {
  Scripted* transport;
  std::unique_ptr<RemoteRecordsSource> source;
  explicit Rig(RecordsConfig config = {}) {
    auto t = std::make_unique<Scripted>();
    transport = t.get();
    config.source = "remote";
    source = std::make_unique<RemoteRecordsSource>(config, std::move(t), nullptr);
  }
};

TEST(RemoteRecords, GatewayCodesMapToOurs) {
  EXPECT_EQ(failure_of_gateway_error(503, R"({"error":{"code":"MAINTENANCE","reopens_at":"2026-11-25T04:05:00+09:00"}})").kind,
            RecordsFailureKind::maintenance);
  auto m = failure_of_gateway_error(
      503, R"({"error":{"code":"MAINTENANCE","reopens_at":"2026-11-25T04:05:00+09:00"}})");
  ASSERT_TRUE(m.reopens_at.has_value());
  EXPECT_EQ(format_jst(*m.reopens_at), "2026-11-25T04:05:00+09:00");
  EXPECT_EQ(error_code_of(m), ErrorCode::out_of_hours);
  EXPECT_EQ(error_code_of(failure_of_gateway_error(503, R"({"error":{"code":"BUSY"}})")),
            ErrorCode::busy);
  EXPECT_EQ(error_code_of(failure_of_gateway_error(504, "")), ErrorCode::busy);
  EXPECT_EQ(error_code_of(failure_of_gateway_error(429, "not json")), ErrorCode::busy);
  EXPECT_EQ(error_code_of(failure_of_gateway_error(500, R"({"error":{"code":"INTERNAL"}})")),
            ErrorCode::system_error);
  EXPECT_EQ(error_code_of(failure_of_gateway_error(400, R"({"error":{"code":"INVALID_REQUEST"}})")),
            ErrorCode::system_error);
  EXPECT_EQ(error_code_of(failure_of_gateway_error(503, "<html>")), ErrorCode::system_error);
}

TEST(RemoteRecords, ReadsAreRetriedOnceThePinCheckNever) {
  RecordsConfig c;
  c.read_retries = 1;
  Rig rig(c);
  rig.transport->replies = {timeout(), ok(R"({"balance_yen":1200})")};
  auto balance = rig.source->balance(kSatoru);
  ASSERT_TRUE(balance.ok());
  EXPECT_EQ(balance.value(), 1200);
  EXPECT_EQ(rig.transport->paths.size(), 2u);

  rig.transport->paths.clear();
  rig.transport->replies = {timeout(), ok(R"({"match":true})")};
  auto pin = rig.source->verify_pin(kSatoru, "1234");
  ASSERT_FALSE(pin.ok());
  EXPECT_EQ(pin.failure().kind, RecordsFailureKind::timeout);
  EXPECT_EQ(rig.transport->paths, std::vector<std::string>{"/v1/pin/verify"});
  // What was sent: the account and the PIN, as JSON.
  EXPECT_EQ(rig.transport->bodies.back(),
            R"({"account":{"account_number":"1100026","account_type":"ordinary","branch":"115"},"pin":"1234"})");
}

TEST(RemoteRecords, MaintenanceIsNeitherRetriedNorAFault) {
  RecordsConfig c;
  c.read_retries = 3;
  c.breaker.failure_threshold = 1;
  Rig rig(c);
  rig.transport->replies = {
      {GatewayReply::Status::ok, 503,
       R"({"error":{"code":"MAINTENANCE","reopens_at":"2026-11-25T04:05:00+09:00"}})"}};
  auto r = rig.source->find_account(kSatoru);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, RecordsFailureKind::maintenance);
  EXPECT_EQ(rig.transport->paths.size(), 1u);
  EXPECT_EQ(rig.source->breaker().state(), BreakerState::closed);
}

// The gateway's INVALID_CURSOR: the app's cursor, not a fault. Not retried,
// not counted by the breaker; any other refusal stays unavailable.
TEST(RemoteRecords, AnInvalidCursorIsTheCallersErrorNeitherRetriedNorAFault) {
  RecordsConfig c;
  c.read_retries = 3;
  c.breaker.failure_threshold = 1;
  Rig rig(c);
  rig.transport->replies = {error(400, "INVALID_CURSOR")};
  auto r = rig.source->transactions(kSatoru, "2026-08-25", "2026-11-25", 7, "opaque-1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, RecordsFailureKind::bad_cursor);
  EXPECT_EQ(error_code_of(r.failure()), ErrorCode::bad_request);
  EXPECT_EQ(rig.transport->paths.size(), 1u);
  EXPECT_EQ(rig.source->breaker().state(), BreakerState::closed);
  // The cursor went to the gateway as given (opaque, not read by Renkei).
  EXPECT_NE(rig.transport->bodies.back().find(R"("cursor":"opaque-1")"), std::string::npos);
}

TEST(RemoteRecords, AnUnknownAccountIsAnAnswer) {
  Rig rig;
  rig.transport->replies = {ok(R"({"found":false})"), error(404, "ACCOUNT_NOT_FOUND")};
  auto a = rig.source->find_account(kSatoru);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a.value().has_value());
  auto b = rig.source->find_account(kSatoru);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b.value().has_value());
}

TEST(RemoteRecords, BrokenAnswersAreUnavailable) {
  Rig rig;
  for (const char* body : {"", "[]", R"({"found":"yes"})",
                           R"({"found":true,"customer_ref":"C1","status":"lost","cash_card":true})",
                           R"({"found":true,"status":"active","cash_card":true})"}) {
    rig.transport->replies = {ok(body)};
    auto r = rig.source->find_account(kSatoru);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.failure().kind, RecordsFailureKind::unavailable) << body;
  }
  rig.transport->replies = {ok(R"({"transactions":[{"id":1}]})")};
  EXPECT_FALSE(rig.source->transactions(kSatoru, "2026-01-01", "2026-01-31", 10, "").ok());
}

TEST(RemoteRecords, TheBreakerOpensAfterTheThresholdAndAProbeClosesIt) {
  BreakerConfig config;
  config.failure_threshold = 2;
  config.open_ms = 1000;
  auto now = std::chrono::steady_clock::time_point{};
  Metrics metrics;
  CircuitBreaker b(config, &metrics, [&] { return now; });
  EXPECT_TRUE(b.allow());
  b.on_failure();
  EXPECT_EQ(b.state(), BreakerState::closed);
  EXPECT_TRUE(b.allow());
  b.on_failure();
  EXPECT_EQ(b.state(), BreakerState::open);
  EXPECT_FALSE(b.allow());
  now += std::chrono::milliseconds(999);
  EXPECT_FALSE(b.allow());
  now += std::chrono::milliseconds(1);
  EXPECT_EQ(b.state(), BreakerState::half_open);
  EXPECT_TRUE(b.allow());   // the probe
  EXPECT_FALSE(b.allow());  // one at a time
  b.on_failure();
  EXPECT_EQ(b.state(), BreakerState::open);
  now += std::chrono::milliseconds(1000);
  EXPECT_TRUE(b.allow());
  b.on_success();
  EXPECT_EQ(b.state(), BreakerState::closed);
  // A success in between resets the count.
  b.on_failure();
  b.on_success();
  b.on_failure();
  EXPECT_EQ(b.state(), BreakerState::closed);
  const std::string text = metrics.render();
  EXPECT_NE(text.find("renkei_records_breaker_transitions_total{to=\"open\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("renkei_records_breaker_transitions_total{to=\"half_open\"} 2"),
            std::string::npos)
      << text;
}

TEST(RemoteRecords, WhileOpenTheGatewayIsNotAsked) {
  RecordsConfig c;
  c.read_retries = 0;
  c.breaker.failure_threshold = 2;
  c.breaker.open_ms = 60000;
  Rig rig(c);
  rig.transport->replies = {error(500, "INTERNAL"), error(503, "UNAVAILABLE")};
  EXPECT_FALSE(rig.source->balance(kSatoru).ok());
  EXPECT_FALSE(rig.source->balance(kSatoru).ok());
  rig.transport->paths.clear();
  auto r = rig.source->verify_pin(kSatoru, "1234");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error_code_of(r.failure()), ErrorCode::system_error);
  EXPECT_TRUE(rig.transport->paths.empty());
}

}  // namespace
}  // namespace renkei::server
