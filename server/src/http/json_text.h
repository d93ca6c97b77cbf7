// JSON string text written flat, for lines that need no JSON DOM (the
// access log, once per request: a nlohmann object and dump cost a std::map
// node and a string per key).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace renkei::server {

// The length of the well-formed UTF-8 sequence at s[i] (no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0. i < s.size().
std::size_t utf8_sequence(std::string_view s, std::size_t i);

// Appends s as a JSON string, quotes included: '"' and '\\' escaped, \n \r \t
// as such, other control characters as \u00XX, each byte of malformed UTF-8
// as \ufffd; well-formed UTF-8 as it is. The result is always valid JSON.
void append_json_string(std::string& out, std::string_view s);

}  // namespace renkei::server
