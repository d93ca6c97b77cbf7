// An outage of the store (the database down, or held beyond every rerun)
// against a true internal failure, as the HTTP layer answers them: both
// system_error with the catalog's customer message, the outage with 503
// Service Unavailable and Retry-After (RFC 9110 §15.6.4), which load
// balancers and clients retry, the internal failure with the catalog's 500.
// The OAuth endpoints answer in RFC 6749's form (temporarily_unavailable,
// server_error), /authorize sends the app its temporarily_unavailable once
// the redirect URI is known, and /healthz says 503.
//
// Then the units that write only an operation-log row (on PostgreSQL BEGIN,
// the row and COMMIT go in one round trip, so a connection lost there may
// have committed): idempotent by the row's once_key, they run again after a
// lost connection and the log holds their row once.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "flow_client.h"
#include "oauth_test_support.h"
#include "ops/retention.h"
#include "renkei/error.h"
#include "test_server.h"

namespace renkei::server::testing {
namespace {

using Failure = OutageStore::Failure;

// One request of every kind of route, made while the store fails.
struct Probe {
  std::string name;
  httplib::Result result;
  bool oauth_form = false;  // RFC 6749 §5.2 error form
  bool healthz = false;
};

class StorageOutage : public ::testing::Test {
 protected:
  StorageOutage() : server_(TestServer::with_outages()) {}

  // Every kind of route, with what it needs made before the store fails (a
  // flow and its session, tokens of the demo app).
  std::vector<Probe> probe_every_route(Failure failure) {
    FlowClient flow(*server_);
    const Tokens tokens = demo_tokens(*server_);
    EXPECT_FALSE(tokens.access.empty());
    server_->outage_store().fail(failure);
    std::vector<Probe> probes;
    auto http = server_->client();
    probes.push_back({"GET /healthz", http.Get("/healthz"), false, true});
    probes.push_back(
        {"GET /api/flow", http.Get("/api/flow", {{"Cookie", "renkei_session=" + flow.cookie()}})});
    probes.push_back(
        {"POST /api/flow/account",
         http.Post("/api/flow/account",
                   {{"Cookie", "renkei_session=" + flow.cookie()}, {"X-CSRF-Token", flow.csrf()}},
                   demo_account_body().dump(), "application/json")});
    probes.push_back(
        {"POST /dev/simulate-call",
         http.Post("/dev/simulate-call",
                   {{"Cookie", "renkei_session=" + flow.cookie()}, {"X-CSRF-Token", flow.csrf()}},
                   "{}", "application/json")});
    probes.push_back(
        {"GET /authorize",
         http.Get(authorize_path(AuthorizeRequest{.challenge = make_pkce().challenge}))});
    probes.push_back({"GET /api/v1/account", api_get(http, "/api/v1/account", tokens.access)});
    probes.push_back({"GET /admin/api/accounts",
                      http.Get("/admin/api/accounts?branch=115&type=ordinary&number=1100026",
                               {{"Authorization", std::string("Bearer ") + kTestAdminToken}})});
    probes.push_back({"POST /token",
                      post_form(http, "/token",
                                {{"grant_type", "refresh_token"},
                                 {"refresh_token", tokens.refresh},
                                 {"client_id", "demo-app"}}),
                      true});
    probes.push_back(
        {"POST /revoke",
         post_form(http, "/revoke", {{"token", tokens.refresh}, {"client_id", "demo-app"}}), true});
    probes.push_back({"POST /par",
                      post_form(http, "/par",
                                {{"response_type", "code"},
                                 {"client_id", "conf-app"},
                                 {"client_secret", kConfidentialSecret},
                                 {"redirect_uri", kConfidentialRedirect},
                                 {"state", kDemoState},
                                 {"code_challenge", make_pkce().challenge},
                                 {"code_challenge_method", "S256"}}),
                      true});
    server_->outage_store().fail(Failure::none);
    return probes;
  }

  std::unique_ptr<TestServer> server_;
};

// The catalog's customer message of system_error, whatever the status.
void expect_system_error_body(const Probe& p) {
  const nlohmann::json body = nlohmann::json::parse(p.result->body, nullptr, false);
  const std::string message(message_ja(ErrorCode::system_error));
  if (p.oauth_form) {
    EXPECT_EQ(body.value("code", ""), "system_error") << p.name << ": " << p.result->body;
    EXPECT_EQ(body.value("message", ""), message) << p.name;
    return;
  }
  ASSERT_TRUE(body.is_object() && body.contains("error")) << p.name << ": " << p.result->body;
  EXPECT_EQ(body["error"].value("code", ""), "system_error") << p.name << ": " << p.result->body;
  EXPECT_EQ(body["error"].value("message", ""), message) << p.name;
  if (p.healthz) EXPECT_EQ(body.value("status", ""), "unavailable") << p.name;
}

class StorageOutageKinds : public StorageOutage, public ::testing::WithParamInterface<Failure> {};

// The database cannot be reached (StorageUnavailable), or a lock is held
// elsewhere beyond every rerun (StorageConflict, as SQLite busy beyond its
// busy timeout): 503 with Retry-After everywhere, the same customer message.
TEST_P(StorageOutageKinds, EveryKindOfRouteAnswers503WithRetryAfter) {
  for (const Probe& p : probe_every_route(GetParam())) {
    ASSERT_TRUE(p.result) << p.name;
    EXPECT_EQ(p.result->status, 503) << p.name << ": " << p.result->body;
    EXPECT_EQ(p.result->get_header_value("Retry-After"), std::to_string(kStorageRetryAfterSeconds))
        << p.name;
    expect_system_error_body(p);
    if (p.oauth_form) {
      const nlohmann::json body = nlohmann::json::parse(p.result->body, nullptr, false);
      EXPECT_EQ(body.value("error", ""), "temporarily_unavailable") << p.name;
      EXPECT_EQ(p.result->get_header_value("Cache-Control"), "no-store") << p.name;
    }
  }
  EXPECT_GT(server_->outage_store().refused(), 0);
  // Back to normal once the store is.
  auto http = server_->client();
  EXPECT_EQ(http.Get("/healthz")->status, 200);
}

INSTANTIATE_TEST_SUITE_P(Outages, StorageOutageKinds,
                         ::testing::Values(Failure::unavailable, Failure::conflict),
                         [](const auto& info) {
                           return info.param == Failure::unavailable ? std::string("unavailable")
                                                                     : std::string("conflict");
                         });

// A true internal failure of the store (a statement failed) stays the
// catalog's 500, without Retry-After; /healthz still takes the instance out.
// So does a unit whose connection broke when it may have taken effect
// (StorageOutcomeUnknown): a client told to retry would repeat it — a code
// exchange that did commit would come back as a replay and revoke the grant.
TEST_F(StorageOutage, ATrueInternalFailureStays500WithoutRetryAfter) {
  for (const Failure f : {Failure::internal, Failure::outcome_unknown})
    for (const Probe& p : probe_every_route(f)) {
      ASSERT_TRUE(p.result) << p.name;
      EXPECT_EQ(p.result->status, p.healthz ? 503 : 500) << p.name << ": " << p.result->body;
      EXPECT_FALSE(p.result->has_header("Retry-After")) << p.name;
      expect_system_error_body(p);
      if (p.oauth_form) {
        const nlohmann::json body = nlohmann::json::parse(p.result->body, nullptr, false);
        EXPECT_EQ(body.value("error", ""), "server_error") << p.name;
      }
    }
}

// /authorize whose flow cannot be stored for an outage, once the client and
// its redirect URI are known (the reads succeed): the app is told at once,
// with RFC 6749 §4.1.2.1's temporarily_unavailable, state and iss (SPEC §8a:
// no page of ours could lead the customer back without a stored flow).
TEST_F(StorageOutage, AuthorizeSendsTheAppTemporarilyUnavailableWhenTheFlowCannotBeStored) {
  server_->outage_store().fail(Failure::unavailable, /*read_write_only=*/true);
  auto http = server_->client();
  auto r = http.Get(authorize_path(AuthorizeRequest{.challenge = make_pkce().challenge}));
  server_->outage_store().fail(Failure::none);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 302) << r->body;
  const std::string location = r->get_header_value("Location");
  EXPECT_EQ(without_query(location), kDemoRedirect);
  auto q = query_of(location);
  EXPECT_EQ(q["error"], "temporarily_unavailable") << location;
  EXPECT_EQ(q["state"], kDemoState);
  EXPECT_EQ(q["iss"], server_->app().config().issuer);
  EXPECT_FALSE(r->has_header("Set-Cookie"));  // no flow, no session
  EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
  // A true internal failure there stays the catalog's 500 (no redirect).
  server_->outage_store().fail(Failure::internal, /*read_write_only=*/true);
  r = http.Get(authorize_path(AuthorizeRequest{.challenge = make_pkce().challenge}));
  server_->outage_store().fail(Failure::none);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500) << r->body;
  EXPECT_EQ(r->get_header_value("Location"), "");
}

// ---------- the real thing: a PostgreSQL database that refuses connections ----------

// ALLOW_CONNECTIONS false and every session of it ended: the pool's
// connections are closed and no new one can be made, as when PostgreSQL is
// down, without stopping the cluster other tests share.
std::string set_connections_allowed(const PostgresTestDatabase& db, bool allowed) {
  const auto server = postgres_server_uri();
  if (!server) return "no RENKEI_TEST_POSTGRES_URI";
  std::string error = postgres_exec(*server, "ALTER DATABASE " + db.name() + " ALLOW_CONNECTIONS " +
                                                 (allowed ? "true" : "false"));
  if (!error.empty() || allowed) return error;
  return postgres_exec(*server,
                       "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                       " WHERE datname = '" +
                           db.name() + "'");
}

TEST(StorageOutagePostgres, ADatabaseThatRefusesConnectionsIsAnOutageUntilItIsBack) {
  if (test_backend() != "postgres") GTEST_SKIP() << "needs RENKEI_TEST_BACKEND=postgres";
  TestServer server;
  FlowClient flow(server);
  const Tokens tokens = demo_tokens(server);
  const PostgresTestDatabase* db = server.postgres_database();
  ASSERT_NE(db, nullptr);
  ASSERT_EQ(set_connections_allowed(*db, false), "");
  auto http = server.client();
  struct Case {
    const char* name;
    httplib::Result r;
    const char* oauth_error;
  };
  std::vector<Case> cases;
  cases.push_back({"GET /healthz", http.Get("/healthz"), nullptr});
  cases.push_back({"GET /api/flow",
                   http.Get("/api/flow", {{"Cookie", "renkei_session=" + flow.cookie()}}),
                   nullptr});
  cases.push_back(
      {"GET /api/v1/account", api_get(http, "/api/v1/account", tokens.access), nullptr});
  cases.push_back({"GET /admin/api/accounts",
                   http.Get("/admin/api/accounts?branch=115&type=ordinary&number=1100026",
                            {{"Authorization", std::string("Bearer ") + kTestAdminToken}}),
                   nullptr});
  cases.push_back({"POST /token",
                   post_form(http, "/token",
                             {{"grant_type", "refresh_token"},
                              {"refresh_token", tokens.refresh},
                              {"client_id", "demo-app"}}),
                   "temporarily_unavailable"});
  const std::string restored = set_connections_allowed(*db, true);
  ASSERT_EQ(restored, "");
  for (const Case& c : cases) {
    ASSERT_TRUE(c.r) << c.name;
    EXPECT_EQ(c.r->status, 503) << c.name << ": " << c.r->body;
    EXPECT_EQ(c.r->get_header_value("Retry-After"), std::to_string(kStorageRetryAfterSeconds))
        << c.name;
    const nlohmann::json body = nlohmann::json::parse(c.r->body, nullptr, false);
    if (c.oauth_error) {
      EXPECT_EQ(body.value("error", ""), c.oauth_error) << c.name;
      EXPECT_EQ(body.value("code", ""), "system_error") << c.name;
    } else {
      ASSERT_TRUE(body.contains("error")) << c.name << ": " << c.r->body;
      EXPECT_EQ(body["error"].value("code", ""), "system_error") << c.name;
      EXPECT_EQ(body["error"].value("message", ""),
                std::string(message_ja(ErrorCode::system_error)))
          << c.name;
    }
  }
  // Connections allowed again: the pool opens new ones, every route serves.
  EXPECT_EQ(http.Get("/healthz")->status, 200);
  EXPECT_EQ(api_get(http, "/api/v1/account", tokens.access)->status, 200);
  EXPECT_EQ(flow.get().status, 200);
}

// ---------- log-only units, run again after a lost connection (PostgreSQL) ----------

// The rows of `step` in the operation log.
std::vector<AuditRecord> audit_rows(TestServer& ts, const std::string& step) {
  std::vector<AuditRecord> out;
  for (AuditRecord& r : all_audit(ts)) {
    if (r.step == step) out.push_back(std::move(r));
  }
  return out;
}

// Every unit's first attempt loses its connection before its first round
// trip (losing_store.h); for a log-only unit that round trip holds its
// COMMIT. `request` runs in between; the connections lost each cost one rerun.
template <class Request>
void losing_connections_during(TestServer& ts, int* losses, Request request) {
  const int lost_before = ts.losing_store().lost();
  const std::uint64_t reruns_before = storage_connection_retries();
  ts.losing_store().lose_first_connections(true);
  request();
  ts.losing_store().lose_first_connections(false);
  *losses = ts.losing_store().lost() - lost_before;
  EXPECT_EQ(storage_connection_retries() - reruns_before, static_cast<std::uint64_t>(*losses));
}

// /authorize's refusal of an unknown client: the client's read, then the
// refusal's log row alone; both run again, the answer is the refusal (not a
// 5xx) and the row is there once.
TEST(LogOnlyUnitsPostgres, AnAuthorizeRefusalIsLoggedOnceWhenItsConnectionIsLost) {
  if (test_backend() != "postgres") GTEST_SKIP() << "PostgreSQL only (server.suite_postgres.*)";
  auto ts = TestServer::losing_connections();
  httplib::Client http = ts->client();
  Answer a;
  int losses = 0;
  losing_connections_during(*ts, &losses, [&] {
    a = to_answer(http.Get(authorize_path(
        AuthorizeRequest{.client_id = "no-such-app", .challenge = make_pkce().challenge})));
  });
  EXPECT_EQ(a.status, 400) << a.body.dump();
  EXPECT_EQ(a.code(), "bad_request") << a.body.dump();
  EXPECT_EQ(losses, 2);  // the client's read and the log row
  const std::vector<AuditRecord> rows = audit_rows(*ts, "authorize");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].outcome, "bad_request");
  EXPECT_EQ(rows[0].detail, "unknown or missing client_id");
}

// The staff's move of the development clock: its log row runs again and is
// there once; the answer is the clock moved.
TEST(LogOnlyUnitsPostgres, ADevClockMoveIsLoggedOnceWhenItsConnectionIsLost) {
  if (test_backend() != "postgres") GTEST_SKIP() << "PostgreSQL only (server.suite_postgres.*)";
  auto ts = TestServer::losing_connections(test_config(), /*movable_clock=*/true);
  httplib::Client http = ts->client();
  Answer a;
  int losses = 0;
  losing_connections_during(*ts, &losses, [&] {
    a = to_answer(http.Post("/admin/api/dev/clock",
                            {{"Authorization", std::string("Bearer ") + kTestAdminToken},
                             {"X-Renkei-Staff", "outage-test"}},
                            R"({"advance_seconds":60})", "application/json"));
  });
  EXPECT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(losses, 1);
  EXPECT_EQ(audit_rows(*ts, "admin.advance_clock").size(), 1u);
}

// The purge's summary row: the deletions and then the row alone, each run
// again; the purge returns its counts and the summary is logged once.
TEST(LogOnlyUnitsPostgres, APurgeSummaryIsLoggedOnceWhenItsConnectionIsLost) {
  if (test_backend() != "postgres") GTEST_SKIP() << "PostgreSQL only (server.suite_postgres.*)";
  ServerConfig config = test_config();
  config.flow_retention_days = 1;
  auto ts = TestServer::losing_connections(config);
  FlowClient flow(*ts);
  ts->clock().advance(2 * 86400);
  PurgeCounts n;
  int losses = 0;
  losing_connections_during(*ts, &losses, [&] { n = purge_expired(ts->app()); });
  EXPECT_EQ(n.flows, 1);
  EXPECT_GE(losses, 2);  // the deletions' units and the summary's
  const std::vector<AuditRecord> rows = audit_rows(*ts, "purge");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].actor, "system");
}

}  // namespace
}  // namespace renkei::server::testing
