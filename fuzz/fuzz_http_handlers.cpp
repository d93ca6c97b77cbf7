// The server's request handling, in process: one App (SQLite :memory:, a
// ManualClock) and the server build_server makes, and for each input a short
// sequence of HTTP requests written as bytes into httplib's own request
// processing (Server::process_request over an in-memory Stream): the same
// parsing, pre-routing middleware, routing, handlers, error and exception
// handlers and post-routing as on a socket, without one.
//
// Input (FuzzedDataProvider): whether to open a flow first (a valid
// /authorize, so later requests carry its cookie and CSRF token), then up to
// four requests: method, a route of ours (or any path), query, a few headers
// from a list, flags for the session cookie / CSRF token / JSON content type /
// a valid webhook signature / the admin token, and a body. Every 8th request
// or so is raw bytes instead.
//
// Each input goes through the request framing first (framing.h), as on a
// socket. Property: no 5xx but the deliberate 503 busy and 501 (a transfer
// coding other than chunked); no crash, leak or UB.
// Handlers keep nothing of one input for the next but database rows; the App
// is rebuilt every kRequestsPerApp inputs so the database stays small.
#include <fuzzer/FuzzedDataProvider.h>
#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "http/framing.h"
#include "http/routes.h"
#include "ops/app.h"
#include "ops/clock.h"
#include "ops/crypto.h"
#include "test_server.h"

namespace {

using renkei::server::testing::open_instant;

// httplib::Server::process_request is protected; a pointer to it, taken in a
// derived class, can be applied to the Server build_server returned.
struct ServerAccess : httplib::Server {
  static auto process_request_ptr() { return &ServerAccess::process_request; }
};

// One request's bytes in, the response's bytes out.
class MemoryStream final : public httplib::Stream {
 public:
  explicit MemoryStream(std::string in) : in_(std::move(in)) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    size_t n = std::min(size, in_.size() - pos_);
    std::memcpy(ptr, in_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    out_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40000;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 8080;
  }
  socket_t socket() const override { return 0; }
  const std::string& out() const { return out_; }

 private:
  std::string in_;
  size_t pos_ = 0;
  std::string out_;
};

struct Harness {
  std::shared_ptr<renkei::server::ManualClock> clock;
  std::unique_ptr<renkei::server::App> app;
  std::unique_ptr<httplib::Server> server;
  int inputs = 0;

  void rebuild() {
    server.reset();
    app.reset();
    clock = std::make_shared<renkei::server::ManualClock>(open_instant());
    renkei::server::ServerConfig config = renkei::server::testing::test_config();
    config.rate_limit_per_minute = 2'000'000'000;
    std::string error;
    app = renkei::server::make_app(std::move(config), clock, &error);
    if (!app) {
      std::fprintf(stderr, "make_app: %s\n", error.c_str());
      std::abort();
    }
    server = renkei::server::build_server(*app);
    inputs = 0;
  }
};

constexpr int kRequestsPerApp = 2000;

Harness& harness() {
  static Harness* h = [] {
    auto* created = new Harness;
    created->rebuild();
    return created;
  }();
  return *h;
}

struct Reply {
  int status = 0;
  std::string head;
  std::string body;
};

// The input's bytes are all there is: a chunked body cut short ends here.
struct NoMoreBytes final : renkei::server::ByteSource {
  bool read_more(std::string&) override { return false; }
  void send_continue() override {}
};

Reply send(httplib::Server& server, std::string request) {
  // As the connection loop (server.cpp): the framing first (framing.h).
  NoMoreBytes none;
  renkei::server::set_request_framing(
      renkei::server::read_and_frame(request, harness().app->config().max_body_bytes, none));
  MemoryStream stream(std::move(request));
  bool closed = false;
  (server.*ServerAccess::process_request_ptr())(stream, true, closed, nullptr);
  renkei::server::set_request_framing({});
  Reply r;
  const std::string& out = stream.out();
  if (out.size() >= 12 && out.compare(0, 5, "HTTP/") == 0) {
    r.status = std::atoi(out.c_str() + 9);
  }
  std::size_t split = out.find("\r\n\r\n");
  r.head = out.substr(0, split);
  if (split != std::string::npos) r.body = out.substr(split + 4);
  return r;
}

// The value of Set-Cookie renkei_session in a response head, or "".
std::string session_cookie(const std::string& head) {
  const std::string key = "Set-Cookie: renkei_session=";
  std::size_t at = head.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  std::size_t end = head.find_first_of(";\r", at);
  return head.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

std::string csrf_of(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("csrf_token") && j["csrf_token"].is_string()) {
    return j["csrf_token"].get<std::string>();
  }
  return "";
}

const char* const kRoutes[] = {
    "/api/flow",
    "/api/flow/account",
    "/api/flow/customer",
    "/api/flow/phone",
    "/api/flow/call/confirm",
    "/api/flow/pin",
    "/api/flow/consent",
    "/api/flow/cancel",
    "/dev/simulate-call",
    "/telephony/calls",
    "/authorize",
    "/token",
    "/revoke",
    "/.well-known/oauth-authorization-server",
    "/api/v1/account",
    "/api/v1/account/balance",
    "/api/v1/account/transactions",
    "/healthz",
    "/metrics",
    "/admin/api/status",
    "/admin/api/funnel",
    "/admin/api/accounts",
    "/admin/api/accounts/lock/lift",
    "/admin/api/grants",
    "/admin/api/grants/x/revoke",
    "/admin/api/clients",
    "/admin/api/clients/demo-app/disable",
    "/admin/api/clients/demo-app/enable",
    "/admin/api/audit",
    "/admin/api/calendar/windows",
    "/admin/api/calendar/windows/1",
    "/admin/api/outbox",
    "/admin/api/outbox/1/retry",
    "/admin/api/dev/calls",
    "/admin/api/dev/clock",
    "/flow/",
    "/flow/index.html",
    "/static/",
    "/static/wasm/renkei_core.js",
    "/demo/",
};

const char* const kMethods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"};

const char* const kHeaderNames[] = {
    "Content-Type",
    "X-CSRF-Token",
    "Origin",
    "Cookie",
    "Authorization",
    "X-Renkei-Timestamp",
    "X-Renkei-Signature",
    "Range",
    "Accept-Encoding",
    "If-None-Match",
    "Content-Length",
    "Transfer-Encoding",
    "Expect",
    "Connection",
    "User-Agent",
    "Host",
};

constexpr const char* kChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The server logs one JSON line per request to stderr; libFuzzer and the
  // sanitizers keep the original stream (they took it at start-up or write
  // to fd 2 directly). RENKEI_FUZZ_LOG=1 keeps the server's lines.
  if (!std::getenv("RENKEI_FUZZ_LOG")) {
    if (FILE* devnull = std::fopen("/dev/null", "w")) stderr = devnull;
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Harness& h = harness();
  if (++h.inputs > kRequestsPerApp) h.rebuild();
  h.clock->set(open_instant());
  httplib::Server& server = *h.server;
  FuzzedDataProvider in(data, size);

  std::string cookie;
  std::string csrf;
  if (in.ConsumeBool()) {
    Reply r = send(server, std::string("GET /authorize?response_type=code&client_id=demo-app"
                                       "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback"
                                       "&state=s&code_challenge=") +
                               kChallenge +
                               "&code_challenge_method=S256 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    FUZZ_CHECK(r.status == 200);  // the flow page itself, with the session cookie
    cookie = session_cookie(r.head);
    Reply flow =
        send(server, "GET /api/flow HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: renkei_session=" +
                         cookie + "\r\n\r\n");
    FUZZ_CHECK(flow.status == 200);
    csrf = csrf_of(flow.body);
  }

  const int requests = in.ConsumeIntegralInRange(1, 4);
  for (int i = 0; i < requests && in.remaining_bytes() > 0; ++i) {
    std::string bytes;
    if (in.ConsumeIntegralInRange(0, 7) == 0) {
      bytes = in.ConsumeRandomLengthString(4096);
    } else {
      std::string method = in.ConsumeBool() ? kMethods[in.ConsumeIntegralInRange(0, 1)]
                                            : in.PickValueInArray(kMethods);
      std::string path = in.ConsumeIntegralInRange(0, 15) == 0 ? in.ConsumeRandomLengthString(256)
                                                               : in.PickValueInArray(kRoutes);
      path += in.ConsumeRandomLengthString(64);  // suffix: query, traversal, …
      const std::uint8_t flags = in.ConsumeIntegral<std::uint8_t>();
      h.clock->advance(in.ConsumeIntegralInRange<std::int64_t>(0, 400) - 50);
      std::vector<std::pair<std::string, std::string>> headers;
      const int n = in.ConsumeIntegralInRange(0, 3);
      for (int k = 0; k < n; ++k) {
        headers.emplace_back(in.PickValueInArray(kHeaderNames), in.ConsumeRandomLengthString(128));
      }
      std::string body = in.ConsumeRandomLengthString(8192);
      if ((flags & 1) && !cookie.empty())
        headers.emplace_back("Cookie", "renkei_session=" + cookie);
      if ((flags & 2) && !csrf.empty()) headers.emplace_back("X-CSRF-Token", csrf);
      if (flags & 4) headers.emplace_back("Content-Type", "application/json");
      if (flags & 8) {
        std::string ts = std::to_string(h.clock->now());
        headers.emplace_back("X-Renkei-Timestamp", ts);
        headers.emplace_back(
            "X-Renkei-Signature",
            "sha256=" + renkei::server::hmac_sha256_hex(renkei::server::testing::kTestWebhookSecret,
                                                        ts + "." + body));
      }
      if (flags & 16) {
        headers.emplace_back("Authorization",
                             std::string("Bearer ") + renkei::server::testing::kTestAdminToken);
      }
      if (flags & 32) headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
      bytes = method + " " + path + " HTTP/1.1\r\n";
      // A Host header (HTTP/1.1 requires one), except now and then.
      if (!(flags & 128)) bytes += "Host: 127.0.0.1\r\n";
      for (const auto& [name, value] : headers) bytes += name + ": " + value + "\r\n";
      if (!(flags & 64)) bytes += "Content-Length: " + std::to_string(body.size()) + "\r\n";
      bytes += "\r\n" + body;
    }
    // A HEAD request's answer has no body to tell a deliberate 5xx by.
    const bool head_request = bytes.rfind("HEAD ", 0) == 0;
    Reply r = send(server, std::move(bytes));
    // The deliberate 5xx: 503 busy, and 501 for a transfer coding other
    // than chunked (framing.h).
    const bool deliberate =
        (r.status == 503 && (head_request || r.body.find("\"busy\"") != std::string::npos)) ||
        (r.status == 501 && (head_request || r.body.find("\"bad_request\"") != std::string::npos));
    if (r.status >= 500 && !deliberate) {
      std::fprintf(stdout, "status %d\n%s\n\n%s\n", r.status, r.head.c_str(), r.body.c_str());
      std::fflush(stdout);
      FUZZ_CHECK(r.status < 500);
    }
    std::string next = session_cookie(r.head);
    if (!next.empty()) cookie = next;
    std::string next_csrf = csrf_of(r.body);
    if (!next_csrf.empty()) csrf = next_csrf;
  }
  return 0;
}
