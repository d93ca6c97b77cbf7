// renkei-server: the API連携認証 server.
//
//   renkei-server [--config FILE] [--port N] [--database PATH|URI]
//   renkei-server import-csv FILE [--config FILE]
//   RENKEI_PIN_KEY=… renkei-server hash-pins <accounts-with-pins.csv >accounts.csv
//
// Without --config the built-in defaults apply (production: dev_mode off, so
// the secrets RENKEI_PIN_KEY, RENKEI_WEBHOOK_SECRET and RENKEI_ADMIN_TOKEN must
// be set). SIGINT/SIGTERM stop the server gracefully: no new connections,
// requests in progress finish, the mail worker stops, the store closes.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http/gateway_transport.h"
#include "ops/app.h"
#include "ops/clock.h"
#include "ops/config.h"
#include "ops/crypto.h"
#include "http/http_util.h"
#include "ops/mail.h"
#include "records/records.h"
#include "records/records_source.h"
#include "ops/retention.h"
#include "http/routes.h"
#include "store/storage.h"

namespace {

using namespace renkei::server;

int usage() {
  std::fprintf(stderr,
               "usage: renkei-server [--config FILE] [--port N] [--database PATH|URI]\n"
               "       renkei-server import-csv FILE [--config FILE]\n"
               "       renkei-server hash-pins <CSV-with-pin-column >CSV-with-pin_digest-column\n");
  return 2;
}

struct Options {
  std::string config_path;
  std::optional<int> port;
  std::optional<std::string> database;
  std::string import_file;  // set for import-csv
};

std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::size_t i = 0;
  bool import = !args.empty() && args[0] == "import-csv";
  if (import) {
    if (args.size() < 2 || args[1].rfind("--", 0) == 0) return std::nullopt;
    o.import_file = args[1];
    i = 2;
  }
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= args.size()) return std::nullopt;
      return args[++i];
    };
    if (a == "--config") {
      auto v = value();
      if (!v) return std::nullopt;
      o.config_path = *v;
    } else if (a == "--port" && !import) {
      auto v = value();
      if (!v) return std::nullopt;
      char* end = nullptr;
      long p = std::strtol(v->c_str(), &end, 10);
      if (v->empty() || *end != '\0' || p < 0 || p > 65535) return std::nullopt;
      o.port = static_cast<int>(p);
    } else if (a == "--database" && !import) {
      auto v = value();
      if (!v) return std::nullopt;
      o.database = *v;
    } else {
      return std::nullopt;
    }
  }
  return o;
}

std::optional<ServerConfig> read_config(const Options& o) {
  std::string error;
  auto env = process_environment();
  std::optional<ServerConfig> config = o.config_path.empty()
                                           ? parse_config("{}", env, &error)
                                           : load_config(o.config_path, env, &error);
  if (!config) std::fprintf(stderr, "renkei-server: %s\n", error.c_str());
  return config;
}

int import_csv(const Options& o) {
  auto config = read_config(o);
  if (!config) return 1;
  std::ifstream in(o.import_file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "import-csv: cannot read %s\n", o.import_file.c_str());
    return 1;
  }
  std::ostringstream text;
  text << in.rdbuf();
  try {
    const std::string sqlite_path = sqlite_path_of(config->database);
    if (!sqlite_path.empty() && sqlite_path != ":memory:") {
      auto parent = std::filesystem::path(sqlite_path).parent_path();
      std::error_code ec;
      if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    }
    auto store = open_store(config->database, 1);
    std::string error;
    // PINs in clear only in development; otherwise the file carries the
    // digests made by hash-pins (docs/core-banking.md).
    int rows = import_accounts_csv(*store, text.str(), config->pin_hmac_key, &error,
                                   config->dev_mode);
    if (!error.empty() || rows < 0) {
      std::fprintf(stderr, "import-csv: %s: %s (nothing imported)\n", o.import_file.c_str(),
                   error.c_str());
      return 1;
    }
    std::printf("import-csv: %d rows imported into %s\n", rows,
                database_for_log(config->database).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "import-csv: storage: %s\n", e.what());
    return 1;
  }
}

// hash-pins: the CSV on stdin with its clear `pin` column replaced by the
// keyed digests (`pin_digest`), on stdout, with the key from RENKEI_PIN_KEY —
// run where the PINs are (the credit union's side), so that the file that
// travels to the server holds no PIN.
int hash_pins() {
  const char* key = std::getenv("RENKEI_PIN_KEY");
  if (!key || std::strlen(key) < 16) {
    std::fprintf(stderr, "hash-pins: RENKEI_PIN_KEY must be set (at least 16 characters), the "
                         "same key as the server's\n");
    return 1;
  }
  std::ostringstream text;
  text << std::cin.rdbuf();
  std::string csv = text.str();
  std::string error;
  std::string out = hash_pins_csv(csv, key, &error);
  wipe(csv);
  if (!error.empty()) {
    std::fprintf(stderr, "hash-pins: %s (nothing written)\n", error.c_str());
    return 1;
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

// base64url(SHA-256(verifier)) from crypto.h's hex digest.
std::string pkce_challenge(const std::string& verifier) {
  std::string hex = sha256_hex(verifier);
  std::string raw;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    raw += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return base64url_encode(raw);
}

void print_banner(const ServerConfig& c, int port) {
  bool tls = !c.tls_cert_file.empty();
  std::string base = c.issuer;
  std::string listen =
      std::string(tls ? "https://" : "http://") + c.host + ":" + std::to_string(port);
  if (c.dev_mode) {
    std::printf("Renkei listening on %s — start a flow at %s/demo/\n", listen.c_str(),
                base.c_str());
    std::printf(
        "  operator console: %s/console/ (admin token: RENKEI_ADMIN_TOKEN, or the "
        "development token in server/src/ops/config.h)\n",
        base.c_str());
    for (const auto& client : c.clients) {
      if (!client.secret_env.empty() || client.redirect_uris.empty()) continue;
      std::string verifier = random_token(32);
      std::string state = random_token(12);
      std::string url =
          with_query(base + "/authorize", {{"response_type", "code"},
                                           {"client_id", client.id},
                                           {"redirect_uri", client.redirect_uris[0]},
                                           {"state", state},
                                           {"code_challenge", pkce_challenge(verifier)},
                                           {"code_challenge_method", "S256"},
                                           {"scope", "accounts.read"}});
      std::printf("  or directly (%s): %s\n  PKCE code_verifier for /token: %s\n",
                  client.id.c_str(), url.c_str(), verifier.c_str());
      break;
    }
  } else {
    std::printf(
        "Renkei listening on %s — start a flow at %s/authorize (issuer metadata: "
        "%s/.well-known/oauth-authorization-server)\n",
        listen.c_str(), base.c_str(), base.c_str());
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "hash-pins") return hash_pins();
  auto options = parse_args(argc, argv);
  if (!options) return usage();
  if (!options->import_file.empty()) return import_csv(*options);

  auto config = read_config(*options);
  if (!config) return 1;
  if (options->port) {
    // An issuer derived from host:port follows the new port.
    std::string derived = "http://" + config->host + ":" + std::to_string(config->port);
    config->port = *options->port;
    if (config->issuer == derived) {
      config->issuer = "http://" + config->host + ":" + std::to_string(config->port);
    }
  }
  if (options->database) config->database = *options->database;
  if (config->instance_name.empty()) {
    // Behind a load balancer every response names the instance that answered.
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
    config->instance_name = std::string(host) + ":" + std::to_string(config->port);
  }

  // Block the stop signals in every thread (threads inherit the mask); one
  // thread waits for them with sigwait and stops the server.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::shared_ptr<Clock> clock;
  if (config->dev_mode && config->movable_clock) {
    clock = std::make_shared<MovableClock>();
  } else {
    clock = std::make_shared<SystemClock>();
  }
  std::string error;
  auto app = make_app(*config, clock, &error);
  if (!app) {
    std::fprintf(stderr, "renkei-server: %s\n", error.c_str());
    return 1;
  }
  const ServerConfig& cfg = app->config();
  if (cfg.records.source == "remote") {
    auto records = make_records_source(cfg, app->store(), &app->metrics(), &error);
    if (!records) {
      std::fprintf(stderr, "renkei-server: %s\n", error.c_str());
      return 1;
    }
    app->set_records(std::move(records));
    std::fprintf(stderr, "renkei-server: records from the core-banking gateway %s\n",
                 cfg.records.url.c_str());
  }
  if (cfg.mail_transport == "maildir" && cfg.maildir.empty()) {
    std::fprintf(stderr, "renkei-server: \"maildir\" must be set for the maildir transport\n");
    return 1;
  }

  MailWorker mail_worker(*app, make_transport(cfg));
  app->on_mail_enqueued = [&mail_worker] { mail_worker.wake(); };
  mail_worker.start();
  RetentionWorker retention_worker(*app);
  retention_worker.start();

  auto server = build_server(*app);
  if (!server->is_valid()) {
    std::fprintf(stderr, "renkei-server: TLS certificate or key cannot be loaded\n");
    return 1;
  }
  int port = cfg.port;
  bool bound = port == 0 ? (port = server->bind_to_any_port(cfg.host)) > 0
                         : server->bind_to_port(cfg.host, port);
  if (!bound) {
    std::fprintf(stderr, "renkei-server: cannot listen on %s:%d\n", cfg.host.c_str(), cfg.port);
    return 1;
  }

  std::atomic<bool> stopping{false};
  std::thread signal_thread([&server, &stopping, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (!stopping.exchange(true)) {
      std::fprintf(stderr, "renkei-server: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    server->stop();
  });

  print_banner(cfg, port);
  bool ok = server->listen_after_bind();

  // listen_after_bind returned: either a signal stopped the server or
  // listening failed. Make sure the signal thread ends in both cases.
  if (!stopping.exchange(true)) ::kill(::getpid(), SIGTERM);  // wakes sigwait
  signal_thread.join();
  mail_worker.stop();
  retention_worker.stop();
  app->on_mail_enqueued = nullptr;
  server.reset();
  app.reset();  // closes the store
  std::fprintf(stderr, "renkei-server: stopped\n");
  return ok ? 0 : 1;
}
