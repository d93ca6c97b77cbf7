// Query strings for redirect URIs (uri.h).
#include "ops/uri.h"

namespace renkei::server {

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
