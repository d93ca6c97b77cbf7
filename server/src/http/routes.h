// Each part of the HTTP surface registers its routes here. Handlers translate
// between HTTP and the core/storage; they spell no rule and no message.
#pragma once

#include <httplib.h>

#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ops/app.h"

namespace renkei::server {

// The Cache-Control of GET /api/catalog (kept by the middleware, which gives
// every other API answer "no-store"): public, revalidated with its ETag.
inline constexpr const char* kCatalogCacheControl = "public, no-cache";

// Registers every route on the server and keeps which methods answer which
// path patterns: a request whose path no route of its method matches is
// answered 405 with Allow (RFC 9110 §15.5.6) when a route of another method
// matches it, 404 when none does (server.cpp's error handler).
class RouteTable {
 public:
  void add(const std::string& pattern, unsigned method_bit);
  // "GET, HEAD, POST": the methods of the routes matching `path` (HEAD with
  // GET, as httplib serves it), in that order; empty when there is none.
  std::string allowed(const std::string& path) const;

  static constexpr unsigned kGet = 1, kPost = 2, kPut = 4, kPatch = 8, kDelete = 16;

 private:
  std::vector<std::pair<std::regex, unsigned>> routes_;
};

class Router {
 public:
  explicit Router(httplib::Server& server)
      : server_(server), table_(std::make_shared<RouteTable>()) {}
  Router& Get(const std::string& pattern, httplib::Server::Handler handler);
  Router& Post(const std::string& pattern, httplib::Server::Handler handler);
  Router& Put(const std::string& pattern, httplib::Server::Handler handler);
  Router& Patch(const std::string& pattern, httplib::Server::Handler handler);
  Router& Delete(const std::string& pattern, httplib::Server::Handler handler);
  // For a handler that is no route of its own (the admin API's catch-all):
  // registered on the server, not in the table.
  httplib::Server& server() { return server_; }
  std::shared_ptr<const RouteTable> table() const { return table_; }

 private:
  httplib::Server& server_;
  std::shared_ptr<RouteTable> table_;
};

// Customer flow API for screens ①–⑥ (/api/flow/...), static customer pages.
void register_flow_routes(Router& server, App& app);
// Telephony webhook (/telephony/calls) and, in dev mode, the call simulator.
void register_telephony_routes(Router& server, App& app);
// The customer's pages, their assets and the WASM core from config.web_root
// (static_routes.cpp): ETag, Cache-Control, brotli/gzip made once per file
// version, no path traversal.
class StaticFiles;
std::shared_ptr<StaticFiles> make_static_files(App& app);
// The flow page (/flow/index.html as GET /flow/ serves it) as the answer of a
// GET /authorize that started a flow: the customer's browser gets screen ①'s
// page without a redirect (one request and one round trip fewer; issue 10).
// Never a 304, and Cache-Control: no-store (it carries the session cookie).
// False (nothing written) when there is no such page to serve.
bool serve_flow_page(const StaticFiles& files, const httplib::Request& req, httplib::Response& res);

// OAuth 2.0: /authorize, /token, /revoke, /.well-known/oauth-authorization-server.
void register_oauth_routes(Router& server, App& app, std::shared_ptr<const StaticFiles> files);
// True for the endpoints whose errors take the form of RFC 6749 §5.2 (/token,
// /revoke, /par): an error of the request itself (framing, size) is answered
// there with send_oauth_request_error, elsewhere with the error envelope.
bool is_oauth_form_endpoint(std::string_view path);
// {"error":"invalid_request","error_description":…} with the catalog's
// bad_request code and message, answered `status`.
void send_oauth_request_error(httplib::Response& res, int status, std::string description);
// Account API for the app (/api/v1/...), bearer access tokens.
void register_account_routes(Router& server, App& app);
// /healthz, /metrics.
void register_ops_routes(Router& server, App& app);
// Admin API (/admin/api/...), bearer admin token. (Issue: operator console.)
void register_admin_routes(Router& server, App& app);

// The customer's pages (/flow/), their assets and the WASM core (/static/,
// /static/wasm/), and in dev mode the demo app (/demo/), from `files`.
void register_static_routes(Router& server, std::shared_ptr<StaticFiles> files);

// Builds a server with every route, the middleware (security headers, in-flight
// and per-IP limits answering busy, the JSON error envelope for 404/500 and
// exceptions → system_error) and the tuned socket settings (TOOLCHAIN.md).
std::unique_ptr<httplib::Server> build_server(App& app);

}  // namespace renkei::server
