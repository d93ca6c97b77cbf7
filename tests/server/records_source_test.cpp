// The records source contract (records_source.h), one suite for both
// sources: "local" over a store seeded with the demo data set, and "remote"
// through the HTTPS adapter against the simulated core-banking gateway
// (tools/renkei_core_sim.cpp, started by tests/server/with-core-sim.sh; the
// remote instances skip without it). Then the remote adapter's faults against
// the simulator's switches, and a wrong client certificate.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "core_sim.h"
#include "http/gateway_transport.h"
#include "records/records.h"
#include "records/records_source.h"
#include "records/remote_records_source.h"
#include "renkei/time.h"

namespace renkei::server {
namespace {

using testing::CoreSim;
using testing::CoreSimTest;

const AccountRef kSatoru{"115", AccountType::ordinary, "1100026"};
const AccountRef kHanako{"001", AccountType::savings, "0000123"};
const AccountRef kMoved{"011", AccountType::ordinary, "1111111"};
const AccountRef kClosed{"006", AccountType::ordinary, "1234567"};
const AccountRef kNoCard{"115", AccountType::ordinary, "3000001"};
const AccountRef kUnknown{"999", AccountType::ordinary, "7654321"};
constexpr CivilDate kToday{2026, 11, 25};

CustomerInfo who(const std::string& birth, const std::string& phone) {
  CustomerInfo i;
  i.name_kana = "ﾃﾞｰﾀ ｻﾄﾙ";
  i.birth_date = birth;
  i.phone = phone;
  return i;
}

// The demo data as the local source sees it: the reference for both.
struct LocalDemo {
  std::unique_ptr<Store> store = open_sqlite_store(":memory:");
  std::unique_ptr<LocalRecordsSource> source;
  LocalDemo() {
    seed_demo_data(*store, "contract-test-key", kToday);
    source = std::make_unique<LocalRecordsSource>(*store, "contract-test-key");
  }
};

class RecordsContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "local") {
      local_ = std::make_unique<LocalDemo>();
      source_ = local_->source.get();
    } else {
      if (!CoreSim::available()) GTEST_SKIP() << "no simulator (tests/server/with-core-sim.sh)";
      remote_ = CoreSim::remote_source();
      source_ = remote_.get();
    }
  }
  void TearDown() override {
    if (GetParam() == "remote" && CoreSim::available()) CoreSim::reset();
  }
  RecordsSource& records() { return *source_; }

  std::unique_ptr<LocalDemo> local_;
  std::unique_ptr<RemoteRecordsSource> remote_;
  RecordsSource* source_ = nullptr;
};

TEST_P(RecordsContract, KnowsAnActiveAccountAndWhoseItIs) {
  auto r = records().find_account(kSatoru);
  ASSERT_TRUE(r.ok()) << r.failure().detail;
  ASSERT_TRUE(r.value().has_value());
  EXPECT_EQ(r.value()->status, AccountStatus::active);
  EXPECT_TRUE(r.value()->cash_card_issued);
  EXPECT_FALSE(r.value()->customer_ref.empty());
  auto unknown = records().find_account(kUnknown);
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown.value().has_value());
}

TEST_P(RecordsContract, IdentityMatchesBirthDateAndAnyRegisteredPhone) {
  for (const char* phone : {"09011113333", "0612345678"}) {
    auto r = records().check_identity(kSatoru, who("1985-04-12", phone));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().check, IdentityCheck::match) << phone;
    ASSERT_TRUE(r.value().account.has_value());
    EXPECT_EQ(r.value().account->ref, kSatoru);
  }
  auto wrong_birth = records().check_identity(kSatoru, who("1985-04-13", "09011113333"));
  ASSERT_TRUE(wrong_birth.ok());
  EXPECT_EQ(wrong_birth.value().check, IdentityCheck::mismatch);
  EXPECT_TRUE(wrong_birth.value().account.has_value());  // counts toward the lock
  auto wrong_phone = records().check_identity(kSatoru, who("1985-04-12", "08022224444"));
  ASSERT_TRUE(wrong_phone.ok());
  EXPECT_EQ(wrong_phone.value().check, IdentityCheck::mismatch);
}

TEST_P(RecordsContract, MovedClosedCardlessAndUnknownAccountsAreNotEligible) {
  for (const AccountRef& ref : {kMoved, kClosed, kNoCard, kUnknown}) {
    auto r = records().check_identity(ref, who("1972-07-07", "07033335555"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().check, IdentityCheck::account_not_eligible) << ref.number;
    EXPECT_FALSE(r.value().account.has_value());
    auto still = records().still_eligible(ref);
    ASSERT_TRUE(still.ok());
    EXPECT_FALSE(still.value());
  }
  auto moved = records().find_account(kMoved);
  ASSERT_TRUE(moved.ok() && moved.value());
  EXPECT_EQ(moved.value()->status, AccountStatus::moved);
  auto closed = records().find_account(kClosed);
  ASSERT_TRUE(closed.ok() && closed.value());
  EXPECT_EQ(closed.value()->status, AccountStatus::closed);
}

TEST_P(RecordsContract, RegisteredPhones) {
  auto r = records().registered_phones(kSatoru);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), (std::vector<std::string>{"09011113333", "0612345678"}));
}

TEST_P(RecordsContract, PinIsCheckedByTheRecords) {
  auto right = records().verify_pin(kSatoru, "1234");
  ASSERT_TRUE(right.ok());
  EXPECT_EQ(right.value(), PinCheck::match);
  auto wrong = records().verify_pin(kSatoru, "1235");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong.value(), PinCheck::mismatch);
  auto other = records().verify_pin(kHanako, "1234");  // C0001's PIN on C0002's account
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other.value(), PinCheck::mismatch);
}

TEST_P(RecordsContract, BalanceAndTransactionsAreTheDemoSet) {
  LocalDemo reference;
  auto want_balance = reference.source->balance(kSatoru);
  ASSERT_TRUE(want_balance.ok());
  auto balance = records().balance(kSatoru);
  ASSERT_TRUE(balance.ok());
  EXPECT_EQ(balance.value(), want_balance.value());
  EXPECT_GT(balance.value(), 0);

  // Paged by 7 through three months: the same entries as one big page, newest
  // first, no entry twice.
  auto all = reference.source->transactions(kSatoru, "2026-08-25", "2026-11-25", 1000, "");
  ASSERT_TRUE(all.ok());
  ASSERT_GT(all.value().items.size(), 20u);
  std::vector<Transaction> paged;
  std::string cursor;
  std::set<std::string> ids;
  for (int page = 0; page < 100; ++page) {
    auto r = records().transactions(kSatoru, "2026-08-25", "2026-11-25", 7, cursor);
    ASSERT_TRUE(r.ok()) << r.failure().detail;
    ASSERT_LE(r.value().items.size(), 7u);
    for (const auto& t : r.value().items) {
      EXPECT_TRUE(ids.insert(t.id).second) << "entry " << t.id << " twice";
      paged.push_back(t);
    }
    cursor = r.value().next_cursor;
    if (cursor.empty()) break;
  }
  ASSERT_EQ(paged.size(), all.value().items.size());
  for (std::size_t i = 0; i < paged.size(); ++i) {
    EXPECT_EQ(paged[i].date, all.value().items[i].date);
    EXPECT_EQ(paged[i].description, all.value().items[i].description);
    EXPECT_EQ(paged[i].amount_yen, all.value().items[i].amount_yen);
    EXPECT_EQ(paged[i].balance_after_yen, all.value().items[i].balance_after_yen);
    if (i) EXPECT_GE(paged[i - 1].date, paged[i].date);
  }
  // A range: only its dates.
  auto october = records().transactions(kSatoru, "2026-10-01", "2026-10-31", 100, "");
  ASSERT_TRUE(october.ok());
  ASSERT_FALSE(october.value().items.empty());
  for (const auto& t : october.value().items) {
    EXPECT_GE(t.date, "2026-10-01");
    EXPECT_LE(t.date, "2026-10-31");
  }
}

// A cursor the source did not give is the caller's error (bad_cursor →
// bad_request on `cursor`), not a fault of the records (the hostile-input
// sweep's cursors "abc", "-1", "1e5" and 2^63 were answered system_error).
TEST_P(RecordsContract, ACursorItDidNotGiveIsABadCursor) {
  for (const std::string cursor :
       {"abc", "s3", "x", "-1", "1e5", "0", "9223372036854775808", "99999999999999999999"}) {
    auto r = records().transactions(kSatoru, "2026-08-25", "2026-11-25", 7, cursor);
    ASSERT_FALSE(r.ok()) << cursor;
    EXPECT_EQ(r.failure().kind, RecordsFailureKind::bad_cursor)
        << cursor << " " << r.failure().detail;
    EXPECT_EQ(error_code_of(r.failure()), ErrorCode::bad_request);
  }
  // Its own cursors still read (the paging above walks them all).
  auto first = records().transactions(kSatoru, "2026-08-25", "2026-11-25", 7, "");
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first.value().next_cursor.empty());
  EXPECT_TRUE(records()
                  .transactions(kSatoru, "2026-08-25", "2026-11-25", 7, first.value().next_cursor)
                  .ok());
}

INSTANTIATE_TEST_SUITE_P(Sources, RecordsContract, ::testing::Values("local", "remote"),
                         [](const auto& info) { return info.param; });

// ---------- the remote adapter's faults, against the simulator ----------

class RemoteFaults : public CoreSimTest {};

TEST_F(RemoteFaults, GatewayErrorsMapToOurFailures) {
  auto source = CoreSim::remote_source();
  CoreSim::control({{"error", "unavailable"}});
  auto down = source->find_account(kSatoru);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.failure().kind, RecordsFailureKind::unavailable);
  EXPECT_EQ(error_code_of(down.failure()), ErrorCode::system_error);

  CoreSim::control({{"error", "busy"}});
  auto busy = source->balance(kSatoru);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(error_code_of(busy.failure()), ErrorCode::busy);

  CoreSim::control({{"error", "none"}, {"maintenance_until", "2026-11-26T06:00:00+09:00"}});
  auto closed = source->verify_pin(kSatoru, "1234");
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.failure().kind, RecordsFailureKind::maintenance);
  EXPECT_EQ(error_code_of(closed.failure()), ErrorCode::out_of_hours);
  ASSERT_TRUE(closed.failure().reopens_at.has_value());
  EXPECT_EQ(format_jst(*closed.failure().reopens_at), "2026-11-26T06:00:00+09:00");

  CoreSim::control({{"maintenance_until", nullptr}});
  EXPECT_TRUE(source->find_account(kSatoru).ok());
}

TEST_F(RemoteFaults, ASlowGatewayIsATimeoutAndAPinCheckIsNeverRetried) {
  RecordsConfig config = CoreSim::records_config();
  config.timeout_ms = 800;  // well above a TLS handshake on a loaded machine
  config.read_retries = 2;
  auto source = CoreSim::remote_source(config);
  CoreSim::control({{"latency_ms", 4000}});
  const long before = CoreSim::state()["calls"].get<long>();
  auto slow = source->verify_pin(kSatoru, "1234");
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.failure().kind, RecordsFailureKind::timeout);
  EXPECT_EQ(error_code_of(slow.failure()), ErrorCode::busy);
  auto read = source->balance(kSatoru);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.failure().kind, RecordsFailureKind::timeout);
  CoreSim::control({{"latency_ms", 0}});
  // Let the slow calls reach the simulator's counter: 1 PIN check + 3 reads.
  long calls = 0;
  for (int i = 0; i < 100 && (calls = CoreSim::state()["calls"].get<long>()) < before + 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(calls - before, 4);
}

TEST_F(RemoteFaults, AFlappingGatewayOpensAndClosesTheBreaker) {
  RecordsConfig config = CoreSim::records_config();
  config.read_retries = 0;
  config.breaker.failure_threshold = 3;
  config.breaker.open_ms = 300;
  Metrics metrics;
  auto source = CoreSim::remote_source(config, &metrics);
  CoreSim::control({{"error", "internal"}});
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(source->find_account(kSatoru).ok());
  EXPECT_EQ(source->breaker().state(), BreakerState::open);
  // Open: answered at once, the gateway is not asked.
  const long calls = CoreSim::state()["calls"].get<long>();
  auto fast = source->find_account(kSatoru);
  ASSERT_FALSE(fast.ok());
  EXPECT_EQ(fast.failure().detail, "circuit breaker open");
  EXPECT_EQ(CoreSim::state()["calls"].get<long>(), calls);
  // Half-open after open_ms; the probe fails: open again.
  while (source->breaker().state() != BreakerState::half_open) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(source->find_account(kSatoru).ok());
  EXPECT_EQ(source->breaker().state(), BreakerState::open);
  // The gateway recovers: the next probe closes it.
  CoreSim::control({{"error", "none"}});
  while (source->breaker().state() != BreakerState::half_open) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(source->find_account(kSatoru).ok());
  EXPECT_EQ(source->breaker().state(), BreakerState::closed);
  const std::string text = metrics.render();
  EXPECT_NE(text.find("renkei_records_breaker_transitions_total{to=\"open\"} 2"), std::string::npos)
      << text;
  EXPECT_NE(text.find("renkei_records_breaker_state 0"), std::string::npos) << text;
}

TEST_F(RemoteFaults, FailuresThatNeverFollowEachOtherKeepTheBreakerClosed) {
  RecordsConfig config = CoreSim::records_config();
  config.read_retries = 0;
  config.breaker.failure_threshold = 2;
  auto source = CoreSim::remote_source(config);
  CoreSim::control({{"error", "internal"}, {"fail_every", 2}});  // every second call fails
  int failed = 0;
  for (int i = 0; i < 8; ++i) failed += source->balance(kSatoru).ok() ? 0 : 1;
  EXPECT_EQ(failed, 4);
  EXPECT_EQ(source->breaker().state(), BreakerState::closed);
  // Two in a row open it.
  CoreSim::control({{"fail_every", 1}});
  EXPECT_FALSE(source->balance(kSatoru).ok());
  EXPECT_FALSE(source->balance(kSatoru).ok());
  EXPECT_EQ(source->breaker().state(), BreakerState::open);
}

TEST_F(RemoteFaults, AClientCertificateFromAnotherCaIsRefused) {
  RecordsConfig rogue = CoreSim::records_config();
  rogue.client_cert = CoreSim::dir() + "/rogue-client.pem";
  rogue.client_key = CoreSim::dir() + "/rogue-client.key";
  auto source = CoreSim::remote_source(rogue);
  const long calls = CoreSim::state()["calls"].get<long>();
  auto r = source->find_account(kSatoru);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, RecordsFailureKind::unavailable);
  EXPECT_EQ(CoreSim::state()["calls"].get<long>(), calls);  // never reached a handler
  // And without any client certificate: the handshake fails too. (The
  // gateway resets the connection, so the bare client's write of the request
  // may raise SIGPIPE, which the server ignores in main and the gateway
  // transport blocks around its calls.)
  std::signal(SIGPIPE, SIG_IGN);
  httplib::SSLClient bare("127.0.0.1", CoreSim::port());
  bare.set_ca_cert_path((CoreSim::dir() + "/ca.pem").c_str());
  bare.enable_server_certificate_verification(true);
  auto res = bare.Post("/v1/accounts/lookup", R"({"account":{}})", "application/json");
  EXPECT_FALSE(res);
  // The right certificate works.
  EXPECT_TRUE(CoreSim::remote_source()->find_account(kSatoru).ok());
}

}  // namespace
}  // namespace renkei::server
