// The retention purge (issue 12): flows, call events and operation-log rows
// older than their configured retention are deleted, nothing younger is, the
// purge is itself on the record, and a real call event keeps no full number.
#include "ops/retention.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "flow_client.h"

namespace renkei::server::testing {
namespace {

constexpr std::int64_t kDay = 86400;

std::vector<AuditRecord> purge_rows(TestServer& ts) {
  std::vector<AuditRecord> out;
  for (AuditRecord& r : all_audit(ts)) {
    if (r.step == "purge") out.push_back(std::move(r));
  }
  return out;
}

TEST(Retention, EachKindIsKeptExactlyItsConfiguredDays) {
  ServerConfig c = test_config();
  c.flow_retention_days = 2;
  c.call_event_retention_days = 5;
  c.audit_retention_days = 10;
  TestServer ts(c);
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_call_wait());
  ASSERT_EQ(send_call(ts, call_body("c-1", kPhone)).body["matched"], true);
  const std::size_t audit_rows = all_audit(ts).size();
  ASSERT_GT(audit_rows, 3u);

  // Exactly at each limit nothing goes (rows strictly older are deleted).
  ts.clock().advance(2 * kDay);
  EXPECT_EQ(purge_expired(ts.app()), PurgeCounts{});
  EXPECT_TRUE(purge_rows(ts).empty());  // a purge that deleted nothing is not logged

  ts.clock().advance(1);
  EXPECT_EQ(purge_expired(ts.app()), (PurgeCounts{1, 0, 0, 0}));
  {
    auto tx = ts.app().store().begin();
    EXPECT_FALSE(tx->flow_by_id(fc.flow_id()));  // name, e-mail and phone gone
    EXPECT_TRUE(tx->find_call_event("c-1"));
  }
  ts.clock().advance(3 * kDay);
  EXPECT_EQ(purge_expired(ts.app()), (PurgeCounts{0, 1, 0, 0}));
  ts.clock().advance(5 * kDay);
  PurgeCounts last = purge_expired(ts.app());
  EXPECT_EQ(last.audit, static_cast<int>(audit_rows));
  // Every purge that deleted something left one row; the last ones survive
  // the audit purge because they are younger than the rows they report.
  std::vector<AuditRecord> purges = purge_rows(ts);
  ASSERT_EQ(purges.size(), 3u);
  EXPECT_EQ(purges[0].actor, "system");
  EXPECT_EQ(purges[0].detail,
            "flows=0 call_events=0 audit=" + std::to_string(audit_rows) + " mails=0");
  EXPECT_NE(ts.app().metrics().render().find("renkei_purged_rows_total{kind=\"flows\"} 1"),
            std::string::npos);
}

TEST(Retention, ACallEventKeepsTheCallerMaskedNeverTheNumber) {
  TestServer ts;
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_call_wait());
  ASSERT_EQ(send_call(ts, call_body("c-masked", "+819011113333")).body["matched"], true);
  ASSERT_EQ(send_call(ts, call_body("c-withheld", nullptr)).body["matched"], false);
  auto tx = ts.app().store().begin();
  auto matched = tx->find_call_event("c-masked");
  ASSERT_TRUE(matched);
  ASSERT_TRUE(matched->caller_masked);
  EXPECT_EQ(matched->caller_masked->find("1111"), std::string::npos) << *matched->caller_masked;
  EXPECT_TRUE(matched->caller_masked->ends_with("3333")) << *matched->caller_masked;
  EXPECT_EQ(matched->flow_id, fc.flow_id());
  auto withheld = tx->find_call_event("c-withheld");
  ASSERT_TRUE(withheld);
  EXPECT_FALSE(withheld->caller_masked);
}

// Found by review: one purge of a large backlog held the single writer for
// the whole deletion. It now deletes in batches, and still deletes it all.
TEST(Retention, ABacklogLargerThanOneBatchIsPurgedWhole) {
  TestServer ts;
  {
    auto tx = ts.app().store().begin();
    AuditRecord a;
    a.at = ts.clock().now() - 2000 * kDay;
    a.step = "old";
    a.outcome = "ok";
    for (int i = 0; i < 1234; ++i) tx->append_audit(a);
    ASSERT_TRUE(tx->commit());
  }
  EXPECT_EQ(purge_expired(ts.app()).audit, 1234);
  for (const AuditRecord& r : all_audit(ts)) EXPECT_NE(r.step, "old");
}

// Found by review: SQLite's secure_delete zeroes purged rows in the database
// file, but their old pages stayed in the -wal file. A purge checkpoints it.
TEST(Retention, PurgedPersonalDataLeavesNoTraceInTheDatabaseFiles) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("renkei-retention-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ServerConfig c = test_config();
  c.database = (dir / "renkei.db").string();
  c.flow_retention_days = 1;
  const std::string marker = "zzretentionmarker";
  {
    TestServer ts(c);
    FlowClient fc(ts);
    ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
    json body = demo_customer();
    body["email"] = marker + "@example.jp";
    body["email_confirm"] = marker + "@example.jp";
    ASSERT_EQ(fc.customer(body).status, 200);
    ts.clock().advance(kDay + 1);
    EXPECT_EQ(purge_expired(ts.app()).flows, 1);
    auto contains_marker = [&](const std::filesystem::path& p) {
      std::ifstream in(p, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      return bytes.find(marker) != std::string::npos;
    };
    // The server is still running: the files are as a copy taken now would be.
    for (const char* suffix : {"", "-wal"}) {
      const auto p = dir / (std::string("renkei.db") + suffix);
      if (std::filesystem::exists(p)) EXPECT_FALSE(contains_marker(p)) << p;
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(Retention, TheWorkerPurgesOnItsOwnAndStops) {
  ServerConfig c = test_config();
  c.flow_retention_days = 1;
  c.purge_interval_seconds = 1;
  TestServer ts(c);
  FlowClient fc(ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_customer_entry());
  ts.clock().advance(kDay + 1);
  RetentionWorker worker(ts.app());
  worker.start();  // purges at once, then every second
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto tx = ts.app().store().begin();
    gone = !tx->flow_by_id(fc.flow_id()).has_value();
  }
  worker.stop();
  EXPECT_TRUE(gone);
}

}  // namespace
}  // namespace renkei::server::testing
