// Translating between HTTP and the core: one JSON error envelope for every
// endpoint (code, message from the core's catalog, field(s)), safe JSON body
// parsing, cookies, the client's address and security headers.
#pragma once

#include <httplib.h>

#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ops/uri.h"
#include "renkei/error.h"
#include "renkei/fields.h"

namespace renkei::server {

// Writes body as application/json; charset=utf-8 with `status`.
void send_json(httplib::Response& res, int status, const nlohmann::json& body);
// The error envelope (renkei::error_envelope) with the catalog's HTTP status.
void send_error(httplib::Response& res, ErrorCode code, const std::vector<FieldError>& fields = {},
                bool show_required_dialog = false);

// Seconds a client is asked to wait (Retry-After, RFC 9110 §10.2.3) before
// trying again after a storage outage: about what a database restart or a
// fail-over takes.
inline constexpr int kStorageRetryAfterSeconds = 5;
// Makes `res` a 503 Service Unavailable with Retry-After: kStorageRetryAfterSeconds
// (RFC 9110 §15.6.4), keeping its body: the answer to an outage of the store.
void mark_storage_outage(httplib::Response& res);
// system_error for a failure a route could not handle: the catalog's envelope
// and status (500), or, when `outage` (is_storage_outage, store/storage_error.h:
// the database cannot serve now), the same envelope with 503 and Retry-After,
// which load balancers and clients treat as worth retrying.
void send_system_error(httplib::Response& res, bool outage);
// send_system_error for the exception a route caught.
void send_failure(httplib::Response& res, const std::exception& e);

// Parses the request body as a JSON object. On failure writes the error
// (bad_request: wrong content type, not UTF-8, malformed, too deep, a key
// repeated in one object, not an object) to res and returns nullopt.
std::optional<nlohmann::json> json_body(const httplib::Request& req, httplib::Response& res);
// Reads a string member; nullopt when absent or not a string.
std::optional<std::string> json_string(const nlohmann::json& obj, const char* key);

// The value of cookie `name`, or "" (a malformed Cookie header yields "").
std::string cookie_value(const httplib::Request& req, const std::string& name);
struct CookieOptions {
  bool secure = false;        // set when served over TLS
  std::string same_site = "Lax";
  std::string path = "/";
  int max_age_seconds = -1;   // -1: session cookie; 0: delete
};
// Appends a Set-Cookie header; always HttpOnly.
void set_cookie(httplib::Response& res, const std::string& name, const std::string& value,
                const CookieOptions& options);

// The UTC time with milliseconds, "2026-11-30T12:54:27.123Z" (24 characters):
// the time of the server's log lines.
std::string utc_now_iso_ms();

// The peer's IP address (not X-Forwarded-For: we are not behind a proxy we trust).
std::string client_ip(const httplib::Request& req);
// The credential of a single "Authorization: Bearer <credential>" header (the
// scheme in any case); "" when the header is missing, repeated, empty or of
// another scheme. For staff and operator tokens; the account API checks the
// stricter RFC 6750 token syntax itself.
std::string bearer_credential(const httplib::Request& req);
// True when the request's bearer credential digests (secret_digest) to one of
// `digests`. Every digest is compared in constant time, empty ones never match.
bool bearer_matches_any(const httplib::Request& req, std::initializer_list<std::string_view> digests);
// A header value cut to `max` bytes and stripped of control characters (for logs).
std::string header_for_log(const httplib::Request& req, const char* name, std::size_t max = 256);
// One JSON line on stderr for an exception a route caught itself to answer in
// its own error form (the OAuth endpoints, the admin API) instead of letting
// the server's exception handler log it: {"time", "event": "exception",
// "path", "what"}, as that handler writes. The path only (no query, no
// header, no body): nothing secret.
void log_caught_exception(const httplib::Request& req, std::string_view what);

// Security headers for every response: CSP (no inline script), nosniff,
// frame-ancestors none, referrer policy, no-store for API responses, and HSTS
// for responses sent over TLS.
// A page with inline <style> elements (static_routes.cpp) names their hashes
// in kInlineStyleHashesHeader ("'sha256-<base64>'", space separated): they
// are added to the CSP's style-src, and the header itself is removed (it never
// reaches the client). A value that is not such a list adds nothing (a page
// without its styles rather than a weaker policy).
inline constexpr const char* kInlineStyleHashesHeader = "X-Renkei-Inline-Style-Hashes";
void add_security_headers(httplib::Response& res, bool api_response, bool over_tls = false);
// The Content-Security-Policy with `style_hashes` (as above, possibly empty)
// added to style-src; empty if style_hashes is not such a list.
std::string content_security_policy(std::string_view style_hashes);

// application/x-www-form-urlencoded body → map (last value wins, duplicate
// keys reported via *duplicate). Used by /token and /revoke (RFC 6749 §3.2).
std::map<std::string, std::string> form_params(const httplib::Request& req, bool* duplicate);

// url_encode and with_query: ops/uri.h.

}  // namespace renkei::server
