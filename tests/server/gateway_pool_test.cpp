// The gateway transport's pool of keep-alive TLS connections
// (http/gateway_transport.cpp) against the real simulated gateway
// (tools/renkei_core_sim.cpp, started by tests/server/with-core-sim.sh; the
// tests skip without it). The simulator counts the TLS connections it
// accepted (handshakes completed), the calls and the PIN checks it served:
// connections are reused; concurrent calls each get their own; the pool
// keeps at most max_idle and none older than idle_ms; a connection the
// gateway closed while idle (its keep-alive timeout, a restart) fails no call
// and no request is sent twice; shutdown closes every idle connection; a call
// that timed out closes its connection and the next call gets its own answer;
// certificate checks hold.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core_sim.h"
#include "http/gateway_transport.h"
#include "ops/metrics.h"
#include "records/remote_records_source.h"

extern char** environ;

namespace renkei::server {
namespace {

using nlohmann::json;
using testing::CoreSim;
using testing::CoreSimTest;

const AccountRef kSatoru{"115", AccountType::ordinary, "1100026"};
const AccountRef kHanako{"001", AccountType::savings, "0000123"};

long counter(const json& state, const char* name) {
  return state[name].get<long>();
}

// A source over a transport of its own, with the transport's metrics.
struct Pooled {
  Metrics metrics;
  std::unique_ptr<RemoteRecordsSource> source;
  explicit Pooled(RecordsConfig config) {
    std::string error;
    auto transport = make_https_gateway_transport(config, &error, &metrics);
    if (!transport) throw std::runtime_error("gateway transport: " + error);
    source = std::make_unique<RemoteRecordsSource>(config, std::move(transport), nullptr);
  }
  // The value of a metric line ("name{labels} value"), 0 when absent.
  double metric(const std::string& series) {
    const std::string text = "\n" + metrics.render();
    const std::string key = "\n" + series + " ";
    auto at = text.find(key);
    if (at == std::string::npos) return 0;
    return std::stod(text.substr(at + key.size()));
  }
};

RecordsConfig config_for(int port, int max_idle = 16, int idle_ms = 60000) {
  RecordsConfig c = CoreSim::records_config();
  c.url = "https://127.0.0.1:" + std::to_string(port);
  c.read_retries = 0;  // every call is one request: the counts below are exact
  c.pool.max_idle = max_idle;
  c.pool.idle_ms = idle_ms;
  c.breaker.failure_threshold = 1000;
  return c;
}

// A simulator of the test's own (same certificates), which can be stopped and
// started again on the same port, with its own keep-alive timeout.
class PrivateSim {
 public:
  explicit PrivateSim(std::vector<std::string> extra) : extra_(std::move(extra)) {
    dir_ = std::filesystem::temp_directory_path() /
           ("renkei-pool-sim-" + std::to_string(::getpid()) + "-" + std::to_string(++serial_));
    std::filesystem::create_directories(dir_);
    start(0);
  }
  ~PrivateSim() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  int port() const { return port_; }
  json state() const {
    httplib::Client c("127.0.0.1", control_);
    auto r = c.Get("/control");
    if (!r || r->status != 200) throw std::runtime_error("private simulator unreachable");
    return json::parse(r->body);
  }
  void control(const json& switches) const {
    httplib::Client c("127.0.0.1", control_);
    auto r = c.Post("/control", switches.dump(), "application/json");
    if (!r || r->status != 200) throw std::runtime_error("private simulator control refused");
  }
  void restart() {
    stop();
    start(port_);
  }

 private:
  void start(int port) {
    const std::string ports = (dir_ / "ports").string();
    std::filesystem::remove(ports);
    const char* bin = std::getenv("RENKEI_TEST_CORE_SIM_BIN");
    if (!bin) throw std::runtime_error("RENKEI_TEST_CORE_SIM_BIN is not set");
    std::vector<std::string> args = {bin,
                                     "--cert",
                                     CoreSim::dir() + "/server.pem",
                                     "--key",
                                     CoreSim::dir() + "/server.key",
                                     "--client-ca",
                                     CoreSim::dir() + "/ca.pem",
                                     "--port",
                                     std::to_string(port),
                                     "--control-port",
                                     "0",
                                     "--port-file",
                                     ports,
                                     "--today",
                                     "2026-11-25"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, bin, &actions, nullptr, argv.data(), environ) != 0) {
      posix_spawn_file_actions_destroy(&actions);
      throw std::runtime_error("cannot start the private simulator");
    }
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < 200; ++i) {
      std::ifstream in(ports);
      if (in >> port_ >> control_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    throw std::runtime_error("the private simulator did not start");
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  static inline int serial_ = 0;
  std::vector<std::string> extra_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int control_ = 0;
};

class GatewayPool : public CoreSimTest {
 protected:
  static long tls() { return counter(CoreSim::state(), "tls_connections"); }
  // The handshakes completed since `before`, once `expected` of them have
  // been counted or 5 s have passed. A client that refuses the gateway's
  // certificate closes as soon as its own side of the handshake is done;
  // the gateway's thread may count its side a moment after the call has
  // returned (seen: 2 of 3 counted at once).
  static long tls_settled(long before, long expected) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    long n = tls() - before;
    while (n < expected && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      n = tls() - before;
    }
    return n;
  }
};

TEST_F(GatewayPool, SequentialCallsShareOneConnection) {
  Pooled p(config_for(CoreSim::port()));
  const long before = tls();
  for (int i = 0; i < 5; ++i) {
    auto r = p.source->find_account(i % 2 ? kHanako : kSatoru);
    ASSERT_TRUE(r.ok()) << r.failure().detail;
    ASSERT_TRUE(r.value().has_value());
    EXPECT_EQ(r.value()->customer_ref, i % 2 ? "C0002" : "C0001");
  }
  auto pin = p.source->verify_pin(kSatoru, "1234");
  ASSERT_TRUE(pin.ok());
  EXPECT_EQ(pin.value(), PinCheck::match);
  EXPECT_EQ(tls() - before, 1);
  EXPECT_EQ(p.metric("renkei_records_connections_total{how=\"opened\"}"), 1);
  EXPECT_EQ(p.metric("renkei_records_connections_total{how=\"reused\"}"), 5);
  EXPECT_EQ(p.metric("renkei_records_idle_connections"), 1);
}

TEST_F(GatewayPool, WithoutThePoolEveryCallIsANewConnection) {
  Pooled p(config_for(CoreSim::port(), /*max_idle=*/0));
  const long before = tls();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(p.source->balance(kSatoru).ok());
  EXPECT_EQ(tls() - before, 3);
  EXPECT_EQ(p.metric("renkei_records_connections_closed_total{why=\"pool_full\"}"), 3);
}

// Three calls held at the gateway at once: each has a connection of its own
// (a pool that shared one would hold the second until the first answered).
// Then the pool keeps two of the three (max_idle), so the next three
// concurrent calls open one more.
TEST_F(GatewayPool, ConcurrentCallsEachGetTheirOwnConnectionAndAtMostMaxIdleWait) {
  Pooled p(config_for(CoreSim::port(), /*max_idle=*/2));
  auto burst = [&] {
    CoreSim::control({{"hang", true}});
    const long calls = counter(CoreSim::state(), "calls");
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([&] { ok += p.source->balance(kSatoru).ok() ? 1 : 0; });
    }
    bool all_there = false;
    for (int i = 0; i < 500 && !all_there; ++i) {
      all_there = counter(CoreSim::state(), "calls") >= calls + 3;
      if (!all_there) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(all_there) << "the three calls were not at the gateway at the same time";
    CoreSim::control({{"hang", false}});
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 3);
  };
  const long before = tls();
  burst();
  EXPECT_EQ(tls() - before, 3);
  EXPECT_EQ(p.metric("renkei_records_idle_connections"), 2);
  EXPECT_EQ(p.metric("renkei_records_connections_closed_total{why=\"pool_full\"}"), 1);
  burst();
  EXPECT_EQ(tls() - before, 4);
  // One at a time, the idle ones serve.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(p.source->balance(kSatoru).ok());
  EXPECT_EQ(tls() - before, 4);
}

TEST_F(GatewayPool, AnIdleConnectionOlderThanTheLimitIsClosedNotReused) {
  Pooled p(config_for(CoreSim::port(), 16, /*idle_ms=*/300));
  const long before = tls();
  ASSERT_TRUE(p.source->balance(kSatoru).ok());
  ASSERT_TRUE(p.source->balance(kSatoru).ok());  // young: reused
  EXPECT_EQ(tls() - before, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  ASSERT_TRUE(p.source->balance(kSatoru).ok());
  EXPECT_EQ(tls() - before, 2);
  EXPECT_EQ(p.metric("renkei_records_connections_closed_total{why=\"idle_too_long\"}"), 1);
}

// The gateway closes an idle connection after its keep-alive timeout (1 s
// here; the pool's own limit is a minute): it says so with a TLS
// close_notify, which the pool sees before sending. The PIN check goes out
// once, on a new connection, and succeeds.
TEST_F(GatewayPool, AConnectionTheGatewayClosedWhileIdleFailsNoCall) {
  PrivateSim sim({"--keep-alive-timeout", "1"});
  Pooled p(config_for(sim.port()));
  ASSERT_TRUE(p.source->find_account(kSatoru).ok());
  EXPECT_EQ(counter(sim.state(), "tls_connections"), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto pin = p.source->verify_pin(kSatoru, "1234");
  ASSERT_TRUE(pin.ok()) << pin.failure().detail;
  EXPECT_EQ(pin.value(), PinCheck::match);
  const json s = sim.state();
  EXPECT_EQ(counter(s, "pin_checks"), 1);
  EXPECT_EQ(counter(s, "calls"), 2);
  EXPECT_EQ(counter(s, "tls_connections"), 2);
  EXPECT_EQ(p.metric("renkei_records_connections_closed_total{why=\"gateway_closed\"}"), 1);
}

// Shutdown: destroying the transport closes every idle connection; the
// gateway sees them closed at once, not after its keep-alive timeout (a
// minute here).
TEST_F(GatewayPool, ShutdownClosesEveryIdleConnection) {
  PrivateSim sim({"--keep-alive-timeout", "60"});
  {
    Pooled p(config_for(sim.port()));
    sim.control({{"hang", true}});
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([&] { ok += p.source->balance(kSatoru).ok() ? 1 : 0; });
    }
    for (int i = 0; i < 500 && counter(sim.state(), "calls") < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    sim.control({{"hang", false}});
    for (auto& t : threads) t.join();
    ASSERT_EQ(ok.load(), 3);
    EXPECT_EQ(p.metric("renkei_records_idle_connections"), 3);
    EXPECT_EQ(counter(sim.state(), "tls_open"), 3);
  }
  long open = 3;
  for (int i = 0; i < 300 && (open = counter(sim.state(), "tls_open")) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(open, 0);
}

// The gateway restarts between two calls: every pooled connection is gone.
// The next PIN check is sent once, to the new process, and succeeds.
TEST_F(GatewayPool, AGatewayRestartFailsNoCall) {
  PrivateSim sim({});
  Pooled p(config_for(sim.port()));
  ASSERT_TRUE(p.source->find_account(kSatoru).ok());
  ASSERT_TRUE(p.source->registered_phones(kSatoru).ok());
  sim.restart();
  auto pin = p.source->verify_pin(kSatoru, "1235");
  ASSERT_TRUE(pin.ok()) << pin.failure().detail;
  EXPECT_EQ(pin.value(), PinCheck::mismatch);
  const json s = sim.state();
  EXPECT_EQ(counter(s, "pin_checks"), 1);
  EXPECT_EQ(counter(s, "calls"), 1);
  EXPECT_EQ(counter(s, "tls_connections"), 1);
}

// A call that timed out leaves its request at the gateway, whose late answer
// must never be read as the answer to someone else's call: the connection is
// closed, and the next call opens its own and gets its own answer.
TEST_F(GatewayPool, ATimedOutCallClosesItsConnectionAndTheNextCallGetsItsOwnAnswer) {
  RecordsConfig config = config_for(CoreSim::port());
  config.timeout_ms = 500;
  Pooled p(config);
  const long before = tls();
  ASSERT_TRUE(p.source->find_account(kSatoru).ok());  // one idle connection
  CoreSim::control({{"hang", true}});
  auto held = p.source->balance(kSatoru);  // on the pooled connection
  ASSERT_FALSE(held.ok());
  EXPECT_EQ(held.failure().kind, RecordsFailureKind::timeout);
  CoreSim::control({{"hang", false}});  // the gateway answers it now, to a closed connection
  auto next = p.source->find_account(kHanako);
  ASSERT_TRUE(next.ok()) << next.failure().detail;
  ASSERT_TRUE(next.value().has_value());
  EXPECT_EQ(next.value()->customer_ref, "C0002");
  EXPECT_EQ(tls() - before, 2);
  EXPECT_EQ(p.metric("renkei_records_connections_total{how=\"reused\"}"), 1);
  EXPECT_EQ(p.metric("renkei_records_connections_total{how=\"opened\"}"), 2);
}

// The per-call timeout holds on a reused connection: a slow answer on it is a
// timeout within about timeout_ms.
TEST_F(GatewayPool, TheCallsTimeoutHoldsOnAReusedConnection) {
  RecordsConfig config = config_for(CoreSim::port());
  config.timeout_ms = 400;
  Pooled p(config);
  ASSERT_TRUE(p.source->balance(kSatoru).ok());
  CoreSim::control({{"latency_ms", 3000}});
  const auto started = std::chrono::steady_clock::now();
  auto slow = p.source->balance(kSatoru);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.failure().kind, RecordsFailureKind::timeout);
  EXPECT_LT(took, std::chrono::milliseconds(2500));
  EXPECT_EQ(p.metric("renkei_records_connections_total{how=\"reused\"}"), 1);
  CoreSim::control({{"latency_ms", 0}});
}

// A gateway certificate from a CA we do not trust is refused on every call:
// nothing is pooled, nothing reaches a handler. A client certificate from
// another CA is refused by the gateway on every call, and a key that is not
// the certificate's is refused at start.
TEST_F(GatewayPool, CertificateChecksHoldForEveryCall) {
  const long calls = counter(CoreSim::state(), "calls");
  const long before = tls();
  RecordsConfig wrong_ca = config_for(CoreSim::port());
  wrong_ca.ca = CoreSim::dir() + "/rogue-ca.pem";
  Pooled untrusted(wrong_ca);
  for (int i = 0; i < 3; ++i) {
    auto r = untrusted.source->balance(kSatoru);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.failure().detail.find("TLS"), std::string::npos) << r.failure().detail;
  }
  EXPECT_EQ(untrusted.metric("renkei_records_connections_total{how=\"opened\"}"), 3);
  EXPECT_EQ(untrusted.metric("renkei_records_idle_connections"), 0);
  // httplib checks the gateway's certificate once the handshake is done, and
  // then sends nothing: three handshakes, no request.
  EXPECT_EQ(counter(CoreSim::state(), "calls"), calls);
  EXPECT_EQ(tls_settled(before, 3), 3);

  RecordsConfig rogue = config_for(CoreSim::port());
  rogue.client_cert = CoreSim::dir() + "/rogue-client.pem";
  rogue.client_key = CoreSim::dir() + "/rogue-client.key";
  Pooled refused(rogue);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(refused.source->balance(kSatoru).ok());
  EXPECT_EQ(refused.metric("renkei_records_idle_connections"), 0);
  EXPECT_EQ(counter(CoreSim::state(), "calls"), calls);
  EXPECT_EQ(tls() - before, 3);  // the gateway completed none of these handshakes

  RecordsConfig mismatched = config_for(CoreSim::port());
  mismatched.client_key = CoreSim::dir() + "/rogue-client.key";
  std::string error;
  EXPECT_EQ(make_https_gateway_transport(mismatched, &error), nullptr);
  EXPECT_NE(error.find("is not the key of"), std::string::npos) << error;

  // The right certificates, pooled, still work.
  Pooled good(config_for(CoreSim::port()));
  EXPECT_TRUE(good.source->balance(kSatoru).ok());
  EXPECT_TRUE(good.source->balance(kSatoru).ok());
  EXPECT_EQ(tls() - before, 4);
}

}  // namespace
}  // namespace renkei::server
