// The simulated core-banking gateway as the tests see it
// (tools/renkei_core_sim.cpp, started by tests/server/with-core-sim.sh, which
// exports RENKEI_TEST_CORE_SIM=<certificate directory>,
// RENKEI_TEST_CORE_SIM_PORT and RENKEI_TEST_CORE_SIM_CONTROL_PORT).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "http/gateway_transport.h"
#include "ops/config.h"
#include "ops/metrics.h"
#include "records/remote_records_source.h"

namespace renkei::server::testing {

class CoreSim {
 public:
  static bool available() { return std::getenv("RENKEI_TEST_CORE_SIM") != nullptr; }
  static std::string dir() { return env("RENKEI_TEST_CORE_SIM"); }
  static int port() { return std::stoi(env("RENKEI_TEST_CORE_SIM_PORT")); }
  static int control_port() { return std::stoi(env("RENKEI_TEST_CORE_SIM_CONTROL_PORT")); }

  // The remote records configuration for the simulator (its CA, our client
  // certificate). The timeout is generous: the machines that run the tests
  // are loaded, and the tests about timeouts set their own.
  static RecordsConfig records_config() {
    RecordsConfig c;
    c.source = "remote";
    c.url = "https://127.0.0.1:" + std::to_string(port());
    c.ca = dir() + "/ca.pem";
    c.client_cert = dir() + "/client.pem";
    c.client_key = dir() + "/client.key";
    c.timeout_ms = 5000;
    c.read_retries = 1;
    return c;
  }

  static std::unique_ptr<RemoteRecordsSource> remote_source(
      const RecordsConfig& config = records_config(), Metrics* metrics = nullptr) {
    std::string error;
    auto transport = make_https_gateway_transport(config, &error);
    if (!transport) throw std::runtime_error("gateway transport: " + error);
    return std::make_unique<RemoteRecordsSource>(config, std::move(transport), metrics);
  }

  // POST /control with the switches to change; the simulator's state after.
  static nlohmann::json control(const nlohmann::json& switches) {
    httplib::Client c("127.0.0.1", control_port());
    auto r = c.Post("/control", switches.dump(), "application/json");
    if (!r || r->status != 200) throw std::runtime_error("core sim control refused " + switches.dump());
    return nlohmann::json::parse(r->body);
  }
  static nlohmann::json state() {
    httplib::Client c("127.0.0.1", control_port());
    auto r = c.Get("/control");
    if (!r || r->status != 200) throw std::runtime_error("core sim control unreachable");
    return nlohmann::json::parse(r->body);
  }
  // Every switch off.
  static void reset() {
    control({{"latency_ms", 0},
             {"error", "none"},
             {"maintenance_until", nullptr},
             {"hang", false},
             {"fail_every", 0}});
  }

 private:
  static std::string env(const char* name) {
    const char* v = std::getenv(name);
    if (!v) throw std::runtime_error(std::string(name) + " is not set (run under with-core-sim.sh)");
    return v;
  }
};

// A test against the simulator: skipped without it, and its switches reset
// before and after each test.
class CoreSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CoreSim::available()) GTEST_SKIP() << "no simulator (tests/server/with-core-sim.sh)";
    CoreSim::reset();
  }
  void TearDown() override {
    if (CoreSim::available()) CoreSim::reset();
  }
};

}  // namespace renkei::server::testing
