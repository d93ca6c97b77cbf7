// A real server on a thread for integration tests, in the manner of
// cpp-httplib's own tests: start, wait until ready, talk with httplib::Client,
// stop and join. Storage is SQLite in memory; the clock is manual.
//
// With RENKEI_TEST_BACKEND=postgres (and RENKEI_TEST_POSTGRES_URI, as
// scripts/with-postgres.sh sets it) every TestServer whose configuration
// keeps the default database (":memory:") gets a new, empty PostgreSQL
// database instead, dropped when the TestServer ends; a test that sets its
// own database (a file) keeps it. ctest: server.suite_postgres.*.
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "ops/app.h"
#include "ops/clock.h"
#include "ops/config.h"
#include "ops/crypto.h"
#include "core_sim.h"
#include "http/gateway_transport.h"
#include "losing_store.h"
#include "outage_store.h"
#include "postgres_test_database.h"
#include "renkei/time.h"
#include "http/routes.h"

namespace renkei::server::testing {

inline constexpr const char* kTestPinKey = "test-pin-key";
inline constexpr const char* kTestWebhookSecret = "test-webhook-secret";
inline constexpr const char* kTestAdminToken = "test-admin-token";
inline constexpr const char* kDemoRedirect = "http://127.0.0.1:9/callback";
inline constexpr const char* kConfidentialSecret = "conf-app-secret";

// Wednesday 2026-11-25 10:00 JST: the service is open.
// A raw TCP connection to 127.0.0.1:port (TCP_NODELAY), for tests that write
// bytes httplib's client would not send; -1 when it cannot connect.
inline int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int yes = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  return fd;
}

inline UnixSeconds open_instant() { return from_jst({2026, 11, 25}, 10, 0, 0); }

inline ServerConfig test_config() {
  ServerConfig c;
  c.host = "127.0.0.1";
  c.port = 0;
  c.database = ":memory:";
  c.dev_mode = true;
  c.seed_demo_data = true;
  c.worker_threads = 8;
  c.rate_limit_per_minute = 100000;
  c.pin_hmac_key = kTestPinKey;
  c.webhook_secret = kTestWebhookSecret;
  c.admin_token_digest = sha256_hex(kTestAdminToken);
  c.mail_transport = "maildir";
  c.maildir = "";  // tests that deliver mail set their own folder
  c.web_root = std::string(std::getenv("RENKEI_SOURCE_DIR") ? std::getenv("RENKEI_SOURCE_DIR")
                                                              : ".") +
               "/web";
  c.call_pool = {"0120000001"};
  ClientConfig demo;
  demo.id = "demo-app";
  demo.display_name = "デモ家計簿アプリ";
  demo.redirect_uris = {kDemoRedirect};
  c.clients.push_back(demo);
  ClientConfig conf;
  conf.id = "conf-app";
  conf.display_name = "機密クライアント";
  conf.redirect_uris = {"https://app.example/cb"};
  conf.secret_env = "CONF_APP_SECRET";
  c.clients.push_back(conf);
  c.client_secrets["conf-app"] = kConfidentialSecret;
  return c;
}

// "remote" when RENKEI_TEST_RECORDS=remote (run under
// tests/server/with-core-sim.sh), else "local".
inline std::string test_records() {
  const char* v = std::getenv("RENKEI_TEST_RECORDS");
  return v && std::string(v) == "remote" ? "remote" : "local";
}

// "postgres" when RENKEI_TEST_BACKEND=postgres, else "sqlite". Tests that
// are inherently about the SQLite file skip on "postgres" (GTEST_SKIP).
inline std::string test_backend() {
  const char* v = std::getenv("RENKEI_TEST_BACKEND");
  return v && std::string(v) == "postgres" ? "postgres" : "sqlite";
}

// `server_uri` (postgresql://user@host:port/db?params) naming database `dbname`.
inline std::string postgres_uri_with_database(const std::string& server_uri,
                                              const std::string& dbname) {
  const auto scheme = server_uri.find("://");
  if (scheme == std::string::npos) throw std::runtime_error("not a URI: RENKEI_TEST_POSTGRES_URI");
  const auto path = server_uri.find_first_of("/?", scheme + 3);
  if (path == std::string::npos) return server_uri + "/" + dbname;
  const auto query = server_uri.find('?', path);
  return server_uri.substr(0, path) + "/" + dbname +
         (query == std::string::npos ? "" : server_uri.substr(query));
}

// The one server fixture of the server tests. `extra_routes` may add
// test-only routes before it listens (metrics_test's slow and throwing
// routes); with_movable_clock() runs it on the machine's clock plus an offset,
// as the development server with movable_clock does.
class TestServer {
 public:
  using Routes = std::function<void(httplib::Server&)>;

  explicit TestServer(ServerConfig config = test_config(), UnixSeconds now = open_instant(),
                      const Routes& extra_routes = {})
      : TestServer(std::move(config), std::make_shared<ManualClock>(now), extra_routes) {}

  static std::unique_ptr<TestServer> with_movable_clock(ServerConfig config = test_config()) {
    config.movable_clock = true;
    return std::unique_ptr<TestServer>(
        new TestServer(std::move(config), std::make_shared<MovableClock>(), {}));
  }

  // A server on PostgreSQL (RENKEI_TEST_BACKEND=postgres only) whose store
  // loses pooled connections on cue (losing_store.h): losing_store().
  // `movable_clock`: on a MovableClock, as with_movable_clock().
  static std::unique_ptr<TestServer> losing_connections(ServerConfig config = test_config(),
                                                        bool movable_clock = false) {
    if (test_backend() != "postgres") {
      throw std::logic_error("losing_connections needs RENKEI_TEST_BACKEND=postgres");
    }
    std::shared_ptr<Clock> clock = std::make_shared<ManualClock>(open_instant());
    if (movable_clock) {
      config.movable_clock = true;
      clock = std::make_shared<MovableClock>();
    }
    return std::unique_ptr<TestServer>(new TestServer(std::move(config), clock, {}, true));
  }

  // A server whose store is an OutageStore (outage_store.h) around the usual
  // one (SQLite in memory, or PostgreSQL under RENKEI_TEST_BACKEND=postgres):
  // outage_store().fail(…) makes every transaction fail as an outage would.
  static std::unique_ptr<TestServer> with_outages(ServerConfig config = test_config()) {
    return std::unique_ptr<TestServer>(new TestServer(
        std::move(config), std::make_shared<ManualClock>(open_instant()), {}, false, true));
  }

  ~TestServer() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
    app_.reset();  // closes the store's connections before the database is dropped
    postgres_.reset();
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  App& app() { return *app_; }
  // The store of a losing_connections() server.
  ConnectionLosingStore& losing_store() {
    if (!losing_) throw std::logic_error("not a losing_connections() server");
    return *losing_;
  }
  // The store of a with_outages() server.
  OutageStore& outage_store() {
    if (!outages_) throw std::logic_error("not a with_outages() server");
    return *outages_;
  }
  // The PostgreSQL database of this server (null on SQLite).
  const PostgresTestDatabase* postgres_database() const { return postgres_.get(); }
  // The manual clock (every server but with_movable_clock's).
  ManualClock& clock() {
    auto* manual = dynamic_cast<ManualClock*>(clock_.get());
    if (!manual) throw std::logic_error("this TestServer runs on a movable clock");
    return *manual;
  }
  MovableClock& movable_clock() {
    auto* movable = dynamic_cast<MovableClock*>(clock_.get());
    if (!movable) throw std::logic_error("this TestServer runs on a manual clock");
    return *movable;
  }
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(10, 0);
    return c;
  }

 private:
  TestServer(ServerConfig config, std::shared_ptr<Clock> clock, const Routes& extra_routes,
             bool lose_connections = false, bool outages = false)
      : clock_(std::move(clock)) {
    if (test_backend() == "postgres" && config.database == ":memory:") {
      const auto uri = postgres_server_uri();
      if (!uri) {
        throw std::runtime_error(
            "RENKEI_TEST_BACKEND=postgres needs RENKEI_TEST_POSTGRES_URI "
            "(run under scripts/with-postgres.sh)");
      }
      postgres_ = std::make_unique<PostgresTestDatabase>(*uri);
      config.database = postgres_uri_with_database(*uri, postgres_->name());
    }
    // RENKEI_TEST_RECORDS=remote (ctest server.suite_remote_records.*): the
    // records come from the simulated core-banking gateway, unless the test
    // chose its own records configuration; nothing of them is seeded here.
    const bool remote_records = test_records() == "remote" && config.records.source == "local";
    if (remote_records) {
      config.records = CoreSim::records_config();
      config.seed_demo_data = false;
    }
    std::string error;
    if (lose_connections) {
      if (!postgres_) throw std::logic_error("losing_connections needs a PostgreSQL database");
      auto losing = std::make_unique<ConnectionLosingStore>(
          open_store(config.database, config.worker_threads), postgres_->conninfo());
      losing_ = losing.get();
      app_ = make_app(std::move(config), std::move(losing), clock_, &error);
    } else if (outages) {
      auto store = std::make_unique<OutageStore>(open_store(config.database, config.worker_threads));
      outages_ = store.get();
      app_ = make_app(std::move(config), std::move(store), clock_, &error);
    } else {
      app_ = make_app(std::move(config), clock_, &error);
    }
    if (!app_) throw std::runtime_error("make_app: " + error);
    if (app_->config().records.source == "remote") {
      auto records = make_records_source(app_->config(), app_->store(), &app_->metrics(), &error);
      if (!records) throw std::runtime_error("records: " + error);
      app_->set_records(std::move(records));
    }
    server_ = build_server(*app_);
    if (extra_routes) extra_routes(*server_);
    port_ = server_->bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("bind failed");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  std::unique_ptr<PostgresTestDatabase> postgres_;  // declared first: outlives the app
  std::shared_ptr<Clock> clock_;
  std::unique_ptr<App> app_;
  ConnectionLosingStore* losing_ = nullptr;  // app_'s store, for losing_connections()
  OutageStore* outages_ = nullptr;           // app_'s store, for with_outages()
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

// A TestServer on its own SQLite file (SQLite runs only) whose `clients`
// table break_clients_table() renames under it: a broken database, to provoke
// the storage failures that routes catch to answer in their own form. The
// file goes with it.
class BrokenDatabaseServer {
 public:
  BrokenDatabaseServer()
      : path_(
            (std::filesystem::temp_directory_path() / ("renkei-broken-" + random_token(8) + ".db"))
                .string()) {
    ServerConfig config = test_config();
    config.database = path_;
    server_ = std::make_unique<TestServer>(config);
  }
  ~BrokenDatabaseServer() {
    server_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }
  BrokenDatabaseServer(const BrokenDatabaseServer&) = delete;
  BrokenDatabaseServer& operator=(const BrokenDatabaseServer&) = delete;

  TestServer& server() { return *server_; }
  // Renames the table; SQLite's message when that failed, else "".
  std::string break_clients_table() {
    sqlite3* db = nullptr;
    std::string error;
    if (sqlite3_open(path_.c_str(), &db) != SQLITE_OK ||
        sqlite3_exec(db, "ALTER TABLE clients RENAME TO clients_gone", nullptr, nullptr, nullptr) !=
            SQLITE_OK) {
      error = db ? sqlite3_errmsg(db) : "out of memory";
    }
    sqlite3_close(db);
    return error;
  }

 private:
  std::string path_;
  std::unique_ptr<TestServer> server_;
};

// Staff switch a client off (enabled = false) in the store, as the admin API
// does: true when the client was there and the change committed.
inline bool switch_off_client(Store& store, const std::string& id = "demo-app") {
  auto tx = store.begin();
  std::optional<ClientRecord> client = tx->find_client(id);
  if (!client) return false;
  client->enabled = false;
  tx->upsert_client(*client);
  return tx->commit();
}

}  // namespace renkei::server::testing
