// The HTTP server: cpp-httplib tuned as TOOLCHAIN.md measured it, the
// middleware every route shares, and the operations endpoints.
//
// Middleware, in the order httplib runs it for one request (all on the same
// worker thread, which is why the per-request state is thread_local):
//   pre-routing   request id, start time; per-IP rate limit (429 busy) and the
//                 in-flight limit (503 busy) for everything but /healthz, /metrics;
//                 a new flow (GET /authorize) only gets three quarters of the
//                 in-flight slots, so flows under way can finish (see below)
//   handler       a route, or the error handler for 4xx/5xx without a body,
//                 or the exception handler (system_error, nothing leaked; 503
//                 with Retry-After when the store is down, is_storage_outage)
//   post-routing  security headers, X-Request-Id, metrics, one JSON log line
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "http/ascii.h"
#include "http/framing.h"
#include "http/http_util.h"
#include "http/json_text.h"
#include "http/routes.h"
#include "ops/crypto.h"
#include "renkei/json.h"

namespace renkei::server {
namespace {

using Clock = std::chrono::steady_clock;
using httplib::Request;
using httplib::Response;
using HandlerResponse = httplib::Server::HandlerResponse;

constexpr int kListenBacklog = 1024;
constexpr std::size_t kKeepAliveMaxCount = 100000;
constexpr time_t kReadTimeoutSeconds = 10;
// The whole of a request (line, headers and body) must arrive within this
// time from its first byte. kReadTimeoutSeconds bounds each wait only: a
// client sending one byte every few seconds (slowloris) held a worker thread
// for as long as it liked (hostile-input sweep). 16 KB of body, our limit,
// take under 7 s even at 20 kbit/s.
constexpr std::chrono::seconds kRequestReadDeadline{10};
// An idle keep-alive connection holds a worker thread (httplib 0.11.4); the
// default 5 s let idle browsers starve new customers under load.
constexpr time_t kKeepAliveIdleSeconds = 2;
constexpr time_t kWriteTimeoutSeconds = 10;

// A token bucket per client IP: `per_minute` requests a minute on average,
// bursts up to the same number. Sharded to keep lock contention low.
class RateLimiter {
 public:
  explicit RateLimiter(int per_minute)
      : capacity_(per_minute), per_second_(static_cast<double>(per_minute) / 60.0) {}

  // True when the request may proceed; otherwise *retry_after_seconds says
  // when the next token is due.
  bool allow(const std::string& ip, Clock::time_point now, int* retry_after_seconds) {
    Shard& shard = shards_[std::hash<std::string>{}(ip) % shards_.size()];
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (shard.buckets.size() > kMaxBucketsPerShard) prune(shard, now);
    auto [it, inserted] = shard.buckets.try_emplace(ip, Bucket{capacity_, now});
    Bucket& b = it->second;
    if (!inserted) {
      b.tokens = std::min(capacity_, b.tokens + seconds(now - b.last) * per_second_);
      b.last = now;
    }
    if (b.tokens >= 1.0) {
      b.tokens -= 1.0;
      return true;
    }
    *retry_after_seconds = static_cast<int>((1.0 - b.tokens) / per_second_) + 1;
    return false;
  }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point last;
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Bucket> buckets;
  };
  static constexpr std::size_t kMaxBucketsPerShard = 4096;
  static double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
  // Forgets buckets that have refilled completely (they equal a fresh one).
  void prune(Shard& shard, Clock::time_point now) {
    for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
      const Bucket& b = it->second;
      if (b.tokens + seconds(now - b.last) * per_second_ >= capacity_) {
        it = shard.buckets.erase(it);
      } else {
        ++it;
      }
    }
  }
  const double capacity_;
  const double per_second_;
  std::array<Shard, 16> shards_;
};

// The issuer's host name, lower case: the one name besides localhost and IP
// literals that host_allowed accepts. Computed once, not per request.
std::string issuer_host_of(const std::string& issuer) {
  std::string host = issuer;
  if (std::size_t sep = host.find("://"); sep != std::string::npos) host.erase(0, sep + 3);
  host.resize(std::min(host.size(), host.find_first_of(":/?#")));
  for (char& ch : host) ch = ascii_lower(ch);
  return host;
}

// Shared by the middleware lambdas; owned by them (and so by the server).
struct ServerState {
  explicit ServerState(const ServerConfig& c)
      : limiter(c.rate_limit_per_minute),
        id_prefix(random_token(6)),
        issuer_host(issuer_host_of(c.issuer)) {}
  RateLimiter limiter;
  std::atomic<int> in_flight{0};
  std::atomic<int> listen_fd{-1};
  std::atomic<std::uint64_t> next_request{0};
  const std::string id_prefix;
  const std::string issuer_host;
  std::string next_id() {
    char digits[24];
    const int n = std::snprintf(digits, sizeof digits, "-%llu",
                                static_cast<unsigned long long>(++next_request));
    std::string id;
    id.reserve(id_prefix.size() + static_cast<std::size_t>(n));
    id.append(id_prefix).append(digits, static_cast<std::size_t>(n));
    return id;
  }
};

// The value of a request header, or nullptr when absent: one lookup in
// httplib's case-insensitive header map (has_header + get_header_value are
// two, each folding the case of every name compared). libstdc++'s
// multimap::find is a lower_bound: the first of repeated headers, as
// get_header_value gives.
const std::string* header_or_null(const Request& req, const char* name) {
  auto it = req.headers.find(name);
  return it == req.headers.end() ? nullptr : &it->second;
}

// What pre-routing learned about the request being served on this thread.
struct RequestState {
  bool active = false;   // pre-routing ran for this request
  bool counted = false;  // it holds a slot of the in-flight limit
  Clock::time_point start;
  std::string id;
};
thread_local RequestState t_request;

// An answer after which its connection is closed (busy, a declared body over
// the limit: the body was not read). The connection loop closes it; the
// post-routing handler makes the answer say so, once: httplib adds its own
// "Connection: close" when the client asked to close, and
// Response::set_header adds rather than replaces.
thread_local bool t_close_after_answer = false;
void close_after_answer() {
  t_close_after_answer = true;
}

// DNS rebinding (issue 12, found by review): a page on evil.example whose
// name is made to resolve to this server is same-origin with it and sends
// "Host: evil.example". Only the issuer's host, "localhost" and IP literals
// (which no rebinding page can send) are served; a request without Host
// (HTTP/1.0) is no browser's.
bool host_allowed(const std::string& issuer_host, const Request& req) {
  const std::string* value = header_or_null(req, "Host");
  if (value == nullptr) return true;
  std::string_view host = *value;
  if (host.starts_with("[")) return true;  // an IPv6 literal
  if (std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (host.empty()) return false;
  if (host.find_first_not_of("0123456789.") == std::string_view::npos) return true;  // IPv4
  // Compared without a lower-case copy.
  auto equals_folded = [host](std::string_view lower_name) {
    if (host.size() != lower_name.size()) return false;
    for (std::size_t i = 0; i < host.size(); ++i) {
      if (ascii_lower(host[i]) != lower_name[i]) return false;
    }
    return true;
  };
  return equals_folded("localhost") || equals_folded(issuer_host);
}

// RFC 9112 §3.2: an HTTP/1.1 request without a Host header, or any request
// with more than one, is answered 400; a proxy in front and this server could
// otherwise disagree on which host was asked for (found by the hostile-input
// sweep: both were served). HTTP/1.0 may leave it out (HAProxy's checks do).
bool host_field_well_formed(const Request& req) {
  const std::size_t n = req.headers.count("Host");
  return n == 1 || (n == 0 && req.version != "HTTP/1.1");
}

bool is_unlimited_path(const std::string& path) {
  return path == "/healthz" || path == "/metrics";
}

// httplib 0.11.4 applies a Range header to any answer, whatever its status:
// a JSON error cut to its first bytes (with a Content-Range), a 200 of the
// API cut short, and as many parts as the header names, overlapping ones
// included (700 ranges of the WASM module made a 7.6 KB request into a
// 168 MB answer; found by the hostile-input sweep). A Range is therefore
// kept only where it means something, a GET of a static file, and only when
// it names one range; any other is ignored (RFC 9110 §14.2 allows a server
// to ignore a Range): the whole answer, as without it.
bool range_allowed(const Request& req) {
  return req.ranges.size() == 1 && req.method == "GET" && req.path.rfind("/static/", 0) == 0;
}

// Admission under overload (found by scripts/bench-sustained.sh): with one
// limit for every request, 256 clients on 2 cores filled the in-flight slots
// with new flows (GET /authorize, itself a write), whose later steps then
// answered busy; 48 of 8,491 started flows finished in 60 s (0.8 flows/s,
// against about 100 without overload). A new flow is therefore admitted only
// while fewer than three quarters of the slots are taken; the last quarter is
// kept for the steps of flows already under way, the token exchange and the
// API. (Half was too strict: 32 clients at capacity, with no overload, then
// already saw new flows refused; with 48 slots, 36 keeps them all admitted.)
bool starts_new_flow(const Request& req) {
  return req.path == "/authorize";
}
int new_flow_limit(int max_in_flight) {
  return std::max(1, max_in_flight * 3 / 4);
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Responses that must never be cached: everything but static files, the
// core's catalog (GET /api/catalog) and the authorization server's metadata
// (RFC 8414) — the same for everyone, no personal data, their own
// Cache-Control — when answered 200 or 304.
bool is_api_response(const Request& req, const Response& res) {
  if ((req.path == "/api/catalog" || req.path == "/.well-known/oauth-authorization-server") &&
      (res.status == 200 || res.status == 304)) {
    return false;
  }
  if (auto ct = res.headers.find("Content-Type");
      ct != res.headers.end() && starts_with(ct->second, "application/json")) {
    return true;
  }
  for (std::string_view p : {"/api/", "/admin/api", "/token", "/revoke", "/authorize",
                             "/telephony/", "/dev/", "/healthz", "/metrics", "/.well-known/"}) {
    if (starts_with(req.path, p)) return true;
  }
  return false;
}

// A bounded label for metrics: at most three path segments; segments that look
// like ids (digits or long) collapse to ":id"; paths no route serves (404, or
// 405: no route of that method) to one value, and every 401 to one value too
// (the admin API answers any path under it 401 before anything else, so its
// paths are the caller's to choose). Appended to `out` in place (one buffer
// per request, no copy per segment).
void append_route_label(std::string& out, std::string_view path, int status) {
  if (status == 404 || status == 405) {
    out += "unmatched";
    return;
  }
  if (status == 401) {
    out += "unauthenticated";
    return;
  }
  const std::size_t start = out.size();
  std::size_t pos = 1;
  for (int depth = 0; depth < 3 && pos <= path.size(); ++depth) {
    std::size_t end = path.find('/', pos);
    std::string_view seg =
        path.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    out += '/';
    if (seg.size() > 32 || seg.find_first_of("0123456789") != std::string_view::npos) {
      out += ":id";
    } else {
      for (char c : seg) {
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.';
        out += ok ? c : '_';
      }
    }
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  if (out.size() == start) out += '/';
}

std::string_view method_label(const std::string& m) {
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (m == known) return known;
  }
  return "other";
}

std::string truncated(const std::string& s, std::size_t max) {
  return s.size() <= max ? s : s.substr(0, max);
}

// One line to stderr in a single write, so lines of parallel requests do not
// interleave.
void write_log_line(const nlohmann::json& line) {
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
}

// The access log line of one request, written flat (no JSON DOM): the keys in
// the order nlohmann's object gave them before (sorted), so readers of the
// log see the same line.
void write_access_log(std::string_view id, std::string_view ip, std::string_view method, double ms,
                      std::string_view path, int status) {
  char number[48];
  std::string line;
  line.reserve(160 + path.size());
  line += "{\"id\":";
  append_json_string(line, id);
  line += ",\"ip\":";
  append_json_string(line, ip);
  line += ",\"method\":";
  append_json_string(line, method);
  line += ",\"ms\":";
  line.append(number, static_cast<std::size_t>(std::snprintf(number, sizeof number, "%.3f", ms)));
  line += ",\"path\":";
  append_json_string(line, path);
  line += ",\"status\":";
  line.append(number, static_cast<std::size_t>(std::snprintf(number, sizeof number, "%d", status)));
  line += ",\"time\":";
  append_json_string(line, utc_now_iso_ms());
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void answer_busy(Response& res, const Request& req, int status, int retry_after) {
  send_error(res, ErrorCode::busy);
  res.status = status;
  res.set_header("Retry-After", std::to_string(retry_after));
  // "Connection: close" on every busy answer, for two reasons:
  // - The body of a refused request was not read: the connection cannot carry
  //   another request after it (httplib 0.11.4 decides about closing before
  //   routing; it drops the connection after its keep-alive wait, and the
  //   unread bytes only ever reach this client).
  // - httplib keeps one worker thread per connection for the connection's
  //   whole life. Under overload (scripts/bench-sustained.sh: 256 clients,
  //   64 workers) the connections that had a worker kept it, retrying into
  //   busy answers, while the others waited unanswered in httplib's queue until
  //   their clients timed out (15 s) and reconnected, leaving the dead sockets
  //   queued: open descriptors grew by one per waiting client every 15 s for
  //   as long as the overload lasted. Closing after busy frees the worker for
  //   the next waiting connection, so every client gets an answer in turn.
  (void)req;
  close_after_answer();
}

// A request malformed as HTTP (framing, size): answered `status` with the
// error envelope's bad_request, or on /token, /par and /revoke in the form of
// their other errors (RFC 6749 §5.2: "invalid_request"), so an OAuth client
// reads every answer of theirs the same way.
void answer_malformed(Response& res, const Request& req, int status, const char* description) {
  if (is_oauth_form_endpoint(req.path)) {
    send_oauth_request_error(res, status, description);
    return;
  }
  send_error(res, ErrorCode::bad_request);
  res.status = status;
}

ErrorCode code_for_status(int status) {
  switch (status) {
    case 401:
      return ErrorCode::unauthorized;
    case 403:
      return ErrorCode::forbidden;
    case 404:
      return ErrorCode::not_found;
    case 405:
      return ErrorCode::method_not_allowed;
    case 503:
      return ErrorCode::busy;
    default:
      return status >= 500 ? ErrorCode::system_error : ErrorCode::bad_request;
  }
}

void install_middleware(httplib::Server& svr, App& app, std::shared_ptr<ServerState> state,
                        std::shared_ptr<const RouteTable> routes) {
  const int max_in_flight = app.config().max_in_flight;

  // A declared body over max_body_bytes never gets here: the request's
  // framing (framing.cpp) refused it before httplib read any of it.
  svr.set_pre_routing_handler([state, max_in_flight, &app](const Request& req, Response& res) {
    RequestState& t = t_request;
    t = RequestState{};
    t.active = true;
    t.start = Clock::now();
    t.id = state->next_id();
    // The request is httplib's own non-const object, handed to handlers
    // as const (as static_routes.cpp does for an unsatisfiable Range).
    if (!req.ranges.empty() && !range_allowed(req)) {
      const_cast<Request&>(req).ranges.clear();
    }
    // A request framing refused (framing.h): answered at once, and its
    // connection closed (its rewritten head asks for that, so httplib
    // writes "Connection: close" itself).
    if (const Framing framing = request_framing(); framing.status != 0) {
      answer_malformed(res, req, framing.status, framing.reason);
      app.metrics().count("renkei_http_refused_total", "reason=\"framing\"");
      return HandlerResponse::Handled;
    }
    if (!host_field_well_formed(req)) {
      send_error(res, ErrorCode::bad_request);
      app.metrics().count("renkei_http_refused_total", "reason=\"host\"");
      return HandlerResponse::Handled;
    }
    if (!host_allowed(state->issuer_host, req)) {
      send_error(res, ErrorCode::forbidden);
      app.metrics().count("renkei_http_refused_total", "reason=\"host\"");
      return HandlerResponse::Handled;
    }
    if (is_unlimited_path(req.path)) return HandlerResponse::Unhandled;
    int retry_after = 1;
    if (!state->limiter.allow(req.remote_addr, t.start, &retry_after)) {
      answer_busy(res, req, 429, retry_after);
      app.metrics().count("renkei_http_shed_total", "reason=\"rate_limit\"");
      return HandlerResponse::Handled;
    }
    const int limit = starts_new_flow(req) ? new_flow_limit(max_in_flight) : max_in_flight;
    if (state->in_flight.fetch_add(1) + 1 > limit) {
      state->in_flight.fetch_sub(1);
      answer_busy(res, req, 503, 1);
      app.metrics().count("renkei_http_shed_total", "reason=\"in_flight\"");
      return HandlerResponse::Handled;
    }
    t.counted = true;
    return HandlerResponse::Unhandled;
  });

  // Only responses without a body: a handler that answered with its own
  // envelope (or page) keeps it.
  svr.set_error_handler(
      httplib::Server::HandlerWithResponse([routes](const Request& req, Response& res) {
        if (!res.body.empty()) return HandlerResponse::Unhandled;
        int status = res.status;
        // No route of this method: 405 with Allow when another method has one
        // (RFC 9110 §15.5.6).
        if (status == 404) {
          if (std::string allow = routes->allowed(req.path); !allow.empty()) {
            send_error(res, ErrorCode::method_not_allowed);
            res.set_header("Allow", allow);
            return HandlerResponse::Handled;
          }
        }
        // httplib's own early errors (a body cut short 400, 413, 414, 416): in the
        // OAuth form on the OAuth endpoints.
        if (status >= 400 && status < 500 && status != 404 && status != 405 &&
            is_oauth_form_endpoint(req.path)) {
          answer_malformed(res, req, status, "the request is malformed");
          return HandlerResponse::Handled;
        }
        send_error(res, code_for_status(status));
        res.status = status;  // keep 404, 405, 413, 414 …
        return HandlerResponse::Handled;
      }));

  svr.set_exception_handler([](const Request& req, Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    bool outage = false;  // the store cannot serve now: 503, Retry-After
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
      outage = is_storage_outage(e);
    } catch (...) {
    }
    write_log_line({{"time", utc_now_iso_ms()},
                    {"event", "exception"},
                    {"id", t_request.id},
                    {"path", truncated(req.path, 200)},
                    {"what", truncated(what, 300)}});
    // Nothing the handler prepared (cookies, partial bodies) goes out.
    res.headers.clear();
    res.body.clear();
    send_system_error(res, outage);
  });

  // Metric names as strings made once (Metrics takes std::string; a literal
  // would allocate a temporary per call).
  static const std::string kRequestsTotal = "renkei_http_requests_total";
  static const std::string kRequestDuration = "renkei_http_request_duration_seconds";
  static const std::string kInFlight = "renkei_http_in_flight";
  static const std::string kNoLabels;
  const bool tls_everywhere = served_over_https(app.config());
  svr.set_post_routing_handler([state, &app, tls_everywhere](const Request& req, Response& res) {
    RequestState& t = t_request;
    if (t.counted) state->in_flight.fetch_sub(1);
    double seconds = t.active ? std::chrono::duration<double>(Clock::now() - t.start).count() : 0.0;
    std::string id = t.active ? std::move(t.id) : state->next_id();
    const bool active = t.active;
    t.active = false;
    t.counted = false;

    if (t_close_after_answer) {
      res.headers.erase("Connection");
      res.headers.erase("Keep-Alive");
      res.set_header("Connection", "close");
    }
    res.set_header("X-Request-Id", id);
    if (!app.config().instance_name.empty()) {
      res.set_header("X-Renkei-Instance", app.config().instance_name);
    }
    add_security_headers(res, is_api_response(req, res),
                         /*over_tls=*/req.ssl != nullptr || tls_everywhere);

    // method="GET",route="/api/flow" then, for the counter, ,status="200".
    const std::string_view method = method_label(req.method);
    std::string labels;
    labels.reserve(96);
    labels += "method=\"";
    labels += method;
    labels += "\",route=\"";
    append_route_label(labels, req.path, res.status);
    labels += '"';
    Metrics& m = app.metrics();
    if (active) m.observe(kRequestDuration, labels, seconds);
    char status_label[32];
    labels.append(status_label,
                  static_cast<std::size_t>(std::snprintf(status_label, sizeof status_label,
                                                         ",status=\"%d\"", res.status)));
    m.count(kRequestsTotal, labels);
    m.set_gauge(kInFlight, kNoLabels, state->in_flight.load());

    // The path only: query strings carry codes and tokens. Never bodies.
    std::string_view path = req.path;
    std::string_view ip = req.remote_addr;
    std::string_view raw_method = req.method;
    write_access_log(id, ip.substr(0, 64), raw_method.substr(0, 16),
                     static_cast<double>(static_cast<std::int64_t>(seconds * 1e6)) / 1e3,
                     path.substr(0, 200), res.status);
  });
}

}  // namespace

void register_ops_routes(Router& server, App& app) {
  // Liveness and readiness: the store answers a trivial transaction. Run as
  // any other unit (with_transaction), so that a pooled PostgreSQL connection
  // the server closed meanwhile costs a rerun on another one, not a 503 that
  // would take a healthy instance out of the load balancer.
  server.Get("/healthz", [&app](const Request&, Response& res) {
    try {
      with_transaction(app.store(), TxMode::read_only,
                       [](StoreTx& tx) { (void)tx.count_accounts(); });
      send_json(res, 200, {{"status", "ok"}});
    } catch (const std::exception& e) {
      // 503 whatever the failure (the instance cannot serve: out of the load
      // balancer); Retry-After when it is an outage of the store.
      nlohmann::json body = error_envelope(ErrorCode::system_error);
      body["status"] = "unavailable";
      send_json(res, 503, body);
      if (is_storage_outage(e)) mark_storage_outage(res);
    }
  });
  // Metrics name flows, clients and outcomes: outside dev_mode only a scraper
  // with the metrics token (or staff with the admin token) may read them,
  // unless the operator declared the port private (metrics_public).
  server.Get("/metrics", [&app](const Request& req, Response& res) {
    const ServerConfig& c = app.config();
    const bool open = c.dev_mode || c.metrics_public;
    if (!open && !bearer_matches_any(req, {c.metrics_token_digest, c.admin_token_digest})) {
      app.metrics().count("renkei_metrics_refused_total");  // guesses leave a trace
      send_error(res, ErrorCode::unauthorized);
      res.set_header("WWW-Authenticate", "Bearer realm=\"renkei-metrics\"");
      return;
    }
    // with_transaction's reruns after a deadlock or serialization failure
    // (a process-wide count kept by the store, shown as a gauge).
    app.metrics().set_gauge("renkei_storage_conflict_retries", "",
                            static_cast<double>(storage_conflict_retries()));
    // … and after a connection lost before anything of the transaction was
    // sent (storage_error.h: StorageConnectionLost).
    app.metrics().set_gauge("renkei_storage_connection_retries", "",
                            static_cast<double>(storage_connection_retries()));
    res.set_content(app.metrics().render(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

// ------------------------------------------------------------ connections
//
// httplib 0.11.4 waits for a connection's next request (and for its first)
// by polling: select with a 10 ms timeout, then a 1 ms sleep, over and over
// until the keep-alive timeout. Every idle connection so woke the server about
// 90 times a second, 1-3 ms of CPU per connection-second here: with the six
// connections a browser opens, some 14 ms for each page a customer stays on
// until they timed out, against 1.5 ms for the page's requests themselves
// (docs/performance.md, "Static files: compressed once"). KeepAliveServer
// waits with one poll() per slice of kIdleSliceMs instead (2 wakeups a
// second), and otherwise runs the connection as httplib's own loop does: a
// stream per request with its read and write timeouts and a 4 KiB read
// buffer, at most keep_alive_max_count requests, the last one answered with
// "Connection: close", process_request (protected in httplib::Server) for
// each. The slice bounds how long a stopping server waits for its idle
// connections (100 ms slices measured 2 ms more per page with its tail than
// 1 s slices). TLS in the server itself (tls_cert_file) runs the same loop on
// httplib::SSLServer, its stream reading and writing through OpenSSL.
// Unlike httplib's loop (issue 10, the server's CPU per page load): an answer
// is collected and sent with one send() (httplib writes the headers and the
// body separately, each after two polls), a request's bytes are read without
// a poll when they are already there, and the connection's addresses are
// looked up once.

namespace {

constexpr int kIdleSliceMs = 500;

// What a connection keeps from one request to the next: its two ends, looked
// up on its first request (httplib asks for both on every request: two system
// calls and two getnameinfo each time), and the read buffer's memory (a 4 KiB
// allocation per request cost more than the framing's checks: callgrind,
// renkei_load_bench), and the bytes read beyond a request: the start of the
// next one (pipelining, RFC 9112 §9.3.2: answered in order). They are kept
// only when framing knows where the request ended and httplib read it as
// framing did (its whole head, none of what followed; a body it left unread
// is skipped when it is all there). Otherwise (a refused request, one cut
// off at its deadline, one httplib could not parse: it answers 400 without
// closing) the connection is closed after the answer: what follows cannot
// be told apart from a next request (keeping it answered each line of a bad
// request with another 400: found by the hostile catalog).
struct Endpoint {
  bool known = false;
  std::string ip;
  int port = 0;
};
struct Connection {
  Endpoint remote;
  Endpoint local;
  std::string buffer;
  SSL* ssl = nullptr;  // TLS in the server itself; its socket is non-blocking
};

// A connected socket as httplib's detail::SocketStream (not in the installed
// header) reads and writes it.
class SocketStream final : public httplib::Stream, public ByteSource {
 public:
  SocketStream(socket_t sock, time_t read_sec, time_t read_usec, time_t write_sec,
               time_t write_usec, Connection& connection)
      : names_(connection),
        sock_(sock),
        read_ms_(static_cast<int>(read_sec * 1000 + read_usec / 1000)),
        write_ms_(static_cast<int>(write_sec * 1000 + write_usec / 1000)),
        read_deadline_(Clock::now() + kRequestReadDeadline),
        ssl_(connection.ssl),
        in_(connection.buffer) {}

  // A wait for the request's next bytes ends at the read timeout or at the
  // request's deadline, whichever comes first.
  bool is_readable() const override {
    if (ssl_ != nullptr && SSL_pending(ssl_) > 0) return true;
    // Rounded up: a wait that ends for want of time ends at or past the
    // deadline, so past_deadline() sees it.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(read_deadline_ - Clock::now());
    if (left.count() <= 0) return false;
    return wait(POLLIN, static_cast<int>(std::min<std::int64_t>(left.count(), read_ms_))) > 0;
  }
  bool is_writable() const override { return wait(POLLOUT, write_ms_) > 0 && is_alive(); }

  ssize_t read(char* ptr, size_t size) override {
    // What was written before a read goes out first (a "100 Continue" before
    // the body it asks for).
    if (!out_.empty() && !flush()) return -1;
    if (in_off_ < in_.size()) {
      // httplib reads the request line and the header fields a byte a time.
      if (size == 1) {
        *ptr = in_[in_off_++];
        ++consumed_;
        return 1;
      }
      const std::size_t n = std::min(size, in_.size() - in_off_);
      std::memcpy(ptr, in_.data() + in_off_, n);
      in_off_ += n;
      consumed_ += n;
      return static_cast<ssize_t>(n);
    }
    in_.clear();
    in_off_ = 0;
    // A refused request is its rewritten bytes and nothing more.
    if (input_ended_) return 0;
    if (size >= kReadChunk) {
      const ssize_t n = receive(ptr, size);
      if (n > 0) consumed_ += static_cast<std::uint64_t>(n);
      return n;
    }
    const ssize_t n = fill(in_);
    if (n <= 0) return n;
    return read(ptr, size);
  }

  // Reads the request's head into the buffer and checks its framing
  // (framing.h), before httplib reads any of it; a refused request is its
  // rewritten bytes and nothing more.
  Framing frame(std::size_t max_body) {
    framing_ = read_and_frame(in_, max_body, *this);
    if (framing_.status != 0) input_ended_ = true;
    return framing_;
  }

  // After httplib served the request: leaves what followed it in the
  // connection's buffer, for its next request, and says whether there may be
  // one (the struct Connection comment).
  bool keep_what_follows() {
    const Framing& f = framing_;
    const std::size_t buffered = in_.size() - in_off_;
    if (f.status != 0 || f.length == 0 || past_deadline_ || consumed_ < f.head ||
        consumed_ > f.length || f.length - consumed_ > buffered) {
      in_.clear();
      return false;
    }
    // The rest of a body httplib did not read (a GET's, or one refused
    // before reading) is skipped.
    in_.erase(0, in_off_ + static_cast<std::size_t>(f.length - consumed_));
    in_off_ = 0;
    return true;
  }

  // ByteSource: appends what the socket has, waiting for it at most until
  // the read timeout or the request's deadline.
  bool read_more(std::string& to) override { return fill(to) > 0; }

  // A read found the request's deadline passed: whatever httplib answered,
  // the connection is closed after it (the rest of that request would
  // otherwise be read as the next one, and get another 10 s).
  bool past_deadline() const { return past_deadline_; }
  void send_continue() override {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    out_.append(kContinue);
    flush();
  }

  // Collected, not sent: httplib 0.11.4 writes an answer's status line and
  // headers, then its body, in separate writes; each went out as its own
  // send (with a poll for writability and one for liveness before it), and,
  // with TCP_NODELAY, as its own packet. flush() sends what was collected in
  // one go: after the request (KeepAliveServer), before any read, and
  // whenever kFlushBytes have gathered, so a large body is not held whole.
  ssize_t write(const char* ptr, size_t size) override {
    out_.append(ptr, size);
    if (out_.size() >= kFlushBytes && !flush()) return -1;
    return static_cast<ssize_t>(size);
  }

  // Sends everything collected; false when the peer is gone or a wait for
  // writability passed the write timeout.
  bool flush() {
    std::size_t off = 0;
    while (off < out_.size()) {
      if (ssl_ != nullptr) {
        ERR_clear_error();
        const int n =
            SSL_write(ssl_, out_.data() + off,
                      static_cast<int>(std::min<std::size_t>(out_.size() - off, INT_MAX)));
        if (n > 0) {
          off += static_cast<std::size_t>(n);
          continue;
        }
        if (!wait_for_tls(n, write_ms_)) break;
        continue;
      }
      ssize_t n = ::send(sock_, out_.data() + off, out_.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (wait(POLLOUT, write_ms_) <= 0) break;
        continue;
      }
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    const bool sent = off == out_.size();
    out_.clear();
    return sent;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    endpoint(names_.remote, ::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    endpoint(names_.local, ::getsockname, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  int wait(short events, int timeout_ms) const {
    pollfd p{sock_, events, 0};
    int n;
    do {
      n = ::poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n;
  }
  // As httplib's is_socket_alive: nothing to read yet, or readable data.
  bool is_alive() const {
    const int n = wait(POLLIN, 0);
    if (n == 0) return true;
    if (n < 0 && errno == EBADF) return false;
    char c;
    return recv_eintr(&c, 1, MSG_PEEK) > 0;
  }
  // Appends one recv's bytes to `to`; its result.
  ssize_t fill(std::string& to) {
    const std::size_t old = to.size();
    to.resize(old + kReadChunk);
    const ssize_t n = receive(to.data() + old, kReadChunk);
    to.resize(old + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    return n;
  }
  // A read ended: when at the request's deadline, whatever httplib answers
  // says "Connection: close", and the connection is closed after it.
  void note_deadline() {
    if (Clock::now() < read_deadline_) return;
    past_deadline_ = true;
    close_after_answer();
  }
  // One recv: the bytes are usually there already (the wait saw them), so
  // first without waiting, and the timed wait only when it finds nothing.
  // Past the deadline nothing more is read, even bytes already waiting: a
  // trickle always has one.
  ssize_t receive(char* into, std::size_t room) {
    if (Clock::now() >= read_deadline_) {
      note_deadline();
      return -1;
    }
    if (ssl_ != nullptr) {
      for (;;) {
        // SSL_get_error reads the thread's error queue: cleared first, or an
        // old entry makes a WANT_READ look like a failure.
        ERR_clear_error();
        const int n = SSL_read(ssl_, into, static_cast<int>(std::min<std::size_t>(room, INT_MAX)));
        if (n > 0) return n;
        if (SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN) return 0;
        // A record arriving a byte at a time is waited for within the
        // request's deadline, as plain bytes are.
        if (!wait_for_tls(n, read_ms_) || Clock::now() >= read_deadline_) {
          note_deadline();
          return -1;
        }
      }
    }
    ssize_t n = recv_eintr(into, room, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!is_readable()) {
        note_deadline();
        return -1;
      }
      n = recv_eintr(into, room, 0);
    }
    return n;
  }
  // After an SSL_read or SSL_write that returned `result` <= 0: waits for
  // what TLS wants (readable: within the read timeout and the deadline;
  // writable: within `timeout_ms`); false on any other error or timeout.
  bool wait_for_tls(int result, int timeout_ms) const {
    switch (SSL_get_error(ssl_, result)) {
      case SSL_ERROR_WANT_READ:
        return is_readable();
      case SSL_ERROR_WANT_WRITE:
        return wait(POLLOUT, timeout_ms) > 0;
      default:
        return false;
    }
  }
  ssize_t recv_eintr(char* ptr, size_t size, int flags) const {
    ssize_t n;
    do {
      n = ::recv(sock_, ptr, size, flags);
    } while (n < 0 && errno == EINTR);
    return n;
  }
  // One end of the connection, looked up once with `lookup` (getpeername or
  // getsockname) and kept in `end`.
  void endpoint(Endpoint& end, int (*lookup)(int, sockaddr*, socklen_t*), std::string& ip,
                int& port) const {
    if (!end.known) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      if (lookup(sock_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
      name(addr, len, end.ip, end.port);
      end.known = true;
    }
    ip = end.ip;
    port = end.port;
  }
  static void name(const sockaddr_storage& addr, socklen_t len, std::string& ip, int& port) {
    if (addr.ss_family == AF_INET) {
      port = ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
    } else if (addr.ss_family == AF_INET6) {
      port = ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
    }
    std::array<char, NI_MAXHOST> host{};
    if (::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host.data(),
                      static_cast<socklen_t>(host.size()), nullptr, 0, NI_NUMERICHOST) == 0) {
      ip = host.data();
    }
  }

  static constexpr std::size_t kFlushBytes = 64 * 1024;
  static constexpr std::size_t kReadChunk = 4096;
  Connection& names_;
  const socket_t sock_;
  const int read_ms_;
  const int write_ms_;
  const Clock::time_point read_deadline_;
  SSL* const ssl_;
  std::string out_;
  // Bytes read and not yet handed to httplib: the request's head (and what
  // came with it) from frame(), then body reads of less than kReadChunk.
  std::string& in_;  // the connection's
  std::size_t in_off_ = 0;
  std::uint64_t consumed_ = 0;  // bytes of this request handed to httplib
  Framing framing_;
  bool input_ended_ = false;
  bool past_deadline_ = false;
};

// The TLS handshake of a connection to the server itself (tls_cert_file),
// on its socket made non-blocking, within kRequestReadDeadline (a handshake
// trickled a byte at a time holds a worker no longer than a request). Null
// when it fails or takes too long.
SSL* accept_tls(SSL_CTX* ctx, socket_t sock) {
  const int flags = ::fcntl(sock, F_GETFL, 0);
  if (flags < 0 || ::fcntl(sock, F_SETFL, flags | O_NONBLOCK) != 0) return nullptr;
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) return nullptr;
  if (SSL_set_fd(ssl, sock) != 1) {
    SSL_free(ssl);
    return nullptr;
  }
  const auto deadline = Clock::now() + kRequestReadDeadline;
  for (;;) {
    ERR_clear_error();
    const int r = SSL_accept(ssl);
    if (r == 1) return ssl;
    const int error = SSL_get_error(ssl, r);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{sock, static_cast<short>(error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
    if ((error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) || left.count() <= 0 ||
        ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      SSL_free(ssl);
      return nullptr;
    }
  }
}

// Base: httplib::Server (plain HTTP) or httplib::SSLServer (TLS in the
// server itself): the same connection loop, stream, deadline and framing for
// both. SSLServer's own loop (httplib's) bounded each wait only, not a
// request, and skipped the framing.
template <class Base>
class KeepAliveServer final : public Base {
 public:
  using Base::Base;

 private:
  // True when a request's first bytes arrived within the keep-alive timeout;
  // false on timeout, error, or a stopping server.
  bool wait_for_request(socket_t sock, const Connection& connection) const {
    // The next request's first bytes came with the last one (pipelining).
    if (!connection.buffer.empty()) return true;
    SSL* const ssl = connection.ssl;
    if (ssl != nullptr && SSL_pending(ssl) > 0) return true;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(this->keep_alive_timeout_sec_);
    for (;;) {
      if (this->svr_sock_ == INVALID_SOCKET) return false;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{sock, POLLIN, 0};
      const int n =
          ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), kIdleSliceMs)));
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return false;
    }
  }

  bool process_and_close_socket(socket_t sock) override {
    bool ret = false;
    Connection connection;
    if constexpr (std::is_same_v<Base, httplib::SSLServer>) {
      connection.ssl = accept_tls(this->ssl_context(), sock);
      if (connection.ssl == nullptr) {
        ::shutdown(sock, SHUT_RDWR);
        ::close(sock);
        return false;
      }
    }
    // As httplib's SSLServer: the request knows its connection's TLS.
    std::function<void(httplib::Request&)> setup;
    if (connection.ssl != nullptr) {
      setup = [ssl = connection.ssl](httplib::Request& req) { req.ssl = ssl; };
    }
    std::size_t count = this->keep_alive_max_count_;
    while (count > 0 && wait_for_request(sock, connection)) {
      SocketStream stream(sock, this->read_timeout_sec_, this->read_timeout_usec_,
                          this->write_timeout_sec_, this->write_timeout_usec_, connection);
      bool connection_closed = false;
      // The head is read and its framing checked first (framing.h); a
      // refused request is answered by the pre-routing middleware, and its
      // connection closed: what follows it cannot be told apart from a next
      // request.
      t_close_after_answer = false;
      const Framing framing = stream.frame(this->payload_max_length_);
      set_request_framing(framing);
      ret =
          this->process_request(stream, /*close_connection=*/count == 1, connection_closed, setup);
      set_request_framing({});
      if (framing.status != 0 || t_close_after_answer) connection_closed = true;
      // The answer goes out in one send (SocketStream::write collects it).
      if (!stream.flush()) ret = false;
      // What followed the request is its connection's next request, or the
      // connection closes (the struct Connection comment).
      if (!stream.keep_what_follows()) connection_closed = true;
      if (!ret || connection_closed) break;
      --count;
    }
    if (connection.ssl != nullptr) {
      ERR_clear_error();
      SSL_shutdown(connection.ssl);  // close_notify, not waited for
      SSL_free(connection.ssl);
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ret;
  }
};

}  // namespace

std::unique_ptr<httplib::Server> build_server(App& app) {
  const ServerConfig& cfg = app.config();
  std::unique_ptr<httplib::Server> svr;
  if (!cfg.tls_cert_file.empty() && !cfg.tls_key_file.empty()) {
    svr = std::make_unique<KeepAliveServer<httplib::SSLServer>>(cfg.tls_cert_file.c_str(),
                                                                cfg.tls_key_file.c_str());
  } else {
    svr = std::make_unique<KeepAliveServer<httplib::Server>>();
  }
  auto state = std::make_shared<ServerState>(cfg);

  // Debian's precompiled cpp-httplib ignores the compile-time tuning macros;
  // only these runtime settings count (TOOLCHAIN.md).
  svr->set_tcp_nodelay(true);
  svr->set_keep_alive_max_count(kKeepAliveMaxCount);
  svr->set_keep_alive_timeout(kKeepAliveIdleSeconds);
  svr->set_read_timeout(kReadTimeoutSeconds, 0);
  svr->set_write_timeout(kWriteTimeoutSeconds, 0);
  svr->set_payload_max_length(cfg.max_body_bytes);
  // Replaces httplib's default options (which add SO_REUSEPORT: two servers on
  // one port would share it silently) and remembers the listening socket.
  svr->set_socket_options([state](socket_t fd) {
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    state->listen_fd.store(fd);
  });
  // httplib creates the task queue at the start of listen_after_bind(), after
  // bind and listen(fd, 5): the moment to raise the backlog on the bound
  // socket, whoever called bind (main or the test harness).
  const int threads = cfg.worker_threads;
  svr->new_task_queue = [state, threads]() -> httplib::TaskQueue* {
    int fd = state->listen_fd.load();
    int accepting = 0;
    socklen_t len = sizeof accepting;
    if (fd >= 0 && ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == 0 &&
        accepting) {
      ::listen(fd, kListenBacklog);
    }
    return new httplib::ThreadPool(static_cast<std::size_t>(threads));
  };

  Router router(*svr);
  install_middleware(*svr, app, state, router.table());

  std::shared_ptr<StaticFiles> static_files = make_static_files(app);
  register_flow_routes(router, app);
  register_telephony_routes(router, app);
  register_oauth_routes(router, app, static_files);
  register_account_routes(router, app);
  register_ops_routes(router, app);
  register_admin_routes(router, app);
  // Static files come from register_static_routes alone (ETag, caching,
  // traversal checks); nothing may use httplib mount points, which would win
  // over every route.
  register_static_routes(router, std::move(static_files));
  return svr;
}

}  // namespace renkei::server
