// The server's configuration: one JSON file (see config/dev.json) for what an
// operator sets, environment variables for secrets. Institution name, links,
// contact phone and hours are configuration, never code (SPEC §2).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "renkei/service_calendar.h"

namespace renkei::server {

struct InstitutionProfile {
  std::string name = "ミレ信用組合";
  std::string terms_url;      // API利用規定
  std::string faq_url;        // よくあるご質問
  std::string contact_phone;  // お問い合わせ先
  std::string contact_hours;  // e.g. 平日の9時～17時
  std::string copyright;      // footer line
};

// A registered app (the manual's "XXX事業者").
struct ClientConfig {
  std::string id;
  std::string display_name;  // shown on ⑥: "<name>が以下の許可を求めています。"
  std::vector<std::string> redirect_uris;  // exact match only
  std::string secret_env;                  // env var holding the secret; empty = public client
  bool enabled = true;
};

// The circuit breaker in front of the core-banking gateway (records "breaker").
struct BreakerConfig {
  int failure_threshold = 5;  // consecutive failed calls that open it
  int open_ms = 30000;        // how long it stays open before one probe (half-open)
};

// The keep-alive TLS connections to the core-banking gateway (records "pool";
// http/gateway_transport.cpp). Each call has a connection to itself; after a
// complete answer it waits idle for the next call.
struct GatewayPoolConfig {
  int max_idle = 16;   // idle connections kept; 0 = a new connection (handshake) per call
  int idle_ms = 3000;  // an idle connection older than this is closed, not reused: keep
                       // it below the gateway's own keep-alive timeout
};

// Where the credit union's records are read (issue 14, docs/core-banking.md):
// "local" = this server's store (development, the demo, small deployments);
// "remote" = the core-banking gateway over HTTPS with a client certificate.
struct RecordsConfig {
  std::string source = "local";
  std::string url;          // https://gateway.example:8443 (remote)
  std::string client_cert;  // PEM file: our client certificate (remote)
  std::string client_key;   // PEM file: its private key (remote)
  std::string ca;           // PEM file: the CA that signed the gateway's certificate (remote)
  int timeout_ms = 3000;    // per call (connect, send, answer)
  int read_retries = 1;     // more attempts for reads; the PIN check is never retried
  BreakerConfig breaker;
  GatewayPoolConfig pool;
};

struct ServerConfig {
  // --- listening ---
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string issuer = "http://127.0.0.1:8080";  // RFC 8414/9207 issuer, our base URL
  // httplib 0.11.4 keeps a worker thread for the whole life of a keep-alive
  // connection, so threads must outnumber the requests we let in at once, or
  // idle connections starve new ones (found by the load benchmark).
  int worker_threads = 64;
  int max_in_flight = 48;           // more concurrent requests answer busy
  int rate_limit_per_minute = 300;  // per client IP, customer and token endpoints
  std::size_t max_body_bytes = 16 * 1024;
  // This instance's name, sent as X-Renkei-Instance on every response so that
  // people and tests behind a load balancer can see which instance answered.
  // Empty in the file → the machine's hostname and the listening port
  // ("host:8080"), filled in at start-up by main.
  std::string instance_name;
  std::string tls_cert_file;  // both set → HTTPS
  std::string tls_key_file;
  // --- storage ---
  // SQLite file ("var/renkei.db", "sqlite:PATH", ":memory:" for tests) or a
  // PostgreSQL URI ("postgresql://user@host/renkei"); see open_store.
  std::string database = "var/renkei.db";
  // Create the demo data set on first start. Development only: the demo PINs
  // are published, so outside dev_mode it is refused (and its default follows
  // dev_mode), and a production server refuses a database that holds it.
  bool seed_demo_data = false;
  // --- the credit union's records ---
  RecordsConfig records;
  // --- modes ---
  bool dev_mode = false;         // simulator endpoints, demo app page
  bool movable_clock = false;    // the admin API may move the server's clock (dev only)
  std::string web_root = "web";  // static files of the customer's screens
  // --- rules ---
  InstitutionProfile profile;
  int lockout_limit = 5;
  int authorization_days = 30;
  int call_window_seconds = 120;
  int flow_idle_seconds = 900;
  int code_ttl_seconds = 60;
  int access_token_seconds = 900;
  std::vector<std::string> call_pool = {"0120000001", "0120000002", "0120000003"};
  std::vector<MaintenanceWindow> maintenance;
  std::vector<ClientConfig> clients;
  // --- retention (the purge job deletes older rows; days) ---
  int flow_retention_days = 7;         // flows (name, e-mail, phone) after their last step
  int call_event_retention_days = 30;  // telephony call events (masked caller only)
  int audit_retention_days = 1825;     // the operation log (5 years)
  int mail_retention_days = 30;        // result mails (address, name) once sent or failed
  int purge_interval_seconds = 3600;   // how often the purge job runs
  // --- operations ---
  // /metrics without a token. Outside dev_mode it needs "Authorization: Bearer"
  // with RENKEI_METRICS_TOKEN or the admin token unless this is set (for a
  // scraper on a private network that cannot send a token).
  bool metrics_public = false;
  // --- mail ---
  std::string mail_transport = "maildir";  // "maildir" or "smtp"
  std::string maildir = "var/mail";
  std::string smtp_url;  // smtp://host:port
  std::string mail_from = "noreply@renkei.invalid";
  int mail_max_attempts = 10;
  // --- secrets (from the environment only) ---
  std::string pin_hmac_key;          // RENKEI_PIN_KEY
  std::string webhook_secret;        // RENKEI_WEBHOOK_SECRET
  std::string admin_token_digest;    // sha256 hex of RENKEI_ADMIN_TOKEN
  std::string metrics_token_digest;  // sha256 hex of RENKEI_METRICS_TOKEN (optional)
  std::map<std::string, std::string> client_secrets;  // client id → secret (from secret_env)
};

// True when customers reach this server over HTTPS: it speaks TLS itself, or
// its issuer is https (TLS terminated by a proxy in front of it). Secure
// cookies, the __Host- cookie name and HSTS follow this, not the listener.
inline bool served_over_https(const ServerConfig& c) {
  return !c.tls_cert_file.empty() || c.issuer.rfind("https://", 0) == 0;
}

// The admin token used in dev_mode when RENKEI_ADMIN_TOKEN is not set
// (development only; the development console signs in with it).
inline constexpr const char* kDevAdminToken = "renkei-development-admin-token";

// Reads the JSON file at `path` and the secrets from `env` (name → value; pass
// the process environment in main, a map in tests). On error returns nullopt
// and sets *error to a one-line reason. In dev_mode missing secrets get fixed
// development values (printed as such); otherwise they are required.
std::optional<ServerConfig> load_config(const std::string& path,
                                        const std::map<std::string, std::string>& env,
                                        std::string* error);
// Same from JSON text (tests).
std::optional<ServerConfig> parse_config(std::string_view json_text,
                                         const std::map<std::string, std::string>& env,
                                         std::string* error);
// The process environment as a map.
std::map<std::string, std::string> process_environment();

}  // namespace renkei::server
