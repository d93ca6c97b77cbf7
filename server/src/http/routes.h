// Each part of the HTTP surface registers its routes here. Handlers translate
// between HTTP and the core/storage; they spell no rule and no message.
#pragma once

#include <httplib.h>

#include "ops/app.h"

namespace renkei::server {

// The Cache-Control of GET /api/catalog (kept by the middleware, which gives
// every other API answer "no-store"): public, revalidated with its ETag.
inline constexpr const char* kCatalogCacheControl = "public, no-cache";

// Customer flow API for screens ①–⑥ (/api/flow/...), static customer pages.
void register_flow_routes(httplib::Server& server, App& app);
// Telephony webhook (/telephony/calls) and, in dev mode, the call simulator.
void register_telephony_routes(httplib::Server& server, App& app);
// OAuth 2.0: /authorize, /token, /revoke, /.well-known/oauth-authorization-server.
void register_oauth_routes(httplib::Server& server, App& app);
// Account API for the app (/api/v1/...), bearer access tokens.
void register_account_routes(httplib::Server& server, App& app);
// /healthz, /metrics.
void register_ops_routes(httplib::Server& server, App& app);
// Admin API (/admin/api/...), bearer admin token. (Issue: operator console.)
void register_admin_routes(httplib::Server& server, App& app);

// The customer's pages (/flow/), their assets and the WASM core (/static/,
// /static/wasm/), and in dev mode the demo app (/demo/), from config.web_root:
// ETag, Cache-Control, brotli/gzip made once per file version, no path traversal.
void register_static_routes(httplib::Server& server, App& app);

// Builds a server with every route, the middleware (security headers, in-flight
// and per-IP limits answering busy, the JSON error envelope for 404/500 and
// exceptions → system_error) and the tuned socket settings (TOOLCHAIN.md).
std::unique_ptr<httplib::Server> build_server(App& app);

}  // namespace renkei::server
