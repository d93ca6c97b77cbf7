// renkei-core-sim: a simulated core-banking gateway (issue 14). It serves the
// demo customers (records.cpp's demo data set, seeded into its own in-memory
// store with its own PIN key: the "HSM") through the gateway contract of
// docs/core-banking.openapi.yaml, over HTTPS that requires a client
// certificate signed by --client-ca. Switches for latency, errors,
// maintenance and a hang, on the command line and on a small control
// endpoint (plain HTTP, loopback only):
//
//   renkei-core-sim --cert server.pem --key server.key --client-ca ca.pem
//                   [--host 127.0.0.1] [--port 8443] [--port-file FILE]
//                   [--control-port 0] [--today YYYY-MM-DD]
//                   [--latency-ms N] [--error unavailable|busy|internal|none]
//                   [--maintenance-until ISO8601] [--hang]
//                   [--keep-alive-max 100] [--keep-alive-timeout 5]
//
//   GET  /control            the switches, how many calls were served and how
//                            many TLS connections were accepted (handshakes
//                            completed: "tls_connections") and how many of
//                            those are still open ("tls_open")
//   POST /control {"latency_ms":0,"error":"none","maintenance_until":null,
//                  "hang":false,"fail_every":0}
//
// Keep-alive as a gateway does it: at most --keep-alive-max requests on one
// connection (the last answer says "Connection: close"), and a connection
// idle for --keep-alive-timeout seconds is closed (with a TLS close_notify).
//
// scripts/start-core-sim.sh makes a throw-away CA, server and client
// certificates with openssl and starts it (docs/core-banking.md).
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "ops/crypto.h"
#include "records/records.h"
#include "records/records_source.h"
#include "renkei/fields.h"
#include "renkei/time.h"
#include "store/storage.h"

using nlohmann::json;
using namespace renkei;
using namespace renkei::server;

namespace {

struct Switches {
  int latency_ms = 0;
  std::string error = "none";  // none, unavailable, busy, internal
  std::optional<UnixSeconds> maintenance_until;
  bool hang = false;
  int fail_every =
      0;  // every Nth call fails with `error` (flapping); 0 = every call when error set
};

std::mutex g_mutex;
std::condition_variable g_hang_released;
Switches g_switches;
std::atomic<long> g_calls{0};
std::atomic<long> g_pin_checks{0};
std::atomic<long> g_tls_connections{0};
std::atomic<long> g_tls_open{0};  // of those, the ones not yet closed
int g_counted_index = -1;         // SSL ex_data slot: this connection is counted

// When a counted connection's SSL is freed (it is closed).
void on_ssl_free(void*, void* counted, CRYPTO_EX_DATA*, int, long, void*) {
  if (counted != nullptr) --g_tls_open;
}

// Counts each connection once, when its handshake completes (a refused
// client certificate never gets there).
void on_tls_event(const SSL* ssl, int where, int /*ret*/) {
  if (!(where & SSL_CB_HANDSHAKE_DONE)) return;
  SSL* s = const_cast<SSL*>(ssl);
  if (SSL_get_ex_data(s, g_counted_index) != nullptr) return;
  SSL_set_ex_data(s, g_counted_index, &g_tls_connections);
  ++g_tls_connections;
  ++g_tls_open;
}

json switches_json(const Switches& s) {
  return json{{"latency_ms", s.latency_ms},
              {"error", s.error},
              {"maintenance_until",
               s.maintenance_until ? json(format_jst(*s.maintenance_until)) : json(nullptr)},
              {"hang", s.hang},
              {"fail_every", s.fail_every},
              {"calls", g_calls.load()},
              {"pin_checks", g_pin_checks.load()},
              {"tls_connections", g_tls_connections.load()},
              {"tls_open", g_tls_open.load()}};
}

void send(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& code,
                std::optional<UnixSeconds> reopens_at = std::nullopt) {
  json e{{"code", code}};
  if (reopens_at) e["reopens_at"] = format_jst(*reopens_at);
  send(res, status, json{{"error", e}});
}

// The switches, applied before a call is answered. True when it answered.
bool apply_switches(httplib::Response& res) {
  const long n = ++g_calls;
  Switches s;
  {
    std::unique_lock<std::mutex> lock(g_mutex);
    // The hang: hold the request until the switch is turned off (or 120 s).
    g_hang_released.wait_for(lock, std::chrono::seconds(120), [] { return !g_switches.hang; });
    s = g_switches;
  }
  if (s.latency_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(s.latency_ms));
  if (s.maintenance_until) {
    const auto now = static_cast<UnixSeconds>(std::time(nullptr));
    // The simulator's maintenance lasts until it is switched off; reopens_at
    // is what it announces.
    (void)now;
    send_error(res, 503, "MAINTENANCE", s.maintenance_until);
    return true;
  }
  if (s.error != "none" && (s.fail_every <= 0 || n % s.fail_every == 0)) {
    if (s.error == "busy") {
      send_error(res, 503, "BUSY");
    } else if (s.error == "internal") {
      send_error(res, 500, "INTERNAL");
    } else {
      send_error(res, 503, "UNAVAILABLE");
    }
    return true;
  }
  return false;
}

std::optional<AccountRef> account_of(const json& body) {
  if (!body.is_object() || !body.contains("account") || !body["account"].is_object())
    return std::nullopt;
  const json& a = body["account"];
  for (const char* k : {"branch", "account_type", "account_number"}) {
    if (!a.contains(k) || !a[k].is_string()) return std::nullopt;
  }
  const FieldResult branch = check_branch(a["branch"].get<std::string>());
  const FieldResult number = check_account_number(a["account_number"].get<std::string>());
  const auto type = account_type_from_wire(a["account_type"].get<std::string>());
  if (!branch.ok() || !number.ok() || !type) return std::nullopt;
  return AccountRef{branch.value, *type, number.value};
}

bool answer_failure(httplib::Response& res, const RecordsFailure& f) {
  send_error(res, 500, "INTERNAL");
  (void)f;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", cert, key, client_ca, port_file, today_text;
  int port = 8443, control_port = 0;
  int keep_alive_max = 100, keep_alive_timeout = 5;
  auto need = [&](int& i) -> std::string {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "renkei-core-sim: %s needs a value\n", argv[i]);
      std::exit(2);
    }
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--host")
      host = need(i);
    else if (a == "--port")
      port = std::atoi(need(i).c_str());
    else if (a == "--port-file")
      port_file = need(i);
    else if (a == "--control-port")
      control_port = std::atoi(need(i).c_str());
    else if (a == "--cert")
      cert = need(i);
    else if (a == "--key")
      key = need(i);
    else if (a == "--client-ca")
      client_ca = need(i);
    else if (a == "--today")
      today_text = need(i);
    else if (a == "--latency-ms")
      g_switches.latency_ms = std::atoi(need(i).c_str());
    else if (a == "--error")
      g_switches.error = need(i);
    else if (a == "--fail-every")
      g_switches.fail_every = std::atoi(need(i).c_str());
    else if (a == "--hang")
      g_switches.hang = true;
    else if (a == "--keep-alive-max")
      keep_alive_max = std::atoi(need(i).c_str());
    else if (a == "--keep-alive-timeout")
      keep_alive_timeout = std::atoi(need(i).c_str());
    else if (a == "--maintenance-until") {
      const std::string v = need(i);
      g_switches.maintenance_until = parse_iso_instant(v);
      if (!g_switches.maintenance_until) {
        std::fprintf(stderr, "renkei-core-sim: --maintenance-until: not an ISO 8601 instant\n");
        return 2;
      }
    } else {
      std::fprintf(stderr, "renkei-core-sim: unknown argument %s (see the source's header)\n",
                   a.c_str());
      return 2;
    }
  }
  if (cert.empty() || key.empty() || client_ca.empty()) {
    std::fprintf(stderr, "renkei-core-sim: --cert, --key and --client-ca are required\n");
    return 2;
  }
  if (g_switches.error != "none" && g_switches.error != "unavailable" &&
      g_switches.error != "busy" && g_switches.error != "internal") {
    std::fprintf(stderr, "renkei-core-sim: --error must be none, unavailable, busy or internal\n");
    return 2;
  }
  if (keep_alive_max < 1 || keep_alive_timeout < 1) {
    std::fprintf(stderr,
                 "renkei-core-sim: --keep-alive-max and --keep-alive-timeout must be >= 1\n");
    return 2;
  }
  CivilDate today = jst_date(static_cast<UnixSeconds>(std::time(nullptr)));
  if (!today_text.empty()) {
    auto d = parse_date(today_text);
    if (!d) {
      std::fprintf(stderr, "renkei-core-sim: --today must be YYYY-MM-DD\n");
      return 2;
    }
    today = *d;
  }

  // The core system's own records: the demo set, PINs under a key that never
  // leaves this process.
  std::unique_ptr<Store> store = open_sqlite_store(":memory:");
  const std::string hsm_key = random_token();
  seed_demo_data(*store, hsm_key, today);
  LocalRecordsSource records(*store, hsm_key);

  httplib::SSLServer server(cert.c_str(), key.c_str(), client_ca.c_str());
  if (!server.is_valid()) {
    std::fprintf(stderr, "renkei-core-sim: cannot load the certificates\n");
    return 1;
  }
  server.new_task_queue = [] { return new httplib::ThreadPool(32); };
  // As gateways (nginx's tcp_nodelay) do on keep-alive connections: httplib
  // writes an answer's headers and body separately, and with Nagle's
  // algorithm the body would wait for the client's delayed ACK.
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(static_cast<size_t>(keep_alive_max));
  server.set_keep_alive_timeout(keep_alive_timeout);
  g_counted_index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, on_ssl_free);
  SSL_CTX_set_info_callback(server.ssl_context(), on_tls_event);

  auto route = [&](const char* path, auto handler) {
    server.Post(path, [handler](const httplib::Request& req, httplib::Response& res) {
      json body = json::parse(req.body, nullptr, false);
      if (apply_switches(res)) return;
      std::optional<AccountRef> ref = account_of(body);
      if (!ref) {
        send_error(res, 400, "INVALID_REQUEST");
        return;
      }
      handler(*ref, body, res);
    });
  };
  route("/v1/accounts/lookup", [&](const AccountRef& ref, const json&, httplib::Response& res) {
    auto r = records.find_account(ref);
    if (!r.ok()) return (void)answer_failure(res, r.failure());
    if (!r.value()) return send(res, 200, json{{"found", false}});
    const AccountInfo& a = *r.value();
    send(res, 200,
         json{{"found", true},
              {"customer_ref", a.customer_ref},
              {"status", std::string(account_status_wire_name(a.status))},
              {"cash_card", a.cash_card_issued}});
  });
  auto known = [&](const AccountRef& ref, httplib::Response& res) {
    auto r = records.find_account(ref);
    if (!r.ok()) return !answer_failure(res, r.failure());
    if (!r.value()) {
      send_error(res, 404, "ACCOUNT_NOT_FOUND");
      return false;
    }
    return true;
  };
  route("/v1/identity/verify", [&](const AccountRef& ref, const json& b, httplib::Response& res) {
    if (!b.contains("birth_date") || !b["birth_date"].is_string() || !b.contains("phone") ||
        !b["phone"].is_string()) {
      return send_error(res, 400, "INVALID_REQUEST");
    }
    if (!known(ref, res)) return;
    auto r = records.identity_matches(ref, b["birth_date"].get<std::string>(),
                                      b["phone"].get<std::string>());
    if (!r.ok()) return (void)answer_failure(res, r.failure());
    send(res, 200, json{{"match", r.value()}});
  });
  route("/v1/accounts/phones", [&](const AccountRef& ref, const json&, httplib::Response& res) {
    if (!known(ref, res)) return;
    auto r = records.registered_phones(ref);
    if (!r.ok()) return (void)answer_failure(res, r.failure());
    send(res, 200, json{{"phones", r.value()}});
  });
  route("/v1/pin/verify", [&](const AccountRef& ref, const json& b, httplib::Response& res) {
    if (!b.contains("pin") || !b["pin"].is_string()) return send_error(res, 400, "INVALID_REQUEST");
    if (!known(ref, res)) return;
    ++g_pin_checks;
    auto r = records.verify_pin(ref, b["pin"].get<std::string>());
    if (!r.ok()) return (void)answer_failure(res, r.failure());
    send(res, 200, json{{"match", r.value() == PinCheck::match}});
  });
  route("/v1/accounts/balance", [&](const AccountRef& ref, const json&, httplib::Response& res) {
    if (!known(ref, res)) return;
    auto r = records.balance(ref);
    if (!r.ok()) return (void)answer_failure(res, r.failure());
    send(res, 200, json{{"balance_yen", r.value()}, {"currency", "JPY"}});
  });
  route("/v1/accounts/transactions",
        [&](const AccountRef& ref, const json& b, httplib::Response& res) {
          if (!b.contains("from") || !b["from"].is_string() || !b.contains("to") ||
              !b["to"].is_string() || !b.contains("limit") || !b["limit"].is_number_integer() ||
              b["limit"].get<int>() < 1 || b["limit"].get<int>() > 1000 ||
              (b.contains("cursor") && !b["cursor"].is_string())) {
            return send_error(res, 400, "INVALID_REQUEST");
          }
          if (!known(ref, res)) return;
          auto r = records.transactions(ref, b["from"].get<std::string>(),
                                        b["to"].get<std::string>(), b["limit"].get<int>(),
                                        b.contains("cursor") ? b["cursor"].get<std::string>() : "");
          if (!r.ok()) {
            return send_error(res, 400,
                              r.failure().kind == RecordsFailureKind::bad_cursor
                                  ? "INVALID_CURSOR"
                                  : "INVALID_REQUEST");
          }
          json items = json::array();
          for (const Transaction& t : r.value().items) {
            items.push_back(json{{"id", t.id},
                                 {"date", t.date},
                                 {"description", t.description},
                                 {"amount_yen", t.amount_yen},
                                 {"balance_after_yen", t.balance_after_yen}});
          }
          send(res, 200,
               json{{"transactions", items},
                    {"next_cursor",
                     r.value().next_cursor.empty() ? json(nullptr) : json(r.value().next_cursor)}});
        });

  // The control endpoint (plain HTTP on loopback).
  httplib::Server control;
  control.Get("/control", [](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(g_mutex);
    send(res, 200, switches_json(g_switches));
  });
  control.Post("/control", [](const httplib::Request& req, httplib::Response& res) {
    json b = json::parse(req.body, nullptr, false);
    if (!b.is_object()) return send(res, 400, json{{"error", "body must be a JSON object"}});
    std::lock_guard<std::mutex> lock(g_mutex);
    Switches s = g_switches;
    if (b.contains("latency_ms")) {
      if (!b["latency_ms"].is_number_integer())
        return send(res, 400, json{{"error", "latency_ms"}});
      s.latency_ms = b["latency_ms"].get<int>();
    }
    if (b.contains("error")) {
      const std::string e = b["error"].is_string() ? b["error"].get<std::string>() : "";
      if (e != "none" && e != "unavailable" && e != "busy" && e != "internal")
        return send(res, 400, json{{"error", "error: none, unavailable, busy or internal"}});
      s.error = e;
    }
    if (b.contains("fail_every")) {
      if (!b["fail_every"].is_number_integer())
        return send(res, 400, json{{"error", "fail_every"}});
      s.fail_every = b["fail_every"].get<int>();
    }
    if (b.contains("hang")) {
      if (!b["hang"].is_boolean()) return send(res, 400, json{{"error", "hang"}});
      s.hang = b["hang"].get<bool>();
    }
    if (b.contains("maintenance_until")) {
      if (b["maintenance_until"].is_null()) {
        s.maintenance_until.reset();
      } else if (b["maintenance_until"].is_string()) {
        s.maintenance_until = parse_iso_instant(b["maintenance_until"].get<std::string>());
        if (!s.maintenance_until) return send(res, 400, json{{"error", "maintenance_until"}});
      } else {
        return send(res, 400, json{{"error", "maintenance_until"}});
      }
    }
    g_switches = s;
    g_hang_released.notify_all();
    send(res, 200, switches_json(g_switches));
  });
  const int bound_control =
      control_port == 0 ? control.bind_to_any_port("127.0.0.1")
                        : (control.bind_to_port("127.0.0.1", control_port) ? control_port : -1);
  if (bound_control <= 0) {
    std::fprintf(stderr, "renkei-core-sim: cannot bind the control port\n");
    return 1;
  }
  const int bound =
      port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    std::fprintf(stderr, "renkei-core-sim: cannot bind %s:%d\n", host.c_str(), port);
    return 1;
  }
  std::thread control_thread([&] { control.listen_after_bind(); });
  if (!port_file.empty()) {
    std::ofstream out(port_file + ".tmp");
    out << bound << " " << bound_control << "\n";
    out.close();
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  std::printf(
      "renkei-core-sim: gateway https://%s:%d (client certificates from %s), control "
      "http://127.0.0.1:%d/control, demo data as of %s\n",
      host.c_str(), bound, client_ca.c_str(), bound_control, format_date(today).c_str());
  std::fflush(stdout);

  static httplib::Server* to_stop[2] = {&server, &control};
  std::signal(SIGTERM, [](int) {
    for (auto* s : to_stop) s->stop();
  });
  std::signal(SIGINT, [](int) {
    for (auto* s : to_stop) s->stop();
  });
  server.listen_after_bind();
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_switches.hang = false;
  }
  g_hang_released.notify_all();
  control.stop();
  control_thread.join();
  return 0;
}
