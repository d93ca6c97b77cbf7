// ASCII helpers of the HTTP layer: header names, media types, chunk sizes and
// percent-escapes are ASCII and case-insensitive as ASCII (RFC 9110 §5.1), so
// nothing here depends on the C locale (std::tolower would).
#pragma once

#include <string>
#include <string_view>

namespace renkei::server {

inline char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// `s` equals `lower_name` (given in lower case) without regard to ASCII case.
inline bool iequals_lower(std::string_view s, std::string_view lower_name) {
  if (s.size() != lower_name.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (ascii_lower(s[i]) != lower_name[i]) return false;
  }
  return true;
}

// Without optional whitespace (OWS: spaces and tabs, RFC 9110 §5.6.3) at
// either end.
inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of a hexadecimal digit, -1 for any other character.
inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace renkei::server
