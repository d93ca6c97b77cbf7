// The core-banking gateway's transport: JSON POSTs over HTTPS with our client
// certificate (mutual TLS), through httplib's SSLClient over OpenSSL. The
// adapter itself (records/remote_records_source.h) is HTTP-free.
#pragma once

#include <memory>
#include <string>

#include "ops/config.h"
#include "records/remote_records_source.h"

namespace renkei::server {

// A transport for records.url, presenting records.client_cert/client_key and
// trusting only records.ca for the gateway's certificate (whose name must
// match the URL's host), over a pool of keep-alive connections
// (records.pool; gateway_transport.cpp says how they are reused and when
// closed). nullptr with *error set when the URL or a file is unusable.
// Counts connections opened, reused and closed in `metrics` when given.
std::unique_ptr<GatewayTransport> make_https_gateway_transport(const RecordsConfig& config,
                                                               std::string* error,
                                                               Metrics* metrics = nullptr);

// The records source a configuration names: local over `store`, or remote
// through make_https_gateway_transport. nullptr with *error set on failure.
std::unique_ptr<RecordsSource> make_records_source(const ServerConfig& config, Store& store,
                                                   Metrics* metrics, std::string* error);

}  // namespace renkei::server
