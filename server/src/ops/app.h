// What every part of the server shares: configuration, storage, the clock,
// the source of randomness, metrics and the mail worker's wake-up. Built
// once in main (or in a test).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "ops/clock.h"
#include "ops/config.h"
#include "ops/metrics.h"
#include "ops/random.h"
#include "renkei/flow.h"
#include "renkei/service_calendar.h"
#include "records/records_source.h"
#include "store/storage.h"

namespace renkei::server {

class App {
 public:
  // `random` null: the OS CSPRNG (SystemRandomness).
  App(ServerConfig config, std::unique_ptr<Store> store, std::shared_ptr<Clock> clock,
      std::shared_ptr<Randomness> random = nullptr);

  const ServerConfig& config() const { return config_; }
  Store& store() { return *store_; }
  const Clock& clock() const { return *clock_; }
  UnixSeconds now() const { return clock_->now(); }
  // The movable clock in dev mode with movable_clock, else null.
  MovableClock* movable_clock() const { return dynamic_cast<MovableClock*>(clock_.get()); }
  Metrics& metrics() { return metrics_; }
  // The pool pick of ③ and the ids and secrets of a flow (random.h).
  Randomness& random() const { return *random_; }
  // The credit union's records (records_source.h): the local source unless a
  // remote one was installed (main and the test fixture do, for
  // "records": {"source": "remote"}).
  RecordsSource& records() { return *records_; }
  void set_records(std::unique_ptr<RecordsSource> records) { records_ = std::move(records); }

  // The calendar: the manual's windows, the configured ones and the ones staff
  // announced (stored). Cheap: a cached copy, refreshed by reload_calendar().
  ServiceCalendar calendar() const;
  void reload_calendar();
  // The core's flow rules under this configuration.
  FlowConfig flow_config() const;

  // Called after a transaction that enqueued mail commits (wakes the worker).
  void notify_mail() const {
    if (on_mail_enqueued) on_mail_enqueued();
  }
  std::function<void()> on_mail_enqueued;

 private:
  ServerConfig config_;
  std::unique_ptr<Store> store_;
  std::shared_ptr<Clock> clock_;
  std::shared_ptr<Randomness> random_;
  Metrics metrics_;
  std::unique_ptr<RecordsSource> records_;
  mutable std::mutex calendar_mutex_;
  ServiceCalendar calendar_;
};

// Opens the store named in config, creates the schema, seeds the demo data
// when configured and the store is empty, registers the configured clients,
// and loads the calendar. nullptr with *error set when anything fails.
// `random` null: the OS CSPRNG.
std::unique_ptr<App> make_app(ServerConfig config, std::shared_ptr<Clock> clock,
                              std::string* error, std::shared_ptr<Randomness> random = nullptr);
// The same over a store already opened on config.database (the tests wrap
// one to make its connections fail on cue; tests/server/test_server.h).
std::unique_ptr<App> make_app(ServerConfig config, std::unique_ptr<Store> store,
                              std::shared_ptr<Clock> clock, std::string* error,
                              std::shared_ptr<Randomness> random = nullptr);

}  // namespace renkei::server
