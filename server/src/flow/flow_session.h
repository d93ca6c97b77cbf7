// The customer's session over HTTP, shared by the flow API and the development
// call simulator: the cookie that names a flow, the CSRF header and the Origin
// check (docs/http-api.md "Customer flow"). The flow service (flow_service.h)
// receives their values, never the request.
#pragma once

#include <httplib.h>

#include <optional>
#include <string>

#include "flow/flow_service.h"
#include "ops/app.h"
#include "ops/crypto.h"
#include "http/http_util.h"
#include "renkei/forms.h"
#include "renkei/json.h"
#include "store/storage.h"

namespace renkei::server {

// The session cookie's name over plain HTTP (development and tests).
inline constexpr const char* kSessionCookie = "renkei_session";
// Its name when customers come over HTTPS (served_over_https: TLS here or in
// a proxy in front of an https issuer): the __Host- prefix makes browsers
// refuse it unless it is Secure, has Path=/ and no Domain, so a cookie planted
// from a sibling subdomain can neither take its name nor shadow it.
inline constexpr const char* kSecureSessionCookie = "__Host-renkei_session";
inline constexpr const char* kCsrfHeader = "X-CSRF-Token";

namespace session_detail {

inline std::string lower_ascii(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// "scheme://host[:port]" in lower case, without a default port.
inline std::string normalized_origin(const std::string& scheme, std::string host) {
  host = lower_ascii(std::move(host));
  if (scheme == "http" && host.size() > 3 && host.ends_with(":80")) host.resize(host.size() - 3);
  if (scheme == "https" && host.size() > 4 && host.ends_with(":443")) host.resize(host.size() - 4);
  return scheme + "://" + host;
}

// The origin of a URL such as the issuer ("https://bank.example/renkei" →
// "https://bank.example"), or "" when it has no scheme.
inline std::string origin_of_url(const std::string& url) {
  std::size_t sep = url.find("://");
  if (sep == std::string::npos) return "";
  std::string scheme = lower_ascii(url.substr(0, sep));
  std::size_t end = url.find_first_of("/?#", sep + 3);
  return normalized_origin(
      scheme, url.substr(sep + 3, end == std::string::npos ? std::string::npos : end - sep - 3));
}

}  // namespace session_detail

// True when the request carries no Origin header, or the configured issuer's
// origin. Never the Host header: a DNS-rebinding page (evil.example resolving
// to this server) sends "Origin: http://evil.example" with "Host: evil.example",
// which a Host comparison would let through (security finding, issue 12).
inline bool origin_allowed(const App& app, const httplib::Request& req) {
  if (!req.has_header("Origin")) return true;
  const std::string origin = req.get_header_value("Origin");
  if (origin.empty() || origin == "null") return false;
  const std::string given = session_detail::origin_of_url(origin);
  return !given.empty() && given == session_detail::origin_of_url(app.config().issuer);
}

// The session cookie's name on this server (see kSecureSessionCookie).
inline const char* session_cookie_name(const App& app) {
  return served_over_https(app.config()) ? kSecureSessionCookie : kSessionCookie;
}

// The digest of the request's session cookie (what the store keeps), or ""
// when it has none.
inline std::string session_digest_of(const App& app, const httplib::Request& req) {
  const std::string cookie = cookie_value(req, session_cookie_name(app));
  return cookie.empty() ? std::string() : secret_digest(cookie);
}

// The X-CSRF-Token header, or nullopt.
inline std::optional<std::string> csrf_header(const httplib::Request& req) {
  if (!req.has_header(kCsrfHeader)) return std::nullopt;
  return req.get_header_value(kCsrfHeader);
}

// Who sent the request, for the operation log.
inline RequestOrigin request_origin(const httplib::Request& req) {
  return RequestOrigin{client_ip(req), header_for_log(req, "User-Agent")};
}

// Options of the session cookie: Secure when customers reach us over HTTPS.
inline CookieOptions session_cookie_options(const App& app) {
  CookieOptions o;
  o.secure = served_over_https(app.config());
  o.same_site = "Lax";
  o.path = "/";
  return o;
}

}  // namespace renkei::server
