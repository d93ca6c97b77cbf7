// httplib SSLClient transport of the core-banking gateway (gateway_transport.h),
// with a pool of keep-alive TLS connections.
//
// A call borrows an idle connection for itself alone (so a slow answer for one
// customer never holds up another's) or opens a new one when none is idle.
// After a complete answer the connection goes back to the pool; one that saw
// an error, a timeout or an incomplete answer is closed. At most
// records.pool.max_idle connections wait idle, and one idle for longer than
// records.pool.idle_ms is closed rather than reused (the gateway closes idle
// connections itself after its own keep-alive timeout; ours is shorter).
//
// A gateway POST is not idempotent (a PIN check may count a failure at the
// core system), so a request is sent at most once: nothing here resends. What
// can be known before sending is checked: an idle connection with anything to
// read (the gateway's TLS close_notify, its FIN, a reset) has been closed by
// the gateway and is dropped before the call uses it. httplib 0.11.4's own
// check before reuse (is_socket_alive: a MSG_PEEK of one byte) takes the
// close_notify record for live data, so a connection the gateway closed
// gracefully would fail the call that reused it.
#include "http/gateway_transport.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <mutex>
#include <vector>

namespace renkei::server {
namespace {

using Clock = std::chrono::steady_clock;

// One TLS connection to the gateway (httplib keeps its socket between calls).
class Connection final : public httplib::SSLClient {
 public:
  Connection(const std::string& host, int port, X509* cert, EVP_PKEY* key)
      : httplib::SSLClient(host, port, cert, key) {}
  // For a connection the gateway has already closed: closing it then sends
  // no close_notify (a write to a closed socket).
  void close_quietly() {
    if (socket_.ssl) SSL_set_quiet_shutdown(socket_.ssl, 1);
  }
};

// True when the idle connection's socket has nothing to read and no hang-up:
// the gateway has said nothing since its last answer. Between an answer and
// the next request an HTTP/1.1 server has nothing to send but its closing.
bool quiet(const Connection& c) {
  if (!c.is_socket_open()) return false;
  pollfd p{c.socket(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

// No SIGPIPE from this thread while it lives. OpenSSL writes with write(2):
// a request or a close_notify written to a connection the gateway has reset
// (as it does after refusing a client certificate under TLS 1.3) would raise
// SIGPIPE and, where the process does not ignore it, end the process. The
// signal is blocked for the call, and one it raised is taken before the mask
// is restored; the write itself fails with EPIPE and the call with it.
class NoSigpipe {
 public:
  NoSigpipe() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  NoSigpipe(const NoSigpipe&) = delete;
  NoSigpipe& operator=(const NoSigpipe&) = delete;
  ~NoSigpipe() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec now{0, 0};
        sigtimedwait(&pipe_, nullptr, &now);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

// Our client certificate and key, read once for every connection.
struct Credentials {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  Credentials() = default;
  Credentials(const Credentials&) = delete;
  Credentials& operator=(const Credentials&) = delete;
  ~Credentials() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

// A key with a passphrase is refused rather than asked for on a terminal.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

bool read_credentials(const std::string& cert_file, const std::string& key_file, Credentials* out,
                      std::string* error) {
  BIO* bio = BIO_new_file(cert_file.c_str(), "r");
  if (bio) {
    out->cert = PEM_read_bio_X509(bio, nullptr, no_passphrase, nullptr);
    BIO_free(bio);
  }
  if (!out->cert) {
    *error = "records: " + cert_file + " holds no PEM certificate";
    return false;
  }
  bio = BIO_new_file(key_file.c_str(), "r");
  if (bio) {
    out->key = PEM_read_bio_PrivateKey(bio, nullptr, no_passphrase, nullptr);
    BIO_free(bio);
  }
  if (!out->key) {
    *error = "records: " + key_file + " holds no PEM private key (without a passphrase)";
    return false;
  }
  if (X509_check_private_key(out->cert, out->key) != 1) {
    *error = "records: " + key_file + " is not the key of " + cert_file;
    return false;
  }
  return true;
}

class HttpsGatewayTransport final : public GatewayTransport {
 public:
  HttpsGatewayTransport(std::string host, int port, RecordsConfig config,
                        std::unique_ptr<Credentials> credentials, Metrics* metrics)
      : host_(std::move(host)),
        port_(port),
        config_(std::move(config)),
        credentials_(std::move(credentials)),
        metrics_(metrics) {
    gauge_idle(0);
  }

  ~HttpsGatewayTransport() override {
    // Shutdown: every idle connection is closed (a close_notify each when
    // the gateway has not closed it already).
    NoSigpipe no_sigpipe;
    std::deque<Idle> idle;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      idle.swap(idle_);
    }
    for (Idle& i : idle) close(std::move(i.connection));
  }

  GatewayReply post(const std::string& path, const std::string& body, int timeout_ms) override {
    NoSigpipe no_sigpipe;
    std::unique_ptr<Connection> c = borrow();
    if (c) {
      if (metrics_) metrics_->count("renkei_records_connections_total", "how=\"reused\"");
    } else {
      c = std::make_unique<Connection>(host_, port_, credentials_->cert, credentials_->key);
      c->set_ca_cert_path(config_.ca.c_str());
      c->enable_server_certificate_verification(true);
      c->set_keep_alive(true);
      // httplib writes a request's headers and body in two TLS records: with
      // Nagle's algorithm the body would wait for the gateway's delayed ACK
      // of the headers on every call of a kept connection.
      c->set_tcp_nodelay(true);
      if (metrics_) metrics_->count("renkei_records_connections_total", "how=\"opened\"");
    }
    // The call's timeouts, on a new or a reused connection alike.
    const time_t sec = timeout_ms / 1000;
    const time_t usec = static_cast<time_t>(timeout_ms % 1000) * 1000;
    c->set_connection_timeout(sec, usec);
    c->set_read_timeout(sec, usec);
    c->set_write_timeout(sec, usec);
    const auto started = Clock::now();
    httplib::Result r = c->Post(path.c_str(), body, "application/json");
    const auto elapsed = Clock::now() - started;
    GatewayReply reply;
    if (r) {
      // A complete answer. httplib has closed the socket itself when the
      // gateway said "Connection: close".
      if (c->is_socket_open()) give_back(std::move(c));
      reply.status = GatewayReply::Status::ok;
      reply.http_status = r->status;
      reply.body = std::move(r->body);
      return reply;
    }
    // httplib has closed the connection after the failure; it is dropped.
    c.reset();
    switch (r.error()) {
      case httplib::Error::Read:
      case httplib::Error::Write:
        // httplib says Read both for a read that timed out and for a
        // connection the gateway closed (as it does after refusing our
        // certificate under TLS 1.3): only the first is a timeout.
        reply.status = elapsed >= std::chrono::milliseconds(timeout_ms) * 9 / 10
                           ? GatewayReply::Status::timeout
                           : GatewayReply::Status::other;
        break;
      case httplib::Error::ConnectionTimeout:
        reply.status = GatewayReply::Status::timeout;
        break;
      case httplib::Error::Connection:
        reply.status = GatewayReply::Status::connect_failed;
        break;
      case httplib::Error::SSLConnection:
        // A handshake that ran out of time is a timeout; one refused is not.
        reply.status = elapsed >= std::chrono::milliseconds(timeout_ms) * 9 / 10
                           ? GatewayReply::Status::timeout
                           : GatewayReply::Status::tls_failed;
        break;
      case httplib::Error::SSLLoadingCerts:
      case httplib::Error::SSLServerVerification:
        reply.status = GatewayReply::Status::tls_failed;
        break;
      default:
        reply.status = GatewayReply::Status::other;
        break;
    }
    return reply;
  }

 private:
  struct Idle {
    std::unique_ptr<Connection> connection;
    Clock::time_point since;
  };

  bool expired(const Idle& i, Clock::time_point now) const {
    return now - i.since >= std::chrono::milliseconds(config_.pool.idle_ms);
  }

  // The most recently returned idle connection that is young enough and that
  // the gateway has not closed; nullptr when there is none. The others on
  // the way are closed (outside the lock).
  std::unique_ptr<Connection> borrow() {
    std::vector<Idle> stale, old;
    std::unique_ptr<Connection> found;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto now = Clock::now();
      while (!idle_.empty()) {
        Idle i = std::move(idle_.back());
        idle_.pop_back();
        if (expired(i, now)) {
          // The rest are older still.
          old.push_back(std::move(i));
          while (!idle_.empty()) {
            old.push_back(std::move(idle_.back()));
            idle_.pop_back();
          }
          break;
        }
        if (!quiet(*i.connection)) {
          stale.push_back(std::move(i));
          continue;
        }
        found = std::move(i.connection);
        break;
      }
      gauge_idle(idle_.size());
    }
    if (metrics_) {
      if (!stale.empty()) {
        metrics_->count("renkei_records_connections_closed_total", "why=\"gateway_closed\"",
                        static_cast<double>(stale.size()));
      }
      if (!old.empty()) {
        metrics_->count("renkei_records_connections_closed_total", "why=\"idle_too_long\"",
                        static_cast<double>(old.size()));
      }
    }
    for (Idle& i : stale) close(std::move(i.connection));
    for (Idle& i : old) close(std::move(i.connection));
    return found;
  }

  void give_back(std::unique_ptr<Connection> c) {
    std::vector<Idle> closing;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto now = Clock::now();
      while (!idle_.empty() && expired(idle_.front(), now)) {
        closing.push_back(std::move(idle_.front()));
        idle_.pop_front();
      }
      if (static_cast<int>(idle_.size()) < config_.pool.max_idle) {
        idle_.push_back(Idle{std::move(c), now});
      }
      gauge_idle(idle_.size());
    }
    if (metrics_) {
      if (!closing.empty()) {
        metrics_->count("renkei_records_connections_closed_total", "why=\"idle_too_long\"",
                        static_cast<double>(closing.size()));
      }
      if (c) metrics_->count("renkei_records_connections_closed_total", "why=\"pool_full\"");
    }
    for (Idle& i : closing) close(std::move(i.connection));
    close(std::move(c));
  }

  // Closes a connection: with a close_notify when the gateway is still
  // listening, without one when it has closed its side already.
  static void close(std::unique_ptr<Connection> c) {
    if (!c) return;
    if (!quiet(*c)) c->close_quietly();
    c.reset();
  }

  void gauge_idle(std::size_t n) {
    if (metrics_)
      metrics_->set_gauge("renkei_records_idle_connections", "", static_cast<double>(n));
  }

  std::string host_;
  int port_;
  RecordsConfig config_;
  std::unique_ptr<Credentials> credentials_;
  Metrics* metrics_;
  std::mutex mutex_;
  std::deque<Idle> idle_;  // oldest first
};

}  // namespace

std::unique_ptr<GatewayTransport> make_https_gateway_transport(const RecordsConfig& config,
                                                               std::string* error,
                                                               Metrics* metrics) {
  auto fail = [&](const std::string& why) -> std::unique_ptr<GatewayTransport> {
    if (error) *error = why;
    return nullptr;
  };
  const std::string prefix = "https://";
  if (config.url.rfind(prefix, 0) != 0) return fail("records.url must start with https://");
  std::string rest = config.url.substr(prefix.size());
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    if (rest.substr(slash) != "/") return fail("records.url must be https://host[:port] (no path)");
    rest = rest.substr(0, slash);
  }
  std::string host = rest;
  int port = 443;
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    try {
      port = std::stoi(rest.substr(colon + 1));
    } catch (const std::exception&) {
      return fail("records.url: bad port");
    }
    if (port <= 0 || port > 65535) return fail("records.url: bad port");
  }
  if (host.empty()) return fail("records.url: no host");
  for (const std::string* f : {&config.client_cert, &config.client_key, &config.ca}) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*f, ec)) return fail("records: cannot read " + *f);
  }
  auto credentials = std::make_unique<Credentials>();
  std::string why;
  if (!read_credentials(config.client_cert, config.client_key, credentials.get(), &why)) {
    return fail(why);
  }
  return std::make_unique<HttpsGatewayTransport>(host, port, config, std::move(credentials),
                                                 metrics);
}

std::unique_ptr<RecordsSource> make_records_source(const ServerConfig& config, Store& store,
                                                   Metrics* metrics, std::string* error) {
  if (config.records.source != "remote") {
    return std::make_unique<LocalRecordsSource>(store, config.pin_hmac_key);
  }
  std::unique_ptr<GatewayTransport> transport =
      make_https_gateway_transport(config.records, error, metrics);
  if (!transport) return nullptr;
  return std::make_unique<RemoteRecordsSource>(config.records, std::move(transport), metrics);
}

}  // namespace renkei::server
