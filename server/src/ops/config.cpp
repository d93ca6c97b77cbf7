// Configuration file and secrets. The file is strict: an unknown key is an
// error (a typo such as "lockout_limt" must not silently fall back to the
// default), a value of the wrong type is an error naming the key, and ranges
// are checked here so the rest of the server can trust the values.
#include "ops/config.h"

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "ops/crypto.h"
#include "ops/uri.h"
#include "renkei/json.h"
#include "renkei/time.h"
#include "store/storage.h"

extern char** environ;

namespace renkei::server {
namespace {

using nlohmann::json;

// Development values of the secrets (dev_mode only). Fixed so that a restart
// keeps PIN digests and sessions valid; never acceptable outside dev_mode.
constexpr const char* kDevPinKey = "renkei-development-pin-key";
constexpr const char* kDevWebhookSecret = "renkei-development-webhook-secret";
// Outside dev_mode a secret must be at least this long (a short HMAC key or
// admin token is guessable; 16 characters is a floor, not a recommendation).
constexpr std::size_t kMinSecretLength = 16;

// Collects the first error; every reader returns false after it.
class Reader {
 public:
  explicit Reader(std::string* error) : error_(error) {}
  bool fail(const std::string& message) {
    if (!failed_ && error_) *error_ = message;
    failed_ = true;
    return false;
  }
  bool failed() const { return failed_; }

  // Rejects keys not in `known` (catches typos).
  bool only_keys(const json& obj, const std::string& where, const std::set<std::string>& known) {
    for (const auto& [key, value] : obj.items()) {
      (void)value;
      if (!known.count(key)) {
        return fail("config: unknown key \"" + where + key + "\"");
      }
    }
    return true;
  }

  bool read(const json& obj, const std::string& where, const char* key, std::string* out) {
    auto it = obj.find(key);
    if (it == obj.end()) return true;
    if (!it->is_string()) return fail("config: \"" + where + key + "\" must be a string");
    *out = it->get<std::string>();
    return true;
  }
  bool read(const json& obj, const std::string& where, const char* key, bool* out) {
    auto it = obj.find(key);
    if (it == obj.end()) return true;
    if (!it->is_boolean()) return fail("config: \"" + where + key + "\" must be true or false");
    *out = it->get<bool>();
    return true;
  }
  // Integers only (1.5 and "8" are errors), within [lo, hi].
  bool read(const json& obj, const std::string& where, const char* key, std::int64_t lo,
            std::int64_t hi, std::int64_t* out) {
    auto it = obj.find(key);
    if (it == obj.end()) return true;
    std::int64_t v = 0;
    if (it->is_number_unsigned()) {
      auto u = it->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(hi)) return range_error(where, key, lo, hi);
      v = static_cast<std::int64_t>(u);
    } else if (it->is_number_integer()) {
      v = it->get<std::int64_t>();
    } else {
      return fail("config: \"" + where + key + "\" must be an integer");
    }
    if (v < lo || v > hi) return range_error(where, key, lo, hi);
    *out = v;
    return true;
  }
  bool read_int(const json& obj, const std::string& where, const char* key, std::int64_t lo,
                std::int64_t hi, int* out) {
    std::int64_t v = *out;
    if (!read(obj, where, key, lo, hi, &v)) return false;
    *out = static_cast<int>(v);
    return true;
  }
  bool read_strings(const json& obj, const std::string& where, const char* key,
                    std::vector<std::string>* out) {
    auto it = obj.find(key);
    if (it == obj.end()) return true;
    if (!it->is_array()) return fail("config: \"" + where + key + "\" must be an array of strings");
    std::vector<std::string> values;
    for (const auto& v : *it) {
      if (!v.is_string()) {
        return fail("config: \"" + where + key + "\" must be an array of strings");
      }
      values.push_back(v.get<std::string>());
    }
    *out = std::move(values);
    return true;
  }

 private:
  bool range_error(const std::string& where, const char* key, std::int64_t lo, std::int64_t hi) {
    return fail("config: \"" + where + key + "\" must be between " + std::to_string(lo) + " and " +
                std::to_string(hi));
  }
  std::string* error_;
  bool failed_ = false;
};

bool is_phone_digits(std::string_view s) {
  if (s.size() != 10 && s.size() != 11) return false;
  if (s[0] != '0') return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string env_value(const std::map<std::string, std::string>& env, const std::string& name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

bool parse_records(Reader& r, const json& obj, RecordsConfig* c) {
  const std::string w = "records.";
  if (!obj.is_object()) return r.fail("config: \"records\" must be an object");
  if (!r.only_keys(obj, w,
                   {"source", "url", "client_cert", "client_key", "ca", "timeout_ms",
                    "read_retries", "breaker", "pool"}))
    return false;
  if (!(r.read(obj, w, "source", &c->source) && r.read(obj, w, "url", &c->url) &&
        r.read(obj, w, "client_cert", &c->client_cert) &&
        r.read(obj, w, "client_key", &c->client_key) && r.read(obj, w, "ca", &c->ca) &&
        r.read_int(obj, w, "timeout_ms", 10, 600000, &c->timeout_ms) &&
        r.read_int(obj, w, "read_retries", 0, 5, &c->read_retries)))
    return false;
  if (obj.contains("breaker")) {
    const json& b = obj["breaker"];
    const std::string wb = "records.breaker.";
    if (!b.is_object()) return r.fail("config: \"records.breaker\" must be an object");
    if (!r.only_keys(b, wb, {"failure_threshold", "open_ms"})) return false;
    if (!(r.read_int(b, wb, "failure_threshold", 1, 1000, &c->breaker.failure_threshold) &&
          r.read_int(b, wb, "open_ms", 10, 3600000, &c->breaker.open_ms)))
      return false;
  }
  if (obj.contains("pool")) {
    const json& p = obj["pool"];
    const std::string wp = "records.pool.";
    if (!p.is_object()) return r.fail("config: \"records.pool\" must be an object");
    if (!r.only_keys(p, wp, {"max_idle", "idle_ms"})) return false;
    if (!(r.read_int(p, wp, "max_idle", 0, 1024, &c->pool.max_idle) &&
          r.read_int(p, wp, "idle_ms", 100, 600000, &c->pool.idle_ms)))
      return false;
  }
  if (c->source == "local") return true;
  if (c->source != "remote")
    return r.fail("config: \"records.source\" must be \"local\" or \"remote\"");
  if (c->url.rfind("https://", 0) != 0)
    return r.fail(
        "config: \"records.url\" must be an https:// URL (the gateway speaks mutual TLS)");
  if (c->client_cert.empty() || c->client_key.empty() || c->ca.empty())
    return r.fail(
        "config: the remote records source needs \"client_cert\", \"client_key\" and \"ca\"");
  return true;
}

bool parse_profile(Reader& r, const json& obj, InstitutionProfile* p) {
  const std::string w = "profile.";
  if (!obj.is_object()) return r.fail("config: \"profile\" must be an object");
  if (!r.only_keys(obj, w,
                   {"name", "terms_url", "faq_url", "contact_phone", "contact_hours", "copyright"}))
    return false;
  return r.read(obj, w, "name", &p->name) && r.read(obj, w, "terms_url", &p->terms_url) &&
         r.read(obj, w, "faq_url", &p->faq_url) &&
         r.read(obj, w, "contact_phone", &p->contact_phone) &&
         r.read(obj, w, "contact_hours", &p->contact_hours) &&
         r.read(obj, w, "copyright", &p->copyright);
}

bool parse_maintenance(Reader& r, const json& arr, std::vector<MaintenanceWindow>* out) {
  if (!arr.is_array()) return r.fail("config: \"maintenance\" must be an array");
  std::vector<MaintenanceWindow> windows;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string w = "maintenance[" + std::to_string(i) + "].";
    const json& o = arr[i];
    if (!o.is_object())
      return r.fail("config: \"maintenance[" + std::to_string(i) + "]\" must be an object");
    if (!r.only_keys(o, w, {"start", "end", "label"})) return false;
    std::string start, end, label;
    if (!r.read(o, w, "start", &start) || !r.read(o, w, "end", &end) ||
        !r.read(o, w, "label", &label))
      return false;
    auto s = parse_iso_instant(start);
    auto e = parse_iso_instant(end);
    if (!s) return r.fail("config: \"" + w + "start\" must be an ISO 8601 instant with offset");
    if (!e) return r.fail("config: \"" + w + "end\" must be an ISO 8601 instant with offset");
    if (*e <= *s) return r.fail("config: \"" + w + "end\" must be after start");
    windows.push_back(MaintenanceWindow{*s, *e, label});
  }
  *out = std::move(windows);
  return true;
}

bool parse_clients(Reader& r, const json& arr, std::vector<ClientConfig>* out) {
  if (!arr.is_array()) return r.fail("config: \"clients\" must be an array");
  std::vector<ClientConfig> clients;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string w = "clients[" + std::to_string(i) + "].";
    const json& o = arr[i];
    if (!o.is_object())
      return r.fail("config: \"clients[" + std::to_string(i) + "]\" must be an object");
    if (!r.only_keys(o, w, {"id", "display_name", "redirect_uris", "secret_env", "enabled"}))
      return false;
    ClientConfig c;
    if (!r.read(o, w, "id", &c.id) || !r.read(o, w, "display_name", &c.display_name) ||
        !r.read_strings(o, w, "redirect_uris", &c.redirect_uris) ||
        !r.read(o, w, "secret_env", &c.secret_env) || !r.read(o, w, "enabled", &c.enabled))
      return false;
    clients.push_back(std::move(c));
  }
  *out = std::move(clients);
  return true;
}

// Range and consistency checks after all values are read.
bool validate(Reader& r, const ServerConfig& c) {
  if (c.host.empty()) return r.fail("config: \"host\" must not be empty");
  const auto issuer = parse_http_uri(c.issuer);
  if (!issuer || c.issuer.find('?') != std::string::npos || c.issuer.back() == '/')
    return r.fail(
        "config: \"issuer\" must be an absolute http(s) URL with a valid host and port, "
        "without userinfo, query, fragment or trailing slash");
  if (!issuer->https && !is_loopback_host(issuer->host) && !c.dev_mode)
    return r.fail("config: \"issuer\" must use https (http only for loopback or dev_mode)");
  if (c.tls_cert_file.empty() != c.tls_key_file.empty())
    return r.fail("config: \"tls_cert_file\" and \"tls_key_file\" must be set together");
  if (c.database.empty()) return r.fail("config: \"database\" must not be empty");
  // Either a SQLite file ("sqlite:PATH", a plain PATH, ":memory:") or a
  // PostgreSQL connection URI ("postgresql://…", "postgres://…").
  if (!is_postgres_database(c.database) && sqlite_path_of(c.database).empty())
    return r.fail("config: \"database\" must be a SQLite path or a postgresql:// URI");
  if (is_postgres_database(c.database) && c.database.find_first_of(" \t\r\n") != std::string::npos)
    return r.fail("config: \"database\": a PostgreSQL URI has no spaces");
  if (c.seed_demo_data && !c.dev_mode)
    return r.fail(
        "config: \"seed_demo_data\" is allowed only with \"dev_mode\" (the demo PINs are "
        "published)");
  if (c.movable_clock && !c.dev_mode)
    return r.fail("config: \"movable_clock\" is allowed only with \"dev_mode\"");
  if (c.call_pool.empty()) return r.fail("config: \"call_pool\" must not be empty");
  std::set<std::string> pool;
  for (const auto& n : c.call_pool) {
    if (!is_phone_digits(n))
      return r.fail("config: \"call_pool\" entry \"" + n +
                    "\" must be 10 or 11 digits starting with 0");
    if (!pool.insert(n).second) return r.fail("config: \"call_pool\" lists \"" + n + "\" twice");
  }
  if (c.mail_transport != "maildir" && c.mail_transport != "smtp")
    return r.fail("config: \"mail_transport\" must be \"maildir\" or \"smtp\"");
  if (c.mail_transport == "smtp" && c.smtp_url.rfind("smtp://", 0) != 0 &&
      c.smtp_url.rfind("smtps://", 0) != 0)
    return r.fail("config: \"smtp_url\" must start with smtp:// or smtps://");
  if (c.mail_from.find('@') == std::string::npos ||
      c.mail_from.find_first_of("\r\n<>\" ") != std::string::npos)
    return r.fail("config: \"mail_from\" must be a plain e-mail address");
  std::set<std::string> ids;
  for (std::size_t i = 0; i < c.clients.size(); ++i) {
    const auto& cl = c.clients[i];
    const std::string w = "clients[" + std::to_string(i) + "]";
    if (cl.id.empty()) return r.fail("config: \"" + w + ".id\" must not be empty");
    if (!ids.insert(cl.id).second)
      return r.fail("config: client id \"" + cl.id + "\" appears twice");
    if (cl.display_name.empty())
      return r.fail("config: \"" + w + ".display_name\" must not be empty");
    if (cl.redirect_uris.empty())
      return r.fail("config: \"" + w + ".redirect_uris\" must not be empty");
    // The rule the admin API applies too (ops/uri.h); dev_mode allows http
    // on any host here only.
    for (const auto& uri : cl.redirect_uris) {
      const std::string problem = redirect_uri_problem(uri, /*allow_http_anywhere=*/c.dev_mode);
      if (!problem.empty())
        return r.fail("config: \"" + w + ".redirect_uris\": \"" + uri + "\" " + problem);
    }
  }
  return true;
}

// Secrets from the environment; in dev_mode fixed development values for the
// missing ones (named on stderr, never their values).
bool read_secrets(Reader& r, const std::map<std::string, std::string>& env, ServerConfig* c) {
  std::vector<std::string> dev_defaults;
  auto secret = [&](const std::string& name, const std::string& dev_value,
                    std::string* out) -> bool {
    std::string v = env_value(env, name);
    if (v.empty()) {
      if (!c->dev_mode) return r.fail("config: environment variable " + name + " is not set");
      dev_defaults.push_back(name);
      v = dev_value;
    } else if (!c->dev_mode && v.size() < kMinSecretLength) {
      return r.fail("config: environment variable " + name + " must be at least " +
                    std::to_string(kMinSecretLength) + " characters");
    }
    *out = std::move(v);
    return true;
  };
  std::string admin_token;
  if (!secret("RENKEI_PIN_KEY", kDevPinKey, &c->pin_hmac_key) ||
      !secret("RENKEI_WEBHOOK_SECRET", kDevWebhookSecret, &c->webhook_secret) ||
      !secret("RENKEI_ADMIN_TOKEN", kDevAdminToken, &admin_token))
    return false;
  c->admin_token_digest = sha256_hex(admin_token);
  // Optional: a token for the metrics scraper alone (the admin token works too).
  const std::string metrics_token = env_value(env, "RENKEI_METRICS_TOKEN");
  if (!metrics_token.empty() && !c->dev_mode && metrics_token.size() < kMinSecretLength) {
    return r.fail("config: environment variable RENKEI_METRICS_TOKEN must be at least " +
                  std::to_string(kMinSecretLength) + " characters");
  }
  c->metrics_token_digest = metrics_token.empty() ? std::string() : sha256_hex(metrics_token);
  c->client_secrets.clear();
  for (const auto& cl : c->clients) {
    if (cl.secret_env.empty()) continue;
    std::string value;
    if (!secret(cl.secret_env, "renkei-development-secret-" + cl.id, &value)) return false;
    c->client_secrets[cl.id] = std::move(value);
  }
  if (!dev_defaults.empty()) {
    std::string names;
    for (const auto& n : dev_defaults) names += (names.empty() ? "" : ", ") + n;
    std::fprintf(stderr,
                 "renkei: WARNING: %s not set: using fixed development values (development "
                 "only, never in production)\n",
                 names.c_str());
  }
  return true;
}

}  // namespace

std::optional<ServerConfig> parse_config(std::string_view json_text,
                                         const std::map<std::string, std::string>& env,
                                         std::string* error) {
  Reader r(error);
  auto parsed = parse_json(json_text);
  if (!parsed) {
    r.fail("config: not valid JSON");
    return std::nullopt;
  }
  const json& j = *parsed;
  if (!j.is_object()) {
    r.fail("config: the top level must be a JSON object");
    return std::nullopt;
  }
  static const std::set<std::string> kKeys = {"host",
                                              "port",
                                              "issuer",
                                              "instance_name",
                                              "worker_threads",
                                              "max_in_flight",
                                              "rate_limit_per_minute",
                                              "max_body_bytes",
                                              "tls_cert_file",
                                              "tls_key_file",
                                              "database",
                                              "seed_demo_data",
                                              "dev_mode",
                                              "movable_clock",
                                              "web_root",
                                              "profile",
                                              "lockout_limit",
                                              "authorization_days",
                                              "call_window_seconds",
                                              "flow_idle_seconds",
                                              "code_ttl_seconds",
                                              "access_token_seconds",
                                              "call_pool",
                                              "maintenance",
                                              "clients",
                                              "mail_transport",
                                              "maildir",
                                              "smtp_url",
                                              "mail_from",
                                              "mail_max_attempts",
                                              "flow_retention_days",
                                              "call_event_retention_days",
                                              "audit_retention_days",
                                              "mail_retention_days",
                                              "purge_interval_seconds",
                                              "metrics_public",
                                              "records"};
  for (const char* secret_key :
       {"pin_hmac_key", "webhook_secret", "admin_token", "admin_token_digest", "client_secrets"}) {
    if (j.contains(secret_key)) {
      r.fail(std::string("config: \"") + secret_key +
             "\" is a secret: set it in the environment, not in the file");
      return std::nullopt;
    }
  }
  if (!r.only_keys(j, "", kKeys)) return std::nullopt;

  ServerConfig c;
  const std::string w;
  constexpr std::int64_t kMaxInt = 1'000'000'000;
  std::int64_t body_bytes = static_cast<std::int64_t>(c.max_body_bytes);
  bool ok =
      r.read(j, w, "host", &c.host) && r.read_int(j, w, "port", 0, 65535, &c.port) &&
      r.read(j, w, "issuer", &c.issuer) && r.read(j, w, "instance_name", &c.instance_name) &&
      r.read_int(j, w, "worker_threads", 1, 1024, &c.worker_threads) &&
      r.read_int(j, w, "max_in_flight", 1, kMaxInt, &c.max_in_flight) &&
      r.read_int(j, w, "rate_limit_per_minute", 1, kMaxInt, &c.rate_limit_per_minute) &&
      r.read(j, w, "max_body_bytes", 1, 64 * 1024 * 1024, &body_bytes) &&
      r.read(j, w, "tls_cert_file", &c.tls_cert_file) &&
      r.read(j, w, "tls_key_file", &c.tls_key_file) && r.read(j, w, "database", &c.database) &&
      r.read(j, w, "seed_demo_data", &c.seed_demo_data) && r.read(j, w, "dev_mode", &c.dev_mode) &&
      r.read(j, w, "movable_clock", &c.movable_clock) && r.read(j, w, "web_root", &c.web_root) &&
      r.read_int(j, w, "lockout_limit", 1, 1000, &c.lockout_limit) &&
      r.read_int(j, w, "authorization_days", 1, 3650, &c.authorization_days) &&
      r.read_int(j, w, "call_window_seconds", 1, 3600, &c.call_window_seconds) &&
      r.read_int(j, w, "flow_idle_seconds", 1, 86400, &c.flow_idle_seconds) &&
      r.read_int(j, w, "code_ttl_seconds", 1, 3600, &c.code_ttl_seconds) &&
      r.read_int(j, w, "access_token_seconds", 1, 86400, &c.access_token_seconds) &&
      r.read_strings(j, w, "call_pool", &c.call_pool) &&
      r.read(j, w, "mail_transport", &c.mail_transport) && r.read(j, w, "maildir", &c.maildir) &&
      r.read(j, w, "smtp_url", &c.smtp_url) && r.read(j, w, "mail_from", &c.mail_from) &&
      r.read_int(j, w, "mail_max_attempts", 1, 1000, &c.mail_max_attempts) &&
      r.read_int(j, w, "flow_retention_days", 1, 3650, &c.flow_retention_days) &&
      r.read_int(j, w, "call_event_retention_days", 1, 3650, &c.call_event_retention_days) &&
      r.read_int(j, w, "audit_retention_days", 1, 36500, &c.audit_retention_days) &&
      r.read_int(j, w, "mail_retention_days", 1, 3650, &c.mail_retention_days) &&
      r.read_int(j, w, "purge_interval_seconds", 1, 86400, &c.purge_interval_seconds) &&
      r.read(j, w, "metrics_public", &c.metrics_public);
  if (!ok) return std::nullopt;
  // The demo data set only where it was asked for in development.
  if (!j.contains("seed_demo_data")) c.seed_demo_data = c.dev_mode;
  c.max_body_bytes = static_cast<std::size_t>(body_bytes);
  // The issuer follows host and port unless set explicitly.
  if (!j.contains("issuer")) c.issuer = "http://" + c.host + ":" + std::to_string(c.port);
  if (j.contains("profile") && !parse_profile(r, j["profile"], &c.profile)) return std::nullopt;
  if (j.contains("maintenance") && !parse_maintenance(r, j["maintenance"], &c.maintenance))
    return std::nullopt;
  if (j.contains("clients") && !parse_clients(r, j["clients"], &c.clients)) return std::nullopt;
  if (j.contains("records") && !parse_records(r, j["records"], &c.records)) return std::nullopt;
  // The records are the core system's: nothing of them to seed here.
  if (c.records.source == "remote" && !j.contains("seed_demo_data")) c.seed_demo_data = false;
  if (!validate(r, c)) return std::nullopt;
  if (!read_secrets(r, env, &c)) return std::nullopt;
  return c;
}

std::optional<ServerConfig> load_config(const std::string& path,
                                        const std::map<std::string, std::string>& env,
                                        std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error) *error = "config: cannot read " + path;
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string reason;
  auto config = parse_config(text.str(), env, &reason);
  if (!config && error) *error = path + ": " + reason;
  return config;
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

}  // namespace renkei::server
