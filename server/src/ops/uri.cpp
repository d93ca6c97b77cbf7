// Query strings for redirect URIs and the rule for absolute http(s) URIs (uri.h).
#include "ops/uri.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace renkei::server {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}
bool is_hex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// A dotted-quad IPv4 address: four decimal parts 0–255 without leading zeros.
bool is_ipv4(std::string_view s) {
  int parts = 0;
  while (true) {
    const std::size_t dot = s.find('.');
    const std::string_view part = s.substr(0, dot);
    if (part.empty() || part.size() > 3 || !std::all_of(part.begin(), part.end(), is_digit))
      return false;
    if (part.size() > 1 && part[0] == '0') return false;
    if (std::stoi(std::string(part)) > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  return parts == 4;
}

bool is_ipv6_literal(std::string_view host) {
  if (host.size() < 4 || host.front() != '[' || host.back() != ']') return false;
  const std::string inside(host.substr(1, host.size() - 2));
  unsigned char buf[16];
  return inet_pton(AF_INET6, inside.c_str(), buf) == 1;
}

// A DNS name, or an IPv4 address when its last label is all digits (as the
// WHATWG URL parser reads it: "1.2.3.999" is a bad address, not a name).
bool is_name_or_ipv4(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  const std::size_t last_dot = host.rfind('.');
  const std::string_view last =
      last_dot == std::string_view::npos ? host : host.substr(last_dot + 1);
  if (!last.empty() && std::all_of(last.begin(), last.end(), is_digit)) return is_ipv4(host);
  std::size_t start = 0;
  while (start <= host.size()) {
    const std::size_t dot = std::min(host.find('.', start), host.size());
    const std::string_view label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label) {
      if (!is_alnum(c) && c != '-' && c != '_') return false;
    }
    start = dot + 1;
  }
  return true;
}

// RFC 3986 path and query characters: unreserved, sub-delims, ':', '@', '/',
// '?' and percent-encoded octets.
bool is_path_and_query(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
      i += 2;
      continue;
    }
    if (is_alnum(c)) continue;
    if (std::string_view("-._~!$&'()*+,;=:@/?").find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace

std::optional<HttpUri> parse_http_uri(std::string_view uri) {
  if (uri.size() > kMaxUriBytes) return std::nullopt;
  HttpUri out;
  std::string_view rest;
  if (uri.starts_with("https://")) {
    out.https = true;
    rest = uri.substr(8);
  } else if (uri.starts_with("http://")) {
    rest = uri.substr(7);
  } else {
    return std::nullopt;
  }
  const std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  const std::string_view tail = end == std::string_view::npos ? "" : rest.substr(end);
  if (tail.find('#') != std::string_view::npos) return std::nullopt;  // no fragment
  if (!is_path_and_query(tail)) return std::nullopt;
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no userinfo
  std::string_view host = authority;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(0, close + 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      has_port = true;
      port = after.substr(1);
    }
    if (!is_ipv6_literal(host)) return std::nullopt;
  } else {
    const std::size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      has_port = true;
      port = authority.substr(colon + 1);
    }
    if (!is_name_or_ipv4(host)) return std::nullopt;
  }
  if (has_port) {
    if (port.empty() || port.size() > 5 || (port[0] == '0' && port.size() > 1) ||
        !std::all_of(port.begin(), port.end(), is_digit))
      return std::nullopt;
    out.port = std::stoi(std::string(port));
    out.port_given = true;
    if (out.port > 65535) return std::nullopt;
  }
  out.host = std::string(host);
  out.path_and_query = std::string(tail);
  return out;
}

bool is_loopback_host(std::string_view host) {
  if (host == "[::1]") return true;
  if (host.size() == 9) {
    std::string lower(host);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "localhost") return true;
  }
  return host.starts_with("127.") && is_ipv4(host);
}

std::string redirect_uri_problem(std::string_view uri, bool allow_http_anywhere) {
  auto parsed = parse_http_uri(uri);
  if (!parsed) {
    return "must be an absolute http(s) URI with a valid host and port, no userinfo, without "
           "fragment, of at most " +
           std::to_string(kMaxUriBytes) + " bytes";
  }
  if (parsed->port_given && parsed->port == 0) {
    return "must name a port from 1 to 65535 (or none)";
  }
  if (!parsed->https && !allow_http_anywhere && !is_loopback_host(parsed->host)) {
    return "must use https (http only for a loopback host: 127.0.0.1, localhost or [::1])";
  }
  return "";
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    }
  }
  return out;
}

std::string with_query(const std::string& uri,
                       const std::vector<std::pair<std::string, std::string>>& params) {
  // A fragment (not allowed in redirect URIs, RFC 6749 §3.1.2) stays last.
  std::size_t hash = uri.find('#');
  std::string base = uri.substr(0, hash);
  std::string fragment = hash == std::string::npos ? std::string() : uri.substr(hash);
  std::string query;
  for (const auto& [k, v] : params) {
    if (!query.empty()) query.push_back('&');
    query += url_encode(k) + "=" + url_encode(v);
  }
  if (query.empty()) return uri;
  if (base.find('?') == std::string::npos) {
    base.push_back('?');
  } else if (base.back() != '?' && base.back() != '&') {
    base.push_back('&');
  }
  return base + query + fragment;
}

}  // namespace renkei::server
