// The account API over real HTTP: bearer token checks (RFC 6750), the linked
// account, balance, and paginated transactions limited to about 3 months.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "oauth_test_support.h"

namespace renkei::server::testing {
namespace {

class AccountApiTest : public ::testing::Test {
 protected:
  explicit AccountApiTest(UnixSeconds now = open_instant()) : server_(test_config(), now) {}

  TestServer server_;
  httplib::Client http_ = server_.client();

  // The demo account's balance as its records hold it (the store's record
  // with the local source, the simulated core system with the remote one).
  std::int64_t records_balance() {
    auto b = server_.app().records().balance(demo_account_ref());
    EXPECT_TRUE(b.ok());
    return b.ok() ? b.value() : -1;
  }
  std::optional<GrantRecord> grant_of(const std::string& access) {
    auto tx = server_.app().store().begin();
    auto token = tx->find_token(secret_digest(access));
    if (!token) return std::nullopt;
    return tx->find_grant(token->grant_id);
  }
  void expect_bad_param(const std::string& path, const std::string& access,
                        const std::string& field) {
    auto r = api_get(http_, path, access);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 400) << path;
    auto j = json_of(r);
    EXPECT_EQ(j["error"]["code"], "bad_request") << path << " " << r->body;
    EXPECT_EQ(j["error"]["field"], field) << path << " " << r->body;
  }
  void expect_invalid_token(const httplib::Result& r) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << r->body;
    EXPECT_EQ(json_of(r)["error"]["code"], "unauthorized");
    EXPECT_NE(r->get_header_value("WWW-Authenticate").find("error=\"invalid_token\""),
              std::string::npos)
        << r->get_header_value("WWW-Authenticate");
  }
};

TEST_F(AccountApiTest, MissingTokenGetsTheBareChallenge) {
  for (const char* path :
       {"/api/v1/account", "/api/v1/account/balance", "/api/v1/account/transactions"}) {
    auto r = http_.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
    // RFC 6750 §3.1: no error code when the request carried no credentials.
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer realm=\"renkei\"") << path;
    EXPECT_EQ(json_of(r)["error"]["code"], "unauthorized") << path;
  }
}

TEST_F(AccountApiTest, InvalidTokensAreRefused) {
  Tokens t = demo_tokens(server_);
  expect_invalid_token(api_get(http_, "/api/v1/account", random_token()));
  expect_invalid_token(api_get(http_, "/api/v1/account", t.refresh));  // not an access token
  expect_invalid_token(http_.Get("/api/v1/account", {{"Authorization", "Basic " + t.access}}));
  expect_invalid_token(http_.Get("/api/v1/account", {{"Authorization", "Bearer"}}));
  expect_invalid_token(http_.Get("/api/v1/account", {{"Authorization", "Bearer a b"}}));
  // Query-string tokens are not accepted (RFC 6750 §2.3 is optional and leaks).
  auto r = http_.Get(("/api/v1/account?access_token=" + t.access).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  // The scheme name is case-insensitive.
  r = http_.Get("/api/v1/account", {{"Authorization", "bearer " + t.access}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(AccountApiTest, ExpiredAccessTokenIsRefused) {
  Tokens t = demo_tokens(server_);
  server_.clock().advance(server_.app().config().access_token_seconds - 1);
  auto r = api_get(http_, "/api/v1/account", t.access);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  server_.clock().advance(1);
  expect_invalid_token(api_get(http_, "/api/v1/account", t.access));
}

TEST_F(AccountApiTest, StaffRevokedGrantIsRefused) {
  Tokens t = demo_tokens(server_);
  auto grant = grant_of(t.access);
  ASSERT_TRUE(grant);
  {
    auto tx = server_.app().store().begin();
    grant->revoked_at = server_.app().now();
    grant->revoked_by = "staff:test";
    tx->update_grant(*grant);
    ASSERT_TRUE(tx->commit());
  }
  expect_invalid_token(api_get(http_, "/api/v1/account/balance", t.access));
}

TEST_F(AccountApiTest, DisabledClientIsServiceUnavailable) {
  Tokens t = demo_tokens(server_);
  ASSERT_TRUE(switch_off_client(server_.app().store()));
  auto r = api_get(http_, "/api/v1/account/balance", t.access);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, http_status(ErrorCode::service_unavailable));
  EXPECT_EQ(json_of(r)["error"]["code"], "service_unavailable");
}

TEST_F(AccountApiTest, AccountShowsTheLinkedAccountOnly) {
  Tokens t = demo_tokens(server_);
  auto r = api_get(http_, "/api/v1/account", t.access);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
  auto j = json_of(r);
  EXPECT_EQ(j["account"]["branch"], "115");
  EXPECT_EQ(j["account"]["account_type"], "ordinary");
  EXPECT_EQ(j["account"]["account_type_label"], "普通預金");
  EXPECT_EQ(j["account"]["account_number"], "1100026");
  EXPECT_EQ(j["authorization"]["scope"], "accounts.read");
  EXPECT_EQ(j["authorization"]["expires_at"], format_jst(open_instant() + 30 * kSecondsPerDay));

  // Another customer's grant reads another account, never this one.
  Pkce pkce = make_pkce();
  std::string url = complete_flow_directly(server_, "demo-app", kDemoRedirect, pkce.challenge, "s2",
                                           AccountRef{"001", AccountType::savings, "0000123"});
  auto ex = exchange_code(http_, query_of(url)["code"], pkce.verifier);
  ASSERT_TRUE(ex);
  ASSERT_EQ(ex->status, 200) << ex->body;
  auto other = api_get(http_, "/api/v1/account", json_of(ex)["access_token"]);
  ASSERT_TRUE(other);
  EXPECT_EQ(json_of(other)["account"]["account_number"], "0000123");
}

TEST_F(AccountApiTest, BalanceIsTheStoredBalance) {
  Tokens t = demo_tokens(server_);
  auto r = api_get(http_, "/api/v1/account/balance", t.access);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json_of(r);
  EXPECT_EQ(j["balance_yen"], records_balance());
  EXPECT_GT(j["balance_yen"].get<std::int64_t>(), 0);
  EXPECT_EQ(j["currency"], "JPY");
  EXPECT_EQ(j["as_of"], format_jst(open_instant()));
  EXPECT_EQ(j["account"]["account_number"], "1100026");
}

TEST_F(AccountApiTest, ReadsUpdateLastUsedAndAreAudited) {
  Tokens t = demo_tokens(server_);
  server_.clock().advance(5);
  auto r = api_get(http_, "/api/v1/account/balance", t.access);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto grant = grant_of(t.access);
  ASSERT_TRUE(grant);
  ASSERT_TRUE(grant->last_used_at);
  EXPECT_EQ(*grant->last_used_at, open_instant() + 5);

  auto tx = server_.app().store().begin();
  AuditQuery q;
  q.flow_id = grant->flow_id;
  int reads = 0;
  for (const auto& rec : tx->query_audit(q)) {
    if (rec.step != "api.read") continue;
    ++reads;
    EXPECT_EQ(rec.actor, "app:demo-app");
    EXPECT_EQ(rec.client_id, "demo-app");
    EXPECT_EQ(rec.outcome, "ok");
    EXPECT_EQ(rec.account, "115-ordinary-1100026");
  }
  EXPECT_EQ(reads, 1);
}

TEST_F(AccountApiTest, TransactionsDefaultToTheLastThreeMonthsNewestFirst) {
  Tokens t = demo_tokens(server_);
  auto r = api_get(http_, "/api/v1/account/transactions", t.access);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json_of(r);
  EXPECT_EQ(j["from"], "2026-08-25");
  EXPECT_EQ(j["to"], "2026-11-25");
  auto items = j["transactions"];
  ASSERT_TRUE(items.is_array());
  ASSERT_FALSE(items.empty()) << "the demo data set has about 3 months of entries";
  EXPECT_LE(items.size(), 50u);
  for (std::size_t i = 1; i < items.size(); ++i) {
    EXPECT_GE(items[i - 1]["date"].get<std::string>(), items[i]["date"].get<std::string>());
  }
  for (const auto& e : items) {
    EXPECT_GE(e["date"].get<std::string>(), "2026-08-25");
    EXPECT_LE(e["date"].get<std::string>(), "2026-11-25");
    EXPECT_TRUE(e["amount_yen"].is_number_integer());
    EXPECT_TRUE(e["balance_after_yen"].is_number_integer());
    EXPECT_TRUE(e["description"].is_string());
  }
}

TEST_F(AccountApiTest, CursorWalksEveryEntryOnce) {
  Tokens t = demo_tokens(server_);
  auto all = api_get(http_, "/api/v1/account/transactions?limit=100", t.access);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->status, 200) << all->body;
  std::vector<std::string> expected;
  const nlohmann::json all_body = json_of(all);
  for (const auto& e : all_body["transactions"]) expected.push_back(e["id"]);
  ASSERT_GE(expected.size(), 8u) << "the demo data set should span several pages of 7";
  ASSERT_LT(expected.size(), 100u);

  std::vector<std::string> walked;
  std::string cursor;
  for (int page = 0; page < 100; ++page) {
    std::string path = "/api/v1/account/transactions?limit=7";
    if (!cursor.empty()) path += "&cursor=" + cursor;
    auto r = api_get(http_, path, t.access);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto j = json_of(r);
    EXPECT_LE(j["transactions"].size(), 7u);
    for (const auto& e : j["transactions"]) walked.push_back(e["id"]);
    if (j["next_cursor"].is_null()) break;
    cursor = j["next_cursor"];
  }
  EXPECT_EQ(walked, expected);
  EXPECT_EQ(std::set<std::string>(walked.begin(), walked.end()).size(), walked.size());
}

TEST_F(AccountApiTest, ExplicitRangeAndItsLimits) {
  Tokens t = demo_tokens(server_);
  auto r = api_get(http_, "/api/v1/account/transactions?from=2026-08-25&to=2026-09-30", t.access);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const nlohmann::json body = json_of(r);
  for (const auto& e : body["transactions"]) {
    EXPECT_LE(e["date"].get<std::string>(), "2026-09-30");
  }
  // One day earlier than three months is not served.
  r = api_get(http_, "/api/v1/account/transactions?from=2026-08-24", t.access);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json_of(r)["error"]["code"], "range_not_served");
  r = api_get(http_, "/api/v1/account/transactions?from=2020-01-01&to=2020-12-31", t.access);
  ASSERT_TRUE(r);
  EXPECT_EQ(json_of(r)["error"]["code"], "range_not_served");
}

TEST_F(AccountApiTest, BadParametersNameTheParameter) {
  Tokens t = demo_tokens(server_);
  const std::string p = "/api/v1/account/transactions?";
  expect_bad_param(p + "from=2026-02-30", t.access, "from");
  expect_bad_param(p + "from=2026-9-01", t.access, "from");
  expect_bad_param(p + "to=2026/11/01", t.access, "to");
  expect_bad_param(p + "from=2026-11-20&to=2026-11-01", t.access, "to");
  expect_bad_param(p + "limit=0", t.access, "limit");
  expect_bad_param(p + "limit=101", t.access, "limit");
  expect_bad_param(p + "limit=abc", t.access, "limit");
  expect_bad_param(p + "limit=5x", t.access, "limit");
  expect_bad_param(p + "limit=-1", t.access, "limit");
  expect_bad_param(p + "limit=10&limit=20", t.access, "limit");
  expect_bad_param(p + "cursor=not*a*cursor", t.access, "cursor");
  expect_bad_param(p + "cursor=MA", t.access, "cursor");  // base64url("0")
}

// Well-formed cursors (base64url of letters, digits, '-', '_') that the
// records did not give: the app's error, 400 on `cursor`, not system_error
// (the hostile-input sweep's cursors; with either records source).
TEST_F(AccountApiTest, ACursorTheRecordsDidNotGiveIsABadParameter) {
  Tokens t = demo_tokens(server_);
  const std::string p = "/api/v1/account/transactions?cursor=";
  for (const char* raw : {"abc", "s3", "x", "-1", "1e5", "9223372036854775808"}) {
    expect_bad_param(p + base64url_encode(raw), t.access, "cursor");
  }
  expect_bad_param(p + "YWJj", t.access, "cursor");  // the sweep's spelling of "abc"
  // The refusal is on the record as the app's error.
  auto tx = server_.app().store().begin();
  AuditQuery q;
  int bad = 0;
  for (const AuditRecord& r : tx->query_audit(q)) {
    if (r.step == "api.read" && r.outcome == "bad_request") ++bad;
    EXPECT_NE(r.outcome, "system_error") << r.detail;
  }
  EXPECT_EQ(bad, 7);
}

// The start of the served range is the same day three months back, or the
// end of that month when it is shorter.
class AccountApiMonthEndTest : public AccountApiTest {
 protected:
  AccountApiMonthEndTest() : AccountApiTest(from_jst({2026, 5, 31}, 10, 0, 0)) {}
};

TEST_F(AccountApiMonthEndTest, ThreeMonthsBeforeMay31IsFebruary28) {
  Tokens t = demo_tokens(server_);
  auto r = api_get(http_, "/api/v1/account/transactions", t.access);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json_of(r)["from"], "2026-02-28");
  r = api_get(http_, "/api/v1/account/transactions?from=2026-02-28", t.access);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = api_get(http_, "/api/v1/account/transactions?from=2026-02-27", t.access);
  ASSERT_TRUE(r);
  EXPECT_EQ(json_of(r)["error"]["code"], "range_not_served");
}

// ---------- a pooled PostgreSQL connection lost (docs/reliability.md) ----------

// The account API's reads with a bearer token answer as they would have (the
// same body) when every store transaction of the request lost its pooled
// PostgreSQL connection before anything reached the database: the token check,
// the local records' lookups (the account's standing, the balance, the
// entries) and the closing write each run again on another connection
// (with_transaction), one rerun per loss.
TEST(AccountApiPostgres, BearerReadsAnswerTheSameWhenEachFirstConnectionIsLost) {
  if (test_backend() != "postgres") GTEST_SKIP() << "PostgreSQL only (server.suite_postgres.*)";
  if (test_records() != "local") GTEST_SKIP() << "the local records source reads the store";
  auto ts = TestServer::losing_connections();
  Tokens t = demo_tokens(*ts);
  ASSERT_FALSE(t.access.empty());
  httplib::Client http = ts->client();
  // The last one is refused (its audit row is written all the same).
  for (const std::string path :
       {"/api/v1/account", "/api/v1/account/balance", "/api/v1/account/transactions?limit=3",
        "/api/v1/account/transactions?limit=0"}) {
    SCOPED_TRACE(path);
    const int status = path.back() == '0' ? 400 : 200;
    auto expected = api_get(http, path, t.access);
    ASSERT_TRUE(expected);
    ASSERT_EQ(expected->status, status) << expected->body;
    const int lost_before = ts->losing_store().lost();
    const std::uint64_t reruns_before = storage_connection_retries();
    ts->losing_store().lose_first_connections(true);
    auto r = api_get(http, path, t.access);
    ts->losing_store().lose_first_connections(false);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(json_of(r), json_of(expected));
    const int losses = ts->losing_store().lost() - lost_before;
    // The token check, the standing, the records' read (not for /account,
    // nor after a refusal), the closing write.
    EXPECT_EQ(losses, path == "/api/v1/account" || status != 200 ? 3 : 4);
    EXPECT_EQ(storage_connection_retries() - reruns_before, static_cast<std::uint64_t>(losses));
  }
}

}  // namespace
}  // namespace renkei::server::testing
