// The shared state of the server and its start-up: open the store, seed the
// demo data, register the configured clients, load the calendar.
#include "ops/app.h"

#include <exception>
#include <filesystem>

#include "ops/crypto.h"
#include "records/records.h"

namespace renkei::server {

App::App(ServerConfig config, std::unique_ptr<Store> store, std::shared_ptr<Clock> clock,
         std::shared_ptr<Randomness> random)
    : config_(std::move(config)),
      store_(std::move(store)),
      clock_(std::move(clock)),
      random_(random ? std::move(random) : std::make_shared<SystemRandomness>()),
      calendar_(config_.maintenance) {}

ServiceCalendar App::calendar() const {
  std::lock_guard<std::mutex> lock(calendar_mutex_);
  return calendar_;
}

void App::reload_calendar() {
  // Configured windows first, then the ones staff announced (stored).
  std::vector<MaintenanceWindow> windows = config_.maintenance;
  const std::vector<MaintenanceWindow> stored = with_transaction(
      *store_, TxMode::read_only, [](StoreTx& tx) { return tx.list_maintenance(); });
  windows.insert(windows.end(), stored.begin(), stored.end());
  ServiceCalendar fresh(std::move(windows));
  std::lock_guard<std::mutex> lock(calendar_mutex_);
  calendar_ = std::move(fresh);
}

FlowConfig App::flow_config() const {
  FlowConfig fc;
  fc.call_window_seconds = config_.call_window_seconds;
  fc.idle_timeout_seconds = config_.flow_idle_seconds;
  fc.lockout = LockoutPolicy(config_.lockout_limit);
  fc.calendar = calendar();
  return fc;
}

namespace {

// Registers the configured clients. The configuration owns a client's name,
// redirect URIs and secret; its `enabled` flag is shared with staff:
//  - a new client takes the configured flag;
//  - an existing client stays switched off if staff switched it off (a
//    restart must not silently reconnect an app staff disconnected), and
//    "enabled": false in the file switches it off (persisted);
//  - switching an app back on is staff's action (admin API), never a restart.
// Clients in the store that the file no longer lists are left as they are;
// a client's profile and keys (set at runtime) are kept.
void register_clients(OAuthRepository& tx, const ServerConfig& config) {
  for (const auto& c : config.clients) {
    ClientRecord rec;
    rec.id = c.id;
    rec.display_name = c.display_name;
    rec.redirect_uris = c.redirect_uris;
    auto secret = config.client_secrets.find(c.id);
    if (!c.secret_env.empty() && secret != config.client_secrets.end()) {
      rec.secret_digest = secret_digest(secret->second);
    }
    auto existing = tx.find_client(c.id);
    rec.enabled = c.enabled && (!existing || existing->enabled);
    // The FAPI 2.0 profile and the public keys are not in the file: they are
    // set at runtime and kept (issue 13).
    if (existing) {
      rec.profile = existing->profile;
      rec.jwks = existing->jwks;
    }
    tx.upsert_client(rec);
  }
}

}  // namespace

std::unique_ptr<App> make_app(ServerConfig config, std::shared_ptr<Clock> clock,
                              std::string* error, std::shared_ptr<Randomness> random) {
  auto fail = [&](const std::string& why) -> std::unique_ptr<App> {
    if (error) *error = why;
    return nullptr;
  };
  try {
    const std::string sqlite_path = sqlite_path_of(config.database);
    if (!sqlite_path.empty() && sqlite_path != ":memory:") {
      std::filesystem::path parent = std::filesystem::path(sqlite_path).parent_path();
      std::error_code ec;
      if (!parent.empty()) std::filesystem::create_directories(parent, ec);
      if (ec) return fail("cannot create " + parent.string() + ": " + ec.message());
    }
    // PostgreSQL: one pooled connection per worker thread at most.
    std::unique_ptr<Store> store = open_store(config.database, config.worker_threads);
    if (!store) return fail("cannot open the database " + database_for_log(config.database));
    return make_app(std::move(config), std::move(store), std::move(clock), error,
                    std::move(random));
  } catch (const std::exception& e) {
    // StorageError messages name their layer already ("storage: …").
    const std::string what = e.what();
    return fail(what.rfind("storage:", 0) == 0 ? what : "storage: " + what);
  }
}

std::unique_ptr<App> make_app(ServerConfig config, std::unique_ptr<Store> store,
                              std::shared_ptr<Clock> clock, std::string* error,
                              std::shared_ptr<Randomness> random) {
  auto fail = [&](const std::string& why) -> std::unique_ptr<App> {
    if (error) *error = why;
    return nullptr;
  };
  if (!store) return fail("cannot open the database " + database_for_log(config.database));
  try {
    if (config.seed_demo_data && config.dev_mode && config.records.source != "remote") {
      seed_demo_data(*store, config.pin_hmac_key, jst_date(clock->now()));
    }
    // Start-up's transactions are units of with_transaction like any other: a
    // pooled PostgreSQL connection lost before anything reached the database
    // runs them again.
    if (!config.dev_mode) {
      // The demo customers' PINs are in the README: a production server must
      // never serve them (security finding, issue 12).
      const bool demo = with_transaction(*store, TxMode::read_only,
                                         [](StoreTx& tx) { return holds_demo_data(tx); });
      if (demo) {
        return fail("the database " + database_for_log(config.database) +
                    " holds the demo data set, whose PINs are published; a production server "
                    "(dev_mode off) refuses it. Use a new database for production, or "
                    "\"dev_mode\": true for development.");
      }
    }
    try {
      with_transaction(*store, TxMode::read_write,
                       [&](StoreTx& tx) { register_clients(tx, config); });
    } catch (const StorageError& e) {
      return fail(std::string("cannot register the configured clients: ") + e.what());
    }
    Store& store_ref = *store;
    const bool local_records = config.records.source != "remote";
    const std::string pin_key = config.pin_hmac_key;
    auto app = std::make_unique<App>(std::move(config), std::move(store), std::move(clock),
                                     std::move(random));
    // The remote source needs the HTTPS transport of the http layer: whoever
    // starts the server installs it (main.cpp, the test fixture).
    if (local_records) app->set_records(std::make_unique<LocalRecordsSource>(store_ref, pin_key));
    app->reload_calendar();
    return app;
  } catch (const std::exception& e) {
    // StorageError messages name their layer already ("storage: …").
    const std::string what = e.what();
    return fail(what.rfind("storage:", 0) == 0 ? what : "storage: " + what);
  }
}

}  // namespace renkei::server
