#include "http/http_util.h"

#include "http/ascii.h"
#include "http/json_text.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>

#include "ops/crypto.h"
#include "renkei/json.h"
#include "store/storage_error.h"

namespace renkei::server {
namespace {

// A JSON body larger than this is refused here even if the server's payload
// limit was configured higher: no request of ours needs more.
constexpr std::size_t kMaxJsonBodyBytes = 64 * 1024;
// Nesting deeper than this is refused before parsing.
constexpr int kMaxJsonDepth = 16;
// Cookie headers beyond this many bytes (all Cookie lines together) are not read.
constexpr std::size_t kMaxCookieBytes = 16 * 1024;

// The policy is kCspHead + kCspTail; a page's inline style hashes go between.
constexpr std::string_view kCspHead =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'";
constexpr std::string_view kCspTail =
    "; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

// "'sha256-" + 43 base64 characters + "='": a SHA-256 hash source.
bool is_sha256_source(std::string_view s) {
  constexpr std::string_view kPrefix = "'sha256-";
  if (s.size() != kPrefix.size() + 44 + 1 || !s.starts_with(kPrefix) || !s.ends_with("='")) {
    return false;
  }
  for (char c : s.substr(kPrefix.size(), 43)) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

// Well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF
// (one decoder, utf8_sequence in json_text.cpp, for this and the access log).
bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t len = utf8_sequence(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

// "application/json" with an optional charset that must be UTF-8.
bool is_json_content_type(std::string_view value) {
  std::size_t semi = value.find(';');
  if (ascii_lower(trim_ows(value.substr(0, semi))) != "application/json") return false;
  while (semi != std::string_view::npos) {
    value = value.substr(semi + 1);
    semi = value.find(';');
    std::string_view param = trim_ows(value.substr(0, semi));
    if (param.empty()) continue;
    std::size_t eq = param.find('=');
    if (eq == std::string_view::npos) return false;
    std::string name = ascii_lower(trim_ows(param.substr(0, eq)));
    std::string_view v = trim_ows(param.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    if (name == "charset" && ascii_lower(v) != "utf-8" && ascii_lower(v) != "utf8") return false;
  }
  return true;
}

// application/x-www-form-urlencoded decoding: '+' is a space, %XX a byte; a
// malformed escape is kept literally.
std::string form_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Cookie names are RFC 6265 tokens; values are cookie-octets (no quotes
// inside, no comma, semicolon, backslash, space or controls).
bool is_cookie_token(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F) return false;
    if (std::string_view("()<>@,;:\\\"/[]?={}").find(ch) != std::string_view::npos) return false;
  }
  return true;
}

bool is_cookie_value(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F || ch == '"' || ch == ',' || ch == ';' || ch == '\\') return false;
  }
  return true;
}

// Sets a header the handler may already have set (values of ours: constants
// without CR or LF). One search of httplib's case-insensitive map, and the
// insertion hinted there, instead of erase + set_header's search each.
void replace_header(httplib::Response& res, const std::string& name, const char* value) {
  auto [first, last] = res.headers.equal_range(name);
  auto hint = first == last ? first : res.headers.erase(first, last);
  res.headers.emplace_hint(hint, name, value);
}

// Finds an object that names the same key twice. nlohmann keeps one of the
// values silently; another parser (a proxy, a log pipeline) may keep the
// other, so such a body is refused rather than guessed at.
class DuplicateKeyFinder final : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool duplicate = false;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  // The keys of the open objects in one flat list, each object's from its
  // start index (our bodies have a handful of keys: a linear search beats a
  // std::set node per key).
  bool start_object(std::size_t) override {
    starts_.push_back(keys_.size());
    return true;
  }
  bool key(string_t& k) override {
    if (starts_.empty()) return true;
    for (std::size_t i = starts_.back(); i < keys_.size(); ++i) {
      if (keys_[i] == k) {
        duplicate = true;
        return false;  // stop at the first one
      }
    }
    keys_.push_back(k);
    return true;
  }
  bool end_object() override {
    if (!starts_.empty()) {
      keys_.resize(starts_.back());
      starts_.pop_back();
    }
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  std::vector<std::string> keys_;
  std::vector<std::size_t> starts_;
};

bool has_duplicate_keys(std::string_view text) {
  DuplicateKeyFinder finder;
  nlohmann::json::sax_parse(text.begin(), text.end(), &finder, nlohmann::json::input_format_t::json,
                            /*strict=*/true,
                            /*ignore_comments=*/false);
  return finder.duplicate;
}

}  // namespace

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json; charset=utf-8");
}

void send_error(httplib::Response& res, ErrorCode code, const std::vector<FieldError>& fields,
                bool show_required_dialog) {
  send_json(res, http_status(code), error_envelope(code, fields, show_required_dialog));
}

void mark_storage_outage(httplib::Response& res) {
  res.status = 503;
  res.set_header("Retry-After", std::to_string(kStorageRetryAfterSeconds));
}

void send_system_error(httplib::Response& res, bool outage) {
  send_error(res, ErrorCode::system_error);
  if (outage) mark_storage_outage(res);
}

void send_failure(httplib::Response& res, const std::exception& e) {
  send_system_error(res, is_storage_outage(e));
}

std::optional<nlohmann::json> json_body(const httplib::Request& req, httplib::Response& res) {
  auto content_type = req.headers.find("Content-Type");
  if (content_type == req.headers.end() || !is_json_content_type(content_type->second)) {
    send_error(res, ErrorCode::bad_request);
    return std::nullopt;
  }
  if (req.body.size() > kMaxJsonBodyBytes || !is_valid_utf8(req.body)) {
    send_error(res, ErrorCode::bad_request);
    return std::nullopt;
  }
  std::optional<nlohmann::json> j = parse_json(req.body, kMaxJsonDepth);
  if (!j || !j->is_object() || has_duplicate_keys(req.body)) {
    send_error(res, ErrorCode::bad_request);
    return std::nullopt;
  }
  return j;
}

std::optional<std::string> json_string(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::string cookie_value(const httplib::Request& req, const std::string& name) {
  std::size_t budget = kMaxCookieBytes;
  // Every Cookie line, in order, without copying them (one lookup).
  auto [first, last] = req.headers.equal_range("Cookie");
  for (auto h = first; h != last; ++h) {
    std::string_view header = h->second;
    if (header.size() > budget) return "";
    budget -= header.size();
    std::string_view rest = header;
    while (!rest.empty()) {
      std::size_t semi = rest.find(';');
      std::string_view pair = trim_ows(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      if (trim_ows(pair.substr(0, eq)) != name) continue;
      std::string_view value = trim_ows(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      // The first cookie of that name wins (browsers send the most specific first).
      return is_cookie_value(value) ? std::string(value) : std::string();
    }
  }
  return "";
}

void set_cookie(httplib::Response& res, const std::string& name, const std::string& value,
                const CookieOptions& options) {
  // Values we set are base64url tokens; anything else is a programming error
  // that must not become a header injection.
  if (!is_cookie_token(name) || !is_cookie_value(value) || !is_cookie_value(options.path) ||
      !is_cookie_token(options.same_site)) {
    return;
  }
  std::string c = name + "=" + value + "; Path=" + options.path;
  if (options.max_age_seconds >= 0) {
    c += "; Max-Age=" + std::to_string(options.max_age_seconds);
    if (options.max_age_seconds == 0) c += "; Expires=Thu, 01 Jan 1970 00:00:00 GMT";
  }
  c += "; HttpOnly";
  if (options.secure) c += "; Secure";
  if (!options.same_site.empty()) c += "; SameSite=" + options.same_site;
  res.set_header("Set-Cookie", c);
}

std::string client_ip(const httplib::Request& req) {
  return req.remote_addr;
}

std::string bearer_credential(const httplib::Request& req) {
  if (req.get_header_value_count("Authorization") != 1) return "";
  const std::string h = req.get_header_value("Authorization");
  if (h.size() <= 7) return "";
  std::string scheme = h.substr(0, 7);
  for (char& c : scheme) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return scheme == "bearer " ? h.substr(7) : std::string();
}

bool bearer_matches_any(const httplib::Request& req,
                        std::initializer_list<std::string_view> digests) {
  const std::string presented = bearer_credential(req);
  // Digest whatever was presented, so the time taken says nothing.
  const std::string digest = secret_digest(presented);
  bool match = false;
  for (std::string_view expected : digests) {
    match |= !expected.empty() && constant_time_equal(digest, expected);
  }
  return match && !presented.empty();
}

std::string utc_now_iso_ms() {
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const auto secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

void log_caught_exception(const httplib::Request& req, std::string_view what) {
  const nlohmann::json line = {{"time", utc_now_iso_ms()},
                               {"event", "exception"},
                               {"path", req.path.substr(0, 200)},
                               {"what", std::string(what.substr(0, 300))}};
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
}

std::string header_for_log(const httplib::Request& req, const char* name, std::size_t max) {
  if (!req.has_header(name)) return "";
  std::string raw = req.get_header_value(name);
  if (raw.size() > max) {
    raw.resize(max);
    // Do not leave half of a UTF-8 sequence at the end.
    std::size_t i = raw.size();
    while (i > 0 && (static_cast<unsigned char>(raw[i - 1]) & 0xC0) == 0x80) --i;
    if (i > 0 && static_cast<unsigned char>(raw[i - 1]) >= 0xC0) raw.resize(i - 1);
  }
  std::string out;
  out.reserve(raw.size());
  for (char ch : raw) {
    auto c = static_cast<unsigned char>(ch);
    out.push_back(c < 0x20 || c == 0x7F ? '?' : ch);
  }
  if (!is_valid_utf8(out)) {
    for (char& ch : out) {
      if (static_cast<unsigned char>(ch) >= 0x80) ch = '?';
    }
  }
  return out;
}

std::string content_security_policy(std::string_view style_hashes) {
  std::string_view rest = style_hashes;
  if (rest.empty()) return {};
  for (;;) {
    const std::size_t space = rest.find(' ');
    if (!is_sha256_source(rest.substr(0, space))) return {};
    if (space == std::string_view::npos) break;
    rest = rest.substr(space + 1);  // a trailing space leaves "": refused above
  }
  std::string policy;
  policy.reserve(kCspHead.size() + 1 + style_hashes.size() + kCspTail.size());
  policy.append(kCspHead).append(" ").append(style_hashes).append(kCspTail);
  return policy;
}

void add_security_headers(httplib::Response& res, bool api_response, bool over_tls) {
  // The names as strings made once: a literal would be a new std::string (and
  // for the longer names a heap allocation) per call.
  static const std::string kCsp = "Content-Security-Policy";
  static const std::string kNosniff = "X-Content-Type-Options";
  static const std::string kReferrer = "Referrer-Policy";
  static const std::string kFrame = "X-Frame-Options";
  static const std::string kCache = "Cache-Control";
  static const std::string kHsts = "Strict-Transport-Security";
  static const std::string kInlineStyles = kInlineStyleHashesHeader;
  static const std::string kPolicy = std::string(kCspHead).append(kCspTail);
  if (auto it = res.headers.find(kInlineStyles); it != res.headers.end()) {
    const std::string policy = content_security_policy(it->second);
    res.headers.erase(kInlineStyles);
    replace_header(res, kCsp, policy.empty() ? kPolicy.c_str() : policy.c_str());
  } else {
    replace_header(res, kCsp, kPolicy.c_str());
  }
  replace_header(res, kNosniff, "nosniff");
  replace_header(res, kReferrer, "no-referrer");
  replace_header(res, kFrame, "DENY");
  if (api_response) replace_header(res, kCache, "no-store");
  // Only over TLS: a browser ignores it on plain HTTP, and it must not pin a
  // development server on http:// to HTTPS.
  if (over_tls) replace_header(res, kHsts, "max-age=31536000");
}

std::map<std::string, std::string> form_params(const httplib::Request& req, bool* duplicate) {
  std::map<std::string, std::string> params;
  if (duplicate) *duplicate = false;
  std::string_view rest = req.body;
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::string key = form_decode(pair.substr(0, eq));
    std::string value =
        eq == std::string_view::npos ? std::string() : form_decode(pair.substr(eq + 1));
    if (key.empty()) continue;
    auto [it, inserted] = params.insert_or_assign(std::move(key), std::move(value));
    if (!inserted && duplicate) *duplicate = true;
  }
  return params;
}

}  // namespace renkei::server
