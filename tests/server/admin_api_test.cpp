// The admin API over real HTTP (docs/admin-api.md): the token is required on
// every path (missing, wrong, same length but wrong, API switched off), each
// action works, is visible through the customer's or the app's endpoints, and
// writes its audit row with the staff member's name; hostile input gets a 4xx.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "flow_client.h"
#include "oauth_test_support.h"

namespace renkei::server::testing {
namespace {

constexpr const char* kStaff = "tanaka";

// One admin request as the console sends it.
struct AdminRequest {
  std::string method = "GET";
  std::string path;
  std::string body;  // sent as application/json when non-empty
};

class AdminApiTest : public ::testing::Test {
 protected:
  TestServer ts_;

  static httplib::Headers auth(const std::string& token = kTestAdminToken,
                               const std::string& staff = kStaff) {
    httplib::Headers h = {{"Authorization", "Bearer " + token}};
    if (!staff.empty()) h.emplace("X-Renkei-Staff", staff);
    return h;
  }

  Answer send(const AdminRequest& r, const httplib::Headers& headers) {
    httplib::Client c = ts_.client();
    if (r.method == "GET") return to_answer(c.Get(r.path.c_str(), headers));
    if (r.method == "DELETE") {
      return to_answer(r.body.empty()
                           ? c.Delete(r.path.c_str(), headers)
                           : c.Delete(r.path.c_str(), headers, r.body, "application/json"));
    }
    if (r.method == "PUT")
      return to_answer(c.Put(r.path.c_str(), headers, r.body, "application/json"));
    return to_answer(c.Post(r.path.c_str(), headers, r.body, "application/json"));
  }

  Answer get(const std::string& path) { return send({"GET", path, ""}, auth()); }
  Answer post(const std::string& path, const json& body = json::object(),
              const std::string& staff = kStaff) {
    return send({"POST", path, body.dump()}, auth(kTestAdminToken, staff));
  }
  Answer del(const std::string& path) { return send({"DELETE", path, ""}, auth()); }

  // The newest audit rows with step `step`.
  std::vector<AuditRecord> audit_of(const std::string& step) {
    std::vector<AuditRecord> out;
    for (const AuditRecord& r : all_audit(ts_)) {
      if (r.step == step) out.push_back(r);
    }
    return out;
  }

  void expect_staff_audit(const std::string& step, const std::string& detail_part = "") {
    std::vector<AuditRecord> rows = audit_of(step);
    ASSERT_EQ(rows.size(), 1u) << step;
    EXPECT_EQ(rows[0].actor, std::string("staff:") + kStaff);
    EXPECT_EQ(rows[0].outcome, "ok");
    EXPECT_EQ(rows[0].at, ts_.clock().now());
    if (!detail_part.empty()) {
      EXPECT_NE(rows[0].detail.find(detail_part), std::string::npos) << rows[0].detail;
    }
  }
};

// Every endpoint (and an unknown path under /admin/api).
std::vector<AdminRequest> every_endpoint() {
  return {
      {"GET", "/admin/api/status", ""},
      {"GET", "/admin/api/funnel", ""},
      {"GET", "/admin/api/accounts?branch=115&type=ordinary&number=1100026", ""},
      {"POST", "/admin/api/accounts/lock/lift",
       R"({"branch":"115","type":"ordinary","number":"1100026"})"},
      {"PUT", "/admin/api/accounts/pin",
       R"({"branch":"115","type":"ordinary","number":"1100026","pin":"4444"})"},
      {"GET", "/admin/api/grants?branch=115&type=ordinary&number=1100026", ""},
      {"POST", "/admin/api/grants/some-grant/revoke", "{}"},
      {"GET", "/admin/api/clients", ""},
      {"POST", "/admin/api/clients/demo-app/enable", "{}"},
      {"POST", "/admin/api/clients/demo-app/disable", "{}"},
      {"POST", "/admin/api/clients",
       R"({"id":"new-app","display_name":"N","redirect_uris":["https://n.example/cb"]})"},
      {"POST", "/admin/api/clients/demo-app/update", R"({"jwks":null})"},
      {"GET", "/admin/api/audit", ""},
      {"GET", "/admin/api/calendar/windows", ""},
      {"POST", "/admin/api/calendar/windows",
       R"({"start":"2026-11-25T10:00:00+09:00","end":"2026-11-25T11:00:00+09:00"})"},
      {"DELETE", "/admin/api/calendar/windows/1", ""},
      {"GET", "/admin/api/outbox", ""},
      {"POST", "/admin/api/outbox/1/retry", "{}"},
      {"POST", "/admin/api/dev/calls", R"({"flow_id":"x"})"},
      {"POST", "/admin/api/dev/clock", R"({"advance_seconds":60})"},
      {"GET", "/admin/api/no-such-thing", ""},
      {"GET", "/admin/api", ""},
      {"PUT", "/admin/api/clients", "{}"},
  };
}

void expect_unauthorized(const Answer& a, const AdminRequest& r, const char* why) {
  EXPECT_EQ(a.status, 401) << why << " " << r.method << " " << r.path << " " << a.body.dump();
  EXPECT_EQ(a.code(), "unauthorized") << why << " " << r.path;
  auto it = a.headers.find("WWW-Authenticate");
  ASSERT_NE(it, a.headers.end()) << why << " " << r.path;
  EXPECT_EQ(it->second.rfind("Bearer", 0), 0u) << it->second;
}

// ---------- authentication ----------

TEST_F(AdminApiTest, EveryEndpointRefusesWithoutTheRightToken) {
  const std::string same_length(std::string(kTestAdminToken).size(), 'x');
  std::string one_off = kTestAdminToken;
  one_off.back() = one_off.back() == 'a' ? 'b' : 'a';
  for (const AdminRequest& r : every_endpoint()) {
    expect_unauthorized(send(r, {{"X-Renkei-Staff", kStaff}}), r, "no header");
    expect_unauthorized(send(r, auth("wrong-token")), r, "wrong token");
    expect_unauthorized(send(r, auth(same_length)), r, "same length");
    expect_unauthorized(send(r, auth(one_off)), r, "last character differs");
    expect_unauthorized(send(r, auth(std::string(kTestAdminToken) + "x")), r, "longer");
    expect_unauthorized(send(r, {{"Authorization", std::string("Basic ") + kTestAdminToken},
                                 {"X-Renkei-Staff", kStaff}}),
                        r, "basic scheme");
    expect_unauthorized(send(r, {{"Authorization", "Bearer "}, {"X-Renkei-Staff", kStaff}}), r,
                        "empty bearer");
    // The token as the digest, not the token.
    expect_unauthorized(send(r, auth(ts_.app().config().admin_token_digest)), r, "digest");
  }
  // Nothing happened: the client is still on, no staff row was written.
  auto tx = ts_.app().store().begin();
  EXPECT_TRUE(tx->find_client("demo-app")->enabled);
  for (const AuditRecord& r : tx->query_audit(AuditQuery{})) {
    EXPECT_NE(r.actor.rfind("staff:", 0), 0u) << r.step;
  }
}

TEST_F(AdminApiTest, TheSchemeIsCaseInsensitiveAndTheTokenIsAccepted) {
  Answer a = send({"GET", "/admin/api/status", ""},
                  {{"Authorization", std::string("bearer ") + kTestAdminToken}});
  EXPECT_EQ(a.status, 200) << a.body.dump();
  a = get("/admin/api/status");
  EXPECT_EQ(a.status, 200) << a.body.dump();
  auto cc = a.headers.find("Cache-Control");
  ASSERT_NE(cc, a.headers.end());
  EXPECT_NE(cc->second.find("no-store"), std::string::npos);
}

TEST(AdminApiSwitchedOff, AnEmptyDigestRefusesEveryRequest) {
  ServerConfig config = test_config();
  config.admin_token_digest = "";
  TestServer ts(config);
  httplib::Client c = ts.client();
  for (const std::string& token : {std::string(kTestAdminToken), std::string("")}) {
    Answer a = to_answer(c.Get("/admin/api/status", {{"Authorization", "Bearer " + token}}));
    EXPECT_EQ(a.status, 401);
    EXPECT_EQ(a.code(), "unauthorized");
  }
  Answer a = to_answer(c.Post(
      "/admin/api/clients/demo-app/disable",
      {{"Authorization", std::string("Bearer ") + kTestAdminToken}, {"X-Renkei-Staff", kStaff}},
      "{}", "application/json"));
  EXPECT_EQ(a.status, 401);
  auto tx = ts.app().store().begin();
  EXPECT_TRUE(tx->find_client("demo-app")->enabled);
}

TEST(AdminApiProduction, DevEndpointsAreAbsentButStillBehindTheToken) {
  ServerConfig config = test_config();
  config.dev_mode = false;
  TestServer ts(config);
  httplib::Client c = ts.client();
  const httplib::Headers good = {{"Authorization", std::string("Bearer ") + kTestAdminToken},
                                 {"X-Renkei-Staff", kStaff}};
  for (const char* path : {"/admin/api/dev/calls", "/admin/api/dev/clock"}) {
    Answer a = to_answer(c.Post(path, good, R"({"advance_seconds":60})", "application/json"));
    EXPECT_EQ(a.status, 404) << path << " " << a.body.dump();
    EXPECT_EQ(a.code(), "not_found");
    a = to_answer(c.Post(path, R"({"advance_seconds":60})", "application/json"));
    EXPECT_EQ(a.status, 401) << path;
  }
  // The rest of the API is there, and not relaxed in either mode.
  EXPECT_EQ(to_answer(c.Get("/admin/api/status", good)).status, 200);
  Answer s = to_answer(c.Get("/admin/api/status", good));
  EXPECT_EQ(s.body.value("dev_mode", true), false);
}

TEST_F(AdminApiTest, ActionsNeedAStaffName) {
  const json body = {{"reason", "test"}};
  for (const std::string& staff : {std::string(""), std::string(65, 'a'), std::string("ta\tnaka"),
                                   std::string("\xE7\x94\xB0\xE4\xB8\xAD")}) {
    Answer a = post("/admin/api/clients/demo-app/disable", body, staff);
    EXPECT_EQ(a.status, 400) << "[" << staff << "] " << a.body.dump();
    EXPECT_EQ(a.code(), "bad_request");
    EXPECT_EQ(a.body["error"].value("field", ""), "X-Renkei-Staff");
  }
  auto tx = ts_.app().store().begin();
  EXPECT_TRUE(tx->find_client("demo-app")->enabled);
  tx.reset();
  // 64 printable characters are fine; reads need no name.
  EXPECT_EQ(post("/admin/api/clients/demo-app/enable", body, std::string(64, 'a')).status, 200);
  EXPECT_EQ(send({"GET", "/admin/api/clients", ""}, auth(kTestAdminToken, "")).status, 200);
}

// ---------- status ----------

TEST_F(AdminApiTest, StatusShowsTheClockAndTheCalendar) {
  Answer a = get("/admin/api/status");
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["now"], format_jst(open_instant()));
  EXPECT_EQ(a.body["now_unix"], open_instant());
  EXPECT_EQ(a.body["open"], true);
  EXPECT_TRUE(a.body["closure"].is_null());
  EXPECT_EQ(a.body["next_open"], format_jst(open_instant()));
  EXPECT_EQ(a.body["dev_mode"], true);
  EXPECT_EQ(a.body["movable_clock"], false);
  EXPECT_TRUE(a.body["clock_offset_seconds"].is_null());
  // 7 days: at least the daily 00:00 and 04:00 closures of each day.
  ASSERT_TRUE(a.body["closures"].is_array());
  EXPECT_GE(a.body["closures"].size(), 14u);
  EXPECT_EQ(a.body["closures"][0]["kind"], "daily_midnight");

  // Inside the daily 04:00 window.
  ts_.clock().set(from_jst({2026, 11, 26}, 4, 2, 0));
  a = get("/admin/api/status");
  EXPECT_EQ(a.body["open"], false);
  EXPECT_EQ(a.body["closure"]["kind"], "daily_early_morning");
  EXPECT_EQ(a.body["next_open"], format_jst(from_jst({2026, 11, 26}, 4, 5, 0)));
}

// ---------- accounts and locks ----------

TEST_F(AdminApiTest, AccountLookupShowsMaskedPhonesLockAndGrants) {
  Answer a = get("/admin/api/accounts?branch=115&type=ordinary&number=1100026");
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["account"]["key"], "115-ordinary-1100026");
  EXPECT_EQ(a.body["account"]["status"], "active");
  EXPECT_EQ(a.body["account"]["cash_card_issued"], true);
  EXPECT_EQ(a.body["account"]["masked_phones"], json::array({"*****3333", "*****5678"}));
  EXPECT_EQ(a.body["lock"]["locked"], false);
  EXPECT_EQ(a.body["lock"]["failures"], 0);
  EXPECT_EQ(a.body["lock"]["limit"], 5);
  EXPECT_TRUE(a.body["grants"].empty());
  const std::string text = a.body.dump();
  EXPECT_EQ(text.find(kPhone), std::string::npos) << "full phone number leaked";
  EXPECT_EQ(text.find("0612345678"), std::string::npos);
  EXPECT_EQ(text.find("pin"), std::string::npos);
  EXPECT_EQ(text.find("1985"), std::string::npos) << "birth date leaked";

  // Normalized like screen ①: full-width digits, a short number padded.
  a = get("/admin/api/accounts?branch=%EF%BC%91%EF%BC%91%EF%BC%95&type=ordinary&number=1100026");
  EXPECT_EQ(a.status, 200) << a.body.dump();
  a = get("/admin/api/accounts?branch=001&type=savings&number=123");
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["account"]["number"], "0000123");

  a = get("/admin/api/accounts?branch=115&type=ordinary&number=7654321");
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(a.code(), "not_found");
  for (const char* bad :
       {"/admin/api/accounts", "/admin/api/accounts?branch=1&type=ordinary&number=1",
        "/admin/api/accounts?branch=115&type=current&number=1",
        "/admin/api/accounts?branch=115&type=ordinary&number=123456789",
        "/admin/api/accounts?branch=115&branch=116&type=ordinary&number=1"}) {
    a = get(bad);
    EXPECT_EQ(a.status, 400) << bad;
    EXPECT_EQ(a.code(), "bad_request") << bad;
  }
}

TEST_F(AdminApiTest, LiftingALockMakesTheAccountUsableAgain) {
  FlowClient wrong(ts_);
  ASSERT_NO_FATAL_FAILURE(wrong.to_customer_entry());
  for (int i = 1; i <= 5; ++i) {
    Answer a = wrong.customer(customer_with("phone", "09099998888"));
    EXPECT_EQ(a.code(), i < 5 ? "auth_mismatch" : "locked_now") << i;
  }
  // The right data is refused while locked (B84).
  FlowClient right(ts_);
  ASSERT_NO_FATAL_FAILURE(right.to_customer_entry());
  EXPECT_EQ(right.customer().code(), "locked");

  Answer a = get("/admin/api/accounts?branch=115&type=ordinary&number=1100026");
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body["lock"]["locked"], true);
  EXPECT_EQ(a.body["lock"]["failures"], 5);
  const std::string midnight = format_jst(from_jst({2026, 11, 26}));
  EXPECT_EQ(a.body["lock"]["lifts_at"], midnight);

  const std::string reason = "本人確認済み（電話受付）";
  a = post("/admin/api/accounts/lock/lift",
           {{"branch", "115"}, {"type", "ordinary"}, {"number", "1100026"}, {"reason", reason}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["before"]["locked"], true);
  EXPECT_EQ(a.body["lock"]["locked"], false);
  EXPECT_EQ(lock_of(ts_, demo_account()), LockState{});
  ASSERT_NO_FATAL_FAILURE(expect_staff_audit("admin.lift_lock", reason));
  EXPECT_EQ(audit_of("admin.lift_lock")[0].account, "115-ordinary-1100026");
  EXPECT_NE(audit_of("admin.lift_lock")[0].detail.find(midnight), std::string::npos);

  Answer ok = right.customer();
  EXPECT_EQ(ok.status, 200) << ok.body.dump();
  EXPECT_EQ(ok.screen(), "phone_confirm");

  a = post("/admin/api/accounts/lock/lift",
           {{"branch", "115"}, {"type", "ordinary"}, {"number", "7654321"}});
  EXPECT_EQ(a.status, 404);
  a = post("/admin/api/accounts/lock/lift",
           {{"branch", 115}, {"type", "ordinary"}, {"number", "1"}});
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body["error"]["field"], "branch");
}

// PUT /admin/api/accounts/pin (issue 14): staff set a PIN one account at a
// time; only its digest is kept, the PIN is in no answer and no log row.
TEST_F(AdminApiTest, StaffSetAPinWhichIsKeptOnlyAsItsDigest) {
  auto put = [&](const json& body) {
    return send({"PUT", "/admin/api/accounts/pin", body.dump()}, auth());
  };
  Answer a = put({{"branch", "115"}, {"type", "ordinary"}, {"number", "1100026"},
                  {"pin", "８６４２"}, {"reason", "窓口で再設定"}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["replaced"], true);
  EXPECT_EQ(a.body.dump().find("8642"), std::string::npos);
  ASSERT_NO_FATAL_FAILURE(expect_staff_audit("admin.set_pin", "PIN replaced"));
  for (const AuditRecord& r : all_audit(ts_)) {
    EXPECT_EQ(r.detail.find("8642"), std::string::npos) << r.detail;
  }
  {
    auto tx = ts_.app().store().begin();
    auto account = tx->find_account(demo_account());
    ASSERT_TRUE(account);
    EXPECT_EQ(account->pin_digest.size(), 64u);
    EXPECT_EQ(account->pin_digest.find("8642"), std::string::npos);
  }
  // The customer's ⑤ now takes the new PIN (normalized from full width) and not the old one.
  FlowClient fc(ts_);
  ASSERT_NO_FATAL_FAILURE(fc.to_pin_entry());
  EXPECT_EQ(fc.pin("1234").code(), "auth_mismatch");
  EXPECT_EQ(fc.pin("8642").screen(), "consent");

  a = put({{"branch", "115"}, {"type", "ordinary"}, {"number", "1100026"}, {"pin", "12a4"}});
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body["error"]["field"], "pin");
  a = put({{"branch", "115"}, {"type", "ordinary"}, {"number", "1100026"}, {"pin", 1234}});
  EXPECT_EQ(a.status, 400);
  a = put({{"branch", "115"}, {"type", "ordinary"}, {"number", "7654321"}, {"pin", "1234"}});
  EXPECT_EQ(a.status, 404);
  a = send({"PUT", "/admin/api/accounts/pin",
            R"({"branch":"115","type":"ordinary","number":"1100026","pin":"1234"})"},
           auth(kTestAdminToken, ""));
  EXPECT_EQ(a.status, 400);  // an action needs the staff member's name
}

// ---------- grants ----------

TEST_F(AdminApiTest, RevokingAGrantEndsTheAppsAccess) {
  Tokens tokens = demo_tokens(ts_);
  ASSERT_FALSE(tokens.access.empty());
  httplib::Client http = ts_.client();
  auto r = api_get(http, "/api/v1/account", tokens.access);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;

  Answer a = get("/admin/api/grants?branch=115&type=ordinary&number=1100026");
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_EQ(a.body["grants"].size(), 1u);
  const json grant = a.body["grants"][0];
  EXPECT_EQ(grant["status"], "active");
  EXPECT_EQ(grant["client_id"], "demo-app");
  EXPECT_EQ(grant["client_name"], "デモ家計簿アプリ");
  EXPECT_EQ(grant["expires_at"], format_jst(open_instant() + 30 * kSecondsPerDay));
  const std::string id = grant["id"];
  // The account view shows the same grant.
  EXPECT_EQ(
      get("/admin/api/accounts?branch=115&type=ordinary&number=1100026").body["grants"][0]["id"],
      id);

  ts_.clock().advance(60);
  a = post("/admin/api/grants/" + id + "/revoke", {{"reason", "customer called"}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["grant"]["status"], "revoked");
  EXPECT_EQ(a.body["grant"]["revoked_by"], std::string("staff:") + kStaff);
  EXPECT_EQ(a.body["grant"]["revoked_at"], format_jst(ts_.clock().now()));
  ASSERT_NO_FATAL_FAILURE(expect_staff_audit("admin.revoke_grant", "customer called"));
  EXPECT_EQ(audit_of("admin.revoke_grant")[0].client_id, "demo-app");
  EXPECT_EQ(audit_of("admin.revoke_grant")[0].account, "115-ordinary-1100026");

  r = api_get(http, "/api/v1/account", tokens.access);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401) << r->body;
  r = refresh_tokens(http, tokens.refresh);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;

  // Again: the first revocation stands.
  a = post("/admin/api/grants/" + id + "/revoke", json::object(), "suzuki");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body["grant"]["revoked_by"], std::string("staff:") + kStaff);

  EXPECT_EQ(post("/admin/api/grants/no-such-grant/revoke").status, 404);
  EXPECT_EQ(post("/admin/api/grants/%01x/revoke").status, 400);
  EXPECT_EQ(post("/admin/api/grants/" + std::string(200, 'a') + "/revoke").status, 400);
}

// ---------- clients ----------

TEST_F(AdminApiTest, ADisabledClientIsRefusedAtAuthorizeAndTheApi) {
  Tokens tokens = demo_tokens(ts_);
  Answer a = get("/admin/api/clients");
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(a.body["clients"].size(), 2u);
  EXPECT_EQ(a.body["clients"][0]["id"], "conf-app");
  EXPECT_EQ(a.body["clients"][0]["confidential"], true);
  EXPECT_EQ(a.body["clients"][1]["id"], "demo-app");
  EXPECT_EQ(a.body["clients"][1]["enabled"], true);
  EXPECT_EQ(a.body["clients"][1]["redirect_uris"], json::array({kDemoRedirect}));
  EXPECT_EQ(a.body.dump().find("secret_digest"), std::string::npos);

  a = post("/admin/api/clients/demo-app/disable", {{"reason", "app compromised"}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["client"]["enabled"], false);
  ASSERT_NO_FATAL_FAILURE(expect_staff_audit("admin.disable_client", "app compromised"));
  EXPECT_EQ(audit_of("admin.disable_client")[0].client_id, "demo-app");

  httplib::Client http = ts_.client();
  AuthorizeRequest req;
  req.challenge = make_pkce().challenge;
  auto r = http.Get(authorize_path(req).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(r->get_header_value("Location"), "/flow/?error=service_unavailable");
  r = api_get(http, "/api/v1/account", tokens.access);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_EQ(json_of(r)["error"]["code"], "service_unavailable");

  a = post("/admin/api/clients/demo-app/enable");
  ASSERT_EQ(a.status, 200);
  ASSERT_NO_FATAL_FAILURE(expect_staff_audit("admin.enable_client"));
  r = http.Get(authorize_path(req).c_str());
  ASSERT_TRUE(r);
  expect_flow_page(*r);
  r = api_get(http, "/api/v1/account", tokens.access);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // The redirect URIs survive the switch.
  auto tx = ts_.app().store().begin();
  EXPECT_EQ(tx->find_client("demo-app")->redirect_uris, std::vector<std::string>{kDemoRedirect});
  tx.reset();

  EXPECT_EQ(post("/admin/api/clients/nobody/disable").status, 404);
}

// Clients registered and changed at runtime (issue 13): in the store, so
// usable at once; every change in the operation log; a secret shown once.
TEST_F(AdminApiTest, ClientsAreRegisteredAndChangedAtRuntime) {
  const json ec_key = {{"kty", "EC"},
                       {"crv", "P-256"},
                       {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
                       {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
                       {"kid", "k1"}};
  const json jwks = {{"keys", json::array({ec_key})}};
  Answer a = post("/admin/api/clients", {{"id", "fapi-bank"},
                                         {"display_name", "FAPI銀行アプリ"},
                                         {"redirect_uris", {"https://bank.example/cb"}},
                                         {"profile", "fapi2"},
                                         {"jwks", jwks},
                                         {"reason", "contract 42"}});
  ASSERT_EQ(a.status, 201) << a.body.dump();
  EXPECT_EQ(a.body["client"]["profile"], "fapi2");
  EXPECT_EQ(a.body["client"]["jwks"]["keys"].size(), 1u);
  EXPECT_FALSE(a.body.contains("client_secret"));
  ASSERT_NO_FATAL_FAILURE(expect_staff_audit("admin.register_client", "contract 42"));
  {
    auto tx = ts_.app().store().begin();
    auto c = tx->find_client("fapi-bank");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->profile, "fapi2");
    EXPECT_TRUE(c->secret_digest.empty());
  }
  // Usable at once: /authorize knows it (and wants a pushed request).
  httplib::Client http = ts_.client();
  auto r = http.Get("/authorize?client_id=fapi-bank");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);

  // A plain confidential client: its secret is returned once, stored as a digest.
  a = post("/admin/api/clients", {{"id", "plain-conf"},
                                  {"display_name", "Plain"},
                                  {"redirect_uris", {"https://plain.example/cb"}},
                                  {"confidential", true}});
  ASSERT_EQ(a.status, 201) << a.body.dump();
  const std::string secret = a.body.value("client_secret", "");
  ASSERT_GE(secret.size(), 43u);
  {
    auto tx = ts_.app().store().begin();
    EXPECT_EQ(tx->find_client("plain-conf")->secret_digest, secret_digest(secret));
  }
  EXPECT_EQ(get("/admin/api/clients").body.dump().find(secret), std::string::npos);

  // Changes: redirect URIs and keys, each on the record.
  a = post("/admin/api/clients/fapi-bank/update",
           {{"redirect_uris", {"https://bank.example/cb2"}}, {"reason", "new app version"}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["client"]["redirect_uris"], json::array({"https://bank.example/cb2"}));
  ASSERT_NO_FATAL_FAILURE(expect_staff_audit("admin.update_client", "redirect_uris"));
  EXPECT_EQ(post("/admin/api/clients/fapi-bank/update", {{"jwks", nullptr}}).code(), "bad_request");

  // Refused: bad ids, duplicates, private or symmetric keys, FAPI without keys,
  // non-https redirect URIs, renaming a client the file lists.
  const std::vector<json> bad = {
      {{"id", "has space"}, {"display_name", "x"}, {"redirect_uris", {"https://x/cb"}}},
      {{"id", "fapi-bank"}, {"display_name", "x"}, {"redirect_uris", {"https://x/cb"}}},
      {{"id", "demo-app"}, {"display_name", "x"}, {"redirect_uris", {"https://x/cb"}}},
      {{"id", "x1"}, {"display_name", "x"}, {"redirect_uris", {"http://x.example/cb"}}},
      {{"id", "x2"}, {"display_name", "x"}, {"redirect_uris", {"https://x/cb#f"}}},
      {{"id", "x3"}, {"display_name", "x"}, {"redirect_uris", {"https://x/cb"}},
       {"profile", "fapi2"}},
      {{"id", "x4"}, {"display_name", "x"}, {"redirect_uris", {"https://x/cb"}},
       {"profile", "fapi2"}, {"jwks", {{"keys", {{{"kty", "oct"}, {"k", "c2VjcmV0"}}}}}}},
      {{"id", "x5"}, {"display_name", "x"}, {"redirect_uris", {"https://x/cb"}},
       {"profile", "other"}},
  };
  for (const json& b : bad) {
    a = post("/admin/api/clients", b);
    EXPECT_EQ(a.status, 400) << b.dump() << " " << a.body.dump();
  }
  EXPECT_EQ(post("/admin/api/clients/demo-app/update",
                 {{"redirect_uris", {"https://evil.example/cb"}}}).status, 400);
  EXPECT_EQ(post("/admin/api/clients/nobody/update", {{"jwks", jwks}}).status, 404);
  EXPECT_EQ(audit_of("admin.register_client").size(), 2u);
}

// Redirect URIs follow the configuration's rule (ops/uri.h): parsed, not
// prefix-matched. The hostile-input sweep registered each refused one below
// (201), and /authorize then redirected to evil.example over plain http.
TEST_F(AdminApiTest, RedirectUrisAreParsedAsTheConfigurationsAre) {
  const std::vector<std::string> refused = {"http://127.0.0.1@evil.example/cb",
                                            "http://localhost.evil.example/cb",
                                            "http://localhostevil.example/cb",
                                            "http://127.0.0.1.evil.example/cb",
                                            "http://[::1].evil.example/cb",
                                            "https://[::1/cb",
                                            "https://[zz]/cb",
                                            "https://a.example:99999/cb",
                                            "https://a.example:-1/cb",
                                            "https://a.example:/cb",
                                            "https://%00/cb",
                                            "https://user:pw@a.example/cb",
                                            "https://a..example/cb",
                                            "https://user@a.example/cb",
                                            "http://evil.example/cb"};
  ASSERT_EQ(
      post("/admin/api/clients",
           {{"id", "rt-app"}, {"display_name", "x"}, {"redirect_uris", {"https://rt.example/cb"}}})
          .status,
      201);
  int n = 0;
  for (const std::string& uri : refused) {
    const std::string id = "evil" + std::to_string(++n);
    Answer a =
        post("/admin/api/clients", {{"id", id}, {"display_name", "x"}, {"redirect_uris", {uri}}});
    EXPECT_EQ(a.status, 400) << uri << " " << a.body.dump();
    EXPECT_EQ(a.body["error"]["field"], "redirect_uris") << uri;
    a = post("/admin/api/clients/rt-app/update", {{"redirect_uris", {uri}}});
    EXPECT_EQ(a.status, 400) << uri << " " << a.body.dump();
    EXPECT_EQ(a.body["error"]["field"], "redirect_uris") << uri;
  }
  {
    auto tx = ts_.app().store().begin();
    for (int i = 1; i <= n; ++i) EXPECT_FALSE(tx->find_client("evil" + std::to_string(i)));
    EXPECT_EQ(tx->find_client("rt-app")->redirect_uris,
              std::vector<std::string>{"https://rt.example/cb"});
  }
  // Still accepted: https anywhere, http on a true loopback host (native apps).
  const std::vector<std::string> accepted = {
      "https://rp.example/cb", "https://rp.example:8443/cb?x=1", "http://127.0.0.1:8080/cb",
      "http://localhost/cb",   "http://[::1]:3000/cb",           "https://[2001:db8::1]/cb"};
  n = 0;
  for (const std::string& uri : accepted) {
    const std::string id = "good" + std::to_string(++n);
    Answer a =
        post("/admin/api/clients", {{"id", id}, {"display_name", "x"}, {"redirect_uris", {uri}}});
    EXPECT_EQ(a.status, 201) << uri << " " << a.body.dump();
  }
}

// A JWK Set whose key has a member of the wrong JSON type is the request's
// error (400 naming jwks), never a 500; a key's alg of the wrong type is not
// stored.
TEST_F(AdminApiTest, AJwkSetWithAMemberOfTheWrongTypeIsABadRequestNamingJwks) {
  const json ec_key = {{"kty", "EC"},
                       {"crv", "P-256"},
                       {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
                       {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}};
  std::vector<json> keys = {json{{"kty", 1}}};
  for (const char* member : {"kty", "crv", "alg", "use", "kid", "x", "key_ops", "x5c"}) {
    for (const json& bad : {json(1), json::array({1}), json::object()}) {
      json k = ec_key;
      k[member] = bad;
      keys.push_back(k);
    }
  }
  int n = 0;
  for (const json& k : keys) {
    const json jwks = {{"keys", json::array({k})}};
    Answer a = post("/admin/api/clients", {{"id", "k" + std::to_string(++n)},
                                           {"display_name", "x"},
                                           {"redirect_uris", {"https://rp.example/cb"}},
                                           {"profile", "fapi2"},
                                           {"jwks", jwks}});
    EXPECT_EQ(a.status, 400) << k.dump() << " " << a.body.dump();
    EXPECT_EQ(a.code(), "bad_request") << k.dump();
    EXPECT_EQ(a.body["error"].value("detail", "").rfind("jwks: ", 0), 0u) << a.body.dump();
    a = post("/admin/api/clients/demo-app/update", {{"jwks", jwks}});
    EXPECT_EQ(a.status, 400) << k.dump() << " " << a.body.dump();
    EXPECT_EQ(a.body["error"].value("detail", "").rfind("jwks: ", 0), 0u) << a.body.dump();
  }
  auto tx = ts_.app().store().begin();
  EXPECT_TRUE(tx->find_client("demo-app")->jwks.empty());
  EXPECT_FALSE(tx->find_client("k1"));
}

// ---------- calendar ----------

TEST_F(AdminApiTest, AnAnnouncedWindowClosesTheServiceUntilRemoved) {
  FlowClient flow(ts_);
  const UnixSeconds now = ts_.clock().now();
  Answer a = post("/admin/api/calendar/windows", {{"start", format_jst(now - 60)},
                                                  {"end", format_jst(now + 3600)},
                                                  {"label", "緊急メンテナンス"},
                                                  {"reason", "DB maintenance"}});
  ASSERT_EQ(a.status, 201) << a.body.dump();
  const std::int64_t id = a.body["window"]["id"];
  EXPECT_EQ(a.body["window"]["source"], "announced");
  ASSERT_NO_FATAL_FAILURE(expect_staff_audit("admin.add_window", "DB maintenance"));

  Answer step = flow.account();
  EXPECT_EQ(step.status, 503) << step.body.dump();
  EXPECT_EQ(step.code(), "out_of_hours");
  Answer s = get("/admin/api/status");
  EXPECT_EQ(s.body["open"], false);
  EXPECT_EQ(s.body["closure"]["kind"], "announced");
  EXPECT_EQ(s.body["closure"]["label"], "緊急メンテナンス");

  a = get("/admin/api/calendar/windows");
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(a.body["windows"].size(), 1u);
  EXPECT_EQ(a.body["windows"][0]["id"], id);
  EXPECT_EQ(a.body["windows"][0]["start"], format_jst(now - 60));

  a = del("/admin/api/calendar/windows/" + std::to_string(id));
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_NO_FATAL_FAILURE(expect_staff_audit("admin.remove_window"));
  step = flow.account();
  EXPECT_EQ(step.status, 200) << step.body.dump();
  EXPECT_TRUE(get("/admin/api/calendar/windows").body["windows"].empty());

  EXPECT_EQ(del("/admin/api/calendar/windows/" + std::to_string(id)).status, 404);
  EXPECT_EQ(del("/admin/api/calendar/windows/abc").status, 400);
  EXPECT_EQ(del("/admin/api/calendar/windows/-1").status, 400);
  EXPECT_EQ(del("/admin/api/calendar/windows/0").status, 400);
  EXPECT_EQ(del("/admin/api/calendar/windows/99999999999999999999999").status, 400);
}

TEST_F(AdminApiTest, WindowsAreValidated) {
  const UnixSeconds now = ts_.clock().now();
  const std::string s = format_jst(now + 60), e = format_jst(now + 3600);
  const std::vector<std::pair<json, std::string>> bad = {
      {{{"end", e}}, "start"},
      {{{"start", s}}, "end"},
      {{{"start", e}, {"end", s}}, "end"},  // end before start
      {{{"start", s}, {"end", s}}, "end"},  // empty
      {{{"start", "tomorrow"}, {"end", e}}, "start"},
      {{{"start", "2026-11-25 10:00"}, {"end", e}}, "start"},
      {{{"start", now + 60}, {"end", e}}, "start"},  // not a string
      {{{"start", format_jst(now - 7200)}, {"end", format_jst(now - 3600)}}, "end"},  // past
      {{{"start", s}, {"end", format_jst(now + 400 * kSecondsPerDay)}}, "end"},       // too long
      {{{"start", "1900-01-01T00:00:00Z"}, {"end", e}}, "start"},
      {{{"start", s}, {"end", e}, {"label", 5}}, "label"},
      {{{"start", s}, {"end", e}, {"label", std::string(300, 'a')}}, "label"},
      {{{"start", s}, {"end", e}, {"label", "a\nb"}}, "label"},
      {{{"start", s}, {"end", e}, {"reason", json::array()}}, "reason"},
  };
  for (const auto& [body, field] : bad) {
    Answer a = post("/admin/api/calendar/windows", body);
    EXPECT_EQ(a.status, 400) << body.dump() << " " << a.body.dump();
    EXPECT_EQ(a.body["error"].value("field", ""), field) << body.dump();
  }
  EXPECT_TRUE(get("/admin/api/calendar/windows").body["windows"].empty());
  EXPECT_TRUE(audit_of("admin.add_window").empty());
}

// ---------- outbox ----------

TEST_F(AdminApiTest, RetryingAMailMakesItDueNowAndWakesTheWorker) {
  std::atomic<int> wakes{0};
  ts_.app().on_mail_enqueued = [&wakes] { wakes.fetch_add(1); };
  std::int64_t failed_id = 0, sent_id = 0;
  {
    auto tx = ts_.app().store().begin();
    MailRecord m;
    m.to = "satoru@example.jp";
    m.subject = "【ミレ信用組合】API連携認証のお知らせ";
    m.body = "ﾃﾞｰﾀ ｻﾄﾙ 様";
    m.flow_id = "flow-1";
    m.created_at = ts_.clock().now() - 7200;
    m.next_attempt_at = ts_.clock().now() - 3600;
    m.attempts = 10;
    m.state = MailState::failed;
    m.last_error = "connection refused";
    failed_id = tx->enqueue_mail(m);
    m.state = MailState::sent;
    m.sent_at = ts_.clock().now() - 100;
    sent_id = tx->enqueue_mail(m);
    ASSERT_TRUE(tx->commit());
  }
  Answer a = get("/admin/api/outbox");
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_EQ(a.body["mails"].size(), 2u);
  EXPECT_EQ(a.body["mails"][1]["id"], failed_id);
  EXPECT_EQ(a.body["mails"][1]["state"], "failed");
  EXPECT_EQ(a.body["mails"][1]["to"], "s*****@example.jp");
  EXPECT_EQ(a.body.dump().find("satoru@"), std::string::npos);
  EXPECT_EQ(a.body.dump().find("ﾃﾞｰﾀ"), std::string::npos) << "the body is not listed";
  EXPECT_EQ(get("/admin/api/outbox?limit=1").body["mails"].size(), 1u);

  a = post("/admin/api/outbox/" + std::to_string(failed_id) + "/retry", {{"reason", "SMTP fixed"}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["mail"]["state"], "pending");
  EXPECT_EQ(a.body["mail"]["next_attempt_at"], format_jst(ts_.clock().now()));
  EXPECT_EQ(wakes.load(), 1);
  {
    auto tx = ts_.app().store().begin();
    std::vector<MailRecord> due = tx->due_mails(ts_.clock().now(), 10);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].id, failed_id);
  }
  ASSERT_NO_FATAL_FAILURE(expect_staff_audit("admin.retry_mail", "SMTP fixed"));
  EXPECT_EQ(audit_of("admin.retry_mail")[0].flow_id, "flow-1");

  a = post("/admin/api/outbox/" + std::to_string(sent_id) + "/retry");
  EXPECT_EQ(a.status, 409) << a.body.dump();
  EXPECT_EQ(a.body["error"]["detail"], "mail_already_sent");
  EXPECT_EQ(post("/admin/api/outbox/424242/retry").status, 404);
  EXPECT_EQ(post("/admin/api/outbox/x1/retry").status, 400);
  EXPECT_EQ(wakes.load(), 1);
  ts_.app().on_mail_enqueued = nullptr;
}

// ---------- operation log ----------

TEST_F(AdminApiTest, TheOperationLogIsSearchableAndPaged) {
  FlowClient one(ts_);
  ASSERT_NO_FATAL_FAILURE(one.to_customer_entry());
  EXPECT_EQ(one.customer(customer_with("phone", "09099998888")).code(), "auth_mismatch");
  FlowClient two(ts_);
  ASSERT_NO_FATAL_FAILURE(two.to_customer_entry());

  Answer a = get("/admin/api/audit?flow=" + one.flow_id());
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_EQ(a.body["records"].size(), 2u);
  EXPECT_EQ(a.body["records"][0]["step"], "submit_customer");  // newest first
  EXPECT_EQ(a.body["records"][0]["outcome"], "auth_mismatch");
  EXPECT_EQ(a.body["records"][0]["name_kana"], "ﾃﾞｰﾀ ｻﾄﾙ");
  EXPECT_EQ(a.body["records"][0]["masked_phone"], "*****8888");
  EXPECT_EQ(a.body["records"][0]["at"], format_jst(ts_.clock().now()));
  EXPECT_TRUE(a.body["next_before"].is_null());
  EXPECT_EQ(a.body.dump().find("09099998888"), std::string::npos);

  a = get("/admin/api/audit?outcome=auth_mismatch");
  EXPECT_EQ(a.body["records"].size(), 1u);
  a = get("/admin/api/audit?account=115-ordinary-1100026&limit=1");
  ASSERT_EQ(a.body["records"].size(), 1u);
  const std::int64_t next = a.body["next_before"];
  EXPECT_EQ(next, a.body["records"][0]["id"]);
  a = get("/admin/api/audit?account=115-ordinary-1100026&limit=1000&before=" +
          std::to_string(next));
  EXPECT_EQ(a.body["records"].size(), 2u);
  const std::string now = format_jst(ts_.clock().now());
  a = get("/admin/api/audit?from=" + url_encode(format_jst(ts_.clock().now() + 1)));
  EXPECT_TRUE(a.body["records"].empty());
  a = get("/admin/api/audit?from=" + url_encode(now) + "&to=" + url_encode(now));
  EXPECT_EQ(a.body["records"].size(), 3u);

  for (const char* bad :
       {"limit=100000", "limit=0", "limit=-5", "limit=abc", "limit=1001", "before=-1", "before=x",
        "from=yesterday", "to=2026-11-25", "from=2026-11-26T00:00:00Z&to=2026-11-25T00:00:00Z",
        "limit=1&limit=2", "flow=%01"}) {
    Answer b = get(std::string("/admin/api/audit?") + bad);
    EXPECT_EQ(b.status, 400) << bad << " " << b.body.dump();
    EXPECT_EQ(b.code(), "bad_request") << bad;
  }
}

// ---------- funnel ----------

TEST_F(AdminApiTest, TheFunnelCountsScreensOutcomesAndWhereFlowsStopped) {
  // Through /authorize: started.
  httplib::Client http = ts_.client();
  AuthorizeRequest req;
  req.challenge = make_pkce().challenge;
  ASSERT_EQ(http.Get(authorize_path(req).c_str())->status, 200);
  // Completed.
  FlowClient done(ts_);
  ASSERT_NO_FATAL_FAILURE(done.to_consent());
  ASSERT_EQ(done.post("/api/flow/consent", {{"consent", true}}).status, 200);
  // A mismatch on ②, then 中止する.
  FlowClient gave_up(ts_);
  ASSERT_NO_FATAL_FAILURE(gave_up.to_customer_entry());
  EXPECT_EQ(gave_up.customer(customer_with("phone", "09099998888")).code(), "auth_mismatch");
  ASSERT_EQ(gave_up.post("/api/flow/cancel").status, 200);
  // Stuck on ④: confirmed before the call came.
  FlowClient waiting(ts_);
  ASSERT_NO_FATAL_FAILURE(waiting.to_call_wait());
  EXPECT_EQ(waiting.post("/api/flow/call/confirm").code(), "call_pending");
  // A staff action on a flow is not a customer's step.
  ASSERT_EQ(post("/admin/api/dev/calls", {{"flow_id", waiting.flow_id()}}).status, 200);

  ts_.clock().advance(10);
  Answer a = get("/admin/api/funnel");
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["started"], 1);
  EXPECT_EQ(a.body["flows"], 4);
  EXPECT_EQ(a.body["completed"], 1);
  EXPECT_EQ(a.body["cancelled"], 1);
  EXPECT_EQ(a.body["truncated"], false);
  const json& s = a.body["screens"];
  ASSERT_EQ(s.size(), 6u);
  EXPECT_EQ(s[0]["screen"], "account_entry");
  EXPECT_EQ(s[0]["screen_id"], "SOA201");
  // ① authorize-only flow counts as reached ①; the rest went further.
  EXPECT_EQ(s[0]["reached"], 4);
  EXPECT_EQ(s[0]["left"], 1);
  EXPECT_EQ(s[0]["stopped_by"]["none"], 1);
  EXPECT_EQ(s[1]["reached"], 3);
  EXPECT_EQ(s[1]["errors"]["auth_mismatch"], 1);
  EXPECT_EQ(s[1]["left"], 1);
  EXPECT_EQ(s[1]["stopped_by"]["cancelled"], 1);
  EXPECT_EQ(s[3]["reached"], 2);
  EXPECT_EQ(s[3]["errors"]["call_pending"], 1);
  EXPECT_EQ(s[3]["left"], 1);
  EXPECT_EQ(s[5]["reached"], 1);
  EXPECT_EQ(s[5]["left"], 0);

  // A period before any of it.
  a = get("/admin/api/funnel?from=" + url_encode(format_jst(open_instant() - 7200)) +
          "&to=" + url_encode(format_jst(open_instant() - 3600)));
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body["flows"], 0);
  EXPECT_EQ(a.body["started"], 0);

  for (const char* bad : {"from=x", "to=x", "from=2026-11-26T00:00:00Z&to=2026-11-25T00:00:00Z",
                          "from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z"}) {
    Answer b = get(std::string("/admin/api/funnel?") + bad);
    EXPECT_EQ(b.status, 400) << bad;
  }
}

TEST_F(AdminApiTest, TheFunnelSaysWhyFlowsThatLeftForTheAppStopped) {
  // Out of hours at /authorize: the flow starts so that the customer can leave.
  const UnixSeconds open = ts_.clock().now();
  ts_.clock().set(from_jst(jst_date(open), 4, 2, 0));
  AuthorizeRequest req;
  req.challenge = make_pkce().challenge;
  FlowBrowser closed(ts_);
  ASSERT_TRUE(closed.authorize(authorize_path(req)));
  closed.get_flow();
  ASSERT_EQ(closed.post("/api/flow/leave", {{"reason", "out_of_hours"}}).first, 200);
  ts_.clock().set(open);
  // Busy on the page, then 連携元画面へ without a refusal in the log.
  FlowClient busy(ts_);
  ASSERT_EQ(busy.post("/api/flow/leave", {{"reason", "busy"}}).status, 200);

  ts_.clock().advance(10);
  Answer a = get("/admin/api/funnel?from=" + url_encode(format_jst(open - 86400)));
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["started"], 0);
  EXPECT_EQ(a.body["authorize_refused"]["out_of_hours"], 1);
  EXPECT_EQ(a.body["flows"], 2);
  const json& s = a.body["screens"];
  EXPECT_EQ(s[0]["left"], 2);
  EXPECT_EQ(s[0]["stopped_by"]["out_of_hours"], 1) << s[0].dump();
  EXPECT_EQ(s[0]["stopped_by"]["left"], 1) << s[0].dump();
}

// ---------- development mode ----------

TEST_F(AdminApiTest, ASimulatedCallVerifiesAWaitingFlow) {
  FlowClient flow(ts_);
  ASSERT_NO_FATAL_FAILURE(flow.to_call_wait());
  Answer a = post("/admin/api/dev/calls", {{"flow_id", flow.flow_id()}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["matched"], true);
  EXPECT_EQ(a.body["outcome"], "ok");
  EXPECT_EQ(a.body["flow"]["screen"], "call_wait");
  Answer c = flow.post("/api/flow/call/confirm");
  EXPECT_EQ(c.status, 200) << c.body.dump();
  EXPECT_EQ(c.screen(), "pin_entry");

  ASSERT_NO_FATAL_FAILURE(expect_staff_audit("admin.simulate_call"));
  EXPECT_EQ(audit_of("admin.simulate_call")[0].flow_id, flow.flow_id());
  std::vector<AuditRecord> calls = audit_of("incoming_call");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].actor, "telephony");
  EXPECT_EQ(calls[0].flow_id, flow.flow_id());
  EXPECT_NE(calls[0].detail.find("simulated by staff:tanaka"), std::string::npos)
      << calls[0].detail;

  // Not waiting any more, unknown, malformed.
  a = post("/admin/api/dev/calls", {{"flow_id", flow.flow_id()}});
  EXPECT_EQ(a.status, 409);
  EXPECT_EQ(a.code(), "invalid_step");
  EXPECT_EQ(post("/admin/api/dev/calls", {{"flow_id", "no-such-flow"}}).status, 404);
  EXPECT_EQ(post("/admin/api/dev/calls", json::object()).status, 400);
  EXPECT_EQ(post("/admin/api/dev/calls", {{"flow_id", 7}}).status, 400);
}

// The reason of a development action is checked as every other action's
// (400 field reason) before anything happens, and lands in the operation log.
TEST_F(AdminApiTest, ASimulatedCallsReasonIsCheckedAndLogged) {
  FlowClient flow(ts_);
  ASSERT_NO_FATAL_FAILURE(flow.to_call_wait());
  for (const json& bad :
       {json(1), json::object(), json(std::string(600, 'x')), json("a\u0001b"), json("a\u0085b")}) {
    Answer a = post("/admin/api/dev/calls", {{"flow_id", flow.flow_id()}, {"reason", bad}});
    EXPECT_EQ(a.status, 400) << bad.dump() << " " << a.body.dump();
    EXPECT_EQ(a.body["error"]["field"], "reason") << bad.dump();
  }
  EXPECT_TRUE(audit_of("admin.simulate_call").empty());
  EXPECT_TRUE(audit_of("incoming_call").empty()) << "no call was placed";
  Answer a = post("/admin/api/dev/calls", {{"flow_id", flow.flow_id()}, {"reason", "試験"}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_NO_FATAL_FAILURE(expect_staff_audit("admin.simulate_call", "reason: 試験"));
}

TEST_F(AdminApiTest, TheClockCannotMoveWithoutAMovableClock) {
  Answer a = post("/admin/api/dev/clock", {{"advance_seconds", 3600}});
  EXPECT_EQ(a.status, 409) << a.body.dump();
  EXPECT_EQ(a.code(), "invalid_step");
  EXPECT_EQ(a.body["error"]["detail"], "clock_not_movable");
  EXPECT_EQ(ts_.clock().now(), open_instant());
  EXPECT_TRUE(audit_of("admin.advance_clock").empty());
}

// A server whose clock is a MovableClock (dev mode with movable_clock).
class MovableServer {
 public:
  MovableServer() : ts_(TestServer::with_movable_clock()) {}
  App& app() { return ts_->app(); }
  MovableClock& clock() { return ts_->movable_clock(); }
  Answer post(const json& body) {
    httplib::Client c = ts_->client();
    return to_answer(c.Post(
        "/admin/api/dev/clock",
        {{"Authorization", std::string("Bearer ") + kTestAdminToken}, {"X-Renkei-Staff", kStaff}},
        body.dump(), "application/json"));
  }

 private:
  std::unique_ptr<TestServer> ts_;
};

TEST(AdminApiMovableClock, SetAndAdvanceMoveTheServersNow) {
  MovableServer ms;
  const UnixSeconds target = from_jst({2026, 11, 26}, 4, 1, 0);  // in the 04:00 window
  Answer a = ms.post({{"set", format_jst(target)}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["movable_clock"], true);
  EXPECT_LE(std::llabs(a.body["now_unix"].get<std::int64_t>() - target), 2);
  EXPECT_EQ(a.body["open"], false);
  EXPECT_LE(std::llabs(ms.app().now() - target), 2);

  a = ms.post({{"advance_seconds", 3600}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_LE(std::llabs(ms.app().now() - (target + 3600)), 3);
  EXPECT_EQ(a.body["open"], true);
  EXPECT_EQ(a.body["clock_offset_seconds"], ms.clock().offset());

  for (const json& bad : std::vector<json>{json::object(),
                                           {{"set", format_jst(target)}, {"advance_seconds", 1}},
                                           {{"set", "soon"}},
                                           {{"set", 12345}},
                                           {{"set", "1999-01-01T00:00:00Z"}},
                                           {{"advance_seconds", "60"}},
                                           {{"advance_seconds", 1.5}},
                                           {{"advance_seconds", 4000000000000LL}}}) {
    Answer b = ms.post(bad);
    EXPECT_EQ(b.status, 400) << bad.dump() << " " << b.body.dump();
  }
  AuditQuery q;
  std::vector<std::string> steps;
  auto tx = ms.app().store().begin();
  for (const AuditRecord& r : tx->query_audit(q)) {
    if (r.actor == std::string("staff:") + kStaff) steps.push_back(r.step);
  }
  EXPECT_EQ(steps, (std::vector<std::string>{"admin.advance_clock", "admin.set_clock"}));
}

TEST(AdminApiMovableClock, TheReasonIsCheckedBeforeTheClockMovesAndLogged) {
  MovableServer ms;
  const std::int64_t offset = ms.clock().offset();
  for (const json& bad :
       {json(1), json::object(), json(std::string(600, 'x')), json("a\u0001b"), json("a\u0085b")}) {
    Answer a = ms.post({{"advance_seconds", 3600}, {"reason", bad}});
    EXPECT_EQ(a.status, 400) << bad.dump() << " " << a.body.dump();
    EXPECT_EQ(a.body["error"]["field"], "reason") << bad.dump();
  }
  EXPECT_EQ(ms.clock().offset(), offset) << "a refused request does not move the clock";
  Answer a = ms.post({{"advance_seconds", 60}, {"reason", "締め処理の確認"}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  AuditQuery q;
  auto tx = ms.app().store().begin();
  std::vector<AuditRecord> rows = tx->query_audit(q);
  auto it = std::find_if(rows.begin(), rows.end(),
                         [](const AuditRecord& r) { return r.step == "admin.advance_clock"; });
  ASSERT_NE(it, rows.end());
  EXPECT_EQ(std::count_if(rows.begin(), rows.end(),
                          [](const AuditRecord& r) { return r.step == "admin.advance_clock"; }),
            1);
  EXPECT_NE(it->detail.find("reason: 締め処理の確認"), std::string::npos) << it->detail;
  EXPECT_NE(it->detail.find("from "), std::string::npos) << it->detail;
}

// ---------- hostile input ----------

TEST_F(AdminApiTest, HostileInputGetsA4xxNeverA500) {
  httplib::Client c = ts_.client();
  const httplib::Headers h = auth();
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"{", "application/json"},
      {"[1,2]", "application/json"},
      {"\"text\"", "application/json"},
      {"{\"reason\":\"\xff\xfe\"}", "application/json"},
      {"reason=x", "application/x-www-form-urlencoded"},
      {std::string(40, '[') + std::string(40, ']'), "application/json"},
      {R"({"reason":"a\u0000b"})", "application/json"},
      {R"({"reason":"a\u0085b"})", "application/json"},
      {"{\"reason\":\"" + std::string(600, 'x') + "\"}", "application/json"},
  };
  const std::vector<std::string> paths = {"/admin/api/clients/demo-app/disable",
                                          "/admin/api/accounts/lock/lift",
                                          "/admin/api/calendar/windows",
                                          "/admin/api/outbox/1/retry",
                                          "/admin/api/grants/g/revoke",
                                          "/admin/api/dev/calls",
                                          "/admin/api/dev/clock"};
  for (const std::string& path : paths) {
    for (const auto& [body, type] : bodies) {
      Answer a = to_answer(c.Post(path.c_str(), h, body, type.c_str()));
      EXPECT_GE(a.status, 400) << path << " " << body.substr(0, 40);
      EXPECT_LT(a.status, 500) << path << " " << body.substr(0, 40) << " " << a.body.dump();
      EXPECT_TRUE(a.body.is_object() && a.body.contains("error")) << path;
    }
  }
  // Unknown paths and methods under the API, with the token.
  for (const char* path : {"/admin/api/nothing", "/admin/api/grants/x", "/admin/api/outbox/1"}) {
    Answer a = to_answer(c.Get(path, h));
    EXPECT_EQ(a.status, 404) << path;
    EXPECT_EQ(a.code(), "not_found") << path;
  }
  // A body over the server's limit.
  Answer big = to_answer(
      c.Post("/admin/api/calendar/windows", h, std::string(100000, ' '), "application/json"));
  EXPECT_GE(big.status, 400);
  EXPECT_LT(big.status, 500);
  auto tx = ts_.app().store().begin();
  EXPECT_TRUE(tx->find_client("demo-app")->enabled);
}

// An exception the admin API catches itself (to answer system_error) leaves
// a log line, as one the server's handler catches does. Provoked by renaming
// the clients table under the running server (a broken database).
TEST(AdminApiUnexpectedFailure, IsAnsweredSystemErrorAndLeavesALogLine) {
  if (test_backend() != "sqlite") GTEST_SKIP() << "renames a table in the SQLite file";
  BrokenDatabaseServer broken;
  httplib::Client c = broken.server().client();
  ASSERT_EQ(broken.break_clients_table(), "");
  ::testing::internal::CaptureStderr();
  const Answer a = to_answer(
      c.Get("/admin/api/clients", {{"Authorization", std::string("Bearer ") + kTestAdminToken}}));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(a.status, 500) << a.body.dump();
  EXPECT_EQ(a.code(), "system_error");
  EXPECT_NE(log.find(R"("event":"exception")"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("path":"/admin/api/clients")"), std::string::npos) << log;
  EXPECT_EQ(log.find(kTestAdminToken), std::string::npos) << log;
}

// ---------- a pooled PostgreSQL connection lost (docs/reliability.md) ----------

// One GET with every store unit's first attempt losing its pooled PostgreSQL
// connection before its first round trip (losing_store.h); `losses` is set to
// the connections lost, each of which must have cost one rerun
// (storage_connection_retries) and nothing else.
Answer get_losing_connections(TestServer& ts, const std::string& path,
                              const httplib::Headers& headers, int* losses) {
  httplib::Client c = ts.client();
  const int lost_before = ts.losing_store().lost();
  const std::uint64_t reruns_before = storage_connection_retries();
  ts.losing_store().lose_first_connections(true);
  Answer a = to_answer(c.Get(path.c_str(), headers));
  ts.losing_store().lose_first_connections(false);
  *losses = ts.losing_store().lost() - lost_before;
  EXPECT_EQ(storage_connection_retries() - reruns_before, static_cast<std::uint64_t>(*losses))
      << path;
  return a;
}

// The admin API's reads answer as they would have (the same body) when the
// pooled connection of their transaction was lost before anything reached
// PostgreSQL: with_transaction runs them again on another connection.
TEST(AdminApiPostgres, ReadsAnswerTheSameWhenTheirFirstConnectionIsLost) {
  if (test_backend() != "postgres") GTEST_SKIP() << "PostgreSQL only (server.suite_postgres.*)";
  auto ts = TestServer::losing_connections();
  (void)demo_tokens(*ts);  // a grant for the account's and the grants' pages, audit rows
  httplib::Client c = ts->client();
  const httplib::Headers h = {{"Authorization", std::string("Bearer ") + kTestAdminToken},
                              {"X-Renkei-Staff", kStaff}};
  for (const std::string path :
       {"/admin/api/accounts?branch=115&type=ordinary&number=1100026",
        "/admin/api/accounts?branch=115&type=ordinary&number=7654321",
        "/admin/api/grants?branch=115&type=ordinary&number=1100026", "/admin/api/clients",
        "/admin/api/audit?limit=5", "/admin/api/funnel", "/admin/api/calendar/windows",
        "/admin/api/outbox"}) {
    SCOPED_TRACE(path);
    const Answer expected = to_answer(c.Get(path.c_str(), h));
    ASSERT_TRUE(expected.status == 200 || expected.code() == "not_found")
        << expected.status << " " << expected.body.dump();
    int losses = 0;
    const Answer a = get_losing_connections(*ts, path, h, &losses);
    EXPECT_EQ(a.status, expected.status) << a.body.dump();
    EXPECT_EQ(a.body, expected.body);
    EXPECT_EQ(losses, 1);  // one transaction, lost once, run again
  }
  // The simulated call's read of the waiting flow, then its own unit.
  FlowClient fc(*ts);
  ASSERT_NO_FATAL_FAILURE(fc.to_call_wait());
  const int lost_before = ts->losing_store().lost();
  ts->losing_store().lose_first_connections(true);
  const Answer call = to_answer(c.Post("/admin/api/dev/calls", h,
                                       json{{"flow_id", fc.flow_id()}}.dump(), "application/json"));
  ts->losing_store().lose_first_connections(false);
  EXPECT_EQ(call.status, 200) << call.body.dump();
  EXPECT_EQ(call.body.value("matched", false), true) << call.body.dump();
  EXPECT_GE(ts->losing_store().lost() - lost_before, 2);
}

// /healthz as well: a pooled connection the server closed meanwhile is not a
// reason to take the instance out of the load balancer.
TEST(AdminApiPostgres, HealthzIsOkWhenItsFirstConnectionIsLost) {
  if (test_backend() != "postgres") GTEST_SKIP() << "PostgreSQL only (server.suite_postgres.*)";
  auto ts = TestServer::losing_connections();
  int losses = 0;
  const Answer a = get_losing_connections(*ts, "/healthz", {}, &losses);
  EXPECT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body, json({{"status", "ok"}}));
  EXPECT_EQ(losses, 1);
}

}  // namespace
}  // namespace renkei::server::testing
