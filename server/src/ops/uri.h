// Query strings for the redirect URIs the authorization server sends the
// browser to (no HTTP types: the flow and OAuth services build them), and the
// one rule for the absolute http(s) URIs Renkei is configured with or
// registers: redirect URIs (configuration file and admin API) and the issuer.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace renkei::server {

// Percent-encoding for query strings (RFC 3986 unreserved kept).
std::string url_encode(std::string_view s);
// Appends query parameters to a redirect URI (which may already have a query).
std::string with_query(const std::string& uri,
                       const std::vector<std::pair<std::string, std::string>>& params);

// An absolute http(s) URI, parsed strictly (RFC 3986 §3): the scheme "http"
// or "https" in lowercase; an authority without userinfo whose host is a DNS
// name (labels of letters, digits, '-' and '_', not starting or ending with
// '-'), a dotted-quad IPv4 address (a name whose last label is all digits must
// be one) or a bracketed IPv6 address; an optional port 0–65535 (digits only,
// without leading zero; 0 only for a configured issuer whose port the system
// picks, never in a redirect URI); then path and query of RFC 3986 characters, with
// every '%' followed by two hex digits. No fragment, no space, control or
// non-ASCII byte, at most kMaxUriBytes. nullopt for anything else.
inline constexpr std::size_t kMaxUriBytes = 512;
struct HttpUri {
  bool https = false;
  std::string host;  // as written; an IPv6 address keeps its brackets
  int port = 0;
  bool port_given = false;
  std::string path_and_query;
};
std::optional<HttpUri> parse_http_uri(std::string_view uri);

// 127.0.0.0/8 as a dotted quad, "localhost" (any case) or [::1]: the hosts a
// plain-http redirect URI may name (RFC 8252 §7.3, FAPI 2.0 §5.3.1.2 allows
// no other http redirect URI). "localhost.evil.example" or "127.0.0.1.evil"
// are not loopback.
bool is_loopback_host(std::string_view host);

// Why `uri` cannot be a redirect URI, or "" when it can: parse_http_uri
// above, and https unless the host is loopback (`allow_http_anywhere`: the
// configuration file in dev_mode). The configuration and the admin API both
// ask this.
std::string redirect_uri_problem(std::string_view uri, bool allow_http_anywhere = false);

}  // namespace renkei::server
