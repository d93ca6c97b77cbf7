// The configuration file and the secrets from the environment.
#include "ops/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "ops/app.h"
#include "ops/clock.h"
#include "ops/crypto.h"
#include "ops/uri.h"
#include "records/records.h"
#include "renkei/time.h"
#include "store/storage.h"

namespace renkei::server {
namespace {

using Env = std::map<std::string, std::string>;

Env prod_env() {
  return {{"RENKEI_PIN_KEY", "pin-key-0123456789abcdef"},
          {"RENKEI_WEBHOOK_SECRET", "webhook-0123456789abcdef"},
          {"RENKEI_ADMIN_TOKEN", "admin-token-0123456789"}};
}

std::optional<ServerConfig> parse(const std::string& text, const Env& env, std::string* error) {
  return parse_config(text, env, error);
}

// Expects a parse error mentioning `fragment`.
void expect_error(const std::string& text, const std::string& fragment,
                  const Env& env = prod_env()) {
  std::string error;
  auto c = parse(text, env, &error);
  EXPECT_FALSE(c.has_value()) << text;
  EXPECT_NE(error.find(fragment), std::string::npos) << "error was: " << error << "\nfor: " << text;
}

TEST(Config, EmptyObjectGivesDefaultsWithSecretsFromEnv) {
  std::string error;
  auto c = parse("{}", prod_env(), &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->host, "127.0.0.1");
  EXPECT_EQ(c->port, 8080);
  EXPECT_EQ(c->issuer, "http://127.0.0.1:8080");
  EXPECT_FALSE(c->dev_mode);
  EXPECT_EQ(c->lockout_limit, 5);
  EXPECT_EQ(c->authorization_days, 30);
  EXPECT_EQ(c->pin_hmac_key, "pin-key-0123456789abcdef");
  EXPECT_EQ(c->webhook_secret, "webhook-0123456789abcdef");
  // Only the digest of the admin token is kept.
  EXPECT_EQ(c->admin_token_digest, sha256_hex("admin-token-0123456789"));
}

// Issue 14: where the records are read.
TEST(Config, RecordsSourceLocalByDefaultOrTheRemoteGateway) {
  std::string error;
  auto local = parse("{}", prod_env(), &error);
  ASSERT_TRUE(local) << error;
  EXPECT_EQ(local->records.source, "local");
  auto remote =
      parse(R"({"dev_mode":true,"records":{"source":"remote","url":"https://gw.example:8443",
      "client_cert":"c.pem","client_key":"c.key","ca":"ca.pem","timeout_ms":1500,"read_retries":2,
      "breaker":{"failure_threshold":3,"open_ms":10000},"pool":{"max_idle":4,"idle_ms":2500}}})",
            prod_env(), &error);
  ASSERT_TRUE(remote) << error;
  EXPECT_EQ(remote->records.source, "remote");
  EXPECT_EQ(remote->records.url, "https://gw.example:8443");
  EXPECT_EQ(remote->records.ca, "ca.pem");
  EXPECT_EQ(remote->records.timeout_ms, 1500);
  EXPECT_EQ(remote->records.read_retries, 2);
  EXPECT_EQ(remote->records.breaker.failure_threshold, 3);
  EXPECT_EQ(remote->records.breaker.open_ms, 10000);
  EXPECT_EQ(remote->records.pool.max_idle, 4);
  EXPECT_EQ(remote->records.pool.idle_ms, 2500);
  EXPECT_EQ(local->records.pool.max_idle, 16);  // the defaults
  EXPECT_EQ(local->records.pool.idle_ms, 3000);
  EXPECT_FALSE(remote->seed_demo_data);  // the records are the gateway's, even in dev_mode

  expect_error(R"({"records":{"source":"ldap"}})", "records.source");
  expect_error(
      R"({"records":{"source":"remote","url":"http://gw","client_cert":"a","client_key":"b","ca":"c"}})",
      "https://");
  expect_error(R"({"records":{"source":"remote","url":"https://gw"}})", "client_cert");
  expect_error(R"({"records":{"timeout_ms":0}})", "records.timeout_ms");
  expect_error(R"({"records":{"breaker":{"failure_threshold":0}}})", "failure_threshold");
  expect_error(R"({"records":{"pool":{"max_idle":-1}}})", "records.pool.max_idle");
  expect_error(R"({"records":{"pool":{"idle_ms":0}}})", "records.pool.idle_ms");
  expect_error(R"({"records":{"pool":{"size":3}}})", "records.pool.size");
  expect_error(R"({"records":{"pool":8}})", "records.pool");
  expect_error(R"({"records":{"pin":"1234"}})", "records.pin");
  expect_error(R"({"records":"remote"})", "records");
}

TEST(Config, ReadsEveryField) {
  const std::string text = R"({
    "host": "0.0.0.0", "port": 9443, "issuer": "https://renkei.example.jp",
    "worker_threads": 4, "max_in_flight": 10, "rate_limit_per_minute": 60,
    "max_body_bytes": 2048, "tls_cert_file": "c.pem", "tls_key_file": "k.pem",
    "database": "/var/lib/renkei/r.db", "seed_demo_data": false,
    "dev_mode": false, "movable_clock": false, "web_root": "/srv/web",
    "profile": {"name": "テスト信用組合", "terms_url": "https://x.example/t",
                "faq_url": "https://x.example/f", "contact_phone": "03-0000-0000",
                "contact_hours": "平日の9時～17時", "copyright": "(c) T"},
    "lockout_limit": 3, "authorization_days": 14, "call_window_seconds": 90,
    "flow_idle_seconds": 600, "code_ttl_seconds": 30, "access_token_seconds": 300,
    "call_pool": ["0120111111", "08001112222"],
    "maintenance": [{"start": "2026-12-01T01:00:00+09:00", "end": "2026-12-01T03:00:00+09:00",
                     "label": "臨時メンテナンス"}],
    "clients": [{"id": "kakeibo", "display_name": "家計簿", "redirect_uris": ["https://k.example/cb"],
                 "secret_env": "KAKEIBO_SECRET", "enabled": false}],
    "mail_transport": "smtp", "maildir": "m", "smtp_url": "smtp://mail.example:25",
    "mail_from": "no-reply@renkei.example.jp", "mail_max_attempts": 4,
    "flow_retention_days": 3, "call_event_retention_days": 10, "audit_retention_days": 400,
    "mail_retention_days": 20,
    "purge_interval_seconds": 600, "metrics_public": true
  })";
  Env env = prod_env();
  env["KAKEIBO_SECRET"] = "kakeibo-secret-0123456789";
  std::string error;
  auto c = parse(text, env, &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->host, "0.0.0.0");
  EXPECT_EQ(c->port, 9443);
  EXPECT_EQ(c->issuer, "https://renkei.example.jp");
  EXPECT_EQ(c->worker_threads, 4);
  EXPECT_EQ(c->max_in_flight, 10);
  EXPECT_EQ(c->rate_limit_per_minute, 60);
  EXPECT_EQ(c->max_body_bytes, 2048u);
  EXPECT_EQ(c->tls_cert_file, "c.pem");
  EXPECT_EQ(c->tls_key_file, "k.pem");
  EXPECT_EQ(c->database, "/var/lib/renkei/r.db");
  EXPECT_FALSE(c->seed_demo_data);
  EXPECT_EQ(c->web_root, "/srv/web");
  EXPECT_EQ(c->profile.name, "テスト信用組合");
  EXPECT_EQ(c->profile.terms_url, "https://x.example/t");
  EXPECT_EQ(c->profile.faq_url, "https://x.example/f");
  EXPECT_EQ(c->profile.contact_phone, "03-0000-0000");
  EXPECT_EQ(c->profile.contact_hours, "平日の9時～17時");
  EXPECT_EQ(c->profile.copyright, "(c) T");
  EXPECT_EQ(c->lockout_limit, 3);
  EXPECT_EQ(c->authorization_days, 14);
  EXPECT_EQ(c->call_window_seconds, 90);
  EXPECT_EQ(c->flow_idle_seconds, 600);
  EXPECT_EQ(c->code_ttl_seconds, 30);
  EXPECT_EQ(c->access_token_seconds, 300);
  EXPECT_EQ(c->call_pool, (std::vector<std::string>{"0120111111", "08001112222"}));
  ASSERT_EQ(c->maintenance.size(), 1u);
  EXPECT_EQ(c->maintenance[0].start, from_jst({2026, 12, 1}, 1, 0, 0));
  EXPECT_EQ(c->maintenance[0].end, from_jst({2026, 12, 1}, 3, 0, 0));
  EXPECT_EQ(c->maintenance[0].label, "臨時メンテナンス");
  ASSERT_EQ(c->clients.size(), 1u);
  EXPECT_EQ(c->clients[0].id, "kakeibo");
  EXPECT_EQ(c->clients[0].display_name, "家計簿");
  EXPECT_EQ(c->clients[0].redirect_uris, (std::vector<std::string>{"https://k.example/cb"}));
  EXPECT_EQ(c->clients[0].secret_env, "KAKEIBO_SECRET");
  EXPECT_FALSE(c->clients[0].enabled);
  EXPECT_EQ(c->client_secrets.at("kakeibo"), "kakeibo-secret-0123456789");
  EXPECT_EQ(c->mail_transport, "smtp");
  EXPECT_EQ(c->smtp_url, "smtp://mail.example:25");
  EXPECT_EQ(c->mail_from, "no-reply@renkei.example.jp");
  EXPECT_EQ(c->mail_max_attempts, 4);
  EXPECT_EQ(c->flow_retention_days, 3);
  EXPECT_EQ(c->call_event_retention_days, 10);
  EXPECT_EQ(c->audit_retention_days, 400);
  EXPECT_EQ(c->mail_retention_days, 20);
  EXPECT_EQ(c->purge_interval_seconds, 600);
  EXPECT_TRUE(c->metrics_public);
}

// Security finding (issue 12): with dev_mode off and only port, database and
// maildir configured, the server seeded the demo customers, whose PINs the
// README publishes. Now the demo data set follows dev_mode and is refused
// outside it.
TEST(Config, ProductionConfigSeedsNoDemoDataAndRefusesToBeToldTo) {
  std::string error;
  auto prod = parse(R"({"port": 8443, "database": "/var/lib/renkei/r.db", "maildir": "/var/mail"})",
                    prod_env(), &error);
  ASSERT_TRUE(prod) << error;
  EXPECT_FALSE(prod->seed_demo_data);
  EXPECT_FALSE(ServerConfig{}.seed_demo_data);  // the built-in defaults (no --config)
  expect_error(R"({"seed_demo_data": true})", "only with \"dev_mode\"");
  auto dev = parse(R"({"dev_mode": true})", {}, &error);
  ASSERT_TRUE(dev) << error;
  EXPECT_TRUE(dev->seed_demo_data);
  auto dev_without = parse(R"({"dev_mode": true, "seed_demo_data": false})", {}, &error);
  ASSERT_TRUE(dev_without) << error;
  EXPECT_FALSE(dev_without->seed_demo_data);
}

TEST(Config, MetricsTokenIsOptionalKeptAsADigestAndLongEnough) {
  std::string error;
  auto none = parse("{}", prod_env(), &error);
  ASSERT_TRUE(none) << error;
  EXPECT_TRUE(none->metrics_token_digest.empty());
  EXPECT_FALSE(none->metrics_public);
  Env env = prod_env();
  env["RENKEI_METRICS_TOKEN"] = "metrics-token-0123456789";
  auto with = parse("{}", env, &error);
  ASSERT_TRUE(with) << error;
  EXPECT_EQ(with->metrics_token_digest, sha256_hex("metrics-token-0123456789"));
  env["RENKEI_METRICS_TOKEN"] = "short";
  expect_error("{}", "RENKEI_METRICS_TOKEN must be at least", env);
}

TEST(Config, IssuerFollowsHostAndPortUnlessSet) {
  std::string error;
  auto c = parse(R"({"port": 9000})", prod_env(), &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->issuer, "http://127.0.0.1:9000");
}

TEST(Config, UnknownKeysAreErrors) {
  expect_error(R"({"lockout_limt": 3})", "unknown key \"lockout_limt\"");
  expect_error(R"({"profile": {"nmae": "x"}})", "unknown key \"profile.nmae\"");
  expect_error(R"({"clients": [{"id": "a", "display_name": "A",
                   "redirect_uris": ["https://a.example/cb"], "secret": "x"}]})",
               "unknown key \"clients[0].secret\"");
  expect_error(R"({"maintenance": [{"start": "2026-12-01T01:00:00Z",
                   "end": "2026-12-01T02:00:00Z", "why": "x"}]})",
               "maintenance[0].why");
}

TEST(Config, SecretsInTheFileAreRefused) {
  expect_error(R"({"pin_hmac_key": "x"})", "secret");
  expect_error(R"({"admin_token": "x"})", "environment");
}

TEST(Config, WrongTypesNameTheKey) {
  expect_error(R"({"port": "8080"})", "\"port\" must be an integer");
  expect_error(R"({"port": 80.5})", "\"port\" must be an integer");
  expect_error(R"({"dev_mode": "yes"})", "\"dev_mode\" must be true or false");
  expect_error(R"({"dev_mode": 1})", "\"dev_mode\"");
  expect_error(R"({"host": 127})", "\"host\" must be a string");
  expect_error(R"({"profile": {"name": 1}})", "\"profile.name\" must be a string");
  expect_error(R"({"profile": "x"})", "\"profile\" must be an object");
  expect_error(R"({"call_pool": "0120000001"})", "\"call_pool\" must be an array");
  expect_error(R"({"call_pool": [120000001]})", "\"call_pool\" must be an array of strings");
  expect_error(R"({"clients": {}})", "\"clients\" must be an array");
  expect_error(R"({"clients": [{"id": "a", "display_name": "A", "redirect_uris": "x"}]})",
               "clients[0].redirect_uris");
  expect_error(R"({"clients": [{"id": "a", "display_name": "A",
                   "redirect_uris": ["https://a.example/cb"], "enabled": "no"}]})",
               "clients[0].enabled");
  expect_error(R"({"maintenance": [{"start": 1, "end": 2}]})", "maintenance[0].start");
}

TEST(Config, MalformedTextIsAnError) {
  expect_error("{", "not valid JSON");
  expect_error("[]", "JSON object");
  expect_error("", "not valid JSON");
  expect_error(R"({"host": "a", "host": "b"} x)", "not valid JSON");
}

TEST(Config, RangesAreChecked) {
  expect_error(R"({"port": -1})", "\"port\" must be between 0 and 65535");
  expect_error(R"({"port": 65536})", "\"port\" must be between 0 and 65535");
  std::string error;
  EXPECT_TRUE(parse(R"({"port": 0})", prod_env(), &error)) << error;
  EXPECT_TRUE(parse(R"({"port": 65535})", prod_env(), &error)) << error;
  for (const char* key :
       {"worker_threads", "max_in_flight", "rate_limit_per_minute", "max_body_bytes",
        "lockout_limit", "authorization_days", "call_window_seconds", "flow_idle_seconds",
        "code_ttl_seconds", "access_token_seconds", "mail_max_attempts"}) {
    expect_error(std::string("{\"") + key + "\": 0}",
                 std::string("\"") + key + "\" must be between");
    expect_error(std::string("{\"") + key + "\": -5}", std::string("\"") + key + "\"");
  }
  expect_error(R"({"port": 18446744073709551615})", "\"port\" must be between");
}

TEST(Config, CallPoolMustHoldTenOrElevenDigitNumbers) {
  expect_error(R"({"call_pool": []})", "\"call_pool\" must not be empty");
  expect_error(R"({"call_pool": ["012000001"]})", "10 or 11 digits");
  expect_error(R"({"call_pool": ["012000000011"]})", "10 or 11 digits");
  expect_error(R"({"call_pool": ["0120-000-001"]})", "10 or 11 digits");
  expect_error(R"({"call_pool": ["1120000001"]})", "starting with 0");
  expect_error(R"({"call_pool": ["0120000001", "0120000001"]})", "twice");
  std::string error;
  EXPECT_TRUE(parse(R"({"call_pool": ["0120000001", "08000000001"]})", prod_env(), &error))
      << error;
}

TEST(Config, RedirectUrisMustBeAbsoluteHttpsWithoutFragment) {
  auto client = [](const std::string& uri) {
    return R"({"clients": [{"id": "a", "display_name": "A", "redirect_uris": [")" + uri +
           R"("]}]})";
  };
  std::string error;
  EXPECT_TRUE(parse(client("https://app.example/cb?x=1"), prod_env(), &error)) << error;
  // http for loopback hosts only (native apps, RFC 8252), unless dev_mode.
  EXPECT_TRUE(parse(client("http://127.0.0.1:9/cb"), prod_env(), &error)) << error;
  EXPECT_TRUE(parse(client("http://localhost/cb"), prod_env(), &error)) << error;
  EXPECT_TRUE(parse(client("http://[::1]:8000/cb"), prod_env(), &error)) << error;
  expect_error(client("http://app.example/cb"), "must use https");
  expect_error(client("https://app.example/cb#frag"), "without fragment");
  expect_error(client("/relative/cb"), "absolute");
  expect_error(client("app.example/cb"), "absolute");
  expect_error(client("ftp://app.example/cb"), "absolute");
  expect_error(client("javascript:alert(1)"), "absolute");
  expect_error(client("https:///cb"), "absolute");
  expect_error(client("https://user@app.example/cb"), "absolute");
  expect_error(client("https://app.example/c b"), "absolute");
  // The hostile-input sweep's URIs (the admin API applies the same rule).
  expect_error(client("http://127.0.0.1@evil.example/cb"), "absolute");
  expect_error(client("http://127.0.0.1.evil.example/cb"), "must use https");
  expect_error(client("http://127.evil.example/cb"), "must use https");
  expect_error(client("http://localhost.evil.example/cb"), "must use https");
  expect_error(client("https://a.example:99999/cb"), "absolute");
  expect_error(client("https://[::1/cb"), "absolute");

  Env env = prod_env();
  std::string dev = R"({"dev_mode": true, "clients": [{"id": "a", "display_name": "A",
                       "redirect_uris": ["http://app.example/cb"]}]})";
  EXPECT_TRUE(parse(dev, env, &error)) << error;
}

// The one rule for redirect URIs (ops/uri.h), asked by the configuration and
// the admin API alike.
TEST(RedirectUri, AcceptsHttpsAndTrueLoopbackHttpOnly) {
  for (const char* ok :
       {"https://rp.example/cb", "https://rp.example:8443/cb?x=1&y=%2F", "https://rp.example",
        "https://RP.Example/cb", "https://a-b.c_d.example/cb", "https://192.0.2.1/cb",
        "https://[2001:db8::1]:443/cb", "http://127.0.0.1/cb", "http://127.0.0.1:8080/cb",
        "http://127.1.2.3:1/cb", "http://localhost/cb", "http://LocalHost:3000/cb",
        "http://[::1]/cb", "http://[::1]:65535/cb", "https://rp.example/a:b@c/~!$&'()*+,;="}) {
    EXPECT_EQ(redirect_uri_problem(ok), "") << ok;
  }
  const std::vector<std::string> refused = {
      // not loopback, whatever they begin with
      "http://127.0.0.1@evil.example/cb", "http://localhost.evil.example/cb",
      "http://localhostevil.example/cb", "http://127.0.0.1.evil.example/cb",
      "http://127.evil.example/cb", "http://[::1].evil.example/cb", "http://rp.example/cb",
      "http://[::2]/cb", "http://128.0.0.1/cb",
      // malformed hosts
      "https://[::1/cb", "https://[zz]/cb", "https://%00/cb", "https://a..example/cb",
      "https://.example/cb", "https://a.example./cb", "https://-a.example/cb",
      "https://a-.example/cb", "https://1.2.3.999/cb", "https://1.2.3/cb", "https://01.2.3.4/cb",
      "https://a%2eexample/cb", "https:///cb", "https://", "https://a b.example/cb",
      "https://[::1]x/cb", "https://[v1.x]/cb", "https://[fe80::1%25eth0]/cb",
      // ports
      "https://a.example:99999/cb", "https://a.example:-1/cb", "https://a.example:/cb",
      "https://a.example:0/cb", "https://a.example:080/cb", "https://a.example:8a/cb",
      "https://a.example:1:2/cb", "http://[::1]:/cb",
      // userinfo, fragment, characters, scheme, length
      "https://user:pw@a.example/cb", "https://@a.example/cb", "https://a.example/cb#f",
      "https://a.example/cb#", "https://a.example/c b", "https://a.example/c\x01b",
      "https://a.example/c%zzb", "https://a.example/c%2", "https://a.example/\\cb",
      "https://a.example/c<b>", "https://a.example/caf\xc3\xa9", "HTTPS://a.example/cb",
      "ftp://a.example/cb", "javascript:alert(1)", "//a.example/cb", "/cb", "",
      "https://a.example/" + std::string(600, 'a')};
  for (const auto& uri : refused) {
    EXPECT_NE(redirect_uri_problem(uri), "") << uri;
  }
  // dev_mode's configuration file may name http on any (valid) host.
  EXPECT_EQ(redirect_uri_problem("http://app.example/cb", true), "");
  EXPECT_NE(redirect_uri_problem("http://127.0.0.1@evil.example/cb", true), "");
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_FALSE(is_loopback_host("127.0.0.1.evil.example"));
  EXPECT_FALSE(is_loopback_host("localhost.evil.example"));
}

TEST(Config, ClientsAreChecked) {
  expect_error(R"({"clients": [{"display_name": "A", "redirect_uris": ["https://a.example/"]}]})",
               "clients[0].id");
  expect_error(R"({"clients": [{"id": "a", "redirect_uris": ["https://a.example/"]}]})",
               "clients[0].display_name");
  expect_error(R"({"clients": [{"id": "a", "display_name": "A", "redirect_uris": []}]})",
               "clients[0].redirect_uris");
  expect_error(R"({"clients": [
                    {"id": "a", "display_name": "A", "redirect_uris": ["https://a.example/"]},
                    {"id": "a", "display_name": "B", "redirect_uris": ["https://b.example/"]}]})",
               "twice");
}

TEST(Config, MaintenanceWindowsAreIsoInstants) {
  expect_error(R"({"maintenance": [{"start": "2026-12-01 01:00", "end": "2026-12-01T02:00:00Z"}]})",
               "maintenance[0].start");
  expect_error(
      R"({"maintenance": [{"start": "2026-12-01T01:00:00Z", "end": "2026-12-01T02:00:00"}]})",
      "maintenance[0].end");
  expect_error(
      R"({"maintenance": [{"start": "2026-12-01T02:00:00Z", "end": "2026-12-01T01:00:00Z"}]})",
      "after start");
  expect_error(R"({"maintenance": {}})", "\"maintenance\" must be an array");
}

TEST(Config, OtherConsistencyChecks) {
  expect_error(R"({"tls_cert_file": "c.pem"})", "set together");
  expect_error(R"({"movable_clock": true})", "only with \"dev_mode\"");
  expect_error(R"({"mail_transport": "sendmail"})", "mail_transport");
  expect_error(R"({"mail_transport": "smtp", "smtp_url": "http://x"})", "smtp_url");
  expect_error(R"({"mail_from": "nobody"})", "mail_from");
  expect_error(R"({"mail_from": "a@b.example\r\nBcc: x@y"})", "mail_from");
  expect_error(R"({"issuer": "https://x.example/"})", "issuer");
  expect_error(R"({"issuer": "http://renkei.example.jp"})", "https");
  expect_error(R"({"host": ""})", "host");
  expect_error(R"({"database": ""})", "database");
}

// "database" is a SQLite file or a PostgreSQL URI (issue 9).
TEST(Config, DatabaseIsASqlitePathOrAPostgresUri) {
  for (const char* db : {"var/renkei.db", "sqlite:var/renkei.db",
                         ":memory:", "postgresql://renkei@db.internal:5432/renkei",
                         "postgres://renkei:pw@127.0.0.1/renkei?sslmode=require"}) {
    std::string error;
    auto c = parse(std::string(R"({"database": ")") + db + "\"}", prod_env(), &error);
    ASSERT_TRUE(c) << db << ": " << error;
    EXPECT_EQ(c->database, db);
  }
  expect_error(R"({"database": "sqlite:"})", "database");
  expect_error(R"({"database": "postgresql://renkei@db/renkei dbname=other"})", "database");
}

TEST(Config, MissingSecretsAreErrorsOutsideDevMode) {
  for (const char* name : {"RENKEI_PIN_KEY", "RENKEI_WEBHOOK_SECRET", "RENKEI_ADMIN_TOKEN"}) {
    Env env = prod_env();
    env.erase(name);
    expect_error("{}", name, env);
    env[name] = "";
    expect_error("{}", name, env);
    env[name] = "short";
    expect_error("{}", std::string(name) + " must be at least", env);
  }
  expect_error(R"({"clients": [{"id": "c", "display_name": "C",
                   "redirect_uris": ["https://c.example/cb"], "secret_env": "C_SECRET"}]})",
               "C_SECRET");
}

TEST(Config, DevModeFillsMissingSecretsWithFixedDevelopmentValues) {
  std::string error;
  const std::string text = R"({"dev_mode": true, "clients": [{"id": "c", "display_name": "C",
      "redirect_uris": ["https://c.example/cb"], "secret_env": "C_SECRET"}]})";
  ::testing::internal::CaptureStderr();
  auto a = parse(text, {}, &error);
  std::string warning = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(a) << error;
  auto b = parse(text, {}, &error);
  ASSERT_TRUE(b) << error;
  EXPECT_FALSE(a->pin_hmac_key.empty());
  EXPECT_FALSE(a->webhook_secret.empty());
  EXPECT_EQ(a->admin_token_digest, sha256_hex(kDevAdminToken));
  EXPECT_FALSE(a->client_secrets.at("c").empty());
  // Fixed: a restart keeps PIN digests valid.
  EXPECT_EQ(a->pin_hmac_key, b->pin_hmac_key);
  EXPECT_EQ(a->client_secrets, b->client_secrets);
  // The warning names the variables, says "development only", and leaks no value.
  EXPECT_NE(warning.find("RENKEI_PIN_KEY"), std::string::npos) << warning;
  EXPECT_NE(warning.find("C_SECRET"), std::string::npos) << warning;
  EXPECT_NE(warning.find("development only"), std::string::npos) << warning;
  EXPECT_EQ(warning.find(a->pin_hmac_key), std::string::npos) << warning;
  EXPECT_EQ(warning.find(kDevAdminToken), std::string::npos) << warning;

  // A secret that is set wins over the development value; short is fine in dev.
  Env env{{"RENKEI_PIN_KEY", "k"}};
  auto c = parse(R"({"dev_mode": true})", env, &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->pin_hmac_key, "k");
}

TEST(Config, DevJsonIsValid) {
  const char* root = std::getenv("RENKEI_SOURCE_DIR");
  std::string path = std::string(root ? root : ".") + "/config/dev.json";
  std::string error;
  ::testing::internal::CaptureStderr();
  auto c = load_config(path, {}, &error);
  ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(c) << error;
  EXPECT_TRUE(c->dev_mode);
  EXPECT_TRUE(c->movable_clock);
  EXPECT_EQ(c->host, "127.0.0.1");
  EXPECT_EQ(c->port, 8080);
  EXPECT_EQ(c->database, "var/renkei.db");
  EXPECT_EQ(c->maildir, "var/mail");
  EXPECT_EQ(c->profile.name, "ミレ信用組合");
  EXPECT_EQ(c->profile.contact_phone, "06-6374-3021");
  EXPECT_EQ(c->profile.contact_hours, "平日の9時～17時");
  EXPECT_EQ(c->call_pool.size(), 3u);
  ASSERT_EQ(c->clients.size(), 1u);
  EXPECT_EQ(c->clients[0].id, "demo-app");
  EXPECT_EQ(c->clients[0].display_name, "デモ家計簿アプリ");
  EXPECT_EQ(c->clients[0].redirect_uris[0], "http://127.0.0.1:8080/demo/callback");
}

TEST(Config, LoadConfigReportsUnreadableFileAndNamesThePath) {
  std::string error;
  EXPECT_FALSE(load_config("/nonexistent/renkei.json", prod_env(), &error));
  EXPECT_NE(error.find("/nonexistent/renkei.json"), std::string::npos);

  std::string path = ::testing::TempDir() + "renkei_config_test.json";
  {
    std::ofstream out(path);
    out << R"({"port": "x"})";
  }
  EXPECT_FALSE(load_config(path, prod_env(), &error));
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("\"port\""), std::string::npos) << error;
}

TEST(Config, ProcessEnvironmentReadsVariables) {
  ::setenv("RENKEI_CONFIG_TEST_VAR", "a=b", 1);
  auto env = process_environment();
  EXPECT_EQ(env.at("RENKEI_CONFIG_TEST_VAR"), "a=b");
  ::unsetenv("RENKEI_CONFIG_TEST_VAR");
}

// ---------- make_app: what the configuration does to the store ----------

class MakeAppTest : public ::testing::Test {
 protected:
  MakeAppTest() {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("renkei_make_app_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    config_.database = (dir_ / "sub" / "renkei.db").string();  // parent created by make_app
    config_.dev_mode = true;
    config_.seed_demo_data = true;
    config_.pin_hmac_key = "k";
    ClientConfig pub{"pub", "公開アプリ", {"https://pub.example/cb"}, "", true};
    ClientConfig conf{"conf", "機密アプリ", {"https://conf.example/cb"}, "CONF_SECRET", true};
    config_.clients = {pub, conf};
    config_.client_secrets["conf"] = "conf-secret";
  }
  ~MakeAppTest() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<App> start() {
    std::string error;
    auto app = make_app(config_, std::make_shared<ManualClock>(kOpen), &error);
    EXPECT_TRUE(app) << error;
    return app;
  }
  static std::optional<ClientRecord> client(App& app, const std::string& id) {
    auto tx = app.store().begin();
    return tx->find_client(id);
  }

  static constexpr UnixSeconds kOpen = 1795568400;  // Wed 2026-11-25 10:00 JST
  std::filesystem::path dir_;
  ServerConfig config_;
};

TEST_F(MakeAppTest, RegistersClientsWithSecretDigestsAndSeedsDemoData) {
  auto app = start();
  ASSERT_TRUE(app);
  auto pub = client(*app, "pub");
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->display_name, "公開アプリ");
  EXPECT_EQ(pub->redirect_uris, (std::vector<std::string>{"https://pub.example/cb"}));
  EXPECT_TRUE(pub->secret_digest.empty());
  EXPECT_TRUE(pub->enabled);
  auto conf = client(*app, "conf");
  ASSERT_TRUE(conf);
  EXPECT_EQ(conf->secret_digest, sha256_hex("conf-secret"));  // never the secret itself
  auto tx = app->store().begin();
  EXPECT_GT(tx->count_accounts(), 0);
}

TEST_F(MakeAppTest, StaffSwitchOffSurvivesARestartAndTheFileCanSwitchOff) {
  {
    auto app = start();
    ASSERT_TRUE(app);
    auto tx = app->store().begin();
    auto pub = tx->find_client("pub");
    ASSERT_TRUE(pub);
    pub->enabled = false;  // staff disconnected the app
    tx->upsert_client(*pub);
    ASSERT_TRUE(tx->commit());
  }
  config_.clients[0].display_name = "新しい名前";
  config_.clients[1].enabled = false;
  auto app = start();
  ASSERT_TRUE(app);
  auto pub = client(*app, "pub");
  ASSERT_TRUE(pub);
  EXPECT_FALSE(pub->enabled);                  // not silently reconnected
  EXPECT_EQ(pub->display_name, "新しい名前");  // the file owns the name
  auto conf = client(*app, "conf");
  ASSERT_TRUE(conf);
  EXPECT_FALSE(conf->enabled);
}

TEST_F(MakeAppTest, CalendarCombinesConfiguredAndAnnouncedWindows) {
  UnixSeconds at = kOpen;
  config_.maintenance = {MaintenanceWindow{at + 3600, at + 7200, "設定"}};
  config_.lockout_limit = 3;
  config_.call_window_seconds = 90;
  config_.flow_idle_seconds = 600;
  auto app = start();
  ASSERT_TRUE(app);
  EXPECT_TRUE(app->calendar().is_open(at));
  EXPECT_FALSE(app->calendar().is_open(at + 3600));
  {
    auto tx = app->store().begin();
    tx->add_maintenance(MaintenanceWindow{at + 100, at + 200, "告知"});
    ASSERT_TRUE(tx->commit());
  }
  EXPECT_TRUE(app->calendar().is_open(at + 150));  // cached until reloaded
  app->reload_calendar();
  EXPECT_FALSE(app->calendar().is_open(at + 150));
  EXPECT_FALSE(app->calendar().is_open(at + 3600));  // the configured one stays
  FlowConfig fc = app->flow_config();
  EXPECT_EQ(fc.lockout.limit(), 3);
  EXPECT_EQ(fc.call_window_seconds, 90);
  EXPECT_EQ(fc.idle_timeout_seconds, 600);
  EXPECT_FALSE(fc.calendar.is_open(at + 150));
}

// Security finding (issue 12): production started with the demo customers.
TEST_F(MakeAppTest, ProductionRefusesADatabaseThatHoldsTheDemoAccounts) {
  {
    auto dev = start();  // development seeds the demo data set
    ASSERT_TRUE(dev);
  }
  config_.dev_mode = false;
  config_.seed_demo_data = false;
  std::string error;
  auto app = make_app(config_, std::make_shared<ManualClock>(kOpen), &error);
  EXPECT_FALSE(app);
  EXPECT_NE(error.find("demo data set"), std::string::npos) << error;
  EXPECT_NE(error.find(config_.database), std::string::npos) << error;
}

TEST_F(MakeAppTest, ProductionNeverSeedsTheDemoData) {
  config_.dev_mode = false;
  config_.seed_demo_data = true;  // cannot come from a file (config refuses it); ignored anyway
  auto app = start();
  ASSERT_TRUE(app);
  auto tx = app->store().begin();
  EXPECT_EQ(tx->count_accounts(), 0);
  EXPECT_FALSE(holds_demo_data(*tx));
}

TEST_F(MakeAppTest, UnusableDatabasePathIsAnErrorNotACrash) {
  config_.database = "/proc/renkei-no-such-dir/renkei.db";
  std::string error;
  auto app = make_app(config_, std::make_shared<ManualClock>(kOpen), &error);
  EXPECT_FALSE(app);
  EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace renkei::server
