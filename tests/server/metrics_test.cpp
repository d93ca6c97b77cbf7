// Metrics (Prometheus text) and the operations side of the HTTP server:
// /healthz, /metrics, security headers, the error envelope for 404/413 and
// exceptions, the in-flight and per-IP limits answering busy.
#include "ops/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "renkei/json.h"
#include "test_server.h"

namespace renkei::server {
namespace {

using nlohmann::json;
using testing::test_config;
using testing::TestServer;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Metrics, CountersAndGaugesRenderInTextFormat) {
  Metrics m;
  m.count("renkei_flow_steps_total", "step=\"submit_pin\",outcome=\"ok\"");
  m.count("renkei_flow_steps_total", "step=\"submit_pin\",outcome=\"ok\"");
  m.count("renkei_flow_steps_total", "step=\"submit_pin\",outcome=\"auth_mismatch\"", 3);
  m.count("renkei_plain_total");
  m.set_gauge("renkei_in_flight", "", 7);
  m.set_gauge("renkei_in_flight", "", 2);
  std::string text = m.render();
  EXPECT_TRUE(contains(text, "# TYPE renkei_flow_steps_total counter\n")) << text;
  EXPECT_TRUE(contains(text, "renkei_flow_steps_total{step=\"submit_pin\",outcome=\"ok\"} 2\n"))
      << text;
  EXPECT_TRUE(
      contains(text, "renkei_flow_steps_total{step=\"submit_pin\",outcome=\"auth_mismatch\"} 3\n"))
      << text;
  EXPECT_TRUE(contains(text, "renkei_plain_total 1\n")) << text;
  EXPECT_TRUE(contains(text, "# TYPE renkei_in_flight gauge\nrenkei_in_flight 2\n")) << text;
  // Every line ends with a newline (the format requires the last one too).
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
}

TEST(Metrics, HistogramHasCumulativeBucketsFromOneMillisecondToTenSeconds) {
  Metrics m;
  m.observe("renkei_http_request_duration_seconds", "route=\"/x\"", 0.0005);
  m.observe("renkei_http_request_duration_seconds", "route=\"/x\"", 0.003);
  m.observe("renkei_http_request_duration_seconds", "route=\"/x\"", 0.3);
  m.observe("renkei_http_request_duration_seconds", "route=\"/x\"", 60);
  std::string t = m.render();
  const std::string b = "renkei_http_request_duration_seconds_bucket{route=\"/x\",le=";
  EXPECT_TRUE(contains(t, "# TYPE renkei_http_request_duration_seconds histogram\n")) << t;
  EXPECT_TRUE(contains(t, b + "\"0.001\"} 1\n")) << t;
  EXPECT_TRUE(contains(t, b + "\"0.0025\"} 1\n")) << t;
  EXPECT_TRUE(contains(t, b + "\"0.005\"} 2\n")) << t;
  EXPECT_TRUE(contains(t, b + "\"0.25\"} 2\n")) << t;
  EXPECT_TRUE(contains(t, b + "\"0.5\"} 3\n")) << t;
  EXPECT_TRUE(contains(t, b + "\"10\"} 3\n")) << t;
  EXPECT_TRUE(contains(t, b + "\"+Inf\"} 4\n")) << t;
  EXPECT_TRUE(contains(t, "renkei_http_request_duration_seconds_count{route=\"/x\"} 4\n")) << t;
  EXPECT_TRUE(contains(t, "renkei_http_request_duration_seconds_sum{route=\"/x\"} 60.3035\n")) << t;
  // Buckets appear in increasing order.
  EXPECT_LT(t.find(b + "\"0.001\""), t.find(b + "\"0.0025\""));
  EXPECT_LT(t.find(b + "\"5\""), t.find(b + "\"10\""));
  EXPECT_LT(t.find(b + "\"10\""), t.find(b + "\"+Inf\""));
}

TEST(Metrics, HistogramWithoutLabels) {
  Metrics m;
  m.observe("h", "", 0.02);
  std::string t = m.render();
  EXPECT_TRUE(contains(t, "h_bucket{le=\"0.025\"} 1\n")) << t;
  EXPECT_TRUE(contains(t, "h_bucket{le=\"0.01\"} 0\n")) << t;
  EXPECT_TRUE(contains(t, "h_count 1\n")) << t;
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  Metrics m;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&m] {
      for (int j = 0; j < 10000; ++j) {
        m.count("c");
        m.observe("h", "", 0.001);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::string text = m.render();
  EXPECT_TRUE(contains(text, "c 40000\n")) << text;
  EXPECT_TRUE(contains(text, "h_count 40000\n")) << text;
}

// ---------- the server's operations surface ----------

class OpsTest : public ::testing::Test {
 protected:
  TestServer server_;
};

TEST_F(OpsTest, HealthzAnswersOk) {
  auto cli = server_.client();
  auto res = cli.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto body = parse_json(res->body);
  ASSERT_TRUE(body);
  EXPECT_EQ((*body)["status"], "ok");
}

// Paths the caller chooses make no label of their own: a wrong method on
// any static path (405) and any unauthenticated admin path (401) each count
// under one value, so that the metrics cannot be grown without bound.
TEST_F(OpsTest, MetricsLabelsStayBoundedWhateverThePath) {
  auto cli = server_.client();
  for (int i = 0; i < 5; ++i) {
    const std::string n = std::to_string(i);
    ASSERT_TRUE(cli.Post("/static/x" + n, "", "text/plain"));
    ASSERT_TRUE(cli.Get("/admin/api/made-up-" + n));
  }
  auto res = cli.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_FALSE(contains(res->body, "x3")) << res->body;
  EXPECT_FALSE(contains(res->body, "made-up")) << res->body;
  EXPECT_TRUE(contains(res->body, "route=\"unauthenticated\",status=\"401\"} 5")) << res->body;
}

TEST_F(OpsTest, MetricsCountRequests) {
  auto cli = server_.client();
  ASSERT_TRUE(cli.Get("/healthz"));
  ASSERT_TRUE(cli.Get("/no/such/page"));
  auto res = cli.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(contains(res->get_header_value("Content-Type"), "text/plain; version=0.0.4"));
  EXPECT_TRUE(contains(
      res->body, "renkei_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"))
      << res->body;
  EXPECT_TRUE(contains(res->body, "route=\"unmatched\",status=\"404\"} 1")) << res->body;
  EXPECT_TRUE(contains(res->body,
                       "renkei_http_request_duration_seconds_bucket{method=\"GET\","
                       "route=\"/healthz\",le=\"0.001\"}"))
      << res->body;
}

// Security finding (issue 12): /metrics answered anyone in production too.
// Outside dev_mode it needs the metrics token or the admin token.
TEST(OpsRoutes, MetricsOutsideDevModeNeedTheMetricsOrAdminToken) {
  ServerConfig c = test_config();
  c.dev_mode = false;
  c.seed_demo_data = false;
  c.metrics_token_digest = sha256_hex("metrics-token-0123456789");
  TestServer ts(c);
  auto cli = ts.client();
  auto anonymous = cli.Get("/metrics");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_FALSE(contains(anonymous->body, "renkei_http_requests_total"));
  EXPECT_EQ(anonymous->get_header_value("WWW-Authenticate"), "Bearer realm=\"renkei-metrics\"");
  auto wrong = cli.Get("/metrics", {{"Authorization", "Bearer not-the-token"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto scraper = cli.Get("/metrics", {{"Authorization", "Bearer metrics-token-0123456789"}});
  ASSERT_TRUE(scraper);
  EXPECT_EQ(scraper->status, 200);
  EXPECT_TRUE(contains(scraper->body, "renkei_http_requests_total")) << scraper->body;
  auto staff = cli.Get("/metrics", {{"Authorization", std::string("Bearer ") + testing::kTestAdminToken}});
  ASSERT_TRUE(staff);
  EXPECT_EQ(staff->status, 200);
  // /healthz stays open for the load balancer.
  auto health = cli.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

// Found by review (issue 12): only the Origin was checked, so a DNS-rebinding
// page (its own name resolving to this server, same-origin with it) could
// read any GET and, in development, use the published admin token. Only the
// issuer's host, localhost and IP literals are served.
TEST(OpsRoutes, AForeignHostIsRefusedSoDnsRebindingReachesNothing) {
  ServerConfig c = test_config();
  c.issuer = "https://renkei.example.jp";
  TestServer ts(c);
  auto cli = ts.client();
  const httplib::Headers admin = {{"Authorization", std::string("Bearer ") + testing::kTestAdminToken}};
  for (const char* host : {"rebind.example", "rebind.example:8080", "renkei.example.jp.evil.example",
                           "localhost.evil.example", "127.0.0.1.nip.example"}) {
    httplib::Headers h = admin;
    h.emplace("Host", host);
    auto r = cli.Get("/admin/api/status", h);
    ASSERT_TRUE(r) << host;
    EXPECT_EQ(r->status, 403) << host;
    EXPECT_TRUE(contains(r->body, "\"forbidden\"")) << host;
  }
  for (const char* host : {"renkei.example.jp", "RENKEI.example.jp:443", "127.0.0.1", "localhost:8080",
                           "[::1]:8080"}) {
    httplib::Headers h = admin;
    h.emplace("Host", host);
    auto r = cli.Get("/admin/api/status", h);
    ASSERT_TRUE(r) << host;
    EXPECT_EQ(r->status, 200) << host;
  }
  EXPECT_TRUE(contains(ts.app().metrics().render(), "renkei_http_refused_total{reason=\"host\"} 5"));
}

TEST(OpsRoutes, MetricsPublicOpensThemOnPurpose) {
  ServerConfig c = test_config();
  c.dev_mode = false;
  c.seed_demo_data = false;
  c.metrics_public = true;
  TestServer ts(c);
  auto res = ts.client().Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  // with_transaction's reruns after storage conflicts (storage.h) are shown.
  EXPECT_NE(res->body.find("# TYPE renkei_storage_conflict_retries gauge\n"
                           "renkei_storage_conflict_retries "),
            std::string::npos)
      << res->body;
  // … and after a connection lost before anything of a transaction ran.
  EXPECT_NE(res->body.find("# TYPE renkei_storage_connection_retries gauge\n"
                           "renkei_storage_connection_retries "),
            std::string::npos)
      << res->body;
}

TEST_F(OpsTest, SecurityHeadersAndRequestIdOnEveryResponse) {
  auto cli = server_.client();
  for (const char* path : {"/healthz", "/no/such/page"}) {
    auto res = cli.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff") << path;
    EXPECT_TRUE(res->has_header("Content-Security-Policy")) << path;
    EXPECT_TRUE(res->has_header("Referrer-Policy")) << path;
    EXPECT_EQ(res->get_header_value("Cache-Control"), "no-store") << path;
    EXPECT_FALSE(res->get_header_value("X-Request-Id").empty()) << path;
  }
  auto a = cli.Get("/healthz");
  auto b = cli.Get("/healthz");
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->get_header_value("X-Request-Id"), b->get_header_value("X-Request-Id"));
}

// Behind a load balancer every response names the instance that answered
// (the cluster tests count instances with it).
TEST(InstanceHeader, EveryResponseNamesTheConfiguredInstance) {
  ServerConfig c = test_config();
  c.instance_name = "renkei-b";
  TestServer ts(c);
  auto cli = ts.client();
  for (const char* path : {"/healthz", "/no/such/page", "/.well-known/oauth-authorization-server"}) {
    auto res = cli.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->get_header_value("X-Renkei-Instance"), "renkei-b") << path;
  }
}

TEST(InstanceHeader, ConfigKeyIsReadAndEmptyByDefault) {
  std::string error;
  auto named = parse_config(R"({"dev_mode": true, "instance_name": "a1"})", {}, &error);
  ASSERT_TRUE(named) << error;
  EXPECT_EQ(named->instance_name, "a1");
  auto unnamed = parse_config(R"({"dev_mode": true})", {}, &error);
  ASSERT_TRUE(unnamed) << error;
  EXPECT_EQ(unnamed->instance_name, "");  // main fills in hostname:port
}

TEST_F(OpsTest, UnknownPathIsTheJsonEnvelope) {
  auto cli = server_.client();
  auto res = cli.Get("/no/such/page");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_TRUE(contains(res->get_header_value("Content-Type"), "application/json"));
  auto body = parse_json(res->body);
  ASSERT_TRUE(body) << res->body;
  EXPECT_EQ((*body)["error"]["code"], "not_found");
  EXPECT_EQ((*body)["error"]["message"], std::string(message_ja(ErrorCode::not_found)));
}

TEST_F(OpsTest, OversizedBodyIs413BadRequestNot500) {
  auto cli = server_.client();
  std::string big(server_.app().config().max_body_bytes + 1, 'x');
  auto res = cli.Post("/api/flow/account", big, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  auto body = parse_json(res->body);
  ASSERT_TRUE(body) << res->body;
  EXPECT_EQ((*body)["error"]["code"], "bad_request");
  // The connection (or a new one) still serves.
  auto again = cli.Get("/healthz");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

TEST_F(OpsTest, HugeDeclaredBodyIsRefusedBeforeItIsRead) {
  // Headers promise 100 MB; none of it is sent. The answer must come at once
  // (not after a read timeout) and say 413 in our envelope.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(server_.port()));
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string request =
      "POST /api/flow/account HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    response.append(buf, static_cast<std::size_t>(n));
    if (response.find("\r\n\r\n") != std::string::npos && response.find("}}") != std::string::npos)
      break;
  }
  ::close(fd);
  EXPECT_EQ(response.rfind("HTTP/1.1 413", 0), 0u) << response;
  EXPECT_TRUE(contains(response, "Connection: close")) << response;
  EXPECT_TRUE(contains(response, "\"code\":\"bad_request\"")) << response;
}

// The TestServer with test-only routes added before it listens: a slow one
// (held until released), a throwing one, and one that answers 400 with its
// own body.
class RouteServer {
 public:
  explicit RouteServer(ServerConfig config)
      : ts_(std::move(config), testing::open_instant(),
            [this](httplib::Server& server) { add_routes(server); }) {}
  ~RouteServer() { release_slow(); }  // before ts_ stops and joins
  RouteServer(const RouteServer&) = delete;
  RouteServer& operator=(const RouteServer&) = delete;

  httplib::Client client() const { return ts_.client(); }
  void wait_until_slow_entered() {
    while (!entered_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void release_slow() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      released_ = true;
    }
    cv_.notify_all();
  }
  // GET /test/slow on a thread of its own; returns once its handler runs
  // (and holds an in-flight slot until release_slow).
  std::future<httplib::Result> hold_a_slot() {
    auto slow = std::async(std::launch::async, [this] {
      auto cli = client();
      return cli.Get("/test/slow");
    });
    wait_until_slow_entered();
    return slow;
  }
  // Releases the slow request and checks that it was answered 200; its body
  // goes to `body` when given.
  void finish_slow(std::future<httplib::Result>& slow, std::string* body = nullptr) {
    release_slow();
    auto res = slow.get();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    if (body) *body = res->body;
  }
  App& app() { return ts_.app(); }

 private:
  void add_routes(httplib::Server& server) {
    server.Get("/test/slow", [this](const httplib::Request&, httplib::Response& res) {
      entered_.store(true);
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return released_; });
      res.set_content("slow", "text/plain");
    });
    auto fast = [](const httplib::Request&, httplib::Response& res) {
      res.set_content("fast", "text/plain");
    };
    server.Get("/test/fast", fast);
    server.Post("/test/fast", fast);
    server.Get("/test/throw", [](const httplib::Request&, httplib::Response& res) -> void {
      res.set_header("Set-Cookie", "leak=1");
      throw std::runtime_error("secret internal detail");
    });
    server.Get("/test/own400", [](const httplib::Request&, httplib::Response& res) {
      res.status = 400;
      res.set_content("<p>own page</p>", "text/html");
    });
  }

  std::atomic<bool> entered_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool released_ = false;
  TestServer ts_;  // last: the routes use the members above while it runs
};

// An answer of the in-flight limit: 503, Retry-After 1, the error code busy;
// the parsed body goes to `body` when given.
void expect_shed_busy(const httplib::Result& res, json* body = nullptr) {
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->get_header_value("Retry-After"), "1");
  auto parsed = parse_json(res->body);
  ASSERT_TRUE(parsed) << res->body;
  EXPECT_EQ((*parsed)["error"]["code"], "busy");
  if (body) *body = *parsed;
}

// GET /metrics counts `shed` requests refused by the in-flight limit.
void expect_shed_in_flight(httplib::Client& cli, int shed) {
  auto metrics = cli.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_TRUE(contains(metrics->body,
                       "renkei_http_shed_total{reason=\"in_flight\"} " + std::to_string(shed)))
      << metrics->body;
}

TEST(OpsRoutes, ExceptionBecomesSystemErrorWithNothingLeaked) {
  RouteServer server(test_config());
  auto cli = server.client();
  auto res = cli.Get("/test/throw");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  auto body = parse_json(res->body);
  ASSERT_TRUE(body) << res->body;
  EXPECT_EQ((*body)["error"]["code"], "system_error");
  EXPECT_FALSE(contains(res->body, "secret internal detail"));
  EXPECT_FALSE(res->has_header("Set-Cookie"));
  EXPECT_FALSE(res->has_header("EXCEPTION_WHAT"));
  EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
}

TEST(OpsRoutes, ErrorHandlerKeepsAHandlersOwnBody) {
  RouteServer server(test_config());
  auto cli = server.client();
  auto res = cli.Get("/test/own400");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->body, "<p>own page</p>");
}

TEST(OpsRoutes, OverTheInFlightLimitTheNextRequestIsBusy) {
  ServerConfig config = test_config();
  config.max_in_flight = 1;
  RouteServer server(config);
  auto slow = server.hold_a_slot();

  auto cli = server.client();
  json body;
  ASSERT_NO_FATAL_FAILURE(expect_shed_busy(cli.Get("/test/fast"), &body));
  EXPECT_EQ(body["error"]["message"], std::string(message_ja(ErrorCode::busy)));

  // A refused POST leaves its body unread: the connection must not be reused.
  auto busy_post = cli.Post("/test/fast", std::string(1000, 'x'), "text/plain");
  ASSERT_TRUE(busy_post);
  EXPECT_EQ(busy_post->status, 503);

  // Health and metrics stay reachable while busy.
  auto health = cli.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  std::string slow_body;
  ASSERT_NO_FATAL_FAILURE(server.finish_slow(slow, &slow_body));
  EXPECT_EQ(slow_body, "slow");

  // The slot is free again.
  auto ok = cli.Get("/test/fast");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto ok_post = cli.Post("/test/fast", std::string(1000, 'x'), "text/plain");
  ASSERT_TRUE(ok_post);
  EXPECT_EQ(ok_post->status, 200);

  ASSERT_NO_FATAL_FAILURE(expect_shed_in_flight(cli, 2));
}

// Regression (scripts/bench-sustained.sh, 256 clients on 2 cores): new flows
// took every in-flight slot and the steps of started flows answered busy, so
// almost no flow finished. GET /authorize now gets only three quarters of
// the slots; the rest stays open to requests of flows under way.
TEST(OpsRoutes, UnderOverloadNewFlowsAreShedBeforeFlowsUnderWay) {
  ServerConfig config = test_config();
  config.max_in_flight = 2;  // new flows: 1 slot (3/4 of 2, rounded down)
  RouteServer server(config);
  auto slow = server.hold_a_slot();

  auto cli = server.client();
  ASSERT_NO_FATAL_FAILURE(expect_shed_busy(cli.Get(
      "/authorize?response_type=code&client_id=demo-app&state=s&code_challenge_method=S256")));

  // Another request (a step of a flow under way, the token endpoint, the API)
  // still gets the second slot.
  auto fast = cli.Get("/test/fast");
  ASSERT_TRUE(fast);
  EXPECT_EQ(fast->status, 200);

  ASSERT_NO_FATAL_FAILURE(server.finish_slow(slow));

  // Nothing in flight: a new flow is admitted again (not busy; the request
  // itself is incomplete, so the handler answers it).
  auto again = cli.Get(
      "/authorize?response_type=code&client_id=demo-app&state=s&code_challenge_method=S256");
  ASSERT_TRUE(again);
  EXPECT_NE(again->status, 503);
  ASSERT_NO_FATAL_FAILURE(expect_shed_in_flight(cli, 1));
}

// Regression (scripts/bench-sustained.sh, 256 clients on 64 workers): a
// keep-alive connection that got a busy answer kept its worker thread, so
// connections waiting in httplib's queue got no answer at all until their
// clients timed out. A busy answer now closes the connection, and the worker
// serves the next waiting connection at once.
TEST(OpsRoutes, ABusyAnswerClosesTheConnectionSoWaitingClientsGetTheirTurn) {
  ServerConfig config = test_config();
  config.max_in_flight = 1;
  config.worker_threads = 2;  // one for the slow request, one for everything else
  RouteServer server(config);
  auto slow = server.hold_a_slot();

  auto first = server.client();
  first.set_keep_alive(true);
  auto busy = first.Get("/test/fast");
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->get_header_value("Connection"), "close");

  // Before the fix the first client's connection held the second worker for
  // the keep-alive wait (2 s), and this one waited past its 1 s timeout.
  auto second = server.client();
  second.set_read_timeout(1, 0);
  second.set_connection_timeout(1, 0);
  auto answered = second.Get("/test/fast");
  ASSERT_TRUE(answered) << httplib::to_string(answered.error());
  EXPECT_EQ(answered->status, 503);

  ASSERT_NO_FATAL_FAILURE(server.finish_slow(slow));
}

TEST(OpsRoutes, PerIpRateLimitAnswers429Busy) {
  ServerConfig config = test_config();
  config.rate_limit_per_minute = 3;
  RouteServer server(config);
  auto cli = server.client();
  for (int i = 0; i < 3; ++i) {
    auto res = cli.Get("/test/fast");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << i;
  }
  auto limited = cli.Get("/test/fast");
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  auto body = parse_json(limited->body);
  ASSERT_TRUE(body) << limited->body;
  EXPECT_EQ((*body)["error"]["code"], "busy");
  // 3 a minute: the next token is due in about 20 s.
  int retry_after = std::stoi(limited->get_header_value("Retry-After"));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 21);
  // Health checks and scrapes are not limited.
  auto health = cli.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto metrics = cli.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
}

}  // namespace
}  // namespace renkei::server
