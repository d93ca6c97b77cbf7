// httplib SSLClient transport of the core-banking gateway (gateway_transport.h).
#include "http/gateway_transport.h"

#include <httplib.h>

#include <chrono>
#include <filesystem>

namespace renkei::server {
namespace {

class HttpsGatewayTransport final : public GatewayTransport {
 public:
  HttpsGatewayTransport(std::string host, int port, RecordsConfig config)
      : host_(std::move(host)), port_(port), config_(std::move(config)) {}

  GatewayReply post(const std::string& path, const std::string& body, int timeout_ms) override {
    // A client per call: httplib serializes the requests of one client, and a
    // slow answer for one customer must not hold up another's. The TLS
    // handshake per call is the price (a pool would be the next step).
    httplib::SSLClient client(host_, port_, config_.client_cert, config_.client_key);
    client.set_ca_cert_path(config_.ca.c_str());
    client.enable_server_certificate_verification(true);
    const time_t sec = timeout_ms / 1000;
    const time_t usec = static_cast<time_t>(timeout_ms % 1000) * 1000;
    client.set_connection_timeout(sec, usec);
    client.set_read_timeout(sec, usec);
    client.set_write_timeout(sec, usec);
    client.set_keep_alive(false);
    const auto started = std::chrono::steady_clock::now();
    httplib::Result r = client.Post(path.c_str(), body, "application/json");
    const auto elapsed = std::chrono::steady_clock::now() - started;
    GatewayReply reply;
    if (r) {
      reply.status = GatewayReply::Status::ok;
      reply.http_status = r->status;
      reply.body = std::move(r->body);
      return reply;
    }
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
  std::string host_;
  int port_;
  RecordsConfig config_;
};

}  // namespace

std::unique_ptr<GatewayTransport> make_https_gateway_transport(const RecordsConfig& config,
                                                               std::string* error) {
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
  return std::make_unique<HttpsGatewayTransport>(host, port, config);
}

std::unique_ptr<RecordsSource> make_records_source(const ServerConfig& config, Store& store,
                                                   Metrics* metrics, std::string* error) {
  if (config.records.source != "remote") {
    return std::make_unique<LocalRecordsSource>(store, config.pin_hmac_key);
  }
  std::unique_ptr<GatewayTransport> transport = make_https_gateway_transport(config.records, error);
  if (!transport) return nullptr;
  return std::make_unique<RemoteRecordsSource>(config.records, std::move(transport), metrics);
}

}  // namespace renkei::server
